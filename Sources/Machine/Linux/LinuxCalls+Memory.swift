/*X:897 Memory beyond the break, and a segment for each thread.

`brk` gives a program one heap that grows at one end. Everything else a C library wants (`malloc` of
a large block, a buffer for `stdio`) comes from `mmap2` (192) with `MAP_ANONYMOUS`: "some fresh,
zeroed pages, anywhere you like". The personality chooses *where*, and the kernel does the mapping,
page by page, through `mapAnonymousPage()`. The choice is the simplest that works: mappings are
stacked downwards from `LinuxProcessState.mmapTop` (0xB0000000), far above any heap, and never
reused after `munmap` (91), which unmaps and frees the pages but leaves the hole. A long-running
program that maps and unmaps a lot would run out of addresses; ours run for a fraction of a second.
File mappings are refused with `ENODEV`, as Linux refuses a file that cannot be mapped, and so is
`MAP_FIXED`, which a static program does not need.

`mprotect` (125) changes the writable bit of pages that are there. glibc uses it once, to make its
relocation tables read-only after start-up ("RELRO"); on the i386 without PAE there is no
no-execute bit, so `PROT_EXEC` changes nothing, and `PROT_NONE` is kept as read-only.

Then `set_thread_area` (243). Each thread of a Linux program finds its own private data (glibc's
thread control block, `errno`, every `__thread` variable) through the gs segment: gs's descriptor has
a *base* pointing at the thread's block, so `mov %gs:0x14, %eax` reads the block's 0x14th byte. The
program describes the segment in a `struct user_desc`:

```
  +0  entry_number    6, 7 or 8: which GDT slot; -1 asks the kernel to pick a free one
  +4  base_addr       the segment's base
  +8  limit           its limit (in pages if limit_in_pages)
 +12  flags           bit 0 seg_32bit, bits 1-2 contents, bit 3 read_exec_only,
                      bit 4 limit_in_pages, bit 5 seg_not_present, bit 6 useable
```

and the kernel turns it into a ring-3 data descriptor, keeps it with the process, and loads it into
the GDT (`installTLS()`): for the stand-in a store into its own GDT, for the Guest the `LOAD_TLS`
hypercall, which is what that hypercall was always for (`H:650`). When `entry_number` was -1 the
chosen slot is written back, and the program then loads `%gs` with selector `slot * 8 + 3`.
*/

/// `mmap2`'s protection and flag bits.
enum MappingBits {
    static let protectionWrite: UInt32 = 2
    static let shared: UInt32 = 1, privateMapping: UInt32 = 2, fixed: UInt32 = 0x10, anonymous: UInt32 = 0x20
}

extension LinuxPersonality {
    /// `mmap2(address, length, protection, flags, fd, pgoffset)` for anonymous memory.
    func mmap2(address: UInt32, length: UInt32, protection: UInt32, flags: UInt32, fd: UInt32) throws(Stop) -> UInt32 {
        let sharing = flags & (MappingBits.shared | MappingBits.privateMapping)
        guard length > 0, sharing == MappingBits.shared || sharing == MappingBits.privateMapping else {
            return Errno.invalidArgument.returnValue
        }
        guard flags & MappingBits.anonymous != 0 else { return Errno.noSuchDevice.returnValue }
        guard flags & MappingBits.fixed == 0 else { return Errno.invalidArgument.returnValue }
        let pages = (UInt64(length) + UInt64(pageSize) - 1) / UInt64(pageSize)
        let bottom = Int64(linux.mmapBottom) - Int64(pages) * Int64(pageSize)
        guard bottom >= Int64(LinuxProcessState.mmapFloor) else { return Errno.noMemory.returnValue }
        let start = UInt32(bottom)
        for index in 0 ..< UInt32(pages) {
            guard try mapAnonymousPage(at: start + index * UInt32(pageSize)) else {
                // Out of memory part-way: give back what was mapped.
                for undo in 0 ..< index { try unmapPage(at: start + undo * UInt32(pageSize)) }
                return Errno.noMemory.returnValue
            }
            if protection & MappingBits.protectionWrite == 0 {
                _ = try protectPage(at: start + index * UInt32(pageSize), writable: false)
            }
        }
        linux.mmapBottom = start
        return start
    }

    /// The pages of `[address, address + length)`, or the errno for a range Linux refuses.
    private func pageRange(_ address: UInt32, _ length: UInt32) -> Result<[UInt32], Errno> {
        guard address % UInt32(pageSize) == 0 else { return .failure(.invalidArgument) }
        let end = UInt64(address) + (UInt64(length) + UInt64(pageSize) - 1) / UInt64(pageSize) * UInt64(pageSize)
        guard end <= UInt64(ELFImage.userLimit) else { return .failure(.noMemory) }
        return .success(Array(stride(from: address, to: UInt32(end), by: pageSize)))
    }

