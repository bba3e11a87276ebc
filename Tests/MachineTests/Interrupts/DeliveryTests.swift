import Testing
@testable import Machine

private func handler(_ vector: Int) -> GuestVirtualAddress { GuestVirtualAddress(TestMachine.handlerBase + UInt32(vector) * 16) }

@Suite struct DeliveryTests {
    @Test func x410_systemCallSwitchesToTheRing1StackAndPushesTheFullFrame() {
        let test = TestMachine()
        test.load([0x90, 0xCD, 0x80])  // nop; int $0x80
        let stop = test.machine.run(maxInstructions: 10)
        #expect(stop == .enteredKernel(vector: 0x80, errorCode: nil, handler: handler(0x80)))
        let cpu = test.machine.cpu
        #expect(cpu.cpl == 1 && cpu.cs.selector == TestMachine.ring1Code && cpu.ss.selector == TestMachine.ring1Data)
        #expect(cpu.esp == TestMachine.ring1StackTop - 20)
        #expect(test.stackWord(0) == TestMachine.codeBase + 3, "eip after the int")
        #expect(test.stackWord(1) == UInt32(TestMachine.userCode.rawValue))
        #expect(test.stackWord(2) == 0x202, "eflags with IF")
        #expect(test.stackWord(3) == TestMachine.userStackTop)
        #expect(test.stackWord(4) == UInt32(TestMachine.userData.rawValue))
        #expect(!cpu.eflags.contains(.interruptEnable), "an interrupt gate clears IF")
        #expect(test.machine.statistics.deliveries(vector: 0x80) == 1)
    }

    @Test func x410_trapGatesLeaveInterruptsEnabled() {
        let test = TestMachine()
        test.setGate(0x80, GateDescriptor(offset: 0xC000_0800, selector: TestMachine.ring1Code, kind: .trap, dpl: 3))
        test.load([0xCD, 0x80])
        _ = test.machine.run(maxInstructions: 10)
        #expect(test.machine.cpu.eflags.contains(.interruptEnable) && test.machine.cpu.cpl == 1)
    }

    @Test func x410_gatesToRing0UseTheRing0Stack() {
        let test = TestMachine()
        test.setGate(0x81, GateDescriptor(offset: 0xC000_0810, selector: TestMachine.kernelCode, kind: .interrupt, dpl: 3))
        test.load([0xCD, 0x81])
        let stop = test.machine.run(maxInstructions: 10)
        #expect(stop == .enteredKernel(vector: 0x81, errorCode: nil, handler: handler(0x81)))
        #expect(test.machine.cpu.cpl == 0 && test.machine.cpu.ss.selector == TestMachine.kernelData)
        #expect(test.machine.cpu.esp == TestMachine.ring0StackTop - 20)
    }

    @Test func x410_softwareInterruptThroughAKernelOnlyGateIsGP() {
        let test = TestMachine()
        test.load([0x90, 0xCD, 0x20])  // nop; int $0x20
        let stop = test.machine.run(maxInstructions: 10)
        #expect(stop == .enteredKernel(vector: 13, errorCode: 0x20 * 8 + 2, handler: handler(13)))
        #expect(test.stackWord(0) == 0x20 * 8 + 2, "the error code is on top of the frame")
        #expect(test.stackWord(1) == TestMachine.codeBase + 1, "eip of the int instruction")
    }

    @Test func x410_int3AndIntoUseTheirUserGates() {
        #expect(execute([0xCC]).stop == .enteredKernel(vector: 3, errorCode: nil, handler: handler(3)))
        // mov $0x7fffffff,%eax; add $1,%eax; into
        let overflow = execute([0xB8, 0xFF, 0xFF, 0xFF, 0x7F, 0x83, 0xC0, 0x01, 0xCE])
        #expect(overflow.stop == .enteredKernel(vector: 4, errorCode: nil, handler: handler(4)))
        #expect(execute([0xCE]).stop == .enteredKernel(vector: 0x80, errorCode: nil, handler: handler(0x80)), "no overflow")
    }

