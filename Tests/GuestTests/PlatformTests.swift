@testable import Guest
import LguestABI
import Machine
import Testing

@Test func g034_gatesAreTheOnesLinuxWouldWrite() throws {
    let kernel = GuestKernel()
    _ = kernel.makeImage()
    let syscall = try #require(kernel.gate(for: systemCallVector))
    #expect(syscall.kind == .trap && syscall.dpl == 3)
    let pageFault = try #require(kernel.gate(for: 14))
    #expect(pageFault.kind == .interrupt && pageFault.dpl == 0)
    let divide = try #require(kernel.gate(for: 0))
    #expect(divide.kind == .trap && divide.dpl == 0, "a trap gate below 32: the Host can make it a direct trap")
    #expect(try #require(kernel.gate(for: 3)).dpl == 3, "int3 is for programs")
    let timer = try #require(kernel.gate(for: 32))
    #expect(timer.kind == .interrupt)
    #expect(kernel.gate(for: 20) == nil && kernel.gate(for: 31) == nil)
    for vector in 0...255 {
        guard let gate = kernel.gate(for: UInt8(vector)) else { continue }
        #expect(gate.offset == kernel.vectorEntry(UInt8(vector)).rawValue)
        #expect(gate.selector.index == GDTLayout.kernelCode)
        #expect(gate.isPresent)
    }
}

@Test func g034_theVectorsTheHostKeepsAreNeverSent() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    try kernel.trapInit()
    try kernel.initIRQ()
    let sent = Set(cpu.calls.filter { $0.call == .loadIDTEntry }.map { $0.arguments[0] })
    #expect(sent.isDisjoint(with: [2, 8, 15, 0x1F]))
    #expect(sent.contains(0x80) && sent.contains(14) && sent.contains(32) && sent.contains(255))
    #expect(sent.count == 17 + 1 + 223)
    // load_idt sends the same present entries again, from the table in memory.
    let before = cpu.calls.count
    try kernel.loadIDT()
    #expect(Set(cpu.calls[before...].map { $0.arguments[0] }) == sent)
}

@Test func g046_gdtGoesToTheHostWhole() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    try kernel.buildGDT()
    try kernel.loadGDT()
    #expect(cpu.calls == [.init(call: .loadGDT, arguments: [kernel.layout.gdt.rawValue, 32, 0, 0], async: false)])
    let userCode = linear(kernel.layout.gdt) &+ UInt32(GDTLayout.userCode) * 8
    let descriptor = SegmentDescriptor(low: cpu.word(userCode), high: cpu.word(userCode &+ 4))
    #expect(descriptor.isCode && descriptor.dpl == 3 && descriptor.base == 0)
    try kernel.writeGDTEntry(GDTLayout.firstTLS, .flat(executable: false, dpl: 3))
    #expect(cpu.calls.count == 2 && cpu.calls[1].call == .loadGDT)
}

@Test func g042_maskingIsABitInTheBitmap() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    let field = kernel.lguestDataField(LguestData.blockedInterrupts)
    for irq in [0, 5, 31] { try LguestIRQChip.mask(kernel, irq) }
    #expect(cpu.word(field) == 1 << 0 | 1 << 5 | 1 << 31)
    try LguestIRQChip.unmask(kernel, 5)
    #expect(cpu.word(field) == 1 << 0 | 1 << 31)
    var ran = false
    kernel.installIRQHandler(3) { kernel throws(GuestStopped) in
        ran = true
        #expect(try kernel.read32(field) & 1 << 3 != 0, "masked while its handler runs")
    }
    try kernel.handleIRQ(vector: 35)
    #expect(ran && cpu.word(field) & 1 << 3 == 0)
    try kernel.handleIRQ(vector: 40)
    #expect(kernel.statistics.spuriousInterrupts == 1)
    #expect(cpu.calls.isEmpty)
}

