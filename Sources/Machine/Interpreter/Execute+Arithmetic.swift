/*X:550 The arithmetic and logic unit.

Eight operations share one encoding, and therefore one function: the ModR/M reg field or bits 3-5 of the
opcode pick add, or, adc, sbb, and, sub, xor or cmp, and the operand width arrives as a mask (0xFF,
0xFFFF or 0xFFFF_FFFF). All of them compute in 32-bit arithmetic and mask the result; the lazy flags
(`X:520`) record the masked inputs and result, and the width, so CF and OF come out right at every width.
`cmp` is a `sub` that does not write its result back, and `test` an `and` that does not.

Follow `add %ecx,%eax` (bytes `01 c8`) through it, as a check that nothing here is magic. `execute32`
sees `01` and calls `aluToOperand(0, 0xFFFF_FFFF)`: operation 0 (add) at 32 bits, r/m as the destination.
`decodeModRM()` reads `c8` = `11 001 000`: mod 11, so both operands are registers, reg 001 (`%ecx`) the
source and r/m 000 (`%eax`) the destination. `alu` adds the two, records `.add` with both inputs and the
result for the lazy flags, and returns the sum, which `writeOperand` stores in eax. No flag has been
computed; if a `jc` follows, it will compare the recorded result with the recorded destination and
find the carry in one comparison (`X:520`).

The first 64 opcodes are so regular that the operation can be read straight off the bits. For the six
ALU forms in each row of eight:

```
   opcode  0 0 o o o 0 d w      o o o : operation (000 add ... 111 cmp)
           7 6 5 4 3 2 1 0      d     : 0 = r/m is the destination, 1 = the register is
                                w     : 0 = byte, 1 = full operand (16 or 32 bits)
   opcode  0 0 o o o 1 0 w      al, ax or eax with an immediate, and no ModR/M byte at all
```

So `01` is add, register into r/m, full width; `3C` is `cmp $imm8, %al`. The other two slots of each row
(06/07, 0E/0F, ...) went to segment pushes, pops, prefixes and the BCD adjustments, which is why the row
is not a clean eight. The group 1 opcodes 0x80-0x83 reuse the same three operation bits, moved into the
ModR/M reg field. */

extension Core {
    /// Executes ALU operation `operation` in the encoding's order (0 add, 1 or, 2 adc, 3 sbb, 4 and,
    /// 5 sub, 6 xor, 7 cmp) and returns the result to store.
    @_transparent
    mutating func alu(_ operation: Int, _ dst: UInt32, _ src: UInt32, _ mask: UInt32) -> UInt32 {
        let result: UInt32
        // Each case computes in 32 bits and records its inputs for the lazy flags (X:520); the
        // masking to the operand width happens once, at the end.
        switch operation {
        case 0:
            result = dst &+ src
            setFlags(.add, result, dst, src, mask)
        case 1:
            result = dst | src
            setFlags(.logic, result, dst, src, mask)
        case 2:
            // adc: the carry in must be read before setFlags overwrites the lazy state it lives in.
            let carry: UInt32 = carryFlag ? 1 : 0
            result = dst &+ src &+ carry
            setFlags(.adc, result, dst, src, mask, aux: carry)
        case 3:
            // sbb: the same care for the borrow, which is CF by another name.
            let borrow: UInt32 = carryFlag ? 1 : 0
            result = dst &- src &- borrow
            setFlags(.sbb, result, dst, src, mask, aux: borrow)
        case 4:
            // and, or and xor clear CF and OF; the lazy `.logic` kind knows that.
            result = dst & src
            setFlags(.logic, result, dst, src, mask)
        case 6:
            result = dst ^ src
            setFlags(.logic, result, dst, src, mask)
        default:  // 5 sub, 7 cmp: the same arithmetic; cmp's caller just does not store it
            result = dst &- src
            setFlags(.sub, result, dst, src, mask)
        }
        return result & mask
    }

