/*X:330 The page walk and its permission rules.

Translation is the MMU's whole job, and on the i386 it goes like this. Take the top ten bits of the
address and read that entry of the page directory at cr3. If it is not present, fault. Take the middle
ten bits and read that entry of the page table the directory entry names. If it is not present, fault.
Now check permissions, which is where the two levels combine:

* **user access** (ring 3) needs U/S set in *both* entries;
* **a write from ring 3** needs R/W set in *both* entries;
* **a write from rings 0-2** ignores R/W entirely, unless CR0.WP is set, in which case it too needs R/W
  in both. (The 80386 had no WP bit and let the kernel write anywhere; the 486 added it so that
  copy-on-write works for kernel writes into user pages too.)

If all is well the MMU sets the accessed bit in both entries, and the dirty bit in the table entry when
the access is a write, writing the entries back to memory, and hands over the frame plus the twelve low
bits. A fault reports the address and an error code built from three facts (`X:320`): was the entry
present, was it a write, was it from ring 3.

We set A and D only when the translation succeeds. Intel allows the hardware to set A even when the
access then faults; doing it only on success keeps page table contents predictable in tests.

Two things a real MMU never sees can happen here, because a buggy Host could build page tables that name
frames past the end of RAM. The walk checks every frame against RAM before touching it and throws a
`PageFault` carrying `frameOutsideRAM`, which the interpreter turns into a machine check: the machine
stops with a message instead of the Swift process dying. A directory entry with PS (4 MiB page) set
faults with the reserved-bit code, since this CPU does not offer large pages.

**Exercise** (medium; read first X:300, X:320): enforce the permissions of a page walk: both levels
must allow ring-3 access for a user access, and both must allow writing for a user write, or for any
write under CR0.WP; otherwise raise a protection fault. */

extension Core {
    /// Reads a paging entry at a host-physical address already checked to lie in RAM.
    @inline(__always)
    private func loadEntry(_ address: UInt32) -> UInt32 {
        UInt32(littleEndian: ram.loadUnaligned(fromByteOffset: Int(address), as: UInt32.self))
    }

    @inline(__always)
    private func storeEntry(_ value: UInt32, at address: UInt32) {
        ram.storeBytes(of: value.littleEndian, toByteOffset: Int(address), as: UInt32.self)
        noteWrite(address)
    }

    /// True when the whole 4 KiB frame lies in RAM.
    @inline(__always)
    private func frameInRAM(_ frame: UInt32) -> Bool { Int(frame) < ramBytes >> Int(pageShift) }

