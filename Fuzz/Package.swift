// swift-tools-version: 6.1
//
// Coverage-guided fuzz targets for lguest in Swift, built with libFuzzer (`-sanitize=fuzzer`) beside the
// main package, the way swift-protobuf's FuzzTesting does. Build and run them with `tools/fuzz`.
import Foundation
import PackageDescription

// A package named by path is known by its folder's name, which differs from worktree to worktree.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let libraries: Target.Dependency = .product(name: "LguestLibraries", package: mainPackage.lastPathComponent)

/// A libFuzzer executable: its `main.swift` hands one function of an input to libFuzzer's driver.
func fuzzTarget(_ name: String) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport", libraries])
}

let package = Package(
    name: "lguest-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [libraries]),
        fuzzTarget("FuzzHost"),
        fuzzTarget("FuzzELF"),
        fuzzTarget("FuzzInitrd"),
        fuzzTarget("FuzzWeave"),
        fuzzTarget("FuzzDevices"),
        fuzzTarget("FuzzCodeCache"),
    ]
)
