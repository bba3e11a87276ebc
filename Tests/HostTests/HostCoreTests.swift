// Tests of the Host core: the run loop, guest memory, hypercalls, interrupts and traps (H:0xx-H:2xx).
// Each hostile Guest is followed by a healthy one on the same Host: the Host is none the worse.

import LguestABI
import Machine
import Switcher
import Testing
@testable import Host

typealias Bed = HostTestBed

@Test func h030_guestBootsInitialisesAndPowersOff() throws {
    let bed = HostTestBed()
    var seen: [UInt32] = []
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        // What the Host wrote into lguest_data at INIT, read as the Guest reads it.
        for field in [LguestData.tscKHz, LguestData.reserveMemory, LguestData.pageDirectory, LguestData.timeSeconds] {
            seen.append(try cpu.load32(Bed.field(field)))
        }
        try Bed.powerOff(cpu, "goodbye")
    }
    #expect(bed.host.run(guest) == .poweredOff("goodbye"))
    #expect(guest.statistics.synchronousHypercalls[.lguestInit] == 1)
    #expect(guest.statistics.synchronousHypercalls[.shutdown] == 1)
    #expect(bed.host.switcher.statistics.worldSwitches >= 4)
    #expect(seen == [1_000_000, 4 << 20, Bed.directory.rawValue, bootWallClockSeconds])
    // Once the Guest is gone its memory is too (H:034): a stale reader is refused, not shown zeros.
    #expect(throws: GuestViolation("memory: guest is gone; its memory was given back")) {
        try guest.memory.load32(Bed.lguestData)
    }
}

@Test func h030_runIsDeterministic() throws {
    func once() throws -> (GuestExit, UInt64, UInt64) {
        let bed = HostTestBed()
        let guest = try bed.makeGuest { cpu throws(GuestStopped) in
            try Bed.initialize(cpu)
            try cpu.hypercall(.setClockEvent, 5000)
            try cpu.hypercall(.halt)  // no handler: the interrupt waits, but the halt ends
            try Bed.powerOff(cpu)
        }
        let exit = bed.host.run(guest)
        return (exit, bed.machine.clock.ticks, bed.host.switcher.statistics.worldSwitches)
    }
    let first = try once()
    let second = try once()
    #expect(first == second)
}

@Test func h032_guestMemoryChecksLimitAndWrapAround() throws {
    let ram = PhysicalMemory(frameCount: 8)
    let memory = GuestMemory(physicalMemory: ram, baseFrame: PageFrameNumber(2), pageCount: 4)
    let limit = UInt32(4 * pageSize)
    let cases: [(UInt32, Int, Bool)] = [
        (0, 4, true), (limit - 4, 4, true), (limit - 3, 4, false), (limit, 0, true), (limit, 1, false),
        (0xFFFF_FFFF, 2, false), (0xFFFF_FFFC, 8, false), (0, Int(limit), true), (1, Int(limit), false),
    ]
    for (address, count, fits) in cases {
        #expect(memory.contains(GuestPhysicalAddress(address), count: count) == fits, "\(address) + \(count)")
        let host = try? memory.hostAddress(GuestPhysicalAddress(address), count: count)
        #expect((host != nil) == fits)
    }
    #expect(try memory.hostAddress(GuestPhysicalAddress(0x10), count: 1) == HostPhysicalAddress(0x2010))
    #expect(throws: GuestViolation.self) { try memory.load32(GuestPhysicalAddress(limit - 2)) }
    #expect(throws: GuestViolation.self) { try memory.hostFrame(PageFrameNumber(4)) }
    #expect(try memory.hostFrame(PageFrameNumber(3)) == PageFrameNumber(5))
    try memory.copyIn(Array("hi\0".utf8), at: GuestPhysicalAddress(limit - 3))
    #expect(try memory.string(at: GuestPhysicalAddress(limit - 3)) == "hi")
    try memory.copyIn(Array("abc".utf8), at: GuestPhysicalAddress(limit - 3))
    #expect(throws: GuestViolation.self) { try memory.string(at: GuestPhysicalAddress(limit - 3)) }
}

@Test func h025_killKeepsTheFirstReason() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    guest.kill("first")
    guest.kill("second")
    #expect(guest.exit == .killed("first"))
    #expect(!guest.isAlive)
}

