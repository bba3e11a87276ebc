// H:045: work the Launcher schedules at a virtual time, and the halted Guest that waits for it.

import LguestABI
import Machine
import Testing
@testable import Host

@Test func h045_aHaltedGuestSleepsUntilScheduledWorkWakesIt() throws {
    let bed = HostTestBed()
    var ran: [UInt64] = []
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try HostTestBed.initialize(cpu)
        try cpu.hypercall(.halt)
        try HostTestBed.powerOff(cpu, "woken")
    }
    // Two pieces of work, asked for out of order; the second raises IRQ 1.
    guest.schedule(after: 9000) { guest in
        ran.append(bed.machine.clock.ticks)
        guest.raiseInterrupt(1)
    }
    guest.schedule(after: 4000) { _ in ran.append(bed.machine.clock.ticks) }
    #expect(guest.instructionBudget == 4000, "the budget ends at the earliest work")
    #expect(bed.host.run(guest) == .poweredOff("woken"))
    #expect(ran.count == 2 && ran[0] >= 4000 && ran[1] >= 9000 && ran[0] < ran[1])
    #expect(guest.statistics.haltedNanoseconds > 0)
}

@Test func h045_workThatWakesNobodyStillLeavesAHaltedGuestToDie() throws {
    let bed = HostTestBed()
    var ran = 0
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try HostTestBed.initialize(cpu)
        try cpu.hypercall(.halt)
        try HostTestBed.powerOff(cpu, "never")
    }
    guest.schedule(after: 100) { _ in ran += 1 }
    #expect(bed.host.run(guest) == .killed("halt: no interrupt can ever arrive"))
    #expect(ran == 1, "the work ran first")
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func h045_workForTheSameMomentRunsInTheOrderItWasAskedFor() {
    var work = ScheduledWork()
    var order: [Int] = []
    for index in 0..<5 { work.add(at: 10) { _ in order.append(index) } }
    work.add(at: 5) { _ in order.append(-1) }
    #expect(work.earliest == 5)
    #expect(work.takeDue(at: 4) == nil)
    let bed = HostTestBed()
    let guest = try? bed.makeGuest { _ throws(GuestStopped) in }
    while let next = work.takeDue(at: 10), let guest { next(guest) }
    #expect(order == [-1, 0, 1, 2, 3, 4])
}
