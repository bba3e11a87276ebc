// The small kernel's exercises (G:080-G:093): hand-assembled programs booted under the real Host.
// TinyPrograms.swift is shared with LauncherTests through a symbolic link.
import Guest
@testable import Launcher
import LguestABI
import Testing

private typealias P = TinyProgram

/// Run `programs` (name, ELF) and return the console.
private func run(_ programs: [(String, [UInt8])], commandLine: String = "") throws -> BootResult {
    let files = programs.map { InitrdFile(name: $0.0, bytes: $0.1) }
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files, commandLine: commandLine))
    #expect(result.exit == .poweredOff("Power down"))
    return result
}

/// A program that makes system call `number` with `ebx`, `ecx`, `edx` and exits with -eax (the errno).
func errnoOf(_ number: UInt32, _ ebx: UInt32, _ ecx: UInt32, _ edx: UInt32) -> [UInt8] {
    P.elf(code: P.movEAX(number) + P.movEBX(ebx) + P.movECX(ecx) + P.movEDX(edx) + P.int80
          + [0x89, 0xC3, 0xF7, 0xDB] + P.movEAX(1) + P.int80)  // mov %eax,%ebx; neg %ebx; exit
}

@Test(arguments: [
    ("write from a bad pointer", errnoOf(4, 1, 16, 4), 14),
    ("write to a bad fd", errnoOf(4, 99, 0x0804_8000, 1), 9),
    ("read from a bad fd", errnoOf(3, 7, 0x0804_8000, 1), 9),
    ("read into read-only text", errnoOf(3, 0, 0x0804_8000, 1), 14),
    ("nanosleep from a bad pointer", errnoOf(162, 16, 0, 0), 14),
    ("unknown call", errnoOf(9999, 0, 0, 0), 38),
    ("write of nothing", errnoOf(4, 1, 0, 0), 0),
    ("write from kernel memory", errnoOf(4, 1, 0xC010_0000, 4), 14),
    ("read into kernel memory", errnoOf(3, 0, 0xC010_1000, 1), 14),
    ("write running off the mapped text", errnoOf(4, 1, 0x0804_8000, 0x7FFF_FFFF), 14),
    ("write of a negative count", errnoOf(4, 1, 0x0804_8000, 0xFFFF_FFFF), 14),
    ("write wrapping around", errnoOf(4, 1, 0xFFFF_FFF0, 0x20), 14),
] as [(String, [UInt8], Int)])
func g089_systemCallErrorsAreLinuxs(name: String, program: [UInt8], errno: Int) throws {
    let result = try run([("p", program), ("p.in", Array("x".utf8))], commandLine: "init=p")
    #expect(result.console.contains("[p (pid 1) exited with status \(errno)]"), "\(name)")
}

@Test func g089_getpidAndBrkWork() throws {
    // getpid, exit with it.
    let getpid = P.elf(code: P.movEAX(20) + P.int80 + [0x89, 0xC3] + P.movEAX(1) + P.int80)
    // brk(0); brk(that + 8192); store 5 at the new break - 1; exit with the byte read back.
    let brk = P.elf(code: P.movEAX(45) + P.movEBX(0) + P.int80
                    + [0x89, 0xC3, 0x81, 0xC3] + P.le32(8192) + P.movEAX(45) + P.int80
                    + [0xC6, 0x40, 0xFF, 0x05, 0x0F, 0xB6, 0x58, 0xFF] + P.movEAX(1) + P.int80)
    let result = try run([("getpid", getpid), ("brk", brk)])
    #expect(result.console.contains("[getpid (pid 1) exited with status 1]"))
    #expect(result.console.contains("[brk (pid 2) exited with status 5]"))
}

@Test func g089_readGivesTheProgramItsInput() throws {
    // read(0, buffer, 8) into the writable data after the code; exit with the second byte.
    let codeCount = 5 * 4 + 2 + 4 + 5 + 2
    let buffer = P.dataAddress(codeCount: codeCount)
    let code = P.movEAX(3) + P.movEBX(0) + P.movECX(buffer) + P.movEDX(8) + P.int80
        + [0x0F, 0xB6, 0x59, 0x01] + P.movEAX(1) + P.int80  // movzbl 1(%ecx),%ebx; exit
    let program = P.elf(code: code, data: [UInt8](repeating: 0, count: 8), writable: true)
    let result = try run([("reader", program), ("reader.in", Array("AB".utf8))], commandLine: "init=reader")
    #expect(result.console.contains("[reader (pid 1) exited with status 66]"))
}

