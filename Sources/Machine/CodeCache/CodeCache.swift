/*X:660 The code cache: decode once, run many times.

Watch the interpreter of `X:540` run the inner loop of the CRC program, eight instructions that go round
some two million times. Every time round it fetches each instruction byte through the code page, tests
for prefixes, splits each ModR/M byte into its fields, works out that `83 e0 01` means "and the
sign-extended byte 1 into eax", and only then does the one `and` that was the point. The answer never
changes: the bytes are the same bytes every time. So the second and fastest way through the machine
decodes each instruction once, keeps what it learned, and on every later visit goes straight to the
work. That is the *code cache*, and every emulator that cares about speed has one in some form (QEMU's
goes further and translates to host machine code).

The unit of caching is a *block*: a straight-line run of instructions, starting wherever control arrived
and ending at the first instruction that may go somewhere else (a jump, call or return), at the end of
the page, or at an instruction the cache does not decode itself. Blocks are found by the host-physical
address of their first byte, not by eip, for the same reason the TLB exists: one frame of code may be
mapped at several addresses, and what the bytes mean does not depend on which.

```
   eip --(fetch page, X:510)--> physical address --(hash)--> table slot --> block
                                                                             |
      pool of decoded instructions:  [ mov | and | shr | neg | and | xor | dec | jne ] ...
```

Three promises make the cache invisible, and each has its section:

* **The same work, in the same ticks** (`X:670`): a block runs one instruction at a time, spending the
  budget, setting eip and taking faults exactly as `step()` would, and anything it cannot do the same
  way it hands to `step()` itself.
* **Translation stays on the path** (`X:670`): every block starts by checking the current code page
  through the TLB, so unmapping a page, or taking away ring 3's right to it, still faults the next
  fetch however warm the cache is.
* **Never stale** (`X:675`): a write into a frame, from anywhere, moves on that frame's version, and a
  block decoded at an older version is never run again.

`Machine.codeCacheEnabled` turns the cache off, leaving the plain interpreter, which is how the tests
hold the two to the same answers (`X:680` has the figures). */

/// What a cached instruction does, with its operation and width folded into the case, so that the
/// executor's switch (`X:672`) hands each helper constants, the trick of `X:545`. Names read
/// `<operation><destination><source>`: R a register, M memory, I an immediate; "Operand" means the
/// r/m operand, register or memory, decided when the instruction runs.
enum CachedOperation: UInt8 {
    /// Not decoded here: `step()` fetches and runs it, and the block ends after it.
    case interpret
    // The 32-bit ALU, operation by operation (0 add ... 7 cmp), in five forms each.
    case addRR, orRR, adcRR, sbbRR, andRR, subRR, xorRR, cmpRR
    case addRM, orRM, adcRM, sbbRM, andRM, subRM, xorRM, cmpRM
    case addMR, orMR, adcMR, sbbMR, andMR, subMR, xorMR, cmpMR
    case addRI, orRI, adcRI, sbbRI, andRI, subRI, xorRI, cmpRI
    case addMI, orMI, adcMI, sbbMI, andMI, subMI, xorMI, cmpMI
    // Byte ALU forms, the operation in `aux`: r/m op= reg, reg op= r/m, r/m op= immediate.
    case aluByteIntoOperand, aluByteIntoRegister, aluByteImmediate
    // test: an and for the flags only.
    case testRR, testMR, testRI, testMI, testByte, testByteImmediate
    // Moves.
    case movRR, movRM, movMR, movRI, movMI, movByteToOperand, movByteToRegister, movByteImmediate
    case movzxByte, movzxWord, movsxByte, movsxWord, lea
    // One-register and stack instructions.
    case incR, decR, pushR, popR, pushI, cdq, nop
    // Groups, their operation in `reg`: shifts by an immediate or by cl, group 3 and group 5.
    case shiftImmediate, shiftCL, shiftByteImmediate, shiftByteCL, group3, group3Byte, group5, incDecByte
    // Multiplication and the conditional moves and sets, the condition in `aux`.
    case imul, imulImmediate, setcc, cmovcc
    // Control transfers: each ends its block.
    case jo, jno, jb, jae, je, jne, jbe, ja, js, jns, jp, jnp, jl, jge, jle, jg
    case jmp, call, ret, retRelease, leave
}

/*X:662 A decoded instruction.

A `CachedInstruction` is everything `step()` would have worked out before doing anything: which
operation, the registers, the memory operand's form (`AddressForm`: base, index, scale, displacement,
and the segment it lands in, prefixes already applied), the immediate, and the instruction's length, so
that eip can move past it in one addition. It takes 24 bytes, and nothing in it depends on a register's
value: a memory operand is kept as its *form* and evaluated each time it runs, because `(%ebx,%ecx,4)`
names a different address every time round a loop. */

