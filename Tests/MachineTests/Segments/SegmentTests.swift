import Testing
@testable import Machine

@Suite struct SegmentTests {
    /// A ring-3 data segment based at `base`, as a thread-local storage segment would be.
    static func threadSegment(base: UInt32) -> SegmentRegister {
        SegmentRegister(selector: SegmentSelector(index: 7, rpl: 3),
                        descriptor: SegmentDescriptor(base: base, limit: 0xFFFFF, type: 3, dpl: 3))
    }

    @Test func x510_fsAndGsOverridesAddTheirBase() {
        // movl $0x77,0x20010; movl $0x99,0x20110; mov %fs:0x10,%eax; mov %gs:0x10,%ebx; movl $5,%fs:0x20
        let code: [UInt8] = [0xC7, 0x05, 0x10, 0x00, 0x02, 0x00, 0x77, 0, 0, 0, 0xC7, 0x05, 0x10, 0x01, 0x02, 0x00, 0x99, 0, 0, 0,
                             0x64, 0xA1, 0x10, 0, 0, 0, 0x65, 0x8B, 0x1D, 0x10, 0, 0, 0, 0x64, 0xC7, 0x05, 0x20, 0, 0, 0, 5, 0, 0, 0]
        let outcome = execute(code) { _, cpu in
            cpu.fs = Self.threadSegment(base: 0x20000)
            cpu.gs = Self.threadSegment(base: 0x20100)
        }
        #expect(outcome.cpu.eax == 0x77 && outcome.cpu.ebx == 0x99)
    }

    @Test func x510_aDataSegmentBaseAppliesWithoutAnOverride() {
        // mov (%esi),%eax with ds based at 0x20000 and esi = 0x40: reads linear 0x20040.
        let outcome = execute([0x8B, 0x06]) { test, cpu in
            try! test.memory.store32(0xABCD, at: HostPhysicalAddress(0x20040))
            cpu.ds = Self.threadSegment(base: 0x20000)
            cpu.esi = 0x40
        }
        #expect(outcome.cpu.eax == 0xABCD)
    }

    @Test func x230_loadingASegmentSetsItsAccessedBitInTheGDT() {
        let test = TestMachine()
        var descriptor = SegmentDescriptor.flat(executable: false, dpl: 3)
        descriptor.type &= ~SegmentDescriptor.TypeBits.accessed.rawValue
        test.setGDT(8, descriptor)
        test.load([0xB8, 0x43, 0, 0, 0, 0x8E, 0xE0, 0xCD, 0x80])  // mov $0x43,%eax; mov %eax,%fs
        _ = test.machine.run(maxInstructions: 10)
        let high = try! test.memory.load32(at: HostPhysicalAddress(TestMachine.gdtBase + 8 * 8 + 4))
        #expect(SegmentDescriptor(low: 0, high: high).typeBits.contains(.accessed))
        #expect(test.machine.cpu.fs.selector.rawValue == 0x43)
    }

    @Test func x410_deliveryMarksTheHandlerAndStackDescriptorsAccessed() {
        let test = TestMachine()
        for (index, executable) in [(3, true), (4, false)] {
            var descriptor = SegmentDescriptor.flat(executable: executable, dpl: 1)
            descriptor.type &= ~SegmentDescriptor.TypeBits.accessed.rawValue
            test.setGDT(index, descriptor)
        }
        test.load([0xCD, 0x80])
        _ = test.machine.run(maxInstructions: 5)
        for index in [3, 4] {
            let high = try! test.memory.load32(at: HostPhysicalAddress(TestMachine.gdtBase + UInt32(index) * 8 + 4))
            #expect(SegmentDescriptor(low: 0, high: high).typeBits.contains(.accessed), "GDT entry \(index)")
        }
    }

    /// (selector, verr sets ZF, verw sets ZF, lar result or nil for ZF clear, lsl result or nil)
    static let inspections: [(UInt32, Bool, Bool, UInt32?, UInt32?)] = [
        (0x2B, true, false, 0x00CF_FB00, 0xFFFF_FFFF),  // user code: readable, not writable
        (0x33, true, true, 0x00CF_F300, 0xFFFF_FFFF),  // user data
        (0x08, false, false, nil, nil),  // kernel code: invisible from ring 3
        (0x13, false, false, nil, nil),  // kernel data, even with RPL 3
        (0x00, false, false, nil, nil),  // the null selector
        (0x4B, false, false, nil, nil),  // an empty GDT slot: all zero, so DPL 0 and invisible
        (0xA3, false, false, nil, nil),  // past the GDT's limit
        (0x1F4, false, false, nil, nil),  // an LDT selector: this machine has no LDT
    ]

    @Test func x590_segmentInspectionNeverFaultsOnABadSelector() {
        for (selector, readable, writable, rights, limit) in Self.inspections {
            // mov $sel,%ebx; mov $0x5a5a,%eax; mov %eax,%ecx; xor %edx,%edx; verr %bx; setz %dl
            // verw %bx; setz %dh; lar %ebx,%eax; lsl %ebx,%ecx
            let code: [UInt8] = [0xBB] + withUnsafeBytes(of: selector.littleEndian) { Array($0) } + [
                0xB8, 0x5A, 0x5A, 0, 0, 0x89, 0xC1, 0x31, 0xD2, 0x0F, 0x00, 0xE3, 0x0F, 0x94, 0xC2,
                0x0F, 0x00, 0xEB, 0x0F, 0x94, 0xC6, 0x0F, 0x02, 0xC3, 0x0F, 0x03, 0xCB]
            let outcome = execute(code)
            #expect(outcome.cpu.edx & 0xFF == (readable ? 1 : 0), "verr \(hex(selector))")
            #expect(outcome.cpu.edx >> 8 & 0xFF == (writable ? 1 : 0), "verw \(hex(selector))")
            #expect(outcome.cpu.eax == rights ?? 0x5A5A, "lar \(hex(selector))")
            #expect(outcome.cpu.ecx == limit ?? 0x5A5A, "lsl \(hex(selector))")
        }
    }

    @Test func x230_nullSelectorsAreFineForDataButNotForTheStack() {
        let data = execute([0x31, 0xC0, 0x8E, 0xD8])  // xor %eax,%eax; mov %eax,%ds
        #expect(data.stop == .enteredKernel(vector: 0x80, errorCode: nil, handler: GuestVirtualAddress(TestMachine.handlerBase + 0x800)))
        let stack = execute([0x31, 0xC0, 0x8E, 0xD0])  // xor %eax,%eax; mov %eax,%ss
        #expect(stack.stop == .enteredKernel(vector: 13, errorCode: 0, handler: GuestVirtualAddress(TestMachine.handlerBase + 13 * 16)))
    }
}
