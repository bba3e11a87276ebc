// A small world for the page table and segment tests (H:3xx-H:6xx): host RAM, one Guest's memory,
// the Host's frame pool, a stand-in for the Switcher's page table, and helpers to write the Guest's
// page tables and read the shadows back. Test names start with the tag of the section they check.

import Testing
import LguestABI
import Machine
@testable import Host

final class PageTableWorld {
    /// Host RAM: 2 MiB unless a test asks for less.
    let ram: PhysicalMemory
    let memory: GuestMemory
    let pool: FramePool
    /// The Switcher's page table: three pages, the middle one writable, as the Switcher builds it.
    let switcherTable: PageFrameNumber
    /// The Guest's first page directory: guest page 0.
    let directory = GuestPhysicalAddress(0)
    /// The next guest frame the helpers hand out for page tables; data frames are chosen by tests.
    var nextTableFrame: UInt32 = 1
    /// The frames the pool had handed out before any Guest existed (the Switcher's table).
    let baselineFrames: Int
    var tables: ShadowPageTables

    init(ramFrames: Int = 512, guestPages: UInt32 = 64, poolLimit: Int? = nil) throws {
        ram = PhysicalMemory(frameCount: ramFrames)
        guard let base = ram.allocateFrames(count: Int(guestPages)) else { fatalError("test RAM too small") }
        memory = GuestMemory(physicalMemory: ram, baseFrame: base, pageCount: guestPages)
        pool = FramePool(memory: ram)
        guard let table = pool.allocate(), let switcherCode = ram.allocateFrames(count: 3) else {
            fatalError("test RAM too small")
        }
        for page in 0..<3 {
            let flags: PagingFlags = page == 1 ? [.present, .writable, .accessed, .dirty] : [.present, .accessed]
            let entry = PageTableEntry(frame: switcherCode.advanced(by: UInt32(page)), flags: flags)
            try ram.store32(entry.rawValue, at: HostPhysicalAddress(frame: table, offset: UInt32(page) * 4))
        }
        switcherTable = table
        if let poolLimit {
            // Use up host RAM so that only `poolLimit` more frames remain for shadows.
            _ = ram.allocateFrames(count: ram.freeFrameCount - poolLimit)
        }
        baselineFrames = pool.framesInUse
        tables = try ShadowPageTables(guestMemory: memory, pool: pool, switcherPageTable: table,
                                      initialDirectory: GuestPhysicalAddress(0))
    }

    // MARK: The Guest's page tables

    /// A fresh guest frame for a page table or directory, zeroed by construction.
    func newGuestFrame() -> PageFrameNumber {
        defer { nextTableFrame += 1 }
        return PageFrameNumber(nextTableFrame)
    }

    /// Reads the Guest's directory entry for `va` in `directory`.
    func guestDirectoryEntry(_ va: UInt32, in directory: GuestPhysicalAddress? = nil) throws -> PageDirectoryEntry {
        let dir = directory ?? self.directory
        return PageDirectoryEntry(rawValue: try memory.load32(dir.advanced(by: (va >> 22) * 4)))
    }

    /// Writes the Guest's directory entry for `va` in `directory`.
    func setGuestDirectoryEntry(_ va: UInt32, _ entry: PageDirectoryEntry, in directory: GuestPhysicalAddress? = nil) throws {
        let dir = directory ?? self.directory
        try memory.store32(entry.rawValue, at: dir.advanced(by: (va >> 22) * 4))
    }

    /// The guest-physical address of the Guest's table entry for `va`, giving the directory a page
    /// table (with `directoryFlags`) if it has none.
    func guestEntryAddress(_ va: UInt32, in directory: GuestPhysicalAddress? = nil,
                           directoryFlags: PagingFlags = [.present, .writable, .user]) throws -> GuestPhysicalAddress {
        var pde = try guestDirectoryEntry(va, in: directory)
        if !pde.flags.contains(.present) {
            pde = PageDirectoryEntry(frame: newGuestFrame(), flags: directoryFlags)
            try setGuestDirectoryEntry(va, pde, in: directory)
        }
        return GuestPhysicalAddress(frame: pde.frame, offset: (va >> 12 & 0x3FF) * 4)
    }

    /// Maps `va` to guest frame `frame` with `flags` in the Guest's tables under `directory`.
    func map(_ va: UInt32, to frame: UInt32, _ flags: PagingFlags, in directory: GuestPhysicalAddress? = nil,
             directoryFlags: PagingFlags = [.present, .writable, .user]) throws {
        let address = try guestEntryAddress(va, in: directory, directoryFlags: directoryFlags)
        try memory.store32(PageTableEntry(frame: PageFrameNumber(frame), flags: flags).rawValue, at: address)
    }

    /// Reads the Guest's table entry for `va` (the directory entry must be present).
    func guestEntry(_ va: UInt32, in directory: GuestPhysicalAddress? = nil) throws -> PageTableEntry {
        let pde = try guestDirectoryEntry(va, in: directory)
        return PageTableEntry(rawValue: try memory.load32(GuestPhysicalAddress(frame: pde.frame, offset: (va >> 12 & 0x3FF) * 4)))
    }

    /// Writes a raw Guest table entry for `va`.
    func setGuestEntry(_ va: UInt32, raw: UInt32, in directory: GuestPhysicalAddress? = nil) throws {
        try memory.store32(raw, at: try guestEntryAddress(va, in: directory))
    }

    // MARK: The shadows

    /// The current shadow's directory entry for `va`.
    func shadowDirectoryEntry(_ va: UInt32, shadow: HostPhysicalAddress? = nil) throws -> PageDirectoryEntry {
        let dir = shadow ?? tables.currentDirectory
        return PageDirectoryEntry(rawValue: try ram.load32(at: dir.advanced(by: (va >> 22) * 4)))
    }

    /// The current shadow's table entry for `va`, or nil when its directory entry is not present.
    func shadowEntry(_ va: UInt32, shadow: HostPhysicalAddress? = nil) throws -> PageTableEntry? {
        let pde = try shadowDirectoryEntry(va, shadow: shadow)
        guard pde.flags.contains(.present) else { return nil }
        return PageTableEntry(rawValue: try ram.load32(at: HostPhysicalAddress(frame: pde.frame, offset: (va >> 12 & 0x3FF) * 4)))
    }

    /// The host frame behind guest frame `frame`.
    func host(_ frame: UInt32) -> PageFrameNumber { memory.baseFrame.advanced(by: frame) }
}

/// Expects `body` to throw a `GuestViolation` whose reason contains `fragment`.
func expectViolation(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () throws(GuestViolation) -> Void) {
    do {
        try body()
        Issue.record("expected a guest violation containing \"\(fragment)\"", sourceLocation: sourceLocation)
    } catch {
        #expect(error.reason.contains(fragment), "reason was: \(error.reason)", sourceLocation: sourceLocation)
    }
}

let userAddress: UInt32 = 0x0804_8000
let kernelAddress: UInt32 = 0xC010_0000
