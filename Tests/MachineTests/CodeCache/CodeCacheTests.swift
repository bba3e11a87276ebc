import Foundation
import Testing
@testable import Machine

// Tests of the code cache (X:660 ... X:675). The cache keeps decoded instructions per physical code
// frame; `Machine.codeCacheEnabled = false` fetches and decodes every instruction afresh, and is the
// reference. Every test here runs the same scenario twice, once with the cache and once without, and
// demands the same machine at every step (registers, flags, cr2, FPU, clock, counters and, where it
// says so, every byte of RAM), and checks the reference against values worked out by hand, so that
// neither side can drift and take the other with it. The scenarios are built to catch what a cache
// gets wrong: budgets that end inside a block, single-stepping, faults in the middle of a straight
// run, instructions that straddle a page, and above all writes over code that has been decoded (those
// are in CodeCacheWriteTests.swift, X:675).

// MARK: - The harness

/// Every byte of a machine's RAM at one moment, compared with `memcmp` (an element-wise compare of a
/// megabyte is slow in a debug build).
struct RAMImage: Equatable {
    let bytes: [UInt8]

    init(_ memory: PhysicalMemory) { bytes = try! memory.copyOut(from: HostPhysicalAddress(0), count: memory.byteCount) }

    static func == (lhs: RAMImage, rhs: RAMImage) -> Bool {
        lhs.bytes.count == rhs.bytes.count && lhs.bytes.withUnsafeBytes { left in
            rhs.bytes.withUnsafeBytes { right in memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0 }
        }
    }

    /// The first address at which the two images differ, if any.
    func firstDifference(from other: RAMImage) -> Int? {
        bytes.indices.first { bytes[$0] != other.bytes[$0] }
    }
}

/// What the code cache must not change, seen after one call to `run`.
struct CacheCheckpoint: Equatable {
    var stop: StopReason
    var cpu: CPUState
    var fpu: FPUState
    var ticks: UInt64
    var instructions: UInt64
    var deliveries: [UInt64]
    var tlbFlushes: UInt64
    /// RAM, for the checkpoints that ask for it (a copy per step of a long sweep would be wasteful).
    var ram: RAMImage?

    /// The fields in which `self` differs from `reference`, for a failure message.
    func differences(from reference: CacheCheckpoint) -> String {
        var lines: [String] = []
        func note(_ name: String, _ mine: Any, _ theirs: Any) { lines.append("\(name): \(mine), reference \(theirs)") }
        if stop != reference.stop { note("stop", stop, reference.stop) }
        if cpu != reference.cpu { note("cpu", cpu, reference.cpu) }
        if fpu != reference.fpu { note("fpu", fpu, reference.fpu) }
        if ticks != reference.ticks { note("ticks", ticks, reference.ticks) }
        if instructions != reference.instructions { note("instructions", instructions, reference.instructions) }
        if deliveries != reference.deliveries { note("deliveries", "differ", "") }
        if tlbFlushes != reference.tlbFlushes { note("tlbFlushes", tlbFlushes, reference.tlbFlushes) }
        if let ram, let other = reference.ram, ram != other {
            note("RAM", "differs first at \(hex(ram.firstDifference(from: other) ?? -1))", "")
        }
        return lines.joined(separator: "\n")
    }
}

extension TestMachine {
    /// A fresh test machine with its code cache switched on or off.
    static func withCodeCache(_ enabled: Bool) -> TestMachine {
        let test = TestMachine()
        test.machine.codeCacheEnabled = enabled
        return test
    }

    /// The machine as `stop` left it; with `memory`, RAM too.
    func checkpoint(_ stop: StopReason, memory: Bool = false) -> CacheCheckpoint {
        let statistics = machine.statistics
        return CacheCheckpoint(
            stop: stop, cpu: machine.cpu, fpu: machine.core.fpu, ticks: machine.clock.ticks,
            instructions: statistics.instructions, deliveries: statistics.deliveries,
            tlbFlushes: statistics.tlbFlushes, ram: memory ? RAMImage(self.memory) : nil)
    }

