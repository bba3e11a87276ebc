/*X:585 The two-byte opcodes.

When the 286 and 386 needed more instructions than the one-byte map had room for, Intel spent the byte
0x0F as an escape: `0F xx` opens a second map of 256 opcodes. Most of what a compiler uses from it is
recent enough to feel modern: `movzx` and `movsx` (widening loads), `setcc` and `cmovcc` (branch-free
conditionals), `jcc` with a 32-bit displacement, `imul` with two operands, the bit instructions, `bswap`,
`cmpxchg` and `xadd` (atomic updates on a multiprocessor), and `cpuid` and `rdtsc`. The rest of the map
is system instructions, which at ring 3 mostly raise #GP (`X:590`), and the MMX and SSE extensions,
which this CPU does not have (`X:595`).

A few of these have semantics worth a second look:

* `setcc` writes a whole byte, 0 or 1; compilers follow it with `movzbl` to make an `int` of a C
  comparison.
* `cmovcc` always reads its source, so `cmove (%eax),%ecx` faults on a bad pointer even when the
  condition is false; a compiler may only use it where both sides are safe to evaluate.
* `bsf` and `bsr` find the lowest and highest set bit. With a zero source the manual leaves the
  destination undefined; this machine leaves it unchanged, as AMD documents and Intel CPUs do.
* `cmpxchg` always writes its destination, even when the comparison fails (it writes back the old value),
  so it faults on a read-only page either way, as the hardware does.
* `bswap` reverses the bytes of a register, the whole of `htonl`.

Three rows of the second map share one trick. `jcc` (0F 80-8F), `setcc` (0F 90-9F) and `cmovcc`
(0F 40-4F) keep the *condition* in the opcode's low four bits, numbered exactly as the short jumps of
the one-byte map (`X:530`), so one `condition(_:)` function serves all four families:

```
   0F 8x  jcc rel32        x = 0 o   1 no  2 b   3 ae  4 e   5 ne  6 be  7 a
   0F 9x  setcc r/m8           8 s   9 ns  A p   B np  C l   D ge  E le  F g
   0F 4x  cmovcc r, r/m
```

Even numbers test a condition and the odd number after each tests its opposite, which is why the
decoder never needs a table of sixteen functions: one test and a flip of its result would do. */

