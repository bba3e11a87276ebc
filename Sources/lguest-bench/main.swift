// lguest-bench: the project's benchmarks, one figure per line as `name value unit`.
//
// Run it as a release build (`swift run -c release lguest-bench`); a debug
// build measures the compiler's checks, not the machine. Figures go to
// standard output; notes (skipped figures and why) go to standard error.
// Each figure is one small function below, listed in `figures`; add yours there.
// Wall-clock time is fine here and nowhere else: tests never time anything.

import Foundation
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

/// The compute workload: the `crc32` guest program and the number of rounds
/// it reads from stdin. At about 294,000 instructions a round, 1,000 rounds
/// are some 294 million instructions: long enough to time, short enough to
/// run three times.
let computeProgram = "crc32"
let computeInput = Array("1000\n".utf8)
let repetitions = 3

/// The best (shortest) of `repetitions` timings of `body`, in seconds.
func bestTime(_ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0 ..< repetitions {
        let clock = ContinuousClock()
        let elapsed = try clock.measure(body)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        best = min(best, seconds)
    }
    return best
}

/// Runs the compute program once in the interpreter; returns its instruction count.
func runComputeInInterpreter() throws -> UInt64 {
    let image = try GuestPrograms.load(computeProgram)
    let runner = try ProgramRunner(image: image, input: computeInput, programName: computeProgram)
    let result = runner.run()
    guard result.termination == .exited(status: 0) else {
        throw BenchmarkFailure(reason: "\(computeProgram) did not finish in the interpreter: \(result.termination)")
    }
    return result.statistics.instructions
}

/// The interpreter's best time on the compute program and the instructions
/// one run executes, measured once and shared by the figures that need them.
nonisolated(unsafe) var interpreterSeconds: Double?
nonisolated(unsafe) var computeInstructions: UInt64?

/// `interpreter_ips`: guest instructions per second on the compute program,
/// MMU and TLB in the path, best of three runs.
func interpreterInstructionsPerSecond() throws -> Figure {
    var instructions: UInt64 = 0
    let seconds = try bestTime { instructions = try runComputeInInterpreter() }
    interpreterSeconds = seconds
    computeInstructions = instructions
    let rate = Double(instructions) / seconds
    return Figure(name: "interpreter_ips", value: String(format: "%.0f", rate), unit: "instructions/s")
}

/// `interpreter_workload`: the guest instructions of one compute run, so the
/// rate above can be read against the work behind it.
func interpreterWorkload() throws -> Figure {
    guard let instructions = computeInstructions else { throw Skipped(reason: "interpreter_ips was not measured") }
    return Figure(name: "interpreter_workload", value: "\(instructions)", unit: "instructions")
}

/// `qemu_ratio`: our time on the compute program divided by qemu-i386's
/// (a JIT translator) on the same program and input, best of three each.
func qemuRatio() throws -> Figure {
    guard let qemu = findOnPath("qemu-i386") else {
        throw Skipped(reason: "qemu-i386 is not on PATH (Debian: apt-get install qemu-user)")
    }
    guard let ours = interpreterSeconds else { throw Skipped(reason: "interpreter_ips was not measured") }
    let program = GuestPrograms.url(named: computeProgram).path
    let theirs = try bestTime { try runProcess(qemu, arguments: [program], input: computeInput) }
    return Figure(name: "qemu_ratio", value: String(format: "%.2f", ours / theirs), unit: "x")
}

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

/// The figures in the order they are printed: the name a skip note uses, and
/// the function that measures it.
let figures: [(name: String, measure: () throws -> Figure)] = [
    ("interpreter_ips", interpreterInstructionsPerSecond),
    ("interpreter_workload", interpreterWorkload),
    ("qemu_ratio", qemuRatio),
]

var failed = false
for figure in figures {
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
