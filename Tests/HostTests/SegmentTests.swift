// Tests of the Host's copy of the Guest's GDT, H:610-H:655, hostile cases included.

import Testing
import LguestABI
import Machine
@testable import Host

@Suite struct SegmentTests {
    /// Guest memory of 4 pages in 8 frames of host RAM; the Switcher's GDT in the host frame after it.
    private final class World {
        let ram = PhysicalMemory(frameCount: 8)
        let memory: GuestMemory
        let switcherGDT: HostPhysicalAddress
        var gdt = GuestGDT()

        init() {
            guard let base = ram.allocateFrames(count: 4), let gdtFrame = ram.allocateFrames(count: 1) else {
                fatalError("test RAM too small")
            }
            memory = GuestMemory(physicalMemory: ram, baseFrame: base, pageCount: 4)
            switcherGDT = HostPhysicalAddress(frame: gdtFrame)
        }

        /// Writes `descriptors` into guest memory at `address`.
        func write(_ descriptors: [SegmentDescriptor], at address: GuestPhysicalAddress) throws {
            for (index, descriptor) in descriptors.enumerated() {
                let slot = address.advanced(by: UInt32(index) * 8)
                try memory.store32(descriptor.low, at: slot)
                try memory.store32(descriptor.high, at: slot.advanced(by: 4))
            }
        }

        /// The descriptor in slot `slot` of the Switcher's GDT.
        func switcherEntry(_ slot: Int) throws -> SegmentDescriptor {
            let address = switcherGDT.advanced(by: UInt32(slot) * 8)
            return SegmentDescriptor(low: try ram.load32(at: address), high: try ram.load32(at: address.advanced(by: 4)))
        }

        /// Fills the Switcher's GDT with a recognisable pattern.
        func poisonSwitcherGDT() throws {
            for slot in 0..<GDTLayout.entryCount {
                let address = switcherGDT.advanced(by: UInt32(slot) * 8)
                try ram.store32(0xBAD0_0000 | UInt32(slot), at: address)
                try ram.store32(0xBAD1_0000 | UInt32(slot), at: address.advanced(by: 4))
            }
        }

        func isPoisoned(_ slot: Int) throws -> Bool {
            try switcherEntry(slot).low == 0xBAD0_0000 | UInt32(slot)
        }
    }

    /// Linux's own table: the four flat segments at their Linux privileges, a TSS in its reserved slot.
    private func linuxGDT() -> [SegmentDescriptor] {
        var table = [SegmentDescriptor](repeating: SegmentDescriptor(rawValue: 0), count: GDTLayout.entryCount)
        table[GDTLayout.kernelCode] = SegmentDescriptor(base: 0, limit: 0xFFFFF, type: 0xA, dpl: 0)
        table[GDTLayout.kernelData] = SegmentDescriptor(base: 0, limit: 0xFFFFF, type: 0x2, dpl: 0)
        table[GDTLayout.userCode] = SegmentDescriptor(base: 0, limit: 0xFFFFF, type: 0xA, dpl: 3)
        table[GDTLayout.userData] = SegmentDescriptor(base: 0, limit: 0xFFFFF, type: 0x2, dpl: 3)
        table[GDTLayout.taskState] = SegmentDescriptor(base: 0xC000_1000, limit: 0x67, type: 0x9,
                                                       isCodeOrData: false, dpl: 0, granularity: false)
        return table
    }

    // MARK: H:655 the first table

    @Test func h655_aNewGuestHasFlatKernelSegmentsAtRingOne() {
        let gdt = GuestGDT()
        #expect(gdt.entries.count == GDTLayout.entryCount)
        #expect(gdt.entries[GDTLayout.kernelCode] == .flat(executable: true, dpl: 1))
        #expect(gdt.entries[GDTLayout.kernelData] == .flat(executable: false, dpl: 1))
        for slot in 0..<GDTLayout.entryCount where slot != GDTLayout.kernelCode && slot != GDTLayout.kernelData {
            #expect(gdt.entries[slot].rawValue == 0)
        }
        #expect(gdt.changes == .table)
    }

    // MARK: H:620 LOAD_GDT