    /*X:555 The four ways in.

    `alu(_:_:_:_:)` above does the arithmetic; these helpers are the encodings that lead to it, one per
    column of the ALU row, plus group 1. Each decodes its operands and hands them to one of two helpers,
    `aluInto` (the r/m operand is the destination) or `aluIntoRegister` (a register is), which the code
    cache's executor (`X:672`) calls too, with operands it decoded long before. `cmp` (operation 7) is
    the exception everywhere: it is a subtraction that keeps only the flags, so it neither asks for
    write permission when reading its operand nor writes one back. In group 1 the operation comes from
    the ModR/M byte at run time, and the `switch` in `aluInto(_:operationNumber:_:_:)` turns it back
    into eight literal calls so each inlined copy of `alu` still sees a constant, the trick of `X:545`. */
    /// ALU forms Eb,Gb and Ev,Gv: the r/m operand is the destination.
    @_transparent
    mutating func aluToOperand(_ operation: Int, _ width: UInt32) throws(Fault) {
        let (reg, rm) = try decodeModRM()
        try aluInto(rm, operation, readRegister(reg, width), width)
    }

    /// ALU forms Gb,Eb and Gv,Ev: the register is the destination.
    @_transparent
    mutating func aluToRegister(_ operation: Int, _ width: UInt32) throws(Fault) {
        // The memory operand is only read here, so a plain read check is the right one.
        let (reg, rm) = try decodeModRM()
        aluIntoRegister(reg, operation, try readOperand(rm, width), width)
    }

    /// ALU forms AL,Ib and eAX,Iv.
    @_transparent
    mutating func aluToAccumulator(_ operation: Int, _ width: UInt32) throws(Fault) {
        aluIntoRegister(0, operation, try fetchImmediate(width), width)
    }

    /// Group 1 (0x80-0x83): the ALU operation in the reg field, with an immediate source.
    @_transparent
    mutating func aluImmediate(_ width: UInt32, signExtended: Bool) throws(Fault) {
        // 0x83 is the compact form: an 8-bit immediate sign-extended, as in `add $-1,%eax`.
        let (reg, rm) = try decodeModRM()
        // The whole instruction is fetched before it executes, as on the hardware.
        let source = signExtended ? try fetchSigned8(width) : try fetchImmediate(width)
        try aluInto(rm, operationNumber: reg, source, width)
    }

    /// `operand = operand <operation> source`, for every form whose destination is an r/m operand.
    /// cmp (7) only reads; every other operation writes back, so it checks write permission now.
    @_transparent
    mutating func aluInto(_ rm: Operand, _ operation: Int, _ source: UInt32, _ width: UInt32) throws(Fault) {
        let destination = try readOperand(rm, width, forUpdate: operation != 7)
        let result = alu(operation, destination, source, width)
        if operation != 7 { try writeOperand(rm, result, width) }
    }

    /// `aluInto` with the operation known only at run time (group 1, and the code cache's byte forms):
    /// one call per operation, so each inlined copy of alu() still sees a constant.
    @inline(__always)
    mutating func aluInto(_ rm: Operand, operationNumber: Int, _ source: UInt32, _ width: UInt32) throws(Fault) {
        switch operationNumber {
        case 0: try aluInto(rm, 0, source, width)
        case 1: try aluInto(rm, 1, source, width)
        case 2: try aluInto(rm, 2, source, width)
        case 3: try aluInto(rm, 3, source, width)
        case 4: try aluInto(rm, 4, source, width)
        case 5: try aluInto(rm, 5, source, width)
        case 6: try aluInto(rm, 6, source, width)
        default: try aluInto(rm, 7, source, width)
        }
    }

    /// `register = register <operation> source`, for the forms whose destination is a register.
    @_transparent
    mutating func aluIntoRegister(_ reg: Int, _ operation: Int, _ source: UInt32, _ width: UInt32) {
        let result = alu(operation, readRegister(reg, width), source, width)
        if operation != 7 { writeRegister(reg, result, width) }
    }

    /// inc or dec: add or subtract 1, keeping CF.
    @inline(__always)
    mutating func incDec(_ value: UInt32, decrement: Bool, _ mask: UInt32) -> UInt32 {
        // Remember the old CF: inc and dec are the only arithmetic that leaves it alone.
        let carry: UInt32 = carryFlag ? 1 : 0
        let result = decrement ? value &- 1 : value &+ 1
        setFlags(decrement ? .dec : .inc, result, value, 1, mask, aux: carry)
        return result & mask
    }
}
/*:*/

