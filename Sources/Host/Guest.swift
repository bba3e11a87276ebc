/*H:020 A Guest, as the Host knows it.

From the Host's side a Guest is a bundle of state: its memory, its registers page, its shadow page tables,
the copies of its GDT and IDT the Host has checked, where its kernel stack is, which virtual interrupts
are waiting, whether it is halted, when its timer goes off. lguest kept all of that in `struct lguest`
and `struct lg_cpu`; here it is one class, `Guest`, because a Guest has identity: the Switcher, the
Launcher and the run loop all hold *the* Guest.

Nothing in it is the Guest's to write directly. The Guest can only ask, by hypercall or by trapping, and
every request is checked on the way in. */

import LguestABI
import Machine
import Switcher

/// How a Guest's run ended.
public enum GuestExit: Hashable, Sendable, CustomStringConvertible {
    /// The Guest asked to power off, saying `reason`.
    case poweredOff(String)
    /// The Guest asked to be booted again, saying `reason`.
    case restart(String)
    /// The Host killed the Guest for misbehaving, for `reason`.
    case killed(String)
    /// The Launcher stopped a Guest that did nothing wrong, for `reason`: its time ran out, or the
    /// person at the keyboard pressed Ctrl-C (`H:042`).
    case stoppedFromOutside(String)

    public var description: String {
        switch self {
        case let .poweredOff(reason): "power off: \(reason)"
        case let .restart(reason): "restart: \(reason)"
        case let .killed(reason): "killed: \(reason)"
        case let .stoppedFromOutside(reason): "stopped: \(reason)"
        }
    }
}

/*:*/

/*H:021 What the Host counts for each Guest.

Every figure `--stats` prints about a Guest's hypercalls, interrupts and page faults (`L:090`) is a
counter in `GuestStatistics`, bumped by the code that does the thing counted. Hypercalls are counted in
two flat arrays indexed by the raw call number, one for calls made with a trap and one for calls that
came through the async ring, because a dictionary would hash a key on the hottest path the Host has;
the dictionaries the Launcher prints are made from the arrays only when someone asks. The counts are
checked where they are printed, by the Launcher's tests of `L:090`, rather than by tests of their own. */

/// Counts of what the Host did for one Guest.
public struct GuestStatistics: Hashable, Sendable {
    /// Hypercalls made with `int $0x1F`, counted by raw call number (a hypercall's hot path should
    /// not hash a dictionary key).
    var synchronousCounts = [UInt64](repeating: 0, count: Self.countSlots)
    /// Hypercalls run from the async ring, counted by raw call number.
    var asynchronousCounts = [UInt64](repeating: 0, count: Self.countSlots)
    /// One slot per raw value up to the largest hypercall number.
    static let countSlots = Int(Hypercall.allCases.map(\.rawValue).max() ?? 0) + 1

    /// Hypercalls made with `int $0x1F`, by call (calls never made are absent).
    public var synchronousHypercalls: [Hypercall: UInt64] { Self.byCall(synchronousCounts) }
    /// Hypercalls run from the async ring, by call (calls never made are absent).
    public var asynchronousHypercalls: [Hypercall: UInt64] { Self.byCall(asynchronousCounts) }

    /// Counts `call` as made synchronously or through the ring.
    mutating func count(_ call: Hypercall, asynchronous: Bool) {
        if asynchronous {
            asynchronousCounts[Int(call.rawValue)] &+= 1
        } else {
            synchronousCounts[Int(call.rawValue)] &+= 1
        }
    }

    private static func byCall(_ counts: [UInt64]) -> [Hypercall: UInt64] {
        var result: [Hypercall: UInt64] = [:]
        for call in Hypercall.allCases where counts[Int(call.rawValue)] > 0 { result[call] = counts[Int(call.rawValue)] }
        return result
    }
    /// Virtual interrupts delivered to the Guest.
    public var interruptsDelivered: UInt64 = 0
    /// Traps reflected to the Guest's own handlers (page faults included).
    public var trapsReflected: UInt64 = 0
    /// Page faults the Host fixed by filling a shadow entry.
    public var pageFaultsFixed: UInt64 = 0
    /// Page faults the Host passed on to the Guest.
    public var pageFaultsReflected: UInt64 = 0
    /// `in` and `out` instructions the Host emulated.
    public var instructionsEmulated: UInt64 = 0
    /// Times the Guest trapped back to the Host.
    public var traps: UInt64 = 0
    /// Times the Host's timer took the processor back.
    public var hostInterrupts: UInt64 = 0
    /// Virtual nanoseconds the Guest spent halted.
    public var haltedNanoseconds: UInt64 = 0

