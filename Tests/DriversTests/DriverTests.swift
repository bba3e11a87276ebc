// The three drivers (D:150-D:180) against the fake Launcher of DeviceBench.swift.
@testable import Drivers
@testable import Guest
import LguestABI
import Machine
import Testing

private let file = OpenFileID(id: 1), other = OpenFileID(id: 2)

/// A bench with a console, a 16-sector disk and an rng, the bus started.
func standardBench(diskFeatures: [UInt8] = [0, 0]) throws -> (DeviceBench, LguestBus) {
    let bench = try DeviceBench([.console, .block(sectors: 16, features: diskFeatures), .rng])
    return (bench, try bench.startBus())
}

@Test func d150_eachDeviceGoesToItsDriverWhichRegistersWhatItOffers() throws {
    let (bench, bus) = try standardBench()
    #expect(bus.drivers[0] is VirtioConsole && bus.drivers[1] is VirtioBlock && bus.drivers[2] is VirtioRNG)
    #expect(bench.kernel.devices.files.keys.sorted() == ["hwrng", "vda"])
    #expect(bench.kernel.devices.console === bus.drivers[0] as? VirtioConsole)
}

@Test func d160_outputIsOneBufferAndOneKickPerWrite() throws {
    let (bench, bus) = try standardBench()
    let console = try #require(bus.drivers[0] as? VirtioConsole)
    var printed: [UInt8] = []
    bench.serve = { _, queue, buffers in
        if queue == ConsoleQueue.transmit { printed += buffers.flatMap { bench.bytes($0.address, Int($0.length)) } }
        return 0
    }
    let message = Array("a line much longer than the early console's sixteen bytes\n".utf8)
    let notifiesBefore = bench.cpu.calls.filter { $0.call == .notify }.count
    let bytesBefore = bench.kernel.statistics.consoleDriverBytes
    #expect(try console.write(bench.kernel, file: file, offset: 0, bytes: message) == .written(message.count))
    #expect(printed == message)
    #expect(bench.cpu.calls.filter { $0.call == .notify }.count == notifiesBefore + 1, "one kick, not four NOTIFYs")
    #expect(bench.interrupts.isEmpty, "the transmit queue asks for no interrupt")
    // printk goes the same way now.
    try bench.kernel.printk("from the kernel\n")
    #expect(String(decoding: printed, as: UTF8.self).hasSuffix("from the kernel\n"))
    #expect(bench.kernel.statistics.consoleDriverBytes - bytesBefore == "from the kernel\n".utf8.count)
}

@Test func d162_aWriterWaitsOnlyWhenEveryTransmitPageIsWithTheDevice() throws {
    let (bench, bus) = try standardBench()
    let console = try #require(bus.drivers[0] as? VirtioConsole)
    bench.serveAtOnce = false
    let page = [UInt8](repeating: 0x41, count: pageSize)
    for _ in 0..<VirtioConsole.transmitPages {
        #expect(try console.write(bench.kernel, file: file, offset: 0, bytes: page) == .written(pageSize))
    }
    let answer = try console.write(bench.kernel, file: file, offset: 0, bytes: [0x42])
    guard case .wait = answer else { Issue.record("expected a wait, got \(answer)"); return }
    #expect(try console.print(bench.kernel, [0x43]) == false, "printk never waits: it falls back")
    bench.serveHeldKicks()
    #expect(bench.interrupts == [1], "asked for the interrupt while a writer waited")
    #expect(try console.write(bench.kernel, file: file, offset: 0, bytes: [0x42]) == .written(1))
}

@Test func d164_inputIsPostedWhenAskedAndLengthZeroIsEndOfFile() throws {
    let (bench, bus) = try standardBench()
    let console = try #require(bus.drivers[0] as? VirtioConsole)
    var lines = [Array("hello\n".utf8), []]
    bench.serve = { _, queue, buffers in
        guard queue == ConsoleQueue.receive, let buffer = buffers.first, buffer.writable, !lines.isEmpty else { return 0 }
        let line = lines.removeFirst()
        bench.cpu.memory.replaceSubrange(Int(buffer.address)..<Int(buffer.address) + line.count, with: line)
        return UInt32(line.count)
    }
    var receiveKicks: Int { bench.kicks.filter { $0 == (0, ConsoleQueue.receive) }.count }
    #expect(receiveKicks == 0, "nothing posted until somebody reads")
    #expect(try console.read(bench.kernel, file: file, offset: 0, count: 3) == .bytes(Array("hel".utf8)))
    #expect(try console.read(bench.kernel, file: file, offset: 0, count: 100) == .bytes(Array("lo\n".utf8)))
    #expect(try console.read(bench.kernel, file: file, offset: 0, count: 100) == .bytes([]))
    #expect(try console.read(bench.kernel, file: file, offset: 0, count: 100) == .bytes([]), "end of file stays")
    #expect(receiveKicks == 2)
}

