import Foundation
import Testing
@testable import Machine

// Tests of the ELF loader (X:800 ... X:830). Every refusal is produced by
// mutating a good file, the committed `hello`, in one field.

/// The committed `hello` program, which every mutation starts from.
private let hello: [UInt8] = {
    do {
        return try GuestPrograms.load("hello").bytes
    } catch {
        preconditionFailure("the committed hello program does not load: \(error)")
    }
}()

/// `hello` with `value` written little-endian at `offset`, `width` bytes wide.
private func mutated(_ offset: Int, _ value: UInt32, width: Int) -> [UInt8] {
    var bytes = hello
    for i in 0 ..< width {
        bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))
    }
    return bytes
}

/// The file offset of field `field` (0 = p_type, 4 = p_offset, ...) of program header `index`.
private func programHeaderField(_ index: Int, _ field: Int) -> Int {
    let table = Int(hello[28]) | Int(hello[29]) << 8 | Int(hello[30]) << 16 | Int(hello[31]) << 24
    return table + index * 32 + field
}

/// The index of the first `PT_LOAD` program header with the given flags in `hello`.
private func loadHeader(withFlags flags: UInt8) -> Int {
    for index in 0 ..< Int(hello[44]) where hello[programHeaderField(index, 0)] == 1
        && hello[programHeaderField(index, 24)] == flags {
        return index
    }
    preconditionFailure("hello has no PT_LOAD segment with flags \(flags)")
}

private func refusal(_ bytes: [UInt8]) -> ELFImageError? {
    do {
        _ = try ELFImage(bytes: bytes)
        return nil
    } catch {
        return error
    }
}

@Test func x800_everyCommittedProgramLoads() throws {
    #expect(GuestPrograms.names.count >= 6)
    for name in GuestPrograms.names {
        let image = try GuestPrograms.load(name)
        #expect(image.segments.contains { $0.permissions.contains(.executable) }, "\(name)")
        #expect(image.entry.rawValue >= 0x0804_8000, "\(name)")
    }
}

@Test func x800_helloHasTheSegmentsTheLinkerWrote() throws {
    let image = try ELFImage(bytes: hello)
    let code = try #require(image.segments.first { $0.permissions == [.readable, .executable] })
    #expect(code.fileSize == code.memorySize)
    #expect(image.fileContents(of: code).count == Int(code.fileSize))
    for pair in zip(image.segments, image.segments.dropFirst()) {
        #expect(pair.0.endAddress <= pair.1.virtualAddress.rawValue)
    }
}

/// One mutation of `hello` and the refusal it must produce.
struct ELFRefusalCase: CustomTestStringConvertible, Sendable {
    let name: String
    let bytes: @Sendable () -> [UInt8]
    let expected: ELFImageError
    var testDescription: String { name }
}

private let codeSegment = loadHeader(withFlags: 5)

