/*L:190 Setting up the devices: the device page.

lguest's Launcher built its devices before the Guest ran: for each one it appended a descriptor to the
device page (`P:600`), and the Guest found them there when it booted. Ours does the same in
`DeviceBus`, which owns the device page and the devices on it.

The page is the first page past the memory the e820 map describes: the Launcher asks the Host for
`DevicePage.pageCount` more pages than it planned, so the page is ordinary guest memory, checked like
all the rest, but invisible to the Guest's allocator. The devices go in a fixed order, and the order is
part of the agreement with the Guest's drivers:

| index | device | queues | IRQ | config |
| ----- | ------ | ------ | --- | ------ |
| 0 | console | receive 0, transmit 1 | 1 | none |
| 1 | block (only with a disk) | one | 2 | capacity in sectors, u64 |
| 1 or 2 | rng | one | 2 or 3 | none |

Each device's IRQ is its index plus one, since the timer has IRQ 0, and every queue of a device shares
it: the driver's interrupt handler looks at all of them anyway. Every ring has 64 entries, which the
Launcher writes into each queue's config; the page frame is left 0 for the Guest to fill in, because
in this edition the *Guest* allocates its rings from its own memory, as later versions of lguest did,
and tells us where they are. */

import Host
import LguestABI
import Machine

/// The devices of one Guest and the page that describes them.
public final class DeviceBus {
    /// The number of entries of every ring.
    public static let ringSize = 64
    /// The device page's guest-physical address: the first page past the e820 map.
    public let page: GuestPhysicalAddress
    /// The devices, in descriptor order.
    public let devices: [VirtioDevice]
    /// Where console output goes, early or through the console device.
    public let output: ConsoleOutput

    /// The layout of every ring.
    static let ringLayout: VirtqueueLayout = {
        guard let layout = VirtqueueLayout(size: ringSize) else { preconditionFailure("devices: ring size \(ringSize)") }
        return layout
    }()

    /// A bus at `page` with `services` in order, their descriptors packed from the page's start.
    public init(page: GuestPhysicalAddress, services: [any DeviceService], output: ConsoleOutput) {
        self.page = page
        self.output = output
        var offset = 0
        var devices: [VirtioDevice] = []
        for (index, service) in services.enumerated() {
            let device = VirtioDevice(service: service, offset: offset, irq: index + 1)
            devices.append(device)
            offset += device.layout.size
        }
        // One type byte more for the zero that ends the list: a host bug if it does not fit.
        precondition(offset + 1 <= DevicePage.size, "devices: descriptors take \(offset) bytes")
        self.devices = devices
    }

    /// The guest-physical addresses of the device page, as a range of 64-bit byte numbers.
    var pageRange: Range<UInt64> {
        UInt64(page.rawValue)..<UInt64(page.rawValue) + UInt64(DevicePage.size)
    }

    /// Writes every descriptor, and the zero type that ends the list, into the device page.
    public func writeDescriptors(into memory: GuestMemory) throws(GuestViolation) {
        var bytes = [UInt8](repeating: 0, count: DevicePage.size)
        for device in devices {
            let service = device.service, layout = device.layout, start = device.offset
            bytes[start + DeviceDescriptorHeader.type] = service.kind.rawValue
            bytes[start + DeviceDescriptorHeader.queueCount] = UInt8(layout.queueCount)
            bytes[start + DeviceDescriptorHeader.featureLength] = UInt8(layout.featureLength)
            bytes[start + DeviceDescriptorHeader.configLength] = UInt8(layout.configLength)
            for queue in 0..<layout.queueCount {
                let config = VirtqueueConfig(ringSize: UInt16(Self.ringSize), irq: UInt16(device.irq), pageFrame: 0)
                bytes.replaceSubrange(start + layout.queueOffset(queue)..<start + layout.queueOffset(queue + 1), with: config.bytes)
            }
            let offered = start + layout.offeredFeaturesOffset
            bytes.replaceSubrange(offered..<offered + layout.featureLength, with: service.offeredFeatures)
            let config = start + layout.configOffset
            bytes.replaceSubrange(config..<config + layout.configLength, with: service.config)
        }
        try memory.copyIn(bytes, at: page)
    }
}
/*:*/

