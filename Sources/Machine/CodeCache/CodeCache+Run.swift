/*X:666 Running a block.

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
instruction it just ran wrote into the block's own frame, which `X:668` explains. */

extension Core {
    /// The run loop with the code cache: the same contract, ticks and faults as `runDecoding()`.
    mutating func runCached() -> StopReason {
        while remaining != 0 {
            let linear = segmentBases[SegmentRegisterName.cs.rawValue] &+ cpu.eip
            // Questions 1 and 2: a single step, or a code page to look up, take the plain road once.
            guard !cpu.eflags.contains(.trap), linear & ~pageOffsetMask == fetchTag else {
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
            do throws(Fault) {
                repeat {
                    remaining &-= 1
                    instructionStart = cpu.eip
                    let instruction = next.pointee
                    cpu.eip = instructionStart &+ UInt32(instruction.length)
                    try execute(instruction)
                    next += 1
                } while next != end && remaining != 0 && frameVersions[frame] == version
            } catch {
                if let stop = handle(error) { return stop }
            }
        }
        return .budgetExhausted
    }
}

/*X:667 The executor.

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
    @inline(__always)
    mutating func execute(_ d: CachedInstruction) throws(Fault) {
        let wide: UInt32 = 0xFFFF_FFFF
        switch d.operation {
        case .interpret: try step()
        case .addRR: aluIntoRegister(Int(d.rm), 0, cpu.gpr[Int(d.reg)], wide)
        case .orRR: aluIntoRegister(Int(d.rm), 1, cpu.gpr[Int(d.reg)], wide)
        case .adcRR: aluIntoRegister(Int(d.rm), 2, cpu.gpr[Int(d.reg)], wide)
        case .sbbRR: aluIntoRegister(Int(d.rm), 3, cpu.gpr[Int(d.reg)], wide)
        case .andRR: aluIntoRegister(Int(d.rm), 4, cpu.gpr[Int(d.reg)], wide)
        case .subRR: aluIntoRegister(Int(d.rm), 5, cpu.gpr[Int(d.reg)], wide)
        case .xorRR: aluIntoRegister(Int(d.rm), 6, cpu.gpr[Int(d.reg)], wide)
        case .cmpRR: aluIntoRegister(Int(d.rm), 7, cpu.gpr[Int(d.reg)], wide)
        case .addRM: aluIntoRegister(Int(d.reg), 0, try readMemory(cachedLinear(d), wide), wide)
        case .orRM: aluIntoRegister(Int(d.reg), 1, try readMemory(cachedLinear(d), wide), wide)
        case .adcRM: aluIntoRegister(Int(d.reg), 2, try readMemory(cachedLinear(d), wide), wide)
        case .sbbRM: aluIntoRegister(Int(d.reg), 3, try readMemory(cachedLinear(d), wide), wide)
        case .andRM: aluIntoRegister(Int(d.reg), 4, try readMemory(cachedLinear(d), wide), wide)
        case .subRM: aluIntoRegister(Int(d.reg), 5, try readMemory(cachedLinear(d), wide), wide)
        case .xorRM: aluIntoRegister(Int(d.reg), 6, try readMemory(cachedLinear(d), wide), wide)
        case .cmpRM: aluIntoRegister(Int(d.reg), 7, try readMemory(cachedLinear(d), wide), wide)
        case .addMR: try aluInto(cachedOperand(d), 0, cpu.gpr[Int(d.reg)], wide)
        case .orMR: try aluInto(cachedOperand(d), 1, cpu.gpr[Int(d.reg)], wide)
        case .adcMR: try aluInto(cachedOperand(d), 2, cpu.gpr[Int(d.reg)], wide)
        case .sbbMR: try aluInto(cachedOperand(d), 3, cpu.gpr[Int(d.reg)], wide)
        case .andMR: try aluInto(cachedOperand(d), 4, cpu.gpr[Int(d.reg)], wide)
        case .subMR: try aluInto(cachedOperand(d), 5, cpu.gpr[Int(d.reg)], wide)
        case .xorMR: try aluInto(cachedOperand(d), 6, cpu.gpr[Int(d.reg)], wide)
        case .cmpMR: try aluInto(cachedOperand(d), 7, cpu.gpr[Int(d.reg)], wide)
        case .addRI: aluIntoRegister(Int(d.rm), 0, d.immediate, wide)
        case .orRI: aluIntoRegister(Int(d.rm), 1, d.immediate, wide)
        case .adcRI: aluIntoRegister(Int(d.rm), 2, d.immediate, wide)
        case .sbbRI: aluIntoRegister(Int(d.rm), 3, d.immediate, wide)
        case .andRI: aluIntoRegister(Int(d.rm), 4, d.immediate, wide)
        case .subRI: aluIntoRegister(Int(d.rm), 5, d.immediate, wide)
        case .xorRI: aluIntoRegister(Int(d.rm), 6, d.immediate, wide)
        case .cmpRI: aluIntoRegister(Int(d.rm), 7, d.immediate, wide)
        case .addMI: try aluInto(cachedOperand(d), 0, d.immediate, wide)
        case .orMI: try aluInto(cachedOperand(d), 1, d.immediate, wide)
        case .adcMI: try aluInto(cachedOperand(d), 2, d.immediate, wide)
        case .sbbMI: try aluInto(cachedOperand(d), 3, d.immediate, wide)
        case .andMI: try aluInto(cachedOperand(d), 4, d.immediate, wide)
        case .subMI: try aluInto(cachedOperand(d), 5, d.immediate, wide)
        case .xorMI: try aluInto(cachedOperand(d), 6, d.immediate, wide)
        case .cmpMI: try aluInto(cachedOperand(d), 7, d.immediate, wide)
        case .aluByteIntoOperand: try aluInto(cachedOperand(d), operationNumber: Int(d.aux), readRegister(Int(d.reg), 0xFF), 0xFF)
        case .aluByteIntoRegister:
            let source = try readOperand(cachedOperand(d), 0xFF)
            try aluInto(Operand(isMemory: false, register: Int(d.reg), linear: 0), operationNumber: Int(d.aux), source, 0xFF)
        case .aluByteImmediate: try aluInto(cachedOperand(d), operationNumber: Int(d.aux), d.immediate, 0xFF)
        case .testRR: setFlags(.logic, cpu.gpr[Int(d.rm)] & cpu.gpr[Int(d.reg)], 0, 0, wide)
        case .testMR: setFlags(.logic, try readMemory(cachedLinear(d), wide) & cpu.gpr[Int(d.reg)], 0, 0, wide)
        case .testRI: setFlags(.logic, cpu.gpr[Int(d.rm)] & d.immediate, 0, 0, wide)
        case .testMI: setFlags(.logic, try readMemory(cachedLinear(d), wide) & d.immediate, 0, 0, wide)
        case .testByte: setFlags(.logic, try readOperand(cachedOperand(d), 0xFF) & readRegister(Int(d.reg), 0xFF), 0, 0, 0xFF)
        case .testByteImmediate: setFlags(.logic, try readOperand(cachedOperand(d), 0xFF) & d.immediate, 0, 0, 0xFF)
        case .movRR: cpu.gpr[Int(d.rm)] = cpu.gpr[Int(d.reg)]
        case .movRM: cpu.gpr[Int(d.reg)] = try readMemory(cachedLinear(d), wide)
        case .movMR: try writeMemory(cachedLinear(d), cpu.gpr[Int(d.reg)], wide)
        case .movRI: cpu.gpr[Int(d.rm)] = d.immediate
        case .movMI: try writeMemory(cachedLinear(d), d.immediate, wide)
        case .movByteToOperand: try writeOperand(cachedOperand(d), readRegister(Int(d.reg), 0xFF), 0xFF)
        case .movByteToRegister: writeRegister(Int(d.reg), try readOperand(cachedOperand(d), 0xFF), 0xFF)
        case .movByteImmediate: try writeOperand(cachedOperand(d), d.immediate, 0xFF)
        case .movzxByte: cpu.gpr[Int(d.reg)] = try readOperand(cachedOperand(d), 0xFF)
        case .movzxWord: cpu.gpr[Int(d.reg)] = try readOperand(cachedOperand(d), 0xFFFF)
        case .movsxByte: cpu.gpr[Int(d.reg)] = signExtend(try readOperand(cachedOperand(d), 0xFF), 0xFF)
        case .movsxWord: cpu.gpr[Int(d.reg)] = signExtend(try readOperand(cachedOperand(d), 0xFFFF), 0xFFFF)
        case .lea: cpu.gpr[Int(d.reg)] = offset(of: d.form)  // the offset alone: no segment, no access
        case .incR: cpu.gpr[Int(d.rm)] = incDec(cpu.gpr[Int(d.rm)], decrement: false, wide)
        case .decR: cpu.gpr[Int(d.rm)] = incDec(cpu.gpr[Int(d.rm)], decrement: true, wide)
        case .pushR: try push(cpu.gpr[Int(d.rm)], wide)
        case .popR: cpu.gpr[Int(d.rm)] = try pop(wide)
        case .pushI: try push(d.immediate, wide)
        case .cdq: cpu.edx = cpu.eax & 0x8000_0000 != 0 ? 0xFFFF_FFFF : 0
        case .nop: break
        case .shiftImmediate: try shift(cachedOperand(d), operation: Int(d.reg), count: d.immediate, wide)
        case .shiftCL: try shift(cachedOperand(d), operation: Int(d.reg), count: cpu.ecx & 0xFF, wide)
        case .shiftByteImmediate: try shift(cachedOperand(d), operation: Int(d.reg), count: d.immediate, 0xFF)
        case .shiftByteCL: try shift(cachedOperand(d), operation: Int(d.reg), count: cpu.ecx & 0xFF, 0xFF)
        case .group3: try group3(Int(d.reg), cachedOperand(d), wide, immediate: d.immediate)
        case .group3Byte: try group3(Int(d.reg), cachedOperand(d), 0xFF, immediate: d.immediate)
        case .group5: try group5(Int(d.reg), cachedOperand(d), wide)
        case .incDecByte: try group4(Int(d.reg), cachedOperand(d))
        case .imul: cpu.gpr[Int(d.reg)] = multiplySigned(cpu.gpr[Int(d.reg)], try readOperand(cachedOperand(d), wide), wide)
        case .imulImmediate: cpu.gpr[Int(d.reg)] = multiplySigned(try readOperand(cachedOperand(d), wide), d.immediate, wide)
        case .setcc: try writeOperand(cachedOperand(d), condition(d.aux) ? 1 : 0, 0xFF)
        case .cmovcc:
            // The source is read whatever the condition, as on the hardware (X:585).
            let value = try readOperand(cachedOperand(d), wide)
            if condition(d.aux) { cpu.gpr[Int(d.reg)] = value }
        case .jo: if condition(0x0) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jno: if condition(0x1) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jb: if condition(0x2) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jae: if condition(0x3) { jump(to: cpu.eip &+ d.form.displacement) }
        case .je: if condition(0x4) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jne: if condition(0x5) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jbe: if condition(0x6) { jump(to: cpu.eip &+ d.form.displacement) }
        case .ja: if condition(0x7) { jump(to: cpu.eip &+ d.form.displacement) }
        case .js: if condition(0x8) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jns: if condition(0x9) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jp: if condition(0xA) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jnp: if condition(0xB) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jl: if condition(0xC) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jge: if condition(0xD) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jle: if condition(0xE) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jg: if condition(0xF) { jump(to: cpu.eip &+ d.form.displacement) }
        case .jmp: jump(to: cpu.eip &+ d.form.displacement)
        case .call:
            try push(cpu.eip, wide)
            jump(to: cpu.eip &+ d.form.displacement)
        case .ret: jump(to: try pop(wide))
        case .retRelease:
            let target = try pop(wide)
            cpu.esp &+= d.immediate
            jump(to: target)
        case .leave: try leave(wide)
        }
    }
}
/*:*/
