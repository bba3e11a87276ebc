// lguest-bench: the project's benchmarks, one figure per line as `name value unit`.
//
// Run it as a release build (`swift run -c release lguest-bench`); a debug
// build measures the compiler's checks, not the machine. Figures go to
// standard output; notes (skipped figures and why) go to standard error.
// Each figure is one small function below, listed in `figures`; add yours there.
// Names given as arguments run only those figures.
// Wall-clock time is fine here and nowhere else: tests never time anything.

import Foundation
import Guest
import Host
import Launcher
import Machine

/// One measured figure.
struct Figure {
    let name: String
    let value: String
    let unit: String
}

/// Why a figure could not be measured here (printed to standard error, not fatal).
struct Skipped: Error {
    let reason: String
}

/// A figure whose measurement went wrong (printed to standard error; exit status 1).
struct BenchmarkFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

// MARK: - Timing

/// How long something took: by the wall clock, and in CPU time of this thread.
struct Timing {
    var wall: Double
    var cpu: Double
}

/// Runs `body` `repetitions` times; the best (shortest) wall and CPU times.
///
/// On a machine shared with other work the wall time suffers from waiting for
/// a core; the CPU time does not, which is why both are kept.
func bestTiming(repetitions: Int = 3, _ body: () throws -> Void) rethrows -> Timing {
    var best = Timing(wall: .infinity, cpu: .infinity)
    for _ in 0 ..< repetitions {
        let clock = ContinuousClock()
        let cpuStart = threadCPUSeconds()
        let elapsed = try clock.measure(body)
        let cpu = threadCPUSeconds() - cpuStart
        best.wall = min(best.wall, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        best.cpu = min(best.cpu, cpu)
    }
    return best
}

/// CPU time consumed by the calling thread, in seconds.
func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

// MARK: - The interpreter's workloads

/// A committed guest program and the input that makes it a benchmark: `rounds` on its standard input.
struct Workload {
    let program: String
    let input: [UInt8]
}

/// The `crc32` compute kernel: about 291,000 instructions a round, so 1,000 rounds are some 291
/// million instructions: long enough to time, short enough to run three times.
let computeWorkload = Workload(program: "crc32", input: Array("1000\n".utf8))

/// The `mix` program (sorting, a hash table, byte-at-a-time strings and real calls): about 300,000
/// instructions a round, so 300 rounds are some 91 million: about 0.7 s a run in release before the
/// code cache, long enough to time.
let mixWorkload = Workload(program: "mix", input: Array("300\n".utf8))

/// What one run in the interpreter did: what the cache must not change.
struct InterpretedRun: Equatable {
    let instructions: UInt64
    let output: [UInt8]
}

/// The interpreter on a workload: what one run did, and the best timings of three.
struct Measurement {
    let run: InterpretedRun
    let timing: Timing
}

/// Each workload measured once, with the code cache on or off, on first use, and shared by the
/// figures that need it.
nonisolated(unsafe) var measurements: [String: Result<Measurement, Error>] = [:]

/// The shared measurement of `workload` with the machine's code cache on or off.
func measure(_ workload: Workload, codeCache: Bool = true) throws -> Measurement {
    let key = "\(workload.program) cache=\(codeCache)"
    if let done = measurements[key] { return try done.get() }
    let result = Result { () throws -> Measurement in
        var run: InterpretedRun?
        let timing = try bestTiming { run = try runInInterpreter(workload, codeCache: codeCache) }
        guard let run else { throw BenchmarkFailure(reason: "\(workload.program) never ran") }
        return Measurement(run: run, timing: timing)
    }
    measurements[key] = result
    return try result.get()
}

/// Loads the workload's program into a fresh machine, sets its code cache, and runs it to the end.
func runInInterpreter(_ workload: Workload, codeCache: Bool) throws -> InterpretedRun {
    let image = try GuestPrograms.load(workload.program)
    let runner = try ProgramRunner(image: image, input: workload.input, programName: workload.program)
    runner.machine.codeCacheEnabled = codeCache
    let result = runner.run()
    guard result.termination == .exited(status: 0) else {
        throw BenchmarkFailure(reason: "\(workload.program) did not finish in the interpreter: \(result.termination)")
    }
    return InterpretedRun(instructions: result.statistics.instructions, output: result.output)
}

// MARK: - Figures

/// Guest instructions per second of wall time on `workload`, MMU and TLB in the path, best of three
/// runs (`interpreter_ips` on the compute program, `interpreter_mix_ips` on the mix).
func instructionsPerSecond(_ workload: Workload, name: String) throws -> Figure {
    let measured = try measure(workload)
    let rate = Double(measured.run.instructions) / measured.timing.wall
    return Figure(name: name, value: String(format: "%.0f", rate), unit: "instructions/s")
}

/// `interpreter_ips_cpu`: the compute program's rate per second of CPU time, which a busy
/// machine does not depress.
func interpreterInstructionsPerCPUSecond() throws -> Figure {
    let compute = try measure(computeWorkload)
    let rate = Double(compute.run.instructions) / compute.timing.cpu
    return Figure(name: "interpreter_ips_cpu", value: String(format: "%.0f", rate), unit: "instructions/s")
}

/// `interpreter_workload`: the guest instructions of one compute run.
func interpreterWorkload() throws -> Figure {
    Figure(name: "interpreter_workload", value: "\(try measure(computeWorkload).run.instructions)", unit: "instructions")
}

/// Our wall time on `workload` divided by qemu-i386's (a JIT translator) on the same program and
/// input, best of three each (`qemu_ratio`, `qemu_ratio_mix`). Its time includes starting the qemu
/// process, a few milliseconds.
func qemuRatio(_ workload: Workload, name: String) throws -> Figure {
    guard let qemu = findOnPath("qemu-i386") else {
        throw Skipped(reason: "qemu-i386 is not on PATH (Debian: apt-get install qemu-user)")
    }
    let ours = try measure(workload).timing.wall
    let program = GuestPrograms.url(named: workload.program).path
    let theirs = try bestTiming { try runProcess(qemu, arguments: [program], input: workload.input) }.wall
    return Figure(name: name, value: String(format: "%.2f", ours / theirs), unit: "x")
}

/// What the code cache is worth on `workload` (`cache_speedup_crc32`, `cache_speedup_mix`): CPU
/// time with `Machine.codeCacheEnabled` false divided by CPU time with it true, best of three each,
/// in the same run of the benchmark. The cache must not change what the program does: both runs
/// must count the same instructions and print the same bytes, or the figure fails.
func cacheSpeedup(_ workload: Workload, name: String) throws -> Figure {
    let cached = try measure(workload, codeCache: true)
    let uncached = try measure(workload, codeCache: false)
    guard cached.run == uncached.run else {
        let output = cached.run.output == uncached.run.output ? "the same output" : "different output"
        throw BenchmarkFailure(reason: """
            \(workload.program) runs differently with the code cache: \(cached.run.instructions) instructions \
            against \(uncached.run.instructions) without it, \(output)
            """)
    }
    return Figure(name: name, value: String(format: "%.2f", uncached.timing.cpu / cached.timing.cpu), unit: "x")
}

/// The `syscall_loop` guest program calls `getpid` as often as its input
/// says: a loop of a few instructions around one system call.
let systemCallProgram = "syscall_loop"
let systemCallCount = 1_000_000

/// `syscall_roundtrip_ns`: wall time of one system call under the program
/// runner: `int $0x80` through the IDT onto the kernel stack, the Swift
/// shim, and `iret()` back (with the loop around it), best of three.
func systemCallRoundTrip() throws -> Figure {
    let input = Array("\(systemCallCount)\n".utf8)
    let image = try GuestPrograms.load(systemCallProgram)
    let timing = try bestTiming {
        let result = try ProgramRunner(image: image, input: input, programName: systemCallProgram).run()
        guard result.termination == .exited(status: 0), result.systemCalls > UInt64(systemCallCount) else {
            throw BenchmarkFailure(reason: "\(systemCallProgram) did not finish in the interpreter: \(result.termination)")
        }
    }
    let nanoseconds = timing.wall / Double(systemCallCount) * 1e9
    return Figure(name: "syscall_roundtrip_ns", value: String(format: "%.0f", nanoseconds), unit: "ns")
}

/// `native_syscall_roundtrip_ns`: the same program run natively on the host,
/// where the host's own kernel answers (an x86-64 kernel, through its
/// 32-bit compatibility entry), best of three.
func nativeSystemCallRoundTrip() throws -> Figure {
    let program = GuestPrograms.url(named: systemCallProgram).path
    let input = Array("\(systemCallCount)\n".utf8)
    let timing: Timing
    do {
        timing = try bestTiming { try runProcess(program, arguments: [], input: input) }
    } catch {
        throw Skipped(reason: "the host does not run i386 programs: \(error)")
    }
    let nanoseconds = timing.wall / Double(systemCallCount) * 1e9
    return Figure(name: "native_syscall_roundtrip_ns", value: String(format: "%.0f", nanoseconds), unit: "ns")
}

// MARK: - System calls in a booted Guest, with and without direct traps (H:250)

/// System calls per timed boot of `syscall_loop` in a Guest, and the smaller boot whose time is
/// subtracted so that booting and powering off cancel out.
let guestSystemCalls = 200_000
let guestSystemCallsBaseline = 1_000

/// CPU time of the best of three boots of a 16 MiB Guest running `syscall_loop` for `calls` calls,
/// with direct traps on or off; fails unless the program made them all.
func timeGuestSystemCalls(_ calls: Int, directTraps: Bool) throws -> Double {
    var options = LaunchOptions(memoryMiB: 16,
                                programs: try Launcher.programs(named: [systemCallProgram], in: GuestPrograms.directory.path),
                                commandLine: "init=\(systemCallProgram)", maximumRestarts: 0)
    options.input = .bytes(Array("\(calls)\n".utf8))
    options.directTraps = directTraps
    var console = ""
    let timing = try bestTiming { console = try Launcher.boot(options).console }
    guard console.contains("getpid gave the same answer \(calls) times of \(calls)") else {
        throw BenchmarkFailure(reason: "\(systemCallProgram) in the Guest did not finish: \(console.suffix(200))")
    }
    // CPU time, which other work on a shared machine does not inflate (`interpreter_ips_cpu`).
    return timing.cpu
}

/// Nanoseconds per system call round trip in the Guest (the loop's few instructions included).
func guestSystemCallNanoseconds(directTraps: Bool) throws -> Double {
    let long = try timeGuestSystemCalls(guestSystemCalls, directTraps: directTraps)
    let short = try timeGuestSystemCalls(guestSystemCallsBaseline, directTraps: directTraps)
    return (long - short) / Double(guestSystemCalls - guestSystemCallsBaseline) * 1e9
}

/// `guest_syscall_direct_ns`: `getpid` from a Guest program, through the direct-trap gate (`H:250`).
func guestSystemCallDirect() throws -> Figure {
    Figure(name: "guest_syscall_direct_ns", value: String(format: "%.0f", try guestSystemCallNanoseconds(directTraps: true)),
           unit: "ns")
}

/// `guest_syscall_reflected_ns`: the same with `--no-direct-traps`: into the Host and reflected.
func guestSystemCallReflected() throws -> Figure {
    Figure(name: "guest_syscall_reflected_ns",
           value: String(format: "%.0f", try guestSystemCallNanoseconds(directTraps: false)), unit: "ns")
}

// MARK: - World switches and hypercalls

/// Operations per timed run of a Host workload: long enough that booting and powering off the
/// synthetic Guest (a few microseconds) vanish in the division.
let hostWorkloadCount = 200_000

/// The best (smallest) of three timings of `kind`, in nanoseconds per operation (`H:050`).
func bestNanoseconds(_ kind: HostWorkload.Kind) -> Double {
    (0 ..< 3).map { _ in HostWorkload.nanosecondsPerOperation(kind, count: hostWorkloadCount) }.min() ?? .infinity
}

/// `world_switch_ns`: one round trip into the Host and back (an empty `FLUSH_ASYNC`), best of three.
func worldSwitch() throws -> Figure {
    Figure(name: "world_switch_ns", value: String(format: "%.0f", bestNanoseconds(.emptyHypercall)), unit: "ns")
}

/// `hypercall_sync_ns`: one synchronous `SET_CLOCKEVENT`, best of three.
func synchronousHypercall() throws -> Figure {
    Figure(name: "hypercall_sync_ns", value: String(format: "%.0f", bestNanoseconds(.hypercall)), unit: "ns")
}

/// `hypercall_async_ns`: the same call through the async ring, best of three.
func asynchronousHypercall() throws -> Figure {
    Figure(name: "hypercall_async_ns", value: String(format: "%.0f", bestNanoseconds(.asyncHypercall)), unit: "ns")
}

// MARK: - Patching

/// Interrupt-flag pv-op pairs (`irqDisable()` then `irqEnable()`) per timed boot of the `G:065`
/// workload, and the smaller run whose time is subtracted so that booting the Guest to INIT and
/// powering it off cancel out.
let pvOpPairs = 2_000_000
let pvOpBaselinePairs = 1_000

/// Wall time of one boot of a real Guest (16 MiB, no programs) that makes `pairs` pv-op pairs with
/// patching on or off and powers off; fails unless it powered off cleanly.
func timePVOpBoot(pairs: Int, patching: Bool) throws -> Double {
    let options = LaunchOptions(configuration: GuestConfiguration(patching: patching, pvOpWorkloadPairs: pairs),
                                maximumRestarts: 0)
    var result: BootResult?
    let timing = try bestTiming(repetitions: 1) { result = try Launcher.boot(options) }
    guard let result, result.exit == .poweredOff("Power down") else {
        throw BenchmarkFailure(reason: "pv-op workload did not power off: \(String(describing: result?.exit))")
    }
    let statistics = result.guestStatistics
    let made = patching ? statistics.patchedPVCalls : statistics.indirectPVCalls
    guard made >= 2 * pairs else {
        throw BenchmarkFailure(reason: "pv-op workload made \(made) calls the expected way, not \(2 * pairs)")
    }
    return timing.wall
}

/// Nanoseconds per interrupt-flag pv-op with patching on or off (`G:050`, `G:065`): the best of three
/// boots of `pvOpPairs` pairs, less the best of three of `pvOpBaselinePairs`, divided by the extra ops.
func pvOpNanoseconds(patching: Bool) throws -> Double {
    let long = try (0 ..< 3).map { _ in try timePVOpBoot(pairs: pvOpPairs, patching: patching) }.min() ?? .infinity
    let short = try (0 ..< 3).map { _ in try timePVOpBoot(pairs: pvOpBaselinePairs, patching: patching) }.min() ?? .infinity
    return (long - short) / Double(2 * (pvOpPairs - pvOpBaselinePairs)) * 1e9
}

/// `pvop_indirect_ns`: one `irq_disable` or `irq_enable` through the pv-ops table, in a real Guest.
func pvOpIndirect() throws -> Figure {
    Figure(name: "pvop_indirect_ns", value: String(format: "%.0f", try pvOpNanoseconds(patching: false)), unit: "ns")
}

/// `pvop_patched_ns`: the same operation through its patched inline template.
func pvOpPatched() throws -> Figure {
    Figure(name: "pvop_patched_ns", value: String(format: "%.0f", try pvOpNanoseconds(patching: true)), unit: "ns")
}

// MARK: - What the Guest's tricks save at boot

/// The boot the four counts come from: what `swift run lguest` booted by default when they were first
/// recorded (16 MiB, the same programs in the same order), before the device programs joined
/// `Launcher.defaultPrograms`; kept so that the recorded counts stay comparable.
let bootPrograms = ["hello", "sieve", "crc32", "recurse", "pages", "syscalls", "fault_null"]

/// The four boot figures of `L:095`, counted once and shared (the counts are deterministic).
nonisolated(unsafe) var bootFigures: Result<[Figure], Error>?

/// The boot figure called `name`, from four boots of the Guest (`Launcher.optimisationFigures`).
func bootFigure(_ name: String) throws -> Figure {
    if bootFigures == nil {
        bootFigures = Result {
            let files = try Launcher.programs(named: bootPrograms, in: GuestPrograms.directory.path)
            let options = LaunchOptions(memoryMiB: 16, programs: files,
                                        commandLine: "init=" + bootPrograms.joined(separator: ","))
            return try Launcher.optimisationFigures(options).map {
                Figure(name: $0.name, value: "\($0.value)", unit: $0.unit)
            }
        }
    }
    guard let figure = try bootFigures?.get().first(where: { $0.name == name }) else {
        throw BenchmarkFailure(reason: "Launcher.optimisationFigures has no \(name)")
    }
    return figure
}

// MARK: - Booting

/// `boot_ms`: wall time of the boot `swift run lguest` makes with no arguments, from reading the
/// programs to the power-off: `Launcher.defaultPrograms` in a 16 MiB Guest with a fresh scratch disk
/// (`L:187`) and no console input, best of three. Only the console's echo to the terminal is missing.
func defaultBootMilliseconds() throws -> Figure {
    let programs = Launcher.defaultPrograms.split(separator: ",").map(String.init)
    let timing = try bestTiming {
        let scratch = try ScratchDisk()
        defer { scratch.remove() }
        _ = try deviceBoot(programs, disk: URL(fileURLWithPath: scratch.path))
    }
    return Figure(name: "boot_ms", value: String(format: "%.1f", timing.wall * 1000), unit: "ms")
}

// MARK: - Devices (D:140-D:174)

/// A zeroed disk image of `bytes` bytes in a fresh temporary file.
func scratchImage(bytes: Int) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lguest-bench-\(getpid())-\(bytes).img")
    try Data(count: bytes).write(to: url)
    return url
}

