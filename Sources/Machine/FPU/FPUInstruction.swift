/*X:620 Decoding the eight escapes.

Every x87 instruction starts with one of the opcodes 0xD8 to 0xDF, the *escapes* (on the 8086 the CPU
literally ignored them and let the coprocessor on the bus pick them up). Three bits of the escape and the
eight of the ModR/M byte, eleven in all, name the instruction; Intel calls that value FOP and the FPU
remembers it for exception handlers. The ModR/M byte is read as everywhere else (`X:510`):

* with a **memory** operand (mod ≠ 11), the reg field picks one of eight operations, and the escape picks
  the operand's type: D8 float, DA 32-bit integer, DC double, DE 16-bit integer for the arithmetic
  (`fadd`, `fmul`, `fcom`, `fcomp`, `fsub`, `fsubr`, `fdiv`, `fdivr`), while D9, DB, DD and DF hold the
  loads, stores and state instructions (`fld`, `fst`, `fistp`, `fldcw`, `fnstenv`, `fnsave` ...);
* with a **register** operand (mod = 11), the remaining six bits name the instruction outright, often
  with a register number ST(i) in the low three bits: `D8 C1` is `fadd %st(1),%st`, `D9 E8` is `fld1`,
  `DE E9` is `fsubp`, `DF E0` is `fnstsw %ax`.

`FPUInstruction.decode` sorts the 2,048 encodings into what the machine does with them. Most go to the
host's processor (`.host`), with the width of the memory operand they read or write. A handful move the
FPU's state to or from memory in formats that hold the instruction and operand pointers, which the host
would fill with its own addresses, so the machine puts the guest's own in (`X:635`, `X:640`). The undefined encodings, and the undocumented aliases
(`D9 D8+i`, a second `fstp`; `DD C8+i`, a second `fxch` ...) which no compiler emits, raise #UD. So does
`fisttp` (DB /1, DD /1, DF /1): it came with SSE3, which this CPU does not claim (`X:595`).

Two properties matter for every instruction. A **control** instruction (`fninit`, `fnclex`, `fldcw`,
`fnstcw`, `fnstsw`, `fldenv`, `fnstenv`, `frstor`, `fnsave`) does not update the remembered instruction
and operand pointers, so that an exception handler can still find the instruction that failed. A
**waiting** instruction first checks for a pending unmasked exception and raises #MF if there is one
(`X:625`); the non-waiting ones, whose mnemonics carry the `n` (`fnstsw`, `fnsave`, `fninit`, `fnclex`,
`fnstcw`, `fnstenv`), exist precisely so that a handler can look at the state without triggering the
exception again. `fldenv`, `frstor` and `fldcw` carry no `n` and do wait, although they are about to
replace what is pending: asked on this project's machines, the host processor raises #MF for each of
them when an unmasked exception is waiting, and so must the guest's (a guest that could run one on
the host with an exception pending would be raising a SIGFPE in the host; the codecache fuzzer found
exactly that, two `fldenv`s in a row). `fxrstor`, the SSE-era instruction, does not wait. */

/// What the machine does with one x87 encoding; see `X:620`.
enum FPUInstruction: Equatable {
    /// Executed by the host's x87 (`X:630`), with `read` or `written` bytes of memory operand.
    case host(read: Int, written: Int, waiting: Bool, control: Bool)
    /// `fcmovcc st(i)`: executed as `fcmovb st(i)` with the condition `cc` (X:530) as CF.
    case conditionalMove(condition: UInt8, register: UInt8)
    /// `fcomi`, `fucomi` and their popping forms: the host's result flags go to ZF, PF and CF.
    case compareToFlags
    /// `fnstsw %ax`.
    case storeStatusToAX
    /// `fldenv m28` and `fnstenv m28`.
    case loadEnvironment, storeEnvironment
    /// `frstor m108` and `fnsave m108`.
    case restoreState, saveState
    /// An undefined or unsupported encoding.
    case undefined

    /// Sorts escape `escape` (0-7, for 0xD8-0xDF) with ModR/M byte `modrm`; see the table in `X:620`.
    static func decode(escape: UInt8, modrm: UInt8) -> FPUInstruction {
        modrm < 0xC0 ? decodeMemory(escape: escape, reg: modrm >> 3 & 7) : decodeRegister(escape: escape, low: modrm & 0x3F)
    }

    /// An arithmetic or load instruction reading `width` bytes: waiting, not control.
    private static func reads(_ width: Int) -> FPUInstruction { .host(read: width, written: 0, waiting: true, control: false) }
    /// A store of `width` bytes: waiting, not control.
    private static func writes(_ width: Int) -> FPUInstruction { .host(read: 0, written: width, waiting: true, control: false) }
    /// A register-only instruction: waiting, not control.
    private static let compute = FPUInstruction.host(read: 0, written: 0, waiting: true, control: false)