/// A disk of 16 sectors whose byte n is n % 251, served by the bench; returns the requests it saw.
func serveDisk(_ bench: DeviceBench, status: UInt8 = 0) -> () -> [[SeenBuffer]] {
    var disk = (0..<16 * sectorSize).map { UInt8($0 % 251) }
    var seen: [[SeenBuffer]] = []
    bench.serve = { device, _, buffers in
        guard device == 1, buffers.count == 3 else { return 0 }
        seen.append(buffers)
        let header = bench.bytes(buffers[0].address, 16)
        let type = header[0], sector = Int(header[8])
        let data = buffers[1], at = sector * sectorSize
        if type == 0 {
            bench.cpu.memory.replaceSubrange(Int(data.address)..<Int(data.address) + Int(data.length),
                                             with: disk[at..<at + Int(data.length)])
        } else {
            disk.replaceSubrange(at..<at + Int(data.length), with: bench.bytes(data.address, Int(data.length)))
        }
        bench.cpu.memory[Int(buffers[2].address)] = status
        return (type == 0 ? data.length : 0) + 1
    }
    return { seen }
}

@Test func d170_aRequestIsAHeaderTheDataAndAStatusByte() throws {
    let (bench, bus) = try standardBench()
    let disk = try #require(bus.drivers[1] as? VirtioBlock)
    let seen = serveDisk(bench)
    #expect(disk.size == 16 * 512)
    // Ten bytes from inside sector 2.
    #expect(try disk.read(bench.kernel, file: file, offset: 1024 + 100, count: 10) == .bytes((1124..<1134).map { UInt8($0 % 251) }))
    let request = try #require(seen().first)
    #expect(request.map(\.writable) == [false, true, true])
    #expect(request.map(\.length) == [16, 512, 1])
    #expect(bench.bytes(request[0].address, 16) == [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])
    // A write of two whole sectors, and reading it back.
    let data = [UInt8](repeating: 0x5A, count: 1024)
    #expect(try disk.write(bench.kernel, file: file, offset: 512, bytes: data) == .written(1024))
    #expect(seen().last?.map(\.writable) == [false, false, true])
    #expect(try disk.read(bench.kernel, file: file, offset: 512, count: 1024) == .bytes(data))
}

@Test func d172_whatADiskRefuses() throws {
    let (bench, bus) = try standardBench()
    let disk = try #require(bus.drivers[1] as? VirtioBlock)
    _ = serveDisk(bench)
    #expect(try disk.write(bench.kernel, file: file, offset: 100, bytes: [1]) == .failed(.invalidArgument))
    #expect(try disk.write(bench.kernel, file: file, offset: 16 * 512, bytes: [UInt8](repeating: 0, count: 512)) == .failed(.noSpace))
    #expect(try disk.read(bench.kernel, file: file, offset: 16 * 512, count: 1) == .bytes([]))
    #expect(try disk.read(bench.kernel, file: file, offset: 16 * 512 - 4, count: 100) == .bytes((8188..<8192).map { UInt8($0 % 251) }))
    #expect(disk.refusal(readable: true, writable: true) == nil)
    let failing = try DeviceBench([.console, .block(sectors: 16), .rng])
    let broken = try #require(try failing.startBus().drivers[1] as? VirtioBlock)
    _ = serveDisk(failing, status: BlockRequestStatus.ioError.rawValue)
    let failed = try broken.read(failing.kernel, file: file, offset: 0, count: 512)
    #expect(failed == .failed(.ioError))
}

@Test func d170_aReadOnlyDiskCannotBeOpenedForWriting() throws {
    let (_, bus) = try standardBench(diskFeatures: [0x20, 0])
    let disk = try #require(bus.drivers[1] as? VirtioBlock)
    #expect(disk.refusal(readable: true, writable: false) == nil)
    #expect(disk.refusal(readable: true, writable: true) == .readOnly)
}

