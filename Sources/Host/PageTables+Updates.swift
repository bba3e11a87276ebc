import LguestABI
import Machine

/*H:400 (iii) When the Guest changes its page tables.

`demandPage()` fills the shadows in; now for the other direction. The Guest edits its page tables in
its own memory, as any kernel does, and the Host does not watch those pages (that would mean a fault on
every write). Instead the Guest *tells* us, with a hypercall per change: SET_PTE for a page table entry,
SET_PMD for a directory entry, FLUSH_TLB when it has changed too much to list.

Since `demandPage()` will fill in any missing shadow entry on demand, the simplest correct response to
"this entry changed" is to forget our shadow of it. When the Guest uses the new entry it faults, and
`demandPage()` installs it, checks and all. Forgetting is always safe; it is only ever slower. We will
see one place where we can do better (`H:420`). */

extension ShadowPageTables {
    /// The index of the cached shadow standing for Guest directory `directory`, if any.
    func cachedShadow(for directory: GuestPhysicalAddress) -> Int? {
        directories.firstIndex { $0.guestDirectory == directory }
    }

    /// Throws away shadow directory entry `index` of cached shadow `shadow`, and its page table.
    func releaseDirectoryEntry(_ shadow: Int, index: Int) {
        let address = shadowDirectoryEntryAddress(shadow, index: index)
        let entry = PageDirectoryEntry(rawValue: hostLoad(address))
        guard entry.flags.contains(.present) else { return }
        pool.free(entry.frame)
        hostStore(0, address)
    }
}
/*:*/

/*H:410 Setting one page table entry.

The Guest keeps one page directory per process, and we keep shadows of up to four of them. When an
entry changes, which shadows must hear of it? For a user address (below `kernelAddress`), only the shadow
of the directory the Guest names, if we have it cached at all: user mappings belong to one process.

Kernel addresses are different. Every process's directory maps the kernel the same way; that is what
lets the kernel run in whatever address space happens to be current. So a change to a kernel mapping
is a change to *every* shadow we hold. That is slower, but kernel mappings rarely change, and in
exchange every shadow can keep its kernel half when it is reused for another process (`H:435`), which
is what makes a context switch cheap.

A SET_PTE aimed at the Switcher's region is not a mistake a kernel makes by accident: the Guest dies. */

extension ShadowPageTables {
    /// Handles SET_PTE: the Guest set the entry mapping `va` in the page tables under `directory` to `entry`.
    ///
    /// - Throws: `GuestViolation` if `va` is in the Switcher's region, if `entry` is installed at once
    ///   (`H:420`) and is bad, or if it maps the kernel stack and the stack can no longer be pinned.
    public func setPTE(directory: GuestPhysicalAddress, address va: GuestVirtualAddress,
                       entry: PageTableEntry) throws(GuestViolation) {
        guard va.pageDirectoryIndex < switcherPageDirectoryIndex else {
            throw GuestViolation("page tables: SET_PTE aimed at the Switcher at \(va)")
        }
        if va >= kernelAddress {
            for shadow in directories.indices {
                try setShadowEntry(shadow, va, from: entry)
            }
        } else if let shadow = cachedShadow(for: directory) {
            try setShadowEntry(shadow, va, from: entry)
        }
        if stackPages.contains(va.pageBase) { try pinStackPages() }
    }
}
/*:*/

/*H:420 Updating one shadow, and a shortcut.

Forgetting the old shadow entry is always correct, but it is not always necessary. Kernels like to
write new entries with the accessed bit already on, and the dirty bit too when the page is about to be
written, so that the MMU need not go back and set them; Linux does it for nearly every mapping (the
observation is Avi Kivity's, and lguest adopted it). An entry that arrives accessed tells us nothing a
fault would have told us, and neither does one that arrives dirty. So we install it straight away,
read-only if it is only accessed, writable if it is dirty, and the Guest's first touch of the page
costs no trip through `demandPage()`. lguest measured the gain at a tenth of the run time of a
copy-on-write benchmark; `h420_installingAtOnceSavesAFaultPerPage` counts the faults it saves here.

Installing at once means checking at once: the same checks as `H:345`, and the same penalty. An entry
that is not present, or carries neither bit, just clears the shadow. If the shadow has no page table for
this address yet there is nothing to update, and nothing to do.

To see what the shortcut buys, turn it off: with `installsEntriesEagerly` false every SET_PTE just
clears. */