/*X:560 Shifts and rotates.

Shifts are where the flag rules get fiddly, so here they are in one place. The count is masked to five
bits first (so `shl $33, %eax` shifts by 1, as on every CPU since the 286), and a masked count of zero
changes nothing at all, not even the flags.

* `shl`/`sal`: CF is the last bit shifted out of the top; OF (defined for a count of 1) is set when the
  top bit changed, that is, the new top bit differs from CF.
* `shr`: CF is the last bit shifted out of the bottom; OF (count 1) is the original top bit.
* `sar`: like `shr` but copies the sign bit in; OF is 0.
* SF, ZF and PF follow the result; AF is undefined and we clear it.
* Rotates (`rol`, `ror`, `rcl`, `rcr`) change only CF and OF. `rcl` and `rcr` rotate through CF, so an
  8-bit `rcl` is really a 9-bit rotation.

For counts above 1, where the manual calls OF undefined, we compute it with the count-1 formula.

The pictures, for one step of each (CF is the carry flag, drawn where the bit enters or leaves):

```
   shl/sal   CF <- [7 6 5 4 3 2 1 0] <- 0
   shr        0 -> [7 6 5 4 3 2 1 0] -> CF
   sar      bit 7 -> [7 6 5 4 3 2 1 0] -> CF      the sign bit is copied in
   rol       CF <- [7 6 5 4 3 2 1 0] <- bit 7     bit 7 goes round, and to CF too
   rcl       CF <- [7 6 5 4 3 2 1 0] <- old CF    nine bits in a ring
```

As in group 1, the operation comes from the ModR/M reg field: 0 rol, 1 ror, 2 rcl, 3 rcr, 4 shl, 5 shr,
6 (an undocumented alias of shl), 7 sar. */

extension Core {
    /// Where a shift instruction finds its count: `one` is the constant 1 (0xD0, 0xD1, no count byte),
    /// `cl` the low byte of ecx (0xD2, 0xD3), `immediate` a byte after the operand (0xC0, 0xC1). Every
    /// count is then masked to five bits.
    enum ShiftCount { case one, cl, immediate }

    /// Group 2 (0xC0, 0xC1, 0xD0-0xD3): decodes the operand and count, shifts, and stores.
    @_transparent
    mutating func shiftGroup(_ width: UInt32, count source: ShiftCount) throws(Fault) {
        // The whole instruction first (the count byte may follow the operand), then the work.
        let (reg, rm) = try decodeModRM()
        let count: UInt32 = switch source {
        case .immediate: UInt32(try fetch8())
        case .one: 1
        case .cl: cpu.ecx & 0xFF
        }
        try shift(rm, operation: reg, count: count, width)
    }

    /// Shifts or rotates an r/m operand in place (group 2 operation `operation`, 0 rol ... 7 sar).
    @_transparent
    mutating func shift(_ rm: Operand, operation: Int, count: UInt32, _ width: UInt32) throws(Fault) {
        let value = try readOperand(rm, width, forUpdate: true)
        if let result = shiftOrRotate(operation, value, count, width) { try writeOperand(rm, result, width) }
    }

    /// Executes shift group operation `operation` (0 rol ... 7 sar); returns the value to store, or nil
    /// when the masked count is zero and nothing changes.
    @_transparent
    mutating func shiftOrRotate(_ operation: Int, _ value: UInt32, _ rawCount: UInt32, _ mask: UInt32) -> UInt32? {
        // The count is masked to five bits even for byte and word operands, as the 386 does.
        let count = rawCount & 0x1F
        guard count != 0 else { return nil }
        let width = UInt32(mask.nonzeroBitCount)
        let sign = mask ^ (mask >> 1)  // the top bit of the operand: 0x80, 0x8000 or 0x8000_0000
        switch operation {
        case 0, 1, 2, 3:
            return rotate(operation, value, count, width, mask)
        case 4, 6:
            // shl: shift in 64 bits so the last bit out is still there to become CF.
            let wide = UInt64(value) << UInt64(count)
            let result = UInt32(truncatingIfNeeded: wide) & mask
            let carry = (wide >> UInt64(width)) & 1 != 0
            let overflow = (result & sign != 0) != carry
            setFlags(.precomputed, result, value, count, mask, aux: shiftAux(carry, overflow))
            return result
        case 5:
            // shr: the last bit out is bit count-1 of the original (none once count passes the width).
            let carry = count <= width && (value >> (count - 1)) & 1 != 0
            let result = count >= 32 ? 0 : value >> count
            setFlags(.precomputed, result, value, count, mask, aux: shiftAux(carry, value & sign != 0))
            return result & mask
        default:
            // sar: sign-extend to 64 bits, and Swift's >> on a signed integer copies the sign in.
            let signed = Int64(Int32(bitPattern: signExtend(value, mask)))
            let result = UInt32(truncatingIfNeeded: signed >> Int64(count)) & mask
            let carry = (signed >> Int64(count - 1)) & 1 != 0
            setFlags(.precomputed, result, value, count, mask, aux: shiftAux(carry, false))
            return result
        }
    }

