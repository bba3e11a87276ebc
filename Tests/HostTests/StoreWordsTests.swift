// Tests of S:236: `storeWords` must be `storeBytes` of the words' little-endian bytes in every way
// a Guest could notice (the bytes in memory, the faults, the virtual time) and in every way a hostile
// Guest could use (a frame running onto a page it may not write kills it with the same reason).

import LguestABI
import Machine
@testable import Switcher
import Testing
@testable import Host

/// The five words of a return-to-user frame, as the Guest kernel's `resume()` writes them.
private let frameWords: InlineArray<5, UInt32> = [0x0804_8054, 0x0000_0023, 0x0000_0202, 0xBFFF_F000, 0x0000_002B]

/// The same five words as the bytes `storeBytes` would be given: least significant first.
private let frameBytes: [UInt8] = frameWords.indices.flatMap { index in
    (0..<4).map { UInt8(truncatingIfNeeded: frameWords[index] >> (8 * UInt32($0))) }
}

/// What one Guest saw of one store of the frame.
private struct StoreOutcome: Equatable {
    var readBack: [UInt8] = []
    /// Time-stamp ticks across the store alone (faults and their fixing included).
    var ticks: UInt64 = 0
    var pageFaultsFixed: UInt64 = 0
    var exit: GuestExit?
    /// What the Guest's page-fault handler saw, when it had one and it ran: cr2, the error code, and
    /// the bytes of the frame's first page as the fault left them.
    var fault: (cr2: UInt32, errorCode: UInt32, bytes: [UInt8])?

    static func == (a: Self, b: Self) -> Bool {
        a.readBack == b.readBack && a.ticks == b.ticks && a.pageFaultsFixed == b.pageFaultsFixed
            && a.exit == b.exit && a.fault?.cr2 == b.fault?.cr2 && a.fault?.errorCode == b.fault?.errorCode
            && a.fault?.bytes == b.fault?.bytes
    }
}

/// The page the tests protect, and its first address.
private let protectedPage: UInt32 = 0x21
private let boundary = Int(protectedPage) * pageSize

/// Boots a test-bed Guest that stores the frame at the kernel address of `gpa` (as words or as
/// bytes), reads it back and powers off. `protect` sets the flags of the kernel's entry for
/// `protectedPage` first; `handler` gives the Guest a page-fault handler that records what it saw.
private func storeFrame(words: Bool, at gpa: GuestPhysicalAddress, protect: PagingFlags? = nil,
                        handler: Bool = false) throws -> StoreOutcome {
    let bed = HostTestBed()
    var outcome = StoreOutcome()
    let address = Bed.kva(gpa)
    let writable = max(0, boundary - Int(gpa.rawValue))
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "page fault") { cpu throws(GuestStopped) in
            let errorCode = try cpu.load32(GuestVirtualAddress(cpu.registers.esp))
            let cr2 = try cpu.load32(Bed.field(LguestData.cr2))
            outcome.fault = (cr2, errorCode, try cpu.loadBytes(address, count: min(writable, frameBytes.count)))
            try Bed.powerOff(cpu, "faulted")
        }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        if handler { try Bed.setGate(cpu, vector: ExceptionVector.pageFault.rawValue, handler: entryAddress(0)) }
        let before = cpu.readTimeStampCounter()
        if words { try cpu.storeWords(frameWords, at: address) } else { try cpu.storeBytes(frameBytes, at: address) }
        outcome.ticks = cpu.readTimeStampCounter() - before
        outcome.readBack = try cpu.loadBytes(address, count: frameBytes.count)
        try Bed.powerOff(cpu)
    }
    if let protect {
        let entry = PageTableEntry(frame: PageFrameNumber(protectedPage), flags: protect)
        try guest.memory.store32(entry.rawValue, at: Bed.kernelTable.advanced(by: protectedPage * 4))
    }
    outcome.exit = bed.host.run(guest)
    outcome.pageFaultsFixed = guest.statistics.pageFaultsFixed
    // Whatever this Guest did, the Host runs the next one.
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
    return outcome
}

