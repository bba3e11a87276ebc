// Tests of Launcher sections that had none: what a boot hands back (L:015), the memory plan (L:020),
// one boot's order (L:042), the console's input (L:193), the block device's offer (L:198), the device
// engine and its counts (L:207, L:208, L:225), kicks served at once (L:216) and the bus of a boot (L:220).

import Foundation
import Guest
import Host
@testable import Launcher
import LguestABI
import Machine
import Switcher
import Testing

@Test func l015_everyLaunchErrorIsOneLineThatStartsWithLauncherAndNamesItsValue() {
    let cases: [(LaunchError, String)] = [
        (.badMemorySize(3), "3"), (.commandLineTooLong(3000), "3000"), (.initrdTooLarge(123_456), "123456"),
        (.hostRefused("no frames left"), "no frames left"), (.cannotRead("/x/hello"), "/x/hello"),
        (.notAProgram("/x/junk", "bad magic"), "bad magic"), (.badDisk("/x/d.img", "too short"), "/x/d.img: too short"),
    ]
    for (error, value) in cases {
        #expect(error.description.hasPrefix("launcher: "), "\(error)")
        #expect(error.description.contains(value), "\(error)")
        #expect(!error.description.contains("\n"), "\(error)")
    }
}

@Test func l015_aStopFromOutsideIs124ForTheLimitAnd130ForAnInterrupt() {
    #expect(status(.stoppedFromOutside("launcher: time limit"), stoppedBy: .timeLimit) == 124, "as timeout(1) says it")
    #expect(status(.stoppedFromOutside("launcher: interrupted"), stoppedBy: .interrupted) == 130, "128 + SIGINT")
    #expect(status(.poweredOff("Power down"), stoppedBy: nil) == 0)
}

@Test(arguments: [(1024, 0), (1024, 1), (2048, 5000), (4096, 70_000), (131_072, 1 << 20)] as [(UInt32, Int)])
func l020_theLayoutRunsBootPageCommandLineKernelThenRamdiskAndTablesAtTheTop(pages: UInt32, initrd: Int) throws {
    let plan = MemoryPlan(pageCount: pages, initrdSize: initrd)
    let top = pages << pageShift
    // The fixed places at the bottom.
    #expect(BootParameters.address.rawValue == 0 && BootParameters.commandLineAddress.rawValue == 0x1000)
    #expect(GuestKernelImage.loadAddress.rawValue == 0x10_0000)
    // The directory and one table per 4 MiB end exactly at the top.
    #expect(plan.pageTableCount == (pages + 1023) / 1024)
    #expect(plan.pageDirectory.rawValue + (plan.pageTableCount + 1) << pageShift == top)
    // The ramdisk, page aligned, ends at most a page short of the tables and covers what it holds.
    if initrd == 0 {
        #expect(plan.initrd == nil && plan.initrdSize == 0)
    } else {
        let start = try #require(plan.initrd)
        #expect(start.isPageAligned && start.rawValue > GuestKernelImage.loadAddress.rawValue)
        #expect(UInt64(start.rawValue) + UInt64(initrd) <= UInt64(plan.pageDirectory.rawValue))
        #expect(plan.pageDirectory.rawValue - start.rawValue < UInt32(initrd) + UInt32(pageSize))
    }
    // RAM up to the tables, the tables reserved, and nothing past the top.
    #expect(plan.memoryMap.map(\.type) == [.ram, .reserved])
    #expect(plan.memoryMap[0].address == 0 && plan.memoryMap[0].length == UInt64(plan.pageDirectory.rawValue))
    #expect(plan.memoryMap[1].address + plan.memoryMap[1].length == UInt64(top))
}

@Test func l042_programsThatTakeHalfTheMemoryAreRefusedBeforeAnythingBoots() {
    let big = InitrdFile(name: "big", bytes: [UInt8](repeating: 0x90, count: 2 << 20))
    #expect {
        try Launcher.boot(LaunchOptions(memoryMiB: 4, programs: [big]))
    } throws: { error in
        guard case LaunchError.initrdTooLarge(let size) = error else { return false }
        return size > 2 << 20
    }
}

@Test func l042_theMachineHasSixteenMiBBeyondTheGuestsPages() {
    let machine = Launcher.makeMachine(guestPages: 2049, options: LaunchOptions())
    #expect(machine.memory.frameCount == 2049 + (16 << 20) / pageSize)
}

