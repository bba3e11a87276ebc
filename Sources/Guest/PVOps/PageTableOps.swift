/*G:041 Page tables, and keeping the Host informed.

This is the steepest stretch of the Guest's tour, so a refresher first. Memory comes in 4096-byte
*pages*, and the processor translates every virtual address to a physical one through *page tables*. One
flat table for 4 GiB would need a million 4-byte entries, 4 MiB per address space, mostly describing
nothing; so the i386 uses two levels. cr3 holds the physical address of a *page directory*, a page of
1024 entries; each present entry points to a *page table*, another page of 1024 entries (PTEs), each
pointing to one page of memory:

```
 cr3 --> page directory        page table
         +-----------+         +-----------+
         |  PDE 0    |    +--->|  PTE 0    |---> a page
         |  PDE 1  --+----+    |  PTE 1    |---> another page
         |   ...     |         |   ...     |
         |  PDE 1023 |         |  PTE 1023 |
         +-----------+         +-----------+
```

and a 32-bit virtual address splits into the two indices and an offset:

```
  31            22 21            12 11                  0
 +----------------+----------------+---------------------+
 | directory index|  table index   |  offset in the page |
 +----------------+----------------+---------------------+
       10 bits          10 bits             12 bits
```

The Guest keeps its page tables exactly as a native kernel would, in its own memory with the real
entry format. But they are not what the processor walks: the Host builds *shadow* page tables from them
(`H:300`), translating our guest-physical frames to host frames and checking every entry. So whenever
we change an entry, we must tell the Host which one:

* `setPTEAt()` sets an entry in a known address space: `SET_PTE` with the page directory, the virtual
  address and the new entry;
* `setPMD()` sets a page-directory entry: `SET_PMD` with the directory page and the index;
* removing an entry is where the processor's memory of old translations matters. Walking two tables
  for every access would be slow, so the processor keeps the translations it used recently in a small
  cache, the *TLB* (translation lookaside buffer), and a kernel that removes or changes an entry must
  *flush* the TLB's copy of it, or the processor goes on using the old one. A native kernel's flush is
  where we hear about it: `flushTLBSingle()` tells the Host to zero its shadow entry for one address, and
  `flushTLBUser()` and `flushTLBKernel()` drop all user, or all, shadow mappings (`FLUSH_TLB` 0 or 1).
  They will fault back in as they are used.

Then there is `setPTE()`, for the few places where Linux sets an entry without saying which address
space it belongs to. We cannot tell the Host which shadow to fix, so we tell it to forget all of them
with `FLUSH_TLB(1)`. That is fine for the rare legacy callers, but early boot builds the kernel's whole
linear map this way, one entry at a time, and each flush throws away every shadow mapping. In lguest
that made booting take 1.83 seconds. The fix is the `cr3Changed` trick: until the kernel first switches
page directory, nothing it is building is in use yet (the Launcher's initial tables are), so there is
nothing to flush. With the trick, boot took 0.25 seconds. Ours builds its linear map with `setPTE()`
just the same (`G:070`), and the Launcher's `--no-cr3-trick` turns the trick off, so the difference can
be counted. Here is a small boot with the trick (4 MiB, the programs `hello` and `pages`), drawn by
running the machine as this book was woven:

```lguest-run --memory 4 --programs hello,pages --stats | grep -e world_switches -e FLUSH_TLB -e page_faults_fixed
```

and the same boot without it, where nearly every page of memory costs a flush of its own:

```lguest-run --memory 4 --programs hello,pages --stats --no-cr3-trick | grep -e world_switches -e FLUSH_TLB -e page_faults_fixed
```

Every one of those flushes also throws away every shadow page table, so the faults that rebuild them
(`page_faults_fixed`) come on top. What the difference costs in host time is `lguest-bench`'s to measure
(`boot_flushes_cr3_trick`, `boot_flushes_no_trick` in BENCHMARKS.md). */

import LguestABI
import Machine

enum LguestPageTables {
    /// `set_pte_at`: set the entry `pointer` (in the tables of `directory`) that maps `address`.
    static func setPTEAt(_ kernel: GuestKernel, directory: GuestPhysicalAddress, address: GuestVirtualAddress,
                         pointer: GuestPhysicalAddress, _ entry: PageTableEntry) throws(GuestStopped) {
        try kernel.write32(linear(pointer), entry.rawValue)
        try kernel.lazyHcall(.setPTE, directory.rawValue, address.rawValue, entry.rawValue)
    }

    /// `set_pmd`: set the page-directory entry at `pointer`.
    static func setPMD(_ kernel: GuestKernel, pointer: GuestPhysicalAddress, _ entry: PageDirectoryEntry) throws(GuestStopped) {
        try kernel.write32(linear(pointer), entry.rawValue)
        try kernel.lazyHcall(.setPMD, pointer.pageBase.rawValue, pointer.pageOffset / 4)
    }

    /// `set_pte`: set an entry without knowing its address space.
    static func setPTE(_ kernel: GuestKernel, pointer: GuestPhysicalAddress, _ entry: PageTableEntry) throws(GuestStopped) {
        try kernel.write32(linear(pointer), entry.rawValue)
        if kernel.cr3Changed || !kernel.configuration.cr3ChangedTrick {
            try kernel.lazyHcall(.flushTLB, 1)
        }
    }

    /// `flush_tlb_single`: the entry for `address` in the current address space was removed.
    static func flushTLBSingle(_ kernel: GuestKernel, _ address: GuestVirtualAddress) throws(GuestStopped) {
        let directory = try LguestControlRegisters.readCR3(kernel)
        try kernel.lazyHcall(.setPTE, directory.rawValue, address.rawValue, 0)
    }

    /// `flush_tlb_user`: any user mapping may have changed.
    static func flushTLBUser(_ kernel: GuestKernel) throws(GuestStopped) {
        try kernel.lazyHcall(.flushTLB, 0)
    }

    /// `flush_tlb_kernel`: kernel mappings changed too.
    static func flushTLBKernel(_ kernel: GuestKernel) throws(GuestStopped) {
        try kernel.lazyHcall(.flushTLB, 1)
    }
}
/*:*/
