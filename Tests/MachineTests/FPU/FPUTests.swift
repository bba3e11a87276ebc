import Testing
@testable import Machine

/// Runs `code` then `int $0x80` at ring 3 on a fresh test machine, after `setup`; returns the machine.
private func runFPU(_ code: [UInt8], setup: (TestMachine, inout CPUState) -> Void = { _, _ in })
    -> (test: TestMachine, stop: StopReason)
{
    let test = TestMachine()
    test.load(code + [0xCD, 0x80])
    var cpu = test.machine.cpu
    setup(test, &cpu)
    test.machine.cpu = cpu
    return (test, test.machine.run(maxInstructions: 1_000))
}

/// The vector an outcome entered the kernel with, or nil.
private func vector(_ stop: StopReason) -> UInt8? {
    if case let .enteredKernel(vector, _, _) = stop { return vector }
    return nil
}

/// A 32-bit little-endian displacement.
private func address(_ value: UInt32) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)] }

@Test func x620_undefinedAndUnclaimedEncodingsRaiseUD() {
    let data = address(TestMachine.dataBase)
    let cases: [(String, [UInt8])] = [
        ("D9 D1 (reserved)", [0xD9, 0xD1]), ("DD C8 (undocumented fxch)", [0xDD, 0xC8]),
        ("fisttp m32 (SSE3)", [0xDB, 0x0D] + data), ("fisttp m64 (SSE3)", [0xDD, 0x0D] + data),
        ("16-bit fnstenv", [0x66, 0xD9, 0x35] + data), ("DF E1 (reserved)", [0xDF, 0xE1]),
    ]
    for (name, bytes) in cases {
        #expect(vector(runFPU(bytes).stop) == 6, "\(name)")
    }
}

@Test func x625_anUnmaskedExceptionWaitsForTheNextWaitingInstruction() throws {
    // fldcw (data): unmask divide by zero; fld1; fldz; fdivp; fnstsw %ax; fld1 (raises #MF)
    let data = address(TestMachine.dataBase)
    let code: [UInt8] = [0xD9, 0x2D] + data + [0xD9, 0xE8, 0xD9, 0xEE, 0xDE, 0xF9, 0xDF, 0xE0, 0xD9, 0xE8]
    let (test, stop) = runFPU(code) { test, _ in
        try! test.memory.copyIn([0x7B, 0x03], at: HostPhysicalAddress(TestMachine.dataBase))
    }
    #expect(vector(stop) == 16)
    // The #MF frame names the second fld1, the first waiting instruction after the division.
    #expect(test.stackWord(0) == TestMachine.codeBase + UInt32(code.count) - 2)
    let status = FPUStatusWord(rawValue: UInt16(test.machine.cpu.eax & 0xFFFF))
    #expect(status.exceptions.contains(.zeroDivide) && status.errorSummary, "fnstsw saw the pending error")
    // The division did not happen: both operands are still on the stack.
    #expect(test.machine.fpu.status.top == 6)
}

@Test(arguments: [
    ("fldenv", [0xD9, 0x25] as [UInt8]),  // fldenv (data)
    ("frstor", [0xDD, 0x25]),             // frstor (data)
    ("fldcw", [0xD9, 0x2D]),              // fldcw (data)
])
func x625_theStateLoadsWaitForAPendingExceptionToo(_ name: String, _ load: [UInt8]) {
    // fldenv (data) leaves ZE pending with its mask clear; the next load, of any kind, must raise #MF
    // in the guest, as the host processor does, and never run on the host (which would be SIGFPE).
    let data = TestMachine.dataBase
    var environment = [UInt8](repeating: 0, count: 108)
    environment[0] = 0x7B; environment[1] = 0x03  // control word: divide by zero unmasked
    environment[4] = 0x84; environment[5] = 0x80  // status word: ZE, ES and B set
    environment[8] = 0xFF; environment[9] = 0xFF  // tag word: all empty
    let code: [UInt8] = [0xD9, 0x25] + address(data) + load + address(data)
    let (test, stop) = runFPU(code) { test, _ in
        try! test.memory.copyIn(environment, at: HostPhysicalAddress(data))
    }
    #expect(vector(stop) == 16, "\(name): \(stop)")
    #expect(test.stackWord(0) == TestMachine.codeBase + 6, "\(name): the #MF names the second load")
}