    /// Runs for `budget` ticks and returns the checkpoint. Outside ring 3 (a scenario that lost
    /// its way) it records an issue and runs nothing, since the interpreter runs ring-3 code only.
    func step(_ budget: UInt64 = 10_000, memory: Bool = false) -> CacheCheckpoint {
        guard machine.cpu.cpl == 3 else {
            Issue.record("step: the CPU is at ring \(machine.cpu.cpl)")
            return checkpoint(.machineCheck(reason: "not at ring 3"), memory: memory)
        }
        return checkpoint(machine.run(maxInstructions: budget), memory: memory)
    }

    /// Leaves the ring-1 handler that `stop` entered the way a kernel does: drops the error code, if
    /// the event pushed one, sets or clears TF in the frame's eflags when `trapFlag` says so, and
    /// executes `iret`; then, if `eip` is given, moves the user's eip there. Uses no `machine.cpu`
    /// setter, which would drop the interpreter's caches and hide what the code cache must get right
    /// by itself.
    func returnToUser(from stop: StopReason, eip: UInt32? = nil, trapFlag: Bool? = nil) {
        guard case let .enteredKernel(_, errorCode, _) = stop else {
            Issue.record("expected a stop in the kernel, got \(stop)")
            return
        }
        if errorCode != nil { machine.setRegister(.esp, to: machine.cpu.esp + 4) }
        if let trapFlag {
            var flags = EFLAGS(rawValue: stackWord(2))
            if trapFlag { flags.insert(.trap) } else { flags.remove(.trap) }
            try! machine.writeVirtual32(flags.rawValue, at: GuestVirtualAddress(machine.cpu.esp + 8), privilege: .supervisor)
        }
        #expect(machine.iret() == nil, "iret back to ring 3")
        if let eip { machine.setInstructionPointer(eip) }
    }

    /// The eip in the frame the last event pushed (above its error code, if it had one).
    func frameEIP(_ stop: StopReason) -> UInt32 {
        guard case let .enteredKernel(_, errorCode, _) = stop else { return 0 }
        return stackWord(errorCode == nil ? 0 : 1)
    }
}

/// Runs `scenario` on a fresh machine with the code cache on, then on one with it off, and expects
/// the same checkpoints in the same order, and that the cached run did decode blocks (unless
/// `decodes` is false: a run under TF alone never does) and the other none. Returns the
/// reference's checkpoints for checks by hand.
@discardableResult
func expectCacheInvisible(
    _ what: String, decodes: Bool = true, sourceLocation: SourceLocation = #_sourceLocation,
    _ scenario: (TestMachine) -> [CacheCheckpoint]
) -> [CacheCheckpoint] {
    let cachedMachine = TestMachine.withCodeCache(true), referenceMachine = TestMachine.withCodeCache(false)
    let cached = scenario(cachedMachine)
    let reference = scenario(referenceMachine)
    let blocks = (cached: cachedMachine.machine.statistics.codeCacheBlocks,
                  reference: referenceMachine.machine.statistics.codeCacheBlocks)
    #expect((blocks.cached > 0) == decodes && blocks.reference == 0,
            "\(what): blocks decoded \(blocks.cached) cached, \(blocks.reference) without", sourceLocation: sourceLocation)
    #expect(cached.count == reference.count, "\(what): \(cached.count) steps cached, \(reference.count) without",
            sourceLocation: sourceLocation)
    if let index = (0..<min(cached.count, reference.count)).first(where: { cached[$0] != reference[$0] }) {
        Issue.record("\(what), step \(index):\n\(cached[index].differences(from: reference[index]))",
                     sourceLocation: sourceLocation)
    }
    return reference
}

extension StopReason {
    /// The vector of a stop in the kernel, or nil.
    var kernelVector: UInt8? {
        if case let .enteredKernel(vector, _, _) = self { vector } else { nil }
    }

    /// The error code a stop in the kernel pushed, or nil.
    var kernelErrorCode: UInt32? {
        if case let .enteredKernel(_, errorCode, _) = self { errorCode } else { nil }
    }
}

/// Little-endian bytes of a 32-bit value, for hand-assembled immediates.
func bytes32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

// MARK: - X:660 The whole programs

// What must agree between a cached and an uncached run of a program: everything the program or its
// kernel can observe (output, ending, registers, FPU, every byte of RAM, the page tables' accessed
// and dirty bits included), the clock, and the counts of instructions, deliveries and TLB flushes,
// which are events of the program and its kernel. The TLB's hits, misses and page walks may differ:
// the cache may find a block's frame without the fetch path's TLB lookup, and those counters describe
// the machine's own work, not the program's.