/// Boot committed `programs` with `disk` and console `input`; fails unless it powers off cleanly.
func deviceBoot(_ programs: [String], disk: URL?, input: String = "") throws -> BootResult {
    var options = LaunchOptions(memoryMiB: 16, programs: try Launcher.programs(named: programs, in: GuestPrograms.directory.path),
                                commandLine: "init=" + programs.joined(separator: ","))
    options.disk = disk.map { DiskOptions(path: $0.path) }
    options.input = .bytes(Array(input.utf8))
    let result = try Launcher.boot(options)
    guard case .poweredOff = result.exit else { throw BenchmarkFailure(reason: "device boot ended \(result.exit)") }
    return result
}

/// The bytes `vdread` reads for the throughput figure.
let throughputDiskBytes = 8 << 20

/// Guest megabytes of /dev/vda read per host second: `vdread` over an 8 MiB image, less a boot of
/// `hello` with the same disk, so boot itself is not counted.
func blockThroughput() throws -> Figure {
    let image = try scratchImage(bytes: throughputDiskBytes)
    defer { try? FileManager.default.removeItem(at: image) }
    var console = ""
    let reading = try bestTiming { console = try deviceBoot(["vdread"], disk: image).console }
    guard console.contains("vdread: \(throughputDiskBytes) bytes") else {
        throw BenchmarkFailure(reason: "vdread did not read the whole disk")
    }
    let baseline = try bestTiming { _ = try deviceBoot(["hello"], disk: image) }
    let seconds = reading.cpu - baseline.cpu
    guard seconds > 0 else { throw BenchmarkFailure(reason: "the read took no measurable time") }
    return Figure(name: "block_read_mb_per_s", value: String(format: "%.1f", Double(throughputDiskBytes) / 1e6 / seconds),
                  unit: "MB/s")
}

