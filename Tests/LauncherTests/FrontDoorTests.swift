import Foundation
import Testing

/// The `lguest` executable built beside this test bundle, if the build made one.
private let lguestExecutable: URL = URL(fileURLWithPath: CommandLine.arguments[0])
    .resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("lguest")

private let executableExists = FileManager.default.isExecutableFile(atPath: lguestExecutable.path)

/// Runs `lguest` with `arguments` and returns its status, standard output and standard error.
private func runLguest(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = lguestExecutable
    process.arguments = arguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outputData, as: UTF8.self),
            String(decoding: errorData, as: UTF8.self))
}

@Suite(.enabled(if: executableExists, "needs the lguest executable beside the tests (swift build --build-tests)"))
struct FrontDoorTests {
    @Test func l100_bootRunsTheProgramsAndPowersOffWithStatusZero() throws {
        let run = try runLguest(["--programs", "hello,fault_null", "--stats"])
        #expect(run.status == 0)
        #expect(run.output.contains("Hello from i386 user space!"))
        #expect(run.output.contains("killed by SIGSEGV"))
        #expect(run.output.contains("hypercall.LGUEST_INIT 1\n"))
        #expect(run.output.contains("world_switches "))
    }

    @Test func l100_theSameCommandPrintsTheSameBytes() throws {
        let first = try runLguest(["--programs", "hello,syscalls", "--stats"])
        let second = try runLguest(["--programs", "hello,syscalls", "--stats"])
        #expect(first.status == 0)
        #expect(first.output == second.output)
    }

    @Test(arguments: [
        (["--memory", "2"], "--memory must be 4...512 MiB, not 2"),
        (["--programs", "no_such_program"], "cannot read program"),
        (["--programs", ","], "--programs names no program"),
        (["program", "/nonexistent/file"], "/nonexistent/file"),
        (["program", #filePath], "elf: not an ELF file"),
    ])
    func l100_aUsersMistakeIsAClearMessageAndANonZeroStatus(arguments: [String], message: String) throws {
        let run = try runLguest(arguments)
        #expect(run.status != 0)
        #expect(run.errors.contains(message), "stderr was: \(run.errors)")
    }

    @Test func l100_theBareMachineStillRunsOneProgram() throws {
        let run = try runLguest(["program", "fault_divide"])
        #expect(run.status == 128 + 8)
        #expect(run.errors.contains("SIGFPE"))
    }
}
