// Hostile Guests against the shadow page tables (H:330-H:500): each bad request must kill the Guest
// with its reason, leave the Host unharmed, and leave the pool ready for the next Guest.

import Testing
import LguestABI
import Machine
@testable import Host

@Suite struct PageTableHostileTests {
    /// Runs `attack`, expects the Guest killed with `fragment` in the reason, then checks that the
    /// Host can release the dead Guest's shadows and run a fresh Guest from the same pool.
    private func expectKilled(_ world: PageTableWorld, _ fragment: String,
                              sourceLocation: SourceLocation = #_sourceLocation,
                              _ attack: () throws(GuestViolation) -> Void) throws {
        expectViolation(fragment, sourceLocation: sourceLocation, attack)
        world.tables.release()
        #expect(world.pool.framesInUse == world.baselineFrames, sourceLocation: sourceLocation)
        let next = try ShadowPageTables(guestMemory: world.memory, pool: world.pool,
                                        switcherPageTable: world.switcherTable, initialDirectory: world.directory)
        try world.memory.store32(0, at: world.directory.advanced(by: (0x3000_0000 >> 22) * 4))
        try world.map(0x3000_0000, to: 60, [.present, .writable, .user])
        #expect(try next.demandPage(GuestVirtualAddress(0x3000_0000), [.user, .write]), sourceLocation: sourceLocation)
        next.release()
    }

    // MARK: H:345 bad Guest entries

    static let badDirectoryFlags: [(PagingFlags, String)] = [
        (.pageSize, "large page in guest directory"),
        (.writeThrough, "bad flags"),
        (.cacheDisabled, "bad flags"),
        (.global, "bad flags"),
    ]