@Test func x625_taskSwitchedComesBeforeThePendingError() {
    var state = FPUState()
    state.status = FPUStatusWord(rawValue: 0x0084)  // ZE and ES
    let pending = state
    let waiting = runFPU([0xD9, 0xE8]) { test, _ in test.machine.fpu = pending }
    #expect(vector(waiting.stop) == 16)
    let switched = runFPU([0xD9, 0xE8]) { test, cpu in
        test.machine.fpu = pending
        cpu.cr0.insert(.taskSwitched)
    }
    #expect(vector(switched.stop) == 7)
    // fnstsw is non-waiting: it reads the pending error without raising it.
    let peek = runFPU([0xDF, 0xE0]) { test, _ in test.machine.fpu = pending }
    #expect(vector(peek.stop) == 0x80 && peek.test.machine.cpu.eax & 0xFFFF == 0x0084)
}

@Test func x630_aStoreToAReadOnlyPageFaultsBeforeTheFPUChanges() {
    // fld1; fstps (code page, read-only at ring 3)
    let (test, stop) = runFPU([0xD9, 0xE8, 0xD9, 0x1D] + address(TestMachine.codeBase))
    #expect(vector(stop) == 14)
    #expect(test.stackWord(0) == PageFaultErrorCode([.protection, .write, .user]).rawValue)
    #expect(test.machine.fpu.status.top == 7 && test.machine.fpu.register(0).value == 1, "1.0 still on the stack")
}

@Test func x630_arithmeticHonoursRoundingAndPrecision() {
    // fldcw (data); fld1; fld (data+4) [3.0 as float]; fdivrp: 1/3; fstpt (data+16)
    let data = TestMachine.dataBase
    let code: [UInt8] = [0xD9, 0x2D] + address(data) + [0xD9, 0xE8, 0xD9, 0x05] + address(data + 4)
        + [0xDE, 0xF9, 0xDB, 0x3D] + address(data + 16)
    var thirds: [UInt16: UInt64] = [:]
    for control: UInt16 in [0x037F, 0x007F, 0x027F, 0x0B7F] {
        let (test, stop) = runFPU(code) { test, _ in
            try! test.memory.copyIn([UInt8(control & 0xFF), UInt8(control >> 8), 0, 0, 0x00, 0x00, 0x40, 0x40],
                                    at: HostPhysicalAddress(data))
        }
        #expect(vector(stop) == 0x80)
        thirds[control] = UInt64(try! test.machine.readVirtual32(GuestVirtualAddress(data + 16), privilege: .supervisor))
            | UInt64(try! test.machine.readVirtual32(GuestVirtualAddress(data + 20), privilege: .supervisor)) << 32
    }
    // 1/3 is 0xAAAA...: 64 bits to nearest, 24 bits (single) and 53 bits (double) cut it short,
    // and rounding up at 64 bits gives the last bit 1.
    #expect(thirds[0x037F] == 0xAAAA_AAAA_AAAA_AAAB)
    #expect(thirds[0x007F] == 0xAAAA_AB00_0000_0000)
    #expect(thirds[0x027F] == 0xAAAA_AAAA_AAAA_A800)
    #expect(thirds[0x0B7F] == 0xAAAA_AAAA_AAAA_AAAB)
}

@Test func x640_fxsaveNeedsAlignmentAndRoundTrips() throws {
    let data = TestMachine.dataBase
    // fld1; fldpi; fxsave (data+0x100); fninit; fxrstor (data+0x100)
    let (test, stop) = runFPU([0xD9, 0xE8, 0xD9, 0xEB, 0x0F, 0xAE, 0x05] + address(data + 0x100)
        + [0xDB, 0xE3, 0x0F, 0xAE, 0x0D] + address(data + 0x100))
    #expect(vector(stop) == 0x80)
    let word = { (offset: UInt32) in try! test.machine.readVirtual32(GuestVirtualAddress(data + 0x100 + offset), privilege: .supervisor) }
    #expect(word(0) & 0xFFFF == 0x037F, "the control word")
    #expect(word(4) & 0xFF == 0xC0, "registers 6 and 7 occupied")
    #expect(test.machine.fpu.status.top == 6 && test.machine.fpu.register(0).value == Float80.pi.nextUp.nextDown)
    #expect(test.machine.fpu.register(1).value == 1)
    let misaligned = runFPU([0x0F, 0xAE, 0x05] + address(data + 8))
    #expect(vector(misaligned.stop) == 13)
}

