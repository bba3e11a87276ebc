// Tests of Appendix X sections that had none named after them: the machine as a whole (X:060), the
// core's caches (X:070), a new state from outside (X:075), flushes and global pages (X:077), the stack
// fields kept in the CPU (X:140), the exception vectors (X:400), the inner stack's faults (X:415), the
// range check of RAM (X:045), the software bits of paging entries (X:305), copies a page at a time
// (X:370), the stack (X:575), string instructions (X:580), and the runner's address space: its shape
// (X:855), its tables and frames (X:861) and the regions that grow on demand (X:865); how a run ends
// (X:851) and goes on (X:853); the CPL and registers by name (X:150), descriptor fields (X:215) and
// which fault a bad segment load gets (X:235); flags made real (X:527), the two-byte map (X:585,
// X:586), cmp (X:555), carries in (X:525), rotates (X:562), double shifts (X:564), division (X:571),
// prefixes (X:542), popf and the map's holes (X:548), relative jumps (X:549) and pops that fault
// (X:577); the address types (X:025) and the MMU's public face (X:360); and the disassembler's names
// and cursor (X:705, X:706).

import Testing
@testable import Machine

@Test func x060_runFoldsTheLazyFlagsIntoTheCPUStateItReturns() {
    let test = TestMachine()
    // xor %eax,%eax (sets ZF); mov $0xFF,%bl; add $1,%bl (sets CF and ZF)
    test.load([0x31, 0xC0, 0xB3, 0xFF, 0x80, 0xC3, 0x01])
    #expect(test.machine.run(maxInstructions: 1) == .budgetExhausted)
    #expect(status(test.machine.cpu.eflags) == [.zero, .parity])
    #expect(test.machine.run(maxInstructions: 2) == .budgetExhausted)
    #expect(status(test.machine.cpu.eflags).isSuperset(of: [.carry, .zero]))
    // The state is a value: a copy taken now does not change when the machine runs on.
    let snapshot = test.machine.cpu
    test.load([0xB8, 1, 0, 0, 0], at: test.machine.cpu.eip)
    _ = test.machine.run(maxInstructions: 1)
    #expect(snapshot.eax == 0 && test.machine.cpu.eax == 1)
}

@Test func x070_installingTheCPUFlushesTheTLBOnlyWhenThePagingRegistersChange() throws {
    let test = TestMachine()
    let page = GuestVirtualAddress(TestMachine.dataBase)
    try test.memory.store32(0xAAAA_AAAA, at: HostPhysicalAddress(TestMachine.dataBase))
    try test.memory.store32(0xBBBB_BBBB, at: HostPhysicalAddress(TestMachine.dataBase + 0x1000))
    #expect(try test.machine.readVirtual32(page, privilege: .user) == 0xAAAA_AAAA)
    // Remap the page behind the TLB's back: like the hardware, the machine keeps the stale translation...
    test.map(TestMachine.dataBase, to: TestMachine.dataBase + 0x1000, [.present, .writable, .user])
    #expect(try test.machine.readVirtual32(page, privilege: .user) == 0xAAAA_AAAA)
    // ...also when the same CPU state is installed again, since no paging register changed...
    test.machine.cpu = test.machine.cpu
    #expect(try test.machine.readVirtual32(page, privilege: .user) == 0xAAAA_AAAA)
    // ...but a new cr3 (a copy of the directory in another frame) drops the cached translation.
    let copy = HostPhysicalAddress(0x2000)
    try test.memory.store32(try test.memory.load32(at: HostPhysicalAddress(0)), at: copy)
    let flushes = test.machine.statistics.tlbFlushes
    var cpu = test.machine.cpu
    cpu.cr3 = copy
    test.machine.cpu = cpu
    #expect(test.machine.statistics.tlbFlushes == flushes + 1)
    #expect(try test.machine.readVirtual32(page, privilege: .user) == 0xBBBB_BBBB)
}

@Test func x140_anInterruptFromRing3SwitchesToTheStackTheKernelLastSet() {
    let test = TestMachine()
    test.load([0xCD, 0x80])  // int $0x80
    var cpu = test.machine.cpu
    cpu.esp1 = TestMachine.ring1StackTop - 0x800
    test.machine.cpu = cpu
    guard case .enteredKernel(vector: 0x80, errorCode: nil, _) = test.machine.run(maxInstructions: 10) else {
        Issue.record("int $0x80 did not enter the kernel")
        return
    }
    // The frame (eip, cs, eflags, esp, ss) sits just below the new esp1, on ss1, not on the user's stack.
    #expect(test.machine.cpu.esp == TestMachine.ring1StackTop - 0x800 - 20)
    #expect(test.machine.cpu.ss.selector == TestMachine.ring1Data)
    #expect(test.stackWord(0) == TestMachine.codeBase + 2)
    #expect(test.stackWord(3) == TestMachine.userStackTop)
}

