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
Guest chapter did, and build the little kernel that runs real i386 programs on top of it all (`G:080`). */

import LguestABI
import Machine

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

    // Memory (G:044, G:082).
    var pages = PageAllocator(free: [])
    var kernelPageDirectory = GuestPhysicalAddress(0)

    // Time (G:043).
    var clock = GuestClock()

    // The console (G:044): everything printed, kept for the tests and the figures.
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
    /// System calls that had to wait for a device (`G:091`).
    public var blockedCalls = 0
    /// Processes a driver's interrupt woke (`G:091`).
    public var wakeups = 0
    /// Bytes printed through a console driver (`D:162`).
    public var consoleDriverBytes = 0
    /// Bytes printed through the early console (`G:044`).
    public var earlyConsoleBytes = 0
}
/*:*/