/// The inputs of the cached runs: the differential test's, and a small one for selfmod.
let codeCacheInputs = differentialInputs.merging(["selfmod": "12\n"]) { $1 }

/// A program's run with the code cache on or off, and the runner that ran it (its RAM is compared).
func programRun(_ name: String, cached: Bool, chunk: UInt64? = nil) throws -> (ProgramResult, ProgramRunner) {
    let input = Array((codeCacheInputs[name] ?? "").utf8)
    let runner = try ProgramRunner(image: GuestPrograms.load(name), input: input, programName: name)
    runner.machine.codeCacheEnabled = cached
    guard let chunk else { return (runner.run(maxInstructions: 200_000_000), runner) }
    var result = runner.run(maxInstructions: chunk)
    while result.termination == .budgetExhausted && result.statistics.instructions < 200_000_000 {
        result = runner.run(maxInstructions: chunk)
    }
    return (result, runner)
}

/// Expects two runs of `name` to agree in everything listed above.
func expectSameRun(_ name: String, _ one: (ProgramResult, ProgramRunner), _ other: (ProgramResult, ProgramRunner)) {
    let (a, runnerA) = one, (b, runnerB) = other
    #expect(a.output == b.output, "\(name): output")
    #expect(a.errorOutput == b.errorOutput, "\(name): error output")
    #expect(a.termination == b.termination, "\(name): \(a.termination) vs \(b.termination)")
    #expect(a.faultDescription == b.faultDescription, "\(name): fault")
    #expect(a.statistics.instructions == b.statistics.instructions, "\(name): instructions")
    #expect(a.statistics.deliveries == b.statistics.deliveries, "\(name): deliveries")
    #expect(a.statistics.tlbFlushes == b.statistics.tlbFlushes, "\(name): TLB flushes")
    #expect(a.virtualTime == b.virtualTime, "\(name): virtual time")
    #expect(a.systemCalls == b.systemCalls && a.demandFaults == b.demandFaults, "\(name): kernel entries")
    #expect(runnerA.machine.cpu == runnerB.machine.cpu, "\(name): final CPU state")
    #expect(runnerA.machine.core.fpu == runnerB.machine.core.fpu, "\(name): final FPU state")
    let memoryA = runnerA.machine.memory, memoryB = runnerB.machine.memory
    #expect(memoryA.byteCount == memoryB.byteCount && memcmp(memoryA.base, memoryB.base, memoryA.byteCount) == 0,
            "\(name): RAM")
}

@Test(arguments: GuestPrograms.names.filter { !GuestPrograms.neverEnding.contains($0) })
func x660_everyProgramRunsTheSameWithTheCacheOnAndOff(_ name: String) throws {
    let cached = try programRun(name, cached: true), reference = try programRun(name, cached: false)
    expectSameRun(name, cached, reference)
    #expect(reference.0.termination != .budgetExhausted, "\(name) ends")
    #expect(cached.0.statistics.codeCacheBlocks > 0 && reference.0.statistics.codeCacheBlocks == 0, "\(name): blocks")
}

@Test func x660_selfmodChecksItselfAndAgreesInAnyBudgetSlices() throws {
    // selfmod compares what its rewritten code computed with the same computation in C: every line
    // must say ok. Then the cached run in slices of an awkward size, which end inside blocks, against
    // the reference in one go.
    let reference = try programRun("selfmod", cached: false)
    let text = String(decoding: reference.0.output, as: UTF8.self)
    #expect(text.hasPrefix("selfmod rounds=12\n") && !text.contains("MISMATCH"), "\(text)")
    #expect(text.components(separatedBy: " ok\n").count == 4, "\(text)")
    for chunk: UInt64 in [997, 4_099] {
        expectSameRun("selfmod in slices of \(chunk)", try programRun("selfmod", cached: true, chunk: chunk), reference)
    }
}

