/*S:040 Setting up the Switcher's pages.

The Switcher is created once per machine, before any Guest, and takes four frames of the Host's memory:
its text page, its read-only state page, a page table that maps its three pages at 0xFFC00000, and a page
directory for the Host's own address space, whose last entry points at that page table. Every shadow
page directory the Host builds for a Guest gets the same last entry (`switcherPageTableFrame`), which is
what puts the Switcher "at the top of both address spaces".

The three pages are mapped supervisor-only; the text and the state page are also read-only. Since the
Guest kernel runs at ring 1, which paging counts as supervisor, "read-only" only binds it because the
Switcher runs Guests with CR0.WP set (`P:020`).

**Exercise** (easy; read first X:300): map a Switcher page supervisor-only, and writable only when
asked: the Guest must never write the Switcher's text or state. */

import LguestABI
import Machine

/// What a Guest's world needs from the Host while it runs: the Host's Guest implements it.
public protocol GuestWorld: AnyObject {
    /// The Guest kernel's text and Swift entry points.
    var image: GuestKernelImage { get }
    /// The Guest's registers page (`S:030`).
    var registerPage: RegisterPage { get }
    /// The shadow page directory to load into cr3.
    var shadowPageDirectory: HostPhysicalAddress { get }
    /// The Guest kernel's stack for traps from user mode (ss1:esp1), from `Hypercall.setStack`.
    var kernelStack: (segment: SegmentSelector, pointer: UInt32) { get }
    /// Whether the Guest asked for cr0's task-switched bit (`Hypercall.taskSwitched`).
    var taskSwitched: Bool { get }
    /// How many instructions of user code may run before the Host wants control back.
    var instructionBudget: UInt64 { get }
    /// Writes the Guest's GDT and IDT into the Switcher's state page; `everything` is true when
    /// another Guest used the page since this one last ran (`S:050`).
    func copyTables(into state: SwitcherState, everything: Bool)
    /// False once the Guest has powered off, asked to restart, or been killed.
    var isAlive: Bool { get }
    /// Handles a trap that arrived while the Guest's Swift kernel code was on the stack, exactly as
    /// the run loop would, and makes the Guest ready to run again. Throws when the Guest is gone.
    func handleTrapDuringKernel(_ trap: Trap) throws(GuestStopped)
}

/// Why the processor came back to the Host.
public enum Trap: Hashable, Sendable, CustomStringConvertible {
    /// The Guest trapped through the stub for `vector`; its registers page holds the details.
    case vector(UInt8)
    /// The machine stopped (triple fault, machine check): `reason` says why.
    case machineStopped(String)
    /// The processor reached ring 1 somewhere the Guest kernel has no Swift code, or a handler
    /// misbehaved: `reason` says how.
    case kernelLost(String)
    /// The Guest stopped while its Swift code ran (it was killed or shut down during a nested trap).
    case stopped

    public var description: String {
        switch self {
        case let .vector(vector): "trap \(vector)"
        case let .machineStopped(reason): "machine stopped: \(reason)"
        case let .kernelLost(reason): reason
        case .stopped: "stopped"
        }
    }
}

/// Counts of what the Switcher did, for `--stats` and the benchmarks.
public struct SwitcherStatistics: Hashable, Sendable {
    /// Round trips into a Guest and back (each counts once, on the way in).
    public var worldSwitches: UInt64 = 0
    /// Times the processor arrived at a Guest kernel entry point and its Swift code ran.
    public var kernelEntries: UInt64 = 0
    /// Times the Host's own timer took the processor back from a running Guest.
    public var hostInterrupts: UInt64 = 0
    public init() {}
}

/// The Switcher's read-only state page as the Host fills it: the GDT and IDT the processor uses.
public struct SwitcherState {
    /// The machine's RAM.
    public let memory: PhysicalMemory
    /// The host-physical address of the GDT (`GDTLayout.entryCount` descriptors).
    public let gdt: HostPhysicalAddress
    /// The host-physical address of the IDT (256 gates).
    public let idt: HostPhysicalAddress

    /// Writes GDT slot `slot`; precondition: a slot of the table.
    public func setDescriptor(_ descriptor: SegmentDescriptor, slot: Int) {
        precondition((0..<GDTLayout.entryCount).contains(slot), "switcher: GDT slot \(slot)")
        let address = gdt.advanced(by: UInt32(slot * 8))
        hostStore32(memory, descriptor.low, address)
        hostStore32(memory, descriptor.high, address.advanced(by: 4))
    }

    /// Reads GDT slot `slot`, or nil when the slot is outside the table.
    public func descriptor(slot: Int) -> SegmentDescriptor? {
        guard (0..<GDTLayout.entryCount).contains(slot) else { return nil }
        let address = gdt.advanced(by: UInt32(slot * 8))
        return SegmentDescriptor(low: hostLoad32(memory, address), high: hostLoad32(memory, address.advanced(by: 4)))
    }

