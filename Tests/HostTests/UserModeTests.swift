// Guests with user programs: the world switch into ring 3 and back, direct traps, reflected user faults,
// and the timer preempting a program that never traps (S:100-S:230, H:215, H:250).

import LguestABI
import Machine
@testable import Switcher
import Testing
@testable import Host

/// Boots a Guest kernel that installs `gates`, sets its kernel stack, and drops to the user code page.
func bootToUser(_ cpu: any GuestProcessor, gates: [(UInt8, GuestVirtualAddress, GateDescriptor.Kind, UInt8)],
                before: (any GuestProcessor) throws(GuestStopped) -> Void = { _ throws(GuestStopped) in }) throws(GuestStopped) {
    try Bed.initialize(cpu)
    for (vector, handler, kind, dpl) in gates { try Bed.setGate(cpu, vector: vector, handler: handler, kind: kind, dpl: dpl) }
    try cpu.store32(0, at: Bed.field(LguestData.blockedInterrupts))
    try cpu.store32(irqEnabledValue, at: Bed.field(LguestData.irqEnabled))
    try cpu.hypercall(.setStack, UInt32(GDTLayout.kernelDataSelector.rawValue), Bed.kva(Bed.stackTop).rawValue, 2)
    try before(cpu)
    var registers = cpu.registers
    let frame = GuestVirtualAddress(registers.esp &- 20)
    let words = [Bed.userCodeVirtual.rawValue, UInt32(GDTLayout.userCodeSelector.rawValue), irqEnabledValue | 2,
                 Bed.userStackTop.rawValue, UInt32(GDTLayout.userDataSelector.rawValue)]
    for (index, word) in words.enumerated() { try cpu.store32(word, at: frame.advanced(by: UInt32(index * 4))) }
    registers.esp = frame.rawValue
    cpu.registers = registers
    try cpu.returnFromInterrupt()
}

/// The address of the n-th entry a test adds in `setUp` (before the boot entry).
func entryAddress(_ n: UInt32) -> GuestVirtualAddress { GuestKernelImage.base.advanced(by: 0x40 + 4 * n) }

@Test func h250_systemCallGoesStraightToTheGuestKernel() throws {
    let bed = HostTestBed()
    var seen: [UInt32] = []
    // mov $42,%ebx; mov $1,%eax; int $0x80; jmp .
    let program: [UInt8] = [0xBB, 42, 0, 0, 0, 0xB8, 1, 0, 0, 0, 0xCD, 0x80, 0xEB, 0xFE]
    let guest = try bed.makeGuest(userCode: program, setUp: { image in
        _ = image.addEntry(named: "syscall") { cpu throws(GuestStopped) in
            let registers = cpu.registers
            seen = [registers.eax, registers.ebx, try cpu.load32(GuestVirtualAddress(registers.esp))]
            try Bed.powerOff(cpu, "exit")
        }
    }) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [(systemCallVector, entryAddress(0), .trap, 3)])
    }
    #expect(bed.host.run(guest) == .poweredOff("exit"))
    #expect(seen == [1, 42, Bed.userCodeVirtual.rawValue + 12])
    #expect(guest.statistics.trapsReflected == 0)  // the Host never saw the system call
}

@Test func h250_withoutDirectTrapsTheSameSystemCallComesThroughTheHost() throws {
    func run(direct: Bool) throws -> (seen: [UInt32], reflected: UInt64, traps: [UInt8]) {
        let bed = HostTestBed()
        bed.host.directTraps = direct
        var seen: [UInt32] = []
        var traps: [UInt8] = []
        // mov $42,%ebx; mov $1,%eax; int $0x80; jmp .
        let program: [UInt8] = [0xBB, 42, 0, 0, 0, 0xB8, 1, 0, 0, 0, 0xCD, 0x80, 0xEB, 0xFE]
        let guest = try bed.makeGuest(userCode: program, setUp: { image in
            _ = image.addEntry(named: "syscall") { cpu throws(GuestStopped) in
                let registers = cpu.registers
                seen = [registers.eax, registers.ebx, try cpu.load32(GuestVirtualAddress(registers.esp))]
                try Bed.powerOff(cpu, "exit")
            }
        }) { cpu throws(GuestStopped) in
            try bootToUser(cpu, gates: [(systemCallVector, entryAddress(0), .trap, 3)])
        }
        guest.onEvent = { _, event in if case let .trap(vector) = event { traps.append(vector) } }
        #expect(bed.host.run(guest) == .poweredOff("exit"))
        return (seen, guest.statistics.trapsReflected, traps)
    }
    let direct = try run(direct: true)
    let reflected = try run(direct: false)
    // The Guest kernel sees the very same call, frame and all, either way...
    #expect(reflected.seen == direct.seen && direct.seen == [1, 42, Bed.userCodeVirtual.rawValue + 12])
    // ...but only without direct traps did the Host see it, as one more trap on vector 0x80.
    #expect(direct.reflected == 0 && !direct.traps.contains(systemCallVector))
    #expect(reflected.reflected == 1 && reflected.traps.filter { $0 == systemCallVector }.count == 1)
}

