// swift-tools-version: 6.1
//
// lguest in Swift: a literate teaching edition of lguest.
//
// The targets follow the chapters of the book (see ../shared/DESIGN.md in
// the project's planning notes, and README.md): a reader of the Host chapter
// opens Sources/Host, and its exercises live in Tests/HostTests.
import PackageDescription

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "lguest",
    products: [
        .executable(name: "lguest", targets: ["lguest"]),
        .executable(name: "weave", targets: ["weave"]),
        .executable(name: "lguest-bench", targets: ["lguest-bench"]),
        // Every library at once, for packages beside this one: the fuzz targets in Fuzz/.
        .library(name: "LguestLibraries",
                 targets: ["Machine", "LguestABI", "Switcher", "Host", "Guest", "Drivers", "Launcher", "Weave"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // Appendix X: the emulated 32-bit x86 PC that everything runs on.
        .target(name: "Machine"),

        // Preparation: what Guest, Host and Launcher agree on.
        .target(name: "LguestABI", dependencies: ["Machine"]),

        // The Switcher: the one place where the host's and the guest's worlds meet.
        .target(name: "Switcher", dependencies: ["Machine", "LguestABI"]),

        // The Host: the hypervisor itself.
        .target(name: "Host", dependencies: ["Machine", "LguestABI", "Switcher"]),

        // The Guest: a paravirtualized kernel in Swift, "at ring 1". It never imports Host.
        .target(name: "Guest", dependencies: ["Machine", "LguestABI"]),

        // The Drivers: the lguest bus and the Guest's virtio drivers. They never import Host or Launcher.
        .target(name: "Drivers", dependencies: ["Machine", "LguestABI", "Guest"]),

        // The Launcher: lays out guest memory, serves the Guest's devices and drives the Host.
        .target(name: "Launcher", dependencies: ["Machine", "LguestABI", "Host", "Switcher", "Guest", "Drivers"]),

        // The front door: `swift run lguest`.
        .executableTarget(name: "lguest", dependencies: ["Launcher", "Machine", argumentParser]),

        // Release-build benchmarks, one `name value unit` line per figure.
        .executableTarget(name: "lguest-bench", dependencies: ["Machine", "Host", "Launcher", "Guest"]),

        // Appendix W: the book, woven from the sources by cmark.
        .systemLibrary(name: "CCmark", pkgConfig: "libcmark", providers: [.apt(["libcmark-dev"])]),
        .target(name: "Weave", dependencies: ["CCmark"]),
        .executableTarget(name: "weave", dependencies: ["Weave", argumentParser]),

        // One test target per chapter; test names start with the section's tag.
        .testTarget(name: "PreparationTests", dependencies: ["LguestABI", "Machine"]),
        .testTarget(name: "GuestTests", dependencies: ["Guest", "Launcher", "LguestABI", "Machine"]),
        .testTarget(name: "DriversTests", dependencies: ["Drivers", "Guest", "Launcher", "Host", "LguestABI", "Machine"]),
        .testTarget(name: "LauncherTests", dependencies: ["Launcher", "Host", "Guest", "LguestABI", "Machine"]),
        .testTarget(name: "HostTests", dependencies: ["Host", "Switcher", "LguestABI", "Machine"]),
        .testTarget(name: "SwitcherTests", dependencies: ["Switcher", "LguestABI", "Machine"]),
        .testTarget(name: "MachineTests", dependencies: ["Machine"]),
        .testTarget(name: "WeaveTests", dependencies: ["Weave"]),
        // Chapter M: scaffolds for the reader's ideas, skipped unless LGUEST_MASTERY=1.
        .testTarget(name: "MasteryTests", dependencies: ["Launcher", "Guest"]),
    ]
)
