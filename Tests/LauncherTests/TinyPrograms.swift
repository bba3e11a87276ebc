// Hand-assembled i386 programs, wrapped in the smallest honest ELF file: one PT_LOAD segment holding
// the whole file at 0x08048000, so tests need neither gcc nor the committed program files.
import Guest

enum TinyProgram {
    static let loadAddress: UInt32 = 0x0804_8000
    /// Where code starts: just past the ELF header (52 bytes) and one program header (32 bytes).
    static let codeOffset: UInt32 = 84

    /// An ELF executable whose entry runs `code`; `data` follows it, at `dataAddress(codeCount:)`.
    static func elf(code: [UInt8], data: [UInt8] = [], writable: Bool = false, memorySize: UInt32? = nil) -> [UInt8] {
        let fileSize = codeOffset + UInt32(code.count + data.count)
        var bytes: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 1, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        bytes += le16(2) + le16(3) + le32(1) + le32(loadAddress + codeOffset) + le32(52) + le32(0) + le32(0)
        bytes += le16(52) + le16(32) + le16(1) + le16(40) + le16(0) + le16(0)
        bytes += le32(1) + le32(0) + le32(loadAddress) + le32(loadAddress) + le32(fileSize)
        bytes += le32(memorySize ?? fileSize) + le32(writable ? 7 : 5) + le32(0x1000)
        return bytes + code + data
    }

    static func dataAddress(codeCount: Int) -> UInt32 { loadAddress + codeOffset + UInt32(codeCount) }

    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    // A few instructions, by their encodings.
    static func movEAX(_ value: UInt32) -> [UInt8] { [0xB8] + le32(value) }
    static func movEBX(_ value: UInt32) -> [UInt8] { [0xBB] + le32(value) }
    static func movECX(_ value: UInt32) -> [UInt8] { [0xB9] + le32(value) }
    static func movEDX(_ value: UInt32) -> [UInt8] { [0xBA] + le32(value) }
    static let int80: [UInt8] = [0xCD, 0x80]

    /// write(1, message, count); exit(status).
    static func hello(_ message: String, status: UInt32 = 0) -> [UInt8] {
        let codeCount = 5 * 4 + 2 + 5 * 2 + 2
        let text = Array(message.utf8)
        let code = movEAX(4) + movEBX(1) + movECX(dataAddress(codeCount: codeCount)) + movEDX(UInt32(text.count)) + int80
            + movEAX(1) + movEBX(status) + int80
        precondition(code.count == codeCount)
        return elf(code: code, data: text)
    }

    /// Store to address 0: a page fault, SIGSEGV.
    static let nullWrite: [UInt8] = elf(code: [0xC7, 0x05] + le32(0) + le32(42) + movEAX(1) + movEBX(0) + int80)

    /// nanosleep(&{0, 5 ms}) then exit(3).
    static var sleeper: [UInt8] {
        let codeCount = 5 + 5 + 5 + 2 + 5 + 5 + 2
        let code = movEAX(162) + movEBX(dataAddress(codeCount: codeCount)) + movECX(0) + int80 + movEAX(1) + movEBX(3) + int80
        precondition(code.count == codeCount)
        return elf(code: code, data: le32(0) + le32(5_000_000))
    }
}
