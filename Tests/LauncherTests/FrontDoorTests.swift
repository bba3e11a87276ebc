import Foundation
import Machine
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
        (["--memory", "-1"], "--memory must be 4...512 MiB, not -1"),
        (["--programs", "hello," + #filePath], "is not an i386 program: elf: not an ELF file"),
        (["--time-limit", "0"], "--time-limit must be a number of seconds above 0"),
        (["--time-limit", "nan"], "--time-limit must be a number of seconds above 0"),
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

    @Test func l045_aGuestThatNeverEndsIsStoppedAtItsTimeLimitTheSameWayEveryTime() throws {
        let first = try runLguest(["--programs", "spin", "--time-limit", "0.002", "--stats"])
        #expect(first.status == 124)
        #expect(first.output.contains("spin: round and round, for ever"))
        #expect(first.errors.contains("time limit of 2 ms of virtual time reached"), "stderr was: \(first.errors)")
        let second = try runLguest(["--programs", "spin", "--time-limit", "0.002", "--stats"])
        #expect(second.output == first.output, "virtual time stops the Guest at the same instruction")
    }

    @Test func l050_aProgramNamedByItsPathRunsUnderItsOwnName() throws {
        let path = GuestPrograms.url(named: "hello").path
        let run = try runLguest(["--programs", path])
        #expect(run.status == 0)
        #expect(run.output.contains("Hello from i386 user space!"))
        #expect(run.output.contains("[hello (pid 1) exited with status 0]"))
    }

    @Test func l102_ctrlCStopsTheRunCleanlyWithTheCountsSoFar() throws {
        let process = Process()
        process.executableURL = lguestExecutable
        process.arguments = ["--programs", "spin"]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Wait until the Guest is spinning, then press Ctrl-C.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("spin: round and round") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        process.interrupt()
        seen += output.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let stdout = String(decoding: seen, as: UTF8.self)
        #expect(process.terminationReason == .exit, "the process ended by itself, not by the signal")
        #expect(process.terminationStatus == 130)
        #expect(stdout.contains("world_switches "), "the counts so far are printed")
        #expect(stderr.contains("launcher: interrupted"), "stderr was: \(stderr)")
    }
}