    /// Walks the page tables for `linear`, enforcing the rules of `X:330`, setting A/D bits, and
    /// filling the TLB. Returns the host-physical address.
    mutating func walk(_ linear: UInt32, _ access: AccessKind, user: Bool) throws(PageFault) -> UInt32 {
        statistics.pageWalks &+= 1
        let address = GuestVirtualAddress(linear)
        let isWrite = access == .write
        var code: PageFaultErrorCode = []
        if isWrite { code.insert(.write) }
        if user { code.insert(.user) }

        // Paging off: linear addresses are physical. Cache them too, with every permission.
        guard cpu.cr0.contains(.paging) else {
            guard frameInRAM(linear >> pageShift) else {
                throw PageFault(address: address, errorCode: code, frameOutsideRAM: PageFrameNumber(linear >> pageShift))
            }
            fill(linear, frameBase: linear & ~pageOffsetMask, pde: [.writable, .user], pte: [.writable, .user, .dirty])
            return linear
        }

        // Level one: the page directory entry. cr3 comes from the Host, but check it anyway.
        let directoryFrame = cpu.cr3.rawValue >> pageShift
        guard frameInRAM(directoryFrame) else {
            throw PageFault(address: address, errorCode: code, frameOutsideRAM: PageFrameNumber(directoryFrame))
        }
        let pdeAddress = directoryFrame << pageShift | UInt32(address.pageDirectoryIndex) << 2
        var pde = PageDirectoryEntry(rawValue: loadEntry(pdeAddress))
        guard pde.flags.contains(.present) else { throw PageFault(address: address, errorCode: code) }
        guard !pde.flags.contains(.pageSize) else {
            throw PageFault(address: address, errorCode: code.union([.protection, .reservedBit]))
        }
        guard frameInRAM(pde.frame.rawValue) else {
            throw PageFault(address: address, errorCode: code, frameOutsideRAM: pde.frame)
        }
        // Level two: the page table entry.
        let pteAddress = pde.frame.rawValue << pageShift | UInt32(address.pageTableIndex) << 2
        var pte = PageTableEntry(rawValue: loadEntry(pteAddress))
        guard pte.flags.contains(.present) else { throw PageFault(address: address, errorCode: code) }

        // Permissions: both levels must agree (X:330). A supervisor write to a read-only page is
        // refused only under CR0.WP.
        // exercise X:330 {
        let both = pde.flags.intersection(pte.flags)
        let denied = (user && !both.contains(.user))
            || (isWrite && !both.contains(.writable) && (user || cpu.cr0.contains(.writeProtect)))
        guard !denied else { throw PageFault(address: address, errorCode: code.union(.protection)) }
        // exercise X:330 } stub: ExerciseStub.unfinished("X:330")
        guard frameInRAM(pte.frame.rawValue) else {
            throw PageFault(address: address, errorCode: code, frameOutsideRAM: pte.frame)
        }

        // Success: record the use in the entries themselves, writing them back only when they change.
        if !pde.flags.contains(.accessed) {
            pde.flags.insert(.accessed)
            storeEntry(pde.rawValue, at: pdeAddress)
        }
        let wanted: PagingFlags = isWrite ? [.accessed, .dirty] : .accessed
        if !pte.flags.isSuperset(of: wanted) {
            pte.flags.formUnion(wanted)
            storeEntry(pte.rawValue, at: pteAddress)
        }
        let frameBase = pte.frame.rawValue << pageShift
        fill(linear, frameBase: frameBase, pde: pde.flags, pte: pte.flags)
        return frameBase | address.pageOffset
    }
    /*:*/

    /*X:340 The TLB.

    Two memory reads per translation would make every load three loads, so real CPUs remember recent
    translations in a *translation lookaside buffer*. Ours has 256 slots, direct-mapped: the low eight
    bits of the virtual page number pick the slot, and the slot remembers which page it holds.

    Each slot carries four *tags*, one per combination of privilege and read/write, each holding the page
    base if that kind of access is allowed without another walk, and 0 if not. The twelve low bits of a
    page base are always zero, so the tag keeps a *generation number* there (1 to 4095): a lookup only
    matches a tag of the current generation. That makes a full flush almost free. Instead of clearing
    256 slots, which lguest's world switch would do twice per round trip as cr3 changes between host and
    guest, `flushTLB()` moves to the next generation and every old tag simply stops matching. Only when
    the generation wraps does it clear the slots for real. A
    lookup is then a single comparison, which is what the interpreter's hot path needs (`X:510`). The
    write tags are filled only when the page table entry's dirty bit is already set, so that the first
    write to a clean page walks again and sets D, exactly as hardware must.

    The TLB is a *cache of the page tables*, not a copy kept in step with them. If software changes a
    page table entry, the TLB keeps the old translation until someone flushes it: `flushTLB(page:)` for
    one page (the `invlpg` instruction), `flushTLB()` for everything (a cr3 load). Forgetting a flush is a
    classic kernel bug, and the tests show this TLB going stale exactly as real ones do. With CR4.PGE
    set, a cr3 load keeps entries from pages marked global, which is how kernels avoid re-walking their
    own mappings on every process switch.

    An example makes the tags concrete. Suppose a program reads address 0x0804_B123 and the page tables
    map that page to frame 0x1F3, user-readable and writable but not yet dirty, in generation 1. The slot
    is number 0x4B (the low eight bits of page 0x0804B). After the walk it holds `frameBase` 0x001F_3000
    and:

    | tag | value | why |
    | --- | --- | --- |
    | `userRead` | 0x0804_B001 | user may read |
    | `userWrite` | 0 | writable, but D is clear: the first write must walk and set it |
    | `supervisorRead` | 0x0804_B001 | the kernel may always read a present page |
    | `supervisorWrite` | 0 | the same reason as `userWrite` |

    The next read of any byte of that page compares 0x0804_B001 with the slot's `userRead` and goes
    straight to RAM at 0x001F_3000 plus the offset. After a flush the generation is 2, lookups expect
    0x0804_B002, and the slot is as good as empty.

    **Exercise** (easy; read first X:330): make `invlpg` work: drop the TLB entry of the page that
    holds `linear`, if the slot holds that page, so that the next access walks the page tables again. */

