/*X:450 iret: the way back out.

`iret` undoes an interrupt: it pops eip, cs and eflags, and if the popped cs is less privileged than the
current ring it also pops esp and ss, returning to the interrupted program's own stack. In lguest this
instruction is everywhere: the guest kernel, at ring 1, ends every trap handler and every system call
with it, and the Host uses the same path to start guest programs at ring 3 in the first place.

Because the values come off a stack the kernel controls, the CPU checks them as carefully as it checks a
segment load (`X:230`):

* the new cs must not be null, and its RPL must be at least the CPL: `iret` can lower privilege but
  never raise it, which is why a ring-1 guest kernel can never `iret` its way into ring 0;
* its descriptor must be a present code segment whose DPL equals the RPL (or, for conforming code, does
  not exceed it);
* when returning outward, the new ss must have the same RPL as the new cs and name a present, writable
  data segment of that DPL;
* afterwards, any of ds, es, fs, gs holding a segment more privileged than the new ring is cleared to
  null, so the kernel's data segments do not leak into user mode.

Failures raise #GP (or #NP, #SS) with the offending selector, and nothing has changed by then: all five
values are read and checked before the first register is written.

Which eflags bits may change also depends on privilege: IOPL only at ring 0, IF only when the CPL is
within IOPL. That is how a guest kernel at ring 1 with IOPL 0 finds that `iret` quietly leaves IF
alone, the behaviour lguest's Guest has to work around with its virtual interrupt flag (`G:033`).
This machine has no virtual-8086 mode, so a popped VM bit is ignored, and no hardware task switching,
so `iret` with NT set returns as if NT were clear (a real CPU would switch back to the previous task).

**Exercise** (medium; read first X:230, G:045): check the code segment `iret` returns to: a null
selector, or one whose RPL would raise privilege above the CPL, raises #GP. */

extension Core {
    /// Executes `iret` at the current privilege: checks, then pops, per `X:450`.
    mutating func interruptReturn() throws(Fault) {
        materializeFlags()
        let cpl = cpu.cpl
        let user = cpl == 3
        let stackBase = cpu.ss.base &+ cpu.esp
        func pop(_ index: UInt32) throws(Fault) -> UInt32 {
            do { return try readLinear(stackBase &+ index * 4, width: 4, user: user) } catch { throw .pageFault(error) }
        }
        // Read the three words every iret pops, without moving esp yet.
        let newEIP = try pop(0)
        let newCS = SegmentSelector(rawValue: UInt16(truncatingIfNeeded: try pop(1)))
        let poppedFlags = EFLAGS(rawValue: try pop(2))

        // The code segment we are returning to: never more privileged than we are.
        // exercise X:450 {
        guard !newCS.isNull else { throw .generalProtection(0) }
        let csCode = newCS.tableOffset
        guard newCS.rpl >= cpl else { throw .generalProtection(csCode) }
        // exercise X:450 } stub: let csCode = ExerciseStub.unfinished("X:450", newCS.tableOffset)
        var code = try loadDescriptor(newCS)
        let conforming = code.typeBits.contains(.conformingOrExpandDown)
        guard code.isCode, conforming ? code.dpl <= newCS.rpl : code.dpl == newCS.rpl else {
            throw .generalProtection(csCode)
        }
        guard code.isPresent else { throw .exception(11, errorCode: csCode) }

        // Returning outward: two more words, the stack we go back to, checked like a load of ss.
        var outer: (segment: SegmentRegister, esp: UInt32)?
        if newCS.rpl > cpl {
            let newESP = try pop(3)
            let newSS = SegmentSelector(rawValue: UInt16(truncatingIfNeeded: try pop(4)))
            let ssCode = newSS.tableOffset
            guard !newSS.isNull else { throw .generalProtection(0) }
            guard newSS.rpl == newCS.rpl else { throw .generalProtection(ssCode) }
            var stack = try loadDescriptor(newSS)
            guard stack.isWritableData, stack.dpl == newCS.rpl else { throw .generalProtection(ssCode) }
            guard stack.isPresent else { throw .exception(12, errorCode: ssCode) }
            try markAccessed(newSS, &stack)
            outer = (SegmentRegister(selector: newSS, descriptor: stack), newESP)
        }
        try markAccessed(newCS, &code)

        // Every check has passed: commit, the flags first, with the old CPL deciding what may change.
        cpu.eflags = returnedFlags(poppedFlags, cpl: cpl)
        cpu.cs = SegmentRegister(selector: newCS, descriptor: code)
        cpu.eip = newEIP
        if let outer {
            cpu.ss = outer.segment
            cpu.esp = outer.esp
            for name in [SegmentRegisterName.es, .ds, .fs, .gs] { dropIfTooPrivileged(name, ring: newCS.rpl) }
        } else {
            cpu.esp &+= 12
        }
        refreshSegmentBases()
        invalidateFetchPage()
    }

    /// The eflags `iret` or `popf` installs: the popped value, except for the bits the CPL may not change.
    func returnedFlags(_ popped: EFLAGS, cpl: UInt8) -> EFLAGS {
        var changeable: EFLAGS = [.status, .trap, .direction, .nestedTask, .resume, .alignmentCheck, .identification]
        if cpl <= cpu.eflags.iopl { changeable.insert(.interruptEnable) }
        if cpl == 0 { changeable.insert(EFLAGS(rawValue: 3 << 12)) }
        return cpu.eflags.subtracting(changeable).union(popped.intersection(changeable)).union(.alwaysOne)
    }

    /// Nulls a data segment register that a less privileged `ring` may not keep (`X:450`).
    private mutating func dropIfTooPrivileged(_ name: SegmentRegisterName, ring: UInt8) {
        let descriptor = cpu[name].descriptor
        let conformingCode = descriptor.typeBits.isSuperset(of: [.executable, .conformingOrExpandDown])
        if !cpu[name].selector.isNull && !conformingCode && descriptor.dpl < ring {
            cpu[name] = SegmentRegister(selector: SegmentSelector(rawValue: 0), descriptor: SegmentDescriptor(rawValue: 0))
        }
    }
}
/*:*/

extension Machine {
    /// Executes `iret` on the frame at ss:esp, as code at the current privilege would (`X:450`).
    /// Returns nil when the CPU returned; otherwise the fault was delivered through the IDT and the
    /// result says where the CPU now is (`.enteredKernel`) or why it stopped. The `iret` stands at
    /// cs:eip, so a fault frame names eip, as it names a faulting instruction in the interpreter.
    @discardableResult
    public func iret() -> StopReason? {
        // Outside `run`, nobody else says where the instruction starts: a fault restarts it here.
        core.instructionStart = core.cpu.eip
        do {
            try core.interruptReturn()
            return nil
        } catch {
            return core.deliverFault(error)
        }
    }
}
