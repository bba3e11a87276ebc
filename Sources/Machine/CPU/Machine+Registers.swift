/*X:125 A few registers without the whole processor.

`machine.cpu` reads and writes the whole `CPUState` (`X:120`): a couple of hundred bytes copied each
way, and on a write the segment bases recomputed and the code page forgotten, because any register
might have changed. The Switcher (`S:105`) often needs far less: the privilege level and the address
of the next instruction to decide what runs next, one register for a hypercall's answer, six to load
a hypercall's arguments. These accessors read or change just that, in place. They never touch a
segment register, a control register or the flags, so nothing the machine caches about them can go
stale. */

extension Machine {
    /// The current privilege level: the RPL of cs (`CPUState.cpl`).
    public var currentPrivilegeLevel: UInt8 { core.cpu.cpl }

    /// The linear address of the next instruction: cs's base plus eip.
    public var linearInstructionPointer: GuestVirtualAddress {
        GuestVirtualAddress(core.cpu.cs.base &+ core.cpu.eip)
    }

    /// General register `register`.
    public func register(_ register: Register32) -> UInt32 { core.cpu[register] }

    /// Sets general register `register` to `value`, and nothing else.
    public func setRegister(_ register: Register32, to value: UInt32) { core.cpu[register] = value }

    /// Sets eip to `offset` in the current code segment, and nothing else.
    public func setInstructionPointer(_ offset: UInt32) { core.cpu.eip = offset }
}
/*:*/
