/*X:855 The shape of a process's address space.

A 32-bit x86 Linux process sees 4 GiB of virtual addresses, split in two.
The lower three gigabytes belong to the program; the top gigabyte, from
`0xC0000000`, belongs to the kernel, is present in every process, and is
mapped for the supervisor only, so the program cannot touch it. Our runner
keeps that split, and fills it like this:

```
 0xFFFFFFFF +------------------------------+
            |  (unmapped)                  |
 0xC0005000 +------------------------------+ <- esp0: top of the kernel stack
            |  kernel stack (2 pages)      |    supervisor, writable
 0xC0003000 +------------------------------+
            |  IDT: 256 gates              |    supervisor, read-only
 0xC0002000 +------------------------------+
            |  GDT: 5 descriptors          |    supervisor, read-only
 0xC0001000 +------------------------------+
            |  kernel "text": gate targets |    supervisor, read-only
 0xC0000000 +==============================+ <- the kernel's half starts
            |  user stack, grows down      |    user, writable, on demand
            |  (at most 8 MiB)             |
            +------------------------------+
            |            ...               |
            +------------------------------+ <- the break, moved by brk
            |  heap (at most 16 MiB)       |    user, writable, on demand
            +------------------------------+ <- end of the last segment
            |  ELF segments: text, data,   |    user; writable only if the
            |  bss (0x08048000 for gcc)    |    segment says PF_W
            +------------------------------+
            |  (unmapped: null pointers)   |
 0x00000000 +------------------------------+
```

The segments are mapped eagerly when the program is loaded. The heap and the
stack are mapped *on demand*: the runner only remembers where they may grow,
and maps a zeroed page the first time the program touches one (`X:890`).
That is how Linux does it too, and why a program can ask for a large heap and
pay only for the pages it uses.

One i386 peculiarity shows in the table: there is no "executable" bit. A
page-table entry says present, writable, user, and that is all; anything
readable can be executed. (The NX bit arrived with PAE and x86-64.) So the
runner maps a text segment and a read-only data segment the same way, and
the ELF `PF_X` flag only decides where the entry point may be (`X:830`).
*/

/// The page tables and memory regions of the one process a `ProgramRunner` runs.
struct AddressSpace {
    let memory: PhysicalMemory
    /// The page directory that cr3 points at.
    let directory: PageFrameNumber
    /// Frames given back by a shrinking heap, reused before fresh ones.
    private var recycled: [PageFrameNumber] = []
    /// The first address of the heap: the page after the last ELF segment.
    var heapStart: UInt32 = 0
    /// The program break: the end of the heap as the program last set it.
    var programBreak: UInt32 = 0

    /// The most the heap may grow (16 MiB), as an `RLIMIT_DATA` would cap it.
    static let heapLimit: UInt32 = 16 << 20
    /// The top of the user stack: the first byte of the kernel's half.
    static let stackTop: UInt32 = ELFImage.userLimit
    /// The most the stack may grow (8 MiB, Linux's default `RLIMIT_STACK`).
    static let stackLimit: UInt32 = 8 << 20

    init(memory: PhysicalMemory) throws(ProgramRunnerError) {
        guard let directory = memory.allocateFrames(count: 1) else {
            throw .outOfMemory(neededFor: "the page directory")
        }
        self.memory = memory
        self.directory = directory
    }
}
/*:*/

/*X:860 Building page tables by hand.

The runner writes page tables exactly as a kernel does: four-byte entries in
real frames, which the MMU's `translate()` later walks on its own. Mapping a page
takes two steps. First the directory entry for its 4 MiB region: if it is
not present yet, a fresh zeroed frame becomes that region's page table.
Then the table entry itself, naming the frame and carrying the permissions.

Permissions live on both levels, and the MMU grants an access only if *both*
allow it. Like Linux, the runner makes every user directory entry generous
(present, writable, user) and says what it means in the table entries, so one
page table can hold a read-only text page beside a writable data page.

Two segments may share a page (`X:830`). When the second one arrives, the
page is already mapped; the runner keeps the frame and widens the entry's
permissions to cover both, which is what a real loader's overlapping
`mmap` calls amount to.
*/

extension AddressSpace {
    /// The flags of every user-half page directory entry.
    static let userDirectoryFlags: PagingFlags = [.present, .writable, .user]
    /// The flags of every kernel-half page directory entry: no user bit.
    static let kernelDirectoryFlags: PagingFlags = [.present, .writable]

    /// Maps the page holding `address` with `flags` (plus `.present`), returning
    /// its frame. An already mapped page keeps its frame and gains `flags`.
    mutating func map(_ address: GuestVirtualAddress, flags: PagingFlags) throws(ProgramRunnerError) -> PageFrameNumber {
        let table = try pageTable(for: address)
        let slot = HostPhysicalAddress(frame: table, offset: UInt32(address.pageTableIndex) * 4)
        let old = PageTableEntry(rawValue: load(slot))
        if old.flags.contains(.present) {
            store(PageTableEntry(frame: old.frame, flags: old.flags.union(flags)).rawValue, at: slot)
            return old.frame
        }
        let frame = try allocateFrame(for: "the page at \(address)")
        store(PageTableEntry(frame: frame, flags: flags.union(.present)).rawValue, at: slot)
        return frame
    }

    /// The frame mapped at `address`, if any.
    func mappedFrame(_ address: GuestVirtualAddress) -> PageFrameNumber? {
        guard let slot = tableSlot(for: address) else { return nil }
        let entry = PageTableEntry(rawValue: load(slot))
        return entry.flags.contains(.present) ? entry.frame : nil
    }

