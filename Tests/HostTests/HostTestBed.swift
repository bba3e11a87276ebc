// A test bed for the Host core and the Switcher (H:0xx-H:2xx, S:xxx): a machine, a Host, and synthetic
// Guests whose "kernel" is a Swift closure using GuestProcessor, with memory laid out by hand:
//
//   gpa 0x0000  boot parameters (unused)     gpa 0x5000  GDT (32 entries, Linux layout)
//   gpa 0x2000  page directory               gpa 0x6000..0x8000  kernel stack (top at 0x8000)
//   gpa 0x3000  page table for 0xC0000000    gpa 0x9000  page table for user space at 0x00400000
//   gpa 0x4000  lguest_data                  gpa 0x10000 user code page (va 0x00400000)
//   gpa 0x100000 kernel text (GuestKernelImage)

import LguestABI
import Machine
import Switcher
import Testing
@testable import Host

/// Thrown by test kernels that want to give up (never reached when a test passes).
struct TestFailure: Error {}

final class HostTestBed {
    let machine: Machine
    let host: Host

    static let guestPages: UInt32 = 320
    static let directory = GuestPhysicalAddress(0x2000)
    static let kernelTable = GuestPhysicalAddress(0x3000)
    static let lguestData = GuestPhysicalAddress(0x4000)
    static let gdt = GuestPhysicalAddress(0x5000)
    static let stackTop = GuestPhysicalAddress(0x8000)
    static let userTable = GuestPhysicalAddress(0x9000)
    static let userCode = GuestPhysicalAddress(0x10000)
    static let userCodeVirtual = GuestVirtualAddress(0x0040_0000)
    static let userStackTop = GuestVirtualAddress(0x0040_1000)

    init(frames: Int = 1024) {
        machine = Machine(memory: PhysicalMemory(frameCount: frames))
        host = Host(machine: machine)
    }

    /// The kernel virtual address of guest-physical `gpa`.
    static func kva(_ gpa: GuestPhysicalAddress) -> GuestVirtualAddress {
        guard let address = kernelVirtual(gpa) else { fatalError("test: \(gpa) not in the linear map") }
        return address
    }

    /// Makes a Guest whose boot entry runs `boot`; `setUp` may add entries to the image first and
    /// returns nothing. `userCode` is copied to the user code page, mapped user-accessible.
    func makeGuest(userCode: [UInt8] = [], setUp: (inout GuestKernelImage) -> Void = { _ in },
                   boot: @escaping GuestEntryPoint) throws -> Guest {
        var image = GuestKernelImage()
        setUp(&image)
        image.bootEntry = image.addEntry(named: "boot", boot)
        let guest = try host.makeGuest(pageCount: Self.guestPages, image: image, initialPageDirectory: Self.directory,
                                       stack: Self.kva(Self.stackTop))
        try layOut(guest, userCode: userCode)
        return guest
    }

    /// Writes the page tables, GDT, lguest_data defaults, kernel text and user code into `guest`.
    func layOut(_ guest: Guest, userCode: [UInt8]) throws {
        let memory = guest.memory
        let kernelPDE = PageDirectoryEntry(frame: Self.kernelTable.frame, flags: [.present, .writable])
        try memory.store32(kernelPDE.rawValue, at: Self.directory.advanced(by: UInt32(pageOffset.pageDirectoryIndex * 4)))
        for page in 0..<Self.guestPages {
            let pte = PageTableEntry(frame: PageFrameNumber(page), flags: [.present, .writable])
            try memory.store32(pte.rawValue, at: Self.kernelTable.advanced(by: page * 4))
        }
        let userPDE = PageDirectoryEntry(frame: Self.userTable.frame, flags: [.present, .writable, .user])
        try memory.store32(userPDE.rawValue, at: Self.directory.advanced(by: UInt32(Self.userCodeVirtual.pageDirectoryIndex * 4)))
        let userPTE = PageTableEntry(frame: Self.userCode.frame, flags: [.present, .writable, .user])
        try memory.store32(userPTE.rawValue, at: Self.userTable.advanced(by: UInt32(Self.userCodeVirtual.pageTableIndex * 4)))
        try memory.copyIn(userCode, at: Self.userCode)
        let flat: [(Int, SegmentDescriptor)] = [
            (GDTLayout.kernelCode, .flat(executable: true, dpl: 0)), (GDTLayout.kernelData, .flat(executable: false, dpl: 0)),
            (GDTLayout.userCode, .flat(executable: true, dpl: 3)), (GDTLayout.userData, .flat(executable: false, dpl: 3)),
        ]
        for (slot, descriptor) in flat {
            try memory.store32(descriptor.low, at: Self.gdt.advanced(by: UInt32(slot * 8)))
            try memory.store32(descriptor.high, at: Self.gdt.advanced(by: UInt32(slot * 8 + 4)))
        }
        try memory.copyIn(guest.image.text, at: GuestKernelImage.loadAddress)
        let data = Self.lguestData
        for slot in 0..<hypercallRingSize { try memory.store8(hypercallDone, at: data.advanced(by: LguestData.statusOffset(slot: slot))) }
        try memory.store32(guest.image.noInterruptWindow.lowerBound.rawValue, at: data.advanced(by: LguestData.noInterruptStart))
        try memory.store32(guest.image.noInterruptWindow.upperBound.rawValue, at: data.advanced(by: LguestData.noInterruptEnd))
        try memory.store32(pageOffset.rawValue, at: data.advanced(by: LguestData.kernelAddress))
        try memory.store32(UInt32(systemCallVector), at: data.advanced(by: LguestData.systemCallVector))
    }