@Test func x400_theTablesErrorCodeColumnIsWhatTheMachinePushes() {
    let withCode: Set<UInt8> = [8, 10, 11, 12, 13, 14]
    #expect(ExceptionVector.allCases.map(\.rawValue) == [0, 1, 3, 4, 6, 7, 8, 10, 11, 12, 13, 14])
    for vector in ExceptionVector.allCases {
        #expect(vector.pushesErrorCode == withCode.contains(vector.rawValue), "\(vector)")
    }
}

@Test(arguments: [
    // xor %ecx,%ecx; div %ecx
    ([UInt8]([0x31, 0xC9, 0xF7, 0xF1]), UInt8(0), UInt32?.none),
    ([0xCC], 3, nil),                                  // int3
    ([0xB0, 0x7F, 0x04, 0x01, 0xCE], 4, nil),          // mov $0x7f,%al; add $1,%al; into
    ([0x0F, 0x0B], 6, nil),                            // ud2
    ([0xF4], 13, 0),                                   // hlt at ring 3
])
func x400_eachExceptionArrivesOnItsVectorWithOrWithoutAnErrorCode(code: [UInt8], vector: UInt8, errorCode: UInt32?) {
    let test = TestMachine()
    test.load(code)
    let stop = test.machine.run(maxInstructions: 10)
    guard case let .enteredKernel(raised, pushed, _) = stop else {
        Issue.record("no exception: \(stop)")
        return
    }
    #expect(raised == vector)
    #expect(pushed == errorCode)
}

@Test func x865_onlyTheHeapUpToTheRoundedBreakAndTheStackGrowOnDemand() throws {
    var space = try AddressSpace(memory: PhysicalMemory(frameCount: 4))
    space.heapStart = 0x0804_A000
    space.programBreak = 0x0804_A001
    let grows = { (address: UInt32) in space.growsOnDemand(GuestVirtualAddress(address)) }
    #expect(!grows(0x0804_9FFF))                    // below the heap: a segment's page or a wild pointer
    #expect(grows(0x0804_A000) && grows(0x0804_AFFF))  // the break rounds up to a whole page
    #expect(!grows(0x0804_B000))
    let top = AddressSpace.stackTop, limit = AddressSpace.stackLimit
    #expect(grows(top - 1) && grows(top - limit))
    #expect(!grows(top - limit - 1))                // past the 8 MiB stack limit
    #expect(!grows(top))                            // the kernel's half never grows
}

@Test func x855_theProcessSeesTheMapOfItsAddressSpace() throws {
    let image = try GuestPrograms.load("hello")
    let runner = try ProgramRunner(image: image, programName: "hello")
    func may(_ address: UInt32, _ access: AccessKind, _ privilege: Privilege) -> Bool {
        (try? runner.machine.translate(GuestVirtualAddress(address), access: access, privilege: privilege)) != nil
    }
    // The kernel's half: text, GDT and IDT read-only for the supervisor, the stack writable, all
    // invisible to the program, and nothing past the top of the kernel stack.
    for address: UInt32 in [0xC000_0000, 0xC000_1000, 0xC000_2000] {
        #expect(may(address, .read, .supervisor) && !may(address, .write, .supervisor), "\(address)")
        #expect(!may(address, .read, .user), "\(address)")
    }
    for address: UInt32 in [0xC000_3000, 0xC000_4FFC] {
        #expect(may(address, .write, .supervisor) && !may(address, .read, .user), "\(address)")
    }
    #expect(!may(0xC000_5000, .read, .supervisor))
    // The program's half: its text where the linker put it, read-only; no page 0 for null pointers.
    #expect(may(image.entry.rawValue, .fetch, .user) && !may(image.entry.rawValue, .write, .user))
    #expect(!may(0, .read, .user) && !may(0xFFC, .read, .supervisor))
    // The stack is mapped only where the process's start wrote it; the rest comes on demand (X:865).
    #expect(may(runner.machine.cpu.esp, .write, .user))
    #expect(!may(AddressSpace.stackTop - AddressSpace.stackLimit, .read, .user))
}

@Test func x045_theRangeCheckCannotOverflowWhateverTheCount() throws {
    let memory = PhysicalMemory(frameCount: 2)
    let last = HostPhysicalAddress(UInt32(2 * pageSize - 4))
    #expect(memory.contains(last, count: 4) && !memory.contains(last, count: 5))
    #expect(!memory.contains(HostPhysicalAddress(0xFFFF_FFFF), count: Int.max))  // a sum would trap here
    #expect(!memory.contains(HostPhysicalAddress(0), count: -1))
    #expect(throws: MemoryError.outOfRange(address: last, count: Int.max)) {
        _ = try memory.copyOut(from: last, count: Int.max)
    }
    // Multi-byte accesses are little-endian and need no alignment.
    try memory.store32(0x4433_2211, at: HostPhysicalAddress(1))
    #expect(try memory.load8(at: HostPhysicalAddress(1)) == 0x11 && memory.load16(at: HostPhysicalAddress(3)) == 0x4433)
}

