// The virtqueue engine (L:200-L:206) and the bus around it (L:190, L:215-L:219), against rings
// written by hand in a real Guest's memory.

@testable import Host
@testable import Launcher
import LguestABI
import Machine
import Testing

/// Runs a Guest with one rng device whose ring 0 `breakRing` writes, NOTIFYing its descriptor (which
/// makes the queue live and drains it) and then the ring; returns the kill reason, after checking that
/// the next Guest on the same Host runs to its end.
private func refusal(rings: [GuestPhysicalAddress] = [DeviceTestBed.ring(0)],
                     notifying extra: [GuestPhysicalAddress] = [],
                     services: [any DeviceService] = [RandomDevice(seed: 1)],
                     _ breakRing: (RingBuilder) throws -> Void = { _ in }) throws -> String {
    let bed = DeviceTestBed()
    let guest = try bed.makeGuest(notifying: [DeviceTestBed.devicePage, DeviceTestBed.ring(0)] + extra)
    let bus = try bed.attach(services, to: guest)
    try DeviceTestBed.prepareLive(bus.devices[0], rings: rings, in: guest.memory)
    try breakRing(RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0)))
    let exit = bed.host.run(guest)
    #expect(try bed.runHealthyGuest() == .poweredOff("done"), "the next Guest on the same Host runs")
    guard case let .killed(reason) = exit else { return "not killed: \(exit)" }
    return reason
}

/// One writable buffer of `length` bytes at buffer page `page`.
private func writable(_ page: Int, _ length: UInt32 = 16) -> (GuestPhysicalAddress, UInt32, VirtqueueDescriptor.Flags) {
    (DeviceTestBed.buffer(page), length, .write)
}

// MARK: Good rings

@Test func l190_theDevicePageDescribesConsoleBlockAndRngInOrder() throws {
    let bed = DeviceTestBed()
    let guest = try bed.makeGuest()
    let disk = try TemporaryDisk(sectors: 8)
    let image = try DiskImage(DiskOptions(path: disk.path, readOnly: true))
    let bus = try bed.attach([ConsoleDevice(input: ConsoleInput(.bytes([])), output: ConsoleOutput()),
                              BlockDevice(image: image), RandomDevice(seed: 1)], to: guest)
    let page = try guest.memory.copyOut(from: DeviceTestBed.devicePage, count: 64)
    // Console: type 3, two queues, no features, no config; two queue configs (64 entries, IRQ 1).
    #expect(Array(page[0..<5]) == [3, 2, 0, 0, 0])
    #expect(VirtqueueConfig(bytes: page[5..<13]) == VirtqueueConfig(ringSize: 64, irq: 1, pageFrame: 0))
    #expect(VirtqueueConfig(bytes: page[13..<21]) == VirtqueueConfig(ringSize: 64, irq: 1, pageFrame: 0))
    // Block at 21: one queue, two feature bytes, eight config bytes; read-only (bit 5) and flush (bit 9).
    #expect(bus.devices[1].offset == 21)
    #expect(Array(page[21..<26]) == [2, 1, 2, 8, 0])
    #expect(VirtqueueConfig(bytes: page[26..<34]) == VirtqueueConfig(ringSize: 64, irq: 2, pageFrame: 0))
    #expect(Array(page[34..<36]) == [0x20, 0x02], "offered: readOnly and flush")
    #expect(Array(page[36..<38]) == [0, 0], "accepted: nothing yet")
    #expect(Array(page[38..<46]) == [8, 0, 0, 0, 0, 0, 0, 0], "capacity in sectors")
    // Rng at 46, IRQ 3; then a zero type ends the list.
    #expect(Array(page[46..<51]) == [4, 1, 0, 0, 0])
    #expect(VirtqueueConfig(bytes: page[51..<59]) == VirtqueueConfig(ringSize: 64, irq: 3, pageFrame: 0))
    #expect(page[59] == 0)
}

@Test func l203_aGoodChainIsTakenFilledAndGivenBack() throws {
    let bed = DeviceTestBed()
    let guest = try bed.makeGuest()
    let bus = try bed.attach([RandomDevice(seed: 1)], to: guest)
    let ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
    try DeviceTestBed.goLive(bus, bus.devices[0], rings: [DeviceTestBed.ring(0)], guest: guest)
    try ring.chain(at: 5, [writable(0, 10), writable(1, 6)])
    try ring.offer(5)
    bus.notify(guest, DeviceTestBed.ring(0))
    #expect(guest.isAlive)
    #expect(try ring.usedIndex == 1)
    #expect(try ring.used(0) == (head: 5, length: 16))
    let bytes = try guest.memory.copyOut(from: DeviceTestBed.buffer(0), count: 10)
        + guest.memory.copyOut(from: DeviceTestBed.buffer(1), count: 6)
    var generator = SplitMix64(seed: 1)
    #expect(bytes == generator.bytes(16))
    #expect(bus.devices[0].statistics.requests == 1 && bus.devices[0].statistics.bytes == 16)
    #expect(bus.devices[0].statistics.notifications == 1 && bus.devices[0].statistics.interrupts == 1)
    #expect(guest.pendingInterrupts == 1 << 1, "the device's IRQ, index + 1")
    #expect(try ring.usedFlags == 0, "noNotify is cleared once the drain is done")
}

