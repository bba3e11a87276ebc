/*G:010 Welcome to the Guest!

The Guest of this story is a kernel that knows it is a guest. The original was Linux itself: the very
same kernel that ran as the Host, built from the same source, which discovered at boot that it had
been started by lguest and swapped a few dozen low-level operations for gentler ones. Ours is a small
kernel written in Swift, and it makes the same swaps for the same reasons.

Why swap anything? Because the Guest kernel runs at ring 1 (`P:020`), and at ring 1 the processor
refuses the instructions a kernel leans on: turning interrupts off, loading page tables, installing
interrupt tables, halting. Each such instruction would trap into the Host, which would have to work out
what was meant. lguest's answer is *paravirtualization*: every one of those operations goes through a
table of function pointers (Linux calls them the *pv-ops*), and a Guest fills that table with
functions that ask the Host directly, by hypercall, or better, do not need to ask at all.

Our kernel reaches the machine in only three ways, and this chapter is about all three:

* through the `GuestProcessor` the Switcher hands it, which reads and writes memory through the
  Host's shadow page tables, exactly as instructions at ring 1 would;
* through the shared page, `lguest_data` (`P:200`), which it writes like any other memory;
* through hypercalls (`G:031`), traps into the Host.

The order of this chapter follows lguest's own tour of its Guest: the boot path first, then each
replacement operation, then patching, then the rest of boot. At the end we go further than lguest's
Guest chapter did, and build the little kernel that runs real i386 programs on top of it all (`G:080`).

The sources keep the same order, a folder for each part of the story:

| folder | what it holds | sections |
| ------ | ------------- | -------- |
| (top) | the kernel object, its memory layout, and the boot path | G:010-G:020, G:070 |
| `PVOps` | the replacements for privileged operations, and patching | G:028-G:065 |
| `Devices` | the seam for drivers, device files, waiting for a device | G:072-G:074, G:090-G:097 |
| `Processes` | pages, address spaces, programs, scheduling, traps | G:080-G:093 |
| `Linux` | the system calls and the Linux personality | G:089, G:094-G:099 | */

import LguestABI
import Machine

/*:*/

/*G:011 The switches on the Guest's front panel.

lguest's optimisations are easy to believe in and hard to see, so ours can be switched off one at a time.
`GuestConfiguration` is what the Launcher hands the kernel before it boots: lazy mode (`G:035`), the
`cr3_changed` trick (`G:041`), patching (`G:050`), the time slice of the little scheduler (`G:088`), and
one switch that only the benchmarks throw. Each defaults to what lguest shipped, so a Guest that nobody
configures is lguest's Guest; the Launcher's `--no-lazy` and `--no-cr3-trick` flip the first two, and
the figures in `G:035` and `G:041` are those flips, counted. */

/// The switches the Launcher sets on a Guest before it boots, so that the effect of lguest's
/// optimisations can be measured by turning them off (see `G:035` and `G:041`).
public struct GuestConfiguration: Sendable, Equatable {
    /// Batch hypercalls made inside lazy sections through the async ring (`G:035`). When false,
    /// every call is made synchronously, as if lazy mode did not exist.
    public var lazyMode: Bool
    /// Skip TLB flushes for `setPTE()` until the first page-table switch (`G:041`).
    public var cr3ChangedTrick: Bool
    /// Patch the hottest pv-op call sites at boot (`G:050`).
    public var patching: Bool
    /// How long the scheduler lets a program run before the timer preempts it, in nanoseconds.
    public var timeSlice: UInt32
    /// For benchmarks only: when positive, the boot entry stops right after INIT and patching, makes
    /// this many `irqDisable()`/`irqEnable()` pairs through their patch sites, and powers off
    /// (`G:065`). Zero, the default, boots normally.
    public var pvOpWorkloadPairs: Int
    /// Switch FPU state lazily, on the first FPU instruction after a process switch (`G:049`). When
    /// false, the state is saved and restored on every switch between processes.
    public var lazyFPU: Bool = true

    /// The configuration lguest shipped with: every optimisation on.
    public init(lazyMode: Bool = true, cr3ChangedTrick: Bool = true, patching: Bool = true,
                timeSlice: UInt32 = 10_000_000, pvOpWorkloadPairs: Int = 0) {
        self.lazyMode = lazyMode
        self.cr3ChangedTrick = cr3ChangedTrick
        self.patching = patching
        self.timeSlice = timeSlice
        self.pvOpWorkloadPairs = pvOpWorkloadPairs
    }
}

/*:*/

/*G:012 The whole kernel is one object.

A C kernel keeps its state in global variables scattered over many files; ours gathers it in one class,
`GuestKernel`, so that a test can boot two kernels side by side and neither can see the other. Read the
stored properties as the chapter's table of contents: each group is commented with the section that
explains it, from the hypercall state of `G:035` to the process table of `G:080`. Only `processor` is
special. It is the `GuestProcessor` the Switcher lends the kernel while one of its entry points runs
(`G:020`), the one way the kernel's code reaches memory and the hypercall trap, and reaching for it at any
other time is a host bug, which `cpu` turns into a precondition failure. Each use of `cpu` hands out a
counted reference to the processor, a pair of atomic operations, so the few functions on every trap's
path (`readTrapFrame`, `resume()`, `interruptReturn()`) fetch it once into a local and use that.

No test is named after this section, because it only declares: each group of state is tested under the
section that explains it. */

