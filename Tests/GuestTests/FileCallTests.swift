// The file system calls (G:090-G:096) and blocking: tiny programs under the real Host, and the
// blocking mechanism on the recording processor with a device that answers when the test says so.
@testable import Guest
@testable import Launcher
import LguestABI
import Machine
import struct Foundation.Data
import struct Foundation.UUID
import class Foundation.FileManager
import Testing

private typealias P = TinyProgram

/// One system call: eax, ebx, ecx, edx, and esi, edi.
private struct Call {
    var number: UInt32, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0, esi: UInt32 = 0, edi: UInt32 = 0
}

/// The size of one call's code: six `mov`s and `int $0x80`.
private let callSize = 6 * 5 + 2
/// The size of the ending: `mov %eax,%ebx`, optionally `neg %ebx`, `mov $1,%eax`, `int $0x80`.
private let endingSize = 2 + 2 + 5 + 2

/// A program that makes `calls` (built with the address its data will have) and exits with the last
/// one's -eax (an errno) when `errno`, or with its eax. `data` follows the code.
private func program(data: [UInt8] = [], errno: Bool = true, _ calls: (UInt32) -> [Call]) -> [UInt8] {
    let count = calls(0).count
    let base = P.dataAddress(codeCount: count * callSize + endingSize)
    var code: [UInt8] = []
    for call in calls(base) {
        code += P.movEAX(call.number) + P.movEBX(call.ebx) + P.movECX(call.ecx) + P.movEDX(call.edx)
            + [0xBE] + P.le32(call.esi) + [0xBF] + P.le32(call.edi) + P.int80
    }
    code += [0x89, 0xC3] + (errno ? [0xF7, 0xDB] : [0x90, 0x90]) + P.movEAX(1) + P.int80
    return P.elf(code: code, data: data, writable: true, memorySize: UInt32(P.codeOffset) + UInt32(code.count + data.count) + 64)
}

/// A NUL-terminated path.
private func path(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

private let cases: [(name: String, program: [UInt8], input: String?, status: Int)] = [
    ("open of a missing file", program(data: path("/dev/nothing")) { [Call(number: 5, ebx: $0)] }, nil, 2),
    ("open with access mode 3", program(data: path("/dev/console")) { [Call(number: 5, ebx: $0, ecx: 3)] }, nil, 22),
    ("open from a bad pointer", program { _ in [Call(number: 5, ebx: 16)] }, nil, 14),
    ("open takes the lowest free descriptor", program(data: path("/dev/console"), errno: false) {
        [Call(number: 6, ebx: 2), Call(number: 5, ebx: $0, ecx: 1)] }, nil, 2),
    ("close of a bad descriptor", program { _ in [Call(number: 6, ebx: 9)] }, nil, 9),
    ("read from write-only standard output", program { [Call(number: 3, ebx: 1, ecx: $0, edx: 1)] }, nil, 9),
    ("write to standard input", program { [Call(number: 4, ebx: 0, ecx: $0, edx: 1)] }, nil, 9),
    ("lseek on the console", program { _ in [Call(number: 19, ebx: 1)] }, nil, 29),
    ("lseek with a bad whence", program { _ in [Call(number: 19, ebx: 0, ecx: 0, edx: 7)] }, "abc", 22),
    ("lseek to before the start", program { _ in [Call(number: 19, ebx: 0, ecx: 0xFFFF_FFFF, edx: 0)] }, "abc", 22),
    ("lseek, read, and where that leaves the file", program(data: [0], errno: false) {
        [Call(number: 19, ebx: 0, ecx: 4), Call(number: 3, ebx: 0, ecx: $0, edx: 1), Call(number: 19, ebx: 0, ecx: 0, edx: 1)]
    }, "abcdef", 5),
    ("lseek past 2 GiB is EOVERFLOW", program { _ in
        [Call(number: 19, ebx: 0, ecx: 0x7FFF_FFFF), Call(number: 19, ebx: 0, ecx: 1, edx: 1)] }, "abc", 75),
    ("_llseek to a bad result pointer", program { _ in [Call(number: 140, ebx: 0, ecx: 0, edx: 2, esi: 16, edi: 0)] }, "abc", 14),
    ("_llseek on the console", program { [Call(number: 140, ebx: 1, esi: $0, edi: 0)] }, nil, 29),
    ("fsync of the console", program { _ in [Call(number: 118, ebx: 1)] }, nil, 22),
    ("fsync of a bad descriptor", program { _ in [Call(number: 118, ebx: 9)] }, nil, 9),
    ("fsync of redirected input", program(errno: false) { _ in [Call(number: 118, ebx: 0)] }, "abc", 0),
    ("_llseek to the end of redirected input", program(data: [UInt8](repeating: 0, count: 8), errno: false) {
        [Call(number: 140, ebx: 0, ecx: 0, edx: 0, esi: $0, edi: 2)] }, "abcde", 0),
]

@Test func g095_theFileCallsAnswerWithLinuxsErrors() throws {
    var files: [InitrdFile] = []
    for (index, testCase) in cases.enumerated() {
        files.append(InitrdFile(name: "p\(index)", bytes: testCase.program))
        if let input = testCase.input { files.append(InitrdFile(name: "p\(index).in", bytes: Array(input.utf8))) }
    }
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files))
    for (index, testCase) in cases.enumerated() {
        #expect(result.console.contains("[p\(index) (pid \(index + 1)) exited with status \(testCase.status)]"), "\(testCase.name)")
    }
}

