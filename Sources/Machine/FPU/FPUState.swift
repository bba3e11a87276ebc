/*X:610 The x87: a calculator bolted beside the CPU.

Floating point on the i386 lives in a separate unit with its own registers, the *x87* (named after the
8087 coprocessor chip that once sat in its own socket beside the 8086). Its design is a pocket
calculator's: eight 80-bit registers arranged as a **stack**. `fld` pushes a number, `fadd` adds the top
two, `fstp` pops the top into memory. The register called ST(0) is whichever physical register the
3-bit TOP field of the status word points at; ST(1) is the one after it, and so on, wrapping at eight.

```
 physical R0 ... R7         status word                         control word
 +----+----+ ... +----+      15 14 13-11 10  9  8  7  6  5..0    11-10  9-8   5..0
 | .. | .. |     | .. |     +--+--+-----+--+--+--+--+--+-----+   +-----+-----+------+
 +----+----+ ... +----+     | B|C3| TOP |C2|C1|C0|ES|SF|PE..IE|   | RC  | PC  |PM..IM|
  ST(i) = R[(TOP + i) & 7]  +--+--+-----+--+--+--+--+--+-----+   +-----+-----+------+
```

Each register holds the *extended* format: a sign bit, a 15-bit exponent and a 64-bit significand with
an explicit integer bit, so every float (32-bit), double (64-bit) and 64-bit integer fits exactly. A
**tag** per register says whether it is empty; pushing onto a full register or reading an empty one is
a *stack fault*. The **control word** chooses the rounding (RC: to nearest, down, up, toward zero) and
the precision (PC: results rounded to 24, 53 or 64 significand bits) and masks the six exceptions
(invalid, denormal, divide by zero, overflow, underflow, precision). The **status word** records which
exceptions have happened (sticky flags), the four condition codes C0-C3 that comparisons set, and ES,
"an unmasked exception is pending".

**How this machine keeps it.** The whole state is stored exactly as the `fnsave` instruction writes it:
a 108-byte image, 28 bytes of environment (control, status and tag words and the pointers to the last
instruction and operand) followed by ST(0) ... ST(7), ten bytes each. That choice is not laziness. It
is the format in which the machine hands the state to the real processor it runs on, so that each x87
instruction is executed by real x87 hardware (`X:630`). The instruction and operand pointers are kept
beside the image, because the host's processor would fill them with its own addresses.

A fresh machine's FPU is in the state `fninit` leaves it, which is also what Linux gives every new
process: control word 0x037F (all exceptions masked, 64-bit precision, round to nearest), every
register empty. */

import CHostFPU

/// The x87 control word: exception masks, precision control and rounding control.
public struct FPUControlWord: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The power-on default `fninit` sets: everything masked, 64-bit precision, round to nearest.
    public static let initial = FPUControlWord(rawValue: 0x037F)
    /// The six exception masks (bits 0-5; a set bit masks the exception).
    public var masks: FPUExceptions { FPUExceptions(rawValue: rawValue & 0x3F) }
    /// RC, bits 10-11: 0 to nearest, 1 down, 2 up, 3 toward zero.
    public var rounding: UInt16 { rawValue >> 10 & 3 }
    /// PC, bits 8-9: 0 single (24 bits), 2 double (53 bits), 3 extended (64 bits).
    public var precision: UInt16 { rawValue >> 8 & 3 }
}

/// The six x87 exceptions, as they appear in the low bits of both the control and the status word.
public struct FPUExceptions: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// IE, bit 0: invalid operation (0/0, sqrt(-1), a signalling NaN, a stack fault).
    public static let invalid = FPUExceptions(rawValue: 1 << 0)
    /// DE, bit 1: an operand was denormal.
    public static let denormal = FPUExceptions(rawValue: 1 << 1)
    /// ZE, bit 2: division of a finite number by zero.
    public static let zeroDivide = FPUExceptions(rawValue: 1 << 2)
    /// OE, bit 3: the rounded result is too large for the destination format.
    public static let overflow = FPUExceptions(rawValue: 1 << 3)
    /// UE, bit 4: the result is tiny (and, when masked, inexact).
    public static let underflow = FPUExceptions(rawValue: 1 << 4)
    /// PE, bit 5: the result had to be rounded.
    public static let precision = FPUExceptions(rawValue: 1 << 5)
}

