/*L:010 The Launcher: to the Host, the Launcher *is* the Guest.

In lguest the Launcher is an ordinary program on the Host. It allocates the Guest's memory out of its
own address space, loads a kernel into it, writes the boot parameters a bootloader would, and then
asks the Host, through `/dev/lguest`, to run the Guest. Each "run" returns when the Guest needs
something only a program on the Host can provide: console output, a disk block, a reason to stop.
From the Host's point of view there is no separate Guest at all: there is a process, and while that
process sits in its run request, it happens to be executing someone else's kernel.

Ours does the same with the Swift Host (`H:030`): it carves the Guest's memory out of the machine's,
lays out everything the Guest kernel expects to find there (`G:015`), registers a handler for the
Guest's notifications, and runs it until it stops. The first half of this chapter is what booting
needs; the second, from `L:186` on, builds the devices that the Guest's drivers (chapter D) talk to:
a console, a disk and a source of random bytes, all served through one virtqueue engine (`L:200`).

The Launcher is also where the user's mistakes stop. A memory size the Host cannot give, a command line
longer than Linux accepts, a program file that is not there: each is refused with a message before
any Guest exists, because a mistake in what we were asked to do is not the Guest's fault and should not
look like a crash of it. */

import Guest
import Host
import LguestABI
import Machine

/// What to boot and how. The defaults boot 16 MiB with every optimisation on and no programs.
public struct LaunchOptions: Sendable {
    /// The Guest's memory in MiB.
    public var memoryMiB: Int
    /// The programs (and `NAME.in` inputs) to put in the initial ramdisk.
    public var programs: [InitrdFile]
    /// The kernel command line (`init=hello,syscalls` chooses and orders the programs).
    public var commandLine: String
    /// The Guest's switches (lazy mode, the cr3 trick, patching).
    public var configuration: GuestConfiguration
    /// How many times the Launcher boots the Guest again when it asks to restart.
    public var maximumRestarts: Int
    /// The most virtual time, in nanoseconds, the Guest may run before the Launcher stops it (`L:045`).
    public var timeLimit: UInt64?
    /// Asked before every switch into the Guest; true stops it, as Ctrl-C does (`L:045`).
    public var interruptRequested: (@Sendable () -> Bool)?
    /// The disk image the block device serves; no block device without one.
    public var disk: DiskOptions?
    /// How long the block device takes to answer each request, in virtual nanoseconds (`L:222`).
    public var diskLatency: UInt64 = 0
    /// Where the console's input comes from (`L:193`).
    public var input: ConsoleInputSource
    /// The seed of the rng device's generator (`L:199`).
    public var rngSeed: UInt64
    /// Whether to record a Chrome trace of the boot in virtual time (`L:110`), in `BootResult.trace`.
    public var recordsTrace = false
    /// Whether the Host may let traps go straight to the Guest's handlers (`H:250`); false sends
    /// every trap through the Host, to measure what direct traps save.
    public var directTraps = true
    /// Whether the machine may keep the instructions it has decoded in its code cache (Appendix X);
    /// false decodes every instruction afresh, the reference the cache must agree with byte for byte.
    public var codeCache = true

    /// Options for a Guest of `memoryMiB` MiB running `programs` as `commandLine` says.
    public init(memoryMiB: Int = 16, programs: [InitrdFile] = [], commandLine: String = "",
                configuration: GuestConfiguration = GuestConfiguration(), maximumRestarts: Int = 3,
                disk: DiskOptions? = nil, input: ConsoleInputSource = .bytes([]),
                rngSeed: UInt64 = RandomDevice.defaultSeed) {
        self.memoryMiB = memoryMiB
        self.programs = programs
        self.commandLine = commandLine
        self.configuration = configuration
        self.maximumRestarts = maximumRestarts
        self.disk = disk
        self.input = input
        self.rngSeed = rngSeed
    }
}

/*L:015 What a boot hands back, and how it fails.

A boot ends in a `BootResult`: why the Guest stopped, what it printed, and the counters of both sides.
Its `exitStatus` is where the Guest's fate becomes a Unix exit status, and the numbers are borrowed
from tools people already know: 124 for a time limit, as `timeout(1)` reports it, and 130 for an
interrupt, as a shell reports SIGINT. `LaunchError` is the other way out, before any Guest exists:
every case prints as one line that starts with `launcher:` and names the value that was wrong. */
/// How a boot ended, and what it printed and counted.
public struct BootResult {
    /// Why the Guest stopped.
    public var exit: GuestExit
    /// Everything the Guest printed on its console, early and through the console device.
    public var console: String
    /// `name value` pairs, in a stable order, for `--stats`.
    public var statistics: [(name: String, value: UInt64)]
    /// The Guest kernel's own counts.
    public var guestStatistics: KernelStatistics
    /// The status of the last program the Guest ran, if any.
    public var lastExitStatus: UInt32?
    /// How many times the Guest was booted again after asking to restart.
    public var restarts: Int
    /// Why the Launcher stopped the Guest itself, if it did (`L:045`).
    public var stoppedBy: OutsideStop?
    /// Every boot's trace, when `LaunchOptions.recordsTrace` asked for one (`L:110`).
    public var trace: ChromeTrace? = nil

    /// The process exit status a front end should use: 0 for a clean power-off or a restart
    /// request, 1 for a Guest that panicked or that the Host killed, 124 when its time ran out (as
    /// `timeout(1)` says it), 130 when it was interrupted (128 + SIGINT, as a shell says it). (The
    /// programs' own statuses are the Guest's business; they are on the console.)
    public var exitStatus: Int32 {
        switch exit {
        case .poweredOff(let reason): reason.hasPrefix(LguestPlatform.panicPrefix) ? 1 : 0
        case .restart: 0
        case .killed: 1
        case .stoppedFromOutside: stoppedBy == .interrupted ? 130 : 124
        }
    }
}

/// Why the Launcher stopped a Guest that did nothing wrong.
public enum OutsideStop: Sendable, Equatable {
    /// `LaunchOptions.timeLimit` of virtual time went by.
    case timeLimit
    /// `LaunchOptions.interruptRequested` said so.
    case interrupted
}

/// Why the Launcher could not start a Guest at all: its own input was bad. A Guest that misbehaves
/// after it starts is not an error here; it is a `GuestExit.killed` in the result.
public enum LaunchError: Error, Equatable, CustomStringConvertible {
    case badMemorySize(Int)
    case commandLineTooLong(Int)
    case initrdTooLarge(Int)
    case hostRefused(String)
    case cannotRead(String)
    case notAProgram(String, String)
    case badDisk(String, String)

    public var description: String {
        switch self {
        case .badMemorySize(let mib): "launcher: memory must be 4...512 MiB, not \(mib)"
        case .commandLineTooLong(let length): "launcher: command line is \(length) bytes, at most \(BootParameters.maximumCommandLineLength)"
        case .initrdTooLarge(let size): "launcher: programs take \(size) bytes, more than half of guest memory"
        case .hostRefused(let reason): "launcher: host refused the guest: \(reason)"
        case .cannotRead(let path): "launcher: cannot read program \(path)"
        case .notAProgram(let path, let reason): "launcher: \(path) is not an i386 program: \(reason)"
        case .badDisk(let path, let reason): "launcher: disk \(path): \(reason)"
        }
    }
}
/*:*/
