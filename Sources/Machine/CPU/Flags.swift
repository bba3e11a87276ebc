/*X:100 The flags register.

`eflags` is where the i386 keeps two quite different kinds of state side by side. The low bits are
*status flags*, set as a side effect of arithmetic: did the last result carry out of the top bit, was it
zero, was it negative, did it overflow as a signed number. Conditional jumps read them. The higher bits
are *control flags*: whether the CPU takes interrupts (IF), whether string instructions walk up or down
memory (DF), single-stepping (TF), and the two-bit I/O privilege level (IOPL) that decides whether ring 3
may use `in`, `out`, `cli` and `sti`.

```
 31      22 21 20 19 18 17 16 15 14 13 12 11 10  9  8  7  6  5  4  3  2  1  0
+----------+--+--+--+--+--+--+--+--+-----+--+--+--+--+--+--+--+--+--+--+--+--+
| reserved |ID|  |  |AC|VM|RF| 0|NT|IOPL |OF|DF|IF|TF|SF|ZF| 0|AF| 0|PF| 1|CF|
+----------+--+--+--+--+--+--+--+--+-----+--+--+--+--+--+--+--+--+--+--+--+--+
```

Bit 1 is always 1; nobody remembers why, but every `pushf` in history has shown it. Because the
interpreter computes the status flags lazily (`X:520`), `CPUState.eflags` is only guaranteed exact when
the interpreter is not running; from outside the machine that is always. */

/// The EFLAGS register. Each flag's documentation names its bit in the Intel manual (Vol. 1 §3.4.3).
public struct EFLAGS: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// CF, bit 0: carry (or borrow) out of the most significant bit.
    public static let carry = EFLAGS(rawValue: 1 << 0)
    /// Bit 1: reserved, always reads as 1.
    public static let alwaysOne = EFLAGS(rawValue: 1 << 1)
    /// PF, bit 2: the low byte of the result has an even number of 1 bits.
    public static let parity = EFLAGS(rawValue: 1 << 2)
    /// AF, bit 4: carry out of bit 3 (for BCD arithmetic).
    public static let auxiliaryCarry = EFLAGS(rawValue: 1 << 4)
    /// ZF, bit 6: the result was zero.
    public static let zero = EFLAGS(rawValue: 1 << 6)
    /// SF, bit 7: the most significant bit of the result.
    public static let sign = EFLAGS(rawValue: 1 << 7)
    /// TF, bit 8: trap after every instruction (single-step).
    public static let trap = EFLAGS(rawValue: 1 << 8)
    /// IF, bit 9: maskable external interrupts are enabled.
    public static let interruptEnable = EFLAGS(rawValue: 1 << 9)
    /// DF, bit 10: string instructions decrement their pointers.
    public static let direction = EFLAGS(rawValue: 1 << 10)
    /// OF, bit 11: the result overflowed as a signed number.
    public static let overflow = EFLAGS(rawValue: 1 << 11)
    /// NT, bit 14: nested task (hardware task switching; unused here).
    public static let nestedTask = EFLAGS(rawValue: 1 << 14)
    /// RF, bit 16: resume flag for instruction breakpoints.
    public static let resume = EFLAGS(rawValue: 1 << 16)
    /// VM, bit 17: virtual-8086 mode (not emulated).
    public static let virtual8086 = EFLAGS(rawValue: 1 << 17)
    /// AC, bit 18: alignment check at ring 3.
    public static let alignmentCheck = EFLAGS(rawValue: 1 << 18)
    /// ID, bit 21: software can toggle it when `cpuid` exists.
    public static let identification = EFLAGS(rawValue: 1 << 21)

    /// The six status flags arithmetic sets: CF PF AF ZF SF OF.
    public static let status: EFLAGS = [.carry, .parity, .auxiliaryCarry, .zero, .sign, .overflow]

    /// IOPL, bits 12-13: the least privileged ring still allowed to do I/O and cli/sti.
    public var iopl: UInt8 {
        get { UInt8((rawValue >> 12) & 3) }
        set { rawValue = (rawValue & ~(3 << 12)) | (UInt32(newValue & 3) << 12) }
    }

    public var description: String {
        let names: [(EFLAGS, String)] = [
            (.carry, "CF"), (.parity, "PF"), (.auxiliaryCarry, "AF"), (.zero, "ZF"), (.sign, "SF"),
            (.trap, "TF"), (.interruptEnable, "IF"), (.direction, "DF"), (.overflow, "OF"),
        ]
        let set = names.filter { contains($0.0) }.map(\.1)
        return "[" + set.joined(separator: " ") + " IOPL=\(iopl)]"
    }
}

