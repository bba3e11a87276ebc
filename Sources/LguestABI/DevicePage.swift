/*P:600 Devices: a page of descriptors just past the Guest's memory.

A real PC finds its devices by probing buses: PCI configuration space, ISA ports, ACPI tables, each
with decades of quirks. lguest had no wish to emulate any of that, so it invented the most trivial bus
it could: one page of memory, just past the end of the Guest's RAM, holding a list of *device
descriptors*. The Launcher writes the list before the Guest boots; the Guest reads it to find out what
it has. The devices themselves are *virtio* devices: the Guest's drivers and the Launcher exchange
requests through rings in guest memory (`P:620`), and each side pokes the other only when it must, the
Guest with a `NOTIFY` hypercall, the Launcher with an interrupt.

The page sits at the first page frame past the memory the e820 map describes, the Guest's `max_pfn`
in Linux terms. The Host gives the Guest that page as part of its memory, so every access to it is
checked like any other (`H:032`), but the Guest's allocator never sees it: the e820 map ends before it.

Each descriptor is five bytes of header followed by three variable parts, and the list ends at a
descriptor whose type is 0 (which is why a zeroed page is an empty list):

```
 offset  size               field
      0     1               type          a virtio device id (P:630); 0 ends the list
      1     1               queueCount    how many virtqueues, each described below
      2     1               featureLength bytes of feature bits, offered and then accepted
      3     1               configLength  bytes of device-specific configuration
      4     1               status        the driver's progress (P:630), written by the Guest
      5     8 * queueCount  queue configs: ring size (u16), IRQ (u16), ring's page frame (u32)
      .     featureLength   the feature bits the device offers (the Launcher writes them)
      .     featureLength   the feature bits the driver accepts (the Guest writes them)
      .     configLength    the configuration (a disk's capacity, say)
```

The next descriptor follows immediately, with no padding: the whole format is bytes, so it needs none.
These offsets are lguest's `struct lguest_device_desc` and `struct lguest_vqconfig`, checked by the
`p600_…` tests. */

import Machine

/// The device page: where it is, and how big.
public enum DevicePage {
    /// The page count of the device area (lguest's `devices.page_count`): one page of descriptors.
    public static let pageCount: UInt32 = 1
    /// The size of the device area in bytes.
    public static let size = Int(pageCount) * pageSize

    /// The guest-physical address of the device page for a Guest whose e820 map ends at page
    /// `memoryPages`: the first page past it.
    public static func address(memoryPages: UInt32) -> GuestPhysicalAddress {
        GuestPhysicalAddress(memoryPages << pageShift)
    }
}

/// The fixed part of one device descriptor: byte offsets from the descriptor's start.
public enum DeviceDescriptorHeader {
    /// u8: the virtio device id (`VirtioDeviceID`); 0 ends the list.
    public static let type = 0
    /// u8: the number of virtqueues.
    public static let queueCount = 1
    /// u8: the length in bytes of each of the two feature bitmaps.
    public static let featureLength = 2
    /// u8: the length in bytes of the configuration.
    public static let configLength = 3
    /// u8: `VirtioStatus` bits, written by the Guest.
    public static let status = 4
    /// The size of the fixed part; the queue configs start here.
    public static let size = 5
}

/// One queue's entry in a device descriptor (lguest's `struct lguest_vqconfig`).
public struct VirtqueueConfig: Hashable, Sendable {
    /// The size of one entry in bytes.
    public static let size = 8

    /// u16 at 0: the number of descriptors in the ring; a power of two.
    public var ringSize: UInt16
    /// u16 at 2: the IRQ the Launcher raises for this queue.
    public var irq: UInt16
    /// u32 at 4: the page frame of the ring in guest-physical memory (the Launcher chooses it).
    public var pageFrame: UInt32

    public init(ringSize: UInt16, irq: UInt16, pageFrame: UInt32) {
        self.ringSize = ringSize
        self.irq = irq
        self.pageFrame = pageFrame
    }

    /// Decodes the eight bytes of an entry; nil when fewer than eight are given.
    public init?(bytes: some Collection<UInt8>) {
        let raw = Array(bytes)
        guard raw.count >= Self.size else { return nil }
        ringSize = UInt16(raw[0]) | UInt16(raw[1]) << 8
        irq = UInt16(raw[2]) | UInt16(raw[3]) << 8
        pageFrame = UInt32(raw[4]) | UInt32(raw[5]) << 8 | UInt32(raw[6]) << 16 | UInt32(raw[7]) << 24
    }

