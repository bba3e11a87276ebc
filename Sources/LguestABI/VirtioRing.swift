/*P:620 The virtio ring: how requests travel.

A *virtqueue* is a ring of buffers in guest memory that the driver and the device share. The driver
describes each buffer it wants the device to read or fill, puts the first one's number in the
*available* ring, and notifies; the device takes the buffers, does the work, puts the number back in the
*used* ring with how many bytes it wrote, and raises an interrupt. Nobody copies a request anywhere:
both sides read the same bytes.

Three parts, each an array of little-endian fields, laid out for a ring of `size` entries (a power
of two) starting at the page frame in the queue's config (`P:600`):

```
 descriptor table   size * 16 bytes, at the start
   +0 address u64   guest-physical address of the buffer
   +8 length  u32   its length in bytes
  +12 flags   u16   next (1): chained to `next` | write (2): the device writes it | indirect (4)
  +14 next    u16   the next descriptor of the chain, when `next` is set
 available ring     right after the table: written by the driver
   +0 flags   u16   noInterrupt (1): "don't interrupt me when you use a buffer"
   +2 index   u16   where the driver will put its next entry (it only ever grows, wrapping at 2^16)
   +4 ring[size] u16  heads of chains
 used ring          at the next page boundary (lguest's alignment is a page): written by the device
   +0 flags   u16   noNotify (1): "don't notify me when you add a buffer"
   +2 index   u16   where the device will put its next entry
   +4 ring[size]    pairs of u32: the head it used, the bytes it wrote
```

A request is a *chain* of descriptors linked by `next`: for a disk read, a header the device reads,
then the data buffer and a status byte the device writes. Buffers the device reads always come before
those it writes. An *indirect* descriptor points at a table of further descriptors in guest memory, so a
long request takes one slot of the ring instead of many.

The two flag words are how each side avoids waking the other for nothing: a driver that is busy
anyway sets `noInterrupt`, and a device already draining its queue sets `noNotify`. Both are only
hints; the other side may still notify or interrupt. The `p620_…` tests check every offset below. */

import Machine

/// One entry of a descriptor table (`struct vring_desc`).
public struct VirtqueueDescriptor: Hashable, Sendable {
    /// The size of one descriptor in bytes.
    public static let size = 16

    /// The flags of a descriptor (`VRING_DESC_F_*`).
    public struct Flags: OptionSet, Hashable, Sendable {
        public var rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// The chain goes on at `next` (`VRING_DESC_F_NEXT`).
        public static let next = Flags(rawValue: 1)
        /// The device writes this buffer; otherwise it reads it (`VRING_DESC_F_WRITE`).
        public static let write = Flags(rawValue: 2)
        /// The buffer is a table of descriptors (`VRING_DESC_F_INDIRECT`).
        public static let indirect = Flags(rawValue: 4)
    }

    public var address: UInt64
    public var length: UInt32
    public var flags: Flags
    public var next: UInt16

    public init(address: UInt64, length: UInt32, flags: Flags = [], next: UInt16 = 0) {
        self.address = address
        self.length = length
        self.flags = flags
        self.next = next
    }

    /// Decodes sixteen bytes; nil when fewer are given.
    public init?(bytes: some Collection<UInt8>) {
        let raw = Array(bytes)
        guard raw.count >= Self.size else { return nil }
        func field(_ offset: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(0) { $0 | UInt64(raw[offset + $1]) << (8 * UInt64($1)) }
        }
        address = field(0, 8)
        length = UInt32(field(8, 4))
        flags = Flags(rawValue: UInt16(field(12, 2)))
        next = UInt16(field(14, 2))
    }

    /// The descriptor's sixteen bytes, little-endian.
    public var bytes: [UInt8] {
        littleEndianBytes(address, 8) + littleEndianBytes(UInt64(length), 4)
            + littleEndianBytes(UInt64(flags.rawValue), 2) + littleEndianBytes(UInt64(next), 2)
    }
}