extension ShadowPageTables {
    /// Replaces cached shadow `shadow`'s entry for `va` according to the Guest's new `entry`.
    func setShadowEntry(_ shadow: Int, _ va: GuestVirtualAddress, from entry: PageTableEntry) throws(GuestViolation) {
        let directory = shadowDirectoryEntry(shadow, index: va.pageDirectoryIndex)
        guard directory.flags.contains(.present) else { return }
        let address = shadowTableEntryAddress(directory, va)
        let usable = installsEntriesEagerly && entry.flags.contains(.present)
            && !entry.flags.isDisjoint(with: [.accessed, .dirty])
        guard usable else {
            hostStore(0, address)
            return
        }
        try checkGuestTableEntry(entry, for: va)
        hostStore(try shadowEntry(for: entry).rawValue, address)
        statistics.entriesInstalledEagerly += 1
    }
}
/*:*/

/*H:425 Setting one page directory entry.

A directory entry names a whole page table, 4 MiB of mappings, so when the Guest changes one we throw
away our shadow page table for it (if the directory is cached) and let the faults rebuild it.

The Guest gives us the directory and an index into it, and the index is the Guest's choice, so it gets
checked. lguest compared it against the Switcher's slot in a way that let one index too many through; we
compare with `>=`, and an index past the end of the directory altogether kills the Guest. An index that
names the Switcher's own slot is quietly ignored, as lguest ignored it: Linux likes to initialise every
directory entry at boot, including the one we reserved, and means no harm by it. */

extension ShadowPageTables {
    /// Handles SET_PMD: the Guest changed entry `index` of its page directory at `directory`.
    ///
    /// - Throws: `GuestViolation` if `index` is past the end of a page directory, or the entry held the
    ///   kernel stack and the stack can no longer be pinned.
    public func setPMD(directory: GuestPhysicalAddress, index: UInt32) throws(GuestViolation) {
        guard index < UInt32(pageSize / 4) else {
            throw GuestViolation("page tables: SET_PMD index \(index) past the end of a directory")
        }
        guard Int(index) < switcherPageDirectoryIndex else { return }
        if let shadow = cachedShadow(for: directory) {
            releaseDirectoryEntry(shadow, index: Int(index))
        }
        if stackPages.contains(where: { $0.pageDirectoryIndex == Int(index) }) { try pinStackPages() }
    }
}
/*:*/

/*H:430 (iv) Switching page directories.

On almost every context switch the Guest loads a new cr3, which for a Guest means the NEW_PGTABLE
hypercall with the guest-physical address of the new directory (the Guest chapter's `cr3_changed` trick,
`G:038`, saves it a few). If we have a shadow for that directory in the cache, switching is just
changing `current`: the next world switch loads it into cr3.

If not, we need a shadow for it: a new one if the cache has room, or else the least recently used one,
taken over (`H:435`). Either way we then make sure the kernel stack is mapped in it (`H:360`): a
brand-new shadow has no kernel mappings at all yet, and even a cached one may predate the Guest's
latest SET_STACK.

The address is the Guest's, so it is checked: a directory must be a whole page of the Guest's memory. */

extension ShadowPageTables {
    /// Handles NEW_PGTABLE: makes the shadow of the Guest directory at `directory` current.
    ///
    /// - Throws: `GuestViolation` if `directory` is not a page of the Guest's memory, or the kernel
    ///   stack cannot be pinned in the new current shadow.
    public func newPageTable(_ directory: GuestPhysicalAddress) throws(GuestViolation) {
        try checkDirectoryAddress(directory)
        useClock += 1
        if let shadow = cachedShadow(for: directory) {
            statistics.directoryHits += 1
            current = shadow
            directories[shadow].lastUsed = useClock
        } else {
            statistics.directoryMisses += 1
            current = try takeShadow(for: directory)
        }
        try pinStackPages()
    }

    /// Kills the Guest unless `directory` is the start of a page of its memory.
    func checkDirectoryAddress(_ directory: GuestPhysicalAddress) throws(GuestViolation) {
        guard directory.isPageAligned, directory.pageNumber < guestMemory.pageCount else {
            throw GuestViolation("page tables: bad page directory \(directory)")
        }
    }
}
/*:*/

/*H:435 Finding room in the cache.

While the cache has room we allocate a fresh shadow directory, with the Switcher's entry already in
place (`H:480`) and nothing else. Once it is full, we take over the shadow that has gone unused longest.
lguest picked one at random, which is simpler still, but a random choice would make this Host's runs
differ from one another, and we promised runs that repeat to the byte.

Taking over a shadow means forgetting its user half, which belonged to another process, but *keeping*
its kernel half, which is the same for every process (`H:410`). That is the whole point of keeping
kernel mappings in step across the cache. */

