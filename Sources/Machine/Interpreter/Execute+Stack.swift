/*X:575 Calls, jumps and the stack.

The stack grows down: `push` decrements esp and then writes, `pop` reads and then increments. A near
`call` pushes the address of the next instruction and jumps; `ret` pops it back, and `ret $n` also
discards `n` bytes of arguments. The indirect forms in group 5 (`call *%eax`, `jmp *table(,%ecx,4)`) take
the target from an r/m operand: that is how compilers implement function pointers and `switch` jump
tables.

`enter` and `leave` build and tear down a stack frame; gcc uses `leave` constantly and `enter` almost
never, but both are here. Two small traps for the unwary, both honoured: `pop` to a memory operand
addressed through esp computes the address *after* esp moved, and `push %esp` pushes the value esp
had *before* the push.

A picture helps, because "down" is easy to get backwards. Here is the frame a C function builds with
`push %ebp; mov %esp,%ebp; sub $8,%esp` (what `enter $8, $0` would do in one go), higher addresses at
the top:

```
            +------------------+
  ebp + 12  | second argument  |
  ebp + 8   | first argument   |   pushed by the caller, right to left
  ebp + 4   | return address   |   pushed by call
  ebp  ---> | caller's ebp     |   pushed by the callee: the saved frame pointer
  ebp - 4   | local            |
  ebp - 8   | local            | <--- esp
            +------------------+
                  grows down
```

`leave` undoes the last two steps (esp = ebp, pop ebp) and `ret` the first, which is why the epilogue of
nearly every gcc function is those two instructions. A frame pointer is simply the fixed point in the
frame: esp wanders as the function pushes arguments for its own calls, but `8(%ebp)` is always the
first argument.

Every helper below keeps the rule from `X:540`: whatever can fault is read or written first, and esp
moves last, so a page fault on a stack that has run off its mapped pages leaves the registers exactly as
they were and the instruction can simply run again once the Guest's fault handler has mapped the page. */

extension Core {
    /// Group 4 (0xFE): inc and dec of a byte operand.
    mutating func group4() throws(Fault) {
        // The reg field is the operation, not a register: /0 is inc, /1 is dec, the rest undefined.
        let (reg, rm) = try decodeModRM()
        guard reg < 2 else { throw .invalidOpcode }
        try group4(reg, rm)
    }

    /// Group 4's inc (`reg` 0) or dec (1) on a byte operand already decoded.
    @inline(__always)
    mutating func group4(_ reg: Int, _ rm: Operand) throws(Fault) {
        let result = incDec(try readOperand(rm, 0xFF, forUpdate: true), decrement: reg == 1, 0xFF)
        try writeOperand(rm, result, 0xFF)
    }

    /// Group 5 (0xFF): inc, dec, near call and jmp through an operand, push. Far forms raise #UD.
    mutating func group5(_ mask: UInt32) throws(Fault) {
        let (reg, rm) = try decodeModRM()
        try group5(reg, rm, mask)
    }

    /// Group 5 operation `reg` on an operand already decoded.
    @inline(__always)
    mutating func group5(_ reg: Int, _ rm: Operand, _ mask: UInt32) throws(Fault) {
        switch reg {
        case 0, 1:
            let result = incDec(try readOperand(rm, mask, forUpdate: true), decrement: reg == 1, mask)
            try writeOperand(rm, result, mask)
        case 2:
            // call *operand: read the target first, since pushing may change esp, on which the
            // operand's address might depend.
            let target = try readOperand(rm, mask)
            try push(cpu.eip, mask)
            jump(to: target)
        case 4: jump(to: try readOperand(rm, mask))  // jmp *operand: a switch's jump table
        case 6: try push(try readOperand(rm, mask), mask)
        default: throw .invalidOpcode  // 3 and 5 are far call/jmp (not emulated), 7 is undefined
        }
    }