    /// Records a successful translation in the TLB, with tags for every access it permits.
    mutating func fill(_ linear: UInt32, frameBase: UInt32, pde: PagingFlags, pte: PagingFlags) {
        let tag = tlbTag(linear)
        let both = pde.intersection(pte)
        // Without D set, no write tag: the next write must walk again to set it.
        let dirty = pte.contains(.dirty)
        let userOK = both.contains(.user)
        let writeOK = both.contains(.writable)
        let supervisorWriteOK = writeOK || !cpu.cr0.contains(.writeProtect)
        tlb[tlbSlot(linear)] = TLBEntry(
            userRead: userOK ? tag : 0,
            userWrite: userOK && writeOK && dirty ? tag : 0,
            supervisorRead: tag,
            supervisorWrite: supervisorWriteOK && dirty ? tag : 0,
            frameBase: frameBase,
            global: pte.contains(.global) && cpu.cr4.contains(.pageGlobalEnable) && cpu.cr0.contains(.paging))
    }

    /// The slot that may hold `linear`'s page.
    @inline(__always) mutating func tlbSlot(_ linear: UInt32) -> Int { Int(linear >> pageShift) & (tlbSlotCount - 1) }

    /// The tag a slot holds for `linear`'s page in the current generation.
    @inline(__always) mutating func tlbTag(_ linear: UInt32) -> UInt32 { linear & ~pageOffsetMask | tlbGeneration }

    /// Translates through the TLB, walking on a miss.
    @inline(__always)
    mutating func translate(_ linear: UInt32, _ access: AccessKind, user: Bool) throws(PageFault) -> UInt32 {
        let slot = tlb[tlbSlot(linear)]
        let tag = tlbTag(linear)
        let cached = switch (access, user) {
        case (.write, true): slot.userWrite
        case (.write, false): slot.supervisorWrite
        case (_, true): slot.userRead
        case (_, false): slot.supervisorRead
        }
        if cached == tag {
            statistics.tlbHits &+= 1
            return slot.frameBase | linear & pageOffsetMask
        }
        statistics.tlbMisses &+= 1
        return try walk(linear, access, user: user)
    }

    /// Reads one byte at `linear` as the supervisor would, but without side effects: no accessed
    /// bits, no TLB fill, no statistics. Nil when it does not translate. For the disassembler.
    func peekLinear(_ linear: UInt32) -> UInt8? {
        var physical = linear
        if cpu.cr0.contains(.paging) {
            let address = GuestVirtualAddress(linear)
            let directory = cpu.cr3.rawValue & ~pageOffsetMask
            guard Int(directory) < ramBytes else { return nil }
            let pde = PageDirectoryEntry(rawValue: loadEntry(directory | UInt32(address.pageDirectoryIndex) << 2))
            guard pde.flags.contains(.present), !pde.flags.contains(.pageSize), frameInRAM(pde.frame.rawValue) else { return nil }
            let pte = PageTableEntry(rawValue: loadEntry(pde.frame.rawValue << pageShift | UInt32(address.pageTableIndex) << 2))
            guard pte.flags.contains(.present) else { return nil }
            physical = pte.frame.rawValue << pageShift | address.pageOffset
        }
        guard Int(physical) < ramBytes else { return nil }
        return ram.load(fromByteOffset: Int(physical), as: UInt8.self)
    }

    /// Drops the TLB entry for the page holding `linear`, global or not (`invlpg`).
    mutating func flushTLB(page linear: UInt32) {
        let slot = tlbSlot(linear)
        // exercise X:340 {
        if tlb[slot].supervisorRead == tlbTag(linear) { tlb[slot] = TLBEntry() }
        // exercise X:340 } stub: _ = ExerciseStub.unfinished("X:340", slot)
        invalidateFetchPage()
    }
}

/*X:350 Reaching guest memory from Swift.

The Host and the guest kernel are Swift code, but they still have to read and write guest memory *as the
CPU would*: through the page tables, with the privilege of the ring they pretend to run at, faulting
where the CPU would fault. These helpers do exactly that, sharing the MMU and TLB with the interpreter,
so there is one set of rules for everyone.

Multi-byte accesses may be unaligned and may straddle two pages. A straddling write translates *both*
pages before storing a single byte, so a fault on the second page leaves memory untouched. */

