/*L:200 The virtqueue engine: trusting nothing the Guest hands over.

Every device in this chapter works the same way: the Guest's driver puts a request in a ring (`P:620`)
and notifies, and the device takes the request out, does it, and gives the buffers back. The taking
out is where a Launcher gets hurt. A ring is bytes in guest memory that the Guest can scribble on at
any moment, so every number in it is a claim to be checked, not a fact: the head of a chain, each
`next` link, each buffer's address and length, the available index itself. lguest's Launcher checked
them in `get_vq_desc()` and called `bad_driver()` on the first lie; ours does the same in one type,
`Virtqueue`, which all three devices share, so that there is exactly one place to get it right.

A `Virtqueue` knows where its ring is, how big it is (the Launcher chose 64 entries for every queue,
`L:190`), and two counters of its own: the next available slot it will look at, and the next used
slot it will fill. It keeps those itself instead of reading them back from the ring, because the
Guest could rewrite them; the only index it reads from the Guest is the available index, the one the
Guest owns.

What the engine refuses, each with its own reason (the tests of `L:200` provoke every one):

* an available index that jumped more than the ring's size past ours: the Guest claims more new
  requests than the ring can hold;
* a head or `next` index outside the table;
* a chain longer than its table, which can only be a loop;
* a buffer outside guest memory, or one whose address plus length wraps;
* a readable buffer after a writable one (virtio puts everything the device reads first);
* an indirect table inside an indirect table, an indirect descriptor that also says `next`, and a
  table whose length is zero, not a multiple of 16, or outside guest memory.

Each refusal throws `GuestViolation`, the Host's own "kill this Guest" error (`H:032`); the device bus
catches it and kills the Guest with the reason (`L:215`). The Launcher and the Host go on. */

import Host
import LguestABI
import Machine

/// One buffer of a request: `length` bytes at `address`, already checked to lie wholly inside guest
/// memory without wrapping.
public struct GuestBuffer: Hashable, Sendable {
    /// The buffer's first byte.
    public let address: GuestPhysicalAddress
    /// Its length in bytes.
    public let length: UInt32
}

/// One request taken from the available ring: the head the device gives back when it is done, and
/// the buffers in order, those the device reads before those it writes.
public struct DescriptorChain: Hashable, Sendable {
    /// The chain's first descriptor, which goes into the used ring.
    public let head: UInt16
    /// The buffers the device reads, in order.
    public var readable: [GuestBuffer] = []
    /// The buffers the device writes, in order.
    public var writable: [GuestBuffer] = []

    // The sums cannot overflow: a chain holds at most a ring's 64 buffers plus one indirect table's,
    // and a table lies in guest memory (under 1 GiB, `Host.makeGuest`), so fewer than 2^26 buffers of
    // under 2^32 bytes each.
    /// The total length of the readable buffers.
    public var readableLength: Int { readable.reduce(0) { $0 + Int($1.length) } }
    /// The total length of the writable buffers.
    public var writableLength: Int { writable.reduce(0) { $0 + Int($1.length) } }
}

/// One virtqueue: a ring of `size` entries at `ring` in a Guest's memory, and the device's place in it.
public final class Virtqueue {
    /// The Guest's memory, through which every access goes.
    public let memory: GuestMemory
    /// The ring's first byte (its descriptor table).
    public let ring: GuestPhysicalAddress
    /// Where each part of the ring lies.
    public let layout: VirtqueueLayout
    /// The available-ring slot the device will look at next, counting from 0 and wrapping at 2^16.
    public private(set) var lastAvailable: UInt16 = 0
    /// The used-ring slot the device will fill next, counting the same way.
    public private(set) var nextUsed: UInt16 = 0

    /// A queue over the ring at `ring`; the caller has checked that the ring lies inside `memory`
    /// (`Virtqueue.check`). `layout` is the Launcher's own choice, never the Guest's.
    public init(memory: GuestMemory, ring: GuestPhysicalAddress, layout: VirtqueueLayout) {
        self.memory = memory
        self.ring = ring
        self.layout = layout
    }

    /// The address of byte `offset` of the ring; the ring was checked to fit, so this cannot wrap.
    func at(_ offset: Int) -> GuestPhysicalAddress { ring.advanced(by: UInt32(offset)) }
    /*:*/