    /// pushal / pushaw: eax, ecx, edx, ebx, the original esp, ebp, esi, edi.
    mutating func pushAll(_ mask: UInt32) throws(Fault) {
        let size: UInt32 = mask == 0xFFFF ? 2 : 4
        // Every value is written before esp moves; the esp stored is the one from before pusha.
        let base = segmentBases[SegmentRegisterName.ss.rawValue] &+ cpu.esp
        // Register r lands in slot r + 1 below the old top: eax highest, edi lowest.
        for r in 0..<8 {
            try writeMemory(base &- size &* UInt32(r + 1), readRegister(r, mask), mask)
        }
        cpu.esp &-= 8 &* size
    }

    /// popal / popaw: the reverse of `pushAll`, skipping the saved esp.
    mutating func popAll(_ mask: UInt32) throws(Fault) {
        let size: UInt32 = mask == 0xFFFF ? 2 : 4
        // Read all eight, then write seven: the saved esp is skipped, as on the hardware.
        var values: [UInt32] = []
        for slot in 0..<8 { values.append(try peek(mask, at: size &* UInt32(slot))) }
        for (slot, r) in (0..<8).reversed().enumerated() where r != 4 { writeRegister(r, values[slot], mask) }
        cpu.esp &+= 8 &* size
    }

    /*X:577 Pops that can fail halfway.

    These three show the fault rule of `X:540` under pressure. `popToMemory` must move esp *before* it
    decodes its operand, because `popl 4(%esp)` means four above the new esp, and yet a fault in the
    write must leave esp as it was; so it saves esp and puts it back on the way out of a failure.
    `popSegment` loads the selector, with every check of `X:230`, before esp moves at all. And `enter`
    works on a local copy of esp for its writes, so that a page fault halfway through a nested frame
    leaves ebp and esp untouched and the instruction can simply run again. */
    /// pop to an r/m operand (0x8F /0); the address is computed with esp already incremented.
    mutating func popToMemory(_ mask: UInt32) throws(Fault) {
        // Read the value without moving esp, then move esp before decoding the operand's address,
        // because `popl 4(%esp)` means 4 above the *new* esp. A fault puts esp back.
        let value = try peek(mask)
        let savedESP = cpu.esp
        cpu.esp &+= mask == 0xFFFF ? 2 : 4
        do throws(Fault) {
            let (reg, rm) = try decodeModRM()
            guard reg == 0 else { throw .invalidOpcode }
            try writeOperand(rm, value, mask)
        } catch {
            cpu.esp = savedESP
            throw error
        }
    }

    /// Pops a selector into a data or stack segment register, with the checks of `X:230`.
    mutating func popSegment(_ name: SegmentRegisterName) throws(Fault) {
        // Load (and check) the segment first; only a load that succeeds may move esp.
        let value = try peek(operandMask)
        try loadSegment(name, SegmentSelector(rawValue: UInt16(truncatingIfNeeded: value)))
        cpu.esp &+= operandMask == 0xFFFF ? 2 : 4
    }

    /// enter $size, $level: push ebp, copy `level - 1` outer frame pointers, make the new frame.
    mutating func enter(_ mask: UInt32) throws(Fault) {
        let size = try fetch16()
        let level = UInt32(try fetch8() & 0x1F)
        let width: UInt32 = mask == 0xFFFF ? 2 : 4
        let ss = segmentBases[SegmentRegisterName.ss.rawValue]
        // Work on a copy of esp so that a fault part-way leaves the real one untouched.
        var esp = cpu.esp &- width
        try writeMemory(ss &+ esp, readRegister(5, mask), mask)
        let frame = esp
        // Nesting levels copy the outer frames' pointers, for languages with nested procedures (Pascal);
        // C compilers always use level 0.
        if level > 0 {
            var ebp = cpu.ebp
            for _ in 1..<level {
                ebp &-= width
                esp &-= width
                try writeMemory(ss &+ esp, try readMemory(ss &+ ebp, mask), mask)
            }
            esp &-= width
            try writeMemory(ss &+ esp, frame, mask)
        }
        // Only now, with every write done, do ebp and esp change: ebp to the new frame, esp below
        // the `size` bytes of locals.
        writeRegister(5, frame, mask)
        cpu.esp = esp &- size
    }
}
/*:*/
