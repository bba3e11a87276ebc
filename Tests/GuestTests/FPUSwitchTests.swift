import Foundation
import Guest
import Launcher
import Testing

/// The committed i386 programs: programs/bin at the package root.
private let programDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("programs/bin")

/// What the two series programs print natively (`programs/bin/fpu_harmonic < /dev/null`, and squares).
private let harmonic = "harmonic sum 0000400195c1970000000000 cw 0000087f sw 00000020\n"
private let squares = "squares sum 00003fffd06f978d29850000 cw 0000067f sw 00000020\n"

/// Boots the Guest running `programs` together (by default the two series), FPU switching lazy or eager.
private func runBoth(lazyFPU: Bool, _ programs: [String] = ["fpu_harmonic", "fpu_squares"]) throws -> BootResult {
    let files = try programs.map { name in
        InitrdFile(name: name, bytes: Array(try Data(contentsOf: programDirectory.appendingPathComponent(name))))
    }
    var configuration = GuestConfiguration()
    configuration.lazyFPU = lazyFPU
    return try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files, commandLine: "init=" + programs.joined(separator: "+"),
                                           configuration: configuration))
}

@Test func g094_twoProcessesComputingWithFloatsKeepTheirOwnFPU() throws {
    let result = try runBoth(lazyFPU: true)
    #expect(result.exit == .poweredOff("Power down"))
    // Each sum is right, in its own rounding and precision, although the two were computed turn about.
    #expect(result.console.contains(harmonic) && result.console.contains(squares), "\(result.console)")
    let stats = result.guestStatistics
    // Every switch made the next FPU instruction trap, and each trap moved the state: the two alternate.
    #expect(stats.fpuTraps > 100)
    // A restore with nothing to save at each process's first turn, or after the owner exited.
    #expect(stats.fpuSaves > 100 && (stats.fpuSaves...stats.fpuSaves + 2).contains(stats.fpuRestores))
}

@Test func g094_eagerSwitchingGivesTheSameAnswersWithoutTraps() throws {
    let result = try runBoth(lazyFPU: false)
    #expect(result.console.contains(harmonic) && result.console.contains(squares), "\(result.console)")
    #expect(result.guestStatistics.fpuTraps == 0)
    #expect(result.guestStatistics.fpuRestores > 100)
}

@Test func g094_theOwnerComingBackFindsItsStateWithoutATrap() throws {
    // yield_loop never touches the FPU, so fpu_harmonic keeps owning it across all 120 switches.
    let result = try runBoth(lazyFPU: true, ["fpu_harmonic", "yield_loop"])
    #expect(result.console.contains(harmonic) && result.console.contains("yield_loop: done\n"), "\(result.console)")
    #expect(result.guestStatistics.fpuTraps == 1, "only the first FPU instruction traps")
    #expect(result.guestStatistics.fpuSaves == 0 && result.guestStatistics.fpuRestores == 1)
}
