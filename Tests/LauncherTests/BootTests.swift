@testable import Guest
import Host
@testable import Launcher
import LguestABI
import Machine
import Testing

@Test func l040_bootsToPowerOffWithNoPrograms() throws {
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 8))
    print(result.console)
    print(result.exit)
    #expect(result.exit == .poweredOff("Power down"))
    #expect(result.console.contains("Booting paravirtualized kernel on lguest"))
}

@Test func l040_runsAProgramAndPowersOff() throws {
    let options = LaunchOptions(memoryMiB: 8, programs: [
        InitrdFile(name: "hello", bytes: TinyProgram.hello("Hello from ring 3\n", status: 5)),
        InitrdFile(name: "null", bytes: TinyProgram.nullWrite),
        InitrdFile(name: "sleeper", bytes: TinyProgram.sleeper),
    ])
    let result = try Launcher.boot(options)
    print(result.console)
    print(result.exit)
    for line in result.statistics { print(line.name, line.value) }
    #expect(result.exit == .poweredOff("Power down"))
    #expect(result.console.contains("Hello from ring 3\n[hello (pid 1) exited with status 5]"))
}

@Test func l040_badOptionsAreRefusedBeforeAnythingBoots() {
    #expect(throws: LaunchError.badMemorySize(2)) { try Launcher.boot(LaunchOptions(memoryMiB: 2)) }
    let long = String(repeating: "x", count: 3000)
    #expect(throws: LaunchError.commandLineTooLong(3000)) { try Launcher.boot(LaunchOptions(commandLine: long)) }
}

@Test func l104_theCodeCacheSwitchReachesTheMachine() {
    var options = LaunchOptions()
    #expect(options.codeCache, "on unless asked otherwise")
    #expect(Launcher.makeMachine(guestPages: 64, options: options).codeCacheEnabled)
    options.codeCache = false
    #expect(!Launcher.makeMachine(guestPages: 64, options: options).codeCacheEnabled)
}

@Test func l050_aMissingProgramNamesItsPath() {
    #expect(throws: LaunchError.cannotRead("/nonexistent/hello")) {
        try Launcher.programs(named: ["hello"], in: "/nonexistent")
    }
}

@Test func l040_aMalformedProgramIsReportedAndTheRestRun() throws {
    let options = LaunchOptions(memoryMiB: 8, programs: [
        InitrdFile(name: "junk", bytes: Array("#!/bin/sh\necho hi\n".utf8)),
        InitrdFile(name: "hello", bytes: TinyProgram.hello("fine\n")),
    ])
    let result = try Launcher.boot(options)
    #expect(result.console.contains("init: junk: not an ELF file\nfine\n[hello (pid 1) exited with status 0]"))
    #expect(result.exitStatus == 0)
}

@Test func l030_initialPageTablesMapAllMemoryAtPageOffsetOnly() {
    let plan = MemoryPlan(pageCount: 2048, initrdSize: 5000)
    #expect(plan.pageTableCount == 2)
    #expect(plan.pageDirectory == GuestPhysicalAddress((2048 - 3) << 12))
    #expect(plan.initrd == GuestPhysicalAddress((2048 - 5) << 12), "two pages for 5000 bytes, just below")
    let bytes = plan.initialPageTables()
    func word(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) } }
    for slot in 0..<1024 {
        let entry = PageDirectoryEntry(rawValue: word(slot * 4))
        if slot == 768 || slot == 769 {
            #expect(entry.flags == [.present, .writable])
            #expect(entry.frame == plan.pageDirectory.frame.advanced(by: UInt32(slot - 767)))
        } else {
            #expect(entry.rawValue == 0, "slot \(slot) must be empty")
        }
    }
    for page in [0, 1, 1023, 1024, 2047] {
        let entry = PageTableEntry(rawValue: word(4096 + page * 4))
        #expect(entry.frame == PageFrameNumber(UInt32(page)) && entry.flags == [.present, .writable])
    }
    #expect(plan.memoryMap == [
        E820Entry(address: 0, length: UInt64(plan.pageDirectory.rawValue), type: .ram),
        E820Entry(address: UInt64(plan.pageDirectory.rawValue), length: 3 * 4096, type: .reserved),
    ])
}

@Test func l070_theEarlyConsolePrintsWhatItCanReadAndNothingElse() throws {
    let host = Host(machine: Machine(memory: PhysicalMemory(frameCount: 1024 + 64)))
    let kernel = GuestKernel()
    let guest = try host.makeGuest(pageCount: 1024, image: kernel.makeImage(),
                                   initialPageDirectory: GuestPhysicalAddress(0x3F_F000), stack: GuestVirtualAddress(0xC010_4000))
    try guest.memory.copyIn(Array("hello\0".utf8), at: GuestPhysicalAddress(0x2000))
    try guest.memory.copyIn([UInt8](repeating: 0x41, count: 300) + [0], at: GuestPhysicalAddress(0x3000))
    var echoed: [String] = []
    let console = ConsoleOutput(echo: { echoed.append($0) })
    console.earlyConsole(guest.memory, GuestPhysicalAddress(0x2000))
    #expect(console.text == "hello" && echoed == ["hello"])
    // Too long, or outside guest memory: nothing is printed, and nothing breaks.
    console.earlyConsole(guest.memory, GuestPhysicalAddress(0x3000))
    console.earlyConsole(guest.memory, GuestPhysicalAddress(0x7FFF_FFF0))
    #expect(echoed == ["hello"])
    #expect(guest.isAlive)
}

/// Found by `tools/fuzz devices` (Fuzz/Corpus/devices/empty-early-console): a NOTIFY of an address
/// holding only a NUL printed an empty string, and the empty write trapped in the host process.
@Test func l070_anEmptyEarlyConsoleStringPrintsNothing() throws {
    let host = Host(machine: Machine(memory: PhysicalMemory(frameCount: 64)))
    let guest = try host.makeGuest(pageCount: 16, image: GuestKernel().makeImage(),
                                   initialPageDirectory: GuestPhysicalAddress(0x3000), stack: GuestVirtualAddress(0xC000_4000))
    let console = ConsoleOutput()
    console.earlyConsole(guest.memory, GuestPhysicalAddress(0x2000))
    console.write([])
    #expect(console.text == "" && guest.isAlive)
}

/// The exit status a front end would give a boot that ended in `exit`, stopped by `stoppedBy`.
func status(_ exit: GuestExit, stoppedBy: OutsideStop? = nil) -> Int32 {
    BootResult(exit: exit, console: "", statistics: [], guestStatistics: KernelStatistics(), lastExitStatus: nil,
               restarts: 0, stoppedBy: stoppedBy).exitStatus
}

@Test func l040_onlyAnOrderlyPowerOffIsSuccess() {
    #expect(status(.poweredOff("Power down")) == 0)
    #expect(status(.restart("again")) == 0)
    #expect(status(.poweredOff(LguestPlatform.panicPrefix + "out of memory")) == 1)
    #expect(status(.killed("bad hypercall 99")) == 1)
}
