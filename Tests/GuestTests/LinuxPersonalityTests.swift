// The Linux personality inside the Guest (G:094, G:098, G:099): static glibc programs built at test
// time (GlibcPrograms.swift) and Debian's busybox-static, booted under the real Host, must print what
// they print natively.
import Foundation
import Guest
@testable import Launcher
import LguestABI
import Machine
import Testing

/// Boot `files` (program `name` first) with `init=name`; the program's output and exit status as
/// the console shows them, and the whole result.
private func boot(_ name: String, _ files: [InitrdFile], memoryMiB: Int = 32) throws
    -> (output: String, status: Int?, result: BootResult) {
    let result = try Launcher.boot(LaunchOptions(memoryMiB: memoryMiB, programs: files, commandLine: "init=\(name)"))
    // The program's own output lies between the ramdisk's line and the kernel's line about its end.
    let console = result.console
    var output = ""
    var status: Int?
    var started = false
    for line in console.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("initrd: ") { started = true; continue }
        guard started else { continue }
        if line.hasPrefix("[\(name) (pid 1) exited with status ") {
            status = Int(line.dropFirst("[\(name) (pid 1) exited with status ".count).dropLast())
            break
        }
        output += line + "\n"
    }
    return (output, status, result)
}

/// Program `url` as ramdisk files: itself, its arguments (`G:098`) and its standard input.
private func files(_ url: URL, arguments: [String] = [], input: String? = nil) throws -> [InitrdFile] {
    let name = url.lastPathComponent
    var files = [InitrdFile(name: name, bytes: Array(try Data(contentsOf: url)))]
    if !arguments.isEmpty { files.append(InitrdFile(name: name + ".args", bytes: Array(arguments.joined(separator: "\n").utf8))) }
    if let input { files.append(InitrdFile(name: name + ".in", bytes: Array(input.utf8))) }
    return files
}

/// Whether the Guest computes with the x87: the probe multiplies a double and exits with it.
private let guestHasX87: Bool = {
    guard Glibc.available, let probe = try? Glibc.build("x87probe", Glibc.x87Probe, flags: ["-O0"]),
          let run = try? boot("x87probe", files(probe)) else { return false }
    return run.status == 3
}()

@Suite(.enabled(if: Glibc.available, "\(Glibc.unavailableReason ?? "")"))
struct GlibcInsideTheGuestTests {
    @Test func g098_aStaticGlibcProgramGetsItsArgumentsAsNatively() throws {
        let hello = try Glibc.build("hello", Glibc.helloSource)
        let arguments = ["one", "two words", "x,y"]
        let native = try Glibc.run(hello, arguments)
        let run = try boot("hello", files(hello, arguments: arguments))
        #expect(run.output == native.output)
        #expect(run.status == Int(native.status))
    }

    @Test func g098_theGuestAndTheStandInAnswerAlike() throws {
        // One personality, two kernels: the same program gets the same answers from both, down to
        // the random bytes, except for what each kernel owns (here, how many files a process may open).
        let program = try Glibc.build("personality", Glibc.personalitySource)
        let image = try ELFImage(bytes: Array(try Data(contentsOf: program)))
        let runner = try ProgramRunner(image: image, programName: "personality", arguments: ["a"])
        let bare = String(decoding: runner.run(maxInstructions: 100_000_000).output, as: UTF8.self)
        let guest = try boot("personality", files(program, arguments: ["a"])).output
        #expect(bare.replacingOccurrences(of: "files 3", with: "files 32") == guest)
        #expect(guest.hasPrefix("Linux lguest 6.1.0-lguest i686\nargc 2 pid 1 uid 0 files 32\n"))
        #expect(guest.hasSuffix(" /personality\n"))
    }

    @Test func g099_threadLocalStorageReachesGsThroughLoadTLS() throws {
        let run = try boot("hello", files(try Glibc.build("hello", Glibc.helloSource)))
        #expect(run.output.contains("tls 42\n"), "a __thread variable, read through %gs")
        let loads = run.result.statistics.first { $0.name == "hypercall.LOAD_TLS" }?.value ?? 0
        #expect(loads >= 1)
    }