extension Core {
    /// Executes the two-byte opcode `0F opcode` at operand width `mask` (a constant in the 32-bit
    /// instance, as for the one-byte map, `X:545`).
    @_transparent
    mutating func executeTwoByte(_ opcode: UInt8, _ mask: UInt32) throws(Fault) {
        switch opcode {
        // The system rows: descriptor tables, control registers and caches, mostly #GP at ring 3 (X:590).
        case 0x00: try descriptorTableGroup6()
        case 0x01: try descriptorTableGroup7()
        case 0x02, 0x03: try segmentInformation(limit: opcode == 0x03, mask)
        case 0x06, 0x08, 0x09, 0x20...0x23, 0x24, 0x26, 0x30, 0x32, 0x33:
            throw .generalProtection(0)  // clts, invd, wbinvd, mov cr/dr/tr, wrmsr, rdmsr, rdpmc
        case 0x0D, 0x18...0x1F:
            _ = try decodeModRM()  // prefetch hints and the long nop: nothing to do
        case 0x31:
            // rdtsc: the virtual clock (X:600), counting the instructions of this run so far.
            guard !cpu.cr4.contains(.timeStampDisable) || cpu.cpl == 0 else { throw .generalProtection(0) }
            // The ticks of earlier runs plus those spent so far in this one: monotonic, deterministic.
            let tsc = clock.ticks &+ (runBudget &- remaining)
            cpu.eax = UInt32(truncatingIfNeeded: tsc)
            cpu.edx = UInt32(truncatingIfNeeded: tsc >> 32)
        case 0x40...0x4F:
            // cmovcc reads its source even when the condition is false, so it can fault either way.
            let (reg, rm) = try decodeModRM()
            let value = try readOperand(rm, mask)
            if condition(opcode & 0xF) { writeRegister(reg, value, mask) }
        case 0x80...0x8F:
            // jcc rel16/32: the long cousin of 0x70-0x7F, for jumps past the reach of a byte.
            let displacement = signExtend(try fetchImmediate(mask), mask)
            if condition(opcode & 0xF) { jump(to: cpu.eip &+ displacement) }
        case 0x90...0x9F:
            // setcc: the reg field is ignored, the destination is always a byte.
            let (_, rm) = try decodeModRM()
            try writeOperand(rm, condition(opcode & 0xF) ? 1 : 0, 0xFF)
        // push and pop of fs and gs, the segments the 386 added and threads now use.
        case 0xA0: try push(UInt32(cpu.fs.selector.rawValue), mask)
        case 0xA1: try popSegment(.fs)
        case 0xA2: identifyCPU()  // cpuid, X:595
        case 0xA3, 0xAB, 0xB3, 0xBB: try bitTestRegister(opcode)
        case 0xA4, 0xA5, 0xAC, 0xAD:
            // shld and shrd: shift the destination, filling the vacated bits from a second register;
            // the count is an immediate (A4, AC) or cl (A5, AD). A zero count writes nothing.
            let (reg, rm) = try decodeModRM()
            let destination = try readOperand(rm, mask, forUpdate: true)
            let count = opcode & 1 == 0 ? UInt32(try fetch8()) : cpu.ecx & 0xFF
            // A4 and A5 are shld; AC and AD, eight rows on, shrd.
            let left = opcode < 0xA8
            if let result = doubleShift(left: left, destination, readRegister(reg, mask), count, mask) {
                try writeOperand(rm, result, mask)
            }
        case 0xA8: try push(UInt32(cpu.gs.selector.rawValue), mask)
        case 0xA9: try popSegment(.gs)
        /*X:586 Widening, searching, and updating in one step.

        The second half of the map is where a compiler's everyday helpers live: two-operand `imul`, `movzx`
        and `movsx` for every `unsigned char` a C program loads, `bsf` and `bsr` for finding a set bit, and
        `bswap` for byte order. `xadd`, `cmpxchg` and `cmpxchg8b` are the read-modify-write instructions that
        locks and atomic counters are built from. On one CPU without interrupts in the middle of an
        instruction they need no locking here, but they keep one promise that matters: each reads its
        destination with write permission checked and writes only after every read, so a fault leaves memory
        as it was. The rows the map gives to MMX and SSE end in a fault, as on a CPU without them. */
        case 0xAF:
            // imul r/m, reg: the two-operand form, keeping only the low half of the product.
            let (reg, rm) = try decodeModRM()
            writeRegister(reg, multiplySigned(readRegister(reg, mask), try readOperand(rm, mask), mask), mask)
        case 0xB0, 0xB1: try compareExchange(opcode == 0xB0 ? 0xFF : mask)
        case 0xB6, 0xB7, 0xBE, 0xBF:
            // movzx and movsx: a byte or word source, widened with zeroes or with its sign.
            let (reg, rm) = try decodeModRM()
            // Low bit 0: a byte source (B6, BE); 1: a word (B7, BF). B6/B7 zero-extend, BE/BF sign-extend.
            let sourceMask: UInt32 = opcode & 1 == 0 ? 0xFF : 0xFFFF
            let value = try readOperand(rm, sourceMask)
            writeRegister(reg, opcode < 0xB8 ? value : signExtend(value, sourceMask), mask)
        case 0xBA: try bitTestImmediate()
        case 0xBC, 0xBD:
            // bsf and bsr: index of the lowest or highest set bit, ZF telling whether there was one.
            let (reg, rm) = try decodeModRM()
            let value = try readOperand(rm, mask)
            materializeFlags()
            if value == 0 {
                cpu.eflags.insert(.zero)  // destination unchanged; the manual says undefined
            } else {
                cpu.eflags.remove(.zero)
                let index = opcode == 0xBC ? value.trailingZeroBitCount : 31 - value.leadingZeroBitCount
                writeRegister(reg, UInt32(index), mask)
            }
        case 0xC0, 0xC1:
            // xadd: exchange, then add, the building block of atomic counters.
            let width = opcode == 0xC0 ? 0xFF : mask
            let (reg, rm) = try decodeModRM()
            // The old destination goes to the register, the sum to the destination.
            let destination = try readOperand(rm, width, forUpdate: true)
            let source = readRegister(reg, width)
            let sum = alu(0, destination, source, width)
            try writeOperand(rm, sum, width)
            writeRegister(reg, destination, width)
        case 0xC7: try compareExchange8Bytes()
        case 0xC8...0xCF:
            // bswap: the register number is in the opcode, as for the one-byte push and pop.
            let r = Int(opcode & 7)
            cpu.gpr[r] = cpu.gpr[r].byteSwapped
        case 0xAE:
            // fxsave and fxrstor (X:640); the rest of the group is SSE, which this CPU lacks.
            let (reg, rm) = try decodeModRM()
            guard reg <= 1 else { throw floatingPointFault(x87: false) }
            try executeFXSaveRestore(restore: reg == 1, at: rm)
        // The MMX and SSE rows: report them missing, as a CPU without them would.
        case 0x0E, 0x0F, 0x10...0x17, 0x28...0x2F, 0x50...0x7F, 0xC2...0xC6, 0xD0...0xFE:
            throw floatingPointFault(x87: false)
        default: throw .invalidOpcode
        }
    }