    @Test func h620_loadingLinuxsTableRaisesTheKernelToRingOne() throws {
        let world = World()
        try world.write(linuxGDT(), at: GuestPhysicalAddress(0x1000))
        try world.gdt.load(from: GuestPhysicalAddress(0x1000), count: 32, memory: world.memory)
        #expect(world.gdt.entries[GDTLayout.kernelCode] == .flat(executable: true, dpl: 1))
        #expect(world.gdt.entries[GDTLayout.kernelData] == .flat(executable: false, dpl: 1))
        #expect(world.gdt.entries[GDTLayout.userCode] == .flat(executable: true, dpl: 3))
        #expect(world.gdt.entries[GDTLayout.userData] == .flat(executable: false, dpl: 3))
        #expect(world.gdt.entries[0].rawValue == 0, "the null descriptor stays null")
        #expect(world.gdt.changes.contains(.table))
    }

    @Test func h620_aShortTableReplacesOnlyItsEntries() throws {
        let world = World()
        let user = SegmentDescriptor.flat(executable: false, dpl: 3)
        try world.write([SegmentDescriptor(rawValue: 0), user], at: GuestPhysicalAddress(0x1000))
        try world.gdt.load(from: GuestPhysicalAddress(0x1000), count: 2, memory: world.memory)
        #expect(world.gdt.entries[1] == user)
        #expect(world.gdt.entries[GDTLayout.kernelCode] == .flat(executable: true, dpl: 1))
    }

    static let badTables: [(UInt32, UInt32, String)] = [
        (0x1000, 33, "too many GDT entries"),
        (0x1000, UInt32.max, "too many GDT entries"),
        (0x3F08, 32, "bad guest address"),
        (0xFFFF_FFF8, 2, "bad guest address"),
    ]

    @Test(arguments: badTables)
    func h620_badTablesKill(address: UInt32, count: UInt32, reason: String) {
        let world = World()
        let before = world.gdt
        expectViolation(reason) { () throws(GuestViolation) in
            try world.gdt.load(from: GuestPhysicalAddress(address), count: count, memory: world.memory)
        }
        #expect(world.gdt == before, "a refused table changes nothing")
    }

    // MARK: H:625 system descriptors

    /// Every system descriptor type, present, in an ordinary slot kills; not present, it is kept as is.
    @Test(arguments: 0..<16)
    func h625_presentSystemDescriptorsAreRefused(type: Int) throws {
        let world = World()
        var system = SegmentDescriptor(base: 0x1000, limit: 0x67, type: UInt8(type), isCodeOrData: false, dpl: 3)
        var table = linuxGDT()
        table[5] = system
        try world.write(table, at: GuestPhysicalAddress(0x1000))
        expectViolation("system descriptor of type \(type) in GDT slot 5") { () throws(GuestViolation) in
            try world.gdt.load(from: GuestPhysicalAddress(0x1000), count: 32, memory: world.memory)
        }
        #expect(world.gdt == GuestGDT())

        system.isPresent = false
        table[5] = system
        try world.write(table, at: GuestPhysicalAddress(0x1000))
        try world.gdt.load(from: GuestPhysicalAddress(0x1000), count: 32, memory: world.memory)
        #expect(world.gdt.entries[5] == system)
    }

    /// A call gate to the Switcher's ring-0 code would be the keys to the Host.
    @Test func h625_aCallGateToTheSwitcherIsRefused() throws {
        let world = World()
        // A 386 call gate (type 0xC), DPL 3, selector 0x50, offset 0xFFC00000.
        let gate = SegmentDescriptor(low: UInt32(GDTLayout.switcherCodeSelector.rawValue) << 16,
                                     high: 0xFFC0_0000 | 1 << 15 | 3 << 13 | 0xC << 8)
        try world.write([gate], at: GuestPhysicalAddress(0x1000 + 6 * 8))
        expectViolation("system descriptor of type 12 in GDT slot 6") { () throws(GuestViolation) in
            try world.gdt.loadTLS(from: GuestPhysicalAddress(0x1000 + 6 * 8), memory: world.memory)
        }
    }

    // MARK: H:630 fix-ups

    /// Every present code or data type at every privilege: ring 0 becomes 1, the accessed bit is set,
    /// and nothing else changes.
    @Test func h630_fixUpsRaiseRingZeroAndPresetAccessedOnly() throws {
        for dpl: UInt8 in 0...3 {
            for type: UInt8 in 0..<16 {
                let original = SegmentDescriptor(base: 0x1234_5678, limit: 0xABCDE, type: type, dpl: dpl,
                                                 available: true, defaultSize32: dpl % 2 == 0, granularity: type % 2 == 0)
                let fixed = try GuestGDT.fixUp(original, slot: 3)
                var expected = original
                expected.dpl = dpl == 0 ? 1 : dpl
                expected.type = type | 1
                #expect(fixed == expected, "dpl \(dpl) type \(type)")
            }
        }
    }

