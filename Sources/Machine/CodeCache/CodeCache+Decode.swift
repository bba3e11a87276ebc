/*X:664 Decoding a block.

The decoder reads straight from the frame, through `CodeReader`, and it has one rule that keeps it
honest: it never reads past the end of the page. An instruction that does not fit (its last bytes
are on the next page, which may not even be mapped) is not decoded at all; it becomes `.interpret`, and
`step()`, which fetches byte by byte through the MMU, runs it and takes whatever fault the hardware
would. The reader therefore returns zeroes past the end and remembers that it overran, and the
decoder checks that once, at the end of the instruction, instead of at every byte.

What the cache decodes is what compiled code spends its time on: the ALU in its common forms, the
moves, `lea`, `movzx` and `movsx`, pushes and pops, the shift and group opcodes, `imul`, `setcc` and
`cmovcc`, and the jumps, calls and returns. One segment prefix is allowed in front, which covers the
stack protector's `%gs:0x14`. Everything else, from `rep movsl` to `int $0x80` and every 0x66
instruction, is `.interpret`, and nothing is lost by that: `step()` runs those exactly as it always
did. The cache only has to be right about what it decodes, and the executor of `X:672` does that
work with the interpreter's own helpers (`aluInto`, `shift`, `group3`, `push`, `condition`), so the
arithmetic itself is written once, for both roads.

The ModR/M byte is decoded by the same code as the interpreter's, `AddressForm(modrm:from:)`, reading
from a `CodeReader` instead of through eip: the two cannot disagree about what `8b 04 8a` means. */

/// Reads the bytes of one frame for the decoder, never past the frame's end.
struct CodeReader: InstructionBytes {
    /// The start of the frame in host memory.
    let frame: UnsafeRawPointer
    /// The next offset to read, 0 ... pageSize.
    var offset: Int
    /// Set when a read wanted bytes past the end of the frame; they read as zero.
    var overran = false

    mutating func nextByte() -> UInt8 {
        guard offset < pageSize else {
            overran = true
            return 0
        }
        defer { offset += 1 }
        return frame.load(fromByteOffset: offset, as: UInt8.self)
    }

    mutating func nextDoubleword() -> UInt32 {
        let b0 = UInt32(nextByte()), b1 = UInt32(nextByte()), b2 = UInt32(nextByte()), b3 = UInt32(nextByte())
        return b0 | b1 << 8 | b2 << 16 | b3 << 24
    }

    /// The next byte, sign-extended to 32 bits.
    mutating func nextSigned8() -> UInt32 { UInt32(bitPattern: Int32(Int8(bitPattern: nextByte()))) }

    /// The next two bytes, little-endian.
    mutating func nextWord() -> UInt32 { UInt32(nextByte()) | UInt32(nextByte()) << 8 }
}

extension Core {
    /// Decodes the block starting at host-physical `physical` into the pool and fills `slot` with it,
    /// stamped with `version`; empties the whole cache first if the pool could not hold a long block.
    @inline(never)
    mutating func decodeBlock(at physical: UInt32, into slot: UnsafeMutablePointer<CachedBlock>, version: UInt64) {
        if codeCache.used + blockInstructionLimit > cachedInstructionCapacity {
            codeCache.empty()
            statistics.codeCacheFlushes &+= 1
        }
        var reader = CodeReader(frame: UnsafeRawPointer(ram + Int(physical & ~pageOffsetMask)),
                                offset: Int(physical & pageOffsetMask))
        let start = codeCache.used
        var count = 0
        // Decode until an instruction ends the block, the page ends, or the block is long enough.
        repeat {
            var instruction = decodeInstruction(&reader)
            instruction.offset = UInt16(reader.offset - Int(physical & pageOffsetMask)) &- UInt16(instruction.length)
            codeCache.pool[start + count] = instruction
            count += 1
            if instruction.endsBlock { break }
        } while reader.offset < pageSize && count < blockInstructionLimit
        codeCache.used += count
        statistics.codeCacheBlocks &+= 1
        slot.pointee = CachedBlock(tag: physical &+ 1, count: UInt32(count), start: start, version: version)
    }

    /// Decodes one instruction at the reader's offset, or `.interpret` (length 0, reader rewound)
    /// when the cache does not handle it or it does not fit in the frame.
    mutating func decodeInstruction(_ reader: inout CodeReader) -> CachedInstruction {
        let begin = reader.offset
        var instruction = decodeOperation(&reader)
        guard !reader.overran, instruction.operation != .interpret else {
            reader.offset = begin
            return CachedInstruction()
        }
        instruction.length = UInt8(reader.offset - begin)
        return instruction
    }
}
/*:*/
