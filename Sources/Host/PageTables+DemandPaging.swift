import LguestABI
import Machine

/*H:330 (i) Filling in a shadow entry when the Guest faults.

This is the heart of the page table code, and it runs on every page fault the Guest takes. The run
loop (`H:030`) hands us the faulting address (the CPU put it in cr2) and the error code (`X:320`), which
says whether the access was a write and whether it came from ring 3. Our question is simple: is this
fault ours or the Guest's?

It is *ours* when the Guest's own tables allow the access and only the shadow is missing the entry (or
has it read-only, see below). Then we fill in the shadow and return true, the run loop sends the Guest
straight back, and the Guest retries the instruction, which now succeeds: as far as the Guest can tell,
the page fault never happened.

It is *the Guest's* when the Guest's tables would have faulted on real hardware too: the page is not
present, or it is a write to a read-only page, or ring 3 touching a kernel page. Then we return false,
and the run loop reflects the fault to the Guest kernel with cr2 set (`H:220`), which will swap the page
in, copy it on write, or send the process a signal, just as it would on bare metal.

Both levels of the Guest's tables count: on the i386 a page is writable only if its directory entry
*and* its table entry say so, and likewise for ring-3 access. lguest checked only the table entry,
which is harmless for Linux (whose directory entries always allow everything) but loops forever on a
Guest that write-protects a directory entry: the Host would keep installing an entry the shadow
directory then refuses. We check both, as the MMU would.

There is a third outcome. A Guest whose tables are not merely unhelpful but *wrong* (a 4 MiB page we
do not support, a frame beyond the end of its memory, a directory entry with flags no kernel sets) is
killed: `demandPage()` throws, and the run loop records the reason.

One more trick deserves a word. The Guest expects its entries' accessed bit to be set when a page is
used and its dirty bit when it is written, as the MMU would; but the MMU only sets those bits in the
*shadow*. So we set them in the Guest's entry ourselves, and for a read we install the shadow entry
read-only even if the Guest's entry is writable. The first write then faults back here, and that is
when we set dirty. It costs one extra fault per written page, and buys the Guest exact dirty bits.

**Exercise** (hard; read first H:300, H:320, X:330): write the heart of `fillShadow()`: read the
Guest's directory and table entries, decide whether the fault is ours (both levels allow the access) or
the Guest's, set the accessed and dirty bits the MMU would, and install the shadow entry. Return true
only when the Guest's tables allow the access. */

extension ShadowPageTables {
    /// Handles a page fault at `va`: installs a shadow entry and returns true if the Guest's tables
    /// allow the access, returns false if the fault belongs to the Guest.
    ///
    /// - Throws: `GuestViolation` if the Guest's tables hold an entry no valid Guest would write, if the
    ///   Guest kernel touched the Switcher, or if host memory for a shadow page table runs out.
    public func demandPage(_ va: GuestVirtualAddress, _ errorCode: PageFaultErrorCode) throws(GuestViolation) -> Bool {
        let fixed = try fillShadow(va, errorCode)
        if fixed {
            statistics.faultsFixed += 1
        } else {
            statistics.faultsReflected += 1
        }
        return fixed
    }

    /// The work of `demandPage()`, uncounted, so that pinning the stack (`H:360`) can share it.
    func fillShadow(_ va: GuestVirtualAddress, _ errorCode: PageFaultErrorCode) throws(GuestViolation) -> Bool {
        // The Switcher's region is never the Guest's to map: a program poking there is the Guest's to
        // punish; the Guest kernel poking there is an attack on the Host.
        if va.pageDirectoryIndex >= switcherPageDirectoryIndex {
            guard errorCode.contains(.user) else {
                throw GuestViolation("page tables: guest kernel touched the Switcher at \(va)")
            }
            return false
        }
        // exercise H:330 {
        let write = errorCode.contains(.write), user = errorCode.contains(.user)

        // First step: the Guest's directory entry. Not present means not mapped.
        let guestDirectory = try guestDirectoryEntry(va)
        guard guestDirectory.flags.contains(.present) else { return false }
        try checkGuestDirectoryEntry(guestDirectory, for: va)

        // The Guest's table entry, and the Guest's own permission rules on both levels.
        let entryAddress = guestTableEntryAddress(guestDirectory, va)
        var guestEntry = PageTableEntry(rawValue: try guestMemory.load32(entryAddress))
        guard guestEntry.flags.contains(.present) else { return false }
        let both = guestDirectory.flags.intersection(guestEntry.flags)
        if write && !both.contains(.writable) { return false }
        if user && !both.contains(.user) { return false }
        try checkGuestTableEntry(guestEntry, for: va)

        // The access is legal: do what the MMU would have done to the Guest's entries.
        try markAccessed(guestDirectory, for: va)
        guestEntry.flags.insert(.accessed)
        if write { guestEntry.flags.insert(.dirty) }

        // Install the shadow entry (writable only once the Guest's entry is dirty), then write the
        // Guest's entry back with its new accessed and dirty bits.
        let shadowDirectory = try shadowDirectoryEntry(forFaultAt: va, guestEntry: guestDirectory)
        hostStore(try shadowEntry(for: guestEntry).rawValue, shadowTableEntryAddress(shadowDirectory, va))
        try guestMemory.store32(guestEntry.rawValue, at: entryAddress)

        // Done: when the Guest retries the access, the MMU finds the page.
        return true
        // exercise H:330 } stub: throw GuestViolation(ExerciseStub.reason("H:330"))
    }