/// Every kill reason a hostile Guest can provoke through the core: the section whose rule it breaks
/// (a lowercase tag), the start of the kill message, and the kernel that breaks it.
func hostileKernels() -> [(section: String, reason: String, kernel: GuestEntryPoint)] { [
    ("h100", "hypercalls: NOTIFY before LGUEST_INIT", { cpu throws(GuestStopped) in try cpu.hypercall(.notify, 0) }),
    ("h120", "hypercalls: LGUEST_INIT twice", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try cpu.hypercall(.lguestInit, Bed.lguestData.rawValue)
    }),
    ("h120", "hypercalls: bad lguest_data address", { cpu throws(GuestStopped) in
        try cpu.hypercall(.lguestInit, Bed.guestPages * UInt32(pageSize) - 8)
    }),
    ("h120", "hypercalls: bad lguest_data address", { cpu throws(GuestStopped) in try cpu.hypercall(.lguestInit, 0xFFFF_FFF0) }),
    ("h120", "hypercalls: bad system call vector 31", { cpu throws(GuestStopped) in
        try cpu.store32(31, at: Bed.field(LguestData.systemCallVector)); try Bed.initialize(cpu)
    }),
    ("h120", "hypercalls: bad system call vector 239", { cpu throws(GuestStopped) in
        try cpu.store32(0xEF, at: Bed.field(LguestData.systemCallVector)); try Bed.initialize(cpu)
    }),
    ("h120", "hypercalls: bad no-interrupt window", { cpu throws(GuestStopped) in
        try cpu.store32(0, at: Bed.field(LguestData.noInterruptEnd)); try Bed.initialize(cpu)
    }),
    ("h120", "page tables: bad kernel address", { cpu throws(GuestStopped) in
        try cpu.store32(0xFFC0_0000, at: Bed.field(LguestData.kernelAddress)); try Bed.initialize(cpu)
    }),
    ("h130", "hypercalls: bad shutdown kind 7", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try cpu.hypercall(.shutdown, Bed.reasonAddress.rawValue, 7)
    }),
    ("h130", "memory: bad guest address", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try cpu.hypercall(.shutdown, 0xFFFF_FFFF, 1)
    }),
    ("h110", "hypercalls: bad async hypercall 1000", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try cpu.store32(1000, at: Bed.field(LguestData.entryOffset(slot: 0)))
        try cpu.store8(hypercallReady, at: Bed.field(LguestData.statusOffset(slot: 0)))
        try cpu.hypercall(.flushAsync)
    }),
    ("h230", "interrupts: bad IDT entry number 256", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try cpu.hypercall(.loadIDTEntry, 256, 0, 0)
    }),
    ("h230", "interrupts: attempt to set special IDT entry 2", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try Bed.setGate(cpu, vector: 2, handler: GuestKernelImage.base)
    }),
    ("h230", "interrupts: attempt to set special IDT entry 8", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try Bed.setGate(cpu, vector: 8, handler: GuestKernelImage.base)
    }),
    ("h230", "interrupts: attempt to set special IDT entry 15", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try Bed.setGate(cpu, vector: 15, handler: GuestKernelImage.base)
    }),
    ("h230", "interrupts: attempt to set special IDT entry 31", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try Bed.setGate(cpu, vector: 0x1F, handler: GuestKernelImage.base)
    }),
    ("h230", "interrupts: bad IDT type 5", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try Bed.setGate(cpu, vector: 40, handler: GuestKernelImage.base, kind: .task)
    }),
    ("h260", "interrupts: bad stack segment 104", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try cpu.hypercall(.setStack, 0x68, Bed.kva(Bed.stackTop).rawValue, 1)
    }),
    ("h260", "interrupts: bad stack pages 3", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try cpu.hypercall(.setStack, 0x69, Bed.kva(Bed.stackTop).rawValue, 3)
    }),
    ("h260", "interrupts: bad stack pages 0", { cpu throws(GuestStopped) in
        try Bed.initialize(cpu); try cpu.hypercall(.setStack, 0x69, Bed.kva(Bed.stackTop).rawValue, 0)
    }),
    ("h220", "traps: unhandled trap 13", { cpu throws(GuestStopped) in try Bed.initialize(cpu); try cpu.native(.cli) }),
    ("h040", "halt: no interrupt can ever arrive", { cpu throws(GuestStopped) in try Bed.initialize(cpu); try cpu.hypercall(.halt) }),
    ("s200", "switcher: handler boot returned without iret", { _ throws(GuestStopped) in }),
] }