/// One instruction as the code cache keeps it.
struct CachedInstruction {
    /// The memory operand's form (base, index, scale, displacement); for branches, the displacement.
    var form = AddressForm()
    /// The immediate operand, already sign- or zero-extended to 32 bits; the release of `ret $n`.
    var immediate: UInt32 = 0
    /// What to do.
    var operation = CachedOperation.interpret
    /// The instruction's length in bytes; 0 for `.interpret`, which `step()` fetches itself.
    var length: UInt8 = 0
    /// The ModR/M reg field: a register, or the operation of a group opcode.
    var reg: UInt8 = 0
    /// The r/m register 0-7, or `memoryOperand` when the r/m operand is in memory.
    var rm: UInt8 = 0
    /// The segment register number the memory operand is in.
    var segment: UInt8 = 0
    /// The byte ALU operation, or the condition code of `setcc` and `cmovcc`.
    var aux: UInt8 = 0
    /// Where the instruction starts, in bytes from the start of its block.
    var offset: UInt16 = 0

    /// The `rm` value that means "in memory, at `form`".
    static let memoryOperand: UInt8 = 8

    /// True when this instruction ends its block: it may transfer control, or `step()` runs it.
    var endsBlock: Bool {
        switch operation {
        case .interpret, .jo, .jno, .jb, .jae, .je, .jne, .jbe, .ja, .js, .jns, .jp, .jnp, .jl, .jge, .jle, .jg,
             .jmp, .call, .ret, .retRelease:
            true
        case .group5: reg == 2 || reg == 4  // call and jmp through an operand
        default: false
        }
    }
}

/*X:663 Where blocks live.

Blocks live in two pieces of memory the core allocates when it is made:

* the **pool**, an array of instructions where each new block is appended, and
* the **table**, `blockSlotCount` slots indexed by a hash of the block's physical address, each naming
  where its block starts in the pool, how long it is, and the version of its frame it was decoded from.

Neither ever grows. A block that hashes to a busy slot replaces the one there, and when the pool is
full the whole cache is emptied and starts again: both are rare and cost only a re-decode, which is the
charm of a cache whose every entry can be rebuilt from the bytes in RAM. */

/// One slot of the block table.
struct CachedBlock {
    /// The block's first host-physical address plus one; 0 marks an empty slot.
    var tag: UInt32 = 0
    /// How many instructions the block holds (at least one).
    var count: UInt32 = 0
    /// The index of its first instruction in the pool.
    var start: Int = 0
    /// The version of its frame (`X:675`) when it was decoded.
    var version: UInt64 = 0
}

/// The slots of the block table: a power of two, so a hash is masked rather than divided.
let blockSlotCount = 4096
/// The pool's capacity in instructions (about 1.3 MB); when full, the cache empties.
let cachedInstructionCapacity = 65536
/// The longest block, in instructions: long enough to cover a loop body, short enough to keep the
/// worst-case decode of one visit small.
let blockInstructionLimit = 64

/// The code cache's memory, allocated with the core and freed with it.
struct CodeCacheStorage {
    /// `blockSlotCount` block slots.
    var table: UnsafeMutablePointer<CachedBlock>
    /// `cachedInstructionCapacity` instructions; the first `used` hold decoded blocks.
    var pool: UnsafeMutablePointer<CachedInstruction>
    /// How much of the pool is taken.
    var used = 0

    /// Allocates an empty cache.
    init() {
        table = .allocate(capacity: blockSlotCount)
        table.initialize(repeating: CachedBlock(), count: blockSlotCount)
        pool = .allocate(capacity: cachedInstructionCapacity)
    }

    /// Forgets every block; the memory stays for the next ones.
    mutating func empty() {
        table.update(repeating: CachedBlock(), count: blockSlotCount)
        used = 0
    }

    /// Gives the memory back.
    func deallocate() {
        table.deallocate()
        pool.deallocate()
    }

    /// The slot for a block starting at host-physical `physical`: a multiplicative hash, whose top
    /// bits mix every bit of the address, so neighbouring blocks land far apart.
    @inline(__always)
    func slot(for physical: UInt32) -> UnsafeMutablePointer<CachedBlock> {
        table + Int((physical &* 0x9E37_79B1) >> UInt32(32 - blockSlotCount.trailingZeroBitCount))
    }
}
/*:*/
