import Guest
import Host
@testable import Launcher
import LguestABI
import Testing

/// A boot that maps and unmaps enough pages to show what batching is worth.
private func boot(_ configuration: GuestConfiguration) throws -> BootResult {
    let programs = [
        InitrdFile(name: "hello", bytes: TinyProgram.hello("hi\n")),
        InitrdFile(name: "sleeper", bytes: TinyProgram.sleeper),
    ]
    return try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: programs, configuration: configuration))
}

private func count(_ result: BootResult, _ name: String) -> UInt64 {
    result.statistics.first { $0.name == name }?.value ?? 0
}

@Test func l090_lazyModeSavesWorldSwitchesAndChangesNothingElse() throws {
    let lazy = try boot(GuestConfiguration(lazyMode: true))
    let eager = try boot(GuestConfiguration(lazyMode: false))
    #expect(lazy.console == eager.console)
    #expect(lazy.exit == .poweredOff("Power down") && eager.exit == lazy.exit)
    #expect(count(lazy, "world_switches") < count(eager, "world_switches"))
    #expect(count(lazy, "hypercall.SET_PTE.async") > 0)
    #expect(count(eager, "hypercall.SET_PTE.async") == 0)
    #expect(count(lazy, "hypercall.SET_PTE") == count(eager, "hypercall.SET_PTE"))
    print("boot_switches_lazy", count(lazy, "world_switches"), "boot_switches_eager", count(eager, "world_switches"))
}

@Test func l090_theCR3TrickSavesAFlushPerKernelPage() throws {
    let trick = try boot(GuestConfiguration(cr3ChangedTrick: true))
    let noTrick = try boot(GuestConfiguration(cr3ChangedTrick: false))
    // Flushing costs virtual time, so only the clock line may differ.
    let timeless = { (console: String) in console.split(separator: "\n").filter { !$0.hasPrefix("Clock:") } }
    #expect(timeless(trick.console) == timeless(noTrick.console))
    // 8 MiB less the three pages of initial tables: one setPTE per page, each a flush without the trick.
    #expect(count(noTrick, "hypercall.FLUSH_TLB") - count(trick, "hypercall.FLUSH_TLB") == 8 * 256 - 3)
    print("boot_flushes_cr3_trick", count(trick, "hypercall.FLUSH_TLB"), "boot_flushes_no_trick", count(noTrick, "hypercall.FLUSH_TLB"))
}

@Test func l040_bootIsDeterministic() throws {
    let first = try boot(GuestConfiguration())
    let second = try boot(GuestConfiguration())
    #expect(first.console == second.console)
    #expect(first.statistics.map(\.name) == second.statistics.map(\.name))
    #expect(first.statistics.map(\.value) == second.statistics.map(\.value))
}

@Test func l095_theFourFiguresComeFromFourBoots() throws {
    let options = LaunchOptions(memoryMiB: 8, programs: [InitrdFile(name: "hello", bytes: TinyProgram.hello("hi\n"))])
    let figures = try Launcher.optimisationFigures(options)
    #expect(figures.map(\.name) == ["boot_switches_lazy", "boot_switches_eager", "boot_flushes_cr3_trick", "boot_flushes_no_trick"])
    #expect(figures[0].value < figures[1].value)
    #expect(figures[2].value + 8 * 256 - 3 == figures[3].value)
}
