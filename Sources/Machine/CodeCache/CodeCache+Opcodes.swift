/*X:665 The opcodes the cache knows.

This is the one-byte map of `X:540` once more, but read only once per instruction and written down
rather than executed. Each case sets the operation and whatever the instruction carries. The ALU rows
show the one trick: the 32-bit forms pick their case by adding the row's operation number (0 add ...
7 cmp) to the first case of the form, so `31 c8` becomes `.xorRR` and never looks at the number again.
Where an encoding names its destination in the reg field (`03`, `8b`), the decoder swaps the two
registers, so that every `RR` case reads "rm = rm op reg" and the executor has one shape to follow.
Anything not listed is `.interpret`, including every instruction whose reg field the hardware
rejects, so that `step()` raises the #UD. */

extension Core {
    /// Decodes the operation at the reader's offset: its case and operands, but not its length.
    mutating func decodeOperation(_ reader: inout CodeReader) -> CachedInstruction {
        var instruction = CachedInstruction()
        var opcode = reader.nextByte()
        // One segment prefix (26 2E 36 3E for es cs ss ds, 64 65 for fs gs); any other prefix interprets.
        var override: UInt8?
        if opcode & 0xE7 == 0x26 || opcode & 0xFE == 0x64 {
            override = opcode & 0xE7 == 0x26 ? opcode >> 3 & 3 : opcode &- 0x60
            opcode = reader.nextByte()
        }
        func modRM() { Self.readModRM(&instruction, &reader, override) }
        let inMemory = { instruction.rm == CachedInstruction.memoryOperand }
        switch opcode {
        case 0x00...0x3F where opcode & 7 < 6:
            decodeALURow(opcode, &instruction, &reader, override)
        case 0x40...0x47: instruction.operation = .incR; instruction.rm = opcode & 7
        case 0x48...0x4F: instruction.operation = .decR; instruction.rm = opcode & 7
        case 0x50...0x57: instruction.operation = .pushR; instruction.rm = opcode & 7
        case 0x58...0x5F: instruction.operation = .popR; instruction.rm = opcode & 7
        case 0x68: instruction.operation = .pushI; instruction.immediate = reader.nextDoubleword()
        case 0x6A: instruction.operation = .pushI; instruction.immediate = reader.nextSigned8()
        case 0x69, 0x6B:
            modRM()
            instruction.operation = .imulImmediate
            instruction.immediate = opcode == 0x69 ? reader.nextDoubleword() : reader.nextSigned8()
        case 0x70...0x7F:
            instruction.operation = Self.numbered(.jo, opcode)
            instruction.form = AddressForm(displacement: reader.nextSigned8())
        case 0x80, 0x82:
            modRM()
            instruction.operation = .aluByteImmediate
            instruction.aux = instruction.reg
            instruction.immediate = UInt32(reader.nextByte())
        case 0x81, 0x83:
            modRM()
            instruction.operation = Self.numbered(inMemory() ? .addMI : .addRI, instruction.reg)
            instruction.immediate = opcode == 0x81 ? reader.nextDoubleword() : reader.nextSigned8()
        case 0x84: modRM(); instruction.operation = .testByte
        case 0x85: modRM(); instruction.operation = inMemory() ? .testMR : .testRR
        case 0x88: modRM(); instruction.operation = .movByteToOperand
        case 0x89: modRM(); instruction.operation = inMemory() ? .movMR : .movRR
        case 0x8A: modRM(); instruction.operation = .movByteToRegister
        case 0x8B:
            modRM()
            if inMemory() { instruction.operation = .movRM } else { Self.swapRegisters(&instruction, .movRR) }
        case 0x8D: modRM(); instruction.operation = inMemory() ? .lea : .interpret  // lea of a register: #UD
        /*X:666 The second half of the map.

        From 0x90 on the map is moves of every size, shifts, returns and the groups. Two kinds of
        instruction need care. Those whose reg field only some values make legal (`C6`/`C7` must have 0,
        `FE` only 0 and 1, `FF` has far forms the machine does not emulate) stay `.interpret` for the
        rest, so that `step()` raises the #UD the hardware would. And the group 3 `test` is the one group
        member with an immediate, so only it reads one. */
        case 0x90: instruction.operation = .nop
        case 0x99: instruction.operation = .cdq
        case 0xA0...0xA3:
            // The accumulator and a fixed address: a memory operand with no base and no index.
            instruction.form = AddressForm(displacement: reader.nextDoubleword())
            instruction.rm = CachedInstruction.memoryOperand
            instruction.segment = override ?? UInt8(SegmentRegisterName.ds.rawValue)
            switch opcode {
            case 0xA0: instruction.operation = .movByteToRegister
            case 0xA1: instruction.operation = .movRM
            case 0xA2: instruction.operation = .movByteToOperand
            default: instruction.operation = .movMR
            }
        case 0xA8: instruction.operation = .testByteImmediate; instruction.immediate = UInt32(reader.nextByte())
        case 0xA9: instruction.operation = .testRI; instruction.immediate = reader.nextDoubleword()
        case 0xB0...0xB7:
            instruction.operation = .movByteImmediate
            instruction.rm = opcode & 7
            instruction.immediate = UInt32(reader.nextByte())
        case 0xB8...0xBF:
            instruction.operation = .movRI
            instruction.rm = opcode & 7
            instruction.immediate = reader.nextDoubleword()
        case 0xC0, 0xC1, 0xD0, 0xD1:
            // Shifts by a constant: the count byte of C0/C1, or the 1 that D0/D1 imply.
            modRM()
            instruction.operation = opcode & 1 == 0 ? .shiftByteImmediate : .shiftImmediate
            instruction.immediate = opcode < 0xD0 ? UInt32(reader.nextByte()) : 1
        case 0xD2: modRM(); instruction.operation = .shiftByteCL
        case 0xD3: modRM(); instruction.operation = .shiftCL
        case 0xC2: instruction.operation = .retRelease; instruction.immediate = reader.nextWord()
        case 0xC3: instruction.operation = .ret
        case 0xC6, 0xC7:
            modRM()
            guard instruction.reg == 0 else { break }  // the other reg values are #UD
            if opcode == 0xC6 {
                instruction.operation = .movByteImmediate
                instruction.immediate = UInt32(reader.nextByte())
            } else {
                instruction.operation = inMemory() ? .movMI : .movRI
                instruction.immediate = reader.nextDoubleword()
            }
        case 0xC9: instruction.operation = .leave
        case 0xE8, 0xE9:
            instruction.operation = opcode == 0xE8 ? .call : .jmp
            instruction.form = AddressForm(displacement: reader.nextDoubleword())
        case 0xEB: instruction.operation = .jmp; instruction.form = AddressForm(displacement: reader.nextSigned8())
        case 0xF6, 0xF7:
            // Group 3; only test (/0 and /1) carries an immediate.
            modRM()
            instruction.operation = opcode == 0xF6 ? .group3Byte : .group3
            if instruction.reg < 2 {
                instruction.immediate = opcode == 0xF6 ? UInt32(reader.nextByte()) : reader.nextDoubleword()
            }
        case 0xFE:
            modRM()
            if instruction.reg < 2 { instruction.operation = .incDecByte }
        case 0xFF:
            // inc, dec, call, jmp and push through an operand; the far forms and /7 interpret (#UD).
            modRM()
            switch instruction.reg {
            case 0, 1, 2, 4, 6: instruction.operation = .group5
            default: break
            }
        case 0x0F: decodeTwoByte(&instruction, &reader, override)
        default: break  // .interpret
        }
        return instruction
    }