let elfRefusals: [ELFRefusalCase] = [
    .init(name: "empty file", bytes: { [] }, expected: .truncated(size: 0, needed: 52)),
    .init(name: "truncated header", bytes: { Array(hello.prefix(51)) }, expected: .truncated(size: 51, needed: 52)),
    .init(name: "bad magic", bytes: { mutated(1, 0x58, width: 1) }, expected: .badMagic([0x7F, 0x58, 0x4C, 0x46])),
    .init(name: "64-bit class", bytes: { mutated(4, 2, width: 1) }, expected: .wrongClass(2)),
    .init(name: "big-endian", bytes: { mutated(5, 2, width: 1) }, expected: .wrongDataEncoding(2)),
    .init(name: "ident version", bytes: { mutated(6, 0, width: 1) }, expected: .wrongIdentVersion(0)),
    .init(name: "FreeBSD ABI", bytes: { mutated(7, 9, width: 1) }, expected: .unsupportedOSABI(9)),
    .init(name: "ABI version", bytes: { mutated(8, 1, width: 1) }, expected: .unsupportedABIVersion(1)),
    .init(name: "shared object", bytes: { mutated(16, 3, width: 2) }, expected: .wrongType(3)),
    .init(name: "x86-64 machine", bytes: { mutated(18, 62, width: 2) }, expected: .wrongMachine(62)),
    .init(name: "ARM machine", bytes: { mutated(18, 40, width: 2) }, expected: .wrongMachine(40)),
    .init(name: "version", bytes: { mutated(20, 2, width: 4) }, expected: .wrongVersion(2)),
    .init(name: "flags", bytes: { mutated(36, 1, width: 4) }, expected: .unexpectedFlags(1)),
    .init(name: "header size", bytes: { mutated(40, 64, width: 2) }, expected: .wrongHeaderSize(64)),
    .init(name: "program header size", bytes: { mutated(42, 56, width: 2) }, expected: .wrongProgramHeaderSize(56)),
    .init(name: "no program headers", bytes: { mutated(44, 0, width: 2) }, expected: .programHeaderCount(0)),
    .init(name: "too many program headers", bytes: { mutated(44, 65, width: 2) }, expected: .programHeaderCount(65)),
    .init(
        name: "program headers past the end", bytes: { mutated(28, UInt32(hello.count - 40), width: 4) },
        expected: .programHeadersOutsideFile(
            offset: UInt32(hello.count - 40), size: UInt32(hello[44]) * 32, fileSize: hello.count)),
    .init(
        name: "program header offset that wraps", bytes: { mutated(28, 0xFFFF_FFF0, width: 4) },
        expected: .programHeadersOutsideFile(offset: 0xFFFF_FFF0, size: UInt32(hello[44]) * 32, fileSize: hello.count)),
    .init(name: "section header size", bytes: { mutated(46, 64, width: 2) }, expected: .wrongSectionHeaderSize(64)),
    .init(
        name: "section headers past the end", bytes: { mutated(32, UInt32(hello.count), width: 4) },
        expected: .sectionHeadersOutsideFile(
            offset: UInt32(hello.count), size: UInt32(hello[48]) * 40, fileSize: hello.count)),
    .init(
        name: "section name index", bytes: { mutated(50, UInt32(hello[48]), width: 2) },
        expected: .sectionNameIndex(UInt16(hello[48]), count: UInt16(hello[48]))),
    .init(
        name: "interpreter", bytes: { mutated(programHeaderField(codeSegment, 0), 3, width: 4) },
        expected: .needsDynamicLinking(segment: codeSegment)),
    .init(
        name: "unknown segment flags", bytes: { mutated(programHeaderField(codeSegment, 24), 0x15, width: 4) },
        expected: .unknownSegmentFlags(segment: codeSegment, flags: 0x15)),
    .init(
        name: "alignment not a power of two", bytes: { mutated(programHeaderField(codeSegment, 28), 0x3000, width: 4) },
        expected: .badAlignment(segment: codeSegment, alignment: 0x3000)),
    .init(
        name: "address and offset disagree", bytes: { mutated(programHeaderField(codeSegment, 4), 0x1800, width: 4) },
        expected: .misaligned(segment: codeSegment, address: 0x0804_9000, offset: 0x1800, alignment: 0x1000)),
    .init(
        name: "file size above memory size",
        bytes: { mutated(programHeaderField(codeSegment, 20), 1, width: 4) },
        expected: .fileSizeExceedsMemorySize(
            segment: codeSegment, fileSize: segmentField(codeSegment, 16), memorySize: 1)),
    .init(
        name: "segment past the end of the file",
        bytes: {
            let grown = mutated(programHeaderField(codeSegment, 20), 0x10_0000, width: 4)
            return patch(grown, programHeaderField(codeSegment, 16), 0x10_0000)
        },
        expected: .segmentOutsideFile(segment: codeSegment, offset: 0x1000, size: 0x10_0000, fileSize: hello.count)),
    .init(
        name: "segment in the kernel's half",
        bytes: { mutated(programHeaderField(codeSegment, 20), 0xC000_0000, width: 4) },
        expected: .segmentInKernelHalf(segment: codeSegment, address: 0x0804_9000, size: 0xC000_0000)),
    .init(
        name: "segment that wraps around",
        bytes: { mutated(programHeaderField(codeSegment, 20), 0xFFFF_0000, width: 4) },
        expected: .segmentWrapsAround(segment: codeSegment, address: 0x0804_9000, size: 0xFFFF_0000)),
    .init(
        name: "segment on page 0",
        bytes: {
            let moved = mutated(programHeaderField(0, 8), 0, width: 4)
            return patch(moved, programHeaderField(0, 4), 0)
        },
        expected: .segmentMapsPageZero(segment: 0)),
    .init(
        name: "segments out of order",
        bytes: { mutated(programHeaderField(codeSegment, 8), 0x0804_7000, width: 4) },
        expected: .segmentsOutOfOrder(segment: codeSegment)),
    .init(
        name: "segments overlapping",
        bytes: { mutated(programHeaderField(codeSegment - 1, 20), 0x1800, width: 4) },
        expected: .segmentsOverlap(first: codeSegment - 1, second: codeSegment)),
    .init(
        name: "entry outside every segment", bytes: { mutated(24, 0x0900_0000, width: 4) },
        expected: .entryNotExecutable(0x0900_0000)),
    .init(
        name: "entry in a data segment", bytes: { mutated(24, 0x0804_8000, width: 4) },
        expected: .entryNotExecutable(0x0804_8000)),
    .init(
        name: "nothing to load",
        bytes: {
            var bytes = hello
            for index in 0 ..< Int(hello[44]) { bytes = patch(bytes, programHeaderField(index, 0), 4) }
            return bytes
        },
        expected: .noLoadableSegment),
]