@Test func x660_turningTheCacheOffAndOnBetweenRunsChangesNothing() {
    // The switch may be flipped between any two runs: the cache must neither lose its place nor
    // run stale code it kept while it was off.
    expectCacheInvisible("switching") { test in
        let flipping = test.machine.codeCacheEnabled  // the reference run stays off throughout
        test.load(budgetLoop)
        var points: [CacheCheckpoint] = []
        for slice in 0..<10 {  // 40 of the loop's 56 ticks
            if flipping { test.machine.codeCacheEnabled = slice % 2 == 1 }
            // Midway, lea (%eax,%eax,2) becomes lea (%eax,%eax,4), while the loop is decoded.
            if slice == 6 { try! test.memory.store8(0x80, at: HostPhysicalAddress(TestMachine.codeBase + 28)) }
            points.append(test.step(4))
        }
        points.append(test.step(memory: true))
        return points
    }
}

// MARK: - X:664 Decoding a block

@Test func x664_entersTheSameBytesAtAnotherOffset() {
    // b8 40 40 90 90 is `mov $0x90904040,%eax`; from its second byte the same bytes read
    // `inc %eax; inc %eax; nop; nop`. A block decoded from one entry must not serve the other. (A
    // nop leads in, here and in the tests below: the first instruction after a return from the
    // kernel may take the plain decoder, and the instructions that matter should run decoded.)
    let code: [UInt8] = [0x90, 0xB8, 0x40, 0x40, 0x90, 0x90, 0xCD, 0x80]
    let points = expectCacheInvisible("two entries") { test in
        test.load(code)
        var points = [test.step()]
        for entry: UInt32 in [2, 0, 2] {
            test.returnToUser(from: points.last!.stop, eip: TestMachine.codeBase + entry)
            points.append(test.step())
        }
        return points
    }
    #expect(points.map(\.cpu.eax) == [0x9090_4040, 0x9090_4042, 0x9090_4040, 0x9090_4042])
}

@Test func x664_fallsThroughIntoWhateverThePageTableNowMaps() {
    // Straight-line code runs off the end of one page into the next; then the next page is mapped
    // to another frame (and the TLB entry flushed): the fall-through must follow the page table,
    // not the frame it found last time.
    let points = expectCacheInvisible("fall-through") { test in
        test.map(0x21000, to: 0x25000, [.present, .user])
        try! test.memory.copyIn([0xB8] + bytes32(100), at: HostPhysicalAddress(0x20FFB))  // mov $100,%eax
        try! test.memory.copyIn([0x90, 0x40, 0xCD, 0x80], at: HostPhysicalAddress(0x25000))  // nop; inc; int $0x80
        try! test.memory.copyIn([0x90, 0x48, 0xCD, 0x80], at: HostPhysicalAddress(0x26000))  // nop; dec; int $0x80
        test.machine.setInstructionPointer(0x20FFB)
        var points = [test.step()]
        test.map(0x21000, to: 0x26000, [.present, .user])
        test.machine.flushTLB(page: GuestVirtualAddress(0x21000))
        test.returnToUser(from: points[0].stop, eip: 0x20FFB)
        points.append(test.step(memory: true))
        return points
    }
    #expect(points.map(\.cpu.eax) == [101, 99])
}

// MARK: - X:670 Running a block: budgets, single steps, faults, page-crossing instructions

/// A loop with a `rep movsb` in its body (whose iterations spend budget too):
///
///     mov $0,%eax; mov $0x20000,%esi; mov $0x20100,%edi; mov $6,%edx
///     loop: mov %edx,%ecx; rep movsb; add %edx,%eax; lea (%eax,%eax,2),%eax; dec %edx; jnz loop
///     int $0x80
let budgetLoop: [UInt8] = [
    0xB8, 0, 0, 0, 0, 0xBE, 0, 0, 2, 0, 0xBF, 0, 1, 2, 0, 0xBA, 6, 0, 0, 0,
    0x89, 0xD1, 0xF3, 0xA4, 0x01, 0xD0, 0x8D, 0x04, 0x40, 0x4A, 0x75, 0xF4, 0xCD, 0x80,
]

/// What `budgetLoop` leaves in eax.
let budgetLoopResult: UInt32 = (1...6).reversed().reduce(0) { ($0 + $1) * 3 }

/// Runs `budgetLoop` in slices of `slice` ticks until it enters the kernel, a checkpoint per slice.
func sliced(_ test: TestMachine, _ slice: UInt64) -> [CacheCheckpoint] {
    var points: [CacheCheckpoint] = []
    repeat { points.append(test.step(slice)) } while points.last!.stop == .budgetExhausted && points.count < 1_000
    points[points.count - 1].ram = RAMImage(test.memory)
    return points
}