    /*L:201 Where a ring may be.

    Before a queue goes live the Launcher checks its ring as a whole: every byte of it (`byteCount`, the
    table, both rings and the used ring's page alignment) must be inside guest memory, and none of it
    may overlap the device page, which the Launcher owns. A Guest that put a ring over the device
    descriptors would have the device write its used entries over its own configuration, and nothing
    good can come of that. The check is the usual pair: the end, computed in 64 bits so that it cannot
    wrap, against the limit.

    **Exercise** (easy; read first L:200): check a ring as a whole before it goes live: its end must
    not pass the end of guest memory, and it must not overlap the device page. */

    /// Checks that a ring of `layout` at page frame `pageFrame` lies inside `memory` and outside
    /// `forbidden`; returns its address, or throws the reason.
    public static func check(pageFrame: UInt32, layout: VirtqueueLayout, memory: GuestMemory,
                             forbidden: Range<UInt64>) throws(GuestViolation) -> GuestPhysicalAddress {
        let start = UInt64(pageFrame) << UInt64(pageShift)
        let end = start + UInt64(layout.byteCount)
        // exercise L:201 {
        guard end <= memory.byteCount else {
            throw GuestViolation("virtqueue: ring at page frame \(pageFrame) outside guest memory")
        }
        guard !(start..<end).overlaps(forbidden) else {
            throw GuestViolation("virtqueue: ring at page frame \(pageFrame) overlaps the device page")
        }
        // exercise L:201 } stub: ExerciseStub.unfinished("L:201")
        // start < end <= the guest's byte count, under 1 GiB: the conversion cannot trap.
        return GuestPhysicalAddress(UInt32(start))
    }
}
/*:*/

/*L:202 How many requests are waiting.

The available index is the Guest's: it counts every chain the driver has ever offered, wrapping at
2^16, and we count every chain we have taken. The difference, in wrapping 16-bit arithmetic, is how
many are waiting. It can never honestly exceed the ring's size, because the ring has only that many
slots; a Guest that claims more is either confused or probing, and dies.

**Exercise** (easy; read first L:201): kill a Guest whose available index claims more waiting chains
than the ring has slots. */

extension Virtqueue {
    /// The number of chains waiting in the available ring, or a violation when the Guest's index is
    /// more than a ring ahead of ours.
    public func waitingCount() throws(GuestViolation) -> Int {
        let available = try memory.load16(at(layout.availableIndexOffset))
        let waiting = Int(available &- lastAvailable)
        // exercise L:202 {
        guard waiting <= layout.size else {
            throw GuestViolation("virtqueue: available index \(available) jumped \(waiting) past \(lastAvailable)")
        }
        // exercise L:202 } stub: ExerciseStub.unfinished("L:202")
        return waiting
    }

    /// Whether the driver wants an interrupt when buffers are used: it has not set `availableNoInterrupt`.
    public func interruptWanted() throws(GuestViolation) -> Bool {
        try memory.load16(at(layout.availableOffset)) & availableNoInterrupt == 0
    }

    /// Sets or clears `usedNoNotify`, the hint that the device is busy and needs no notification.
    public func setNoNotify(_ busy: Bool) throws(GuestViolation) {
        try memory.store16(busy ? usedNoNotify : 0, at: at(layout.usedOffset))
    }
}
/*:*/

/*L:203 Taking the next chain.

`nextChain()` takes the head from the next available slot and walks its chain. The walk keeps a count
of the descriptors it has visited: a chain can visit each descriptor of its table at most once, so a
count past the table's size means the `next` links go round in a circle, and the Guest dies rather
than keep us walking for ever. (lguest's check was the same counter; it is the cheapest loop detector
there is, since it needs no memory of where we have been.)

Each descriptor is copied out of guest memory once, into a `VirtqueueDescriptor`, before anything is
decided from it: a Guest that rewrites the descriptor while we look at it changes nothing we have
already checked.

**Exercise** (medium; read first L:202): stop a chain whose `next` links go round in a circle: count
the descriptors the walk visits and kill the Guest once the count passes the table's size. */

extension Virtqueue {
    /// Takes the next available chain and checks all of it; nil when none is waiting.
    public func nextChain() throws(GuestViolation) -> DescriptorChain? {
        guard try waitingCount() > 0 else { return nil }
        let slot = Int(lastAvailable) % layout.size
        let head = try memory.load16(at(layout.availableSlotOffset(slot)))
        guard Int(head) < layout.size else {
            throw GuestViolation("virtqueue: head \(head) outside a ring of \(layout.size)")
        }
        lastAvailable &+= 1
        var chain = DescriptorChain(head: head)
        try walk(from: head, table: ring, count: layout.size, indirect: false, into: &chain)
        return chain
    }