    /// The memory forms: the escape gives the operand type, reg the operation.
    private static func decodeMemory(escape: UInt8, reg: UInt8) -> FPUInstruction {
        switch (escape, reg) {
        case (0, _), (2, _): reads(4)                   // float / int32 arithmetic and compares
        case (4, _): reads(8)                           // double arithmetic and compares
        case (6, _): reads(2)                           // int16 arithmetic and compares
        case (1, 0), (3, 0): reads(4)                   // fld m32, fild m32
        case (1, 2), (1, 3), (3, 2), (3, 3): writes(4)  // fst(p) m32, fist(p) m32
        case (1, 4): .loadEnvironment
        case (1, 5): .host(read: 2, written: 0, waiting: true, control: true)    // fldcw
        case (1, 6): .storeEnvironment
        case (1, 7): .host(read: 0, written: 2, waiting: false, control: true)   // fnstcw
        case (3, 5), (7, 4): reads(10)                  // fld m80, fbld
        case (3, 7), (7, 6): writes(10)                 // fstp m80, fbstp
        case (5, 0), (7, 5): reads(8)                   // fld m64, fild m64
        case (5, 2), (5, 3), (7, 7): writes(8)          // fst(p) m64, fistp m64
        case (5, 4): .restoreState
        case (5, 6): .saveState
        case (5, 7): .host(read: 0, written: 2, waiting: false, control: true)   // fnstsw m16
        case (7, 0): reads(2)                           // fild m16
        case (7, 2), (7, 3): writes(2)                  // fist(p) m16
        default: .undefined                             // fisttp and the reserved slots
        }
    }

    /*X:621 The register forms.

    With mod 11 there is no memory operand, and the ModR/M byte's other six bits become part of the
    opcode: `D9 E8` is `fld1`, not "`D9` with some register". So the register half of the map is decoded
    on those six bits, escape by escape, and it is much less regular than the memory half. Most slots are
    plain computation on the stack and need nothing from the guest. The few that do are singled out by
    name: the conditional moves, whose condition comes from the guest's EFLAGS; `fcomi`, which writes
    them; and `fnstsw %ax`. Anything this table does not name is `.undefined` and becomes #UD. */
    /// The register forms, by escape and the low six bits of the ModR/M byte.
    private static func decodeRegister(escape: UInt8, low: UInt8) -> FPUInstruction {
        switch escape {
        case 0: return compute                                               // D8: st(0) op st(i)
        case 1: return decodeD9(low)
        case 2 where low < 0x20:                                             // fcmovb/e/be/u
            return .conditionalMove(condition: [0x2, 0x4, 0x6, 0xA][Int(low >> 3)], register: low & 7)
        case 2: return low == 0x29 ? compute : .undefined                   // fucompp
        case 3 where low < 0x20:                                             // fcmovnb/ne/nbe/nu
            return .conditionalMove(condition: [0x3, 0x5, 0x7, 0xB][Int(low >> 3)], register: low & 7)
        case 3 where low == 0x22 || low == 0x23:                             // fnclex, fninit
            return .host(read: 0, written: 0, waiting: false, control: true)
        case 3: return (0x28..<0x38).contains(low) ? .compareToFlags : .undefined  // fucomi, fcomi
        case 4: return (0x10..<0x20).contains(low) ? .undefined : compute   // DC: st(i) op st(0)
        case 5: return (0x08..<0x10).contains(low) || low >= 0x30 ? .undefined : compute  // ffree fst fstp fucom(p)
        case 6: return (0x10..<0x20).contains(low) && low != 0x19 ? .undefined : compute  // the p forms, fcompp
        default:                                                             // DF
            if low < 0x08 { return compute }                                 // ffreep
            if low == 0x20 { return .storeStatusToAX }
            return (0x28..<0x38).contains(low) ? .compareToFlags : .undefined   // fucomip, fcomip
        }
    }

    /// D9's register forms: fld st(i), fxch, fnop, and the one-byte-operand group.
    private static func decodeD9(_ low: UInt8) -> FPUInstruction {
        switch low {
        case 0x00..<0x10, 0x10: compute                       // fld st(i), fxch st(i), fnop
        case 0x20, 0x21, 0x24, 0x25: compute                  // fchs, fabs, ftst, fxam
        case 0x28..<0x2F: compute                             // fld1 fldl2t fldl2e fldpi fldlg2 fldln2 fldz
        case 0x30..<0x40: compute                             // f2xm1 ... fcos
        default: .undefined
        }
    }
}

/*:*/

/*X:622 Two questions for every instruction.

Whether an instruction waits, and whether it is a control instruction, follows from its kind: the
`.host` cases carry both answers from the table above, `fcmov` and `fcomi` are ordinary arithmetic,
and the state instructions are control instructions, of which the two loads wait (`X:620`). */

extension FPUInstruction {
    /// True when the instruction checks for a pending unmasked exception first (`X:620`).
    var isWaiting: Bool {
        switch self {
        case let .host(_, _, waiting, _): waiting
        case .conditionalMove, .compareToFlags, .loadEnvironment, .restoreState: true
        case .storeStatusToAX, .storeEnvironment, .saveState, .undefined: false
        }
    }

    /// True for the control instructions, which leave the instruction and operand pointers alone.
    var isControl: Bool {
        switch self {
        case let .host(_, _, _, control): control
        case .conditionalMove, .compareToFlags, .undefined: false
        case .storeStatusToAX, .loadEnvironment, .storeEnvironment, .restoreState, .saveState: true
        }
    }
}
/*:*/
