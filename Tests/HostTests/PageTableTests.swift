// Tests of the shadow page tables, H:310-H:505. Hostile cases are in PageTableHostileTests.swift.

import Testing
import LguestABI
import Machine
@testable import Host

@Suite struct PageTableTests {
    // MARK: H:310 the frame pool

    @Test func h310_poolReusesReturnedFramesZeroed() throws {
        let ram = PhysicalMemory(frameCount: 8)
        let pool = FramePool(memory: ram)
        let first = try #require(pool.allocate())
        try ram.store32(0xDEAD_BEEF, at: HostPhysicalAddress(frame: first, offset: 100))
        #expect(pool.framesInUse == 1)
        pool.free(first)
        #expect(pool.framesInUse == 0)
        let again = try #require(pool.allocate())
        #expect(again == first)
        #expect(try ram.load32(at: HostPhysicalAddress(frame: again, offset: 100)) == 0)
    }

    @Test func h310_poolRunsDryWithoutTrapping() {
        let ram = PhysicalMemory(frameCount: 3)
        let pool = FramePool(memory: ram)
        let frames = (0..<4).map { _ in pool.allocate() }
        #expect(frames.compactMap { $0 }.count == 3)
        #expect(frames[3] == nil)
    }

    // MARK: H:330 demand paging

    /// Every combination of directory flags, table flags and access kind, against the i386's own rule.
    @Test func h330_demandPageFollowsTheMMUsRulesExhaustively() throws {
        let world = try PageTableWorld()
        try world.tables.setKernelAddress(pageOffset)
        let va = userAddress
        let dataFrame: UInt32 = 40
        let directoryBits: [PagingFlags] = [.present, .writable, .user]
        let tableBits: [PagingFlags] = [.present, .writable, .user, .accessed, .dirty]
        let table = world.newGuestFrame()
        for directoryMask in 0..<8 {
            for tableMask in 0..<32 {
                for access in 0..<4 {
                    let pdeFlags = subset(directoryBits, directoryMask)
                    let pteFlags = subset(tableBits, tableMask)
                    var errorCode: PageFaultErrorCode = []
                    if access & 1 != 0 { errorCode.insert(.write) }
                    if access & 2 != 0 { errorCode.insert(.user) }
                    try check(world, va, table, pdeFlags, pteFlags, errorCode, dataFrame)
                }
            }
        }
    }

    private func subset(_ bits: [PagingFlags], _ mask: Int) -> PagingFlags {
        var flags: PagingFlags = []
        for (index, bit) in bits.enumerated() where mask & (1 << index) != 0 { flags.insert(bit) }
        return flags
    }

    private func check(_ world: PageTableWorld, _ va: UInt32, _ table: PageFrameNumber, _ pdeFlags: PagingFlags,
                       _ pteFlags: PagingFlags, _ errorCode: PageFaultErrorCode, _ dataFrame: UInt32) throws {
        try world.tables.flush(kernelToo: false)
        try world.setGuestDirectoryEntry(va, PageDirectoryEntry(frame: table, flags: pdeFlags))
        let entry = PageTableEntry(frame: PageFrameNumber(dataFrame), flags: pteFlags)
        try world.memory.store32(entry.rawValue, at: GuestPhysicalAddress(frame: table, offset: (va >> 12 & 0x3FF) * 4))

        let write = errorCode.contains(.write), user = errorCode.contains(.user)
        let both = pdeFlags.intersection(pteFlags)
        let legal = both.contains(.present) && (!write || both.contains(.writable)) && (!user || both.contains(.user))
        let label = "pde \(pdeFlags) pte \(pteFlags) error \(errorCode)"

        let fixed = try world.tables.demandPage(GuestVirtualAddress(va), errorCode)
        #expect(fixed == legal, "\(label)")
        let guestAfter = try world.guestEntry(va)
        let shadow = try world.shadowEntry(va)
        if legal {
            var expected = pteFlags.union(.accessed)
            if write { expected.insert(.dirty) }
            #expect(guestAfter.flags == expected, "\(label)")
            #expect(try world.guestDirectoryEntry(va).flags == pdeFlags.union(.accessed), "\(label)")
            let entry = try #require(shadow, "\(label)")
            #expect(entry.frame == world.host(dataFrame), "\(label)")
            #expect(entry.flags.contains(.present))
            #expect(entry.flags.contains(.user) == pteFlags.contains(.user), "\(label)")
            #expect(entry.flags.contains(.writable) == (pteFlags.contains(.writable) && expected.contains(.dirty)), "\(label)")
        } else {
            #expect(guestAfter.flags == pteFlags, "\(label): a reflected fault leaves the Guest's entry alone")
            #expect(try world.guestDirectoryEntry(va).flags == pdeFlags, "\(label)")
            #expect(shadow.map { !$0.flags.contains(.present) } ?? true, "\(label)")
        }
    }

