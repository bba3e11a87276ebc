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
    /// How long after taking a request the device gives it back, in virtual nanoseconds (`L:222`).
    var latency: UInt64 { get }
    /// Serves `chain`, taken from queue `queue`, reading and writing guest memory through `memory`.
    func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(GuestViolation) -> ServedRequest
}

extension DeviceService {
    /// No latency: the answer goes back at once.
    public var latency: UInt64 { 0 }
}

/*L:208 What a device counts, and what it holds.

The counts are the evidence for the two hints of `P:620`: besides requests, bytes, kicks and
interrupts, each device counts the interrupts it did not raise because the driver asked for none, and
the requests it found without being kicked because it had said it needed no kick. `--stats` prints
them, so the hints' effect can be read off a boot. `VirtioDevice` is a class because the bus, the
notification handler and the queues all refer to the same device; its `queues` exist only between
the driver's `driverOK` and the next reset, so no request can be served from rings the driver has
not finished setting up. */
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
    public internal(set) var queues: [Virtqueue]? {
        didSet { inFlight = [Int](repeating: 0, count: layout.queueCount) }
    }
    /// Requests taken from each queue whose answers are not yet back (`L:222`).
    var inFlight: [Int]
    /// What the device counted.
    public internal(set) var statistics = DeviceStatistics()

    /// A device serving `service`, its descriptor at `offset` in the device page, raising `irq`.
    init(service: any DeviceService, offset: Int, irq: Int) {
        self.service = service
        self.offset = offset
        self.irq = irq
        layout = DeviceDescriptorLayout(queueCount: service.queueCount, featureLength: service.offeredFeatures.count,
                                        configLength: service.config.count)
        inFlight = [Int](repeating: 0, count: service.queueCount)
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
    /// Drains queue `index`: serves every waiting chain and gives them back, at once or, for a
    /// device with a latency, that much later (`L:222`). `unkicked` says no notification came for
    /// any of them.
    func drain(queue index: Int, guest: Guest, unkicked: Bool = false) throws(GuestViolation) {
        guard let queue = queues?[index] else { return }
        let waitingAtStart = unkicked ? 0 : try queue.waitingCount()
        var finished: [(chain: DescriptorChain, written: UInt32)] = []
        repeat {
            try queue.setNoNotify(true)
            while let chain = try queue.nextChain() {
                let request = try service.serve(chain, queue: index, memory: guest.memory)
                finished.append((chain, request.written))
                statistics.requests &+= 1
                statistics.bytes &+= UInt64(request.payload)
                if finished.count > waitingAtStart { statistics.notificationsAvoided &+= 1 }
            }
            // A device with a latency stays busy, the flag set, until its answers have gone back.
            if service.latency > 0 { break }
            try queue.setNoNotify(false)
        } while try queue.waitingCount() > 0
        if service.latency == 0 {
            try giveBack(finished, to: queue, guest: guest)
        } else if !finished.isEmpty {
            answerLater(finished, queue: index, guest: guest)
        } else if inFlight[index] == 0 {
            try queue.setNoNotify(false)
        }
    }

    /// Puts `finished` in `queue`'s used ring and raises the interrupt, unless the driver said not to.
    func giveBack(_ finished: [(chain: DescriptorChain, written: UInt32)], to queue: Virtqueue,
                  guest: Guest) throws(GuestViolation) {
        guard !finished.isEmpty else { return }
        for (chain, written) in finished { try queue.addUsed(chain, length: written) }
        if try queue.interruptWanted() {
            guest.raiseInterrupt(irq)
            statistics.interrupts &+= 1
        } else {
            statistics.interruptsSuppressed &+= 1
        }
    }
}
/*:*/

/*L:222 Answers after a latency.

A device with a `latency` does its work when it takes a request, as ours all do (a write is in the file
at once, `L:186`), but gives the answer back only when that much virtual time has passed, through the
Host's work-for-later facility (`H:045`). Meanwhile the driver's process waits, the Guest's scheduler
runs others, and a Guest with nothing else to do halts until the answer comes: a disk that takes time,
in a machine whose time is still the same on every run.

While answers are in flight the device is busy, so `usedNoNotify` stays set; when the last answer has
gone back it clears the flag and looks again, and whatever it finds was added without a kick. A reset
while answers are in flight forgets them: the closure finds its queue gone and does nothing, as a
reset device would drop the requests it had not finished. */

extension VirtioDevice {
    /// Gives `finished` back to queue `index` after the service's latency, then drains what came meanwhile.
    func answerLater(_ finished: [(chain: DescriptorChain, written: UInt32)], queue index: Int, guest: Guest) {
        guard let queue = queues?[index] else { return }
        inFlight[index] += finished.count
        guest.schedule(after: service.latency) { [weak self] guest in
            // A reset meanwhile: these answers belong to rings the device has forgotten.
            guard let self, self.queues?[index] === queue else { return }
            do throws(GuestViolation) {
                try self.answer(finished, queue: index, guest: guest)
            } catch {
                guest.kill(error.reason)
            }
        }
    }

    /// Gives back answers whose time has come; when none is left in flight, the device is no longer
    /// busy: it clears `usedNoNotify` and drains what the driver added meanwhile.
    private func answer(_ finished: [(chain: DescriptorChain, written: UInt32)], queue index: Int,
                        guest: Guest) throws(GuestViolation) {
        guard let queue = queues?[index] else { return }
        inFlight[index] -= finished.count
        try giveBack(finished, to: queue, guest: guest)
        guard inFlight[index] == 0 else { return }
        try queue.setNoNotify(false)
        if try queue.waitingCount() > 0 { try drain(queue: index, guest: guest, unkicked: true) }
    }
}
/*:*/

/*M:013 A device writes behind the page tables' back.

The Host learns that the Guest wrote a page from the dirty bit, which its shadow page tables keep
honest by mapping a page read-only until the first write faults (`H:300` onwards). A device writes
guest memory too, into the buffers of a read or the used ring, but it writes guest-*physical* bytes
through `GuestMemory`, and no page table ever sees it: the Guest's dirty bits stay clear on a page the
disk has just filled. Our Guest never looks at those bits for its buffers, and lguest's never did
either (Linux treats DMA'd pages as its own business). A Guest that swapped out clean pages without
writing them back would lose a disk read. How would you tell it? Marking every page a device writes
would mean walking the Guest's page tables backwards, from a physical page to every mapping of it. :*/

/*M:014 Telling the other side exactly when to wake.

`usedNoNotify` and `availableNoInterrupt` are all-or-nothing: "don't notify me at all" and "don't
interrupt me at all". Later virtio added *event indices* (`VIRTIO_RING_F_EVENT_IDX`): each side writes
the index at which it next wants to hear from the other, in the word past each ring that this edition
leaves unused (`P:620`). A driver could then say "interrupt me after the eighth answer", and a busy
device would never need its flag at all. The `device.*` counts (`L:225`) are the place to measure
whether it would pay: try it on the block device with a latency (`L:222`). :*/
