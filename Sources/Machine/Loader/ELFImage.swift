/*X:800 Loading programs: the ELF format.

Every guest program in this project is a file that `gcc` and the linker wrote
in the *Executable and Linkable Format*, ELF, the format Unix systems have used
for executables since System V Release 4. Before the machine can run one, a
loader has to answer three questions: which bytes of the file go where in the
program's address space, with which permissions, and where does execution
start?

ELF answers them in two layers. A fixed 52-byte *file header* (for the 32-bit
flavour) names the kind of file and points at a table of *program headers*;
each program header describes one *segment*, a run of the file that the loader
maps into memory. There is a second table, of *section headers*, that the
linker and debuggers care about (`.text`, `.data`, `.symtab`...), but a loader
never needs it: sections are how a program is built, segments are how it is
run.

The file comes from outside, so every number in it is a claim to check, not a
fact to trust. A loader that believes an offset reads past the end of its
buffer; one that believes an address maps the program over the kernel. The
rest of this part of the appendix, `ELFImage`, checks every field it reads and
refuses a bad file with a message that says which field and why, in the
`elf: reason value` shape that the rest of the project uses. Real kernels have
shipped bugs in exactly this code, so it is a good place to be pedantic.
:*/

/*X:805 The loader's answer: a value that cannot be wrong.

The checks happen once, in `ELFImage.init(bytes:)`, and the type records that
they passed: code that holds an `ELFImage` may copy its segments into memory
without a single further test, because an unchecked file never becomes one.
Parsing and validating in one step, rather than carrying raw bytes around and
checking them "later", is the cheapest defence there is against forgetting.
*/

/// A validated, statically linked i386 Linux executable.
///
/// Creating one checks the whole file header and every program header (see
/// `ELFImageError` for the refusals); a value of this type is therefore safe to
/// load without further checks: every segment lies inside the file and inside
/// the user half of the address space, no two overlap, and the entry point is
/// in an executable segment.
public struct ELFImage: Sendable {
    /// One loadable segment (a `PT_LOAD` program header).
    public struct Segment: Sendable, Equatable {
        /// The program header's position in the table, as the messages count.
        public let index: Int
        /// Where the segment starts in the program's address space (`p_vaddr`).
        public let virtualAddress: GuestVirtualAddress
        /// How many bytes it occupies in memory (`p_memsz`); the bytes past
        /// `fileSize` are zero (this is how `.bss` is made).
        public let memorySize: UInt32
        /// Where its initialised bytes start in the file (`p_offset`).
        public let fileOffset: UInt32
        /// How many bytes come from the file (`p_filesz`), at most `memorySize`.
        public let fileSize: UInt32
        /// What the program may do with it (`p_flags`).
        public let permissions: Permissions

        /// The first address past the segment; never wraps (checked at load).
        public var endAddress: UInt32 { virtualAddress.rawValue &+ memorySize }
    }

    /// The `p_flags` of a program header.
    public struct Permissions: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// `PF_X` (bit 0): the segment holds code.
        public static let executable = Permissions(rawValue: 1 << 0)
        /// `PF_W` (bit 1): the program may write to it.
        public static let writable = Permissions(rawValue: 1 << 1)
        /// `PF_R` (bit 2): the program may read it.
        public static let readable = Permissions(rawValue: 1 << 2)
    }

    /// Where execution starts (`e_entry`).
    public let entry: GuestVirtualAddress
    /// The loadable segments in ascending address order.
    public let segments: [Segment]
    /// The whole file, kept so the loader can copy segment contents.
    public let bytes: [UInt8]
    /// Where the program header table is in memory (`AT_PHDR`), or 0 when no segment loads it.
    public let programHeaderAddress: UInt32
    /// How many program headers there are (`AT_PHNUM`).
    public let programHeaderCount: UInt32

    /// What the start-up stack tells the program about itself (`X:876`).
    public var facts: ProgramFacts {
        ProgramFacts(entry: entry.rawValue, programHeaders: programHeaderAddress, programHeaderCount: programHeaderCount)
    }

    /// The initialised bytes of `segment`, straight from the file.
    public func fileContents(of segment: Segment) -> ArraySlice<UInt8> {
        let start = Int(segment.fileOffset)
        return bytes[start ..< start + Int(segment.fileSize)]
    }
}
/*:*/

