/*X:520 Lazy flags: compute them only when someone looks.

Nearly every arithmetic instruction sets six status flags, and nearly every one of those flags is
overwritten by the next arithmetic instruction before anything reads it. A typical loop does
`add`, `add`, `inc`, `cmp`, `jne`: four instructions set flags, one reads two of them. Computing all six
flags four times to use two of them once is the main reason naive interpreters are slow.

So we do what Bochs and QEMU do: remember *how* the flags would be computed, and compute them when asked.
After an arithmetic instruction the core records the operation (`FlagOp`), the operand width, the two
inputs and the result. A conditional jump that wants ZF checks `result == 0`; one that wants CF after a
`cmp` compares the two inputs directly. Only `pushf`, `lahf`, an interrupt, or returning to the caller
builds the full `eflags` value.

Every flag has a rule per operation. For addition (`dst + src = result`, in `w` bits):

* **CF**: the unsigned sum wrapped, that is `result < dst`. With a carry in (`adc`), `result <= dst`.
* **OF**: both inputs had the same sign and the result's sign differs:
  `(dst ^ result) & (src ^ result)` has its top bit set.
* **AF**: a carry out of bit 3, visible as bit 4 of `dst ^ src ^ result`.
* **ZF**, **SF**, **PF**: the result is zero, its top bit, and whether its low byte has an even number of
  ones.

Subtraction mirrors it: CF is a borrow (`dst < src`, or `dst <= src` with a borrow in), OF is
`(dst ^ src) & (dst ^ result)`. `inc` and `dec` are addition and subtraction of 1 that leave CF alone, so
they remember the old CF. Logic operations clear CF and OF. For the rarer cases, shifts and
multiplications, the core computes CF and OF at once and keeps them in `flagAux`.

Where the manual says a flag is *undefined* (AF after logic, shifts and multiplications; SF, ZF and PF
after `mul`), this machine picks one fixed answer, written next to each case, so runs are reproducible. */

/// How the status flags are to be derived from the recorded operands.
enum FlagOp: UInt8 {
    /// `cpu.eflags` holds the status flags; nothing is pending.
    case none
    case add, adc, sub, sbb
    /// and, or, xor, test: CF = OF = 0, AF = 0 (undefined in the manual).
    case logic
    /// inc and dec: like add/sub of 1, CF kept in `flagAux` bit 0.
    case inc, dec
    /// Shifts, rotates-through-result and multiplications: CF, AF and OF precomputed in `flagAux`
    /// (at their EFLAGS bit positions); SF, ZF and PF from the result.
    case precomputed
}

extension Core {
    /// Records an arithmetic result for lazy evaluation. `mask` is 0xFF, 0xFFFF or 0xFFFF_FFFF.
    @inline(__always)
    mutating func setFlags(_ op: FlagOp, _ result: UInt32, _ dst: UInt32, _ src: UInt32, _ mask: UInt32,
                           aux: UInt32 = 0)
    {
        flagOp = op
        flagResult = result & mask
        flagDst = dst
        flagSrc = src
        flagMask = mask
        flagAux = aux
    }

    @inline(__always) var flagSign: UInt32 { mutating get { flagMask ^ (flagMask >> 1) } }

    /*X:525 One rule per flag.

    Each flag is a computed property with a `switch` on the recorded operation, and each case is the
    rule from the list above, written in Swift. Read `carryFlag` against that list: `add` is
    `flagResult < flagDst`, `sub` is `flagDst < flagSrc`, and `adc` and `sbb` look at `flagAux` to learn
    whether a carry came in. The `.none` case reads the real register, because then nothing is pending.
    These are marked `@inline(__always)` because a conditional jump usually asks for one or two flags, and
    inlined into it the question costs a comparison or two. */
    /// CF, the carry flag.
    @inline(__always) var carryFlag: Bool { mutating get {
        switch flagOp {
        case .none: cpu.eflags.contains(.carry)
        case .add: flagResult < flagDst
        case .adc: flagAux & 1 != 0 ? flagResult <= flagDst : flagResult < flagDst
        case .sub: flagDst < flagSrc
        case .sbb: flagAux & 1 != 0 ? flagDst <= flagSrc : flagDst < flagSrc
        case .logic: false
        case .inc, .dec, .precomputed: flagAux & 1 != 0
        }
    } }

    /// ZF, the zero flag.
    @inline(__always) var zeroFlag: Bool { mutating get {
        flagOp == .none ? cpu.eflags.contains(.zero) : flagResult == 0
    } }

    /// SF, the sign flag.
    @inline(__always) var signFlag: Bool { mutating get {
        flagOp == .none ? cpu.eflags.contains(.sign) : flagResult & flagSign != 0
    } }

    /// OF, the overflow flag.
    @inline(__always) var overflowFlag: Bool { mutating get {
        switch flagOp {
        case .none: cpu.eflags.contains(.overflow)
        case .add, .adc, .inc: (flagDst ^ flagResult) & (flagSrc ^ flagResult) & flagSign != 0
        case .sub, .sbb, .dec: (flagDst ^ flagSrc) & (flagDst ^ flagResult) & flagSign != 0
        case .logic: false
        case .precomputed: flagAux & EFLAGS.overflow.rawValue != 0
        }
    } }