    @Test func g099_twoGlibcProgramsAtOnceEachSeeTheirOwnThreadStorage() throws {
        // Each sleeps between its lines (clock_nanosleep), so the two take turns on the processor.
        let source = """
            #include <stdio.h>
            #include <time.h>
            static __thread int mine = 5;
            int main(int argc, char **argv) {
                mine = argc * 100;
                for (int i = 0; i < 3; i++) {
                    struct timespec pause = {0, 5000000};
                    nanosleep(&pause, 0);
                    printf("%s %d\\n", argv[0], mine);
                }
                return 0;
            }
            """
        let first = try Glibc.build("turns", source), second = try Glibc.build("turns2", source)
        let programs = try files(first) + files(second, arguments: ["x", "y"])
        let result = try Launcher.boot(LaunchOptions(memoryMiB: 32, programs: programs, commandLine: "init=turns+turns2"))
        let lines = result.console.split(separator: "\n").filter { $0.hasPrefix("turns") }
        #expect(lines == ["turns 100", "turns2 300", "turns 100", "turns2 300", "turns 100", "turns2 300"])
    }

    @Test(.enabled(if: guestHasX87, "the machine does not compute with the x87 yet (issue 9, items 1-2)"))
    func g098_floatsPrintAsNatively() throws {
        let program = try Glibc.build("floats", Glibc.floatSource)
        #expect(try boot("floats", files(program)).output == Glibc.run(program, []).output)
    }

