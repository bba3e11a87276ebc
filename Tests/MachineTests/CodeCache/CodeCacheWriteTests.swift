import Testing
@testable import Machine

// The code cache tests of X:675: writes over decoded code, by instructions, deliveries, the Host and
// the kernel, and changes to the mappings under it. The harness is in CodeCacheTests.swift.

// MARK: - X:675 Keeping it right: writes over decoded code

/// A way a ring-3 instruction writes memory, aimed at the immediate of a `mov $imm,%eax` two
/// instructions later in the same straight run: the bytes, the registers that aim it at `address`,
/// and what eax must read once the write landed on the immediate (which starts as `writeTarget`).
struct CodeWriter: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    let registers: @Sendable (_ address: UInt32) -> [(Register32, UInt32)]
    let expected: UInt32
    var testDescription: String { name }
}

/// The immediate's value before any write.
let writeTarget: UInt32 = 0x5A5A_5A5A

let codeWriters: [CodeWriter] = [
    .init(name: "mov %ebx,(%edi)", bytes: [0x89, 0x1F], registers: { [(.edi, $0), (.ebx, 0xA1A2_A3A4)] }, expected: 0xA1A2_A3A4),
    .init(name: "mov %bl,(%edi)", bytes: [0x88, 0x1F], registers: { [(.edi, $0), (.ebx, 0xA1A2_A3A4)] }, expected: 0x5A5A_5AA4),
    .init(name: "mov %bx,(%edi)", bytes: [0x66, 0x89, 0x1F], registers: { [(.edi, $0), (.ebx, 0xA1A2_A3A4)] },
          expected: 0x5A5A_A3A4),
    .init(name: "movl $imm,(%edi)", bytes: [0xC7, 0x07] + bytes32(0x0BAD_F00D), registers: { [(.edi, $0)] },
          expected: 0x0BAD_F00D),
    .init(name: "movb $imm,3(%edi)", bytes: [0xC6, 0x47, 0x03, 0x77], registers: { [(.edi, $0)] }, expected: 0x775A_5A5A),
    .init(name: "rep movsb", bytes: [0xF3, 0xA4], registers: { [(.edi, $0), (.esi, 0x2F800), (.ecx, 4)] },
          expected: 0x4433_2211),
    .init(name: "movsl", bytes: [0xA5], registers: { [(.edi, $0), (.esi, 0x2F800)] }, expected: 0x4433_2211),
    .init(name: "rep stosl", bytes: [0xF3, 0xAB], registers: { [(.edi, $0), (.eax, 0xCAFE_BABE), (.ecx, 1)] },
          expected: 0xCAFE_BABE),
    .init(name: "stosb", bytes: [0xAA], registers: { [(.edi, $0), (.eax, 0x99)] }, expected: 0x5A5A_5A99),
    .init(name: "push %ebx", bytes: [0x53], registers: { [(.esp, $0 + 4), (.ebx, 0x600D_F00D)] }, expected: 0x600D_F00D),
    .init(name: "pushl $imm", bytes: [0x68] + bytes32(0x1234_5678), registers: { [(.esp, $0 + 4)] }, expected: 0x1234_5678),
    // The return address: the instruction after the 5-byte call, after the two nops.
    .init(name: "call", bytes: [0xE8, 0, 0, 0, 0], registers: { [(.esp, $0 + 4)] }, expected: codeWriterBase + 7),
    // pusha stores edi lowest; esi lands just after the immediate, so it carries the int $0x80 on.
    .init(name: "pusha", bytes: [0x60], registers: { [(.esp, $0 + 32), (.edi, 0x2468_ACE0), (.esi, 0x80CD)] },
          expected: 0x2468_ACE0),
    .init(name: "pop (%edi)", bytes: [0x8F, 0x07], registers: { [(.edi, $0), (.esp, 0x2F900)] }, expected: 0x0F0F_0F0F),
    .init(name: "xchg %ebx,(%edi)", bytes: [0x87, 0x1F], registers: { [(.edi, $0), (.ebx, 0x1357_9BDF)] },
          expected: 0x1357_9BDF),
    .init(name: "add %ebx,(%edi)", bytes: [0x01, 0x1F], registers: { [(.edi, $0), (.ebx, 0x0101_0101)] },
          expected: 0x5B5B_5B5B),
    .init(name: "incl (%edi)", bytes: [0xFF, 0x07], registers: { [(.edi, $0)] }, expected: 0x5A5A_5A5B),
    .init(name: "notl (%edi)", bytes: [0xF7, 0x17], registers: { [(.edi, $0)] }, expected: 0xA5A5_A5A5),
    .init(name: "shll $4,(%edi)", bytes: [0xC1, 0x27, 0x04], registers: { [(.edi, $0)] }, expected: 0xA5A5_A5A0),
    .init(name: "shld $8,%ebx,(%edi)", bytes: [0x0F, 0xA4, 0x1F, 0x08], registers: { [(.edi, $0), (.ebx, 0xFF00_0000)] },
          expected: 0x5A5A_5AFF),
    .init(name: "cmpxchg %ebx,(%edi)", bytes: [0x0F, 0xB1, 0x1F],
          registers: { [(.edi, $0), (.eax, writeTarget), (.ebx, 0x7654_3210)] }, expected: 0x7654_3210),
    // edx:eax must match the immediate and the int $0x80 after it; ecx writes the int back.
    .init(name: "cmpxchg8b (%edi)", bytes: [0x0F, 0xC7, 0x0F],
          registers: { [(.edi, $0), (.eax, writeTarget), (.edx, 0x80CD), (.ebx, 0xFEED_FACE), (.ecx, 0x80CD)] },
          expected: 0xFEED_FACE),
    .init(name: "xadd %ebx,(%edi)", bytes: [0x0F, 0xC1, 0x1F], registers: { [(.edi, $0), (.ebx, 0x0100_0000)] },
          expected: 0x5B5A_5A5A),
    .init(name: "bts %ebx,(%edi)", bytes: [0x0F, 0xAB, 0x1F], registers: { [(.edi, $0), (.ebx, 0)] }, expected: 0x5A5A_5A5B),
    .init(name: "cmp; sete (%edi)", bytes: [0x39, 0xC0, 0x0F, 0x94, 0x07], registers: { [(.edi, $0)] }, expected: 0x5A5A_5A01),
    .init(name: "fld1; fistpl (%edi)", bytes: [0xD9, 0xE8, 0xDB, 0x1F], registers: { [(.edi, $0)] }, expected: 1),
    .init(name: "fld1; fstps (%edi)", bytes: [0xD9, 0xE8, 0xD9, 0x1F], registers: { [(.edi, $0)] }, expected: 0x3F80_0000),
    .init(name: "fninit; fnstcw (%edi)", bytes: [0xDB, 0xE3, 0xD9, 0x3F], registers: { [(.edi, $0)] }, expected: 0x5A5A_037F),
    // The FPU's environment (28 bytes) and whole state (108) go out as one block, aimed to end with
    // the immediate. The block covers the rest of the run: the filler and the mov become its zeroes
    // (a data pointer, or the top of st(7), after fninit in a fresh machine), which run as
    // `add %al,(%eax)` on scratch memory up to the int $0x80; eax keeps its scratch address.
    .init(name: "fninit; fnstenv -24(%edi)", bytes: [0xDB, 0xE3, 0xD9, 0x77, 0xE8],
          registers: { [(.edi, $0), (.eax, 0x2F400)] }, expected: 0x2F400),
    .init(name: "fninit; fnsave -104(%edi)", bytes: [0xDB, 0xE3, 0xDD, 0x77, 0x98],
          registers: { [(.edi, $0), (.eax, 0x2F400)] }, expected: 0x2F400),
]

