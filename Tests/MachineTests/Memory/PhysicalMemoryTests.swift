import Testing
@testable import Machine

@Suite struct PhysicalMemoryTests {
    @Test func x040_loadsAndStoresAreLittleEndianAndUnaligned() throws {
        let memory = PhysicalMemory(frameCount: 2)
        #expect(memory.byteCount == 8192)
        try memory.store32(0x1122_3344, at: HostPhysicalAddress(0xFFE))  // crosses the frame boundary
        #expect(try memory.load8(at: HostPhysicalAddress(0xFFE)) == 0x44)
        #expect(try memory.load8(at: HostPhysicalAddress(0x1001)) == 0x11)
        #expect(try memory.load16(at: HostPhysicalAddress(0xFFF)) == 0x2233)
        #expect(try memory.load32(at: HostPhysicalAddress(0xFFE)) == 0x1122_3344)
        try memory.store16(0xBEEF, at: HostPhysicalAddress(1))
        #expect(try memory.copyOut(from: HostPhysicalAddress(0), count: 4) == [0, 0xEF, 0xBE, 0])
    }

    @Test func x040_everyAccessPastTheEndIsATypedError() throws {
        let memory = PhysicalMemory(frameCount: 1)
        let cases: [(UInt32, Int)] = [(4095, 2), (4094, 4), (4096, 1), (0xFFFF_FFFF, 1), (0xFFFF_FFFE, 4)]
        for (raw, width) in cases {
            let address = HostPhysicalAddress(raw)
            let expected = MemoryError.outOfRange(address: address, count: width)
            #expect(throws: expected) {
                switch width {
                case 1: _ = try memory.load8(at: address)
                case 2: _ = try memory.load16(at: address)
                default: _ = try memory.load32(at: address)
                }
            }
            #expect(throws: expected) {
                switch width {
                case 1: try memory.store8(1, at: address)
                case 2: try memory.store16(1, at: address)
                default: try memory.store32(1, at: address)
                }
            }
        }
        #expect(throws: MemoryError.self) { try memory.copyIn([1, 2, 3], at: HostPhysicalAddress(4094)) }
        #expect(throws: MemoryError.self) { _ = try memory.copyOut(from: HostPhysicalAddress(1), count: 4096) }
        #expect(throws: MemoryError.self) { try memory.zero(frame: PageFrameNumber(1)) }
        // A refused copy writes nothing at all.
        #expect(try memory.load8(at: HostPhysicalAddress(4095)) == 0)
    }

    @Test func x040_copyInCopyOutAndZero() throws {
        let memory = PhysicalMemory(frameCount: 2)
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try memory.copyIn(bytes, at: HostPhysicalAddress(4000))
        #expect(try memory.copyOut(from: HostPhysicalAddress(4000), count: 300) == bytes)
        try memory.zero(frame: PageFrameNumber(1))
        #expect(try memory.copyOut(from: HostPhysicalAddress(4000), count: 96) == Array(bytes[0..<96]))
        #expect(try memory.copyOut(from: HostPhysicalAddress(4096), count: 204) == Array(repeating: 0, count: 204))
    }

    @Test func x050_allocatorHandsOutDisjointRunsUntilFull() {
        let memory = PhysicalMemory(frameCount: 10)
        #expect(memory.allocateFrames(count: 0) == nil)
        #expect(memory.allocateFrames(count: 3) == PageFrameNumber(0))
        #expect(memory.allocateFrames(count: 4) == PageFrameNumber(3))
        #expect(memory.freeFrameCount == 3)
        #expect(memory.allocateFrames(count: 4) == nil)
        #expect(memory.allocateFrames(count: 3) == PageFrameNumber(7))
        #expect(memory.allocateFrames(count: 1) == nil)
        #expect(memory.freeFrameCount == 0)
    }

    @Test func x050_freedRunsMergeAndComeBackZeroed() throws {
        let memory = PhysicalMemory(frameCount: 10)
        let a = try #require(memory.allocateFrames(count: 3))   // frames 0-2
        let b = try #require(memory.allocateFrames(count: 3))   // frames 3-5
        let c = try #require(memory.allocateFrames(count: 4))   // frames 6-9
        #expect(memory.freeFrameCount == 0)
        try memory.store32(0xDEAD_BEEF, at: HostPhysicalAddress(frame: b, offset: 8))
        // A hole in the middle: a run that fits goes there, one that does not is refused.
        memory.freeFrames(b, count: 3)
        #expect(memory.allocateFrames(count: 4) == nil)
        let again = try #require(memory.allocateFrames(count: 2))
        #expect(again == b)
        #expect(try memory.load32(at: HostPhysicalAddress(frame: again, offset: 8)) == 0, "a freed frame is zeroed")
        // Frame 5 is still free from the hole; freeing the rest around it merges all ten into one run.
        #expect(memory.freeFrameCount == 1)
        memory.freeFrames(a, count: 3)
        memory.freeFrames(c, count: 4)
        memory.freeFrames(again, count: 2)
        #expect(memory.freeFrameCount == 10)
        #expect(memory.allocateFrames(count: 10) == PageFrameNumber(0))
    }
}