    /// cmpxchg: compare the accumulator with the destination; equal stores the source, otherwise
    /// the accumulator receives the destination. The destination is written either way, as on the hardware.
    private mutating func compareExchange(_ mask: UInt32) throws(Fault) {
        let (reg, rm) = try decodeModRM()
        // Read with write permission checked, so a read-only page faults before anything changes.
        let destination = try readOperand(rm, mask, forUpdate: true)
        let accumulator = readRegister(0, mask)
        let equal = accumulator == destination
        try writeOperand(rm, equal ? readRegister(reg, mask) : destination, mask)
        if !equal { writeRegister(0, destination, mask) }
        // The flags are those of `cmp destination, accumulator` (operation 7 is cmp).
        _ = alu(7, accumulator, destination, mask)
    }

    /// cmpxchg8b m64 (0F C7 /1): compare edx:eax with the quadword, store ecx:ebx if equal.
    private mutating func compareExchange8Bytes() throws(Fault) {
        let (reg, rm) = try decodeModRM()
        guard reg == 1, rm.isMemory else { throw .invalidOpcode }
        // Both halves are read before either is written, so a fault on the second page is clean.
        let low = try readMemoryForUpdate(rm.linear, 0xFFFF_FFFF)
        let high = try readMemoryForUpdate(rm.linear &+ 4, 0xFFFF_FFFF)
        let equal = low == cpu.eax && high == cpu.edx
        try writeMemory(rm.linear, equal ? cpu.ebx : low, 0xFFFF_FFFF)
        try writeMemory(rm.linear &+ 4, equal ? cpu.ecx : high, 0xFFFF_FFFF)
        if !equal {
            cpu.eax = low
            cpu.edx = high
        }
        updateFlags(.zero, to: equal)
    }
}
/*:*/

/*X:587 Bit tests.

`bt`, `bts`, `btr` and `btc` copy one bit into CF and then leave, set, clear or flip it. With a register
operand the bit number is taken modulo the width. With a memory operand and a *register* bit number, the
bit number is a signed offset that may reach far beyond the addressed word: `bt %eax, (%ebx)` with eax =
100 tests bit 4 of the doubleword at ebx + 12. That makes them usable on bitmaps of any size, which is
exactly what a sieve of Eratosthenes wants. With an immediate bit number, it is always taken modulo the
width. Only CF changes; the manual leaves the other flags undefined, and we keep them.

For a 32-bit operand, a register bit number splits like this (an arithmetic shift keeps its sign, so a
negative number reaches backwards, below the addressed doubleword):

```
   bit number (signed)   [ ........ doubleword index ........ | bit ]
                          31                                 5 4   0
   address = ea + 4 * (bit number >> 5)      bit = bit number & 31
```

With a 16-bit operand the split moves to bit 4 and the stride to 2 bytes. The opcode encodes the
operation in bits 3-4 (A3, AB, B3, BB are bt, bts, btr, btc), and group 8 puts the same four operations
in the ModR/M reg field, values 4 to 7. */

extension Core {
    /// bt/bts/btr/btc with the bit number in a register (0F A3, AB, B3, BB).
    private mutating func bitTestRegister(_ opcode: UInt8) throws(Fault) {
        let (reg, rm) = try decodeModRM()
        let operation = Int(opcode >> 3 & 3)  // 0 bt, 1 bts, 2 btr, 3 btc
        // Start from the decoded operand; a memory operand may move by whole operands below.
        var target = rm
        let bits = readRegister(reg, operandMask)
        let width = UInt32(operandMask.nonzeroBitCount)
        if rm.isMemory {
            // Split the signed bit number into a whole number of operands and a bit within one.
            let signed = Int32(bitPattern: signExtend(bits, operandMask))
            let bytes = UInt32(bitPattern: (signed >> (width == 32 ? 5 : 4)) &* Int32(width / 8))
            target.linear &+= bytes
        }
        try bitOperation(operation, target, bits & (width - 1))
    }

    /// Group 8 (0F BA /4-/7): bt/bts/btr/btc with an immediate bit number.
    private mutating func bitTestImmediate() throws(Fault) {
        let (reg, rm) = try decodeModRM()
        guard reg >= 4 else { throw .invalidOpcode }
        // An immediate bit number never leaves the operand: it is taken modulo the width.
        let bit = UInt32(try fetch8()) & UInt32(operandMask.nonzeroBitCount - 1)
        try bitOperation(reg - 4, rm, bit)
    }

    /// Copies bit `bit` of `operand` into CF, then leaves, sets, clears or flips it.
    private mutating func bitOperation(_ operation: Int, _ operand: Operand, _ bit: UInt32) throws(Fault) {
        let mask = operandMask
        let value = try readOperand(operand, mask, forUpdate: operation != 0)
        let selected = UInt32(1) << bit
        // Operation 0 (bt) only reads; 1, 2 and 3 set, clear and flip the bit.
        switch operation {
        case 1: try writeOperand(operand, value | selected, mask)
        case 2: try writeOperand(operand, value & ~selected, mask)
        case 3: try writeOperand(operand, value ^ selected, mask)
        default: break
        }
        updateFlags(.carry, to: value & selected != 0)
    }
}
/*:*/
