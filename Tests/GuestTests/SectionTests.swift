// Tests for the sections of the Guest chapter that had none named after them: the welcome (G:010),
// the configuration (G:011), the kernel's own counts (G:013), the shared page (G:032), the templates'
// lengths (G:055), the rest of boot (G:070) and processes (G:080).
@testable import Guest
@testable import Launcher
import LguestABI
import Machine
import Testing

/// A boot of the committed programs `names` (each `+`-group runs together), with `configuration`.
private func boot(_ names: [String], _ commandLine: String? = nil,
                  configuration: GuestConfiguration = GuestConfiguration()) throws -> BootResult {
    let files = try Launcher.programs(named: names, in: GuestPrograms.directory.path)
    return try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files,
                                           commandLine: commandLine.map { "init=" + $0 } ?? "",
                                           configuration: configuration))
}

/// The figure `name` of a boot's `--stats` lines.
private func figure(_ result: BootResult, _ name: String) -> UInt64? {
    result.statistics.first { $0.name == name }?.value
}

@Test func g010_theKernelReachesTheMachineOnlyThroughItsThreeWays() throws {
    // A whole boot under the real Host: had the kernel executed one privileged instruction itself,
    // the Host would have had to emulate it or kill the Guest. It did neither.
    let result = try boot(["hello"])
    #expect(result.exitStatus == 0)
    #expect(figure(result, "instructions_emulated") == 0)
    #expect(figure(result, "traps_reflected") == 0)
    #expect((figure(result, "hypercall.LGUEST_INIT") ?? 0) == 1)
}

@Test func g011_aGuestNobodyConfiguresIsLguestsAndEachSwitchTurnsOneThingOff() throws {
    let lguest = GuestConfiguration()
    #expect(lguest.lazyMode && lguest.cr3ChangedTrick && lguest.patching)
    // Lazy mode off: nothing goes through the async ring.
    let eager = try boot(["hello"], configuration: GuestConfiguration(lazyMode: false))
    #expect(figure(eager, "hypercall.SET_PTE.async") ?? 0 == 0)
    let lazy = try boot(["hello"])
    #expect((figure(lazy, "hypercall.SET_PTE.async") ?? 0) > 0)
    #expect((figure(eager, "world_switches") ?? 0) > (figure(lazy, "world_switches") ?? 0))
}

@Test func g013_theKernelCountsItsOwnProgramsAndCalls() throws {
    let result = try boot(["hello", "fault_null"])
    let counts = result.guestStatistics
    #expect(counts.programsStarted == 2)
    #expect(counts.programsExited == 1)
    #expect(counts.programsKilled == 1)
    #expect(counts.systemCalls > 0 && counts.timerInterrupts > 0)
    // `--stats` prints the same numbers under `guest.`.
    #expect(figure(result, "guest.programs_killed") == 1)
}

@Test func g032_theHostIsToldAPhysicalAddressAndTheKernelUsesItsLinearMap() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    let field = kernel.lguestDataField(LguestData.irqEnabled)
    #expect(field == linear(kernel.layout.lguestData) &+ LguestData.irqEnabled)
    // A plain store through the linear map lands on the physical page the Host reads.
    try kernel.write32(field, irqEnabledValue)
    let physical = Int(kernel.layout.lguestData.rawValue + LguestData.irqEnabled)
    #expect(Array(cpu.memory[physical..<(physical + 4)]) == [0x00, 0x02, 0x00, 0x00])
    #expect(cpu.calls.isEmpty, "no hypercall for a write to the shared page")
}

@Test func g055_everyTemplateFitsTheRoomTheSiteLeaves() {
    let templates: [(PatchTemplate, Int)] = [(.storeZero, 10), (.storeEnabled, 10), (.storeArgument, 5), (.load, 5)]
    for (template, length) in templates {
        #expect(template.length == length)
        #expect(template.length <= PatchSites.siteLength)
    }
    // The site's room is the 6-byte indirect call, padded to the longest template.
    #expect(PatchSites.siteLength == templates.map(\.1).max())
}

@Test func g070_theRestOfBootRunsItsStepsInOrder() throws {
    let console = try boot(["hello"]).console
    let steps = ["Booting paravirtualized kernel on lguest", "CPU: ", "Memory: ", "Clock: first tick",
                 "lguest: device 0: console", "initrd: ", "Hello from i386 user space!"]
    let places = steps.map { console.range(of: $0)?.lowerBound }
    #expect(places.allSatisfy { $0 != nil }, "\(console)")
    let found = places.compactMap { $0 }
    #expect(found == found.sorted(), "the boot messages come in the order of G:070's steps")
}

@Test func g080_programsRunAsProcessesWithTheirOwnPIDs() throws {
    let console = try boot(["hello", "sieve"], "hello,sieve").console
    #expect(console.contains("[hello (pid 1) exited with status 0]"))
    #expect(console.contains("[sieve (pid 2) exited with status 0]"))
    #expect(console.hasSuffix("All programs finished; powering off.\n"))
}
