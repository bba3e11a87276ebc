/*X:670 Running a block.

`runCached()` is the loop of `X:500` with a block where the single instruction was. Each time round it
asks three questions before it trusts the cache:

1. *Is TF set?* Then this instruction must trap after it, which is `step()`'s business: the plain
   road runs exactly one instruction. A block never has to think about single-stepping, because the
   only instructions that can set TF (`popf`, `iret`) are `.interpret` ones, and those end the block.
2. *Is eip still in the code page the fetch cache holds?* If not, the plain road runs one instruction:
   `step()` refills the fetch page through the TLB and the page walk (`X:510`), raising the #PF an
   unmapped page or a kernel-only page deserves, in exactly the place and with exactly the counts it
   always did. Once the page is known, its frame says where to look in the cache.
3. *Does the table hold a block for this physical address, decoded at the frame's current version?*
   If not, decode one (`X:664`).

Then the block runs, and its inner loop is the whole point: no fetch, no prefix test, no ModR/M,
only the budget, eip and the work. It keeps the interpreter's bookkeeping exactly: one tick per
instruction, `instructionStart` set before each, eip moved past the instruction *before* it executes
(as the fetch would have left it, which is what relative jumps and `call` count from), and a fault
caught by the same `deliverFault(_:)` with the same restart rules. It also stops at once if the
instruction it just ran wrote into the block's own frame, which `X:675` explains.

Two details are there for speed, and both are about the processor running the interpreter rather
than the one being interpreted. If each instruction's eip were computed from the last one's, read
back from memory, every instruction would wait for the store before it: a chain through memory that
costs a few cycles per link, on a loop that wants to spend only a handful in all. So the decoder
records each instruction's offset from the start of its block, and the loop adds it to the block's
eip, kept in a register. The budget gets the same treatment: `left` counts down in a register and
goes back to `remaining` when the block ends, faults, or hands an `.interpret` instruction to
`step()`, which spends from `remaining` itself. Measured on a quiet machine, breaking the two chains
made the mixed workload about 22 % faster (315-321 to 385-390 M instructions a second) and the CRC
loop 3-7 %. */

extension Core {
    /// The run loop with the code cache: the same contract, ticks and faults as `runDecoding()`.
    mutating func runCached() -> StopReason {
        while remaining != 0 {
            let linear = segmentBases[SegmentRegisterName.cs.rawValue] &+ cpu.eip
            // Questions 1 and 2: a single step, or a code page to look up, take the plain road once.
            guard cpu.eflags.rawValue & EFLAGS.trap.rawValue == 0, linear & ~pageOffsetMask == fetchTag else {
                if let stop = stepOnce() { return stop }
                continue
            }
            let physical = fetchFrame | linear & pageOffsetMask
            let frame = Int(physical >> pageShift)
            let slot = codeCache.slot(for: physical)
            // Question 3: a block for this address, decoded from the bytes the frame holds now.
            let version = frameVersions[frame]
            if slot.pointee.tag != physical &+ 1 || slot.pointee.version != version {
                decodeBlock(at: physical, into: slot, version: version)
            }
            var next = codeCache.pool + slot.pointee.start
            let end = next + Int(slot.pointee.count)
            // Inside a block eip only moves forward, so each instruction's address is the block's
            // plus its offset, and the budget can live in a register until the block is done: no
            // instruction waits for the previous one's stores to eip and `remaining`.
            let blockStart = cpu.eip
            var left = remaining
            do throws(Fault) {
                repeat {
                    left &-= 1
                    instructionStart = blockStart &+ UInt32(next.pointee.offset)
                    cpu.eip = instructionStart &+ UInt32(next.pointee.length)
                    if next.pointee.operation == .interpret {
                        // step() spends rep iterations from `remaining`, and rdtsc reads it.
                        remaining = left
                        defer { left = remaining }
                        try step()
                    } else {
                        try execute(next)
                    }
                    next += 1
                } while next != end && left != 0 && frameVersions[frame] == version
                remaining = left
            } catch {
                remaining = left
                if let stop = handle(error) { return stop }
            }
        }
        return .budgetExhausted
    }
}

/*X:672 The executor.

One case per `CachedOperation`, each a line or two built from the interpreter's own helpers, with the
operand width spelled as a constant (`wide`, 32 bits, or `0xFF`) so that, as in `X:545`, every width
test inside them folds away. A memory operand's address is worked out here, at the moment the
instruction runs, from its form and today's registers; `cachedOperand(_:)` turns the r/m field into
the same `Operand` the interpreter's decoder makes, so `aluInto`, `shift` and the groups cannot tell
which road they were called from. `.interpret` hands the instruction to `step()`, which fetches it
afresh from eip (still at its start, since its length is 0). */

