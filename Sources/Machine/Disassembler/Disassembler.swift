/*X:700 A disassembler, so the machine can explain itself.

When a guest program misbehaves, the first question is always "what was it executing?", and a column of
hex bytes is a poor answer. So the machine carries a small disassembler for exactly the instructions the
interpreter knows, and a trace switch (`Machine.trace`) that prints every instruction before executing
it, the way Crafting Interpreters' clox prints its bytecode.

The output uses **AT&T syntax**, the dialect of the GNU assembler and of `objdump -d`, because that is
what a student will see when they disassemble the same program with the system's tools: source operand
first, destination last, `%` before registers, `$` before immediates, and memory operands written
`displacement(base,index,scale)`. A size suffix (`b`, `w`, `l`) appears only when no register operand
already says the size, as in `movl $0x1,0x20000`. Branch targets are printed as absolute addresses.
We do not try to match objdump character for character: there is one space after the mnemonic, and the
string instructions are written in their short forms (`rep movsb`, `repne scasb`, `lodsl`).

The disassembler never fails: bytes it does not understand, or a buffer that ends mid-instruction, come
out as `(bad)` with a length of one, so a trace can always move on. */

/// The machine's disassembler (`X:700`).
public enum Disassembler {
    /// Disassembles the instruction at the start of `bytes`, which sits at `address` (for branch
    /// targets). Returns its AT&T text and length; unknown or truncated bytes give `("(bad)", 1)`.
    public static func disassemble(_ bytes: [UInt8], at address: GuestVirtualAddress) -> (text: String, length: Int) {
        var decoder = InstructionDecoder(bytes: bytes, address: address.rawValue)
        guard let text = decoder.decode() else { return ("(bad)", 1) }
        return (text, decoder.index)
    }
}

extension Machine {
    /// Disassembles the instruction at `address`, reading up to 15 bytes through the current page
    /// tables without side effects (no accessed bits, no TLB fill). Unmapped bytes end the buffer.
    public func disassemble(at address: GuestVirtualAddress) -> (text: String, length: Int) {
        var bytes: [UInt8] = []
        for offset in 0..<UInt32(15) {
            guard let byte = core.peekLinear(address.rawValue &+ offset) else { break }
            bytes.append(byte)
        }
        return Disassembler.disassemble(bytes, at: address)
    }
}

/*X:705 The names, and how wide things are.

Disassembling is mostly looking things up. Everywhere the encoding puts a three-bit number, a table
gives the name, and the tables below are in encoding order, so that index 0 is whatever the manual calls
0. Two of them hold surprises. In `registers8`, number 4 is `%ah`, not the low byte of esp (which the
i386 cannot name at all); the interpreter's `readRegister` follows the same rule (`X:510`). And in
`shiftNames`, slot 6 repeats `shl`, because the undocumented encoding /6 behaves exactly like /4.

The other thing to settle is width. One instruction byte like `01` means a 32-bit add, or a 16-bit add
after a 0x66 prefix, and AT&T syntax shows the width in two ways: through a register's name (`%eax`,
`%ax`, `%al`) or, when no register is there to say it, through a suffix on the mnemonic:

| width | suffix | registers      | mask          |
|-------|--------|----------------|---------------|
| byte  | `b`    | `%al` ... `%bh`  | `0xFF`        |
| word  | `w`    | `%ax` ... `%di`  | `0xFFFF`      |
| long  | `l`    | `%eax` ... `%edi`| `0xFFFF_FFFF` |

`Width` carries all three answers for each row, and `InstructionDecoder` keeps the little state an
instruction's prefixes leave behind: the operand size, a segment override to print before a memory
operand, and a repeat prefix for the string instructions. Unlike the interpreter, the decoder works on a
plain array it was handed, so "the next byte" can fail by running off the end, and every helper returns
an optional that turns into `(bad)` at the top. */