@Test func x305_settingTheFlagsKeepsTheSoftwareBitsAndTheFrame() {
    let raw: UInt32 = 0x0012_3000 | 0xE00 | PagingFlags([.present, .user]).rawValue
    var entry = PageTableEntry(rawValue: raw)
    #expect(entry.frame == PageFrameNumber(0x123) && entry.flags.isSuperset(of: [.present, .user]))
    entry.flags = entry.flags
    #expect(entry.rawValue == raw)
    entry.flags = [.present, .writable, .dirty]
    #expect(entry.rawValue == 0x0012_3000 | 0xE00 | PagingFlags([.present, .writable, .dirty]).rawValue)
    // Read from guest memory and written back unchanged: the same value.
    #expect(PageDirectoryEntry(rawValue: raw).rawValue == raw)
}

@Test func x415_aBadInnerStackSelectorIsTheKernelsFaultAnInvalidTSS() {
    for (ss1, expectedCode) in [(SegmentSelector(rawValue: 0), UInt32(0)), (TestMachine.kernelData, 16)] {
        let test = TestMachine()
        // #TS goes to ring 0 on ss0, which is good, so it can be delivered at all.
        test.setGate(10, GateDescriptor(offset: TestMachine.handlerBase, selector: TestMachine.kernelCode,
                                        kind: .interrupt, dpl: 0))
        test.load([0xCD, 0x80])  // int $0x80, whose ring-1 gate needs ss1
        var cpu = test.machine.cpu
        cpu.ss1 = ss1
        test.machine.cpu = cpu
        let stop = test.machine.run(maxInstructions: 10)
        guard case let .enteredKernel(vector, errorCode, _) = stop else {
            Issue.record("no delivery: \(stop)")
            continue
        }
        #expect(vector == 10 && errorCode == expectedCode, "ss1 \(ss1)")
    }
}

@Test func x370_copiesCutAtPagesAndAFaultingCopyWritesNothing() throws {
    let test = TestMachine()
    // Virtual 0x21000 lives in physical 0x25000: the buffer is contiguous only in virtual addresses.
    test.map(0x21000, to: 0x25000, [.present, .writable, .user])
    try test.memory.copyIn([1, 2, 3, 4], at: HostPhysicalAddress(0x20FFC))
    try test.memory.copyIn([5, 6, 7, 8], at: HostPhysicalAddress(0x25000))
    let across = try test.machine.copyFromVirtual(GuestVirtualAddress(0x20FFC), count: 8, privilege: .user)
    #expect(across == [1, 2, 3, 4, 5, 6, 7, 8])
    // The last 4 bytes would land on 0x38000, which is not mapped: nothing is written, even below it.
    let below = GuestVirtualAddress(TestMachine.userStackTop - 4)
    #expect(throws: PageFault.self) {
        try test.machine.copyToVirtual([UInt8](repeating: 0xEE, count: 8), at: below, privilege: .user)
    }
    #expect(try test.machine.copyFromVirtual(below, count: 4, privilege: .user) == [0, 0, 0, 0])
}

@Test func x575_pushESPPushesTheOldValueAndPopToTheStackUsesTheNewOne() {
    // push %esp; pop %eax
    #expect(execute([0x54, 0x58]).cpu.eax == TestMachine.userStackTop)
    // push $0x11; push $0x22; popl (%esp); pop %ebx: the pop wrote where 0x11 was.
    let outcome = execute([0x6A, 0x11, 0x6A, 0x22, 0x8F, 0x04, 0x24, 0x5B])
    #expect(outcome.cpu.ebx == 0x22 && outcome.cpu.esp == TestMachine.userStackTop)
    // push %ebp; mov %esp,%ebp; sub $8,%esp; leave: the frame comes down again, ebp restored.
    let frame = execute([0x55, 0x89, 0xE5, 0x83, 0xEC, 0x08, 0xC9]) { _, cpu in cpu.ebp = 0x1234 }
    #expect(frame.cpu.ebp == 0x1234 && frame.cpu.esp == TestMachine.userStackTop)
}

