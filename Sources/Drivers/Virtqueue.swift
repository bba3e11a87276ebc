/*D:140 Finding a queue.

`findQueue()` is lguest's `lg_find_vq()`: it reads the queue's config (`D:135`), allocates the ring in
our own memory (contiguous zeroed pages: the ring's three parts sit at fixed offsets from its start,
`P:620`), writes the ring's page frame into the config for the Launcher to find, and makes sure the
device's IRQ reaches us: one handler per device, installed on the first queue's IRQ and unmasked, that
asks every queue of the device to look at its used ring. All queues of a device share the line, so the
handler cannot tell which of them the Launcher meant, and need not: looking is cheap. */

import Guest
import LguestABI
import Machine

extension LguestDevice {
    /// Set up queue `index`: check its config, allocate and publish its ring, and make sure the
    /// device's interrupt reaches `callback`.
    public func findQueue(_ kernel: GuestKernel, _ index: Int,
                          callback: @escaping (GuestKernel) throws(GuestStopped) -> Void) throws(GuestStopped) -> Result<Virtqueue, QueueSetupError> {
        guard let config = try queueConfig(kernel, index) else { return .failure(.noSuchQueue(index)) }
        guard let layout = VirtqueueLayout(size: Int(config.ringSize)) else {
            return .failure(.badRingSize(index, config.ringSize))
        }
        let irq = Int(config.irq)
        // The kernel keeps the handler, and the handler keeps the device: the IRQ outlives any bus.
        guard interruptLines.contains(irq) || kernel.requestIRQ(irq, handler: { kernel throws(GuestStopped) in
            try self.interrupt(kernel)
        }) else { return .failure(.badIRQ(index, config.irq)) }
        guard let ring = try kernel.allocateContiguousPages(layout.pageCount) else { return .failure(.outOfMemory(index)) }
        let queue = Virtqueue(index: index, layout: layout, ring: ring, irq: irq)
        queue.callback = callback
        queues[index] = queue
        try setRingFrame(kernel, index, ring)
        if interruptLines.insert(irq).inserted { try kernel.unmaskIRQ(irq) }
        return .success(queue)
    }

    /// The device's interrupt: every queue looks at its used ring.
    func interrupt(_ kernel: GuestKernel) throws(GuestStopped) {
        for index in queues.keys.sorted() {
            try queues[index]?.callback?(kernel)
        }
    }
}
/*:*/

/*D:142 The driver's side of a ring.

A `Virtqueue` keeps what the driver must know and the device must not be trusted with: which
descriptors are free, which chains the device holds (by head, with how many bytes it may write into
each), our copy of the available index and how far we have read the used ring. The order of its
writes matters more than anything else here: the Launcher must never see a slot in the available
ring before the descriptors it names are written (`D:143`). */

/// The driver's side of one virtqueue (Linux's `vring_virtqueue`).
public final class Virtqueue {
    /// One buffer of a request: where, how long, and whether the device writes it.
    public struct Buffer: Sendable {
        public var address: GuestPhysicalAddress
        public var length: UInt32
        public var deviceWrites: Bool

        public init(_ address: GuestPhysicalAddress, length: UInt32, deviceWrites: Bool) {
            self.address = address
            self.length = length
            self.deviceWrites = deviceWrites
        }
    }

    /// Counts for the figures: kicks made, kicks the device said it did not need.
    public struct Counts: Sendable, Equatable {
        public var kicks = 0
        public var kicksSkipped = 0
        public var buffersUsed = 0
    }

    /// The queue's index in its device.
    public let index: Int
    /// Where the ring's parts lie.
    public let layout: VirtqueueLayout
    /// The guest-physical address of the ring's first byte: what a kick notifies.
    public let ring: GuestPhysicalAddress
    /// The IRQ the Launcher raises for this queue.
    public let irq: Int
    /// Run by the device's interrupt handler: the driver's look at this queue's used ring.
    var callback: ((GuestKernel) throws(GuestStopped) -> Void)?