    /// Writes IDT gate `vector`.
    public func setGate(_ gate: GateDescriptor, vector: UInt8) {
        let address = idt.advanced(by: UInt32(vector) * 8)
        hostStore32(memory, gate.low, address)
        hostStore32(memory, gate.high, address.advanced(by: 4))
    }
}

/// The world switch: one per machine. It owns the Switcher's pages and moves the processor between
/// the Host's state and a Guest's.
public final class Switcher {
    /// The machine whose processor the Switcher switches.
    public let machine: Machine
    /// The page table mapping the Switcher's pages at 0xFFC00000: every shadow directory's last entry.
    public let switcherPageTableFrame: PageFrameNumber
    /// The Host's own page directory, which maps only the Switcher.
    public let hostPageDirectoryFrame: PageFrameNumber
    /// The stubs page.
    let textFrame: PageFrameNumber
    /// The read-only state page.
    let stateFrame: PageFrameNumber
    /// The processor state of the Host while no Guest runs.
    let hostState: CPUState
    /// The Guest that used the state page last (`S:050`). Read on every switch in, written only when
    /// another Guest comes; no method touching it calls anything that could touch it again, so the
    /// run-time exclusivity check is left out (`S:105`). Held strongly, as the table of processors
    /// holds each Guest, so that no new Guest can ever be mistaken for a dead one; `forget(_:)` lets
    /// go of both. (A weak reference did the same job at a price: it moves the Guest's reference
    /// count into a side table, and every retain and release of the Guest pays the detour.)
    @exclusivity(unchecked) private var lastGuest: AnyObject?
    /// The processor view handed to each Guest's Swift code, made on first use.
    private var processors: [ObjectIdentifier: SwitcherProcessor] = [:]
    /// A fault an `iret` raised, waiting for the Switcher's loop to handle it (`S:230`).
    var pendingEvent: StopReason?
    /// How many Guest kernel entries are on the host's stack now (`S:205`).
    var kernelDepth = 0
    /// The faulting address of the last page fault that brought the Guest back (its cr2 then).
    public internal(set) var lastPageFault = GuestVirtualAddress(0)
    /// What the Switcher has done. Every write is a lone `&+= 1` that calls nothing, so no two accesses
    /// can overlap and the run-time exclusivity check is left out (`S:105`).
    @exclusivity(unchecked) public internal(set) var statistics = SwitcherStatistics()
    /// The last answers of `dataSegment(_:ring:register:)`, one per data-segment register (`S:105`). Touched only
    /// there, by code that calls nothing else that touches it, hence no run-time exclusivity check.
    @exclusivity(unchecked) var dataSegmentAnswers = InlineArray<4, DataSegmentAnswer?>(repeating: nil)

    /// The vector the Host's own timer interrupt arrives on (Linux's `LOCAL_TIMER_VECTOR`).
    public static let hostTimerVector: UInt8 = 0xEF
    /// Ticks of virtual time each operation of the Guest's Swift kernel code costs: one instruction's.
    static let kernelOperationCost: UInt64 = 1

    /// Sets up the Switcher on `machine`, taking four frames of its memory.
    /// Precondition (a Launcher bug otherwise): the frames are available.
    public init(machine: Machine) {
        let memory = machine.memory
        guard let first = memory.allocateFrames(count: 4) else { preconditionFailure("switcher: no frames") }
        self.machine = machine
        textFrame = first
        stateFrame = first.advanced(by: 1)
        switcherPageTableFrame = first.advanced(by: 2)
        hostPageDirectoryFrame = first.advanced(by: 3)
        state = SwitcherState(memory: memory, gdt: HostPhysicalAddress(frame: stateFrame),
                              idt: HostPhysicalAddress(frame: stateFrame,
                                                       offset: SwitcherLayout.idt.distance(from: SwitcherLayout.state)))
        for frame in [textFrame, stateFrame, switcherPageTableFrame, hostPageDirectoryFrame] {
            do { try memory.zero(frame: frame) } catch { preconditionFailure("switcher: \(error)") }
        }
        for vector in 0...255 {
            let address = HostPhysicalAddress(frame: textFrame, offset: UInt32(vector) * SwitcherLayout.stubSize)
            do { try memory.copyIn(stubBytes(vector: UInt8(vector)), at: address) } catch { preconditionFailure("switcher: \(error)") }
        }
        let directoryEntry = PageDirectoryEntry(frame: switcherPageTableFrame, flags: [.present, .writable])
        hostStore32(memory, directoryEntry.rawValue,
                    HostPhysicalAddress(frame: hostPageDirectoryFrame, offset: UInt32(switcherPageDirectoryIndex * 4)))
        hostState = Self.makeHostState(directory: hostPageDirectoryFrame)
        mapPage(0, frame: textFrame, writable: false)
        mapPage(2, frame: stateFrame, writable: false)
        state.setDescriptor(.flat(executable: true, dpl: 0), slot: GDTLayout.switcherCode)
        state.setDescriptor(.flat(executable: false, dpl: 0), slot: GDTLayout.switcherData)
        machine.cpu = hostState
    }