@Test func l042_eachBootIsAFreshMachineButTheConsoleInputKeepsItsPlace() throws {
    // read(0, buffer, 3); write(1, buffer, 3); reboot(..., LINUX_REBOOT_CMD_RESTART).
    let P = TinyProgram.self
    let buffer = P.dataAddress(codeCount: 3 * 22)
    let code = P.movEAX(3) + P.movEBX(0) + P.movECX(buffer) + P.movEDX(3) + P.int80
        + P.movEAX(4) + P.movEBX(1) + P.movECX(buffer) + P.movEDX(3) + P.int80
        + P.movEAX(88) + P.movEBX(0xFEE1_DEAD) + P.movECX(672_274_793) + P.movEDX(0x0123_4567) + P.int80
    #expect(code.count == 3 * 22)
    let echo = P.elf(code: code, data: [0, 0, 0], writable: true)
    var options = LaunchOptions(memoryMiB: 8, programs: [InitrdFile(name: "echo3", bytes: echo)], maximumRestarts: 1)
    options.input = .bytes(Array("abc".utf8))
    let result = try Launcher.boot(options)
    #expect(result.restarts == 1)
    guard case .restart = result.exit else { Issue.record("the second boot asked to restart too: \(result.exit)"); return }
    // Both boots ran the program from a fresh start, but the input was read once: the second boot
    // found it at its end, and wrote its untouched, zeroed buffer.
    #expect(result.console.components(separatedBy: "Booting paravirtualized kernel on lguest").count == 3)
    #expect(result.console.components(separatedBy: "abc").count == 2, "abc once, not once a boot")
    #expect(result.console.contains("\0\0\0"))
}

@Test func l193_inputIsServedInOrderUntilItEndsAndStaysEnded() {
    let input = ConsoleInput(.bytes(Array("abcdefg".utf8)))
    #expect(input.read(maximum: 0) == [] && !input.ended, "an empty buffer ends nothing")
    #expect(input.read(maximum: 3) == Array("abc".utf8))
    #expect(input.read(maximum: 3) == Array("def".utf8), "it remembers how far it got")
    #expect(input.read(maximum: 100) == Array("g".utf8) && !input.ended)
    #expect(input.read(maximum: 100) == [] && input.ended)
    #expect(input.read(maximum: 100) == [] && input.ended, "ended stays ended")
}

@Test func l193_oneReadHandsOverAtMostTheLargestRead() {
    let input = ConsoleInput(.bytes([UInt8](repeating: 7, count: ConsoleInput.largestRead + 10)))
    #expect(input.read(maximum: .max).count == ConsoleInput.largestRead)
    #expect(input.read(maximum: .max).count == 10)
}

@Test func l198_aWritableDiskOffersFlushAloneAndItsCapacityInSectors() throws {
    let disk = try TemporaryDisk(sectors: 300)
    let device = BlockDevice(image: try DiskImage(DiskOptions(path: disk.path)))
    #expect(device.offeredFeatures == [0, 0x02], "bit 9 is in the second byte")
    #expect(device.config == [0x2C, 0x01, 0, 0, 0, 0, 0, 0], "300 sectors, little-endian")
    #expect(device.latency == 0, "an answer at once unless asked")
    let readOnly = BlockDevice(image: try DiskImage(DiskOptions(path: disk.path, readOnly: true)), latency: 5)
    #expect(readOnly.offeredFeatures == [0x20, 0x02] && readOnly.latency == 5)
}

/// A service that answers each request with `answer`, or refuses it with `refusal`.
private final class ScriptedService: DeviceService {
    let kind = VirtioDeviceID.rng
    let name = "scripted"
    let queueCount = 1
    let offeredFeatures: [UInt8] = []
    let config: [UInt8] = []
    var answer = ServedRequest(written: 3, payload: 7)
    var refusal: String?
    var served: [DescriptorChain] = []

    func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(GuestViolation) -> ServedRequest {
        if let refusal { throw GuestViolation(refusal) }
        served.append(chain)
        return answer
    }
}

/// A bed with one scripted device live on ring 0 and a one-buffer chain at head 2 offered.
private func scriptedBed(_ service: ScriptedService) throws -> (DeviceTestBed, Guest, DeviceBus, RingBuilder) {
    let bed = DeviceTestBed()
    let guest = try bed.makeGuest()
    let bus = try bed.attach([service], to: guest)
    try DeviceTestBed.goLive(bus, bus.devices[0], rings: [DeviceTestBed.ring(0)], guest: guest)
    let ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
    try ring.chain(at: 2, [(DeviceTestBed.buffer(0), 16, .write)])
    try ring.offer(2)
    return (bed, guest, bus, ring)
}

@Test func l207_theServiceSaysTheUsedLengthAndThePayloadAndTheEngineDoesTheRest() throws {
    let service = ScriptedService()
    let (_, guest, bus, ring) = try scriptedBed(service)
    bus.notify(guest, DeviceTestBed.ring(0))
    #expect(service.served.map(\.head) == [2] && service.served.first?.writableLength == 16)
    #expect(try ring.used(0) == (head: 2, length: 3), "the used length is what the service wrote")
    #expect(bus.devices[0].statistics.bytes == 7, "the statistics count its payload")
    #expect(bus.devices[0].statistics.requests == 1 && bus.devices[0].statistics.interrupts == 1)
}

