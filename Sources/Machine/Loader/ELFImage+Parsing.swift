/*X:820 The file header.

After the identification come the fields that matter to a loader. Their
offsets are fixed by the format, and every one of them gets a check:

```
 16 e_type      u16  2 = ET_EXEC, a program linked to run at fixed addresses
 18 e_machine   u16  3 = EM_386
 20 e_version   u32  1 = EV_CURRENT
 24 e_entry     u32  the address of the first instruction
 28 e_phoff     u32  where the program-header table starts in the file
 32 e_shoff     u32  where the section-header table starts (0 if none)
 36 e_flags     u32  0 on i386, which defines no flags
 40 e_ehsize    u16  52, the size of this header
 42 e_phentsize u16  32, the size of one program header
 44 e_phnum     u16  how many program headers
 46 e_shentsize u16  40, the size of one section header
 48 e_shnum     u16  how many section headers
 50 e_shstrndx  u16  which section holds the section names
```

We refuse `ET_DYN` (shared objects and position-independent executables)
because loading one means choosing a base address and relocating, and our
programs are linked static and at fixed addresses on purpose. The section
table is never used, but a table that points outside the file is a sign of a
damaged or doctored file, so it is refused as well.

Notice the arithmetic: `e_phoff + e_phnum * e_phentsize` could overflow 32
bits if the file is hostile, and a wrapped sum would pass a naive "is it
inside the file?" check. Every such sum below is computed in 64 bits, where
it cannot wrap.
*/

extension ELFImage {
    /// The first address of the kernel's half: user segments must end at or below it.
    public static let userLimit: UInt32 = 0xC000_0000
    /// The most program headers we read; real static programs have about five.
    public static let maximumProgramHeaders: UInt16 = 64

    static let headerSize = 52
    static let programHeaderSize = 32
    static let sectionHeaderSize = 40

    /// Parses and validates an ELF file.
    ///
    /// - Throws: `ELFImageError` naming the first field that is wrong.
    public init(bytes: [UInt8]) throws(ELFImageError) {
        guard bytes.count >= Self.headerSize else {
            throw .truncated(size: bytes.count, needed: Self.headerSize)
        }
        let reader = LittleEndianReader(bytes: bytes)
        try Self.checkIdentification(reader)
        try Self.checkHeaderFields(reader)
        let segments = try Self.loadableSegments(reader)
        // Last, the entry point: it must land in code the loader is about to map.
        let entry = reader.u32(24)
        guard segments.contains(where: { $0.permissions.contains(.executable) && $0.contains(entry) }) else {
            throw .entryNotExecutable(entry)
        }
        self.entry = GuestVirtualAddress(rawValue: entry)
        self.segments = segments
        self.bytes = bytes
        // Where the program header table lands in memory, for AT_PHDR (X:876).
        programHeaderCount = UInt32(reader.u16(44))
        programHeaderAddress = ProgramFacts.programHeaderAddress(
            tableOffset: reader.u32(28), count: programHeaderCount,
            segments: segments.map { ($0.fileOffset, $0.virtualAddress.rawValue, $0.fileSize) })
    }

    /*X:825 The checks, field by field.

    Each check reads like a line of the ELF specification with the answer we insist on: magic `7f 45 4c
    46`, class 1 (32-bit), data 1 (little-endian), type 2 (an executable, not a shared object), machine 3
    (the i386). The OS ABI byte may be 0 or 3, because toolchains write either for a Linux program.
    The tables come last, and they show the overflow rule of `X:820` at work: a count is checked against
    a small maximum first, so the product of two 16-bit fields is small, and `fits(offset:size:in:)` adds
    in 64 bits, where a hostile offset near 4 GiB cannot wrap round to a small number. */
    private static func checkIdentification(_ r: LittleEndianReader) throws(ELFImageError) {
        let magic = [r.u8(0), r.u8(1), r.u8(2), r.u8(3)]
        guard magic == [0x7F, 0x45, 0x4C, 0x46] else { throw .badMagic(magic) }
        guard r.u8(4) == 1 else { throw .wrongClass(r.u8(4)) }
        guard r.u8(5) == 1 else { throw .wrongDataEncoding(r.u8(5)) }
        guard r.u8(6) == 1 else { throw .wrongIdentVersion(r.u8(6)) }
        guard r.u8(7) == 0 || r.u8(7) == 3 else { throw .unsupportedOSABI(r.u8(7)) }
        guard r.u8(8) == 0 else { throw .unsupportedABIVersion(r.u8(8)) }
    }