@Test(arguments: [1, 2, 3, 5, 7, 13, 1_000] as [UInt64])
func x670_everyBudgetBoundaryLeavesTheSameMachine(_ slice: UInt64) {
    // Cold, then again over the same (now decoded) code: every slice must end on the same
    // instruction, with the same registers, as the reference does.
    let points = expectCacheInvisible("slices of \(slice)") { test in
        try! test.memory.copyIn((1...64).map { UInt8($0) }, at: HostPhysicalAddress(0x20000))
        test.load(budgetLoop)
        let nothing = test.step(0)
        #expect(nothing.stop == .budgetExhausted && nothing.ticks == 0 && nothing.cpu.eip == TestMachine.codeBase)
        let cold = sliced(test, slice)
        test.returnToUser(from: cold.last!.stop, eip: TestMachine.codeBase)
        return cold + sliced(test, slice)
    }
    #expect(points.filter { $0.stop != .budgetExhausted }.count == 2, "two passes, each to its int $0x80")
    let end = points.last!
    #expect(end.stop.kernelVector == 0x80 && end.cpu.eax == budgetLoopResult)
    // 4 + 6 * 6 + 1 instructions per pass, and a tick for each rep iteration beyond the first, however
    // the budget slices them. (A rep that a slice interrupts counts as an instruction again when it
    // resumes, as the reference counts it, so only unsliced reps give exactly 82 instructions.)
    if slice >= 56 { #expect(end.instructions == 2 * 41) }
    #expect(end.ticks == 2 * (41 + (0 + 1 + 2 + 3 + 4 + 5)), "ticks \(end.ticks), instructions \(end.instructions)")
}

@Test func x670_anInterruptAtEveryBoundaryResumesExactly() {
    // Slices of 3 ticks, and after each the Host delivers an external interrupt and the handler
    // returns at once, as a timer tick would: every resumption lands inside decoded code.
    let points = expectCacheInvisible("interrupted slices") { test in
        test.load(budgetLoop)
        var points: [CacheCheckpoint] = []
        while points.count < 200 {
            let point = test.step(3)
            points.append(point)
            guard point.stop == .budgetExhausted else { break }
            let interrupt = test.machine.deliver(vector: 0x20, kind: .external)
            points.append(test.checkpoint(interrupt))
            test.returnToUser(from: interrupt)
        }
        points[points.count - 1].ram = RAMImage(test.memory)
        return points
    }
    #expect(points.last?.stop.kernelVector == 0x80 && points.last?.cpu.eax == budgetLoopResult)
    #expect(points.last?.ticks == 41 + 15)
}

@Test(arguments: [false, true])
func x670_singleSteppingRaisesTheSameDebugTraps(afterWarmUp warm: Bool) {
    // With TF set every instruction ends in #DB; the handler returns with TF
    // still set in the frame. After a warm-up the code is decoded already: TF must still win.
    let points = expectCacheInvisible("single steps, warm \(warm)", decodes: warm) { test in
        try! test.memory.copyIn((1...64).map { UInt8($0) }, at: HostPhysicalAddress(0x20000))
        test.load(budgetLoop)
        var points: [CacheCheckpoint] = []
        if warm {
            points.append(test.step())
            test.returnToUser(from: points[0].stop, eip: TestMachine.codeBase, trapFlag: true)
        } else {
            var cpu = test.machine.cpu
            cpu.eflags.insert(.trap)
            test.machine.cpu = cpu
        }
        while points.count < 200 {
            let point = test.step(memory: true)
            points.append(point)
            guard point.stop.kernelVector == 1 else { break }
            test.returnToUser(from: point.stop)
        }
        return points
    }
    let traps = points.filter { $0.stop.kernelVector == 1 }
    // One #DB per tick before the int $0x80: one per instruction (40) and, as on the hardware, one per
    // further round of the loop's rep (the 15 extra ticks above, X:580).
    #expect(traps.count == 40 + 15, "one #DB per instruction and per rep round before the int $0x80")
    #expect(traps.prefix(4).map(\.cpu.eip).allSatisfy { $0 == TestMachine.handlerBase + 16 })
    #expect(points.last.map { $0.stop.kernelVector } == 0x80 && points.last?.ram != nil)
}

@Test func x670_aTrapFlagThatPopfSetsTrapsAfterTheNextInstruction() {
    // nop; pushf; orl $0x100,(%esp); popf; inc %eax (x3); int $0x80. TF counts as it was before
    // each instruction, so the first inc runs and then traps: in the middle of straight-line code
    // that a cache would happily run as one block. Run twice, the second time over decoded code.
    let code: [UInt8] = [0x90, 0x9C, 0x81, 0x0C, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9D, 0x40, 0x40, 0x40, 0xCD, 0x80]
    let points = expectCacheInvisible("popf sets TF") { test in
        test.load(code)
        var points: [CacheCheckpoint] = []
        for pass in 0..<2 {
            let trap = test.step(memory: true)
            #expect(test.frameEIP(trap.stop) == TestMachine.codeBase + 11, "pass \(pass): the trap follows the first inc")
            test.returnToUser(from: trap.stop, trapFlag: false)
            let end = test.step(memory: true)
            test.returnToUser(from: end.stop, eip: TestMachine.codeBase)
            test.machine.setRegister(.eax, to: 0)
            points += [trap, end]
        }
        return points
    }
    #expect(points.map { $0.stop.kernelVector } == [1, 0x80, 1, 0x80])
    #expect(points.map(\.cpu.eax) == [1, 3, 1, 3])
}

/// Instructions that stop a straight run in its middle: (name, bytes, vector, error code, restarts).
let midBlockStops: [(name: String, bytes: [UInt8], vector: UInt8, errorCode: UInt32?, restarts: Bool)] = [
    ("a load from an unmapped page", [0x8B, 0x0D, 0x00, 0x00, 0x06, 0x00], 14, 4, true),
    ("a store to a read-only page", [0x89, 0x0D, 0x00, 0x00, 0x01, 0x00], 14, 7, true),
    ("cli at ring 3", [0xFA], 13, 0, true),
    ("ud2", [0x0F, 0x0B], 6, nil, true),
    ("a division by zero", [0xF7, 0xF6], 0, nil, true),
    ("int3", [0xCC], 3, nil, false),
    ("int $0x81", [0xCD, 0x81], 13, 0x81 * 8 + 2, true),  // gate DPL 0: #GP naming the IDT entry
]

@Test(arguments: midBlockStops.indices)
func x670_aFaultInTheMiddleOfAStraightRunIsExact(_ index: Int) {
    // mov $1,%eax; mov $2,%ebx; <the stop>; inc %edx; int $0x80, run twice: cold and decoded.
    let stopCase = midBlockStops[index]
    let code = [0xB8, 1, 0, 0, 0, 0xBB, 2, 0, 0, 0] + stopCase.bytes + [0x42, 0xCD, 0x80]
    let at = TestMachine.codeBase + 10 + (stopCase.restarts ? 0 : UInt32(stopCase.bytes.count))
    let points = expectCacheInvisible(stopCase.name) { test in
        test.load(code)
        let first = test.step(memory: true)
        #expect(test.frameEIP(first.stop) == at, "\(stopCase.name): the frame names the instruction")
        test.returnToUser(from: first.stop, eip: TestMachine.codeBase)
        test.machine.setRegister(.eax, to: 0)
        let second = test.step(memory: true)
        #expect(test.frameEIP(second.stop) == at, "\(stopCase.name), decoded: the frame names the instruction")
        return [first, second]
    }
    for (pass, point) in points.enumerated() {
        #expect(point.stop.kernelVector == stopCase.vector && point.stop.kernelErrorCode == stopCase.errorCode,
                "\(stopCase.name), pass \(pass): \(point.stop)")
        #expect(point.cpu.eax == 1 && point.cpu.ebx == 2 && point.cpu.edx == 0, "\(stopCase.name), pass \(pass)")
        #expect(point.instructions == UInt64(3 * (pass + 1)), "\(stopCase.name), pass \(pass)")
        if stopCase.vector == 14 {
            #expect(point.cpu.cr2.rawValue == (stopCase.errorCode == 4 ? 0x60000 : 0x10000), "\(stopCase.name)")
        }
    }
}