/// The device counts of one run of the device programs (cat, disk, hwrng, vdread over 1 MiB), shared.
nonisolated(unsafe) var deviceRun: Result<BootResult, Error>?

/// The run behind the suppression figures.
func deviceCounts() throws -> BootResult {
    if deviceRun == nil {
        deviceRun = Result {
            let image = try scratchImage(bytes: 1 << 20)
            defer { try? FileManager.default.removeItem(at: image) }
            return try deviceBoot(["cat", "disk", "hwrng", "vdread"], disk: image,
                                  input: String(repeating: "a line for cat to copy\n", count: 20))
        }
    }
    guard let run = deviceRun else { throw BenchmarkFailure(reason: "the device run was never made") }
    return try run.get()
}

/// The sum of the device statistic `suffix` over every device of the shared run.
func deviceTotal(_ suffix: String) throws -> UInt64 {
    try deviceCounts().statistics.filter { $0.name.hasPrefix("device.") && $0.name.hasSuffix("." + suffix) }
        .reduce(0) { $0 + $1.value }
}

/// Interrupts the devices raised, and what they would have raised without `noInterrupt` (D:144).
func interruptsWithSuppression() throws -> Figure {
    Figure(name: "device_interrupts_suppressed_run", value: "\(try deviceTotal("interrupts"))", unit: "interrupts")
}

