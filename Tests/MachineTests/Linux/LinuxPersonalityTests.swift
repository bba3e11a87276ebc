// The shared Linux personality (X:876-X:879, X:896-X:898) under the stand-in kernel: static glibc
// programs built at test time (GlibcPrograms.swift) must print what they print natively.
import Foundation
@testable import Machine
import Testing

/// Run the glibc program at `url` under the stand-in kernel with `arguments`.
private func runUnderRunner(_ url: URL, _ arguments: [String] = []) throws -> ProgramResult {
    let image = try ELFImage(bytes: Array(try Data(contentsOf: url)))
    let runner = try ProgramRunner(image: image, programName: url.lastPathComponent, arguments: arguments,
                                   environment: ["HOME=/", "TERM=linux"])
    return runner.run(maxInstructions: 200_000_000)
}

/// Whether the runner computes with the x87 (the FPU is another part of the machine's work).
private let machineHasX87: Bool = {
    guard Glibc.available, let probe = try? Glibc.build("x87probe", Glibc.x87Probe, flags: ["-O0"]),
          let result = try? runUnderRunner(probe) else { return false }
    return result.termination == .exited(status: 3)
}()

@Suite(.enabled(if: Glibc.available, "\(Glibc.unavailableReason ?? "")"))
struct GlibcUnderTheRunnerTests {
    @Test func x876_aStaticGlibcProgramPrintsWhatItPrintsNatively() throws {
        let hello = try Glibc.build("hello", Glibc.helloSource)
        let arguments = ["one", "two words", "x,y"]
        let native = try Glibc.run(hello, arguments)
        let result = try runUnderRunner(hello, arguments)
        #expect(String(decoding: result.output, as: UTF8.self) == native.output)
        #expect(result.termination == .exited(status: UInt8(native.status)))
        #expect(native.output.contains("tls 42"), "thread-local storage through set_thread_area and %gs")
    }

    @Test(.enabled(if: machineHasX87, "the machine does not compute with the x87 yet (issue 9, items 1-2)"))
    func x876_floatsPrintAsNatively() throws {
        let program = try Glibc.build("floats", Glibc.floatSource)
        let native = try Glibc.run(program, [])
        #expect(String(decoding: try runUnderRunner(program).output, as: UTF8.self) == native.output)
    }

    @Test func x879_unknownCallsAreENOSYSAndCounted() throws {
        // syscall(9999) and syscall(172, PR_GET_NAME): the first is no call at all, the second one we lack.
        let program = try Glibc.build("unknown", """
            #include <stdio.h>
            #include <unistd.h>
            #include <errno.h>
            int main(void) {
                long r = syscall(9999);
                printf("%ld %d\\n", r, errno);
                return 0;
            }
            """)
        let result = try runUnderRunner(program)
        #expect(String(decoding: result.output, as: UTF8.self) == "-1 38\n")
        #expect(result.unknownSystemCalls >= 1)
    }

