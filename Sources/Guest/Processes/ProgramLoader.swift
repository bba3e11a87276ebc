/*G:087 Loading a program.

A program file is an ELF executable (Appendix X explains the format in full, with `ELFImage`). The kernel
needs only its program headers: each `PT_LOAD` header names a range of the file, the virtual address
it goes to, how much memory it occupies beyond the file's bytes (zeroes: the `.bss`), and whether it is
writable. Loading is then mechanical: for every page a segment touches, take a free frame, zero it,
copy in the file's bytes that fall on it, and map it. A page two segments share (the linker packs a
read-only segment's tail and a writable segment's head onto one page) is mapped once, writable if
either wants it. That is a small lie about permissions, the same one Linux tells, and the price of not
wasting a page per boundary.

Appendix X's `ELFImage` checks every field of the format for the Machine's own program runner; the
kernel keeps its own, shorter reader because a kernel must not depend on its host's libraries, and
because it needs less: the program headers, each checked before use, and nothing else.

After the segments, the stack: four pages just below `pageOffset` (more grow on demand, `G:093`), with
Linux's start-up vector at the top: `argc`, the arguments, the environment and the auxiliary vector,
built by the shared `InitialStack.build()` (`X:876`, `G:098`). The
*break*, the end of the heap that `brk` moves (`G:089`), starts at the first page past the highest
segment.

The result, for a typical program:

```
 0x00000000  +----------------------+  page 0 is never mapped: a null pointer faults
 0x08048000  | text, read-only data |  from the file
             | data, bss            |  writable; bss is zeroes
             | heap                 |  from the break up, grown by brk (G:089)
             |        ...           |
 0xBF800000  | (stack limit)        |  the stack may grow down to here (G:093)
             |        ...           |
 0xBFFFC000  | stack, 4 pages       |  grows down on demand
 0xC0000000  +----------------------+  the kernel's half, the same in every process
```

All of this happens in one lazy section, so the dozens of `SET_PTE` and `SET_PMD` calls it makes go
through the async ring and cost a single world switch at the end.

The reader works with raw offsets, so here they are. An ELF file starts with a 52-byte header, of which
`ProgramImage.init` reads the class and byte order (bytes 4 and 5), the type and machine (16 and 18:
2 for an executable, 3 for the i386), `e_entry` (24), and the program header table's place (28), entry
size (42) and count (44). Each program header is then 32 bytes:

```
  +0  p_type     1 = PT_LOAD; the others are skipped
  +4  p_offset   where the segment's bytes start in the file
  +8  p_vaddr    where they go in memory
 +12  p_paddr    (unused by a program)
 +16  p_filesz   bytes that come from the file
 +20  p_memsz    bytes of memory; the difference is zeroes
 +24  p_flags    bit 0 X, bit 1 W, bit 2 R: only W matters to the page tables
 +28  p_align
```

A page at the boundary between the file's bytes and the `.bss` is the one that needs care:
`copySegmentBytes()` copies only the part of the page that overlaps `[p_vaddr, p_vaddr + p_filesz)`,
and the rest keeps the zeroes the frame was given, which is all the `.bss` needs.

The stack's top is laid out exactly as `X:876` draws it, by the same code that lays out the stand-in
kernel's, so a program finds its `argc` at `esp` in both. */

import LguestABI
import Machine

/// One `PT_LOAD` segment, checked against the file and the user half of memory.
struct LoadSegment {
    /// Where it goes (`p_vaddr`).
    var address: UInt32
    /// How much memory it fills (`p_memsz`); past `fileSize` it is zeroes.
    var memorySize: UInt32
    /// Where its bytes are in the file (`p_offset`).
    var fileOffset: Int
    /// How many bytes come from the file (`p_filesz`).
    var fileSize: Int
    /// Whether the program may write it (`PF_W` in `p_flags`).
    var writable: Bool
}

/// A program's layout, as the kernel loads it.
struct ProgramImage {
    /// The first instruction (`e_entry`).
    var entry: UInt32
    /// The loadable segments, in file order.
    var segments: [LoadSegment]
    /// What the start-up stack says about the program (`X:876`): entry and program headers.
    var facts: ProgramFacts

