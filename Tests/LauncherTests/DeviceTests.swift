// The three devices (L:192-L:211), status changes (L:218) and the two hints (L:217), each against a
// live queue in a real Guest's memory.

import Foundation
@testable import Host
@testable import Launcher
import LguestABI
import Machine
import Testing

/// A Guest with one device live on ring 0 (and ring 1 when it has two queues), served directly
/// through the bus, outside any run.
private struct LiveDevice {
    let bed = DeviceTestBed()
    let guest: Guest
    let bus: DeviceBus
    let ring: RingBuilder

    init(_ service: any DeviceService, output: ConsoleOutput = ConsoleOutput()) throws {
        guest = try bed.makeGuest()
        bus = try bed.attach([service], to: guest, output: output)
        ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
        let rings = (0..<service.queueCount).map(DeviceTestBed.ring)
        try DeviceTestBed.goLive(bus, bus.devices[0], rings: rings, guest: guest)
    }

    var device: VirtioDevice { bus.devices[0] }
    var memory: GuestMemory { guest.memory }

    /// The ring builder of queue `index`.
    func ring(_ index: Int) -> RingBuilder { RingBuilder(memory: memory, ring: DeviceTestBed.ring(index)) }

    /// Offers the chain at descriptor `head` of queue `queue` and kicks it.
    func kick(_ head: UInt16, queue: Int = 0) throws {
        try ring(queue).offer(head)
        bus.notify(guest, DeviceTestBed.ring(queue))
    }
}

// MARK: The block device

/// A block device on `disk`, and a way to send it one request of `type` at `sector`.
private struct Disk {
    let live: LiveDevice
    static let header = DeviceTestBed.buffer(0)
    static let data = DeviceTestBed.buffer(1)
    static let status = DeviceTestBed.buffer(20)

    init(_ disk: TemporaryDisk, readOnly: Bool = false) throws {
        live = try LiveDevice(BlockDevice(image: try DiskImage(DiskOptions(path: disk.path, readOnly: readOnly))))
    }

    /// Sends a request; `data` is written to the data buffer for a write; `reply` bytes of writable
    /// data follow for a read. Returns the status byte and the used length.
    @discardableResult
    func request(_ type: UInt32, sector: UInt64, data: [UInt8] = [], reply: UInt32 = 0) throws -> (status: UInt8, used: UInt32) {
        let memory = live.memory
        try memory.copyIn(TinyProgram.le32(type) + TinyProgram.le32(0) + TinyProgram.le32(UInt32(truncatingIfNeeded: sector))
                          + TinyProgram.le32(UInt32(truncatingIfNeeded: sector >> 32)), at: Self.header)
        try memory.copyIn(data, at: Self.data)
        try memory.store8(0xEE, at: Self.status)
        var buffers: [(GuestPhysicalAddress, UInt32, VirtqueueDescriptor.Flags)] = [(Self.header, 16, [])]
        if !data.isEmpty { buffers.append((Self.data, UInt32(data.count), [])) }
        if reply > 0 { buffers.append((Self.data, reply, .write)) }
        buffers.append((Self.status, 1, .write))
        try live.ring.chain(at: 0, buffers)
        let before = try live.ring.usedIndex
        try live.kick(0)
        #expect(try live.ring.usedIndex == before &+ 1)
        return (try memory.load8(Self.status), try live.ring.used(Int(before) % 64).length)
    }
}

@Test func l210_aReadFillsTheBufferFromTheFile() throws {
    let file = try TemporaryDisk(sectors: 4)
    let disk = try Disk(file)
    let result = try disk.request(BlockRequestType.read.rawValue, sector: 2, reply: 1024)
    #expect(result == (status: 0, used: 1025))
    #expect(try disk.live.memory.copyOut(from: Disk.data, count: 1024) == [UInt8](repeating: 2, count: 512) + [UInt8](repeating: 3, count: 512))
    #expect(disk.live.device.statistics.bytes == 1024)
}