func interruptsWithoutSuppression() throws -> Figure {
    Figure(name: "device_interrupts_unsuppressed_run",
           value: "\(try deviceTotal("interrupts") + deviceTotal("interrupts_suppressed"))", unit: "interrupts")
}

/// Notifications the devices received, and what they would have received without `noNotify`.
func notificationsWithSuppression() throws -> Figure {
    Figure(name: "device_notifications_suppressed_run", value: "\(try deviceTotal("notifications"))", unit: "notifications")
}

func notificationsWithoutSuppression() throws -> Figure {
    Figure(name: "device_notifications_unsuppressed_run",
           value: "\(try deviceTotal("notifications") + deviceTotal("notifications_avoided"))", unit: "notifications")
}

/// Console output through the ring: kicks made, against the NOTIFYs the early console would have
/// made for the same bytes (16 per NOTIFY, G:044; a lower bound, since each write rounds up).
func consoleKicks() throws -> Figure {
    let kicks = try deviceCounts().statistics.first { $0.name == "device.console.notifications" }?.value ?? 0
    return Figure(name: "console_kicks_run", value: "\(kicks)", unit: "notifications")
}

func consoleEarlyEquivalent() throws -> Figure {
    let bytes = try deviceCounts().guestStatistics.consoleDriverBytes
    return Figure(name: "console_early_notifies_equivalent_run", value: "\((bytes + 15) / 16)", unit: "notifications")
}