/*L:215 Notifications: one hypercall, three meanings.

Everything the Guest tells its devices arrives as a `NOTIFY` hypercall with one guest-physical address
(`H:105`), which the Host hands to the Launcher's callback. The address says what the Guest means:

* inside the device page: the status of the device whose descriptor starts exactly there has changed
  (`L:218`); an address inside the page that is not a descriptor's start is a lie, and the Guest dies;
* the address of a live queue's ring: a *kick*, "I put something in this queue" (`L:216`);
* anything else below the end of the e820 map: a string for the early console (`L:070`), the one thing
  a Guest can print before its console device is up;
* anything else at all, past the device page, is no address the Guest could mean, and it dies.

This is lguest's own scheme, one hypercall for everything, kept simple by giving each meaning its own
range of addresses. The Launcher turns any `GuestViolation` thrown on the way into `Guest.kill`, so a
bad ring, a bad request or a bad notification ends that Guest with its reason, and nothing else. */

extension DeviceBus {
    /// Handles a NOTIFY of `address` from `guest`, killing it when anything about it is wrong.
    public func notify(_ guest: Guest, _ address: GuestPhysicalAddress) {
        do {
            try dispatch(guest, address)
        } catch {
            guest.kill(error.reason)
        }
    }

    /// Decides what a NOTIFY of `address` means and does it.
    func dispatch(_ guest: Guest, _ address: GuestPhysicalAddress) throws(GuestViolation) {
        if pageRange.contains(UInt64(address.rawValue)) {
            let offset = Int(address.distance(from: page))
            guard let device = devices.first(where: { $0.offset == offset }) else {
                throw GuestViolation("devices: notify \(address) is inside the device page but starts no descriptor")
            }
            try statusChanged(device, guest: guest)
        } else if let (device, queue) = liveQueue(at: address) {
            try kick(device, queue: queue, guest: guest)
        } else if address < page {
            output.earlyConsole(guest.memory, address)
        } else {
            throw GuestViolation("devices: notify \(address) past guest memory")
        }
    }

    /// The device and queue index whose live ring starts at `address`, if any.
    func liveQueue(at address: GuestPhysicalAddress) -> (VirtioDevice, Int)? {
        for device in devices {
            if let index = device.queues?.firstIndex(where: { $0.ring == address }) { return (device, index) }
        }
        return nil
    }

    /// What a NOTIFY of `address` means, in a few words, for the trace (`L:110`): the same ranges
    /// `dispatch` decides by, without acting on them.
    public func meaning(ofNotify address: GuestPhysicalAddress) -> String {
        if pageRange.contains(UInt64(address.rawValue)) {
            let offset = Int(address.distance(from: page))
            return devices.first(where: { $0.offset == offset }).map { "\($0.service.name) status" } ?? "bad device"
        }
        if let (device, queue) = liveQueue(at: address) { return "\(device.service.name) kick queue \(queue)" }
        return address < page ? "early console" : "bad address"
    }
}
/*:*/

/*L:216 A kick is served at once: no thread per queue.

lguest's Launcher gave every virtqueue a thread of its own. The thread slept on an event descriptor
that the Host signalled when the Guest kicked the queue, served the queue, and went back to sleep, so a
slow disk read never held up the console; the Guest kept running on its own processor meanwhile.

This edition has no threads to give. Everything runs on one host thread, in virtual time (`H:030`),
and that is what keeps every run byte for byte the same: a thread per queue would let the host's
scheduler decide whether the disk or the console answered first. So a kick is served right inside the
`NOTIFY` hypercall that brought it, before the Guest runs another instruction. From the Guest's side
nothing is lost: its driver sees the request complete and an interrupt pending when the hypercall
returns, exactly as if a very fast device had answered. */

extension DeviceBus {
    /// Serves a kick of queue `queue` of `device`.
    func kick(_ device: VirtioDevice, queue: Int, guest: Guest) throws(GuestViolation) {
        device.statistics.notifications &+= 1
        try device.drain(queue: queue, guest: guest)
    }
}
/*:*/

/*L:218 Status changes, and reset.

The Guest writes a device's status byte as its driver makes progress (`P:630`) and then notifies the
descriptor's address. Most steps are the driver's own business; two matter to the device:

* **0, reset.** The device forgets its queues and where it had got to in them: the next `driverOK`
  starts from fresh rings. It also clears the features the driver had accepted. What the device *is*
  stays: the disk keeps its contents, and the console keeps its place in the input, since a reset
  driver should not see the same input twice.
* **`driverOK`.** The driver has allocated its rings and written their page frames: the queues go live
  (`L:219`).

The Launcher reads the status byte itself, through checked memory, rather than trusting any notion of
"what changed": the byte is the truth, and each notification just says "look now". */

