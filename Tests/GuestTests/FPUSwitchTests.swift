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

/// Boots the Guest running `programs` together (by default the two series), FPU switching lazy or eager;
/// `extraFiles` go on the initrd too (a program's `.in` file, say).
private func runBoth(lazyFPU: Bool, _ programs: [String] = ["fpu_harmonic", "fpu_squares"],
                     extraFiles: [InitrdFile] = []) throws -> BootResult {
    let files = try programs.map { name in
        InitrdFile(name: name, bytes: Array(try Data(contentsOf: programDirectory.appendingPathComponent(name))))
    } + extraFiles
    var configuration = GuestConfiguration()
    configuration.lazyFPU = lazyFPU
    return try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files, commandLine: "init=" + programs.joined(separator: "+"),
                                           configuration: configuration))
}

@Test func g049_twoProcessesComputingWithFloatsKeepTheirOwnFPU() throws {
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

@Test func g049_eagerSwitchingGivesTheSameAnswersWithoutTraps() throws {
    let result = try runBoth(lazyFPU: false)
    #expect(result.console.contains(harmonic) && result.console.contains(squares), "\(result.console)")
    #expect(result.guestStatistics.fpuTraps == 0)
    #expect(result.guestStatistics.fpuRestores > 100)
}

@Test func g049_theOwnerComingBackFindsItsStateWithoutATrap() throws {
    // yield_loop never touches the FPU, so fpu_harmonic keeps owning it across all 120 switches.
    let result = try runBoth(lazyFPU: true, ["fpu_harmonic", "yield_loop"])
    #expect(result.console.contains(harmonic) && result.console.contains("yield_loop: done\n"), "\(result.console)")
    #expect(result.guestStatistics.fpuTraps == 1, "only the first FPU instruction traps")
    #expect(result.guestStatistics.fpuSaves == 0 && result.guestStatistics.fpuRestores == 1)
}

/// What `echo 40 | programs/bin/fpu` prints natively.
private let fpuChecksums = """
    arith 86685bdd\nmemory f017b870\nloads d3b90def\nstores c0b08342\ncompare 9f776fa1\ntransc 1edce4ab
    state fcf27a52\nfloat  4088e9d4\ndouble 3ff9ec84ef0a7fe1\nlong   00003fff99d3036e67bbf36e\nints   0000f148\n
    """

@Test func g049_theFPUTestProgramMatchesNativeWhileOthersComputeBesideIt() throws {
    let input = InitrdFile(name: "fpu.in", bytes: Array("40\n".utf8))
    let result = try runBoth(lazyFPU: true, ["fpu", "fpu_harmonic", "fpu_squares"], extraFiles: [input])
    #expect(result.console.contains(fpuChecksums + "[fpu (pid 1) exited with status 0]"), "\(result.console)")
    #expect(result.console.contains(harmonic) && result.console.contains(squares))
}
