/*P:400 How Swift code runs "at ring 1".

In lguest the Guest kernel is machine code, and the processor runs it at ring 1. Here the Guest kernel
is Swift, compiled for the host, and the emulated processor only interprets ring-3 programs. So what
does it mean for Swift code to run at ring 1?

It means the Swift code may touch the processor only the way ring-1 machine code could, and every such
touch goes through one narrow interface, `GuestProcessor`, which the Switcher implements:

* it may read and write the general registers and flags (`registers`);
* it may load and store through the MMU, as a supervisor, with the Host's shadow page tables in cr3;
  a fault goes to the Host exactly as a real one would (`load32`, `store32`, ...);
* it may trap into the Host with a hypercall (`hypercall`);
* it may *try* a privileged instruction, which faults into the Host like the real thing (`native`);
* it may use the unprivileged instructions `cpuid` and `rdtsc`;
* it may save and load the FPU's state with `fxsave` and `fxrstor`, as a kernel's context switch does
  (`saveFPU`, `restoreFPU`);
* and it finishes every handler with `iret` (`returnFromInterrupt`).

There is no other door. The Guest target imports this module and the Machine's value types, never
the Host or the Switcher, so the compiler enforces what lguest's Guest could only promise.

Where does the processor's instruction pointer point while Swift runs? At real instructions in a page
of guest kernel text (`GuestKernelImage`, `P:500`). A hypercall really is an `int $0x1F` at a known
address, so the frame it pushes names a real return address; an `in` instruction is really `0xEC` in
guest memory, so the Host's emulation decodes real bytes; and each handler has a real address in the
interrupt table. When the processor arrives at ring 1 at one of those addresses, the Switcher calls
the Swift function registered there.

If the Guest dies while its Swift code is on the stack (it powered off, or the Host killed it), the
Switcher throws `GuestStopped` out of whichever operation the Guest was in. Every Guest function that
can reach the processor is `throws(GuestStopped)`, so each `try` in the Guest marks exactly a point where
the Guest might never come back. It must not catch the error: it belongs to the run loop. */

import Machine

/// Thrown out of Guest code when the Guest has stopped (killed, powered off or restarting) and its
/// Swift stack must unwind back to the Host's run loop. Carries nothing: the Host knows why.
public struct GuestStopped: Error, Equatable, Sendable {
    public init() {}
}

/// The general registers, instruction pointer and flags as the Guest's Swift code sees them.
public struct GuestRegisters: Hashable, Sendable {
    public var eax: UInt32 = 0
    public var ebx: UInt32 = 0
    public var ecx: UInt32 = 0
    public var edx: UInt32 = 0
    public var esi: UInt32 = 0
    public var edi: UInt32 = 0
    public var ebp: UInt32 = 0
    public var esp: UInt32 = 0
    public var eip: UInt32 = 0
    public var eflags: EFLAGS = .alwaysOne

    public init() {}
}

/// The four registers `cpuid` returns.
public struct CPUIDResult: Hashable, Sendable {
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }
}

/// Which instruction of the kernel text a store executes as. It matters only for where the
/// processor's eip points if the store traps into the Host (`G:045`).
public enum AccessSite: Sendable {
    /// An ordinary store: the Host may deliver an interrupt when it returns.
    case ordinary
    /// The store inside the no-interrupt window just before `iret`: the Host will not.
    case noInterruptWindow
}

/*P:410 The door itself.

Here is the whole of `GuestProcessor`, and it is short on purpose: each requirement is one thing ring-1
machine code could do, from the list above. Notice what is missing. There is no way to set cr3, load
a descriptor table or read a host address; the only way to ask for those is `native(_:)`, which
really faults into the Host, or a hypercall. Every memory access takes a `GuestVirtualAddress`,
because the Guest kernel never sees a physical address it could use directly: it runs with paging on,
through the Host's shadow tables. The extension at the end only supplies defaults, so the Guest's
code can write `hypercall(.flushTLB)` without four zeros, and an ordinary `store32` without naming its
site. */
/// What Swift Guest code "at ring 1" can do with the processor. The Switcher implements it.
///
/// Every operation that can trap into the Host throws `GuestStopped` if the Guest does not survive
/// the trap. Page faults the Host can fix are fixed silently; faults it reflects run the Guest's own
/// fault handler (itself Swift) before the faulting access is tried again, as on hardware.
public protocol GuestProcessor: AnyObject {
    /// The general registers, eip and eflags of the processor now. Setting them changes the CPU.
    var registers: GuestRegisters { get set }