extension Core {
    /// Reads `width` (1, 2 or 4) bytes at `linear`, little-endian, through the MMU.
    mutating func readLinear(_ linear: UInt32, width: Int, user: Bool) throws(PageFault) -> UInt32 {
        if Int(linear & pageOffsetMask) <= pageSize - width {
            let physical = try translate(linear, .read, user: user)
            return loadPhysical(physical, width: width)
        }
        var value: UInt32 = 0
        for index in 0..<width {
            let physical = try translate(linear &+ UInt32(index), .read, user: user)
            value |= loadPhysical(physical, width: 1) << (8 * UInt32(index))
        }
        return value
    }

    /// Writes the low `width` bytes of `value` at `linear`, little-endian, through the MMU.
    mutating func writeLinear(_ value: UInt32, _ linear: UInt32, width: Int, user: Bool) throws(PageFault) {
        if Int(linear & pageOffsetMask) <= pageSize - width {
            let physical = try translate(linear, .write, user: user)
            storePhysical(value, physical, width: width)
            return
        }
        let secondPage = (linear | pageOffsetMask) &+ 1
        _ = try translate(linear, .write, user: user)
        _ = try translate(secondPage, .write, user: user)
        for index in 0..<width {
            let physical = try translate(linear &+ UInt32(index), .write, user: user)
            storePhysical(value >> (8 * UInt32(index)), physical, width: 1)
        }
    }

    /// Loads from a host-physical address the MMU has already checked.
    @inline(__always)
    mutating func loadPhysical(_ physical: UInt32, width: Int) -> UInt32 {
        let offset = Int(physical)
        switch width {
        case 1: return UInt32(ram.load(fromByteOffset: offset, as: UInt8.self))
        case 2: return UInt32(UInt16(littleEndian: ram.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        default: return UInt32(littleEndian: ram.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }
    }

    /// Stores to a host-physical address the MMU has already checked, never across a frame's end.
    @inline(__always)
    mutating func storePhysical(_ value: UInt32, _ physical: UInt32, width: Int) {
        noteWrite(physical)
        let offset = Int(physical)
        switch width {
        case 1: ram.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: offset, as: UInt8.self)
        case 2: ram.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, toByteOffset: offset, as: UInt16.self)
        default: ram.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
        }
    }
}

/*X:360 The public face: typed addresses and a privilege.

Code outside the machine (the Host, the Guest kernel, the tests) uses these `Machine` methods rather
than the `Core` ones. They take a `GuestVirtualAddress` rather than a bare integer, so a physical
address cannot be passed by mistake (`X:020`), and a `Privilege` rather than a "user" flag, because
what paging cares about is only whether the access comes from ring 3. Each is a one-line wrapper:
there is still only one page walk. */
extension Machine {
    /// Translates `address` as the CPU would for `access` at `privilege`, setting accessed/dirty bits
    /// and filling the TLB. Throws the page fault the CPU would raise (nothing is written to cr2).
    public func translate(_ address: GuestVirtualAddress, access: AccessKind, privilege: Privilege)
        throws(PageFault) -> HostPhysicalAddress
    {
        HostPhysicalAddress(try core.translate(address.rawValue, access, user: privilege == .user))
    }

    /// Empties the TLB (as a cr3 load without CR4.PGE does).
    public func flushTLB() { core.flushTLB() }

    /// Drops the TLB entry of the page holding `page` (as `invlpg` does).
    public func flushTLB(page: GuestVirtualAddress) { core.flushTLB(page: page.rawValue) }

    /// Reads a byte through the MMU.
    public func readVirtual8(_ address: GuestVirtualAddress, privilege: Privilege) throws(PageFault) -> UInt8 {
        UInt8(truncatingIfNeeded: try core.readLinear(address.rawValue, width: 1, user: privilege == .user))
    }

    /// Reads a little-endian 16-bit value through the MMU; it may straddle pages.
    public func readVirtual16(_ address: GuestVirtualAddress, privilege: Privilege) throws(PageFault) -> UInt16 {
        UInt16(truncatingIfNeeded: try core.readLinear(address.rawValue, width: 2, user: privilege == .user))
    }

