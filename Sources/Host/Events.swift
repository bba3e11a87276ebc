/*H:060 Watching the Host work.

Counters say how often; a trace says when, and in what order. The Host reports each thing it does for a
Guest as a `HostEvent`, stamped with the machine's virtual time, to whoever set `Guest.onEvent`: the
Launcher can turn the stream into a Chrome trace-event file, a test can check the order of events, and a
curious student can print them. Nobody listening costs one nil check per event.

The events are the ones the book talks about: a trap bringing the Guest back (and its vector), a
hypercall (synchronous or from the ring), a virtual interrupt delivered, a page fault fixed by the
shadow page tables or passed on to the Guest, an instruction emulated, and the Guest's end. Because the
time stamps are virtual, two runs of the same Guest produce the same trace, byte for byte. */

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
    /// The Guest stopped.
    case exit(GuestExit)

    public var description: String {
        switch self {
        case let .trap(vector): "trap \(vector)"
        case let .hypercall(call, asynchronous): "hypercall \(call.name)" + (asynchronous ? " (async)" : "")
        case let .interrupt(vector): "interrupt \(vector)"
        case let .pageFault(address, fixed): "page fault \(address) " + (fixed ? "fixed" : "reflected")
        case .emulated: "emulated in/out"
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
