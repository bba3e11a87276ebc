/*G:038 The long tour begins: operations that do nothing.

That is enough excitement for a while. From here we plough through the rest of the operations we
replace, roughly a third of the way through the pv-ops table, starting with the easiest: those whose
lguest version does nothing at all.

The *Local Descriptor Table* is a per-process GDT that almost nothing uses any more (Wine does, to run
16-bit Windows programs). We do not support one: a program that loads a selector from it faults, and
Wine will have to run somewhere else.

The *task register* (`ltr`) points the processor at the *Task State Segment*, the structure that once
drove hardware task switching and now mostly holds the kernel stack pointer for traps from user mode.
Everything useful in it the Host learns another way (SET_STACK, `G:044`), and `ltr` at ring 1 would
fault, so loading it becomes a no-op. The debug registers, `wbinvd` (write back and invalidate caches,
which means nothing for memory that is not real) and the local APIC's registers are in the same family:
we ignore writes and return 0 for reads. */

import LguestABI
import Machine

enum LguestNoOps {
    /// `set_ldt`: no LDT for Guest programs.
    static func setLDT(_ kernel: GuestKernel, _ address: GuestVirtualAddress, _ entries: UInt32) {}
    /// `load_tr_desc`: the Host keeps the real task register.
    static func loadTaskRegister(_ kernel: GuestKernel) {}
    /// `set_debugreg`: debugging a Guest this way is not supported.
    static func setDebugRegister(_ kernel: GuestKernel, _ register: Int, _ value: UInt32) {}
    /// `wbinvd`: our caches are imaginary, so there is nothing to write back.
    static func writeBackInvalidate(_ kernel: GuestKernel) {}
    /// `apic_read`: an interrupt controller that is not there reads as zero.
    static func apicRead(_ kernel: GuestKernel, _ register: UInt32) -> UInt32 { 0 }
    /// `apic_write`: and ignores what it is told.
    static func apicWrite(_ kernel: GuestKernel, _ register: UInt32, _ value: UInt32) {}
}
/*:*/

/*G:039 cpuid: what the Guest is allowed to think it is.

`cpuid` asks the processor who made it and what it can do. It is not privileged, so we run the real
one (the machine's, Appendix X), but a kernel believes what it reads and would switch on features the
Host cannot support for it. So, like lguest, we filter the answer:

* leaf 1's feature bits are cut down to the few our kernel and the machine can honour: the FPU, the
  time-stamp counter, `cmpxchg8b`, `cmov`, MMX, `fxsave`, SSE, SSE2 and SSE3, SSSE3, `cmpxchg16b`;
* one bit is *added*: PGE, global pages. Linux flushes its kernel mappings on every address-space
  switch unless the processor claims global pages, and the Host can keep the kernel half of its shadow
  tables across switches (`H:340`) only if the Guest does not ask for that flush;
* the family is reported as 5, a Pentium, because Linux's setup code for family 6 and later reads
  model-specific registers, which a Guest cannot do;
* the extended leaves are capped at 0x80000008, so a kernel does not go looking for leaves that later
  processors may define in ways nobody filtered.

Any user program can still run the real `cpuid` and see the unfiltered truth, since the instruction
does not trap. lguest's author noted this and declined to worry about it, and so do we. */

/// Feature bits of cpuid leaf 1, edx (Intel SDM vol. 2A, table 3-11).
struct CPUFeaturesEDX: OptionSet {
    let rawValue: UInt32
    /// bit 0: an x87 floating-point unit.
    static let fpu = CPUFeaturesEDX(rawValue: 1 << 0)
    /// bit 4: the time-stamp counter and `rdtsc`.
    static let tsc = CPUFeaturesEDX(rawValue: 1 << 4)
    /// bit 8: `cmpxchg8b`.
    static let cx8 = CPUFeaturesEDX(rawValue: 1 << 8)
    /// bit 13: global pages (CR4.PGE).
    static let pge = CPUFeaturesEDX(rawValue: 1 << 13)
    /// bit 15: conditional moves.
    static let cmov = CPUFeaturesEDX(rawValue: 1 << 15)
    /// bit 23: MMX.
    static let mmx = CPUFeaturesEDX(rawValue: 1 << 23)
    /// bit 24: `fxsave`/`fxrstor`.
    static let fxsr = CPUFeaturesEDX(rawValue: 1 << 24)
    /// bit 25: SSE.
    static let sse = CPUFeaturesEDX(rawValue: 1 << 25)
    /// bit 26: SSE2.
    static let sse2 = CPUFeaturesEDX(rawValue: 1 << 26)

    /// What a Guest may see (lguest's mask 0x07808111).
    static let allowed: CPUFeaturesEDX = [.fpu, .tsc, .cx8, .cmov, .mmx, .fxsr, .sse, .sse2]
}