    @Test func x896_informationCallsAnswerDeterministically() throws {
        let program = try Glibc.build("information", """
            #include <stdio.h>
            #include <time.h>
            #include <sys/time.h>
            #include <sys/utsname.h>
            #include <sys/resource.h>
            #include <sys/random.h>
            #include <unistd.h>
            int main(void) {
                struct utsname u; uname(&u);
                printf("%s %s %s\\n", u.sysname, u.nodename, u.machine);
                struct rlimit r; getrlimit(RLIMIT_STACK, &r);
                printf("stack %lu %d\\n", (unsigned long)r.rlim_cur, r.rlim_max == RLIM_INFINITY);
                struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                printf("time %d\\n", t.tv_sec == 0 && t.tv_nsec > 0);
                unsigned char b[4]; printf("random %zd\\n", getrandom(b, 4, 0));
                printf("ids %d %d %d\\n", getuid(), getegid(), getpid());
                char path[64]; ssize_t n = readlink("/proc/self/exe", path, sizeof path);
                printf("exe %.*s\\n", (int)n, path);
                return 0;
            }
            """)
        let first = try runUnderRunner(program), second = try runUnderRunner(program)
        #expect(String(decoding: first.output, as: UTF8.self) == """
            Linux lguest i686
            stack 8388608 1
            time 1
            random 4
            ids 0 0 1
            exe /information

            """)
        #expect(first.output == second.output && first.virtualTime == second.virtualTime)
    }

    @Test func x898_filesTerminalsAndSignalsAsNatively() throws {
        // Standard output is a pipe both natively (the test's) and under the runner.
        let program = try Glibc.build("streams", """
            #include <stdio.h>
            #include <errno.h>
            #include <signal.h>
            #include <string.h>
            #include <unistd.h>
            #include <termios.h>
            #include <sys/stat.h>
            #include <sys/uio.h>
            int main(void) {
                struct iovec parts[3] = {{"wri", 3}, {"", 0}, {"tev\\n", 4}};
                ssize_t n = writev(1, parts, 3);
                struct stat st;
                int f = fstat(1, &st);
                printf("writev %zd fstat %d fifo %d\\n", n, f, S_ISFIFO(st.st_mode));
                struct termios t;
                int r = tcgetattr(1, &t);
                printf("tcgetattr %d errno %d isatty %d\\n", r, errno, isatty(1));
                struct sigaction action, old;
                memset(&action, 0, sizeof action);
                action.sa_handler = SIG_IGN;
                sigaction(SIGUSR1, &action, 0);
                sigaction(SIGUSR1, 0, &old);
                printf("ignored %d\\n", old.sa_handler == SIG_IGN);
                printf("kill %d errno %d\\n", sigaction(SIGKILL, &action, 0), errno);
                sigset_t set, back;
                sigemptyset(&set);
                sigaddset(&set, SIGUSR2);
                sigaddset(&set, SIGKILL);
                sigprocmask(SIG_BLOCK, &set, 0);
                sigprocmask(SIG_BLOCK, 0, &back);
                printf("blocked %d %d\\n", sigismember(&back, SIGUSR2), sigismember(&back, SIGKILL));
                return 0;
            }
            """)
        let native = try Glibc.run(program, [])
        #expect(String(decoding: try runUnderRunner(program).output, as: UTF8.self) == native.output)
        #expect(native.output.hasPrefix("writev\nwritev 7 fstat 0 fifo 1\n"))
    }

    @Test func x897_memoryFromMmapAndTheBreak() throws {
        let program = try Glibc.build("memory", """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/mman.h>
            int main(void) {
                char *big = malloc(1 << 20);          /* large: mmap2 */
                memset(big, 7, 1 << 20);
                char *small = malloc(100);            /* small: brk */
                strcpy(small, "small");
                char *page = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                page[8191] = 1;
                printf("%d %s %d %d\\n", big[12345], small, page[0], page[8191]);
                printf("mprotect %d munmap %d\\n", mprotect(page, 4096, PROT_READ), munmap(page, 8192));
                printf("bad %p\\n", mmap(0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
                free(big);
                return 0;
            }
            """)
        let native = try Glibc.run(program, [])
        #expect(String(decoding: try runUnderRunner(program).output, as: UTF8.self) == native.output)
    }
}

@Test func x876_theStackRefusesArgumentsThatDoNotFit() throws {
    let image = try GuestPrograms.load("hello")
    #expect(throws: ProgramRunnerError.argumentsTooLong) {
        _ = try ProgramRunner(image: image, programName: "hello", arguments: [String(repeating: "x", count: 3 * 4096)])
    }
}

@Test func x897_setThreadAreaBuildsARingThreeDataSegment() throws {
    // base 0x1000, limit 0xFFFFF pages, seg_32bit, limit_in_pages, useable: what glibc asks for.
    let descriptor = try #require(RunnerPersonality.threadDescriptor(base: 0x1000, limit: 0xFFFFF, flags: 1 | 1 << 4 | 1 << 6))
    #expect(descriptor.base == 0x1000 && descriptor.dpl == 3 && descriptor.isPresent && descriptor.granularity)
    #expect(descriptor.type == 3, "writable data, accessed")
    #expect(RunnerPersonality.threadDescriptor(base: 0, limit: 0, flags: 3 << 1) == nil, "contents 3 is refused")
    #expect(RunnerPersonality.threadDescriptor(base: 0, limit: 0, flags: 1 << 3 | 1 << 5)?.rawValue == 0, "empty")
}

@Test func x879_everyCallSurvivesHostileArguments() throws {
    // Every call the personality knows, with the pointers and sizes a hostile program would try:
    // null, the kernel's half, the top of memory, a stack word, a huge count. Each answer must be a
    // result or an errno (never a crash), and the runner must still be able to run afterwards.
    let hostile: [UInt32] = [0, 1, 0xFFFF_FFFF, 0xC000_0000, 0xBFFF_FFFC, 0x7FFF_FFFF, 0xFFFF_F000]
    for call in LinuxSystemCall.allCases where call != .exit && call != .exitGroup {
        for (index, value) in hostile.enumerated() {
            let other = hostile[(index + 3) % hostile.count]
            let runner = try ProgramRunner(image: try GuestPrograms.load("hello"), programName: "hello")
            let arguments = SystemCallArguments(ebx: value, ecx: other, edx: value, esi: other, edi: value, ebp: other)
            let outcome = RunnerPersonality(runner: runner).performSystemCall(call.rawValue, arguments)
            #expect(outcome != .blocked, "\(call) never waits here")
            #expect(runner.run(maxInstructions: 1_000_000).termination != .budgetExhausted, "\(call) \(hex(value))")
        }
    }
}

/// Debian's busybox-static for i386, where `tools/setup --optional` unpacks it.
private let busyboxPresent = Glibc.busybox != nil

@Test(.enabled(if: busyboxPresent, "\(Glibc.busyboxMissing)"),
      arguments: [["echo", "hello,", "world"], ["expr", "6", "*", "7"], ["wc"], ["sha256sum"], ["uname", "-m"]])
func x876_busyboxUnderTheRunnerPrintsWhatItPrintsNatively(arguments: [String]) throws {
    let busybox = try #require(Glibc.busybox)
    let input = "one two\nthree\n"
    let inputFile = Glibc.folder.appendingPathComponent("runner-busybox-\(arguments[0]).in")
    try Data(input.utf8).write(to: inputFile)
    let native = try Glibc.run(busybox, arguments, input: inputFile)
    let image = try ELFImage(bytes: Array(try Data(contentsOf: busybox)))
    let runner = try ProgramRunner(image: image, input: Array(input.utf8), programName: "busybox", arguments: arguments)
    let result = runner.run(maxInstructions: 500_000_000)
    // uname -m is the machine's own answer, i686, where the host says x86_64 or i686.
    let expected = arguments == ["uname", "-m"] ? "i686\n" : native.output
    #expect(String(decoding: result.output + result.errorOutput, as: UTF8.self) == expected)
    #expect(result.termination == .exited(status: UInt8(native.status)))
}
