import Testing
@testable import Machine

/// How to run one oracle operation: its bytes and which flags the manual defines for it.
private struct OracleOperation: Sendable {
    var bytes: [UInt8]
    /// The defined status flags for a masked count (shifts) or always (count ignored).
    var defined: @Sendable (_ count: UInt32) -> EFLAGS
    var combine: @Sendable (CPUState) -> UInt32 = { $0.eax }
}

private let allStatus: EFLAGS = .status
private let noAF: EFLAGS = [.carry, .parity, .zero, .sign, .overflow]

/// Defined flags of a shift by `count` (already masked to 5 bits) at `width` bits.
private func shiftDefined(_ count: UInt32, width: UInt32) -> EFLAGS {
    if count == 0 { return allStatus }
    var flags: EFLAGS = [.parity, .zero, .sign]
    if count < width { flags.insert(.carry) }  // CF is undefined once everything is shifted out
    if count == 1 { flags.insert(.overflow) }
    return flags
}

/// Defined flags of a rotate: SF ZF AF PF never change; CF after a real rotation; OF for count 1.
private func rotateDefined(_ count: UInt32) -> EFLAGS {
    if count == 0 { return allStatus }
    var flags: EFLAGS = [.parity, .zero, .sign, .auxiliaryCarry, .carry]
    if count == 1 { flags.insert(.overflow) }
    return flags
}

private let operations: [String: OracleOperation] = {
    let mixHigh: @Sendable (CPUState) -> UInt32 = { $0.eax ^ ($0.edx &* 0x9E37_79B9) }
    return [
        "add32": OracleOperation(bytes: [0x01, 0xC8], defined: { _ in allStatus }),
        "adc32": OracleOperation(bytes: [0x11, 0xC8], defined: { _ in allStatus }),
        "sub32": OracleOperation(bytes: [0x29, 0xC8], defined: { _ in allStatus }),
        "sbb32": OracleOperation(bytes: [0x19, 0xC8], defined: { _ in allStatus }),
        "and32": OracleOperation(bytes: [0x21, 0xC8], defined: { _ in noAF }),
        "or32": OracleOperation(bytes: [0x09, 0xC8], defined: { _ in noAF }),
        "xor32": OracleOperation(bytes: [0x31, 0xC8], defined: { _ in noAF }),
        "cmp32": OracleOperation(bytes: [0x39, 0xC8], defined: { _ in allStatus }),
        "inc32": OracleOperation(bytes: [0x40], defined: { _ in allStatus }),
        "dec32": OracleOperation(bytes: [0x48], defined: { _ in allStatus }),
        "neg32": OracleOperation(bytes: [0xF7, 0xD8], defined: { _ in allStatus }),
        "imul32": OracleOperation(bytes: [0x0F, 0xAF, 0xC1], defined: { _ in [.carry, .overflow] }),
        "bsf32": OracleOperation(bytes: [0x0F, 0xBC, 0xC1], defined: { _ in .zero }),
        "bsr32": OracleOperation(bytes: [0x0F, 0xBD, 0xC1], defined: { _ in .zero }),
        "bt32": OracleOperation(bytes: [0x0F, 0xA3, 0xC8], defined: { _ in .carry }),
        "bts32": OracleOperation(bytes: [0x0F, 0xAB, 0xC8], defined: { _ in .carry }),
        "btr32": OracleOperation(bytes: [0x0F, 0xB3, 0xC8], defined: { _ in .carry }),
        "btc32": OracleOperation(bytes: [0x0F, 0xBB, 0xC8], defined: { _ in .carry }),
        "add16": OracleOperation(bytes: [0x66, 0x01, 0xC8], defined: { _ in allStatus }),
        "sub16": OracleOperation(bytes: [0x66, 0x29, 0xC8], defined: { _ in allStatus }),
        "adc16": OracleOperation(bytes: [0x66, 0x11, 0xC8], defined: { _ in allStatus }),
        "imul16": OracleOperation(bytes: [0x66, 0x0F, 0xAF, 0xC1], defined: { _ in [.carry, .overflow] }),
        "shl32": OracleOperation(bytes: [0xD3, 0xE0], defined: { shiftDefined($0, width: 32) }),
        "shr32": OracleOperation(bytes: [0xD3, 0xE8], defined: { shiftDefined($0, width: 32) }),
        "sar32": OracleOperation(bytes: [0xD3, 0xF8], defined: { shiftDefined($0, width: 32) }),
        "rol32": OracleOperation(bytes: [0xD3, 0xC0], defined: rotateDefined),
        "ror32": OracleOperation(bytes: [0xD3, 0xC8], defined: rotateDefined),
        "rcl32": OracleOperation(bytes: [0xD3, 0xD0], defined: rotateDefined),
        "rcr32": OracleOperation(bytes: [0xD3, 0xD8], defined: rotateDefined),
        "shl8": OracleOperation(bytes: [0xD2, 0xE0], defined: { shiftDefined($0, width: 8) }),
        "shr8": OracleOperation(bytes: [0xD2, 0xE8], defined: { shiftDefined($0, width: 8) }),
        "sar8": OracleOperation(bytes: [0xD2, 0xF8], defined: { shiftDefined($0, width: 8) }),
        "rol8": OracleOperation(bytes: [0xD2, 0xC0], defined: rotateDefined),
        "rcl8": OracleOperation(bytes: [0xD2, 0xD0], defined: rotateDefined),
        "rcr16": OracleOperation(bytes: [0x66, 0xD3, 0xD8], defined: rotateDefined),
        "shl16": OracleOperation(bytes: [0x66, 0xD3, 0xE0], defined: { shiftDefined($0, width: 16) }),
        "sar16": OracleOperation(bytes: [0x66, 0xD3, 0xF8], defined: { shiftDefined($0, width: 16) }),
        "shld32": OracleOperation(bytes: [0x0F, 0xA5, 0xD0], defined: { shiftDefined($0, width: 32) }),
        "shrd32": OracleOperation(bytes: [0x0F, 0xAD, 0xD0], defined: { shiftDefined($0, width: 32) }),
        "mul32": OracleOperation(bytes: [0xF7, 0xE1], defined: { _ in [.carry, .overflow] }, combine: mixHigh),
        "imul1_32": OracleOperation(bytes: [0xF7, 0xE9], defined: { _ in [.carry, .overflow] }, combine: mixHigh),
        "mul8": OracleOperation(bytes: [0xF6, 0xE1], defined: { _ in [.carry, .overflow] }),
    ]
}()