@Test func h250_interruptGateSystemCallIsReflectedByTheHost() throws {
    let bed = HostTestBed()
    var seen: UInt32 = 0
    let program: [UInt8] = [0xBB, 7, 0, 0, 0, 0xCD, 0x80, 0xEB, 0xFE]
    let guest = try bed.makeGuest(userCode: program, setUp: { image in
        _ = image.addEntry(named: "syscall") { cpu throws(GuestStopped) in
            seen = cpu.registers.ebx
            try Bed.powerOff(cpu, "exit")
        }
    }) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [(systemCallVector, entryAddress(0), .interrupt, 3)])
    }
    #expect(bed.host.run(guest) == .poweredOff("exit"))
    #expect(seen == 7)
    #expect(guest.statistics.trapsReflected == 1)
}

@Test func h220_userPageFaultIsReflectedWithCR2AndErrorCode() throws {
    let bed = HostTestBed()
    var seen: [UInt32] = []
    // mov 0x00800000,%eax; jmp .
    let program: [UInt8] = [0xA1, 0x00, 0x00, 0x80, 0x00, 0xEB, 0xFE]
    let guest = try bed.makeGuest(userCode: program, setUp: { image in
        _ = image.addEntry(named: "page fault") { cpu throws(GuestStopped) in
            let esp = GuestVirtualAddress(cpu.registers.esp)
            seen = [try cpu.load32(Bed.field(LguestData.cr2)), try cpu.load32(esp), try cpu.load32(esp.advanced(by: 4))]
            try Bed.powerOff(cpu, "segfault")
        }
    }) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [(14, entryAddress(0), .interrupt, 0)])
    }
    #expect(bed.host.run(guest) == .poweredOff("segfault"))
    #expect(seen == [0x0080_0000, PageFaultErrorCode.user.rawValue, Bed.userCodeVirtual.rawValue])
    #expect(guest.statistics.pageFaultsReflected == 1)
    #expect(guest.statistics.pageFaultsFixed >= 1)  // the program's own page, filled in on first fetch
}

/// A program that never traps: `xor %eax,%eax; 1: je 1b`.
let spin: [UInt8] = [0x31, 0xC0, 0x74, 0xFE]

@Test func s120_timerPreemptsAProgramThatNeverTraps() throws {
    let bed = HostTestBed()
    var interruptedAt: UInt32 = 0
    let guest = try bed.makeGuest(userCode: spin, setUp: { image in
        _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in
            interruptedAt = try cpu.load32(GuestVirtualAddress(cpu.registers.esp))
            try Bed.powerOff(cpu, "tick")
        }
    }) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [(32, entryAddress(0), .interrupt, 0)]) { cpu throws(GuestStopped) in
            try cpu.hypercall(.setClockEvent, 50_000)
        }
    }
    #expect(bed.host.run(guest) == .poweredOff("tick"))
    #expect(interruptedAt == Bed.userCodeVirtual.rawValue + 2)
    #expect(bed.machine.clock.ticks >= 50_000)
    #expect(guest.statistics.interruptsDelivered == 1)
}