@Test func x645_supervisorSaveHonoursTSAndFaults() throws {
    let test = TestMachine()
    var cpu = test.machine.cpu
    cpu.cr0.insert(.taskSwitched)
    test.machine.cpu = cpu
    #expect(throws: Machine.FPUTransferFault.deviceNotAvailable) {
        try test.machine.saveFPU(.fxsave, at: GuestVirtualAddress(TestMachine.dataBase))
    }
    cpu.cr0.remove(.taskSwitched)
    test.machine.cpu = cpu
    try test.machine.saveFPU(.fnsave, at: GuestVirtualAddress(TestMachine.dataBase))
    #expect(throws: Machine.FPUTransferFault.misaligned) {
        try test.machine.restoreFPU(.fxsave, from: GuestVirtualAddress(TestMachine.dataBase + 8))
    }
    do {
        try test.machine.restoreFPU(.fxsave, from: GuestVirtualAddress(0x900_0000))
        Issue.record("an unmapped area restored")
    } catch {
        guard case let .pageFault(fault) = error else { Issue.record("\(error)"); return }
        #expect(fault.address == GuestVirtualAddress(0x900_0000))
    }
}

@Test func x595_cpuidClaimsTheFPUAndFXSRButNoSSE() {
    let features = Machine.cpuidFeatures
    #expect(features & 1 << 0 != 0 && features & 1 << 24 != 0 && features & 1 << 15 != 0)
    #expect(features & (1 << 23 | 1 << 25 | 1 << 26) == 0, "no MMX, SSE or SSE2")
}

@Test func x630_garbageStateFromMemoryNeverTrapsTheHost() {
    // A hostile program loads random bytes as FPU state in every way it can, then computes. Whatever
    // it loads, the emulated FPU raises #MF or computes; the host's own x87 never traps (which would
    // kill this test process with SIGFPE).
    let data = TestMachine.dataBase
    var seed: UInt32 = 0x9E37_79B9
    func nextByte() -> UInt8 {  // xorshift32: the same garbage every run
        seed ^= seed << 13
        seed ^= seed >> 17
        seed ^= seed << 5
        return UInt8(truncatingIfNeeded: seed)
    }
    let loaders: [[UInt8]] = [
        [0xDD, 0x25] + address(data),             // frstor
        [0x0F, 0xAE, 0x0D] + address(data),       // fxrstor
        [0xD9, 0x25] + address(data),             // fldenv
        [0xD9, 0x2D] + address(data),             // fldcw
    ]
    let computing: [UInt8] = [0xD9, 0xE8, 0xDE, 0xC1, 0xD9, 0xFA, 0x9B, 0xDF, 0xE0]  // fld1; faddp; fsqrt; fwait; fnstsw
    let hostControl = Core.hostControlWord
    for round in 0..<200 {
        let bytes = (0..<512).map { _ in nextByte() }
        let (_, stop) = runFPU(loaders[round % loaders.count] + computing) { test, _ in
            try! test.memory.copyIn(bytes, at: HostPhysicalAddress(data))
        }
        #expect([0x80, 16].contains(vector(stop)), "round \(round): \(stop)")
        // The host's own x87 is exactly as it was: a guest's control word never leaks into it.
        #expect(Core.hostControlWord == hostControl, "round \(round)")
    }
}