    /*X:667 An ALU row, and the ModR/M byte.

    The first 64 opcodes come in rows of six (`X:550`), and `decodeALURow` sorts each into the five
    32-bit forms and the three byte forms of `CachedOperation`. The ModR/M byte itself goes through
    `AddressForm(modrm:from:)`, the interpreter's own decoder, and `readModRM` adds only what the cache
    must decide once: whether the operand is a register or memory, and which segment it lives in. */
    /// The six ALU forms of a row of the one-byte map (`X:550`): `opcode` is 0x00-0x3F, low bits 0-5.
    private func decodeALURow(_ opcode: UInt8, _ instruction: inout CachedInstruction, _ reader: inout CodeReader,
                              _ override: UInt8?) {
        let operation = opcode >> 3
        switch opcode & 7 {
        case 0, 2:
            Self.readModRM(&instruction, &reader, override)
            instruction.operation = opcode & 7 == 0 ? .aluByteIntoOperand : .aluByteIntoRegister
            instruction.aux = operation
        case 1:
            Self.readModRM(&instruction, &reader, override)
            let inMemory = instruction.rm == CachedInstruction.memoryOperand
            instruction.operation = Self.numbered(inMemory ? .addMR : .addRR, operation)
        case 3:
            Self.readModRM(&instruction, &reader, override)
            if instruction.rm == CachedInstruction.memoryOperand {
                instruction.operation = Self.numbered(.addRM, operation)
            } else {
                Self.swapRegisters(&instruction, Self.numbered(.addRR, operation))
            }
        case 4:
            instruction.operation = .aluByteImmediate
            instruction.aux = operation
            instruction.immediate = UInt32(reader.nextByte())
        default:
            instruction.operation = Self.numbered(.addRI, operation)
            instruction.immediate = reader.nextDoubleword()
        }
    }

