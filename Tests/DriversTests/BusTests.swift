// The lguest bus (D:100-D:146) against the fake Launcher of DeviceBench.swift.
@testable import Drivers
@testable import Guest
import LguestABI
import Machine
import Testing

@Test func d100_eachDeviceKeepsTheLengthsTheScanRead() throws {
    let bench = try DeviceBench([.console, .block(sectors: 64)])
    let bus = try bench.startBus()
    let block = try #require(bus.devices.last)
    #expect(block.descriptor.rawValue == bench.descriptor(1))
    #expect(block.layout == FakeDevice.block(sectors: 64).layout)
    // The Launcher rewriting the lengths later changes nothing the driver believes.
    bench.cpu.memory[Int(bench.descriptor(1)) + DeviceDescriptorHeader.configLength] = 255
    #expect(try block.config(bench.kernel, offset: 0, count: 9) == nil)
}

@Test func d105_theBusMapsTheDevicePageOnlyUnderLguest() throws {
    let bench = try DeviceBench([.rng])
    _ = try bench.startBus()
    // The device page's frame went into the kernel's page table (a SET_PTE naming it).
    let entry = bench.cpu.word(linear(GuestPhysicalAddress(0x10_8000)) &+ (DeviceBench.memoryEnd >> 12) * 4)
    #expect(entry >> 12 == DeviceBench.memoryEnd >> 12 && entry & 1 == 1)
    let virtual = 0xC000_0000 + DeviceBench.memoryEnd
    #expect(bench.cpu.calls.contains { $0.call == .setPTE && $0.arguments.prefix(3) == [0x10_7000, virtual, entry] })

    let elsewhere = try DeviceBench([.rng], underLguest: false)
    let bus = try elsewhere.startBus()
    #expect(bus.devices.isEmpty && elsewhere.cpu.calls.isEmpty, "not under lguest: nothing read, nothing asked")
}

@Test func d110_theScanFindsEveryDeviceInOrderAndStopsAtTypeZero() throws {
    let bench = try DeviceBench([.console, .block(sectors: 64), .rng])
    let bus = try bench.startBus()
    #expect(bus.devices.map(\.type) == [3, 2, 4])
    #expect(bus.devices.map(\.index) == [0, 1, 2])
    #expect(bus.scanRefusal == nil)
    #expect(bench.kernel.consoleText.contains("lguest: device 1: block, vda: 64 sectors"))
    let empty = try DeviceBench([])
    #expect(try empty.startBus().devices.isEmpty)
}

/// Device pages a scan must not believe past a point.
enum BadDevicePage: CaseIterable, Sendable {
    case configRunsOffThePage, headerRunsOffThePage, noTerminator

    /// A descriptor of unknown type 99 with no queues and `features` bytes of each bitmap and
    /// `config` bytes of config, filled with 0xAA.
    static func unknown(features: UInt8, config: UInt8) -> [UInt8] {
        [99, 0, features, config, 0] + [UInt8](repeating: 0xAA, count: 2 * Int(features) + Int(config))
    }

    var page: [UInt8] {
        let big = Array(repeating: Self.unknown(features: 255, config: 255), count: 5).joined()
        switch self {
        // A console, five 770-byte descriptors (to offset 3,871), and a sixth that would end at 4,641.
        case .configRunsOffThePage: return FakeDevice.console.bytes + big + Self.unknown(features: 255, config: 255)
        // Five 770-byte descriptors and one of 246 end exactly at the page's end: no room for a type 0.
        case .headerRunsOffThePage: return Array(big) + Self.unknown(features: 0, config: 241)
        // 104-byte descriptors of type 9 all the way: the fortieth does not fit.
        case .noTerminator: return [UInt8](repeating: 9, count: 4096)
        }
    }

    var kept: Int {
        switch self {
        case .configRunsOffThePage, .headerRunsOffThePage: 6
        case .noTerminator: 39
        }
    }
}

@Test(arguments: BadDevicePage.allCases)
func d110_aDescriptorThatRunsOffThePageIsRefusedNotBelieved(_ bad: BadDevicePage) throws {
    let bench = try DeviceBench([], page: bad.page)
    let bus = try bench.startBus()
    #expect(bus.devices.count == bad.kept)
    #expect(bus.scanRefusal?.contains("runs off the device page") == true)
    #expect(bench.kernel.consoleText.contains("scan stopped"))
    #expect(bus.devices.allSatisfy { $0.descriptor.rawValue + UInt32($0.layout.size) <= DeviceBench.memoryEnd + 4096 })
}

@Test func d120_addingADeviceWalksTheStatusStepsWithANotifyEach() throws {
    let bench = try DeviceBench([.rng, FakeDevice(type: 42, queues: [])])
    _ = try bench.startBus()
    let ack = VirtioStatus.acknowledge.rawValue, driver = VirtioStatus.driver.rawValue
    let ok = VirtioStatus.featuresOK.rawValue, live = VirtioStatus.driverOK.rawValue
    #expect(bench.statuses[0] == [ack, ack | driver, ack | driver | ok, ack | driver | ok | live])
    // A device nobody drives is acknowledged and left alone.
    #expect(bench.statuses[1] == [ack])
    #expect(bench.kernel.consoleText.contains("lguest: device 1: type 42, no driver"))
}

