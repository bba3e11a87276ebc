/*G:028 The table every sensitive operation goes through.

A kernel that may run as a Guest cannot simply execute its privileged instructions: somewhere there must
be a choice between doing it and asking the Host. Linux makes that choice in one place, a table called
`pv_ops`: a set of structures of function pointers that the rest of the kernel calls through
(`pv_irq_ops.irq_disable()` instead of `cli`). A kernel that boots on bare metal leaves the native
functions in place, and a kernel that finds itself under lguest swaps in lguest's (`G:030`). Ours is
`PVOps`, a structure of Swift function values, and the rest of our kernel calls through it in just the
same way: `try pvOps.writeCR3(self, directory)`.

In Swift the table could have been a protocol with two conforming types, native and lguest, and the
compiler would have been happier. We keep a structure of function values because that is what the
original is, and because it can be changed one entry at a time: a kernel may replace some operations
and keep others, and `lguestInit()` reads as the list of exactly what lguest replaces.

The table itself is only a declaration, so its tests are those of the two ways of filling it,
`swift test --filter g030`. */

import LguestABI
import Machine

/// The table of sensitive operations: every one the kernel performs goes through here.
///
/// Each field names the Linux pv-op it stands for. The kernel calls `pvOps.field(self, ...)`; which
/// function runs depends on what `lguestInit()` installed.
struct PVOps {
    /// An operation that takes nothing but the kernel.
    typealias Op = (GuestKernel) throws(GuestStopped) -> Void

    // Interrupt control (G:033, G:044).
    /// `pv_irq_ops.save_fl`: the interrupt flag, in eflags' IF position.
    var saveFlags: (GuestKernel) throws(GuestStopped) -> UInt32
    /// `pv_irq_ops.restore_fl`: set the interrupt flag from a saved value.
    var restoreFlags: (GuestKernel, UInt32) throws(GuestStopped) -> Void
    /// `pv_irq_ops.irq_disable`: `cli`.
    var irqDisable: Op
    /// `pv_irq_ops.irq_enable`: `sti`.
    var irqEnable: Op
    /// `pv_irq_ops.safe_halt`: `sti; hlt`, atomically.
    var safeHalt: Op

    // The processor (G:039, G:040, G:044, G:045).
    /// `pv_cpu_ops.cpuid`.
    var cpuid: (GuestKernel, UInt32) -> CPUIDResult
    /// `pv_cpu_ops.read_cr0`.
    var readCR0: (GuestKernel) -> CR0
    /// `pv_cpu_ops.write_cr0`.
    var writeCR0: (GuestKernel, CR0) throws(GuestStopped) -> Void
    /// `pv_cpu_ops.clts`: clear cr0's task-switched bit.
    var clts: Op
    /// `pv_cpu_ops.read_cr4`.
    var readCR4: (GuestKernel) -> CR4
    /// `pv_cpu_ops.write_cr4`.
    var writeCR4: (GuestKernel, CR4) throws(GuestStopped) -> Void
    /// `pv_cpu_ops.load_sp0`: the stack traps from user mode arrive on.
    var loadSP0: (GuestKernel, GuestVirtualAddress) throws(GuestStopped) -> Void
    /// `pv_cpu_ops.wbinvd`: write back and invalidate the caches.
    var wbinvd: Op
    /// `pv_cpu_ops.iret`: return from an interrupt or trap.
    var iret: Op
    /// `pv_cpu_ops.set_ldt`: load a local descriptor table.
    var setLDT: (GuestKernel, GuestVirtualAddress, UInt32) -> Void
    /// `pv_cpu_ops.load_tr_desc`: load the task register.
    var loadTR: (GuestKernel) -> Void
    /// `pv_cpu_ops.set_debugreg`: set a debug register.
    var setDebugRegister: (GuestKernel, Int, UInt32) -> Void
    /// `apic->read` and `apic->write`: the local interrupt controller's registers.
    var apicRead: (GuestKernel, UInt32) -> UInt32
    /// `apic->write`: write a value to the local APIC register at an offset.
    var apicWrite: (GuestKernel, UInt32, UInt32) -> Void

