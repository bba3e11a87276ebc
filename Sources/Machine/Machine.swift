/*X:060 The machine as a whole.

`Machine` ties the pieces together: one `PhysicalMemory`, one CPU, the MMU with its TLB, and a virtual
clock. It is a class because a machine has identity: the Host, the Switcher and the Launcher all hold
*the* machine, and a copy of it would be a second computer.

Inside, though, the state the interpreter touches on every instruction lives in a struct, `Core`, which
the class owns as a single stored property. That is a performance decision worth explaining, because it
looks like fuss. Swift guarantees that no two pieces of code modify the same variable at once
("exclusivity"). For a struct mutated by a `mutating func`, the compiler proves this statically and the
check costs nothing. For a property of a class it cannot, so it inserts a run-time check around every
access, and in a loop that touches the registers a dozen times per instruction those checks ate 40 % of
the time in an early experiment. With the state in `Core`, `run(maxInstructions:)` pays for one check
when it starts, and none per instruction.

That one check per call still showed: a hypervisor's world switch calls into the machine a dozen times
(read the registers, deliver, `iret`, install a state), and the checks on `core` were a tenth of a round
trip. So `core` is marked `@exclusivity(unchecked)`, and the argument for why that is safe is short
enough to keep in mind: `core` is internal, so only this module's code touches it, and every access is
one `Machine` method calling one `Core` method or property that runs to completion without calling out
of the module. Nothing the core does calls back into the `Machine` (the only callback, `trace`, is
called between two runs of the core, never during one), so no access to `core` can begin while another
is in progress.

From outside, none of this shows: `machine.cpu` is the whole `CPUState` (`X:120`), read and written as one
value, and the interpreter's lazily computed flags are folded back into `cpu.eflags` before `run` returns. */

/// An emulated i386 PC: RAM, one CPU, an MMU with a TLB, and a virtual clock.
public final class Machine {
    /// The machine's RAM.
    public let memory: PhysicalMemory
    /// The hot state: registers, TLB and counters. Module-internal; see `X:060`, which also argues why
    /// no two accesses to it can overlap, so the run-time exclusivity check is left out.
    @exclusivity(unchecked) var core: Core
    /// When set, `run(maxInstructions:)` calls it with one line per instruction, before executing
    /// it: `eip: bytes  disassembly` (`X:720`). Nil (the default) costs nothing.
    public var trace: ((String) -> Void)?

    /// Creates a machine over `memory` with a reset CPU (protected mode, paging off, ring 0 null
    /// segments) and the clock at zero.
    public init(memory: PhysicalMemory) {
        self.memory = memory
        self.core = Core(memory: memory)
    }

    deinit { core.deallocate() }

    /// The whole CPU state. Setting it discards the interpreter's cached code page; setting a different
    /// cr3, or changing CR0.PG, CR0.WP or CR4.PGE, also flushes the TLB, as loading those registers does
    /// on the hardware.
    public var cpu: CPUState {
        get { core.cpu }
        set { core.replaceCPU(with: newValue) }
    }

    /// Whether the interpreter runs code from its cache of decoded instructions (the default) or
    /// fetches and decodes every instruction afresh, the reference the cache is tested against.
    /// Either way the machine computes exactly the same thing, in the same number of ticks.
    public var codeCacheEnabled: Bool {
        get { core.codeCacheEnabled }
        set { core.codeCacheEnabled = newValue }
    }

    /// The current virtual time.
    public var clock: VirtualClock { core.clock }

    /// Counters of what the machine has done since it was created.
    public var statistics: MachineStatistics { core.statistics }

    /// Moves virtual time forward by `ticks` without executing anything, as while the CPU halts.
    public func advance(by ticks: UInt64) { core.clock.advance(by: ticks) }
}

/*X:600 Virtual time.

A test that depends on the wall clock passes on a quiet machine and fails on a busy one. So this machine
has no wall clock at all: time is a counter that moves forward by one *tick* for every instruction the
interpreter executes, and jumps forward when the Host says the CPU is halted (`advance(by:)`).
Every run of the same program therefore sees exactly the same times, and a trace taken today matches
one taken next year.

We say one tick is one nanosecond, as if the CPU ran at a nominal 1 GHz and finished one instruction per
cycle. A Pentium of the era managed about that on good days, so the numbers a guest prints (timer
frequencies, `rdtsc` differences) come out plausible, and converting to seconds is a division by 10^9. */