@Test func l205_anIndirectTableCarriesTheChain() throws {
    let bed = DeviceTestBed()
    let guest = try bed.makeGuest()
    let bus = try bed.attach([RandomDevice(seed: 2)], to: guest)
    let ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
    try DeviceTestBed.goLive(bus, bus.devices[0], rings: [DeviceTestBed.ring(0)], guest: guest)
    // The table, at buffer page 9: three writable buffers chained 0 -> 2 -> 1.
    let table = RingBuilder(memory: guest.memory, ring: DeviceTestBed.buffer(9))
    try table.set(0, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(0).rawValue), length: 4, flags: [.write, .next], next: 2))
    try table.set(1, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(2).rawValue), length: 4, flags: .write))
    try table.set(2, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(1).rawValue), length: 4, flags: [.write, .next], next: 1))
    try ring.set(0, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(9).rawValue), length: 48, flags: .indirect))
    try ring.offer(0)
    let queue = try #require(bus.devices[0].queues?.first)
    let chain = try #require(try queue.nextChain())
    #expect(chain.readable.isEmpty)
    #expect(chain.writable.map(\.address) == [DeviceTestBed.buffer(0), DeviceTestBed.buffer(1), DeviceTestBed.buffer(2)])
    #expect(try queue.nextChain() == nil)
}

@Test func l206_usedEntriesWrapRoundTheRing() throws {
    let bed = DeviceTestBed()
    let guest = try bed.makeGuest()
    let bus = try bed.attach([RandomDevice(seed: 3)], to: guest)
    let ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
    try DeviceTestBed.goLive(bus, bus.devices[0], rings: [DeviceTestBed.ring(0)], guest: guest)
    try ring.chain(at: 0, [writable(0, 1)])
    // 100 requests, one at a time: the indices pass 64 and the slots wrap.
    for _ in 0..<100 {
        try ring.offer(0)
        bus.notify(guest, DeviceTestBed.ring(0))
    }
    #expect(guest.isAlive)
    #expect(try ring.usedIndex == 100)
    #expect(try ring.used(99 % 64) == (head: 0, length: 1))
    #expect(bus.devices[0].statistics.requests == 100)
}

// MARK: One test per refusal

@Test func l201_aRingOutsideGuestMemoryKills() throws {
    let reason = try refusal(rings: [GuestPhysicalAddress(0x7FFF_0000)])
    #expect(reason == "virtqueue: ring at page frame 524272 outside guest memory")
}

@Test func l201_aRingOverTheDevicePageKills() throws {
    let reason = try refusal(rings: [GuestPhysicalAddress((DeviceTestBed.memoryPages - 1) << 12)])
    #expect(reason == "virtqueue: ring at page frame 319 overlaps the device page")
}

@Test func l219_twoRingsThatOverlapKill() throws {
    let console = ConsoleDevice(input: ConsoleInput(.bytes([])), output: ConsoleOutput())
    let reason = try refusal(rings: [DeviceTestBed.ring(0), DeviceTestBed.ring(0).advanced(by: 0x1000)], services: [console])
    #expect(reason == "virtqueue: ring at page frame 33 overlaps another ring")
}

@Test func l202_anAvailableIndexThatJumpsTooFarKills() throws {
    let reason = try refusal { ring in try ring.setAvailableIndex(65) }
    #expect(reason == "virtqueue: available index 65 jumped 65 past 0")
}

@Test func l203_aHeadOutsideTheRingKills() throws {
    let reason = try refusal { ring in try ring.offer(64) }
    #expect(reason == "virtqueue: head 64 outside a ring of 64")
}

