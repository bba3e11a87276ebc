/*X:715 Groups: when the opcode spills into the ModR/M byte.

Some one-byte opcodes do not name an instruction at all. 0x80, 0xC1, 0xF7 and 0xFF each stand for eight
different instructions, and the three `reg` bits of the ModR/M byte, which would otherwise name a
register operand, pick which one. Intel calls these *groups*: group 1 (0x80-0x83) is the eight ALU
operations with an immediate, group 2 (0xC0, 0xC1, 0xD0-0xD3) the shifts and rotates, group 3 (0xF6,
0xF7) test/not/neg/mul/imul/div/idiv, and group 5 (0xFF) inc/dec/call/jmp/push through an operand.
It is why `objdump` shows `83 c0 07` as `add $0x7,%eax` but `83 e8 07` as `sub $0x7,%eax`: the only
difference is bits 5-3 of the second byte (000 for add, 101 for sub).

The two-byte map behind the 0x0F escape comes here too, and so do the string instructions, whose repeat
prefix changes their name. A reg field that names nothing (group 5's /7, for instance) decodes as
`(bad)`, exactly where the interpreter raises #UD.

The whole family on one page, indexed by the reg field (a dash is undefined, and decodes as `(bad)`):

```
  reg field:       000    001    010    011    100    101    110    111
  group 1 (80-83)  add    or     adc    sbb    and    sub    xor    cmp
  group 2 (C0-D3)  rol    ror    rcl    rcr    shl    shr    shl*   sar
  group 3 (F6,F7)  test   test*  not    neg    mul    imul   div    idiv
  group 4 (FE)     inc    dec    -      -      -      -      -      -
  group 5 (FF)     inc    dec    call*  lcall  jmp*   ljmp   push   -
```

The starred entries deserve a word. Group 2's /6 and group 3's /1 are undocumented aliases that every
i386 honours, so we print them as their twins. `call*` and `jmp*` are the indirect forms, printed with
AT&T's `*` before the operand so that `call *%eax` cannot be mistaken for a call to a label named eax.
The far forms `lcall` and `ljmp` are left out, as in the interpreter (`X:540`). */


extension InstructionDecoder {
    /// 0x80-0x83: an ALU operation with an immediate.
    mutating func groupOne(_ opcode: UInt8) -> String? {
        // Even opcodes (80, 82) are bytes; 0x83 reads one byte but sign-extends it to the full width.
        let operandWidth: Width = opcode & 1 == 0 ? .byte : width
        guard let (reg, rm) = modrm(operandWidth) else { return nil }
        let value = opcode == 0x83 ? signedByte().map { UInt32(bitPattern: $0) & operandWidth.mask } : immediate(operandWidth)
        guard let value else { return nil }
        return format(aluNames[reg], ["$" + hex(value), rm.text], suffixFor: rm.isRegister ? nil : operandWidth)
    }

    /// 0xC0, 0xC1, 0xD0-0xD3: shifts and rotates by an immediate, by 1, or by %cl.
    mutating func shiftGroup(_ opcode: UInt8) -> String? {
        let operandWidth: Width = opcode & 1 == 0 ? .byte : width
        guard let (reg, rm) = modrm(operandWidth) else { return nil }
        // `shll $2,(%eax)` needs its suffix; `shl $2,%eax` has a register to say the width.
        let suffix = rm.isRegister ? nil : operandWidth
        switch opcode {
        case 0xC0, 0xC1:
            guard let count = immediate(.byte) else { return nil }
            return format(shiftNames[reg], ["$" + hex(count), rm.text], suffixFor: suffix)
        case 0xD0, 0xD1: return format(shiftNames[reg], [rm.text], suffixFor: suffix)  // by 1, implied
        default: return format(shiftNames[reg], ["%cl", rm.text], suffixFor: suffix)
        }
    }

    /// 0xF6, 0xF7: test, not, neg, mul, imul, div, idiv.
    mutating func groupThree(_ operandWidth: Width) -> String? {
        guard let (reg, rm) = modrm(operandWidth) else { return nil }
        let suffix = rm.isRegister ? nil : operandWidth
        // Only test carries an immediate; the other six have the r/m operand alone.
        if reg < 2 {
            guard let value = immediate(operandWidth) else { return nil }
            return format("test", ["$" + hex(value), rm.text], suffixFor: suffix)
        }
        return format(["", "", "not", "neg", "mul", "imul", "div", "idiv"][reg], [rm.text], suffixFor: suffix)
    }

