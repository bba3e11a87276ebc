/*G:034 The interrupt descriptor table.

The processor finds its interrupt handlers through the *Interrupt Descriptor Table* (IDT): 256 gates
of 8 bytes, one per vector, each naming a handler's code segment and address, the privilege a program
needs to reach it with `int n`, and whether entering it turns interrupts off (an *interrupt gate*) or
not (a *trap gate*). A native kernel builds the table in memory and points the processor at it with
`lidt`.

We may build the table, but `lidt` is privileged, and even if it were not we could not be allowed to
use it: the processor must keep running the Host's own table, whose gates lead into the Switcher
(`S:100`). So we keep our table in our memory, as a native kernel would, and tell the Host about every
entry with the `LOAD_IDT_ENTRY` hypercall: the vector and the gate's two 32-bit halves. The Host checks
each gate, and copies the ones it likes into the table it builds for us (`H:250`).

Which kind of gate each vector gets is Linux's choice, and it matters more under lguest than on metal.
A trap gate below 32 (other than 7, 13 and 14, which the Host needs to see) can be installed by the
Host as a *direct trap*: the processor goes straight from a program to our handler with no world switch
at all (`H:240`). The system call is the one that counts, a trap gate with privilege 3 so that programs
may use it; the page fault is an interrupt gate, so that no interrupt, whose handler might fault in turn and
overwrite cr2, can arrive before the handler has read it.

Four vectors the Host will never take from us: 2 (the non-maskable interrupt), 8 (double fault), 15
(reserved, "spurious") and 0x1F (the hypercall itself). Linux would still send them and let the Host
ignore them; we simply do not waste the hypercalls. */

import LguestABI
import Machine

/// The vectors the processor raises for its own exceptions, by their manual names (Intel SDM
/// vol. 3A, table 6-1).
enum ExceptionVector: UInt8, CaseIterable {
    case divideError = 0, debug = 1, nonMaskable = 2, breakpoint = 3, overflow = 4, boundRange = 5
    case invalidOpcode = 6, deviceNotAvailable = 7, doubleFault = 8, coprocessorOverrun = 9
    case invalidTSS = 10, segmentNotPresent = 11, stackFault = 12, generalProtection = 13
    case pageFault = 14, reserved15 = 15, floatingPoint = 16, alignmentCheck = 17, machineCheck = 18
    case simdFloatingPoint = 19

    /// Whether the processor pushes an error code for this exception (vectors 8, 10-14 and 17).
    var pushesErrorCode: Bool {
        switch self {
        case .doubleFault, .invalidTSS, .segmentNotPresent, .stackFault, .generalProtection,
             .pageFault, .alignmentCheck: true
        default: false
        }
    }
}

extension GuestKernel {
    /// Whether the frame for `vector` carries an error code.
    func vectorPushesErrorCode(_ vector: UInt8) -> Bool {
        ExceptionVector(rawValue: vector)?.pushesErrorCode ?? false
    }

    /// The vectors the Host refuses to take from a Guest's IDT.
    static let vectorsTheHostKeeps: Set<UInt8> = [2, 8, 15, hypercallVector]

    /// The gate this kernel wants for `vector`, or nil for an empty slot.
    func gate(for vector: UInt8) -> GateDescriptor? {
        // Linux's gates name __KERNEL_CS with RPL 0; the Host puts our ring in (H:250).
        let selector = SegmentSelector(index: GDTLayout.kernelCode, rpl: 0)
        let offset = vectorEntry(vector).rawValue
        if vector == systemCallVector {
            // Reachable from ring 3 with `int $0x80`, and interrupts stay on: a trap gate.
            return GateDescriptor(offset: offset, selector: selector, kind: .trap, dpl: 3)
        }
        if let exception = ExceptionVector(rawValue: vector) {
            switch exception {
            case .breakpoint, .overflow:
                // `int3` and `into` are instructions programs may use: DPL 3, as on Linux.
                return GateDescriptor(offset: offset, selector: selector, kind: .trap, dpl: 3)
            case .debug, .pageFault:
                // Linux enters these with interrupts off.
                return GateDescriptor(offset: offset, selector: selector, kind: .interrupt, dpl: 0)
            default:
                return GateDescriptor(offset: offset, selector: selector, kind: .trap, dpl: 0)
            }
        }
        if vector >= firstExternalVector {
            // A device interrupt: an interrupt gate, so the handler starts with interrupts off.
            return GateDescriptor(offset: offset, selector: selector, kind: .interrupt, dpl: 0)
        }
        return nil
    }

