@testable import Guest
import LguestABI
import Machine
import Testing

@Test func g082_framesComeLowestFirstAndReturn() {
    var pages = PageAllocator(free: [0x5000, 0x3000, 0x4000].map(GuestPhysicalAddress.init), topOfMemory: GuestPhysicalAddress(0x6000))
    #expect(pages.allocate() == GuestPhysicalAddress(0x3000))
    #expect(pages.allocate() == GuestPhysicalAddress(0x4000))
    pages.release(GuestPhysicalAddress(0x3000))
    #expect(pages.freeCount == 2)
    #expect(pages.allocate() == GuestPhysicalAddress(0x3000))
    #expect(pages.allocate() == GuestPhysicalAddress(0x5000))
    #expect(pages.allocate() == nil)
}

@Test func g086_cpioArchivesRoundTrip() throws {
    let files = [InitrdFile(name: "hello", bytes: Array(0..<37)), InitrdFile(name: "hello.in", bytes: []),
                 InitrdFile(name: "x", bytes: [1, 2, 3, 4])]
    let archive = CPIOArchive.encode(files)
    #expect(archive.count % 4 == 0)
    #expect(Array(archive.prefix(6)) == Array("070701".utf8))
    #expect(try CPIOArchive.decode(archive).get() == files)
}

@Test func g086_malformedArchivesAreRefusedNotBelieved() {
    let good = CPIOArchive.encode([InitrdFile(name: "hello", bytes: Array(repeating: 7, count: 100))])
    var badMagic = good
    badMagic[0] = UInt8(ascii: "1")
    var badHex = good
    badHex[6 + 6 * 8] = UInt8(ascii: "g")
    var hugeFile = good
    hugeFile.replaceSubrange((6 + 6 * 8)..<(6 + 7 * 8), with: Array("7FFFFFFF".utf8))
    var hugeName = good
    hugeName.replaceSubrange((6 + 11 * 8)..<(6 + 12 * 8), with: Array("FFFFFFFF".utf8))
    let cases: [([UInt8], InitrdError)] = [
        (Array(good.prefix(50)), .truncated(offset: 0)),
        (badMagic, .badMagic(offset: 0)),
        (badHex, .badField(offset: 54)),
        (hugeFile, .truncated(offset: 116)),
        (hugeName, .truncated(offset: 110)),
        (Array(good.prefix(good.count - 4)), .truncated(offset: 326)),
    ]
    for (archive, expected) in cases {
        #expect(throws: expected) { try CPIOArchive.decode(archive).get() }
    }
}

/// A minimal valid ELF file: one PT_LOAD segment of `size` bytes at 0x08048000, entry at its start + 84.
private func elf(entry: UInt32 = 0x0804_8054, address: UInt32 = 0x0804_8000, fileSize: UInt32 = 100,
                 memorySize: UInt32 = 100, machine: UInt16 = 3, offset: UInt32 = 0) -> [UInt8] {
    func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    var bytes: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 1, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
    bytes += le16(2) + le16(machine) + le32(1) + le32(entry) + le32(52) + le32(0) + le32(0)
    bytes += le16(52) + le16(32) + le16(1) + le16(40) + le16(0) + le16(0)
    bytes += le32(1) + le32(offset) + le32(address) + le32(address) + le32(fileSize) + le32(memorySize) + le32(5) + le32(0x1000)
    return bytes + [UInt8](repeating: 0x90, count: 16)
}

@Test func g087_aGoodProgramParses() throws {
    let image = try ProgramImage(elf())
    #expect(image.entry == 0x0804_8054)
    #expect(image.segments.count == 1 && !image.segments[0].writable)
    #expect(image.initialBreak == 0x0804_9000)
}

@Test(arguments: [
    ("truncated", Array(elf().prefix(40))),
    ("wrong machine", elf(machine: 62)),
    ("entry outside", elf(entry: 0x0900_0000)),
    ("file size past end", elf(fileSize: 1000, memorySize: 1000)),
    ("file bigger than memory", elf(fileSize: 100, memorySize: 50)),
    ("kernel half", elf(entry: 0xC000_0010, address: 0xC000_0000)),
    ("wraps", elf(address: 0xFFFF_F000, memorySize: 0x2000)),
    ("page zero", elf(entry: 0x10, address: 0)),
    ("offset past end", elf(offset: 0xFFFF_FFF0)),
] as [(String, [UInt8])])
func g087_malformedProgramsAreRefused(name: String, file: [UInt8]) {
    #expect(throws: ProgramError.self, "\(name)") { try ProgramImage(file) }
}