@Test func x580_repMovsCopiesAndAFaultMidwayLeavesTheRegistersAtTheFailingByte() throws {
    let copy = execute([0xF3, 0xA4]) { test, cpu in  // rep movsb
        try? test.memory.copyIn(Array("abcdefgh".utf8), at: HostPhysicalAddress(TestMachine.dataBase))
        cpu.esi = TestMachine.dataBase; cpu.edi = TestMachine.dataBase + 0x100; cpu.ecx = 8
    }
    #expect(copy.cpu.ecx == 0 && copy.cpu.esi == TestMachine.dataBase + 8)
    #expect(copy.cpu.edi == TestMachine.dataBase + 0x108)
    // Now towards the unmapped page at 0x38000: four bytes go, then the fault, with eip still on rep.
    let test = TestMachine()
    test.load([0xF3, 0xA4])
    var cpu = test.machine.cpu
    cpu.esi = TestMachine.dataBase; cpu.edi = TestMachine.userStackTop - 4; cpu.ecx = 8
    test.machine.cpu = cpu
    guard case .enteredKernel(vector: 14, _, _) = test.machine.run(maxInstructions: 100) else {
        Issue.record("rep movsb did not fault")
        return
    }
    #expect(test.machine.cpu.ecx == 4 && test.machine.cpu.edi == TestMachine.userStackTop)
    #expect(test.machine.cpu.esi == TestMachine.dataBase + 4)
    #expect(test.stackWord(1) == TestMachine.codeBase)  // the frame: error code, then eip
}

@Test func x075_aNewCR3UnderPGEKeepsGlobalEntriesAndDropsTheRest() throws {
    let test = TestMachine()
    let global = TestMachine.dataBase, local = TestMachine.dataBase + 0x1000
    test.map(global, to: global, [.present, .writable, .user, .global])
    for address in [global, local] {
        try test.memory.store32(0xAAAA_AAAA, at: HostPhysicalAddress(address))
        try test.memory.store32(0xBBBB_BBBB, at: HostPhysicalAddress(address + 0x4000))
    }
    var cpu = test.machine.cpu
    cpu.cr4.insert(.pageGlobalEnable)
    test.machine.cpu = cpu  // CR4.PGE changed: a full flush
    for address in [global, local] {
        #expect(try test.machine.readVirtual32(GuestVirtualAddress(address), privilege: .user) == 0xAAAA_AAAA)
        test.map(address, to: address + 0x4000, address == global ? [.present, .writable, .user, .global]
                                                                  : [.present, .writable, .user])
    }
    // A new cr3 (a copy of the directory, so the new tables are what the MMU would walk anew).
    try test.memory.store32(try test.memory.load32(at: HostPhysicalAddress(0)), at: HostPhysicalAddress(0x2000))
    cpu = test.machine.cpu
    cpu.cr3 = HostPhysicalAddress(0x2000)
    test.machine.cpu = cpu
    #expect(try test.machine.readVirtual32(GuestVirtualAddress(global), privilege: .user) == 0xAAAA_AAAA)  // kept
    #expect(try test.machine.readVirtual32(GuestVirtualAddress(local), privilege: .user) == 0xBBBB_BBBB)   // walked
    // Turning write protection off changes paging too, and that flush spares nobody.
    cpu = test.machine.cpu
    cpu.cr0.remove(.writeProtect)
    test.machine.cpu = cpu
    #expect(try test.machine.readVirtual32(GuestVirtualAddress(global), privilege: .user) == 0xBBBB_BBBB)
}

@Test func x077_globalEntriesSurviveEvenWhenTheGenerationsRunOut() throws {
    let test = TestMachine()
    let global = TestMachine.dataBase
    test.map(global, to: global, [.present, .writable, .user, .global])
    try test.memory.store32(0xAAAA_AAAA, at: HostPhysicalAddress(global))
    try test.memory.store32(0xBBBB_BBBB, at: HostPhysicalAddress(global + 0x4000))
    try test.memory.store32(try test.memory.load32(at: HostPhysicalAddress(0)), at: HostPhysicalAddress(0x2000))
    var cpu = test.machine.cpu
    cpu.cr4.insert(.pageGlobalEnable)
    test.machine.cpu = cpu
    #expect(try test.machine.readVirtual32(GuestVirtualAddress(global), privilege: .user) == 0xAAAA_AAAA)
    test.map(global, to: global + 0x4000, [.present, .writable, .user, .global])
    // More cr3 loads than the 12-bit generation counter holds: the slots are cleared for real on the way.
    let flushes = test.machine.statistics.tlbFlushes
    for round in 0..<5_000 {
        cpu.cr3 = HostPhysicalAddress(round % 2 == 0 ? 0x2000 : 0)
        test.machine.cpu = cpu
    }
    #expect(test.machine.statistics.tlbFlushes == flushes + 5_000)
    #expect(try test.machine.readVirtual32(GuestVirtualAddress(global), privilege: .user) == 0xAAAA_AAAA)
    test.machine.flushTLB()  // a flush that keeps nothing
    #expect(try test.machine.readVirtual32(GuestVirtualAddress(global), privilege: .user) == 0xBBBB_BBBB)
}

