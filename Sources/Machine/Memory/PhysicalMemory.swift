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

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// little-endian loads and stores and an allocator of contiguous runs of frames (`X:050`).
public final class PhysicalMemory {
    /// The number of page frames.
    public let frameCount: Int
    /// The size of RAM in bytes: `frameCount * pageSize`.
    public let byteCount: Int
    /// The start of the buffer. Module-internal: only the MMU's TLB fast path reads through it,
    /// and only at offsets it has checked when filling the TLB.
    let base: UnsafeMutableRawPointer
    /// One version number per frame, moved on by every write into the frame, from here or from the
    /// interpreter (`X:675`): the code cache compares it with the version it decoded, so it never runs
    /// code that has changed since. Module-internal, like `base`.
    let frameVersions: UnsafeMutablePointer<UInt64>
    /// The free frames, as sorted runs that never touch (`X:050`).
    var freeRuns: [Range<Int>]
    /// The number of frames in `freeRuns`.
    var freeCount: Int

    /// Creates zeroed RAM of `frameCount` frames. The count must be at least 1 and at most
    /// 2^20 (4 GiB, all a 32-bit physical address can name).
    public init(frameCount: Int) {
        precondition((1...(1 << 20)).contains(frameCount), "memory: bad frame count \(frameCount)")
        self.frameCount = frameCount
        self.byteCount = frameCount * pageSize
        self.freeRuns = [0..<frameCount]
        self.freeCount = frameCount
        self.base = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: pageSize)
        self.frameVersions = .allocate(capacity: frameCount)
        frameVersions.initialize(repeating: 0, count: frameCount)
        zeroBytes(at: 0, count: byteCount)
    }

    deinit {
        base.deallocate()
        frameVersions.deallocate()
    }

    /// Moves on the version of every frame that `count` bytes at byte offset `offset` touch: the one
    /// promise every write here keeps for the code cache (`X:675`). The range is already checked.
    @inline(__always)
    private func noteWrite(at offset: Int, count: Int) {
        guard count > 0 else { return }
        let first = offset >> pageShift, last = (offset + count - 1) >> pageShift
        frameVersions[first] &+= 1
        // Most writes stay in one frame; a copy or a straddling store may reach the next ones.
        var frame = first
        while frame < last {
            frame += 1
            frameVersions[frame] &+= 1
        }
    }

    /// Zeroes `count` bytes at byte offset `offset`, which the caller has checked. C's `memset`, not
    /// the generic Swift loop, which a debug build runs a byte at a time through the runtime.
    private func zeroBytes(at offset: Int, count: Int) {
        _ = memset(base.advanced(by: offset), 0, count)
        noteWrite(at: offset, count: count)
    }

    /*X:045 The check every access makes.

    All the loads and stores below begin with `check(_:_:)`, and it is worth reading how `contains` is
    written: `address <= byteCount - count`, not `address + count <= byteCount`. The second form is the
    obvious one, and it is wrong for a hostile caller: it adds two numbers the caller chooses, and a
    large enough count makes the sum overflow, which in Swift is a trap, a guest crashing the host.
    Testing `count >= 0` first and then subtracting from RAM's size cannot overflow at all. The
    multi-byte accesses then use `loadUnaligned` and convert from little-endian, the two promises of
    `X:040`. */
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
        noteWrite(at: Int(address.rawValue), count: 1)
    }

    /// Writes a 16-bit value little-endian.
    public func store16(_ value: UInt16, at address: HostPhysicalAddress) throws(MemoryError) {
        try check(address, 2)
        base.storeBytes(of: value.littleEndian, toByteOffset: Int(address.rawValue), as: UInt16.self)
        noteWrite(at: Int(address.rawValue), count: 2)
    }

    /// Writes a 32-bit value little-endian.
    public func store32(_ value: UInt32, at address: HostPhysicalAddress) throws(MemoryError) {
        try check(address, 4)
        base.storeBytes(of: value.littleEndian, toByteOffset: Int(address.rawValue), as: UInt32.self)
        noteWrite(at: Int(address.rawValue), count: 4)
    }

    /// Copies `bytes` into RAM starting at `address`; nothing is written unless all of it fits.
    public func copyIn(_ bytes: some Collection<UInt8>, at address: HostPhysicalAddress) throws(MemoryError) {
        try check(address, bytes.count)
        let start = Int(address.rawValue)
        // Arrays and their slices are one block of bytes: copy them in one go. Others, a byte at a time.
        let copied: Void? = bytes.withContiguousStorageIfAvailable { source in
            guard let first = source.baseAddress else { return }
            (base + start).copyMemory(from: first, byteCount: source.count)
        }
        if copied == nil {
            var offset = start
            for byte in bytes {
                base.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
                offset += 1
            }
        }
        noteWrite(at: start, count: bytes.count)
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
        zeroBytes(at: Int(address.rawValue), count: pageSize)
    }
}