    public init() {}
}

/*:*/

/*H:022 The Guest object.

Here is the bundle of `H:020` itself. Read its stored properties as a map of the chapter: the checked
copies of the Guest's GDT and IDT (`H:600`, `H:250`), where `lguest_data` is (`H:120`), the virtual
interrupts waiting (`H:200`), the halted flag and the timer deadline, the Guest's kernel stack for traps
from user mode (`H:260`), the next slot of the async ring (`H:110`), and the three callbacks through
which the Launcher hears about the Guest (`H:042`, the NOTIFY handler of `L:215`, `H:060`). Most of the
plain values among them are read on every hypercall or every switch, and the comment above them says
why Swift's exclusivity check may be switched off for those and no others. The object only holds
state, so no test is named after it; every property is tested in the section its comment names. */

/// One Guest: everything the Host keeps about it. Made by `Host.makeGuest`.
public final class Guest: GuestWorld {
    /// The Host that runs this Guest.
    unowned let host: Host
    /// The Host's machine, held here as well: the clock is read several times on every switch, and
    /// each trip through the unowned `host` costs reference counts that a stored `let` does not.
    let machine: Machine
    /// The Guest's physical memory.
    public let memory: GuestMemory
    /// The Guest kernel's text and entry points.
    public let image: GuestKernelImage
    /// The Guest's registers page (`S:030`).
    public let registerPage: RegisterPage
    /// The Guest's shadow page tables.
    public let pageTables: ShadowPageTables
    // The properties marked `@exclusivity(unchecked)` below are read on every hypercall or every
    // switch, and Swift's run-time check around each access cost more than the access (`S:105`): the
    // switch's profile put a tenth of a round trip in those checks. Each is written only by a plain
    // assignment, a bit operation or a counter update that calls no other code, or (`gdt`,
    // `scheduledWork`) by a mutating method of its own struct that calls nothing but loads and stores
    // of RAM. None of that code can reach back into this Guest, so no access to one of them can begin
    // while another to the same property is in progress: the check could never fire. The callbacks,
    // the IDT array and everything else keep their checks.

    /// The Guest's GDT as the Host fixed it up.
    @exclusivity(unchecked) var gdt = GuestGDT()
    /// The Guest's interrupt gates as the Host checked them; non-present where unset.
    var idt = [GateDescriptor](repeating: GateDescriptor(rawValue: 0), count: 256)
    /// Whether `idt` changed since it was last copied to the Switcher.
    @exclusivity(unchecked) var idtChanged = true
    /// Why the Guest stopped, once it has; the first reason wins (`H:025`).
    @exclusivity(unchecked) public private(set) var exit: GuestExit?
    /// Where `lguest_data` is, once the Guest has said (`H:120`).
    @exclusivity(unchecked) var lguestData: GuestPhysicalAddress?
    /// The no-interrupt window from `lguest_data` (`G:045`).
    @exclusivity(unchecked) var noInterruptWindow: Range<UInt32> = 0..<0
    /// The Guest's system-call vector, which may be a direct trap (`H:250`).
    var systemCallVector = LguestABI.systemCallVector
    /// Virtual interrupts raised and not yet delivered, one bit per IRQ.
    @exclusivity(unchecked) var pendingInterrupts: UInt32 = 0
    /// Whether the Guest is waiting in HALT for an interrupt.
    @exclusivity(unchecked) var halted = false
    /// When the Guest's one-shot timer goes off, in virtual nanoseconds, if armed.
    @exclusivity(unchecked) var clockDeadline: UInt64?
    /// Work the Launcher asked to run at later virtual times (`H:045`).
    @exclusivity(unchecked) var scheduledWork = ScheduledWork()
    /// The Guest kernel's stack for traps from user mode (`H:260`).
    @exclusivity(unchecked) public internal(set) var kernelStack: (segment: SegmentSelector, pointer: UInt32)
    /// Whether the Guest set cr0's task-switched bit.
    @exclusivity(unchecked) public internal(set) var taskSwitched = false
    /// The next async ring slot the Host will look at (`H:110`).
    @exclusivity(unchecked) var nextRingSlot = 0
    /// Asked before every switch into the Guest: a reason to stop it now, or nil to go on (`H:042`).
    public var stopCheck: (() -> String?)?
    /// Called when the Guest makes a NOTIFY hypercall, with the address it passed.
    public var onNotify: ((Guest, GuestPhysicalAddress) -> Void)?
    /// Called with the virtual time in nanoseconds and each thing the Host does for the Guest (`H:060`).
    public var onEvent: ((UInt64, HostEvent) -> Void)?
    /// What the Host did for this Guest.
    @exclusivity(unchecked) public internal(set) var statistics = GuestStatistics()

