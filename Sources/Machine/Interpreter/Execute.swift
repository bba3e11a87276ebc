/*X:540 One instruction: prefixes, then one big switch.

`step()` executes exactly one instruction. It reads any prefixes, then switches on the opcode byte. The
switch is the classic shape of an interpreter and Swift compiles it to a jump table, so dispatch costs
one indirect branch. The one-byte opcode map of the i386 is remarkably regular, and the code follows its
rows:

* 0x00-0x3F: the eight ALU operations (add, or, adc, sbb, and, sub, xor, cmp) in six operand forms each,
  interleaved with segment pushes and prefixes;
* 0x40-0x5F: inc, dec, push and pop of each register, the register number in the low three bits;
* 0x70-0x7F: short conditional jumps, the condition in the low four bits (`X:530`);
* 0x80-0x8F: ALU with an immediate, test, xchg, mov, lea, pop to memory;
* 0x90-0x9F: xchg with eax, conversions, flag moves;
* 0xA0-0xAF: moves to fixed addresses and the string instructions (`X:580`);
* 0xB0-0xBF: move an immediate into a register;
* 0xC0-0xDF: shifts and rotates, returns, `enter`/`leave`, software interrupts, `iret`, FPU escapes;
* 0xE0-0xFF: loops, I/O, calls and jumps, and the "group" opcodes whose ModR/M reg field picks the
  operation (`not`, `neg`, `mul`, `div`, `inc`, `call` indirect, ...).

Instructions the i386 has but this machine leaves out raise #UD, as an unknown opcode would: far
calls, jumps and returns (`lcall`, `ljmp`, `lret`), `bound`, `arpl`, `les`/`lds`, and 16-bit
addressing. gcc emits none of them for 32-bit code, and a program
that uses them learns so at once rather than running on with wrong results.

Two rules keep faults exact. An instruction reads and checks everything that can fault *before* it
changes any register, so a faulting instruction can be restarted from the start, as the hardware
promises. And an instruction that updates memory in place (`addl $1, (%eax)`) checks *write* permission
when it reads the old value, as the hardware does, so it faults (with the write bit in the error code)
before it has computed anything, and the flags pushed with the fault are the flags from before it. :*/

/*X:542 Prefixes: the bytes that come before.

A *prefix* is a byte that changes the instruction after it without being an instruction itself. The
i386 has four kinds, and an instruction may carry one of each, in any order:

```
  group           bytes                      effect here
  lock/repeat     F0, F2 (repne), F3 (rep)   F0 ignored (one CPU); F2/F3 drive X:580
  segment         26 es, 2E cs, 36 ss,       the memory operand's segment, instead of
                  3E ds, 64 fs, 65 gs        ds or ss (X:510)
  operand size    66                         32-bit operations become 16-bit
  address size    67                         16-bit addressing: #UD on this machine
```

Compiled 32-bit code uses them sparingly: `rep movsl` in `memcpy`, `%gs:0x14` for the stack protector's
canary, `66` for the odd `short` arithmetic. So `step()` spends as little as possible on the common case.
Its three bit tests recognise every prefix byte (and nothing else): `& 0xE7 == 0x26` matches exactly
the four old segment prefixes 26, 2E, 36 and 3E, which differ only in bits 3 and 4; `& 0xFC == 0x64`
matches 64-67; and the last test matches F0, F2 and F3 but not F1, which is `int1`.

When a prefix is there, `decodePrefixes()` records what it means in three fields of the core
(`segmentOverride`, `operandMask` and `repeatPrefix`) and returns the real opcode. The fields must be
reset before the next instruction, whether this one finished or faulted, so `resetPrefixes()` runs on
both roads: here after a normal finish, and in the run loop (`X:500`) after a fault. The hardware
refuses an instruction longer than fifteen bytes with a #GP, and so does the loop, which is also what
stops a page full of 0x66 bytes from keeping the decoder busy forever. :*/

