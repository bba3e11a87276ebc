/*H:300 The page table code.

We now come to the part of the Host that does the most work for the least applause: the shadow page
tables. It is the longest stretch of the Host, and the one that most earns a hypervisor its keep.

The Guest kernel keeps page tables exactly as a kernel on real hardware would: a page directory per
process, page tables beneath it, entries in the real i386 format (`X:300`). But those entries hold
*guest-physical* frame numbers, and the MMU wants *host-physical* ones. Worse, a guest that could hand
the MMU its own tables could map any frame of the host's RAM, including the Host's own pages and the
Switcher, and that would be the end of the Host.

So the MMU never sees the Guest's tables. While the Guest runs, cr3 holds a *shadow* page directory that
the Host built and that lives in host frames the Guest cannot name. Each shadow entry is a Guest entry
that the Host has read, checked and converted. Here is one address, 0xC0101234, seen both ways:

```
  the Guest's tables (in guest memory)           the shadow (in host frames the Guest cannot name)

  Guest cr3 ──> directory                        real cr3 ──> shadow directory
               [0x300] frame 0x3F0 P W A                     [0x300] host 0x812  P W A
                  │                                             │
                  v                                             v
               table at guest frame 0x3F0                    shadow table at host frame 0x812
               [0x101] frame 0x101 P W A D  ── checked, ──>  [0x101] host 0x101 + base  P W A D
                  │                            converted        │
                  v                                             v
               guest frame 0x101                             host frame 0x101 + base
               (the Guest's idea)                            (where the byte really is)
```

The frame numbers on the left are the Guest's own; the ones on the right are the Host's, and only the
Host writes them. The Host fills the shadows lazily:

1. A fresh shadow is empty, so the Guest's first touch of any page faults.
2. The fault comes to the Host (`H:330`), which walks the Guest's own tables to see what the Guest
   meant. If the Guest has no valid mapping either, the fault is the Guest's business and goes back to it.
3. Otherwise the Host converts the Guest's entry into a shadow entry and lets the Guest try again.

The Guest, for its part, tells the Host whenever it changes an entry (`H:400`), so that no shadow ever
holds a mapping the Guest has taken away. The hypercalls for that are the ones the Guest chapter made
lazy (`G:035`): they are the most frequent of all.

The code spans four files: this one holds the state and the helpers, `demandPage()` and its friends come
next (`H:330`), then the hypercalls that change or switch tables (`H:400`), and finally the Switcher's
place at the top of every address space (`H:480`). :*/

import LguestABI
import Machine

/*H:310 Frames for the shadows.

Shadow page directories and shadow page tables are pages of host memory, and the Host needs a steady
supply of them: a fresh page table every time the Guest touches a new 4 MiB region, handed back whenever
the Guest flushes its mappings. `PhysicalMemory` can only hand out frames (`X:050`), never take them
back, so the Host keeps its own pool on top of it: a stack of frames that were used and returned, and
the machine's allocator behind it for when the stack runs dry.

A returned frame is zeroed before it is handed out again. A page table full of stale entries would be a
gift to an attacker: the next Guest to receive it would find mappings into someone else's memory. The
pool also refuses, as a host bug, a frame returned twice, since two owners of one page table is exactly
the kind of mistake that corrupts memory far from its cause. One pool serves every Guest, so a Guest
that dies gives its frames back for the next one. */

/// The Host's supply of zeroed page frames for shadow page tables, shared by every Guest.
public final class FramePool {
    /// The host RAM the frames come from.
    public let memory: PhysicalMemory
    /// Frames returned and not yet handed out again, most recent last.
    private var returned: [PageFrameNumber] = []
    /// The same frames as a set, to catch a frame returned twice.
    private var returnedSet: Set<PageFrameNumber> = []
    /// The number of frames handed out and not yet returned.
    public private(set) var framesInUse = 0
    /// The number of frames returned and waiting to be handed out again.
    public var idleFrameCount: Int { returned.count }

    /// Creates a pool drawing on `memory`'s frame allocator.
    public init(memory: PhysicalMemory) {
        self.memory = memory
    }

    /// Hands out one zeroed frame, or nil when host RAM is exhausted.
    public func allocate() -> PageFrameNumber? {
        if let frame = returned.popLast() {
            returnedSet.remove(frame)
            do { try memory.zero(frame: frame) } catch {
                preconditionFailure("frame pool: returned frame \(frame) outside RAM")
            }
            framesInUse += 1
            return frame
        }
        guard let frame = memory.allocateFrames(count: 1) else { return nil }
        framesInUse += 1
        return frame
    }

