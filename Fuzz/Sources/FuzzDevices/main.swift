// Fuzz target (e): the Launcher's device bus and virtqueue engine, driven by a Guest whose rings are
// the fuzz bytes. The Guest's kernel writes queue page frames, status bytes, descriptors and ring
// indices where the bytes say, and sends NOTIFY hypercalls, which reach the real `DeviceBus` (console,
// block device on a scratch disk, random device) exactly as in `lguest boot`. A bad ring must kill the
// Guest with a reason; afterwards the world's checks run (`FuzzWorld.checkAfterGuest`).

import FuzzSupport
import Host
import Launcher
import LguestABI
import Machine

nonisolated(unsafe) let world = FuzzWorld()
/// One scratch disk for the whole run (its contents may change; nothing depends on them).
nonisolated(unsafe) let disk: DiskImage = {
    do { return try DiskImage(DiskOptions(path: ScratchDisk().path)) } catch { fatalError("fuzz: \(error)") }
}()
let layout = VirtqueueLayout(size: DeviceBus.ringSize)!
/// Where well-behaved rings go: four ring-sized slots from page frame 0x40.
let ringFrames: [UInt32] = (0..<4).map { 0x40 + UInt32($0 * layout.pageCount) }

/// One Guest's driver program.
final class DriverProgram {
    let input: FuzzBytes
    let bus: DeviceBus
    init(_ input: FuzzBytes, bus: DeviceBus) { self.input = input; self.bus = bus }

    /// The device page's guest-physical address.
    var page: GuestPhysicalAddress { bus.page }

    /// A ring's guest-physical address: one of the good slots, usually.
    func ring() -> GuestPhysicalAddress {
        input.below(8) == 0 ? GuestPhysicalAddress(input.u32() & ~0xFFF) : GuestPhysicalAddress(ringFrames[input.below(4)] << 12)
    }

    /// A buffer address: in guest memory, mostly.
    func bufferAddress() -> UInt64 {
        input.below(8) == 0 ? UInt64(input.u32()) | UInt64(input.byte()) << 32 : UInt64(input.u16()) << 4
    }

    /// A store through the Guest's kernel map (guest memory past the map is the device page, reached
    /// at its physical address through the map as well: it sits right after the mapped pages).
    func store(_ bytes: [UInt8], at gpa: GuestPhysicalAddress, _ cpu: any GuestProcessor) throws(GuestStopped) {
        guard let va = kernelVirtual(gpa) else { return }
        try cpu.storeBytes(bytes, at: va)
    }

    func run(_ cpu: any GuestProcessor) throws(GuestStopped) {
        var steps = 0
        while !input.isAtEnd, steps < 500 {
            steps += 1
            let device = bus.devices[input.below(bus.devices.count)]
            let descriptor = page.advanced(by: UInt32(device.offset))
            switch input.below(8) {
            case 0:
                let queue = input.below(device.layout.queueCount + 1)
                let frame = input.below(4) == 0 ? input.u32() : ringFrames[input.below(4)]
                let config = descriptor.advanced(by: UInt32(device.layout.queueOffset(queue) + 4))
                try store(littleEndian(frame), at: config, cpu)
            case 1:
                let status: UInt8 = input.below(2) == 0 ? VirtioStatus([.acknowledge, .driver, .driverOK]).rawValue : input.byte()
                try store([status], at: descriptor.advanced(by: UInt32(DeviceDescriptorHeader.status)), cpu)
                try cpu.hypercall(.notify, descriptor.rawValue)
            case 2:
                let table = ring().advanced(by: UInt32(layout.descriptorOffset(input.below(layout.size))))
                let flags = VirtqueueDescriptor.Flags(rawValue: UInt16(input.byte() & 7))
                let entry = VirtqueueDescriptor(address: bufferAddress(), length: UInt32(input.u16()),
                                                flags: flags, next: UInt16(input.byte()))
                try store(entry.bytes, at: table, cpu)
            case 3:
                let ring = ring()
                let slot = input.below(layout.size)
                try store(littleEndian16(UInt16(input.byte())), at: ring.advanced(by: UInt32(layout.availableSlotOffset(slot))), cpu)
                try store(littleEndian16(input.u16()), at: ring.advanced(by: UInt32(layout.availableIndexOffset)), cpu)
            case 4: try cpu.hypercall(.notify, ring().rawValue)
            case 5: try cpu.hypercall(.notify, input.below(2) == 0 ? input.u32() : page.rawValue &+ UInt32(input.u16() & 0xFFF))
            case 6: try store(input.chunk(limit: 64), at: GuestPhysicalAddress(UInt32(input.u16()) << 4), cpu)
            default:
                // The interrupt flags of the rings, and the used index the device writes.
                let ring = ring()
                let offset = input.below(2) == 0 ? layout.availableOffset : layout.usedOffset
                try store(littleEndian16(input.u16()), at: ring.advanced(by: UInt32(offset)), cpu)
            }
        }
    }
}

func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
func littleEndian16(_ value: UInt16) -> [UInt8] { [UInt8(truncatingIfNeeded: value), UInt8(value >> 8)] }

/// One fuzz input (exported for libFuzzer's own `main`, which a debug build links).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = FuzzBytes(start, count)
    let output = ConsoleOutput()
    let services: [any DeviceService] = [
        ConsoleDevice(input: ConsoleInput(.bytes(input.chunk(limit: 64))), output: output),
        BlockDevice(image: disk), RandomDevice(seed: 1),
    ]
    let bus = DeviceBus(page: DevicePage.address(memoryPages: FuzzWorld.guestPages), services: services, output: output)
    let program = DriverProgram(input, bus: bus)
    var image = GuestKernelImage()
    image.bootEntry = image.addEntry(named: "driver") { cpu throws(GuestStopped) in
        try FuzzWorld.initialize(cpu)
        try program.run(cpu)
        try FuzzWorld.powerOff(cpu, "fuzz done")
    }
    let guest = world.makeGuest(image: image, userCode: [], extraPages: DevicePage.pageCount)
    do { try bus.writeDescriptors(into: guest.memory) } catch { fatalError("fuzz: device page: \(error)") }
    guest.onNotify = { guest, address in bus.notify(guest, address) }
    _ = world.run(guest)
    world.checkAfterGuest("a hostile driver")
    return 0
}

// A release build links this module's own `main`, which hands the same function to libFuzzer.
runFuzzer { start, count in fuzzTestOneInput(start, count) }
