/*P:200 The page the Guest and the Host share.

Hypercalls are cheap, as traps go, but a trap is still a world switch, and some things a kernel does
thousands of times a second: turning interrupts off and on, reading the time, checking whether an
interrupt is waiting. For those lguest keeps a structure in ordinary guest memory, `lguest_data`,
which both sides read and write directly. The Guest tells the Host where it is with its very first
hypercall, `Hypercall.lguestInit`, and from then on the Host reaches it by address.

Because the structure is bytes in guest memory and not a Swift object, its layout is an ABI: the Guest
writes a field at one offset and the Host reads it at the same offset, and nothing but this file keeps
them in step. So every offset is written out by hand below, as the C compiler would lay out lguest's
`struct lguest_data` on the i386 (4-byte words, no padding needed), and a test (`p200_...`) checks each
one. A field that moves breaks the test, not a Guest.

```
 offset  size  field                 written by
      0     4  irqEnabled            Guest   0x200 (eflags' IF bit) when interrupts are on
      4     4  blockedInterrupts     Guest   one bit per IRQ: 1 = masked
      8     4  cr2                   Host    the address of the last page fault
     12     8  time (sec, nsec)      Host    the wall clock
     20     4  irqPending            Host    0x200 when an interrupt waits for irqEnabled
     24    64  hypercallStatus[64]   both    the async ring's status bytes (P:210)
     88  1280  hypercalls[64]        Guest   the async ring's calls, 5 words each
   1368     4  reserveMemory         Host    bytes at the top of memory the Guest must not map
   1372     4  tscKHz                Host    the time-stamp counter's rate
   1376     4  pageDirectory         Guest   the Guest's idea of its current cr3
   1380     4  noInterruptStart      Guest   the window where interrupts must not land (G:045)
   1384     4  noInterruptEnd        Guest
   1388     4  kernelAddress         Guest   where the kernel half starts (pageOffset)
   1392     4  systemCallVector      Guest   the vector user programs trap with
   1396        (end)
```

The first group is live state; the Host fills `reserveMemory` and `tscKHz` when it handles the INIT
hypercall; the last group the Guest fills before INIT and the Host reads once, at INIT. */

import Machine

/// The layout of `lguest_data`: byte offsets of each field from the structure's start.
public enum LguestData {
    /// u32: `irqEnabledValue` when the Guest's virtual interrupt flag is on, 0 when off.
    public static let irqEnabled: UInt32 = 0
    /// u32 bitmap: bit n set means IRQ n is masked (blocked) by the Guest.
    public static let blockedInterrupts: UInt32 = 4
    /// u32: the faulting address of the last page fault the Host reflected.
    public static let cr2: UInt32 = 8
    /// u32: wall-clock seconds; written by the Host, second after `timeNanoseconds` (`P:220`).
    public static let timeSeconds: UInt32 = 12
    /// u32: wall-clock nanoseconds within the second.
    public static let timeNanoseconds: UInt32 = 16
    /// u32: `irqEnabledValue` when the Host has an interrupt it could not deliver while the flag was off.
    public static let irqPending: UInt32 = 20
    /// 64 bytes: the status of each async ring slot (`hypercallReady` or `hypercallDone`).
    public static let hypercallStatus: UInt32 = 24
    /// 64 entries of `HypercallRingEntry.size` bytes: the async calls themselves.
    public static let hypercalls: UInt32 = hypercallStatus + UInt32(hypercallRingSize)
    /// u32: bytes at the top of the address space the Guest must leave alone (the Switcher's).
    public static let reserveMemory: UInt32 = hypercalls + UInt32(hypercallRingSize) * HypercallRingEntry.size
    /// u32: the time-stamp counter's frequency in kHz.
    public static let tscKHz: UInt32 = reserveMemory + 4
    /// u32: the guest-physical address of the page directory the Guest believes is in cr3.
    public static let pageDirectory: UInt32 = tscKHz + 4
    /// u32: first address of the Guest's no-interrupt window (inclusive).
    public static let noInterruptStart: UInt32 = pageDirectory + 4
    /// u32: end of the Guest's no-interrupt window (exclusive).
    public static let noInterruptEnd: UInt32 = noInterruptStart + 4
    /// u32: the virtual address where the kernel half of every address space begins.
    public static let kernelAddress: UInt32 = noInterruptEnd + 4
    /// u32: the vector user programs use for system calls.
    public static let systemCallVector: UInt32 = kernelAddress + 4
    /// The size of the whole structure in bytes.
    public static let size: UInt32 = systemCallVector + 4

    /// The offset of ring slot `slot`'s status byte; `slot` must be below `hypercallRingSize`.
    public static func statusOffset(slot: Int) -> UInt32 {
        precondition((0..<hypercallRingSize).contains(slot), "lguest_data: ring slot \(slot)")
        return hypercallStatus + UInt32(slot)
    }

