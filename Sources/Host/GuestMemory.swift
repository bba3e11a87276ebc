/*H:032 Reaching into guest memory, carefully.

Almost everything the Guest asks for arrives as an address: "here is my `lguest_data`", "here is my new
page directory", "here is the string to print". Every one of them is a number the Guest chose, and the
Guest is not to be trusted. The Host must never read or write a byte outside the Guest's memory because
of such a number, and it must never crash trying.

The Guest's "physical" memory is a contiguous run of the machine's page frames that the Launcher set
aside: guest-physical address g lives at host-physical address `base + g`, for g below the limit.
`GuestMemory` owns that conversion, and it checks two things before every access:

* that the *whole* access fits: `address + length <= limit`, not just `address < limit`, so a 4-byte
  read of the last byte is refused;
* that `address + length` does not wrap around 2^32. In C this is the check people forget: a huge
  address plus a length wraps to a small number and sails past the limit test. lguest's own
  `lguest_address_ok()` tests both, and so do we, in 64-bit arithmetic where nothing wraps at all.

A failed check throws `GuestViolation`, which only the run loop catches (`H:030`): the Guest is killed
with the message, and the Host goes on. That is the second of the three levels of failure: a host bug is
a precondition, a Guest's misbehaviour is a `GuestViolation`, and events the Guest is *meant* to see
(a page fault it caused) are return values. */

import LguestABI
import Machine

/// A Guest's misbehaviour: thrown by any Host code that finds the Guest asking for something
/// impossible or forbidden. Only the run loop catches it, and it kills the Guest with `reason`.
public struct GuestViolation: Error, Equatable, Sendable, CustomStringConvertible {
    /// Why the Guest must die, as `subsystem: reason value`.
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// One Guest's physical memory: `pageCount` host frames starting at `baseFrame`, reached only through
/// bounds-checked, wrap-checked accessors.
public final class GuestMemory {
    /// The machine's RAM, which holds the Guest's memory and the Host's own pages.
    public let physicalMemory: PhysicalMemory
    /// The host frame that holds guest-physical address 0.
    public let baseFrame: PageFrameNumber
    /// The number of frames of guest memory: guest frame numbers below this are valid.
    public let pageCount: UInt32

    /// Wraps `pageCount` frames of `physicalMemory` from `baseFrame` on.
    /// Precondition (a Launcher bug otherwise): the frames exist.
    public init(physicalMemory: PhysicalMemory, baseFrame: PageFrameNumber, pageCount: UInt32) {
        precondition(pageCount > 0 && UInt64(baseFrame.rawValue) + UInt64(pageCount) <= UInt64(physicalMemory.frameCount),
                     "memory: guest frames outside RAM")
        self.physicalMemory = physicalMemory
        self.baseFrame = baseFrame
        self.pageCount = pageCount
        self.limit = UInt64(pageCount) * UInt64(pageSize)
    }

    /// The size of guest memory in bytes (the "limit" of lguest's checks); 0 once the memory is released.
    /// Read on every access and written once, by `release()`, which calls nothing that reads it: no
    /// two accesses can overlap, so the run-time exclusivity check is left out (`S:105`).
    @exclusivity(unchecked) public private(set) var limit: UInt64

    /// The size of guest memory in bytes as it was made.
    public var byteCount: UInt64 { UInt64(pageCount) * UInt64(pageSize) }

    /// True once `release()` has given the frames back: every access is refused from then on.
    public var isReleased: Bool { limit == 0 }

    /// True when `count` bytes at `address` lie inside guest memory, without wrapping.
    public func contains(_ address: GuestPhysicalAddress, count: Int) -> Bool {
        // In 64 bits, `address + count` cannot wrap: both checks of `H:032` in one comparison.
        count >= 0 && UInt64(address.rawValue) + UInt64(count) <= limit
    }

    /// The host-physical address of `count` bytes at guest-physical `address`, or a violation when
    /// any of them lies outside guest memory.
    public func hostAddress(_ address: GuestPhysicalAddress, count: Int) throws(GuestViolation) -> HostPhysicalAddress {
        guard contains(address, count: count) else {
            if isReleased { throw GuestViolation("memory: guest is gone; its memory was given back") }
            throw GuestViolation("memory: bad guest address \(address) length \(count)")
        }
        // Only now is the conversion safe: guest-physical g is host-physical base + g.
        return HostPhysicalAddress(frame: baseFrame).advanced(by: address.rawValue)
    }

    /// The host frame behind guest frame `frame`, or a violation when it is past the limit.
    public func hostFrame(_ frame: PageFrameNumber) throws(GuestViolation) -> PageFrameNumber {
        guard UInt64(frame.rawValue) < limit >> UInt64(pageShift) else {
            throw GuestViolation("memory: guest frame \(frame) past limit \(pageCount)")
        }
        return baseFrame.advanced(by: frame.rawValue)
    }
    /*:*/