@Test func d174_aSlowDiskMakesCallersWaitAndKeepsEachAnswerForItsCaller() throws {
    let (bench, bus) = try standardBench()
    let disk = try #require(bus.drivers[1] as? VirtioBlock)
    _ = serveDisk(bench)
    bench.serveAtOnce = false
    guard case .wait(let channel) = try disk.read(bench.kernel, file: file, offset: 0, count: 4) else {
        Issue.record("a slow disk must make the reader wait"); return
    }
    #expect(try disk.read(bench.kernel, file: other, offset: 512, count: 4) == .wait(channel), "one request at a time")
    bench.serveHeldKicks()
    #expect(try disk.read(bench.kernel, file: file, offset: 0, count: 4) == .bytes([0, 1, 2, 3]), "the retry collects")
    #expect(bench.kicks.filter { $0.0 == 1 }.count == 1)
}

@Test func d180_randomBytesComeFromTheDevice() throws {
    let (bench, bus) = try standardBench()
    let rng = try #require(bus.drivers[2] as? VirtioRNG)
    var answers: [[UInt8]] = [[7, 8], [9], []]
    bench.serve = { device, _, buffers in
        guard device == 2, !answers.isEmpty else { return 0 }
        let bytes = answers.removeFirst()
        bench.cpu.memory.replaceSubrange(Int(buffers[0].address)..<Int(buffers[0].address) + bytes.count, with: bytes)
        return UInt32(bytes.count)
    }
    let first = try rng.read(bench.kernel, file: file, offset: 0, count: 2)
    #expect(first == .bytes([7, 8]))
    #expect(try rng.read(bench.kernel, file: file, offset: 0, count: 2) == .bytes([9]))
    #expect(try rng.read(bench.kernel, file: file, offset: 0, count: 2) == .failed(.ioError), "an empty answer")
    #expect(rng.refusal(readable: false, writable: true) == .invalidArgument)
    #expect(rng.size == nil)
}

@Test func d171_disksAreNamedInOrderAndABadConfigIsRefused() throws {
    func disk(_ sectors: UInt64, irq: UInt16) -> FakeDevice {
        var device = FakeDevice.block(sectors: sectors)
        device.queues = [(8, irq)]
        return device
    }
    let short = FakeDevice(type: VirtioDeviceID.block.rawValue, queues: [(8, 6)], config: [1, 0, 0, 0])
    // The second disk's IRQ is the first's: a line is one device's, so it is refused.
    let bench = try DeviceBench([disk(8, irq: 2), disk(16, irq: 4), short, disk(.max, irq: 7), disk(8, irq: 2)])
    let bus = try bench.startBus()
    #expect((bus.drivers[0] as? VirtioBlock)?.name == "vda")
    #expect((bus.drivers[1] as? VirtioBlock)?.name == "vdb")
    #expect(bus.drivers[2] == nil && bus.drivers[3] == nil)
    #expect(bench.kernel.consoleText.contains("device 2: block: config too short for a capacity"))
    #expect(bench.kernel.consoleText.contains("device 3: block: capacity 18446744073709551615 sectors is too large"))
    #expect(try #require(bench.statuses[2]?.last) & VirtioStatus.failed.rawValue != 0)
    #expect(bench.kernel.consoleText.contains("device 4: block: queue 0: bad irq 2"))
}

@Test func d174_fsyncIsAFlushRequestOnlyWhenTheDiskHasACache() throws {
    // A disk offering flush (bit 9): fsync sends a header and a status byte, no data.
    let (bench, bus) = try standardBench(diskFeatures: [0, 0x02])
    let disk = try #require(bus.drivers[1] as? VirtioBlock)
    let seen = serveDisk(bench)
    var flushes: [[SeenBuffer]] = []
    let serveData = bench.serve
    bench.serve = { device, queue, buffers in
        guard device == 1, buffers.count == 2 else { return serveData(device, queue, buffers) }
        flushes.append(buffers)
        bench.cpu.memory[Int(buffers[1].address)] = BlockRequestStatus.ok.rawValue
        return 1
    }
    #expect(try disk.flush(bench.kernel, file: file) == .written(0))
    let flush = try #require(flushes.first)
    #expect(flush.map(\.writable) == [false, true] && flush.map(\.length) == [16, 1])
    #expect(bench.bytes(flush[0].address, 4) == [4, 0, 0, 0], "VIRTIO_BLK_T_FLUSH")
    #expect(seen().isEmpty)
    // Without the feature there is no cache, and nothing to send.
    let (plain, plainBus) = try standardBench()
    let cacheless = try #require(plainBus.drivers[1] as? VirtioBlock)
    let kicksBefore = plain.kicks.count
    #expect(try cacheless.flush(plain.kernel, file: file) == .written(0))
    #expect(plain.kicks.count == kicksBefore)
}