private func patch(_ bytes: [UInt8], _ offset: Int, _ value: UInt32) -> [UInt8] {
    var bytes = bytes
    for i in 0 ..< 4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    return bytes
}

private func segmentField(_ index: Int, _ field: Int) -> UInt32 {
    let at = programHeaderField(index, field)
    return (0 ..< 4).reduce(0) { $0 | UInt32(hello[at + $1]) << (8 * UInt32($1)) }
}

/// The section whose rule a refusal enforces, so each section's test runs its own cases.
private func section(of error: ELFImageError) -> Int {
    switch error {
    case .truncated, .badMagic, .wrongClass, .wrongDataEncoding, .wrongIdentVersion, .unsupportedOSABI,
         .unsupportedABIVersion:
        810
    case .wrongType, .wrongMachine, .wrongVersion, .unexpectedFlags, .wrongHeaderSize, .wrongProgramHeaderSize,
         .programHeaderCount, .programHeadersOutsideFile, .wrongSectionHeaderSize, .sectionHeadersOutsideFile,
         .sectionNameIndex:
        820
    case .needsDynamicLinking, .unknownSegmentFlags, .badAlignment, .misaligned,
         .fileSizeExceedsMemorySize, .segmentOutsideFile, .segmentWrapsAround, .segmentInKernelHalf,
         .segmentMapsPageZero, .segmentsOutOfOrder, .segmentsOverlap, .noLoadableSegment:
        830
    case .entryNotExecutable:
        840
    }
}

@Test(arguments: elfRefusals.filter { section(of: $0.expected) == 810 })
func x810_badIdentificationIsRefused(_ testCase: ELFRefusalCase) {
    #expect(refusal(testCase.bytes()) == testCase.expected)
}

@Test(arguments: elfRefusals.filter { section(of: $0.expected) == 820 })
func x820_badHeaderFieldsAreRefused(_ testCase: ELFRefusalCase) {
    #expect(refusal(testCase.bytes()) == testCase.expected)
}

@Test(arguments: elfRefusals.filter { section(of: $0.expected) == 830 })
func x830_badSegmentsAreRefused(_ testCase: ELFRefusalCase) {
    #expect(refusal(testCase.bytes()) == testCase.expected)
}

@Test(arguments: elfRefusals.filter { section(of: $0.expected) == 840 })
func x840_entryOutsideExecutableCodeIsRefused(_ testCase: ELFRefusalCase) {
    #expect(refusal(testCase.bytes()) == testCase.expected)
}

@Test func x810_everyTruncationIsRefusedWithoutCrashing() {
    // Every prefix of the file, from empty to one byte short: none may trap,
    // and each must be refused (the linker puts the section table last, so
    // even the longest prefix cuts it short).
    for length in 0 ..< hello.count {
        #expect(refusal(Array(hello.prefix(length))) != nil, "prefix of \(length) bytes")
    }
}

@Test func x810_singleByteCorruptionsNeverCrash() {
    // Flip each byte of the headers through a few values: each file either
    // loads (the byte did not matter) or is refused, but nothing traps.
    let headerEnd = programHeaderField(Int(hello[44]), 0)
    for offset in 0 ..< headerEnd {
        for value: UInt8 in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
            var bytes = hello
            bytes[offset] = value
            _ = refusal(bytes)
        }
    }
}