    private static func checkHeaderFields(_ r: LittleEndianReader) throws(ELFImageError) {
        guard r.u16(16) == 2 else { throw .wrongType(r.u16(16)) }
        guard r.u16(18) == 3 else { throw .wrongMachine(r.u16(18)) }
        guard r.u32(20) == 1 else { throw .wrongVersion(r.u32(20)) }
        guard r.u32(36) == 0 else { throw .unexpectedFlags(r.u32(36)) }
        guard r.u16(40) == headerSize else { throw .wrongHeaderSize(r.u16(40)) }
        guard r.u16(42) == programHeaderSize else { throw .wrongProgramHeaderSize(r.u16(42)) }
        // The table must exist, be of sane size, and lie inside the file: the
        // product of two 16-bit fields fits in 32 bits, the sum is done in 64.
        let count = r.u16(44)
        guard count >= 1, count <= maximumProgramHeaders else { throw .programHeaderCount(count) }
        let tableSize = UInt32(count) * UInt32(programHeaderSize)
        guard fits(offset: r.u32(28), size: tableSize, in: r.bytes.count) else {
            throw .programHeadersOutsideFile(offset: r.u32(28), size: tableSize, fileSize: r.bytes.count)
        }
        try checkSectionTable(r)
    }

    private static func checkSectionTable(_ r: LittleEndianReader) throws(ELFImageError) {
        // No sections at all is legal (`strip --strip-all` can get close);
        // otherwise the table is checked like the program headers.
        let count = r.u16(48)
        guard count > 0 else { return }
        guard r.u16(46) == sectionHeaderSize else { throw .wrongSectionHeaderSize(r.u16(46)) }
        let tableSize = UInt32(count) * UInt32(sectionHeaderSize)
        guard fits(offset: r.u32(32), size: tableSize, in: r.bytes.count) else {
            throw .sectionHeadersOutsideFile(offset: r.u32(32), size: tableSize, fileSize: r.bytes.count)
        }
        guard r.u16(50) < count else { throw .sectionNameIndex(r.u16(50), count: count) }
    }

    /// Whether `offset ..< offset + size` lies inside a file of `fileSize` bytes,
    /// computed without overflow.
    static func fits(offset: UInt32, size: UInt32, in fileSize: Int) -> Bool {
        UInt64(offset) + UInt64(size) <= UInt64(fileSize)
    }
}
/*:*/

/*X:830 Program headers and the segments they describe.

Each program header is 32 bytes:

```
  0 p_type    1 = PT_LOAD; 2 = PT_DYNAMIC, 3 = PT_INTERP, 7 = PT_TLS, ...
  4 p_offset  where the segment's bytes start in the file
  8 p_vaddr   where they go in memory
 12 p_paddr   the physical address, meaningless for a user program
 16 p_filesz  how many bytes come from the file
 20 p_memsz   how many bytes the segment occupies; the rest is zero
 24 p_flags   PF_X (1), PF_W (2), PF_R (4)
 28 p_align   the alignment p_vaddr and p_offset agree on
```

Only `PT_LOAD` entries put anything in memory. The others are notes to other
readers: `PT_NOTE` for tools, `PT_GNU_STACK` to ask for a non-executable
stack, `PT_PHDR` to say where the table itself lands, and `PT_TLS`, the
template of each thread's thread-local storage, which is the C library's
business, not the kernel's: a static glibc finds the header itself through
`AT_PHDR` (`X:876`) and asks for a segment to reach it with
`set_thread_area` (`X:897`). We ignore those. Two we must not ignore,
because ignoring them would run the program wrongly: `PT_INTERP` and
`PT_DYNAMIC` ask for a dynamic linker, and this loader runs only static
programs.

For each `PT_LOAD` the rules are the ones a careful kernel enforces:

- the file part lies inside the file, and is no longer than the memory part;
- the alignment is zero, one or a power of two, and the address and the file
  offset agree modulo it (that is what lets a real kernel `mmap` the file
  page by page; we copy instead, but a file that breaks the rule is broken);
- the memory part neither wraps past 4 GiB nor reaches the kernel's half at
  `0xC0000000`, and does not cover page 0, which is left unmapped so that a
  null pointer faults;
- segments come in ascending address order (the ELF specification requires
  it) and do not overlap. Two segments may share a *page*, and the program
  runner gives that page the permissions of both, but never a *byte*.
*/

