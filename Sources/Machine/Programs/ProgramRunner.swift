/*X:850 Running a program: a stand-in for a kernel.

The interpreter runs ring-3 code and stops the moment that code needs a
kernel: a system call, a fault, an `int n`. Something must then act as that
kernel. Later in the book that something is the guest kernel of the Guest
chapter, running at ring 1 under the Host. Until then, and forever after in
the tests of this appendix, `ProgramRunner` plays the part.

It is a deliberately tiny kernel, about as much as a program needs to believe
it runs on i386 Linux:

- one address space, built from real page directories and page tables in
  `PhysicalMemory`, with the user bit and the writable bit set as the ELF
  segments ask (`X:860`, `X:862`);
- a kernel half above `0xC0000000` holding a GDT, an IDT and a kernel stack,
  mapped for the supervisor only, so the CPU finds them exactly as it would
  find Linux's (`X:870`);
- Linux's start-up stack, with arguments, environment and auxiliary vector
  (`X:875`, `X:876`);
- the system calls of the shared Linux personality (`X:877`), the same code
  the Guest chapter's kernel answers with: enough for a static glibc program,
  with Linux's numbers, argument registers and error values (`X:880`); the
  runner itself supplies only what a kernel owns, its one process's input,
  output, heap and page tables;
- demand paging for the heap and the stack, and Linux's verdict for every
  other fault: a signal that ends the program (`X:890`).

It is honest in one important way: the program cannot tell. Every system
call goes through the IDT's gate 0x80, the CPU switches to the kernel stack
named by `esp0` and pushes a real frame, and the runner leaves through `iret()`
like any kernel. That is what lets the differential test (`X:895`) hold the
runner to the standard of the real Linux on the host: same input, same
output, same exit status, byte for byte.
*/

/*X:851 How a run ends, and what it reports.

Before the runner itself, the words it reports in. A program ends in one of four ways: it exits with
a status, Linux's rules kill it with a signal, it uses up its instruction budget, or the machine
itself stops. Only the first two happen on real Linux; the budget exists so a test of a runaway
loop finishes, and a machine stop means the CPU could not even deliver a fault. The signals are
the few a fault can turn into, with their i386 numbers, because the differential test (`X:895`)
compares them with what the host's Linux reports. */
/// How a program's run ended.
public enum Termination: Hashable, Sendable, CustomStringConvertible {
    /// The program called `exit` with this status (the low 8 bits, as Linux keeps).
    case exited(status: UInt8)
    /// The program was killed by a signal, as Linux would kill it.
    case killed(Signal)
    /// The instruction budget ran out before the program ended.
    case budgetExhausted
    /// The machine itself stopped (triple fault or machine check).
    case machineStopped(reason: String)

    public var description: String {
        switch self {
        case let .exited(status): "exited with status \(status)"
        case let .killed(signal): "killed by \(signal)"
        case .budgetExhausted: "stopped: instruction budget exhausted"
        case let .machineStopped(reason): "machine stopped: \(reason)"
        }
    }
}

/// The Linux signals a fault can turn into, with their i386 Linux numbers.
public enum Signal: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case sigill = 4, sigtrap = 5, sigbus = 7, sigfpe = 8, sigkill = 9, sigsegv = 11

    public var description: String {
        switch self {
        case .sigill: "SIGILL"
        case .sigtrap: "SIGTRAP"
        case .sigbus: "SIGBUS"
        case .sigfpe: "SIGFPE"
        case .sigkill: "SIGKILL"
        case .sigsegv: "SIGSEGV"
        }
    }
}