@Test func d120_aDeviceWhoseProbeFailsIsMarkedFailed() throws {
    let bench = try DeviceBench([FakeDevice(type: VirtioDeviceID.rng.rawValue, queues: [(6, 3)])])
    let bus = try bench.startBus()
    #expect(try #require(bench.statuses[0]?.last) & VirtioStatus.failed.rawValue != 0)
    #expect(bus.drivers.isEmpty)
    #expect(bench.kernel.consoleText.contains("queue 0: bad ring size 6"))
}

@Test func d130_configReadsStayInsideTheConfig() throws {
    let bench = try DeviceBench([.block(sectors: 0x1234)])
    let bus = try bench.startBus()
    let disk = try #require(bus.devices.first)
    #expect(try disk.config(bench.kernel, offset: 0, count: 2) == [0x34, 0x12])
    #expect(try disk.config(bench.kernel, offset: 7, count: 1) == [0])
    #expect(try disk.config(bench.kernel, offset: 7, count: 2) == nil)
    #expect(try disk.config(bench.kernel, offset: -1, count: 1) == nil)
}

@Test func d130_featuresAcceptedAreOfferedAndKnown() throws {
    // Offered: read-only (5), flush (9) and bit 12, which the driver has never heard of.
    let bench = try DeviceBench([.block(sectors: 8, features: [0x20, 0x12])])
    let bus = try bench.startBus()
    let disk = try #require(bus.devices.first)
    #expect(try disk.offeredFeatures(bench.kernel) == [5, 9, 12])
    let accepted = disk.layout.acceptedFeaturesOffset
    #expect(bench.bytes(bench.descriptor(0) + UInt32(accepted), 2) == [0x20, 0x02])
    #expect((bus.drivers[0] as? VirtioBlock)?.readOnly == true)
}

@Test func d130_resetWritesZeroAndNotifies() throws {
    let bench = try DeviceBench([.rng])
    let bus = try bench.startBus()
    let rng = try #require(bus.devices.first)
    try rng.reset(bench.kernel)
    #expect(bench.statuses[0]?.last == 0)
    #expect(try rng.status(bench.kernel) == [])
    #expect(rng.queues.isEmpty)
}

@Test func d135_queueConfigsAreReadAndChecked() throws {
    let bench = try DeviceBench([FakeDevice(type: 99, queues: [(16, 4), (8, 0), (8, 40)])])
    let bus = try bench.startBus()
    let device = try #require(bus.devices.first)
    #expect(try device.queueConfig(bench.kernel, 0) == VirtqueueConfig(ringSize: 16, irq: 4, pageFrame: 0))
    #expect(try device.queueConfig(bench.kernel, 3) == nil)
    let noop: (GuestKernel) throws(GuestStopped) -> Void = { _ in }
    #expect(try device.findQueue(bench.kernel, 1, callback: noop).failure == .badIRQ(1, 0), "the timer's IRQ")
    #expect(try device.findQueue(bench.kernel, 2, callback: noop).failure == .badIRQ(2, 40), "past 32 lines")
    #expect(try device.findQueue(bench.kernel, 3, callback: noop).failure == .noSuchQueue(3))
}

@Test func d140_findQueuePlacesTheRingAndUnmasksItsIRQ() throws {
    let bench = try DeviceBench([FakeDevice(type: 99, queues: [(64, 5)])])
    let bus = try bench.startBus()
    let device = try #require(bus.devices.first)
    let blocked = linear(bench.kernel.layout.lguestData) &+ LguestData.blockedInterrupts
    bench.cpu.setWord(blocked, 0xFFFF_FFFF)
    let queue = try #require(try device.findQueue(bench.kernel, 0, callback: { _ in }).success)
    // The ring is in RAM, page aligned, where the config says, and zeroed.
    #expect(queue.ring.rawValue == bench.ring(0, 0))
    #expect(queue.ring.isPageAligned && queue.ring.rawValue < DeviceBench.memoryEnd)
    #expect(bench.bytes(queue.ring.rawValue, queue.layout.byteCount).allSatisfy { $0 == 0 })
    #expect(bench.cpu.word(blocked) == 0xFFFF_FFFF & ~(1 << 5), "IRQ 5 unmasked, nothing else")
    #expect(bench.kernel.irqHandlers[5] != nil)
}