/// Where the writer fragments run: a user-writable page of the test machine.
let codeWriterBase: UInt32 = 0x22000

/// Two nops before each writer.
let writerLeadIn: [UInt8] = [0x90, 0x90]

@Test(arguments: codeWriters)
func x675_anInstructionWritingALaterInstructionOfItsRun(_ writer: CodeWriter) {
    // nop; nop; <writer>; inc %edx; mov $0x5a5a5a5a,%eax; int $0x80. The first pass aims the write
    // at scratch memory, so the whole run is decoded and executed unchanged; the second aims it at
    // the mov's immediate, which the very next instruction but one must see. The nops come first so
    // that the writer itself runs from decoded code, wherever a cache starts its blocks after an
    // iret (the first fetch after a new code page may well take the plain decoder).
    let code = writerLeadIn + writer.bytes + [0x42, 0xB8] + bytes32(writeTarget) + [0xCD, 0x80]
    let target = codeWriterBase + UInt32(writerLeadIn.count + writer.bytes.count) + 2
    let points = expectCacheInvisible(writer.name) { test in
        try! test.memory.copyIn([0x11, 0x22, 0x33, 0x44], at: HostPhysicalAddress(0x2F800))
        try! test.memory.store32(0x0F0F_0F0F, at: HostPhysicalAddress(0x2F900))
        test.load(code, at: codeWriterBase)
        test.machine.setInstructionPointer(codeWriterBase)
        for (register, value) in writer.registers(0x2F000) { test.machine.setRegister(register, to: value) }
        let warm = test.step(memory: true)
        test.returnToUser(from: warm.stop, eip: codeWriterBase)
        for (register, value) in writer.registers(target) { test.machine.setRegister(register, to: value) }
        return [warm, test.step(memory: true)]
    }
    #expect(points.map { $0.stop.kernelVector } == [0x80, 0x80], "\(writer.name): \(points.map(\.stop))")
    #expect(points[0].cpu.eax == writeTarget, "\(writer.name): the warm-up leaves the code alone")
    #expect(points[1].cpu.eax == writer.expected, "\(writer.name): eax \(hex(points[1].cpu.eax))")
}

