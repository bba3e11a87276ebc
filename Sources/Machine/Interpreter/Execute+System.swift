/*X:590 Privileged instructions at ring 3.

The whole point of rings is that some instructions are reserved for the kernel. At ring 3 the CPU
refuses, with #GP(0), every instruction that could take the machine away from the kernel:

* `hlt` (stop the CPU), `clts` (clear CR0.TS), `invd` and `wbinvd` (cache control), `invlpg` (TLB);
* moves to and from control and debug registers, `rdmsr`/`wrmsr`, and `rdpmc` (no CR4.PCE here);
* loading the descriptor-table registers (`lgdt`, `lidt`, `lldt`, `ltr`) and `lmsw`;
* `cli` and `sti` unless the CPL is within IOPL, and `in`/`out` and their string forms: when the CPL is
  outside IOPL the CPU refuses outright, and when it is within, a real CPU would consult the TSS's I/O
  permission bitmap. This machine has no bitmap, which is the same as one that allows nothing (the
  bitmap lguest's Host gives its guests), so they always fault;
* `rdtsc` when CR4.TSD is set.

Some *reading* instructions are not privileged on the i386, a famous hole that virtualization researchers
made much of: `sgdt`, `sidt`, `sldt`, `str` and `smsw` work at ring 3 and reveal where the kernel keeps
its tables. We reproduce the hole faithfully. (Intel eventually closed it with UMIP in 2017.) This machine
has no LDT, so `sldt` reads 0.

Four more let a program ask about a segment without loading it, and never fault on a bad selector:
`verr` and `verw` set ZF when the segment could be read or written at the current privilege, `lar`
copies the descriptor's access-rights bytes and `lsl` its limit in bytes, setting ZF when the
descriptor is one the program may see (a descriptor more privileged than both CPL and the selector's
RPL is invisible, unless it is conforming code). */

extension Core {
    /// Group 6 (0F 00): sldt and str (allowed), lldt and ltr (privileged), verr/verw (#UD).
    mutating func descriptorTableGroup6() throws(Fault) {
        let (reg, rm) = try decodeModRM()
        let width: UInt32 = rm.isMemory ? 0xFFFF : operandMask
        switch reg {
        case 0: try writeOperand(rm, 0, width)
        case 1: try writeOperand(rm, UInt32(cpu.tr.rawValue), width)
        case 2, 3: throw .generalProtection(0)
        case 4, 5:
            let selector = SegmentSelector(rawValue: UInt16(truncatingIfNeeded: try readOperand(rm, 0xFFFF)))
            let descriptor = try visibleDescriptor(selector)
            let usable = descriptor.map { reg == 4 ? $0.isCodeOrData && (!$0.isCode || $0.typeBits.contains(.readableOrWritable))
                                                   : $0.isWritableData } ?? false
            updateFlags(.zero, to: usable)
        default: throw .invalidOpcode
        }
    }

    /// lar (0F 02) and lsl (0F 03): access rights or byte limit of a visible descriptor, ZF if found.
    mutating func segmentInformation(limit: Bool, _ mask: UInt32) throws(Fault) {
        let (reg, rm) = try decodeModRM()
        let selector = SegmentSelector(rawValue: UInt16(truncatingIfNeeded: try readOperand(rm, 0xFFFF)))
        // System descriptors lar may report (TSSs, LDT, gates) and the smaller set lsl may (TSSs, LDT).
        let systemTypes: Set<UInt8> = limit ? [1, 2, 3, 9, 11] : [1, 2, 3, 4, 5, 9, 11, 12]
        guard let descriptor = try visibleDescriptor(selector),
              descriptor.isCodeOrData || systemTypes.contains(descriptor.type) else {
            updateFlags(.zero, to: false)
            return
        }
        writeRegister(reg, limit ? descriptor.effectiveLimit : descriptor.high & 0x00FF_FF00, mask)
        updateFlags(.zero, to: true)
    }

    /// The descriptor `selector` names if a program at the current privilege may see it, else nil.
    /// Only a page fault reading the GDT escapes as a fault.
    private mutating func visibleDescriptor(_ selector: SegmentSelector) throws(Fault) -> SegmentDescriptor? {
        guard !selector.isNull, selector.table == .gdt, cpu.gdtr.containsEntry(at: selector.tableOffset) else { return nil }
        let descriptor = SegmentDescriptor(rawValue: try readSystemQuad(cpu.gdtr.base.rawValue &+ selector.tableOffset))
        let conformingCode = descriptor.isCode && descriptor.typeBits.contains(.conformingOrExpandDown)
        guard conformingCode || descriptor.dpl >= max(cpu.cpl, selector.rpl) else { return nil }
        return descriptor
    }