    @Test func h330_readInstallsReadOnlyThenWriteSetsDirty() throws {
        let world = try PageTableWorld()
        try world.map(userAddress, to: 41, [.present, .writable, .user])
        let va = GuestVirtualAddress(userAddress)

        #expect(try world.tables.demandPage(va, [.user]))
        #expect(try world.shadowEntry(userAddress)?.flags.contains(.writable) == false)
        #expect(try world.guestEntry(userAddress).flags == [.present, .writable, .user, .accessed])

        #expect(try world.tables.demandPage(va, [.protection, .write, .user]))
        #expect(try world.shadowEntry(userAddress)?.flags.contains(.writable) == true)
        #expect(try world.guestEntry(userAddress).flags == [.present, .writable, .user, .accessed, .dirty])
        #expect(world.tables.statistics.faultsFixed == 2)
    }

    @Test func h330_reflectedFaultsAreCounted() throws {
        let world = try PageTableWorld()
        #expect(try !world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
        try world.map(userAddress, to: 41, [.present, .user])
        #expect(try !world.tables.demandPage(GuestVirtualAddress(userAddress), [.user, .write]))
        #expect(world.tables.statistics.faultsReflected == 2)
        #expect(world.tables.statistics.faultsFixed == 0)
        #expect(world.pool.framesInUse == world.baselineFrames + 1, "no shadow page table for a reflected fault")
    }

    // MARK: H:340 converting entries

    @Test func h340_shadowEntryKeepsUnderstoodFlagsAndHostFrame() throws {
        let world = try PageTableWorld()
        let flags: PagingFlags = [.present, .writable, .user, .writeThrough, .cacheDisabled, .accessed, .dirty, .global]
        // Bits 9-11 are the Guest's own; they must not reach the shadow.
        try world.setGuestEntry(kernelAddress, raw: PageTableEntry(frame: PageFrameNumber(42), flags: flags).rawValue | 0xE00)
        #expect(try world.tables.demandPage(GuestVirtualAddress(kernelAddress), [.write]))
        let shadow = try #require(try world.shadowEntry(kernelAddress))
        #expect(shadow.frame == world.host(42))
        #expect(shadow.flags == flags.subtracting(.global))
        #expect(shadow.rawValue & 0xE00 == 0)
    }

    @Test func h340_readOnlyGuestPageStaysReadOnlyEvenWhenDirty() throws {
        let world = try PageTableWorld()
        try world.map(userAddress, to: 41, [.present, .user, .accessed, .dirty])
        #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
        #expect(try world.shadowEntry(userAddress)?.flags.contains(.writable) == false)
    }

    // MARK: H:360 pinning the stack

    @Test func h360_pinStackMapsEveryStackPageWritable() throws {
        let world = try PageTableWorld()
        let top: UInt32 = 0xC020_0000
        try world.map(top - 0x1000, to: 50, [.present, .writable])
        try world.map(top - 0x2000, to: 51, [.present, .writable])
        try world.tables.pinStack(top: GuestVirtualAddress(top), pages: 2)
        for page: UInt32 in 1...2 {
            let shadow = try #require(try world.shadowEntry(top - page * 0x1000))
            #expect(shadow.flags.isSuperset(of: [.present, .writable]))
            #expect(try world.guestEntry(top - page * 0x1000).flags.contains(.dirty))
        }
        #expect(world.tables.statistics.faultsFixed == 0, "pinning is not a Guest fault")
    }

    @Test func h360_stackIsPinnedAgainAfterFullFlushAndInNewShadows() throws {
        let world = try PageTableWorld()
        let top: UInt32 = 0xC020_0000
        try world.map(top - 0x1000, to: 50, [.present, .writable])
        try world.tables.pinStack(top: GuestVirtualAddress(top), pages: 1)
        try world.tables.flush(kernelToo: true)
        #expect(try world.shadowEntry(top - 0x1000)?.flags.contains(.writable) == true)

        // A second Guest directory mapping the same kernel stack, in a brand-new shadow.
        let second = GuestPhysicalAddress(frame: world.newGuestFrame())
        try world.map(top - 0x1000, to: 50, [.present, .writable, .dirty], in: second)
        try world.tables.newPageTable(second)
        #expect(try world.shadowEntry(top - 0x1000)?.flags.contains(.writable) == true)
    }

