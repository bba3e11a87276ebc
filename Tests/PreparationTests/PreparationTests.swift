import LguestABI
import Machine
import Testing

// The layouts in LguestABI are an ABI: these tests pin every number a Guest and a Host must agree on.

@Test func p030_linearMapConvertsBothWaysAndStopsAtTheSwitcher() {
    #expect(kernelVirtual(GuestPhysicalAddress(0)) == GuestVirtualAddress(0xC000_0000))
    #expect(kernelVirtual(GuestPhysicalAddress(0x0012_3456)) == GuestVirtualAddress(0xC012_3456))
    #expect(kernelVirtual(GuestPhysicalAddress(0x3FBF_FFFF)) == GuestVirtualAddress(0xFFBF_FFFF))
    #expect(kernelVirtual(GuestPhysicalAddress(0x3FC0_0000)) == nil)
    #expect(kernelPhysical(GuestVirtualAddress(0xC010_0000)) == GuestPhysicalAddress(0x0010_0000))
    #expect(kernelPhysical(GuestVirtualAddress(0xBFFF_FFFF)) == nil)
    #expect(kernelPhysical(GuestVirtualAddress(0xFFC0_0000)) == nil)
    #expect(switcherPageDirectoryIndex == 1023)
}

@Test(arguments: [
    (Hypercall.flushAsync, 0, "FLUSH_ASYNC"), (.lguestInit, 1, "LGUEST_INIT"), (.shutdown, 2, "SHUTDOWN"),
    (.loadGDT, 3, "LOAD_GDT"), (.newPageTable, 4, "NEW_PGTABLE"), (.flushTLB, 5, "FLUSH_TLB"),
    (.loadIDTEntry, 6, "LOAD_IDT_ENTRY"), (.setStack, 7, "SET_STACK"), (.taskSwitched, 8, "TS"),
    (.setClockEvent, 9, "SET_CLOCKEVENT"), (.halt, 10, "HALT"), (.setPTE, 14, "SET_PTE"),
    (.setPMD, 15, "SET_PMD"), (.loadTLS, 16, "LOAD_TLS"), (.notify, 17, "NOTIFY"),
] as [(Hypercall, UInt32, String)])
func p100_hypercallNumbersAndNamesAreLguests(call: Hypercall, number: UInt32, name: String) {
    #expect(call.rawValue == number)
    #expect(call.name == name)
    #expect(Hypercall(rawValue: number) == call)
}

@Test func p100_undefinedNumbersDoNotDecode() {
    let defined = Set(Hypercall.allCases.map(\.rawValue))
    for number in UInt32(0)...64 where !defined.contains(number) {
        #expect(Hypercall(rawValue: number) == nil)
    }
    #expect(Hypercall(rawValue: .max) == nil)
    #expect(hypercallVector == 0x1F)
}

@Test func p110_shutdownKindsAreLguests() {
    #expect(ShutdownKind.powerOff.rawValue == 1)
    #expect(ShutdownKind.restart.rawValue == 2)
    #expect(ShutdownKind(rawValue: 0) == nil)
}

@Test(arguments: [
    (LguestData.irqEnabled, 0), (LguestData.blockedInterrupts, 4), (LguestData.cr2, 8),
    (LguestData.timeSeconds, 12), (LguestData.timeNanoseconds, 16), (LguestData.irqPending, 20),
    (LguestData.hypercallStatus, 24), (LguestData.hypercalls, 88), (LguestData.reserveMemory, 1368),
    (LguestData.tscKHz, 1372), (LguestData.pageDirectory, 1376), (LguestData.noInterruptStart, 1380),
    (LguestData.noInterruptEnd, 1384), (LguestData.kernelAddress, 1388), (LguestData.systemCallVector, 1392),
    (LguestData.size, 1396),
] as [(UInt32, UInt32)])
func p200_lguestDataOffsetsAreFixed(offset: UInt32, expected: UInt32) {
    #expect(offset == expected)
}