    /// Group 7 (0F 01): sgdt, sidt, smsw (allowed); lgdt, lidt, lmsw, invlpg (privileged).
    mutating func descriptorTableGroup7() throws(Fault) {
        let (reg, rm) = try decodeModRM()
        switch reg {
        case 0, 1:
            guard rm.isMemory else { throw .invalidOpcode }
            let table = reg == 0 ? cpu.gdtr : cpu.idtr
            try writeMemory(rm.linear, UInt32(table.limit), 0xFFFF)
            try writeMemory(rm.linear &+ 2, table.base.rawValue, 0xFFFF_FFFF)
        case 2, 3, 6:
            guard rm.isMemory || reg == 6 else { throw .invalidOpcode }
            throw .generalProtection(0)
        case 4: try writeOperand(rm, cpu.cr0.rawValue, rm.isMemory ? 0xFFFF : operandMask)
        case 7:
            guard rm.isMemory else { throw .invalidOpcode }
            throw .generalProtection(0)
        default: throw .invalidOpcode
        }
    }

    /// The fault for in, out, ins and outs at ring 3 (see `X:590`).
    func ioFault() -> Fault { .generalProtection(0) }
}
/*:*/

/*X:595 What CPU are we? cpuid, and the missing FPU.

Programs ask the CPU what it is with `cpuid`: put a leaf number in eax, get answers in eax, ebx, ecx and
edx. This machine answers as a modest member of Intel's P6 family, the Pentium Pro (family 6, model 1,
stepping 9), with leaf 0 naming the vendor "GenuineIntel" and the highest leaf (1), and leaf 1 giving the
signature 0x619 and a short feature list in edx:

| bit | name | meaning | true here? |
| --- | --- | --- | --- |
| 0 | FPU | x87 floating point on chip | advertised, see below |
| 4 | TSC | `rdtsc` | yes, from the virtual clock |
| 8 | CX8 | `cmpxchg8b` | yes |
| 13 | PGE | global pages (CR4.PGE) | yes |
| 15 | CMOV | `cmovcc` | yes |

Leaves above 1 answer like leaf 1, as Intel CPUs do for leaves past their maximum. No MMX, no SSE, no
PSE, no PAE, no APIC: this CPU is older than all of them, and the MMU would not honour them anyway.

About the FPU: every P6 has one, so the bit is set, but **this machine does not emulate floating point**.
The guest kernel is expected to keep CR0.TS or CR0.EM set, as lazy-FPU kernels do and as lguest's Guest
does (`G:038`); then every x87 instruction raises #NM, exactly as on real hardware, and the kernel can
decide what to do. If both are clear, an x87 instruction raises #UD (where real hardware would compute),
which is at least loud. MMX and SSE instructions follow the real rules for a CPU without them: #UD when
CR0.EM is set or always for lack of support, except that CR0.TS alone gives #NM first. */

extension Core {
    /// The family/model/stepping signature returned in eax by cpuid leaf 1: a Pentium Pro.
    static let cpuSignature: UInt32 = 0x0000_0619
    /// The leaf-1 edx feature bits: FPU, TSC, CX8, PGE, CMOV.
    static let cpuFeatures: UInt32 = 1 << 0 | 1 << 4 | 1 << 8 | 1 << 13 | 1 << 15

    /// cpuid: answers per the table in `X:595`.
    mutating func identifyCPU() {
        (cpu.eax, cpu.ebx, cpu.ecx, cpu.edx) = Core.identification(leaf: cpu.eax)
    }

    /// The answer to `cpuid` for `leaf`, per the table in `X:595`; it never depends on the CPU's state.
    static func identification(leaf: UInt32) -> (eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
        if leaf == 0 {
            // The highest leaf, then "Genu", "ntel", "ineI" in ebx, ecx, edx.
            return (1, 0x756E_6547, 0x6C65_746E, 0x4965_6E69)
        }
        return (Core.cpuSignature, 0, 0, Core.cpuFeatures)
    }

    /// The fault for an FPU (`x87`) or MMX/SSE instruction, per `X:595`.
    func floatingPointFault(x87: Bool) -> Fault {
        let deviceNotAvailable = Fault.exception(7, errorCode: nil)
        if x87 {
            return cpu.cr0.contains(.emulation) || cpu.cr0.contains(.taskSwitched) ? deviceNotAvailable : .invalidOpcode
        }
        if cpu.cr0.contains(.emulation) { return .invalidOpcode }
        return cpu.cr0.contains(.taskSwitched) ? deviceNotAvailable : .invalidOpcode
    }

    /// wait/fwait: #NM when CR0.MP and CR0.TS are both set; otherwise nothing to wait for.
    mutating func waitForFPU() throws(Fault) {
        if cpu.cr0.isSuperset(of: [.monitorCoprocessor, .taskSwitched]) { throw .exception(7, errorCode: nil) }
    }
}
/*:*/

extension Machine {
    /// What `cpuid` answers for `leaf` (in eax), as the interpreter's `cpuid` would (`X:595`): for code
    /// that stands for an unprivileged `cpuid` outside the interpreter, such as a hypervisor's Swift
    /// guest kernel. Reads and changes no register; costs no virtual time.
    public func cpuid(leaf: UInt32) -> (eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
        Core.identification(leaf: leaf)
    }
}