@Test func l203_aNextOutsideTheRingKills() throws {
    let reason = try refusal { ring in
        try ring.set(0, VirtqueueDescriptor(address: 0x40000, length: 4, flags: [.write, .next], next: 64))
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: next 64 outside a table of 64")
}

@Test func l203_aChainThatLoopsKills() throws {
    let reason = try refusal { ring in
        try ring.set(0, VirtqueueDescriptor(address: 0x40000, length: 4, flags: [.write, .next], next: 1))
        try ring.set(1, VirtqueueDescriptor(address: 0x40000, length: 4, flags: [.write, .next], next: 0))
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: chain from head 0 loops (longer than 64)")
}

@Test func l204_aBufferPastTheEndOfMemoryKills() throws {
    let reason = try refusal { ring in
        try ring.chain(at: 0, [(GuestPhysicalAddress(0x140FFC), 8, .write)])
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: buffer 0x140ffc length 8 outside guest memory")
}

@Test func l204_aBufferThatWrapsKills() throws {
    let reason = try refusal { ring in
        try ring.set(0, VirtqueueDescriptor(address: 0xFFFF_FFFF_FFFF_FFF0, length: 0x20, flags: .write))
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: buffer 0xfffffffffffffff0 length 32 wraps")
}

@Test func l204_aReadableBufferAfterAWritableOneKills() throws {
    let reason = try refusal { ring in
        try ring.chain(at: 0, [writable(0), (DeviceTestBed.buffer(1), 4, [])])
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: readable buffer after a writable one in chain 0")
}

@Test func l205_anIndirectTableInsideAnIndirectTableKills() throws {
    let reason = try refusal { ring in
        let table = RingBuilder(memory: ring.memory, ring: DeviceTestBed.buffer(9))
        try table.set(0, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(8).rawValue), length: 16, flags: .indirect))
        try ring.set(0, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(9).rawValue), length: 16, flags: .indirect))
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: indirect descriptor inside an indirect table in chain 0")
}

@Test func l205_anIndirectDescriptorWithNextKills() throws {
    let reason = try refusal { ring in
        try ring.set(0, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(9).rawValue), length: 16, flags: [.indirect, .next], next: 1))
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: indirect descriptor with next in chain 0")
}

@Test func l205_anIndirectTableOfAPartialDescriptorKills() throws {
    let reason = try refusal { ring in
        try ring.set(0, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(9).rawValue), length: 24, flags: .indirect))
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: indirect table length 24 is not a multiple of 16")
}

@Test func l205_anEmptyIndirectTableKills() throws {
    let reason = try refusal { ring in
        try ring.set(0, VirtqueueDescriptor(address: UInt64(DeviceTestBed.buffer(9).rawValue), length: 0, flags: .indirect))
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: indirect table length 0 is not a multiple of 16")
}

@Test func l205_anIndirectTableOutsideMemoryKills() throws {
    let reason = try refusal { ring in
        try ring.set(0, VirtqueueDescriptor(address: 0x140FF0, length: 32, flags: .indirect))
        try ring.offer(0)
    }
    #expect(reason == "virtqueue: buffer 0x140ff0 length 32 outside guest memory")
}

@Test func l215_aNotifyInsideTheDevicePageThatStartsNoDescriptorKills() throws {
    let reason = try refusal(notifying: [DeviceTestBed.devicePage.advanced(by: 1)])
    #expect(reason == "devices: notify gpa:0x00140001 is inside the device page but starts no descriptor")
}

@Test func l215_aNotifyPastGuestMemoryKills() throws {
    let reason = try refusal(notifying: [GuestPhysicalAddress(0x0200_0000)])
    #expect(reason == "devices: notify gpa:0x02000000 past guest memory")
}

@Test func l211_anRngRequestWithAReadableBufferKills() throws {
    let reason = try refusal { ring in
        try ring.chain(at: 0, [(DeviceTestBed.buffer(1), 4, [])])
        try ring.offer(0)
    }
    #expect(reason == "rng: request 0 has readable buffers")
}

// MARK: Hammering

@Test func l200_randomRingsNeverCrashTheLauncher() throws {
    let file = try TemporaryDisk(sectors: 8)
    var outcomes: [String: Int] = [:]
    for seed in 0..<60 as Range<UInt64> {
        var random = SplitMix64(seed: seed)
        func below(_ limit: UInt64) -> UInt64 { random.next() % limit }
        let bed = DeviceTestBed()
        let guest = try bed.makeGuest()
        let bus = try bed.attach([BlockDevice(image: try DiskImage(DiskOptions(path: file.path)))], to: guest)
        try DeviceTestBed.goLive(bus, bus.devices[0], rings: [DeviceTestBed.ring(0)], guest: guest)
        let ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
        // Buffers full of noise, and a table of descriptors that mostly point near them.
        try guest.memory.copyIn(random.bytes(4 * 4096), at: DeviceTestBed.buffer(0))
        for index in 0..<64 {
            let near = UInt64(DeviceTestBed.buffer(0).rawValue) + below(5 * 4096)
            let address = below(8) == 0 ? random.next() : near
            let flags = VirtqueueDescriptor.Flags(rawValue: UInt16(below(8)))
            try ring.set(index, VirtqueueDescriptor(address: address, length: UInt32(below(600)), flags: flags,
                                                    next: UInt16(below(70))))
        }
        for _ in 0..<below(4) + 1 { try ring.offer(UInt16(below(66))) }
        if below(10) == 0 { try ring.setAvailableIndex(UInt16(truncatingIfNeeded: random.next())) }
        bus.notify(guest, DeviceTestBed.ring(0))
        let outcome: String
        if case let .killed(reason) = guest.exit { outcome = String(reason.prefix { $0 != ":" }) } else { outcome = "alive" }
        outcomes[outcome, default: 0] += 1
    }
    // Every Guest either lived or died with a reason from the engine or the disk; nothing else.
    #expect(Set(outcomes.keys).isSubset(of: ["alive", "virtqueue", "block"]), "\(outcomes)")
    #expect(outcomes.count >= 2, "the noise reached more than one outcome: \(outcomes)")
    #expect(try file.bytes.count == 8 * 512)
}
