/*G:042 An interrupt controller made of one word.

A PC's interrupts pass through an interrupt controller chip, which a kernel programs to mask
(temporarily ignore) and acknowledge each line. Ours is the simplest controller imaginable: the
`blockedInterrupts` bitmap in `lguest_data` (`P:220`). Masking IRQ n sets bit n and unmasking clears it,
both plain memory writes; the Host simply never delivers an interrupt whose bit is set. There is no
acknowledging: an interrupt the Host has delivered is no longer pending.

Linux handles our interrupts as *level-triggered*: mask the line, run the handler, unmask. That keeps
a device that is still asserting its line from interrupting its own handler, and with this controller
it costs two memory writes.

At boot, `initIRQ()` points every vector from 32 up, except the system-call vector, at the kernel's
interrupt entry (an interrupt gate, so handlers start with interrupts off). IRQ n arrives on vector
32 + n; lguest's mapping is one to one.

The bitmap is also the answer to a question the Host asks on every entry: is an interrupt pending that
the Guest will take? Pending minus blocked (`H:210`): one `and` of two words. A controller that must be
programmed through I/O ports would make that question a conversation. */

import LguestABI
import Machine

enum LguestIRQChip {
    /// Mask `irq`: the Host will hold it until it is unmasked.
    static func mask(_ kernel: GuestKernel, _ irq: Int) throws(GuestStopped) {
        precondition((0..<irqCount).contains(irq), "guest: irq \(irq) out of range")
        let field = kernel.lguestDataField(LguestData.blockedInterrupts)
        try kernel.write32(field, try kernel.read32(field) | 1 << UInt32(irq))
    }

    /// Unmask `irq`. If it was waiting, the Host delivers it on its next chance: the next hypercall
    /// or trap, or at the latest the next timer tick.
    static func unmask(_ kernel: GuestKernel, _ irq: Int) throws(GuestStopped) {
        precondition((0..<irqCount).contains(irq), "guest: irq \(irq) out of range")
        let field = kernel.lguestDataField(LguestData.blockedInterrupts)
        try kernel.write32(field, try kernel.read32(field) & ~(1 << UInt32(irq)))
    }
}

extension GuestKernel {
    /// Point every external vector (32 and up, except the system call's) at its interrupt entry.
    func initIRQ() throws(GuestStopped) {
        // Vector 0x80 keeps its trap gate: a program's `int $0x80` is not an interrupt.
        for vector in Int(firstExternalVector)...255 where vector != Int(systemCallVector) {
            guard let gate = gate(for: UInt8(vector)) else { continue }
            try writeIDTEntry(UInt8(vector), gate)
        }
    }

    /// Run `handler` whenever IRQ `irq` arrives.
    func installIRQHandler(_ irq: Int, _ handler: @escaping (GuestKernel) throws(GuestStopped) -> Void) {
        irqHandlers[irq] = handler
    }

    /// An external interrupt arrived on `vector`: mask, handle, unmask (level-triggered handling).
    func handleIRQ(vector: UInt8) throws(GuestStopped) {
        // IRQ n arrives on vector 32 + n; a vector beyond our 32 IRQs, or one nobody asked for, is
        // counted and otherwise ignored, as Linux counts spurious interrupts.
        let irq = Int(vector &- firstExternalVector)
        guard irq < irqCount, let handler = irqHandlers[irq] else {
            statistics.spuriousInterrupts += 1
            return
        }
        try LguestIRQChip.mask(self, irq)
        try handler(self)
        try LguestIRQChip.unmask(self, irq)
    }
}
/*:*/
