@testable import Guest
import LguestABI
import Machine
import Testing

@Test func g020_theFirstHypercallIsINITWithTheSharedPageFilledIn() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    // No boot parameters at all: the kernel gets as far as looking for memory, then panics.
    #expect(throws: GuestStopped.self) { try kernel.boot() }
    let first = try #require(cpu.calls.first)
    #expect(first.call == .lguestInit && first.arguments[0] == kernel.layout.lguestData.rawValue)
    let field = { (offset: UInt32) in cpu.word(kernel.lguestDataField(offset)) }
    #expect(field(LguestData.kernelAddress) == pageOffset.rawValue)
    #expect(field(LguestData.systemCallVector) == 0x80)
    #expect(field(LguestData.blockedInterrupts) == 1, "the timer stays blocked until time is set up")
    #expect(field(LguestData.noInterruptStart) == kernel.noInterruptWindow.lowerBound.rawValue)
    #expect(field(LguestData.noInterruptEnd) == kernel.noInterruptWindow.upperBound.rawValue)
    #expect(kernel.lguestInitialised)
    // G:044: a panic is a SHUTDOWN that says why.
    let last = try #require(cpu.calls.last)
    #expect(last.call == .shutdown && last.arguments[1] == ShutdownKind.powerOff.rawValue)
    let reason = cpu.memory[Int(last.arguments[0])...].prefix { $0 != 0 }
    #expect(String(decoding: reason, as: UTF8.self) == "Kernel panic: no usable memory in the e820 map")
    #expect(kernel.consoleText.hasSuffix("Kernel panic: no usable memory in the e820 map\n"))
}

@Test func g015_theLayoutFollowsTheText() {
    let layout = KernelLayout()
    #expect(layout.text == GuestKernelImage.loadAddress)
    let pages = [layout.lguestData, layout.stackBottom, layout.gdt, layout.idt, layout.scratch, layout.pageDirectory, layout.end]
    #expect(pages.map { ($0.rawValue - layout.text.rawValue) >> 12 } == [1, 2, 4, 5, 6, 7, 8])
    #expect(layout.stackTop == layout.gdt, "the stack's top is the page after its two pages")
    #expect(pages.allSatisfy { $0.isPageAligned })
}

@Test func g020_theImageHasABootEntryAndOneEntryPerVector() {
    let kernel = GuestKernel()
    let image = kernel.makeImage()
    let boot = image.bootEntry.flatMap { image.entry(at: $0) }
    #expect(boot?.name == "boot")
    let addresses = (0...255).map { kernel.vectorEntry(UInt8($0)) }
    #expect(Set(addresses).count == 256)
    #expect(addresses.allSatisfy { image.contains($0) && image.entry(at: $0) != nil })
    #expect(image.text.count <= pageSize)
    #expect(kernel.noInterruptWindow == image.noInterruptWindow)
}
