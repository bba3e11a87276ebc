// Tests of Drivers sections that had none: the driver's side of a ring (D:142), the disk's interrupt
// (D:176) and the rng's read and its interrupt (D:182), on the fake Launcher of DeviceBench.swift.
@testable import Drivers
@testable import Guest
import LguestABI
import Machine
import Testing

/// A bench with one device of type 99 and one queue of `size` entries, and that queue, found.
private func bareQueue(size: UInt16) throws -> (DeviceBench, Virtqueue) {
    let bench = try DeviceBench([FakeDevice(type: 99, queues: [(size, 5)])])
    bench.serveAtOnce = false
    let device = try #require(try bench.startBus().devices.first)
    return (bench, try #require(try device.findQueue(bench.kernel, 0, callback: { _ in }).success))
}

@Test func d142_everyDescriptorIsFreeAtFirstAndEachChainHoldsItsOwnUntilUsed() throws {
    let (bench, queue) = try bareQueue(size: 8)
    #expect(queue.inFlight == 0 && !queue.isBroken && queue.brokenReason == nil)
    let one = Virtqueue.Buffer(GuestPhysicalAddress(0x1000), length: 4, deviceWrites: true)
    // Three chains of two and one of one take 7 of the 8 descriptors; a chain of two no longer fits.
    var heads: [UInt16] = []
    for _ in 0..<3 { heads.append(try #require(try queue.add(bench.kernel, [one, one]))) }
    heads.append(try #require(try queue.add(bench.kernel, [one])))
    #expect(Set(heads).count == 4 && heads.allSatisfy { $0 < 8 })
    #expect(queue.inFlight == 4)
    #expect(try queue.add(bench.kernel, [one, one]) == nil, "one descriptor left, two asked for")
    #expect(try queue.add(bench.kernel, []) == nil, "an empty chain")
    // The device uses the first chain: its two descriptors come back, so a chain of two fits again.
    bench.serve = { _, _, _ in 4 }
    bench.drain(0, 0)
    var used: [(head: UInt16, length: UInt32)] = []
    while let entry = try queue.nextUsed(bench.kernel) { used.append(entry) }
    #expect(used.map(\.head) == heads && used.allSatisfy { $0.length == 4 })
    #expect(queue.inFlight == 0 && queue.counts.buffersUsed == 4)
    #expect(try queue.add(bench.kernel, Array(repeating: one, count: 8)) != nil, "every descriptor free again")
}

@Test func d142_theAvailableIndexCountsChainsAndNamesTheirHeadsInOrder() throws {
    let (bench, queue) = try bareQueue(size: 4)
    let buffer = Virtqueue.Buffer(GuestPhysicalAddress(0x1000), length: 4, deviceWrites: false)
    let ring = queue.ring.rawValue, layout = queue.layout
    let first = try #require(try queue.add(bench.kernel, [buffer]))
    let second = try #require(try queue.add(bench.kernel, [buffer, buffer]))
    #expect(bench.read(ring + UInt32(layout.availableIndexOffset), 2) == 2)
    #expect(bench.read(ring + UInt32(layout.availableSlotOffset(0)), 2) == UInt32(first))
    #expect(bench.read(ring + UInt32(layout.availableSlotOffset(1)), 2) == UInt32(second))
}

/// A bench with the standard devices whose disk holds its requests until `serveHeldKicks()`.
private func slowDisk() throws -> (DeviceBench, VirtioBlock) {
    let (bench, bus) = try standardBench()
    let disk = try #require(bus.drivers[1] as? VirtioBlock)
    _ = serveDisk(bench)
    bench.serveAtOnce = false
    return (bench, disk)
}

private let reader = OpenFileID(id: 1), another = OpenFileID(id: 2)

@Test func d176_anAnswerForAFileClosedMeanwhileIsDropped() throws {
    let (bench, disk) = try slowDisk()
    guard case .wait = try disk.read(bench.kernel, file: reader, offset: 0, count: 4) else {
        Issue.record("a slow disk must make the reader wait"); return
    }
    disk.close(bench.kernel, file: reader)
    #expect(disk.orphans == [reader])
    bench.serveHeldKicks()
    #expect(bench.interrupts == [2])
    #expect(disk.answers.isEmpty && disk.orphans.isEmpty && disk.current == nil, "nobody is owed the answer")
    // The disk is free for the next caller, whose answer is its own.
    bench.serveAtOnce = true
    #expect(try disk.read(bench.kernel, file: another, offset: 512, count: 4) == .bytes([10, 11, 12, 13]))
}

@Test func d176_aBrokenQueueFailsTheRequestInFlightSoNoReaderSleepsForEver() throws {
    let (bench, disk) = try slowDisk()
    bench.tamper = { head, _ in (head, 4097) }
    guard case .wait = try disk.read(bench.kernel, file: reader, offset: 0, count: 4) else {
        Issue.record("a slow disk must make the reader wait"); return
    }
    bench.serveHeldKicks()
    #expect(bench.kernel.consoleText.contains("virtio: queue 0 broken: used length 4097"))
    #expect(disk.current == nil && disk.answers[reader]?.result == .failed(.ioError), "failed, not left in flight")
    #expect(try disk.read(bench.kernel, file: reader, offset: 0, count: 4) == .failed(.ioError), "the waiting read fails")
    #expect(try disk.read(bench.kernel, file: another, offset: 0, count: 4) == .failed(.ioError), "and so does every later one")
}

/// The rng of a standard bench, its device holding kicks, and a serve that fills each buffer with as
/// much of `bytes` as it holds.
private func slowRNG(_ bytes: [UInt8]) throws -> (DeviceBench, VirtioRNG) {
    let (bench, bus) = try standardBench()
    let rng = try #require(bus.drivers[2] as? VirtioRNG)
    bench.serveAtOnce = false
    bench.serve = { device, _, buffers in
        guard device == 2 else { return 0 }
        let filled = bytes.prefix(Int(buffers[0].length))
        bench.cpu.memory.replaceSubrange(Int(buffers[0].address)..<Int(buffers[0].address) + filled.count, with: filled)
        return UInt32(filled.count)
    }
    return (bench, rng)
}

@Test func d182_twoReadersPostOneBufferAndTheInterruptWakesThemToTheBytes() throws {
    let (bench, rng) = try slowRNG([1, 2, 3, 4, 5, 6])
    guard case .wait(let channel) = try rng.read(bench.kernel, file: reader, offset: 0, count: 4) else {
        Issue.record("nothing is there yet: the reader waits"); return
    }
    #expect(try rng.read(bench.kernel, file: another, offset: 0, count: 4) == .wait(channel))
    #expect(bench.kicks.filter { $0.0 == 2 }.count == 1 && rng.queue?.inFlight == 1, "posted once")
    bench.serveHeldKicks()
    #expect(bench.interrupts == [3])
    // The reads are made again from the top: the first takes the four bytes; the second finds none
    // left, and posts the page again.
    #expect(try rng.read(bench.kernel, file: reader, offset: 0, count: 4) == .bytes([1, 2, 3, 4]))
    #expect(bench.kicks.filter { $0.0 == 2 }.count == 1, "bytes on hand need no kick")
    #expect(try rng.read(bench.kernel, file: another, offset: 0, count: 4) == .wait(channel))
    #expect(bench.kicks.filter { $0.0 == 2 }.count == 2)
}

@Test func d182_anEmptyAnswerIsOneEIOThenForgotten() throws {
    let (bench, rng) = try slowRNG([])
    guard case .wait = try rng.read(bench.kernel, file: reader, offset: 0, count: 4) else {
        Issue.record("nothing is there yet: the reader waits"); return
    }
    bench.serveHeldKicks()
    #expect(try rng.read(bench.kernel, file: reader, offset: 0, count: 4) == .failed(.ioError))
    // Forgotten: the next read posts again and waits, rather than failing for ever.
    guard case .wait = try rng.read(bench.kernel, file: reader, offset: 0, count: 4) else {
        Issue.record("after the one EIO a read posts again"); return
    }
    #expect(bench.kicks.filter { $0.0 == 2 }.count == 2)
}