    /// Descriptors not in any chain.
    private var freeDescriptors: [UInt16]
    /// The descriptors of each chain handed to the device, by head, and how many bytes it may write.
    private var chains: [UInt16: (descriptors: [UInt16], writable: UInt32)] = [:]
    /// Our copy of the available index, and how far we have read the used ring.
    private var availableIndex: UInt16 = 0
    private var usedIndex: UInt16 = 0
    /// Why the queue was given up, once it was.
    public private(set) var brokenReason: String?
    /// Kicks made and skipped, buffers used.
    public private(set) var counts = Counts()

    init(index: Int, layout: VirtqueueLayout, ring: GuestPhysicalAddress, irq: Int) {
        self.index = index
        self.layout = layout
        self.ring = ring
        self.irq = irq
        freeDescriptors = (0..<UInt16(layout.size)).reversed()
    }

    /// How many chains the device holds.
    public var inFlight: Int { chains.count }
    /// Whether the queue was given up.
    public var isBroken: Bool { brokenReason != nil }

    /// The guest-physical address `offset` bytes into the ring.
    private func at(_ offset: Int) -> GuestPhysicalAddress { ring &+ UInt32(offset) }
}

/*:*/

/*D:143 Adding a chain.

Descriptors come off the free list, one per buffer, linked by `next`; the head goes in the available
ring's next slot, and only after that does the available index move. */

extension Virtqueue {
    /// Hand the device a chain of `buffers` (readable ones first) and return its head; nil when the
    /// ring has too few free descriptors, the chain is empty, or the queue is broken.
    public func add(_ kernel: GuestKernel, _ buffers: [Buffer]) throws(GuestStopped) -> UInt16? {
        guard !isBroken, !buffers.isEmpty, buffers.count <= freeDescriptors.count else { return nil }
        let taken = Array(freeDescriptors.suffix(buffers.count).reversed())
        freeDescriptors.removeLast(buffers.count)
        for (position, buffer) in buffers.enumerated() {
            var flags: VirtqueueDescriptor.Flags = buffer.deviceWrites ? .write : []
            let last = position == buffers.count - 1
            if !last { flags.insert(.next) }
            let descriptor = VirtqueueDescriptor(address: UInt64(buffer.address.rawValue), length: buffer.length,
                                                 flags: flags, next: last ? 0 : taken[position + 1])
            try kernel.writePhysical(at(layout.descriptorOffset(Int(taken[position]))), descriptor.bytes)
        }
        let head = taken[0]
        chains[head] = (taken, buffers.filter(\.deviceWrites).reduce(0) { $0 &+ $1.length })
        // The slot first, the index after: the Launcher must never see a slot before it is ready.
        try kernel.writePhysical16(at(layout.availableSlotOffset(Int(availableIndex) % layout.size)), head)
        availableIndex &+= 1
        try kernel.writePhysical16(at(layout.availableIndexOffset), availableIndex)
        return head
    }

}
/*:*/

/*D:144 Kicking, and not kicking.

A kick tells the Launcher: a `NOTIFY` of the ring's address. If the device has set `noNotify` in the
used ring's flags it is already draining the ring and will find our buffer anyway, so we save the world
switch, and count it. The other hint goes the other way: a driver that does not want an interrupt when
its buffers are used (the console's transmit queue, `D:162`) sets `noInterrupt` in the available ring.

Both savings are counted per device. Here is one run of `cat`, `disk`, `hwrng` and `vdread`, drawn by
running the machine as this book was woven (`W:450`): each device's `interrupts` line is what it raised,
`interrupts_suppressed` what `noInterrupt` saved, and `notifications_avoided` what `noNotify` saved.

```lguest-run --programs cat,disk,hwrng,vdread --stats | grep -e device.console.interrupts -e device.block.interrupts -e device.rng.interrupts -e notifications_avoided
```

Every interrupt saved is the console's transmit queue (`lguest-bench device_interrupts_suppressed_run`
and its neighbours in BENCHMARKS.md count the same thing over a longer run). `noNotify` saved nothing,
for two reasons worth knowing: a device without a latency serves a kick inside the `NOTIFY` that
brought it (`L:216`), so by the time the Guest looks again the device has stopped draining; and the
disk, which may have a latency (`L:222`), is driven one request at a time (`D:174`), so the driver
never has a second request to add while the disk is busy. A driver with many requests in flight would
make the flag pay (`M:050`). */