@Test func l210_aWriteGoesToTheFileAtOnceAndTheFileHoldsExactlyIt() throws {
    let file = try TemporaryDisk(sectors: 4)
    let disk = try Disk(file)
    let sector = [UInt8]((0..<512).map { UInt8(truncatingIfNeeded: $0 * 7) })
    #expect(try disk.request(BlockRequestType.write.rawValue, sector: 1, data: sector) == (status: 0, used: 1))
    #expect(try disk.request(BlockRequestType.flush.rawValue, sector: 0) == (status: 0, used: 1))
    var expected = try TemporaryDisk(sectors: 4).bytes
    expected.replaceSubrange(512..<1024, with: sector)
    #expect(try file.bytes == expected, "written through before the device even answered")
}

@Test func l210_aRequestPastTheEndIsAnIOErrorAndTheGuestLives() throws {
    let file = try TemporaryDisk(sectors: 4)
    let disk = try Disk(file)
    #expect(try disk.request(BlockRequestType.read.rawValue, sector: 3, reply: 1024).status == BlockRequestStatus.ioError.rawValue)
    #expect(try disk.request(BlockRequestType.write.rawValue, sector: 4, data: [1]).status == BlockRequestStatus.ioError.rawValue)
    #expect(try disk.request(BlockRequestType.read.rawValue, sector: UInt64.max, reply: 512).status == BlockRequestStatus.ioError.rawValue,
            "a sector number whose byte offset overflows")
    #expect(disk.live.guest.isAlive)
    #expect(try file.bytes == TemporaryDisk(sectors: 4).bytes)
}

@Test func l210_aWriteToAReadOnlyDiskIsAnIOErrorAndTheFileIsUnchanged() throws {
    let file = try TemporaryDisk(sectors: 2)
    let disk = try Disk(file, readOnly: true)
    #expect(try disk.request(BlockRequestType.write.rawValue, sector: 0, data: [9, 9, 9]).status == BlockRequestStatus.ioError.rawValue)
    #expect(try disk.request(BlockRequestType.read.rawValue, sector: 1, reply: 512).status == 0)
    #expect(disk.live.guest.isAlive)
    #expect(try file.bytes == TemporaryDisk(sectors: 2).bytes)
}

@Test func l210_getIDNamesTheDiskAndAnUnknownTypeIsUnsupported() throws {
    let disk = try Disk(try TemporaryDisk(sectors: 1))
    #expect(try disk.request(BlockRequestType.getID.rawValue, sector: 0, reply: 20) == (status: 0, used: 21))
    #expect(try disk.live.memory.copyOut(from: Disk.data, count: 17) == Array("lguest-swift-disk".utf8))
    #expect(try disk.request(99, sector: 0).status == BlockRequestStatus.unsupported.rawValue)
    #expect(disk.live.guest.isAlive)
}

@Test(arguments: [
    ([(Disk.header, 8, [])] as [(GuestPhysicalAddress, UInt32, VirtqueueDescriptor.Flags)], 0,
     "block: request 0 has no readable 16-byte header"),
    ([(Disk.header, 16, .write), (Disk.status, 1, .write)], 0, "block: request 0 has no readable 16-byte header"),
    ([(Disk.header, 16, [])], 0, "block: request 0 does not end in a 1-byte writable status"),
    ([(Disk.header, 16, []), (Disk.status, 2, .write)], 0, "block: request 0 does not end in a 1-byte writable status"),
    ([(Disk.header, 16, []), (Disk.data, 512, []), (Disk.status, 1, .write)], 0, "block: read request 0 carries readable data"),
    ([(Disk.header, 16, []), (Disk.data, 512, .write), (Disk.status, 1, .write)], 1, "block: write request 0 carries writable data"),
    ([(Disk.header, 16, []), (Disk.data, 4, []), (Disk.status, 1, .write)], 4, "block: flush request 0 carries readable data"),
] as [([(GuestPhysicalAddress, UInt32, VirtqueueDescriptor.Flags)], UInt32, String)])
func l212_aMalformedRequestKillsTheGuest(buffers: [(GuestPhysicalAddress, UInt32, VirtqueueDescriptor.Flags)],
                                         type: UInt32, reason: String) throws {
    let file = try TemporaryDisk(sectors: 2)
    let disk = try Disk(file)
    try disk.live.memory.copyIn(TinyProgram.le32(type) + [UInt8](repeating: 0, count: 12), at: Disk.header)
    try disk.live.ring.chain(at: 0, buffers)
    try disk.live.kick(0)
    #expect(disk.live.guest.exit == .killed(reason))
    #expect(try disk.live.bed.runHealthyGuest() == .poweredOff("done"))
    #expect(try file.bytes == TemporaryDisk(sectors: 2).bytes)
}