/*X:545 Why the opcode table is spelled out.

A reader will notice that the switch below lists `case 0x00`, `case 0x01`, ... `case 0x3D` one by one,
when a single `case 0x00...0x3D` and a little arithmetic on the opcode would do. The long form is a
measured decision. The interpreter's first version used the short form and ran a CRC kernel at about
40 million instructions per second; this one runs it at about 120 million (CPU time, release build, on
the project's 2.45 GHz EPYC machines: some twenty cycles per guest instruction).

Three things made the difference, and each is visible in the code:

1. **Constants the compiler can see.** When `case 0x01` calls `aluToOperand(0, mask)` with a literal
   operation number, and `execute32` calls `execute(_:_:)` with a literal 32-bit mask, the optimiser
   folds away every `switch operation` and every "is this a byte, a word or a doubleword?" test in the
   helpers it inlines. What is left for `add %ecx,%eax` is roughly: decode one byte, add, store five
   words of lazy-flag state.
2. **Forcing the inlining.** Swift treats `@inline(__always)` as a strong hint, and in a function as
   large as this switch the optimiser sometimes declined it, leaving the helpers as calls with the
   constants lost. The hottest helpers are therefore marked `@_transparent`, an attribute the standard
   library uses for the same purpose, which inlines them in every case.
3. **No copies of the machine.** An early version spent 15 % of its time in `memcpy`, copying the whole
   400-byte `Core` whenever a non-`mutating` helper was called from inside a `mutating` one. Marking the
   helpers `mutating` (even the ones that only read) lets Swift pass the state by reference.

Prefixes, in contrast, are rare in compiled code, so an instruction with a 0x66 prefix takes a slower
road through `execute16`, which is the same switch with the mask left as a variable.

A word on that *mask*, since every helper below takes one. Rather than an enum of widths, the
interpreter passes the operand width as the bit mask of a value of that width, because the mask is what
the arithmetic needs anyway:

```
  width       mask           where it comes from
  byte        0xFF           the opcode's low bit is 0 (add %cl,%al is 00, add %ecx,%eax is 01)
  word        0xFFFF         a 0x66 prefix, on an opcode whose low bit is 1
  doubleword  0xFFFF_FFFF    no prefix: the normal case in 32-bit code
```

Results are computed in 32 bits and then masked, the sign bit of any width is `mask ^ (mask >> 1)`,
and the byte count is `mask.nonzeroBitCount / 8`. Reading the cases with this in mind, `0x00` and
`0x01` differ only in passing `0xFF` or `mask`, which is all that separates `addb` from `addl`. */

extension Core {
    /// Executes one instruction.
    @inline(__always)
    mutating func step() throws(Fault) {
        let opcode = try fetch8()
        // Prefixes are rare; test for them with a few predictable comparisons rather than a switch,
        // which would cost an indirect jump on every instruction.
        // 26 2E 36 3E (segments), 64-67 (fs, gs, sizes), F0 F2 F3 (lock, repeats).
        if opcode & 0xE7 == 0x26 || opcode & 0xFC == 0x64 || (opcode & 0xFC == 0xF0 && opcode != 0xF1) {
            let next = try decodePrefixes(opcode)
            if operandMask == 0xFFFF { try execute16(next) } else { try execute32(next) }
            // A fault skips this line; the run loop resets the prefixes on that path itself.
            resetPrefixes()
        } else {
            try execute32(opcode)
        }
    }

    /// Forgets the prefixes of the instruction just executed (or abandoned by a fault).
    @inline(__always)
    mutating func resetPrefixes() {
        segmentOverride = -1
        operandMask = 0xFFFF_FFFF
        repeatPrefix = 0
    }

    /// The 32-bit operand-size instance of `execute(_:_:)`: the mask is a constant, so every width
    /// test in the inlined helpers folds away.
    @inline(__always)
    mutating func execute32(_ opcode: UInt8) throws(Fault) { try execute(opcode, 0xFFFF_FFFF) }

    /// The 16-bit operand-size instance, after a 0x66 prefix.
    @inline(never)
    mutating func execute16(_ opcode: UInt8) throws(Fault) { try execute(opcode, 0xFFFF) }