    /// Set IDT entry `vector` in our table and tell the Host (lguest's `write_idt_entry`).
    func writeIDTEntry(_ vector: UInt8, _ gate: GateDescriptor) throws(GuestStopped) {
        // Our copy first, as native_write_idt_entry() would; then the Host, in two halves.
        let slot = linear(layout.idt) &+ UInt32(vector) &* 8
        try write32(slot, gate.low)
        try write32(slot &+ 4, gate.high)
        guard !Self.vectorsTheHostKeeps.contains(vector) else { return }
        try hcall(.loadIDTEntry, UInt32(vector), gate.low, gate.high)
    }

    /// Tell the Host about every present entry of our IDT (lguest's `load_idt`): done once, at boot.
    func loadIDT() throws(GuestStopped) {
        let table = linear(layout.idt)
        // Empty slots need no hypercall: the Host's table starts empty too.
        for vector in 0...255 {
            let slot = table &+ UInt32(vector) &* 8
            let gate = GateDescriptor(low: try read32(slot), high: try read32(slot &+ 4))
            guard gate.isPresent, !Self.vectorsTheHostKeeps.contains(UInt8(vector)) else { continue }
            try hcall(.loadIDTEntry, UInt32(vector), gate.low, gate.high)
        }
    }
}

/*:*/

/*G:046 The global descriptor table.

(This section's code sits beside `G:034`'s, in the same file, because the two tables are built the
same way; its number comes after the other processor tables of the tour.)

The *Global Descriptor Table* (GDT) holds the segments: the kernel's code and data, the user's code
and data, and a few the Host reserves for itself (`H:600`). Here the original's interfaces differ in a
way its author invited readers to fix: the whole GDT goes to the Host at once with `LOAD_GDT`, and a
single changed entry is handled by sending the whole table again. Three entries, the *thread-local
storage* slots, change on every context switch (they are how C libraries find per-thread data), so
they get a hypercall of their own, `LOAD_TLS`.

Our GDT is Linux's: four flat segments, kernel and user, code and data, every other slot empty, built
in our memory by `buildGDT()` and sent whole by `loadGDT()`. `writeGDTEntry()` changes one slot and
then sends the whole table again, just as the original does, and `loadTLS()` is the short way for the
three slots that change most. */

extension GuestKernel {
    /// Build our GDT in memory: Linux's four flat segments, everything else empty.
    func buildGDT() throws(GuestStopped) {
        let table = linear(layout.gdt)
        // Start from all-empty: slot 0 must be null, and the Host fills its own slots itself.
        for entry in 0..<GDTLayout.entryCount {
            try write32(table &+ UInt32(entry) &* 8, 0)
            try write32(table &+ UInt32(entry) &* 8 &+ 4, 0)
        }
        // As Linux writes them: the kernel's at privilege 0, which the Host raises to 1 (H:620).
        let segments: [(SegmentSelector, SegmentDescriptor)] = [
            (GDTLayout.kernelCodeSelector, .flat(executable: true, dpl: 0)),
            (GDTLayout.kernelDataSelector, .flat(executable: false, dpl: 0)),
            (GDTLayout.userCodeSelector, .flat(executable: true, dpl: guestUserRing)),
            (GDTLayout.userDataSelector, .flat(executable: false, dpl: guestUserRing)),
        ]
        for (selector, descriptor) in segments {
            let slot = table &+ UInt32(selector.index) &* 8
            try write32(slot, descriptor.low)
            try write32(slot &+ 4, descriptor.high)
        }
    }

    /// Hand the whole GDT to the Host (lguest's `load_gdt`).
    func loadGDT() throws(GuestStopped) {
        try hcall(.loadGDT, layout.gdt.rawValue, UInt32(GDTLayout.entryCount))
    }

    /// Change one GDT entry: write it, then hand the Host the whole table again (lguest's
    /// `write_gdt_entry`; rare enough that the simple way is the right one).
    func writeGDTEntry(_ index: Int, _ descriptor: SegmentDescriptor) throws(GuestStopped) {
        precondition((0..<GDTLayout.entryCount).contains(index), "guest: GDT index \(index)")
        let slot = linear(layout.gdt) &+ UInt32(index) &* 8
        try write32(slot, descriptor.low)
        try write32(slot &+ 4, descriptor.high)
        try loadGDT()
    }

    /// Load the three TLS entries of a thread from guest-physical `tls` (three descriptors), as
    /// every context switch does: the one GDT change frequent enough to deserve its own hypercall,
    /// and a lazy one, since nothing uses the entries until we return to user mode.
    func loadTLS(_ tls: GuestPhysicalAddress) throws(GuestStopped) {
        // Linux first clears %gs here, because the Host cannot cope with a segment register that
        // holds a descriptor being replaced. Our kernel never loads %gs, so there is nothing to clear.
        try lazyHcall(.loadTLS, tls.rawValue, 0)
    }
}
/*:*/