    /// CF and OF at their EFLAGS positions, for `FlagOp.precomputed` (AF clear).
    @inline(__always)
    func shiftAux(_ carry: Bool, _ overflow: Bool) -> UInt32 {
        (carry ? EFLAGS.carry.rawValue : 0) | (overflow ? EFLAGS.overflow.rawValue : 0)
    }

    /*X:562 Rotates.

    A rotate loses no bits, so its count can wrap: rotating a byte by 9 is rotating it by 1. For `rol`
    and `ror` the wrap is at the operand's width; for `rcl` and `rcr` it is one more, because CF is a bit
    of the ring. Since rotates leave SF, ZF, AF and PF as they were, the function first makes the lazy
    flags real (`X:520`) and then changes only CF and OF; it is marked `@inline(never)` because rotates are
    rare in compiled code and not worth growing every caller for. */
    /// rol, ror, rcl, rcr: only CF and OF change.
    @inline(never)
    mutating func rotate(_ operation: Int, _ value: UInt32, _ count: UInt32, _ width: UInt32,
                                 _ mask: UInt32) -> UInt32 {
        let sign = mask ^ (mask >> 1)
        var result = value
        var carry = carryFlag
        switch operation {
        case 0:
            // rol: the bit that wrapped round to the bottom is also the one CF receives.
            let n = count % width
            result = n == 0 ? value : (value << n | value >> (width - n)) & mask
            carry = result & 1 != 0
        case 1:
            // ror: the mirror image; the bit that wrapped to the top becomes CF.
            let n = count % width
            result = n == 0 ? value : (value >> n | value << (width - n)) & mask
            carry = result & sign != 0
        case 2:
            // rcl rotates width + 1 bits (CF included), so the count wraps at width + 1.
            for _ in 0..<count % (width + 1) {
                let out = result & sign != 0
                result = (result << 1 | (carry ? 1 : 0)) & mask
                carry = out
            }
        default:
            // rcr: the bottom bit leaves for CF while the old CF enters at the top.
            for _ in 0..<count % (width + 1) {
                let out = result & 1 != 0
                result = result >> 1 | (carry ? sign : 0)
                carry = out
            }
        }
        // OF for rotates (defined for a count of 1): left rotates compare the new top bit with CF,
        // right rotates compare the two top bits of the result.
        let top = result & sign != 0
        let overflow = switch operation {
        case 0, 2: top != carry
        default: top != (result & (sign >> 1) != 0)
        }
        // Rotates keep SF, ZF, AF and PF, so the lazy flags are made real before two are changed.
        materializeFlags()
        cpu.eflags.subtract([.carry, .overflow])
        if carry { cpu.eflags.insert(.carry) }
        if overflow { cpu.eflags.insert(.overflow) }
        return result
    }

    /*X:564 Double shifts.

    `shld` and `shrd` shift one operand while filling the vacated bits from a second one instead of with
    zeros, which is how compilers shift a 64-bit value held in two registers. The trick here is to join
    the two operands into one 64-bit integer, do a single ordinary shift, and keep the half that is the
    destination; the last bit pushed out of that half becomes CF, exactly as for `shl` and `shr`. */
    /// shld and shrd: shift `destination` by `count`, filling from `source`.
    mutating func doubleShift(left: Bool, _ destination: UInt32, _ source: UInt32, _ rawCount: UInt32,
                              _ mask: UInt32) -> UInt32? {
        // Same count rule as the single shifts; joining two operands in 64 bits lets one shift do it.
        let count = UInt64(rawCount & 0x1F)
        guard count != 0 else { return nil }
        let width = UInt64(mask.nonzeroBitCount)
        let sign = mask ^ (mask >> 1)
        let result: UInt32
        let carry: Bool
        if left {
            // shld: destination:source as one double-width value, shifted left; keep the top half.
            let joined = UInt64(destination) << width | UInt64(source)
            let shifted = joined << count
            result = UInt32(truncatingIfNeeded: shifted >> width) & mask
            carry = (joined >> (2 * width - count)) & 1 != 0
        } else {
            // shrd: source:destination shifted right; keep the bottom half.
            let joined = UInt64(source) << width | UInt64(destination)
            result = UInt32(truncatingIfNeeded: joined >> count) & mask
            carry = (joined >> (count - 1)) & 1 != 0
        }
        // OF (defined for a count of 1): did the sign of the destination change?
        let overflow = (result ^ destination) & sign != 0
        setFlags(.precomputed, result, destination, source, mask, aux: shiftAux(carry, overflow))
        return result
    }
}
/*:*/