    /// A shutdown reason placed in guest memory at gpa 0x7000 - 0x100 (below the stack's pages).
    static let reasonAddress = GuestPhysicalAddress(0x5800)

    /// Writes `text` NUL-terminated at `reasonAddress` through the processor.
    static func writeReason(_ text: String, _ cpu: any GuestProcessor) throws(GuestStopped) {
        try cpu.storeBytes(Array(text.utf8) + [0], at: kva(reasonAddress))
    }

    /// The virtual address of field `offset` of lguest_data.
    static func field(_ offset: UInt32) -> GuestVirtualAddress { kva(lguestData.advanced(by: offset)) }

    /// INIT with the test's lguest_data and LOAD_GDT of its GDT.
    static func initialize(_ cpu: any GuestProcessor) throws(GuestStopped) {
        try cpu.hypercall(.lguestInit, lguestData.rawValue)
        try cpu.hypercall(.loadGDT, gdt.rawValue, UInt32(GDTLayout.entryCount))
    }

    /// Powers off with `reason`.
    static func powerOff(_ cpu: any GuestProcessor, _ reason: String = "done") throws(GuestStopped) {
        try writeReason(reason, cpu)
        try cpu.hypercall(.shutdown, reasonAddress.rawValue, ShutdownKind.powerOff.rawValue)
    }

    /// Loads IDT entry `vector` pointing at `handler`.
    static func setGate(_ cpu: any GuestProcessor, vector: UInt8, handler: GuestVirtualAddress,
                        kind: GateDescriptor.Kind = .interrupt, dpl: UInt8 = 0) throws(GuestStopped) {
        let gate = GateDescriptor(offset: handler.rawValue, selector: GDTLayout.kernelCodeSelector, kind: kind, dpl: dpl)
        try cpu.hypercall(.loadIDTEntry, UInt32(vector), gate.low, gate.high)
    }

    /// Points IRQ 0's gate at the image's first entry (0x40), sets the blocked-interrupt bitmap to
    /// `blocked`, turns the virtual interrupt flag on and arms the clock to go off at once.
    static func startTimer(_ cpu: any GuestProcessor, blocked: UInt32 = 0) throws(GuestStopped) {
        try setGate(cpu, vector: 32, handler: GuestKernelImage.base.advanced(by: 0x40))
        try cpu.store32(blocked, at: field(LguestData.blockedInterrupts))
        try cpu.store32(irqEnabledValue, at: field(LguestData.irqEnabled))
        try cpu.hypercall(.setClockEvent, 1)
    }

    /// Runs a Guest that should die and returns its kill reason ("" if it did not die so).
    func killReason(userCode: [UInt8] = [], setUp: (inout GuestKernelImage) -> Void = { _ in },
                    boot: @escaping GuestEntryPoint) throws -> String {
        let guest = try makeGuest(userCode: userCode, setUp: setUp, boot: boot)
        guard case let .killed(reason) = host.run(guest) else { return "" }
        return reason
    }

    /// Runs a well-behaved Guest to power-off: proves the Host still works after a hostile one.
    func runHealthyGuest() throws -> GuestExit {
        let guest = try makeGuest { cpu throws(GuestStopped) in
            try HostTestBed.initialize(cpu)
            try HostTestBed.powerOff(cpu, "healthy")
        }
        return host.run(guest)
    }
}