    @Test func g094_theRamdiskIsAReadOnlyRootFileSystem() throws {
        let program = try Glibc.build("files", """
            #include <stdio.h>
            #include <fcntl.h>
            #include <unistd.h>
            #include <dirent.h>
            #include <errno.h>
            #include <sys/stat.h>
            int main(void) {
                DIR *d = opendir("/");
                struct dirent *e;
                while ((e = readdir(d))) printf("entry %s type %d\\n", e->d_name, e->d_type);
                closedir(d);
                char buf[64];
                int fd = open("files.in", O_RDONLY);
                int n = read(fd, buf, sizeof buf);
                printf("read %d: %.*s", n, n, buf);
                printf("lseek %ld\\n", (long)lseek(fd, 4, SEEK_SET));
                n = read(fd, buf, 3);
                printf("again %.*s\\n", n, buf);
                struct stat st;
                fstat(fd, &st);
                printf("size %ld regular %d\\n", (long)st.st_size, S_ISREG(st.st_mode));
                close(fd);
                int w = open("/files.in", O_WRONLY);
                printf("write-open %d errno %d\\n", w, errno);
                int m = open("/nothing", O_RDONLY);
                printf("missing %d errno %d\\n", m, errno);
                int s = stat("/dev", &st);
                printf("stat /dev %d directory %d\\n", s, S_ISDIR(st.st_mode));
                printf("isatty %d\\n", isatty(1));
                return 0;
            }
            """)
        let run = try boot("files", files(program, input: "one two\n"))
        #expect(run.output == """
            entry . type 4
            entry .. type 4
            entry dev type 4
            entry files type 8
            entry files.in type 8
            read 8: one two
            lseek 4
            again two
            size 8 regular 1
            write-open -1 errno 30
            missing -1 errno 2
            stat /dev 0 directory 1
            isatty 1

            """)
    }
}

private typealias P = TinyProgram

@Test(arguments: [
    ("rseq is left to glibc to do without", errnoOf(386, 0, 0, 0), 38),
    ("set_robust_list with the wrong size", errnoOf(311, 0x0804_8000, 5, 0), 22),
    ("set_thread_area from a bad pointer", errnoOf(243, 16, 0, 0), 14),
    ("get_thread_area from a bad pointer", errnoOf(244, 16, 0, 0), 14),
    ("mmap2 of nothing", errnoOf(192, 0, 0, 3), 22),
    ("munmap of an unaligned address", errnoOf(91, 1, 4096, 0), 22),
    ("mprotect of an unaligned address", errnoOf(125, 1, 4096, 1), 22),
    ("getrandom with unknown flags", errnoOf(355, 0x0804_8000, 4, 8), 22),
    ("clock_gettime of no clock", errnoOf(265, 99, 0x0804_8000, 0), 22),
    ("ugetrlimit of no resource", errnoOf(191, 99, 0x0804_8000, 0), 22),
    ("ioctl of a closed descriptor", errnoOf(54, 99, 0x5401, 0), 9),
    ("TCGETS into a bad pointer", errnoOf(54, 1, 0x5401, 16), 14),
    ("an ioctl a console does not know", errnoOf(54, 1, 0x1234, 0), 25),
    ("uname into read-only text", errnoOf(122, 0x0804_8000, 0, 0), 14),
    ("fstat64 of a closed descriptor", errnoOf(197, 42, 0x0804_8000, 0), 9),
    ("getdents64 of the console", errnoOf(220, 1, 0x0804_8000, 64), 20),
    ("exit_group", errnoOf(252, 0xFFFF_FFF9, 0, 0), 0xF9),
] as [(String, [UInt8], Int)])
func g098_theNewCallsAnswerLinuxsErrors(name: String, program: [UInt8], errno: Int) throws {
    // exit_group's status is its argument, not an errno: 0xF9 from -7, Linux's low eight bits.
    let run = try boot("p", [InitrdFile(name: "p", bytes: program)], memoryMiB: 8)
    #expect(run.status == (name == "exit_group" ? 0xF9 : errno), "\(name)")
}

@Test func g098_unknownCallsAreENOSYSAndCounted() throws {
    let run = try boot("p", [InitrdFile(name: "p", bytes: errnoOf(9999, 0, 0, 0))], memoryMiB: 8)
    #expect(run.status == 38)
    #expect(run.result.guestStatistics.unknownSystemCalls == 1)
    #expect(run.result.statistics.contains { $0.name == "guest.unknown_system_calls" && $0.value == 1 })
}

@Suite(.enabled(if: Glibc.busybox != nil, "\(Glibc.busyboxMissing)"))
struct BusyboxInsideTheGuestTests {
    /// Run applet `arguments` with `input` natively (in a folder holding `busybox.in`) and in the Guest.
    private func compare(_ arguments: [String], input: String = "") throws {
        let busybox = try #require(Glibc.busybox)
        let folder = Glibc.folder.appendingPathComponent("busybox-" + arguments.joined(separator: "-"))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let inputFile = folder.appendingPathComponent("busybox.in")
        try Data(input.utf8).write(to: inputFile)
        let native = try Glibc.run(busybox, arguments, input: inputFile, directory: folder)
        let run = try boot("busybox", files(busybox, arguments: arguments, input: input))
        #expect(run.output == native.output, "busybox \(arguments.joined(separator: " "))")
        #expect(run.status == Int(native.status))
    }

    @Test func g098_busyboxEcho() throws { try compare(["echo", "hello,", "world"]) }
    @Test func g098_busyboxExpr() throws { try compare(["expr", "6", "*", "7"]) }
    @Test func g098_busyboxWcCountsStandardInput() throws { try compare(["wc"], input: "one two\nthree\n") }
    @Test func g094_busyboxSha256sumOfAFile() throws { try compare(["sha256sum", "busybox.in"], input: "abc\n") }
    @Test func g094_busyboxSha256sumOfStandardInput() throws { try compare(["sha256sum"], input: "abc\n") }
}

/// A program that asks `set_thread_area` for a segment at `base`, loads gs with the slot it is given
/// and exits with the word at gs:0 (hand-assembled, so it needs no compiler).
private func threadAreaProgram(base: UInt32?) -> [UInt8] {
    func code(_ info: UInt32) -> [UInt8] {
        P.movEAX(243) + P.movEBX(info) + P.int80
            + [0xA1] + P.le32(info)          // mov info.entry_number, %eax
            + [0xC1, 0xE0, 0x03]             // shl $3, %eax
            + [0x83, 0xC8, 0x03]             // or $3, %eax: a ring-3 GDT selector
            + [0x8E, 0xE8]                   // mov %ax, %gs
            + [0x65, 0xA1, 0, 0, 0, 0]       // mov %gs:0, %eax
            + [0x89, 0xC3] + P.movEAX(1) + P.int80
    }
    let info = P.dataAddress(codeCount: code(0).count)
    // struct user_desc: entry -1 (pick one), base, limit 0xFFFFF pages, seg_32bit | limit_in_pages | useable;
    // then the word the segment points at when `base` is nil.
    let data = P.le32(0xFFFF_FFFF) + P.le32(base ?? info + 16) + P.le32(0xFFFFF) + P.le32(0x51) + P.le32(42)
    return P.elf(code: code(info), data: data, writable: true)
}

@Test func g099_aSegmentFromSetThreadAreaReachesGs() throws {
    let run = try boot("tls", [InitrdFile(name: "tls", bytes: threadAreaProgram(base: nil))], memoryMiB: 8)
    #expect(run.status == 42, "gs:0 is the word the program's own segment points at")
}

@Test func g099_aThreadSegmentOverTheKernelFaultsTheProgramNotTheGuest() throws {
    // A base in the kernel's half passes the Host's checks (it is a ring-3 data segment), but every
    // access through it lands on supervisor pages: the program dies, the kernel and the next program live.
    let files = [InitrdFile(name: "tls", bytes: threadAreaProgram(base: 0xC000_0000)),
                 InitrdFile(name: "ok", bytes: threadAreaProgram(base: nil))]
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: files, commandLine: "init=tls,ok"))
    #expect(result.console.contains("[tls (pid 1) killed by SIGSEGV"), "console was: \(result.console)")
    #expect(result.console.contains("[ok (pid 2) exited with status 42]"))
    #expect(result.exit == .poweredOff("Power down"))
}

@Test func g098_everyCallSurvivesHostileArgumentsAndTheNextProgramRuns() throws {
    // One program makes every call the personality knows, with hostile pointers and sizes in all six
    // registers, and then exits; the calls that change its own memory come last, since they may
    // legitimately take its code away (then it dies of SIGSEGV, as on Linux). Calls that would wait
    // for ever (reads of the console, sleeps of centuries) and those that end the process are left out.
    let hostile: [UInt32] = [0, 0xFFFF_FFFF, 0xC000_0000, 0xBFFF_FFFC, 0x7FFF_FFFF, 0xFFFF_F000, 1]
    let excluded: Set<LinuxSystemCall> = [.exit, .exitGroup, .read, .nanosleep, .clockNanosleep, .clockNanosleep64, .reboot]
    let selfHarm: [LinuxSystemCall] = [.brk, .mprotect, .munmap]
    let calls = LinuxSystemCall.allCases.filter { !excluded.contains($0) && !selfHarm.contains($0) } + selfHarm
    var code: [UInt8] = []
    for call in calls {
        for (index, value) in hostile.enumerated() {
            let other = hostile[(index + 2) % hostile.count]
            code += P.movEAX(call.rawValue) + P.movEBX(value) + P.movECX(other) + P.movEDX(value)
            code += [0xBE] + P.le32(other) + [0xBF] + P.le32(value) + [0xBD] + P.le32(other) + P.int80
        }
    }
    code += P.movEBX(0) + P.movEAX(1) + P.int80
    let files = [InitrdFile(name: "sweep", bytes: P.elf(code: code)), InitrdFile(name: "hello", bytes: P.hello("still here\n"))]
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 16, programs: files, commandLine: "init=sweep,hello"))
    #expect(result.exit == .poweredOff("Power down"), "console was: \(result.console)")
    #expect(result.console.contains("[sweep (pid 1) "))
    #expect(result.guestStatistics.systemCalls >= (calls.count - selfHarm.count) * hostile.count, "it got past the harmless calls")
    #expect(result.console.contains("still here"))
}