// MARK: - Helpers

/// The first executable called `name` in the directories of `PATH`.
func findOnPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    return path.split(separator: ":").map { "\($0)/\(name)" }.first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
}

/// Runs `executable` with `input` on stdin, discarding its output; fails unless it exits 0.
func runProcess(_ executable: String, arguments: [String], input: [UInt8]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let stdin = Pipe()
    process.standardInput = stdin
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    stdin.fileHandleForWriting.write(Data(input))
    try stdin.fileHandleForWriting.close()
    process.waitUntilExit()
    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
        throw BenchmarkFailure(reason: "\(executable) failed with status \(process.terminationStatus)")
    }
}

// MARK: - Lazy FPU switching (G:049)

/// The turns each process of the FPU workloads takes: the series programs and yield_loop read it.
let fpuWorkloadTerms = 2_000

/// One FPU workload: `programs` run together, each yielding `fpuWorkloadTerms` times, with lazy or
/// eager FPU switching; the best CPU time of three boots and the last boot's counts.
func fpuWorkload(_ programs: [String], lazy: Bool) throws -> (seconds: Double, result: BootResult) {
    var files = try Launcher.programs(named: programs, in: GuestPrograms.directory.path)
    for name in programs { files.append(InitrdFile(name: name + ".in", bytes: Array("\(fpuWorkloadTerms)\n".utf8))) }
    var configuration = GuestConfiguration()
    configuration.lazyFPU = lazy
    let options = LaunchOptions(memoryMiB: 16, programs: files, commandLine: "init=" + programs.joined(separator: "+"),
                                configuration: configuration)
    var last: BootResult?
    let timing = try bestTiming {
        let result = try Launcher.boot(options)
        guard case .poweredOff = result.exit else { throw BenchmarkFailure(reason: "fpu workload ended \(result.exit)") }
        last = result
    }
    guard let last else { throw BenchmarkFailure(reason: "fpu workload never ran") }
    return (timing.cpu, last)
}