@Test func p200_lguestDataFitsInOnePageAndFieldsAreAligned() {
    #expect(LguestData.size <= UInt32(pageSize))
    for field in [LguestData.irqEnabled, LguestData.cr2, LguestData.irqPending, LguestData.hypercalls,
                  LguestData.reserveMemory, LguestData.systemCallVector] {
        #expect(field % 4 == 0)
    }
}

@Test func p210_ringSlotsTileWithoutOverlap() {
    #expect(hypercallRingSize == 64)
    #expect(HypercallRingEntry.size == 20)
    var previousEnd = LguestData.hypercalls
    for slot in 0..<hypercallRingSize {
        #expect(LguestData.statusOffset(slot: slot) == 24 + UInt32(slot))
        #expect(LguestData.entryOffset(slot: slot) == previousEnd)
        previousEnd = LguestData.entryOffset(slot: slot) + HypercallRingEntry.size
    }
    #expect(previousEnd == LguestData.reserveMemory)
    #expect(hypercallReady == 0 && hypercallDone == 0xFF)
}

@Test func p220_irqsMapToVectorsFrom32() {
    #expect(irqCount == 32)
    #expect(vector(forIRQ: 0) == 32)
    #expect(vector(forIRQ: 31) == 63)
    #expect(irqEnabledValue == EFLAGS.interruptEnable.rawValue)
    #expect(systemCallVector == 0x80)
}

@Test func p240_gdtSelectorsAreLinuxs() {
    #expect(GDTLayout.kernelCodeSelector.rawValue == 0x61)
    #expect(GDTLayout.kernelDataSelector.rawValue == 0x69)
    #expect(GDTLayout.userCodeSelector.rawValue == 0x73)
    #expect(GDTLayout.userDataSelector.rawValue == 0x7B)
    #expect(GDTLayout.switcherCodeSelector.rawValue == 0x50)
    #expect(GDTLayout.switcherDataSelector.rawValue == 0x58)
    #expect(GDTLayout.taskStateSelector.rawValue == 0x80)
    let reserved = (0..<GDTLayout.entryCount).filter(GDTLayout.isReservedForHost)
    #expect(reserved == [10, 11, 16, 31])
}

@Test func p300_bootPageCarriesMapCommandLineAndInitrdAtLinuxOffsets() {
    let map = [E820Entry(address: 0, length: 0x0100_0000, type: .ram),
               E820Entry(address: 0x0100_0000, length: 0x1000, type: .reserved)]
    let page = BootParameters.encodePage(memoryMap: map, commandLineLength: 13,
                                         initrd: (GuestPhysicalAddress(0x00F0_0000), 0x2345))
    func word(_ offset: UInt32) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(page[Int(offset) + $1]) << (8 * $1) }
    }
    #expect(page.count == pageSize)
    #expect(page[0x1E8] == 2)
    #expect(word(0x228) == 0x1000)
    #expect(word(0x238) == 13)
    #expect(word(0x23C) == 1)
    #expect(word(0x218) == 0x00F0_0000)
    #expect(word(0x21C) == 0x2345)
    for (index, entry) in map.enumerated() {
        let start = 0x2D0 + index * 20
        #expect(E820Entry(bytes: page[start..<start + 20]) == entry)
    }
    #expect(E820Entry(bytes: page[0x2D0..<0x2D0 + 19]) == nil)
}

@Test func p300_e820EntryEncodingIsLittleEndianAndRoundTrips() {
    let entry = E820Entry(address: 0x0102_0304_0506_0708, length: 0x1122_3344_5566_7788, type: .ram)
    #expect(entry.bytes == [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
                            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 1, 0, 0, 0])
    #expect(E820Entry(bytes: entry.bytes) == entry)
    var unknown = entry.bytes
    unknown[16] = 7
    #expect(E820Entry(bytes: unknown)?.type == nil)
}