@Test func x861_kernelHalfTablesHaveNoUserBitAndRecycledFramesComeBackZeroed() throws {
    let memory = PhysicalMemory(frameCount: 16)
    var space = try AddressSpace(memory: memory)
    let kernel = GuestVirtualAddress(0xC000_0000), user = GuestVirtualAddress(0x0804_8000)
    _ = try space.map(kernel, flags: [.present, .writable, .user])
    _ = try space.map(user, flags: [.present, .writable, .user])
    func directoryEntry(_ address: GuestVirtualAddress) throws -> PageDirectoryEntry {
        let slot = HostPhysicalAddress(frame: space.directory, offset: UInt32(address.pageDirectoryIndex) * 4)
        return PageDirectoryEntry(rawValue: try memory.load32(at: slot))
    }
    #expect(try !directoryEntry(kernel).flags.contains(.user))
    #expect(try directoryEntry(user).flags.contains(.user))
    // A page written, unmapped and mapped again comes back as zeroes.
    let frame = try #require(space.mappedFrame(user))
    try memory.store32(0xDEAD_BEEF, at: HostPhysicalAddress(frame: frame))
    let unmapped = space.unmap(user)
    #expect(unmapped)
    let again = try space.map(user, flags: [.present, .writable, .user])
    #expect(again == frame)  // the recycled frame, reused first
    #expect(try memory.load32(at: HostPhysicalAddress(frame: again)) == 0)
}

@Test func x851_theSignalsKeepTheirI386NumbersAndEveryEndingSaysWhatHappened() {
    #expect(Signal.allCases.map(\.rawValue) == [4, 5, 7, 8, 9, 11])
    #expect("\(Termination.exited(status: 3))" == "exited with status 3")
    #expect("\(Termination.killed(.sigsegv))" == "killed by SIGSEGV")
    #expect("\(Termination.budgetExhausted)" == "stopped: instruction budget exhausted")
}

@Test func x853_aRunThatSpendsItsBudgetGoesOnAndOneThatEndedStaysEnded() throws {
    let spinner = try ProgramRunner(image: GuestPrograms.load("spin"), programName: "spin")
    #expect(spinner.run(maxInstructions: 1_000).termination == .budgetExhausted)
    let first = spinner.machine.statistics.instructions
    #expect(spinner.run(maxInstructions: 1_000).termination == .budgetExhausted)
    #expect(spinner.machine.statistics.instructions > first)  // it went on from where it stopped
    let hello = try ProgramRunner(image: GuestPrograms.load("hello"), programName: "hello")
    let ended = hello.run()
    #expect(ended.termination == .exited(status: 0) && !ended.output.isEmpty)
    let instructions = hello.machine.statistics.instructions
    #expect(hello.run().termination == ended.termination)
    #expect(hello.machine.statistics.instructions == instructions)  // at once: nothing more ran
}

@Test func x150_theCPLIsCSsRPLAndRegistersByNameAndByNumberAreOne() {
    var cpu = TestMachine().machine.cpu
    #expect(cpu.cpl == 3)
    cpu.cs.selector = TestMachine.ring1Code
    #expect(cpu.cpl == 1)
    cpu.ebx = 0x1111
    #expect(cpu[.ebx] == 0x1111)
    cpu[.edi] = 0x2222
    #expect(cpu.edi == 0x2222)
}

@Test func x215_settingOneFieldTouchesOnlyItsBitsAndGranularityScalesTheLimit() {
    var descriptor = SegmentDescriptor(base: 0x1234_5678, limit: 0xABCDE, type: 2, dpl: 3, available: true)
    let before = descriptor.rawValue
    descriptor.base = 0x8765_4321
    #expect(descriptor.base == 0x8765_4321 && descriptor.limit == 0xABCDE && descriptor.dpl == 3)
    #expect(descriptor.available && descriptor.type == 2 && descriptor.granularity)
    descriptor.base = 0x1234_5678
    #expect(descriptor.rawValue == before)  // round trip, every other bit untouched
    #expect(SegmentDescriptor(base: 0, limit: 0xFFFFF, type: 2, dpl: 0).effectiveLimit == 0xFFFF_FFFF)
    #expect(SegmentDescriptor(base: 0, limit: 0xFFFFF, type: 2, dpl: 0, granularity: false).effectiveLimit == 0xFFFFF)
}

@Test(arguments: [
    // mov %ax,%ds with the null selector: allowed; the int $0x80 that follows is reached.
    ([UInt8]([0x31, 0xC0, 0x8E, 0xD8]), UInt8(0x80), UInt32?.none),
    ([0x31, 0xC0, 0x8E, 0xD0], 13, 0),          // mov %ax,%ss with null: #GP(0) at once
    ([0x66, 0xB8, 0x3B, 0x00, 0x8E, 0xD8], 11, 0x38),  // mov $0x3b,%ax; mov %ax,%ds: not present, #NP
    ([0x66, 0xB8, 0x3B, 0x00, 0x8E, 0xD0], 12, 0x38),  // the same into ss: #SS
])
func x235_whichFaultABadSegmentLoadGets(code: [UInt8], vector: UInt8, errorCode: UInt32?) {
    let test = TestMachine()
    // GDT slot 7: writable data at ring 3, but not present.
    test.setGDT(7, SegmentDescriptor(base: 0, limit: 0xFFFFF, type: 2, dpl: 3, present: false))
    test.load(code + [0xCD, 0x80])
    let stop = test.machine.run(maxInstructions: 10)
    guard case let .enteredKernel(raised, pushed, _) = stop else {
        Issue.record("no delivery: \(stop)")
        return
    }
    #expect(raised == vector && pushed == errorCode)
}