    @Test func x410_singleStepTrapsAfterOneInstruction() {
        let outcome = execute([0x40, 0x40]) { _, cpu in cpu.eflags.insert(.trap) }
        #expect(outcome.stop == .enteredKernel(vector: 1, errorCode: nil, handler: handler(1)))
    }

    @Test func x580_singleSteppingARepTrapsAfterEveryRound() {
        // mov $0x20000,%edi; mov $3,%ecx; then with TF set: rep stosb. One round, then the #DB, with eip
        // still on the rep (5 + 5 bytes in) and two rounds left in ecx.
        let test = TestMachine()
        test.load([0xBF, 0x00, 0x00, 0x02, 0x00, 0xB9, 0x03, 0x00, 0x00, 0x00, 0xF3, 0xAA, 0xCD, 0x80])
        #expect(test.machine.run(maxInstructions: 2) == .budgetExhausted)
        var cpu = test.machine.cpu
        cpu.eflags.insert(.trap)
        test.machine.cpu = cpu
        #expect(test.machine.run(maxInstructions: 10) == .enteredKernel(vector: 1, errorCode: nil, handler: handler(1)))
        #expect(test.stackWord(0) == TestMachine.codeBase + 10, "eip on the rep stosb")
        #expect(test.machine.cpu.ecx == 2 && test.machine.cpu.edi == 0x20001)
    }

    @Test func x410_theHostCanInjectAnExternalInterrupt() {
        let test = TestMachine()
        let stop = test.machine.deliver(vector: 0x20, errorCode: 99, kind: .external)
        #expect(stop == .enteredKernel(vector: 0x20, errorCode: nil, handler: handler(0x20)), "no DPL check, no error code")
        #expect(test.machine.cpu.esp == TestMachine.ring1StackTop - 20)
    }

    @Test func x420_aBadGateForIntNIsAPlainGP() {
        let test = TestMachine()
        test.setGate(0x80, GateDescriptor(offset: 0, selector: TestMachine.ring1Code, kind: .interrupt, dpl: 3, present: false))
        test.load([0xCD, 0x80])
        #expect(test.machine.run(maxInstructions: 5) == .enteredKernel(vector: 11, errorCode: 0x80 * 8 + 2, handler: handler(11)))
        let short = TestMachine()
        var cpu = short.machine.cpu
        cpu.idtr.limit = 8 * 32 - 1
        short.machine.cpu = cpu
        short.load([0xCD, 0x80])
        #expect(short.machine.run(maxInstructions: 5) == .enteredKernel(vector: 13, errorCode: 0x80 * 8 + 2, handler: handler(13)))
    }

    @Test func x420_aPageFaultThatCannotBeDeliveredBecomesADoubleFault() {
        let test = TestMachine()
        test.setGate(14, GateDescriptor(offset: 0, selector: TestMachine.ring1Code, kind: .interrupt, dpl: 0, present: false))
        test.load([0xA1, 0x00, 0x00, 0x06, 0x00])  // read an unmapped page
        #expect(test.machine.run(maxInstructions: 5) == .enteredKernel(vector: 8, errorCode: 0, handler: handler(8)))
    }

    @Test func x420_anUnusableKernelStackEndsInATripleFault() {
        let test = TestMachine()
        var cpu = test.machine.cpu
        cpu.esp1 = 0x70000  // unmapped
        test.machine.cpu = cpu
        test.load([0xCD, 0x80])
        guard case let .tripleFault(reason) = test.machine.run(maxInstructions: 5) else {
            Issue.record("expected a triple fault")
            return
        }
        #expect(reason.contains("#DF"))
        #expect(test.machine.cpu.cpl == 3, "the CPU state is left as it was")
    }

    @Test func x420_aBadRing1StackSelectorIsInvalidTSS() {
        let test = TestMachine()
        var cpu = test.machine.cpu
        cpu.ss1 = TestMachine.userData  // RPL 3: not a ring-1 stack
        test.machine.cpu = cpu
        test.load([0xCD, 0x80])
        let stop = test.machine.run(maxInstructions: 5)
        // The #TS itself must switch to the same bad stack, so it escalates: #TS + #TS = #DF, which fails too.
        guard case .tripleFault = stop else {
            Issue.record("expected a triple fault, got \(stop)")
            return
        }
    }

