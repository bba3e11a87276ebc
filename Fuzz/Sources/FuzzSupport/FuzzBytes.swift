#if canImport(Glibc)
import Glibc
#endif

// The fuzz input, read front to back as a stream of small decisions. Past its end every read is zero,
// so any byte string, however short, is a whole program.

/// A cursor over one fuzz input.
public final class FuzzBytes {
    /// The input.
    public let bytes: [UInt8]
    /// The next byte to read.
    public private(set) var position = 0

    /// A cursor at the start of `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// A cursor over the `count` bytes at `start`, as libFuzzer passes them.
    public convenience init(_ start: UnsafePointer<UInt8>?, _ count: Int) {
        guard let start, count > 0 else { self.init([]); return }
        self.init(Array(UnsafeBufferPointer(start: start, count: count)))
    }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { position >= bytes.count }

    /// The next byte (zero past the end).
    public func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// The next 16 bits, little-endian.
    public func u16() -> UInt16 { UInt16(byte()) | UInt16(byte()) << 8 }

    /// The next 32 bits, little-endian.
    public func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }

    /// A number below `bound` (which must be positive).
    public func below(_ bound: Int) -> Int { Int(byte()) % bound }

    /// Up to `limit` of the next bytes: a length byte, then that many bytes.
    public func chunk(limit: Int = 255) -> [UInt8] {
        let count = min(Int(byte()), limit)
        return (0..<count).map { _ in byte() }
    }

    /// Everything not yet read.
    public func rest() -> [UInt8] {
        defer { position = bytes.count }
        return position < bytes.count ? Array(bytes[position...]) : []
    }
}

/// libFuzzer's driver, for a program that has its own `main` (SwiftPM links each executable's own).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// Runs libFuzzer with the command line's arguments, calling `body` with each input, and exits with
/// libFuzzer's status.
public func runFuzzer(_ body: @escaping @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, body))
}