// MARK: The console

@Test func l196_inputFillsEachBufferThenEndOfFileForEveryOneAfter() throws {
    let live = try LiveDevice(ConsoleDevice(input: ConsoleInput(.bytes(Array("hello, world".utf8))), output: ConsoleOutput()))
    let receive = live.ring(ConsoleQueue.receive)
    try receive.chain(at: 0, [(DeviceTestBed.buffer(0), 8, .write)])
    try receive.chain(at: 1, [(DeviceTestBed.buffer(1), 8, .write)])
    try receive.chain(at: 2, [(DeviceTestBed.buffer(2), 8, .write)])
    try receive.chain(at: 3, [(DeviceTestBed.buffer(3), 8, .write)])
    try receive.offer(0, 1)
    live.bus.notify(live.guest, DeviceTestBed.ring(ConsoleQueue.receive))
    try live.kick(2, queue: ConsoleQueue.receive)
    try live.kick(3, queue: ConsoleQueue.receive)
    #expect(try receive.used(0) == (head: 0, length: 8))
    #expect(try receive.used(1) == (head: 1, length: 4))
    #expect(try receive.used(2) == (head: 2, length: 0), "end of file")
    #expect(try receive.used(3) == (head: 3, length: 0), "and again")
    #expect(try live.memory.copyOut(from: DeviceTestBed.buffer(0), count: 8) == Array("hello, w".utf8))
    #expect(try live.memory.copyOut(from: DeviceTestBed.buffer(1), count: 4) == Array("orld".utf8))
}

@Test func l196_outputGoesWhereTheEarlyConsoleGoes() throws {
    var echoed = ""
    let output = ConsoleOutput(echo: { echoed += $0 })
    let live = try LiveDevice(ConsoleDevice(input: ConsoleInput(.bytes([])), output: output), output: output)
    try live.memory.copyIn(Array("early\0".utf8), at: DeviceTestBed.buffer(5))
    live.bus.notify(live.guest, DeviceTestBed.buffer(5))
    let text = Array(" and caf\u{E9}\n".utf8)
    try live.memory.copyIn(text, at: DeviceTestBed.buffer(0))
    // The é is split between two buffers: nobody sees half of it.
    try live.ring(ConsoleQueue.transmit).chain(at: 0, [(DeviceTestBed.buffer(0), 9, []), (DeviceTestBed.buffer(0).advanced(by: 9), 2, [])])
    try live.kick(0, queue: ConsoleQueue.transmit)
    #expect(output.text == "early and caf\u{E9}\n" && echoed == output.text)
    #expect(try live.ring(ConsoleQueue.transmit).used(0) == (head: 0, length: 0))
    #expect(live.device.statistics.bytes == 11)
}

@Test func l192_anUnfinishedCharacterWaitsForItsRest() {
    var pieces: [String] = []
    let output = ConsoleOutput(echo: { pieces.append($0) })
    let euro = Array("\u{20AC}".utf8)
    output.write([0x41] + euro[0..<1])
    output.write(Array(euro[1..<2]))
    output.write(Array(euro[2...]) + [0x42])
    #expect(pieces == ["A", "\u{20AC}B"])
    #expect(output.text == "A\u{20AC}B")
}

