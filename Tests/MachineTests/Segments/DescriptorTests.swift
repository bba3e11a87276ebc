import Testing
@testable import Machine

@Suite struct DescriptorTests {
    @Test func x200_selectorFieldsRoundTrip() {
        for raw in UInt16.min...UInt16.max {
            let selector = SegmentSelector(rawValue: raw)
            let rebuilt = SegmentSelector(index: selector.index, table: selector.table, rpl: selector.rpl)
            #expect(rebuilt == selector)
        }
        #expect(SegmentSelector(index: 12, rpl: 3).rawValue == 0x63)
        #expect(SegmentSelector(rawValue: 3).isNull)
        #expect(!SegmentSelector(rawValue: 4).isNull)
    }

    @Test func x210_segmentDescriptorDecodesAndReencodesExactly() {
        for raw in sample64(seed: 210) {
            let descriptor = SegmentDescriptor(rawValue: raw)
            #expect(SegmentDescriptor(low: descriptor.low, high: descriptor.high) == descriptor)
            // Rebuild from the fields; only the reserved L bit (53) is not a field.
            var rebuilt = SegmentDescriptor(
                base: descriptor.base, limit: descriptor.limit, type: descriptor.type,
                isCodeOrData: descriptor.isCodeOrData, dpl: descriptor.dpl, present: descriptor.isPresent,
                available: descriptor.available, defaultSize32: descriptor.defaultSize32,
                granularity: descriptor.granularity)
            rebuilt.rawValue |= raw & (1 << 53)
            #expect(rebuilt.rawValue == raw)
        }
    }

    @Test func x210_knownLinuxDescriptorsDecode() {
        // Linux's flat kernel code segment (GDT_ENTRY_KERNEL_CS): 0x00cf9a000000ffff.
        let kernelCode = SegmentDescriptor(rawValue: 0x00CF_9A00_0000_FFFF)
        #expect(kernelCode.base == 0 && kernelCode.limit == 0xFFFFF && kernelCode.effectiveLimit == 0xFFFF_FFFF)
        #expect(kernelCode.isCode && kernelCode.dpl == 0 && kernelCode.isPresent && kernelCode.granularity)
        #expect(SegmentDescriptor.flat(executable: true, dpl: 0).rawValue == 0x00CF_9B00_0000_FFFF)
        #expect(SegmentDescriptor.flat(executable: false, dpl: 3).rawValue == 0x00CF_F300_0000_FFFF)
        let odd = SegmentDescriptor(base: 0x1234_5678, limit: 0xABCDE, type: 9, isCodeOrData: false, dpl: 1,
                                    granularity: false)
        #expect(odd.low == 0x5678_BCDE && odd.high == 0x124A_A934)
        #expect(odd.effectiveLimit == 0xABCDE && !odd.isCode)
    }

    @Test func x220_gateDescriptorDecodesAndReencodesExactly() {
        for raw in sample64(seed: 220) {
            let gate = GateDescriptor(rawValue: raw)
            #expect(GateDescriptor(low: gate.low, high: gate.high).rawValue == raw)
            guard let kind = gate.kind, gate.systemBitIsClear, gate.high & 0xFF == 0 else { continue }
            let rebuilt = GateDescriptor(offset: gate.offset, selector: gate.selector, kind: kind, dpl: gate.dpl,
                                         present: gate.isPresent)
            #expect(rebuilt.rawValue == raw)
        }
    }

    @Test func x220_gateFieldsLandInTheRightBits() {
        let selector = SegmentSelector(index: 2, rpl: 1)
        let cases: [(GateDescriptor.Kind, UInt8, UInt64)] = [
            (.interrupt, 0, 0x1234_8E00_0011_5678),
            (.trap, 3, 0x1234_EF00_0011_5678),
            (.task, 1, 0x1234_A500_0011_5678),
        ]
        for (kind, dpl, raw) in cases {
            let gate = GateDescriptor(offset: 0x1234_5678, selector: selector, kind: kind, dpl: dpl)
            #expect(gate.rawValue == raw)
            #expect(gate.offset == 0x1234_5678 && gate.selector == selector && gate.kind == kind && gate.dpl == dpl)
            #expect(gate.isPresent)
        }
        #expect(!GateDescriptor(offset: 0, selector: selector, kind: .trap, dpl: 0, present: false).isPresent)
        #expect(GateDescriptor(rawValue: 0x0000_8C00_0000_0000).kind == nil)  // a call gate: not an IDT gate
    }
}
