import Testing
@testable import Machine

@Suite struct AddressTests {
    @Test func x020_pageNumberOffsetAndAlignment() {
        for raw: UInt32 in [0, 1, 0xFFF, 0x1000, 0x1234_5678, 0xFFFF_F000, 0xFFFF_FFFF] {
            let address = GuestVirtualAddress(raw)
            #expect(address.pageNumber == raw >> 12)
            #expect(address.pageOffset == raw & 0xFFF)
            #expect(address.isPageAligned == (raw & 0xFFF == 0))
            #expect(address.pageBase.rawValue == raw & ~0xFFF)
        }
    }

    @Test func x020_arithmeticWrapsButCheckedVariantRefuses() {
        let top = HostPhysicalAddress(0xFFFF_FFF0)
        #expect((top &+ 0x20).rawValue == 0x10)
        #expect(top.checkedAdvanced(by: 0x20) == nil)
        #expect(top.checkedAdvanced(by: 0xF) == HostPhysicalAddress(0xFFFF_FFFF))
        #expect((HostPhysicalAddress(0x10) &- 0x20).rawValue == 0xFFFF_FFF0)
        #expect(HostPhysicalAddress(0x30).distance(from: HostPhysicalAddress(0x10)) == 0x20)
    }

    @Test func x020_framesAndPhysicalAddressesConvert() {
        let address = GuestPhysicalAddress(frame: PageFrameNumber(0x12345), offset: 0x678)
        #expect(address.rawValue == 0x1234_5678)
        #expect(address.frame == PageFrameNumber(0x12345))
        #expect(HostPhysicalAddress(0xABCD_E123).frame.rawValue == 0xABCDE)
    }

    @Test func x020_descriptionsNameTheSpace() {
        #expect(GuestVirtualAddress(0x401000).description == "gva:0x00401000")
        #expect(HostPhysicalAddress(0xFF).description == "hpa:0x000000ff")
        #expect(GuestPhysicalAddress(0).description == "gpa:0x00000000")
        #expect(PageFrameNumber(0x12).description == "pfn:0x00000012")
    }

    @Test func x030_tenTenTwelveSplitIsExactOverASweep() {
        var generator = SplitMix(seed: 30)
        for _ in 0..<5000 {
            let raw = UInt32(truncatingIfNeeded: generator.next())
            let address = GuestVirtualAddress(raw)
            #expect(address.pageDirectoryIndex == Int(raw >> 22))
            #expect(address.pageTableIndex == Int(raw >> 12) & 0x3FF)
            let rebuilt = GuestVirtualAddress(pageDirectoryIndex: address.pageDirectoryIndex,
                                              pageTableIndex: address.pageTableIndex, offset: address.pageOffset)
            #expect(rebuilt == address)
        }
    }
}