/// The x87 status word: sticky exception flags, condition codes, TOP and the busy/summary bits.
public struct FPUStatusWord: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The exception flags raised since they were last cleared (bits 0-5).
    public var exceptions: FPUExceptions { FPUExceptions(rawValue: rawValue & 0x3F) }
    /// SF, bit 6: the invalid operation was a stack overflow or underflow.
    public var stackFault: Bool { rawValue & 1 << 6 != 0 }
    /// ES, bit 7: an unmasked exception is pending; the next waiting instruction raises #MF.
    public var errorSummary: Bool { rawValue & 1 << 7 != 0 }
    /// TOP, bits 11-13: the physical register that is ST(0).
    public var top: Int { Int(rawValue >> 11 & 7) }
    /// The condition codes C0 (bit 8), C1 (9), C2 (10), C3 (14), as four bits C3 C2 C1 C0.
    public var conditionCodes: UInt16 { (rawValue >> 8 & 7) | (rawValue >> 11 & 8) }
}

/// One x87 register's 80 bits: the 64-bit significand (explicit integer bit 63) and sign + exponent.
public struct FPURegister: Hashable, Sendable, CustomStringConvertible {
    public var significand: UInt64
    /// Bit 15 the sign, bits 0-14 the biased exponent (bias 16383).
    public var signAndExponent: UInt16

    public init(significand: UInt64, signAndExponent: UInt16) {
        self.significand = significand
        self.signAndExponent = signAndExponent
    }

    /// The register's value as the host's extended type (the same 80 bits).
    public var value: Float80 {
        Float80(sign: signAndExponent & 0x8000 != 0 ? .minus : .plus,
                exponentBitPattern: UInt(signAndExponent & 0x7FFF),
                significandBitPattern: significand & ~(1 << 63))
    }

    public var description: String { "\(hex(signAndExponent)):\(hex(significand))" }
}
/*:*/

/*X:615 The FNSAVE image, and the pointers kept beside it.

The 108 bytes, as the 32-bit protected-mode `fnsave` lays them out (Intel SDM vol. 1, figure 8-9):

| offset | field |
| --- | --- |
| 0 | control word (high half reserved) |
| 4 | status word |
| 8 | tag word: two bits per *physical* register, 00 valid, 01 zero, 10 special, 11 empty |
| 12 | FIP: offset of the last non-control instruction |
| 16 | FCS (its code selector) and, in bits 16-26, FOP (its opcode's low 11 bits) |
| 20 | FDP: offset of its memory operand |
| 24 | FDS: that operand's data selector |
| 28 + 10·i | ST(i), stack order: ST(0) first |

`FPUImage` owns the bytes (as fourteen 64-bit words, so that they live inline in the struct and copy
with it) and offers typed reads and writes of its fields; `FPUState` adds the guest's pointers. */

/// The 108-byte FNSAVE image of the x87 state, stored inline.
struct FPUImage: Hashable, Sendable {
    /// 112 bytes, of which the first 108 are the image.
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    /// The size of the image in bytes.
    static let size = 108
    /// The size of the environment at its start.
    static let environmentSize = 28

