/*X:310 Who is asking, and for what.

The MMU's answer to "may I touch this address?" depends on two facts besides the address. The first is
the **kind of access**: a read, a write, or an instruction fetch. (The i386 does not distinguish fetches
from reads in its permission checks, having no "no-execute" bit; we keep the kind anyway because traces
and statistics care.) The second is the **privilege** of the access: *user* for code at ring 3,
*supervisor* for rings 0, 1 and 2. The i386 draws its paging line between ring 3 and the rest, which is
why lguest's guest kernel, living at ring 1, can touch kernel pages without being at ring 0. */

/// The kind of a memory access, for permission checks and statistics.
public enum AccessKind: Sendable, Hashable {
    case read, write, fetch
}

/// The privilege of an access as paging sees it: ring 3 is user, rings 0-2 are supervisor.
public enum Privilege: Sendable, Hashable {
    case user, supervisor

    /// The paging privilege of code running at `ring`.
    @inlinable public init(ring: UInt8) { self = ring == 3 ? .user : .supervisor }
}

/*X:320 The page fault and its error code.

When translation fails, the CPU raises exception 14, #PF, writes the faulting address to cr2, and pushes
an error code whose low bits tell the handler what went wrong:

```
 31                            4   3    2     1     0
+-------------------------------+----+-----+-----+-----+
|          reserved             |RSVD| U/S | W/R |  P  |
+-------------------------------+----+-----+-----+-----+
```

* **P** clear: the page (or its page table) was not present. P set: it was present, but the access broke
  a protection rule.
* **W/R**: the access was a write.
* **U/S**: the access came from ring 3.
* **RSVD**: a reserved bit was set in an entry. This machine sets it for a directory entry with PS set,
  since it does not do 4 MiB pages.

lguest's Host reads these bits to decide whether a fault is its own business (the shadow page table is
simply missing an entry) or the guest's (`H:330`). */

/// The error code pushed with #PF (Intel Vol. 3 §4.7).
public struct PageFaultErrorCode: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// P, bit 0: the page was present; the fault is a protection violation.
    public static let protection = PageFaultErrorCode(rawValue: 1 << 0)
    /// W/R, bit 1: the access was a write.
    public static let write = PageFaultErrorCode(rawValue: 1 << 1)
    /// U/S, bit 2: the access was made at ring 3.
    public static let user = PageFaultErrorCode(rawValue: 1 << 2)
    /// RSVD, bit 3: a reserved bit was set in a paging entry.
    public static let reservedBit = PageFaultErrorCode(rawValue: 1 << 3)

    public var description: String {
        let names: [(PageFaultErrorCode, String)] = [(.protection, "P"), (.write, "W"), (.user, "U"), (.reservedBit, "RSVD")]
        return "[" + names.filter { contains($0.0) }.map(\.1).joined(separator: " ") + "]"
    }
}

/// A failed translation: what the CPU puts in cr2 and in the #PF error code.
public struct PageFault: Error, Hashable, Sendable, CustomStringConvertible {
    /// The address that could not be translated (becomes cr2).
    public var address: GuestVirtualAddress
    /// The error code pushed with #PF.
    public var errorCode: PageFaultErrorCode
    /// Set when the walk met a page directory, page table or page frame outside RAM. Such a fault is
    /// not a #PF the guest can handle but a broken machine: the interpreter stops with `.machineCheck`.
    public var frameOutsideRAM: PageFrameNumber?

    public init(address: GuestVirtualAddress, errorCode: PageFaultErrorCode, frameOutsideRAM: PageFrameNumber? = nil) {
        self.address = address
        self.errorCode = errorCode
        self.frameOutsideRAM = frameOutsideRAM
    }

    /// The value the CPU writes to cr2: the faulting address.
    public var cr2: GuestVirtualAddress { address }

    public var description: String {
        if let frame = frameOutsideRAM { return "paging: frame \(frame) outside RAM while translating \(address)" }
        return "#PF at \(address) error \(errorCode)"
    }
}

/*X:400 Exceptions, interrupts and the vectors that number them.

Everything that makes the CPU stop what it is doing and run kernel code arrives with a *vector*, a
number from 0 to 255 that indexes the IDT. Intel reserves 0-31 for exceptions the CPU itself raises;
the rest are free for external interrupts and for software's `int n`. The ones this machine raises:

| vector | name | raised by | error code |
| --- | --- | --- | --- |
| 0 | #DE | `div`/`idiv` by zero or with a quotient too big | no |
| 1 | #DB | single-step (TF) | no |
| 3 | #BP | `int3` | no |
| 4 | #OF | `into` with OF set | no |
| 6 | #UD | an opcode this CPU does not know | no |
| 7 | #NM | an FPU instruction with CR0.TS or CR0.EM set | no |
| 8 | #DF | a fault while delivering a fault | yes (0) |
| 10 | #TS | invalid TSS (a bad ss0/ss1 on a stack switch) | yes |
| 11 | #NP | a gate or segment that is not present | yes |
| 12 | #SS | a bad stack segment | yes |
| 13 | #GP | privilege and protection violations | yes |
| 14 | #PF | translation failures | yes |

lguest's Guest uses 0x1F for hypercalls (`G:031`) and Linux uses 0x80 for system calls. */

/// The exception vectors this machine raises, named as in the manual.
public enum ExceptionVector: UInt8, Sendable, CaseIterable {
    case divideError = 0, debug = 1, breakpoint = 3, overflow = 4, invalidOpcode = 6,
         deviceNotAvailable = 7, doubleFault = 8, invalidTSS = 10, segmentNotPresent = 11,
         stackFault = 12, generalProtection = 13, pageFault = 14

    /// Whether the CPU pushes an error code for this exception.
    public var pushesErrorCode: Bool {
        switch self {
        case .doubleFault, .invalidTSS, .segmentNotPresent, .stackFault, .generalProtection, .pageFault: true
        default: false
        }
    }
}

/// How an event entering the IDT arose; it decides the gate privilege check and the error code.
public enum DeliveryKind: Sendable, Hashable {
    /// A software `int n`, `int3` or `into`: the gate's DPL must be at least the CPL.
    case software
    /// An exception raised by the CPU (a fault or a trap).
    case exception
    /// An external (hardware) interrupt.
    case external
}

/// Why `Machine.run(maxInstructions:)` returned.
public enum StopReason: Hashable, Sendable, CustomStringConvertible {
    /// The instruction budget ran out; the CPU is still at ring 3 and can simply be run again.
    case budgetExhausted
    /// An event was delivered through the IDT and the CPU now sits at the handler, at CPL < 3, with the
    /// frame already pushed on the kernel stack. `errorCode` is what was pushed, if anything.
    case enteredKernel(vector: UInt8, errorCode: UInt32?, handler: GuestVirtualAddress)
    /// A fault arrived while delivering a double fault. A real PC resets; this machine stops.
    case tripleFault(reason: String)
    /// The machine itself is broken (for example, a page table outside RAM); `reason` says how.
    case machineCheck(reason: String)

    public var description: String {
        switch self {
        case .budgetExhausted: "budget exhausted"
        case let .enteredKernel(vector, errorCode, handler):
            "entered kernel: vector \(vector)" + (errorCode.map { " error \(hex($0))" } ?? "") + " handler \(handler)"
        case let .tripleFault(reason): "triple fault: \(reason)"
        case let .machineCheck(reason): "machine check: \(reason)"
        }
    }
}
/*:*/
