import Foundation
import Guest
@testable import Launcher
import Testing

/// Where the committed i386 programs live in a checkout: programs/bin at the package root.
private let programDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("programs/bin").path

/// Each committed program, its standard input, and what it prints and how it ends on a real Linux
/// (`./NAME < input; echo $?`, recorded from native runs on x86-64 Linux).
private let expectations: [(name: String, input: String, output: String, ending: String)] = [
    ("hello", "", "Hello from i386 user space!\n", "exited with status 0"),
    ("syscalls", "a line of input\n", """
        write: hello\nwrite ok\nwrite of nothing ok\nwrite to a bad fd ok\nwrite from a bad pointer ok
        read returned 16: a line of input\n\nread at end of input ok\nread from a bad fd ok\ngetpid ok
        brk grow ok\nbrk memory ok\nbrk shrink ok\nsched_yield ok\nnanosleep ok
        nanosleep with bad nanoseconds ok\nnanosleep from a bad pointer ok\nunknown system call ok
        exiting with status 7\n
        """, "exited with status 7"),
    ("sieve", "", "primes below 10000: 1229, largest 9973\n", "exited with status 0"),
    ("crc32", "", "crc32 rounds=1 crc=c39b3ffa\n", "exited with status 0"),
    ("mix", "2\n", "mix rounds=2 hits=160 misses=160 checksum=d85fe2b4\n", "exited with status 0"),
    ("recurse", "", "walk(10000) = 6e007809\nackermann(2, 100) = 203\n", "exited with status 0"),
    ("pages", "", "touched 256 pages, checksum cc4f52fc, mismatches 0\nheap returned\n", "exited with status 0"),
    ("fault_divide", "", "about to divide by zero\n", "killed by SIGFPE"),
    ("fault_illegal", "", "about to execute ud2\n", "killed by SIGILL"),
    ("fault_null", "", "about to write to address 0\n", "killed by SIGSEGV"),
]

@Test(.enabled(if: FileManager.default.fileExists(atPath: programDirectory), "needs programs/bin"))
func l050_theCommittedProgramsBehaveUnderTheGuestAsOnLinux() throws {
    var programs = try Launcher.programs(named: expectations.map(\.name), in: programDirectory)
    for expectation in expectations where !expectation.input.isEmpty {
        programs.append(InitrdFile(name: expectation.name + ".in", bytes: Array(expectation.input.utf8)))
    }
    let result = try Launcher.boot(LaunchOptions(programs: programs))
    #expect(result.exit == .poweredOff("Power down"))
    for (index, expectation) in expectations.enumerated() {
        let ending = "[\(expectation.name) (pid \(index + 1)) \(expectation.ending)"
        #expect(result.console.contains(expectation.output + ending), "\(expectation.name)")
    }
}
