/*H:600 Segments, and the table that holds them.

We come at last to segments, the part of the i386 that everyone would rather forget. In the beginning
(the 8086) a segment was how a 16-bit program reached more than 64 KiB; in protected mode it became a
*descriptor*, eight bytes in a table giving a base, a limit, a type and a privilege level, and a segment
register holds a *selector* that picks one (`X:200`). Linux makes every segment cover all 4 GiB from
address 0, which reduces segmentation to a formality, and lets paging do the real work.

A formality it may be, but it is the formality that carries privilege. The low two bits of cs *are* the
CPU's privilege level, and cs can only hold a selector whose descriptor the CPU accepts for that level.
So the table the descriptors live in, the Global Descriptor Table, is security-critical, and a Guest
cannot be allowed to fill it with whatever it likes. As with the IDT (`H:240`), the Guest keeps its own
table and hands it to us with a hypercall (LOAD_GDT, or LOAD_TLS for the three entries that change on
every context switch); we copy it, check it, fix it up, and the Switcher runs the Guest with *our* copy
(`S:050`).

This file does the checking and fixing. There is less to it than to page tables, happily: one struct,
`GuestGDT`, holding the Host's copy of the Guest's table, and the rules for each entry. :*/

import LguestABI
import Machine

/*H:610 Slots the Guest can never have.

Four slots of the table are the Host's, whatever the Guest writes there (`GDTLayout.isReservedForHost`,
`P:240`): the Switcher's own code and data segments, which are ring 0 and so the keys to the Host
itself; the task state segment, whose ss0 and esp0 decide where the CPU puts a trap frame when the
Guest is interrupted; and the double-fault TSS, kept empty. The Switcher fills those four in its own copy
of the table once and for all, and we never copy the Guest's version of them across. We keep whatever
the Guest wrote there in our copy, unchecked, because it is never used: Linux puts its own TSS descriptor
in slot 16, and it would be churlish to kill a Guest for an entry that will never see the light of day. */

/// The Host's copy of one Guest's Global Descriptor Table, checked and fixed up, with a note of which
/// part changed since the Switcher last copied it.
public struct GuestGDT: Hashable, Sendable {
    /// What changed since `copyChanged(into:at:)` last ran.
    public struct Changes: OptionSet, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Any entry may have changed (LOAD_GDT).
        public static let table = Changes(rawValue: 1 << 0)
        /// Only the thread-local-storage entries changed (LOAD_TLS).
        public static let threadLocalStorage = Changes(rawValue: 1 << 1)
    }

    /// The entries, `GDTLayout.entryCount` of them, every one the Switcher may copy already fixed up.
    public private(set) var entries: [SegmentDescriptor]
    /// What the Switcher has yet to copy.
    public private(set) var changes: Changes = .table

    /// The slots of the thread-local-storage entries.
    static let tlsSlots = GDTLayout.firstTLS..<(GDTLayout.firstTLS + GDTLayout.tlsCount)
}
/*:*/

/*H:620 Loading the Guest's table.

LOAD_GDT gives us the guest-physical address of the Guest's table and the number of entries in it. We
read them all, check and fix every one (`H:625`, `H:630`), and only then replace our copy: a table that
fails halfway leaves the old one untouched, although the Guest that sent it will not live to notice.
A table longer than ours is refused: the slots past the end would have nowhere to go, and a Guest that
sends them is not the Linux we know. A shorter one replaces just the entries it has.

Then we note that the table changed, so that the Switcher copies it before the Guest next runs. */

extension GuestGDT {
    /// Handles LOAD_GDT: replaces the first `count` entries with the descriptors at `table`.
    ///
    /// - Throws: `GuestViolation` if `count` exceeds `GDTLayout.entryCount`, the table is not in guest
    ///   memory, or an entry is a system descriptor (`H:625`).
    public mutating func load(from table: GuestPhysicalAddress, count: UInt32, memory: GuestMemory) throws(GuestViolation) {
        guard count <= UInt32(GDTLayout.entryCount) else {
            throw GuestViolation("segments: too many GDT entries \(count)")
        }
        let loaded = try Self.readDescriptors(from: table, count: Int(count), memory: memory)
        var fresh = entries
        for (slot, descriptor) in loaded.enumerated() {
            fresh[slot] = try Self.fixUp(descriptor, slot: slot)
        }
        entries = fresh
        changes.insert(.table)
    }

