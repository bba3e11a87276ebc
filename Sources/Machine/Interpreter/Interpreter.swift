/*X:500 The interpreter: running real i386 code.

Guest programs in this book are not pretend programs. They are C compiled by `gcc -m32 -O2`, and the
bytes the compiler wrote are the bytes this interpreter executes, one instruction at a time, through the
same MMU (`X:330`) the Host programs with its shadow page tables. It runs **ring-3 code only**: the guest
kernel is Swift (`G:010`), so the interpreter never needs to run privileged code, and every privileged
instruction a program tries becomes the #GP a real CPU would raise.

The contract of `run(maxInstructions:)` is the one the Switcher needs:

* it executes until the budget is spent (`.budgetExhausted`, and the program can simply be resumed);
* or until some event went through the IDT and left the CPU in the kernel (`.enteredKernel`), with the
  frame already on the kernel stack, exactly as the hardware leaves it: a page fault, a #GP from a
  privileged instruction, a program's `int $0x80`;
* or until the machine itself is broken (`.tripleFault`, `.machineCheck`).

An event delivered to a handler that itself runs at ring 3 (possible, if odd) does not stop the run: the
interpreter simply carries on in the handler.

The budget is counted in clock ticks (`X:600`): one per instruction, and one more per extra iteration of
a `rep` string instruction, because a `rep movsb` over a megabyte is one instruction but certainly not
one unit of work. `MachineStatistics.instructions` counts instructions proper.

There are two loops behind the contract. `runDecoding()` below fetches and decodes every instruction
as it comes, the interpreter this part of the appendix describes; `runCached()` (`X:670`) runs blocks
of instructions decoded earlier and kept in the code cache, and falls back on the same `stepOnce()`
for everything it does not handle itself. `Machine.codeCacheEnabled` chooses; the tests run both and
insist on the same answers, tick for tick. */

extension Core {
    /// Runs ring-3 code for at most `budget` ticks; see `X:500`.
    mutating func run(budget: UInt64) -> StopReason {
        precondition(cpu.cpl == 3, "run: the interpreter executes ring-3 code only (CPL is \(cpu.cpl))")
        // The budget lives in the core, not in a local, because rep instructions spend from it too.
        remaining = budget
        runBudget = budget
        repeatTicks = 0
        resetPrefixes()
        // Two roads to the same place: through the code cache (X:660), or decoding every instruction.
        let stop = codeCacheEnabled ? runCached() : runDecoding()
        // Settle the accounts once per run, not once per instruction.
        let ticks = budget &- remaining
        statistics.instructions &+= ticks &- repeatTicks
        clock.advance(by: ticks)
        materializeFlags()
        return stop
    }

    /// The run loop without the cache: fetch, decode and execute, one instruction at a time.
    mutating func runDecoding() -> StopReason {
        while remaining != 0 {
            if let stop = stepOnce() { return stop }
        }
        return .budgetExhausted
    }

    /// Spends one tick on one instruction through `step()`, single-step trap included; returns why
    /// the run must stop, or nil to go on.
    @inline(__always)
    mutating func stepOnce() -> StopReason? {
        remaining &-= 1
        // Remember where the instruction began: a fault restarts it from here.
        instructionStart = cpu.eip
        // TF counts as it was *before* the instruction, so popf setting TF traps one later.
        let singleStep = cpu.eflags.contains(.trap)
        do throws(Fault) {
            try step()
            if singleStep { throw .trap(1) }
        } catch {
            return handle(error)
        }
        return nil
    }

    /// Delivers a fault raised in a run; returns why the run must stop, or nil when a handler at
    /// ring 3 took it, which is still ring-3 code: the interpreter keeps going.
    mutating func handle(_ fault: Fault) -> StopReason? {
        resetPrefixes()
        let reason = deliverFault(fault)
        if case .enteredKernel = reason, cpu.cpl == 3 { return nil }
        return reason
    }

