/*H:200 Virtual interrupts.

The Guest has no interrupt controller and no timer chip; its interrupts are *virtual*: bits the Host
sets in `pendingInterrupts` and delivers when the Guest can take them. There are three kinds of
interrupt in this story, and it is worth keeping them apart:

* the Host's own interrupts (here only its timer, `S:120`), which the Guest never sees;
* virtual interrupts for the Guest (IRQ 0, its clock, is the one we raise), delivered by the Host;
* traps the Guest itself causes (page faults, system calls...), which go straight to the Guest's handler
  when they can (`H:250`) and through the Host when they cannot (`H:220`).

An interrupt is *deliverable* when it is pending and the Guest has not blocked it in the
`blockedInterrupts` bitmap of `lguest_data` (`P:220`): "pending minus blocked". */

import LguestABI
import Machine
import Switcher

extension Guest {
    /// Marks IRQ `irq` pending; it is delivered when the Guest can take it.
    public func raiseInterrupt(_ irq: Int) {
        // No Guest value reaches here: only the Host (the timer's IRQ 0) and the Launcher (each device's
        // index + 1, fixed when its bus is built) name an IRQ, so a bad one is a host bug.
        precondition((0..<irqCount).contains(irq), "interrupts: irq \(irq)")
        pendingInterrupts |= 1 << UInt32(irq)
    }

    /// The Guest's blocked-interrupt bitmap; everything is blocked until `lguest_data` exists.
    func blockedInterrupts() throws(GuestViolation) -> UInt32 {
        guard let data = lguestData else { return .max }
        return try memory.load32(data.advanced(by: LguestData.blockedInterrupts))
    }
    /*:*/

    /*H:205 The Guest's clock.

    The Guest arms its timer with `SET_CLOCKEVENT` and a delay in nanoseconds; the Host notes the
    deadline on the machine's virtual clock. Whenever the Host is about to run the Guest it checks the
    clock, and once the deadline has passed it raises IRQ 0 and disarms the timer: a one-shot timer fires
    once. The Host also keeps the Guest from running past the deadline unnoticed: the instruction budget
    the Switcher gets (`instructionBudget`) ends at the deadline. A delay of 0 disarms the timer. */

    /// Handles SET_CLOCKEVENT: arms the timer `nanoseconds` from now, or disarms it with 0.
    func setClockEvent(nanoseconds: UInt32) {
        clockDeadline = nanoseconds == 0 ? nil : host.machine.clock.ticks &+ UInt64(nanoseconds)
    }

    /// Raises IRQ 0 if the timer's deadline has passed.
    func raiseExpiredTimer() {
        guard let deadline = clockDeadline, machine.clock.ticks >= deadline else { return }
        clockDeadline = nil
        raiseInterrupt(timerIRQ)
    }
    /*:*/

    /*H:210 When can the Guest take an interrupt?

    Before each switch into the Guest, the Host looks for the lowest deliverable IRQ and asks three
    questions:

    1. Is the Guest inside its no-interrupt window (`G:045`)? That window is the few instructions of the
       Guest's `iret` path after it has restored its interrupt flag and before the `iret` itself; an
       interrupt there would be delivered on a stack that is about to be popped. Then: not now.
    2. Is the Guest halted? Then the interrupt is what it was waiting for: wake it and turn its virtual
       interrupt flag back on, as lguest does, since a halt is "enable interrupts and wait".
    3. Otherwise, is its virtual interrupt flag (`irqEnabled`) on? If not, the Host cannot deliver, but
       it sets `irqPending` so the Guest knows to ask for it when it turns interrupts back on.

    If it passes, the interrupt is delivered (`H:215`) and its bit cleared. */

    /// Delivers the lowest deliverable virtual interrupt if the Guest can take one now.
    func maybeDeliverInterrupt() throws(GuestViolation) {
        guard let data = lguestData, pendingInterrupts != 0 else { return }
        let deliverable = pendingInterrupts & ~(try blockedInterrupts())
        guard deliverable != 0 else { return }
        // The lowest-numbered IRQ goes first, as on a PC's interrupt controller.
        let irq = deliverable.trailingZeroBitCount
        let registers = registerPage.registers
        if registers.cs & 3 == UInt32(guestKernelRing) && noInterruptWindow.contains(registers.eip) { return }
        let flag = data.advanced(by: LguestData.irqEnabled)
        if halted {
            try memory.store32(irqEnabledValue, at: flag)
            halted = false
        } else if try memory.load32(flag) & irqEnabledValue == 0 {
            try memory.store32(irqEnabledValue, at: data.advanced(by: LguestData.irqPending))
            return
        }
        let vector = LguestABI.vector(forIRQ: irq)
        guard idt[Int(vector)].isPresent else { return }  // No handler yet: the interrupt waits.
        try pushFrame(vector: vector, errorCode: nil)
        pendingInterrupts &= ~(1 << UInt32(irq))
        try memory.store32(0, at: data.advanced(by: LguestData.irqPending))
        statistics.interruptsDelivered &+= 1
        report(.interrupt(vector: vector))
    }
    /*:*/