/*P:625 Where each part of the ring lies.

Nothing in guest memory says where the available or used ring starts; both sides compute it from the
ring's size, by the same rule, and `VirtqueueLayout` is that rule written once for the Launcher and
the Guest's drivers alike. The descriptors come first, sixteen bytes each; the available ring follows
at once; the used ring starts at the next page boundary, so the part the device writes never shares a
page with the parts the driver writes. The size must be a power of two, because ring indices run
freely and are reduced modulo the size, which only a power of two does cleanly when they wrap at 65536. */
/// The flag of the available ring (`VRING_AVAIL_F_NO_INTERRUPT`): the driver needs no interrupt.
public let availableNoInterrupt: UInt16 = 1
/// The flag of the used ring (`VRING_USED_F_NO_NOTIFY`): the device needs no notification.
public let usedNoNotify: UInt16 = 1

/// Where each part of a ring of `size` entries lies, as offsets from the ring's first byte
/// (lguest's `vring_init` with a page alignment).
public struct VirtqueueLayout: Hashable, Sendable {
    /// The alignment of the used ring: a page (lguest's `LGUEST_VRING_ALIGN`).
    public static let alignment = pageSize
    /// The size of one used-ring element: the head and the length, two u32s.
    public static let usedElementSize = 8

    /// The number of entries; a power of two, at most 32768.
    public let size: Int

    /// A layout for `size` entries; nil unless it is a power of two from 1 to 32768.
    public init?(size: Int) {
        guard size > 0, size <= 32768, size & (size - 1) == 0 else { return nil }
        self.size = size
    }

    /// Offset of descriptor `index`.
    public func descriptorOffset(_ index: Int) -> Int { index * VirtqueueDescriptor.size }
    /// Offset of the available ring (its flags word).
    public var availableOffset: Int { size * VirtqueueDescriptor.size }
    /// Offset of the available ring's index.
    public var availableIndexOffset: Int { availableOffset + 2 }
    /// Offset of slot `slot` of the available ring.
    public func availableSlotOffset(_ slot: Int) -> Int { availableOffset + 4 + 2 * slot }
    /// Offset of the used ring (its flags word): past the available ring's 2 + 2 + 2 * size + 2
    /// bytes (the last word is the event index, which this edition does not use), rounded up to a page.
    public var usedOffset: Int {
        let end = availableOffset + 6 + 2 * size
        return (end + Self.alignment - 1) / Self.alignment * Self.alignment
    }
    /// Offset of the used ring's index.
    public var usedIndexOffset: Int { usedOffset + 2 }
    /// Offset of element `slot` of the used ring.
    public func usedSlotOffset(_ slot: Int) -> Int { usedOffset + 4 + Self.usedElementSize * slot }
    /// The whole ring's size in bytes (lguest's `vring_size`), to the end of the used ring's event word.
    public var byteCount: Int { usedOffset + 6 + Self.usedElementSize * size }
    /// The number of pages the ring takes.
    public var pageCount: Int { (byteCount + pageSize - 1) / pageSize }
}
/*:*/

/*P:640 A disk request, as the ring carries it.

A block request is one chain: a 16-byte header the device reads, the data (read from for a write,
written to for a read), and a last single byte the device writes with the outcome. Sectors are 512
bytes, whatever the disk underneath uses. The block device's config is its capacity, a u64 count of
sectors (`virtio_blk_config`'s first field).

```
 header  +0 type u32    in (0): read | out (1): write | flush (4) | get id (8)
         +4 ioprio u32  ignored here
         +8 sector u64  the first sector
 data    any number of buffers, all readable (out) or all writable (in)
 status  u8             ok (0) | I/O error (1) | unsupported (2)
``` */

/// The header of a block request (`struct virtio_blk_outhdr`).
public enum BlockRequestHeader {
    /// The header's size in bytes.
    public static let size = 16
    /// u32: the request type.
    public static let type = 0
    /// u32: the I/O priority (ignored).
    public static let priority = 4
    /// u64: the first sector.
    public static let sector = 8
}

/// The request types of the block device (`VIRTIO_BLK_T_*`).
public enum BlockRequestType: UInt32, Sendable {
    case read = 0
    case write = 1
    case flush = 4
    case getID = 8
}

/// The status byte a block request ends with (`VIRTIO_BLK_S_*`).
public enum BlockRequestStatus: UInt8, Sendable {
    case ok = 0
    case ioError = 1
    case unsupported = 2
}

/// The size of a sector, in bytes, for every virtio disk.
public let sectorSize = 512

/// The console's two queues, in order (`virtio_console`'s port 0).
public enum ConsoleQueue {
    /// Buffers the device fills with input for the Guest.
    public static let receive = 0
    /// Buffers of output the device reads.
    public static let transmit = 1
}
/*:*/