/// The four FPU workloads, measured once: one FPU user beside an integer neighbour, and two FPU users.
nonisolated(unsafe) var fpuWorkloads: Result<[String: (seconds: Double, result: BootResult)], Error>?

/// The FPU figure `name` (`fpu_<lazy|eager>_<one|two>_<what>`), measuring the workloads on first use.
func fpuFigure(_ name: String) throws -> Figure {
    if fpuWorkloads == nil {
        fpuWorkloads = Result {
            var runs: [String: (seconds: Double, result: BootResult)] = [:]
            for lazy in [true, false] {
                let mode = lazy ? "lazy" : "eager"
                runs["\(mode)_one"] = try fpuWorkload(["fpu_harmonic", "yield_loop"], lazy: lazy)
                runs["\(mode)_two"] = try fpuWorkload(["fpu_harmonic", "fpu_squares"], lazy: lazy)
            }
            return runs
        }
    }
    let parts = name.split(separator: "_")
    guard parts.count >= 4, let run = try fpuWorkloads?.get()["\(parts[1])_\(parts[2])"] else {
        throw BenchmarkFailure(reason: "no FPU workload for \(name)")
    }
    let stats = run.result.guestStatistics
    switch parts[3...].joined(separator: "_") {
    case "cpu_ms": return Figure(name: name, value: String(format: "%.1f", run.seconds * 1000), unit: "ms")
    case "traps": return Figure(name: name, value: "\(stats.fpuTraps)", unit: "traps")
    case "moves": return Figure(name: name, value: "\(stats.fpuSaves + stats.fpuRestores)", unit: "saves+restores")
    case "switches":
        let switches = run.result.statistics.first { $0.name == "world_switches" }?.value ?? 0
        return Figure(name: name, value: "\(switches)", unit: "world switches")
    default: throw BenchmarkFailure(reason: "unknown FPU figure \(name)")
    }
}