    /// Reads `count` 8-byte descriptors from guest memory at `address`.
    static func readDescriptors(from address: GuestPhysicalAddress, count: Int,
                                memory: GuestMemory) throws(GuestViolation) -> [SegmentDescriptor] {
        let bytes = try memory.copyOut(from: address, count: count * 8)
        return (0..<count).map { index in
            var raw: UInt64 = 0
            for byte in (0..<8).reversed() {
                raw = raw << 8 | UInt64(bytes[index * 8 + byte])
            }
            return SegmentDescriptor(rawValue: raw)
        }
    }
}
/*:*/

/*H:625 No system descriptors.

A GDT entry with its S bit clear is not a segment at all but a *system descriptor*: an LDT, a TSS, or a
*call gate*. A call gate is a door through which a far `call` changes privilege, into whatever code
segment the gate names. Picture a Guest that writes, into an ordinary slot, a present call gate of
privilege 3 naming the Switcher's ring-0 code segment. One `lcall` later, its own code would run at
ring 0, and the Host would belong to it. A TSS descriptor is not much better: it names the very
structure that says which stack the CPU switches to. (Our machine happens not to execute far calls at
all, `X:540`; a Host that leaned on that would be one emulator upgrade away from disaster, so we
refuse the descriptor exactly as we would on real hardware.)

The original lguest fixed up privilege levels and accessed bits but never looked at the S bit; it is
one of the three defects this edition sets out to do better on. Linux never puts a system descriptor
anywhere but the slots the Host reserves (`H:610`), so the rule can be blunt: a *present* system
descriptor in any other slot kills the Guest. One that is not present is harmless (the CPU refuses to
use a descriptor that is not present, and the null descriptor in slot 0 is one of those), so we leave it
be, and leave it untouched by the fix-ups below, which are about code and data.

**Exercise** (easy; read first H:610, X:200): refuse a present system descriptor (a call gate, a TSS,
an LDT) outside the Host's reserved slots by killing the Guest; only code and data go on to be fixed
up. */

extension GuestGDT {
    /// The entry for `slot` as the Switcher may copy it: reserved slots and absent descriptors as
    /// they are, code and data fixed up (`H:630`).
    ///
    /// - Throws: `GuestViolation` for a present system descriptor outside the reserved slots.
    static func fixUp(_ descriptor: SegmentDescriptor, slot: Int) throws(GuestViolation) -> SegmentDescriptor {
        if GDTLayout.isReservedForHost(slot) || !descriptor.isPresent {
            return descriptor
        }
        // exercise H:625 {
        guard descriptor.isCodeOrData else {
            throw GuestViolation("segments: system descriptor of type \(descriptor.type) in GDT slot \(slot)")
        }
        // exercise H:625 } stub: ExerciseStub.unfinished("H:625")
        return fixUpCodeOrData(descriptor)
    }
}
/*:*/

/*H:630 Fixing up what is left.

Two small repairs remain, both about an ordinary code or data segment.

The Guest's kernel runs at ring 1, but it is Linux, and Linux's kernel segments say privilege 0. A ring-1
cs cannot hold a privilege-0 code segment, so we raise every privilege-0 descriptor to 1. That costs the
Guest nothing and gives nothing away: ring 1 is as high as a Guest can ever climb. Descriptors at 2 or 3
stay as they are; user segments are meant to be reachable from ring 3.

And each descriptor has an *accessed* bit (bit 0 of its type), which the CPU sets when it first loads the
descriptor into a segment register. Setting it means *writing* the GDT, and the GDT the Guest runs with
lives in the Switcher's read-only page (`H:480`): the write would fault in the middle of a segment
load, which is no place for a fault. So we set it ourselves, and the CPU finds nothing left to write. */

extension GuestGDT {
    /// A present code or data descriptor at privilege at least `guestKernelRing`, accessed bit set.
    static func fixUpCodeOrData(_ descriptor: SegmentDescriptor) -> SegmentDescriptor {
        var fixed = descriptor
        if fixed.dpl == 0 {
            fixed.dpl = guestKernelRing
        }
        fixed.type |= SegmentDescriptor.TypeBits.accessed.rawValue
        return fixed
    }
}
/*:*/