    /// The state page, for the Host to fill. Made once: `switchIn` reads it for every data segment
    /// it checks, and building it afresh each time cost a reference count on the RAM each (`S:105`).
    public let state: SwitcherState

    /// Points page `index` of the Switcher's region at `frame`.
    func mapPage(_ index: Int, frame: PageFrameNumber, writable: Bool) {
        // exercise S:040 {
        let entry = PageTableEntry(frame: frame, flags: writable ? [.present, .writable] : [.present])
        // exercise S:040 } stub: let entry = ExerciseStub.unfinished("S:040", PageTableEntry(frame: frame, flags: [.present, .writable, .user]))
        hostStore32(machine.memory, entry.rawValue, HostPhysicalAddress(frame: switcherPageTableFrame, offset: UInt32(index * 4)))
    }

    /*:*/

    /*S:045 The Host's side of the processor.

    While the Host runs, the processor is in the *Host's* state: ring 0 on the Switcher's own code and data
    segments (slots 10 and 11 of the GDT, which the Guest can never load, `H:610`), with the Host's page
    directory in cr3 (it maps nothing but the Switcher), and the ring-0 stack pointer at the top of the
    registers page. Paging is on and so is write protection, so that read-only means read-only at every
    ring (`P:020`).

    In lguest the Host's state was that of a whole Linux kernel, and the Switcher saved it on the Host's
    stack on the way in. Our Host is Swift and keeps nothing in the emulated processor, so its state is
    always this same `CPUState`, `hostState`, and "saving" it is unnecessary; restoring it on the way out is
    what takes the Guest's page tables and descriptor tables off the processor, and that part we do just as
    lguest did.

    One thing the Host's state does not have is a task state segment. The processor reads the stack
    pointers for a privilege change (ss0:esp0, ss1:esp1) from the TSS; this machine keeps them in the
    processor state instead (`X:140`), so the Switcher sets them there and TSS slot 16 stays empty. */

    /// The processor as the Host leaves it: ring 0 on the Switcher's segments, the Host's page
    /// directory, the state page's tables, and the ring-0 stack.
    static func makeHostState(directory: PageFrameNumber) -> CPUState {
        var cpu = CPUState()
        cpu.cr0 = [.protectionEnable, .extensionType, .paging, .writeProtect]
        cpu.cr3 = HostPhysicalAddress(frame: directory)
        cpu.gdtr = DescriptorTableRegister(base: SwitcherLayout.gdt, limit: UInt16(GDTLayout.entryCount * 8 - 1))
        cpu.idtr = DescriptorTableRegister(base: SwitcherLayout.idt, limit: 256 * 8 - 1)
        cpu.cs = .flat(index: GDTLayout.switcherCode, ring: 0, executable: true)
        cpu.ss = .flat(index: GDTLayout.switcherData, ring: 0, executable: false)
        cpu.ds = cpu.ss
        cpu.es = cpu.ss
        cpu.ss0 = GDTLayout.switcherDataSelector
        cpu.esp0 = SwitcherLayout.ringZeroStackTop.rawValue
        cpu.esp = SwitcherLayout.ringZeroStackTop.rawValue
        return cpu
    }

    /*:*/

    /*S:047 One processor view per Guest.

    Each Guest's Swift code receives a `GuestProcessor` (`S:210`), made the first time the processor
    arrives at one of its entry points and kept until the Host says the Guest is gone (`forget(_:)`,
    called at the end of the run loop). The view holds the Guest strongly, so the table of views, keyed by
    the Guest's identity, can never mistake a new Guest for a dead one that happened to live at the same
    address. */

    /// The `GuestProcessor` the Switcher gives `world`'s Swift code.
    public func processor(for world: GuestWorld) -> GuestProcessor { switcherProcessor(for: world) }

    /// The Switcher's own processor view for `world`, made on first use.
    func switcherProcessor(for world: GuestWorld) -> SwitcherProcessor {
        let key = ObjectIdentifier(world)
        if let existing = processors[key] { return existing }
        let made = SwitcherProcessor(switcher: self, world: world)
        processors[key] = made
        return made
    }

    /// Forgets `world`'s processor; the Host calls it when a Guest is gone.
    public func forget(_ world: GuestWorld) {
        processors[ObjectIdentifier(world)] = nil
        if lastGuest === world { lastGuest = nil }
    }

    /// Records that `world` is about to use the state page; true if another Guest used it since.
    func claimState(for world: GuestWorld) -> Bool {
        // Only a change is written: this runs on every switch.
        guard lastGuest !== world else { return false }
        lastGuest = world
        return true
    }
}
/*:*/
