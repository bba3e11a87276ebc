// P:400's promise that `GuestProcessor` is the Guest kernel's only door to the processor: the Guest
// target depends on LguestABI and Machine alone, and none of its files imports the Host or the Switcher.

import Foundation
import Testing

/// The project's root directory, found from this file's path.
private let projectRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Test func p400_theGuestTargetDependsOnNeitherTheHostNorTheSwitcher() throws {
    let manifest = try String(contentsOf: projectRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
    let guestTarget = manifest.split(separator: "\n").filter { $0.contains(".target(name: \"Guest\"") }
    #expect(guestTarget.count == 1)
    let line = String(guestTarget.first ?? "")
    #expect(line.contains("\"Machine\"") && line.contains("\"LguestABI\""))
    #expect(!line.contains("\"Host\"") && !line.contains("\"Switcher\"") && !line.contains("\"Launcher\""))
}

@Test func p400_noGuestSourceImportsTheHostOrTheSwitcher() throws {
    let guest = projectRoot.appendingPathComponent("Sources/Guest")
    let files = try #require(FileManager.default.enumerator(at: guest, includingPropertiesForKeys: nil))
        .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    #expect(files.count > 5)
    for file in files {
        let imports = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("import ") || $0.hasPrefix("@testable import ") }
        for line in imports {
            let module = line.split(separator: " ").last.map(String.init) ?? ""
            #expect(!["Host", "Switcher", "Launcher"].contains(module), "\(file.lastPathComponent): \(line)")
        }
    }
}