    /// Delivers the fault an instruction raised: faults restart the instruction (eip back at its
    /// start), traps and software interrupts resume after it. Frames outside RAM stop the machine.
    mutating func deliverFault(_ fault: Fault) -> StopReason {
        switch fault {
        case let .exception(vector, errorCode):
            cpu.eip = instructionStart
            return deliver(vector, errorCode: errorCode, kind: .exception)
        case let .pageFault(pageFault):
            cpu.eip = instructionStart
            if pageFault.frameOutsideRAM != nil { return .machineCheck(reason: pageFault.description) }
            cpu.cr2 = pageFault.address
            return deliver(14, errorCode: pageFault.errorCode.rawValue, kind: .exception)
        case let .software(vector):
            return deliver(vector, errorCode: nil, kind: .software, restartAt: instructionStart)
        case let .trap(vector):
            return deliver(vector, errorCode: nil, kind: .exception)  // the instruction completed
        }
    }
}

/*X:510 Fetching, decoding, and the fast path to memory.

An x86 instruction is a run of bytes of variable length, up to fifteen:

```
[prefixes] opcode [0F xx] [ModR/M] [SIB] [displacement] [immediate]
```

*Prefixes* change the instruction that follows: 0x66 makes a 32-bit operation 16-bit, 0x26/0x2E/0x36/
0x3E/0x64/0x65 pick the segment for the memory operand (es, cs, ss, ds, fs, gs), 0xF3 and 0xF2 repeat
a string instruction, 0xF0 (lock) we accept and ignore, since there is only one CPU. The address-size
prefix 0x67 (16-bit addressing) is not supported and raises #UD; gcc never emits it for 32-bit code.

The *ModR/M* byte names the operands. Its `reg` field is a register; its `mod` and `r/m` fields are
either another register (`mod` = 3) or a memory operand `base + index * scale + displacement`:

```
  7  6  5     3  2     0          7    6  5     3  2     0
+-----+--------+--------+        +-------+--------+--------+
| mod |  reg   |  r/m   |        | scale | index  |  base  |   (SIB, when r/m = 100)
+-----+--------+--------+        +-------+--------+--------+
```

with the well-known special cases: r/m = 101 with mod = 00 is a bare 32-bit address, SIB index 100 means
"no index", and SIB base 101 with mod = 00 means "no base, 32-bit displacement". Operands based on esp
or ebp use the ss segment by default, everything else ds.

A worked example makes the fields concrete. gcc compiles `x = a[i]`, with `a` the first argument and
`i` in ecx, to `movl 8(%ebp),%edx; movl (%edx,%ecx,4),%eax`. The second is `8b 04 8a`:

```
  8b          opcode: mov r/m32 into a register (Gv, Ev)
  04 = 00 000 100    mod 00: no displacement; reg 000: eax; r/m 100: a SIB byte follows
  8a = 10 001 010    scale 10: times 4; index 001: ecx; base 010: edx
  address = edx + ecx * 4, in ds
```

The table of what `mod` means, for r/m values other than the two escapes:

| mod | operand                          | bytes that follow   |
|-----|----------------------------------|---------------------|
| 00  | `[reg]`                          | none                |
| 01  | `[reg + disp8]`, sign-extended   | one                 |
| 10  | `[reg + disp32]`                 | four                |
| 11  | the register itself              | none                |

**Segments.** Every segment's base is honoured (it is cached in `segmentBases`, so it costs one
addition), which is what makes fs- and gs-based thread pointers work. Segment *limits* are not checked:
lguest's guests, like all of Linux, use flat 4 GiB segments for everything the interpreter runs, and the
page tables, which *are* fully checked, are what protect memory. Stacks are assumed to be 32-bit (ss's
D/B bit set).

**Speed.** Fetching goes through a one-page cache: the linear page the code is running in and the host
frame behind it. As long as eip stays in that page, fetching a byte is an addition and a load; the MMU is
consulted only when code crosses into another page or something flushes the TLB. Data accesses check the
TLB slot's user tag (`X:340`) and, if it matches and the access does not cross a page, read RAM straight
away. Everything else (TLB misses, page-crossing accesses, faults) takes the slow path through
`readLinear` and `writeLinear`, which share the rules with everyone else.

**Registers.** The eight 32-bit registers also answer to narrower names: ax is the low half of eax, al
its low byte and ah the byte above. The encoding numbers byte registers 0-7 as al, cl, dl, bl, ah, ch,
dh, bh, so byte register 4 is *not* the low byte of esp but the second byte of eax. `readRegister` and
`writeRegister` take the operand width as a mask and do the shuffling; a 16-bit or 8-bit write leaves
the rest of the register alone, exactly as `mov $0x1234,%ax` does on the hardware. */