    // Memory management (G:040, G:041).
    /// `pv_mmu_ops.read_cr2`: the address of the last page fault.
    var readCR2: (GuestKernel) throws(GuestStopped) -> GuestVirtualAddress
    /// `pv_mmu_ops.read_cr3`: the current page directory.
    var readCR3: (GuestKernel) throws(GuestStopped) -> GuestPhysicalAddress
    /// `pv_mmu_ops.write_cr3`: switch page directory.
    var writeCR3: (GuestKernel, GuestPhysicalAddress) throws(GuestStopped) -> Void
    /// `pv_mmu_ops.flush_tlb_user`: user mappings changed.
    var flushTLBUser: Op
    /// `pv_mmu_ops.flush_tlb_kernel`: kernel mappings changed.
    var flushTLBKernel: Op
    /// `pv_mmu_ops.flush_tlb_single`: the mapping of one address was removed.
    var flushTLBSingle: (GuestKernel, GuestVirtualAddress) throws(GuestStopped) -> Void
    /// `pv_mmu_ops.set_pte_at`: set a page-table entry of a known address space
    /// (directory, mapped address, where the entry lives, the entry).
    var setPTEAt: (GuestKernel, GuestPhysicalAddress, GuestVirtualAddress, GuestPhysicalAddress,
                   PageTableEntry) throws(GuestStopped) -> Void
    /// `pv_mmu_ops.set_pmd`: set a page-directory entry (where it lives, the entry).
    var setPMD: (GuestKernel, GuestPhysicalAddress, PageDirectoryEntry) throws(GuestStopped) -> Void
    /// `pv_mmu_ops.set_pte`: set a page-table entry of an unknown address space.
    var setPTE: (GuestKernel, GuestPhysicalAddress, PageTableEntry) throws(GuestStopped) -> Void

    /*:*/

    /*G:029 The native operations.

    The native entries are not pretend: each executes the real privileged instruction through
    `GuestProcessor.native`, which at ring 1 faults into the Host. A kernel that forgot to call
    `lguestInit()` would `cli` its way straight into a general protection fault, with no interrupt table
    of its own yet to catch it, and the Host would kill it. Two halves of that are tested:
    `g030_beforeLguestInitTheNativeInstructionsAreTried` shows the native instructions being tried (on a
    stand-in processor that records them), and the Host's tests under `H:220` show a trap with no handler
    of the Guest's killing it.

    The native road (the left one in `G:030`'s picture) is why paravirtualization exists. On an i386, `cli`
    at ring 1 faults, but several other sensitive instructions (`pushf`, `cpuid`, reading the segment
    registers) do not: they quietly give ring-1 code the *real* machine's answer. A hypervisor cannot trap
    what never traps, so the original i386 could not be virtualized by trapping alone; the Guest has to
    agree to ask instead, and this table is where it agrees. Notice how `saveFlags` below reads the real IF,
    which a ring-1 kernel never controls: exactly the kind of silent wrong answer that the lguest entry
    replaces with the truth from the shared page. */

    /// The operations of a kernel on bare metal: each executes the privileged instruction itself.
    static var native: PVOps { PVOps(
        // pushf is not privileged: it reads the real flags, whose IF a ring-1 kernel cannot change.
        saveFlags: { kernel in kernel.cpu.registers.eflags.rawValue & EFLAGS.interruptEnable.rawValue },
        restoreFlags: { kernel, flags throws(GuestStopped) in
            try kernel.cpu.native(flags & EFLAGS.interruptEnable.rawValue != 0 ? .sti : .cli)
        },
        irqDisable: { kernel throws(GuestStopped) in try kernel.cpu.native(.cli) },
        irqEnable: { kernel throws(GuestStopped) in try kernel.cpu.native(.sti) },
        safeHalt: { kernel throws(GuestStopped) in
            try kernel.cpu.native(.sti)
            try kernel.cpu.native(.hlt)
        },
        // cpuid is not privileged either: the unfiltered truth.
        cpuid: { kernel, leaf in kernel.cpu.cpuid(leaf) },
        // Reading cr0 needs ring 0 too; no kernel reads it often enough to care, so we answer from
        // our copy, which is what the instruction would say.
        readCR0: { kernel in kernel.currentCR0 },
        writeCR0: { kernel, value throws(GuestStopped) in
            kernel.cpu.registers.eax = value.rawValue
            try kernel.cpu.native(.writeCR0)
        },
        clts: { kernel throws(GuestStopped) in try kernel.cpu.native(.clts) },
        // The machine's text has no cr4 instructions: natively they would set global pages, which a
        // kernel that never flushes its own mappings does not miss.
        readCR4: { _ in [] },
        writeCR4: { _, _ in },
        loadSP0: { _, _ in },  // natively the stack lives in the TSS, an ordinary memory write
        wbinvd: { kernel throws(GuestStopped) in try kernel.cpu.native(.wbinvd) },
        iret: { kernel throws(GuestStopped) in try kernel.cpu.returnFromInterrupt() },
        // The machine has no LDT, no debug registers and no APIC, and its kernel text has no `lldt`
        // or `ltr` to try: natively these have nothing to do either.
        setLDT: { _, _, _ in },
        loadTR: { _ in },
        setDebugRegister: { _, _, _ in },
        apicRead: { _, _ in 0 },
        apicWrite: { _, _, _ in },
        readCR2: { kernel throws(GuestStopped) in
            try LguestControlRegisters.readCR2(kernel)  // there is no ring-1 way to read cr2 natively
        },
        // Operands travel in eax, as the instructions in the kernel text expect (`mov %cr3,%eax`).
        readCR3: { kernel throws(GuestStopped) in
            try kernel.cpu.native(.readCR3)
            return GuestPhysicalAddress(kernel.cpu.registers.eax)
        },
        writeCR3: { kernel, directory throws(GuestStopped) in
            kernel.cpu.registers.eax = directory.rawValue
            try kernel.cpu.native(.writeCR3)
        },
        // Reloading cr3 with itself is how an i386 flushes its TLB.
        flushTLBUser: { kernel throws(GuestStopped) in
            try kernel.cpu.native(.readCR3)
            try kernel.cpu.native(.writeCR3)
        },
        flushTLBKernel: { kernel throws(GuestStopped) in
            try kernel.cpu.native(.readCR3)
            try kernel.cpu.native(.writeCR3)
        },
        flushTLBSingle: { kernel, address throws(GuestStopped) in
            kernel.cpu.registers.eax = address.rawValue
            try kernel.cpu.native(.invlpg)
        },
        // On bare metal a page-table entry is just memory: the processor walks the tables itself.
        setPTEAt: { kernel, _, _, pointer, entry throws(GuestStopped) in
            try kernel.write32(linear(pointer), entry.rawValue)
        },
        setPMD: { kernel, pointer, entry throws(GuestStopped) in
            try kernel.write32(linear(pointer), entry.rawValue)
        },
        setPTE: { kernel, pointer, entry throws(GuestStopped) in
            try kernel.write32(linear(pointer), entry.rawValue)
        })
    }
}

