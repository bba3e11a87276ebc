/*X:070 Inside the core.

`Core` is the machine seen from the inside: the architectural `CPUState`, plus everything the
interpreter keeps to go fast, none of which a program could observe:

* a raw pointer to RAM, borrowed from `PhysicalMemory` (the owning `Machine` keeps the memory alive, and
  every offset used through it has been checked against RAM when its TLB entry was filled);
* the TLB itself (`X:340`), 256 slots in memory the core allocates and the machine frees;
* the current code page (`X:510`);
* the lazy flags (`X:520`): the operation, operands and result of the last flag-setting instruction;
* the prefixes of the instruction being decoded, and where it started, so a fault can restart it;
* the cached segment bases, so an effective address costs one addition;
* the run's budget and the clock and statistics it settles when it ends.

Whenever a `CPUState` is installed from outside (`Machine.cpu`'s setter), the core drops everything
cached from the old one: pending lazy flags, the code page, the segment bases, and, if the paging
registers changed, the TLB. */

/// One TLB slot: the page it maps, the host frame it maps to, and which accesses may use it.
///
/// Each of the four tags holds `page base | generation` when that kind of access may use the slot
/// without a walk, and 0 otherwise, so a lookup is one comparison (X:340). A write tag is set only once the page table
/// entry's dirty bit is set, so the first write to a clean page still walks and sets D.
struct TLBEntry {
    var userRead: UInt32 = 0
    var userWrite: UInt32 = 0
    var supervisorRead: UInt32 = 0
    var supervisorWrite: UInt32 = 0
    /// The host-physical address of the mapped frame; checked against RAM when the slot was filled.
    var frameBase: UInt32 = 0
    /// The mapping came from a global page table entry (kept across cr3 loads under CR4.PGE).
    var global = false
}

/// The number of TLB slots: direct-mapped, indexed by the low bits of the virtual page number.
let tlbSlotCount = 256

struct Core {
    var cpu: CPUState
    /// The x87 (X:610). Beside `cpu`, not in it: a world switch swaps `CPUState`, and the FPU belongs
    /// to whoever last loaded it, as on the hardware (G:040).
    var fpu = FPUState()
    var clock = VirtualClock()
    var statistics = MachineStatistics()
    /// The start of RAM, borrowed from `PhysicalMemory`, which the owning `Machine` keeps alive.
    let ram: UnsafeMutableRawPointer
    /// The size of RAM in bytes.
    let ramBytes: Int
    /// The frames' version numbers, borrowed from `PhysicalMemory` like `ram` (`X:675`).
    let frameVersions: UnsafeMutablePointer<UInt64>
    /// `tlbSlotCount` slots, allocated here and freed by `deallocate()`.
    let tlb: UnsafeMutablePointer<TLBEntry>
    /// The TLB generation (1 ... 4095) that valid tags carry in their low bits (X:340).
    var tlbGeneration: UInt32 = 1

    // The code page cache (X:510): the linear page base of the current code page with bit 0 clear, or
    // 1 when empty, and the host-physical base of its frame.
    var fetchTag: UInt32 = 1
    var fetchFrame: UInt32 = 0

    // Lazy flags (X:520).
    var flagOp: FlagOp = .none
    var flagResult: UInt32 = 0
    var flagDst: UInt32 = 0
    var flagSrc: UInt32 = 0
    var flagMask: UInt32 = 0xFFFF_FFFF
    var flagAux: UInt32 = 0

    // Per-instruction decoding state (X:510).
    /// The segment register number of a segment-override prefix, or -1.
    var segmentOverride = -1
    /// 0xFFFF with an operand-size prefix, else 0xFFFF_FFFF.
    var operandMask: UInt32 = 0xFFFF_FFFF
    /// 0, 0xF2 (repne) or 0xF3 (rep/repe).
    var repeatPrefix: UInt8 = 0
    /// The eip of the instruction being executed (faults restart it).
    var instructionStart: UInt32 = 0
    /// The segment bases, by segment register number, cached for effective addresses.
    var segmentBases: InlineArray<6, UInt32> = InlineArray(repeating: 0)
    /// Instructions left in the current `run` budget.
    var remaining: UInt64 = 0
    /// The budget the current `run` started with.
    var runBudget: UInt64 = 0
    /// Extra ticks spent on `rep` iterations in the current run (X:500).
    var repeatTicks: UInt64 = 0
    /// Whether `run` executes from the cache of decoded instructions (X:660) or decodes every time.
    var codeCacheEnabled = true
    /// The code cache's table and pool (X:662).
    var codeCache = CodeCacheStorage()