/// A decoded r/m operand: a register number, or a linear address in memory.
struct Operand {
    /// True when the operand is in memory at `linear`; false when it is register `register`.
    var isMemory: Bool
    /// The register number 0-7 (meaningful only when `isMemory` is false), at the instruction's width.
    var register: Int
    /// The linear address, segment base included (meaningful only when `isMemory` is true).
    var linear: UInt32
}

/// Where the bytes of an instruction come from: the interpreter's fetch through eip (`X:510`), or the
/// code cache's reader over one frame (`X:664`). The ModR/M decoding is written once, against this.
protocol InstructionBytes {
    /// What a read can fail with: a `Fault` for the fetch, `Never` for the cache's reader.
    associatedtype Failure: Error
    /// The next byte of the instruction.
    mutating func nextByte() throws(Failure) -> UInt8
    /// The next four bytes, little-endian.
    mutating func nextDoubleword() throws(Failure) -> UInt32
}

extension Core: InstructionBytes {
    mutating func nextByte() throws(Fault) -> UInt8 { try fetch8() }
    mutating func nextDoubleword() throws(Fault) -> UInt32 { try fetch32() }
}

/// A memory operand as its ModR/M, SIB and displacement bytes describe it, before any register is
/// read: the form `decodeModRM()` evaluates at once and the code cache keeps for later (`X:662`).
struct AddressForm {
    /// The base register 0-7, or 8 for none.
    var base: UInt8 = 8
    /// The index register 0-7, or 8 for none.
    var index: UInt8 = 8
    /// The index's shift: 0-3 for times 1, 2, 4 or 8.
    var scale: UInt8 = 0
    /// The displacement, sign-extended to 32 bits.
    var displacement: UInt32 = 0
    /// True when the operand lives in ss unless a prefix says otherwise (based on esp or ebp).
    var stackDefault = false

    /// A form with only a displacement: a bare address, or a branch's distance.
    init(displacement: UInt32 = 0) { self.displacement = displacement }

    /// Decodes the memory form of `modrm` (mod 00, 01 or 10), reading any SIB byte and displacement.
    @inline(__always)
    init<Bytes: InstructionBytes>(modrm: UInt8, from bytes: inout Bytes) throws(Bytes.Failure) {
        // The three fields of the ModR/M byte, as in the diagram of X:510 (reg is the caller's business).
        let mod = modrm >> 6
        let rm = modrm & 7
        if rm == 4 {
            // r/m = 100 means a SIB byte follows: base + index << scale.
            let sib = try bytes.nextByte()
            let index = sib >> 3 & 7
            let base = sib & 7
            if index != 4 { self.index = index }  // index 100: none
            scale = sib >> 6
            if base == 5 && mod == 0 {  // base 101 with mod 00: a 32-bit displacement, no base
                displacement = try bytes.nextDoubleword()
            } else {
                self.base = base
                stackDefault = base == 4 || base == 5
            }
        } else if rm == 5 && mod == 0 {
            displacement = try bytes.nextDoubleword()  // a bare 32-bit address, how globals are reached
        } else {
            base = rm
            stackDefault = rm == 5
        }
        // mod 01 adds a sign-extended byte (-128 ... 127, the common stack-frame case), mod 10 a doubleword.
        if mod == 1 {
            displacement &+= UInt32(bitPattern: Int32(Int8(bitPattern: try bytes.nextByte())))
        } else if mod == 2 {
            displacement &+= try bytes.nextDoubleword()
        }
    }
}

extension Core {
    // MARK: Fetching

    /// Loads the code page holding `linear` into the fetch cache.
    @inline(never)
    mutating func refillFetchPage(_ linear: UInt32) throws(Fault) {
        // Instruction fetches are reads at user privilege; a failure is a #PF like any other.
        let physical: UInt32
        do { physical = try translate(linear, .fetch, user: true) } catch { throw .pageFault(error) }
        // Remember the page and its frame; the next fetches in this page need no walk at all.
        fetchTag = linear & ~pageOffsetMask
        fetchFrame = physical & ~pageOffsetMask
    }

