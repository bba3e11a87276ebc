// Fuzz target (f), differential: the fuzz bytes are ring-3 code, run twice as a tiny i386 Linux
// program, once with the code cache (X:660) and once without, through the same slices of budget.
// After every slice the two must agree on how the program ended, what it wrote, the instruction
// count and every register; at the end, on the deliveries, the clock and every byte of RAM. Any
// difference is a finding (`fatalError`, so libFuzzer keeps the input).
//
// The input: four bytes giving the budget slices (1 ... 256 instructions, used in turn), then the
// code. The code is loaded in a writable, executable segment and preceded by a prologue that aims
// ebx, esi and edi into it, so that stores among the fuzz bytes tend to land on code, which is what
// the cache must notice.

import FuzzSupport
import Machine

/// Where the program's one segment is loaded: the ELF headers first, then the prologue and the code.
let segmentBase: UInt32 = 0x0804_8000
/// The ELF header (52 bytes) and the one program header (32 bytes) before the code.
let headerBytes: UInt32 = 52 + 32
/// The first fuzz byte's address, where the prologue leaves esi.
let fuzzCodeStart = segmentBase + headerBytes + 20

/// mov $code,%ebx; mov $code+0x40,%edi; mov $code,%esi; mov $16,%ecx (each 5 bytes).
let prologue: [UInt8] = [0xBB] + le32(fuzzCodeStart) + [0xBF] + le32(fuzzCodeStart + 0x40)
    + [0xBE] + le32(fuzzCodeStart) + [0xB9] + le32(16)

/// The most instructions one input runs, on each machine.
let instructionLimit: UInt64 = 5_000

func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }

/// A static i386 executable whose one segment (read, write, execute) holds its headers and `code`.
func executable(_ code: [UInt8]) -> [UInt8] {
    let fileSize = headerBytes + UInt32(code.count)
    let memorySize = max(0x3000, (fileSize + 0xFFF) & ~0xFFF)
    let identification: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 1, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
    let header = identification + le16(2) + le16(3) + le32(1) + le32(segmentBase + headerBytes) + le32(52)
        + le32(0) + le32(0) + le16(52) + le16(32) + le16(1) + le16(0) + le16(0) + le16(0)
    let programHeader = le32(1) + le32(0) + le32(segmentBase) + le32(segmentBase) + le32(fileSize)
        + le32(memorySize) + le32(7) + le32(0x1000)
    return header + programHeader + code
}

/// A runner for `image` with the cache on or off; nil if the program cannot start.
func runner(_ image: ELFImage, cached: Bool) -> ProgramRunner? {
    guard let runner = try? ProgramRunner(image: image, frameCount: 512) else { return nil }
    runner.machine.codeCacheEnabled = cached
    return runner
}

/// Stops the fuzzer when `same` is false, naming what differed.
func demand(_ same: Bool, _ what: @autoclosure () -> String) {
    if !same { fatalError("codecache: with and without the cache, \(what()) differ") }
}

/// The checks after a slice: what the program can see, and the count of instructions.
func compareSlice(_ a: ProgramResult, _ b: ProgramResult, _ cached: ProgramRunner, _ reference: ProgramRunner) {
    demand(a.termination == b.termination, "endings (\(a.termination), \(b.termination))")
    demand(a.output == b.output && a.errorOutput == b.errorOutput, "outputs")
    demand(a.statistics.instructions == b.statistics.instructions, "instruction counts")
    demand(cached.machine.cpu == reference.machine.cpu, "CPU states")
}

/// The checks at the end: the rest of the statistics and all of RAM.
func compareEnd(_ a: ProgramResult, _ b: ProgramResult, _ cached: ProgramRunner, _ reference: ProgramRunner) {
    demand(a.faultDescription == b.faultDescription, "fault descriptions")
    demand(a.statistics.deliveries == b.statistics.deliveries, "deliveries")
    demand(a.statistics.tlbFlushes == b.statistics.tlbFlushes, "TLB flushes")
    demand(a.virtualTime == b.virtualTime && a.systemCalls == b.systemCalls, "clocks")
    let size = cached.machine.memory.byteCount
    let ramA = try? cached.machine.memory.copyOut(from: HostPhysicalAddress(0), count: size)
    let ramB = try? reference.machine.memory.copyOut(from: HostPhysicalAddress(0), count: size)
    demand(ramA != nil && ramA == ramB, "RAM contents")
}

/// One fuzz input (exported for libFuzzer's own `main`, which a debug build links).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = FuzzBytes(start, count)
    let slices = (0..<4).map { _ in UInt64(input.byte()) + 1 }
    guard let image = try? ELFImage(bytes: executable(prologue + input.rest())) else {
        fatalError("codecache: the harness built an executable the loader refuses")
    }
    guard let cached = runner(image, cached: true), let reference = runner(image, cached: false) else { return 0 }
    var turn = 0
    while true {
        let a = cached.run(maxInstructions: slices[turn % 4])
        let b = reference.run(maxInstructions: slices[turn % 4])
        compareSlice(a, b, cached, reference)
        turn += 1
        if a.termination != .budgetExhausted || a.statistics.instructions >= instructionLimit {
            compareEnd(a, b, cached, reference)
            return 0
        }
    }
}

// A release build links this module's own `main`, which hands the same function to libFuzzer.
runFuzzer { start, count in fuzzTestOneInput(start, count) }