@Test func g092_faultsKillTheProgramWithLinuxsSignal() throws {
    let divide = P.elf(code: P.movEAX(1) + [0x31, 0xC9, 0xF7, 0xF1])  // xor %ecx,%ecx; div %ecx
    let illegal = P.elf(code: [0x0F, 0x0B])                             // ud2
    let privileged = P.elf(code: [0xFA])                                // cli
    let fpu = P.elf(code: [0xDB, 0xE3, 0xD9, 0xD1])                     // fninit (#NM, then runs); reserved: #UD
    let result = try run([("null", P.nullWrite), ("divide", divide), ("illegal", illegal), ("cli", privileged),
                          ("after", P.hello("still here\n")), ("fpu", fpu)])
    #expect(result.console.contains("[fpu (pid 6) killed by SIGILL: invalidOpcode"))
    #expect(result.console.contains("[null (pid 1) killed by SIGSEGV: pageFault at eip 0x08048054, address 0x00000000, error 6]"))
    #expect(result.console.contains("[divide (pid 2) killed by SIGFPE: divideError"))
    #expect(result.console.contains("[illegal (pid 3) killed by SIGILL: invalidOpcode"))
    #expect(result.console.contains("[cli (pid 4) killed by SIGSEGV: generalProtection"))
    #expect(result.console.contains("still here\n[after (pid 5) exited with status 0]"))
}

@Test func g088_aSleeperLetsAnotherProgramRun() throws {
    let result = try run([("sleeper", P.sleeper), ("hello", P.hello("while it sleeps\n"))],
                         commandLine: "init=sleeper+hello")
    let expected = "while it sleeps\n[hello (pid 2) exited with status 0]\n[sleeper (pid 1) exited with status 3]"
    #expect(result.console.contains(expected))
    #expect(result.guestStatistics.timerInterrupts >= 2, "the calibration tick and the sleeper's alarm")
}

@Test func g088_theTimerTakesTurnsBetweenBusyPrograms() throws {
    // Two programs that each print, run 300,000 nops (0.3 ms of virtual time), and print again.
    func busy(_ name: String) -> [UInt8] {
        let first = Array("\(name) starts\n".utf8), second = Array("\(name) ends\n".utf8)
        let nops = [UInt8](repeating: 0x90, count: 300_000)
        let tail = P.movEAX(4) + P.movEBX(1) + P.movECX(0) + P.movEDX(UInt32(second.count)) + P.int80 + P.movEAX(1) + P.movEBX(0) + P.int80
        let head = P.movEAX(4) + P.movEBX(1) + P.movECX(0) + P.movEDX(UInt32(first.count)) + P.int80
        let codeCount = head.count + nops.count + tail.count
        let data = P.dataAddress(codeCount: codeCount)
        let code = P.movEAX(4) + P.movEBX(1) + P.movECX(data) + P.movEDX(UInt32(first.count)) + P.int80 + nops
            + P.movEAX(4) + P.movEBX(1) + P.movECX(data + UInt32(first.count)) + P.movEDX(UInt32(second.count)) + P.int80
            + P.movEAX(1) + P.movEBX(0) + P.int80
        precondition(code.count == codeCount)
        return P.elf(code: code, data: first + second)
    }
    let files = [InitrdFile(name: "a", bytes: busy("a")), InitrdFile(name: "b", bytes: busy("b"))]
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files, commandLine: "init=a+b",
                                                 configuration: GuestConfiguration(timeSlice: 100_000)))
    #expect(result.console.contains("a starts\nb starts\na ends\n"), "b ran before a finished: a was preempted")
    #expect(result.console.contains("[a (pid 1) exited with status 0]") && result.console.contains("[b (pid 2) exited with status 0]"))
}

