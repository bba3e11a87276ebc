// A fake Launcher for the drivers: a Guest kernel on the recording processor (RecordingProcessor.swift,
// shared with GuestTests through a symbolic link), 3 MiB of "RAM", a device page just past it written
// the way the Launcher writes one, and a device side that serves kicks by walking the rings in memory
// and "delivers" the device's interrupt by calling the kernel's IRQ entry, as the Host would on the way
// back from the NOTIFY.
@testable import Drivers
@testable import Guest
import LguestABI
import Machine

/// One device as the fake Launcher describes it.
struct FakeDevice {
    var type: UInt8
    var queues: [(size: UInt16, irq: UInt16)]
    var features: [UInt8] = []
    var config: [UInt8] = []

    static let console = FakeDevice(type: VirtioDeviceID.console.rawValue, queues: [(8, 1), (8, 1)])
    static func block(sectors: UInt64, features: [UInt8] = [0, 0]) -> FakeDevice {
        FakeDevice(type: VirtioDeviceID.block.rawValue, queues: [(8, 2)], features: features,
                   config: (0..<8).map { UInt8(truncatingIfNeeded: sectors >> (8 * UInt64($0))) })
    }
    static let rng = FakeDevice(type: VirtioDeviceID.rng.rawValue, queues: [(8, 3)])

    var layout: DeviceDescriptorLayout {
        DeviceDescriptorLayout(queueCount: queues.count, featureLength: features.count, configLength: config.count)
    }

    /// The descriptor's bytes, as the Launcher writes them.
    var bytes: [UInt8] {
        var bytes = [type, UInt8(queues.count), UInt8(features.count), UInt8(config.count), 0]
        for queue in queues { bytes += VirtqueueConfig(ringSize: queue.size, irq: queue.irq, pageFrame: 0).bytes }
        return bytes + features + [UInt8](repeating: 0, count: features.count) + config
    }
}

/// One chain as the fake device saw it.
struct SeenBuffer: Equatable {
    var address: UInt32
    var length: UInt32
    var writable: Bool
}

final class DeviceBench {
    /// Where RAM ends, and so where the device page is.
    static let memoryEnd: UInt32 = 0x30_0000
    let cpu: RecordingProcessor
    let kernel: GuestKernel
    let devices: [FakeDevice]
    var devicePage: GuestPhysicalAddress { GuestPhysicalAddress(Self.memoryEnd) }

    /// What the device does with a chain on `queue` of device `device`: the bytes it wrote.
    var serve: (_ device: Int, _ queue: Int, _ buffers: [SeenBuffer]) -> UInt32 = { _, _, _ in 0 }
    /// Rewrites a used entry before it is published (for hostile devices): (head, length) in and out.
    var tamper: (@Sendable (UInt32, UInt32) -> (UInt32, UInt32))?
    /// Serve kicks at once (true), or hold them until `serveHeldKicks()`.
    var serveAtOnce = true
    /// Status bytes seen at each status NOTIFY, by device.
    var statuses: [Int: [UInt8]] = [:]
    /// Kicks seen, as (device, queue).
    var kicks: [(Int, Int)] = []
    var heldKicks: [(Int, Int)] = []
    /// Interrupts delivered, by IRQ.
    var interrupts: [Int] = []
    private var lastAvailable: [Int: UInt16] = [:]

    /// A bench whose device page lists `devices` (or holds `page` verbatim, when given).
    init(_ devices: [FakeDevice], page: [UInt8]? = nil, underLguest: Bool = true) throws {
        cpu = RecordingProcessor()
        kernel = try cpu.kernel()
        if underLguest { kernel.lguestInit() }
        self.devices = devices
        let free = stride(from: UInt32(0x20_0000), to: Self.memoryEnd, by: 0x1000).map(GuestPhysicalAddress.init)
        kernel.pages = PageAllocator(free: free, topOfMemory: GuestPhysicalAddress(Self.memoryEnd))
        kernel.kernelPageDirectory = kernel.layout.pageDirectory
        cpu.setWord(linear(kernel.layout.pageDirectory) &+ 768 * 4, 0x0010_8003)
        kernel.bootParameters.memoryMap = [E820Entry(address: 0, length: UInt64(Self.memoryEnd), type: .ram)]
        let bytes = page ?? devices.flatMap(\.bytes)
        cpu.memory.replaceSubrange(Int(Self.memoryEnd)..<Int(Self.memoryEnd) + bytes.count, with: bytes)
        cpu.answer = { [unowned self] call, arguments in
            if call == .notify { self.notified(GuestPhysicalAddress(arguments[0])) }
            return 0
        }
    }