    /// Consumes prefix bytes starting with `first`; returns the opcode that follows them.
    mutating func decodePrefixes(_ first: UInt8) throws(Fault) -> UInt8 {
        var byte = first
        for _ in 0..<14 {
            switch byte {
            case 0x26: segmentOverride = SegmentRegisterName.es.rawValue
            case 0x2E: segmentOverride = SegmentRegisterName.cs.rawValue
            case 0x36: segmentOverride = SegmentRegisterName.ss.rawValue
            case 0x3E: segmentOverride = SegmentRegisterName.ds.rawValue
            case 0x64: segmentOverride = SegmentRegisterName.fs.rawValue
            case 0x65: segmentOverride = SegmentRegisterName.gs.rawValue
            case 0x66: operandMask = 0xFFFF
            case 0x67: throw .invalidOpcode  // 16-bit addressing: not supported (X:510)
            case 0xF0: break  // lock: one CPU, nothing to lock against
            case 0xF2, 0xF3: repeatPrefix = byte
            default: return byte
            }
            byte = try fetch8()
        }
        throw .generalProtection(0)  // longer than 15 bytes
    }

    /*X:546 The ALU rows and the 8086's leftovers.

    The switch opens with the eight ALU rows of the opcode map: add, or, adc, sbb, and, sub, xor and
    cmp, in that order, each in six forms (byte or full width, into r/m, into a register, or from an
    immediate into the accumulator). The row is the first argument of each helper, so `0x28` to `0x2D`
    all pass 5, sub. The two spare slots at the end of each row hold instructions from an older age:
    pushes and pops of segment registers and the BCD adjustments. One of them is not an instruction at
    all. `0x0F` is the escape into a second map of 256 opcodes (X:585), which is how later processors found
    room for everything Intel added. */
    /// Executes the instruction whose (first) opcode byte is `opcode`, prefixes already consumed,
    /// at operand width `mask` (0xFFFF or 0xFFFF_FFFF).
    @inline(__always)
    mutating func execute(_ opcode: UInt8, _ mask: UInt32) throws(Fault) {
        switch opcode {
        // Each ALU row spelled out, so the operation and width are constants in the inlined helper.
        case 0x00: try aluToOperand(0, 0xFF)
        case 0x01: try aluToOperand(0, mask)
        case 0x02: try aluToRegister(0, 0xFF)
        case 0x03: try aluToRegister(0, mask)
        case 0x04: try aluToAccumulator(0, 0xFF)
        case 0x05: try aluToAccumulator(0, mask)
        case 0x08: try aluToOperand(1, 0xFF)
        case 0x09: try aluToOperand(1, mask)
        case 0x0A: try aluToRegister(1, 0xFF)
        case 0x0B: try aluToRegister(1, mask)
        case 0x0C: try aluToAccumulator(1, 0xFF)
        case 0x0D: try aluToAccumulator(1, mask)
        case 0x10: try aluToOperand(2, 0xFF)
        case 0x11: try aluToOperand(2, mask)
        case 0x12: try aluToRegister(2, 0xFF)
        case 0x13: try aluToRegister(2, mask)
        case 0x14: try aluToAccumulator(2, 0xFF)
        case 0x15: try aluToAccumulator(2, mask)
        case 0x18: try aluToOperand(3, 0xFF)
        case 0x19: try aluToOperand(3, mask)
        case 0x1A: try aluToRegister(3, 0xFF)
        case 0x1B: try aluToRegister(3, mask)
        case 0x1C: try aluToAccumulator(3, 0xFF)
        case 0x1D: try aluToAccumulator(3, mask)
        case 0x20: try aluToOperand(4, 0xFF)
        case 0x21: try aluToOperand(4, mask)
        case 0x22: try aluToRegister(4, 0xFF)
        case 0x23: try aluToRegister(4, mask)
        case 0x24: try aluToAccumulator(4, 0xFF)
        case 0x25: try aluToAccumulator(4, mask)
        case 0x28: try aluToOperand(5, 0xFF)
        case 0x29: try aluToOperand(5, mask)
        case 0x2A: try aluToRegister(5, 0xFF)
        case 0x2B: try aluToRegister(5, mask)
        case 0x2C: try aluToAccumulator(5, 0xFF)
        case 0x2D: try aluToAccumulator(5, mask)
        case 0x30: try aluToOperand(6, 0xFF)
        case 0x31: try aluToOperand(6, mask)
        case 0x32: try aluToRegister(6, 0xFF)
        case 0x33: try aluToRegister(6, mask)
        case 0x34: try aluToAccumulator(6, 0xFF)
        case 0x35: try aluToAccumulator(6, mask)
        case 0x38: try aluToOperand(7, 0xFF)
        case 0x39: try aluToOperand(7, mask)
        case 0x3A: try aluToRegister(7, 0xFF)
        case 0x3B: try aluToRegister(7, mask)
        case 0x3C: try aluToAccumulator(7, 0xFF)
        case 0x3D: try aluToAccumulator(7, mask)
        // Segment registers travel on the stack as selectors; popping one reloads its descriptor (X:230).
        case 0x06: try push(UInt32(cpu.es.selector.rawValue), mask)
        case 0x07: try popSegment(.es)
        case 0x0E: try push(UInt32(cpu.cs.selector.rawValue), mask)
        case 0x0F: try executeTwoByte(try fetch8(), mask)  // the escape to the second map, X:585
        case 0x16: try push(UInt32(cpu.ss.selector.rawValue), mask)
        case 0x17: try popSegment(.ss)
        case 0x1E: try push(UInt32(cpu.ds.selector.rawValue), mask)
        case 0x1F: try popSegment(.ds)
        // The BCD adjustments (X:572), squeezed into the spare slots of the ALU rows and of 0xD4-0xD5.
        case 0x27, 0x2F: decimalAdjust(subtract: opcode == 0x2F)
        case 0x37, 0x3F: asciiAdjust(subtract: opcode == 0x3F)
        case 0xD4: try asciiAdjustAfterMultiply(base: try fetch8())
        case 0xD5: asciiAdjustBeforeDivide(base: try fetch8())
        // One-byte inc, dec, push and pop: the register number is the opcode's low three bits.
        case 0x40...0x47:
            let r = Int(opcode & 7)
            writeRegister(r, incDec(readRegister(r, mask), decrement: false, mask), mask)
        case 0x48...0x4F:
            let r = Int(opcode & 7)
            writeRegister(r, incDec(readRegister(r, mask), decrement: true, mask), mask)
        case 0x50...0x57: try push(readRegister(Int(opcode & 7), mask), mask)
        case 0x58...0x5F:
            // pop %esp ends with esp = the popped value: the increment happens first, the write last.
            let value = try pop(mask)
            writeRegister(Int(opcode & 7), value, mask)
        // pusha and popa: all eight registers at once (X:575).
        case 0x60: try pushAll(mask)
        case 0x61: try popAll(mask)
        // push $imm: a full immediate here, a sign-extended byte at 0x6A.
        case 0x68: try push(try fetchImmediate(mask), mask)
        case 0x69, 0x6B:
            // imul $imm, r/m, reg: the three-operand form compilers use for constant multiplies.
            let (reg, rm) = try decodeModRM()
            let source = try readOperand(rm, mask)
            let factor = opcode == 0x6B ? try fetchSigned8(mask) : try fetchImmediate(mask)
            writeRegister(reg, multiplySigned(source, factor, mask), mask)
        case 0x6A: try push(try fetchSigned8(mask), mask)
        // in, out, ins and outs: port I/O belongs to the kernel (X:590).
        case 0x6C...0x6F, 0xE4...0xE7, 0xEC...0xEF: throw ioFault()
        /*X:547 Jumps and moves.

        The 0x70 row is sixteen short conditional jumps, one per condition code in the opcode's low four
        bits; writing each case out hands `jumpShort(if:)` a constant, so the condition test folds to one
        flag check. Then comes group 1, where the ALU operation sits in the ModR/M byte's reg field instead
        of the opcode, and the `mov` family that compiled code executes more than anything else. Read
        `0x8A, 0x8B` as the shape of a typical instruction here: decode the ModR/M byte, read the operand,
        write the register. Three lines, and the width is one more parameter. */
        // Short conditional jumps: one case per condition, so `condition(_:)` sees a constant.
        case 0x70: try jumpShort(if: 0x0)
        case 0x71: try jumpShort(if: 0x1)
        case 0x72: try jumpShort(if: 0x2)
        case 0x73: try jumpShort(if: 0x3)
        case 0x74: try jumpShort(if: 0x4)
        case 0x75: try jumpShort(if: 0x5)
        case 0x76: try jumpShort(if: 0x6)
        case 0x77: try jumpShort(if: 0x7)
        case 0x78: try jumpShort(if: 0x8)
        case 0x79: try jumpShort(if: 0x9)
        case 0x7A: try jumpShort(if: 0xA)
        case 0x7B: try jumpShort(if: 0xB)
        case 0x7C: try jumpShort(if: 0xC)
        case 0x7D: try jumpShort(if: 0xD)
        case 0x7E: try jumpShort(if: 0xE)
        case 0x7F: try jumpShort(if: 0xF)
        // Group 1: the ALU operation is in the ModR/M reg field (X:550); 0x82 is an old alias of 0x80.
        case 0x80, 0x82: try aluImmediate(0xFF, signExtended: false)
        case 0x81: try aluImmediate(mask, signExtended: false)
        case 0x83: try aluImmediate(mask, signExtended: true)
        case 0x84, 0x85:
            // test: an and that keeps only the flags.
            let width = opcode == 0x84 ? 0xFF : mask
            let (reg, rm) = try decodeModRM()
            let value = try readOperand(rm, width) & readRegister(reg, width)
            setFlags(.logic, value, 0, 0, width)
        case 0x86, 0x87:
            // xchg with memory: both values are read before either is written.
            let width = opcode == 0x86 ? 0xFF : mask
            let (reg, rm) = try decodeModRM()
            let memoryValue = try readOperand(rm, width, forUpdate: true)
            try writeOperand(rm, readRegister(reg, width), width)
            writeRegister(reg, memoryValue, width)
        case 0x88, 0x89:
            // mov register into r/m; 0x8A and 0x8B are the other direction.
            let width = opcode == 0x88 ? 0xFF : mask
            let (reg, rm) = try decodeModRM()
            try writeOperand(rm, readRegister(reg, width), width)
        case 0x8A, 0x8B:
            // mov r/m into a register: the most common instruction in compiled code.
            let width = opcode == 0x8A ? 0xFF : mask
            let (reg, rm) = try decodeModRM()
            writeRegister(reg, try readOperand(rm, width), width)
        case 0x8C:
            // mov %sreg, r/m: a memory destination always takes 16 bits, a register the operand size.
            let (reg, rm) = try decodeModRM()
            guard let name = SegmentRegisterName(rawValue: reg) else { throw .invalidOpcode }
            let selector = UInt32(cpu[name].selector.rawValue)
            try writeOperand(rm, selector, rm.isMemory ? 0xFFFF : mask)
        case 0x8D:
            // lea computes the offset but never touches memory, and ignores segment bases.
            let modrm = try fetch8()
            guard modrm < 0xC0 else { throw .invalidOpcode }
            let (offset, _) = try effectiveOffset(modrm)
            writeRegister(Int(modrm >> 3 & 7), offset, mask)
        case 0x8E:
            // mov r/m into a segment register: a real segment load, with its checks (X:230). Loading
            // cs this way is not allowed; only far jumps and calls may change it.
            let (reg, rm) = try decodeModRM()
            guard let name = SegmentRegisterName(rawValue: reg), name != .cs else { throw .invalidOpcode }
            let selector = try readOperand(rm, 0xFFFF)
            try loadSegment(name, SegmentSelector(rawValue: UInt16(truncatingIfNeeded: selector)))
        case 0x8F: try popToMemory(mask)  // pop to r/m, with its esp subtlety (X:575)
        case 0x90:
            break  // nop, xchg %eax,%eax, and with f3, pause
        case 0x91...0x97:
            // xchg of a register with the accumulator, register number in the low bits.
            let r = Int(opcode & 7)
            let value = readRegister(r, mask)
            writeRegister(r, readRegister(0, mask), mask)
            writeRegister(0, value, mask)
        case 0x98:
            // cwtl (cwde) widens ax into eax; with 0x66 it is cbtw, al into ax.
            if mask == 0xFFFF {
                writeRegister(0, UInt32(bitPattern: Int32(Int8(bitPattern: UInt8(truncatingIfNeeded: cpu.eax)))), 0xFFFF)
            } else {
                cpu.eax = UInt32(bitPattern: Int32(Int16(bitPattern: UInt16(truncatingIfNeeded: cpu.eax))))
            }
        case 0x99:
            // cltd (cdq) fills edx with eax's sign, ready for idiv; with 0x66 it is cwtd.
            if mask == 0xFFFF {
                writeRegister(2, cpu.eax & 0x8000 != 0 ? 0xFFFF : 0, 0xFFFF)
            } else {
                cpu.edx = cpu.eax & 0x8000_0000 != 0 ? 0xFFFF_FFFF : 0
            }
        case 0x9B: try waitForFPU()
        /*X:548 The last half of the map: flags, immediates, returns and the doors out.

        From `pushf` on, the cases are a tour of everything that is not arithmetic. Three kinds are worth
        slowing down for. `pushf` and `popf` are where the lazy flags (X:520) meet the real EFLAGS: pushing
        must first compute what was deferred, and popping must refuse to let ring 3 change IOPL. The software
        interrupts (`int3`, `int $n`, `into`) do not run anything here; they throw, and delivery through the
        IDT (X:410) takes over. And the relative `call` and `jmp` fetch their displacement before anything
        reads eip, for the reason X:549 draws. The last line is the honest default: an opcode we do not
        implement is a #UD, exactly what a real CPU gives for a hole in its map. */
        case 0x9C:
            // pushf needs the real flags, so the lazy ones are computed first. VM and RF read as 0.
            materializeFlags()
            try push(cpu.eflags.subtracting([.virtual8086, .resume]).rawValue, mask)
        case 0x9D:
            // popf may change only what the CPL allows (X:450): at ring 3, never IOPL, and IF only
            // when IOPL is 3. The rest of the popped bits are silently ignored, not a fault.
            let value = try pop(mask)
            materializeFlags()
            var popped = EFLAGS(rawValue: value)
            if mask == 0xFFFF { popped = EFLAGS(rawValue: cpu.eflags.rawValue & 0xFFFF_0000 | value & 0xFFFF) }
            cpu.eflags = returnedFlags(popped, cpl: cpu.cpl).subtracting(.resume)
        case 0x9E:
            // sahf and lahf move SF ZF AF PF CF between ah and the flags, an 8080 heirloom.
            materializeFlags()
            let loadable: EFLAGS = [.sign, .zero, .auxiliaryCarry, .parity, .carry]
            let high = EFLAGS(rawValue: cpu.eax >> 8 & 0xFF)
            cpu.eflags = cpu.eflags.subtracting(loadable).union(high.intersection(loadable))
        case 0x9F:
            // lahf: bit 1 of EFLAGS always reads as 1, so the byte is never all zero.
            materializeFlags()
            writeRegister(4, cpu.eflags.rawValue & 0xD5 | 2, 0xFF)
        case 0xA0...0xA3:
            // mov between the accumulator and a fixed address ("moffs"), with no ModR/M byte.
            let width = opcode & 1 == 0 ? 0xFF : mask
            let linear = dataLinear(try fetch32())
            if opcode < 0xA2 {
                writeRegister(0, try readMemory(linear, width), width)
            } else {
                try writeMemory(linear, readRegister(0, width), width)
            }
        case 0xA4...0xA7, 0xAA...0xAF: try stringInstruction(opcode)  // movs cmps stos lods scas, X:580
        case 0xA8, 0xA9:
            // test $imm against al, ax or eax.
            let width = opcode == 0xA8 ? 0xFF : mask
            setFlags(.logic, readRegister(0, width) & (try fetchImmediate(width)), 0, 0, width)
        // mov $imm into a register; the byte form counts al cl dl bl ah ch dh bh.
        case 0xB0...0xB7: writeRegister(Int(opcode & 7), UInt32(try fetch8()), 0xFF)
        case 0xB8...0xBF: writeRegister(Int(opcode & 7), try fetchImmediate(mask), mask)
        // Group 2, shifts and rotates (X:560): count from an immediate, the constant 1, or cl.
        case 0xC0: try shiftGroup(0xFF, count: .immediate)
        case 0xC1: try shiftGroup(mask, count: .immediate)
        case 0xD0: try shiftGroup(0xFF, count: .one)
        case 0xD1: try shiftGroup(mask, count: .one)
        case 0xD2: try shiftGroup(0xFF, count: .cl)
        case 0xD3: try shiftGroup(mask, count: .cl)
        case 0xC2:
            // ret $n: return, then drop n bytes of arguments (the callee-pops convention).
            let release = try fetch16()
            let target = try pop(mask)
            cpu.esp &+= release
            jump(to: target)
        case 0xC3: jump(to: try pop(mask))  // ret: pop the return address that call pushed
        case 0xC6, 0xC7:
            // mov $imm into r/m; only reg field 0 is defined.
            let width = opcode == 0xC6 ? 0xFF : mask
            let (reg, rm) = try decodeModRM()
            guard reg == 0 else { throw .invalidOpcode }
            try writeOperand(rm, try fetchImmediate(width), width)
        case 0xC8: try enter(mask)  // enter: build a stack frame (X:575)
        case 0xC9: try leave(mask)
        // Software interrupts leave through the IDT (X:410); eip already points past them.
        case 0xCC: throw .software(3)
        case 0xCD: throw .software(try fetch8())
        case 0xCE: if overflowFlag { throw .software(4) }
        case 0xCF: try interruptReturn()  // iret, with the checks of X:450
        case 0xD7:
            // xlat: al = [ebx + al], a one-instruction table lookup.
            let linear = dataLinear(cpu.ebx &+ (cpu.eax & 0xFF))
            writeRegister(0, try readMemory(linear, 0xFF), 0xFF)
        // x87 instructions (X:620).
        case 0xD8...0xDF: try executeFPU(opcode)
        case 0xE0...0xE3:
            // loopne, loope, loop, jecxz: short jumps that count in ecx.
            let displacement = try fetchSigned8(0xFFFF_FFFF)
            if loopCondition(opcode) { jump(to: cpu.eip &+ displacement) }
        case 0xE8:
            // call: the return address is the end of this instruction, which is also the base of
            // the displacement, so the displacement is fetched before anything reads eip.
            let displacement = try fetchImmediate(mask)
            try push(cpu.eip, mask)
            jump(to: cpu.eip &+ signExtend(displacement, mask))
        case 0xE9:
            // Fetch first: the displacement counts from the end of the instruction.
            let displacement = try fetchImmediate(mask)
            jump(to: cpu.eip &+ signExtend(displacement, mask))
        case 0xEB:
            // jmp with a byte displacement: the short jump of every tight loop.
            let displacement = try fetchSigned8(0xFFFF_FFFF)
            jump(to: cpu.eip &+ displacement)
        case 0xF1: throw .trap(1)  // int1 (icebp): a #DB trap, without the gate DPL check
        case 0xF4: throw .generalProtection(0)  // hlt is privileged
        // cmc, clc, stc, and below them cld and std: one flag each.
        case 0xF5: updateFlags(.carry, to: !carryFlag)
        // Group 3 (X:570): test, not, neg, mul, imul, div, idiv, by the reg field.
        case 0xF6: try group3(0xFF)
        case 0xF7: try group3(mask)
        case 0xF8: updateFlags(.carry, to: false)
        case 0xF9: updateFlags(.carry, to: true)
        case 0xFA, 0xFB:
            // cli and sti: allowed at ring 3 only with IOPL 3 (X:590).
            guard cpu.cpl <= cpu.eflags.iopl else { throw .generalProtection(0) }
            if opcode == 0xFA { cpu.eflags.remove(.interruptEnable) } else { cpu.eflags.insert(.interruptEnable) }
        case 0xFC: cpu.eflags.remove(.direction)  // the string instructions' direction, X:580
        case 0xFD: cpu.eflags.insert(.direction)
        // Groups 4 and 5 (X:575): inc and dec of r/m, indirect calls and jumps, push of r/m.
        case 0xFE: try group4()
        case 0xFF: try group5(mask)
        // Everything else (bound, arpl, les, lds, far transfers, the holes in the map) is #UD.
        default: throw .invalidOpcode
        }
    }

