/*H:060 Watching the Host work.

Counters say how often; a trace says when, and in what order. The Host reports each thing it does for a
Guest as a `HostEvent`, stamped with the machine's virtual time, to whoever set `Guest.onEvent`: the
Launcher can turn the stream into a Chrome trace-event file, a test can check the order of events, and a
curious student can print them. Nobody listening costs one nil check per event.

The events are the ones the book talks about: a trap bringing the Guest back (and its vector), a
hypercall (synchronous or from the ring), a virtual interrupt delivered, a page fault fixed by the
shadow page tables or passed on to the Guest, an instruction emulated, the Host handing the processor
back to the Guest, and the Guest's end. A trap and the resume after it bracket one visit to the Host:
one world switch out and back, which a trace can draw as a slice named by what caused it (`L:110`).
Because the time stamps are virtual, two runs of the same Guest produce the same trace, byte for byte.

A trace in virtual time has one surprise for a student: most Host visits take *no* time at all. The
virtual clock counts the Guest's instructions (`X:600`), and the Host is not the Guest, so a hypercall
costs nothing on it; only a HALT, which jumps the clock to the next timer deadline, gives a visit
width. That is the honest picture of a clock that measures the Guest's work, not ours: the Host's real
price is in BENCHMARKS.md, in nanoseconds of the host's wall clock. */

import LguestABI
import Machine

/// Something the Host did for a Guest, for traces.
public enum HostEvent: Hashable, Sendable, CustomStringConvertible {
    /// The Guest trapped back to the Host with `vector`.
    case trap(vector: UInt8)
    /// The Host ran `call`; `asynchronous` when it came from the ring.
    case hypercall(Hypercall, asynchronous: Bool)
    /// The Host delivered virtual interrupt `vector`.
    case interrupt(vector: UInt8)
    /// A page fault at `address`: fixed by the shadow page tables, or reflected to the Guest.
    case pageFault(address: GuestVirtualAddress, fixed: Bool)
    /// The Host emulated an `in` or `out`.
    case emulated
    /// The Host is about to switch back into the Guest (the end of a visit that began with a trap).
    case resume
    /// The Guest stopped.
    case exit(GuestExit)

    public var description: String {
        switch self {
        case let .trap(vector): "trap \(vector)"
        case let .hypercall(call, asynchronous): "hypercall \(call.name)" + (asynchronous ? " (async)" : "")
        case let .interrupt(vector): "interrupt \(vector)"
        case let .pageFault(address, fixed): "page fault \(address) " + (fixed ? "fixed" : "reflected")
        case .emulated: "emulated in/out"
        case .resume: "resume"
        case let .exit(exit): "exit: \(exit)"
        }
    }
}

extension Guest {
    /// Reports `event` at the current virtual time to `onEvent`, if anyone listens.
    @inline(__always)
    func report(_ event: HostEvent) {
        guard let onEvent else { return }
        onEvent(host.machine.clock.nanoseconds, event)
    }
}
/*:*/

/*H:062 Looking at a trace.

The Launcher turns this event stream into a Chrome trace-event file (`L:110`). To see one:

```
swift run lguest --programs hello,sieve+crc32 --trace-out boot.json
```

then open <https://ui.perfetto.dev> and drop `boot.json` on it (or choose *Open trace file*); in
Chrome, `chrome://tracing` has a *Load* button that reads the same file. Each boot is a process with a
track for the Host, one for the Guest kernel and one per Guest program. Zoom in (W and S in both
viewers) and the Host's track shows each visit as a slice named by its cause, with the hypercalls, the
interrupts and the page faults as small marks inside; click one to see its arguments. Two things are
worth looking for: the burst of `NEW_PGTABLE`, `SET_PTE` and page faults when a program starts, and the
long `HALT` slices, the only Host visits with width in virtual time (`H:060`), where the Guest had
nothing to do but wait for its clock. With `--no-direct-traps` the programs' tracks break up into a
stretch per system call, each ending in a `trap 128` visit: the picture of what `H:250` saves. :*/