@Test(arguments: [(ConsoleQueue.receive, [] as VirtqueueDescriptor.Flags, "console: receive buffer 0 is readable"),
                  (ConsoleQueue.transmit, VirtqueueDescriptor.Flags.write, "console: transmit buffer 0 is writable")])
func l196_aBufferTheWrongWayRoundKills(queue: Int, flags: VirtqueueDescriptor.Flags, reason: String) throws {
    let live = try LiveDevice(ConsoleDevice(input: ConsoleInput(.bytes([1])), output: ConsoleOutput()))
    try live.ring(queue).chain(at: 0, [(DeviceTestBed.buffer(0), 4, flags)])
    try live.kick(0, queue: queue)
    #expect(live.guest.exit == .killed(reason))
    #expect(try live.bed.runHealthyGuest() == .poweredOff("done"))
}

// MARK: The rng

/// The bytes an rng device seeded with `seed` puts in two requests of 40 and 24 bytes.
private func rngBytes(seed: UInt64) throws -> [UInt8] {
    let live = try LiveDevice(RandomDevice(seed: seed))
    try live.ring.chain(at: 0, [(DeviceTestBed.buffer(0), 40, .write)])
    try live.ring.chain(at: 1, [(DeviceTestBed.buffer(1), 24, .write)])
    try live.kick(0)
    try live.kick(1)
    return try live.memory.copyOut(from: DeviceTestBed.buffer(0), count: 40) + live.memory.copyOut(from: DeviceTestBed.buffer(1), count: 24)
}

@Test func l199_theSameSeedGivesTheSameBytesAndAnotherSeedOthers() throws {
    let first = try rngBytes(seed: 42)
    #expect(try rngBytes(seed: 42) == first)
    #expect(try rngBytes(seed: 43) != first)
    #expect(Set(first).count > 32, "and they look like noise")
    var generator = SplitMix64(seed: 42)
    #expect(first == generator.bytes(64), "a request's bytes carry on where the last one stopped")
}

// MARK: Status changes and the hints

@Test func l218_resetForgetsTheQueuesButTheInputKeepsItsPlace() throws {
    let live = try LiveDevice(ConsoleDevice(input: ConsoleInput(.bytes(Array("abcdef".utf8))), output: ConsoleOutput()))
    let receive = live.ring(ConsoleQueue.receive)
    try receive.chain(at: 0, [(DeviceTestBed.buffer(0), 3, .write)])
    try live.kick(0, queue: ConsoleQueue.receive)
    #expect(try live.memory.copyOut(from: DeviceTestBed.buffer(0), count: 3) == Array("abc".utf8))
    // Status 0: the queues are forgotten; a "kick" of the old ring is now an early-console string.
    try live.memory.store8(0x20, at: DeviceTestBed.descriptor(live.device).advanced(by: UInt32(DeviceDescriptorHeader.status)))
    try live.memory.store8(0, at: DeviceTestBed.descriptor(live.device).advanced(by: UInt32(DeviceDescriptorHeader.status)))
    live.bus.notify(live.guest, DeviceTestBed.descriptor(live.device))
    #expect(live.device.queues == nil)
    // Fresh rings elsewhere, and the input goes on from "d".
    let fresh = RingBuilder(memory: live.memory, ring: DeviceTestBed.ring(4))
    try fresh.chain(at: 7, [(DeviceTestBed.buffer(1), 8, .write)])
    try fresh.offer(7)
    try DeviceTestBed.goLive(live.bus, live.device, rings: [DeviceTestBed.ring(4), DeviceTestBed.ring(5)], guest: live.guest)
    #expect(try fresh.used(0) == (head: 7, length: 3), "served as the queue went live")
    #expect(try live.memory.copyOut(from: DeviceTestBed.buffer(1), count: 3) == Array("def".utf8))
    #expect(live.guest.isAlive)
}