/// x87 instructions assembled by `as --32` and the text `objdump -d` gives for them, whitespace collapsed.
private let x87ObjdumpCases: [(bytes: [UInt8], text: String)] = [
    ([0xD8, 0x00], "fadds (%eax)"),
    ([0xDD, 0x45, 0x08], "fldl 0x8(%ebp)"),
    ([0xDB, 0x7C, 0x8C, 0x10], "fstpt 0x10(%esp,%ecx,4)"),
    ([0xDF, 0x2B], "fildll (%ebx)"),
    ([0xDF, 0x3B], "fistpll (%ebx)"),
    ([0xD9, 0x7D, 0xFE], "fnstcw -0x2(%ebp)"),
    ([0xD9, 0x6D, 0xFC], "fldcw -0x4(%ebp)"),
    ([0xDD, 0x38], "fnstsw (%eax)"),
    ([0xDF, 0xE0], "fnstsw %ax"),
    ([0xDA, 0x40, 0x04], "fiaddl 0x4(%eax)"),
    ([0xDE, 0x3E], "fidivrs (%esi)"),
    ([0xDD, 0x37], "fnsave (%edi)"),
    ([0xDD, 0x27], "frstor (%edi)"),
    ([0xD9, 0x37], "fnstenv (%edi)"),
    ([0xD9, 0x27], "fldenv (%edi)"),
    ([0xDF, 0x20], "fbld (%eax)"),
    ([0xDF, 0x30], "fbstp (%eax)"),
    ([0xD8, 0xC3], "fadd %st(3),%st"),
    ([0xDC, 0xC3], "fadd %st,%st(3)"),
    ([0xD8, 0xE2], "fsub %st(2),%st"),
    ([0xD8, 0xEA], "fsubr %st(2),%st"),
    ([0xD8, 0xF9], "fdivr %st(1),%st"),
    ([0xDE, 0xC1], "faddp %st,%st(1)"),
    ([0xDE, 0xCA], "fmulp %st,%st(2)"),
    ([0xDE, 0xE9], "fsubrp %st,%st(1)"),
    ([0xDE, 0xE1], "fsubp %st,%st(1)"),
    ([0xDE, 0xF9], "fdivrp %st,%st(1)"),
    ([0xDE, 0xF1], "fdivp %st,%st(1)"),
    ([0xDC, 0xE9], "fsubr %st,%st(1)"),
    ([0xDC, 0xE1], "fsub %st,%st(1)"),
    ([0xDC, 0xF9], "fdivr %st,%st(1)"),
    ([0xDC, 0xF1], "fdiv %st,%st(1)"),
    ([0xDE, 0xD9], "fcompp"),
    ([0xDA, 0xE9], "fucompp"),
    ([0xDD, 0xE1], "fucom %st(1)"),
    ([0xDD, 0xEA], "fucomp %st(2)"),
    ([0xD8, 0xD1], "fcom %st(1)"),
    ([0xD8, 0xDB], "fcomp %st(3)"),
    ([0xDB, 0xF1], "fcomi %st(1),%st"),
    ([0xDF, 0xE9], "fucomip %st(1),%st"),
    ([0xDF, 0xF2], "fcomip %st(2),%st"),
    ([0xDB, 0xEB], "fucomi %st(3),%st"),
    ([0xDA, 0xC1], "fcmovb %st(1),%st"),
    ([0xDB, 0xD2], "fcmovnbe %st(2),%st"),
    ([0xDA, 0xD9], "fcmovu %st(1),%st"),
    ([0xD9, 0xC1], "fld %st(1)"),
    ([0xD9, 0xCA], "fxch %st(2)"),
    ([0xDD, 0xD1], "fst %st(1)"),
    ([0xDD, 0xDB], "fstp %st(3)"),
    ([0xDD, 0xC2], "ffree %st(2)"),
    ([0xD9, 0xD0], "fnop"),
    ([0xD9, 0xE0], "fchs"),
    ([0xD9, 0xE1], "fabs"),
    ([0xD9, 0xE4], "ftst"),
    ([0xD9, 0xE5], "fxam"),
    ([0xD9, 0xE8], "fld1"),
    ([0xD9, 0xE9], "fldl2t"),
    ([0xD9, 0xEA], "fldl2e"),
    ([0xD9, 0xEB], "fldpi"),
    ([0xD9, 0xEC], "fldlg2"),
    ([0xD9, 0xED], "fldln2"),
    ([0xD9, 0xEE], "fldz"),
    ([0xD9, 0xF0], "f2xm1"),
    ([0xD9, 0xF1], "fyl2x"),
    ([0xD9, 0xF2], "fptan"),
    ([0xD9, 0xF3], "fpatan"),
    ([0xD9, 0xF4], "fxtract"),
    ([0xD9, 0xF5], "fprem1"),
    ([0xD9, 0xF6], "fdecstp"),
    ([0xD9, 0xF7], "fincstp"),
    ([0xD9, 0xF8], "fprem"),
    ([0xD9, 0xF9], "fyl2xp1"),
    ([0xD9, 0xFA], "fsqrt"),
    ([0xD9, 0xFB], "fsincos"),
    ([0xD9, 0xFC], "frndint"),
    ([0xD9, 0xFD], "fscale"),
    ([0xD9, 0xFE], "fsin"),
    ([0xD9, 0xFF], "fcos"),
    ([0xDB, 0xE3], "fninit"),
    ([0xDB, 0xE2], "fnclex"),
    ([0x64, 0xD9, 0x05, 0x04, 0x00, 0x00, 0x00], "flds %fs:0x4"),
    ([0xDF, 0x18], "fistps (%eax)"),
]

@Test func x648_x87InstructionsDisassembleAsObjdumpPrintsThem() {
    for (bytes, text) in x87ObjdumpCases {
        let decoded = Disassembler.disassemble(bytes + [0x90, 0x90], at: GuestVirtualAddress(0x10000))
        #expect(decoded.text == text && decoded.length == bytes.count, "\(bytes): \(decoded)")
    }
    let refused = Disassembler.disassemble([0xD9, 0xD1], at: GuestVirtualAddress(0x10000))
    #expect(refused.text == "(bad)" && refused.length == 1, "an encoding the interpreter refuses")
}
