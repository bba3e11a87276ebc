/*H:050 Measuring the Host.

lguest's author measured everything, and the book quotes the numbers: a hypercall cost about 2,700
cycles; direct traps took a system call from 1750 ns to 270 ns. To say anything like that about this
Host we need workloads that do one thing many times, so that a benchmark can time them and divide.

`HostWorkload` boots a tiny synthetic Guest on a fresh machine whose Swift kernel does nothing but the
thing being measured, then powers off:

* `.emptyHypercall`: `FLUSH_ASYNC` with an empty ring, the cheapest trip to the Host and back, so its
  time is the cost of a world switch round trip plus the dispatch;
* `.hypercall`: `SET_CLOCKEVENT`, a synchronous call that does real (small) work;
* `.asyncHypercall`: the same call queued in the async ring, with one synchronous flush per 64.

Measured so by `lguest-bench` (best of three, release build, on the project's two-core machine at a
load average of about 1.2; BENCHMARKS.md), one round trip of `.emptyHypercall` took about 550 ns
(`world_switch_ns`), a synchronous `SET_CLOCKEVENT` the same (`hypercall_sync_ns`), and the same call
through the ring about 60 ns (`hypercall_async_ns`): the ring makes a call some nine times cheaper.
Earlier the same day the figures were 967, 944 and 216 ns; a profile showed a quarter of that going to
Swift's run-time exclusivity checks on class properties and a tenth to arrays allocated per delivery,
and `S:105` tells what was done about it.

The workload itself is deterministic: `run(_:count:)` returns counts, not times. Timing is a separate
step, `nanosecondsPerOperation(_:count:)`, which measures a whole run with the wall clock from outside
the machine, boot and power-off included (a few microseconds, lost in 100,000 operations). */

import LguestABI
import Machine
import Switcher

/// Synthetic Guests for benchmarks: each does one kind of operation `count` times and powers off.
public enum HostWorkload {
    /// What the synthetic Guest repeats.
    public enum Kind: Sendable {
        /// FLUSH_ASYNC with nothing queued: a world switch round trip.
        case emptyHypercall
        /// A synchronous SET_CLOCKEVENT.
        case hypercall
        /// SET_CLOCKEVENT through the async ring, flushed every `hypercallRingSize` calls.
        case asyncHypercall
    }

    /// What a workload did.
    public struct Result: Hashable, Sendable {
        public var exit: GuestExit
        public var worldSwitches: UInt64
        public var synchronousHypercalls: UInt64
        public var asynchronousHypercalls: UInt64
    }

    /// The guest-physical page holding `lguest_data` in the synthetic Guest.
    static let data = GuestPhysicalAddress(0x4000)
    /// Its page directory and kernel page table.
    static let directory = GuestPhysicalAddress(0x2000)
    static let table = GuestPhysicalAddress(0x3000)
    /// The synthetic Guest's size: enough for its kernel text at 1 MiB.
    static let pages: UInt32 = 272

    /// Runs `count` operations of `kind` in a fresh synthetic Guest on a fresh machine.
    public static func run(_ kind: Kind, count: Int) -> Result {
        let machine = Machine(memory: PhysicalMemory(frameCount: 512))
        let host = Host(machine: machine)
        var image = GuestKernelImage()
        image.bootEntry = image.addEntry(named: "workload") { cpu throws(GuestStopped) in
            try initialize(cpu)
            switch kind {
            case .emptyHypercall: for _ in 0..<count { try cpu.hypercall(.flushAsync) }
            case .hypercall: for _ in 0..<count { try cpu.hypercall(.setClockEvent, 0) }
            case .asyncHypercall: try queueHypercalls(cpu, count: count)
            }
            try cpu.hypercall(.shutdown, data.rawValue + 0x800, ShutdownKind.powerOff.rawValue)
        }
        guard let guest = try? host.makeGuest(pageCount: pages, image: image, initialPageDirectory: directory,
                                              stack: GuestVirtualAddress(0xC000_8000)),
              (try? layOut(guest)) != nil
        else { preconditionFailure("workload: synthetic guest does not fit") }
        let exit = host.run(guest)
        return Result(exit: exit, worldSwitches: host.switcher.statistics.worldSwitches,
                      synchronousHypercalls: guest.statistics.synchronousHypercalls.values.reduce(0, +),
                      asynchronousHypercalls: guest.statistics.asynchronousHypercalls.values.reduce(0, +))
    }