@Test func x675_aStoreThroughAnotherMappingOfTheCodeFrame() {
    // The loop runs from the read-only code page and rewrites its own first instruction through a
    // second, writable mapping of the same frame: only a cache that watches frames, not pages, sees it.
    //   0: mov $1,%eax; mov %ebx,0x60001; add %eax,%edx; inc %ebx; dec %ecx; jnz 0; int $0x80
    let code: [UInt8] = [0xB8, 1, 0, 0, 0, 0x89, 0x1D, 0x01, 0x00, 0x06, 0x00, 0x01, 0xC2, 0x43, 0x49, 0x75, 0xEF, 0xCD, 0x80]
    let points = expectCacheInvisible("aliased store") { test in
        test.map(0x60000, to: TestMachine.codeBase, [.present, .user, .writable])
        test.load(code)
        test.machine.setRegister(.ebx, to: 10)
        test.machine.setRegister(.ecx, to: 4)
        return [test.step(memory: true)]
    }
    #expect(points[0].cpu.edx == 1 + 10 + 11 + 12 && points[0].cpu.eax == 12)
}

@Test func x675_theFrameADeliveryPushesOverCode() {
    // A user mapping of the ring-1 stack's top frame holds `nop; nop; mov $0x12345678,%eax;
    // int $0x80` at its last bytes. The int's own frame lands on them: its lowest word, the return eip
    // 0x60fef, covers the immediate's top byte and the int, which now read `ef` and `0f 06` (clts, a
    // #GP at ring 3).
    let points = expectCacheInvisible("delivery over code") { test in
        test.map(0x60000, to: 0x41000, [.present, .user])
        try! test.memory.copyIn([0x90, 0x90, 0xB8] + bytes32(0x1234_5678) + [0xCD, 0x80], at: HostPhysicalAddress(0x41FE6))
        test.machine.setInstructionPointer(0x60FE6)
        let first = test.step(memory: true)
        test.returnToUser(from: first.stop, eip: 0x60FE6)
        return [first, test.step(memory: true)]
    }
    #expect(points[0].cpu.eax == 0x1234_5678 && points[0].stop.kernelVector == 0x80)
    #expect(points[1].cpu.eax == 0xEF34_5678 && points[1].stop.kernelVector == 13 && points[1].stop.kernelErrorCode == 0)
}

