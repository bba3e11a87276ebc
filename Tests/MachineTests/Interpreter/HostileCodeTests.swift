import Testing
@testable import Machine

/// The guest is hostile: whatever bytes it runs and whatever it writes into its descriptor tables,
/// the machine must stop with a reason, never trap the Swift process. Debug builds trap on overflow
/// and out-of-bounds indexing, so these sweeps would expose any unchecked arithmetic.
@Suite struct HostileCodeTests {
    @Test func x500_randomCodeNeverCrashesTheMachine() {
        var generator = SplitMix(seed: 500)
        var stops: [String: Int] = [:]
        for _ in 0..<160 {
            let test = TestMachine()
            let code = (0..<96).map { _ in UInt8.random(in: 0...255, using: &generator) }
            test.load(code)
            // Some rounds also scribble over page table entries, as a buggy or hostile kernel might.
            for _ in 0..<Int.random(in: 0...3, using: &generator) {
                let entry = UInt32.random(in: 0..<1024, using: &generator)
                try! test.memory.store32(UInt32.random(in: 0...UInt32.max, using: &generator),
                                         at: HostPhysicalAddress(0x1000 + entry * 4))
            }
            var cpu = test.machine.cpu
            for register in Register32.allCases where register != .esp {
                cpu[register] = [0, 0x20000, 0x1_0000, UInt32.random(in: 0...UInt32.max, using: &generator)][Int.random(in: 0...3, using: &generator)]
            }
            cpu.eflags = EFLAGS(rawValue: UInt32.random(in: 0...0xFFF, using: &generator) & 0xCD5 | 0x202)
            test.machine.cpu = cpu
            var stop = StopReason.budgetExhausted
            for _ in 0..<8 {
                stop = test.machine.run(maxInstructions: 50)
                guard case .enteredKernel = stop, test.machine.cpu.cpl == 1 else { break }
                // Resume the program as a kernel would, skipping nothing: iret may itself fault, and
                // with scribbled tables it may land somewhere other than ring 3, where run() must not go.
                if test.machine.iret() != nil || test.machine.cpu.cpl != 3 { break }
            }
            let key = switch stop {
            case .budgetExhausted: "budget"
            case let .enteredKernel(vector, _, _): "vector \(vector)"
            case .tripleFault: "triple fault"
            case .machineCheck: "machine check"
            }
            stops[key, default: 0] += 1
        }
        #expect(stops.values.reduce(0, +) == 160)
        #expect(stops["vector 6", default: 0] > 0 && stops["vector 14", default: 0] > 0, "\(stops)")
    }

    @Test func x410_randomDescriptorTablesNeverCrashDelivery() {
        var generator = SplitMix(seed: 410)
        for round in 0..<120 {
            let test = TestMachine()
            // Scribble over a few GDT and IDT entries, and sometimes the stack fields.
            for _ in 0..<6 {
                let low = UInt32.random(in: 0...UInt32.max, using: &generator)
                let high = UInt32.random(in: 0...UInt32.max, using: &generator)
                if Bool.random(using: &generator) {
                    test.setGDT(Int.random(in: 1..<16, using: &generator), SegmentDescriptor(low: low, high: high))
                } else {
                    test.setGate([0x80, 13, 14, 8, 6][Int.random(in: 0..<5, using: &generator)], GateDescriptor(low: low, high: high))
                }
            }
            var cpu = test.machine.cpu
            if round % 3 == 0 { cpu.ss1 = SegmentSelector(rawValue: UInt16.random(in: 0...UInt16.max, using: &generator)) }
            if round % 5 == 0 { cpu.esp1 = UInt32.random(in: 0...UInt32.max, using: &generator) }
            if round % 7 == 0 { cpu.idtr.limit = UInt16.random(in: 0...UInt16.max, using: &generator) }
            test.machine.cpu = cpu
            test.load([0xCD, 0x80, 0xA1, 0, 0, 0x06, 0, 0x0F, 0x0B])  // int $0x80; read unmapped; ud2
            let stop = test.machine.run(maxInstructions: 20)
            if case .enteredKernel = stop { _ = test.machine.iret() }
        }
    }

    @Test func x700_randomBytesAlwaysDisassemble() {
        var generator = SplitMix(seed: 700)
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 0...16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let (text, length) = Disassembler.disassemble(bytes, at: GuestVirtualAddress(UInt32.random(in: 0...UInt32.max, using: &generator)))
            #expect(!text.isEmpty && (1...15).contains(length))
            #expect(text == "(bad)" || length <= bytes.count)
        }
    }
}