    /// Takes back a frame this pool handed out. Returning a frame twice is a host bug.
    public func free(_ frame: PageFrameNumber) {
        precondition(memory.contains(frame: frame), "frame pool: \(frame) outside RAM")
        precondition(!returnedSet.contains(frame), "frame pool: \(frame) returned twice")
        returned.append(frame)
        returnedSet.insert(frame)
        framesInUse -= 1
    }
}
/*:*/

/*H:315 What the Host keeps for each Guest's page tables.

A Guest switches page directory on almost every context switch, and building a shadow from nothing
costs a fault for every page the new process touches. So, like lguest, we keep a small cache of shadow
directories, four of them, each remembering which Guest directory it shadows. Switching back to a
process whose directory is still cached costs nothing at all.

Each cached shadow is two things: the host frame of its page directory (what goes in cr3) and the
guest-physical address of the Guest directory it stands for. The shadow *page tables* hang off the
shadow directory's entries, so the directory frame is all we need to find them again: its entries are
the only record of which frames it owns. That keeps the bookkeeping honest, since there is nothing to
fall out of step with the tables the MMU actually walks.

Three more pieces of state complete the picture: which cached shadow is current, the Guest's
`kernelAddress` (where the kernel half of every address space begins, which the Guest reports when it
initialises, `H:500`), and where the Guest's kernel stack is, so that it can be pinned again whenever
it might have gone missing from the current shadow (`H:360`). */

/// One cached shadow page directory.
struct ShadowDirectory {
    /// The host frame holding the shadow page directory: what cr3 points at.
    let frame: PageFrameNumber
    /// The guest-physical address of the Guest page directory this one shadows.
    var guestDirectory: GuestPhysicalAddress
    /// The value of `ShadowPageTables.useClock` when this shadow was last made current.
    var lastUsed: UInt64
}

/// Counts of what the shadow page tables did, for `--stats` and the benchmarks.
public struct PageTableStatistics: Hashable, Sendable {
    /// Faults `demandPage()` fixed by installing a shadow entry.
    public var faultsFixed = 0
    /// Faults `demandPage()` left for the Guest to handle.
    public var faultsReflected = 0
    /// Guest entries installed straight away by SET_PTE because accessed or dirty was already set.
    public var entriesInstalledEagerly = 0
    /// Directory switches that found their shadow in the cache.
    public var directoryHits = 0
    /// Directory switches that had to take over or create a shadow.
    public var directoryMisses = 0
    /// Flushes of the user half of the current shadow.
    public var userFlushes = 0
    /// Flushes of every mapping in every shadow.
    public var fullFlushes = 0
    /// Shadow page tables allocated.
    public var pageTablesAllocated = 0

    public init() {}
}

/*H:317 The class that owns it all.

`ShadowPageTables` is a class, one per Guest, because it owns frames: every shadow directory and
table it holds came from the `FramePool` and must go back exactly once, which `release()` and the
`deinit` see to. Its limits are lguest's own, and they are there for a hostile Guest: four cached
directories however many processes the Guest runs, and at most two pinned stack pages however large a
stack it names. `installsEntriesEagerly` is the one switch; it exists only so a benchmark can show
what the eager install of `H:420` saves. */
/// The shadow page tables of one Guest: a cache of shadow directories built from the Guest's own
/// page tables, which the Switcher loads into cr3 while the Guest runs.
///
/// Every method that reads the Guest's tables or obeys a Guest request throws `GuestViolation` when the
/// Guest has asked for something no honest Guest would; the run loop kills the Guest with that reason.
public final class ShadowPageTables {
    /// How many shadow directories are cached (lguest's four).
    public static let cacheSize = 4
    /// The largest kernel stack the Host will pin, in pages (lguest allowed two).
    public static let maximumStackPages = 2

    /// The Guest's memory: where its page tables live.
    let guestMemory: GuestMemory
    /// Where shadow directories and tables come from and go back to.
    let pool: FramePool
    /// The host frame of the page table that maps the Switcher (`H:480`).
    let switcherPageTable: PageFrameNumber

    /// The cached shadows; at most `cacheSize`.
    var directories: [ShadowDirectory] = []
    /// The index in `directories` of the shadow in use.
    var current = 0
    /// Counts directory switches, to find the least recently used shadow.
    var useClock: UInt64 = 0
    /// The first address of the Guest kernel's half of every address space; 0 until INIT.
    public internal(set) var kernelAddress = GuestVirtualAddress(0)
    /// The top of the Guest kernel stack and its size in pages, once SET_STACK has named them.
    var stack: (top: GuestVirtualAddress, pages: Int)?
    /// Set once every frame has gone back to the pool.
    var released = false

