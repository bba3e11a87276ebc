// Random sequences of Guest requests against the shadow page tables (H:330-H:470): whatever a Guest
// asks, in whatever order, the Host never traps and the shadows keep every invariant the MMU relies on.

import Testing
import LguestABI
import Machine
@testable import Host

@Suite struct PageTableFuzzTests {
    /// A deterministic pseudo-random source (a 64-bit linear congruential generator).
    struct Dice {
        var state: UInt64
        mutating func next() -> UInt32 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt32(truncatingIfNeeded: state >> 32)
        }
        mutating func below(_ bound: UInt32) -> UInt32 { next() % bound }
        mutating func chance(_ percent: UInt32) -> Bool { below(100) < percent }
        /// True about three times in a thousand: for requests that kill, so that most Guests live long.
        mutating func rarely() -> Bool { below(1000) < 3 }
    }

    /// Guest frames 0...2 are candidate page directories, 6...8 candidate page tables, 14 on data.
    static let directories = (0..<3).map { GuestPhysicalAddress(UInt32($0) << 12) }
    static let guestPages: UInt32 = 32

    /// A plausible or, now and then, absurd entry pointing at one of `frames`.
    private func entry(_ dice: inout Dice, frames: ClosedRange<UInt32>, flags: UInt32) -> UInt32 {
        let frame = dice.rarely() ? dice.next() >> 12 : frames.lowerBound + dice.below(UInt32(frames.count))
        let bits = dice.rarely() ? dice.next() & 0xFFF : dice.next() & flags
        return frame << 12 | bits | (dice.chance(80) ? PagingFlags.present.rawValue : 0)
    }

    /// An address in one of a few regions, so that requests collide often; rarely the Switcher's.
    private func address(_ dice: inout Dice) -> GuestVirtualAddress {
        let regions: [UInt32] = [0x0040_0000, 0x0804_8000, 0xBFFF_F000, 0xC000_0000, 0xC010_0000, 0xFF80_0000]
        let base = dice.rarely() ? 0xFFC0_0000 : regions[Int(dice.below(UInt32(regions.count)))]
        return GuestVirtualAddress(base &+ dice.below(4) << 12 &+ dice.below(4096))
    }

    /// One random request; returns normally or with the Guest's violation.
    private func randomRequest(_ world: PageTableWorld, _ dice: inout Dice) throws(GuestViolation) {
        let memory = world.memory
        switch dice.below(10) {
        case 0, 1:  // the Guest edits a directory entry in its memory
            let va = address(&dice), directory = Self.directories[Int(dice.below(3))]
            let value = entry(&dice, frames: 6...8, flags: 0x67)
            try memory.store32(value, at: directory.advanced(by: UInt32(va.pageDirectoryIndex) * 4))
        case 2, 3:  // the Guest edits a table entry in its memory
            let va = address(&dice), table = GuestPhysicalAddress((6 + dice.below(3)) << 12)
            let value = entry(&dice, frames: 14...31, flags: 0x17F)
            try memory.store32(value, at: table.advanced(by: UInt32(va.pageTableIndex) * 4))
        case 4, 5:
            _ = try world.tables.demandPage(address(&dice), PageFaultErrorCode(rawValue: dice.below(8)))
        case 6:
            let directory = Self.directories[Int(dice.below(3))]
            let value = entry(&dice, frames: 14...31, flags: 0x17F)
            try world.tables.setPTE(directory: directory, address: address(&dice), entry: PageTableEntry(rawValue: value))
        case 7:
            let index = dice.rarely() ? dice.next() : dice.below(1025)
            try world.tables.setPMD(directory: Self.directories[Int(dice.below(3))], index: index)
        case 8:
            let directory = dice.rarely() ? GuestPhysicalAddress(dice.next()) : Self.directories[Int(dice.below(3))]
            try world.tables.newPageTable(directory)
        default:
            switch dice.below(100) {
            case 0: try world.tables.pinStack(top: address(&dice).pageBase, pages: Int(dice.below(3)))
            case 1: try world.tables.setKernelAddress(GuestVirtualAddress(dice.chance(90) ? 0xC000_0000 : dice.next()))
            case 2: _ = try world.tables.guestPhysical(of: address(&dice))
            default: try world.tables.flush(kernelToo: dice.chance(50))
            }
        }
    }

    /// The invariants of the shadows: the Switcher in every directory, shadow tables only in pool
    /// frames and each owned once, shadow pages only in the Guest's memory, no writable entry that is
    /// not dirty, nothing the Guest may not set, and the pool's count in step with all of it. While the
    /// Guest lives, its kernel stack is pinned too.
    private func checkInvariants(_ world: PageTableWorld, alive: Bool) throws {
        let tables = world.tables
        let guestFrames = world.memory.baseFrame..<world.memory.baseFrame.advanced(by: world.memory.pageCount)
        var owned: Set<PageFrameNumber> = []
        for shadow in tables.directories {
            owned.insert(shadow.frame)
            let directory = HostPhysicalAddress(frame: shadow.frame)
            let top = PageDirectoryEntry(rawValue: try world.ram.load32(at: directory.advanced(by: 1023 * 4)))
            #expect(top == tables.switcherDirectoryEntry)
            for index in 0..<1023 {
                let pde = PageDirectoryEntry(rawValue: try world.ram.load32(at: directory.advanced(by: UInt32(index) * 4)))
                guard pde.flags.contains(.present) else { continue }
                #expect(!guestFrames.contains(pde.frame), "a shadow page table inside guest memory")
                #expect(owned.insert(pde.frame).inserted, "a shadow page table owned twice")
                #expect(!pde.flags.contains(.pageSize))
                for slot in 0..<1024 {
                    let pte = PageTableEntry(rawValue: try world.ram.load32(at: HostPhysicalAddress(frame: pde.frame, offset: UInt32(slot) * 4)))
                    guard pte.rawValue != 0 else { continue }
                    #expect(guestFrames.contains(pte.frame), "a shadow entry outside guest memory: \(pte)")
                    #expect(pte.flags.isSubset(of: allowedTableFlags), "\(pte)")
                    #expect(!pte.flags.contains(.writable) || pte.flags.contains(.dirty), "\(pte)")
                    #expect(pte.rawValue & 0xE00 == 0)
                }
            }
        }
        #expect(world.pool.framesInUse == world.baselineFrames + owned.count)
        for page in tables.stackPages where alive {
            #expect(try tables.isWritableInShadow(page), "the kernel stack is not pinned at \(page)")
        }
    }

    @Test func h400_randomRequestSequencesKeepEveryInvariant() throws {
        var dice = Dice(state: 0x6C67_7565_7374)
        var outcomes = (survived: 0, killed: 0, faultsFixed: 0, eager: 0)
        for _ in 0..<40 {
            let world = try PageTableWorld(ramFrames: 128, guestPages: Self.guestPages)
            var alive = true
            for step in 0..<150 where alive {
                do {
                    try randomRequest(world, &dice)
                } catch {
                    alive = false
                }
                if step % 15 == 0 || !alive { try checkInvariants(world, alive: alive) }
            }
            if alive { outcomes.survived += 1 } else { outcomes.killed += 1 }
            outcomes.faultsFixed += world.tables.statistics.faultsFixed
            outcomes.eager += world.tables.statistics.entriesInstalledEagerly
            world.tables.release()
            #expect(world.pool.framesInUse == world.baselineFrames)
        }
        // The dice must reach every outcome, or the test proves little.
        #expect(outcomes.survived > 0 && outcomes.killed > 0, "\(outcomes)")
        #expect(outcomes.faultsFixed > 0 && outcomes.eager > 0, "\(outcomes)")
    }
}
