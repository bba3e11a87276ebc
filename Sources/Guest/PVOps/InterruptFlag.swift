/*G:033 The virtual interrupt flag.

With the shared page in place (`G:032`), we can replace our first native instructions: the four a
kernel uses to control interrupts. `cli` turns them off, `sti` back on, and `pushf`/`popf` save and restore the
flags register that holds the interrupt flag (IF, bit 9 of eflags).

The obvious replacement is a pair of hypercalls, "interrupts off" and "interrupts on". It would be far
too slow: these are the most frequently used of all the operations we replace. A kernel turns
interrupts off around every lock it takes from interrupt context, around every tiny critical section;
a world switch for each would make the Guest crawl.

So the flag moves into memory. `lguest_data.irqEnabled` holds 0x200 (eflags' IF bit) when the Guest
will take interrupts and 0 when it will not, and the Host looks there before it delivers one (`H:210`).
Turning interrupts off is one memory write. Saving the flags is one memory read; and because we keep
the value in IF's own bit position, Linux's code that saves "the flags" and tests IF keeps working.

These four functions are the entries the pv-ops table points at (`G:030`); the kernel calls them
through `saveFlags()` and friends, which go through the table or, once patched, straight to the
memory access (`G:050`). */

import LguestABI
import Machine

/// The four interrupt-flag operations lguest installs, as the pv-ops table holds them.
enum LguestIRQOps {
    /// `save_fl`: the virtual flag, in eflags' IF position.
    static func saveFlags(_ kernel: GuestKernel) throws(GuestStopped) -> UInt32 {
        try kernel.read32(kernel.lguestDataField(LguestData.irqEnabled))
    }

    /// `restore_fl`: put back a value `saveFlags` returned.
    static func restoreFlags(_ kernel: GuestKernel, _ flags: UInt32) throws(GuestStopped) {
        try kernel.write32(kernel.lguestDataField(LguestData.irqEnabled), flags & irqEnabledValue)
        if flags & irqEnabledValue != 0 {
            try kernel.deliverPendingInterrupts()
        }
    }

    /// `irq_disable`: interrupts go off.
    static func disable(_ kernel: GuestKernel) throws(GuestStopped) {
        try kernel.write32(kernel.lguestDataField(LguestData.irqEnabled), 0)
    }

    /// `irq_enable`: interrupts go on, and any that waited are taken now (M:003).
    static func enable(_ kernel: GuestKernel) throws(GuestStopped) {
        try kernel.write32(kernel.lguestDataField(LguestData.irqEnabled), irqEnabledValue)
        try kernel.deliverPendingInterrupts()
    }
}
/*:*/

/*M:003 Noticing an interrupt that waited.

lguest 2.6.30 did not check for interrupts that arrived while the flag was off: it relied on the next
timer tick to deliver them. With a tickless kernel there may be no next tick, and a later version of
lguest added the check, in a form with a flaw that is instructive: the test it made could never be
true, so the check never fired: one of the few outright bugs in the original's Guest.

Ours is done properly. When the Host wants to deliver an interrupt and finds the flag off, it sets
`lguest_data.irqPending` (`H:210`). Whenever we turn the flag back on, we read `irqPending`, and only if
it is set do we pay for a hypercall: any hypercall will do, since the Host delivers waiting interrupts
on the way back from every one, so we use the one that does nothing else, `FLUSH_ASYNC`. The common
case, no interrupt waiting, costs one extra memory read.

An idea for the reader: the read could be avoided entirely by putting `irqEnabled` alone on a page the
Host write-protects whenever an interrupt waits; the write that turns interrupts on would then fault
into the Host at exactly the right moment. Whether a fault is cheaper than a read on every enable is a
question for a benchmark. */

extension GuestKernel {
    /// If the Host left an interrupt waiting while our flag was off, make a hypercall so it is
    /// delivered now (any hypercall returns through the Host's delivery check).
    func deliverPendingInterrupts() throws(GuestStopped) {
        let pending = try read32(lguestDataField(LguestData.irqPending))
        if pending & irqEnabledValue != 0 {
            try hcall(.flushAsync)
        }
    }
}
/*:*/

/*G:045 The way back: iret and the no-interrupt window.

Every interrupt handler ends with `iret`, which pops eip, cs and eflags (and, going back to user mode,
esp and ss) off the stack. On real hardware the popped eflags turns interrupts back on in the same
instruction that returns, so no interrupt can slip in between. We have a problem: our interrupt flag is
not in eflags, it is in `lguest_data`, so our `iret` must be two steps, "copy IF from the frame into
`irqEnabled`" and then the real `iret`. If the Host delivered an interrupt between the two, the new frame
would be pushed onto a stack we were just leaving, and the world would end in confusion.

lguest's answer is a *no-interrupt window*: the Guest tells the Host (in `noInterruptStart` and
`noInterruptEnd`) the addresses of those few instructions, and the Host never delivers an interrupt
while eip is inside them (`H:210`). The kernel text really contains them (`P:500`): a store
followed by the `iret`. lguest's store carried an `%ss:` prefix, because ds may already hold the user's
segment when we get here; our kernel text needs none, since the machine treats data segments as flat.
Our Swift version does the same two steps, telling the processor that the store executes as the
instruction inside the window, so a trap it causes arrives with eip where the Host expects it.

**Exercise** (medium; read first G:033, H:210): finish `interruptReturn()`: copy the interrupt flag
from the frame's eflags into `irqEnabled` with the store the Host knows as the no-interrupt window,
then return from the interrupt. */

extension GuestKernel {
    /// Return from an interrupt or trap: the frame (eip, cs, eflags, ...) is at the stack pointer and
    /// the general registers hold what the interrupted code should see.
    func interruptReturn() throws(GuestStopped) {
        // exercise G:045 {
        let cpu = self.cpu
        let eflags = try cpu.load32(GuestVirtualAddress(cpu.registers.esp &+ 8))
        try cpu.store32(eflags & irqEnabledValue, at: lguestDataField(LguestData.irqEnabled),
                        site: .noInterruptWindow)
        try cpu.returnFromInterrupt()
        // exercise G:045 } stub: ExerciseStub.unfinished("G:045"); try cpu.returnFromInterrupt()
    }
}
/*:*/