    @Test func h360_aCachedShadowBuiltBeforeSetStackGetsTheStackWhenItBecomesCurrent() throws {
        let world = try PageTableWorld()
        let top: UInt32 = 0xC020_0000
        let second = GuestPhysicalAddress(frame: world.newGuestFrame())
        try world.map(top - 0x1000, to: 50, [.present, .writable])
        try world.map(top - 0x1000, to: 50, [.present, .writable], in: second)
        try world.tables.newPageTable(second)
        try world.tables.newPageTable(world.directory)
        try world.tables.pinStack(top: GuestVirtualAddress(top), pages: 1)
        try world.tables.newPageTable(second)
        #expect(world.tables.statistics.directoryHits == 2)
        #expect(try world.shadowEntry(top - 0x1000)?.flags.contains(.writable) == true)
    }

    /// Whatever the Guest changes, the stack is mapped again before it runs.
    @Test func h360_changesTouchingTheStackArePinnedAgain() throws {
        let world = try PageTableWorld()
        try world.tables.setKernelAddress(GuestVirtualAddress(0x8000_0000))
        let top: UInt32 = 0xC020_0000
        try world.map(top - 0x1000, to: 50, [.present, .writable])
        try world.tables.pinStack(top: GuestVirtualAddress(top), pages: 1)
        let stackPage = GuestVirtualAddress(top - 0x1000)
        func stackIsWritable() throws -> Bool { try world.shadowEntry(top - 0x1000)?.flags.contains(.writable) == true }

        try world.tables.setPTE(directory: world.directory, address: stackPage,
                                entry: PageTableEntry(frame: PageFrameNumber(50), flags: [.present, .writable]))
        #expect(try stackIsWritable(), "SET_PTE without accessed or dirty cleared the shadow; pinned again")
        try world.tables.setPMD(directory: world.directory, index: UInt32(stackPage.pageDirectoryIndex))
        #expect(try stackIsWritable(), "SET_PMD dropped the stack's page table; pinned again")

        // A Guest whose stack lives below its kernel address loses it on a user flush, and gets it back.
        try world.tables.setKernelAddress(GuestVirtualAddress(0xD000_0000))
        try world.tables.flush(kernelToo: false)
        #expect(try stackIsWritable())
        #expect(world.tables.statistics.faultsFixed == 0)
    }

    // MARK: H:370 walking the Guest's tables

    @Test func h370_guestPhysicalWalksTheCurrentDirectory() throws {
        let world = try PageTableWorld()
        try world.map(kernelAddress, to: 43, [.present])
        let gpa = try world.tables.guestPhysical(of: GuestVirtualAddress(kernelAddress + 0x123))
        #expect(gpa == GuestPhysicalAddress(43 << 12 | 0x123))
    }

    // MARK: H:410-H:420 SET_PTE

    @Test func h410_kernelEntriesReachEveryShadowUserEntriesOnlyTheirOwn() throws {
        let world = try PageTableWorld()
        try world.tables.setKernelAddress(pageOffset)
        var directories = [world.directory]
        for _ in 0..<2 { directories.append(GuestPhysicalAddress(frame: world.newGuestFrame())) }
        var shadows: [HostPhysicalAddress] = []
        for directory in directories {
            try world.map(kernelAddress, to: 44, [.present, .writable], in: directory)
            try world.map(userAddress, to: 45, [.present, .writable, .user], in: directory)
            try world.tables.newPageTable(directory)
            #expect(try world.tables.demandPage(GuestVirtualAddress(kernelAddress), []))
            #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
            shadows.append(world.tables.currentDirectory)
        }
        // A user entry changes in the second directory: only its shadow forgets it.
        try world.tables.setPTE(directory: directories[1], address: GuestVirtualAddress(userAddress),
                                entry: PageTableEntry(rawValue: 0))
        for (index, shadow) in shadows.enumerated() {
            #expect(try world.shadowEntry(userAddress, shadow: shadow)?.flags.contains(.present) == (index != 1))
        }
        // A kernel entry changes, named in any directory: every shadow forgets it.
        try world.tables.setPTE(directory: directories[0], address: GuestVirtualAddress(kernelAddress),
                                entry: PageTableEntry(rawValue: 0))
        for shadow in shadows {
            #expect(try world.shadowEntry(kernelAddress, shadow: shadow)?.flags.contains(.present) == false)
        }
    }