    @Test(arguments: badDirectoryFlags)
    func h345_badDirectoryFlagsKill(flag: PagingFlags, reason: String) throws {
        let world = try PageTableWorld()
        _ = try world.guestEntryAddress(userAddress)
        var pde = try world.guestDirectoryEntry(userAddress)
        pde.flags.insert(flag)
        try world.setGuestDirectoryEntry(userAddress, pde)
        try expectKilled(world, reason) { () throws(GuestViolation) in
            _ = try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user])
        }
    }

    @Test func h345_softwareBitsInADirectoryEntryKill() throws {
        let world = try PageTableWorld()
        _ = try world.guestEntryAddress(userAddress)
        let pde = try world.guestDirectoryEntry(userAddress)
        try world.setGuestDirectoryEntry(userAddress, PageDirectoryEntry(rawValue: pde.rawValue | 0x200))
        try expectKilled(world, "bad flags") { () throws(GuestViolation) in
            _ = try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user])
        }
    }

    /// The last frame of the Guest's memory is fine; the first frame past it, or any far beyond, kills.
    /// Guest frames around the limit of a 64-page Guest, and whether a Guest may map them.
    static let framesAroundTheLimit: [(UInt32, Bool)] = [(63, true), (64, false), (0xFFFFF, false)]

    @Test(arguments: framesAroundTheLimit)
    func h345_directoryFramePastTheLimitKills(frame: UInt32, allowed: Bool) throws {
        let world = try PageTableWorld()
        let pde = PageDirectoryEntry(frame: PageFrameNumber(frame), flags: [.present, .writable, .user])
        try world.setGuestDirectoryEntry(userAddress, pde)
        if allowed {
            #expect(try !world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]), "empty table: reflect")
        } else {
            try expectKilled(world, "past its limit") { () throws(GuestViolation) in
                _ = try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user])
            }
        }
    }

    @Test(arguments: framesAroundTheLimit)
    func h345_tableFramePastTheLimitKills(frame: UInt32, allowed: Bool) throws {
        let world = try PageTableWorld()
        try world.map(userAddress, to: frame, [.present, .user])
        if allowed {
            #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
        } else {
            try expectKilled(world, "past its limit") { () throws(GuestViolation) in
                _ = try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user])
            }
        }
    }

    @Test func h345_largePageBitInATableEntryKills() throws {
        let world = try PageTableWorld()
        try world.map(userAddress, to: 40, [.present, .user, .pageSize])
        try expectKilled(world, "large page bit in guest table entry") { () throws(GuestViolation) in
            _ = try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user])
        }
    }

    /// Random directory and table entries and random faults: the Host never traps, and whatever it
    /// installs maps only the Guest's own frames.
    @Test func h345_randomEntriesNeverEscapeGuestMemory() throws {
        var seed: UInt64 = 0x5EED
        func next() -> UInt32 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt32(truncatingIfNeeded: seed >> 32)
        }
        var outcomes = (fixed: 0, reflected: 0, killed: 0)
        for round in 0..<300 {
            let world = try PageTableWorld(ramFrames: 40, guestPages: 16)
            let va = next() & 0xFFBF_FFFF  // below the Switcher; the Switcher has its own tests
            // Half the time a plausible frame, half the time any frame at all.
            let pdeFrame = round % 2 == 0 ? next() % 20 : next() >> 12
            // Flags: mostly ones a directory may carry, sometimes anything at all.
            let pdeFlags = round % 4 == 0 ? next() & 0xFFF : next() & 0x67
            try world.setGuestDirectoryEntry(va, PageDirectoryEntry(rawValue: pdeFrame << 12 | pdeFlags))
            if pdeFrame < 16 {
                let pte = GuestPhysicalAddress(frame: PageFrameNumber(pdeFrame), offset: (va >> 12 & 0x3FF) * 4)
                let pteFrame = round % 3 == 0 ? next() >> 12 : next() % 20
                let pteFlags = round % 5 == 0 ? next() & 0xFFF : next() & 0x17F
                try world.memory.store32(pteFrame << 12 | pteFlags, at: pte)
            }
            do {
                if try world.tables.demandPage(GuestVirtualAddress(va), PageFaultErrorCode(rawValue: next() & 7)) {
                    outcomes.fixed += 1
                    let shadow = try #require(try world.shadowEntry(va))
                    #expect(shadow.frame >= world.memory.baseFrame)
                    #expect(shadow.frame < world.memory.baseFrame.advanced(by: 16))
                } else {
                    outcomes.reflected += 1
                }
            } catch {
                outcomes.killed += 1
            }
            world.tables.release()
            #expect(world.pool.framesInUse == world.baselineFrames)
        }
        #expect(outcomes.fixed > 0 && outcomes.reflected > 0 && outcomes.killed > 0, "\(outcomes)")
    }

    // MARK: H:330 and H:480 the Switcher's region

    @Test func h330_theGuestKernelWritingTheSwitcherIsKilled() throws {
        let world = try PageTableWorld()
        try expectKilled(world, "touched the Switcher") { () throws(GuestViolation) in
            _ = try world.tables.demandPage(switcherAddress.advanced(by: 0x2010), [.protection, .write])
        }
    }

    @Test func h410_setPTEAimedAtTheSwitcherKills() throws {
        let world = try PageTableWorld()
        try world.tables.setKernelAddress(pageOffset)
        let entry = PageTableEntry(frame: PageFrameNumber(40), flags: [.present, .writable, .accessed, .dirty])
        try expectKilled(world, "SET_PTE aimed at the Switcher") { () throws(GuestViolation) in
            try world.tables.setPTE(directory: world.directory, address: switcherAddress.advanced(by: 0x1000), entry: entry)
        }
    }

    @Test func h420_setPTEInstallingABadEntryAtOnceKills() throws {
        let world = try PageTableWorld()
        try world.map(kernelAddress, to: 44, [.present])
        #expect(try world.tables.demandPage(GuestVirtualAddress(kernelAddress), []))
        let entry = PageTableEntry(frame: PageFrameNumber(0x80000), flags: [.present, .writable, .accessed, .dirty])
        try expectKilled(world, "past its limit") { () throws(GuestViolation) in
            try world.tables.setPTE(directory: world.directory, address: GuestVirtualAddress(kernelAddress), entry: entry)
        }
    }

    // MARK: H:425 SET_PMD's index, checked with >=

    @Test(arguments: [1024, 1025, 0x8000_0000, UInt32.max] as [UInt32])
    func h425_setPMDIndexPastTheDirectoryKills(index: UInt32) throws {
        let world = try PageTableWorld()
        try expectKilled(world, "past the end of a directory") { () throws(GuestViolation) in
            try world.tables.setPMD(directory: world.directory, index: index)
        }
    }

    // MARK: H:430 and H:500 bad directories

    @Test(arguments: [0x1001, 0x40000, 0x7FFF_F000, 0xFFFF_F000, 0xFFFF_FFFF] as [UInt32])
    func h430_newPageTableOutsideGuestMemoryOrUnalignedKills(address: UInt32) throws {
        let world = try PageTableWorld()
        try expectKilled(world, "bad page directory") { () throws(GuestViolation) in
            try world.tables.newPageTable(GuestPhysicalAddress(address))
        }
    }

    @Test func h500_aBadInitialDirectoryIsRefused() throws {
        let world = try PageTableWorld()
        world.tables.release()
        expectViolation("bad page directory") { () throws(GuestViolation) in
            _ = try ShadowPageTables(guestMemory: world.memory, pool: world.pool, switcherPageTable: world.switcherTable,
                                     initialDirectory: GuestPhysicalAddress(64 << 12))
        }
        #expect(world.pool.framesInUse == world.baselineFrames)
    }

    // MARK: H:360 bad stacks

    static let badStacks: [(UInt32, PagingFlags?, String)] = [
        (0xC030_0000, nil, "bad stack page"),
        (0xC030_0000, [.present], "bad stack page"),
        (0xC030_0000, [.writable, .dirty], "bad stack page"),
        (0, nil, "Switcher"),
        (0xFFC0_2000, nil, "Switcher"),
    ]

    @Test(arguments: badStacks)
    func h360_aStackTheGuestDoesNotMapWritableKills(top: UInt32, flags: PagingFlags?, reason: String) throws {
        let world = try PageTableWorld()
        if let flags { try world.map(top &- 0x1000, to: 50, flags) }
        try expectKilled(world, reason) { () throws(GuestViolation) in
            try world.tables.pinStack(top: GuestVirtualAddress(top), pages: 1)
        }
    }

    @Test func h360_unmappingTheKernelStackKills() throws {
        let world = try PageTableWorld()
        let top: UInt32 = 0xC020_0000
        try world.map(top - 0x1000, to: 50, [.present, .writable])
        try world.tables.pinStack(top: GuestVirtualAddress(top), pages: 1)
        try world.setGuestEntry(top - 0x1000, raw: 0)
        try expectKilled(world, "bad stack page") { () throws(GuestViolation) in
            try world.tables.setPTE(directory: world.directory, address: GuestVirtualAddress(top - 0x1000),
                                    entry: PageTableEntry(rawValue: 0))
        }
    }

    // MARK: H:370 walking to an unmapped address

    @Test func h370_guestPhysicalOfAnUnmappedAddressKills() throws {
        let world = try PageTableWorld()
        try expectKilled(world, "not mapped") { () throws(GuestViolation) in
            _ = try world.tables.guestPhysical(of: GuestVirtualAddress(userAddress))
        }
    }

    // MARK: H:330 the Host running out of frames

    @Test func h330_runningOutOfShadowFramesKillsTheGuestNotTheHost() throws {
        let world = try PageTableWorld(poolLimit: 1)
        try world.map(userAddress, to: 40, [.present, .user])
        expectViolation("out of memory") { () throws(GuestViolation) in
            _ = try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user])
        }
        world.tables.release()
        #expect(world.pool.framesInUse == world.baselineFrames)
    }
}