/// What a finished run produced.
public struct ProgramResult: Sendable {
    /// Everything written to file descriptor 1.
    public var output: [UInt8]
    /// Everything written to file descriptor 2.
    public var errorOutput: [UInt8]
    /// How the run ended.
    public var termination: Termination
    /// For a killed program, what the CPU reported (`#PF at 0x00000000 (write, user)`).
    public var faultDescription: String?
    /// The machine's counters at the end of the run.
    public var statistics: MachineStatistics
    /// Virtual nanoseconds that passed, including time slept in `nanosleep`.
    public var virtualTime: UInt64
    /// System calls the runner handled.
    public var systemCalls: UInt64
    /// Page faults the runner resolved by mapping a fresh page (heap and stack growth).
    public var demandFaults: UInt64
    /// System calls answered `ENOSYS` because the personality does not know them (`X:879`).
    public var unknownSystemCalls: UInt64
}

/// A refusal before the program starts.
public enum ProgramRunnerError: Error, Equatable, CustomStringConvertible {
    /// RAM ran out while building the address space.
    case outOfMemory(neededFor: String)
    /// The arguments and environment do not fit on the start-up stack (Linux's `E2BIG`).
    case argumentsTooLong

    public var description: String {
        switch self {
        case let .outOfMemory(what): "runner: out of memory for \(what)"
        case .argumentsTooLong: "runner: argument list too long (at most \(InitialStack.maximumSize) bytes)"
        }
    }
}

/*X:852 The process, as one object.

`ProgramRunner` is a class because it is the one process there is: the machine, the address space,
the input still to be read and the output written so far belong together, and a copy would be a
second process sharing one RAM. Most of its stored properties are counters and buffers that end up
in the `ProgramResult`. The one to notice is `linuxState`: it is the part of a process that the
shared Linux personality keeps (`X:877`), so the runner and the Guest's kernel can answer system
calls with the same code. */
/// Runs one i386 Linux program on a fresh `Machine`, standing in for its kernel.
///
/// A class because it *is* the process: it owns the machine, the address space
/// and the open "files", and a copy would be a second process sharing one RAM.
public final class ProgramRunner {
    /// The machine the program runs on.
    public let machine: Machine
    /// The address space: page directory, regions, frame recycling (`X:860`).
    var space: AddressSpace
    /// What `read` on fd 0 returns, and how far the program has read.
    let input: [UInt8]
    var inputPosition = 0
    /// What the program has written to fds 1 and 2.
    var output: [UInt8] = []
    var errorOutput: [UInt8] = []
    /// Set by `exit` or a fatal fault; ends the run loop.
    var termination: Termination?
    var faultDescription: String?
    var systemCalls: UInt64 = 0
    var demandFaults: UInt64 = 0
    /// System calls the personality did not know (`X:879`).
    var unknownSystemCalls: UInt64 = 0
    /// The process's Linux personality state (`X:877`).
    var linuxState = LinuxProcessState(pid: ProgramRunner.processID)
    /// The program's path, for `AT_EXECFN` and `/proc/self/exe`.
    let executablePath: String

    /// When set, receives one line per instruction (the machine's trace,
    /// `X:720`) and one line per trip into the runner: each system call with
    /// its arguments and result, each demand page, each fatal fault.
    public var trace: ((String) -> Void)? {
        didSet { machine.trace = trace }
    }

    /// The most bytes fds 1 and 2 accept together, so a runaway program cannot
    /// exhaust the host's memory; writes beyond it fail with `EFBIG`.
    public static let outputLimit = 16 << 20
    /// The RAM of a runner's machine, in 4 KiB frames (32 MiB): room for a
    /// full heap and a full stack at once, plus the segments and tables.
    public static let defaultFrameCount = 8_192

