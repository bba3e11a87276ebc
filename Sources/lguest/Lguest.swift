import ArgumentParser
import Foundation
import Synchronization
import Guest
import Launcher
import Machine

/*L:100 The front door.

Everything in this chapter so far is a library; a person meets it through one command. lguest's own
Launcher was a single C program whose `main()` read a handful of options, set up memory and devices,
and then sat in the run loop for the rest of the Guest's life. Ours is the same shape, split so that
the tests can drive each part: `swift run lguest` parses the options, asks the Launcher to read the
programs (`L:050`), boots (`L:040`), prints the Guest's console as it appears, and turns the way the
Guest stopped into an exit status a shell understands.

Two rules decide what a user sees when something goes wrong. A mistake in *what we were asked*, such
as a memory size no Guest can have or a program that is not there, is refused before anything boots,
with a one-line message and a non-zero status: it is not the Guest's fault. A Guest that misbehaves
after it starts is a different story: the Host kills it with a reason (`H:025`), the console shows how
far it got, and the status is 1.

Here is what a user sees, drawn by running the machine as this book was woven (`W:450`): the Guest's
boot messages, the devices the Launcher offered it (`L:190`), one program and its exit, and the
power-off that ends the run.

```lguest-run --programs hello
```

The bare machine of Appendix X is still here too, as `lguest program NAME`: one i386 program under the
stand-in kernel of `X:850`, with no Guest and no Host. Comparing the two runs of the same program is a
good way to see what the Guest kernel adds. */

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

    /// What the Guest runs when nobody says otherwise (`Launcher.defaultPrograms`); the console's
    /// input is `--input` or else empty.
    static let defaultPrograms = Launcher.defaultPrograms

    @Option(name: .long, help: """
        The programs to run, in order, from programs/bin (see 'lguest program --list') or named by \
        their paths; join names with + to run them at the same time: hello,sieve+crc32.
        """)
    var programs = defaultPrograms

    @Option(name: .customLong("arguments"), help: ArgumentHelp("""
        Arguments for one of the programs, as NAME=ARG ARG...: split at spaces into argv[1...] of \
        program NAME (its file name). Repeat the option for more programs: \
        --arguments 'busybox=echo hi' --arguments 'hello=x'.
        """, valueName: "NAME=ARGS"))
    var arguments: [String] = []

    // Unconditional, so that `--memory -1` is read as the number it is and refused for its value,
    // rather than mistaken for an option and reported as a missing value.
    @Option(name: .long, parsing: .unconditional, help: "The Guest's memory in MiB (4...512).")
    var memory = 16

    @Option(name: .long, help: """
        Stop the Guest after this many seconds of virtual time (exit status 124); \
        virtual time makes the stopping point the same on every run.
        """)
    var timeLimit: Double?

    @Flag(name: .long, help: "After the Guest stops, print the Host's counts, one 'name value' per line.")
    var stats = false

    @Flag(name: .long, help: "Make every lazy hypercall synchronous (to see what lazy mode saves).")
    var noLazy = false

    @Flag(name: .long, help: "Flush the whole TLB on every page-table change (no cr3_changed trick).")
    var noCr3Trick = false

    @Flag(name: .long, help: "Send every trap through the Host, system calls included (to see what direct traps save).")
    var noDirectTraps = false

    @Flag(name: .long, help: """
        Decode every instruction afresh instead of keeping decoded ones in the code cache \
        (the same output and counts, only slower: the reference the cache must match).
        """)
    var noCodeCache = false

    @Option(name: .long, help: ArgumentHelp("""
        Write a Chrome trace-event file of the boot in virtual time, for Perfetto or chrome://tracing.
        """, valueName: "file"))
    var traceOut: String?

    /*:*/

    /*L:102 The devices' options.

    Six options set up the devices of `L:190`. `--disk PATH` names the block device's image,
    `--disk-read-only` serves it without ever changing it, and `--disk-latency NS` makes each of its
    answers take that long in virtual time (`L:222`); without `--disk` the front door makes a
    scratch image of its own (`L:187`), so the default run still has a disk. `--input TEXT` is what the
    Guest's programs read on the console, or `--stdin` passes the Launcher's own standard input through;
    with neither, a program that reads finds end of file at once. `--rng-seed N` seeds the rng device
    (`L:199`).

    Every mistake is refused before the Guest boots, with a line on standard error and a non-zero status:
    a seed that is not a number from 0 to 2^64 - 1 (the argument parser says so), both `--input` and
    `--stdin`, `--disk-read-only` without a disk, and any disk image `DiskImage` refuses (`L:186`). */

    @Option(name: .long, help: ArgumentHelp("""
        The disk image the Guest's block device serves: a file of whole 512-byte sectors. The Guest's \
        writes go to it at once. Without --disk, a small scratch image is made and removed afterwards.
        """, valueName: "path"))
    var disk: String?

    @Flag(name: .long, help: "Serve --disk read-only: the Guest's writes fail with an I/O error and the file is never changed.")
    var diskReadOnly = false

    @Option(name: .long, help: ArgumentHelp("""
        How long the disk takes to answer each request, in virtual nanoseconds (0: at once).
        """, valueName: "ns"))
    var diskLatency: UInt64 = 0

    @Option(name: .long, help: ArgumentHelp("The console's input: these bytes, then end of file.", valueName: "text"))
    var input: String?

    @Flag(name: .long, help: "Take the console's input from standard input instead, read only when the Guest asks.")
    var stdin = false

    @Option(name: .long, help: ArgumentHelp("""
        The seed of the rng device's generator, 0...18446744073709551615 (the same seed gives the same bytes).
        """, valueName: "n"))
    var rngSeed: UInt64 = RandomDevice.defaultSeed
    /*:*/

    /*L:104 From options to a boot.

    `validate()` is the argument parser's hook for mistakes it cannot see by itself: options that
    contradict each other, or a value out of range. `run()` then does the Launcher's whole job in order:
    read the programs, turn the options into `LaunchOptions`, make the scratch disk if no `--disk` was
    given (a `defer` removes it however the boot ends, even when `Launcher.boot` throws), boot with the
    console echoed to standard output, and finally print the counts and turn the Guest's end into an exit
    status.

    The `--no-...` flags each turn one optimisation off, so that a reader can see what it is worth:
    `--no-lazy` and `--no-cr3-trick` reach the Guest's configuration, `--no-direct-traps` the Host, and
    `--no-code-cache` the machine itself, which then decodes every instruction afresh instead of reusing
    what its code cache (Appendix X) kept. That last one must change nothing anybody can see but the wall
    clock: not a byte of the console, not one count of instructions. So it is the one flag whose test
    demands identical transcripts, and whose worth is measured in BENCHMARKS.md, not in counts. */

    func validate() throws {
        guard !(input != nil && stdin) else { throw ValidationError("--input and --stdin cannot be used together") }
        guard disk != nil || !diskReadOnly else { throw ValidationError("--disk-read-only needs --disk") }
        guard (4...512).contains(memory) else { throw ValidationError("--memory must be 4...512 MiB, not \(memory)") }
        guard !programNames.isEmpty else { throw ValidationError("--programs names no program") }
        if let timeLimit {
            guard timeLimit.isFinite, timeLimit > 0, timeLimit <= 1_000_000 else {
                throw ValidationError("--time-limit must be a number of seconds above 0 and at most 1000000, not \(timeLimit)")
            }
        }
    }

    /// The `NAME.args` files of `--arguments` (`G:098`): one argument per line.
    func argumentFiles() throws -> [InitrdFile] {
        try arguments.map { option in
            guard let equals = option.firstIndex(of: "="), equals != option.startIndex else {
                throw ValidationError("--arguments wants NAME=ARGS, not '\(option)'")
            }
            let name = String(option[..<equals]).split(separator: "/").last.map(String.init) ?? ""
            let words = option[option.index(after: equals)...].split(separator: " ").map(String.init)
            return InitrdFile(name: name + ".args", bytes: Array(words.joined(separator: "\n").utf8))
        }
    }

    /// The kernel's `init=` script: `--programs` with each path cut to the program's name, which is
    /// what the program is called in the Guest's ramdisk (`L:050`).
    var initScript: String {
        var script = ""
        var token = ""
        for character in programs + "," {
            if character == "," || character == "+" {
                script += (token as NSString).lastPathComponent
                script.append(character)
                token = ""
            } else {
                token.append(character)
            }
        }
        return String(script.dropLast())
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
            // A trace file we could not write is a mistake to hear about before the boot, not after.
            let traceFile = try traceOut.map { path throws(TraceFileError) in try TraceFile(path: path) }
            let files = try Launcher.programs(named: programNames, in: GuestPrograms.directory.path)
                + argumentFiles()
            var options = LaunchOptions(memoryMiB: memory, programs: files, commandLine: "init=\(initScript)",
                                        configuration: configuration)
            options.timeLimit = timeLimit.map { UInt64(($0 * 1e9).rounded()) }
            options.interruptRequested = Interruption.install()
            options.input = stdin ? .standardInput : .bytes(Array((input ?? "").utf8))
            options.rngSeed = rngSeed
            options.diskLatency = diskLatency
            options.directTraps = !noDirectTraps
            options.codeCache = !noCodeCache
            options.recordsTrace = traceFile != nil
            // Without --disk, a scratch image of our own, removed however the boot ends (`L:187`).
            let scratch = disk == nil ? try ScratchDisk() : nil
            defer { scratch?.remove() }
            options.disk = DiskOptions(path: disk ?? scratch?.path ?? "", readOnly: diskReadOnly)
            result = try Launcher.boot(options, echo: { text in
                FileHandle.standardOutput.write(Data(text.utf8))
            })
            if let traceFile, let trace = result.trace { try traceFile.write(trace.json) }
        } catch {
            FileHandle.standardError.write(Data("lguest: \(error)\n".utf8))
            throw ExitCode(1)
        }
        // Ctrl-C asks for the counts so far, whether or not --stats did.
        if stats || result.stoppedBy == .interrupted {
            let lines = result.statistics.map { "\($0.name) \($0.value)\n" }.joined()
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
        if result.exitStatus != 0 {
            FileHandle.standardError.write(Data("lguest: guest \(result.exit)\n".utf8))
            throw ExitCode(result.exitStatus)
        }
    }
}
/*:*/