@Test func x675_theFrameAHostDeliveryPushesOverCode() {
    // The same code, but the first frame (the int's) goes elsewhere, with esp1 lower; the frame that
    // lands on the code is the Host's own delivery of an external interrupt, between two runs. Its
    // return eip, 0x60fe6, puts `e6` in the immediate's top byte and `0f 06` after it.
    let points = expectCacheInvisible("Host delivery over code") { test in
        test.map(0x60000, to: 0x41000, [.present, .user])
        try! test.memory.copyIn([0x90, 0x90, 0xB8] + bytes32(0x1234_5678) + [0xCD, 0x80], at: HostPhysicalAddress(0x41FE6))
        var cpu = test.machine.cpu
        cpu.eip = 0x60FE6
        cpu.esp1 = 0x41800
        test.machine.cpu = cpu
        let first = test.step(memory: true)
        test.returnToUser(from: first.stop, eip: 0x60FE6)
        cpu = test.machine.cpu
        cpu.esp1 = TestMachine.ring1StackTop
        test.machine.cpu = cpu
        let delivered = test.checkpoint(test.machine.deliver(vector: 0x20, kind: .external), memory: true)
        test.returnToUser(from: delivered.stop)
        return [first, delivered, test.step(memory: true)]
    }
    #expect(points.map { $0.stop.kernelVector } == [0x80, 0x20, 13])
    #expect(points[0].cpu.eax == 0x1234_5678 && points[2].cpu.eax == 0xE634_5678)
}

/// A Host-side write while `hostWriteLoop` is decoded and half done, and what eax ends as.
struct HostCodeWrite: Sendable, CustomTestStringConvertible {
    let name: String
    let write: @Sendable (TestMachine) -> Void
    let eax: UInt32
    let vector: UInt8
    var testDescription: String { name }
}

/// mov $0,%eax; mov $50,%ecx; loop: add $1,%eax; dec %ecx; jnz loop; int $0x80 (the add at +10).
let hostWriteLoop: [UInt8] = [0xB8, 0, 0, 0, 0, 0xB9, 50, 0, 0, 0, 0x83, 0xC0, 0x01, 0x49, 0x75, 0xFA, 0xCD, 0x80]

let hostCodeWrites: [HostCodeWrite] = {
    let add = HostPhysicalAddress(codeWriterBase + 10), immediate = HostPhysicalAddress(codeWriterBase + 12)
    let virtualImmediate = GuestVirtualAddress(codeWriterBase + 12)
    return [
        .init(name: "store8", write: { try! $0.memory.store8(5, at: immediate) }, eax: 10 + 5 * 40, vector: 0x80),
        .init(name: "store16", write: { try! $0.memory.store16(0x4905, at: immediate) }, eax: 210, vector: 0x80),
        .init(name: "store32", write: { try! $0.memory.store32(0x4905_C083, at: add) }, eax: 210, vector: 0x80),
        .init(name: "copyIn of a sub", write: { try! $0.memory.copyIn([0x83, 0xE8, 0x01], at: add) },
              eax: 10 &- 40, vector: 0x80),
        .init(name: "writeVirtual8", write: { try! $0.machine.writeVirtual8(5, at: virtualImmediate, privilege: .user) },
              eax: 210, vector: 0x80),
        .init(name: "copyToVirtual of an imul",
              write: { try! $0.machine.copyToVirtual([0x6B, 0xC0, 0x03], at: GuestVirtualAddress(codeWriterBase + 10),
                                                      privilege: .user) },
              eax: (0..<40).reduce(10) { value, _ in value &* 3 }, vector: 0x80),
        // zeroes run as `add %al,(%eax)`: a write to address 10, in the unmapped page 0.
        .init(name: "zero(frame:)", write: { try! $0.memory.zero(frame: PageFrameNumber(codeWriterBase >> 12)) },
              eax: 10, vector: 14),
        .init(name: "a store elsewhere in the frame", write: { try! $0.memory.store8(0xFF, at: HostPhysicalAddress(codeWriterBase + 0x800)) },
              eax: 50, vector: 0x80),
    ]
}()