/*X:050 Handing out page frames, and taking them back.

Before anything runs, someone has to decide which frames hold what: the Host's own pages, the
Switcher's pages, the Guest's "physical" memory, the shadow page tables. A real kernel keeps an
elaborate buddy allocator for this. We need much less, but not nothing: a Guest's memory is one
contiguous run of frames, and when the Guest dies the Host must give that run back, or a Host that
runs guest after guest would run only as many as its RAM could hold once.

So the allocator keeps the free frames as a sorted list of *runs* (first frame, count), with no two
runs touching. Asking for `count` frames takes them from the front of the first run long enough
(first fit); giving frames back zeroes them, puts their run in its place in the list and merges it
with a neighbour on either side, so the list never fragments into more pieces than the holes really
are. Two promises fall out of that, and the tests check both: two callers never hold the same frame,
and a frame handed out is always zero, because it was zero at `init(frameCount:)` or was zeroed when
it came back.

Only the Host calls the allocator, never a Guest, so a Guest cannot influence it except by the memory
size the Launcher chose for it. Returning a frame that is already free is a host bug, and stops. */

extension PhysicalMemory {
    /// Hands out `count` contiguous, zeroed frames, or nil when no free run is that long (or `count` < 1).
    public func allocateFrames(count: Int) -> PageFrameNumber? {
        guard count >= 1, let index = freeRuns.firstIndex(where: { $0.count >= count }) else { return nil }
        let first = freeRuns[index].lowerBound
        if freeRuns[index].count == count {
            freeRuns.remove(at: index)
        } else {
            freeRuns[index] = (first + count)..<freeRuns[index].upperBound
        }
        freeCount -= count
        return PageFrameNumber(UInt32(first))
    }

    /// Takes back `count` frames from `first` on, which must all be allocated (a host bug otherwise),
    /// and zeroes them for their next owner.
    public func freeFrames(_ first: PageFrameNumber, count: Int) {
        let run = Int(first.rawValue)..<(Int(first.rawValue) + count)
        precondition(count >= 1 && run.upperBound <= frameCount, "memory: freeing frames \(run) outside RAM")
        // The first free run that starts after ours: ours goes just before it.
        let index = freeRuns.firstIndex(where: { $0.lowerBound >= run.upperBound }) ?? freeRuns.endIndex
        precondition(index == freeRuns.startIndex || freeRuns[index - 1].upperBound <= run.lowerBound,
                     "memory: frames \(run) freed twice")
        precondition(index == freeRuns.endIndex || freeRuns[index].lowerBound >= run.upperBound,
                     "memory: frames \(run) freed twice")
        zeroBytes(at: run.lowerBound * pageSize, count: count * pageSize)
        freeCount += count
        // Merge with the neighbours it touches, so that the list stays as short as the holes are.
        var merged = run
        var insertAt = index
        if index < freeRuns.endIndex, freeRuns[index].lowerBound == merged.upperBound {
            merged = merged.lowerBound..<freeRuns[index].upperBound
            freeRuns.remove(at: index)
        }
        if insertAt > freeRuns.startIndex, freeRuns[insertAt - 1].upperBound == merged.lowerBound {
            merged = freeRuns[insertAt - 1].lowerBound..<merged.upperBound
            freeRuns.remove(at: insertAt - 1)
            insertAt -= 1
        }
        freeRuns.insert(merged, at: insertAt)
    }

    /// The number of frames not handed out.
    public var freeFrameCount: Int { freeCount }
}
/*:*/