/// The 32-bit general registers in encoding order (0 eax ... 7 edi).
let registers32 = ["%eax", "%ecx", "%edx", "%ebx", "%esp", "%ebp", "%esi", "%edi"]
/// The 16-bit registers, the low halves of `registers32`.
let registers16 = ["%ax", "%cx", "%dx", "%bx", "%sp", "%bp", "%si", "%di"]
/// The byte registers: numbers 0-3 are low bytes, 4-7 the second bytes of the same four registers.
let registers8 = ["%al", "%cl", "%dl", "%bl", "%ah", "%ch", "%dh", "%bh"]
/// The segment registers in encoding order, as the ModR/M reg field and `SegmentRegisterName` number them.
let segmentNames = ["%es", "%cs", "%ss", "%ds", "%fs", "%gs"]
/// The eight ALU operations, indexed by opcode bits 5-3 or by group 1's reg field.
let aluNames = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]
/// Group 2's operations by reg field; /6 is an undocumented alias of shl.
let shiftNames = ["rol", "ror", "rcl", "rcr", "shl", "shr", "shl", "sar"]
/// The sixteen condition suffixes, indexed by the low four bits of jcc, setcc and cmovcc (`X:530`).
let conditionNames = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]

/// Operand widths, for register names and size suffixes: a byte (`b`), a word (`w`, with the 0x66
/// prefix) or a doubleword (`l`, AT&T's "long").
enum Width {
    case byte, word, long

    /// The value mask of this width, as the interpreter passes it around.
    var mask: UInt32 {
        switch self {
        case .byte: 0xFF
        case .word: 0xFFFF
        case .long: 0xFFFF_FFFF
        }
    }

    /// AT&T's mnemonic suffix: `b`, `w` or `l`.
    var suffix: String {
        switch self {
        case .byte: "b"
        case .word: "w"
        case .long: "l"
        }
    }

    /// The name of general register `number` (0-7) at this width.
    func register(_ number: Int) -> String {
        switch self {
        case .byte: registers8[number]
        case .word: registers16[number]
        case .long: registers32[number]
        }
    }
}

/*X:706 The decoder's cursor.

`InstructionDecoder` walks a copy of the instruction's bytes with an index, and every way of taking
bytes (`next()`, `immediate(_:)`, `signedByte()`) answers nil when the buffer ends, so a truncated
instruction becomes `(bad)` instead of reading past the end. The index has a second use that is easy
to miss: once an instruction is decoded it is the instruction's length, and `target(_:)` adds it to
the address because a relative branch counts from the end of the instruction (`X:549`). */
/// A decoded ModR/M operand: its text and whether it names a register.
struct RMOperand {
    /// The operand as AT&T writes it: `%ecx`, or `%gs:-0x4(%ebp,%ecx,4)`.
    var text: String
    /// True when the operand is a register, which then implies the width and no suffix is needed.
    var isRegister: Bool
}

/// Decodes one instruction from a byte buffer; every read is bounds-checked, and a read past the end
/// makes the whole instruction `(bad)` rather than a guess.
struct InstructionDecoder {
    /// The bytes being decoded; the instruction starts at index 0.
    let bytes: [UInt8]
    /// The linear address of `bytes[0]`, for printing branch targets.
    let address: UInt32
    /// How many bytes have been consumed so far; at the end, the instruction's length.
    var index = 0
    /// Set by a 0x66 prefix: the operand size is 16 bits.
    var operandSize16 = false
    /// A segment override's register name, printed before the memory operand.
    var segment: String?
    /// 0xF2 or 0xF3 when a repeat prefix came before the opcode, else 0.
    var repeatPrefix: UInt8 = 0

    /// Prepares to decode the instruction at the start of `bytes`, which sits at `address`.
    init(bytes: [UInt8], address: UInt32) {
        self.bytes = bytes
        self.address = address
    }

    /// The full operand width for this instruction: long, or word after 0x66.
    var width: Width { operandSize16 ? .word : .long }

    /// The next byte, or nil at the end of the buffer.
    mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    /// A little-endian immediate of `width`, or nil if the buffer ends first.
    mutating func immediate(_ width: Width) -> UInt32? {
        switch width {
        case .byte: return next().map { UInt32($0) }
        case .word:
            guard let low = next(), let high = next() else { return nil }
            return UInt32(low) | UInt32(high) << 8
        case .long:
            guard let b0 = next(), let b1 = next(), let b2 = next(), let b3 = next() else { return nil }
            return UInt32(b0) | UInt32(b1) << 8 | UInt32(b2) << 16 | UInt32(b3) << 24
        }
    }

    /// A sign-extended byte: short branch displacements and the 0x83 and 0x6B immediates.
    mutating func signedByte() -> Int32? { next().map { Int32(Int8(bitPattern: $0)) } }

