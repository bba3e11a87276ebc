import Testing
@testable import Machine

@Suite struct InterpreterSmokeTests {
    @Test func x500_runsToASystemCall() {
        // mov $5, %eax; add $7, %eax
        let outcome = execute([0xB8, 5, 0, 0, 0, 0x83, 0xC0, 7])
        #expect(outcome.cpu.eax == 12)
        guard case let .enteredKernel(vector, errorCode, handler) = outcome.stop else {
            Issue.record("stopped: \(outcome.stop)")
            return
        }
        #expect(vector == 0x80 && errorCode == nil && handler.rawValue == TestMachine.handlerBase + 0x800)
        #expect(outcome.cpu.eip == TestMachine.codeBase + 10)
    }
}