    /// Fetches the next instruction byte and advances eip.
    @inline(__always)
    mutating func fetch8() throws(Fault) -> UInt8 {
        let linear = segmentBases[SegmentRegisterName.cs.rawValue] &+ cpu.eip
        // Still in the cached code page? Then the frame is known and already checked against RAM.
        if linear & ~pageOffsetMask != fetchTag { try refillFetchPage(linear) }
        cpu.eip &+= 1
        return ram.load(fromByteOffset: Int(fetchFrame | linear & pageOffsetMask), as: UInt8.self)
    }

    /// Fetches a little-endian 32-bit immediate or displacement.
    @inline(__always)
    mutating func fetch32() throws(Fault) -> UInt32 {
        let linear = segmentBases[SegmentRegisterName.cs.rawValue] &+ cpu.eip
        // Fast only when all four bytes are in the cached page: offset 0xFFC is the last that fits.
        if linear & ~pageOffsetMask == fetchTag && linear & pageOffsetMask <= 0xFFC {
            cpu.eip &+= 4
            return UInt32(littleEndian: ram.loadUnaligned(fromByteOffset: Int(fetchFrame | linear & pageOffsetMask),
                                                          as: UInt32.self))
        }
        // The four bytes straddle a page boundary (or the page is not cached): one at a time.
        let b0 = UInt32(try fetch8()), b1 = UInt32(try fetch8()), b2 = UInt32(try fetch8()), b3 = UInt32(try fetch8())
        return b0 | b1 << 8 | b2 << 16 | b3 << 24
    }

    /// Fetches a 16-bit immediate.
    @inline(__always)
    mutating func fetch16() throws(Fault) -> UInt32 {
        // Rare enough (ret $n, enter, 16-bit immediates) that two byte fetches do.
        let low = UInt32(try fetch8())
        return low | UInt32(try fetch8()) << 8
    }

    /// Fetches a sign-extended 8-bit immediate, masked to the operand width.
    @inline(__always)
    mutating func fetchSigned8(_ mask: UInt32) throws(Fault) -> UInt32 {
        UInt32(bitPattern: Int32(Int8(bitPattern: try fetch8()))) & mask
    }

    /// Fetches an immediate of the operand width (8, 16 or 32 bits).
    @inline(__always)
    mutating func fetchImmediate(_ mask: UInt32) throws(Fault) -> UInt32 {
        switch mask {
        case 0xFF: UInt32(try fetch8())
        case 0xFFFF: try fetch16()
        default: try fetch32()
        }
    }

    // MARK: Decoding operands

    /*X:511 Decoding the operands, and the registers' narrow names.

    `decodeModRM()` is the table above turned into code, split in two on purpose. The common case, a
    register operand (mod 11), returns at once from the small inlined part; the memory forms, with their
    SIB byte and escapes, live in `effectiveOffset(_:)`, kept out of line so that every instruction that
    inlines the decoder does not also carry the whole address calculation. The segment is chosen last:
    an override prefix wins, otherwise ss for operands based on esp or ebp and ds for the rest. Below it,
    `readRegister` and `writeRegister` do the al/ah shuffle described at the end of `X:510`. */
    /// Decodes a ModR/M byte (and SIB and displacement) into its reg field and r/m operand.
    @inline(__always)
    mutating func decodeModRM() throws(Fault) -> (reg: Int, rm: Operand) {
        let modrm = try fetch8()
        let reg = Int(modrm >> 3 & 7)
        // mod = 3: the operand is a register, and no more bytes follow.
        if modrm >= 0xC0 { return (reg, Operand(isMemory: false, register: Int(modrm & 7), linear: 0)) }
        let (offset, stackDefault) = try effectiveOffset(modrm)
        // An override prefix wins; otherwise esp- and ebp-based operands live in ss.
        let segment = segmentOverride >= 0 ? segmentOverride : (stackDefault ? SegmentRegisterName.ss.rawValue : SegmentRegisterName.ds.rawValue)
        return (reg, Operand(isMemory: true, register: 0, linear: offset &+ segmentBases[segment]))
    }

    /// The offset (before the segment base) of a memory operand, and whether it defaults to ss.
    @inline(never)
    mutating func effectiveOffset(_ modrm: UInt8) throws(Fault) -> (UInt32, Bool) {
        let form = try AddressForm(modrm: modrm, from: &self)
        return (offset(of: form), form.stackDefault)
    }