@Test(arguments: hostCodeWrites)
func x675_aHostWriteIntoARunningLoop(_ write: HostCodeWrite) {
    // Ten iterations in (2 + 3 * 10 ticks), the loop is decoded and eip is at its add. The Host
    // writes; the CPU never left ring 3, and the very next fetch must see the new bytes.
    let points = expectCacheInvisible(write.name) { test in
        test.load(hostWriteLoop, at: codeWriterBase)
        test.machine.setInstructionPointer(codeWriterBase)
        let partway = test.step(32)
        write.write(test)
        return [partway, test.step(memory: true)]
    }
    #expect(points[0].cpu.eip == codeWriterBase + 10 && points[0].cpu.eax == 10)
    #expect(points[1].cpu.eax == write.eax && points[1].stop.kernelVector == write.vector, "\(write.name): \(points[1].stop)")
    if write.vector == 14 { #expect(points[1].cpu.cr2 == GuestVirtualAddress(10) && points[1].stop.kernelErrorCode == 6) }
}

@Test func x675_aHostStoreBetweenTwoWholeRuns() {
    // nop; mov $7,%eax; int $0x80, run to its end, the immediate changed by memory.store8, run again.
    let points = expectCacheInvisible("store8 between runs") { test in
        test.load(movSeven)
        let first = test.step()
        try! test.memory.store8(9, at: HostPhysicalAddress(TestMachine.codeBase + 2))
        test.returnToUser(from: first.stop, eip: TestMachine.codeBase)
        return [first, test.step(memory: true)]
    }
    #expect(points.map(\.cpu.eax) == [7, 9])
}

/// nop; mov $7,%eax; int $0x80, and the same with 9: the code of the mapping tests.
let movSeven: [UInt8] = [0x90, 0xB8, 7, 0, 0, 0, 0xCD, 0x80]
let movNine: [UInt8] = [0x90, 0xB8, 9, 0, 0, 0, 0xCD, 0x80]

/// Ways the code page's mapping changes after its code was decoded, and what the next run gives.
let codeRemappings: [(name: String, change: @Sendable (TestMachine) -> Void, vector: UInt8, errorCode: UInt32?, eax: UInt32)] = [
    ("unmapped", { $0.map(TestMachine.codeBase, to: TestMachine.codeBase, []) }, 14, 4, 0),
    ("supervisor only", { $0.map(TestMachine.codeBase, to: TestMachine.codeBase, [.present]) }, 14, 5, 0),
    ("another frame", { $0.map(TestMachine.codeBase, to: 0x26000, [.present, .user]) }, 0x80, nil, 9),
]

@Test(arguments: codeRemappings.indices)
func x675_aChangedMappingOfDecodedCode(_ index: Int) {
    // nop; mov $7,%eax; int $0x80 is decoded by a first run; then its page table entry changes and the
    // TLB entry is flushed, as a kernel does. The next fetch must go by the new entry: a #PF on the
    // fetch (cr2 and the frame naming the first instruction), or the other frame's code.
    let remapping = codeRemappings[index]
    let points = expectCacheInvisible(remapping.name) { test in
        test.load(movSeven)
        try! test.memory.copyIn(movNine, at: HostPhysicalAddress(0x26000))
        let first = test.step()
        remapping.change(test)
        test.machine.flushTLB(page: GuestVirtualAddress(TestMachine.codeBase))
        test.returnToUser(from: first.stop, eip: TestMachine.codeBase)
        test.machine.setRegister(.eax, to: 0)
        let second = test.step(memory: true)
        #expect(test.frameEIP(second.stop) == TestMachine.codeBase + (remapping.vector == 14 ? 0 : 8), "\(remapping.name)")
        return [first, second]
    }
    #expect(points[0].cpu.eax == 7)
    #expect(points[1].stop.kernelVector == remapping.vector && points[1].stop.kernelErrorCode == remapping.errorCode)
    #expect(points[1].cpu.eax == remapping.eax && points[1].instructions == (remapping.vector == 14 ? 4 : 6))
    if remapping.vector == 14 { #expect(points[1].cpu.cr2 == GuestVirtualAddress(TestMachine.codeBase)) }
}

/// A second page directory at 0x5F000, a copy of the first whose code page maps frame 0x26 instead.
func buildSecondAddressSpace(_ test: TestMachine) {
    let table = try! test.memory.copyOut(from: HostPhysicalAddress(0x1000), count: 4096)
    try! test.memory.copyIn(table, at: HostPhysicalAddress(0x5E000))
    let entry = PageTableEntry(frame: PageFrameNumber(0x26), flags: [.present, .user])
    try! test.memory.store32(entry.rawValue, at: HostPhysicalAddress(0x5E000 + (TestMachine.codeBase >> 12) * 4))
    let directory = PageDirectoryEntry(frame: PageFrameNumber(0x5E), flags: [.present, .writable, .user])
    try! test.memory.store32(directory.rawValue, at: HostPhysicalAddress(0x5F000))
}

@Test func x675_aNewAddressSpaceRunsItsOwnCode() {
    // A second page directory maps the code address to another frame; loading cr3 switches to it.
    let points = expectCacheInvisible("cr3 switch") { test in
        test.load(movSeven)
        try! test.memory.copyIn(movNine, at: HostPhysicalAddress(0x26000))
        buildSecondAddressSpace(test)
        let first = test.step()
        test.returnToUser(from: first.stop, eip: TestMachine.codeBase)
        var cpu = test.machine.cpu
        cpu.cr3 = HostPhysicalAddress(0x5F000)
        test.machine.cpu = cpu
        return [first, test.step(memory: true)]
    }
    #expect(points.map(\.cpu.eax) == [7, 9])
}

@Test func x675_aFreedFrameReusedForOtherCode() {
    // A frame of hot code is freed (which zeroes it), handed out again, and filled with other code.
    // mov $0,%eax; mov $20,%ecx; loop: add $N,%eax; dec %ecx; jnz loop; int $0x80
    func loop(adding addend: UInt8) -> [UInt8] {
        [0xB8, 0, 0, 0, 0, 0xB9, 20, 0, 0, 0, 0x83, 0xC0, addend, 0x49, 0x75, 0xFA, 0xCD, 0x80]
    }
    let points = expectCacheInvisible("freed and reused") { test in
        let frame = test.memory.allocateFrames(count: 1)!
        let start = HostPhysicalAddress(frame: frame)
        test.map(0x60000, to: start.rawValue, [.present, .user])
        try! test.memory.copyIn(loop(adding: 1), at: start)
        test.machine.setInstructionPointer(0x60000)
        var points = [test.step()]
        test.memory.freeFrames(frame, count: 1)
        let again = test.memory.allocateFrames(count: 1)
        #expect(again == frame, "first fit hands the same frame out again")
        try! test.memory.copyIn(loop(adding: 3), at: start)
        test.returnToUser(from: points[0].stop, eip: 0x60000)
        points.append(test.step())
        // Freed once more and not refilled: the zeroes run, `add %al,(%eax)` with eax = 60.
        test.memory.freeFrames(frame, count: 1)
        test.returnToUser(from: points[1].stop, eip: 0x60000)
        points.append(test.step(memory: true))
        return points
    }
    #expect(points.map(\.cpu.eax) == [20, 60, 60])
    #expect(points[2].stop.kernelVector == 14 && points[2].stop.kernelErrorCode == 6 && points[2].cpu.cr2 == GuestVirtualAddress(60))
}

@Test func x675_codeThatASystemCallReadsIn() throws {
    // The program reads `mov $5,%eax; ret` from stdin into a buffer and calls it three times, then
    // reads `mov $7,%eax; ret` over the same bytes and calls it again: the kernel's write into user
    // memory (the runner's `copyToUser`) must reach the decoded code too. It exits with 5 + 7.
    func program(buffer: UInt32) -> [UInt8] {
        let read = systemCall(3, 0, buffer, 6)
        let call: [UInt8] = [0xFF, 0xD6]  // call *%esi
        return read + [0xBE] + bytes32(buffer) + call + call + call + [0x89, 0xC7]  // mov %eax,%edi
            + read + call + [0x01, 0xF8] + exitWithEAX  // add %edi,%eax
    }
    let headers: UInt32 = 52 + 64, size = UInt32(program(buffer: 0).count)
    let file = elfFile(code: program(buffer: 0x0804_8000 + headers + size), extraSegments: [(size: 16, flags: 6)])
    let input: [UInt8] = [0xB8, 5, 0, 0, 0, 0xC3, 0xB8, 7, 0, 0, 0, 0xC3]
    let runs = try [true, false].map { cached in
        let runner = try ProgramRunner(image: ELFImage(bytes: file), input: input)
        runner.machine.codeCacheEnabled = cached
        return (runner.run(maxInstructions: 10_000), runner)
    }
    expectSameRun("read into code", runs[0], runs[1])
    #expect(runs[1].0.termination == .exited(status: 12), "\(runs[1].0.faultDescription ?? "")")
}

@Test(arguments: [1, 2, 3, 1_000] as [UInt64])
func x675_aRepThatOverwritesItself(_ slice: UInt64) {
    // mov $0x90,%al; mov $0x2200c,%edi; mov $8,%ecx; rep stosb at 0x2200c; six inc %eax; int $0x80.
    // The rep fills itself and the incs with nops. Run whole, it finishes (a rep is fetched once) and
    // the incs are gone; sliced, it is fetched again when it resumes and may find itself rewritten.
    let code: [UInt8] = [0xB0, 0x90, 0xBF] + bytes32(codeWriterBase + 12) + [0xB9, 8, 0, 0, 0, 0xF3, 0xAA]
        + [UInt8](repeating: 0x40, count: 6) + [0xCD, 0x80]
    let points = expectCacheInvisible("rep stosb over itself in slices of \(slice)") { test in
        test.load(code, at: codeWriterBase)
        test.machine.setInstructionPointer(codeWriterBase)
        var points: [CacheCheckpoint] = []
        repeat { points.append(test.step(slice)) } while points.last!.stop == .budgetExhausted && points.count < 100
        points[points.count - 1].ram = RAMImage(test.memory)
        return points
    }
    #expect(points.last?.stop.kernelVector == 0x80)
    if slice == 1_000 { #expect(points.last?.cpu.eax == 0x90 && points.last?.cpu.ecx == 0) }
}

/// How the code page's mapping goes stale: its entry changed with no TLB flush, or a global entry
/// that survives the load of a cr3 whose tables map the page elsewhere.
let staleCodeMappings: [(name: String, change: @Sendable (TestMachine) -> Void)] = [
    ("a page table entry changed without a flush", { test in
        test.map(TestMachine.codeBase, to: 0x26000, [.present, .user])
    }),
    ("a global entry across a cr3 load", { test in
        buildSecondAddressSpace(test)
        var cpu = test.machine.cpu
        cpu.cr3 = HostPhysicalAddress(0x5F000)
        test.machine.cpu = cpu
    }),
]

@Test(arguments: staleCodeMappings.indices)
func x675_aStaleTranslationIsHonouredAsTheTLBHonoursIt(_ index: Int) {
    // The cache must translate code addresses through the TLB, exactly as fetching does, and not be
    // "more right" than it: while the TLB still holds the old translation, the old frame's code runs.
    let stale = staleCodeMappings[index]
    let points = expectCacheInvisible(stale.name) { test in
        var cpu = test.machine.cpu
        cpu.cr4.insert(.pageGlobalEnable)
        test.machine.cpu = cpu
        test.map(TestMachine.codeBase, to: TestMachine.codeBase, [.present, .user, .global])
        test.load(movSeven)
        try! test.memory.copyIn(movNine, at: HostPhysicalAddress(0x26000))
        let first = test.step()
        test.returnToUser(from: first.stop, eip: TestMachine.codeBase)
        stale.change(test)
        let second = test.step()
        // And once the entry is flushed, the new translation.
        test.returnToUser(from: second.stop, eip: TestMachine.codeBase)
        test.machine.flushTLB(page: GuestVirtualAddress(TestMachine.codeBase))
        return [first, second, test.step(memory: true)]
    }
    #expect(points.map(\.cpu.eax) == [7, 7, 9], "\(stale.name)")
}