/*X:810 The identification bytes.

An ELF file opens with sixteen bytes of *identification*, `e_ident`, which
say how to read everything after them:

```
 offset  0    1    2    3    4      5      6        7        8 ... 15
       +----+----+----+----+------+------+--------+--------+----------+
       |0x7f| 'E'| 'L'| 'F'|class | data |version | OS ABI | padding  |
       +----+----+----+----+------+------+--------+--------+----------+
                            1=32   1=LSB   1        0 or 3
```

The magic number rules out files that are not ELF at all. The class says
whether addresses are 32 or 64 bits wide, and the data byte whether numbers
are little-endian (LSB first, as on every x86) or big-endian. We accept only
the combination an i386 runs: 32-bit, little-endian. The OS ABI byte is
`ELFOSABI_SYSV` (0) for nearly every Linux program, and `ELFOSABI_GNU` (3)
for the few that use GNU extensions; Linux itself ignores it, but a file that
claims FreeBSD's ABI (9) expects FreeBSD's system calls, so we refuse it
rather than run it wrongly.
:*/

/*X:815 Refusing well.

A refusal is only useful if it says what is wrong. Each way a file can fail
is a case of `ELFImageError` carrying the offending values, which lets the
tests compare refusals exactly, and its `description` turns them into one
line a person can act on, such as
`elf: segment 1 extends past end of file (offset 0x1000 + 0x20000 > 0x2200)`.
The loader stops at the first problem it meets, in file order, so a file with
several faults is refused for the earliest, every time.
*/

/// The ways an ELF file can be refused. Each message reads `elf: reason value`.
public enum ELFImageError: Error, Equatable, CustomStringConvertible {
    /// The file is shorter than the fixed ELF header.
    case truncated(size: Int, needed: Int)
    /// The first four bytes are not `\x7fELF`.
    case badMagic([UInt8])
    /// `EI_CLASS` is not `ELFCLASS32`.
    case wrongClass(UInt8)
    /// `EI_DATA` is not `ELFDATA2LSB`.
    case wrongDataEncoding(UInt8)
    /// `EI_VERSION` is not `EV_CURRENT`.
    case wrongIdentVersion(UInt8)
    /// `EI_OSABI` is neither System V nor GNU/Linux.
    case unsupportedOSABI(UInt8)
    /// `EI_ABIVERSION` is not 0.
    case unsupportedABIVersion(UInt8)
    /// `e_type` is not `ET_EXEC`.
    case wrongType(UInt16)
    /// `e_machine` is not `EM_386`.
    case wrongMachine(UInt16)
    /// `e_version` is not `EV_CURRENT`.
    case wrongVersion(UInt32)
    /// `e_flags` is not 0.
    case unexpectedFlags(UInt32)
    /// `e_ehsize` is not 52.
    case wrongHeaderSize(UInt16)
    /// `e_phentsize` is not 32.
    case wrongProgramHeaderSize(UInt16)
    /// `e_phnum` is 0 or above `ELFImage.maximumProgramHeaders`.
    case programHeaderCount(UInt16)
    /// The program-header table does not fit in the file.
    case programHeadersOutsideFile(offset: UInt32, size: UInt32, fileSize: Int)
    /// `e_shentsize` is not 40 although there are section headers.
    case wrongSectionHeaderSize(UInt16)
    /// The section-header table does not fit in the file.
    case sectionHeadersOutsideFile(offset: UInt32, size: UInt32, fileSize: Int)
    /// `e_shstrndx` names no section.
    case sectionNameIndex(UInt16, count: UInt16)
    /// A `PT_INTERP` or `PT_DYNAMIC` header: the program needs a dynamic linker.
    case needsDynamicLinking(segment: Int)
    /// `p_flags` has bits other than `PF_R`, `PF_W`, `PF_X`.
    case unknownSegmentFlags(segment: Int, flags: UInt32)
    /// `p_align` is not 0 or a power of two.
    case badAlignment(segment: Int, alignment: UInt32)
    /// `p_vaddr` and `p_offset` differ modulo `p_align`.
    case misaligned(segment: Int, address: UInt32, offset: UInt32, alignment: UInt32)
    /// `p_filesz` is larger than `p_memsz`.
    case fileSizeExceedsMemorySize(segment: Int, fileSize: UInt32, memorySize: UInt32)
    /// `p_offset + p_filesz` lies past the end of the file.
    case segmentOutsideFile(segment: Int, offset: UInt32, size: UInt32, fileSize: Int)
    /// `p_vaddr + p_memsz` wraps past 4 GiB.
    case segmentWrapsAround(segment: Int, address: UInt32, size: UInt32)
    /// `p_vaddr + p_memsz` reaches above `ELFImage.userLimit`.
    case segmentInKernelHalf(segment: Int, address: UInt32, size: UInt32)
    /// The segment covers page 0.
    case segmentMapsPageZero(segment: Int)
    /// A `PT_LOAD` starts below the one before it.
    case segmentsOutOfOrder(segment: Int)
    /// Two `PT_LOAD` segments share a byte.
    case segmentsOverlap(first: Int, second: Int)
    /// There is no `PT_LOAD` segment with a non-zero memory size.
    case noLoadableSegment
    /// `e_entry` is not inside an executable segment.
    case entryNotExecutable(UInt32)