/// The rows of `hostileKernels()` that break a rule of `section`, so each section's exercises run
/// under its own tag (`swift test --filter h230`).
func hostileKernels(of section: String) -> [Int] {
    hostileKernels().indices.filter { hostileKernels()[$0].section == section }
}

/// Boots row `index`'s kernel, expects the Host to kill it with that row's reason, then expects the
/// same Host to run a healthy Guest to power-off.
func expectKilledThenHealthy(_ index: Int) throws {
    let (_, expected, kernel) = hostileKernels()[index]
    let bed = HostTestBed()
    let reason = try bed.killReason(boot: kernel)
    #expect(reason.hasPrefix(expected), "got \(reason)")
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

/// The sections the table's rows are filed under; each has its test below.
let hostileKernelSections: Set = ["h040", "h100", "h110", "h120", "h130", "h220", "h230", "h260", "s200"]

@Test func h100_everyHostileKernelIsFiledUnderASectionWithATest() {
    #expect(Set(hostileKernels().map(\.section)) == hostileKernelSections)
}

@Test(arguments: hostileKernels(of: "h100"))
func h100_hostileGuestDiesWithItsReasonAndTheHostRunsAnother(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: hostileKernels(of: "h040"))
func h040_aHaltNothingCanWakeKills(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: hostileKernels(of: "h110"))
func h110_aBadCallInTheRingKills(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: hostileKernels(of: "h120"))
func h120_aHandshakeTheHostCannotTrustKills(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: hostileKernels(of: "h130"))
func h130_aBadShutdownKills(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: hostileKernels(of: "h220"))
func h220_aTrapTheGuestHasNoHandlerForKills(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: hostileKernels(of: "h230"))
func h230_aBadOrSpecialIDTEntryKills(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: hostileKernels(of: "h260"))
func h260_aBadKernelStackKills(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: hostileKernels(of: "s200"))
func s200_aHandlerThatReturnsWithoutIretKills(index: Int) throws { try expectKilledThenHealthy(index) }

@Test(arguments: [UInt32(11), 12, 13, 18, 99, 0xFFFF_FFFF])
func h100_undefinedHypercallNumberKills(number: UInt32) throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    try guest.initialize(lguestData: Bed.lguestData)
    var frame = guest.registerPage.registers
    frame.eax = number
    guest.registerPage.registers = frame
    #expect(throws: GuestViolation("hypercalls: bad hypercall \(number)")) { try guest.handleTrap(.vector(hypercallVector)) }
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func h110_asyncRingRunsInOrderBeforeTheSynchronousCall() throws {
    let bed = HostTestBed()
    var notified: [UInt32] = []
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        for (slot, value) in [(0, UInt32(11)), (1, 22)] {
            try cpu.store32(Hypercall.notify.rawValue, at: Bed.field(LguestData.entryOffset(slot: slot)))
            try cpu.store32(value, at: Bed.field(LguestData.entryOffset(slot: slot) + HypercallRingEntry.arguments))
            try cpu.store8(hypercallReady, at: Bed.field(LguestData.statusOffset(slot: slot)))
        }
        try cpu.hypercall(.notify, 33)
        guard try cpu.load8(Bed.field(LguestData.statusOffset(slot: 0))) == hypercallDone,
              try cpu.load8(Bed.field(LguestData.statusOffset(slot: 1))) == hypercallDone else { return }
        try Bed.powerOff(cpu)
    }
    guest.onNotify = { _, address in notified.append(address.rawValue) }
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(notified == [11, 22, 33])
    #expect(guest.statistics.asynchronousHypercalls[.notify] == 2)
    #expect(guest.statistics.synchronousHypercalls[.notify] == 1)
}

@Test func h130_restartIsReportedWithItsReason() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.writeReason("again", cpu)
        try cpu.hypercall(.shutdown, Bed.reasonAddress.rawValue, ShutdownKind.restart.rawValue)
    }
    #expect(bed.host.run(guest) == .restart("again"))
}

