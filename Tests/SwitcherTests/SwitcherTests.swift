// Tests of the Switcher's pages: the stubs, the register frame, and the mappings at 0xFFC00000
// (S:010-S:040). World-switch behaviour with a whole Guest is tested in HostTests (s100-s230).

import LguestABI
import Machine
import Testing
@testable import Switcher

@Test func s010_layoutPutsThreePagesAtTheTop() {
    #expect(SwitcherLayout.text == GuestVirtualAddress(0xFFC0_0000))
    #expect(SwitcherLayout.registers == GuestVirtualAddress(0xFFC0_1000))
    #expect(SwitcherLayout.state == GuestVirtualAddress(0xFFC0_2000))
    #expect(SwitcherLayout.idt == GuestVirtualAddress(0xFFC0_2800))
    #expect(SwitcherLayout.ringZeroStackTop == SwitcherLayout.state)
    for vector in 0...255 {
        let stub = SwitcherLayout.stub(vector: UInt8(vector))
        #expect(SwitcherLayout.vector(ofStub: stub) == UInt8(vector))
        #expect(SwitcherLayout.vector(ofStub: stub.advanced(by: 1)) == nil)
    }
    #expect(SwitcherLayout.vector(ofStub: SwitcherLayout.registers) == nil)
    #expect(SwitcherLayout.vector(ofStub: GuestVirtualAddress(0xFFBF_FFF0)) == nil)
}

@Test func s020_stubsPushZeroOnlyWhereTheProcessorPushesNoErrorCode() {
    for vector in 0...255 {
        let bytes = stubBytes(vector: UInt8(vector))
        #expect(bytes.count == Int(SwitcherLayout.stubSize))
        let hasErrorCode = [8, 10, 11, 12, 13, 14, 17].contains(vector)
        #expect(vectorHasErrorCode(UInt8(vector)) == hasErrorCode)
        let pushes: [UInt8] = (hasErrorCode ? [] : [0x6A, 0x00])
            + (vector < 0x80 ? [0x6A, UInt8(vector)] : [0x68, UInt8(vector), 0, 0, 0])
        #expect(Array(bytes.prefix(pushes.count + 2)) == pushes + [0x0F, 0x0B])
    }
}

@Test func s030_registerFrameEndsAtThePageEndWithTheProcessorsFrameOnTop() throws {
    #expect(GuestRegisterFrame.size == 72)
    #expect(GuestRegisterFrame.offsetInPage + GuestRegisterFrame.size == UInt32(pageSize))
    // The processor's five words (eip, cs, eflags, esp, ss) end exactly at the top of the stack.
    #expect(GuestRegisterFrame.offsetInPage + GuestRegisterFrame.eipOffset + 20 == UInt32(pageSize))
    let memory = PhysicalMemory(frameCount: 2)
    let page = RegisterPage(memory: memory, frame: PageFrameNumber(1))
    var frame = GuestRegisterFrame()
    frame.eax = 1; frame.ebx = 2; frame.ecx = 3; frame.edx = 4; frame.esi = 5; frame.edi = 6; frame.ebp = 7
    frame.gs = 8; frame.fs = 9; frame.ds = 10; frame.es = 11; frame.trapNumber = 12; frame.errorCode = 13
    frame.eip = 14; frame.cs = 15; frame.eflags = 16; frame.esp = 17; frame.ss = 18
    page.registers = frame
    #expect(page.registers == frame)
    for word in 0..<18 {
        let address = HostPhysicalAddress(frame: PageFrameNumber(1), offset: GuestRegisterFrame.offsetInPage + UInt32(word * 4))
        #expect(try memory.load32(at: address) == UInt32(word + 1))
    }
}

@Test func s040_switcherPagesAreMappedSupervisorOnlyAndTheGuestCannotWriteThem() throws {
    let machine = Machine(memory: PhysicalMemory(frameCount: 64))
    let switcher = Switcher(machine: machine)
    let memory = machine.memory
    let directoryEntry = PageDirectoryEntry(rawValue: try memory.load32(at: HostPhysicalAddress(
        frame: switcher.hostPageDirectoryFrame, offset: UInt32(switcherPageDirectoryIndex * 4))))
    #expect(directoryEntry.frame == switcher.switcherPageTableFrame)
    #expect(!directoryEntry.flags.contains(.user))
    for (index, writable) in [(0, false), (2, false)] {
        let entry = PageTableEntry(rawValue: try memory.load32(at: HostPhysicalAddress(
            frame: switcher.switcherPageTableFrame, offset: UInt32(index * 4))))
        #expect(entry.flags.contains(.present))
        #expect(entry.flags.contains(.writable) == writable)
        #expect(!entry.flags.contains(.user))
    }
    // The Host's processor state: ring 0, paging with write protection, the Switcher's tables.
    let cpu = machine.cpu
    #expect(cpu.cpl == 0)
    #expect(cpu.cr0.contains(.writeProtect) && cpu.cr0.contains(.paging))
    #expect(cpu.idtr.base == SwitcherLayout.idt)
    // A supervisor write to the stubs faults, because CR0.WP is set.
    #expect(throws: PageFault.self) {
        try machine.writeVirtual8(0x90, at: SwitcherLayout.text, privilege: .supervisor)
    }
    #expect(try machine.readVirtual8(SwitcherLayout.stub(vector: 14), privilege: .supervisor) == 0x6A)
    #expect(throws: PageFault.self) { try machine.readVirtual8(SwitcherLayout.text, privilege: .user) }
}