// MARK: - Main

/// The figures in the order they are printed: the name a note uses, and the
/// function that measures it.
let figures: [(name: String, measure: () throws -> Figure)] = [
    ("interpreter_ips", { try instructionsPerSecond(computeWorkload, name: "interpreter_ips") }),
    ("interpreter_ips_cpu", interpreterInstructionsPerCPUSecond),
    ("interpreter_workload", interpreterWorkload),
    ("qemu_ratio", { try qemuRatio(computeWorkload, name: "qemu_ratio") }),
    ("interpreter_mix_ips", { try instructionsPerSecond(mixWorkload, name: "interpreter_mix_ips") }),
    ("qemu_ratio_mix", { try qemuRatio(mixWorkload, name: "qemu_ratio_mix") }),
    ("cache_speedup_crc32", { try cacheSpeedup(computeWorkload, name: "cache_speedup_crc32") }),
    ("cache_speedup_mix", { try cacheSpeedup(mixWorkload, name: "cache_speedup_mix") }),
    ("boot_ms", defaultBootMilliseconds),
    ("syscall_roundtrip_ns", systemCallRoundTrip),
    ("native_syscall_roundtrip_ns", nativeSystemCallRoundTrip),
    ("guest_syscall_direct_ns", guestSystemCallDirect),
    ("guest_syscall_reflected_ns", guestSystemCallReflected),
    ("world_switch_ns", worldSwitch),
    ("hypercall_sync_ns", synchronousHypercall),
    ("hypercall_async_ns", asynchronousHypercall),
    ("pvop_indirect_ns", pvOpIndirect),
    ("pvop_patched_ns", pvOpPatched),
    ("boot_switches_lazy", { try bootFigure("boot_switches_lazy") }),
    ("boot_switches_eager", { try bootFigure("boot_switches_eager") }),
    ("boot_flushes_cr3_trick", { try bootFigure("boot_flushes_cr3_trick") }),
    ("boot_flushes_no_trick", { try bootFigure("boot_flushes_no_trick") }),
    ("block_read_mb_per_s", blockThroughput),
    ("device_interrupts_suppressed_run", interruptsWithSuppression),
    ("device_interrupts_unsuppressed_run", interruptsWithoutSuppression),
    ("device_notifications_suppressed_run", notificationsWithSuppression),
    ("device_notifications_unsuppressed_run", notificationsWithoutSuppression),
    ("console_kicks_run", consoleKicks),
    ("console_early_notifies_equivalent_run", consoleEarlyEquivalent),
] + ["lazy", "eager"].flatMap { mode in
    ["one", "two"].flatMap { users in
        ["cpu_ms", "traps", "moves", "switches"].map { what in
            let name = "fpu_\(mode)_\(users)_\(what)"
            return (name: name, measure: { try fpuFigure(name) })
        }
    }
}

/// Figures named on the command line, if any, restrict the run to those (`lguest-bench world_switch_ns`).
let wanted = Set(CommandLine.arguments.dropFirst())
var failed = false
for figure in figures where wanted.isEmpty || wanted.contains(figure.name) {
    do {
        let result = try figure.measure()
        print("\(result.name) \(result.value) \(result.unit)")
    } catch let skipped as Skipped {
        FileHandle.standardError.write(Data("lguest-bench: \(figure.name) skipped: \(skipped.reason)\n".utf8))
    } catch {
        FileHandle.standardError.write(Data("lguest-bench: \(figure.name) failed: \(error)\n".utf8))
        failed = true
    }
}
exit(failed ? 1 : 0)