@Test func x670_aLoadThatFaultsOnlyOnceTheCodeIsDecoded() {
    // The same straight run succeeds first, with its data page mapped; then the data page goes
    // (page table entry and TLB entry) and the decoded run must fault at its third instruction.
    let code: [UInt8] = [0xB8, 1, 0, 0, 0, 0xBB, 2, 0, 0, 0, 0x8B, 0x0D, 0x00, 0x00, 0x06, 0x00, 0x42, 0xCD, 0x80]
    let points = expectCacheInvisible("fault after decoding") { test in
        test.map(0x60000, to: 0x20000, [.present, .user, .writable])
        try! test.memory.store32(0xC0DE, at: HostPhysicalAddress(0x20000))
        test.load(code)
        let first = test.step()
        test.map(0x60000, to: 0x20000, [])
        test.machine.flushTLB(page: GuestVirtualAddress(0x60000))
        test.returnToUser(from: first.stop, eip: TestMachine.codeBase)
        return [first, test.step(memory: true)]
    }
    #expect(points[0].cpu.ecx == 0xC0DE && points[0].cpu.edx == 1 && points[0].stop.kernelVector == 0x80)
    #expect(points[1].stop == .enteredKernel(vector: 14, errorCode: 4, handler: GuestVirtualAddress(TestMachine.handlerBase + 14 * 16)))
    #expect(points[1].cpu.cr2 == GuestVirtualAddress(0x60000) && points[1].cpu.edx == 1 && points[1].instructions == 8)
}