/// Feature bits of cpuid leaf 1, ecx.
struct CPUFeaturesECX: OptionSet {
    let rawValue: UInt32
    /// bit 0: SSE3.
    static let sse3 = CPUFeaturesECX(rawValue: 1 << 0)
    /// bit 9: SSSE3.
    static let ssse3 = CPUFeaturesECX(rawValue: 1 << 9)
    /// bit 13: `cmpxchg16b`.
    static let cx16 = CPUFeaturesECX(rawValue: 1 << 13)

    /// What a Guest may see (lguest's mask 0x00002201).
    static let allowed: CPUFeaturesECX = [.sse3, .ssse3, .cx16]
}

enum LguestCPUID {
    /// The processor family the Guest reports: a Pentium.
    static let reportedFamily: UInt32 = 5
    /// The highest extended leaf the Guest admits to.
    static let maximumExtendedLeaf: UInt32 = 0x8000_0008

    /// `cpuid`: the machine's answer, filtered as above.
    static func cpuid(_ kernel: GuestKernel, _ leaf: UInt32) -> CPUIDResult {
        filter(leaf: leaf, kernel.cpu.cpuid(leaf))
    }

    /// The filtering itself, separate so it can be tested on any answer.
    static func filter(leaf: UInt32, _ native: CPUIDResult) -> CPUIDResult {
        var result = native
        switch leaf {
        case 1:
            result.ecx &= CPUFeaturesECX.allowed.rawValue
            result.edx = (result.edx & CPUFeaturesEDX.allowed.rawValue) | CPUFeaturesEDX.pge.rawValue
            // Family is bits 8-11 of eax.
            result.eax = (result.eax & ~0x0000_0F00) | reportedFamily << 8
        case 0x8000_0000:
            result.eax = min(result.eax, maximumExtendedLeaf)
        default:
            break
        }
        return result
    }
}
/*:*/

/*G:040 The control registers.

The i386 has four control registers that matter: cr0, cr2, cr3 and cr4 (cr1 exists only as a reserved
name).
Each is privileged to write and, for us, to read, so each gets a replacement.

*cr0* switches basic features on and off, but Linux only ever changes one bit of it: TS, *task
switched*, bit 3. While TS is set, the first floating-point instruction traps (vector 7, "device not
available"), which lets a kernel save and restore the FPU registers lazily, only for processes that use
them (`G:049`). The Host must know about TS, because it is the real cr0 that counts, so writing cr0 sends the TS
bit with the `TS` hypercall. Nothing else in cr0 ever changes, so we keep our own copy and answer reads
from it. `clts`, the instruction that clears TS alone, becomes the same hypercall with 0.

*cr2* holds the address of the last page fault. The Host writes it into `lguest_data` before it
reflects a fault to us (`H:220`), so reading it is a memory read.

*cr3* holds the physical address of the current page directory: writing it switches address space.
We keep our idea of it in `lguest_data.pageDirectory` and tell the Host with `NEW_PGTABLE`, a lazy call,
since a switch inside a lazy section only has to be done by its end. We also note that the first switch
has happened; why that matters is the story of `setPTE()` (`G:041`).

*cr4* turns on extensions such as global pages. Linux sets PGE here because our cpuid says it may
(`G:039`); it changes nothing for us, so writes are ignored and reads return 0. */

enum LguestControlRegisters {
    static func readCR0(_ kernel: GuestKernel) -> CR0 {
        kernel.currentCR0
    }

    static func writeCR0(_ kernel: GuestKernel, _ value: CR0) throws(GuestStopped) {
        try kernel.lazyHcall(.taskSwitched, value.contains(.taskSwitched) ? 1 : 0)
        kernel.currentCR0 = value
    }

    static func clearTaskSwitched(_ kernel: GuestKernel) throws(GuestStopped) {
        try kernel.lazyHcall(.taskSwitched, 0)
        kernel.currentCR0.remove(.taskSwitched)
    }

    static func readCR2(_ kernel: GuestKernel) throws(GuestStopped) -> GuestVirtualAddress {
        GuestVirtualAddress(try kernel.read32(kernel.lguestDataField(LguestData.cr2)))
    }

    static func readCR3(_ kernel: GuestKernel) throws(GuestStopped) -> GuestPhysicalAddress {
        GuestPhysicalAddress(try kernel.read32(kernel.lguestDataField(LguestData.pageDirectory)))
    }

    static func writeCR3(_ kernel: GuestKernel, _ directory: GuestPhysicalAddress) throws(GuestStopped) {
        try kernel.write32(kernel.lguestDataField(LguestData.pageDirectory), directory.rawValue)
        try kernel.lazyHcall(.newPageTable, directory.rawValue)
        kernel.cr3Changed = true
    }

    static func readCR4(_ kernel: GuestKernel) -> CR4 { [] }

    static func writeCR4(_ kernel: GuestKernel, _ value: CR4) {}
}
/*:*/