    /// PF, set when the low byte of the result has an even number of 1 bits.
    @inline(__always) var parityFlag: Bool { mutating get {
        flagOp == .none ? cpu.eflags.contains(.parity) : (flagResult & 0xFF).nonzeroBitCount & 1 == 0
    } }

    /// AF, the carry out of bit 3.
    @inline(__always) var auxiliaryCarryFlag: Bool { mutating get {
        switch flagOp {
        case .none: cpu.eflags.contains(.auxiliaryCarry)
        case .add, .adc, .sub, .sbb, .inc, .dec: (flagDst ^ flagSrc ^ flagResult) & 0x10 != 0
        case .logic: false
        case .precomputed: flagAux & EFLAGS.auxiliaryCarry.rawValue != 0
        }
    } }

    /*X:527 Making the flags real.

    Sooner or later someone wants the whole register: `pushf`, an interrupt frame, a switch back to the
    Host. `eflags` rebuilds the six status bits from the recorded operation, and `materializeFlags()`
    writes them back and marks nothing pending (`FlagOp.none`), which is the state in which the stored
    value is exact. An instruction that changes a single flag, such as `stc`, materializes first and then
    edits the real register; recording "the last operation, except CF is now 1" would need another case
    in every rule above. */
    /// The full EFLAGS value, with the status flags evaluated.
    var eflags: EFLAGS { mutating get {
        // Nothing pending: the stored value is exact. Otherwise rebuild the six status bits.
        if flagOp == .none { return cpu.eflags }
        var flags = cpu.eflags.subtracting(.status)
        if carryFlag { flags.insert(.carry) }
        if parityFlag { flags.insert(.parity) }
        if auxiliaryCarryFlag { flags.insert(.auxiliaryCarry) }
        if zeroFlag { flags.insert(.zero) }
        if signFlag { flags.insert(.sign) }
        if overflowFlag { flags.insert(.overflow) }
        return flags
    } }

    /// Folds any pending status flags into `cpu.eflags`, so it is exact.
    mutating func materializeFlags() {
        guard flagOp != .none else { return }
        cpu.eflags = eflags
        flagOp = .none
    }

    /// Sets or clears individual status flags, leaving the others as they are.
    mutating func updateFlags(_ flags: EFLAGS, to value: Bool) {
        // Instructions that set just one flag (stc, bt, ...) first make all of them concrete.
        materializeFlags()
        if value { cpu.eflags.formUnion(flags) } else { cpu.eflags.subtract(flags) }
    }
    /*:*/

    /*X:530 Condition codes.

    Sixteen conditions, numbered by the low four bits of `jcc`, `setcc` and `cmovcc`, cover every
    comparison a compiler wants. Even-numbered ones test a flag expression, the odd one after it tests
    the opposite:

    | cc | name | true when | meaning after `cmp a, b` |
    | --- | --- | --- | --- |
    | 0 | o | OF | signed overflow |
    | 2 | b / c | CF | a < b unsigned |
    | 4 | e / z | ZF | a == b |
    | 6 | be | CF or ZF | a <= b unsigned |
    | 8 | s | SF | negative result |
    | A | p | PF | even parity |
    | C | l | SF != OF | a < b signed |
    | E | le | ZF or SF != OF | a <= b signed |

    After a `cmp` or `sub`, which is what precedes most branches, we skip the flags entirely and compare
    the recorded inputs, which is both faster and easy to check against the table. */

    /// Evaluates condition `cc` (0...15).
    @inline(__always)
    mutating func condition(_ cc: UInt8) -> Bool {
        let holds: Bool
        if flagOp == .sub {
            // Flipping the sign bit maps signed order onto unsigned order, so l and le are compares too.
            let sign = flagSign
            switch cc >> 1 {
            case 1: holds = flagDst < flagSrc
            case 2: holds = flagDst == flagSrc
            case 3: holds = flagDst <= flagSrc
            case 6: holds = (flagDst ^ sign) < (flagSrc ^ sign)
            case 7: holds = (flagDst ^ sign) <= (flagSrc ^ sign)
            default: holds = slowCondition(cc >> 1)
            }
        } else {
            holds = slowCondition(cc >> 1)
        }
        // Odd condition codes are the negations of the even ones.
        return holds != (cc & 1 != 0)
    }

    /// Evaluates the even condition `pair` (cc / 2) from the flags.
    mutating func slowCondition(_ pair: UInt8) -> Bool {
        switch pair {
        case 0: overflowFlag
        case 1: carryFlag
        case 2: zeroFlag
        case 3: carryFlag || zeroFlag
        case 4: signFlag
        case 5: parityFlag
        case 6: signFlag != overflowFlag
        default: zeroFlag || signFlag != overflowFlag
        }
    }
}
/*:*/