@Test func g090_devicesAreFilesUnderDev() throws {
    // The Launcher's default devices are there: a console always, an rng always, no disk without one.
    let files = [InitrdFile(name: "rng", bytes: program(data: path("/dev/hwrng"), errno: false) { [Call(number: 5, ebx: $0)] }),
                 InitrdFile(name: "vda", bytes: program(data: path("/dev/vda")) { [Call(number: 5, ebx: $0)] })]
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files))
    #expect(result.console.contains("[rng (pid 1) exited with status 3]"), "descriptor 3")
    #expect(result.console.contains("[vda (pid 2) exited with status 2]"), "ENOENT")
}

// MARK: - Blocking, on the recording processor

/// A device whose reads wait until the test says the data is there.
private final class SlowDevice: DeviceFile {
    var ready = false
    var channel: WaitChannel?
    var reads = 0
    var size: UInt64? { nil }
    func refusal(readable: Bool, writable: Bool) -> DeviceFileError? { nil }
    func read(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, count: Int) throws(GuestStopped) -> DeviceReadResult {
        reads += 1
        guard let channel else { return .failed(.ioError) }
        return ready ? .bytes([42]) : .wait(channel)
    }
    func write(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, bytes: [UInt8]) throws(GuestStopped) -> DeviceWriteResult {
        .failed(.invalidArgument)
    }
    func close(_ kernel: GuestKernel, file: OpenFileID) {}
}

/// A kernel on the recording processor with two processes: A, reading descriptor 3 (the slow
/// device) into its page at 0x08048000, and B, runnable.
private func twoProcesses() throws -> (RecordingProcessor, GuestKernel, SlowDevice) {
    let cpu = RecordingProcessor()
    let kernel = try cpu.kernel()
    kernel.lguestInit()
    let free = stride(from: UInt32(0x20_0000), to: 0x40_0000, by: 0x1000).map(GuestPhysicalAddress.init)
    kernel.pages = PageAllocator(free: free, topOfMemory: GuestPhysicalAddress(0x40_0000))
    kernel.kernelPageDirectory = kernel.layout.pageDirectory
    cpu.setWord(linear(kernel.layout.pageDirectory) &+ 768 * 4, 0x0010_8003)
    let device = SlowDevice()
    device.channel = kernel.makeWaitChannel()
    #expect(kernel.registerDevice("slow", device))
    var processes: [Process] = []
    for (pid, name) in [(UInt32(1), "A"), (2, "B")] {
        let directory = try #require(try kernel.createAddressSpace())
        let frame = kernel.pages.allocate()
        let page = try #require(frame)
        #expect(try kernel.mapUserPage(directory, GuestVirtualAddress(0x0804_8000), frame: page, writable: true))
        var context = GuestRegisters()
        (context.eax, context.ebx, context.ecx, context.edx, context.eip) = (3, 3, 0x0804_8000, 1, 0x0804_8102)
        var process = Process(pid: pid, name: name, directory: directory, context: context, breakStart: 0x0804_9000,
                              currentBreak: 0x0804_9000, input: [], files: kernel.standardFiles(hasInput: false))
        process.files[3] = kernel.makeOpenFile(.device(name: "/dev/slow", device), readable: true, writable: false)
        processes.append(process)
    }
    kernel.processes.processes = processes
    kernel.processes.current = 0
    return (cpu, kernel, device)
}

