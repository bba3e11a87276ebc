/*X:300 Page directory and page table entries.

Both levels of the i386's page tables hold the same shape of 32-bit entry: a page frame number in the
top twenty bits and flags in the low twelve.

```
 31                                      12 11  9  8   7   6   5   4   3   2   1   0
+------------------------------------------+-----+---+---+---+---+---+---+---+---+---+
|          page frame number               |avail| G |PS/| D | A |PCD|PWT|U/S|R/W| P |
|                                          |     |   |PAT|   |   |   |   |   |   |   |
+------------------------------------------+-----+---+---+---+---+---+---+---+---+---+
```

* **P**: present. If clear, the MMU looks at nothing else and raises a page fault; the other 31 bits are
  the operating system's to use (Linux keeps swap locations there).
* **R/W** and **U/S**: writable, and reachable from ring 3. The MMU combines them across both levels:
  a page is writable only if both the directory entry and the table entry say so, and likewise for user
  access (`X:330`).
* **A** and **D**: accessed and dirty. The MMU sets A in both entries on any use, and D in the table
  entry on a write, so the kernel can tell which pages to age or write back. The MMU *writes* these
  bits into memory: page tables are not read-only to hardware.
* **PS** in a directory entry asks for a 4 MiB page. This machine does not implement large pages (CR4.PSE
  is not offered), so the MMU treats PS as a reserved bit and faults. In a table entry bit 7 is PAT,
  a caching attribute we ignore.
* **G**: global; the entry survives a cr3 reload when CR4.PGE is on.
* **PWT**, **PCD**: cache policy. We have no cache, so they mean nothing here, and are kept only so
  that entries round-trip.

Because the two levels share a layout, they share one `PagingFlags` type; the entries stay distinct types
so a directory entry cannot be stored where a table entry belongs. */

/// The low twelve bits of a page directory or page table entry (Intel Vol. 3 §4.3, tables 4-5 and 4-6).
/// Names in parentheses are the Linux macros.
public struct PagingFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue & 0xFFF }

    /// P, bit 0: the entry is valid (`_PAGE_PRESENT`).
    public static let present = PagingFlags(rawValue: 1 << 0)
    /// R/W, bit 1: writes allowed (`_PAGE_RW`).
    public static let writable = PagingFlags(rawValue: 1 << 1)
    /// U/S, bit 2: ring 3 may access (`_PAGE_USER`).
    public static let user = PagingFlags(rawValue: 1 << 2)
    /// PWT, bit 3: write-through caching (`_PAGE_PWT`).
    public static let writeThrough = PagingFlags(rawValue: 1 << 3)
    /// PCD, bit 4: caching disabled (`_PAGE_PCD`).
    public static let cacheDisabled = PagingFlags(rawValue: 1 << 4)
    /// A, bit 5: set by the MMU when the entry is used (`_PAGE_ACCESSED`).
    public static let accessed = PagingFlags(rawValue: 1 << 5)
    /// D, bit 6: set by the MMU in a page table entry on write (`_PAGE_DIRTY`).
    public static let dirty = PagingFlags(rawValue: 1 << 6)
    /// PS, bit 7 of a directory entry: a 4 MiB page (`_PAGE_PSE`); unsupported here, so it faults.
    /// In a page table entry the same bit is PAT, which this machine ignores.
    public static let pageSize = PagingFlags(rawValue: 1 << 7)
    /// G, bit 8: a global page, kept across cr3 loads when CR4.PGE is set (`_PAGE_GLOBAL`).
    public static let global = PagingFlags(rawValue: 1 << 8)

    public var description: String {
        let names: [(PagingFlags, String)] = [
            (.present, "P"), (.writable, "W"), (.user, "U"), (.writeThrough, "PWT"), (.cacheDisabled, "PCD"),
            (.accessed, "A"), (.dirty, "D"), (.pageSize, "PS"), (.global, "G"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: "|")
    }
}

/*X:305 Two entry types with one set of rules.

A directory entry and a table entry have the same shape, a frame number above the twelve flag bits,
and so one protocol, `PagingEntry`, supplies the frame and the flags to both. They stay two types all
the same, because mixing them up is a real bug: storing a page's frame where a page table's belongs
gives the guest a "page table" made of whatever data the page holds. With two types the compiler
refuses it. Bits 11 to 9 are free for the operating system: reading `flags` shows them (so the Host
can refuse a Guest's entry that sets one, `H:345`), while setting `flags` changes only bits 8 to 0, so
the software bits survive and an entry read from guest memory and written back is unchanged. */
/// What a page directory entry and a page table entry share: a frame number in bits 31-12 and
/// `PagingFlags` in bits 11-0, of which bits 11-9 are the software's: setting `flags` leaves them. The two
/// entry types conform separately, so one can never be stored where the other belongs.
public protocol PagingEntry: RawRepresentable<UInt32>, Hashable, Sendable, CustomStringConvertible {
    /// The entry from its 32-bit value.
    init(rawValue: UInt32)
    /// A short name for messages: `pde` or `pte`.
    static var kindName: String { get }
}

extension PagingEntry {
    public typealias Flags = PagingFlags

    /// An entry pointing at `frame` (which must fit in 20 bits) with `flags`.
    @inlinable public init(frame: PageFrameNumber, flags: Flags) {
        precondition(frame.rawValue < 1 << 20, "\(Self.kindName): frame \(frame) too large")
        self.init(rawValue: frame.rawValue << pageShift | flags.rawValue)
    }

    /// The frame the entry points at (bits 31-12): a page table's for a directory entry, a page's for a
    /// table entry.
    @inlinable public var frame: PageFrameNumber {
        get { PageFrameNumber(rawValue >> pageShift) }
        set { self = Self(frame: newValue, flags: flags) }
    }

    /// The flags: reading gives bits 11-0, the software bits 11-9 included; writing changes only
    /// bits 8-0, so the software bits stay as they were.
    @inlinable public var flags: Flags {
        get { Flags(rawValue: rawValue & pageOffsetMask) }
        set { self = Self(rawValue: rawValue & ~0x1FF | newValue.rawValue & 0x1FF) }
    }

    public var description: String { "\(Self.kindName)(\(frame) \(flags))" }
}

/// An entry of a page directory: the frame of a page table, and flags.
public struct PageDirectoryEntry: PagingEntry {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static var kindName: String { "pde" }
}

/// An entry of a page table: the frame of a page, and flags.
public struct PageTableEntry: PagingEntry {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static var kindName: String { "pte" }
}
/*:*/