@Test func x585_theTwoByteMapsFinerPoints() {
    // mov $-1,%eax; xor %ecx,%ecx; sete %al: one whole byte, 1, and the rest of eax untouched.
    #expect(execute([0xB8, 0xFF, 0xFF, 0xFF, 0xFF, 0x31, 0xC9, 0x0F, 0x94, 0xC0]).cpu.eax == 0xFFFF_FF01)
    // mov $0x1234,%edx; xor %ecx,%ecx; bsf %ecx,%edx: a zero source leaves the destination, sets ZF.
    let bsf = execute([0xBA, 0x34, 0x12, 0, 0, 0x31, 0xC9, 0x0F, 0xBC, 0xD1])
    #expect(bsf.cpu.edx == 0x1234 && bsf.cpu.eflags.contains(.zero))
    // mov $1,%ecx; test %ecx,%ecx; cmove (%eax),%ecx with eax = 0: false, but the source is read, and faults.
    let cmov = execute([0xB9, 1, 0, 0, 0, 0x85, 0xC9, 0x0F, 0x44, 0x08]) { _, cpu in cpu.eax = 0 }
    guard case .enteredKernel(vector: 14, _, _) = cmov.stop else { Issue.record("cmove: \(cmov.stop)"); return }
    // mov $0x10000,%ebx; mov $0x99,%eax; cmpxchg %ecx,(%ebx): the compare fails, the write still faults.
    let cmpxchg = execute([0xBB, 0, 0, 1, 0, 0xB8, 0x99, 0, 0, 0, 0x0F, 0xB1, 0x0B])
    guard case let .enteredKernel(vector: 14, errorCode, _) = cmpxchg.stop else {
        Issue.record("cmpxchg: \(cmpxchg.stop)")
        return
    }
    #expect(errorCode.map { PageFaultErrorCode(rawValue: $0).contains(.write) } == true)
}

@Test func x527_pushfSeesThePendingFlagsAndClcChangesOnlyTheCarry() {
    // mov $0xff,%al; add $1,%al (CF and ZF pending); clc; pushf; pop %ebx
    let outcome = execute([0xB0, 0xFF, 0x04, 0x01, 0xF8, 0x9C, 0x5B])
    let pushed = EFLAGS(rawValue: outcome.cpu.ebx)
    #expect(pushed.contains(.zero) && !pushed.contains(.carry))
    #expect(pushed.contains(.auxiliaryCarry) && pushed.contains(.alwaysOne))
}

@Test func x025_eachAddressPrintsItsSpaceAndOnlyPhysicalOnesKnowTheirFrame() {
    #expect("\(GuestVirtualAddress(0xC010_0000))".hasPrefix("gva:"))
    #expect("\(GuestPhysicalAddress(0x0010_0000))".hasPrefix("gpa:"))
    #expect("\(HostPhysicalAddress(0x0010_0000))".hasPrefix("hpa:"))
    #expect("\(PageFrameNumber(0x100))".hasPrefix("pfn:"))
    let address = HostPhysicalAddress(frame: PageFrameNumber(0x123), offset: 0x456)
    #expect(address == HostPhysicalAddress(0x0012_3456) && address.frame == PageFrameNumber(0x123))
    #expect(GuestPhysicalAddress(frame: PageFrameNumber(7)).frame == PageFrameNumber(7))
}

@Test func x586_xaddOnAReadOnlyPageFaultsBeforeChangingAnything() throws {
    let test = TestMachine()
    // mov $0x10000,%ebx; mov $5,%ecx; xadd %ecx,(%ebx): the user code page is read-only for ring 3.
    let code: [UInt8] = [0xBB, 0, 0, 1, 0, 0xB9, 5, 0, 0, 0, 0x0F, 0xC1, 0x0B]
    test.load(code)
    guard case .enteredKernel(vector: 14, _, _) = test.machine.run(maxInstructions: 10) else {
        Issue.record("xadd did not fault")
        return
    }
    #expect(test.machine.cpu.ecx == 5)  // the register half of the exchange did not happen either
    #expect(try test.memory.copyOut(from: HostPhysicalAddress(TestMachine.codeBase), count: code.count) == code)
}