@Test func l217_noInterruptIsHonouredAndCounted() throws {
    let live = try LiveDevice(RandomDevice(seed: 5))
    try live.ring.chain(at: 0, [(DeviceTestBed.buffer(0), 4, .write)])
    try live.ring.setAvailableFlags(availableNoInterrupt)
    try live.kick(0)
    try live.kick(0)
    try live.ring.setAvailableFlags(0)
    try live.kick(0)
    #expect(live.device.statistics.interruptsSuppressed == 2)
    #expect(live.device.statistics.interrupts == 1)
    #expect(live.device.statistics.notifications == 3)
}

/// A service that, while serving its first request, does what a Guest on another processor might:
/// `meddle` with the ring the device is draining.
private final class MeddlingService: DeviceService {
    let kind = VirtioDeviceID.rng
    let name = "meddler"
    let queueCount = 1
    let offeredFeatures: [UInt8] = []
    let config: [UInt8] = []
    var meddle: ((DescriptorChain) throws -> Void)?
    var served: [DescriptorChain] = []

    func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(GuestViolation) -> ServedRequest {
        served.append(chain)
        if let meddle { self.meddle = nil; try? meddle(chain) }
        return ServedRequest(written: 0, payload: 0)
    }
}

@Test func l217_aGuestThatRewritesItsRingWhileTheDeviceDrainsIt() throws {
    let service = MeddlingService()
    let live = try LiveDevice(service)
    try live.ring.chain(at: 0, [(DeviceTestBed.buffer(0), 4, .write)])
    try live.ring.chain(at: 1, [(DeviceTestBed.buffer(1), 4, .write)])
    // While request 0 is served: the Guest sees noNotify set, rewrites descriptor 0 (already taken,
    // so it changes nothing) and adds request 1 without a kick.
    service.meddle = { _ in
        #expect(try live.ring.usedFlags == usedNoNotify)
        try live.ring.set(0, VirtqueueDescriptor(address: 0xDEAD_0000, length: 99, flags: .write))
        try live.ring.offer(1)
    }
    try live.kick(0)
    #expect(service.served.map(\.head) == [0, 1])
    #expect(service.served[0].writable == [GuestBuffer(address: DeviceTestBed.buffer(0), length: 4)])
    #expect(live.device.statistics.notificationsAvoided == 1)
    #expect(live.device.statistics.interrupts == 1, "one interrupt for the whole drain")
    #expect(try live.ring.usedIndex == 2 && live.ring.usedFlags == 0)
    // And a Guest that pushes its available index a ring ahead mid-drain dies for it.
    try live.ring.chain(at: 0, [(DeviceTestBed.buffer(0), 4, .write)])
    service.meddle = { _ in try live.ring.setAvailableIndex(try live.ring.availableIndex &+ 200) }
    try live.kick(0)
    #expect(live.guest.exit == .killed("virtqueue: available index 203 jumped 200 past 3"))
}

@Test func l187_aScratchDiskIsTheSameEveryTimeAndGoesAway() throws {
    let first = try ScratchDisk(), second = try ScratchDisk()
    let bytes = try #require(FileManager.default.contents(atPath: first.path))
    #expect(bytes == FileManager.default.contents(atPath: second.path))
    #expect(bytes.count == ScratchDisk.sectorCount * sectorSize)
    #expect(bytes.prefix(20).elementsEqual("lguest scratch disk\n".utf8))
    #expect(bytes.dropFirst(20).allSatisfy { $0 == 0 }, "and nothing but zeros after the label")
    #expect(try DiskImage(DiskOptions(path: first.path)).sectorCount == UInt64(ScratchDisk.sectorCount))
    first.remove()
    second.remove()
    #expect(!FileManager.default.fileExists(atPath: first.path))
}

// MARK: Answers after a latency (L:222, with the Host's H:045)