    /*X:853 Starting and running.

    The initialiser does what `execve` does in a real kernel, in the same order: a fresh address space,
    the program's segments loaded into it (`X:860`), the kernel half that the CPU needs before it can
    take a trap (`X:870`), and the start-up stack (`X:875`). Any of them may fail, for want of RAM or
    because the arguments are too long, and then there is no runner at all: a refusal, not a half-built
    process. `run(maxInstructions:)` is then the whole of a kernel's main loop. It lets the interpreter
    go until something stops it, acts on the reason in `handle(_:)`, and goes again, until the program
    has ended or the budget is spent. */
    /// Builds the machine and the address space and loads `image`, ready to run.
    ///
    /// - Parameters:
    ///   - image: the program.
    ///   - input: the bytes `read(0, ...)` returns, then end of file.
    ///   - programName: `argv[0]`; its last component, under `/`, is what `/proc/self/exe` names.
    ///   - arguments: `argv[1...]`.
    ///   - environment: the `NAME=value` strings of `envp`.
    ///   - frameCount: RAM for the whole machine, kernel tables included.
    public init(
        image: ELFImage, input: [UInt8] = [], programName: String = "program", arguments: [String] = [],
        environment: [String] = [], frameCount: Int = ProgramRunner.defaultFrameCount
    ) throws(ProgramRunnerError) {
        let memory = PhysicalMemory(frameCount: frameCount)
        self.machine = Machine(memory: memory)
        self.input = input
        // Linux's answer for /proc/self/exe is absolute; as in the Guest, the program lives at the root.
        self.executablePath = "/" + (programName.split(separator: "/").last.map(String.init) ?? programName)
        self.space = try AddressSpace(memory: memory)
        try loadSegments(of: image)
        try buildKernelHalf()
        try startProcess(image, arguments: [programName] + arguments, environment: environment)
    }

    /// Runs the program until it exits, is killed, or `maxInstructions` more
    /// instructions have executed. After `.budgetExhausted`, calling `run`
    /// again continues where it stopped; after any other ending, it returns
    /// the same ending at once.
    public func run(maxInstructions: UInt64 = 4_000_000_000) -> ProgramResult {
        let startInstructions = machine.statistics.instructions
        while termination == nil {
            let used = machine.statistics.instructions &- startInstructions
            guard used < maxInstructions else { break }
            handle(machine.run(maxInstructions: maxInstructions - used))
        }
        return ProgramResult(
            output: output, errorOutput: errorOutput, termination: termination ?? .budgetExhausted,
            faultDescription: faultDescription, statistics: machine.statistics,
            virtualTime: machine.clock.nanoseconds, systemCalls: systemCalls, demandFaults: demandFaults,
            unknownSystemCalls: unknownSystemCalls)
    }

    /// Acts on one reason the interpreter stopped.
    private func handle(_ stop: StopReason) {
        switch stop {
        case .budgetExhausted:
            return
        case let .enteredKernel(vector, errorCode, _):
            enterKernel(vector: vector, errorCode: errorCode)
        case let .tripleFault(reason), let .machineCheck(reason):
            termination = .machineStopped(reason: reason)
        }
    }
}
/*:*/

/*M:085 Growing the stand-in kernel.

`ProgramRunner` is the smallest kernel that real programs accept, and every
piece it lacks is a good exercise, each checkable against the host with the
differential test (`X:895`):

- **Signal handlers.** Today a fault kills. Linux instead looks for a handler
  the program registered with `sigaction` (which the personality already
  records, `X:898`), builds a signal frame on the user
  stack (the saved registers and a return address pointing at a tiny
  `sigreturn` trampoline), and `iret`s into the handler; `sigreturn` later
  restores the frame. Start with `SIGSEGV` and a program that catches its own
  null-pointer write.
- **`mmap` on demand.** Anonymous mappings (`X:897`) are mapped eagerly,
  page by page. Mapping them lazily means a list of regions, each with its
  permissions, searched by the page fault handler beside the two fixed
  regions of `X:865`.
- **A guard gap.** Linux keeps an unmapped gap between the stack and whatever
  lies below it, so a runaway recursion cannot walk into the heap. Here the
  heap is far away; make `mmap` bring it close and watch why the gap exists.
- **Two processes.** A second address space, `fork` with copy-on-write (clear
  the writable bit in both page tables, copy the frame on the first write
  fault), and `sched_yield` that really switches: the first step towards the
  Guest chapter's kernel.
:*/