    /// The target of a relative branch whose displacement has just been read.
    func target(_ displacement: Int32) -> String {
        hex(address &+ UInt32(index) &+ UInt32(bitPattern: displacement))
    }

    /*X:707 The ModR/M byte, printed.

    This is the interpreter's `decodeModRM()` (`X:510`) a second time, with one difference in purpose:
    the interpreter wants an address, the disassembler wants the text AT&T would write for it. The two
    escapes of the encoding are the places to look. An r/m of 4 means "a SIB byte follows", and a base
    of 5 with mod 0 means "no base register, just four bytes of address"; both show up in compiled code
    all the time (`(%esp)` needs the first, a global variable the second). The sign rule at the end
    explains a small puzzle of disassembly listings: `0x20000` is an address, `-0x4(%ebp)` a distance. */
    /// Decodes a ModR/M byte into its reg field and r/m operand at `width`.
    mutating func modrm(_ width: Width) -> (reg: Int, rm: RMOperand)? {
        guard let byte = next() else { return nil }
        let mod = byte >> 6, reg = Int(byte >> 3 & 7), rm = Int(byte & 7)
        // The same decoding as the interpreter's `decodeModRM()` (X:510), producing text instead of
        // an address: `segment:displacement(base,index,scale)`.
        if mod == 3 { return (reg, RMOperand(text: width.register(rm), isRegister: true)) }
        var base: String?
        var indexPart = ""
        var displacement: Int32 = 0
        var hasDisplacement = mod != 0
        // First the base and index, from the r/m field or a SIB byte, with their two escapes.
        if rm == 4 {
            guard let sib = next() else { return nil }
            let scale = 1 << (sib >> 6), indexRegister = Int(sib >> 3 & 7), baseRegister = Int(sib & 7)
            if indexRegister != 4 { indexPart = ",\(registers32[indexRegister]),\(scale)" }
            if baseRegister == 5 && mod == 0 {
                guard let value = immediate(.long) else { return nil }
                displacement = Int32(bitPattern: value)
                hasDisplacement = true
            } else {
                base = registers32[baseRegister]
            }
        } else if rm == 5 && mod == 0 {
            guard let value = immediate(.long) else { return nil }
            displacement = Int32(bitPattern: value)
            hasDisplacement = true
        } else {
            base = registers32[rm]
        }
        // Then the displacement that mod promises: none, a signed byte, or four bytes.
        if mod == 1 {
            guard let value = signedByte() else { return nil }
            displacement = value
        } else if mod == 2 {
            guard let value = immediate(.long) else { return nil }
            displacement = Int32(bitPattern: value)
        }
        // A bare address prints unsigned (0x20000); a displacement from a register prints signed (-0x4).
        var text = segment.map { "\($0):" } ?? ""
        if hasDisplacement {
            text += base == nil && indexPart.isEmpty ? hex(UInt32(bitPattern: displacement)) : signedHex(displacement)
        }
        if base != nil || !indexPart.isEmpty { text += "(\(base ?? "")\(indexPart))" }
        return (reg, RMOperand(text: text, isRegister: false))
    }

    /// "mnemonic operands", with a size suffix when no register operand implies the width.
    func format(_ mnemonic: String, _ operands: [String], suffixFor width: Width? = nil) -> String {
        let name = width.map { mnemonic + $0.suffix } ?? mnemonic
        return operands.isEmpty ? name : name + " " + operands.joined(separator: ",")
    }
}

private func signedHex(_ value: Int32) -> String {
    value < 0 ? "-" + hex(UInt32(value.magnitude)) : hex(UInt32(value))
}
/*:*/

