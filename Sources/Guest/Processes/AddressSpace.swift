/*G:084 Address spaces.

Each program gets its own page directory. Its top quarter, from `pageOffset` up, is the kernel's, and
is the same in every address space: we copy the kernel directory's entries in when we create one, so
each points at the same kernel page tables (a new directory is not in use yet, so plain memory writes
will do; the Host reads it when we switch to it). Below `pageOffset` the program's own pages are mapped,
user-accessible, writable where its ELF file says so.

Here the pv-ops of `G:041` earn their keep. Every user mapping goes through `setPTEAt()`, naming the
directory and the address, so the Host can fix up exactly one shadow entry; every new page table goes
in with `setPMD()`. Mapping a program is a burst of such calls, so the loader makes it a lazy section
(`G:035`), and the whole burst costs one world switch at its end instead of one per page.

Sharing the kernel half pays twice. The kernel's own mappings never need copying again after the
directory is made, since all directories point at the same kernel page tables; and the Host can keep
the kernel half of its shadows when we switch between directories (`H:340`), because it knows, thanks
to the PGE bit our cpuid claims (`G:039`), that we never expect the kernel half to change under a
switch.

The kernel never touches user memory through user addresses. To read a system call's buffer it walks
the program's page tables itself, checks that each page is present and user-accessible (and writable,
when it will write), and goes through the linear map to the frame. A bad pointer is then an `EFAULT`
returned to the program, and never a fault inside the kernel. Linux does it the other way round: it
touches user memory directly and, when that faults, looks the faulting instruction up in a table of
places allowed to fault (`__ex_table`) to turn the fault into `EFAULT`. That is faster when pointers
are good, which they nearly always are, but it needs the ability to resume a kernel function at a
fix-up address, and our Swift kernel has no such thing; a walk of two levels of tables is cheap.

The picture of one address space, seen from its page directory (1,024 entries of four bytes, each
covering 4 MiB):

```
  directory slot   0 ........................ 767 | 768 ............... 1023
  addresses        0x0000_0000 ... 0xBFFF_FFFF    | 0xC000_0000 ... 0xFFFF_FFFF
  belongs to       this program: its own tables,  | the kernel: entries copied from
                   user pages, made on demand     | the kernel directory, same tables

  a user address   [ directory index | table index | offset in page ]
                     31           22   21       12   11            0
```

The software walk in `translateUser()` uses exactly the split on the last line, the same one the MMU
makes in hardware (`X:330`), with the same rule that both levels must allow the access; only the
answer differs, a `nil` instead of a page fault. */

import LguestABI
import Machine

/// The flags every user page has: present, and reachable from ring 3. Writable is added where the
/// program may write; accessed and dirty are left for the Host to set as the page is used (`H:330`).
private let userPageFlags: PagingFlags = [.present, .user]

extension GuestKernel {
    /// A fresh page directory sharing the kernel's mappings, or nil when memory is exhausted (Linux's
    /// `pgd_alloc`). The Host hears of it only when we switch to it (`NEW_PGTABLE`).
    func createAddressSpace() throws(GuestStopped) -> GuestPhysicalAddress? {
        guard let directory = pages.allocate() else { return nil }
        // Zero first: the user half starts with nothing mapped, every entry not present.
        try zeroPage(directory)
        // Copy the kernel's entries: they point at the kernel's page tables, shared by everyone.
        let firstKernelSlot = UInt32(pageOffset.pageDirectoryIndex)
        for slot in firstKernelSlot..<1024 {
            let entry = try read32(linear(kernelPageDirectory &+ slot &* 4))
            if entry != 0 { try write32(linear(directory &+ slot &* 4), entry) }
        }
        return directory
    }

    /// Map user page `page` of `directory` to `frame`, read-only unless `writable`, making its page
    /// table if needed; false when no page table could be allocated.
    func mapUserPage(_ directory: GuestPhysicalAddress, _ page: GuestVirtualAddress, frame: GuestPhysicalAddress,
                     writable: Bool) throws(GuestStopped) -> Bool {
        precondition(page.isPageAligned && page < pageOffset, "guest: mapping kernel page \(page) as user")
        let slot = directory &+ UInt32(page.pageDirectoryIndex) &* 4
        var table = PageDirectoryEntry(rawValue: try read32(linear(slot)))
        // No page table for this 4 MiB yet: make one, and tell the Host about the new directory entry.
        if !table.flags.contains(.present) {
            guard let newTable = pages.allocate() else { return false }
            try zeroPage(newTable)
            table = PageDirectoryEntry(frame: newTable.frame, flags: [.present, .writable, .user])
            try pvOps.setPMD(self, slot, table)
        }
        // Then the entry itself, naming the directory so the Host fixes exactly one shadow.
        let pointer = GuestPhysicalAddress(frame: table.frame, offset: UInt32(page.pageTableIndex) &* 4)
        let flags = writable ? userPageFlags.union(.writable) : userPageFlags
        try pvOps.setPTEAt(self, directory, page, pointer, PageTableEntry(frame: frame.frame, flags: flags))
        return true
    }

    /// Remove the mapping of user page `page` from `directory` and return the frame it mapped, for the
    /// caller to free (after the Host has heard of the removal, so the frame is not still shadowed).
    func unmapUserPage(_ directory: GuestPhysicalAddress, _ page: GuestVirtualAddress) throws(GuestStopped) -> GuestPhysicalAddress? {
        guard let pointer = try pageTableEntryPointer(directory, page) else { return nil }
        let entry = PageTableEntry(rawValue: try read32(linear(pointer)))
        guard entry.flags.contains(.present) else { return nil }
        // Removing an entry is where the TLB flush comes in: set_pte_at() with an empty entry.
        try pvOps.setPTEAt(self, directory, page, pointer, PageTableEntry(rawValue: 0))
        return GuestPhysicalAddress(frame: entry.frame)
    }

