// The drivers end to end: the committed programs under Launcher.boot, with the Launcher's real devices.
import Foundation
import Guest
import Launcher
import LguestABI
import Machine
import Testing

/// Boot `programs` (committed names) with `options` adjusted by `adjust`.
private func boot(_ programs: [String], _ adjust: (inout LaunchOptions) -> Void = { _ in }) throws -> BootResult {
    var options = LaunchOptions(memoryMiB: 8, programs: try Launcher.programs(named: programs, in: GuestPrograms.directory.path),
                                commandLine: "init=" + programs.joined(separator: ","))
    adjust(&options)
    let result = try Launcher.boot(options)
    #expect(result.exit == .poweredOff("Power down"))
    return result
}

/// A zeroed disk image of `sectors` sectors in a fresh temporary file.
private func scratchDisk(sectors: Int) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("d170-\(UUID().uuidString).img")
    try Data(count: sectors * sectorSize).write(to: url)
    return url
}

@Test func d160_catCopiesConsoleInputToOutputThroughTheVirtioConsole() throws {
    let result = try boot(["cat"]) { $0.input = .bytes(Array("one line\nand another\n".utf8)) }
    #expect(result.console.contains("one line\nand another\ncat: 21 bytes\n[cat (pid 1) exited with status 0]"))
    #expect(result.console.contains("lguest: device 0: console"))
    // Everything after the console came up went through its ring, the program's output included.
    let early = result.guestStatistics.earlyConsoleBytes, late = result.guestStatistics.consoleDriverBytes
    #expect(late >= "one line\nand another\ncat: 21 bytes\n".utf8.count)
    #expect(early + late == result.console.utf8.count)
    #expect(String(result.console.dropFirst(early)).hasPrefix("lguest: device 0: console"))
}

@Test func d170_theDiskProgramsWritesAreInTheImageAfterPowerOff() throws {
    let url = try scratchDisk(sectors: 64)
    defer { try? FileManager.default.removeItem(at: url) }
    let result = try boot(["disk"]) { $0.disk = DiskOptions(path: url.path) }
    #expect(result.console.contains("disk: fsync ok\ndisk: wrote 16 sectors from sector 1, read them back, mismatches 0"))
    #expect(result.console.contains("[disk (pid 1) exited with status 0]"))
    #expect(!result.console.contains("NOT") && !result.console.contains("FAILED"))
    let image = [UInt8](try Data(contentsOf: url))
    #expect(image.count == 64 * sectorSize)
    // Sector 0 and everything past sector 16 untouched; sectors 1-16 hold the program's pattern.
    #expect(image[0..<512].allSatisfy { $0 == 0 } && image[(17 * 512)...].allSatisfy { $0 == 0 })
    let pattern = (1...16).flatMap { sector in (0..<512).map { UInt8(truncatingIfNeeded: sector * 37 + $0 * 11 + ($0 >> 8)) } }
    #expect(Array(image[512..<17 * 512]) == pattern)
}

@Test func d170_aReadOnlyDiskIsRefusedForWritingWithEROFS() throws {
    let url = try scratchDisk(sectors: 64)
    defer { try? FileManager.default.removeItem(at: url) }
    let result = try boot(["disk"]) { $0.disk = DiskOptions(path: url.path, readOnly: true) }
    #expect(result.console.contains("disk: cannot open /dev/vda: -30"))
    #expect(try Data(contentsOf: url).allSatisfy { $0 == 0 })
}

@Test func d180_theSameSeedGivesTheSameBytes() throws {
    func bytes(seed: UInt64) throws -> String {
        let console = try boot(["hwrng"]) { $0.rngSeed = seed }.console
        let line = console.split(separator: "\n").first { $0.hasPrefix("hwrng: ") && $0.count == 39 }
        return String(try #require(line))
    }
    let first = try bytes(seed: 7), again = try bytes(seed: 7), other = try bytes(seed: 8)
    #expect(first == again)
    #expect(first != other)
}
