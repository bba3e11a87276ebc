import Testing
@testable import Machine

private func handler(_ vector: Int) -> GuestVirtualAddress { GuestVirtualAddress(TestMachine.handlerBase + UInt32(vector) * 16) }

@Suite struct ClockTests {
    @Test func x600_oneTickPerInstructionAndRepIterations() {
        let test = TestMachine()
        // mov $5,%ecx; mov $0x20000,%edi; rep stosb; int $0x80
        test.load([0xB9, 5, 0, 0, 0, 0xBF, 0, 0, 2, 0, 0xF3, 0xAA, 0xCD, 0x80])
        _ = test.machine.run(maxInstructions: 100)
        #expect(test.machine.statistics.instructions == 4)
        #expect(test.machine.clock.ticks == 8, "mov, mov, five rounds of rep stosb, int: eight ticks")
        test.machine.advance(by: 1000)
        #expect(test.machine.clock.nanoseconds == 1008)
    }

    @Test func x600_aRepInstructionResumesAfterTheBudgetRunsOut() {
        let test = TestMachine()
        test.load([0xB9, 5, 0, 0, 0, 0xBF, 0, 0, 2, 0, 0xF3, 0xAA, 0xCD, 0x80])
        var stops: [StopReason] = []
        for _ in 0..<20 {
            let stop = test.machine.run(maxInstructions: 1)
            stops.append(stop)
            if stop != .budgetExhausted { break }
        }
        #expect(stops.count == 8 && stops.last == .enteredKernel(vector: 0x80, errorCode: nil, handler: handler(0x80)))
        #expect(test.machine.cpu.edi == 0x20005 && test.machine.cpu.ecx == 0)
    }
}