/// The machine's clock: one tick per executed instruction, nominally one nanosecond.
public struct VirtualClock: Hashable, Sendable, CustomStringConvertible {
    /// Ticks per second of the nominal clock (1 GHz).
    public static let ticksPerSecond: UInt64 = 1_000_000_000

    /// Ticks since the machine was created; also the value `rdtsc` returns.
    public private(set) var ticks: UInt64 = 0

    public init() {}

    /// Elapsed virtual nanoseconds (the same as `ticks` at the nominal 1 GHz).
    public var nanoseconds: UInt64 { ticks }

    /// Moves time forward; it never moves backward, and saturates rather than wrapping.
    public mutating func advance(by ticks: UInt64) {
        self.ticks = self.ticks.addingReportingOverflow(ticks).overflow ? .max : self.ticks &+ ticks
    }

    public var description: String { "\(ticks) ns" }
}
/*:*/

/// What the machine counts as it runs. Counting is a few additions per event, off the hot path
/// where possible: fetches from the current code page are not TLB lookups and are not counted.
public struct MachineStatistics: Hashable, Sendable {
    /// Instructions executed by the interpreter.
    public var instructions: UInt64 = 0
    /// Two-level page table walks performed by the MMU.
    public var pageWalks: UInt64 = 0
    /// Data accesses and code-page changes satisfied by the TLB.
    public var tlbHits: UInt64 = 0
    /// Lookups that missed the TLB and needed a walk.
    public var tlbMisses: UInt64 = 0
    /// Full TLB flushes.
    public var tlbFlushes: UInt64 = 0
    /// Blocks the code cache decoded (`X:664`): each a first visit, or a visit after its frame changed.
    public var codeCacheBlocks: UInt64 = 0
    /// Times the code cache's pool filled up and the whole cache was emptied (`X:662`).
    public var codeCacheFlushes: UInt64 = 0
    /// Events delivered through the IDT, by vector.
    public var deliveries: [UInt64] = Array(repeating: 0, count: 256)

    public init() {}

    /// The number of events delivered through vector `vector`.
    public func deliveries(vector: UInt8) -> UInt64 { deliveries[Int(vector)] }
}

extension Machine {
    /// Executes ring-3 code through the MMU for at most `maxInstructions` clock ticks (`X:500`).
    /// Precondition: the CPU is at CPL 3. (After an `iret()` or a delivery, check `cpu.cpl` before
    /// calling: a kernel's `iret` may legitimately land at ring 1 or 2, and a gate may lead to ring 3.)
    /// Returns why it stopped; `cpu.eflags` is exact afterwards.
    public func run(maxInstructions: UInt64) -> StopReason {
        guard let trace else { return core.run(budget: maxInstructions) }
        return runTraced(maxInstructions: maxInstructions, trace)
    }
}

/*X:720 The trace switch.

Tracing is a second, slower way to run: one tick at a time, printing each instruction before it
executes. It lives outside the interpreter's loop on purpose. The hot loop never asks "am I tracing?";
`run` asks once, and only a traced run pays for disassembly and string building. A trace line reads

```
00010005: 83 c0 07             add $0x7,%eax
```

with the linear address of the instruction, its bytes and its AT&T text (`X:700`). A `rep` instruction
shows up once per iteration, since each iteration is a tick of its own. */

extension Machine {
    /// Runs like `run(maxInstructions:)`, one tick at a time, reporting each instruction to `trace`.
    func runTraced(maxInstructions: UInt64, _ trace: (String) -> Void) -> StopReason {
        var left = maxInstructions
        while left > 0 {
            left -= 1
            trace(traceLine())
            let stop = core.run(budget: 1)
            if stop != .budgetExhausted { return stop }
        }
        return .budgetExhausted
    }

    /// The trace line for the instruction at cs:eip.
    func traceLine() -> String {
        let address = GuestVirtualAddress(core.cpu.cs.base &+ core.cpu.eip)
        let (text, length) = disassemble(at: address)
        var bytes = ""
        for offset in 0..<UInt32(length) {
            let byte = core.peekLinear(address.rawValue &+ offset) ?? 0
            bytes += String(byte, radix: 16).leftPadded(to: 2) + " "
        }
        return String(address.rawValue, radix: 16).leftPadded(to: 8) + ": " + bytes.rightPadded(to: 21) + text
    }
}
/*:*/

extension String {
    /// The string with zeroes in front up to `width` characters.
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
    /// The string with spaces after it up to `width` characters.
    func rightPadded(to width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