    /*X:817 Each refusal as one line.

    The messages follow the project's rule for every error a user sees: the subsystem first (`elf:`),
    then the reason with the values that caused it, numbers in hex as they appear in `readelf` output,
    so the line can be checked against the file. Where a limit was broken, the message names the limit
    too: "reaches into the kernel's half" is followed by the boundary itself, so nobody has to look up
    what `ELFImage.userLimit` is. */
    public var description: String {
        "elf: " + reason
    }

    private var reason: String {
        switch self {
        case let .truncated(size, needed):
            return "file is \(size) bytes, too short for the \(needed)-byte ELF header"
        case let .badMagic(bytes):
            return "not an ELF file (magic \(bytes.map { hex($0) }.joined(separator: " ")))"
        case let .wrongClass(value):
            return "class \(value) is not ELFCLASS32 (1): not a 32-bit program"
        case let .wrongDataEncoding(value):
            return "data encoding \(value) is not ELFDATA2LSB (1): not little-endian"
        case let .wrongIdentVersion(value):
            return "identification version \(value) is not EV_CURRENT (1)"
        case let .unsupportedOSABI(value):
            return "OS ABI \(value) is neither System V (0) nor GNU/Linux (3)"
        case let .unsupportedABIVersion(value):
            return "ABI version \(value) is not 0"
        case let .wrongType(value):
            return "file type \(value) is not ET_EXEC (2): only static executables run here"
        case let .wrongMachine(value):
            return "machine \(value) is not EM_386 (3): not an i386 program"
        case let .wrongVersion(value):
            return "version \(value) is not EV_CURRENT (1)"
        case let .unexpectedFlags(value):
            return "flags \(hex(value)) are not 0, as i386 requires"
        case let .wrongHeaderSize(value):
            return "header size \(value) is not 52"
        case let .wrongProgramHeaderSize(value):
            return "program header size \(value) is not 32"
        case let .programHeaderCount(value):
            return "\(value) program headers (expected 1 to \(ELFImage.maximumProgramHeaders))"
        case let .programHeadersOutsideFile(offset, size, fileSize):
            return "program headers extend past end of file (offset \(hex(offset)) + \(hex(size)) > \(hex(fileSize)))"
        case let .wrongSectionHeaderSize(value):
            return "section header size \(value) is not 40"
        case let .sectionHeadersOutsideFile(offset, size, fileSize):
            return "section headers extend past end of file (offset \(hex(offset)) + \(hex(size)) > \(hex(fileSize)))"
        case let .sectionNameIndex(index, count):
            return "section name table index \(index) is not below the section count \(count)"
        case let .needsDynamicLinking(segment):
            return "segment \(segment) asks for dynamic linking, which this loader does not do"
        case let .unknownSegmentFlags(segment, flags):
            return "segment \(segment) has unknown flags \(hex(flags))"
        case let .badAlignment(segment, alignment):
            return "segment \(segment) alignment \(hex(alignment)) is not a power of two"
        case let .misaligned(segment, address, offset, alignment):
            return "segment \(segment) address \(hex(address)) and offset \(hex(offset)) differ modulo \(hex(alignment))"
        case let .fileSizeExceedsMemorySize(segment, fileSize, memorySize):
            return "segment \(segment) file size \(hex(fileSize)) exceeds its memory size \(hex(memorySize))"
        case let .segmentOutsideFile(segment, offset, size, fileSize):
            return "segment \(segment) extends past end of file (offset \(hex(offset)) + \(hex(size)) > \(hex(fileSize)))"
        case let .segmentWrapsAround(segment, address, size):
            return "segment \(segment) wraps around the address space (\(hex(address)) + \(hex(size)))"
        case let .segmentInKernelHalf(segment, address, size):
            return "segment \(segment) reaches into the kernel's half (\(hex(address)) + \(hex(size)) > \(hex(ELFImage.userLimit)))"
        case let .segmentMapsPageZero(segment):
            return "segment \(segment) maps page 0, which stays unmapped to catch null pointers"
        case let .segmentsOutOfOrder(segment):
            return "segment \(segment) starts below the segment before it"
        case let .segmentsOverlap(first, second):
            return "segments \(first) and \(second) overlap"
        case .noLoadableSegment:
            return "no loadable segment"
        case let .entryNotExecutable(entry):
            return "entry point \(hex(entry)) is not inside an executable segment"
        }
    }
}
/*:*/
