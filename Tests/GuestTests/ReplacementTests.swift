@testable import Guest
import LguestABI
import Machine
import Testing

private func irqEnabled(_ cpu: RecordingProcessor, _ kernel: GuestKernel) -> UInt32 {
    cpu.word(kernel.lguestDataField(LguestData.irqEnabled))
}

@Test func g030_beforeLguestInitTheNativeInstructionsAreTried() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    try kernel.pvOps.irqDisable(kernel)
    try kernel.pvOps.writeCR3(kernel, GuestPhysicalAddress(0x9000))
    #expect(cpu.natives == [.cli, .writeCR3])
    #expect(cpu.registers.eax == 0x9000)
    #expect(cpu.calls.isEmpty)
}

@Test func g030_afterLguestInitNothingNativeIsTried() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    try kernel.pvOps.irqDisable(kernel)
    try kernel.pvOps.irqEnable(kernel)
    try kernel.pvOps.writeCR3(kernel, GuestPhysicalAddress(0x9000))
    try kernel.pvOps.clts(kernel)
    try kernel.pvOps.safeHalt(kernel)
    #expect(cpu.natives.isEmpty)
    #expect(cpu.calls.map(\.call) == [.newPageTable, .taskSwitched, .halt])
}

@Test func g033_theFlagLivesInLguestData() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    try kernel.irqEnable()
    #expect(irqEnabled(cpu, kernel) == irqEnabledValue)
    #expect(try kernel.saveFlags() == irqEnabledValue)
    try kernel.irqDisable()
    #expect(irqEnabled(cpu, kernel) == 0)
    try kernel.restoreFlags(0xFFFF_FFFF)
    #expect(irqEnabled(cpu, kernel) == irqEnabledValue, "only IF survives a restore")
    #expect(cpu.calls.isEmpty, "interrupt control never traps")
}

@Test(arguments: [false, true])
func m003_enablingWithAnInterruptPendingTrapsSoItIsDelivered(patched: Bool) throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    if patched { kernel.applyPatches() }
    try kernel.irqDisable()
    try kernel.irqEnable()
    #expect(cpu.calls.isEmpty, "nothing pending: no hypercall")
    try kernel.irqDisable()
    cpu.setWord(kernel.lguestDataField(LguestData.irqPending), irqEnabledValue)
    try kernel.irqEnable()
    #expect(cpu.calls.map(\.call) == [.flushAsync])
    try kernel.irqDisable()
    try kernel.restoreFlags(irqEnabledValue)
    #expect(cpu.calls.map(\.call) == [.flushAsync, .flushAsync], "restoring IF checks too")
    try kernel.restoreFlags(0)
    #expect(cpu.calls.count == 2, "restoring a disabled flag does not")
}

@Test(arguments: [UInt32(0), irqEnabledValue])
func g045_iretCopiesIFInsideTheNoInterruptWindow(flag: UInt32) throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    let frame = linear(kernel.layout.stackTop) &- 12
    cpu.setWord(frame, 0xC010_0040)
    cpu.setWord(frame &+ 4, UInt32(GDTLayout.kernelCodeSelector.rawValue))
    cpu.setWord(frame &+ 8, flag | 0x2 | 0x1)
    cpu.registers.esp = frame.rawValue
    try kernel.interruptReturn()
    let store = try #require(cpu.stores.last)
    #expect(store.address == kernel.lguestDataField(LguestData.irqEnabled))
    #expect(store.value == flag)
    #expect(store.site == .noInterruptWindow)
    #expect(cpu.irets == 1)
}

@Test func g039_cpuidFilterMasksFeaturesAddsGlobalPagesAndSaysPentium() {
    let native = CPUIDResult(eax: 0x0000_0633, ebx: 0x1234, ecx: 0xFFFF_FFFF, edx: 0xFFFF_FFFF)
    let leaf1 = LguestCPUID.filter(leaf: 1, native)
    #expect(leaf1.ecx == 0x0000_2201)
    #expect(leaf1.edx == 0x0780_8111 | 0x2000)
    #expect(leaf1.eax == 0x0000_0533)
    #expect(leaf1.ebx == 0x1234)
    let none = LguestCPUID.filter(leaf: 1, CPUIDResult(eax: 0, ebx: 0, ecx: 0, edx: 0))
    #expect(none.edx == 0x2000, "PGE is claimed even when the processor lacks it")
    for (reported, expected) in [(UInt32(0x8000_0004), UInt32(0x8000_0004)), (0x8000_0008, 0x8000_0008), (0x8000_001F, 0x8000_0008)] {
        #expect(LguestCPUID.filter(leaf: 0x8000_0000, CPUIDResult(eax: reported, ebx: 1, ecx: 2, edx: 3)).eax == expected)
    }
    #expect(LguestCPUID.filter(leaf: 0, native) == native)
}

