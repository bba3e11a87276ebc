import Testing
@testable import Machine

@Suite struct PageTableEntryTests {
    @Test func x300_flagBitsMatchTheManual() {
        let expected: [(PagingFlags, Int)] = [
            (.present, 0), (.writable, 1), (.user, 2), (.writeThrough, 3), (.cacheDisabled, 4),
            (.accessed, 5), (.dirty, 6), (.pageSize, 7), (.global, 8),
        ]
        for (flag, bit) in expected { #expect(flag.rawValue == 1 << bit) }
    }

    @Test func x300_entriesSplitIntoFrameAndFlagsAndRoundTrip() {
        var generator = SplitMix(seed: 300)
        for _ in 0..<4000 {
            let raw = UInt32(truncatingIfNeeded: generator.next())
            let pte = PageTableEntry(rawValue: raw)
            #expect(pte.frame.rawValue == raw >> 12)
            #expect(PageTableEntry(frame: pte.frame, flags: pte.flags).rawValue == raw)
            let pde = PageDirectoryEntry(rawValue: raw)
            #expect(PageDirectoryEntry(frame: pde.frame, flags: pde.flags).rawValue == raw)
            var changed = pte
            changed.flags = [.present, .dirty]
            #expect(changed.frame == pte.frame && changed.rawValue & 0xE00 == raw & 0xE00)
            #expect(changed.flags.contains(.dirty) && !changed.flags.contains(.writable))
        }
        let entry = PageTableEntry(frame: PageFrameNumber(0x12345), flags: [.present, .writable, .user])
        #expect(entry.rawValue == 0x1234_5007)
    }
}
