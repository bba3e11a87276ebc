/*X:230 Loading a segment register, and the checks that come with it.

Whenever a selector goes into a segment register, whether by `mov %ax, %ds`, by `pop %es`, by an
interrupt entering a handler or by `iret` leaving one, the CPU fetches the descriptor and checks it
before it will cache it. The checks are where segmentation earns its keep as a protection mechanism:

* The selector must point inside the GDT's limit (this machine has no LDT, so a selector with TI set
  is refused too), else #GP with the selector as error code.
* For ss: the selector's RPL and the descriptor's DPL must both equal the CPL, and the descriptor must
  be writable data. A program may not borrow a more privileged stack.
* For ds, es, fs and gs: the descriptor must be data or readable code, and unless it is conforming
  code its DPL must be at least as large (as unprivileged) as both CPL and RPL. The null selector is
  allowed here; using it later faults.
* The descriptor must be present, else #NP (#SS for ss).

After the checks, the CPU sets the descriptor's *accessed* type bit in the GDT itself, a write to memory
that kernels sometimes trip over when they put the GDT in read-only pages. lguest's Host presets the bit
for exactly that reason (`H:600`), and this machine writes it the way hardware does. */

/// An exception raised while executing, to be delivered through the IDT.
enum Fault: Error {
    /// A fault or trap raised by the CPU, with the error code it pushes (if it pushes one).
    case exception(UInt8, errorCode: UInt32?)
    /// A failed translation; becomes #PF with cr2, or a machine check for frames outside RAM.
    case pageFault(PageFault)
    /// `int n`, `int3` or `into`: a software interrupt, subject to the gate's DPL check.
    case software(UInt8)
    /// A trap raised by the CPU after an instruction completed (#DB for single-step or `int1`):
    /// delivered like an exception, but eip stays after the instruction.
    case trap(UInt8)

    /// #GP with an error code.
    static func generalProtection(_ code: UInt32 = 0) -> Fault { .exception(13, errorCode: code) }
    /// #UD.
    static var invalidOpcode: Fault { .exception(6, errorCode: nil) }
}

extension Core {
    /// Reads a descriptor-table entry (8 bytes) at a linear address, as the CPU's own supervisor access.
    mutating func readSystemQuad(_ linear: UInt32) throws(Fault) -> UInt64 {
        do {
            let low = try readLinear(linear, width: 4, user: false)
            let high = try readLinear(linear &+ 4, width: 4, user: false)
            return UInt64(high) << 32 | UInt64(low)
        } catch { throw .pageFault(error) }
    }

    /// Fetches the GDT descriptor `selector` names. A selector outside the GDT, or one naming the
    /// (absent) LDT, raises `vector` (normally #GP) with the selector as error code, plus `external`.
    mutating func loadDescriptor(_ selector: SegmentSelector, faulting vector: UInt8 = 13,
                                 external: UInt32 = 0) throws(Fault) -> SegmentDescriptor {
        let code = selector.tableOffset | external
        guard selector.table == .gdt, cpu.gdtr.containsEntry(at: selector.tableOffset) else {
            throw .exception(vector, errorCode: code)
        }
        return SegmentDescriptor(rawValue: try readSystemQuad(cpu.gdtr.base.rawValue &+ selector.tableOffset))
    }

    /// Sets the accessed bit of the descriptor `selector` names, in the GDT in memory, if clear.
    mutating func markAccessed(_ selector: SegmentSelector, _ descriptor: inout SegmentDescriptor) throws(Fault) {
        guard descriptor.isCodeOrData, !descriptor.typeBits.contains(.accessed) else { return }
        descriptor.type |= SegmentDescriptor.TypeBits.accessed.rawValue
        let linear = cpu.gdtr.base.rawValue &+ selector.tableOffset &+ 4
        do { try writeLinear(descriptor.high, linear, width: 4, user: false) } catch { throw .pageFault(error) }
    }

    /*X:235 The load itself, in the order the checks are made.

    `loadSegment` is the list of `X:230` in code, and the order is part of the contract, because it
    decides which fault a bad selector gets. The null selector is settled first: allowed in a data
    register, where only a later use faults, and refused for ss at once. Then the descriptor is fetched,
    and ss and the data registers part ways: the stack must be writable data at exactly the current
    privilege, while a data register takes data or readable code no more privileged than both CPL and
    RPL (conforming code excepted). A descriptor that passes but is not present raises #SS (12) for the
    stack and #NP (11) for the rest. Only then is the accessed bit written and the register, with its
    cached base, changed. */
    /// Loads a data segment register (ds, es, fs, gs) or ss with the checks of `X:230`.
    mutating func loadSegment(_ name: SegmentRegisterName, _ selector: SegmentSelector) throws(Fault) {
        precondition(name != .cs, "loadSegment: cs is loaded only by control transfers")
        let cpl = cpu.cpl
        let code = selector.tableOffset
        // The null selector: fine for data segments (using it later faults), never for the stack.
        if selector.isNull {
            guard name != .ss else { throw .generalProtection(0) }
            cpu[name] = SegmentRegister(selector: selector, descriptor: SegmentDescriptor(rawValue: 0))
            segmentBases[name.rawValue] = 0
            return
        }
        var descriptor = try loadDescriptor(selector)
        let bits = descriptor.typeBits
        if name == .ss {
            // The stack must be writable data at exactly the current privilege.
            guard selector.rpl == cpl, descriptor.dpl == cpl, descriptor.isWritableData else {
                throw .generalProtection(code)
            }
            guard descriptor.isPresent else { throw .exception(12, errorCode: code) }
        } else {
            // Data, or code that may be read; not more privileged than CPL and RPL, unless conforming.
            let readable = descriptor.isCodeOrData
                && (!bits.contains(.executable) || bits.contains(.readableOrWritable))
            let conformingCode = bits.isSuperset(of: [.executable, .conformingOrExpandDown])
            guard readable, conformingCode || descriptor.dpl >= max(cpl, selector.rpl) else {
                throw .generalProtection(code)
            }
            guard descriptor.isPresent else { throw .exception(11, errorCode: code) }
        }
        try markAccessed(selector, &descriptor)
        cpu[name] = SegmentRegister(selector: selector, descriptor: descriptor)
        segmentBases[name.rawValue] = descriptor.base
    }
}
/*:*/