@Test func h205_timerWakesAHaltedGuestThroughItsInterruptHandler() throws {
    let bed = HostTestBed()
    var ticksSeen: [UInt32] = []
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in
            ticksSeen.append(try cpu.load32(Bed.field(LguestData.irqEnabled)))
            try cpu.returnFromInterrupt()
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.setGate(cpu, vector: 32, handler: GuestKernelImage.base.advanced(by: 0x40))
        try cpu.store32(0, at: Bed.field(LguestData.blockedInterrupts))
        try cpu.hypercall(.setClockEvent, 100_000)
        try cpu.hypercall(.halt)
        try Bed.powerOff(cpu)
    }
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(ticksSeen == [0])  // the interrupt gate turned the virtual flag off
    #expect(guest.statistics.interruptsDelivered == 1)
    #expect(bed.machine.clock.ticks >= 100_000)
    #expect(guest.statistics.haltedNanoseconds > 90_000)
}

@Test func h210_interruptWaitsWhileDisabledAndSetsPending() throws {
    let bed = HostTestBed()
    var handled = 0
    var pendingSeen: UInt32 = 0
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in
            handled += 1
            try cpu.returnFromInterrupt()
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.setGate(cpu, vector: 32, handler: GuestKernelImage.base.advanced(by: 0x40))
        try cpu.store32(0, at: Bed.field(LguestData.blockedInterrupts))
        try cpu.store32(0, at: Bed.field(LguestData.irqEnabled))
        try cpu.hypercall(.setClockEvent, 1)
        for _ in 0..<3 { try cpu.hypercall(.flushAsync) }
        pendingSeen = try cpu.load32(Bed.field(LguestData.irqPending))
        guard handled == 0 else { return }
        try cpu.store32(irqEnabledValue, at: Bed.field(LguestData.irqEnabled))
        try cpu.hypercall(.flushAsync)
        try Bed.powerOff(cpu)
    }
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(pendingSeen == irqEnabledValue)
    #expect(handled == 1)
}

@Test func h210_blockedInterruptIsNotDelivered() throws {
    let bed = HostTestBed()
    var handled = 0
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in handled += 1; try cpu.returnFromInterrupt() }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.startTimer(cpu, blocked: 1)
        for _ in 0..<3 { try cpu.hypercall(.flushAsync) }
        try Bed.powerOff(cpu)
    }
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(handled == 0)
}

@Test func h210_noInterruptInsideTheWindow() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    try guest.memory.store32(0, at: Bed.lguestData.advanced(by: LguestData.blockedInterrupts))
    try guest.memory.store32(irqEnabledValue, at: Bed.lguestData.advanced(by: LguestData.irqEnabled))
    try guest.initialize(lguestData: Bed.lguestData)
    try guest.loadIDTEntry(vector: 32, low: GateDescriptor(offset: 0xC010_0040, selector: GDTLayout.kernelCodeSelector, kind: .interrupt, dpl: 0).low,
                           high: GateDescriptor(offset: 0xC010_0040, selector: GDTLayout.kernelCodeSelector, kind: .interrupt, dpl: 0).high)
    guest.raiseInterrupt(timerIRQ)
    var frame = guest.registerPage.registers
    frame.eip = guest.image.iretSite.rawValue
    guest.registerPage.registers = frame
    try guest.maybeDeliverInterrupt()
    #expect(guest.statistics.interruptsDelivered == 0)
    frame.eip = guest.image.memoryAccessSite.rawValue
    guest.registerPage.registers = frame
    try guest.maybeDeliverInterrupt()
    #expect(guest.statistics.interruptsDelivered == 1)
    let pushed = guest.registerPage.registers
    #expect(pushed.eip == 0xC010_0040)
    #expect(pushed.esp == frame.esp - 12)
    #expect(try guest.memory.load32(Bed.lguestData.advanced(by: LguestData.irqEnabled)) == 0)
}

@Test(arguments: [
    (NativeInstruction.inByte, UInt32(0x1234_5600), UInt32(0x1234_56FF)),
    (.inWord, 0x1234_0000, 0x1234_FFFF),
    (.inLong, 0, 0xFFFF_FFFF),
    (.outByte, 0x55, 0x55),
    (.outLong, 0x55, 0x55),
])
func h225_inReadsAllOnesAndOutGoesNowhere(instruction: NativeInstruction, eax: UInt32, expected: UInt32) throws {
    let bed = HostTestBed()
    var result: UInt32 = 0
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        var registers = cpu.registers
        registers.eax = eax
        registers.edx = 0x3F8
        cpu.registers = registers
        try cpu.native(instruction)
        result = cpu.registers.eax
        try Bed.powerOff(cpu)
    }
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(result == expected)
    #expect(guest.statistics.instructionsEmulated == 1)
}

