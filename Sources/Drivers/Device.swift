/*D:130 Config, features, status and reset.

These are the transport's operations on a device, each a few bytes of its descriptor.

*Config* is the device's own information, in a format its type defines (a disk's capacity, say).
A driver reads it by offset and length, and a request that does not fit inside the config the
descriptor declared is refused: the driver gets nil, not the bytes that happen to follow.

*Features* come in two bitmaps of equal length: what the device offers, which the Launcher wrote,
and what the driver accepts, which we write. The rule of virtio is that a driver accepts only bits it
both was offered and understands; a device must then behave as if every other bit were off. Bit n
lives in byte n / 8, at bit n % 8.

*Status* is one byte we write, followed by a `NOTIFY` of the descriptor's address so that the
Launcher looks at it (`P:630`). Writing 0 is a *reset*: the device forgets its queues and its
features, and a driver that wants it again starts from `acknowledge`. */

import Guest
import LguestABI
import Machine

extension LguestDevice {
    /// `count` bytes of the device's config from `offset`; nil when they do not all lie inside it.
    public func config(_ kernel: GuestKernel, offset: Int, count: Int) throws(GuestStopped) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset + count <= layout.configLength else { return nil }
        return try kernel.readPhysical(field(layout.configOffset + offset), count: count)
    }

    /// The feature bits the device offers, as bit numbers.
    public func offeredFeatures(_ kernel: GuestKernel) throws(GuestStopped) -> Set<Int> {
        let bytes = try kernel.readPhysical(field(layout.offeredFeaturesOffset), count: layout.featureLength)
        var bits: Set<Int> = []
        for (index, byte) in bytes.enumerated() {
            for bit in 0..<8 where byte & (1 << bit) != 0 { bits.insert(index * 8 + bit) }
        }
        return bits
    }

    /// Accept the offered features the driver knows (`known`), write them to the accepted bitmap, and
    /// return them.
    public func acceptFeatures(_ kernel: GuestKernel, known: Set<Int>) throws(GuestStopped) -> Set<Int> {
        let accepted = try offeredFeatures(kernel).intersection(known)
        var bytes = [UInt8](repeating: 0, count: layout.featureLength)
        for bit in accepted { bytes[bit / 8] |= 1 << UInt8(bit % 8) }
        try kernel.writePhysical(field(layout.acceptedFeaturesOffset), bytes)
        return accepted
    }

    /// The status byte as it now reads.
    public func status(_ kernel: GuestKernel) throws(GuestStopped) -> VirtioStatus {
        VirtioStatus(rawValue: try kernel.readPhysical8(field(DeviceDescriptorHeader.status)))
    }

    /// Write `status` and tell the Launcher: a `NOTIFY` of the descriptor's address.
    public func setStatus(_ kernel: GuestKernel, _ status: VirtioStatus) throws(GuestStopped) {
        try kernel.writePhysical8(field(DeviceDescriptorHeader.status), status.rawValue)
        try kernel.notify(descriptor)
    }

    /// Reset the device: status 0. Its queues are forgotten on our side too.
    public func reset(_ kernel: GuestKernel) throws(GuestStopped) {
        try setStatus(kernel, [])
        queues = [:]
    }
}
/*:*/

/*D:135 The per-queue config.

Each queue has eight bytes in the descriptor (`P:600`): how many entries the Launcher wants in its
ring, the IRQ it will raise for it, and the page frame of the ring, which is ours to fill in. As with
everything else from the Launcher, the first two are checked before use: a ring size that is not a
power of two (or is 0) would make the ring's arithmetic meaningless, and an IRQ must be one a driver
may have: not the timer's, not past the 32 lines of our interrupt controller (`G:042`), and not another
device's, since a line shared between devices would have one device's handler eat the other's
interrupts. (A device's own queues share its line: that is the Launcher's arrangement, `L:190`.) */

extension LguestDevice {
    /// Queue `index`'s config as the Launcher wrote it; nil for a queue the device does not have.
    public func queueConfig(_ kernel: GuestKernel, _ index: Int) throws(GuestStopped) -> VirtqueueConfig? {
        guard (0..<layout.queueCount).contains(index) else { return nil }
        return VirtqueueConfig(bytes: try kernel.readPhysical(field(layout.queueOffset(index)), count: VirtqueueConfig.size))
    }

    /// Write the page frame of queue `index`'s ring into its config.
    func setRingFrame(_ kernel: GuestKernel, _ index: Int, _ ring: GuestPhysicalAddress) throws(GuestStopped) {
        try kernel.writePhysical32(field(layout.queueOffset(index) + 4), ring.pageNumber)
    }
}

/// Why a queue could not be set up.
public enum QueueSetupError: Error, Equatable, CustomStringConvertible {
    case noSuchQueue(Int)
    case badRingSize(Int, UInt16)
    case badIRQ(Int, UInt16)
    case outOfMemory(Int)

    /// The reason, for the boot log.
    public var description: String {
        switch self {
        case .noSuchQueue(let index): "no queue \(index)"
        case .badRingSize(let index, let size): "queue \(index): bad ring size \(size)"
        case .badIRQ(let index, let irq): "queue \(index): bad irq \(irq)"
        case .outOfMemory(let index): "queue \(index): no memory for its ring"
        }
    }
}
/*:*/