    init(memory: PhysicalMemory) {
        cpu = CPUState()
        ram = memory.base
        ramBytes = memory.byteCount
        frameVersions = memory.frameVersions
        tlb = .allocate(capacity: tlbSlotCount)
        tlb.initialize(repeating: TLBEntry(), count: tlbSlotCount)
    }

    /// Frees the TLB and the code cache; called once, by the owning machine's deinit.
    func deallocate() {
        tlb.deallocate()
        codeCache.deallocate()
    }

    /*X:075 A new state from outside.

    `replaceCPU(with:)` is the one door through which a whole `CPUState` comes in, and every cache listed
    above is dropped on the way through. The TLB is the expensive one, so it is flushed only when
    something paging depends on changed: cr3, the paging and write-protect bits of cr0, or CR4.PGE. Note
    which flush keeps global entries: only a new cr3 with cr0 and cr4 unchanged, exactly the case the
    hardware spares them. */
    /// Installs a new CPU state, flushing the TLB when the paging configuration changed.
    mutating func replaceCPU(with newValue: CPUState) {
        let pagingChanged = newValue.cr3 != cpu.cr3
            || newValue.cr0.contains(.paging) != cpu.cr0.contains(.paging)
            || newValue.cr0.contains(.writeProtect) != cpu.cr0.contains(.writeProtect)
            || newValue.cr4.contains(.pageGlobalEnable) != cpu.cr4.contains(.pageGlobalEnable)
        let keepGlobal = newValue.cr3 != cpu.cr3 && newValue.cr0 == cpu.cr0 && newValue.cr4 == cpu.cr4
        cpu = newValue
        flagOp = .none
        refreshSegmentBases()
        invalidateFetchPage()
        if pagingChanged { flushTLB(keepingGlobal: keepGlobal && cpu.cr4.contains(.pageGlobalEnable)) }
    }

    /*X:077 Flushing, and what survives a flush.

    The generation trick of `X:340` shows here in its full form. A flush normally costs one increment of
    `tlbGeneration`; only when the 12 bits that hold it are used up does it walk the 256 slots. Global
    entries (pages marked global, under CR4.PGE) must outlive a cr3 load, which is the whole point of
    them: the kernel half stays cached across process switches. `retagGlobals(from:)` carries them into
    the new generation by rewriting their tags, so they match again without a page walk. */
    /// Empties the TLB, keeping global entries when asked (a cr3 load under CR4.PGE).
    mutating func flushTLB(keepingGlobal: Bool = false) {
        statistics.tlbFlushes &+= 1
        invalidateFetchPage()
        let old = tlbGeneration
        guard old < pageOffsetMask else {
            // The generations are used up: clear every slot for real and start again at 1.
            for slot in 0..<tlbSlotCount where !(keepingGlobal && tlb[slot].global && tlb[slot].supervisorRead & pageOffsetMask == old) {
                tlb[slot] = TLBEntry()
            }
            tlbGeneration = 1
            if keepingGlobal { retagGlobals(from: old) }
            return
        }
        tlbGeneration = old + 1
        if keepingGlobal { retagGlobals(from: old) }
    }

    /// Moves the global entries of generation `old` into the current one, so they survive a flush.
    private mutating func retagGlobals(from old: UInt32) {
        func retag(_ tag: UInt32, _ generation: UInt32) -> UInt32 { tag == 0 ? 0 : tag & ~pageOffsetMask | generation }
        let generation = tlbGeneration
        for slot in 0..<tlbSlotCount where tlb[slot].global && tlb[slot].supervisorRead & pageOffsetMask == old {
            tlb[slot].userRead = retag(tlb[slot].userRead, generation)
            tlb[slot].userWrite = retag(tlb[slot].userWrite, generation)
            tlb[slot].supervisorRead = retag(tlb[slot].supervisorRead, generation)
            tlb[slot].supervisorWrite = retag(tlb[slot].supervisorWrite, generation)
        }
    }
}

extension Core {
    /// Forgets the cached code page; the next fetch translates again.
    @inline(__always) mutating func invalidateFetchPage() { fetchTag = 1 }

    /// Recomputes the cached segment bases after a segment register changed.
    mutating func refreshSegmentBases() {
        for name in SegmentRegisterName.allCases { segmentBases[name.rawValue] = cpu[name].base }
    }
}
/*:*/
