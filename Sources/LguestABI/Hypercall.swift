/*P:100 Hypercalls: the Guest's system calls.

A program that wants something from its kernel makes a system call: it puts a number and some
arguments in registers and traps. A Guest that wants something from its Host does exactly the same,
and the call is named a *hypercall*. lguest's Guest traps with `int $0x1F`, with the call's number in
eax and up to four arguments in ebx, ecx, edx and esi; the Host puts the result back in eax.

Vector 0x1F is one the processor reserves and never raises itself, so there is no confusion with a
real exception. The Host's interrupt table points that vector at the Switcher (`S:100`) with a gate the
Guest kernel, at ring 1, is allowed to use, and user programs, at ring 3, are not.

Every call the Host accepts is a case of `Hypercall`, with lguest's own numbers and names. A number the
Host does not recognise is not an accident to be ignored: the Guest is confused or hostile, and the
Host kills it (`H:120`). */

import Machine

/// The interrupt vector the Guest kernel uses to make a hypercall (lguest's `LGUEST_TRAP_ENTRY`).
public let hypercallVector: UInt8 = 0x1F

/// The hypercalls the Host understands, with lguest's numbers. The raw value travels in eax.
///
/// Arguments travel in ebx, ecx, edx and esi (called a1...a4 below); unused ones should be zero.
public enum Hypercall: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    /// Run every call waiting in the async ring, and nothing else (`LHCALL_FLUSH_ASYNC`).
    case flushAsync = 0
    /// The first call a Guest makes: a1 = guest-physical address of its `lguest_data` (`LHCALL_LGUEST_INIT`).
    case lguestInit = 1
    /// Stop the Guest: a1 = guest-physical address of a NUL-terminated reason,
    /// a2 = a `ShutdownKind` raw value (`LHCALL_SHUTDOWN`).
    case shutdown = 2
    /// Load the whole GDT: a1 = its guest-physical address, a2 = number of 8-byte entries (`LHCALL_LOAD_GDT`).
    case loadGDT = 3
    /// Switch page directory: a1 = guest-physical address of the new directory (`LHCALL_NEW_PGTABLE`).
    case newPageTable = 4
    /// Flush the TLB: a1 = 1 to drop kernel mappings too, 0 for user mappings only (`LHCALL_FLUSH_TLB`).
    case flushTLB = 5
    /// Set one IDT entry: a1 = vector, a2 = low word, a3 = high word of the gate (`LHCALL_LOAD_IDT_ENTRY`).
    case loadIDTEntry = 6
    /// Set the kernel stack for traps from user mode: a1 = stack segment selector, a2 = stack pointer,
    /// a3 = number of pages in the stack (`LHCALL_SET_STACK`).
    case setStack = 7
    /// Set or clear the task-switched bit of cr0: a1 = non-zero to set (`LHCALL_TS`).
    case taskSwitched = 8
    /// Arm the one-shot timer: a1 = nanoseconds from now, 0 to disarm (`LHCALL_SET_CLOCKEVENT`).
    case setClockEvent = 9
    /// Sleep until an interrupt is pending (`LHCALL_HALT`).
    case halt = 10
    /// Set one page table entry: a1 = guest-physical address of the page directory, a2 = the virtual
    /// address it maps, a3 = the new entry (`LHCALL_SET_PTE`).
    case setPTE = 14
    /// Set one page directory entry: a1 = guest-physical address of the directory page,
    /// a2 = the index of the entry within it (`LHCALL_SET_PMD`).
    case setPMD = 15
    /// Load the three thread-local-storage GDT entries: a1 = guest-physical address of the three
    /// descriptors, a2 = the CPU number (`LHCALL_LOAD_TLS`).
    case loadTLS = 16
    /// Tell the Launcher something: a1 = a guest-physical address it understands (`LHCALL_NOTIFY`).
    case notify = 17

    /// lguest's name for the call without its `LHCALL_` prefix, as the statistics print it.
    public var name: String {
        switch self {
        case .flushAsync: "FLUSH_ASYNC"
        case .lguestInit: "LGUEST_INIT"
        case .shutdown: "SHUTDOWN"
        case .loadGDT: "LOAD_GDT"
        case .newPageTable: "NEW_PGTABLE"
        case .flushTLB: "FLUSH_TLB"
        case .loadIDTEntry: "LOAD_IDT_ENTRY"
        case .setStack: "SET_STACK"
        case .taskSwitched: "TS"
        case .setClockEvent: "SET_CLOCKEVENT"
        case .halt: "HALT"
        case .setPTE: "SET_PTE"
        case .setPMD: "SET_PMD"
        case .loadTLS: "LOAD_TLS"
        case .notify: "NOTIFY"
        }
    }

    public var description: String { name }
}
/*:*/

/*P:110 How a Guest asks to stop.

A Guest stops by asking: `Hypercall.shutdown` carries a reason, as a string in guest memory, and a
kind. Power-off ends the Guest for good; restart asks the Launcher to boot it again. Either way the
Host stops running the Guest and hands the reason to the Launcher. A Guest that dies of a
misbehaviour instead never gets to choose its words: the Host writes its own reason (`H:030`). */

/// What the Guest wants after `Hypercall.shutdown` (lguest's `LGUEST_SHUTDOWN_*`).
public enum ShutdownKind: UInt32, Sendable {
    /// Stop for good.
    case powerOff = 1
    /// Boot again.
    case restart = 2
}

/// The longest shutdown reason or early-console string the Host reads from guest memory, in bytes.
public let maximumGuestStringLength = 1024
/*:*/
