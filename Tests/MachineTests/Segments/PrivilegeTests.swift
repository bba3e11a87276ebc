import Testing
@testable import Machine

private func handler(_ vector: Int) -> GuestVirtualAddress { GuestVirtualAddress(TestMachine.handlerBase + UInt32(vector) * 16) }

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
        ("ud2", [0x0F, 0x0B]), ("ud0", [0x0F, 0xFF]), ("salc", [0xD6]), ("bound (not emulated)", [0x62, 0x00]),
        ("arpl (not emulated)", [0x63, 0xC0]), ("syscall", [0x0F, 0x05]), ("address-size prefix", [0x67, 0x90]),
        ("ff /7", [0xFF, 0xF8]), ("lea with a register operand", [0x8D, 0xC0]), ("ljmp (not emulated)", [0xEA, 0, 0, 0, 0, 0, 0]),
        ("mov to cs", [0x8E, 0xC8]), ("c7 /1", [0xC7, 0xC8, 0, 0, 0, 0]),
    ]

    @Test func x540_unknownOpcodesRaiseUD() {
        for (name, bytes) in Self.undefined {
            #expect(execute(bytes).stop == .enteredKernel(vector: 6, errorCode: nil, handler: handler(6)), "\(name)")
        }
    }

    @Test(arguments: [0, 1, 2, 5, 0x8000_0000, 0xFFFF_FFFF] as [UInt32])
    func x595_cpuidOutsideTheInterpreterAnswersAsTheInstructionDoes(leaf: UInt32) {
        let test = TestMachine()
        test.load([0x0F, 0xA2])  // cpuid
        var cpu = test.machine.cpu
        cpu.eax = leaf
        test.machine.cpu = cpu
        let before = test.machine.cpu
        let answer = test.machine.cpuid(leaf: leaf)
        #expect(test.machine.cpu == before, "cpuid(leaf:) changes no register")
        _ = test.machine.run(maxInstructions: 1)
        let after = test.machine.cpu
        #expect(answer.eax == after.eax && answer.ebx == after.ebx && answer.ecx == after.ecx && answer.edx == after.edx)
    }

    @Test func x595_floatingPointRaisesNMOrUDAsCR0Says() {  // with both clear, fld runs to the int $0x80
        let fld: [UInt8] = [0xD9, 0xC0]  // fld %st(0)
        let movaps: [UInt8] = [0x0F, 0x28, 0xC1]  // movaps %xmm1,%xmm0
        let cases: [([UInt8], CR0, UInt8)] = [
            (fld, [.taskSwitched], 7), (fld, [.emulation], 7), (fld, [], 0x80),
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