@Test func x555_cmpReadsItsOperandWithoutAskingToWriteIt() {
    // mov $0x10000,%ebx (the read-only code page); cmp %ecx,(%ebx): no write, so no fault.
    let compare = execute([0xBB, 0, 0, 1, 0, 0x39, 0x0B])
    guard case .enteredKernel(vector: 0x80, _, _) = compare.stop else { Issue.record("cmp: \(compare.stop)"); return }
    // The same operand for add (01 /r) is a write, and faults.
    let add = execute([0xBB, 0, 0, 1, 0, 0x01, 0x0B])
    guard case .enteredKernel(vector: 14, _, _) = add.stop else { Issue.record("add: \(add.stop)"); return }
}

@Test func x562_aRotateCountWrapsAndOnlyCarryAndOverflowChange() {
    // mov $0x81,%al; rol $9,%al: the same as rol $1, giving 0x03 with CF set.
    let rol = execute([0xB0, 0x81, 0xC0, 0xC0, 0x09])
    #expect(rol.cpu.eax & 0xFF == 0x03 && rol.cpu.eflags.contains(.carry))
    // xor %eax,%eax (ZF set); mov $0x81,%al leaves the flags; rcl $9,%al: nine bits round, back to 0x81.
    let rcl = execute([0x31, 0xC0, 0xB0, 0x81, 0xC0, 0xD0, 0x09])
    #expect(rcl.cpu.eax & 0xFF == 0x81)
    #expect(rcl.cpu.eflags.contains(.zero))  // ZF from the xor, untouched by the rotate
}

@Test func x564_shldFillsFromTheSecondOperandAndTheLastBitOutIsTheCarry() {
    // mov $0x80000001,%eax; mov $0xC0000000,%edx; shld $2,%edx,%eax: 0x00000007, and bit 30 of eax went to CF.
    let shld = execute([0xB8, 1, 0, 0, 0x80, 0xBA, 0, 0, 0, 0xC0, 0x0F, 0xA4, 0xD0, 0x02])
    #expect(shld.cpu.eax == 0x0000_0007 && !shld.cpu.eflags.contains(.carry))
    // shrd $4,%edx,%eax with eax = 0x12345678, edx = 0xABCDEF09: the low nibble of edx fills the top.
    let shrd = execute([0xB8, 0x78, 0x56, 0x34, 0x12, 0xBA, 0x09, 0xEF, 0xCD, 0xAB, 0x0F, 0xAC, 0xD0, 0x04])
    #expect(shrd.cpu.eax == 0x9123_4567 && shrd.cpu.eflags.contains(.carry))  // 0x8 was the last bit out
}

@Test func x571_theDivisionThatWouldTrapSwiftIsTheGuestsDivideError() {
    // mov $0x80000000,%eax; cltd; mov $-1,%ecx; idiv %ecx: INT_MIN / -1 does not fit, so #DE, registers kept.
    let outcome = execute([0xB8, 0, 0, 0, 0x80, 0x99, 0xB9, 0xFF, 0xFF, 0xFF, 0xFF, 0xF7, 0xF9])
    guard case .enteredKernel(vector: 0, errorCode: nil, _) = outcome.stop else {
        Issue.record("idiv: \(outcome.stop)")
        return
    }
    #expect(outcome.cpu.eax == 0x8000_0000 && outcome.cpu.edx == 0xFFFF_FFFF)
}

@Test func x542_aSegmentPrefixPicksTheBaseAndAnOperandSizePrefixHalvesTheOperation() throws {
    // mov $0x3b,%ax; mov %ax,%fs; mov %fs:4,%eax: fs is GDT slot 7, based at the user data pages.
    let viaFS = execute([0x66, 0xB8, 0x3B, 0x00, 0x8E, 0xE0, 0x64, 0xA1, 0x04, 0, 0, 0]) { test, _ in
        test.setGDT(7, SegmentDescriptor(base: TestMachine.dataBase, limit: 0xF, type: 2, dpl: 3))
        try? test.memory.store32(0xF5F5_F5F5, at: HostPhysicalAddress(TestMachine.dataBase + 4))
    }
    #expect(viaFS.cpu.eax == 0xF5F5_F5F5)
    // mov $-1,%eax; mov $0x1234,%ax: the prefix makes it a 16-bit move, the high half stays.
    #expect(execute([0xB8, 0xFF, 0xFF, 0xFF, 0xFF, 0x66, 0xB8, 0x34, 0x12]).cpu.eax == 0xFFFF_1234)
}

@Test func x548_popfAtRing3CannotChangeIOPLAndAHoleInTheMapIsUD() {
    // pushf; orl $0x3000,(%esp); popf; pushf; pop %eax: IOPL stays 0 however ring 3 asks.
    let popf = execute([0x9C, 0x81, 0x0C, 0x24, 0x00, 0x30, 0x00, 0x00, 0x9D, 0x9C, 0x58])
    #expect(popf.cpu.eax & 0x3000 == 0)
    // 0xD6 (salc) is not implemented: #UD, what a real CPU gives for a hole in its map.
    guard case .enteredKernel(vector: 6, _, _) = execute([0xD6]).stop else {
        Issue.record("0xd6 did not raise #UD")
        return
    }
}

