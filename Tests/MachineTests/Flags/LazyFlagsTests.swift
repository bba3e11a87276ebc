import Testing
@testable import Machine

/// The status flags of an 8-bit ALU operation computed the slow, obvious way: in wide integers,
/// with no lazy evaluation, as an independent check of `X:520`.
private func referenceFlags(_ operation: Int, _ a: Int, _ b: Int, carry: Int) -> (result: UInt32, flags: EFLAGS) {
    let signedA = Int(Int8(truncatingIfNeeded: a)), signedB = Int(Int8(truncatingIfNeeded: b))
    var flags: EFLAGS = []
    let result: Int
    switch operation {
    case 0, 2:  // add, adc
        let c = operation == 2 ? carry : 0
        result = (a + b + c) & 0xFF
        if a + b + c > 0xFF { flags.insert(.carry) }
        if !(-128...127).contains(signedA + signedB + c) { flags.insert(.overflow) }
        if (a & 0xF) + (b & 0xF) + c > 0xF { flags.insert(.auxiliaryCarry) }
    case 3, 5, 7:  // sbb, sub, cmp
        let c = operation == 3 ? carry : 0
        result = (a - b - c) & 0xFF
        if a - b - c < 0 { flags.insert(.carry) }
        if !(-128...127).contains(signedA - signedB - c) { flags.insert(.overflow) }
        if (a & 0xF) - (b & 0xF) - c < 0 { flags.insert(.auxiliaryCarry) }
    default:  // or, and, xor
        result = operation == 1 ? a | b : operation == 4 ? a & b : a ^ b
    }
    if result == 0 { flags.insert(.zero) }
    if result & 0x80 != 0 { flags.insert(.sign) }
    if result.nonzeroBitCount % 2 == 0 { flags.insert(.parity) }
    return (UInt32(result), flags)
}

@Suite struct LazyFlagsTests {
    @Test(arguments: 0..<8)
    func x520_everyByteOperandPairGivesTheReferenceFlags(_ operation: Int) {
        let machine = Machine(memory: PhysicalMemory(frameCount: 1))
        var mismatches = 0
        for carry in 0...(operation == 2 || operation == 3 ? 1 : 0) {
            for a in 0..<256 {
                for b in 0..<256 {
                    machine.core.updateFlags(.carry, to: carry == 1)
                    let result = machine.core.alu(operation, UInt32(a), UInt32(b), 0xFF)
                    let flags = machine.core.eflags.intersection(.status)
                    let expected = referenceFlags(operation, a, b, carry: carry)
                    if result != expected.result || flags != expected.flags {
                        mismatches += 1
                        if mismatches <= 3 {
                            Issue.record("op \(operation) \(a) \(b) carry \(carry): \(result) \(flags), want \(expected)")
                        }
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func x530_conditionsAfterCmpAgreeWithTheFlagFormulas() {
        // After cmp, the fast path compares operands; after a materialized state it reads flags.
        let machine = Machine(memory: PhysicalMemory(frameCount: 1))
        let values: [UInt32] = [0, 1, 2, 0x7F, 0x80, 0x81, 0xFE, 0xFF]
        for a in values {
            for b in values {
                _ = machine.core.alu(7, a, b, 0xFF)
                let fast = (0..<16).map { machine.core.condition(UInt8($0)) }
                machine.core.materializeFlags()
                let slow = (0..<16).map { machine.core.condition(UInt8($0)) }
                #expect(fast == slow, "cmp \(a), \(b)")
                #expect(fast[0x2] == (a < b) && fast[0x4] == (a == b) && fast[0x6] == (a <= b))
                #expect(fast[0xC] == (Int8(truncatingIfNeeded: a) < Int8(truncatingIfNeeded: b)))
                #expect(fast[0xE] == (Int8(truncatingIfNeeded: a) <= Int8(truncatingIfNeeded: b)))
            }
        }
    }
}