    init(host: Host, memory: GuestMemory, image: GuestKernelImage, registerPage: RegisterPage,
         pageTables: ShadowPageTables, stack: GuestVirtualAddress) {
        self.host = host
        self.machine = host.machine
        self.memory = memory
        self.image = image
        self.registerPage = registerPage
        self.pageTables = pageTables
        self.kernelStack = (GDTLayout.kernelDataSelector, stack.rawValue)
    }

    /// True until the Guest powers off, asks to restart, or is killed.
    public var isAlive: Bool { exit == nil }
    /*:*/

    /*H:025 Killing a Guest, and keeping the first reason.

    When the Host finds a Guest misbehaving it kills it: the Guest will never run again, and the
    Launcher is told why. lguest's `kill_guest()` keeps only the *first* reason, and so do we. It matters
    more than it looks: one bad request usually sets off others (a Guest whose page tables are garbage
    fails a dozen checks on its way down), and the message a person needs is the first one, the cause,
    not the last, a symptom. A Guest that asked to power off and then does something silly on its way out
    has powered off; it was not killed.

    **Exercise** (easy): make `stop()` keep the first reason a Guest stopped for: a later kill or
    shutdown must change nothing. */

    /// Kills the Guest with `reason`, unless it has already stopped for another reason.
    public func kill(_ reason: String) {
        stop(.killed(reason))
    }

    /// Records that the Guest asked to stop; ignored if it has already stopped.
    func stop(_ exit: GuestExit) {
        // exercise H:025 {
        guard self.exit == nil else { return }
        // exercise H:025 } stub: ExerciseStub.unfinished("H:025")
        self.exit = exit
        report(.exit(exit))
    }
    /*:*/

    /*H:028 The registers a Guest starts with.

    A Guest begins at its boot entry, at ring 1, on the kernel's code and data segments (`P:240`), with the
    stack the Launcher chose and esi pointing at the boot parameters, the convention Linux's boot protocol
    uses. Its eflags has the interrupt flag set (the real one: a Guest always runs with real interrupts
    on) and nothing else. These values go into the registers page, and the first world switch loads them
    with `iret` like any other return to the Guest. */

    /// Writes the Guest's starting registers into its registers page.
    func setUpRegisters(entry: GuestVirtualAddress, stack: GuestVirtualAddress) {
        var frame = GuestRegisterFrame()
        frame.eip = entry.rawValue
        frame.cs = UInt32(GDTLayout.kernelCodeSelector.rawValue)
        frame.ss = UInt32(GDTLayout.kernelDataSelector.rawValue)
        frame.ds = frame.ss
        frame.es = frame.ss
        frame.esp = stack.rawValue
        frame.eflags = EFLAGS([.alwaysOne, .interruptEnable]).rawValue
        frame.esi = BootParameters.address.rawValue
        registerPage.registers = frame
    }
    /*:*/

    // MARK: What the Switcher needs (GuestWorld)

    public var shadowPageDirectory: HostPhysicalAddress { pageTables.currentDirectory }

    public var instructionBudget: UInt64 {
        let now = machine.clock.ticks
        // The timer's deadline or the earliest pending work, whichever comes first (`H:045`).
        guard let deadline = nextWake(timerCounts: true) else { return Host.timeSlice }
        return deadline > now ? min(deadline - now, Host.timeSlice) : 1
    }

    public func copyTables(into state: SwitcherState, everything: Bool) {
        gdt.copyChanged(into: state.memory, at: state.gdt, everything: everything)
        if everything || idtChanged {
            for vector in 0...255 { state.setGate(switcherGate(vector: UInt8(vector)), vector: UInt8(vector)) }
            idtChanged = false
        }
    }

    public func handleTrapDuringKernel(_ trap: Trap) throws(GuestStopped) {
        do {
            try handleTrap(trap)
            if isAlive { try prepareToRun() }
        } catch {
            kill(error.reason)
        }
        if !isAlive { throw GuestStopped() }
    }
}
