/*X:040 Physical memory: one buffer, one owner.

The machine's RAM is a single block of bytes, carved into 4 KiB page frames. Every other part of the
project reaches it through `PhysicalMemory`, and `PhysicalMemory` is the only type in the project that
holds the raw pointer. That is a deliberate fence: Swift's unsafe pointers are as sharp as C's, so we
keep them in one small file where a reader can check every use.

The rules of the fence:

* Every access names its width (8, 16 or 32 bits) and is **little-endian**, as on the x86, whatever the
  host happens to be.
* Every access is bounds-checked against the size of RAM. Asking for a byte past the end throws
  `MemoryError.outOfRange`; it never returns a quiet zero (which would hide a bug) and never traps
  (which would let a guest crash the host by naming a silly address).
* Accesses may be unaligned, as the x86 allows.

The interpreter's hot loop is the one exception: it checks a page's bounds once, when the TLB entry is
filled (`X:340`), and then reads through the pointer directly. That is exactly what real hardware does:
the permission and existence checks happen at translation time, not on every byte. */

/// A physical access outside the machine's RAM.
public enum MemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `count` bytes at `address` do not lie entirely inside RAM.
    case outOfRange(address: HostPhysicalAddress, count: Int)

    public var description: String {
        switch self {
        case let .outOfRange(address, count): "memory: \(count) bytes at \(address) outside RAM"
        }
    }
}

/// The machine's RAM: `frameCount` page frames of 4 KiB, zeroed at creation, with checked
/// little-endian loads and stores and a bump allocator for frames.
public final class PhysicalMemory {
    /// The number of page frames.
    public let frameCount: Int
    /// The size of RAM in bytes: `frameCount * pageSize`.
    public let byteCount: Int
    /// The start of the buffer. Module-internal: only the MMU's TLB fast path reads through it,
    /// and only at offsets it has checked when filling the TLB.
    let base: UnsafeMutableRawPointer
    /// The first frame the allocator has not handed out.
    public private(set) var nextFreeFrame: PageFrameNumber = PageFrameNumber(0)

    /// Creates zeroed RAM of `frameCount` frames. The count must be at least 1 and at most
    /// 2^20 (4 GiB, all a 32-bit physical address can name).
    public init(frameCount: Int) {
        precondition((1...(1 << 20)).contains(frameCount), "memory: bad frame count \(frameCount)")
        self.frameCount = frameCount
        self.byteCount = frameCount * pageSize
        self.base = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: pageSize)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
    }

    deinit { base.deallocate() }

    /// True when `count` bytes at `address` lie inside RAM.
    @inlinable public func contains(_ address: HostPhysicalAddress, count: Int = 1) -> Bool {
        count >= 0 && Int(address.rawValue) <= byteCount - count
    }

    /// True when the frame exists.
    public func contains(frame: PageFrameNumber) -> Bool { Int(frame.rawValue) < frameCount }

    @inline(__always)
    private func check(_ address: HostPhysicalAddress, _ count: Int) throws(MemoryError) {
        guard contains(address, count: count) else { throw .outOfRange(address: address, count: count) }
    }

    /// Reads one byte.
    public func load8(at address: HostPhysicalAddress) throws(MemoryError) -> UInt8 {
        try check(address, 1)
        return base.load(fromByteOffset: Int(address.rawValue), as: UInt8.self)
    }

    /// Reads a little-endian 16-bit value, aligned or not.
    public func load16(at address: HostPhysicalAddress) throws(MemoryError) -> UInt16 {
        try check(address, 2)
        return UInt16(littleEndian: base.loadUnaligned(fromByteOffset: Int(address.rawValue), as: UInt16.self))
    }

    /// Reads a little-endian 32-bit value, aligned or not.
    public func load32(at address: HostPhysicalAddress) throws(MemoryError) -> UInt32 {
        try check(address, 4)
        return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: Int(address.rawValue), as: UInt32.self))
    }

    /// Writes one byte.
    public func store8(_ value: UInt8, at address: HostPhysicalAddress) throws(MemoryError) {
        try check(address, 1)
        base.storeBytes(of: value, toByteOffset: Int(address.rawValue), as: UInt8.self)
    }

    /// Writes a 16-bit value little-endian.
    public func store16(_ value: UInt16, at address: HostPhysicalAddress) throws(MemoryError) {
        try check(address, 2)
        base.storeBytes(of: value.littleEndian, toByteOffset: Int(address.rawValue), as: UInt16.self)
    }

    /// Writes a 32-bit value little-endian.
    public func store32(_ value: UInt32, at address: HostPhysicalAddress) throws(MemoryError) {
        try check(address, 4)
        base.storeBytes(of: value.littleEndian, toByteOffset: Int(address.rawValue), as: UInt32.self)
    }

    /// Copies `bytes` into RAM starting at `address`; nothing is written unless all of it fits.
    public func copyIn(_ bytes: some Collection<UInt8>, at address: HostPhysicalAddress) throws(MemoryError) {
        try check(address, bytes.count)
        var offset = Int(address.rawValue)
        for byte in bytes {
            base.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
    }

    /// Copies `count` bytes out of RAM starting at `address`.
    public func copyOut(from address: HostPhysicalAddress, count: Int) throws(MemoryError) -> [UInt8] {
        try check(address, count)
        let start = base.advanced(by: Int(address.rawValue)).assumingMemoryBound(to: UInt8.self)
        return Array(UnsafeBufferPointer(start: start, count: count))
    }

    /// Fills one frame with zeroes.
    public func zero(frame: PageFrameNumber) throws(MemoryError) {
        let address = HostPhysicalAddress(frame: PageFrameNumber(frame.rawValue & 0xFFFFF))
        guard contains(frame: frame) else { throw .outOfRange(address: address, count: pageSize) }
        base.advanced(by: Int(address.rawValue)).initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)
    }
}

/*X:050 Handing out page frames.

Before anything runs, someone has to decide which frames hold what: the Host's own pages, the
Switcher's pages, the guest's "physical" memory, the shadow page tables. A real kernel keeps an elaborate
buddy allocator for this. We need far less: the host carves its memory once at start-up and rarely gives
any back, so a **bump allocator** does the job. It remembers the first frame nobody has taken; asking for
`count` frames hands out that many contiguous frames and moves the mark on. Frames are never returned,
so a fresh frame is always still zero from `init(frameCount:)`.

The simplicity is the point: a student can see in three lines that two callers never receive the same
frame, and a guest can never influence the allocator at all, because only the Host calls it. */

extension PhysicalMemory {
    /// Hands out `count` contiguous, zeroed frames, or nil when RAM is exhausted (or `count` < 1).
    public func allocateFrames(count: Int) -> PageFrameNumber? {
        let first = Int(nextFreeFrame.rawValue)
        guard count >= 1, count <= frameCount - first else { return nil }
        nextFreeFrame = PageFrameNumber(UInt32(first + count))
        return PageFrameNumber(UInt32(first))
    }

    /// The number of frames not yet handed out.
    public var freeFrameCount: Int { frameCount - Int(nextFreeFrame.rawValue) }
}
/*:*/