extension ELFImage {
    private static func loadableSegments(_ r: LittleEndianReader) throws(ELFImageError) -> [Segment] {
        let tableOffset = Int(r.u32(28))
        var segments: [Segment] = []
        for index in 0 ..< Int(r.u16(44)) {
            let base = tableOffset + index * programHeaderSize
            guard let segment = try programHeader(r, at: base, index: index) else { continue }
            // Sorted input makes the overlap check one comparison with the
            // previous segment instead of one with every other segment.
            if let previous = segments.last {
                guard segment.virtualAddress.rawValue >= previous.virtualAddress.rawValue else {
                    throw .segmentsOutOfOrder(segment: index)
                }
                guard segment.virtualAddress.rawValue >= previous.endAddress else {
                    throw .segmentsOverlap(first: previous.index, second: index)
                }
            }
            segments.append(segment)
        }
        guard !segments.isEmpty else { throw .noLoadableSegment }
        return segments
    }

    /// The segment a program header describes, or `nil` when it loads nothing.
    private static func programHeader(
        _ r: LittleEndianReader, at base: Int, index: Int
    ) throws(ELFImageError) -> Segment? {
        // p_type: load it, refuse it, or ignore it (X:830).
        switch r.u32(base) {
        case 1: break
        case 2, 3: throw .needsDynamicLinking(segment: index)
        default: return nil
        }
        let offset = r.u32(base + 4), address = r.u32(base + 8)
        let fileSize = r.u32(base + 16), memorySize = r.u32(base + 20)
        let flags = r.u32(base + 24), alignment = r.u32(base + 28)
        guard flags & ~Permissions.all.rawValue == 0 else {
            throw .unknownSegmentFlags(segment: index, flags: flags)
        }
        guard alignment & (alignment &- 1) == 0 else { throw .badAlignment(segment: index, alignment: alignment) }
        if alignment > 1, address % alignment != offset % alignment {
            throw .misaligned(segment: index, address: address, offset: offset, alignment: alignment)
        }
        guard fileSize <= memorySize else {
            throw .fileSizeExceedsMemorySize(segment: index, fileSize: fileSize, memorySize: memorySize)
        }
        guard fits(offset: offset, size: fileSize, in: r.bytes.count) else {
            throw .segmentOutsideFile(segment: index, offset: offset, size: fileSize, fileSize: r.bytes.count)
        }
        // An empty segment loads nothing; it is checked above, then dropped.
        guard memorySize > 0 else { return nil }
        try checkPlacement(index: index, address: address, size: memorySize)
        return Segment(
            index: index, virtualAddress: GuestVirtualAddress(rawValue: address), memorySize: memorySize,
            fileOffset: offset, fileSize: fileSize, permissions: Permissions(rawValue: flags))
    }

    private static func checkPlacement(index: Int, address: UInt32, size: UInt32) throws(ELFImageError) {
        let end = UInt64(address) + UInt64(size)
        guard end <= 1 << 32 else { throw .segmentWrapsAround(segment: index, address: address, size: size) }
        guard end <= UInt64(userLimit) else {
            throw .segmentInKernelHalf(segment: index, address: address, size: size)
        }
        guard address >= UInt32(pageSize) else { throw .segmentMapsPageZero(segment: index) }
    }
}
/*:*/

/*X:840 The entry point.

The last check ties the header to the segments: `e_entry`, the address of the
first instruction, must fall inside a segment that is both loaded and marked
executable. Without it, a file could start the program in its data, or in a
hole where nothing is mapped; the first instruction fetch would fault and the
program would die with a confusing signal instead of a clear refusal.
*/

extension ELFImage.Permissions {
    /// Every flag the i386 ABI defines.
    static let all: ELFImage.Permissions = [.readable, .writable, .executable]
}

extension ELFImage.Segment {
    /// Whether `address` lies inside the segment's memory part.
    func contains(_ address: UInt32) -> Bool {
        address >= virtualAddress.rawValue && address &- virtualAddress.rawValue < memorySize
    }
}
/// Little-endian reads from the file that refuse to go past its end.
///
/// Callers check every range against the file size before reading it, so an
/// out-of-range read here is a bug in the loader (and traps), never a bad file.
private struct LittleEndianReader {
    let bytes: [UInt8]

    func u8(_ offset: Int) -> UInt8 { bytes[offset] }

    func u16(_ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    func u32(_ offset: Int) -> UInt32 {
        UInt32(u16(offset)) | UInt32(u16(offset + 2)) << 16
    }
}
/*:*/