    /// Walks the chain starting at `index` of the `count`-entry table at `table`, adding its buffers
    /// to `chain`. `indirect` says the table is itself an indirect table.
    private func walk(from index: UInt16, table: GuestPhysicalAddress, count: Int, indirect: Bool,
                      into chain: inout DescriptorChain) throws(GuestViolation) {
        var index = index
        var visited = 0
        while true {
            // exercise L:203 {
            visited += 1
            guard visited <= count else {
                throw GuestViolation("virtqueue: chain from head \(chain.head) loops (longer than \(count))")
            }
            // exercise L:203 } stub: throw GuestViolation(ExerciseStub.reason("L:203"))
            let descriptor = try load(index, table: table)
            if descriptor.flags.contains(.indirect) {
                try followIndirect(descriptor, alreadyIndirect: indirect, into: &chain)
                return
            }
            try append(descriptor, to: &chain)
            guard descriptor.flags.contains(.next) else { return }
            guard Int(descriptor.next) < count else {
                throw GuestViolation("virtqueue: next \(descriptor.next) outside a table of \(count)")
            }
            index = descriptor.next
        }
    }

    /// Copies descriptor `index` of the table at `table` out of guest memory.
    private func load(_ index: UInt16, table: GuestPhysicalAddress) throws(GuestViolation) -> VirtqueueDescriptor {
        let address = table.advanced(by: UInt32(index) * UInt32(VirtqueueDescriptor.size))
        let bytes = try memory.copyOut(from: address, count: VirtqueueDescriptor.size)
        guard let descriptor = VirtqueueDescriptor(bytes: bytes) else {
            preconditionFailure("virtqueue: copyOut returned short")
        }
        return descriptor
    }
}
/*:*/

/*L:204 Checking one buffer.

A buffer is the one place where the Guest hands the device a raw address and a length, and the device
will read or write that many bytes there, so this is the check that matters most. The address is a
64-bit field, the length a 32-bit one; the end is their sum. We refuse a sum that overflows 64 bits (a
wrap, the classic trick of a huge address and a length that brings it round to a small number), and
any end past the Guest's memory. Only then does the buffer become a `GuestBuffer`, a type that says
"checked".

The order rule comes here too: once a chain has had a buffer the device writes, a buffer it reads
is out of place. A driver that mixed them would have the device read a reply buffer as if it were
part of the request.

**Exercise** (medium; read first L:203, H:032): write `checkedBuffer()`: refuse a buffer whose end
overflows 64 bits or passes the end of guest memory, and return the checked `GuestBuffer` otherwise. */

extension Virtqueue {
    /// Checks `descriptor`'s buffer and adds it to `chain` on the right side.
    private func append(_ descriptor: VirtqueueDescriptor, to chain: inout DescriptorChain) throws(GuestViolation) {
        let buffer = try checkedBuffer(address: descriptor.address, length: descriptor.length)
        if descriptor.flags.contains(.write) {
            chain.writable.append(buffer)
        } else {
            guard chain.writable.isEmpty else {
                throw GuestViolation("virtqueue: readable buffer after a writable one in chain \(chain.head)")
            }
            chain.readable.append(buffer)
        }
    }

    /// The buffer of `length` bytes at `address`, or a violation when it wraps or leaves guest memory.
    func checkedBuffer(address: UInt64, length: UInt32) throws(GuestViolation) -> GuestBuffer {
        // exercise L:204 {
        let (end, wraps) = address.addingReportingOverflow(UInt64(length))
        guard !wraps else {
            throw GuestViolation("virtqueue: buffer \(hex64(address)) length \(length) wraps")
        }
        guard end <= memory.byteCount else {
            throw GuestViolation("virtqueue: buffer \(hex64(address)) length \(length) outside guest memory")
        }
        // Below the limit, which is below 4 GiB: the address fits in 32 bits.
        return GuestBuffer(address: GuestPhysicalAddress(UInt32(address)), length: length)
        // exercise L:204 } stub: throw GuestViolation(ExerciseStub.reason("L:204"))
    }
}

