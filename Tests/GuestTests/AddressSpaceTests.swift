@testable import Guest
import LguestABI
import Machine
import Testing

/// A kernel on the recording processor with frames 0x200000-0x3FF000 free and a kernel directory
/// whose only entry maps the first 4 MiB at pageOffset.
private func kernelWithMemory() throws -> (RecordingProcessor, GuestKernel) {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    let free = stride(from: UInt32(0x20_0000), to: 0x40_0000, by: 0x1000).map(GuestPhysicalAddress.init)
    kernel.pages = PageAllocator(free: free, topOfMemory: GuestPhysicalAddress(0x40_0000))
    kernel.kernelPageDirectory = kernel.layout.pageDirectory
    cpu.setWord(linear(kernel.layout.pageDirectory) &+ 768 * 4, 0x0010_8003)
    return (cpu, kernel)
}

/// A free frame from the kernel's allocator.
private func frame(_ kernel: GuestKernel) throws -> GuestPhysicalAddress {
    let frame = kernel.pages.allocate()
    return try #require(frame)
}

@Test func g084_aNewAddressSpaceSharesTheKernelHalfAndNothingElse() throws {
    let (cpu, kernel) = try kernelWithMemory()
    let directory = try #require(try kernel.createAddressSpace())
    #expect(cpu.word(linear(directory) &+ 768 * 4) == 0x0010_8003)
    #expect((0..<1024).filter { cpu.word(linear(directory) &+ UInt32($0) * 4) != 0 } == [768])
    #expect(cpu.calls.isEmpty, "the Host hears of a directory only when we switch to it")
}

@Test func g084_mappingAUserPageTellsTheHostExactlyWhatChanged() throws {
    let (cpu, kernel) = try kernelWithMemory()
    let directory = try #require(try kernel.createAddressSpace())
    let target = try frame(kernel)
    let page = GuestVirtualAddress(0x0804_9000)
    #expect(try kernel.mapUserPage(directory, page, frame: target, writable: false))
    #expect(cpu.calls.map(\.call) == [.setPMD, .setPTE])
    #expect(cpu.calls[0].arguments.prefix(2) == [directory.rawValue, 32])
    #expect(cpu.calls[1].arguments.prefix(2) == [directory.rawValue, page.rawValue])
    #expect(try kernel.translateUser(directory, page &+ 0x123, write: false) == target &+ 0x123)
    #expect(try kernel.translateUser(directory, page, write: true) == nil, "read-only")
    #expect(try kernel.translateUser(directory, page &+ 0x1000, write: false) == nil, "unmapped")
    #expect(try kernel.translateUser(directory, GuestVirtualAddress(0xC010_0000), write: false) == nil, "kernel")
    // A second page in the same 4 MiB needs no new page table.
    let second = try frame(kernel)
    #expect(try kernel.mapUserPage(directory, page &+ 0x1000, frame: second, writable: true))
    #expect(cpu.calls.map(\.call) == [.setPMD, .setPTE, .setPTE])
}

@Test func g084_userCopiesCrossPagesAndStopAtTheFirstBadOne() throws {
    let (cpu, kernel) = try kernelWithMemory()
    let directory = try #require(try kernel.createAddressSpace())
    let low = try frame(kernel), high = try frame(kernel)
    let page = GuestVirtualAddress(0x0804_8000)
    _ = try kernel.mapUserPage(directory, page, frame: low, writable: true)
    _ = try kernel.mapUserPage(directory, page &+ 0x1000, frame: high, writable: true)
    let bytes: [UInt8] = Array(1...10)
    #expect(try kernel.copyToUser(directory, page &+ 0xFFB, bytes))
    #expect(cpu.memory[Int(low.rawValue) + 0xFFB] == 1 && cpu.memory[Int(high.rawValue) + 4] == 10)
    #expect(try kernel.copyFromUser(directory, page &+ 0xFFB, count: 10) == bytes)
    #expect(try kernel.copyFromUser(directory, page &+ 0x1FFC, count: 8) == nil, "runs into an unmapped page")
    #expect(try kernel.copyToUser(directory, page &+ 0x1FFC, [1, 2, 3, 4, 5]) == false)
}

@Test func g084_destroyingAnAddressSpaceReturnsEveryFrame() throws {
    let (_, kernel) = try kernelWithMemory()
    let before = kernel.pages.freeCount
    let directory = try #require(try kernel.createAddressSpace())
    for index in 0..<3 as Range<UInt32> {
        let page = try frame(kernel)
        _ = try kernel.mapUserPage(directory, GuestVirtualAddress(0x0804_8000 + index << 22), frame: page, writable: true)
    }
    #expect(kernel.pages.freeCount == before - 1 - 3 - 3, "directory, three pages, three page tables")
    try kernel.destroyAddressSpace(directory)
    #expect(kernel.pages.freeCount == before)
}