@Test func h220_reflectedGeneralProtectionReachesTheGuestHandler() throws {
    let bed = HostTestBed()
    var errorCodes: [UInt32] = []
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "gp") { cpu throws(GuestStopped) in
            errorCodes.append(try cpu.load32(GuestVirtualAddress(cpu.registers.esp)))
            try Bed.powerOff(cpu, "gp")
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.setGate(cpu, vector: 13, handler: GuestKernelImage.base.advanced(by: 0x40))
        try cpu.native(.hlt)
    }
    #expect(bed.host.run(guest) == .poweredOff("gp"))
    #expect(errorCodes == [0])
    #expect(guest.statistics.trapsReflected == 1)
}

@Test func h060_eventsArriveInOrderWithVirtualTimes() throws {
    func trace() throws -> [(UInt64, HostEvent)] {
        let bed = HostTestBed()
        var events: [(UInt64, HostEvent)] = []
        let guest = try bed.makeGuest(setUp: { image in
            _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in try cpu.returnFromInterrupt() }
        }) { cpu throws(GuestStopped) in
            try Bed.initialize(cpu)
            try Bed.setGate(cpu, vector: 32, handler: GuestKernelImage.base.advanced(by: 0x40))
            try cpu.store32(0, at: Bed.field(LguestData.blockedInterrupts))
            try cpu.hypercall(.setClockEvent, 1000)
            try cpu.hypercall(.halt)
            try Bed.powerOff(cpu, "traced")
        }
        guest.onEvent = { time, event in events.append((time, event)) }
        _ = bed.host.run(guest)
        return events
    }
    let events = try trace()
    let kinds = events.map(\.1)
    #expect(kinds.first == .resume)  // the very first switch into the Guest
    #expect(kinds.dropFirst().first == .trap(vector: hypercallVector))
    #expect(kinds.contains(.hypercall(.lguestInit, asynchronous: false)))
    let armed = try #require(kinds.firstIndex(of: .hypercall(.setClockEvent, asynchronous: false)))
    let halt = try #require(kinds.firstIndex(of: .hypercall(.halt, asynchronous: false)))
    let interrupt = try #require(kinds.firstIndex(of: .interrupt(vector: 32)))
    #expect(armed < halt && halt < interrupt)
    #expect(events[interrupt].0 == events[armed].0 + 1000)
    #expect(kinds.last == .exit(.poweredOff("traced")))
    // Each trap opens a visit to the Host, and the next trap comes only after a resume ends it.
    let boundaries = kinds.filter { $0 == .resume || $0 == .trap(vector: hypercallVector) }
    #expect(zip(boundaries, boundaries.dropFirst()).allSatisfy { $0 != $1 || $0 == .resume })
    #expect(kinds.firstIndex(of: .resume).map { $0 < halt } == true)
    #expect(events[interrupt].0 <= events[kinds.lastIndex(of: .resume) ?? 0].0)
    #expect(zip(events, events.dropFirst()).allSatisfy { $0.0 <= $1.0 })
    // Virtual time: the same Guest gives the same trace.
    #expect(try trace().map { "\($0.0) \($0.1)" } == events.map { "\($0.0) \($0.1)" })
}

@Test func h034_oneHostRunsTenThousandGuestsOnFixedRAMAndGetsEveryFrameBack() throws {
    // 1,024 frames hold three of these 320-page Guests at once, at most: without every frame coming
    // back, the fourth would not fit.
    let bed = HostTestBed()
    let kernels = hostileKernels()
    let freeAtStart = bed.machine.memory.freeFrameCount
    var powerOffs = 0, kills = 0
    for index in 0..<10_000 {
        // Hostile and healthy mixed: every row of the hostile table in turn, and a healthy Guest between.
        if index % 2 == 0 {
            guard case .killed = try bed.host.run(bed.makeGuest(boot: kernels[(index / 2) % kernels.count].kernel)) else {
                Issue.record("hostile guest \(index) was not killed")
                return
            }
            kills += 1
        } else if try bed.runHealthyGuest() == .poweredOff("healthy") {
            powerOffs += 1
        }
        // Shadow page tables go back to the Host's pool, everything else to the machine.
        #expect(bed.host.frames.framesInUse == 0)
        #expect(bed.machine.memory.freeFrameCount + bed.host.frames.idleFrameCount == freeAtStart)
    }
    #expect(kills == 5_000 && powerOffs == 5_000)
}
