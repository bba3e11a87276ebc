// The interpreter's hot state (see X:060). Everything the instruction loop touches lives in this
// struct, so that `mutating` methods reach it without run-time exclusivity checks.

/// One TLB slot: the page it maps, the host frame it maps to, and which accesses may use it.
///
/// Each of the four tags holds `page base | 1` when that kind of access may use the slot without a
/// walk, and 0 otherwise, so a lookup is one comparison. A write tag is set only once the page table
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
    var clock = VirtualClock()
    var statistics = MachineStatistics()
    /// The start of RAM, borrowed from `PhysicalMemory`, which the owning `Machine` keeps alive.
    let ram: UnsafeMutableRawPointer
    /// The size of RAM in bytes.
    let ramBytes: Int
    /// `tlbSlotCount` slots, allocated here and freed by `deallocate()`.
    let tlb: UnsafeMutablePointer<TLBEntry>

    init(memory: PhysicalMemory) {
        cpu = CPUState()
        ram = memory.base
        ramBytes = memory.byteCount
        tlb = .allocate(capacity: tlbSlotCount)
        tlb.initialize(repeating: TLBEntry(), count: tlbSlotCount)
    }

    /// Frees the TLB; called once, by the owning machine's deinit.
    func deallocate() { tlb.deallocate() }

    /// Installs a new CPU state, flushing the TLB when the paging configuration changed.
    mutating func replaceCPU(with newValue: CPUState) {
        let pagingChanged = newValue.cr3 != cpu.cr3
            || newValue.cr0.contains(.paging) != cpu.cr0.contains(.paging)
            || newValue.cr0.contains(.writeProtect) != cpu.cr0.contains(.writeProtect)
            || newValue.cr4.contains(.pageGlobalEnable) != cpu.cr4.contains(.pageGlobalEnable)
        let keepGlobal = newValue.cr3 != cpu.cr3 && newValue.cr0 == cpu.cr0 && newValue.cr4 == cpu.cr4
        cpu = newValue
        if pagingChanged { flushTLB(keepingGlobal: keepGlobal && cpu.cr4.contains(.pageGlobalEnable)) }
    }

    /// Empties the TLB, keeping global entries when asked (a cr3 load under CR4.PGE).
    mutating func flushTLB(keepingGlobal: Bool = false) {
        statistics.tlbFlushes &+= 1
        for slot in 0..<tlbSlotCount where !(keepingGlobal && tlb[slot].global) {
            tlb[slot] = TLBEntry()
        }
    }
}