    @Test func x450_iretReturnsToTheProgram() {
        let test = TestMachine()
        test.load([0xCD, 0x80, 0x40, 0xCD, 0x80])  // int $0x80; inc %eax; int $0x80
        _ = test.machine.run(maxInstructions: 10)
        #expect(test.machine.iret() == nil)
        let cpu = test.machine.cpu
        #expect(cpu.cpl == 3 && cpu.eip == TestMachine.codeBase + 2 && cpu.esp == TestMachine.userStackTop)
        // IF was cleared by the interrupt gate, and iret at ring 1 with IOPL 0 may not set it (X:450).
        #expect(cpu.ss.selector == TestMachine.userData && !cpu.eflags.contains(.interruptEnable))
        _ = test.machine.run(maxInstructions: 10)
        #expect(test.machine.cpu.eax == 1)
    }

    @Test func x450_iretCannotRaisePrivilege() {
        let test = TestMachine()
        test.load([0xCD, 0x80])
        _ = test.machine.run(maxInstructions: 10)
        let frame = GuestVirtualAddress(test.machine.cpu.esp)
        try! test.machine.writeVirtual32(UInt32(TestMachine.kernelCode.rawValue), at: frame &+ 4, privilege: .supervisor)
        let stop = test.machine.iret()
        #expect(stop == .enteredKernel(vector: 13, errorCode: UInt32(TestMachine.kernelCode.rawValue), handler: handler(13)))
        #expect(test.machine.cpu.cpl == 1)
    }

    @Test func x450_aFaultingIretOutsideTheInterpreterNamesTheIret() {
        // A hypervisor executes the guest kernel's `iret` with `Machine.iret()` at some eip of its choosing;
        // the fault frame must name that eip, not the last instruction the interpreter ran (the `int`).
        let test = TestMachine()
        test.load([0xCD, 0x80])
        _ = test.machine.run(maxInstructions: 10)
        let frame = GuestVirtualAddress(test.machine.cpu.esp)
        try! test.machine.writeVirtual32(UInt32(TestMachine.kernelCode.rawValue), at: frame &+ 4, privilege: .supervisor)
        let iretAt = handler(0x80).rawValue &+ 6
        var cpu = test.machine.cpu
        cpu.eip = iretAt
        test.machine.cpu = cpu
        let stop = test.machine.iret()
        #expect(stop == .enteredKernel(vector: 13, errorCode: UInt32(TestMachine.kernelCode.rawValue), handler: handler(13)))
        #expect(test.stackWord(0) == UInt32(TestMachine.kernelCode.rawValue), "the error code")
        #expect(test.stackWord(1) == iretAt, "the eip of the faulting iret")
    }

    @Test func x450_iretChecksTheOuterStack() {
        let test = TestMachine()
        test.load([0xCD, 0x80])
        _ = test.machine.run(maxInstructions: 10)
        let frame = GuestVirtualAddress(test.machine.cpu.esp)
        try! test.machine.writeVirtual32(UInt32(TestMachine.ring1Data.rawValue), at: frame &+ 16, privilege: .supervisor)
        #expect(test.machine.iret() == .enteredKernel(vector: 13, errorCode: UInt32(TestMachine.ring1Data.rawValue & ~3),
                                                      handler: handler(13)))
    }

    @Test func x450_iretNullsDataSegmentsTooPrivilegedForTheNewRing() {
        let test = TestMachine()
        test.load([0xCD, 0x80])
        _ = test.machine.run(maxInstructions: 10)
        var cpu = test.machine.cpu
        cpu.ds = .flat(index: 4, ring: 1, executable: false)
        cpu.eflags.iopl = 0
        test.machine.cpu = cpu
        #expect(test.machine.iret() == nil)
        #expect(test.machine.cpu.ds.selector.isNull && test.machine.cpu.es.selector == TestMachine.userData)
    }
}