    /// The offset of ring slot `slot`'s call; `slot` must be below `hypercallRingSize`.
    public static func entryOffset(slot: Int) -> UInt32 {
        precondition((0..<hypercallRingSize).contains(slot), "lguest_data: ring slot \(slot)")
        return hypercalls + UInt32(slot) * HypercallRingEntry.size
    }
}
/*:*/

/*P:210 The async ring: hypercalls that can wait.

Many hypercalls need no answer and no immediate effect: setting a page table entry that nobody will
use until the next context switch, for instance. The Guest can write such a call into a ring of 64
slots inside `lguest_data` instead of trapping, and the Host runs them all, in order, the next time the
Guest traps for any reason. Before it handles *any* synchronous hypercall the Host drains the ring
first (`H:110`), so a Guest never sees its calls run out of order.

Each slot has a status byte, kept apart from the calls in `hypercallStatus`: `hypercallDone` (0xFF)
means the slot is free, `hypercallReady` (0) means the Guest has filled it and the Host should run it.
The Guest writes the five words of the call first and the status byte last; the Host runs the call and
then writes 0xFF back. A Guest that finds its next slot not yet free knows the ring is full and makes
an ordinary hypercall, which drains the ring as a side effect. */

/// The number of slots in the async hypercall ring (lguest's `LHCALL_RING_SIZE`).
public let hypercallRingSize = 64

/// Status byte of a ring slot the Guest has filled and the Host has yet to run.
public let hypercallReady: UInt8 = 0

/// Status byte of a free ring slot: the Host has run it (or it was never used).
public let hypercallDone: UInt8 = 0xFF

/// The layout of one async ring slot: the call number and four arguments, as they would sit in eax,
/// ebx, ecx, edx and esi for a synchronous call.
public enum HypercallRingEntry {
    /// u32: the `Hypercall` raw value.
    public static let call: UInt32 = 0
    /// u32 x 4: a1...a4.
    public static let arguments: UInt32 = 4
    /// The size of one slot in bytes.
    public static let size: UInt32 = 20
}
/*:*/

/*P:220 Interrupts, as the Guest and the Host number them.

Real PCs deliver device interrupts ("IRQs") through an interrupt controller chip, which maps IRQ n to
some vector in the processor's interrupt table. lguest has no chip: IRQ n arrives on vector 32 + n,
the first vector after the 32 the processor reserves for its own exceptions. The timer is IRQ 0.

The Guest's "interrupt controller" is the `blockedInterrupts` bitmap in `lguest_data`: masking an IRQ
is setting its bit. We keep 32 IRQs, one 32-bit word, which is what later versions of lguest settled on
too. The Guest's virtual interrupt flag is `irqEnabled`, holding the value of the real eflags IF bit
(0x200) when interrupts are on, so the Guest can save and restore it exactly like eflags.

The system call vector is 0x80, as on Linux; it must never be used for an IRQ. */

/// The number of IRQs lguest delivers (lguest's `LGUEST_IRQS`): one bit each in `blockedInterrupts`.
public let irqCount = 32

/// The vector IRQ 0 arrives on; IRQ n arrives on `firstExternalVector + n`.
public let firstExternalVector: UInt8 = 32

/// The IRQ of the Guest's clock event (the timer).
public let timerIRQ = 0

/// The value of `irqEnabled` and `irqPending` meaning "yes": eflags' IF bit, bit 9.
public let irqEnabledValue: UInt32 = 0x200

/// The vector user programs trap with for system calls (Linux's `SYSCALL_VECTOR`).
public let systemCallVector: UInt8 = 0x80

/// The vector IRQ `irq` arrives on; `irq` must be below `irqCount`.
public func vector(forIRQ irq: Int) -> UInt8 {
    precondition((0..<irqCount).contains(irq), "irq: \(irq) out of range")
    return firstExternalVector &+ UInt8(irq)
}
/*:*/

/*P:230 Time for the Guest.

The Guest has no clock chip. Its notion of time comes from three places, all fed by the machine's
virtual clock (Appendix X), which advances with every instruction the machine executes and jumps
forward while the Guest sleeps: the wall clock in `lguest_data` (`timeSeconds`, `timeNanoseconds`),
which the Host refreshes whenever it is about to run the Guest; the processor's time-stamp counter,
whose rate the Host publishes in `tscKHz`; and a one-shot timer the Guest arms with
`Hypercall.setClockEvent`, which raises IRQ 0 when it expires.

Reading two words is not atomic, so the Host writes the seconds last and the Guest reads seconds,
nanoseconds, seconds again, and retries if the seconds changed (`G:043`): a reader never sees half of
an update. */

/// The wall-clock time the Guest's virtual clock starts at: 2009-06-10, when Linux 2.6.30 came out.
public let bootWallClockSeconds: UInt32 = 1_244_592_000
/*:*/