    /// Reads a little-endian value at `offset`.
    func load<T: FixedWidthInteger>(_ offset: Int, as type: T.Type) -> T {
        withUnsafeBytes(of: words) { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// Writes a little-endian value at `offset`.
    mutating func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes(of: &words) { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }

    /// Runs `body` with the image as the C shim's type.
    mutating func withHostImage<R>(_ body: (UnsafeMutablePointer<hostfpu_image>) -> R) -> R {
        withUnsafeMutableBytes(of: &words) { body($0.baseAddress!.assumingMemoryBound(to: hostfpu_image.self)) }
    }

    static func == (lhs: FPUImage, rhs: FPUImage) -> Bool {
        withUnsafeBytes(of: lhs.words) { l in withUnsafeBytes(of: rhs.words) { r in l.elementsEqual(r) } }
    }

    func hash(into hasher: inout Hasher) {
        withUnsafeBytes(of: words) { hasher.combine(bytes: $0) }
    }
}

/*:*/

/*X:617 The state as the rest of the machine sees it.

`FPUState` is the image plus the five pointers, with typed views of the fields the interpreter and the
tests need: the control and status words, the tag word, and each ST(i) as an `FPURegister`. The pointer
fields are patched into a copy of the image whenever the guest is to see an environment
(`imageForGuest()`) and taken out of one the guest supplies (`takePointers(from:)`). */

/// The complete x87 state: the FNSAVE image and the guest's instruction and operand pointers.
public struct FPUState: Hashable, Sendable {
    var image = FPUImage()
    /// FIP: the eip of the last non-control x87 instruction.
    public var instructionPointer: UInt32 = 0
    /// FCS: the code selector of that instruction.
    public var codeSelector: UInt16 = 0
    /// FOP: the low three bits of its first opcode byte, then its ModR/M byte (11 bits).
    public var opcode: UInt16 = 0
    /// FDP: the offset of its memory operand, if it had one.
    public var dataPointer: UInt32 = 0
    /// FDS: the selector of that operand's segment.
    public var dataSelector: UInt16 = 0

    /// The state after `fninit`: see `X:610`.
    public init() {
        image.store(FPUControlWord.initial.rawValue, at: 0)
        image.store(UInt16(0xFFFF), at: 8)
        image.withHostImage { hostfpu_normalize($0) }
    }

    /// The control word.
    public var control: FPUControlWord {
        get { FPUControlWord(rawValue: image.load(0, as: UInt16.self)) }
        set { image.store(newValue.rawValue, at: 0) }
    }

    /// The status word, TOP included.
    public var status: FPUStatusWord {
        get { FPUStatusWord(rawValue: image.load(4, as: UInt16.self)) }
        set { image.store(newValue.rawValue, at: 4) }
    }

    /// True when the next waiting instruction must raise #MF: ES is set, or a flag is raised that the
    /// control word leaves unmasked. The processor goes by the flags, so the host's x87 would trap on
    /// either; both are checked before any waiting instruction reaches it (`X:630`).
    public var hasPendingException: Bool {
        status.errorSummary || !status.exceptions.subtracting(control.masks).isEmpty
    }

    /// The full tag word, two bits per physical register (11 = empty).
    public var tagWord: UInt16 { image.load(8, as: UInt16.self) }

    /// True when physical register `physical` (0-7) holds a value.
    public func isOccupied(physical: Int) -> Bool { tagWord >> (2 * UInt16(physical & 7)) & 3 != 3 }

    /// ST(`index`), 0-7, as stored (an empty register still has bits).
    public func register(_ index: Int) -> FPURegister {
        let offset = FPUImage.environmentSize + 10 * (index & 7)
        return FPURegister(significand: image.load(offset, as: UInt64.self),
                           signAndExponent: image.load(offset + 8, as: UInt16.self))
    }

    /// Stores ST(`index`) without changing its tag; for `fxrstor`, which retags afterwards.
    mutating func setRegister(_ index: Int, _ value: FPURegister) {
        let offset = FPUImage.environmentSize + 10 * (index & 7)
        image.store(value.significand, at: offset)
        image.store(value.signAndExponent, at: offset + 8)
    }

    /*X:618 The pointers, in and out of the image.

    Why keep the five pointers outside the image at all? Because the host's x87 runs the guest's
    arithmetic (`X:630`), and its own pointers would name host addresses; a guest must only ever see its
    own. So the image holds whatever the host left there, and these two functions are the only bridge:
    `imageForGuest()` patches the guest's values into a copy at the environment's offsets 12 to 24, and
    `takePointers(from:)` reads them back from an image the guest supplied. The opcode keeps only its
    eleven bits, as the hardware stores it. */
    /// Writes the guest's pointers into the image's environment, for `fnstenv` and `fnsave`.
    func imageForGuest() -> FPUImage {
        var copy = image
        copy.store(instructionPointer, at: 12)
        copy.store(codeSelector, at: 16)
        copy.store(opcode & 0x7FF, at: 18)
        copy.store(dataPointer, at: 20)
        copy.store(dataSelector, at: 24)
        return copy
    }

    /// Takes the pointers from an image the guest supplied (`fldenv`, `frstor`).
    mutating func takePointers(from guest: FPUImage) {
        instructionPointer = guest.load(12, as: UInt32.self)
        codeSelector = guest.load(16, as: UInt16.self)
        opcode = guest.load(18, as: UInt16.self) & 0x7FF
        dataPointer = guest.load(20, as: UInt32.self)
        dataSelector = guest.load(24, as: UInt16.self)
    }
}
/*:*/