    /*H:335 The two helpers behind the fix.

    `markAccessed` does for the Guest's directory entry what the MMU would have done on real hardware,
    and writes only when the bit was not yet set, so a Guest that watches its accessed bits (as Linux
    does, to choose pages to evict) sees the same story it would see without a Host. The second helper
    finds or makes the shadow page table that will hold the new entry. Its flags are the Guest's own,
    filtered through `allowedDirectoryFlags`, so a Guest cannot smuggle a bit the Host does not allow
    into its shadow, and a Host out of frames kills the Guest with a reason instead of crashing. */
    /// Sets the accessed bit in the Guest's directory entry for `va`, as the MMU would, unless it is set.
    private func markAccessed(_ entry: PageDirectoryEntry, for va: GuestVirtualAddress) throws(GuestViolation) {
        guard !entry.flags.contains(.accessed) else { return }
        var marked = entry
        marked.flags.insert(.accessed)
        try guestMemory.store32(marked.rawValue, at: guestDirectoryEntryAddress(va))
    }

    /// The current shadow's directory entry for `va`, given a page table first if it has none.
    /// The shadow entry takes the Guest entry's flags: its permissions are the Guest's.
    private func shadowDirectoryEntry(
        forFaultAt va: GuestVirtualAddress, guestEntry: PageDirectoryEntry
    ) throws(GuestViolation) -> PageDirectoryEntry {
        let existing = shadowDirectoryEntry(current, index: va.pageDirectoryIndex)
        if existing.flags.contains(.present) { return existing }
        guard let table = pool.allocate() else {
            throw GuestViolation("page tables: host out of memory for a shadow page table")
        }
        statistics.pageTablesAllocated += 1
        let fresh = PageDirectoryEntry(frame: table, flags: guestEntry.flags.intersection(allowedDirectoryFlags))
        hostStore(fresh.rawValue, shadowDirectoryEntryAddress(current, index: va.pageDirectoryIndex))
        return fresh
    }
}
/*:*/

/*H:340 Turning a Guest entry into a shadow entry.

A shadow entry says what the Guest's entry says, in the Host's terms. The frame number changes from
guest-physical to host-physical (`H:350`). The flags are copied, but only those we understand: present,
writable, user, the two cache bits, accessed and dirty. Two are dropped on purpose. The global bit
would let a mapping survive a cr3 reload, and our shadows are reloaded on every world switch precisely
so that nothing stale survives; the Guest sets it only because it thinks it is flushing kernel
mappings differently, which it tells us by hypercall anyway. And the three bits the manual leaves
"available" are the Guest's private notes, which mean nothing to the MMU.

The writable bit gets the special treatment `H:330` promised: it survives only if the Guest's entry is
already dirty.

**Exercise** (medium; read first H:330, H:350): build the shadow entry's flags from the Guest's: keep
only the flags in `allowedTableFlags`, and drop writable unless the Guest's entry is already dirty, so
that the first write faults back to `H:330`. */

/// The flags a shadow page table entry may carry.
let allowedTableFlags: PagingFlags = [.present, .writable, .user, .writeThrough, .cacheDisabled, .accessed, .dirty]