    /// The offset a decoded memory operand names with today's registers: base + index << scale + disp.
    @inline(__always)
    mutating func offset(of form: AddressForm) -> UInt32 {
        var offset = form.displacement
        if form.base < 8 { offset &+= cpu.gpr[Int(form.base)] }
        if form.index < 8 { offset &+= cpu.gpr[Int(form.index)] << UInt32(form.scale) }
        return offset
    }

    /// The linear address of a `[moffs]` or string source operand at `offset` in ds (or the override).
    @inline(__always)
    mutating func dataLinear(_ offset: UInt32) -> UInt32 {
        offset &+ segmentBases[segmentOverride >= 0 ? segmentOverride : SegmentRegisterName.ds.rawValue]
    }

    // MARK: Registers

    /// Reads register `r` at the width `mask` selects; 8-bit numbers 4-7 are ah, ch, dh, bh.
    @inline(__always)
    mutating func readRegister(_ r: Int, _ mask: UInt32) -> UInt32 {
        // Byte registers 0-3 are al cl dl bl; 4-7 are the second bytes of the same four: ah ch dh bh.
        if mask == 0xFF { return r < 4 ? cpu.gpr[r] & 0xFF : cpu.gpr[r & 3] >> 8 & 0xFF }
        return cpu.gpr[r] & mask
    }

    /// Writes register `r` at the width `mask` selects, keeping the other bits.
    @inline(__always)
    mutating func writeRegister(_ r: Int, _ value: UInt32, _ mask: UInt32) {
        // Merge the new bits into the old register, as partial-register writes do on the hardware.
        switch mask {
        case 0xFF:
            if r < 4 {
                cpu.gpr[r] = cpu.gpr[r] & ~0xFF | value & 0xFF
            } else {
                cpu.gpr[r & 3] = cpu.gpr[r & 3] & ~0xFF00 | (value & 0xFF) << 8
            }
        case 0xFFFF: cpu.gpr[r] = cpu.gpr[r] & ~0xFFFF | value & 0xFFFF
        default: cpu.gpr[r] = value
        }
    }

    // MARK: Memory at ring 3

    /*X:512 Memory at ring 3: one fast path, one honest slow path.

    Every data access an instruction makes comes through the three functions below, and each has the
    same two-road shape. The fast road asks one question of the TLB (`X:340`): does the slot for this
    page carry the tag of this very page, with user permission for this kind of access? If so, and the
    access does not straddle a page boundary, the bytes are read or written in RAM at once. The slot
    keeps separate tags for reading and writing, so a page the Guest mapped read-only, or one not yet
    marked dirty, simply misses on the write tag and takes the slow road, where the page walk (`X:330`)
    sets the accessed and dirty bits or raises the page fault.

    The third function is the subtle one. An instruction such as `incl (%eax)` reads, computes and
    writes. On the hardware, a read-only page makes it fault *at the read*, with the write bit set in
    the error code, before anything has changed. A naive interpreter would read happily, compute, and
    fault on the write with the flags already updated, a difference that a Guest's copy-on-write
    handler would notice. `readMemoryForUpdate` therefore checks write permission on every page it
    touches before it reads a byte. */

    /// Reads `mask`'s width at `linear` with user privilege, through the TLB fast path.
    @inline(__always)
    mutating func readMemory(_ linear: UInt32, _ mask: UInt32) throws(Fault) -> UInt32 {
        let width = mask == 0xFF ? 1 : mask == 0xFFFF ? 2 : 4
        let slot = tlb + tlbSlot(linear)
        // The fast path: the slot holds this page for user reads, and the access stays inside it.
        if slot.pointee.userRead == tlbTag(linear) && Int(linear & pageOffsetMask) <= pageSize - width {
            statistics.tlbHits &+= 1
            return loadPhysical(slot.pointee.frameBase | linear & pageOffsetMask, width: width)
        }
        // Everything else, misses and page-crossing accesses included, takes the general road.
        do { return try readLinear(linear, width: width, user: true) } catch { throw .pageFault(error) }
    }

