@testable import Guest
import LguestABI
import Machine
import Testing

@Test func g031_hcallPassesNumberAndArgumentsAndReturnsEAX() throws {
    let cpu = RecordingProcessor()
    cpu.answer = { call, arguments in call == .lguestInit ? arguments[0] &+ 1 : 0 }
    let kernel = try cpu.kernel()
    let result = try kernel.hcall(.lguestInit, 0x1234, 5, 6, 7)
    #expect(result == 0x1235)
    #expect(cpu.calls == [.init(call: .lguestInit, arguments: [0x1234, 5, 6, 7], async: false)])
    #expect(kernel.statistics.synchronousHypercalls == 1)
}

@Test func g037_asyncCallsWaitInTheRingAndRunInOrder() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    for page in 0..<5 as Range<UInt32> {
        try kernel.asyncHcall(.setPTE, 0x7000, page << 12, page)
    }
    #expect(cpu.calls.isEmpty)
    try kernel.hcall(.flushAsync)
    #expect(cpu.calls.map(\.async) == [true, true, true, true, true, false])
    #expect(cpu.calls.prefix(5).map { $0.arguments[1] } == [0, 0x1000, 0x2000, 0x3000, 0x4000])
    #expect(kernel.statistics.asyncHypercalls == 5)
}

@Test func g037_fullRingFallsBackToASynchronousCall() throws {
    let cpu = RecordingProcessor()
    cpu.drainsRing = false
    let kernel = try cpu.kernel()
    for slot in 0..<UInt32(hypercallRingSize) { try kernel.asyncHcall(.setPTE, 0, slot, 0) }
    #expect(cpu.calls.isEmpty)
    try kernel.asyncHcall(.setPTE, 0, 999, 0)
    #expect(kernel.statistics.ringFullFallbacks == 1)
    #expect(cpu.calls == [.init(call: .setPTE, arguments: [0, 999, 0, 0], async: false)])
}

@Test func g037_slotIsMarkedReadyOnlyAfterItsArguments() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    try kernel.asyncHcall(.setPMD, 0x5000, 3, 0)
    let status = kernel.lguestDataField(LguestData.statusOffset(slot: 0))
    let entry = kernel.lguestDataField(LguestData.entryOffset(slot: 0))
    let statusStore = try #require(cpu.stores.lastIndex { $0.address == status })
    let argumentStores = cpu.stores.indices.filter { cpu.stores[$0].address >= entry && cpu.stores[$0].address < entry &+ 20 }
    #expect(argumentStores.count == 5)
    #expect(argumentStores.allSatisfy { $0 < statusStore }, "the status byte is written last")
    #expect(cpu.stores[statusStore].value == UInt32(hypercallReady))
}

@Test func g035_lazySectionDefersAndOneFlushEndsIt() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    try kernel.lazySection { () throws(GuestStopped) in
        for index in 0..<10 as Range<UInt32> { try kernel.lazyHcall(.setPTE, 0x7000, index << 12, 0) }
    }
    #expect(cpu.synchronous.map(\.call) == [.flushAsync])
    #expect(cpu.calls.filter(\.async).count == 10)
}

@Test func g035_withLazyModeOffEveryCallIsSynchronous() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel(GuestConfiguration(lazyMode: false))
    try kernel.lazySection { () throws(GuestStopped) in
        for index in 0..<10 as Range<UInt32> { try kernel.lazyHcall(.setPTE, 0x7000, index << 12, 0) }
    }
    #expect(cpu.synchronous.count == 10)
    #expect(cpu.calls.allSatisfy { !$0.async && $0.call == .setPTE })
}

@Test func g036_leavingAnEmptyLazySectionCostsNothing() throws {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    try kernel.lazySection { () throws(GuestStopped) in }
    #expect(cpu.calls.isEmpty)
    // A synchronous call inside the section drains what came before it: nothing is left to flush.
    try kernel.lazySection { () throws(GuestStopped) in
        try kernel.lazyHcall(.setPTE, 1, 2, 3)
        try kernel.hcall(.loadIDTEntry, 32, 0, 0)
    }
    #expect(cpu.calls.map(\.call) == [.setPTE, .loadIDTEntry])
}
