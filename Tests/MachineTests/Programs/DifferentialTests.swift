import Foundation
import Testing
@testable import Machine

// The differential test (X:895): every committed guest program runs twice,
// natively on the host's Linux and in the interpreter under the
// ProgramRunner, with the same input; output and exit status (or the
// signal) must match byte for byte. x86-64 Linux runs static i386 programs
// directly; where the host refuses (no IA-32 emulation in its kernel, say),
// each case is cancelled with the reason the host gave.

/// What a program printed and how it ended, in either world.
struct ObservedRun: Equatable, CustomStringConvertible {
    let output: [UInt8]
    let termination: Termination

    var description: String {
        "\(termination), output:\n" + String(decoding: output, as: UTF8.self)
    }
}

/// The inputs the programs read; small, so that debug builds stay fast.
let differentialInputs: [String: String] = [
    "crc32": "2\n",
    "mix": "2\n",
    "sieve": "5000\n",
    "recurse": "2000\n",
    "pages": "64\n",
    "syscalls": "a line of input\n",
    "syscall_loop": "50\n",
    "cat": "two\nlines\n",
    "fpu": "40\n",
]

enum NativeRun {
    /// Runs `program` on the host with `input` on stdin.
    ///
    /// A file that was just written may still be open for writing in a child
    /// that another test thread forked at that moment (until that child
    /// execs), and Linux refuses to execute it ("Text file busy"); such a
    /// launch is retried a few times.
    static func run(_ program: URL, input: [UInt8]) throws -> ObservedRun {
        var attempt = 0
        while true {
            do {
                return try runOnce(program, input: input)
            } catch let error as NSError where attempt < 50 && isTextFileBusy(error) {
                attempt += 1
                usleep(20_000)
            }
        }
    }

    private static func isTextFileBusy(_ error: NSError) -> Bool {
        let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError
        return [error, underlying].contains { $0?.domain == NSPOSIXErrorDomain && $0?.code == Int(ETXTBSY) }
    }

    private static func runOnce(_ program: URL, input: [UInt8]) throws -> ObservedRun {
        let process = Process()
        process.executableURL = program
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let termination: Termination
        switch process.terminationReason {
        case .exit:
            termination = .exited(status: UInt8(truncatingIfNeeded: process.terminationStatus))
        case .uncaughtSignal:
            guard let signal = Signal(rawValue: process.terminationStatus) else {
                return ObservedRun(output: [UInt8](output), termination: .machineStopped(
                    reason: "native run killed by unexpected signal \(process.terminationStatus)"))
            }
            termination = .killed(signal)
        @unknown default:
            termination = .machineStopped(reason: "native run ended in an unknown way")
        }
        return ObservedRun(output: [UInt8](output), termination: termination)
    }

    /// Nil when the host runs i386 programs; otherwise why it does not.
    static let refusal: String? = {
        do {
            let run = try run(GuestPrograms.url(named: "hello"), input: [])
            guard run.termination == .exited(status: 0) else {
                return "the host ran hello, but it ended with \(run.termination)"
            }
            return nil
        } catch {
            return "the host cannot execute i386 programs: \(error)"
        }
    }()
}

func emulatedRun(_ name: String, input: [UInt8]) throws -> ObservedRun {
    let runner = try ProgramRunner(image: GuestPrograms.load(name), input: input, programName: name)
    let result = runner.run(maxInstructions: 200_000_000)
    return ObservedRun(output: result.output, termination: result.termination)
}

@Test(arguments: GuestPrograms.names.filter { !GuestPrograms.guestOnly.contains($0) && !GuestPrograms.neverEnding.contains($0) })
func x895_programMatchesNativeRun(_ name: String) throws {
    if let refusal = NativeRun.refusal { try Test.cancel(Comment(rawValue: refusal)) }
    let input = Array((differentialInputs[name] ?? "").utf8)
    let native = try NativeRun.run(GuestPrograms.url(named: name), input: input)
    let emulated = try emulatedRun(name, input: input)
    #expect(emulated == native, "\(name): interpreter \(emulated)\nnative \(native)")
}

/// More inputs per program, each small: edge cases of the programs' own logic
/// (zero, one, buffer-sized lines) that must agree with Linux too.
let differentialSweep: [(program: String, input: String)] =
    ["0", "1", "2", "3", "10", "100", "1000", "not a number"].map { ("sieve", $0) }
    + ["0", "1", "10", "100"].map { ("recurse", $0) }
    + ["0", "1", "2", "17"].map { ("pages", $0) }
    + ["0", "1"].map { ("crc32", $0) }
    + ["0", "3"].map { ("mix", $0) }
    + ["0", "1"].map { ("syscall_loop", $0) }
    + ["", "x", String(repeating: "0123456789", count: 7)].map { ("syscalls", $0) }

@Test(arguments: differentialSweep.indices)
func x895_inputSweepMatchesNativeRun(_ index: Int) throws {
    if let refusal = NativeRun.refusal { try Test.cancel(Comment(rawValue: refusal)) }
    let (name, text) = differentialSweep[index]
    let input = Array(text.utf8)
    let native = try NativeRun.run(GuestPrograms.url(named: name), input: input)
    let emulated = try emulatedRun(name, input: input)
    #expect(emulated == native, "\(name) with input \"\(text)\": interpreter \(emulated)\nnative \(native)")
}

@Test func x899_committedProgramsMatchTheirSources() throws {
    // Rebuild every program into a scratch directory with programs/build and
    // compare bytes: the committed files must be what their sources make.
    let checkout = GuestPrograms.directory.deletingLastPathComponent().deletingLastPathComponent()
    let recorded = try String(contentsOf: checkout.appendingPathComponent("programs/compiler-version"), encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    let installed = compilerVersion()
    if installed != recorded {
        try Test.cancel(Comment(rawValue: "the programs were built by \(recorded), this machine has \(installed ?? "no gcc")"))
    }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("x899-programs-\(getpid())")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let process = Process()
    process.executableURL = checkout.appendingPathComponent("programs/build")
    process.environment = ProcessInfo.processInfo.environment.merging(["OUT_DIR": scratch.path]) { $1 }
    process.standardOutput = FileHandle.nullDevice
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    if process.terminationStatus != 0 {
        try Test.cancel(Comment(rawValue: "cannot build i386 programs here (gcc -m32 needs gcc-multilib): \(message)"))
    }
    for name in GuestPrograms.names {
        let rebuilt = FileManager.default.contents(atPath: scratch.appendingPathComponent(name).path)
        let committed = FileManager.default.contents(atPath: GuestPrograms.url(named: name).path)
        #expect(rebuilt != nil && rebuilt == committed, "\(name) differs from what programs/build makes of its source")
    }
}

/// The first line of `gcc --version`, or nil without a gcc.
private func compilerVersion() -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gcc", "--version"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return text.split(separator: "\n").first.map(String.init)
}