/// The Guest kernel: its state lives here and in guest memory, and every entry point the Switcher
/// calls is a method of this object.
///
/// A class, because identity matters: the kernel text's entry points all lead back to this one
/// object, and there is exactly one per boot.
public final class GuestKernel {
    /// The switches the Launcher chose.
    public let configuration: GuestConfiguration
    /// Where everything the kernel owns sits in guest-physical memory.
    public let layout: KernelLayout

    /// The processor the Switcher lends us while one of our entry points runs. A strong reference,
    /// read on every memory access and hypercall; the kernel text's entry points hold the kernel
    /// weakly, so there is no cycle through the Switcher.
    var processor: (any GuestProcessor)?

    // Hypercall state (G:035-G:037).
    /// True inside a lazy section: calls that may wait go to the async ring.
    var lazyMode = false
    /// The async ring slot the next deferred call goes into.
    var nextAsyncSlot = 0
    /// Calls written to the ring since the last synchronous hypercall (which drained them).
    var deferredCalls = 0

    // Processor state the kernel keeps for itself (G:040).
    /// Our copy of cr0: the Host never changes it, so there is no need to ask.
    var currentCR0: CR0 = [.protectionEnable, .paging, .writeProtect, .monitorCoprocessor]
    /// Set by the first switch of page directory (`G:041`).
    var cr3Changed = false

    // Interrupt state (G:042).
    /// What to run when an IRQ arrives, by IRQ number.
    var irqHandlers: [Int: (GuestKernel) throws(GuestStopped) -> Void] = [:]

    // The pv-ops table and its patch sites (G:030, G:050).
    var pvOps = PVOps.native
    var patchSites = PatchSites()

    // Memory (G:048, G:082).
    var pages = PageAllocator(free: [])
    var kernelPageDirectory = GuestPhysicalAddress(0)

    // Time (G:043).
    var clock = GuestClock()

    // The console (G:047): everything printed, kept for the tests and the figures.
    var console = ConsoleBuffer()

    // The kernel text's entry points (G:020).
    var vectorEntries: [GuestVirtualAddress] = []
    var noInterruptWindow = GuestVirtualAddress(0)..<GuestVirtualAddress(0)
    /// Whether `lguestInit()` has installed lguest's operations.
    var lguestInitialised = false

    // The small kernel of G:080.
    var processes = ProcessTable()
    var programs: [InitrdFile] = []
    /// Groups of programs still to start, in order; the programs of a group run together.
    var runQueue: [[String]] = []
    var bootParameters = BootInformation()
    /// The status the last program exited with.
    public internal(set) var lastExitStatus: UInt32?

    /// Statistics the benchmarks and tests read.
    public internal(set) var statistics = KernelStatistics()

    // Drivers (G:072) and the files they offer (G:090).
    /// The modules to start at boot, in order.
    let modules: [any KernelModule]
    var devices = DeviceTable()

    /// A kernel that will boot with `configuration` in memory laid out by `layout`, starting `modules`
    /// (its drivers) once the rest of boot is done (`G:072`).
    public init(configuration: GuestConfiguration = GuestConfiguration(), layout: KernelLayout = KernelLayout(),
                modules: [any KernelModule] = []) {
        self.configuration = configuration
        self.layout = layout
        self.modules = modules
    }

    /// The processor lent for the entry now running. Entering the kernel without one is a host bug.
    var cpu: any GuestProcessor {
        guard let processor else { preconditionFailure("guest: kernel code ran outside an entry point") }
        return processor
    }

    /// Everything the kernel has printed on its console so far.
    public var consoleText: String { console.text }
}

/*:*/

/*G:013 What the Guest counts about itself.

The Host counts what it sees from outside (`L:090`); the kernel counts what only it can see: calls that
went through the pv-ops table against those that ran patched, interrupts with no handler, programs that
exited against those killed, system calls that had to wait. `swift run lguest --stats` prints the
interesting ones with a `guest.` prefix, and the tests read them to check that an optimisation really
happened, not just that the output came out right. */

/// Counts the Guest keeps about itself, for tests and `lguest-bench`.
public struct KernelStatistics: Sendable, Equatable {
    /// Hypercalls made synchronously (a trap each).
    public var synchronousHypercalls = 0
    /// Hypercalls written to the async ring instead.
    public var asyncHypercalls = 0
    /// Async calls that found the ring full and became synchronous (`G:037`).
    public var ringFullFallbacks = 0
    /// Calls made through the pv-ops table (an indirect call each).
    public var indirectPVCalls = 0
    /// pv-op call sites executed in their patched, inline form.
    public var patchedPVCalls = 0
    /// Timer interrupts handled.
    public var timerInterrupts = 0
    /// Interrupts that arrived on a vector with no handler.
    public var spuriousInterrupts = 0
    /// System calls handled.
    public var systemCalls = 0
    /// System calls answered `ENOSYS` because the personality does not know them (`X:879`).
    public var unknownSystemCalls = 0
    /// Programs started.
    public var programsStarted = 0
    /// Programs that ran to `exit`.
    public var programsExited = 0
    /// Programs killed by a fault.
    public var programsKilled = 0
    /// #NM traps taken for lazy FPU switching (`G:049`).
    public var fpuTraps = 0
    /// FPU states saved to, and loaded from, a process's save area (`G:049`).
    public var fpuSaves = 0
    public var fpuRestores = 0
    /// System calls that had to wait for a device (`G:091`).
    public var blockedCalls = 0
    /// Processes a driver's interrupt woke (`G:091`).
    public var wakeups = 0
    /// Bytes printed through a console driver (`D:162`).
    public var consoleDriverBytes = 0
    /// Bytes printed through the early console (`G:047`).
    public var earlyConsoleBytes = 0
}
/*:*/