@Test func g040_cr0OnlyTellsTheHostAboutTS() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    var value = kernel.pvOps.readCR0(kernel)
    value.insert(.taskSwitched)
    try kernel.pvOps.writeCR0(kernel, value)
    #expect(kernel.pvOps.readCR0(kernel).contains(.taskSwitched))
    try kernel.pvOps.clts(kernel)
    #expect(!kernel.pvOps.readCR0(kernel).contains(.taskSwitched))
    #expect(cpu.calls.map { [$0.call.rawValue, $0.arguments[0]] } == [[Hypercall.taskSwitched.rawValue, 1], [Hypercall.taskSwitched.rawValue, 0]])
}

@Test func g040_cr2AndCR3ComeFromLguestData() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    cpu.setWord(kernel.lguestDataField(LguestData.cr2), 0xDEAD_B000)
    #expect(try kernel.pvOps.readCR2(kernel) == GuestVirtualAddress(0xDEAD_B000))
    try kernel.pvOps.writeCR3(kernel, GuestPhysicalAddress(0x0020_0000))
    #expect(try kernel.pvOps.readCR3(kernel) == GuestPhysicalAddress(0x0020_0000))
    #expect(cpu.calls.map(\.call) == [.newPageTable])
    #expect(kernel.cr3Changed)
}

/// How many FLUSH_TLB calls 100 setPTE() calls cost before and after the first cr3 switch.
private func flushes(trick: Bool) throws -> (before: Int, after: Int) {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel(GuestConfiguration(cr3ChangedTrick: trick))
    kernel.lguestInit()
    let table = GuestPhysicalAddress(0x0020_0000)
    for index in 0..<100 as Range<UInt32> {
        try kernel.pvOps.setPTE(kernel, table &+ index * 4, PageTableEntry(rawValue: index << 12 | 1))
    }
    let before = cpu.calls.filter { $0.call == .flushTLB }.count
    try kernel.pvOps.writeCR3(kernel, GuestPhysicalAddress(0x0030_0000))
    for index in 0..<100 as Range<UInt32> {
        try kernel.pvOps.setPTE(kernel, table &+ index * 4, PageTableEntry(rawValue: index << 12 | 1))
    }
    return (before, cpu.calls.filter { $0.call == .flushTLB }.count - before)
}

@Test func g041_setPTEDoesNotFlushUntilTheFirstPageTableSwitch() throws {
    #expect(try flushes(trick: true) == (0, 100))
    #expect(try flushes(trick: false) == (100, 100))
}

@Test func g041_setPTEAtAndSetPMDNameWhatChanged() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    let directory = GuestPhysicalAddress(0x0020_0000)
    let pointer = GuestPhysicalAddress(0x0021_0008)
    let entry = PageTableEntry(frame: PageFrameNumber(0x345), flags: [.present, .user])
    try kernel.pvOps.setPTEAt(kernel, directory, GuestVirtualAddress(0x0804_9000), pointer, entry)
    try kernel.pvOps.setPMD(kernel, directory &+ 0x80, PageDirectoryEntry(rawValue: 0x0021_0007))
    try kernel.pvOps.writeCR3(kernel, directory)
    try kernel.pvOps.flushTLBSingle(kernel, GuestVirtualAddress(0x0804_9000))
    try kernel.pvOps.flushTLBUser(kernel)
    try kernel.pvOps.flushTLBKernel(kernel)
    #expect(cpu.calls.map { [$0.call.rawValue] + $0.arguments.prefix(3) } == [
        [Hypercall.setPTE.rawValue, 0x0020_0000, 0x0804_9000, entry.rawValue],
        [Hypercall.setPMD.rawValue, 0x0020_0000, 0x20, 0],
        [Hypercall.newPageTable.rawValue, 0x0020_0000, 0, 0],
        [Hypercall.setPTE.rawValue, 0x0020_0000, 0x0804_9000, 0],
        [Hypercall.flushTLB.rawValue, 0, 0, 0],
        [Hypercall.flushTLB.rawValue, 1, 0, 0],
    ])
    #expect(cpu.word(linear(pointer)) == entry.rawValue)
}

@Test func g038_theNoOpsTouchNeitherTheHostNorTheProcessor() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    cpu.stores.removeAll()
    let before = cpu.memory
    kernel.pvOps.setLDT(kernel, GuestVirtualAddress(0xC000_1000), 8)
    kernel.pvOps.loadTR(kernel)
    kernel.pvOps.setDebugRegister(kernel, 7, 0x400)
    kernel.pvOps.apicWrite(kernel, 0xB0, 1)
    #expect(kernel.pvOps.apicRead(kernel, 0x20) == 0)
    try kernel.pvOps.wbinvd(kernel)
    try kernel.pvOps.writeCR4(kernel, [.pageGlobalEnable])
    #expect(kernel.pvOps.readCR4(kernel) == [])
    #expect(cpu.calls.isEmpty && cpu.natives.isEmpty && cpu.stores.isEmpty)
    #expect(cpu.memory == before)
}