@Test func g043_theFallbackClockNeverReadsATornTime() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    let seconds = kernel.lguestDataField(LguestData.timeSeconds)
    let nanoseconds = kernel.lguestDataField(LguestData.timeNanoseconds)
    cpu.setWord(seconds, 99)
    cpu.setWord(nanoseconds, 999_999_999)
    // The Host updates the time just after the kernel reads the seconds for the first time.
    var updated = false
    cpu.afterLoad32 = { address in
        if address == seconds && !updated {
            updated = true
            cpu.setWord(seconds, 100)
            cpu.setWord(nanoseconds, 0)
        }
    }
    #expect(try LguestTime.clockRead(kernel) == 100_000_000_000)
}

@Test(arguments: [(UInt32(1_000_000), UInt64(5_000_000_123), UInt64(5_000_000_123)),
                  (2_000_000, 4_000_000_000, 2_000_000_000),
                  (2_500_000, 5, 2),
                  (3, 7, 2_333_333),
                  (4_294_967_295, UInt64.max, 4_294_967_297_000_000)])
func g043_theCounterConvertsToNanosecondsWithoutOverflow(khz: UInt32, cycles: UInt64, expected: UInt64) throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.clock.tscKHz = khz
    cpu.timeStampCounter = cycles
    #expect(try kernel.now() == expected)
}

@Test func g047_theEarlyConsoleNotifiesSixteenBytesAtATime() throws {
    let cpu = RecordingProcessor()
    var printed: [UInt8] = []
    let kernel = try cpu.kernel()
    cpu.answer = { call, arguments in
        if call == .notify {
            let start = Int(arguments[0])
            let end = cpu.memory[start...].firstIndex(of: 0)!
            printed += cpu.memory[start..<end]
        }
        return 0
    }
    let message = "Booting paravirtualized kernel on lguest, forty bytes and more\n"
    try kernel.printk(message)
    #expect(cpu.calls.count == (message.utf8.count + 15) / 16)
    #expect(String(decoding: printed, as: UTF8.self) == message)
    #expect(kernel.consoleText == message)
}

@Test func g044_stackAndHaltAndShutdownSayWhatLguestSays() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    try kernel.pvOps.loadSP0(kernel, linear(kernel.layout.stackTop))
    try kernel.pvOps.safeHalt(kernel)
    #expect(cpu.calls.map(\.call) == [.setStack, .halt])
    #expect(cpu.calls[0].arguments.prefix(3) == [UInt32(GDTLayout.kernelDataSelector.rawValue),
                                                 linear(kernel.layout.stackTop).rawValue, 2])
    #expect(GDTLayout.kernelDataSelector.rpl == 1)
}

@Test func g050_patchingTurnsIndirectCallsIntoInlineOnes() throws {
    for patching in [false, true] {
        let cpu = RecordingProcessor()
        let kernel = try cpu.kernel(GuestConfiguration(patching: patching))
        kernel.lguestInit()
        if patching { kernel.applyPatches() }
        for _ in 0..<10 {
            let flags = try kernel.saveFlags()
            try kernel.irqDisable()
            try kernel.restoreFlags(flags)
            try kernel.irqEnable()
        }
        #expect(kernel.statistics.indirectPVCalls == (patching ? 0 : 40))
        #expect(kernel.statistics.patchedPVCalls == (patching ? 40 : 0))
        #expect(cpu.word(kernel.lguestDataField(LguestData.irqEnabled)) == irqEnabledValue, "same effect either way")
    }
}

@Test func g060_aTemplateThatDoesNotFitLeavesTheSiteAlone() throws {
    let kernel = GuestKernel()
    #expect(kernel.patch(.irqDisable, room: 6) == 0, "movl $0, addr takes 10 bytes")
    #expect(kernel.patchSites[.irqDisable] == .indirectCall)
    #expect(kernel.patch(.saveFlags, room: 6) == 5)
    #expect(kernel.patchSites[.saveFlags] == .inline(.load))
    #expect(kernel.patch(.irqEnable) == 10)
}