@Test func s120_hostTimerTakesTheProcessorBackWithoutAGuestTimer() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest(userCode: spin) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [])
    }
    // Run the spinning program turn by turn, as the run loop would, until the Host's timer has taken
    // the processor back twice; the only other trap is the fault that maps the program's page.
    var traps: [Trap] = []
    while guest.isAlive && guest.statistics.hostInterrupts < 2 && traps.count < 10 {
        try guest.prepareToRun()
        let trap = bed.host.switcher.run(guest)
        traps.append(trap)
        try guest.handleTrap(trap)
    }
    #expect(traps.filter { $0 != .vector(Switcher.hostTimerVector) } == [.vector(14)])
    #expect(guest.statistics.hostInterrupts == 2)
    #expect(bed.machine.clock.ticks >= 2 * Host.timeSlice)
}

@Test func s100_guestCannotForgeARing0Frame() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    var frame = guest.registerPage.registers
    frame.cs = UInt32(GDTLayout.switcherCodeSelector.rawValue)
    guest.registerPage.registers = frame
    let trap = bed.host.switcher.run(guest)
    guard case let .kernelLost(reason) = trap else { Issue.record("got \(trap)"); return }
    #expect(reason.hasPrefix("switcher: bad guest segments"))
    #expect(bed.machine.cpu.cpl == 0)
}

@Test func s100_guestCannotRaiseItsIOPrivilege() throws {
    let bed = HostTestBed()
    var flags = EFLAGS()
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        var registers = cpu.registers
        registers.eflags.iopl = 3
        cpu.registers = registers
        try Bed.initialize(cpu)
        flags = cpu.registers.eflags
        try Bed.powerOff(cpu)
    }
    var frame = guest.registerPage.registers
    frame.eflags = EFLAGS(rawValue: frame.eflags | 3 << 12).rawValue
    guest.registerPage.registers = frame
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(flags.iopl == 0)
    #expect(flags.contains(.interruptEnable))
}

@Test(arguments: [SwitcherLayout.text, SwitcherLayout.state, SwitcherLayout.idt.advanced(by: 14 * 8)])
func s040_guestKernelCannotWriteTheSwitcher(target: GuestVirtualAddress) throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try cpu.store32(0xDEAD_BEEF, at: target)
        try Bed.powerOff(cpu, "wrote the Switcher")
    }
    let exit = bed.host.run(guest)
    guard case .killed = exit else { Issue.record("guest survived: \(exit)"); return }
    // The processor is back in the Host's state, whose page directory maps the Switcher too.
    #expect(try bed.machine.readVirtual32(target, privilege: .supervisor) != 0xDEAD_BEEF)
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func s040_writingItsOwnRegistersPageDoesTheGuestNoGood() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        // The saved cs, in the registers page: the Guest scribbles ring 0 over it...
        let savedCS = SwitcherLayout.registers.advanced(by: GuestRegisterFrame.offsetInPage + 14 * 4)
        try cpu.store32(UInt32(GDTLayout.switcherCodeSelector.rawValue), at: savedCS)
        // ...but the next trap saves the real registers over it, and the Guest carries on at ring 1.
        try Bed.powerOff(cpu, "still ring 1")
    }
    #expect(bed.host.run(guest) == .poweredOff("still ring 1"))
}