    /*H:215 Pushing the frame, as the processor would.

    Delivering an interrupt means doing by hand what the processor does for a real one (`X:410`), on the
    Guest's stack and registers page:

    * if the Guest was in user mode, switch to its kernel stack (ss1:esp1, from `SET_STACK`) and push the
      old ss and esp there first;
    * push eflags, cs and eip, and the error code for the vectors that have one (8, 10-14, 17);
    * point cs:eip at the handler from the Guest's IDT entry, at ring 1;
    * for an interrupt gate, turn the Guest's *virtual* interrupt flag off, as the processor clears IF.

    The eflags pushed carries the virtual flag in its IF bit, not the real one (which is always on while
    the Guest runs), so the Guest's `iret` path restores the right thing.

    The stack addresses are the Guest's virtual addresses, so each word goes through the Guest's own page
    tables (`guestPhysical(of:)`) and then `GuestMemory`: a Guest whose stack is unmapped, or points
    outside its memory, dies here rather than corrupting anything. */

    /// Delivers `vector` to the Guest's handler, pushing the frame on the right Guest stack.
    func pushFrame(vector: UInt8, errorCode: UInt32?) throws(GuestViolation) {
        var registers = registerPage.registers
        let gate = idt[Int(vector)]
        let fromUser = registers.cs & 3 != UInt32(guestKernelRing)
        var stack = fromUser ? kernelStack.pointer : registers.esp
        let stackSegment = fromUser ? UInt32(kernelStack.segment.rawValue) : registers.ss
        // From user mode the frame starts with the user's stack, which the Guest's iret will restore.
        var words: [UInt32] = fromUser ? [registers.ss, registers.esp] : []
        var flags = EFLAGS(rawValue: registers.eflags)
        if let data = lguestData, try memory.load32(data.advanced(by: LguestData.irqEnabled)) & irqEnabledValue == 0 {
            flags.remove(.interruptEnable)
        }
        words += [flags.rawValue, registers.cs, registers.eip]
        if let errorCode { words.append(errorCode) }
        // Push, highest address first, exactly as the processor would.
        for word in words {
            stack = stack &- 4
            try storeOnGuestStack(word, at: GuestVirtualAddress(stack))
        }
        // The Guest resumes in its handler, at ring 1, on the stack we just pushed to.
        registers.ss = stackSegment
        registers.esp = stack
        registers.cs = UInt32(GDTLayout.kernelCodeSelector.rawValue)
        registers.eip = gate.offset
        registerPage.registers = registers
        if gate.kind == .interrupt, let data = lguestData {
            try memory.store32(0, at: data.advanced(by: LguestData.irqEnabled))
        }
    }

    /// Writes one word of an interrupt frame at Guest virtual `address`.
    private func storeOnGuestStack(_ word: UInt32, at address: GuestVirtualAddress) throws(GuestViolation) {
        guard address.pageOffset <= UInt32(pageSize - 4) else {
            throw GuestViolation("interrupts: misaligned guest stack \(address)")
        }
        try memory.store32(word, at: try pageTables.guestPhysical(of: address))
    }
    /*:*/

    /*H:230 Checking the Guest's interrupt table.

    The Guest sets its IDT entries one at a time with `LOAD_IDT_ENTRY`. The processor will act on these
    gates with the Guest's privileges at stake, so each is checked and rewritten before the Host keeps it:

    * a few vectors the Guest may never set: 2 (NMI) and 8 (double fault), which belong to the Host; 15,
      which Intel reserves; and 0x1F, the hypercall vector itself. Trying kills the Guest;
    * a gate that is not present is simply cleared;
    * only interrupt gates and trap gates are allowed: a task gate would ask the processor for a hardware
      task switch through a TSS the Guest does not own;
    * the code segment is forced to the Guest kernel's (ring 1), whatever the Guest wrote; the handler
      address and the gate's privilege level (who may `int` to it) are the Guest's to choose.

    **Exercise** (easy; read first H:200): refuse the vectors a Guest may never set (NMI, double fault,
    the reserved 15 and the hypercall vector): a Guest that tries is killed. */

