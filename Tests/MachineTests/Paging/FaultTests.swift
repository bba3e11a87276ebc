import Machine
import Testing

@Test func x310_pagingDrawsItsPrivilegeLineBetweenRingThreeAndTheRest() {
    #expect([0, 1, 2, 3].map { Privilege(ring: UInt8($0)) } == [.supervisor, .supervisor, .supervisor, .user])
}

@Test func x320_theErrorCodesBitsAreTheManualsBits() {
    // The diagram's layout: P bit 0, W/R bit 1, U/S bit 2, RSVD bit 3.
    #expect(PageFaultErrorCode.protection.rawValue == 1)
    #expect(PageFaultErrorCode.write.rawValue == 2)
    #expect(PageFaultErrorCode.user.rawValue == 4)
    #expect(PageFaultErrorCode.reservedBit.rawValue == 8)
    // A user write to a present, read-only page: the code a handler would see, and what cr2 holds.
    let fault = PageFault(address: GuestVirtualAddress(0x0804_9000), errorCode: [.protection, .write, .user])
    #expect(fault.errorCode.rawValue == 7)
    #expect(fault.cr2 == GuestVirtualAddress(0x0804_9000))
    #expect(fault.description == "#PF at \(GuestVirtualAddress(0x0804_9000)) error [P W U]")
}
