/*X:648 Naming x87 instructions for the trace.

The disassembler (`X:700`) prints each x87 instruction in AT&T syntax, so that a trace of a
floating-point program reads like `objdump -d`. The memory forms take their mnemonic from a table
indexed by escape and reg field, with the operand's type in the suffix (`flds` a float, `fldl` a double,
`fldt` an extended, `fildll` a 64-bit integer). The register forms come in two shapes: a row of eight
with ST(i) as the operand (`fadd %st(3),%st`), and single instructions with no operand (`fld1`,
`fsqrt`). Encodings that `FPUInstruction.decode` refuses print as `(bad)`, exactly where the
interpreter raises #UD. One spelling trap is kept as GNU's assembler keeps it: for the DC and DE rows
with ST(i) as the destination, AT&T swaps `fsub` with `fsubr` and `fdiv` with `fdivr`, so `DE E9`, the
Intel manual's `fsubp st(1),st`, prints as `fsubrp`. */

extension InstructionDecoder {
    /// The memory-form mnemonics by escape (0-7) and reg field; "" is undefined.
    private static let x87Memory: [[String]] = [
        ["fadds", "fmuls", "fcoms", "fcomps", "fsubs", "fsubrs", "fdivs", "fdivrs"],
        ["flds", "", "fsts", "fstps", "fldenv", "fldcw", "fnstenv", "fnstcw"],
        ["fiaddl", "fimull", "ficoml", "ficompl", "fisubl", "fisubrl", "fidivl", "fidivrl"],
        ["fildl", "", "fistl", "fistpl", "", "fldt", "", "fstpt"],
        ["faddl", "fmull", "fcoml", "fcompl", "fsubl", "fsubrl", "fdivl", "fdivrl"],
        ["fldl", "", "fstl", "fstpl", "frstor", "", "fnsave", "fnstsw"],
        ["fiadds", "fimuls", "ficoms", "ficomps", "fisubs", "fisubrs", "fidivs", "fidivrs"],
        ["filds", "", "fists", "fistps", "fbld", "fildll", "fbstp", "fistpll"],
    ]

    /// D9 E0-FF, the instructions without operands; "" is undefined.
    private static let x87D9: [String] = [
        "fchs", "fabs", "", "", "ftst", "fxam", "", "",
        "fld1", "fldl2t", "fldl2e", "fldpi", "fldlg2", "fldln2", "fldz", "",
        "f2xm1", "fyl2x", "fptan", "fpatan", "fxtract", "fprem1", "fdecstp", "fincstp",
        "fprem", "fyl2xp1", "fsqrt", "fsincos", "frndint", "fscale", "fsin", "fcos",
    ]

    /// Decodes the x87 instruction whose escape byte was just read; nil for `(bad)`.
    mutating func x87(_ escapeByte: UInt8) -> String? {
        guard index < bytes.count else { return nil }
        let escape = escapeByte & 7, byte = bytes[index]
        guard FPUInstruction.decode(escape: escape, modrm: byte) != .undefined,
              let (reg, rm) = modrm(.long) else { return nil }
        if !rm.isRegister {
            return Self.x87Memory[Int(escape)][reg] + " " + rm.text
        }
        let i = Int(byte & 7), row = Int(byte >> 3 & 7)
        let st = "%st(\(i))"
        switch escape {
        case 0:
            if row == 2 || row == 3 { return (row == 2 ? "fcom " : "fcomp ") + st }
            return ["fadd", "fmul", "", "", "fsub", "fsubr", "fdiv", "fdivr"][row] + " \(st),%st"
        case 1:
            if row == 0 { return "fld \(st)" }
            if row == 1 { return "fxch \(st)" }
            return byte == 0xD0 ? "fnop" : Self.x87D9[Int(byte) - 0xE0]
        case 2: return byte == 0xE9 ? "fucompp" : ["fcmovb", "fcmove", "fcmovbe", "fcmovu"][row] + " \(st),%st"
        case 3:
            if row < 4 { return ["fcmovnb", "fcmovne", "fcmovnbe", "fcmovnu"][row] + " \(st),%st" }
            if byte == 0xE2 { return "fnclex" }
            if byte == 0xE3 { return "fninit" }
            return (row == 5 ? "fucomi" : "fcomi") + " \(st),%st"
        case 4: return ["fadd", "fmul", "", "", "fsub", "fsubr", "fdiv", "fdivr"][row] + " %st,\(st)"
        case 5: return ["ffree", "", "fst", "fstp", "fucom", "fucomp"][row] + " \(st)"
        case 6:
            if byte == 0xD9 { return "fcompp" }
            return ["faddp", "fmulp", "", "", "fsubp", "fsubrp", "fdivp", "fdivrp"][row] + " %st,\(st)"
        default:
            if byte == 0xE0 { return "fnstsw %ax" }
            if row == 0 { return "ffreep \(st)" }
            return (row == 5 ? "fucomip" : "fcomip") + " \(st),%st"
        }
    }
}
/*:*/
