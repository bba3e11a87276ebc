import LguestABI
import Machine

/*H:480 (vi) The Switcher, at the top of every address space.

A world switch happens in two halves: the Host's half ends and the Guest's begins somewhere, and that
somewhere must be mapped in *both* address spaces, at the same virtual address, or the CPU would lose
its footing the instant cr3 changes. lguest solved it by mapping the Switcher's few pages at the very top
of every address space, host and guest alike: the last 4 MiB, directory entry 1023. The Guest was told
to keep out (the INIT hypercall returns `reserveMemory`, `P:200`), and the Host enforces it.

So every shadow directory's last entry points at one page table that the Switcher builds for itself
(`S:040`) and shares with every Guest. It maps the Switcher's pages in order from `switcherAddress`: its
code, then the page where a trap saves the Guest's registers, then the read-only page holding the GDT,
IDT and TSS the Guest runs with. The Guest's own entry for the top 4 MiB, whatever it says, is never
consulted.

None of these entries has the user bit, so ring 3 cannot touch them at all. The Guest kernel at ring 1
is another matter: to paging, rings 0, 1 and 2 are all "supervisor". What protects the Switcher from the
Guest kernel is the writable bit, honoured for supervisor writes because the Switcher runs the Guest with
CR0.WP set. The code and the read-only page are mapped read-only. The register page has to be writable,
because the CPU itself pushes the trap frame there on the way out of the Guest, and that push is a
supervisor write like any other; so the Guest kernel can scribble on its own saved registers, which is
why the Switcher treats what it finds there as the Guest's word, not the Host's. A Guest write anywhere
else up here faults, and `demandPage()` kills the Guest for it (`H:330`).

The directory entry itself is present and writable but not user: the page table entries under it
decide what may be written, and the missing user bit keeps ring 3 out of all 4 MiB at once. */

extension ShadowPageTables {
    /// The directory entry every shadow holds in its last slot: the Switcher's page table, supervisor
    /// only, with the page table entries deciding what is writable.
    var switcherDirectoryEntry: PageDirectoryEntry {
        PageDirectoryEntry(frame: switcherPageTable, flags: [.present, .writable, .accessed])
    }
}
/*:*/

/*H:500 (vii) Setting up, at the beginning.

The Launcher builds the Guest's first page tables before the Guest runs a single instruction (they map
all of the Guest's memory at `pageOffset`, 0xC0000000), and tells the Host where their directory is. So the
Guest starts life with one shadow, empty apart from the Switcher, standing for that directory. Its first
instructions fault their way in.

Later, at INIT, the Guest reports where its kernel half begins (`kernelAddress` in `lguest_data`). We
take the Guest's word for it, with one check: a kernel half starting in the Switcher's slot would have
`flushUserMappings()` walk straight into the Switcher's entry. */

extension ShadowPageTables {
    /// Creates the shadow page tables of a new Guest whose first page directory is at
    /// `initialDirectory`, with the Switcher's page table (host frame `switcherPageTable`) at the top.
    ///
    /// - Throws: `GuestViolation` if `initialDirectory` is not a page of the Guest's memory or host
    ///   memory for the first shadow runs out.
    public convenience init(guestMemory: GuestMemory, pool: FramePool, switcherPageTable: PageFrameNumber,
                            initialDirectory: GuestPhysicalAddress) throws(GuestViolation) {
        self.init(guestMemory: guestMemory, pool: pool, switcherPageTable: switcherPageTable)
        try checkDirectoryAddress(initialDirectory)
        current = try takeShadow(for: initialDirectory)
    }

    /// Records where the Guest's kernel half begins, as it says at INIT.
    ///
    /// - Throws: `GuestViolation` if the kernel half would start in the Switcher's region.
    public func setKernelAddress(_ address: GuestVirtualAddress) throws(GuestViolation) {
        guard address.pageDirectoryIndex < switcherPageDirectoryIndex else {
            throw GuestViolation("page tables: bad kernel address \(address)")
        }
        kernelAddress = address
    }
}
/*:*/

/*H:505 And at the end.

When a Guest dies, every shadow page table and shadow directory goes back to the pool, for the next
Guest to use. The Switcher's page table is not ours to free: it is shared by every Guest and outlives
them all. `release()` runs at most once; after it, these shadow page tables must not be used again. */

extension ShadowPageTables {
    /// Returns every frame these shadows hold to the pool. Safe to call more than once.
    public func release() {
        guard !released else { return }
        released = true
        releaseAllMappings()
        for shadow in directories {
            pool.free(shadow.frame)
        }
        directories.removeAll()
    }
}
/*:*/