    /// Sets or clears the writable bit of the mapped page holding `address`; false if none is mapped.
    /// The caller must flush the TLB entry.
    mutating func setWritable(_ address: GuestVirtualAddress, _ writable: Bool) -> Bool {
        guard let slot = tableSlot(for: address) else { return false }
        let old = PageTableEntry(rawValue: load(slot))
        guard old.flags.contains(.present) else { return false }
        let flags = writable ? old.flags.union(.writable) : old.flags.subtracting(.writable)
        store(PageTableEntry(frame: old.frame, flags: flags).rawValue, at: slot)
        return true
    }

    /// Removes the mapping of the page holding `address`, recycling its frame.
    /// Returns whether there was one; the caller must flush the TLB entry.
    mutating func unmap(_ address: GuestVirtualAddress) -> Bool {
        guard let slot = tableSlot(for: address) else { return false }
        let old = PageTableEntry(rawValue: load(slot))
        guard old.flags.contains(.present) else { return false }
        store(0, at: slot)
        recycled.append(old.frame)
        return true
    }

    /*X:861 Where the entries live, and where frames come from.

    The private helpers compute the two slots of the walk, the directory entry and the table entry, and
    make a missing page table on the way. The directory flags depend on the half: a table for the kernel's
    half gets no user bit, so nothing it maps is reachable from ring 3 whatever its entries say. Frames
    freed by `unmap` are kept in `recycled` and zeroed again before reuse, so a new page never shows a
    program the bytes of an old one. The last three helpers turn a memory error into a precondition, and
    the reason is worth seeing: every address they touch is a frame the runner allocated, so a failure
    would be the runner's bug, never the program's. */
    /// The page table covering `address`, created (zeroed) if there is none.
    private mutating func pageTable(for address: GuestVirtualAddress) throws(ProgramRunnerError) -> PageFrameNumber {
        let slot = directorySlot(for: address)
        let entry = PageDirectoryEntry(rawValue: load(slot))
        if entry.flags.contains(.present) { return entry.frame }
        let table = try allocateFrame(for: "a page table")
        let flags = address.rawValue < ELFImage.userLimit ? Self.userDirectoryFlags : Self.kernelDirectoryFlags
        store(PageDirectoryEntry(frame: table, flags: flags).rawValue, at: slot)
        return table
    }

    /// Where the page table entry for `address` lives, if its page table exists.
    private func tableSlot(for address: GuestVirtualAddress) -> HostPhysicalAddress? {
        let entry = PageDirectoryEntry(rawValue: load(directorySlot(for: address)))
        guard entry.flags.contains(.present) else { return nil }
        return HostPhysicalAddress(frame: entry.frame, offset: UInt32(address.pageTableIndex) * 4)
    }

    private func directorySlot(for address: GuestVirtualAddress) -> HostPhysicalAddress {
        HostPhysicalAddress(frame: directory, offset: UInt32(address.pageDirectoryIndex) * 4)
    }

    /// A zeroed frame: a recycled one if any, else a fresh one from RAM.
    private mutating func allocateFrame(
        for purpose: @autoclosure () -> String
    ) throws(ProgramRunnerError) -> PageFrameNumber {
        if let frame = recycled.popLast() {
            do { try memory.zero(frame: frame) } catch { preconditionFailure("runner: recycled \(frame): \(error)") }
            return frame
        }
        guard let frame = memory.allocateFrames(count: 1) else { throw .outOfMemory(neededFor: purpose()) }
        return frame
    }

    // The runner only reads and writes frames it allocated itself, so a
    // memory error here is a bug in the runner, never the program's doing.
    func load(_ address: HostPhysicalAddress) -> UInt32 {
        do { return try memory.load32(at: address) } catch { preconditionFailure("runner: \(error)") }
    }

    func store(_ value: UInt32, at address: HostPhysicalAddress) {
        do { try memory.store32(value, at: address) } catch { preconditionFailure("runner: \(error)") }
    }

    func copy(_ bytes: some Collection<UInt8>, to address: HostPhysicalAddress) {
        do { try memory.copyIn(bytes, at: address) } catch { preconditionFailure("runner: \(error)") }
    }
}
/*:*/

/*X:865 Regions that grow on demand.

The heap runs from `heapStart` to the program break, rounded up to a whole
page; the stack from `stackTop` down to at most `stackLimit` below it. A
fault on a not-present page inside either region is not the program's
mistake: it is the first touch of memory the program was promised, and the
runner answers it with a zeroed page (`X:890`). Anywhere else, the same fault
is a wild pointer.
*/

extension AddressSpace {
    /// Whether a not-present fault at `address` should be answered with a fresh page.
    func growsOnDemand(_ address: GuestVirtualAddress) -> Bool {
        let a = address.rawValue
        let heapEnd = Self.roundUpToPage(programBreak)
        if a >= heapStart && a < heapEnd { return true }
        return a < Self.stackTop && a >= Self.stackTop - Self.stackLimit
    }

    /// `value` rounded up to a page boundary; at most `userLimit` for the values used here.
    static func roundUpToPage(_ value: UInt32) -> UInt32 {
        let mask = UInt32(pageSize) - 1
        return value > UInt32.max - mask ? UInt32.max & ~mask : (value + mask) & ~mask
    }
}
/*:*/