    /*X:549 Relative jumps, and where they count from.

    Every near jump and call in 32-bit code is *relative*: the instruction carries a signed distance,
    not an address. The distance counts from the end of the instruction, that is, from the eip the CPU
    has once it has fetched every byte:

    ```
        0x1000:  75 05        jne 0x1007        eip after the fetch: 0x1002
        0x1002:  ...                            target: 0x1002 + 5 = 0x1007
        0x1005:  eb f9        jmp 0x1000        eip after the fetch: 0x1007
                                                target: 0x1007 + (-7) = 0x1000
    ```

    That is why every branch in the switch above fetches its displacement *before* computing anything
    with eip: the fetch is what moves eip to the end. Relative code keeps working wherever it is
    loaded, which is half of what position-independent code needs (data addresses are the other, harder
    half). A short jump reaches 128 bytes back or 127 forward; beyond that, the assembler picks the long
    forms (0xE9, and 0F 80-8F in `X:585`) with a 32-bit distance. */

    /// leave: esp = ebp, then pop ebp. The read comes first so a fault changes nothing.
    @inline(__always)
    mutating func leave(_ mask: UInt32) throws(Fault) {
        let savedFramePointer = try readMemory(segmentBases[SegmentRegisterName.ss.rawValue] &+ cpu.ebp, mask)
        cpu.esp = cpu.ebp &+ (mask == 0xFFFF ? 2 : 4)
        writeRegister(5, savedFramePointer, mask)
    }