/*X:710 Decoding, opcode by opcode.

The decoder follows the interpreter's opcode map (`X:540`) row by row. Each case reads exactly the bytes
the interpreter would read, so the length it reports is the length the interpreter executes; the tests
check both against `objdump` for a table of instructions.

To see the whole path once, take the four bytes `8b 44 24 04`, which gcc emits at the start of nearly
every function to fetch its first argument:

* `8b` is `mov` from an r/m operand into a register, at the operand size (32 bits, no prefix);
* `44` is the ModR/M byte `01 000 100`: mod 01 (a one-byte displacement follows), reg 000 (`%eax`, the
  destination), r/m 100 (a SIB byte follows);
* `24` is the SIB byte `00 100 100`: scale 1, index 100 (none), base 100 (`%esp`);
* `04` is the displacement.

So the instruction is `mov 0x4(%esp),%eax`, four bytes long: the word just above the return address.
Because the base is esp, the interpreter would read it through ss (`X:510`).

If you have read Intel's manual, AT&T syntax turns everything round, and a small table saves a lot of
squinting. The same four instructions in both dialects:

| bytes            | AT&T (this book, objdump)       | Intel (the manual)                  |
|------------------|---------------------------------|-------------------------------------|
| `8b 44 24 04`    | `mov 0x4(%esp),%eax`            | `mov eax, DWORD PTR [esp+0x4]`      |
| `83 c0 07`       | `add $0x7,%eax`                 | `add eax, 0x7`                      |
| `c7 00 01 00 00 00` | `movl $0x1,(%eax)`           | `mov DWORD PTR [eax], 0x1`          |
| `8b 04 8a`       | `mov (%edx,%ecx,4),%eax`        | `mov eax, DWORD PTR [edx+ecx*4]`    |

Source first, destination last; the size moves from `DWORD PTR` into the `l` suffix; and the memory
operand's parts keep their order but lose their plus signs. :*/

extension InstructionDecoder {
    /// Decodes one instruction, or nil for bytes this machine does not execute.
    mutating func decode() -> String? {
        // Prefixes first, remembered rather than printed, except lock, which AT&T writes as a word.
        var prefixText = ""
        while true {
            guard let byte = next() else { return nil }
            switch byte {
            case 0x26, 0x2E, 0x36, 0x3E: segment = segmentNames[Int(byte >> 3 & 3)]
            case 0x64: segment = "%fs"
            case 0x65: segment = "%gs"
            case 0x66: operandSize16 = true
            case 0xF0: prefixText += "lock "
            case 0xF2, 0xF3: repeatPrefix = byte
            default:
                guard let text = oneByte(byte) else { return nil }
                return prefixText + text
            }
            if index >= 15 { return nil }  // the CPU's limit on instruction length
        }
    }