    /// Times `count` operations of `kind` with the wall clock (after a short warm-up run) and returns
    /// the nanoseconds per operation. For benchmarks in release builds only: the answer varies with the
    /// machine and its load, so no test may depend on it.
    public static func nanosecondsPerOperation(_ kind: Kind, count: Int) -> Double {
        precondition(count > 0, "workload: count must be positive")
        _ = run(kind, count: min(count, 1000))
        let clock = ContinuousClock()
        let elapsed = clock.measure { _ = run(kind, count: count) }
        let (seconds, attoseconds) = elapsed.components
        return (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(count)
    }

    /*H:055 The synthetic Guest's few pieces.

    The workload's Guest has no Guest kernel behind it, only what the Host insists on: an `LGUEST_INIT`
    pointing at an `lguest_data` page, one page table mapping its first 272 pages into the kernel half,
    and the kernel text. `queueHypercalls` is the async ring seen from the Guest's side, written out
    plainly: fill a slot's call number and argument, and only then store its status byte as ready, so the
    Host never sees a half-written entry; flush when the ring is full. `layOut` marks every slot done to
    start with, which is how a freshly booted Guest's ring looks to the Host. */
    /// LGUEST_INIT with the synthetic `lguest_data`.
    static func initialize(_ cpu: any GuestProcessor) throws(GuestStopped) {
        try cpu.hypercall(.lguestInit, data.rawValue)
    }

    /// Queues `count` SET_CLOCKEVENT calls in the ring, flushing whenever the ring is full and at the end.
    static func queueHypercalls(_ cpu: any GuestProcessor, count: Int) throws(GuestStopped) {
        let base = GuestVirtualAddress(0xC000_0000 + data.rawValue)
        for index in 0..<count {
            let slot = index % hypercallRingSize
            let entry = base.advanced(by: LguestData.entryOffset(slot: slot))
            try cpu.store32(Hypercall.setClockEvent.rawValue, at: entry)
            try cpu.store32(0, at: entry.advanced(by: HypercallRingEntry.arguments))
            try cpu.store8(hypercallReady, at: base.advanced(by: LguestData.statusOffset(slot: slot)))
            if slot == hypercallRingSize - 1 { try cpu.hypercall(.flushAsync) }
        }
        try cpu.hypercall(.flushAsync)
    }

    /// Writes the synthetic Guest's page tables, `lguest_data`, text and shutdown string.
    static func layOut(_ guest: Guest) throws(GuestViolation) {
        let memory = guest.memory
        let directoryEntry = PageDirectoryEntry(frame: table.frame, flags: [.present, .writable])
        try memory.store32(directoryEntry.rawValue, at: directory.advanced(by: UInt32(pageOffset.pageDirectoryIndex * 4)))
        for page in 0..<pages {
            let entry = PageTableEntry(frame: PageFrameNumber(page), flags: [.present, .writable, .accessed, .dirty])
            try memory.store32(entry.rawValue, at: table.advanced(by: page * 4))
        }
        for slot in 0..<hypercallRingSize {
            try memory.store8(hypercallDone, at: data.advanced(by: LguestData.statusOffset(slot: slot)))
        }
        try memory.store32(pageOffset.rawValue, at: data.advanced(by: LguestData.kernelAddress))
        try memory.store32(UInt32(systemCallVector), at: data.advanced(by: LguestData.systemCallVector))
        try memory.copyIn(Array("workload done".utf8) + [0], at: data.advanced(by: 0x800))
        try memory.copyIn(guest.image.text, at: GuestKernelImage.loadAddress)
    }
}
/*:*/

/*M:012 The 1 % rule.

lguest's author weighed every optimisation against its lines of code: a change that made the code
longer had to make it measurably faster, by a percent or more, or it stayed out. It is much of why
lguest stayed small enough to read as a book. This edition follows the rule's spirit with BENCHMARKS.md: every optimisation in the
tour (lazy mode `G:035`, the cr3 trick `H:430`, direct traps `H:250`) states what it bought, with the
command that measures it. Before you add an idea from this chapter, run `swift run -c release
lguest-bench` first and after, and ask whether the lines were worth it. :*/