    /// `munmap(address, length)`: unmap and free every page of the range that is mapped.
    func munmap(address: UInt32, length: UInt32) throws(Stop) -> UInt32 {
        guard length > 0 else { return Errno.invalidArgument.returnValue }
        switch pageRange(address, length) {
        case .failure(let error): return error.returnValue
        case .success(let pages):
            for page in pages { try unmapPage(at: page) }
            return 0
        }
    }

    /// `mprotect(address, length, protection)`: writable or not, page by page.
    func mprotect(address: UInt32, length: UInt32, protection: UInt32) throws(Stop) -> UInt32 {
        switch pageRange(address, length) {
        case .failure(let error): return error.returnValue
        case .success(let pages):
            for page in pages {
                let writable = protection & MappingBits.protectionWrite != 0
                guard try protectPage(at: page, writable: writable) else { return Errno.noMemory.returnValue }
            }
            return 0
        }
    }

    /// `set_thread_area(u_info)`: fill a TLS slot from a `struct user_desc`.
    func setThreadArea(_ address: UInt32) throws(Stop) -> UInt32 {
        guard let info = try readUserMemory(address, count: 16) else { return Errno.fault.returnValue }
        var slot = word(info, at: 0)
        if slot == UInt32.max {
            // -1: the first empty slot, written back for the program to build its selector from.
            guard let free = linux.tls.firstIndex(where: { $0.rawValue == 0 }) else { return Errno.searchFailed.returnValue }
            slot = UInt32(free) + 6
            guard try writeUserMemory(address, littleEndian(slot)) else { return Errno.fault.returnValue }
        }
        guard (6 ... 8).contains(slot) else { return Errno.invalidArgument.returnValue }
        guard let descriptor = Self.threadDescriptor(base: word(info, at: 4), limit: word(info, at: 8),
                                                     flags: word(info, at: 12)) else {
            return Errno.invalidArgument.returnValue
        }
        linux.tls[Int(slot) - 6] = descriptor
        try installTLS()
        return 0
    }

    /// `get_thread_area(u_info)`: describe TLS slot `entry_number` back into the `struct user_desc`.
    func getThreadArea(_ address: UInt32) throws(Stop) -> UInt32 {
        guard let info = try readUserMemory(address, count: 4) else { return Errno.fault.returnValue }
        let slot = word(info, at: 0)
        guard (6 ... 8).contains(slot) else { return Errno.invalidArgument.returnValue }
        let d = linux.tls[Int(slot) - 6]
        var flags: UInt32 = d.defaultSize32 ? 1 : 0
        flags |= UInt32(d.type >> 2 & 3) << 1
        flags |= d.type & 2 == 0 ? 1 << 3 : 0
        flags |= d.granularity ? 1 << 4 : 0
        flags |= d.isPresent ? 0 : 1 << 5
        flags |= d.available ? 1 << 6 : 0
        // An empty slot reads back as Linux's "empty" description: not present, read/exec only.
        if d.rawValue == 0 { flags = 1 << 3 | 1 << 5 }
        return try answer(littleEndian(slot) + littleEndian(d.base) + littleEndian(d.limit) + littleEndian(flags), to: address)
    }

    /// The ring-3 descriptor a `user_desc` asks for; nil for one Linux refuses (a code segment that
    /// conforms, `contents` 3). The all-but-empty description clears the slot.
    static func threadDescriptor(base: UInt32, limit: UInt32, flags: UInt32) -> SegmentDescriptor? {
        let contents = UInt8(flags >> 1 & 3)
        guard contents != 3 else { return nil }
        let readExecOnly = flags & 1 << 3 != 0, notPresent = flags & 1 << 5 != 0
        // Linux's LDT_empty(): base, limit and contents zero, read-exec-only and not present.
        if base == 0, limit == 0, contents == 0, readExecOnly, notPresent, flags & (1 | 1 << 4 | 1 << 6) == 0 {
            return SegmentDescriptor(rawValue: 0)
        }
        // Type: accessed, writable unless read_exec_only, and contents (expand-down data or code) above.
        let type = 1 | (readExecOnly ? 0 : 2) | contents << 2
        return SegmentDescriptor(base: base, limit: limit & 0xFFFFF, type: type, dpl: 3, present: !notPresent,
                                 available: flags & 1 << 6 != 0, defaultSize32: flags & 1 != 0,
                                 granularity: flags & 1 << 4 != 0)
    }
}
/*:*/