    /// Where the page-table entry for `page` lives, if its page table exists. Frames past the end of
    /// memory are treated as absent: our tables never hold them, and this is the place to be sure.
    func pageTableEntryPointer(_ directory: GuestPhysicalAddress, _ page: GuestVirtualAddress) throws(GuestStopped) -> GuestPhysicalAddress? {
        guard page < pageOffset else { return nil }
        let table = PageDirectoryEntry(rawValue: try read32(linear(directory &+ UInt32(page.pageDirectoryIndex) &* 4)))
        guard table.flags.contains(.present), table.frame.rawValue < pages.topOfMemory.pageNumber else { return nil }
        return GuestPhysicalAddress(frame: table.frame, offset: UInt32(page.pageTableIndex) &* 4)
    }

    /*G:085 Touching a program's memory, and giving it all back.

    A system call's arguments are often pointers into the program, and the kernel must never trust one.
    `translateUser` answers "may the program itself read (or write) this byte?", and the two copies ask
    it for every page they touch, since a buffer that starts on a good page may run onto a bad one or off
    the end of the address space (`checkedAdvanced` catches the wrap). A bad pointer is the program's
    mistake, so the answer is nil or false, which becomes `EFAULT`, never a fault in the kernel.
    `destroyAddressSpace` frees only the user half, since the kernel's tables are shared by everyone,
    and then tells the Host, which may still hold shadows of the freed tables. */
    /// The frame behind user address `address`, if the program may read it (and write it, if `write`):
    /// the walk the processor would make, done by the kernel in software.
    func translateUser(_ directory: GuestPhysicalAddress, _ address: GuestVirtualAddress,
                       write: Bool) throws(GuestStopped) -> GuestPhysicalAddress? {
        // Level one: the directory entry, checked by `pageTableEntryPointer()`.
        guard let pointer = try pageTableEntryPointer(directory, address.pageBase) else { return nil }
        // Level two: present and user, writable if asked, and a frame that is really in memory.
        let entry = PageTableEntry(rawValue: try read32(linear(pointer)))
        guard entry.flags.isSuperset(of: userPageFlags), !write || entry.flags.contains(.writable),
              entry.frame.rawValue < pages.topOfMemory.pageNumber else { return nil }
        return GuestPhysicalAddress(frame: entry.frame, offset: address.pageOffset)
    }

    /// Copy `count` bytes from the program's `address`, or nil if any of them is not readable; the
    /// copy goes page by page, since consecutive user pages need not be consecutive frames.
    func copyFromUser(_ directory: GuestPhysicalAddress, _ address: GuestVirtualAddress,
                      count: Int) throws(GuestStopped) -> [UInt8]? {
        var bytes: [UInt8] = []
        var cursor = address
        var remaining = count
        while remaining > 0 {
            guard let physical = try translateUser(directory, cursor, write: false) else { return nil }
            // Never past the end of this page: the next one may be mapped anywhere, or not at all.
            let chunk = min(remaining, pageSize - Int(cursor.pageOffset))
            bytes += try readBytes(linear(physical), count: chunk)
            remaining -= chunk
            // A buffer that runs off the top of the address space is a bad pointer, not a wrap.
            guard let next = cursor.checkedAdvanced(by: UInt32(chunk)) else { return remaining == 0 ? bytes : nil }
            cursor = next
        }
        return bytes
    }

    /// Copy `bytes` to the program's `address`; false if any of it is not writable. Pages before the
    /// bad one have been written by then, as on Linux, where a failed copy may be partial.
    func copyToUser(_ directory: GuestPhysicalAddress, _ address: GuestVirtualAddress,
                    _ bytes: [UInt8]) throws(GuestStopped) -> Bool {
        var cursor = address
        var rest = bytes[...]
        while !rest.isEmpty {
            // The same page-at-a-time walk as `copyFromUser()`, checking write permission instead.
            guard let physical = try translateUser(directory, cursor, write: true) else { return false }
            let chunk = min(rest.count, pageSize - Int(cursor.pageOffset))
            try writeBytes(linear(physical), Array(rest.prefix(chunk)))
            rest = rest.dropFirst(chunk)
            guard let next = cursor.checkedAdvanced(by: UInt32(chunk)) else { return rest.isEmpty }
            cursor = next
        }
        return true
    }

    /// Free every user page, page table and the directory itself (Linux's `exit_mmap` and `pgd_free`).
    /// The directory must not be in use: the caller switches to the kernel's first.
    func destroyAddressSpace(_ directory: GuestPhysicalAddress) throws(GuestStopped) {
        // Only the user half: the kernel's page tables are shared and stay.
        for slot in 0..<UInt32(pageOffset.pageDirectoryIndex) {
            let table = PageDirectoryEntry(rawValue: try read32(linear(directory &+ slot &* 4)))
            guard table.flags.contains(.present) else { continue }
            let tableAddress = GuestPhysicalAddress(frame: table.frame)
            // Every page the table maps goes back to the allocator, then the table itself.
            for index in 0..<UInt32(1024) {
                let entry = PageTableEntry(rawValue: try read32(linear(tableAddress &+ index &* 4)))
                if entry.flags.contains(.present) { pages.release(GuestPhysicalAddress(frame: entry.frame)) }
            }
            pages.release(tableAddress)
        }
        pages.release(directory)
        // The Host may still hold shadows of these tables: tell it every user mapping is gone.
        try pvOps.flushTLBUser(self)
    }
}
/*:*/
