import ArgumentParser
import Foundation
import Guest
import Launcher
import Machine

/// `swift run lguest`: the project's front door.
///
/// By default it does what lguest's Launcher did: boots the Guest kernel under the Host, prints
/// everything the Guest prints on its console, and exits when the Guest powers off. The Guest runs
/// the committed i386 programs named by `--programs` from its initial ramdisk.
@main
struct Lguest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lguest",
        abstract: "Boot the paravirtualized Guest under the Host and print its console.",
        subcommands: [BootCommand.self, ProgramCommand.self],
        defaultSubcommand: BootCommand.self)
}

/// `lguest boot`, the default: the Launcher's whole job.
struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot the Guest, run its programs, and exit when it powers off.",
        discussion: """
            The exit status is 0 when the Guest powers off or asks to restart, and 1 when the Host \
            kills it. Each program's own status is on the Guest's console.
            """)

    /// What the Guest runs when nobody says otherwise: a greeting, real work, a deep stack, a
    /// growing heap, every system call, and one program that dies on purpose.
    static let defaultPrograms = "hello,sieve,crc32,recurse,pages,syscalls,fault_null"

    @Option(name: .long, help: """
        The programs to run, in order, from programs/bin (see 'lguest program --list'); \
        join names with + to run them at the same time: hello,sieve+crc32.
        """)
    var programs = defaultPrograms

    @Option(name: .long, help: "The Guest's memory in MiB (4...512).")
    var memory = 16

    @Flag(name: .long, help: "After the Guest stops, print the Host's counts, one 'name value' per line.")
    var stats = false

    @Flag(name: .long, help: "Make every lazy hypercall synchronous (to see what lazy mode saves).")
    var noLazy = false

    @Flag(name: .long, help: "Flush the whole TLB on every page-table change (no cr3_changed trick).")
    var noCr3Trick = false

    func validate() throws {
        guard (4...512).contains(memory) else { throw ValidationError("--memory must be 4...512 MiB, not \(memory)") }
        guard !programNames.isEmpty else { throw ValidationError("--programs names no program") }
    }

    /// Every program named, once each, in order of first mention.
    var programNames: [String] {
        var seen = Set<String>()
        return programs.split(whereSeparator: { $0 == "," || $0 == "+" }).map(String.init)
            .filter { seen.insert($0).inserted }
    }

    func run() throws {
        var configuration = GuestConfiguration()
        configuration.lazyMode = !noLazy
        configuration.cr3ChangedTrick = !noCr3Trick
        let result: BootResult
        do {
            let files = try Launcher.programs(named: programNames, in: GuestPrograms.directory.path)
            let options = LaunchOptions(memoryMiB: memory, programs: files, commandLine: "init=\(programs)",
                                        configuration: configuration)
            result = try Launcher.boot(options, echo: { text in
                FileHandle.standardOutput.write(Data(text.utf8))
            })
        } catch {
            FileHandle.standardError.write(Data("lguest: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if stats {
            let lines = result.statistics.map { "\($0.name) \($0.value)\n" }.joined()
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
        if result.exitStatus != 0 {
            FileHandle.standardError.write(Data("lguest: guest \(result.exit)\n".utf8))
            throw ExitCode(result.exitStatus)
        }
    }
}
