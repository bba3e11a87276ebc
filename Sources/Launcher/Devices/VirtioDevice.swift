/*L:207 A device: the engine's one client.

Each of the three devices is small because everything they have in common lives in one class,
`VirtioDevice`: its descriptor's place in the device page, its IRQ, its queues once the driver has made
them live, and its counts. What differs is a `DeviceService`: what kind of device it is, what it offers,
and what it does with one request. The console, the disk and the random-number generator are each a
`DeviceService` of forty lines or so; the queue handling, the interrupts and the counting are written
once, below.

A service sees one checked chain at a time and says what it did: how many bytes it wrote into the
chain's writable buffers (the used length the driver will read), and how many bytes of payload moved,
for the statistics. A service that finds a request it cannot accept throws `GuestViolation`, exactly
as the engine does, and the Guest dies with the service's reason. */

import Host
import LguestABI
import Machine

/// What one request came to: the used length for the ring and the payload for the statistics.
public struct ServedRequest: Hashable, Sendable {
    /// Bytes written into the chain's writable buffers (the used ring's length).
    public var written: UInt32
    /// Bytes of payload moved in either direction.
    public var payload: Int

    public init(written: UInt32, payload: Int) {
        self.written = written
        self.payload = payload
    }
}

/// One kind of device: its identity on the bus and the service of one request.
public protocol DeviceService: AnyObject {
    /// The virtio device id written in the descriptor.
    var kind: VirtioDeviceID { get }
    /// The name in statistics lines (`device.NAME.requests`).
    var name: String { get }
    /// The number of virtqueues.
    var queueCount: Int { get }
    /// The feature bits the device offers, as a bitmap (`P:630`); its length is the descriptor's.
    var offeredFeatures: [UInt8] { get }
    /// The device-specific configuration bytes.
    var config: [UInt8] { get }
    /// Serves `chain`, taken from queue `queue`, reading and writing guest memory through `memory`.
    func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(GuestViolation) -> ServedRequest
}

/// The counts one device keeps, printed by `--stats` as `device.NAME.*` (`L:225`).
public struct DeviceStatistics: Hashable, Sendable {
    /// Requests served (chains given back).
    public var requests: UInt64 = 0
    /// Payload bytes moved.
    public var bytes: UInt64 = 0
    /// Kicks received: NOTIFYs of one of its queues.
    public var notifications: UInt64 = 0
    /// Interrupts raised.
    public var interrupts: UInt64 = 0
    /// Interrupts not raised because the driver set `availableNoInterrupt`.
    public var interruptsSuppressed: UInt64 = 0
    /// Requests the driver added while `usedNoNotify` told it not to notify, taken without a kick.
    public var notificationsAvoided: UInt64 = 0

    public init() {}
}

/// One device on the bus: a service, its descriptor's place, its IRQ, its live queues and its counts.
public final class VirtioDevice {
    /// What the device does.
    public let service: any DeviceService
    /// The descriptor's offset from the start of the device page.
    public let offset: Int
    /// Where the descriptor's parts lie.
    public let layout: DeviceDescriptorLayout
    /// The IRQ every queue of the device raises.
    public let irq: Int
    /// The queues, once the driver set `driverOK`; nil before and after a reset.
    public internal(set) var queues: [Virtqueue]?
    /// What the device counted.
    public internal(set) var statistics = DeviceStatistics()

    /// A device serving `service`, its descriptor at `offset` in the device page, raising `irq`.
    init(service: any DeviceService, offset: Int, irq: Int) {
        self.service = service
        self.offset = offset
        self.irq = irq
        layout = DeviceDescriptorLayout(queueCount: service.queueCount, featureLength: service.offeredFeatures.count,
                                        configLength: service.config.count)
    }
}
/*:*/

/*L:217 Draining a queue, and the two hints.

A kick means "there is something in this queue", and the device answers by *draining* it: taking
chains until none is left, serving each and giving it back. Two hints save the two sides from waking
each other for nothing (`P:620`), and this is where both are honoured.

While it drains, the device sets `usedNoNotify`: a driver that adds a request now need not notify,
since we are about to look anyway. When the queue seems empty we clear the flag, and then look
*once more*. That second look is the classic race of every such protocol: a driver that added a
request just before we cleared the flag saw it set and did not notify, so if we stopped at "empty" its
request would sit there until some later kick that may never come. Requests beyond those waiting when
the drain began are ones the driver could add without a notification; we count them as notifications
avoided.

When the drain gave anything back, the device raises its IRQ through the Host (`raiseInterrupt`,
`H:200`), unless the driver set `availableNoInterrupt` because it will poll the used ring anyway; then
we count an interrupt suppressed. One interrupt per drain, not per request: the driver's handler walks
the whole used ring each time. */

extension VirtioDevice {
    /// Drains queue `index` and raises the device's interrupt if it gave anything back.
    func drain(queue index: Int, guest: Guest) throws(GuestViolation) {
        guard let queue = queues?[index] else { return }
        let waitingAtStart = try queue.waitingCount()
        var served = 0
        repeat {
            try queue.setNoNotify(true)
            while let chain = try queue.nextChain() {
                let request = try service.serve(chain, queue: index, memory: guest.memory)
                try queue.addUsed(chain, length: request.written)
                served += 1
                statistics.requests &+= 1
                statistics.bytes &+= UInt64(request.payload)
                if served > waitingAtStart { statistics.notificationsAvoided &+= 1 }
            }
            try queue.setNoNotify(false)
        } while try queue.waitingCount() > 0
        guard served > 0 else { return }
        if try queue.interruptWanted() {
            guest.raiseInterrupt(irq)
            statistics.interrupts &+= 1
        } else {
            statistics.interruptsSuppressed &+= 1
        }
    }
}
/*:*/
