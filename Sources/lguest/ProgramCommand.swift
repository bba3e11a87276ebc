import ArgumentParser
import Foundation
import Machine

/// `lguest program`: one i386 Linux program on the bare machine of Appendix X,
/// under the `ProgramRunner`'s stand-in kernel instead of the Guest. It prints
/// what the program wrote and, on request, what the machine counted.
struct ProgramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "program",
        abstract: "Run one i386 Linux program on the bare emulated machine, without the Guest.",
        discussion: """
            Everything after the program is its arguments (argv[1...]), so options for lguest go \
            before it: 'lguest program --stats PATH ARG...'. The program starts as Linux starts it, \
            with argv, envp and the auxiliary vector on its stack. \
            The program's standard output and standard error pass through; a line on standard error \
            reports how it ended. The exit status is the program's own, or 128 + the signal that \
            killed it, or 124 when the instruction budget runs out.
            """)

    @Argument(help: "A committed guest program (see --list) or a path to an i386 ELF file.")
    var program = "hello"

    @Argument(parsing: .captureForPassthrough, help: "The program's arguments, argv[1...].")
    var arguments: [String] = []

    @Option(name: .customLong("env"), help: ArgumentHelp(
        "An environment variable for the program, NAME=value (repeatable; default: none).", valueName: "NAME=value"))
    var environment: [String] = []

    @Option(name: .long, help: "The text the program reads from standard input (default: none).")
    var input = ""

    @Flag(name: .long, help: "After the run, print the machine's statistics, one 'name value' per line.")
    var stats = false

    @Flag(name: .long, help: "Trace every instruction and every system call on standard error.")
    var trace = false

    @Flag(name: .long, help: """
        Decode every instruction afresh instead of keeping decoded ones in the code cache \
        (the same output and counts, only slower).
        """)
    var noCodeCache = false

    @Option(name: .long, help: "Stop the program after this many instructions.")
    var maxInstructions: UInt64 = 4_000_000_000

    @Flag(name: .long, help: "List the committed guest programs and exit.")
    var list = false

    func run() throws {
        if list {
            print(GuestPrograms.names.joined(separator: "\n"))
            return
        }
        let image: ELFImage
        do {
            image = try GuestPrograms.load(program)
        } catch {
            throw LguestError(message: "\(error)")
        }
        let name = program.split(separator: "/").last.map(String.init) ?? program
        let runner = try ProgramRunner(image: image, input: Array(input.utf8), programName: program,
                                       arguments: arguments, environment: environment)
        runner.machine.codeCacheEnabled = !noCodeCache
        if trace { runner.trace = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } }
        let result = runner.run(maxInstructions: maxInstructions)
        FileHandle.standardOutput.write(Data(result.output))
        FileHandle.standardError.write(Data(result.errorOutput))
        if stats { FileHandle.standardOutput.write(Data((Self.statisticsLines(result).joined(separator: "\n") + "\n").utf8)) }
        let detail = result.faultDescription.map { ": \($0)" } ?? ""
        FileHandle.standardError.write(Data("lguest: \(name) \(result.termination)\(detail)\n".utf8))
        let status = Self.exitStatus(result.termination)
        if status != 0 { throw ExitCode(status) }
    }

    /// The statistics as `name value` lines.
    static func statisticsLines(_ result: ProgramResult) -> [String] {
        let counters = result.statistics
        let exceptions = counters.deliveries.prefix(32).reduce(0, +)
        var lines = [
            "instructions \(counters.instructions)",
            "page_walks \(counters.pageWalks)",
            "tlb_hits \(counters.tlbHits)",
            "tlb_misses \(counters.tlbMisses)",
            "tlb_flushes \(counters.tlbFlushes)",
            "code_cache_blocks \(counters.codeCacheBlocks)",
            "code_cache_flushes \(counters.codeCacheFlushes)",
            "exceptions \(exceptions)",
        ]
        for (vector, count) in counters.deliveries.enumerated() where count > 0 {
            lines.append("deliveries_vector_\(vector) \(count)")
        }
        lines += [
            "system_calls \(result.systemCalls)",
            "demand_faults \(result.demandFaults)",
            "unknown_system_calls \(result.unknownSystemCalls)",
            "virtual_time_ns \(result.virtualTime)",
        ]
        return lines
    }

    /// The shell's convention: the status itself, or 128 + the signal.
    static func exitStatus(_ termination: Termination) -> Int32 {
        switch termination {
        case let .exited(status): Int32(status)
        case let .killed(signal): 128 + signal.rawValue
        case .budgetExhausted: 124
        case .machineStopped: 125
        }
    }
}

/// A problem with what the user asked for (a missing or malformed program):
/// printed as `Error: message`, exit status 1.
struct LguestError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