extension ShadowPageTables {
    /// The shadow entry for a checked, present Guest entry: host frame, understood flags, and writable
    /// only when the Guest's entry is both writable and dirty.
    func shadowEntry(for guestEntry: PageTableEntry) throws(GuestViolation) -> PageTableEntry {
        // exercise H:340 {
        var flags = guestEntry.flags.intersection(allowedTableFlags)
        if !flags.contains(.dirty) { flags.remove(.writable) }
        // exercise H:340 } stub: let flags = ExerciseStub.unfinished("H:340", guestEntry.flags)
        return PageTableEntry(frame: try guestMemory.hostFrame(guestEntry.frame), flags: flags)
    }
}
/*:*/

/*H:345 What makes a Guest entry bad.

We check every Guest entry before we act on it, and some entries are not worth arguing about: a Guest
that writes them is broken or hostile, and it is killed.

* **A frame beyond the end of the Guest's memory.** The Guest owns frames 0 up to `pageCount`; mapping
  frame `pageCount` or above would map memory that is not the Guest's. This is the check that keeps the
  Guest in its box.
* **A 4 MiB page.** The directory entry's PS bit asks for a large page, which our MMU does not do
  (`X:300`), and we told the Guest as much. In a table entry the same bit is PAT, a caching attribute
  Linux never sets; lguest refused it in both places, and so do we.
* **A directory entry with flags a kernel never uses there.** A directory entry needs only present,
  writable, user, accessed and dirty. Anything else (cache control, global, the software bits) means the
  Guest is not writing page directories the way it promised, and we would rather not guess. */

/// The flags a Guest page directory entry may carry (Linux's `_PAGE_TABLE`).
let allowedDirectoryFlags: PagingFlags = [.present, .writable, .user, .accessed, .dirty]

extension ShadowPageTables {
    /// Kills the Guest unless its present directory entry for `va` is one we can shadow.
    func checkGuestDirectoryEntry(_ entry: PageDirectoryEntry, for va: GuestVirtualAddress) throws(GuestViolation) {
        if entry.flags.contains(.pageSize) {
            throw GuestViolation("page tables: large page in guest directory entry for \(va): \(entry)")
        }
        if !entry.flags.subtracting(allowedDirectoryFlags).isEmpty {
            throw GuestViolation("page tables: bad flags in guest directory entry for \(va): 0x\(String(entry.rawValue, radix: 16))")
        }
        try checkGuestFrame(entry.frame, for: va)
    }

    /// Kills the Guest unless its present table entry for `va` is one we can shadow.
    func checkGuestTableEntry(_ entry: PageTableEntry, for va: GuestVirtualAddress) throws(GuestViolation) {
        if entry.flags.contains(.pageSize) {
            throw GuestViolation("page tables: large page bit in guest table entry for \(va): \(entry)")
        }
        try checkGuestFrame(entry.frame, for: va)
    }

    /// Kills the Guest if `frame` is not one of its own.
    func checkGuestFrame(_ frame: PageFrameNumber, for va: GuestVirtualAddress) throws(GuestViolation) {
        if frame.rawValue >= guestMemory.pageCount {
            throw GuestViolation("page tables: guest maps \(frame) past its limit at \(va)")
        }
    }
}
/*:*/

/*H:350 From guest frame to host frame.

In lguest the Guest's memory was part of the Launcher's address space, and turning a guest frame into
a host one meant asking Linux to find (and pin) the Launcher's page. Here the Launcher took one
contiguous run of host frames, so guest frame n is host frame `baseFrame + n`, and `GuestMemory` does the
sum with its own check against the limit (`H:032`). By the time we ask, `H:345` has already checked the
frame, with a message that names the page table entry at fault; the second check is a seat belt. :*/

/*H:360 (ii) Keeping the Guest's kernel stack mapped.

There is one kind of page fault the Guest must never take: a fault while the CPU is pushing a trap
frame onto the Guest kernel stack. Delivering an interrupt or a system call writes the old eip, cs and
eflags to the stack; if that write faults, the CPU is in the middle of delivering one exception and
now has a second, which it reports as a double fault, and there is no good way back from that.

So the Host *pins* the kernel stack, and keeps one promise about it: whenever the Guest is about to
run, every page of its kernel stack is present and writable in the current shadow. We pin (fault the
pages in by hand if they are missing) when the Guest names its stack (the SET_STACK hypercall, `H:260`),
whenever a different shadow becomes current (`H:430`), and after every change that could have taken a
stack page away: a flush (`H:440`, `H:470`), or a SET_PTE or SET_PMD that touches the stack (`H:410`,
`H:425`). A stack the Guest's own tables do not map writably is a Guest we cannot run safely, so it dies.
The stack grows down from its top, so its pages are the ones just below `top`.

lguest pinned only when a brand-new shadow came into use, and trusted Linux to name its stack again
after every switch. That holds for Linux, but a cached shadow built before the Guest last moved its
stack would lack the new one; checking costs two lookups in the shadow, so we check. */