/*L:105 The trace file.

`--trace-out FILE` is checked before the Guest boots: the file is created (or emptied) at once, so a
directory that does not exist or a file we may not write is a one-line error and status 1 before any
time is spent booting. The trace is written when the boot is over, however it ended: the trace of a
Guest that was killed is the one most worth reading. */

/// Why the trace file could not be written.
struct TraceFileError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "trace: cannot write \(path): \(reason)" }
}

/// The file `--trace-out` names, opened for writing before the boot.
struct TraceFile {
    let handle: FileHandle
    let path: String

    /// Creates or empties the file at `path`, or says why it cannot.
    init(path: String) throws(TraceFileError) {
        self.path = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw TraceFileError(path: path, reason: "it is a directory")
        }
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path)
        else { throw TraceFileError(path: path, reason: "cannot create the file (does its directory exist?)") }
        self.handle = handle
    }

    /// Writes `text` as the file's whole contents.
    func write(_ text: String) throws(TraceFileError) {
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.close()
        } catch {
            throw TraceFileError(path: path, reason: "\(error)")
        }
    }
}
/*:*/

/*L:106 Ctrl-C, safely.

A signal arrives at any instruction of the host process, in the middle of whatever the Host is doing,
so a signal handler may do almost nothing: certainly not stop a Guest, print, or allocate. Ours stores
`true` in an atomic flag and returns. The Launcher's `stopCheck` reads the flag before each switch into
the Guest (`L:045`), which is a moment when the Host is between two things and stopping is safe. A
second Ctrl-C finds the handler gone (it resets itself to the default action), so a person who really
wants the process dead gets that too. */

