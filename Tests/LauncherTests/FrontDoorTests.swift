import Foundation
import Machine
import Testing

/// The `lguest` executable built beside this test bundle, if the build made one.
private let lguestExecutable: URL = URL(fileURLWithPath: CommandLine.arguments[0])
    .resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("lguest")

private let executableExists = FileManager.default.isExecutableFile(atPath: lguestExecutable.path)

/// Debian's busybox-static for i386, where `tools/setup --optional` unpacks it.
private let busyboxPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".optional/busybox-static/bin/busybox").path

/// Runs `lguest` with `arguments` (and `environment` added to ours) and returns its status, standard
/// output and standard error.
private func runLguest(_ arguments: [String], environment: [String: String] = [:]) throws
    -> (status: Int32, output: String, errors: String)
{
    let process = Process()
    process.executableURL = lguestExecutable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
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

    @Test func l105_traceOutWritesTheSameTraceOnEveryRun() throws {
        let directory = FileManager.default.temporaryDirectory
        let paths = (1...2).map { directory.appendingPathComponent("lguest-trace-\(getpid())-\($0).json").path }
        defer { for path in paths { try? FileManager.default.removeItem(atPath: path) } }
        for path in paths {
            let run = try runLguest(["--programs", "hello", "--trace-out", path])
            #expect(run.status == 0 && run.output.contains("Hello from i386 user space!"))
        }
        let first = try Data(contentsOf: URL(fileURLWithPath: paths[0]))
        #expect(first == (try Data(contentsOf: URL(fileURLWithPath: paths[1]))))
        let top = try JSONSerialization.jsonObject(with: first) as? [String: Any]
        #expect((top?["traceEvents"] as? [Any])?.isEmpty == false)
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
        (["--programs", "hello", "--trace-out", "/nonexistent/dir/t.json"], "trace: cannot write /nonexistent/dir/t.json"),
        (["--programs", "hello", "--trace-out", "/"], "trace: cannot write /: it is a directory"),
        (["--arguments", "no-equals-sign"], "--arguments wants NAME=ARGS, not 'no-equals-sign'"),
        (["--arguments", "=a b"], "--arguments wants NAME=ARGS, not '=a b'"),
        (["program", "hello", String(repeating: "x", count: 20_000)], "argument list too long"),
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

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: busyboxPath),
                   "needs Debian's busybox-static for i386 in .optional/ (tools/setup --optional)"))
    func l050_argumentsReachEachProgramInTheGuestAndOnTheBareMachine() throws {
        let boot = try runLguest(["--programs", busyboxPath + ",hello", "--arguments", "busybox=echo a,b  c"])
        #expect(boot.status == 0)
        #expect(boot.output.contains("a,b c\n[busybox (pid 1) exited with status 0]"), "stdout was: \(boot.output)")
        #expect(boot.output.contains("Hello from i386 user space!"))
        let bare = try runLguest(["program", busyboxPath, "echo", "a,b", "--stats"])
        #expect(bare.status == 0)
        #expect(bare.output == "a,b --stats\n", "everything after the program is its arguments")
    }

    @Test func l106_ctrlCStopsTheRunCleanlyWithTheCountsSoFar() throws {
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

    // MARK: The code cache's switch (L:104)

    /// `--stats` output without the counts of the code cache itself, the one thing the switch may change.
    private func withoutCacheCounts(_ output: String) -> String {
        output.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("code_cache") && !$0.contains(".code_cache") }
            .joined(separator: "\n")
    }

    @Test func l104_noCodeCacheChangesNotAByteOfTheDefaultBootNorOfABareRun() throws {
        let cached = try runLguest(["--stats"])
        let uncached = try runLguest(["--stats", "--no-code-cache"])
        #expect(cached.status == 0)
        #expect(cached.output.contains("[fault_null (pid 10) killed by SIGSEGV"), "the whole default boot ran")
        #expect(cached.output.contains("\nmachine.instructions "))
        #expect(uncached.status == cached.status)
        #expect(withoutCacheCounts(uncached.output) == withoutCacheCounts(cached.output),
                "the transcript and every count, instructions included")
        let bare = try runLguest(["program", "--stats", "--input", "2", "mix"])
        let bareUncached = try runLguest(["program", "--no-code-cache", "--stats", "--input", "2", "mix"])
        #expect(bare.status == 0)
        #expect(bare.output.hasPrefix("mix rounds=2 hits=160 misses=160 checksum=d85fe2b4\ninstructions "))
        #expect(bareUncached.status == bare.status)
        #expect(withoutCacheCounts(bareUncached.output) == withoutCacheCounts(bare.output))
        #expect(bareUncached.errors == bare.errors)
    }

    // MARK: The devices' options (L:102, L:186, L:187)

    @Test func l186_aBadDiskImageIsRefusedBeforeBoot() throws {
        let directory = try TemporaryDisk(contents: [])
        let odd = try TemporaryDisk(contents: [UInt8](repeating: 1, count: 700))
        let socket = try UnixSocketFile(in: directory.directory)
        let cases: [(String, String)] = [
            ("/nonexistent/disk.img", "launcher: disk /nonexistent/disk.img: no such file"),
            (directory.directory.path, "launcher: disk \(directory.directory.path): is a directory"),
            (socket.path, "launcher: disk \(socket.path): cannot open: "),
            (directory.path, "launcher: disk \(directory.path): is empty"),
            (odd.path, "launcher: disk \(odd.path): size 700 is not a multiple of 512"),
        ]
        for (path, message) in cases {
            let run = try runLguest(["--programs", "hello", "--disk", path])
            #expect(run.status != 0)
            #expect(run.errors.contains(message), "stderr was: \(run.errors)")
            #expect(!run.output.contains("Booting"), "refused before anything boots")
        }
    }

    @Test(.enabled(if: geteuid() != 0, "root is not stopped by permissions; the socket case covers it"))
    func l186_aFileWeMayNotOpenIsRefused() throws {
        let disk = try TemporaryDisk(sectors: 1)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: disk.path)
        let run = try runLguest(["--programs", "hello", "--disk", disk.path])
        #expect(run.status != 0)
        #expect(run.errors.contains("cannot open: Permission denied"), "stderr was: \(run.errors)")
    }

    @Test(arguments: [
        (["--rng-seed", "abc"], "The value 'abc' is invalid for '--rng-seed <n>'"),
        (["--rng-seed=-1"], "The value '-1' is invalid for '--rng-seed <n>'"),
        (["--rng-seed", "18446744073709551616"], "is invalid for '--rng-seed <n>'"),
        (["--input", "x", "--stdin"], "--input and --stdin cannot be used together"),
        (["--disk-read-only"], "--disk-read-only needs --disk"),
    ])
    func l102_aBadDeviceOptionIsRefused(arguments: [String], message: String) throws {
        let run = try runLguest(["--programs", "hello"] + arguments)
        #expect(run.status != 0)
        #expect(run.errors.contains(message), "stderr was: \(run.errors)")
    }

    @Test func l187_theDefaultRunMakesAScratchDiskAndRemovesIt() throws {
        let temporary = try TemporaryDisk(contents: [])
        let run = try runLguest(["--programs", "hello", "--stats"], environment: ["TMPDIR": temporary.directory.path])
        #expect(run.status == 0)
        #expect(run.output.contains("device.block.requests "), "the block device was there")
        let left = try FileManager.default.contentsOfDirectory(atPath: temporary.directory.path)
        #expect(left == ["disk.img"], "only the test's own file is left")
    }

    @Test func l102_aReadOnlyDiskIsServedAndNeverChanged() throws {
        let disk = try TemporaryDisk(sectors: 2)
        let run = try runLguest(["--programs", "hello", "--disk", disk.path, "--disk-read-only", "--stats",
                                 "--input", "typed", "--rng-seed", "7"])
        #expect(run.status == 0)
        #expect(run.output.contains("device.console.requests "))
        #expect(run.output.contains("device.rng.requests "))
        #expect(try disk.bytes == TemporaryDisk(sectors: 2).bytes)
    }
}

/// A Unix-domain socket bound at a path: a file nobody, not even root, can open.
private struct UnixSocketFile {
    let path: String
    let descriptor: Int32

    init(in directory: URL) throws {
        path = directory.appendingPathComponent("socket").path
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
}