    /// Start a bus with the standard drivers on this bench.
    func startBus() throws -> LguestBus {
        let bus = LguestBus()
        try bus.start(kernel)
        return bus
    }

    // Little-endian access to physical memory.
    func read(_ address: UInt32, _ width: Int) -> UInt32 {
        (0..<width).reduce(UInt32(0)) { $0 | UInt32(cpu.memory[Int(address) + $1]) << (8 * UInt32($1)) }
    }
    func write(_ address: UInt32, _ width: Int, _ value: UInt32) {
        for byte in 0..<width { cpu.memory[Int(address) + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) }
    }

    /// The guest-physical address of device `index`'s descriptor.
    func descriptor(_ index: Int) -> UInt32 {
        Self.memoryEnd + UInt32(devices.prefix(index).map(\.layout.size).reduce(0, +))
    }

    /// The ring of queue `queue` of device `device`, as the Guest published it (0 before).
    func ring(_ device: Int, _ queue: Int) -> UInt32 {
        read(descriptor(device) + UInt32(devices[device].layout.queueOffset(queue)) + 4, 4) << 12
    }

    /// A NOTIFY: a status change, a kick, or (anything else) ignored.
    func notified(_ address: GuestPhysicalAddress) {
        for device in devices.indices {
            if address.rawValue == descriptor(device) {
                statuses[device, default: []].append(cpu.memory[Int(descriptor(device)) + DeviceDescriptorHeader.status])
                return
            }
            for queue in devices[device].queues.indices where ring(device, queue) != 0 && ring(device, queue) == address.rawValue {
                kicks.append((device, queue))
                if serveAtOnce { drain(device, queue) } else { heldKicks.append((device, queue)) }
                return
            }
        }
    }

    /// Serve the kicks held back, as a slow device finally would.
    func serveHeldKicks() {
        let held = heldKicks
        heldKicks = []
        for (device, queue) in held { drain(device, queue) }
    }

    /// Take every available chain of a queue, serve it, publish it used, and interrupt.
    func drain(_ device: Int, _ queue: Int) {
        let size = Int(devices[device].queues[queue].size)
        guard let layout = VirtqueueLayout(size: size) else { return }
        let base = ring(device, queue)
        let key = device * 16 + queue
        var served = false
        while lastAvailable[key, default: 0] != UInt16(read(base + UInt32(layout.availableIndexOffset), 2)) {
            let slot = Int(lastAvailable[key, default: 0]) % size
            let head = read(base + UInt32(layout.availableSlotOffset(slot)), 2)
            var buffers: [SeenBuffer] = []
            var index = head
            for _ in 0..<size {
                let at = base + UInt32(layout.descriptorOffset(Int(index)))
                let flags = read(at + 12, 2)
                buffers.append(SeenBuffer(address: read(at, 4), length: read(at + 8, 4), writable: flags & 2 != 0))
                guard flags & 1 != 0 else { break }
                index = read(at + 14, 2)
            }
            var entry = (head, serve(device, queue, buffers))
            if let tamper { entry = tamper(entry.0, entry.1) }
            let used = UInt16(read(base + UInt32(layout.usedIndexOffset), 2))
            write(base + UInt32(layout.usedSlotOffset(Int(used) % size)), 4, entry.0)
            write(base + UInt32(layout.usedSlotOffset(Int(used) % size)) + 4, 4, entry.1)
            write(base + UInt32(layout.usedIndexOffset), 2, UInt32(used &+ 1))
            lastAvailable[key, default: 0] &+= 1
            served = true
        }
        let suppressed = read(base + UInt32(layout.availableOffset), 2) & UInt32(availableNoInterrupt) != 0
        if served && !suppressed { interrupt(Int(devices[device].queues[queue].irq)) }
    }

    /// Deliver IRQ `irq` the way the Host would, if the Guest has it unmasked.
    func interrupt(_ irq: Int) {
        let blocked = cpu.word(linear(kernel.layout.lguestData) &+ LguestData.blockedInterrupts)
        guard blocked & (1 << UInt32(irq)) == 0 else { return }
        interrupts.append(irq)
        try? kernel.handleIRQ(vector: firstExternalVector &+ UInt8(irq))
    }

    /// Bytes of physical memory.
    func bytes(_ address: UInt32, _ count: Int) -> [UInt8] { Array(cpu.memory[Int(address)..<Int(address) + count]) }
}