@Test func s100_aFrameTheProcessorRefusesKillsTheGuest() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    // Ring 1 in the selector, but slot 10 is the Switcher's ring-0 code: `iret` refuses it.
    guest.registerPage[.cs] = UInt32(GDTLayout.switcherCodeSelector.rawValue) | 1
    guest.registerPage[.ss] = UInt32(GDTLayout.kernelDataSelector.rawValue)
    guard case let .killed(reason) = bed.host.run(guest) else { Issue.record("guest survived"); return }
    #expect(reason.hasPrefix("switcher: cannot return to guest"))
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func s120_aHandlerReturningToNowhereKillsTheGuest() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in
            // Point the frame's eip at the middle of the text, where no Swift stands, and return there.
            try cpu.store32(GuestKernelImage.base.rawValue + 1, at: GuestVirtualAddress(cpu.registers.esp))
            try cpu.returnFromInterrupt()
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.setGate(cpu, vector: 32, handler: entryAddress(0))
        try cpu.store32(0, at: Bed.field(LguestData.blockedInterrupts))
        try cpu.hypercall(.setClockEvent, 10)
        try cpu.hypercall(.halt)
        try Bed.powerOff(cpu, "unreachable")
    }
    guard case let .killed(reason) = bed.host.run(guest) else { Issue.record("guest survived"); return }
    #expect(reason.hasPrefix("switcher: guest kernel at gva:0xc0100001 ring 1 has no entry point"))
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func s230_anAccessThatFaultsForEverKillsTheGuest() throws {
    let bed = HostTestBed()
    var faults = 0
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "page fault") { cpu throws(GuestStopped) in
            faults += 1
            // Drop the error code and return to the faulting access without fixing anything.
            var registers = cpu.registers
            registers.esp &+= 4
            cpu.registers = registers
            try cpu.returnFromInterrupt()
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.setGate(cpu, vector: 14, handler: entryAddress(0))
        _ = try cpu.load32(GuestVirtualAddress(0x0080_0000))
        try Bed.powerOff(cpu, "unreachable")
    }
    guard case let .killed(reason) = bed.host.run(guest) else { Issue.record("guest survived"); return }
    #expect(reason.hasPrefix("switcher: kernel access at"))
    #expect(faults == SwitcherProcessor.faultLimit)
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func h215_anInterruptOnAnUnmappedStackKillsTheGuest() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in try cpu.returnFromInterrupt() }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.setGate(cpu, vector: 32, handler: entryAddress(0))
        try cpu.store32(0, at: Bed.field(LguestData.blockedInterrupts))
        var registers = cpu.registers
        registers.esp = 0x0080_0000  // nothing is mapped there
        cpu.registers = registers
        try cpu.hypercall(.setClockEvent, 10)
        try cpu.hypercall(.halt)
    }
    guard case .killed = bed.host.run(guest) else { Issue.record("guest survived"); return }
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func h220_fpuUseWithTaskSwitchedSetReachesTheGuestsNMHandler() throws {
    let bed = HostTestBed()
    var faultedAt: UInt32 = 0
    // fld1; je .   (the FPU instruction faults with #NM while cr0.TS is set)
    let guest = try bed.makeGuest(userCode: [0xD9, 0xE8, 0x74, 0xFE], setUp: { image in
        _ = image.addEntry(named: "device not available") { cpu throws(GuestStopped) in
            faultedAt = try cpu.load32(GuestVirtualAddress(cpu.registers.esp))
            try Bed.powerOff(cpu, "fpu")
        }
    }) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [(7, entryAddress(0), .interrupt, 0)]) { cpu throws(GuestStopped) in
            try cpu.hypercall(.taskSwitched, 1)
        }
    }
    #expect(bed.host.run(guest) == .poweredOff("fpu"))
    #expect(faultedAt == Bed.userCodeVirtual.rawValue)
    #expect(guest.statistics.trapsReflected == 1)
}

@Test(arguments: [(UInt8(3), true), (14, false), (13, false), (7, false), (40, false)])
func h250_onlyTrapGatesBelow32AndNotTheHostsOwnGoDirect(vector: UInt8, direct: Bool) throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    let gate = GateDescriptor(offset: 0xC010_0040, selector: GDTLayout.kernelCodeSelector, kind: .trap, dpl: 3)
    try guest.loadIDTEntry(vector: UInt32(vector), low: gate.low, high: gate.high)
    let installed = guest.switcherGate(vector: vector)
    #expect((installed.offset == 0xC010_0040) == direct)
    #expect((installed.selector == GDTLayout.switcherCodeSelector) == !direct)
    #expect(installed.dpl == 3)  // the Guest's privilege choice survives either way
}

@Test func h220_theNextGuestNeverSeesTheLastGuestsFPU() throws {
    let bed = HostTestBed()
    // fld1; fldpi; ud2: two numbers on the FPU stack, then a #UD whose handler powers off.
    let guest = try bed.makeGuest(userCode: [0xD9, 0xE8, 0xD9, 0xEB, 0x0F, 0x0B], setUp: { image in
        _ = image.addEntry(named: "invalid opcode") { cpu throws(GuestStopped) in try Bed.powerOff(cpu, "ud2") }
    }) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [(6, entryAddress(0), .interrupt, 0)]) { _ throws(GuestStopped) in }
    }
    #expect(bed.host.run(guest) == .poweredOff("ud2"))
    // The Guest's numbers went with it: the machine's FPU is as fninit leaves it.
    #expect(bed.host.machine.fpu == FPUState())
}