@Test func x670_anInstructionAcrossAPageBoundaryRunsAndFaultsTheSame() {
    // mov $0x11111111,%eax at 0x20ff8; mov $0x11223344,%ebx at 0x20ffd, whose last two bytes are on
    // the next page, which maps a frame that is not the next one; then int $0x80.
    let points = expectCacheInvisible("page-crossing instruction") { test in
        test.map(0x21000, to: 0x25000, [.present, .user])
        try! test.memory.copyIn([0xB8] + bytes32(0x1111_1111) + [0xBB, 0x44, 0x33], at: HostPhysicalAddress(0x20FF8))
        try! test.memory.copyIn([0x22, 0x11, 0xCD, 0x80], at: HostPhysicalAddress(0x25000))
        try! test.memory.copyIn([0x66, 0x77, 0xCD, 0x80], at: HostPhysicalAddress(0x26000))
        test.machine.setInstructionPointer(0x20FF8)
        var points = [test.step()]
        // A Host store into the instruction's second page.
        try! test.memory.store8(0x99, at: HostPhysicalAddress(0x25001))
        test.returnToUser(from: points.last!.stop, eip: 0x20FF8)
        points.append(test.step())
        // Single-stepped, once decoded.
        test.returnToUser(from: points.last!.stop, eip: 0x20FF8, trapFlag: true)
        points.append(test.step())
        test.returnToUser(from: points.last!.stop)
        points.append(test.step())
        test.returnToUser(from: points.last!.stop)
        points.append(test.step())
        // The second page unmapped: the fetch of the instruction's tail faults, before it runs.
        test.returnToUser(from: points.last!.stop, eip: 0x20FF8, trapFlag: false)
        test.map(0x21000, to: 0x25000, [])
        test.machine.flushTLB(page: GuestVirtualAddress(0x21000))
        test.machine.setRegister(.eax, to: 0)
        test.machine.setRegister(.ebx, to: 0)
        points.append(test.step(memory: true))
        // Mapped again, to another frame: the same first half, another tail.
        test.map(0x21000, to: 0x26000, [.present, .user])
        test.machine.flushTLB(page: GuestVirtualAddress(0x21000))
        test.returnToUser(from: points.last!.stop, eip: 0x20FF8)
        points.append(test.step(memory: true))
        return points
    }
    #expect(points[0].cpu.eax == 0x1111_1111 && points[0].cpu.ebx == 0x1122_3344)
    #expect(points[1].cpu.ebx == 0x9922_3344)
    #expect(points[2...4].map { $0.stop.kernelVector } == [1, 1, 0x80])
    let fault = points[5]
    #expect(fault.stop == .enteredKernel(vector: 14, errorCode: 4, handler: GuestVirtualAddress(TestMachine.handlerBase + 14 * 16)))
    #expect(fault.cpu.cr2 == GuestVirtualAddress(0x21000) && fault.cpu.ebx == 0 && fault.cpu.eax == 0x1111_1111)
    #expect(points[6].cpu.ebx == 0x7766_3344 && points[6].stop.kernelVector == 0x80)
}