/*X:110 The control registers.

Four control registers decide what kind of machine the CPU is pretending to be.

* **cr0** holds the big switches. PE turns on protected mode (always on here: we have no real mode); PG
  turns on paging; WP makes read-only pages read-only even for the kernel; TS ("task switched") and EM
  make every floating-point instruction fault with #NM, which is how kernels (and lguest's Guest, `G:038`)
  save the FPU state lazily.
* **cr2** is written by the CPU on a page fault with the address that faulted.
* **cr3** holds the physical address of the current page directory. Loading it changes address space
  and flushes the TLB.
* **cr4** holds later extensions. We honour TSD (make `rdtsc` privileged) and PGE (global pages);
  the rest are accepted and ignored, since this CPU is older than them. */

/// Control register 0 (Intel Vol. 3 §2.5).
public struct CR0: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// PE, bit 0: protected mode enabled.
    public static let protectionEnable = CR0(rawValue: 1 << 0)
    /// MP, bit 1: `wait`/`fwait` honour TS.
    public static let monitorCoprocessor = CR0(rawValue: 1 << 1)
    /// EM, bit 2: no FPU; every x87 instruction raises #NM.
    public static let emulation = CR0(rawValue: 1 << 2)
    /// TS, bit 3: task switched; the next FPU instruction raises #NM (cleared by `clts`).
    public static let taskSwitched = CR0(rawValue: 1 << 3)
    /// ET, bit 4: extension type (387-class FPU); hard-wired to 1 on later CPUs.
    public static let extensionType = CR0(rawValue: 1 << 4)
    /// NE, bit 5: report FPU errors natively.
    public static let numericError = CR0(rawValue: 1 << 5)
    /// WP, bit 16: supervisor writes honour read-only pages.
    public static let writeProtect = CR0(rawValue: 1 << 16)
    /// AM, bit 18: alignment mask.
    public static let alignmentMask = CR0(rawValue: 1 << 18)
    /// NW, bit 29: not write-through.
    public static let notWriteThrough = CR0(rawValue: 1 << 29)
    /// CD, bit 30: cache disable.
    public static let cacheDisable = CR0(rawValue: 1 << 30)
    /// PG, bit 31: paging enabled.
    public static let paging = CR0(rawValue: 1 << 31)
}

/// Control register 4 (Intel Vol. 3 §2.5). Only TSD and PGE change this machine's behaviour.
public struct CR4: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// VME, bit 0: virtual-8086 mode extensions.
    public static let virtual8086Extensions = CR4(rawValue: 1 << 0)
    /// PVI, bit 1: protected-mode virtual interrupts.
    public static let protectedModeVirtualInterrupts = CR4(rawValue: 1 << 1)
    /// TSD, bit 2: `rdtsc` is privileged (#GP outside ring 0).
    public static let timeStampDisable = CR4(rawValue: 1 << 2)
    /// DE, bit 3: debugging extensions.
    public static let debuggingExtensions = CR4(rawValue: 1 << 3)
    /// PSE, bit 4: 4 MiB pages (not supported by this machine's MMU).
    public static let pageSizeExtensions = CR4(rawValue: 1 << 4)
    /// PAE, bit 5: physical address extension (not supported).
    public static let physicalAddressExtension = CR4(rawValue: 1 << 5)
    /// MCE, bit 6: machine-check enable.
    public static let machineCheckEnable = CR4(rawValue: 1 << 6)
    /// PGE, bit 7: global pages survive cr3 reloads.
    public static let pageGlobalEnable = CR4(rawValue: 1 << 7)
}
/*:*/