    /// Reads a ModR/M byte and what follows it: `reg`, and `rm` as a register or as `memoryOperand`
    /// with its form and segment (the prefix's, or ss for esp and ebp bases, or ds).
    static func readModRM(_ instruction: inout CachedInstruction, _ reader: inout CodeReader, _ override: UInt8?) {
        let modrm = reader.nextByte()
        instruction.reg = modrm >> 3 & 7
        guard modrm < 0xC0 else {
            instruction.rm = modrm & 7
            return
        }
        instruction.form = AddressForm(modrm: modrm, from: &reader)
        instruction.rm = CachedInstruction.memoryOperand
        let standard = instruction.form.stackDefault ? SegmentRegisterName.ss : .ds
        instruction.segment = override ?? UInt8(standard.rawValue)
    }

    /// The case `number` places after `first`: the ALU operation of a row, or a jump's condition in
    /// the low four bits of its opcode.
    static func numbered(_ first: CachedOperation, _ number: UInt8) -> CachedOperation {
        let limit: UInt8 = first == .jo ? 16 : 8
        return CachedOperation(rawValue: first.rawValue &+ number % limit) ?? .interpret
    }

    /// Makes a register-to-register form whose encoding names the destination in reg read
    /// "rm = rm op reg", like the others.
    static func swapRegisters(_ instruction: inout CachedInstruction, _ operation: CachedOperation) {
        (instruction.reg, instruction.rm) = (instruction.rm, instruction.reg)
        instruction.operation = operation
    }

    /*X:668 The second map.

    Of the 256 two-byte opcodes (`X:585`) the cache takes the ones compiled code is made of: the long
    conditional jumps, `setcc` and `cmovcc` with their condition in the low four bits, two-operand
    `imul`, and the widening loads `movzx` and `movsx`. The long nop and the prefetch hints decode to
    `.nop`, their ModR/M byte read and ignored, as the interpreter does. */
    /// The part of the second map (`X:585`) the cache decodes.
    private func decodeTwoByte(_ instruction: inout CachedInstruction, _ reader: inout CodeReader, _ override: UInt8?) {
        let opcode = reader.nextByte()
        switch opcode {
        case 0x0D, 0x18...0x1F:
            Self.readModRM(&instruction, &reader, override)  // prefetch hints and the long nop
            instruction.operation = .nop
        case 0x40...0x4F:
            Self.readModRM(&instruction, &reader, override)
            instruction.operation = .cmovcc
            instruction.aux = opcode & 0xF
        case 0x80...0x8F:
            instruction.operation = Self.numbered(.jo, opcode)
            instruction.form = AddressForm(displacement: reader.nextDoubleword())
        case 0x90...0x9F:
            Self.readModRM(&instruction, &reader, override)
            instruction.operation = .setcc
            instruction.aux = opcode & 0xF
        case 0xAF: Self.readModRM(&instruction, &reader, override); instruction.operation = .imul
        case 0xB6, 0xB7, 0xBE, 0xBF:
            Self.readModRM(&instruction, &reader, override)
            switch opcode {
            case 0xB6: instruction.operation = .movzxByte
            case 0xB7: instruction.operation = .movzxWord
            case 0xBE: instruction.operation = .movsxByte
            default: instruction.operation = .movsxWord
            }
        default: break  // .interpret
        }
    }
}
/*:*/