/// `value` as 0x followed by hex digits, for messages.
func hex64(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
/*:*/

/*L:205 Indirect tables, by lguest's rules.

An indirect descriptor points at a table of descriptors elsewhere in guest memory, and the chain
continues there, from entry 0. It lets a driver hand over a request of many buffers while using one
slot of the ring. lguest's rules for it, which we keep:

* it ends the chain in the ring: an indirect descriptor may not also have `next`, since where would the
  chain go after the table?
* no indirect inside an indirect table: one level only, so a walk cannot recurse without bound;
* the table's length is a whole number of descriptors, at least one, and the table lies inside guest
  memory (the same check as any buffer: it *is* a buffer, one the device reads).

Inside the table, `next` indices are checked against the table's own size, and the loop counter starts
again at the table's size.

**Exercise** (medium; read first L:203, L:204): follow an indirect descriptor by lguest's three rules
(not inside another indirect table, never with `next`, a length that is a whole number of descriptors
and a checked buffer), then walk the table from entry 0. */

extension Virtqueue {
    /// Continues `chain` in the indirect table that `descriptor` points at.
    private func followIndirect(_ descriptor: VirtqueueDescriptor, alreadyIndirect: Bool,
                                into chain: inout DescriptorChain) throws(GuestViolation) {
        // exercise L:205 {
        guard !alreadyIndirect else {
            throw GuestViolation("virtqueue: indirect descriptor inside an indirect table in chain \(chain.head)")
        }
        guard !descriptor.flags.contains(.next) else {
            throw GuestViolation("virtqueue: indirect descriptor with next in chain \(chain.head)")
        }
        let length = Int(descriptor.length)
        guard length > 0, length % VirtqueueDescriptor.size == 0 else {
            throw GuestViolation("virtqueue: indirect table length \(length) is not a multiple of \(VirtqueueDescriptor.size)")
        }
        let table = try checkedBuffer(address: descriptor.address, length: descriptor.length)
        try walk(from: 0, table: table.address, count: length / VirtqueueDescriptor.size, indirect: true, into: &chain)
        // exercise L:205 } stub: throw GuestViolation(ExerciseStub.reason("L:205"))
    }
}
/*:*/

/*L:206 Giving buffers back.

When the device has finished with a chain it writes an element into the used ring, the chain's head and
how many bytes it wrote into the chain's writable buffers, and only then advances the used index. The
order matters: a driver that sees the new index must find the element already there. (On real
hardware a write barrier goes between the two; here each store is complete before the next begins.)

Reading and writing the buffers themselves is also the engine's job, through the same checked memory:
`gather` copies out the readable bytes (up to a limit the device chooses, since a Guest can point many
buffers at the same page), `scatter` fills the writable buffers in order.

**Exercise** (easy; read first L:200, D:146): give a chain back: write its head and length into the
next used element, and only then advance the used index. */

extension Virtqueue {
    /// Puts `chain` in the used ring with `length` bytes written, then advances the used index.
    public func addUsed(_ chain: DescriptorChain, length: UInt32) throws(GuestViolation) {
        // exercise L:206 {
        let slot = Int(nextUsed) % layout.size
        let element = at(layout.usedSlotOffset(slot))
        try memory.store32(UInt32(chain.head), at: element)
        try memory.store32(length, at: element.advanced(by: 4))
        nextUsed &+= 1
        try memory.store16(nextUsed, at: at(layout.usedIndexOffset))
        // exercise L:206 } stub: throw GuestViolation(ExerciseStub.reason("L:206"))
    }
}

extension DescriptorChain {
    /// The chain's readable bytes in order, at most `limit` of them (the buffers may overlap, so
    /// their total is no measure of what the Guest really has).
    public func gather(from memory: GuestMemory, upTo limit: Int) throws(GuestViolation) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(readableLength, limit))
        for buffer in readable where bytes.count < limit {
            bytes += try memory.copyOut(from: buffer.address, count: min(Int(buffer.length), limit - bytes.count))
        }
        return bytes
    }

    /// Writes `bytes` into `buffers` in order, as far as they reach; returns how many were written.
    public static func scatter(_ bytes: some Collection<UInt8>, into buffers: some Sequence<GuestBuffer>,
                               memory: GuestMemory) throws(GuestViolation) -> Int {
        var rest = bytes[...]
        for buffer in buffers where !rest.isEmpty {
            let piece = rest.prefix(Int(buffer.length))
            try memory.copyIn(Array(piece), at: buffer.address)
            rest = rest.dropFirst(piece.count)
        }
        return bytes.count - rest.count
    }
}
/*:*/