@Test func x820_messagesNameTheFieldAndValues() {
    let error = ELFImageError.segmentOutsideFile(segment: 1, offset: 0x1000, size: 0x2000, fileSize: 0x2200)
    #expect(error.description == "elf: segment 1 extends past end of file (offset 0x1000 + 0x2000 > 0x2200)")
    #expect(ELFImageError.wrongMachine(62).description == "elf: machine 62 is not EM_386 (3): not an i386 program")
    #expect(ELFImageError.wrongClass(2).description == "elf: class 2 is not ELFCLASS32 (1): not a 32-bit program")
    #expect(
        ELFImageError.segmentInKernelHalf(segment: 2, address: 0xBFFF_F000, size: 0x2000).description
            == "elf: segment 2 reaches into the kernel's half (0xbffff000 + 0x2000 > 0xc0000000)")
}

@Test func x820_missingFilesAreReportedByPath() {
    #expect(throws: GuestProgramError.unreadable("/nonexistent/program")) {
        try GuestPrograms.load("/nonexistent/program")
    }
    #expect(throws: GuestProgramError.unreadable("no-such-program")) {
        try GuestPrograms.load("no-such-program")
    }
    #expect(
        GuestProgramError.unreadable("nope").description
            == "program: nope is neither a committed program nor a readable file")
}

@Test func x820_aMalformedFileIsReportedWithItsPath() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("x820-truncated-\(getpid())").path
    #expect(FileManager.default.createFile(atPath: path, contents: Data(try GuestPrograms.load("hello").bytes.prefix(100))))
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(throws: GuestProgramError.malformed(path, .programHeadersOutsideFile(offset: 0x34, size: 0x80, fileSize: 100))) {
        try GuestPrograms.load(path)
    }
}

@Test func x815_aFileWithSeveralFaultsIsRefusedForTheEarliestInFileOrder() {
    // A 64-bit class (offset 4) and an x86-64 machine (offset 18): the class comes first.
    var both = mutated(18, 0x3E, width: 2)
    both[4] = 2
    #expect(refusal(both) == .wrongClass(2))
    #expect(refusal(both) == refusal(both))  // every time
    // Without the bad class, the machine is the earliest fault, ahead of the flags at offset 36.
    var later = mutated(18, 0x3E, width: 2)
    later[36] = 1
    #expect(refusal(later) == .wrongMachine(0x3E))
    // And each refusal is one line that begins with its subsystem.
    let line = refusal(later).map { "\($0)" } ?? ""
    #expect(line.hasPrefix("elf: ") && !line.contains("\n"))
}

@Test func x817_eachRefusalIsOneLineWithTheValuesAndTheLimitItBroke() {
    let kernelHalf = ELFImageError.segmentInKernelHalf(segment: 1, address: 0xBFFF_F000, size: 0x2000)
    #expect("\(kernelHalf)" == "elf: segment 1 reaches into the kernel's half (0xbffff000 + 0x2000 > 0xc0000000)")
    // Every refusal begins with its subsystem and fits on one line.
    for refusal in elfRefusals {
        let line = "\(refusal.expected)"
        #expect(line.hasPrefix("elf: ") && !line.contains("\n"), "\(refusal.name)")
    }
}

@Test func x825_anOffsetNear4GiBCannotWrapRoundAndBothLinuxABIBytesLoad() throws {
    let count = UInt32(hello[44]) | UInt32(hello[45]) << 8
    // e_phoff (offset 28) just below 4 GiB: in 32 bits offset + size would wrap to a small number.
    #expect(refusal(mutated(28, 0xFFFF_FFF0, width: 4))
        == .programHeadersOutsideFile(offset: 0xFFFF_FFF0, size: count * 32, fileSize: hello.count))
    // OS ABI 0 (System V) and 3 (GNU) are both a Linux program's; 9 (FreeBSD) is not.
    #expect(refusal(mutated(7, 0, width: 1)) == nil && refusal(mutated(7, 3, width: 1)) == nil)
    #expect(refusal(mutated(7, 9, width: 1)) == .unsupportedOSABI(9))
}