/*X:570 Multiplication and division.

`mul` and `imul` with one operand produce a double-width result in fixed registers: ax for bytes,
dx:ax for words, edx:eax for doublewords. CF and OF both say "the upper half matters": for `mul`, it is
not zero; for `imul`, it is not just the sign extension of the lower half. The two- and three-operand
forms of `imul`, which compilers prefer, keep only the lower half and set CF and OF the same way. We take
SF, ZF and PF from the lower half and clear AF; the manual leaves all four undefined.

`div` and `idiv` divide the double-width value by the operand, leaving quotient and remainder in the
halves. Dividing by zero raises #DE, and so does a quotient too large for its register, which includes
the famous `INT_MIN / -1`. A C program that divides by zero on Linux dies of SIGFPE; this is where that
signal begins. The flags after a division are undefined and we leave them alone.

Where the halves live, by operand size (the one-operand forms never name these registers; they are
implied by the opcode):

```
   size   mul/imul: accumulator * r/m   div/idiv: dividend / r/m  ->  quotient, remainder
   byte   al * r/m8   -> ah:al (= ax)   ax      / r/m8            ->  al, ah
   word   ax * r/m16  -> dx:ax          dx:ax   / r/m16           ->  ax, dx
   dword  eax * r/m32 -> edx:eax        edx:eax / r/m32           ->  eax, edx
```

This is why C's `a / b` with 32-bit ints compiles to `cltd; idivl`: `cltd` fills edx with the sign of
eax, turning a 32-bit dividend into the 64-bit one the instruction insists on. */

extension Core {
    /// The truncated signed product for the two- and three-operand imul, setting CF and OF.
    mutating func multiplySigned(_ a: UInt32, _ b: UInt32, _ mask: UInt32) -> UInt32 {
        // Two signed 32-bit factors always fit their product in 64 bits, so this cannot trap.
        let product = Int64(Int32(bitPattern: signExtend(a, mask))) * Int64(Int32(bitPattern: signExtend(b, mask)))
        // The product fits when sign-extending its truncated low half gives it back.
        let result = UInt32(truncatingIfNeeded: product) & mask
        let fits = Int64(Int32(bitPattern: signExtend(result, mask))) == product
        setFlags(.precomputed, result, a, b, mask, aux: shiftAux(!fits, !fits))
        return result
    }

    /// Group 3 (0xF6/0xF7): test, not, neg, mul, imul, div, idiv on an r/m operand.
    @_transparent
    mutating func group3(_ mask: UInt32) throws(Fault) {
        let (reg, rm) = try decodeModRM()
        // Only test (/0, and its undocumented alias /1) carries an immediate.
        try group3(reg, rm, mask, immediate: reg < 2 ? try fetchImmediate(mask) : 0)
    }

    /// Group 3 operation `reg` on an operand already decoded; `immediate` is test's.
    @_transparent
    mutating func group3(_ reg: Int, _ rm: Operand, _ mask: UInt32, immediate: UInt32) throws(Fault) {
        switch reg {
        case 0, 1:
            let value = try readOperand(rm, mask)
            setFlags(.logic, value & immediate, 0, 0, mask)
        case 2: try writeOperand(rm, ~(try readOperand(rm, mask, forUpdate: true)) & mask, mask)
        case 3:
            // neg is 0 - value, with the flags of that subtraction: CF is set unless value was 0.
            let value = try readOperand(rm, mask, forUpdate: true)
            let result = (0 &- value) & mask
            try writeOperand(rm, result, mask)
            setFlags(.sub, result, 0, value, mask)
        case 4, 5: multiplyWide(try readOperand(rm, mask), signed: reg == 5, mask)
        default: try divideWide(try readOperand(rm, mask), signed: reg == 7, mask)
        }
    }