@Test func g091_aReadThatMustWaitBlocksItsProcessAndAnotherRuns() throws {
    let (_, kernel, device) = try twoProcesses()
    try kernel.systemCall()
    let blocked = kernel.processes.processes[0]
    #expect(blocked.state == .blocked(try #require(device.channel)))
    #expect(blocked.context.eip == 0x0804_8100, "wound back over int $0x80, to make the call again")
    #expect(blocked.context.eax == 3, "eax still names the call")
    #expect(kernel.nextRunnable() == 1, "B runs while A waits")
    // The interrupt: the data is there, and the driver wakes the channel.
    device.ready = true
    #expect(kernel.wake(try #require(device.channel)) == 1)
    #expect(kernel.processes.processes[0].state == .runnable)
    // A runs again, at the int $0x80, and this time the call answers.
    kernel.processes.current = 0
    try kernel.systemCall()
    #expect(kernel.processes.processes[0].context.eax == 1)
    #expect(try kernel.copyFromUser(kernel.processes.processes[0].directory, GuestVirtualAddress(0x0804_8000), count: 1) == [42])
    #expect(kernel.statistics.blockedCalls == 1 && kernel.statistics.wakeups == 1 && device.reads == 2)
}

@Test func g088_withEveryProcessBlockedTheKernelIdlesUntilTheInterrupt() throws {
    let (cpu, kernel, device) = try twoProcesses()
    kernel.processes.processes.removeLast()
    try kernel.systemCall()
    // Halting is where the interrupt arrives: the "Host" wakes the reader inside HALT.
    cpu.answer = { call, _ in
        if call == .halt {
            device.ready = true
            if let channel = device.channel { kernel.wake(channel) }
        }
        return 0
    }
    try kernel.exitToUser()
    #expect(cpu.synchronous.map(\.call).contains(.halt))
    #expect(kernel.processes.current == 0 && kernel.processes.processes[0].state == .runnable)
    #expect(cpu.word(linear(kernel.layout.stackTop) &- 20) == 0x0804_8100, "resumed at the int $0x80 it makes again")
}

@Test func g088_resumeLeavesTheFiveWordsOfTheIretFrameAtTheStackTop() throws {
    // The frame goes out through `storeWords` (S:236); this processor has only the protocol's
    // definition of it, `storeBytes` of the words' bytes, so these are the bytes either way.
    let (cpu, kernel, _) = try twoProcesses()
    kernel.processes.processes[1].context.esp = 0xBFFF_F123
    kernel.processes.processes[1].context.eflags = [.alwaysOne, .carry]
    try kernel.resume(1)
    let top = linear(kernel.layout.stackTop)
    let words = (0..<5).map { cpu.word(top &- 20 &+ UInt32($0 * 4)) }
    let flags: EFLAGS = [.alwaysOne, .carry, .interruptEnable]
    #expect(words == [0x0804_8102, UInt32(GDTLayout.userCodeSelector.rawValue), flags.rawValue, 0xBFFF_F123,
                      UInt32(GDTLayout.userDataSelector.rawValue)])
    #expect(cpu.registers.esp == (top &- 20).rawValue && cpu.irets == 1)
}

@Test func g091_aProgramWaitingForASlowDiskLetsAnotherRun() throws {
    // The disk answers 2 ms of virtual time after each request (L:222): disk blocks, hello runs.
    var options = LaunchOptions(memoryMiB: 8, programs: try Launcher.programs(named: ["disk", "hello"], in: GuestPrograms.directory.path),
                                commandLine: "init=disk+hello")
    let image = FileManager.default.temporaryDirectory.appendingPathComponent("g091-\(UUID().uuidString).img")
    try Data(count: 64 * sectorSize).write(to: image)
    defer { try? FileManager.default.removeItem(at: image) }
    options.disk = DiskOptions(path: image.path)
    options.diskLatency = 2_000_000
    let result = try Launcher.boot(options)
    #expect(result.exit == .poweredOff("Power down"))
    let console = result.console
    let size = try #require(console.range(of: "disk: /dev/vda is 32768 bytes"))
    let hello = try #require(console.range(of: "[hello (pid 2) exited with status 0]"))
    let written = try #require(console.range(of: "disk: wrote 16 sectors"))
    #expect(size.upperBound < hello.lowerBound && hello.upperBound < written.lowerBound, "hello ran while disk waited")
    #expect(console.contains("[disk (pid 1) exited with status 0]"))
    #expect(result.guestStatistics.blockedCalls > 0 && result.guestStatistics.wakeups > 0)
}
