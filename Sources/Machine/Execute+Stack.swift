/*X:575 Calls, jumps and the stack.

The stack grows down: `push` decrements esp and then writes, `pop` reads and then increments. A near
`call` pushes the address of the next instruction and jumps; `ret` pops it back, and `ret $n` also
discards `n` bytes of arguments. The indirect forms in group 5 (`call *%eax`, `jmp *table(,%ecx,4)`) take
the target from an r/m operand: that is how compilers implement function pointers and `switch` jump
tables.

`enter` and `leave` build and tear down a stack frame; gcc uses `leave` constantly and `enter` almost
never, but both are here. Two small traps for the unwary, both honoured: `pop` to a memory operand
addressed through esp computes the address *after* esp moved, and `push %esp` pushes the value esp
had *before* the push. */

extension Core {
    /// Group 4 (0xFE): inc and dec of a byte operand.
    mutating func group4() throws(Fault) {
        let (reg, rm) = try decodeModRM()
        guard reg < 2 else { throw .invalidOpcode }
        let result = incDec(try readOperand(rm, 0xFF, forUpdate: true), decrement: reg == 1, 0xFF)
        try writeOperand(rm, result, 0xFF)
    }

    /// Group 5 (0xFF): inc, dec, near call and jmp through an operand, push. Far forms raise #UD.
    mutating func group5(_ mask: UInt32) throws(Fault) {
        let (reg, rm) = try decodeModRM()
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
        case 4: jump(to: try readOperand(rm, mask))
        case 6: try push(try readOperand(rm, mask), mask)
        default: throw .invalidOpcode  // 3 and 5 are far call/jmp (not emulated), 7 is undefined
        }
    }

    /// pushal / pushaw: eax, ecx, edx, ebx, the original esp, ebp, esi, edi.
    mutating func pushAll(_ mask: UInt32) throws(Fault) {
        let size: UInt32 = mask == 0xFFFF ? 2 : 4
        // Every value is written before esp moves; the esp stored is the one from before pusha.
        let base = segmentBases[SegmentRegisterName.ss.rawValue] &+ cpu.esp
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

    /// pop to an r/m operand (0x8F /0); the address is computed with esp already incremented.
    mutating func popToMemory(_ mask: UInt32) throws(Fault) {
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
        writeRegister(5, frame, mask)
        cpu.esp = esp &- size
    }
}
/*:*/