    /// Handles LOAD_IDT_ENTRY for `vector` with the gate's two words.
    func loadIDTEntry(vector: UInt32, low: UInt32, high: UInt32) throws(GuestViolation) {
        guard vector < 256 else { throw GuestViolation("interrupts: bad IDT entry number \(vector)") }
        // exercise H:230 {
        if vector == 2 || vector == 8 || vector == 15 || vector == UInt32(hypercallVector) {
            throw GuestViolation("interrupts: attempt to set special IDT entry \(vector)")
        }
        // exercise H:230 } stub: ExerciseStub.unfinished("H:230")
        let gate = GateDescriptor(low: low, high: high)
        if !gate.isPresent {
            idt[Int(vector)] = GateDescriptor(rawValue: 0)
        } else {
            guard gate.systemBitIsClear, let kind = gate.kind, kind == .interrupt || kind == .trap else {
                throw GuestViolation("interrupts: bad IDT type \(gate.type) for vector \(vector)")
            }
            idt[Int(vector)] = GateDescriptor(offset: gate.offset, selector: GDTLayout.kernelCodeSelector,
                                              kind: kind, dpl: gate.dpl)
        }
        idtChanged = true
    }
    /*:*/

    /*H:240 The table the processor really uses.

    The Guest's checked gates are not what the processor reads while the Guest runs. The Switcher's state
    page holds the real IDT (`S:010`), and the Host fills it: most vectors point at the Switcher's stub for
    that vector, at ring 0, so the trap comes to the Host first. Each stub gate takes its privilege level
    from the Guest's gate, so a user program may `int` to a vector exactly when the Guest said it may, and
    the hypercall gate gets privilege 1: the Guest kernel may use it, its programs may not. */

    /// The gate the Switcher's IDT holds for `vector`.
    func switcherGate(vector: UInt8) -> GateDescriptor {
        let guestGate = idt[Int(vector)]
        if guestGate.isPresent && isDirectTrap(vector: vector, gate: guestGate) { return guestGate }
        let dpl: UInt8 = vector == hypercallVector ? guestKernelRing : (guestGate.isPresent ? guestGate.dpl : 0)
        return GateDescriptor(offset: SwitcherLayout.stub(vector: vector).rawValue,
                              selector: GDTLayout.switcherCodeSelector, kind: .interrupt, dpl: dpl)
    }
    /*:*/

    /*H:250 Direct traps: the fast path.

    Going through the Host costs two world switches, and for a system call that is most of the cost. But
    the Host has no business in most of the Guest's traps: a system call, a breakpoint, a divide error in a
    user program are the Guest kernel's to handle. So for those, the Switcher's IDT holds the Guest's own
    gate, pointing straight at its handler at ring 1, and the processor delivers them onto the Guest
    kernel's stack (ss1:esp1) without the Host ever running. In lguest this took a system call from 1750 ns
    to 270 ns.

    Not every trap can go direct:

    * only *trap* gates: an interrupt gate would clear the real interrupt flag, which the Guest must never
      control;
    * vectors 32 and up are interrupts, which must come through the Host, except the system-call vector;
    * 14, the page fault, must come to the Host, which owns the shadow page tables and must see every
      fault first (`H:330`); 13, the general protection fault, because the Host emulates `in` and `out`
      (`H:225`); 7, the FPU trap, which the Host must see to track the task-switched bit; and 0x1F,
      which is the hypercall.

    And the Host may choose to have none: `Host.directTraps` (`lguest --no-direct-traps`) sends every
    trap through a Switcher stub, where `handleVector` reflects it (`H:220`). The Guest cannot tell the
    difference (same output, same system calls), only the clock on the wall can. The `syscall_loop`
    program making 200,000 `getpid` calls in a booted Guest measures both ways in one run of
    `lguest-bench` (BENCHMARKS.md): a round trip costs about 710 ns direct (`guest_syscall_direct_ns`)
    and 1,420 ns through the Host (`guest_syscall_reflected_ns`). Where lguest went from 1,750 ns to
    270 ns, a factor of six, we save about 700 ns, a factor of two: the same one world switch out and
    back (`world_switch_ns` is some 300 ns) plus the Host's reflection. The ratio is smaller because our
    direct path is dearer than a real one: on hardware, a direct trap costs the processor a gate and an
    `iret`, while here the Guest kernel's Swift handler does the work of Linux's entry code at the price
    of an emulated processor. It used to be dearer still. The first measurement gave 1,850 ns direct
    and 2,560 ns reflected, a factor of 1.4, and a profile put over a quarter of the direct call in
    writing the 20-byte `iret` frame of the return to user mode one checked byte at a time, out of six
    little arrays; written as five words (`S:236`), with the kernel's process and processor no longer
    copied and counted on the way (`G:012`, `G:088`), the call costs under two fifths of what it did.
    The saving, one round trip per system call, is the same lesson. */