    /// Decodes the instruction whose one-byte opcode `opcode` has just been read, prefixes already
    /// consumed; nil for bytes the interpreter would refuse, or a buffer that ends too soon.
    mutating func oneByte(_ opcode: UInt8) -> String? {
        let w = width
        switch opcode {
        case 0x00...0x3F where opcode & 7 < 6:
            // The ALU rows: bits 5-3 name the operation, bit 1 the direction, bit 0 the width.
            let name = aluNames[Int(opcode >> 3)]
            let operandWidth: Width = opcode & 1 == 0 ? .byte : w
            switch opcode & 7 {
            case 0, 1:
                guard let (reg, rm) = modrm(operandWidth) else { return nil }
                return format(name, [operandWidth.register(reg), rm.text])
            case 2, 3:
                guard let (reg, rm) = modrm(operandWidth) else { return nil }
                return format(name, [rm.text, operandWidth.register(reg)])
            default:
                guard let value = immediate(operandWidth) else { return nil }
                return format(name, ["$" + hex(value), operandWidth.register(0)])
            }
        // The BCD adjustments, and the two that carry a base byte.
        case 0x27: return "daa"
        case 0x2F: return "das"
        case 0x37: return "aaa"
        case 0x3F: return "aas"
        case 0xD4, 0xD5:
            guard let base = immediate(.byte) else { return nil }
            return format(opcode == 0xD4 ? "aam" : "aad", ["$" + hex(base)])
        // Segment pushes and pops: bits 4-3 of the opcode number the segment, as in `segmentNames`.
        case 0x06, 0x0E, 0x16, 0x1E: return format("push", [segmentNames[Int(opcode >> 3)]])
        case 0x07, 0x17, 0x1F: return format("pop", [segmentNames[Int(opcode >> 3)]])
        case 0x0F: return twoByte()
        // One-byte register forms: the register number is in the low three bits.
        case 0x40...0x47: return format("inc", [w.register(Int(opcode & 7))])
        case 0x48...0x4F: return format("dec", [w.register(Int(opcode & 7))])
        case 0x50...0x57: return format("push", [w.register(Int(opcode & 7))])
        case 0x58...0x5F: return format("pop", [w.register(Int(opcode & 7))])
        case 0x60: return operandSize16 ? "pushaw" : "pusha"
        case 0x61: return operandSize16 ? "popaw" : "popa"
        // push of an immediate: a full one (0x68) or a sign-extended byte (0x6A).
        case 0x68:
            guard let value = immediate(w) else { return nil }
            return format("push", ["$" + hex(value)])
        case 0x6A:
            guard let value = signedByte() else { return nil }
            return format("push", ["$" + hex(UInt32(bitPattern: value))])
        case 0x69, 0x6B:
            guard let (reg, rm) = modrm(w) else { return nil }
            let value = opcode == 0x6B ? signedByte().map { UInt32(bitPattern: $0) } : immediate(w)
            guard let value else { return nil }
            return format("imul", ["$" + hex(value), rm.text, w.register(reg)])
        // The string I/O instructions: decoded for traces, although at ring 3 they fault.
        case 0x6C: return "insb"
        case 0x6D: return "ins" + w.suffix
        case 0x6E: return "outsb"
        case 0x6F: return "outs" + w.suffix
        case 0x70...0x7F:
            // Branch targets are relative to the end of the instruction; `target` does the sum.
            guard let displacement = signedByte() else { return nil }
            return format("j" + conditionNames[Int(opcode & 0xF)], [target(displacement)])
        case 0x80...0x83: return groupOne(opcode)
        case 0x84, 0x85, 0x86, 0x87, 0x88, 0x89:
            // test, xchg and mov with the register as the source: AT&T prints it first.
            let operandWidth: Width = opcode & 1 == 0 ? .byte : w
            guard let (reg, rm) = modrm(operandWidth) else { return nil }
            let name = opcode < 0x86 ? "test" : opcode < 0x88 ? "xchg" : "mov"
            return format(name, [operandWidth.register(reg), rm.text])
        case 0x8A, 0x8B:
            let operandWidth: Width = opcode == 0x8A ? .byte : w
            guard let (reg, rm) = modrm(operandWidth) else { return nil }
            return format("mov", [rm.text, operandWidth.register(reg)])
        case 0x8C, 0x8E:
            // Segment register moves: the reg field names a segment register, and only six exist.
            guard let (reg, rm) = modrm(w), reg < 6 else { return nil }
            return opcode == 0x8C ? format("mov", [segmentNames[reg], rm.text]) : format("mov", [rm.text, segmentNames[reg]])
        case 0x8D:
            // lea with a register operand has no address to compute, so the CPU refuses it.
            guard let (reg, rm) = modrm(w), !rm.isRegister else { return nil }
            return format("lea", [rm.text, w.register(reg)])
        case 0x8F:
            guard let (reg, rm) = modrm(w), reg == 0 else { return nil }
            return format("pop", [rm.text])
        // 0x90 is xchg %eax,%eax, better known as nop, and as pause with an F3 prefix.
        case 0x90: return repeatPrefix == 0xF3 ? "pause" : operandSize16 ? "xchg %ax,%ax" : "nop"
        case 0x91...0x97: return format("xchg", [w.register(0), w.register(Int(opcode & 7))])
        case 0x98: return operandSize16 ? "cbtw" : "cwtl"
        case 0x99: return operandSize16 ? "cwtd" : "cltd"
        case 0x9B: return "fwait"
        case 0x9C: return operandSize16 ? "pushfw" : "pushf"
        case 0x9D: return operandSize16 ? "popfw" : "popf"
        case 0x9E: return "sahf"
        case 0x9F: return "lahf"
        case 0xA0...0xA3:
            // The moffs forms: a bare 32-bit address in place of a ModR/M byte.
            let operandWidth: Width = opcode & 1 == 0 ? .byte : w
            guard let offset = immediate(.long) else { return nil }
            let memory = (segment.map { "\($0):" } ?? "") + hex(offset)
            return opcode < 0xA2 ? format("mov", [memory, operandWidth.register(0)])
                : format("mov", [operandWidth.register(0), memory])
        case 0xA4...0xA7, 0xAA...0xAF: return stringInstruction(opcode)
        case 0xA8, 0xA9:
            let operandWidth: Width = opcode == 0xA8 ? .byte : w
            guard let value = immediate(operandWidth) else { return nil }
            return format("test", ["$" + hex(value), operandWidth.register(0)])
        case 0xB0...0xB7:
            // mov $imm8 into a byte register, numbered al cl dl bl ah ch dh bh.
            guard let value = immediate(.byte) else { return nil }
            return format("mov", ["$" + hex(value), registers8[Int(opcode & 7)]])
        case 0xB8...0xBF:
            guard let value = immediate(w) else { return nil }
            return format("mov", ["$" + hex(value), w.register(Int(opcode & 7))])
        case 0xC0, 0xC1, 0xD0...0xD3: return shiftGroup(opcode)
        case 0xC2:
            // ret $n: the count is always 16 bits, whatever the operand size.
            guard let value = immediate(.word) else { return nil }
            return format("ret", ["$" + hex(value)])
        case 0xC3: return "ret"
        case 0xC6, 0xC7:
            // mov $imm to memory is the classic case that needs a suffix: `movl $0x1,0x20000`.
            let operandWidth: Width = opcode == 0xC6 ? .byte : w
            guard let (reg, rm) = modrm(operandWidth), reg == 0, let value = immediate(operandWidth) else { return nil }
            return format("mov", ["$" + hex(value), rm.text], suffixFor: rm.isRegister ? nil : operandWidth)
        case 0xC8:
            // enter $size, $level: a 16-bit size and an 8-bit nesting level (X:575).
            guard let size = immediate(.word), let level = immediate(.byte) else { return nil }
            return format("enter", ["$" + hex(size), "$" + hex(level)])
        case 0xC9: return "leave"
        // Software interrupts and iret (X:410, X:450).
        case 0xCC: return "int3"
        case 0xCD:
            guard let vector = immediate(.byte) else { return nil }
            return format("int", ["$" + hex(vector)])
        case 0xCE: return "into"
        case 0xCF: return "iret"
        case 0xD7: return "xlat " + (segment ?? "%ds") + ":(%ebx)"
        case 0xD8...0xDF: return x87(opcode)  // the x87 escapes (X:648)
        case 0xE0...0xE3:
            guard let displacement = signedByte() else { return nil }
            return format(["loopne", "loope", "loop", "jecxz"][Int(opcode & 3)], [target(displacement)])
        // Port I/O, with the port as an immediate byte or in dx; the Host emulates these for its
        // Guest kernel (H:225), and at ring 3 they fault.
        case 0xE4, 0xE5:
            guard let port = immediate(.byte) else { return nil }
            return format("in", ["$" + hex(port), (opcode == 0xE4 ? Width.byte : w).register(0)])
        case 0xE6, 0xE7:
            guard let port = immediate(.byte) else { return nil }
            return format("out", [(opcode == 0xE6 ? Width.byte : w).register(0), "$" + hex(port)])
        case 0xE8, 0xE9:
            // call and jmp with a full displacement, printed as the absolute target.
            guard let value = immediate(w) else { return nil }
            let displacement = operandSize16 ? Int32(Int16(truncatingIfNeeded: value)) : Int32(bitPattern: value)
            return format(opcode == 0xE8 ? "call" : "jmp", [target(displacement)])
        case 0xEB:
            guard let displacement = signedByte() else { return nil }
            return format("jmp", [target(displacement)])
        case 0xEC, 0xED: return format("in", ["(%dx)", (opcode == 0xEC ? Width.byte : w).register(0)])
        case 0xEE, 0xEF: return format("out", [(opcode == 0xEE ? Width.byte : w).register(0), "(%dx)"])
        // The single-byte system and flag instructions.
        case 0xF1: return "int1"
        case 0xF4: return "hlt"
        case 0xF5: return "cmc"
        case 0xF6, 0xF7: return groupThree(opcode == 0xF6 ? .byte : w)
        case 0xF8: return "clc"
        case 0xF9: return "stc"
        case 0xFA: return "cli"
        case 0xFB: return "sti"
        case 0xFC: return "cld"
        case 0xFD: return "std"
        case 0xFE:
            // Group 4: inc or dec of a byte; the suffix matters when the operand is in memory.
            guard let (reg, rm) = modrm(.byte), reg < 2 else { return nil }
            return format(reg == 0 ? "inc" : "dec", [rm.text], suffixFor: rm.isRegister ? nil : .byte)
        case 0xFF: return groupFive()
        default: return nil
        }
    }
}
/*:*/
