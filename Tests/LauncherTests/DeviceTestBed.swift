// A test bed for the devices (L:190-L:225): one Host, Guests whose "kernel" is a Swift closure, and
// memory the test writes by hand, exactly as a driver would:
//
//   gpa 0x4000  lguest_data                 gpa 0x20000.. rings (RingBuilder), 2 pages each
//   gpa 0x5000  a shutdown reason           gpa 0x40000.. buffers
//   gpa 0x100000 kernel text                gpa 0x13E000 the Launcher's initial page tables (L:030)
//   gpa 0x140000 the device page (page 320, just past the 320 pages the "e820 map" covers)

import Foundation
import Host
@testable import Launcher
import LguestABI
import Machine
import Testing

final class DeviceTestBed {
    let host = Host(machine: Machine(memory: PhysicalMemory(frameCount: 1024)))

    static let memoryPages: UInt32 = 320
    static let lguestData = GuestPhysicalAddress(0x4000)
    static let reason = GuestPhysicalAddress(0x5000)
    static let devicePage = DevicePage.address(memoryPages: memoryPages)
    static let layout = DeviceBus.ringLayout

    /// The ring of the `n`th queue the tests use.
    static func ring(_ n: Int) -> GuestPhysicalAddress { GuestPhysicalAddress(0x20000 + UInt32(n) * 0x2000) }
    /// A buffer area, `n` pages into the buffers.
    static func buffer(_ n: Int) -> GuestPhysicalAddress { GuestPhysicalAddress(0x40000 + UInt32(n) * 0x1000) }

    /// A Guest (with its device page) whose boot entry initializes, NOTIFYs each of `addresses` in
    /// turn, halts if `halting` until an interrupt wakes it, and powers off.
    func makeGuest(notifying addresses: [GuestPhysicalAddress] = [], halting: Bool = false) throws -> Guest {
        var image = GuestKernelImage()
        image.bootEntry = image.addEntry(named: "boot") { cpu throws(GuestStopped) in
            try cpu.hypercall(.lguestInit, DeviceTestBed.lguestData.rawValue)
            for address in addresses { try cpu.hypercall(.notify, address.rawValue) }
            if halting { try cpu.hypercall(.halt) }
            try cpu.hypercall(.shutdown, DeviceTestBed.reason.rawValue, ShutdownKind.powerOff.rawValue)
        }
        // The Launcher's own initial page tables (`L:030`), at the top of the 320 pages.
        let plan = MemoryPlan(pageCount: Self.memoryPages, initrdSize: 0)
        let guest = try host.makeGuest(pageCount: Self.memoryPages + DevicePage.pageCount, image: image,
                                       initialPageDirectory: plan.pageDirectory,
                                       stack: GuestVirtualAddress(0xC000_8000))
        let memory = guest.memory
        try memory.copyIn(plan.initialPageTables(), at: plan.pageDirectory)
        try memory.copyIn(guest.image.text, at: GuestKernelImage.loadAddress)
        let data = Self.lguestData
        for slot in 0..<hypercallRingSize { try memory.store8(hypercallDone, at: data.advanced(by: LguestData.statusOffset(slot: slot))) }
        try memory.store32(pageOffset.rawValue, at: data.advanced(by: LguestData.kernelAddress))
        try memory.store32(UInt32(systemCallVector), at: data.advanced(by: LguestData.systemCallVector))
        try memory.copyIn(Array("done\0".utf8), at: Self.reason)
        return guest
    }

    /// A bus of `services` on the test device page, its descriptors written into `guest`, and its
    /// handler installed.
    func attach(_ services: [any DeviceService], to guest: Guest, output: ConsoleOutput = ConsoleOutput()) throws -> DeviceBus {
        let bus = DeviceBus(page: Self.devicePage, services: services, output: output)
        try bus.writeDescriptors(into: guest.memory)
        guest.onNotify = { guest, address in bus.notify(guest, address) }
        return bus
    }

    /// Runs a fresh, well-behaved Guest on the same Host: proof the Host is none the worse.
    func runHealthyGuest() throws -> GuestExit {
        let output = ConsoleOutput()
        let guest = try makeGuest(notifying: [DeviceTestBed.reason])
        _ = try attach([ConsoleDevice(input: ConsoleInput(.bytes([])), output: output)], to: guest, output: output)
        let exit = host.run(guest)
        #expect(output.text == "done", "the early console still prints")
        return exit
    }