    /// 0xFF: inc, dec, call, jmp, push through an operand.
    mutating func groupFive() -> String? {
        guard let (reg, rm) = modrm(width) else { return nil }
        let suffix = rm.isRegister ? nil : width
        switch reg {
        case 0: return format("inc", [rm.text], suffixFor: suffix)
        case 1: return format("dec", [rm.text], suffixFor: suffix)
        case 2: return format("call", ["*" + rm.text])
        case 4: return format("jmp", ["*" + rm.text])
        case 6: return format("push", [rm.text])
        default: return nil
        }
    }

    /// The string instructions, in their short forms with any repeat prefix.
    mutating func stringInstruction(_ opcode: UInt8) -> String? {
        let suffix = opcode & 1 == 0 ? "b" : width.suffix
        let name = switch opcode & 0xFE {
        case 0xA4: "movs"
        case 0xA6: "cmps"
        case 0xAA: "stos"
        case 0xAC: "lods"
        default: "scas"
        }
        // F3 reads as rep for the moving kinds and as repe for the comparing ones (X:580).
        let compares = opcode == 0xA6 || opcode == 0xA7 || opcode == 0xAE || opcode == 0xAF
        let prefix = switch repeatPrefix {
        case 0xF3: compares ? "repe " : "rep "
        case 0xF2: "repne "
        default: ""
        }
        return prefix + name + suffix
    }

    /*X:717 The second map, in AT&T's words.

    The two-byte opcodes (`X:585`) decode the same way as the one-byte ones, but their AT&T names carry
    more information than Intel's and deserve a key. A widening load names *both* widths, source first:
    `movzbl` is "move, zero-extending a byte to a long", `movswl` "sign-extending a word to a long"; a
    16-bit destination gives `movzbw`. Conditions are spliced into the mnemonic from one table of
    sixteen names (`conditionNames`), so `0F 94` becomes `sete` and `0F 4C` becomes `cmovl`, the same
    suffixes the short jumps use. The double shifts take three operands in AT&T order, count first:
    `shld $4,%edx,%eax` shifts eax left by four and fills it from edx.

    The system instructions are decoded too, although at ring 3 almost all of them fault. A trace is
    most useful exactly when a program does something it should not, so `mov %cr3,%eax` is worth
    printing by name rather than as `(bad)`. */