/// Runs every row of one oracle operation through the interpreter; returns the mismatches.
private func mismatches(_ name: String) -> [String] {
    guard let operation = operations[name], let rows = nativeOracle[name] else { return ["no operation \(name)"] }
    let test = TestMachine()
    test.load(operation.bytes + [0xCD, 0x80])
    let initial = test.machine.cpu
    var failures: [String] = []
    for (a, b, carryIn, expectedResult, expectedFlags) in rows {
        var cpu = initial
        cpu.eax = a
        cpu.ecx = b
        cpu.edx = 0x9ABC_DEF1
        cpu.eflags = EFLAGS(rawValue: 0xD4 | carryIn | 0x202)
        test.machine.cpu = cpu
        let stop = test.machine.run(maxInstructions: 10)
        guard case .enteredKernel(vector: 0x80, _, _) = stop else {
            failures.append("\(name) \(hex(a)) \(hex(b)): stopped \(stop)")
            continue
        }
        let user = test.machine.cpu
        let flags = EFLAGS(rawValue: test.stackWord(2))
        let defined = operation.defined(b & 0x1F)
        let result = operation.combine(user)
        if result != expectedResult || flags.intersection(defined) != EFLAGS(rawValue: expectedFlags).intersection(defined) {
            failures.append("\(name) a=\(hex(a)) b=\(hex(b)) cf=\(carryIn): got \(hex(result)) \(status(flags)), "
                + "want \(hex(expectedResult)) \(EFLAGS(rawValue: expectedFlags)) (defined \(defined))")
        }
    }
    return failures
}

@Suite struct FlagOracleTests {
    @Test(arguments: ["add32", "adc32", "sub32", "sbb32", "and32", "or32", "xor32", "cmp32", "inc32", "dec32",
                      "neg32", "add16", "sub16", "adc16"])
    func x550_aluMatchesTheRealCPU(_ name: String) {
        let failures = mismatches(name)
        #expect(failures.count == 0, "\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test(arguments: ["shl32", "shr32", "sar32", "rol32", "ror32", "rcl32", "rcr32", "shl8", "shr8", "sar8", "rol8",
                      "rcl8", "rcr16", "shl16", "sar16", "shld32", "shrd32"])
    func x560_shiftsAndRotatesMatchTheRealCPU(_ name: String) {
        let failures = mismatches(name)
        #expect(failures.count == 0, "\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test(arguments: ["imul32", "imul16", "mul32", "imul1_32", "mul8"])
    func x570_multiplicationMatchesTheRealCPU(_ name: String) {
        let failures = mismatches(name)
        #expect(failures.count == 0, "\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test(arguments: ["bt32", "bts32", "btr32", "btc32", "bsf32", "bsr32"])
    func x587_bitInstructionsMatchTheRealCPU(_ name: String) {
        let failures = mismatches(name)
        #expect(failures.count == 0, "\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test func x550_everyOracleTableHasAnOperation() {
        #expect(Set(nativeOracle.keys) == Set(operations.keys))
    }
}