/*:*/

/*G:030 lguestInit(): installing the replacements.

Once we reach `lguestInit()` we know we are a Guest, and we fill in the table of `G:028` with lguest's
operations. Every replacement is described where it is defined; this function only plugs them in, in
the order of the original.

Here is the road one operation takes, `irqDisable`, before and after the swap:

```
  kernel code: try pvOps.irqDisable(self)
                         |
        +----------------+-----------------+
        | native (before lguestInit)       | lguest (after)
        v                                  v
  cpu.native(.cli)                  LguestIRQOps.disable
  a real cli at ring 1              one store to the shared page's
        |                           interrupt flag (G:033): no trap,
        v                           no Host, one memory write
  #GP: the Host is entered,
  and kills a Guest that
  should have known better
``` */

extension GuestKernel {
    /// Install lguest's versions of every sensitive operation (lguest's `lguest_init`, first half).
    /// The order follows the original's: interrupts, then the processor (its no-ops included), then
    /// memory management, so the two can be read side by side.
    func lguestInit() {
        // Interrupt-related operations.
        pvOps.saveFlags = LguestIRQOps.saveFlags
        pvOps.restoreFlags = LguestIRQOps.restoreFlags
        pvOps.irqDisable = LguestIRQOps.disable
        pvOps.irqEnable = LguestIRQOps.enable
        pvOps.safeHalt = LguestPlatform.safeHalt
        // Intercepts of various processor instructions.
        pvOps.cpuid = LguestCPUID.cpuid
        pvOps.readCR0 = LguestControlRegisters.readCR0
        pvOps.writeCR0 = LguestControlRegisters.writeCR0
        pvOps.clts = LguestControlRegisters.clearTaskSwitched
        pvOps.readCR4 = LguestControlRegisters.readCR4
        pvOps.writeCR4 = LguestControlRegisters.writeCR4
        pvOps.loadSP0 = LguestPlatform.loadSP0
        pvOps.wbinvd = LguestNoOps.writeBackInvalidate
        pvOps.setLDT = LguestNoOps.setLDT
        pvOps.loadTR = LguestNoOps.loadTaskRegister
        pvOps.setDebugRegister = LguestNoOps.setDebugRegister
        // APIC read/write intercepts.
        pvOps.apicRead = LguestNoOps.apicRead
        pvOps.apicWrite = LguestNoOps.apicWrite
        // iret must also restore the virtual interrupt flag from the saved eflags (`interruptReturn()`).
        pvOps.iret = { kernel throws(GuestStopped) in try kernel.interruptReturn() }
        // Page-table management.
        pvOps.readCR2 = LguestControlRegisters.readCR2
        pvOps.readCR3 = LguestControlRegisters.readCR3
        pvOps.writeCR3 = LguestControlRegisters.writeCR3
        pvOps.flushTLBUser = LguestPageTables.flushTLBUser
        pvOps.flushTLBKernel = LguestPageTables.flushTLBKernel
        pvOps.flushTLBSingle = LguestPageTables.flushTLBSingle
        // The page-table setters tell the Host about every change, so its shadow tables can follow.
        pvOps.setPTEAt = { kernel, directory, address, pointer, entry throws(GuestStopped) in
            try LguestPageTables.setPTEAt(kernel, directory: directory, address: address, pointer: pointer, entry)
        }
        pvOps.setPMD = { kernel, pointer, entry throws(GuestStopped) in
            try LguestPageTables.setPMD(kernel, pointer: pointer, entry)
        }
        pvOps.setPTE = { kernel, pointer, entry throws(GuestStopped) in
            try LguestPageTables.setPTE(kernel, pointer: pointer, entry)
        }
        // From here on, nothing sensitive reaches the hardware directly.
        lguestInitialised = true
    }
}
/*:*/
