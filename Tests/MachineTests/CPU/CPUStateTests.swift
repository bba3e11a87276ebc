import Testing
@testable import Machine

@Suite struct CPUStateTests {
    @Test func x100_flagBitsMatchTheManual() {
        let expected: [(EFLAGS, Int)] = [
            (.carry, 0), (.alwaysOne, 1), (.parity, 2), (.auxiliaryCarry, 4), (.zero, 6), (.sign, 7), (.trap, 8),
            (.interruptEnable, 9), (.direction, 10), (.overflow, 11), (.nestedTask, 14), (.resume, 16),
            (.virtual8086, 17), (.alignmentCheck, 18), (.identification, 21),
        ]
        for (flag, bit) in expected { #expect(flag.rawValue == 1 << bit) }
    }

    @Test func x100_ioplGetsAndSetsOnlyBits12And13() {
        for level in UInt8(0)...3 {
            var flags: EFLAGS = [.carry, .overflow, .alwaysOne]
            flags.iopl = level
            #expect(flags.iopl == level)
            #expect(flags.rawValue & ~0x3000 == EFLAGS([.carry, .overflow, .alwaysOne]).rawValue)
        }
        var all = EFLAGS(rawValue: 0xFFFF_FFFF)
        all.iopl = 0
        #expect(all.rawValue == 0xFFFF_CFFF)
    }

    @Test func x110_controlRegisterBitsMatchTheManual() {
        let cr0: [(CR0, Int)] = [(.protectionEnable, 0), (.monitorCoprocessor, 1), (.emulation, 2),
                                 (.taskSwitched, 3), (.extensionType, 4), (.writeProtect, 16), (.paging, 31)]
        for (flag, bit) in cr0 { #expect(flag.rawValue == 1 << bit) }
        #expect(CR4.timeStampDisable.rawValue == 4 && CR4.pageGlobalEnable.rawValue == 0x80)
    }

    @Test func x120_registersByNameAndByNumberAgree() {
        var cpu = CPUState()
        for register in Register32.allCases { cpu[register] = UInt32(register.rawValue + 1) * 0x1111_1111 }
        #expect(cpu.eax == 0x1111_1111 && cpu.ecx == 0x2222_2222 && cpu.edx == 0x3333_3333)
        #expect(cpu.ebx == 0x4444_4444 && cpu.esp == 0x5555_5555 && cpu.ebp == 0x6666_6666)
        #expect(cpu.esi == 0x7777_7777 && cpu.edi == 0x8888_8888)
        #expect(cpu.eflags == .alwaysOne && cpu.cr0.contains(.protectionEnable))
    }

    @Test func x130_segmentRegisterCachesBaseLimitAndCPLComesFromCS() {
        var cpu = CPUState()
        cpu.cs = .flat(index: 6, ring: 3, executable: true)
        #expect(cpu.cpl == 3 && cpu.cs.limit == 0xFFFF_FFFF && cpu.cs.base == 0)
        let odd = SegmentDescriptor(base: 0x40_0000, limit: 0xFF, type: 3, dpl: 1, granularity: false)
        cpu.fs = SegmentRegister(selector: SegmentSelector(index: 9, rpl: 1), descriptor: odd)
        #expect(cpu[.fs].base == 0x40_0000 && cpu[.fs].limit == 0xFF && cpu[.fs].dpl == 1)
        cpu[.cs] = .flat(index: 2, ring: 1, executable: true)
        #expect(cpu.cpl == 1)
    }

    @Test func x130_descriptorTableLimitCheck() {
        let table = DescriptorTableRegister(base: GuestVirtualAddress(0x1000), limit: 8 * 32 - 1)
        #expect(table.containsEntry(at: 31 * 8))
        #expect(!table.containsEntry(at: 32 * 8))
        #expect(!table.containsEntry(at: 0xFFFF_FFFC))
    }
}