    /// Writes `mask`'s width at `linear` with user privilege, through the TLB fast path.
    @inline(__always)
    mutating func writeMemory(_ linear: UInt32, _ value: UInt32, _ mask: UInt32) throws(Fault) {
        let width = mask == 0xFF ? 1 : mask == 0xFFFF ? 2 : 4
        let slot = tlb + tlbSlot(linear)
        // The write tag is set only for pages already writable *and* dirty, so a hit needs no walk.
        if slot.pointee.userWrite == tlbTag(linear) && Int(linear & pageOffsetMask) <= pageSize - width {
            statistics.tlbHits &+= 1
            storePhysical(value, slot.pointee.frameBase | linear & pageOffsetMask, width: width)
            return
        }
        do { try writeLinear(value, linear, width: width, user: true) } catch { throw .pageFault(error) }
    }

    /// Reads the destination of a read-modify-write instruction, checking *write* permission, as the
    /// hardware does: such an instruction faults with the write bit set before it changes anything.
    @inline(__always)
    mutating func readMemoryForUpdate(_ linear: UInt32, _ mask: UInt32) throws(Fault) -> UInt32 {
        let width = mask == 0xFF ? 1 : mask == 0xFFFF ? 2 : 4
        let slot = tlb + tlbSlot(linear)
        if slot.pointee.userWrite == tlbTag(linear) && Int(linear & pageOffsetMask) <= pageSize - width {
            statistics.tlbHits &+= 1
            return loadPhysical(slot.pointee.frameBase | linear & pageOffsetMask, width: width)
        }
        // Slow road: prove both pages writable first (faulting with the write bit), then read.
        do {
            _ = try translate(linear, .write, user: true)
            if Int(linear & pageOffsetMask) > pageSize - width {
                _ = try translate((linear | pageOffsetMask) &+ 1, .write, user: true)  // the second page
            }
            return try readLinear(linear, width: width, user: true)
        } catch { throw .pageFault(error) }
    }

    /*X:514 Operands and the stack, on top of the fast path.

    Everything an instruction touches is built from the three accessors above. `readOperand` and
    `writeOperand` hide whether a ModR/M operand is a register or memory, so an instruction is written
    once for both. `push`, `peek` and `pop` are memory accesses at ss:esp, and they keep the order that
    makes a fault harmless: `push` writes before it moves esp, `pop` reads before it moves it, so an
    instruction that faults on an unmapped stack page can run again, unchanged, once the page is there. */
    /// Reads an r/m operand; `forUpdate` when the instruction will write it back (see
    /// `readMemoryForUpdate`).
    @inline(__always)
    mutating func readOperand(_ operand: Operand, _ mask: UInt32, forUpdate: Bool = false) throws(Fault) -> UInt32 {
        guard operand.isMemory else { return readRegister(operand.register, mask) }
        return forUpdate ? try readMemoryForUpdate(operand.linear, mask) : try readMemory(operand.linear, mask)
    }

    /// Writes an r/m operand.
    @inline(__always)
    mutating func writeOperand(_ operand: Operand, _ value: UInt32, _ mask: UInt32) throws(Fault) {
        if operand.isMemory {
            try writeMemory(operand.linear, value, mask)
        } else {
            writeRegister(operand.register, value, mask)
        }
    }

    // MARK: The stack

    /// Pushes a value of the operand width (2 or 4 bytes). esp changes only if the write succeeds.
    @inline(__always)
    mutating func push(_ value: UInt32, _ mask: UInt32) throws(Fault) {
        let size: UInt32 = mask == 0xFFFF ? 2 : 4
        let top = cpu.esp &- size
        // Write first, move esp second: a push that faults leaves esp alone.
        try writeMemory(segmentBases[SegmentRegisterName.ss.rawValue] &+ top, value, mask)
        cpu.esp = top
    }

    /// Reads the value on top of the stack (2 or 4 bytes) without popping it.
    @inline(__always)
    mutating func peek(_ mask: UInt32, at offset: UInt32 = 0) throws(Fault) -> UInt32 {
        try readMemory(segmentBases[SegmentRegisterName.ss.rawValue] &+ cpu.esp &+ offset, mask)
    }

    /// Pops a value of the operand width.
    @inline(__always)
    mutating func pop(_ mask: UInt32) throws(Fault) -> UInt32 {
        // Read first, then move esp: a pop that faults leaves the stack as it was.
        let value = try peek(mask)
        cpu.esp &+= mask == 0xFFFF ? 2 : 4
        return value
    }
}
/*:*/
