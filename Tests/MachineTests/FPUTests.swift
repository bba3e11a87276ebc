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
    for round in 0..<200 {
        let bytes = (0..<512).map { _ in nextByte() }
        let (_, stop) = runFPU(loaders[round % loaders.count] + computing) { test, _ in
            try! test.memory.copyIn(bytes, at: HostPhysicalAddress(data))
        }
        #expect([0x80, 16].contains(vector(stop)), "round \(round): \(stop)")
    }
}