@Test func x549_aRelativeJumpCountsFromTheEndOfTheInstruction() {
    // xor %eax,%eax; jne +5 (not taken); jmp +5 (over the mov); mov $1,%eax; nop...: eax stays 0.
    let outcome = execute([0x31, 0xC0, 0x75, 0x05, 0xEB, 0x05, 0xB8, 1, 0, 0, 0, 0x90])
    #expect(outcome.cpu.eax == 0)
    #expect(outcome.cpu.eip == TestMachine.codeBase + 12 + 2)  // the frame's eip: just after int $0x80
}

@Test func x705_register4OfTheByteRegistersIsAHAndShift6IsShl() {
    // mov %ah,%al (88 e0): register 4 of the byte set is %ah.
    #expect(Disassembler.disassemble([0x88, 0xE0], at: GuestVirtualAddress(0)).text.contains("%ah"))
    // c1 /6 and c1 /4 are both shl.
    let slash6 = Disassembler.disassemble([0xC1, 0xF0, 0x02], at: GuestVirtualAddress(0)).text
    let slash4 = Disassembler.disassemble([0xC1, 0xE0, 0x02], at: GuestVirtualAddress(0)).text
    #expect(slash6 == slash4 && slash4.hasPrefix("shl"))
}

@Test func x706_aBranchTargetCountsFromTheDecodedLength() {
    // jne with a 32-bit displacement (0f 85, 6 bytes) at 0x1000 and a distance of 0x10: 0x1016.
    let result = Disassembler.disassemble([0x0F, 0x85, 0x10, 0, 0, 0], at: GuestVirtualAddress(0x1000))
    #expect(result.length == 6 && result.text.contains("1016"))
}

@Test func x525_adcAndSbbLookAtTheCarryThatCameIn() {
    // stc; mov $0xff,%al; adc $0,%al: 0xff + 0 + 1 wraps to 0 with a carry out.
    let adc = execute([0xF9, 0xB0, 0xFF, 0x14, 0x00])
    #expect(adc.cpu.eax & 0xFF == 0 && adc.cpu.eflags.isSuperset(of: [.carry, .zero]))
    // stc; mov $0,%al; sbb $0,%al: 0 - 0 - 1 borrows, giving 0xff with CF set.
    let sbb = execute([0xF9, 0xB0, 0x00, 0x1C, 0x00])
    #expect(sbb.cpu.eax & 0xFF == 0xFF && sbb.cpu.eflags.contains(.carry))
    // clc; mov $0xff,%al; adc $0,%al: no carry in, nothing changes.
    let plain = execute([0xF8, 0xB0, 0xFF, 0x14, 0x00])
    #expect(plain.cpu.eax & 0xFF == 0xFF && !plain.cpu.eflags.contains(.carry))
}

@Test func x577_aPopWhoseWriteFaultsLeavesEspAsItWas() {
    let test = TestMachine()
    // push $1; mov $0x10000,%ebx; popl (%ebx): the user code page is read-only, so the write faults.
    test.load([0x6A, 0x01, 0xBB, 0, 0, 1, 0, 0x8F, 0x03])
    guard case .enteredKernel(vector: 14, _, _) = test.machine.run(maxInstructions: 10) else {
        Issue.record("popl did not fault")
        return
    }
    // The frame: error code, eip, cs, eflags, then the user's esp, still below the pushed word.
    #expect(test.stackWord(1) == TestMachine.codeBase + 7)
    #expect(test.stackWord(4) == TestMachine.userStackTop - 4)
}

@Test func x360_thePublicWrappersShareOnePageWalkAndAskOnlyWhetherItIsRing3() throws {
    let test = TestMachine()
    let ringOneStack = GuestVirtualAddress(TestMachine.ring1StackTop - 4)  // mapped for the supervisor only
    #expect(throws: PageFault.self) { _ = try test.machine.translate(ringOneStack, access: .read, privilege: .user) }
    let walks = test.machine.statistics.pageWalks
    let physical = try test.machine.translate(ringOneStack, access: .write, privilege: .supervisor)
    #expect(physical == HostPhysicalAddress(ringOneStack.rawValue))
    #expect(test.machine.statistics.pageWalks == walks + 1)
    // The read and write wrappers find the translation `translate` left in the TLB: no second walk.
    try test.machine.writeVirtual32(0x600D_F00D, at: ringOneStack, privilege: .supervisor)
    #expect(try test.machine.readVirtual32(ringOneStack, privilege: .supervisor) == 0x600D_F00D)
    #expect(test.machine.statistics.pageWalks == walks + 1)
}