/*H:640 Copying only what changed.

Before every run of the Guest, the Switcher puts our copy of the table into the GDT the CPU will use,
in its read-only page. Thirty-two entries is not much, but a world switch happens thousands of times a
second and the table changes a handful of times in a Guest's life, so we copy only when something
changed: all the Guest's slots after LOAD_GDT, just the three TLS slots after LOAD_TLS (which Linux does
on every context switch, hence the separate hypercall), and nothing at all otherwise. The four reserved
slots are never written: they hold the Switcher's own descriptors.

If the Switcher's table has been overwritten by some other Guest since, "what changed" means
"everything": the Switcher passes `everything` and we copy it all. */

extension GuestGDT {
    /// Writes the entries that changed (or, with `everything`, every entry the Guest may fill) into the
    /// GDT at host-physical `gdt` in `memory`, then forgets the changes.
    public mutating func copyChanged(into memory: PhysicalMemory, at gdt: HostPhysicalAddress,
                                     everything: Bool = false) {
        let slots: Range<Int>
        if everything || changes.contains(.table) {
            slots = 0..<GDTLayout.entryCount
        } else if changes.contains(.threadLocalStorage) {
            slots = Self.tlsSlots
        } else {
            return
        }
        for slot in slots where !GDTLayout.isReservedForHost(slot) {
            let address = gdt.advanced(by: UInt32(slot) * 8)
            do {
                try memory.store32(entries[slot].low, at: address)
                try memory.store32(entries[slot].high, at: address.advanced(by: 4))
            } catch {
                preconditionFailure("segments: Switcher GDT outside RAM: \(error)")
            }
        }
        changes = []
    }
}
/*:*/

/*H:650 The thread-local-storage entries.

Three slots of the GDT hold segments that point at a thread's private data (glibc reaches its `__thread`
variables through gs). They change on every context switch between threads that use them, far too
often to send the whole table, so LOAD_TLS carries just those three, from the Guest's thread structure.
They get exactly the same checks and fix-ups as any other entry. */

extension GuestGDT {
    /// Handles LOAD_TLS: replaces the three TLS entries with the descriptors at `address`.
    ///
    /// - Throws: `GuestViolation` if they are not in guest memory or one is a system descriptor.
    public mutating func loadTLS(from address: GuestPhysicalAddress, memory: GuestMemory) throws(GuestViolation) {
        let loaded = try Self.readDescriptors(from: address, count: GDTLayout.tlsCount, memory: memory)
        var fresh = entries
        for (offset, descriptor) in loaded.enumerated() {
            let slot = GDTLayout.firstTLS + offset
            fresh[slot] = try Self.fixUp(descriptor, slot: slot)
        }
        entries = fresh
        changes.insert(.threadLocalStorage)
    }
}
/*:*/

/*H:655 The table a Guest starts with.

A Guest runs its first instructions before it has told us about any table, so it needs a GDT from the
start: all empty, except the kernel's code and data segments, flat 4 GiB and already at ring 1, so that
the boot cs and ss (`GDTLayout.kernelCodeSelector` and `kernelDataSelector`) are good. The rest arrives
with the Guest's first LOAD_GDT. */

extension GuestGDT {
    /// The table of a Guest that has not loaded one yet: flat kernel code and data at ring 1.
    public init() {
        var entries = [SegmentDescriptor](repeating: SegmentDescriptor(rawValue: 0), count: GDTLayout.entryCount)
        entries[GDTLayout.kernelCode] = .flat(executable: true, dpl: guestKernelRing)
        entries[GDTLayout.kernelData] = .flat(executable: false, dpl: guestKernelRing)
        self.entries = entries
    }
}
/*:*/

/*H:660 And that is the Host.

That was the last of the Host's duties: the run loop, hypercalls, interrupts and traps, the shadow page
tables and now the GDT. Every one of them ends by handing the processor back to the Guest, and how that
hand-over happens, changing cr3, the tables and the privilege level in one breath, is the business of
the smallest and most delicate part of the project, which has a chapter to itself: the Switcher. :*/