    /// The entry's eight bytes, little-endian.
    public var bytes: [UInt8] {
        littleEndianBytes(UInt64(ringSize), 2) + littleEndianBytes(UInt64(irq), 2) + littleEndianBytes(UInt64(pageFrame), 4)
    }

    /// The guest-physical address of the ring.
    public var ringAddress: GuestPhysicalAddress { GuestPhysicalAddress(pageFrame << pageShift) }
}

/*P:610 Walking a descriptor.

Only the header of a descriptor has fixed offsets; the rest depends on three lengths found in the
header itself: the queue entries, then the feature bits the device offers, then the ones the driver
accepts (the same length twice), then the configuration. `DeviceDescriptorLayout` turns those three
numbers into offsets, and its `size` is where the next device's descriptor begins, which is how a
driver steps through the page until it meets a type of 0. Both sides use this one type, so the
Launcher cannot write a layout the Guest reads differently. */
/// Where each variable part of one device descriptor lies, given its three lengths: the layout a
/// driver walks and the Launcher writes.
public struct DeviceDescriptorLayout: Hashable, Sendable {
    public var queueCount: Int
    public var featureLength: Int
    public var configLength: Int

    public init(queueCount: Int, featureLength: Int, configLength: Int) {
        self.queueCount = queueCount
        self.featureLength = featureLength
        self.configLength = configLength
    }

    /// Offset of queue `index`'s config from the descriptor's start.
    public func queueOffset(_ index: Int) -> Int { DeviceDescriptorHeader.size + index * VirtqueueConfig.size }
    /// Offset of the feature bits the device offers.
    public var offeredFeaturesOffset: Int { queueOffset(queueCount) }
    /// Offset of the feature bits the driver accepts.
    public var acceptedFeaturesOffset: Int { offeredFeaturesOffset + featureLength }
    /// Offset of the configuration.
    public var configOffset: Int { acceptedFeaturesOffset + featureLength }
    /// The whole descriptor's size: where the next one starts.
    public var size: Int { configOffset + configLength }
}
/*:*/

/*P:630 The numbers virtio gives meaning to.

A descriptor's type is a *virtio device id*, from the virtio specification that lguest's author wrote
for exactly this purpose; any virtio driver recognises them. The status byte records how far the driver
has got with the device, one bit per step, in this order: the Guest noticed the device (`acknowledge`),
found a driver for it (`driver`), agreed the features (`featuresOK`), and is ready to go (`driverOK`).
`failed` says the driver gave up. Writing 0 asks the device to *reset*: forget everything, ready to
start again. Every status change is a `NOTIFY` of the descriptor's own guest-physical address, so
that the Launcher notices (`L:215`).

Feature bits are numbered from 0 in the two bitmaps, bit n in byte n / 8, least significant first. A
device offers what it can do; a driver accepts the subset it understands, and the device must never
rely on anything the driver did not accept. */

/// The virtio device ids this edition's Launcher offers (the specification's numbering).
public enum VirtioDeviceID: UInt8, Sendable, CaseIterable {
    /// A network card (lguest had one; this edition leaves it to `M:010`).
    case network = 1
    /// A disk: requests of sectors (`P:640`).
    case block = 2
    /// A console: a receive and a transmit queue of bytes.
    case console = 3
    /// A source of random bytes.
    case rng = 4
}

/// The status byte of a device descriptor.
public struct VirtioStatus: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The Guest has seen the device (`VIRTIO_CONFIG_S_ACKNOWLEDGE`).
    public static let acknowledge = VirtioStatus(rawValue: 1)
    /// The Guest has a driver for it (`VIRTIO_CONFIG_S_DRIVER`).
    public static let driver = VirtioStatus(rawValue: 2)
    /// The driver is set up and the device may be used (`VIRTIO_CONFIG_S_DRIVER_OK`).
    public static let driverOK = VirtioStatus(rawValue: 4)
    /// The driver has accepted its features (`VIRTIO_CONFIG_S_FEATURES_OK`).
    public static let featuresOK = VirtioStatus(rawValue: 8)
    /// The driver gave up on the device (`VIRTIO_CONFIG_S_FAILED`).
    public static let failed = VirtioStatus(rawValue: 0x80)
}

/// Feature bits of the block device (`VIRTIO_BLK_F_*`).
public enum VirtioBlockFeature {
    /// The disk is read-only (`VIRTIO_BLK_F_RO`).
    public static let readOnly = 5
    /// The disk understands flush requests (`VIRTIO_BLK_F_FLUSH`).
    public static let flush = 9
}
/*:*/