    /// Decodes the instruction after a 0x0F escape, the second opcode byte not yet read; nil for
    /// bytes this machine does not execute.
    mutating func twoByte() -> String? {
        guard let opcode = next() else { return nil }
        let w = width
        switch opcode {
        case 0x00:
            // sldt and str store at the operand size; lldt, ltr, verr and verw always read 16 bits.
            guard index < bytes.count else { return nil }
            let operandWidth: Width = bytes[index] >> 3 & 7 >= 2 ? .word : w
            guard let (reg, rm) = modrm(operandWidth), reg < 6 else { return nil }
            return format(["sldt", "str", "lldt", "ltr", "verr", "verw"][reg], [rm.text])
        case 0x01:
            // Group 7: the descriptor-table instructions, and invlpg; /5 is undefined.
            guard let (reg, rm) = modrm(w), reg != 5 else { return nil }
            return format(["sgdtl", "sidtl", "lgdtl", "lidtl", "smsw", "", "lmsw", "invlpg"][reg], [rm.text])
        case 0x02, 0x03:
            // lar and lsl: a selector's access rights or limit, readable even at ring 3.
            guard let (reg, rm) = modrm(w) else { return nil }
            return format(opcode == 0x02 ? "lar" : "lsl", [rm.text, w.register(reg)])
        // Privileged one-liners, and ud2, the instruction defined to be undefined.
        case 0x06: return "clts"
        case 0x08: return "invd"
        case 0x09: return "wbinvd"
        case 0x0B: return "ud2"
        case 0x0D, 0x18...0x1F:
            // Prefetch hints and the multi-byte nop: they carry a ModR/M byte but do nothing.
            guard let (_, rm) = modrm(w) else { return nil }
            return format("nop", [rm.text], suffixFor: rm.isRegister ? nil : w)
        case 0x20...0x23:
            // Control and debug register moves: the ModR/M byte always names registers, whatever mod says.
            guard let byte = next() else { return nil }
            let control = (opcode & 1 == 0 ? "%cr" : "%db") + String(byte >> 3 & 7)
            let register = registers32[Int(byte & 7)]
            return format("mov", opcode < 0x22 ? [control, register] : [register, control])
        // Model-specific registers and counters; rdtsc is the one a program may use (X:600).
        case 0x30: return "wrmsr"
        case 0x31: return "rdtsc"
        case 0x32: return "rdmsr"
        case 0x33: return "rdpmc"
        /*X:718 The instructions compilers use.

        From `cmovcc` on, the cases are the part of the second map that turns up in ordinary programs. Every
        one of them decodes through the same `modrm(_:)` helper as the one-byte map, and the interesting work
        is only in choosing the width to decode at: `setcc` and the byte forms of `cmpxchg` and `xadd` always
        take a byte, `movzx` and `movsx` print their r/m operand at the source width, and group 8's immediate
        bit tests add a size suffix only for a memory operand, where no register name says how wide it is.
        Every `guard` that returns nil is a truncated or undefined encoding, printed as `(bad)`. */
        case 0x40...0x4F:
            // cmovcc: the condition spliced into the name, from the low four bits.
            guard let (reg, rm) = modrm(w) else { return nil }
            return format("cmov" + conditionNames[Int(opcode & 0xF)], [rm.text, w.register(reg)])
        case 0x80...0x8F:
            // Long conditional jumps: a 16- or 32-bit displacement, from the end of the instruction.
            guard let value = immediate(w) else { return nil }
            let displacement = operandSize16 ? Int32(Int16(truncatingIfNeeded: value)) : Int32(bitPattern: value)
            return format("j" + conditionNames[Int(opcode & 0xF)], [target(displacement)])
        case 0x90...0x9F:
            // setcc: always a byte, so no suffix is needed even in memory.
            guard let (_, rm) = modrm(.byte) else { return nil }
            return format("set" + conditionNames[Int(opcode & 0xF)], [rm.text])
        // fs and gs, the two segment registers the 386 added, got their pushes and pops here.
        case 0xA0: return "push %fs"
        case 0xA1: return "pop %fs"
        case 0xA2: return "cpuid"
        case 0xA8: return "push %gs"
        case 0xA9: return "pop %gs"
        case 0xA3, 0xAB, 0xB3, 0xBB:
            // bt, bts, btr, btc with a register bit number: opcode bits 4-3 pick the operation (X:587).
            guard let (reg, rm) = modrm(w) else { return nil }
            return format(["bt", "bts", "btr", "btc"][Int(opcode >> 3 & 3)], [w.register(reg), rm.text])
        case 0xA4, 0xA5, 0xAC, 0xAD:
            guard let (reg, rm) = modrm(w) else { return nil }
            let name = opcode < 0xA8 ? "shld" : "shrd"
            if opcode & 1 == 1 { return format(name, ["%cl", w.register(reg), rm.text]) }
            guard let count = immediate(.byte) else { return nil }
            return format(name, ["$" + hex(count), w.register(reg), rm.text])
        case 0xAF:
            guard let (reg, rm) = modrm(w) else { return nil }
            return format("imul", [rm.text, w.register(reg)])
        case 0xB0, 0xB1, 0xC0, 0xC1:
            // cmpxchg and xadd, the building blocks of locks and atomic counters.
            let operandWidth: Width = opcode & 1 == 0 ? .byte : w
            guard let (reg, rm) = modrm(operandWidth) else { return nil }
            return format(opcode < 0xC0 ? "cmpxchg" : "xadd", [operandWidth.register(reg), rm.text])
        case 0xB6, 0xB7, 0xBE, 0xBF:
            // movzx/movsx: the r/m operand is printed at the *source* width, the register at the full one.
            let source: Width = opcode & 1 == 0 ? .byte : .word
            guard let (reg, rm) = modrm(source) else { return nil }
            let name = (opcode < 0xB8 ? "movz" : "movs") + source.suffix + w.suffix
            return format(name, [rm.text, w.register(reg)])
        case 0xBA:
            // Group 8: the bit tests again, with an immediate bit number; /0-/3 are undefined.
            guard let (reg, rm) = modrm(w), reg >= 4, let bit = immediate(.byte) else { return nil }
            return format(["bt", "bts", "btr", "btc"][reg - 4], ["$" + hex(bit), rm.text], suffixFor: rm.isRegister ? nil : w)
        case 0xBC, 0xBD:
            guard let (reg, rm) = modrm(w) else { return nil }
            return format(opcode == 0xBC ? "bsf" : "bsr", [rm.text, w.register(reg)])
        case 0xC7:
            // cmpxchg8b needs a memory operand: eight bytes cannot live in one register.
            guard let (reg, rm) = modrm(.long), reg == 1, !rm.isRegister else { return nil }
            return format("cmpxchg8b", [rm.text])
        case 0xC8...0xCF: return format("bswap", [registers32[Int(opcode & 7)]])
        default: return nil
        }
    }
}
/*:*/