extension ShadowPageTables {
    /// Records the Guest kernel stack (`pages` pages ending just below `top`) and maps it writable in
    /// the current shadow. `pages` must already be checked against `maximumStackPages`.
    ///
    /// - Throws: `GuestViolation` if a stack page is not mapped present and writable by the Guest.
    public func pinStack(top: GuestVirtualAddress, pages: Int) throws(GuestViolation) {
        precondition((0...Self.maximumStackPages).contains(pages), "page tables: unchecked stack size \(pages)")
        stack = (top, pages)
        try pinStackPages()
    }

    /// The pages of the recorded kernel stack, top page first; empty before SET_STACK.
    var stackPages: [GuestVirtualAddress] {
        guard let stack else { return [] }
        return (0..<stack.pages).map { page in (stack.top &- 1 &- UInt32(page) &* UInt32(pageSize)).pageBase }
    }

    /// Maps every page of the recorded kernel stack writable in the current shadow.
    func pinStackPages() throws(GuestViolation) {
        for va in stackPages {
            if try isWritableInShadow(va) { continue }
            if try !fillShadow(va, .write) {
                throw GuestViolation("page tables: bad stack page \(va)")
            }
        }
    }

    /// True when the current shadow already maps `va` present and writable.
    func isWritableInShadow(_ va: GuestVirtualAddress) throws(GuestViolation) -> Bool {
        guard va.pageDirectoryIndex < switcherPageDirectoryIndex else {
            throw GuestViolation("page tables: kernel stack in the Switcher's region at \(va)")
        }
        let directory = shadowDirectoryEntry(current, index: va.pageDirectoryIndex)
        guard directory.flags.contains(.present) else { return false }
        let entry = PageTableEntry(rawValue: hostLoad(shadowTableEntryAddress(directory, va)))
        return entry.flags.isSuperset(of: [.present, .writable])
    }
}
/*:*/

/*H:370 Looking an address up the way the Guest would.

Sometimes the Host has a Guest *virtual* address and needs the guest-physical one: the interrupt code
(`H:215`) pushes trap frames onto the Guest's stack, which the Guest names by its virtual address. That
needs a walk through the Guest's current tables, by hand. An address the Guest has not mapped is one it
should not have handed us, so it dies. */

extension ShadowPageTables {
    /// The guest-physical address `va` maps to in the Guest's current page tables.
    ///
    /// - Throws: `GuestViolation` if the Guest's tables do not map `va` or hold a bad entry on the way.
    public func guestPhysical(of va: GuestVirtualAddress) throws(GuestViolation) -> GuestPhysicalAddress {
        let directory = try guestDirectoryEntry(va)
        guard directory.flags.contains(.present) else {
            throw GuestViolation("page tables: guest address \(va) not mapped")
        }
        try checkGuestDirectoryEntry(directory, for: va)
        let entry = PageTableEntry(rawValue: try guestMemory.load32(guestTableEntryAddress(directory, va)))
        guard entry.flags.contains(.present) else {
            throw GuestViolation("page tables: guest address \(va) not mapped")
        }
        return GuestPhysicalAddress(frame: entry.frame, offset: va.pageOffset)
    }
}
/*:*/

/*M:007 Batching page lookups.

Every page a Guest touches for the first time costs a fault and two world switches, even when the next
page along is mapped in the Guest's tables just the same; a read then a write costs two (`H:330` keeps
dirty bits exact that way). A program that walks an array takes a fault per page. While `demandPage()`
has the Guest's page table in hand, it could fill in the neighbouring shadow entries too, read-only so
that dirty bits stay exact, for the pages the Guest's table maps in the same table. How many neighbours
pay for themselves, and what must `H:410`'s updates do about entries installed early? The scaffold
`LGUEST_MASTERY=1 swift test --filter m007` runs the committed `pages` program and asks for fewer than
64 fixed faults for its 256 pages; today it takes about 520. :*/
