// S:205: a Guest kernel that nests its entries without end, or uses the processor after its own
// `iret` or death, loses its life and nothing else: the host process survives and runs the next Guest.

import LguestABI
import Machine
import Switcher
import Testing
@testable import Host

/// The kill reason S:205 gives when a Guest's kernel entries nest too deep.
let nestedTooDeep = "switcher: guest kernel entries nested \(Switcher.kernelNestingLimit) deep"

@Test func s205_timerHandlerThatReenablesInterruptsNestsUntilTheStackRunsOut() throws {
    let bed = HostTestBed()
    var deepest = 0, depth = 0
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in
            depth += 1
            deepest = max(deepest, depth)
            defer { depth -= 1 }
            // Interrupts back on and the clock armed again before the next hypercall: the next tick
            // lands inside that hypercall, one level deeper, for ever.
            try cpu.store32(irqEnabledValue, at: Bed.field(LguestData.irqEnabled))
            try cpu.hypercall(.setClockEvent, 1)
            try cpu.hypercall(.flushAsync)
            try cpu.returnFromInterrupt()
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.startTimer(cpu)
        for _ in 0..<10 { try cpu.hypercall(.flushAsync) }
        try Bed.powerOff(cpu)
    }
    guard case let .killed(reason) = bed.host.run(guest) else {
        Issue.record("the nesting Guest was not killed")
        return
    }
    #expect(reason.hasPrefix(nestedTooDeep), "got \(reason)")
    // The boot entry is one level, so the timer handler reached one less than the limit.
    #expect(deepest == Switcher.kernelNestingLimit - 1)
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func s205_pageFaultHandlerThatFaultsAgainNestsUntilTheStackRunsOut() throws {
    let bed = HostTestBed()
    // Nothing maps this address: every touch is a page fault the Host reflects to the Guest.
    let unmapped = GuestVirtualAddress(0x0080_0000)
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "page fault") { cpu throws(GuestStopped) in
            _ = try cpu.load32(unmapped)
            try cpu.returnFromInterrupt()
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.setGate(cpu, vector: ExceptionVector.pageFault.rawValue, handler: GuestKernelImage.base.advanced(by: 0x40))
        _ = try cpu.load32(unmapped)
        try Bed.powerOff(cpu)
    }
    guard case let .killed(reason) = bed.host.run(guest) else {
        Issue.record("the faulting Guest was not killed")
        return
    }
    #expect(reason.hasPrefix(nestedTooDeep), "got \(reason)")
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func s205_nestingWithinTheLimitIsFine() throws {
    // Three levels, as a healthy kernel nests: boot, a timer tick in a hypercall, nothing more.
    let bed = HostTestBed()
    var ticks = 0
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "timer") { cpu throws(GuestStopped) in
            ticks += 1
            try cpu.hypercall(.flushAsync)
            try cpu.returnFromInterrupt()
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.startTimer(cpu)
        for _ in 0..<4 { try cpu.hypercall(.flushAsync) }
        try Bed.powerOff(cpu)
    }
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(ticks == 1)
}

@Test func s205_processorRefusesAnEntryThatGoesOnAfterAFaultingIret() throws {
    let bed = HostTestBed()
    let reason = try bed.killReason { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        // The boot stack holds zeros: the `iret` pops a null cs and faults with #GP...
        try cpu.returnFromInterrupt()
        // ...and the Swift code, instead of returning at once, carries on.
        try cpu.hypercall(.flushAsync)
        _ = try cpu.load32(Bed.field(LguestData.irqEnabled))
    }
    #expect(reason == "switcher: guest kernel used the processor after its iret")
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func s205_aGuestThatCatchesItsOwnDeathStaysDeadWithItsFirstReason() throws {
    let bed = HostTestBed()
    var refusals = 0
    let reason = try bed.killReason { cpu throws(GuestStopped) in
        // NOTIFY before INIT kills the Guest; this kernel shrugs and tries everything else.
        do { try cpu.hypercall(.notify, 0) } catch {}
        for attempt in 0..<5 {
            do {
                switch attempt {
                case 0: try Bed.initialize(cpu)
                case 1: _ = try cpu.load32(Bed.field(0))
                case 2: try cpu.native(.cli)
                case 3: try cpu.returnFromInterrupt()
                default: try cpu.storeBytes([1, 2, 3], at: Bed.field(0))
                }
            } catch {
                refusals += 1
            }
        }
        var registers = cpu.registers
        registers.eip = 0
        cpu.registers = registers
    }
    #expect(reason == "hypercalls: NOTIFY before LGUEST_INIT")
    #expect(refusals == 5)
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}