    /// Whether `vector`'s gate may point straight at the Guest's handler.
    func isDirectTrap(vector: UInt8, gate: GateDescriptor) -> Bool {
        guard host.directTraps, gate.kind == .trap else { return false }
        if vector == systemCallVector { return true }
        return vector < firstExternalVector && vector != 7 && vector != 13 && vector != 14 && vector != hypercallVector
    }
    /*:*/

    /*H:260 The Guest kernel's stack.

    When a trap takes the Guest from user mode into its kernel, the processor switches to the kernel
    stack named by ss1:esp1, and the Guest sets those with `SET_STACK` on every context switch. Two checks
    protect the Host: the stack segment must be a ring-1 selector (the processor checks the descriptor
    itself when it uses it), and the stack may be at most two pages.

    Then the stack is *pinned*: mapped, writable, in the shadow page tables, now and after every flush.
    A trap that found its own stack unmapped would fault while delivering the fault, a double fault;
    rather than let that happen, the Host makes sure the pages are always there (`pinStack`). */

    /// Handles SET_STACK: the kernel stack for traps from user mode is `pages` pages below `pointer`.
    func setStack(segment: UInt32, pointer: UInt32, pages: UInt32) throws(GuestViolation) {
        let selector = SegmentSelector(rawValue: UInt16(truncatingIfNeeded: segment))
        guard segment <= UInt32(UInt16.max), selector.rpl == guestKernelRing, !selector.isNull else {
            throw GuestViolation("interrupts: bad stack segment \(segment)")
        }
        guard (1...UInt32(ShadowPageTables.maximumStackPages)).contains(pages) else {
            throw GuestViolation("interrupts: bad stack pages \(pages)")
        }
        try pageTables.pinStack(top: GuestVirtualAddress(pointer), pages: Int(pages))
        kernelStack = (selector, pointer)
    }
}
/*:*/

/*M:004 The interrupt flag on a reflected frame.

When the Host reflects a trap, the eflags it pushes carries the Guest's *virtual* interrupt flag
(`H:215`), so that the Guest's `iret` (`G:045`) puts back what was there. That costs the Host a read of
`lguest_data` on every delivery, and the Guest a store in the no-interrupt window on every return. An
alternative is to leave the real eflags in the frame and let the Guest's handlers, which know they were
entered through the Host, read `irqEnabled` themselves: fewer moving parts in the Host, more in the
Guest. Which one is simpler to prove correct when interrupts nest (`S:205`)? The tests of `H:215` and
`G:045` are the ones any change here must keep passing. :*/

/*M:005 Direct traps and the interrupt flag.

Only trap gates go direct (`H:250`), because an interrupt gate would clear the *real* interrupt flag, and
the Guest must never run with real interrupts off. But Linux wants some of its handlers entered with
interrupts off (the page fault handler, for instance, until it has read cr2). lguest's answer was to
send those through the Host, which clears the *virtual* flag for them. A Switcher that cleared
`irqEnabled` itself on the way through a direct gate, without a full world switch, would give those
handlers the fast path too. How would you do it without letting the Guest lie about which gates are
which? :*/

/*M:006 Trap gates inside the no-interrupt window.

The no-interrupt window (`G:045`, `H:210`) stops the Host from *delivering* an interrupt while the
Guest's `iret` path runs. It does not stop a direct trap: a user program cannot be running there, but the
Guest kernel itself could fault on its own stack in the window (our Switcher re-executes the `iret` after
the Host fixes the fault, `S:230`). What should happen if the fix-up reflected the fault instead, with
the virtual flag already restored? Try it with a test Guest whose stack page is missing. :*/

/*M:011 Non-maskable interrupts.

A Guest may never set vector 2 (`H:230`): the NMI belongs to the host, whose watchdogs and profilers use
it, and an NMI can arrive even in the middle of a world switch, when neither world's stack can be
trusted. lguest simply left NMIs to the host and never gave Guests one. A Guest that wanted a watchdog
of its own would need a virtual NMI: an interrupt the Host delivers even when the virtual flag is off,
and which the no-interrupt window (`H:210`) must not hold back either. Our machine raises no NMIs, so
there is nothing to try here yet beyond the design: where in `maybeDeliverInterrupt()` would it go, and what
stops a Guest's NMI handler from re-entering itself? :*/