    /// The stack pages mapped when a program starts; the rest grow on demand (`G:093`).
    static let stackPages: UInt32 = 4
    /// The most the stack may grow to: Linux's default limit, 8 MiB.
    static let maximumStackSize: UInt32 = 8 << 20
    /// Where the stack ends: at the kernel's half.
    static let stackTop = pageOffset.rawValue
    /// The lowest address the stack may grow down to.
    static let stackLimit = stackTop - maximumStackSize

    /// Parse `file`'s headers, or say why it is not a program this kernel can run.
    init(_ file: [UInt8]) throws(ProgramError) {
        // Little-endian reads that refuse, rather than trap on, an offset outside the file.
        func u16(_ at: Int) throws(ProgramError) -> UInt16 {
            guard at >= 0, at + 2 <= file.count else { throw .malformed("header outside the file") }
            return UInt16(file[at]) | UInt16(file[at + 1]) << 8
        }
        func u32(_ at: Int) throws(ProgramError) -> UInt32 {
            guard at >= 0, at + 4 <= file.count else { throw .malformed("header outside the file") }
            return (0..<4).reduce(0) { $0 | UInt32(file[at + $1]) << (8 * UInt32($1)) }
        }
        // The identification: magic, 32-bit class, little-endian data, an i386 executable.
        guard file.count >= 52, file[0..<4].elementsEqual([0x7F, 0x45, 0x4C, 0x46]) else { throw .malformed("not an ELF file") }
        guard file[4] == 1, file[5] == 1 else { throw .malformed("not a 32-bit little-endian ELF file") }
        guard try u16(16) == 2, try u16(18) == 3 else { throw .malformed("not an i386 executable") }
        // e_entry, then where the program headers are, how big each is and how many there are.
        entry = try u32(24)
        let headerOffset = Int(try u32(28)), headerSize = Int(try u16(42)), headerCount = Int(try u16(44))
        guard headerSize >= 32, headerCount <= 64 else { throw .malformed("bad program header table") }
        segments = []
        for index in 0..<headerCount {
            // Each read below is bounds-checked by u32(), so a table past the end is refused, not read.
            let header = headerOffset + index * headerSize
            // Only PT_LOAD (type 1) segments occupy memory; notes and the stack marker do not.
            guard try u32(header) == 1 else { continue }
            let segment = LoadSegment(address: try u32(header + 8), memorySize: try u32(header + 20),
                                      fileOffset: Int(try u32(header + 4)), fileSize: Int(try u32(header + 16)),
                                      writable: try u32(header + 24) & 2 != 0)
            // The segment must lie between page 1 and the stack, without wrapping around...
            let (end, overflow) = segment.address.addingReportingOverflow(segment.memorySize)
            guard !overflow, end <= Self.stackLimit,
                  segment.address >= UInt32(pageSize) else {
                throw .malformed("segment \(index) lies outside the user half")
            }
            // ...and its bytes must be in the file, and no more of them than the memory they fill.
            guard segment.fileSize <= Int(segment.memorySize), segment.fileOffset <= file.count,
                  segment.fileSize <= file.count - segment.fileOffset else {
                throw .malformed("segment \(index) extends past the end of the file")
            }
            segments.append(segment)
        }
        // Something to run, and the first instruction inside it.
        guard !segments.isEmpty else { throw .malformed("no loadable segment") }
        let start = entry
        guard segments.contains(where: { start >= $0.address && start - $0.address < $0.memorySize }) else {
            throw .malformed("entry point \(hex(start)) is in no segment")
        }
        // Where the program header table lands in memory, for AT_PHDR.
        let table = ProgramFacts.programHeaderAddress(
            tableOffset: UInt32(headerOffset), count: UInt32(headerCount),
            segments: segments.map { (UInt32($0.fileOffset), $0.address, UInt32($0.fileSize)) })
        facts = ProgramFacts(entry: entry, programHeaders: table, programHeaderCount: UInt32(headerCount))
    }

    /// The first page past every segment: where the heap begins.
    var initialBreak: UInt32 {
        let end = segments.map { $0.address + $0.memorySize }.max() ?? 0
        return (end + UInt32(pageSize) - 1) & ~UInt32(pageSize - 1)
    }
}