    /// Traps into the Host with `int $0x1F`: eax = `call`, ebx...esi = `a1`...`a4`; returns eax.
    /// The Host may deliver an interrupt before the call returns.
    func hypercall(_ call: Hypercall, _ a1: UInt32, _ a2: UInt32, _ a3: UInt32, _ a4: UInt32)
        throws(GuestStopped) -> UInt32

    /// Reads one byte at `address` as ring 1 would.
    func load8(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt8
    /// Reads a little-endian 16-bit value at `address` as ring 1 would.
    func load16(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt16
    /// Reads a little-endian 32-bit value at `address` as ring 1 would.
    func load32(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt32
    /// Writes one byte at `address` as ring 1 would.
    func store8(_ value: UInt8, at address: GuestVirtualAddress) throws(GuestStopped)
    /// Writes a 16-bit value little-endian at `address` as ring 1 would.
    func store16(_ value: UInt16, at address: GuestVirtualAddress) throws(GuestStopped)
    /// Writes a 32-bit value little-endian at `address`, executing as the instruction at `site`.
    func store32(_ value: UInt32, at address: GuestVirtualAddress, site: AccessSite) throws(GuestStopped)
    /// Reads `count` bytes starting at `address`.
    func loadBytes(_ address: GuestVirtualAddress, count: Int) throws(GuestStopped) -> [UInt8]
    /// Writes `bytes` starting at `address`.
    func storeBytes(_ bytes: [UInt8], at address: GuestVirtualAddress) throws(GuestStopped)
    /// Writes `words` little-endian starting at `address`: the same bytes, accesses and faults as
    /// `storeBytes` of their bytes, without building them.
    func storeWords<let count: Int>(_ words: InlineArray<count, UInt32>, at address: GuestVirtualAddress)
        throws(GuestStopped)

    /// Executes a privileged instruction as ring 1 machine code would: it traps (#GP) into the
    /// Host, which emulates it (in/out), or reflects the fault to the Guest's own handler.
    /// Operands come from, and results go to, `registers`.
    func native(_ instruction: NativeInstruction) throws(GuestStopped)

    /// Executes `fxsave` (or `fnsave`) at ring 1: the whole FPU state to the area at `address`
    /// (`G:049`). Page faults are taken as for a store; the Host kills a Guest that saves with
    /// cr0.TS still set or to a misaligned area.
    func saveFPU(_ format: FPUSaveFormat, at address: GuestVirtualAddress) throws(GuestStopped)
    /// Executes `fxrstor` (or `frstor`) at ring 1: the whole FPU state from the area at `address`.
    func restoreFPU(_ format: FPUSaveFormat, from address: GuestVirtualAddress) throws(GuestStopped)

    /// Executes `cpuid` for `leaf`: unprivileged, answered by the machine itself.
    func cpuid(_ leaf: UInt32) -> CPUIDResult

    /// Executes `rdtsc`: the machine's time-stamp counter, unprivileged.
    func readTimeStampCounter() -> UInt64

    /// Executes `iret` on the frame at esp, returning from the current handler. After it the
    /// processor is wherever the frame said; the calling Swift handler must return at once.
    func returnFromInterrupt() throws(GuestStopped)
}

extension GuestProcessor {
    /// Makes a hypercall with fewer arguments; the rest are zero.
    @discardableResult
    public func hypercall(_ call: Hypercall, _ a1: UInt32 = 0, _ a2: UInt32 = 0, _ a3: UInt32 = 0)
        throws(GuestStopped) -> UInt32
    {
        try hypercall(call, a1, a2, a3, 0)
    }

    /// Writes a 32-bit value as an ordinary store.
    public func store32(_ value: UInt32, at address: GuestVirtualAddress) throws(GuestStopped) {
        try store32(value, at: address, site: .ordinary)
    }

    /// Writes `words` as `storeBytes` of their little-endian bytes: the definition of `storeWords`,
    /// and all a processor needs that has no faster way.
    public func storeWords<let count: Int>(_ words: InlineArray<count, UInt32>, at address: GuestVirtualAddress)
        throws(GuestStopped)
    {
        var bytes: [UInt8] = []
        for index in words.indices { bytes += littleEndianBytes(UInt64(words[index]), 4) }
        try storeBytes(bytes, at: address)
    }
}
/*:*/