    @Test func h610_reservedSlotsAreKeptAsTheGuestWroteThemAndNeverCopied() throws {
        let world = World()
        var table = linuxGDT()
        table[GDTLayout.switcherCode] = .flat(executable: true, dpl: 0)
        table[GDTLayout.doubleFaultTaskState] = SegmentDescriptor(base: 0, limit: 0x67, type: 0xB, isCodeOrData: false, dpl: 0)
        try world.write(table, at: GuestPhysicalAddress(0x1000))
        try world.gdt.load(from: GuestPhysicalAddress(0x1000), count: 32, memory: world.memory)
        #expect(world.gdt.entries[GDTLayout.switcherCode] == table[GDTLayout.switcherCode])

        try world.poisonSwitcherGDT()
        world.gdt.copyChanged(into: world.ram, at: world.switcherGDT)
        for slot in 0..<GDTLayout.entryCount {
            #expect(try world.isPoisoned(slot) == GDTLayout.isReservedForHost(slot), "slot \(slot)")
        }
    }

    // MARK: H:640 copying

    @Test func h640_copyOnlyWhatChanged() throws {
        let world = World()
        try world.poisonSwitcherGDT()
        world.gdt.copyChanged(into: world.ram, at: world.switcherGDT)
        #expect(try world.switcherEntry(GDTLayout.kernelCode) == .flat(executable: true, dpl: 1))
        #expect(world.gdt.changes.isEmpty)

        // Nothing changed: nothing is written.
        try world.poisonSwitcherGDT()
        world.gdt.copyChanged(into: world.ram, at: world.switcherGDT)
        #expect(try world.isPoisoned(GDTLayout.kernelCode))

        // Only TLS changed: only the three TLS slots are written.
        let tls = SegmentDescriptor(base: 0x0804_0000, limit: 0xFFFFF, type: 0x3, dpl: 3)
        try world.write([tls, tls, tls], at: GuestPhysicalAddress(0x2000))
        try world.gdt.loadTLS(from: GuestPhysicalAddress(0x2000), memory: world.memory)
        #expect(world.gdt.changes == .threadLocalStorage)
        world.gdt.copyChanged(into: world.ram, at: world.switcherGDT)
        for slot in 0..<GDTLayout.entryCount {
            let isTLS = (GDTLayout.firstTLS..<GDTLayout.firstTLS + GDTLayout.tlsCount).contains(slot)
            #expect(try world.isPoisoned(slot) == !isTLS, "slot \(slot)")
        }
        #expect(try world.switcherEntry(GDTLayout.firstTLS) == tls)

        // Forced: every slot the Guest may fill.
        try world.poisonSwitcherGDT()
        world.gdt.copyChanged(into: world.ram, at: world.switcherGDT, everything: true)
        for slot in 0..<GDTLayout.entryCount {
            #expect(try world.isPoisoned(slot) == GDTLayout.isReservedForHost(slot), "slot \(slot)")
        }
    }

    // MARK: H:650 LOAD_TLS

    @Test func h650_tlsEntriesGetTheSameFixUps() throws {
        let world = World()
        let ring0 = SegmentDescriptor(base: 0x4000, limit: 0xF, type: 0x2, dpl: 0, granularity: false)
        try world.write([ring0, SegmentDescriptor(rawValue: 0), ring0], at: GuestPhysicalAddress(0x3FE8))
        try world.gdt.loadTLS(from: GuestPhysicalAddress(0x3FE8), memory: world.memory)
        var expected = ring0
        expected.dpl = 1
        expected.type = 0x3
        #expect(world.gdt.entries[GDTLayout.firstTLS] == expected)
        #expect(world.gdt.entries[GDTLayout.firstTLS + 1].rawValue == 0)
        #expect(world.gdt.entries[GDTLayout.firstTLS + 2] == expected)
    }

    @Test func h650_tlsOutsideGuestMemoryKills() {
        let world = World()
        expectViolation("bad guest address") { () throws(GuestViolation) in
            try world.gdt.loadTLS(from: GuestPhysicalAddress(0x3FF0), memory: world.memory)
        }
    }
}