extension DeviceBus {
    /// Acts on the status byte of `device` after the Guest notified its descriptor.
    func statusChanged(_ device: VirtioDevice, guest: Guest) throws(GuestViolation) {
        let descriptor = page.advanced(by: UInt32(device.offset))
        let status = VirtioStatus(rawValue: try guest.memory.load8(descriptor.advanced(by: UInt32(DeviceDescriptorHeader.status))))
        if status.isEmpty {
            device.queues = nil
            let accepted = descriptor.advanced(by: UInt32(device.layout.acceptedFeaturesOffset))
            try guest.memory.copyIn([UInt8](repeating: 0, count: device.layout.featureLength), at: accepted)
        } else if status.contains(.driverOK), device.queues == nil {
            try goLive(device, guest: guest)
        }
    }
}
/*:*/

/*L:219 Going live: reading the rings' places.

At `driverOK` the Launcher reads each queue's page frame from the device page and checks that the whole
ring fits in guest memory, clear of the device page (`L:201`), and that no two live rings overlap, since a
used entry written for one queue would then land in another. It takes a snapshot: from now until a
reset the device uses the frames it read now, so a Guest that rewrites its page frame later changes
nothing. The ring size and IRQ are the Launcher's own, never read back, because the Guest could have
rewritten those too.

Then each queue is drained once. A driver may well post buffers before it says `driverOK`, the console
driver its receive buffers, say, and a kick of a ring that was not yet live was not a kick at all
(`L:215`), so we look now. */

extension DeviceBus {
    /// Checks and snapshots `device`'s rings, then serves anything already posted in them.
    func goLive(_ device: VirtioDevice, guest: Guest) throws(GuestViolation) {
        var queues: [Virtqueue] = []
        var taken = devices.flatMap { $0.queues ?? [] }.map(Self.span)
        for index in 0..<device.layout.queueCount {
            let configAddress = page.advanced(by: UInt32(device.offset + device.layout.queueOffset(index)))
            let bytes = try guest.memory.copyOut(from: configAddress, count: VirtqueueConfig.size)
            guard let pageFrame = VirtqueueConfig(bytes: bytes)?.pageFrame else { preconditionFailure("devices: short queue config") }
            let ring = try Virtqueue.check(pageFrame: pageFrame, layout: Self.ringLayout, memory: guest.memory,
                                           forbidden: pageRange)
            let queue = Virtqueue(memory: guest.memory, ring: ring, layout: Self.ringLayout)
            guard !taken.contains(where: { $0.overlaps(Self.span(queue)) }) else {
                throw GuestViolation("virtqueue: ring at page frame \(pageFrame) overlaps another ring")
            }
            taken.append(Self.span(queue))
            queues.append(queue)
        }
        device.queues = queues
        for index in queues.indices { try device.drain(queue: index, guest: guest) }
    }

    /// The guest-physical bytes `queue`'s ring covers.
    static func span(_ queue: Virtqueue) -> Range<UInt64> {
        UInt64(queue.ring.rawValue)..<UInt64(queue.ring.rawValue) + UInt64(queue.layout.byteCount)
    }
}
/*:*/

/*L:225 What the devices counted.

`--stats` ends its Host and Guest figures with six lines per device, named after the device: requests
served, payload bytes moved, kicks received, interrupts raised, interrupts the driver's
`availableNoInterrupt` suppressed, and requests the driver could add without a kick because
`usedNoNotify` was set (`L:217`). Like every other figure they are counted where the thing happens, and
two runs print the same numbers. These are a boot that uses all three devices, drawn by running it as
the book was woven (`W:450`): the console carries every line the Guest prints and the two bytes `cat`
reads, the disk serves the `disk` program's reads and writes, and the rng fills `hwrng`'s buffer.

```lguest-run --programs disk,hwrng,cat --input hi --stats | grep device.
```
*/

extension DeviceBus {
    /// Six `device.NAME.*` lines per device, in descriptor order.
    public var statistics: [(name: String, value: UInt64)] {
        devices.flatMap { device -> [(name: String, value: UInt64)] in
            let prefix = "device.\(device.service.name)."
            let counts = device.statistics
            return [
                (prefix + "requests", counts.requests),
                (prefix + "bytes", counts.bytes),
                (prefix + "notifications", counts.notifications),
                (prefix + "interrupts", counts.interrupts),
                (prefix + "interrupts_suppressed", counts.interruptsSuppressed),
                (prefix + "notifications_avoided", counts.notificationsAvoided),
            ]
        }
    }
}
/*:*/

/*M:010 Two Guests on one wire.

lguest's Launcher had a fourth device, a network card, whose other end was a tun device on the host (the
original's Launcher chapter gave it a section of its own), and its author liked to run several Guests on
one host talking to each other through it. This edition has one Host process that could run many Guests,
and a device bus per Guest. A network device whose transmit queue fed another Guest's receive queue,
with both buses in the same process and both in virtual time, would make a deterministic network: the
same packets, in the same order, on every run. What would the two Guests' clocks have to agree on? :*/