    /// Reads a little-endian 32-bit value through the MMU; it may straddle pages.
    public func readVirtual32(_ address: GuestVirtualAddress, privilege: Privilege) throws(PageFault) -> UInt32 {
        try core.readLinear(address.rawValue, width: 4, user: privilege == .user)
    }

    /// Writes a byte through the MMU.
    public func writeVirtual8(_ value: UInt8, at address: GuestVirtualAddress, privilege: Privilege) throws(PageFault) {
        try core.writeLinear(UInt32(value), address.rawValue, width: 1, user: privilege == .user)
    }

    /// Writes a little-endian 16-bit value through the MMU; nothing is written if either page faults.
    public func writeVirtual16(_ value: UInt16, at address: GuestVirtualAddress, privilege: Privilege) throws(PageFault) {
        try core.writeLinear(UInt32(value), address.rawValue, width: 2, user: privilege == .user)
    }

    /// Writes a little-endian 32-bit value through the MMU; nothing is written if either page faults.
    public func writeVirtual32(_ value: UInt32, at address: GuestVirtualAddress, privilege: Privilege) throws(PageFault) {
        try core.writeLinear(value, address.rawValue, width: 4, user: privilege == .user)
    }

    /// Copies `count` bytes out of guest-virtual memory, page by page.
    public func copyFromVirtual(_ address: GuestVirtualAddress, count: Int, privilege: Privilege) throws(PageFault) -> [UInt8] {
        precondition(count >= 0, "copyFromVirtual: negative count")
        return try core.copyFromLinear(address.rawValue, count: count, user: privilege == .user)
    }

    /// Copies `bytes` into guest-virtual memory. Every page is translated for writing before any byte
    /// is stored, so a fault leaves memory unchanged.
    public func copyToVirtual(_ bytes: some Collection<UInt8>, at address: GuestVirtualAddress,
                              privilege: Privilege) throws(PageFault)
    {
        try core.copyToLinear(bytes, at: address.rawValue, user: privilege == .user)
    }
}

/*X:370 Copies of any length, a page at a time.

A buffer in guest memory is contiguous only in virtual addresses; its pages may lie anywhere in RAM.
So both copies cut the range at page boundaries and translate each piece on its own. Look at the
order in `copyToLinear(_:at:user:)`: it translates every piece first and writes only afterwards,
the same rule as a straddling `writeLinear`, so a copy that faults halfway has written nothing. */
extension Core {
    /// Copies `count` bytes out of linear memory through the MMU, page by page.
    mutating func copyFromLinear(_ start: UInt32, count: Int, user: Bool) throws(PageFault) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var linear = start
        var remaining = count
        while remaining > 0 {
            let chunk = min(remaining, pageSize - Int(linear & pageOffsetMask))
            let physical = try translate(linear, .read, user: user)
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: ram + Int(physical), count: chunk))
            linear &+= UInt32(chunk)
            remaining -= chunk
        }
        return bytes
    }

    /// Copies `bytes` into linear memory, every page translated for writing before any byte is stored.
    mutating func copyToLinear(_ bytes: some Collection<UInt8>, at start: UInt32, user: Bool) throws(PageFault) {
        var chunks: [(physical: UInt32, count: Int)] = []
        var linear = start
        var remaining = bytes.count
        while remaining > 0 {
            let chunk = min(remaining, pageSize - Int(linear & pageOffsetMask))
            chunks.append((try translate(linear, .write, user: user), chunk))
            linear &+= UInt32(chunk)
            remaining -= chunk
        }
        // Arrays and their slices are one block of bytes: a copy per page. Others, a byte at a time.
        let copied: Void? = bytes.withContiguousStorageIfAvailable { source in
            guard var next = source.baseAddress else { return }
            for (physical, count) in chunks {
                noteWrite(physical)
                (ram + Int(physical)).copyMemory(from: next, byteCount: count)
                next += count
            }
        }
        guard copied == nil else { return }
        var source = bytes.makeIterator()
        for (physical, count) in chunks {
            noteWrite(physical)
            for offset in 0..<count {
                guard let byte = source.next() else { return }
                ram.storeBytes(of: byte, toByteOffset: Int(physical) + offset, as: UInt8.self)
            }
        }
    }
}
/*:*/