    /// One-operand mul/imul into ax, dx:ax or edx:eax.
    @inline(never)
    mutating func multiplyWide(_ operand: UInt32, signed: Bool, _ mask: UInt32) {
        // The accumulator is the implied first factor: al, ax or eax.
        let accumulator = readRegister(0, mask)
        let product: UInt64
        let upperMatters: Bool
        let width = UInt64(mask.nonzeroBitCount)
        if signed {
            let wide = Int64(Int32(bitPattern: signExtend(accumulator, mask)))
                * Int64(Int32(bitPattern: signExtend(operand, mask)))
            product = UInt64(bitPattern: wide)
            let low = UInt32(truncatingIfNeeded: product) & mask
            upperMatters = Int64(Int32(bitPattern: signExtend(low, mask))) != wide
        } else {
            product = UInt64(accumulator) * UInt64(operand)
            upperMatters = product >> width != 0
        }
        // Split the product into its halves; the byte form packs both into ax.
        let low = UInt32(truncatingIfNeeded: product) & mask
        let high = UInt32(truncatingIfNeeded: product >> width) & mask
        if mask == 0xFF {
            writeRegister(0, low | high << 8, 0xFFFF)
        } else {
            writeRegister(0, low, mask)
            writeRegister(2, high, mask)
        }
        setFlags(.precomputed, low, accumulator, operand, mask, aux: shiftAux(upperMatters, upperMatters))
    }

    /*X:571 Division, where a guest could crash the host.

    Division is the one arithmetic instruction that can fail, with a divide error (#DE, vector 0) for a
    zero divisor or a quotient too wide for its half of the register pair, and it is also where careless
    Swift would trap. `Int64.min / -1` overflows even in 64 bits, and Swift stops the program on
    overflow, so a guest that divided the right numbers would take down the host. `divideWide` asks
    `dividedReportingOverflow(by:)` instead and turns the overflow into the guest's #DE. As everywhere,
    every check comes before the first register is written. */
    /// One-operand div/idiv of ax, dx:ax or edx:eax; #DE on zero or overflow.
    @inline(never)
    mutating func divideWide(_ divisor: UInt32, signed: Bool, _ mask: UInt32) throws(Fault) {
        // Read, check, and only then write: a #DE leaves every register as it was.
        guard divisor != 0 else { throw .exception(0, errorCode: nil) }
        // The implied double-width dividend: ax, dx:ax or edx:eax, as the table in X:570 shows.
        let width = UInt64(mask.nonzeroBitCount)
        let dividend: UInt64 = mask == 0xFF
            ? UInt64(cpu.eax & 0xFFFF)
            : UInt64(readRegister(2, mask)) << width | UInt64(readRegister(0, mask))
        let quotient: UInt32, remainder: UInt32
        if signed {
            // Sign-extend the double-width dividend to 64 bits by shifting it up and back down.
            let shift = 64 - 2 * width
            let n = Int64(bitPattern: dividend << shift) >> shift
            let d = Int64(Int32(bitPattern: signExtend(divisor, mask)))
            // Int64.min / -1 overflows even in 64 bits; Swift reports it instead of trapping.
            let (q, overflow) = n.dividedReportingOverflow(by: d)
            let limit = Int64(1) << (width - 1)
            guard !overflow, q >= -limit, q < limit else { throw .exception(0, errorCode: nil) }
            quotient = UInt32(truncatingIfNeeded: q) & mask
            remainder = UInt32(truncatingIfNeeded: n % d) & mask
        } else {
            // Unsigned: a quotient wider than the destination half is #DE, as `edx >= divisor` would predict.
            let q = dividend / UInt64(divisor)
            guard q <= UInt64(mask) else { throw .exception(0, errorCode: nil) }
            quotient = UInt32(q)
            remainder = UInt32(dividend % UInt64(divisor))
        }
        // Every check has passed: now, and only now, the registers change.
        if mask == 0xFF {
            writeRegister(0, quotient | remainder << 8, 0xFFFF)
        } else {
            writeRegister(0, quotient, mask)
            writeRegister(2, remainder, mask)
        }
    }
}
/*:*/