    /// Entries arriving with accessed or dirty set are installed at once; others just clear the shadow.
    static let eagerCases: [(PagingFlags, PagingFlags?)] = [
        ([.present, .writable], nil),
        ([.present, .writable, .accessed], [.present, .accessed]),
        ([.present, .writable, .accessed, .dirty], [.present, .writable, .accessed, .dirty]),
        ([.present, .dirty], [.present, .dirty]),
        ([.writable, .accessed, .dirty], nil),
        ([], nil),
    ]

    @Test(arguments: eagerCases)
    func h420_entriesWithAccessedOrDirtyAreInstalledAtOnce(guest: PagingFlags, shadow: PagingFlags?) throws {
        let world = try PageTableWorld()
        try world.map(kernelAddress, to: 44, [.present])
        #expect(try world.tables.demandPage(GuestVirtualAddress(kernelAddress), []))
        let entry = PageTableEntry(frame: PageFrameNumber(46), flags: guest)
        try world.tables.setPTE(directory: world.directory, address: GuestVirtualAddress(kernelAddress), entry: entry)
        let installed = try #require(try world.shadowEntry(kernelAddress))
        if let shadow {
            #expect(installed == PageTableEntry(frame: world.host(46), flags: shadow))
            #expect(world.tables.statistics.entriesInstalledEagerly == 1)
        } else {
            #expect(installed.rawValue == 0)
        }
    }

    @Test func h420_setPTEWithoutShadowTableDoesNothing() throws {
        let world = try PageTableWorld()
        let entry = PageTableEntry(frame: PageFrameNumber(46), flags: [.present, .accessed])
        try world.tables.setPTE(directory: world.directory, address: GuestVirtualAddress(kernelAddress), entry: entry)
        #expect(try world.shadowEntry(kernelAddress) == nil)
        #expect(world.pool.framesInUse == world.baselineFrames + 1)
    }

    // MARK: H:425 SET_PMD

    @Test func h425_setPMDReleasesTheShadowTableAndIgnoresTheSwitcherSlot() throws {
        let world = try PageTableWorld()
        let va: UInt32 = 0xFF80_0000  // directory index 1022, the last one the Guest owns
        try world.map(va, to: 44, [.present])
        #expect(try world.tables.demandPage(GuestVirtualAddress(va), []))
        let inUse = world.pool.framesInUse
        try world.tables.setPMD(directory: world.directory, index: 1022)
        #expect(try world.shadowEntry(va) == nil)
        #expect(world.pool.framesInUse == inUse - 1)

        try world.tables.setPMD(directory: world.directory, index: UInt32(switcherPageDirectoryIndex))
        #expect(try world.shadowDirectoryEntry(switcherAddress.rawValue).frame == world.switcherTable)
    }

    @Test func h425_setPMDForAnUncachedDirectoryDoesNothing() throws {
        let world = try PageTableWorld()
        try world.map(userAddress, to: 44, [.present, .user])
        #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
        try world.tables.setPMD(directory: GuestPhysicalAddress(0x5000), index: userAddress >> 22)
        #expect(try world.shadowEntry(userAddress)?.flags.contains(.present) == true)
    }

    // MARK: H:430-H:435 switching directories

    @Test func h430_switchingBackToACachedDirectoryIsAHit() throws {
        let world = try PageTableWorld()
        let second = GuestPhysicalAddress(frame: world.newGuestFrame())
        let first = world.tables.currentDirectory
        try world.tables.newPageTable(second)
        #expect(world.tables.currentDirectory != first)
        try world.tables.newPageTable(world.directory)
        #expect(world.tables.currentDirectory == first)
        #expect(world.tables.statistics.directoryHits == 1)
        #expect(world.tables.statistics.directoryMisses == 1)
        #expect(world.tables.currentGuestDirectory == world.directory)
    }

    @Test func h435_aFullCacheReusesTheLeastRecentlyUsedKeepingItsKernelHalf() throws {
        let world = try PageTableWorld()
        try world.tables.setKernelAddress(pageOffset)
        var directories = [world.directory]
        for _ in 0..<4 { directories.append(GuestPhysicalAddress(frame: world.newGuestFrame())) }
        var shadows: [HostPhysicalAddress] = []
        for directory in directories.prefix(4) {
            try world.map(kernelAddress, to: 44, [.present, .writable], in: directory)
            try world.map(userAddress, to: 45, [.present, .writable, .user], in: directory)
            try world.tables.newPageTable(directory)
            #expect(try world.tables.demandPage(GuestVirtualAddress(kernelAddress), []))
            #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
            shadows.append(world.tables.currentDirectory)
        }
        // Touch directories 0, 2 and 3 again: directory 1 is now the least recently used.
        for index in [0, 2, 3] { try world.tables.newPageTable(directories[index]) }
        let framesBefore = world.pool.framesInUse
        try world.tables.newPageTable(directories[4])
        #expect(world.tables.currentDirectory == shadows[1])
        #expect(try world.shadowEntry(userAddress)?.flags.contains(.present) != true, "user half dropped")
        #expect(try world.shadowEntry(kernelAddress)?.flags.contains(.present) == true, "kernel half kept")
        #expect(world.pool.framesInUse == framesBefore - 1, "the user page table went back to the pool")
        // The directory it stood for is no longer cached.
        try world.tables.newPageTable(directories[1])
        #expect(world.tables.statistics.directoryMisses == 5)
    }