    /// Whether SET_PTE installs entries that arrive accessed or dirty at once (`H:420`). Only switched
    /// off to measure what that saves.
    public var installsEntriesEagerly = true

    /// What the page tables have done so far.
    public internal(set) var statistics = PageTableStatistics()

    /// The host RAM the shadows live in.
    var ram: PhysicalMemory { pool.memory }

    /// Creates an empty cache; `init(guestMemory:pool:switcherPageTable:initialDirectory:)` fills it.
    init(guestMemory: GuestMemory, pool: FramePool, switcherPageTable: PageFrameNumber) {
        self.guestMemory = guestMemory
        self.pool = pool
        self.switcherPageTable = switcherPageTable
    }

    /// The host-physical address of the current shadow directory, for cr3.
    public var currentDirectory: HostPhysicalAddress {
        precondition(!released, "page tables: used after release")
        return HostPhysicalAddress(frame: directories[current].frame)
    }

    /// The guest-physical address of the Guest directory the current shadow stands for.
    public var currentGuestDirectory: GuestPhysicalAddress { directories[current].guestDirectory }

    deinit { release() }
}
/*:*/

/*H:320 Finding entries, ours and the Guest's.

Page table code is easy to get wrong in the arithmetic, so the address calculations live in small
helpers with one job each. Four kinds of entry concern us: the Guest's directory entry and page table
entry for an address (read from guest memory, through `GuestMemory`'s checks, since the Guest chose
where its tables are), and the shadow directory entry and shadow page table entry (read straight from
host RAM, since the Host chose where those are and an access outside RAM would be a Host bug).

The Switcher owns the last directory entry of every address space, `switcherPageDirectoryIndex` (`P:030`). Callers
check for it before they ask for a shadow entry; asking anyway is a Host bug, so the helpers insist. */

extension ShadowPageTables {
    /// The host address of directory entry `index` of cached shadow `shadow`.
    func shadowDirectoryEntryAddress(_ shadow: Int, index: Int) -> HostPhysicalAddress {
        precondition(index < switcherPageDirectoryIndex, "page tables: shadow entry \(index) is the Switcher's")
        return HostPhysicalAddress(frame: directories[shadow].frame, offset: UInt32(index) * 4)
    }

    /// Reads directory entry `index` of cached shadow `shadow`.
    func shadowDirectoryEntry(_ shadow: Int, index: Int) -> PageDirectoryEntry {
        PageDirectoryEntry(rawValue: hostLoad(shadowDirectoryEntryAddress(shadow, index: index)))
    }

    /// The host address of the shadow page table entry for `va` in the table `entry` points at.
    func shadowTableEntryAddress(_ entry: PageDirectoryEntry, _ va: GuestVirtualAddress) -> HostPhysicalAddress {
        precondition(entry.flags.contains(.present), "page tables: no shadow page table for \(va)")
        return HostPhysicalAddress(frame: entry.frame, offset: UInt32(va.pageTableIndex) * 4)
    }

    /// The guest-physical address of the Guest's directory entry for `va` in the current directory.
    func guestDirectoryEntryAddress(_ va: GuestVirtualAddress) -> GuestPhysicalAddress {
        directories[current].guestDirectory.advanced(by: UInt32(va.pageDirectoryIndex) * 4)
    }

    /// The guest-physical address of the Guest's page table entry for `va` under directory entry `entry`.
    func guestTableEntryAddress(_ entry: PageDirectoryEntry, _ va: GuestVirtualAddress) -> GuestPhysicalAddress {
        GuestPhysicalAddress(frame: entry.frame, offset: UInt32(va.pageTableIndex) * 4)
    }

    /// Reads the Guest's directory entry for `va` from its current directory.
    func guestDirectoryEntry(_ va: GuestVirtualAddress) throws(GuestViolation) -> PageDirectoryEntry {
        PageDirectoryEntry(rawValue: try guestMemory.load32(guestDirectoryEntryAddress(va)))
    }

    /// Reads 32 bits of host RAM the Host itself allocated.
    func hostLoad(_ address: HostPhysicalAddress) -> UInt32 {
        do { return try ram.load32(at: address) } catch {
            preconditionFailure("page tables: shadow access outside RAM: \(error)")
        }
    }

    /// Writes 32 bits of host RAM the Host itself allocated.
    func hostStore(_ value: UInt32, _ address: HostPhysicalAddress) {
        do { try ram.store32(value, at: address) } catch {
            preconditionFailure("page tables: shadow access outside RAM: \(error)")
        }
    }
}
/*:*/
