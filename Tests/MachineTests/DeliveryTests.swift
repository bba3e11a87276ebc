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

@Suite struct PrivilegeTests {
    static let privileged: [(String, [UInt8])] = [
        ("hlt", [0xF4]), ("cli", [0xFA]), ("sti", [0xFB]), ("clts", [0x0F, 0x06]), ("invd", [0x0F, 0x08]),
        ("wbinvd", [0x0F, 0x09]), ("mov %eax,%cr3", [0x0F, 0x22, 0xD8]), ("mov %cr0,%eax", [0x0F, 0x20, 0xC0]),
        ("mov %dr7,%eax", [0x0F, 0x21, 0xF8]), ("lgdt (%eax)", [0x0F, 0x01, 0x10]), ("lidt (%eax)", [0x0F, 0x01, 0x18]),
        ("lldt %ax", [0x0F, 0x00, 0xD0]), ("ltr %ax", [0x0F, 0x00, 0xD8]), ("lmsw %ax", [0x0F, 0x01, 0xF0]),
        ("invlpg (%eax)", [0x0F, 0x01, 0x38]), ("in $0x60,%al", [0xE4, 0x60]), ("out %al,$0x80", [0xE6, 0x80]),
        ("in (%dx),%al", [0xEC]), ("outsb", [0x6E]), ("rdmsr", [0x0F, 0x32]), ("wrmsr", [0x0F, 0x30]),
        ("rdpmc", [0x0F, 0x33]),
    ]

    @Test func x590_privilegedInstructionsAtRing3RaiseGP0() {
        for (name, bytes) in Self.privileged {
            let outcome = execute(bytes)
            #expect(outcome.stop == .enteredKernel(vector: 13, errorCode: 0, handler: handler(13)), "\(name)")
        }
    }

    @Test func x590_cliAndStiAreAllowedWhenIOPLIs3() {
        let outcome = execute([0xFA]) { _, cpu in cpu.eflags.iopl = 3 }
        #expect(outcome.stop == .enteredKernel(vector: 0x80, errorCode: nil, handler: handler(0x80)))
        #expect(!outcome.cpu.eflags.contains(.interruptEnable))
    }

    @Test func x590_rdtscReadsTheVirtualClockUnlessTSD() {
        // rdtsc after two nops reads 3: the ticks of this run so far, the rdtsc itself included.
        let outcome = execute([0x90, 0x90, 0x0F, 0x31])
        #expect(outcome.cpu.eax == 3 && outcome.cpu.edx == 0)
        let denied = execute([0x0F, 0x31]) { _, cpu in cpu.cr4.insert(.timeStampDisable) }
        #expect(denied.stop == .enteredKernel(vector: 13, errorCode: 0, handler: handler(13)))
    }

    static let undefined: [(String, [UInt8])] = [
        ("ud2", [0x0F, 0x0B]), ("ud0", [0x0F, 0xFF]), ("salc", [0xD6]), ("daa (not emulated)", [0x27]),
        ("arpl (not emulated)", [0x63, 0xC0]), ("syscall", [0x0F, 0x05]), ("address-size prefix", [0x67, 0x90]),
        ("ff /7", [0xFF, 0xF8]), ("lea with a register operand", [0x8D, 0xC0]), ("ljmp (not emulated)", [0xEA, 0, 0, 0, 0, 0, 0]),
        ("mov to cs", [0x8E, 0xC8]), ("c7 /1", [0xC7, 0xC8, 0, 0, 0, 0]),
    ]

    @Test func x540_unknownOpcodesRaiseUD() {
        for (name, bytes) in Self.undefined {
            #expect(execute(bytes).stop == .enteredKernel(vector: 6, errorCode: nil, handler: handler(6)), "\(name)")
        }
    }

    @Test func x595_floatingPointRaisesNMOrUDAsCR0Says() {
        let fld: [UInt8] = [0xD9, 0xC0]  // fld %st(0)
        let movaps: [UInt8] = [0x0F, 0x28, 0xC1]  // movaps %xmm1,%xmm0
        let cases: [([UInt8], CR0, UInt8)] = [
            (fld, [.taskSwitched], 7), (fld, [.emulation], 7), (fld, [], 6),
            (movaps, [.taskSwitched], 7), (movaps, [.emulation], 6), (movaps, [], 6),
            ([0x9B], [.monitorCoprocessor, .taskSwitched], 7), ([0x9B], [.taskSwitched], 0x80),
        ]
        for (bytes, bits, vector) in cases {
            let outcome = execute(bytes) { _, cpu in cpu.cr0.formUnion(bits) }
            guard case .enteredKernel(vector, _, _) = outcome.stop else {
                Issue.record("\(bytes) with \(bits.rawValue): \(outcome.stop), expected vector \(vector)")
                continue
            }
        }
    }

    @Test func x570_divideErrorsRaiseDE() {
        let byZero = execute([0x31, 0xC9, 0xF7, 0xF1])  // xor %ecx,%ecx; div %ecx
        #expect(byZero.stop == .enteredKernel(vector: 0, errorCode: nil, handler: handler(0)))
        // mov $0x80000000,%eax; cltd; mov $-1,%ecx; idiv %ecx
        let tooBig = execute([0xB8, 0, 0, 0, 0x80, 0x99, 0xB9, 0xFF, 0xFF, 0xFF, 0xFF, 0xF7, 0xF9])
        #expect(tooBig.stop == .enteredKernel(vector: 0, errorCode: nil, handler: handler(0)))
    }

    @Test func x230_loadingAKernelSegmentAtRing3IsGP() {
        let outcome = execute([0xB8, 0x10, 0, 0, 0, 0x8E, 0xD8])  // mov $0x10,%eax; mov %eax,%ds
        #expect(outcome.stop == .enteredKernel(vector: 13, errorCode: 0x10, handler: handler(13)))
        let stack = execute([0xB8, 0x33, 0, 0, 0, 0x8E, 0xD0, 0xB8, 0x2B, 0, 0, 0, 0x8E, 0xD0])  // ss = user data, then user code
        #expect(stack.stop == .enteredKernel(vector: 13, errorCode: 0x28, handler: handler(13)))
    }
}

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