/// Why a program could not be started.
enum ProgramError: Error {
    /// The file is not a program this kernel can load, and why.
    case malformed(String)
    /// Memory ran out while loading it.
    case outOfMemory
    /// Its arguments do not fit on the start-up stack (`E2BIG`).
    case argumentsTooLong
}

extension GuestKernel {
    /// Load `file` into a new address space for program `name`, with its start-up stack (`G:098`);
    /// returns the directory, entry, break and stack pointer.
    func load(_ file: [UInt8], name: String, linux: inout LinuxProcessState) throws(GuestStopped) -> Result<LoadedProgram, ProgramError> {
        let image: ProgramImage
        do { image = try ProgramImage(file) } catch { return .failure(error) }
        guard let directory = try createAddressSpace() else { return .failure(.outOfMemory) }
        let loaded = try lazySection { () throws(GuestStopped) -> Bool in
            // First gather every page the segments touch, filling each frame as we go; a page two
            // segments share is filled by both and is writable if either segment is.
            var pagesMapped: [UInt32: (frame: GuestPhysicalAddress, writable: Bool)] = [:]
            for segment in image.segments {
                // From the page holding the segment's first byte to the one holding its last.
                var page = segment.address & ~UInt32(pageSize - 1)
                while page < segment.address + segment.memorySize {
                    if pagesMapped[page] == nil {
                        guard let frame = pages.allocate() else { return false }
                        try zeroPage(frame)
                        pagesMapped[page] = (frame, false)
                    }
                    if segment.writable { pagesMapped[page]?.writable = true }
                    if let frame = pagesMapped[page]?.frame {
                        try copySegmentBytes(segment, file, page: page, into: frame)
                    }
                    page += UInt32(pageSize)
                }
            }
            // Then map them, in address order so that every run makes the same calls.
            for (page, mapping) in pagesMapped.sorted(by: { $0.key < $1.key }) {
                guard try mapUserPage(directory, GuestVirtualAddress(page), frame: mapping.frame,
                                      writable: mapping.writable) else { return false }
            }
            // And the stack, zeroed, just below the kernel's half.
            for index in 1...ProgramImage.stackPages {
                guard let frame = pages.allocate() else { return false }
                try zeroPage(frame)
                let page = GuestVirtualAddress(ProgramImage.stackTop - index * UInt32(pageSize))
                guard try mapUserPage(directory, page, frame: frame, writable: true) else { return false }
            }
            return true
        }
        // Out of memory part-way: give back what was mapped. (Frames filled but not yet mapped when
        // memory ran out are lost until reboot; a kernel that ran short of memory has bigger problems.)
        guard loaded else {
            try destroyAddressSpace(directory)
            return .failure(.outOfMemory)
        }
        // argc, argv, envp and the auxiliary vector, as Linux lays them out (X:876).
        guard let stackPointer = try buildInitialStack(directory, name: name, image: image, state: &linux) else {
            try destroyAddressSpace(directory)
            return .failure(.argumentsTooLong)
        }
        return .success(LoadedProgram(directory: directory, entry: image.entry, initialBreak: image.initialBreak,
                                      stackPointer: stackPointer))
    }

    /// Copy the file bytes of `segment` that fall on user page `page` into `frame`.
    private func copySegmentBytes(_ segment: LoadSegment, _ file: [UInt8], page: UInt32,
                                  into frame: GuestPhysicalAddress) throws(GuestStopped) {
        // The overlap of this page with the file-backed part of the segment; none on a bss-only page.
        let fileStart = segment.address, fileEnd = segment.address + UInt32(segment.fileSize)
        let from = max(page, fileStart), to = min(page + UInt32(pageSize), fileEnd)
        guard from < to else { return }
        // `ProgramImage.init` proved fileOffset + fileSize within the file, so this slice is in range.
        let offset = segment.fileOffset + Int(from - fileStart)
        try writeBytes(linear(frame) &+ (from - page), Array(file[offset..<offset + Int(to - from)]))
    }
}

/// A program loaded and ready to run.
struct LoadedProgram {
    /// Its page directory.
    var directory: GuestPhysicalAddress
    /// Where it starts.
    var entry: UInt32
    /// Where its heap starts.
    var initialBreak: UInt32
    /// Its first stack pointer, at `argc` (`X:876`).
    var stackPointer: UInt32
}
/*:*/
