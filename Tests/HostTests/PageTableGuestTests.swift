// Whole-system tests of the shadow page tables and the GDT (H:3xx, H:6xx): a Guest kernel in Swift at
// ring 1 runs on the real Switcher and Host (HostTestBed), makes real hypercalls and real memory
// accesses through the shadows, and each hostile one dies with its reason while the Host runs another.

import LguestABI
import Machine
import Switcher
import Testing
@testable import Host

private typealias TestBed = HostTestBed

/// The kernel virtual address of the Guest's entry for `va` in the test bed's user page table.
private func userTableEntry(_ va: GuestVirtualAddress) -> GuestVirtualAddress {
    TestBed.kva(TestBed.userTable.advanced(by: UInt32(va.pageTableIndex) * 4))
}

/// The kernel virtual address of the Guest's directory entry for `va`.
private func directoryEntry(_ va: GuestVirtualAddress) -> GuestVirtualAddress {
    TestBed.kva(TestBed.directory.advanced(by: UInt32(va.pageDirectoryIndex) * 4))
}

/// A hostile Guest kernel for each page table and segment kill reason, with the start of its message.
private func hostilePageTableKernels() -> [(String, GuestEntryPoint)] { [
    ("page tables: guest kernel touched the Switcher", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try cpu.store32(0x9090_9090, at: switcherAddress)  // the Switcher's code page
    }),
    ("page tables: guest kernel touched the Switcher", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try cpu.store32(0, at: switcherAddress.advanced(by: 2 * UInt32(pageSize)))  // its GDT and IDT
    }),
    ("page tables: SET_PTE aimed at the Switcher", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        let entry = PageTableEntry(frame: PageFrameNumber(1), flags: [.present, .writable, .accessed, .dirty])
        try cpu.hypercall(.setPTE, TestBed.directory.rawValue, switcherAddress.rawValue + 0x1000, entry.rawValue)
    }),
    ("page tables: SET_PMD index 1024 past the end", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try cpu.hypercall(.setPMD, TestBed.directory.rawValue, 1024)
    }),
    ("page tables: bad page directory", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try cpu.hypercall(.newPageTable, TestBed.directory.rawValue + 4)
    }),
    ("page tables: bad page directory", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try cpu.hypercall(.newPageTable, TestBed.guestPages << 12)
    }),
    ("page tables: large page in guest directory entry", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        let va = GuestVirtualAddress(0x0800_0000)
        let large = PageDirectoryEntry(frame: PageFrameNumber(0), flags: [.present, .writable, .pageSize])
        try cpu.store32(large.rawValue, at: directoryEntry(va))
        _ = try cpu.load32(va)
    }),
    ("page tables: guest maps pfn:0x00001000 past its limit", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        let va = TestBed.userCodeVirtual.advanced(by: UInt32(pageSize))
        try cpu.store32(PageTableEntry(frame: PageFrameNumber(0x1000), flags: [.present, .writable]).rawValue,
                        at: userTableEntry(va))
        _ = try cpu.load32(va)
    }),
    ("page tables: bad stack page", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try cpu.hypercall(.setStack, UInt32(GDTLayout.kernelDataSelector.rawValue), 0x0080_0000, 1)
    }),
    ("segments: system descriptor of type 9 in GDT slot 5", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        let tss = SegmentDescriptor(base: 0, limit: 0x67, type: 0x9, isCodeOrData: false, dpl: 0, granularity: false)
        try cpu.store32(tss.low, at: TestBed.kva(TestBed.gdt.advanced(by: 5 * 8)))
        try cpu.store32(tss.high, at: TestBed.kva(TestBed.gdt.advanced(by: 5 * 8 + 4)))
        try cpu.hypercall(.loadGDT, TestBed.gdt.rawValue, UInt32(GDTLayout.entryCount))
    }),
    ("segments: system descriptor of type 12 in GDT slot 7", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        // A call gate to the Switcher's ring-0 code, offered as a thread-local-storage entry.
        let gate = SegmentDescriptor(low: UInt32(GDTLayout.switcherCodeSelector.rawValue) << 16,
                                     high: 0xFFC0_0000 | 1 << 15 | 3 << 13 | 0xC << 8)
        try cpu.store32(gate.low, at: TestBed.kva(TestBed.gdt.advanced(by: 8)))
        try cpu.store32(gate.high, at: TestBed.kva(TestBed.gdt.advanced(by: 12)))
        try cpu.hypercall(.loadTLS, TestBed.gdt.rawValue)
    }),
    ("segments: too many GDT entries 33", { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try cpu.hypercall(.loadGDT, TestBed.gdt.rawValue, 33)
    }),
] }