/// Every start from 24 bytes before a page boundary to 4 after it: aligned and not, wholly on one
/// page, straddling it at each byte of a word, and wholly on the next page.
private let startsAroundABoundary = (boundary - 24...boundary + 4).map { GuestPhysicalAddress(UInt32($0)) }

@Test(arguments: startsAroundABoundary)
func s236_wordsLandAsTheirBytesWouldWithTheSameFaultsAndTheSameTime(start: GuestPhysicalAddress) throws {
    let asWords = try storeFrame(words: true, at: start)
    let asBytes = try storeFrame(words: false, at: start)
    #expect(asWords.exit == .poweredOff("done"))
    #expect(asWords.readBack == frameBytes)
    // Byte for byte the same memory, the same page faults fixed, the same virtual time.
    #expect(asWords == asBytes)
}

/// Starts for the protected-page tests: straddling onto the page at a word boundary and inside a
/// word, ending just short of it, and wholly on it.
private let startsNearTheProtectedPage = [boundary - 8, boundary - 7, boundary - 20, boundary + 4]

@Test(arguments: [PagingFlags.present, []], startsNearTheProtectedPage)
func s236_aFrameOnAPageTheKernelMayNotWriteFaultsAndKillsAsTheBytesWould(flags: PagingFlags, start: Int) throws {
    // The protected page read-only (present, not writable: CR0.WP binds ring 1, `P:020`) or not
    // present at all.
    let gpa = GuestPhysicalAddress(UInt32(start))
    let touchesPage = start + frameBytes.count > boundary
    // With no page-fault handler, the reflected fault has nowhere to go: the Guest dies.
    let unhandled = (words: try storeFrame(words: true, at: gpa, protect: flags),
                     bytes: try storeFrame(words: false, at: gpa, protect: flags))
    if touchesPage {
        guard case let .killed(reason) = unhandled.words.exit else {
            Issue.record("a store to a protected page did not kill: \(String(describing: unhandled.words.exit))")
            return
        }
        #expect(reason.hasPrefix("traps: unhandled trap 14"), "got \(reason)")
    } else {
        #expect(unhandled.words.exit == .poweredOff("done"))
    }
    #expect(unhandled.words == unhandled.bytes)
    // With one, it sees the same fault: the same cr2 and error code, the same bytes already written.
    let handled = (words: try storeFrame(words: true, at: gpa, protect: flags, handler: true),
                   bytes: try storeFrame(words: false, at: gpa, protect: flags, handler: true))
    #expect(handled.words.exit == .poweredOff(touchesPage ? "faulted" : "done"))
    if touchesPage { #expect(handled.words.fault?.cr2 == Bed.kva(GuestPhysicalAddress(UInt32(max(start, boundary)))).rawValue) }
    #expect(handled.words == handled.bytes)
}

@Test func s236_aFrameWrappingPastTheTopOfTheAddressSpaceKillsAsTheBytesWould() throws {
    // Eight bytes before 2^32, in the Switcher's region, then round to address 0. The first page
    // faults before a byte is written, and the Host, which owns that region, kills the Guest for it.
    func exit(words: Bool) throws -> GuestExit {
        let bed = HostTestBed()
        let guest = try bed.makeGuest { cpu throws(GuestStopped) in
            try Bed.initialize(cpu)
            let top = GuestVirtualAddress(0xFFFF_FFF8)
            if words { try cpu.storeWords(frameWords, at: top) } else { try cpu.storeBytes(frameBytes, at: top) }
            try Bed.powerOff(cpu)
        }
        let exit = bed.host.run(guest)
        #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
        return exit
    }
    let asWords = try exit(words: true)
    guard case let .killed(reason) = asWords else { Issue.record("survived: \(asWords)"); return }
    #expect(reason == "page tables: guest kernel touched the Switcher at gva:0xfffffff8")
    #expect(try asWords == exit(words: false))
}