@Test func p500_kernelImageHasRealInstructionsAtItsSites() {
    var image = GuestKernelImage()
    func bytes(at address: GuestVirtualAddress, _ count: Int) -> [UInt8] {
        let offset = Int(address.distance(from: GuestKernelImage.base))
        return Array(image.text[offset..<offset + count])
    }
    #expect(GuestKernelImage.base == kernelVirtual(GuestKernelImage.loadAddress))
    #expect(bytes(at: image.hypercallSite, 2) == [0xCD, 0x1F])
    #expect(bytes(at: image.noInterruptStoreSite, 2) == [0x89, 0x02])
    #expect(bytes(at: image.iretSite, 1) == [0xCF])
    #expect(image.noInterruptWindow.contains(image.noInterruptStoreSite))
    #expect(image.noInterruptWindow.contains(image.iretSite))
    #expect(!image.noInterruptWindow.contains(image.memoryAccessSite))
    for instruction in NativeInstruction.allCases {
        #expect(bytes(at: image.site(of: instruction), instruction.bytes.count) == instruction.bytes)
    }
    let first = image.addEntry(named: "one") { _ throws(GuestStopped) in }
    let second = image.addEntry(named: "two") { _ throws(GuestStopped) in }
    #expect(first != second)
    #expect(bytes(at: first, 2) == [0x0F, 0x0B])
    #expect(image.entry(at: second)?.name == "two")
    #expect(image.entry(at: image.hypercallSite) == nil)
    #expect(image.contains(second) && !image.contains(second.advanced(by: 4)))
}

@Test func p230_theVirtualClockStartsWhenLinux2630CameOut() {
    // 2009-06-10 00:00:00 UTC, in seconds since 1970: 14,405 days.
    #expect(bootWallClockSeconds == 14_405 * 86_400)
}

@Test func p310_anE820RangeOfUnknownTypeIsNotRAMAndAShortEntryIsNothing() {
    let reserved = E820Entry(address: 0xA0000, length: 0x60000, type: .reserved)
    #expect(E820Entry.size == 20 && reserved.bytes.count == 20)
    #expect(E820Entry(bytes: reserved.bytes)?.type == .reserved)
    var unknown = reserved.bytes
    unknown[16] = 4  // ACPI NVS, a type this code does not know: never taken for RAM
    #expect(E820Entry(bytes: unknown)?.type == nil)
    #expect(E820Entry(bytes: reserved.bytes.prefix(19)) == nil)
}

@Test func p520_entryAddressesStartAt0x40AndStepByFourWhateverTheNativeSites() {
    var image = GuestKernelImage()
    let sites = NativeInstruction.allCases.map { image.site(of: $0) }
    #expect(Set(sites).count == sites.count)  // one site each
    #expect(sites.allSatisfy { $0.distance(from: GuestKernelImage.base) < 0x40 })
    // After the last native instruction, nops up to 0x40: room for the list to grow.
    let ends = NativeInstruction.allCases.map { instruction in
        Int(image.site(of: instruction).distance(from: GuestKernelImage.base)) + instruction.bytes.count
    }
    let padding = image.text[(ends.max() ?? 0)...]
    #expect(image.text.count == 0x40 && !padding.isEmpty && padding.allSatisfy { $0 == 0x90 })
    let first = image.addEntry(named: "first") { _ throws(GuestStopped) in }
    let second = image.addEntry(named: "second") { _ throws(GuestStopped) in }
    #expect(first == GuestKernelImage.base.advanced(by: 0x40))
    #expect(second == first.advanced(by: 4) && image.text.count == 0x48)
}

@Test func p610_aDescriptorsPartsFollowItsThreeLengthsAndItsSizeIsTheNextOne() {
    let layout = DeviceDescriptorLayout(queueCount: 2, featureLength: 4, configLength: 8)
    #expect(layout.queueOffset(0) == DeviceDescriptorHeader.size)
    #expect(layout.queueOffset(1) == DeviceDescriptorHeader.size + VirtqueueConfig.size)
    #expect(layout.offeredFeaturesOffset == layout.queueOffset(2))
    #expect(layout.acceptedFeaturesOffset == layout.offeredFeaturesOffset + 4)
    #expect(layout.configOffset == layout.acceptedFeaturesOffset + 4)
    #expect(layout.size == layout.configOffset + 8)
    let empty = DeviceDescriptorLayout(queueCount: 0, featureLength: 0, configLength: 0)
    #expect(empty.size == DeviceDescriptorHeader.size)
}