    /*H:034 Giving the memory back.

    When a Guest is gone, its memory must go back to the machine, or a Host that runs guest after guest
    would soon have none left (`H:030`). But someone may still hold this `GuestMemory`: the Launcher
    reading its statistics, a device that kept a reference. After the frames are returned they may
    belong to the *next* Guest, and a stale reader must not see that Guest's bytes. So `release()`
    first drops the limit to zero, which makes every later access fail the check above, and only then
    hands the frames to the machine's allocator, which zeroes them (`X:050`). */

    /// Refuses every further access and returns the frames to the machine. Releasing twice does nothing.
    public func release() {
        guard !isReleased else { return }
        limit = 0
        physicalMemory.freeFrames(baseFrame, count: Int(pageCount))
    }
    /*:*/

    /// Runs a physical access the checks above have already proven in range. A failure here means the
    /// Host's own bookkeeping is wrong, which is a host bug.
    private func physical<T>(_ body: () throws(MemoryError) -> T) -> T {
        do {
            return try body()
        } catch {
            preconditionFailure("memory: checked access failed: \(error)")
        }
    }

    /// Reads one byte of guest memory.
    public func load8(_ address: GuestPhysicalAddress) throws(GuestViolation) -> UInt8 {
        let host = try hostAddress(address, count: 1)
        return physical { () throws(MemoryError) in try physicalMemory.load8(at: host) }
    }

    /// Reads a little-endian 16-bit value of guest memory.
    public func load16(_ address: GuestPhysicalAddress) throws(GuestViolation) -> UInt16 {
        let host = try hostAddress(address, count: 2)
        return physical { () throws(MemoryError) in try physicalMemory.load16(at: host) }
    }

    /// Reads a little-endian 32-bit value of guest memory.
    public func load32(_ address: GuestPhysicalAddress) throws(GuestViolation) -> UInt32 {
        let host = try hostAddress(address, count: 4)
        return physical { () throws(MemoryError) in try physicalMemory.load32(at: host) }
    }

    /// Writes one byte of guest memory.
    public func store8(_ value: UInt8, at address: GuestPhysicalAddress) throws(GuestViolation) {
        let host = try hostAddress(address, count: 1)
        physical { () throws(MemoryError) in try physicalMemory.store8(value, at: host) }
    }

    /// Writes a 16-bit value of guest memory, little-endian.
    public func store16(_ value: UInt16, at address: GuestPhysicalAddress) throws(GuestViolation) {
        let host = try hostAddress(address, count: 2)
        physical { () throws(MemoryError) in try physicalMemory.store16(value, at: host) }
    }

    /// Writes a 32-bit value of guest memory, little-endian.
    public func store32(_ value: UInt32, at address: GuestPhysicalAddress) throws(GuestViolation) {
        let host = try hostAddress(address, count: 4)
        physical { () throws(MemoryError) in try physicalMemory.store32(value, at: host) }
    }

    /// Copies `count` bytes out of guest memory.
    public func copyOut(from address: GuestPhysicalAddress, count: Int) throws(GuestViolation) -> [UInt8] {
        let host = try hostAddress(address, count: count)
        return physical { () throws(MemoryError) in try physicalMemory.copyOut(from: host, count: count) }
    }

    /// Copies `bytes` into guest memory; nothing is written unless all of it fits.
    public func copyIn(_ bytes: [UInt8], at address: GuestPhysicalAddress) throws(GuestViolation) {
        let host = try hostAddress(address, count: bytes.count)
        physical { () throws(MemoryError) in try physicalMemory.copyIn(bytes, at: host) }
    }

    /// Reads a NUL-terminated string of at most `maximumLength` bytes (the NUL not counted), decoding
    /// it as UTF-8 with bad sequences replaced. A string that runs off the end of guest memory or past
    /// the maximum without a NUL is a violation.
    public func string(at address: GuestPhysicalAddress, maximumLength: Int = maximumGuestStringLength)
        throws(GuestViolation) -> String
    {
        var bytes: [UInt8] = []
        var cursor = address
        // Byte by byte, each one checked: the string may run off the end of memory.
        while bytes.count <= maximumLength {
            let byte = try load8(cursor)
            if byte == 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
            guard let next = cursor.checkedAdvanced(by: 1) else { break }
            cursor = next
        }
        throw GuestViolation("memory: unterminated string at \(address)")
    }
}

/*M:008 Guest memory that can be swapped out.

`GuestMemory` is a run of host frames that the Guest owns for its whole life, which keeps every check
in this file a simple comparison. lguest's Guests, being ordinary processes' memory, could be swapped
out by the host kernel like any other, and lguest pinned a page only while the shadow tables pointed at
it. To try that here, give `GuestMemory` a map from guest frame to host frame that may say "not
present", have the Host's page-table code (`H:350`) fault such a page back in before installing a
shadow entry, and let the Launcher's devices do the same before they touch a buffer. The hard part is
the one lguest had: every shadow entry naming a page must go before the page does. :*/