extension ShadowPageTables {
    /// A shadow for `directory`: a fresh one while the cache has room and the pool has frames,
    /// otherwise the least recently used one with its user half flushed.
    func takeShadow(for directory: GuestPhysicalAddress) throws(GuestViolation) -> Int {
        if directories.count < Self.cacheSize, let frame = pool.allocate() {
            hostStore(switcherDirectoryEntry.rawValue,
                      HostPhysicalAddress(frame: frame, offset: UInt32(switcherPageDirectoryIndex) * 4))
            directories.append(ShadowDirectory(frame: frame, guestDirectory: directory, lastUsed: useClock))
            return directories.count - 1
        }
        guard var victim = directories.indices.first else {
            throw GuestViolation("page tables: host out of memory for a shadow page directory")
        }
        for shadow in directories.indices where directories[shadow].lastUsed < directories[victim].lastUsed {
            victim = shadow
        }
        directories[victim].guestDirectory = directory
        directories[victim].lastUsed = useClock
        flushUserMappings(victim)
        return victim
    }
}
/*:*/

/*H:440 (v) Flushing.

Sometimes the Guest changes so many entries that listing them would cost more than starting over, and
it says so with FLUSH_TLB. With argument 0 it has changed only user mappings: we drop the user half of
the current shadow (`H:445`). With 1 it has changed kernel mappings too, which live in every shadow, so
we drop everything in every shadow (`H:470`). */

extension ShadowPageTables {
    /// Handles FLUSH_TLB: forgets the user mappings of the current shadow, or with `kernelToo` every
    /// mapping of every shadow, then pins the kernel stack again.
    ///
    /// - Throws: `GuestViolation` if the kernel stack cannot be pinned again.
    public func flush(kernelToo: Bool) throws(GuestViolation) {
        if kernelToo {
            statistics.fullFlushes += 1
            try clearAll()
        } else {
            statistics.userFlushes += 1
            flushUserMappings(current)
            try pinStackPages()
        }
    }
}
/*:*/

/*H:445 The user half.

The user half is every directory entry below the kernel's. Until the Guest has told us where its
kernel begins (at INIT, `H:500`), `kernelAddress` is 0 and there is no user half to flush. */

extension ShadowPageTables {
    /// Throws away every shadow directory entry of cached shadow `shadow` below `kernelAddress`.
    func flushUserMappings(_ shadow: Int) {
        for index in 0..<kernelAddress.pageDirectoryIndex {
            releaseDirectoryEntry(shadow, index: index)
        }
    }
}
/*:*/

/*H:470 Throwing away everything.

A changed kernel mapping, or a Guest that dies: every shadow loses every entry but the Switcher's. For
a while afterwards the Guest crawls, taking a fault on every page it touches until its working set is
back, but this happens seldom enough not to matter. The kernel stack is pinned again at once, before
the Guest can take a trap on it. */

extension ShadowPageTables {
    /// Throws away every mapping but the Switcher's in every cached shadow, then pins the stack.
    func clearAll() throws(GuestViolation) {
        releaseAllMappings()
        try pinStackPages()
    }

    /// Throws away every mapping but the Switcher's in every cached shadow.
    func releaseAllMappings() {
        for shadow in directories.indices {
            for index in 0..<switcherPageDirectoryIndex {
                releaseDirectoryEntry(shadow, index: index)
            }
        }
    }
}
/*:*/

/*M:009 Four shadows, one kernel.

Every shadow holds its own copy of the kernel half, and each copy is filled by its own faults: the
Guest kernel touching a page for the first time in each of four address spaces takes four faults for
the same mapping, and four shadow page tables hold the same entries. Since the kernel half is the same
in every Guest directory (that is why `H:410` may update them all), the shadows could instead *share*
their kernel page tables: one shadow page table per kernel directory entry, pointed at by all four
shadow directories. A fault in one address space would then serve them all, and a full flush would
have a quarter of the work. The price is bookkeeping: a shared table must not go back to the pool while
any shadow still points at it, so `releaseDirectoryEntry()` would need to know whether it is looking at
a user table or a shared kernel one. A Guest that remaps kernel pages often (Linux with highmem, which
lguest's authors found painfully slow) is where you would see the difference; count the faults with
`PageTableStatistics` before and after. :*/