@Test(arguments: 0..<hostilePageTableKernels().count)
func h330_hostileGuestsDieOfTheirPageTablesAndSegmentsAndTheHostRunsAnother(index: Int) throws {
    let (expected, kernel) = hostilePageTableKernels()[index]
    let bed = TestBed()
    let reason = try bed.killReason(boot: kernel)
    #expect(reason.hasPrefix(expected), "got \(reason)")
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

/// The Guest remaps a page of its own and tells the Host with SET_PTE: its very next read through
/// that address sees the new page, because the shadow entry is gone and the TLB flushed on re-entry.
@Test func h410_aRemappedPageIsSeenRightAfterSetPTE() throws {
    let bed = TestBed()
    let va = TestBed.userCodeVirtual.advanced(by: UInt32(pageSize))
    let first = GuestPhysicalAddress(0x20000), second = GuestPhysicalAddress(0x21000)
    var seen: [UInt32] = []
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try cpu.store32(0x1111_1111, at: TestBed.kva(first))
        try cpu.store32(0x2222_2222, at: TestBed.kva(second))
        for target in [first, second, first] {
            let entry = PageTableEntry(frame: target.frame, flags: [.present, .writable])
            try cpu.store32(entry.rawValue, at: userTableEntry(va))
            try cpu.hypercall(.setPTE, TestBed.directory.rawValue, va.rawValue, entry.rawValue)
            seen.append(try cpu.load32(va))
        }
        try TestBed.powerOff(cpu)
    }
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(seen == [0x1111_1111, 0x2222_2222, 0x1111_1111])
    #expect(guest.pageTables.statistics.faultsFixed > 0)
}

/// A write to a page the Guest maps read-only is the Guest's own fault: reflected to its #PF handler
/// with cr2 set, not fixed by the Host and not fatal.
@Test func h330_aKernelWriteToItsOwnReadOnlyPageIsReflected() throws {
    let bed = TestBed()
    let va = TestBed.userCodeVirtual.advanced(by: UInt32(pageSize))
    var handler = GuestVirtualAddress(0)
    var cr2: UInt32 = 0
    let guest = try bed.makeGuest(setUp: { image in
        handler = image.addEntry(named: "pageFault") { cpu throws(GuestStopped) in
            cr2 = try cpu.load32(TestBed.field(LguestData.cr2))
            try TestBed.powerOff(cpu, "faulted")
        }
    }) { cpu throws(GuestStopped) in
        try TestBed.initialize(cpu)
        try TestBed.setGate(cpu, vector: 14, handler: handler)
        let entry = PageTableEntry(frame: PageFrameNumber(0x20), flags: [.present])
        try cpu.store32(entry.rawValue, at: userTableEntry(va))
        _ = try cpu.load32(va)
        try cpu.store32(1, at: va)
        try TestBed.powerOff(cpu, "write went through")
    }
    #expect(bed.host.run(guest) == .poweredOff("faulted"))
    #expect(cr2 == va.rawValue)
    #expect(guest.pageTables.statistics.faultsReflected == 1)
}

/// A Guest that maps sixteen pages with accessed and dirty already set, then writes each one: with
/// the H:420 shortcut only the first touch of the region faults; without it, every page does.
@Test func h420_installingAtOnceSavesAFaultPerPage() throws {
    func faults(eager: Bool) throws -> Int {
        let bed = TestBed()
        let base = TestBed.userCodeVirtual
        let guest = try bed.makeGuest { cpu throws(GuestStopped) in
            try TestBed.initialize(cpu)
            _ = try cpu.load32(base)  // gives the shadow a page table for this region
            for page in UInt32(1)...16 {
                let va = base.advanced(by: page * UInt32(pageSize))
                let entry = PageTableEntry(frame: PageFrameNumber(0x20 + page), flags: [.present, .writable, .accessed, .dirty])
                try cpu.store32(entry.rawValue, at: userTableEntry(va))
                try cpu.hypercall(.setPTE, TestBed.directory.rawValue, va.rawValue, entry.rawValue)
            }
            for page in UInt32(1)...16 {
                try cpu.store32(page, at: base.advanced(by: page * UInt32(pageSize)))
            }
            try TestBed.powerOff(cpu)
        }
        guest.pageTables.installsEntriesEagerly = eager
        #expect(bed.host.run(guest) == .poweredOff("done"))
        return guest.pageTables.statistics.faultsFixed
    }
    let eager = try faults(eager: true), lazy = try faults(eager: false)
    #expect(lazy - eager == 16, "eager \(eager), lazy \(lazy)")
}