@Test func l207_aServiceThatRefusesARequestKillsTheGuestWithItsReason() throws {
    let service = ScriptedService()
    service.refusal = "scripted: request refused 2"
    let (bed, guest, bus, ring) = try scriptedBed(service)
    bus.notify(guest, DeviceTestBed.ring(0))
    #expect(guest.exit == .killed("scripted: request refused 2"))
    #expect(try ring.usedIndex == 0)
    #expect(try bed.runHealthyGuest() == .poweredOff("done"), "the next Guest on the same Host runs")
}

@Test func l208_noRequestIsServedBeforeDriverOKOrAfterAReset() throws {
    let bed = DeviceTestBed()
    let guest = try bed.makeGuest()
    let service = ScriptedService()
    let bus = try bed.attach([service], to: guest)
    let device = bus.devices[0]
    #expect(device.statistics == DeviceStatistics())
    let ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
    try ring.chain(at: 0, [(DeviceTestBed.buffer(0), 16, .write)])
    try ring.offer(0)
    // The ring's frame is written but the status stops short of driverOK: no queue, nothing served.
    try DeviceTestBed.prepareLive(device, rings: [DeviceTestBed.ring(0)], in: guest.memory)
    let status = DeviceTestBed.descriptor(device).advanced(by: UInt32(DeviceDescriptorHeader.status))
    try guest.memory.store8(VirtioStatus([.acknowledge, .driver, .featuresOK]).rawValue, at: status)
    bus.notify(guest, DeviceTestBed.descriptor(device))
    bus.notify(guest, DeviceTestBed.ring(0))
    #expect(try device.queues == nil && service.served.isEmpty && ring.usedIndex == 0)
    // driverOK: the queue goes live and what was posted is served.
    try guest.memory.store8(VirtioStatus([.acknowledge, .driver, .featuresOK, .driverOK]).rawValue, at: status)
    bus.notify(guest, DeviceTestBed.descriptor(device))
    #expect(try device.queues?.count == 1 && service.served.count == 1 && ring.usedIndex == 1)
    // A reset: the queue is gone, and a chain offered on the old ring stays untouched.
    try guest.memory.store8(0, at: status)
    bus.notify(guest, DeviceTestBed.descriptor(device))
    try ring.chain(at: 1, [(DeviceTestBed.buffer(1), 16, .write)])
    try ring.offer(1)
    bus.notify(guest, DeviceTestBed.ring(0))
    #expect(try device.queues == nil && service.served.count == 1 && ring.usedIndex == 1)
    #expect(guest.isAlive)
}

@Test func l216_aKickIsServedInsideTheNotifyThatBroughtIt() throws {
    // The queue is live and a chain waits; the Guest kicks and powers off at once. Nothing could serve
    // the kick later, so what was served was served inside the NOTIFY.
    let bed = DeviceTestBed()
    let guest = try bed.makeGuest(notifying: [DeviceTestBed.ring(0)])
    let service = ScriptedService()
    let bus = try bed.attach([service], to: guest)
    try DeviceTestBed.goLive(bus, bus.devices[0], rings: [DeviceTestBed.ring(0)], guest: guest)
    #expect(bus.devices[0].statistics.requests == 0, "going live found nothing to serve")
    let ring = RingBuilder(memory: guest.memory, ring: DeviceTestBed.ring(0))
    try ring.chain(at: 4, [(DeviceTestBed.buffer(0), 16, .write)])
    try ring.offer(4)
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(service.served.map(\.head) == [4])
    let counts = bus.devices[0].statistics
    #expect(counts.notifications == 1 && counts.requests == 1 && counts.interrupts == 1)
}

@Test func l220_aBootsBusIsConsoleThenDiskWhenThereIsOneThenRngEachOnTheNextIRQ() throws {
    func bus(disk: DiskImage?) -> DeviceBus {
        Launcher.makeDevices(page: DeviceTestBed.devicePage, disk: disk, input: ConsoleInput(.bytes([])),
                             options: LaunchOptions(), output: ConsoleOutput())
    }
    let plain = bus(disk: nil)
    #expect(plain.devices.map(\.service.name) == ["console", "rng"])
    #expect(plain.devices.map(\.irq) == [1, 2])
    let file = try TemporaryDisk(sectors: 8)
    var options = LaunchOptions()
    options.diskLatency = 1234
    let withDisk = Launcher.makeDevices(page: DeviceTestBed.devicePage, disk: try DiskImage(DiskOptions(path: file.path)),
                                        input: ConsoleInput(.bytes([])), options: options, output: ConsoleOutput())
    #expect(withDisk.devices.map(\.service.name) == ["console", "block", "rng"])
    #expect(withDisk.devices.map(\.irq) == [1, 2, 3])
    #expect(withDisk.devices[1].service.latency == 1234, "the disk's latency comes from the options")
}