extension Core {
    /// The linear address of a cached instruction's memory operand.
    @inline(__always)
    mutating func cachedLinear(_ d: CachedInstruction) -> UInt32 {
        offset(of: d.form) &+ segmentBases[Int(d.segment)]
    }

    /// A cached instruction's r/m operand, as `decodeModRM()` would have made it.
    @inline(__always)
    mutating func cachedOperand(_ d: CachedInstruction) -> Operand {
        guard d.rm == CachedInstruction.memoryOperand else {
            return Operand(isMemory: false, register: Int(d.rm), linear: 0)
        }
        return Operand(isMemory: true, register: 0, linear: cachedLinear(d))
    }

    /// Executes one cached instruction; eip already points past it.
    @_transparent
    mutating func execute(_ d: UnsafePointer<CachedInstruction>) throws(Fault) {
        let wide: UInt32 = 0xFFFF_FFFF
        switch d.pointee.operation {
        case .interpret: try step()  // runCached() sends it there itself, with the budget in place
        case .addRR: aluIntoRegister(Int(d.pointee.rm), 0, cpu.gpr[Int(d.pointee.reg)], wide)
        case .orRR: aluIntoRegister(Int(d.pointee.rm), 1, cpu.gpr[Int(d.pointee.reg)], wide)
        case .adcRR: aluIntoRegister(Int(d.pointee.rm), 2, cpu.gpr[Int(d.pointee.reg)], wide)
        case .sbbRR: aluIntoRegister(Int(d.pointee.rm), 3, cpu.gpr[Int(d.pointee.reg)], wide)
        case .andRR: aluIntoRegister(Int(d.pointee.rm), 4, cpu.gpr[Int(d.pointee.reg)], wide)
        case .subRR: aluIntoRegister(Int(d.pointee.rm), 5, cpu.gpr[Int(d.pointee.reg)], wide)
        case .xorRR: aluIntoRegister(Int(d.pointee.rm), 6, cpu.gpr[Int(d.pointee.reg)], wide)
        case .cmpRR: aluIntoRegister(Int(d.pointee.rm), 7, cpu.gpr[Int(d.pointee.reg)], wide)
        case .addRM: aluIntoRegister(Int(d.pointee.reg), 0, try readMemory(cachedLinear(d.pointee), wide), wide)
        case .orRM: aluIntoRegister(Int(d.pointee.reg), 1, try readMemory(cachedLinear(d.pointee), wide), wide)
        case .adcRM: aluIntoRegister(Int(d.pointee.reg), 2, try readMemory(cachedLinear(d.pointee), wide), wide)
        case .sbbRM: aluIntoRegister(Int(d.pointee.reg), 3, try readMemory(cachedLinear(d.pointee), wide), wide)
        case .andRM: aluIntoRegister(Int(d.pointee.reg), 4, try readMemory(cachedLinear(d.pointee), wide), wide)
        case .subRM: aluIntoRegister(Int(d.pointee.reg), 5, try readMemory(cachedLinear(d.pointee), wide), wide)
        case .xorRM: aluIntoRegister(Int(d.pointee.reg), 6, try readMemory(cachedLinear(d.pointee), wide), wide)
        case .cmpRM: aluIntoRegister(Int(d.pointee.reg), 7, try readMemory(cachedLinear(d.pointee), wide), wide)
        case .addMR: try aluInto(cachedOperand(d.pointee), 0, cpu.gpr[Int(d.pointee.reg)], wide)
        case .orMR: try aluInto(cachedOperand(d.pointee), 1, cpu.gpr[Int(d.pointee.reg)], wide)
        case .adcMR: try aluInto(cachedOperand(d.pointee), 2, cpu.gpr[Int(d.pointee.reg)], wide)
        case .sbbMR: try aluInto(cachedOperand(d.pointee), 3, cpu.gpr[Int(d.pointee.reg)], wide)
        case .andMR: try aluInto(cachedOperand(d.pointee), 4, cpu.gpr[Int(d.pointee.reg)], wide)
        case .subMR: try aluInto(cachedOperand(d.pointee), 5, cpu.gpr[Int(d.pointee.reg)], wide)
        case .xorMR: try aluInto(cachedOperand(d.pointee), 6, cpu.gpr[Int(d.pointee.reg)], wide)
        case .cmpMR: try aluInto(cachedOperand(d.pointee), 7, cpu.gpr[Int(d.pointee.reg)], wide)
        case .addRI: aluIntoRegister(Int(d.pointee.rm), 0, d.pointee.immediate, wide)
        case .orRI: aluIntoRegister(Int(d.pointee.rm), 1, d.pointee.immediate, wide)
        case .adcRI: aluIntoRegister(Int(d.pointee.rm), 2, d.pointee.immediate, wide)
        case .sbbRI: aluIntoRegister(Int(d.pointee.rm), 3, d.pointee.immediate, wide)
        case .andRI: aluIntoRegister(Int(d.pointee.rm), 4, d.pointee.immediate, wide)
        case .subRI: aluIntoRegister(Int(d.pointee.rm), 5, d.pointee.immediate, wide)
        case .xorRI: aluIntoRegister(Int(d.pointee.rm), 6, d.pointee.immediate, wide)
        case .cmpRI: aluIntoRegister(Int(d.pointee.rm), 7, d.pointee.immediate, wide)
        case .addMI: try aluInto(cachedOperand(d.pointee), 0, d.pointee.immediate, wide)
        case .orMI: try aluInto(cachedOperand(d.pointee), 1, d.pointee.immediate, wide)
        case .adcMI: try aluInto(cachedOperand(d.pointee), 2, d.pointee.immediate, wide)
        case .sbbMI: try aluInto(cachedOperand(d.pointee), 3, d.pointee.immediate, wide)
        case .andMI: try aluInto(cachedOperand(d.pointee), 4, d.pointee.immediate, wide)
        case .subMI: try aluInto(cachedOperand(d.pointee), 5, d.pointee.immediate, wide)
        case .xorMI: try aluInto(cachedOperand(d.pointee), 6, d.pointee.immediate, wide)
        case .cmpMI: try aluInto(cachedOperand(d.pointee), 7, d.pointee.immediate, wide)
        case .aluByteIntoOperand: try aluInto(cachedOperand(d.pointee), operationNumber: Int(d.pointee.aux), readRegister(Int(d.pointee.reg), 0xFF), 0xFF)
        case .aluByteIntoRegister:
            let source = try readOperand(cachedOperand(d.pointee), 0xFF)
            try aluInto(Operand(isMemory: false, register: Int(d.pointee.reg), linear: 0), operationNumber: Int(d.pointee.aux), source, 0xFF)
        case .aluByteImmediate: try aluInto(cachedOperand(d.pointee), operationNumber: Int(d.pointee.aux), d.pointee.immediate, 0xFF)
        /*X:673 Moves, the stack, the groups and the jumps.

        The rest of the executor reads like a summary of the interpreter: a `mov` is one assignment,
        `movzx` a read at the narrow width, a push or a pop the interpreter's own `push` and `pop` with
        their fault-safe order (`X:514`), and the group opcodes go to the very functions `step()` uses,
        with the operation from the reg field. The jumps keep one subtlety of `X:549`: a displacement
        counts from the end of the instruction, and eip already is the end, so a taken branch is one
        addition. Nothing here changes `operandMask` or the prefixes: a 16-bit instruction never gets
        this far, it is `.interpret`. */
        case .testRR: setFlags(.logic, cpu.gpr[Int(d.pointee.rm)] & cpu.gpr[Int(d.pointee.reg)], 0, 0, wide)
        case .testMR: setFlags(.logic, try readMemory(cachedLinear(d.pointee), wide) & cpu.gpr[Int(d.pointee.reg)], 0, 0, wide)
        case .testRI: setFlags(.logic, cpu.gpr[Int(d.pointee.rm)] & d.pointee.immediate, 0, 0, wide)
        case .testMI: setFlags(.logic, try readMemory(cachedLinear(d.pointee), wide) & d.pointee.immediate, 0, 0, wide)
        case .testByte: setFlags(.logic, try readOperand(cachedOperand(d.pointee), 0xFF) & readRegister(Int(d.pointee.reg), 0xFF), 0, 0, 0xFF)
        case .testByteImmediate: setFlags(.logic, try readOperand(cachedOperand(d.pointee), 0xFF) & d.pointee.immediate, 0, 0, 0xFF)
        case .movRR: cpu.gpr[Int(d.pointee.rm)] = cpu.gpr[Int(d.pointee.reg)]
        case .movRM: cpu.gpr[Int(d.pointee.reg)] = try readMemory(cachedLinear(d.pointee), wide)
        case .movMR: try writeMemory(cachedLinear(d.pointee), cpu.gpr[Int(d.pointee.reg)], wide)
        case .movRI: cpu.gpr[Int(d.pointee.rm)] = d.pointee.immediate
        case .movMI: try writeMemory(cachedLinear(d.pointee), d.pointee.immediate, wide)
        case .movByteToOperand: try writeOperand(cachedOperand(d.pointee), readRegister(Int(d.pointee.reg), 0xFF), 0xFF)
        case .movByteToRegister: writeRegister(Int(d.pointee.reg), try readOperand(cachedOperand(d.pointee), 0xFF), 0xFF)
        case .movByteImmediate: try writeOperand(cachedOperand(d.pointee), d.pointee.immediate, 0xFF)
        case .movzxByte: cpu.gpr[Int(d.pointee.reg)] = try readOperand(cachedOperand(d.pointee), 0xFF)
        case .movzxWord: cpu.gpr[Int(d.pointee.reg)] = try readOperand(cachedOperand(d.pointee), 0xFFFF)
        case .movsxByte: cpu.gpr[Int(d.pointee.reg)] = signExtend(try readOperand(cachedOperand(d.pointee), 0xFF), 0xFF)
        case .movsxWord: cpu.gpr[Int(d.pointee.reg)] = signExtend(try readOperand(cachedOperand(d.pointee), 0xFFFF), 0xFFFF)
        case .lea: cpu.gpr[Int(d.pointee.reg)] = offset(of: d.pointee.form)  // the offset alone: no segment, no access
        case .incR: cpu.gpr[Int(d.pointee.rm)] = incDec(cpu.gpr[Int(d.pointee.rm)], decrement: false, wide)
        case .decR: cpu.gpr[Int(d.pointee.rm)] = incDec(cpu.gpr[Int(d.pointee.rm)], decrement: true, wide)
        case .pushR: try push(cpu.gpr[Int(d.pointee.rm)], wide)
        case .popR: cpu.gpr[Int(d.pointee.rm)] = try pop(wide)
        case .pushI: try push(d.pointee.immediate, wide)
        case .cdq: cpu.edx = cpu.eax & 0x8000_0000 != 0 ? 0xFFFF_FFFF : 0
        case .nop: break
        case .shiftImmediate: try shift(cachedOperand(d.pointee), operation: Int(d.pointee.reg), count: d.pointee.immediate, wide)
        case .shiftCL: try shift(cachedOperand(d.pointee), operation: Int(d.pointee.reg), count: cpu.ecx & 0xFF, wide)
        case .shiftByteImmediate: try shift(cachedOperand(d.pointee), operation: Int(d.pointee.reg), count: d.pointee.immediate, 0xFF)
        case .shiftByteCL: try shift(cachedOperand(d.pointee), operation: Int(d.pointee.reg), count: cpu.ecx & 0xFF, 0xFF)
        case .group3: try group3(Int(d.pointee.reg), cachedOperand(d.pointee), wide, immediate: d.pointee.immediate)
        case .group3Byte: try group3(Int(d.pointee.reg), cachedOperand(d.pointee), 0xFF, immediate: d.pointee.immediate)
        case .group5: try group5(Int(d.pointee.reg), cachedOperand(d.pointee), wide)
        case .incDecByte: try group4(Int(d.pointee.reg), cachedOperand(d.pointee))
        case .imul: cpu.gpr[Int(d.pointee.reg)] = multiplySigned(cpu.gpr[Int(d.pointee.reg)], try readOperand(cachedOperand(d.pointee), wide), wide)
        case .imulImmediate: cpu.gpr[Int(d.pointee.reg)] = multiplySigned(try readOperand(cachedOperand(d.pointee), wide), d.pointee.immediate, wide)
        case .setcc: try writeOperand(cachedOperand(d.pointee), condition(d.pointee.aux) ? 1 : 0, 0xFF)
        case .cmovcc:
            // The source is read whatever the condition, as on the hardware (X:585).
            let value = try readOperand(cachedOperand(d.pointee), wide)
            if condition(d.pointee.aux) { cpu.gpr[Int(d.pointee.reg)] = value }
        case .jo: if condition(0x0) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jno: if condition(0x1) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jb: if condition(0x2) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jae: if condition(0x3) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .je: if condition(0x4) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jne: if condition(0x5) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jbe: if condition(0x6) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .ja: if condition(0x7) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .js: if condition(0x8) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jns: if condition(0x9) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jp: if condition(0xA) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jnp: if condition(0xB) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jl: if condition(0xC) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jge: if condition(0xD) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jle: if condition(0xE) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jg: if condition(0xF) { jump(to: cpu.eip &+ d.pointee.form.displacement) }
        case .jmp: jump(to: cpu.eip &+ d.pointee.form.displacement)
        case .call:
            try push(cpu.eip, wide)
            jump(to: cpu.eip &+ d.pointee.form.displacement)
        case .ret: jump(to: try pop(wide))
        case .retRelease:
            let target = try pop(wide)
            cpu.esp &+= d.pointee.immediate
            jump(to: target)
        case .leave: try leave(wide)
        }
    }
}
/*:*/