    // MARK: H:440-H:470 flushes

    @Test func h440_userFlushKeepsKernelMappingsFullFlushDropsAll() throws {
        let world = try PageTableWorld()
        try world.tables.setKernelAddress(pageOffset)
        try world.map(kernelAddress, to: 44, [.present])
        try world.map(userAddress, to: 45, [.present, .user])
        #expect(try world.tables.demandPage(GuestVirtualAddress(kernelAddress), []))
        #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))

        try world.tables.flush(kernelToo: false)
        #expect(try world.shadowEntry(userAddress) == nil)
        #expect(try world.shadowEntry(kernelAddress) != nil)

        try world.tables.flush(kernelToo: true)
        #expect(try world.shadowEntry(kernelAddress) == nil)
        #expect(try world.shadowDirectoryEntry(switcherAddress.rawValue).frame == world.switcherTable)
        #expect(world.pool.framesInUse == world.baselineFrames + 1)
        #expect(world.tables.statistics.userFlushes == 1)
        #expect(world.tables.statistics.fullFlushes == 1)
    }

    @Test func h445_beforeInitAUserFlushHasNothingToFlush() throws {
        let world = try PageTableWorld()
        try world.map(userAddress, to: 45, [.present, .user])
        #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
        try world.tables.flush(kernelToo: false)
        #expect(try world.shadowEntry(userAddress) != nil)
    }

    // MARK: H:480 the Switcher

    @Test func h480_everyShadowMapsTheSwitcherForTheSupervisorOnly() throws {
        let world = try PageTableWorld()
        for _ in 0..<5 {
            try world.tables.newPageTable(GuestPhysicalAddress(frame: world.newGuestFrame()))
            let entry = try world.shadowDirectoryEntry(switcherAddress.rawValue)
            #expect(entry.frame == world.switcherTable)
            #expect(entry.flags.contains(.present))
            #expect(!entry.flags.contains(.user))
        }
    }

    @Test func h480_aProgramTouchingTheSwitcherIsTheGuestsProblem() throws {
        let world = try PageTableWorld()
        #expect(try !world.tables.demandPage(switcherAddress, [.user, .write]))
    }

    // MARK: H:500-H:505 set-up and release

    @Test func h500_kernelAddressMustLeaveTheSwitcherAlone() throws {
        let world = try PageTableWorld()
        try world.tables.setKernelAddress(GuestVirtualAddress(0xFFBF_FFFF))
        #expect(world.tables.kernelAddress == GuestVirtualAddress(0xFFBF_FFFF))
        expectViolation("bad kernel address") { () throws(GuestViolation) in
            try world.tables.setKernelAddress(switcherAddress)
        }
    }

    @Test func h505_releaseReturnsEveryFrameAndTheNextGuestReusesThem() throws {
        let world = try PageTableWorld()
        try world.tables.setKernelAddress(pageOffset)
        for index in 0..<6 {
            let directory = index == 0 ? world.directory : GuestPhysicalAddress(frame: world.newGuestFrame())
            try world.map(kernelAddress, to: 44, [.present], in: directory)
            try world.map(userAddress, to: 45, [.present, .user], in: directory)
            try world.tables.newPageTable(directory)
            _ = try world.tables.demandPage(GuestVirtualAddress(kernelAddress), [])
            _ = try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user])
        }
        #expect(world.pool.framesInUse > world.baselineFrames)
        world.tables.release()
        world.tables.release()
        #expect(world.pool.framesInUse == world.baselineFrames)

        let freeBefore = world.ram.freeFrameCount
        world.tables = try ShadowPageTables(guestMemory: world.memory, pool: world.pool,
                                            switcherPageTable: world.switcherTable, initialDirectory: world.directory)
        #expect(try world.tables.demandPage(GuestVirtualAddress(kernelAddress), []))
        #expect(world.ram.freeFrameCount == freeBefore, "the second Guest's shadows came from returned frames")
    }
}