    /// A short conditional jump on condition `cc` (0x70-0x7F).
    @inline(__always)
    mutating func jumpShort(if cc: UInt8) throws(Fault) {
        let displacement = try fetchSigned8(0xFFFF_FFFF)
        if condition(cc) { jump(to: cpu.eip &+ displacement) }
    }

    /// Transfers control within cs; a 16-bit operand size truncates eip, as on the hardware.
    @inline(__always)
    mutating func jump(to target: UInt32) {
        cpu.eip = operandMask == 0xFFFF ? target & 0xFFFF : target
    }

    /// Sign-extends a value of width `mask` to 32 bits.
    @inline(__always)
    mutating func signExtend(_ value: UInt32, _ mask: UInt32) -> UInt32 {
        // Reinterpret as a signed integer of the narrow width, widen, and take the bits back.
        switch mask {
        case 0xFF: UInt32(bitPattern: Int32(Int8(truncatingIfNeeded: value)))
        case 0xFFFF: UInt32(bitPattern: Int32(Int16(truncatingIfNeeded: value)))
        default: value
        }
    }

    /// loop, loope, loopne (decrement ecx first) and jecxz.
    mutating func loopCondition(_ opcode: UInt8) -> Bool {
        // jecxz only tests ecx; the three loops decrement it first, without touching the flags.
        if opcode == 0xE3 { return cpu.ecx == 0 }
        cpu.ecx &-= 1
        switch opcode {
        case 0xE0: return cpu.ecx != 0 && !zeroFlag
        case 0xE1: return cpu.ecx != 0 && zeroFlag
        default: return cpu.ecx != 0
        }
    }
}
/*:*/