@Test func g093_theStackGrowsOnDemandUpToItsLimit() throws {
    // sub $size,%esp; mov %eax,(%esp); exit(0)
    func push(_ size: UInt32) -> [UInt8] {
        P.elf(code: [0x81, 0xEC] + P.le32(size) + [0x89, 0x04, 0x24] + P.movEAX(1) + P.movEBX(0) + P.int80)
    }
    let result = try run([("deep", push(0x10_0000)), ("too_deep", push(0x100_0000))])
    #expect(result.console.contains("[deep (pid 1) exited with status 0]"))
    #expect(result.console.contains("[too_deep (pid 2) killed by SIGSEGV: pageFault"))
    let faults = result.statistics.first { $0.name == "page_faults_reflected" }?.value ?? 0
    #expect(faults == 2, "one reflected fault grows the stack, one kills")
}

@Test(arguments: [
    ("int $0x20, an IRQ vector", [UInt8]([0xCD, 0x20]), "killed by SIGSEGV: generalProtection"),
    ("int $0x1f, the hypercall vector", [0xCD, 0x1F], "killed by SIGSEGV: generalProtection"),
    ("int3", [0xCC], "killed by SIGTRAP: breakpoint"),
    ("hlt", [0xF4], "killed by SIGSEGV: generalProtection"),
    ("out %al,(%dx)", [0xEE], "killed by SIGSEGV: generalProtection"),
] as [(String, [UInt8], String)])
func g092_aProgramCannotReachTheKernelOrTheHostExceptBySystemCall(name: String, code: [UInt8], death: String) throws {
    let result = try run([("p", P.elf(code: code + P.movEAX(1) + P.movEBX(0) + P.int80)), ("after", P.hello("alive\n"))])
    #expect(result.console.contains("[p (pid 1) \(death)"), "\(name)")
    #expect(result.console.contains("alive\n[after (pid 2) exited with status 0]"), "the kernel carries on")
}

@Test func g088_yieldingHandsTheProcessorRoundRobin() throws {
    // write "<name>1\n"; sched_yield(); write "<name>2\n"; exit(0)
    func polite(_ name: String) -> [UInt8] {
        let codeCount = 22 + 7 + 22 + 12
        let data = P.dataAddress(codeCount: codeCount)
        let code = P.movEAX(4) + P.movEBX(1) + P.movECX(data) + P.movEDX(3) + P.int80
            + P.movEAX(158) + P.int80
            + P.movEAX(4) + P.movEBX(1) + P.movECX(data + 3) + P.movEDX(3) + P.int80
            + P.movEAX(1) + P.movEBX(0) + P.int80
        precondition(code.count == codeCount)
        return P.elf(code: code, data: Array("\(name)1\n\(name)2\n".utf8))
    }
    let result = try run([("a", polite("a")), ("b", polite("b")), ("c", polite("c"))], commandLine: "init=a+b+c")
    #expect(result.console.contains("a1\nb1\nc1\na2\n"))
    #expect(result.console.contains("[a (pid 1) exited with status 0]\nb2\n"))
}

@Test func g089_rebootPowersOffOrRestartsOnlyWithTheMagicNumbers() throws {
    // reboot(magic1, magic2, command); exit(-eax) if it returns.
    func reboot(_ magic: UInt32, _ command: UInt32) -> [UInt8] {
        P.elf(code: P.movEAX(88) + P.movEBX(magic) + P.movECX(672_274_793) + P.movEDX(command) + P.int80
              + [0x89, 0xC3, 0xF7, 0xDB] + P.movEAX(1) + P.int80)
    }
    let wrongMagic = try run([("p", reboot(0x1234, 0x4321_FEDC)), ("off", reboot(0xFEE1_DEAD, 0x4321_FEDC)),
                              ("never", P.hello("not reached\n"))])
    #expect(wrongMagic.console.contains("[p (pid 1) exited with status 22]"))
    #expect(wrongMagic.console.contains("[off (pid 2) asked to power off]"))
    #expect(!wrongMagic.console.contains("not reached"))

    let files = [InitrdFile(name: "again", bytes: reboot(0xFEE1_DEAD, 0x0123_4567))]
    let restarted = try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files, maximumRestarts: 2))
    #expect(restarted.exit == .restart("Restart requested by again"))
    #expect(restarted.restarts == 2)
    #expect(restarted.console.components(separatedBy: "Booting paravirtualized kernel").count == 4, "three boots")
    #expect(restarted.exitStatus == 0)
}