@Test func d144_aKickNotifiesTheRingUnlessTheDeviceSaidNotTo() throws {
    let bench = try DeviceBench([FakeDevice(type: 99, queues: [(8, 5)])])
    bench.serveAtOnce = false
    let device = try #require(try bench.startBus().devices.first)
    let queue = try #require(try device.findQueue(bench.kernel, 0, callback: { _ in }).success)
    _ = try queue.add(bench.kernel, [.init(GuestPhysicalAddress(0x1000), length: 4, deviceWrites: false)])
    try queue.kick(bench.kernel)
    #expect(bench.cpu.calls.last?.call == .notify && bench.cpu.calls.last?.arguments[0] == queue.ring.rawValue)
    bench.write(queue.ring.rawValue + UInt32(queue.layout.usedOffset), 2, UInt32(usedNoNotify))
    let before = bench.cpu.calls.count
    try queue.kick(bench.kernel)
    #expect(bench.cpu.calls.count == before, "no NOTIFY while the device drains")
    #expect(queue.counts == Virtqueue.Counts(kicks: 1, kicksSkipped: 1, buffersUsed: 0))
}

@Test func d143_chainsAreWrittenInOrderAndComeBackThroughTheUsedRing() throws {
    let bench = try DeviceBench([FakeDevice(type: 99, queues: [(8, 5)])])
    var seen: [[SeenBuffer]] = []
    bench.serve = { _, _, buffers in seen.append(buffers); return 3 }
    let device = try #require(try bench.startBus().devices.first)
    var used: [(UInt16, UInt32)] = []
    var queue: Virtqueue?
    queue = try #require(try device.findQueue(bench.kernel, 0, callback: { kernel throws(GuestStopped) in
        while let entry = try queue?.nextUsed(kernel) { used.append((entry.head, entry.length)) }
    }).success)
    let head = try #require(try queue?.add(bench.kernel, [.init(GuestPhysicalAddress(0x1000), length: 16, deviceWrites: false),
                                                         .init(GuestPhysicalAddress(0x2000), length: 8, deviceWrites: true)]))
    try queue?.kick(bench.kernel)
    #expect(seen == [[SeenBuffer(address: 0x1000, length: 16, writable: false), SeenBuffer(address: 0x2000, length: 8, writable: true)]])
    #expect(used.count == 1 && used[0] == (head, 3))
    #expect(bench.interrupts == [5])
    #expect(queue?.inFlight == 0)
}

/// The ways a hostile device can spoil a used entry.
enum BadUsedEntry: CaseIterable, Sendable {
    case idOutOfRange, idNeverHandedOver, lengthPastTheBuffer

    var tamper: @Sendable (UInt32, UInt32) -> (UInt32, UInt32) {
        switch self {
        case .idOutOfRange: { _, length in (999, length) }
        case .idNeverHandedOver: { head, length in (head ^ 1, length) }
        case .lengthPastTheBuffer: { head, _ in (head, 4097) }
        }
    }

    var reason: String {
        switch self {
        case .idOutOfRange: "used id 999"
        case .idNeverHandedOver: "is not a buffer we gave"
        case .lengthPastTheBuffer: "exceeds"
        }
    }
}

@Test(arguments: BadUsedEntry.allCases)
func d146_aBadUsedEntryBreaksTheQueueAndCrashesNothing(_ bad: BadUsedEntry) throws {
    let (name, tamper, reason) = ("\(bad)", bad.tamper, bad.reason)
    let bench = try DeviceBench([.rng])
    bench.serve = { _, _, _ in 16 }
    bench.tamper = tamper
    let bus = try bench.startBus()
    let rng = try #require(bus.drivers[0] as? VirtioRNG)
    let answer = try rng.read(bench.kernel, file: OpenFileID(id: 1), offset: 0, count: 16)
    #expect(answer == .failed(.ioError), "\(name)")
    #expect(bench.kernel.consoleText.contains("virtio: queue 0 broken: "), "\(name)")
    #expect(bench.kernel.consoleText.contains(reason), "\(name)")
    #expect(try rng.read(bench.kernel, file: OpenFileID(id: 1), offset: 0, count: 16) == .failed(.ioError))
}

extension Result {
    var success: Success? { if case .success(let value) = self { value } else { nil } }
    var failure: Failure? { if case .failure(let error) = self { error } else { nil } }
}

@Test(arguments: [
    ([E820Entry(address: 0, length: 0x30_0000, type: .ram)], UInt32(0x30_0000)),
    ([E820Entry(address: 0, length: 0x2F_F001, type: .ram)], 0x30_0000),
    ([E820Entry(address: 0, length: 0x20_0000, type: .ram), E820Entry(address: 0x20_0000, length: 0x10_0000, type: .reserved)], 0x30_0000),
    ([E820Entry(address: 0, length: UInt64.max - 10, type: .ram)], 0xFFFF_F000),
    ([E820Entry(address: 0x1000, length: UInt64.max, type: .ram)], 0xFFFF_F000),
] as [([E820Entry], UInt32)])
func d105_theDevicePageIsThePageAfterTheWholeMemoryMap(map: [E820Entry], page: UInt32) throws {
    let bench = try DeviceBench([])
    bench.kernel.bootParameters.memoryMap = map
    #expect(bench.kernel.memoryMapEnd.rawValue == page)
}
