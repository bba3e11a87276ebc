import Testing
@testable import Machine

/// A small paged machine for tests: identity-mapped low memory, a GDT with flat segments for rings
/// 0, 1 and 3, an IDT whose gates all lead to ring 1, and user code, data and stack pages.
///
/// Layout (virtual = physical):
/// - 0x00000 page directory, 0x01000 page table (supervisor only); page 0 is not mapped for anyone
/// - 0x10000-0x1FFFF user code (read-only for user), 0x20000-0x2FFFF user data, 0x30000-0x37FFF user stack
/// - 0x40000-0x41FFF ring-1 stack (esp1 = 0x42000), 0x42000-0x43FFF ring-0 stack (esp0 = 0x44000)
/// - 0x50000 GDT, 0x51000 IDT (supervisor only)
final class TestMachine {
    static let codeBase: UInt32 = 0x10000
    static let dataBase: UInt32 = 0x20000
    static let userStackTop: UInt32 = 0x38000
    static let ring1StackTop: UInt32 = 0x42000
    static let ring0StackTop: UInt32 = 0x44000
    static let gdtBase: UInt32 = 0x50000
    static let idtBase: UInt32 = 0x51000
    static let handlerBase: UInt32 = 0xC000_0000

    static let kernelCode = SegmentSelector(index: 1, rpl: 0)
    static let kernelData = SegmentSelector(index: 2, rpl: 0)
    static let ring1Code = SegmentSelector(index: 3, rpl: 1)
    static let ring1Data = SegmentSelector(index: 4, rpl: 1)
    static let userCode = SegmentSelector(index: 5, rpl: 3)
    static let userData = SegmentSelector(index: 6, rpl: 3)

    let memory: PhysicalMemory
    let machine: Machine

    init() {
        memory = PhysicalMemory(frameCount: 256)
        machine = Machine(memory: memory)
        _ = memory.allocateFrames(count: 0x60)  // the low 384 KiB are laid out by hand
        try! memory.store32(PageDirectoryEntry(frame: PageFrameNumber(1), flags: [.present, .writable, .user]).rawValue,
                            at: HostPhysicalAddress(0))
        mapRange(0x10000, 0x20000, [.present, .user])
        mapRange(0x20000, 0x38000, [.present, .writable, .user])
        mapRange(0x40000, 0x44000, [.present, .writable])
        mapRange(0x50000, 0x52000, [.present, .writable])
        let descriptors: [SegmentDescriptor] = [
            SegmentDescriptor(rawValue: 0),
            .flat(executable: true, dpl: 0), .flat(executable: false, dpl: 0),
            .flat(executable: true, dpl: 1), .flat(executable: false, dpl: 1),
            .flat(executable: true, dpl: 3), .flat(executable: false, dpl: 3),
        ]
        for (index, descriptor) in descriptors.enumerated() { setGDT(index, descriptor) }
        for vector in 0..<256 {
            let dpl: UInt8 = [3, 4, 0x80].contains(vector) ? 3 : 0
            setGate(vector, GateDescriptor(offset: Self.handlerBase + UInt32(vector) * 16, selector: Self.ring1Code,
                                           kind: .interrupt, dpl: dpl))
        }
        var cpu = CPUState()
        cpu.cs = SegmentRegister(selector: Self.userCode, descriptor: descriptors[5])
        for name in [SegmentRegisterName.ss, .ds, .es] {
            cpu[name] = SegmentRegister(selector: Self.userData, descriptor: descriptors[6])
        }
        cpu.eip = Self.codeBase
        cpu.esp = Self.userStackTop
        cpu.eflags = [.alwaysOne, .interruptEnable]
        cpu.cr0 = [.protectionEnable, .extensionType, .writeProtect, .paging]
        cpu.cr3 = HostPhysicalAddress(0)
        cpu.gdtr = DescriptorTableRegister(base: GuestVirtualAddress(Self.gdtBase), limit: 8 * 16 - 1)
        cpu.idtr = DescriptorTableRegister(base: GuestVirtualAddress(Self.idtBase), limit: 8 * 256 - 1)
        cpu.ss0 = Self.kernelData
        cpu.esp0 = Self.ring0StackTop
        cpu.ss1 = Self.ring1Data
        cpu.esp1 = Self.ring1StackTop
        machine.cpu = cpu
    }

    /// Maps [start, end) to the same physical addresses with `flags` in the first page table.
    func mapRange(_ start: UInt32, _ end: UInt32, _ flags: PagingFlags) {
        for page in stride(from: start, to: end, by: 4096) { map(page, to: page, flags) }
    }

    /// Sets the page table entry for `virtual` (below 4 MiB) to `physical` with `flags`.
    func map(_ virtual: UInt32, to physical: UInt32, _ flags: PagingFlags) {
        let entry = PageTableEntry(frame: PageFrameNumber(physical >> 12), flags: flags)
        try! memory.store32(entry.rawValue, at: HostPhysicalAddress(0x1000 + (virtual >> 12) * 4))
    }

    /// The page table entry for `virtual` (below 4 MiB).
    func pte(_ virtual: UInt32) -> PageTableEntry {
        PageTableEntry(rawValue: try! memory.load32(at: HostPhysicalAddress(0x1000 + (virtual >> 12) * 4)))
    }

    func setGDT(_ index: Int, _ descriptor: SegmentDescriptor) {
        try! memory.store32(descriptor.low, at: HostPhysicalAddress(Self.gdtBase + UInt32(index) * 8))
        try! memory.store32(descriptor.high, at: HostPhysicalAddress(Self.gdtBase + UInt32(index) * 8 + 4))
    }

    func setGate(_ vector: Int, _ gate: GateDescriptor) {
        try! memory.store32(gate.low, at: HostPhysicalAddress(Self.idtBase + UInt32(vector) * 8))
        try! memory.store32(gate.high, at: HostPhysicalAddress(Self.idtBase + UInt32(vector) * 8 + 4))
    }

    /// Writes code at the start of the user code pages.
    func load(_ code: [UInt8], at address: UInt32 = TestMachine.codeBase) {
        try! memory.copyIn(code, at: HostPhysicalAddress(address))
    }

    /// The word `index` slots above the current esp (reading the frame an event pushed).
    func stackWord(_ index: UInt32) -> UInt32 {
        try! machine.readVirtual32(GuestVirtualAddress(machine.cpu.esp + 4 * index), privilege: .supervisor)
    }
}

/// The outcome of running a code fragment to its closing `int $0x80`.
struct Outcome {
    /// The CPU after the trap, with `eflags` and `eip` replaced by what the user program had.
    var cpu: CPUState
    var stop: StopReason
}

/// Runs `code` followed by `int $0x80` as ring-3 code and returns the user's final state.
func execute(_ code: [UInt8], budget: UInt64 = 10_000, setup: (TestMachine, inout CPUState) -> Void = { _, _ in })
    -> Outcome
{
    let test = TestMachine()
    test.load(code + [0xCD, 0x80])
    var cpu = test.machine.cpu
    setup(test, &cpu)
    test.machine.cpu = cpu
    let stop = test.machine.run(maxInstructions: budget)
    var user = test.machine.cpu
    if case .enteredKernel(vector: 0x80, _, _) = stop {
        user.eip = test.stackWord(0)
        user.eflags = EFLAGS(rawValue: test.stackWord(2))
        user.esp = test.stackWord(3)
    }
    return Outcome(cpu: user, stop: stop)
}

/// The status flags of `flags` only.
func status(_ flags: EFLAGS) -> EFLAGS { flags.intersection(.status) }