/*X:572 Decimal arithmetic, a souvenir of the calculator age.

The 8086 was designed when much business arithmetic was done in *binary-coded decimal*: one decimal
digit per four bits, so 0x42 means forty-two. The CPU adds such numbers in binary and then *adjusts*
the result. After `add` of two packed BCD bytes, `daa` looks at each nibble: a low digit above 9, or a
carry out of it (AF), means six must be added to skip the six unused codes 0xA-0xF; the same test on the
high digit (or CF) adds 0x60. `das` does the mirror image after `sub`. The ASCII adjustments work on one
digit per byte: `aaa` and `aas` fix up after adding or subtracting unpacked digits, carrying into ah;
`aam` splits al into two digits (ah = al / 10, al = al % 10, or another base from its immediate byte,
dividing by zero raising #DE), and `aad` joins them back before a division.

One sum by hand shows why adding six is the whole trick. Thirty-eight plus forty-five, in packed BCD:

```
    0x38          3 | 8
  + 0x45        + 4 | 5
  = 0x7D          7 | D     binary sum: the low nibble D is not a decimal digit
  + 0x06              +6    daa: low digit > 9, so skip the six codes A-F
  = 0x83          8 | 3     eighty-three, with the carry moved into the high digit
```

Nobody's C compiler emits these, and 64-bit mode removed them, but they are part of the i386 and cost
little, so they are here. The flags the manual defines are exact; OF after `daa`/`das`, and the flags
the manual leaves undefined after `aaa`, `aas`, `aam` and `aad`, come from the result as for a logic
operation (CF, AF and OF clear unless the adjustment sets them). */

extension Core {
    /// daa (after add) and das (after sub) on al.
    mutating func decimalAdjust(subtract: Bool) {
        // Both tests look at the *original* al and CF, as the manual's pseudocode does.
        let oldAL = cpu.eax & 0xFF
        let oldCarry = carryFlag
        var al = oldAL
        var carry = false
        var adjust = false
        if oldAL & 0x0F > 9 || auxiliaryCarryFlag {
            // The low digit overflowed: skip the six codes A-F.
            let sum = subtract ? Int(al) - 6 : Int(al) + 6
            al = UInt32(truncatingIfNeeded: sum) & 0xFF
            carry = oldCarry || sum < 0 || sum > 0xFF
            adjust = true
        }
        if oldAL > 0x99 || oldCarry {
            // So did the high digit.
            al = (subtract ? al &- 0x60 : al &+ 0x60) & 0xFF
            carry = true
        }
        writeRegister(0, al, 0xFF)
        let aux = (carry ? EFLAGS.carry.rawValue : 0) | (adjust ? EFLAGS.auxiliaryCarry.rawValue : 0)
        setFlags(.precomputed, al, oldAL, 0, 0xFF, aux: aux)
    }

    /// aaa (after add) and aas (after sub) on unpacked digits in al, carrying into ah.
    mutating func asciiAdjust(subtract: Bool) {
        let adjust = cpu.eax & 0x0F > 9 || auxiliaryCarryFlag
        var ax = cpu.eax & 0xFFFF
        if adjust {
            // Newer CPUs adjust all of ax at once: +0x106 (or -6 and ah - 1), which also carries.
            if subtract {
                ax = (ax &- 6) & 0xFFFF
                ax = (((ax >> 8) &- 1) & 0xFF) << 8 | ax & 0xFF
            } else {
                ax = (ax &+ 0x106) & 0xFFFF
            }
        }
        // Either way al keeps only its low digit: the high nibble of an unpacked digit is cleared.
        ax = ax & 0xFF0F
        writeRegister(0, ax, 0xFFFF)
        let aux = adjust ? EFLAGS.carry.rawValue | EFLAGS.auxiliaryCarry.rawValue : 0
        setFlags(.precomputed, ax & 0xFF, 0, 0, 0xFF, aux: aux)
    }

    /// aam: ah = al / base, al = al % base (base 10 unless the immediate says otherwise).
    mutating func asciiAdjustAfterMultiply(base: UInt8) throws(Fault) {
        guard base != 0 else { throw .exception(0, errorCode: nil) }
        let al = UInt8(truncatingIfNeeded: cpu.eax)
        let result = UInt32(al / base) << 8 | UInt32(al % base)
        writeRegister(0, result, 0xFFFF)
        setFlags(.precomputed, result & 0xFF, 0, 0, 0xFF)
    }

    /// aad: al = ah * base + al, ah = 0, ready for a division.
    mutating func asciiAdjustBeforeDivide(base: UInt8) {
        let al = (cpu.eax &+ (cpu.eax >> 8 & 0xFF) &* UInt32(base)) & 0xFF
        writeRegister(0, al, 0xFFFF)
        setFlags(.precomputed, al, 0, 0, 0xFF)
    }
}
/*:*/