/// Writes a read request of one sector at descriptors `first`...`first + 2`: header at buffer page
/// `page`, data at `page + 1`, status at `page + 2`.
private func readRequest(_ ring: RingBuilder, at first: Int, sector: UInt32, page: Int) throws {
    try ring.memory.copyIn(TinyProgram.le32(BlockRequestType.read.rawValue) + TinyProgram.le32(0) + TinyProgram.le32(sector)
                           + TinyProgram.le32(0), at: DeviceTestBed.buffer(page))
    try ring.chain(at: first, [(DeviceTestBed.buffer(page), 16, []), (DeviceTestBed.buffer(page + 1), 512, .write),
                               (DeviceTestBed.buffer(page + 2), 1, .write)])
}

@Test func l222_aGuestThatHaltsForTheDiskSleepsUntilTheAnswer() throws {
    let bed = DeviceTestBed()
    let file = try TemporaryDisk(sectors: 4)
    let guest = try bed.makeGuest(notifying: [DeviceTestBed.devicePage, DeviceTestBed.ring(0)], halting: true)
    let bus = try bed.attach([BlockDevice(image: try DiskImage(DiskOptions(path: file.path)), latency: 50_000)], to: guest)
    try DeviceTestBed.prepareLive(bus.devices[0], rings: [DeviceTestBed.ring(0)], in: guest.memory)
    let ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
    try readRequest(ring, at: 0, sector: 1, page: 0)
    try ring.offer(0)
    // What the ring and the buffer hold as the Guest powers off: afterwards its memory is gone (H:034).
    var usedIndex: UInt16?, used: (head: UInt32, length: UInt32)?, data: [UInt8]?
    guest.onEvent = { _, event in
        guard case .exit = event else { return }
        usedIndex = try? ring.usedIndex
        used = try? ring.used(0)
        data = try? guest.memory.copyOut(from: DeviceTestBed.buffer(1), count: 512)
    }
    // Without the latency facility this Guest would be killed: it halts with no timer armed.
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(usedIndex == 1 && used?.head == 0 && used?.length == 513)
    #expect(data == [UInt8](repeating: 1, count: 512))
    #expect(guest.statistics.haltedNanoseconds > 40_000, "it slept until the disk answered")
    #expect(bed.host.machine.clock.nanoseconds >= 50_000)
}

@Test func l222_requestsAddedWhileTheDiskIsBusyAreTakenWithoutAKick() throws {
    let file = try TemporaryDisk(sectors: 4)
    let live = try LiveDevice(BlockDevice(image: try DiskImage(DiskOptions(path: file.path)), latency: 1000))
    let clock = live.bed.host.machine
    try readRequest(live.ring, at: 0, sector: 0, page: 0)
    try readRequest(live.ring, at: 3, sector: 2, page: 4)
    try live.kick(0)
    #expect(try live.ring.usedIndex == 0, "not answered yet")
    #expect(try live.ring.usedFlags == usedNoNotify, "busy")
    try live.ring.offer(3)  // no kick: the device said it is busy
    clock.advance(by: 1000)
    live.guest.runDueWork()
    #expect(try live.ring.usedIndex == 1 && live.ring.used(0).head == 0)
    #expect(live.device.statistics.notificationsAvoided == 1, "request 3 was taken when the first answer went back")
    #expect(try live.ring.usedFlags == usedNoNotify, "and is in flight")
    clock.advance(by: 1000)
    live.guest.runDueWork()
    #expect(try live.ring.usedIndex == 2 && live.ring.used(1).head == 3)
    #expect(try live.ring.usedFlags == 0)
    #expect(live.device.statistics.interrupts == 2 && live.device.statistics.notifications == 1)
    #expect(try live.memory.copyOut(from: DeviceTestBed.buffer(5), count: 512) == [UInt8](repeating: 2, count: 512))
    // A reset with an answer in flight: the answer is forgotten with the rings.
    try live.kick(0)
    try live.memory.store8(0, at: DeviceTestBed.descriptor(live.device).advanced(by: UInt32(DeviceDescriptorHeader.status)))
    live.bus.notify(live.guest, DeviceTestBed.descriptor(live.device))
    clock.advance(by: 1000)
    live.guest.runDueWork()
    #expect(try live.ring.usedIndex == 2)
    #expect(live.guest.isAlive)
}