@Test func l225_sixLinesPerDeviceInDescriptorOrderCountedWhereThingsHappen() throws {
    let service = ScriptedService()
    let (_, guest, bus, _) = try scriptedBed(service)
    bus.notify(guest, DeviceTestBed.ring(0))
    let names = ["requests", "bytes", "notifications", "interrupts", "interrupts_suppressed", "notifications_avoided"]
    #expect(bus.statistics.map(\.name) == names.map { "device.scripted." + $0 })
    #expect(bus.statistics.map(\.value) == [1, 7, 1, 1, 0, 0])
}

/// `trace`'s events (or its metadata), each parsed as a JSON object.
private func objects(_ lines: [String]) throws -> [[String: Any]] {
    try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
}

@Test func l114_aVisitIsNamedByItsFirstCauseOrElseByItsVector() throws {
    let recorder = TraceRecorder(boot: 1) { nil }
    recorder.record(10, .trap(vector: 13))
    recorder.record(20, .resume)
    recorder.record(30, .trap(vector: Switcher.hostTimerVector))
    recorder.record(40, .resume)
    recorder.record(50, .trap(vector: 14))
    recorder.record(51, .pageFault(address: GuestVirtualAddress(0x1000), fixed: true))
    recorder.record(52, .hypercall(.notify, asynchronous: false))
    recorder.record(60, .resume)
    recorder.finish(at: 70)
    let slices = try objects(recorder.trace.events).filter { $0["ph"] as? String == "X" }
    let visits = slices.filter { $0["cat"] as? String == "world switch" }
    #expect(visits.map { $0["name"] as? String } == ["trap 13", "host timer", "page fault fixed"],
            "the first cause wins over a later one")
    // Between the visits the Guest ran on the kernel's track, no process being named.
    let stretches = slices.filter { $0["cat"] as? String == "guest" }
    #expect(stretches.map { $0["name"] as? String } == ["kernel", "kernel", "kernel"])
    #expect(stretches.allSatisfy { $0["tid"] as? Int == TraceRecorder.kernelTrack })
}

@Test func l114_instantsWaitForTheirVisitsSliceAndEachTrackIsNamedOnce() throws {
    var running: (pid: UInt32, name: String)? = (3, "cat")
    let recorder = TraceRecorder(boot: 2) { running }
    for start in stride(from: UInt64(100), to: 400, by: 100) {
        recorder.record(start, .trap(vector: 0x80))
        recorder.record(start + 5, .interrupt(vector: 32))
        recorder.record(start + 10, .resume)
        if start == 200 { running = nil }
    }
    recorder.finish(at: 500)
    let events = try objects(recorder.trace.events)
    // The first visit's slice comes out before the interrupt that happened inside it.
    #expect(events.prefix(2).map { $0["ph"] as? String } == ["X", "i"])
    #expect(events[0]["ts"] as? Double == 0.1 && events[1]["ts"] as? Double == 0.105)
    // Track 103 ran twice but is named once, in the metadata, which the file puts first.
    let metadata = try objects(recorder.trace.metadata)
    let names = metadata.filter { $0["name"] as? String == "thread_name" }
    #expect(names.map { $0["tid"] as? Int } == [TraceRecorder.hostTrack, TraceRecorder.kernelTrack, 103])
    #expect((names.last?["args"] as? [String: Any])?["name"] as? String == "pid 3 cat")
    #expect(events.filter { $0["tid"] as? Int == 103 }.count == 2)
    let json = recorder.trace.json
    let firstName = try #require(json.range(of: "thread_name")), firstSlice = try #require(json.range(of: #""ph":"X""#))
    #expect(firstName.lowerBound < firstSlice.lowerBound)
}

@Test func l116_membersKeepTheirOrderAndOnlyWhatJSONRequiresIsEscaped() {
    #expect(TraceRecorder.object([("z", .number(1)), ("a", .text("b")), ("m", .raw("true"))]) == #"{"z":1,"a":"b","m":true}"#)
    #expect(TraceRecorder.quoted("tab\there, unit\u{1F}") == #""tab\u0009here, unit\u001f""#)
    #expect(TraceRecorder.quoted("é → 🙂 /") == "\"é → 🙂 /\"", "every other character as it is")
    // A time stamp past what a Double holds exactly is still exact.
    #expect(TraceRecorder.microseconds(9_007_199_254_740_993) == "9007199254740.993")
    #expect(TraceRecorder.microseconds(UInt64.max) == "18446744073709551.615")
}