    /// The address of `device`'s descriptor.
    static func descriptor(_ device: VirtioDevice) -> GuestPhysicalAddress {
        devicePage.advanced(by: UInt32(device.offset))
    }

    /// Writes each queue's ring page frame and `driverOK` into `device`'s descriptor, as a driver does
    /// before it notifies the descriptor.
    static func prepareLive(_ device: VirtioDevice, rings: [GuestPhysicalAddress], in memory: GuestMemory) throws {
        let start = descriptor(device)
        for (index, ring) in rings.enumerated() {
            let frame = start.advanced(by: UInt32(device.layout.queueOffset(index) + 4))
            try memory.store32(ring.pageNumber, at: frame)
        }
        let status: VirtioStatus = [.acknowledge, .driver, .featuresOK, .driverOK]
        try memory.store8(status.rawValue, at: start.advanced(by: UInt32(DeviceDescriptorHeader.status)))
    }

    /// Makes `device`'s queues live on `rings` directly through the bus, outside any run.
    static func goLive(_ bus: DeviceBus, _ device: VirtioDevice, rings: [GuestPhysicalAddress], guest: Guest) throws {
        try prepareLive(device, rings: rings, in: guest.memory)
        bus.notify(guest, descriptor(device))
    }
}

/// Writes a ring by hand, as a driver would.
struct RingBuilder {
    let memory: GuestMemory
    let ring: GuestPhysicalAddress
    let layout = DeviceTestBed.layout

    /// Writes descriptor `index`.
    func set(_ index: Int, _ descriptor: VirtqueueDescriptor) throws {
        try memory.copyIn(descriptor.bytes, at: ring.advanced(by: UInt32(layout.descriptorOffset(index))))
    }

    /// Writes `descriptors` from index `first` on, each chained to the next but the last.
    func chain(at first: Int, _ buffers: [(GuestPhysicalAddress, UInt32, VirtqueueDescriptor.Flags)]) throws {
        for (offset, (address, length, flags)) in buffers.enumerated() {
            let last = offset == buffers.count - 1
            try set(first + offset, VirtqueueDescriptor(address: UInt64(address.rawValue), length: length,
                                                        flags: last ? flags : flags.union(.next), next: UInt16(first + offset + 1)))
        }
    }

    /// The Guest's available index.
    var availableIndex: UInt16 {
        get throws { try memory.load16(ring.advanced(by: UInt32(layout.availableIndexOffset))) }
    }

    /// Sets the available index to `index`.
    func setAvailableIndex(_ index: UInt16) throws {
        try memory.store16(index, at: ring.advanced(by: UInt32(layout.availableIndexOffset)))
    }

    /// Puts `heads` in the available ring and advances its index past them.
    func offer(_ heads: UInt16...) throws {
        var index = try availableIndex
        for head in heads {
            try memory.store16(head, at: ring.advanced(by: UInt32(layout.availableSlotOffset(Int(index) % layout.size))))
            index &+= 1
        }
        try setAvailableIndex(index)
    }

    /// Sets the available ring's flags (`availableNoInterrupt`).
    func setAvailableFlags(_ flags: UInt16) throws {
        try memory.store16(flags, at: ring.advanced(by: UInt32(layout.availableOffset)))
    }

    /// The used ring's index.
    var usedIndex: UInt16 { get throws { try memory.load16(ring.advanced(by: UInt32(layout.usedIndexOffset))) } }

    /// The used ring's flags.
    var usedFlags: UInt16 { get throws { try memory.load16(ring.advanced(by: UInt32(layout.usedOffset))) } }

    /// Used element `slot`: the head and the length.
    func used(_ slot: Int) throws -> (head: UInt32, length: UInt32) {
        let element = ring.advanced(by: UInt32(layout.usedSlotOffset(slot)))
        return (try memory.load32(element), try memory.load32(element.advanced(by: 4)))
    }
}

/// A disk image file in a temporary directory of its own, removed when the value goes.
final class TemporaryDisk {
    let directory: URL
    let path: String

    /// An image of `sectors` sectors, sector n filled with the byte n (or the given `contents`).
    init(sectors: Int = 0, contents: [UInt8]? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lguest-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("disk.img").path
        let bytes = contents ?? (0..<sectors).flatMap { [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: sectorSize) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The file's bytes now.
    var bytes: [UInt8] { get throws { Array(try Data(contentsOf: URL(fileURLWithPath: path))) } }

    deinit { try? FileManager.default.removeItem(at: directory) }
}