extension Virtqueue {
    /// Tell the device there is work, unless it said it is already looking.
    public func kick(_ kernel: GuestKernel) throws(GuestStopped) {
        let flags = try kernel.readPhysical16(at(layout.usedOffset))
        if flags & usedNoNotify != 0 {
            counts.kicksSkipped += 1
            return
        }
        counts.kicks += 1
        try kernel.notify(ring)
    }

    /// Ask the device not to interrupt when it uses our buffers (`true`), or to interrupt again.
    public func suppressInterrupts(_ kernel: GuestKernel, _ suppress: Bool) throws(GuestStopped) {
        try kernel.writePhysical16(at(layout.availableOffset), suppress ? availableNoInterrupt : 0)
    }

}
/*:*/

/*D:146 Hearing back: the used ring, checked.

`nextUsed()` takes the next entry of the used ring, and here the Guest must be careful even of a
friendly Launcher: the entry names a head and a length, and both are checked against what we put in.
A head out of range, or one we never handed over, or a length longer than the buffers it claims to
have filled, marks the queue *broken* (Linux's `BAD_RING`): we say so once and use it no more. The
Guest kernel runs in the host process, so a trusting subscript here would not crash a Guest; it would
crash everything.

**Exercise** (medium; read first D:140, D:143, L:206): walk the used ring: read the next used element,
check its head (a chain we handed over) and its length (no more than the chain's writable bytes), break
the queue on a bad one, and otherwise give the chain's descriptors back to the free list. */

extension Virtqueue {
    /// The next chain the device has used: its head and the bytes it wrote; nil when there is none,
    /// or when the queue is (or just became) broken.
    public func nextUsed(_ kernel: GuestKernel) throws(GuestStopped) -> (head: UInt16, length: UInt32)? {
        guard !isBroken else { return nil }
        let published = try kernel.readPhysical16(at(layout.usedIndexOffset))
        guard published != usedIndex else { return nil }
        // The device may be ahead of us by at most the ring's size.
        guard Int(published &- usedIndex) <= layout.size else {
            try breakQueue(kernel, "used index \(published) is more than a ring ahead of \(usedIndex)")
            return nil
        }
        // exercise D:146 {
        let slot = at(layout.usedSlotOffset(Int(usedIndex) % layout.size))
        let id = try kernel.readPhysical32(slot)
        let length = try kernel.readPhysical32(slot &+ 4)
        guard id < UInt32(layout.size), let chain = chains[UInt16(id)] else {
            try breakQueue(kernel, "used id \(id) is not a buffer we gave")
            return nil
        }
        guard length <= chain.writable else {
            try breakQueue(kernel, "used length \(length) exceeds the \(chain.writable) writable bytes of buffer \(id)")
            return nil
        }
        usedIndex &+= 1
        chains[UInt16(id)] = nil
        freeDescriptors += chain.descriptors.reversed()
        counts.buffersUsed += 1
        return (UInt16(id), length)
        // exercise D:146 } stub: try breakQueue(kernel, ExerciseStub.reason("D:146")); return nil
    }

    /// Give the queue up, saying why once.
    private func breakQueue(_ kernel: GuestKernel, _ reason: String) throws(GuestStopped) {
        brokenReason = reason
        try kernel.printk("virtio: queue \(index) broken: \(reason)\n")
    }
}
/*:*/