/// The SIGINT flag and the handler that raises it.
enum Interruption {
    /// Raised by the handler; read by the Launcher between world switches.
    static let requested = Atomic<Bool>(false)

    /// Installs the handler (once: the second Ctrl-C gets the default action) and returns the check.
    static func install() -> @Sendable () -> Bool {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in Interruption.requested.store(true, ordering: .relaxed) }
        action.sa_flags = Int32(truncatingIfNeeded: SA_RESETHAND)
        sigemptyset(&action.sa_mask)
        sigaction(SIGINT, &action, nil)
        // A process inherits its parent's blocked signals: a parent that blocks SIGINT in all its
        // threads (test runners do) would leave Ctrl-C pending here for ever. We asked for it: unblock it.
        var interrupt = sigset_t()
        sigemptyset(&interrupt)
        sigaddset(&interrupt, SIGINT)
        sigprocmask(SIG_UNBLOCK, &interrupt, nil)
        return { Interruption.requested.load(ordering: .relaxed) }
    }
}
/*:*/

/*M:999 Farewell.

That is the whole of it: a machine, a Switcher, a Host, a Guest, its drivers and the Launcher that
ties them together, each small enough to hold in your head. You have seen how little a hypervisor
needs when the Guest is willing to cooperate, and how much care goes into not trusting it anyway. The
exercises in this chapter's introduction are the way to find out whether you could have written it;
the ideas above are the way to make it better. Thank you for reading. :*/
