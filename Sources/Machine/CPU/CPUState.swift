/*X:120 The CPU's state, all of it.

`CPUState` is everything a context switch has to save: eight general registers, the instruction pointer,
the flags, six segment registers with their hidden descriptor caches, the control registers, the
descriptor-table registers, and the task register. It is a plain struct. Saving a context is `let saved
= machine.cpu`; restoring it is `machine.cpu = saved`; and the Switcher (`S:100`) does exactly that.

The general registers are stored in the order the instruction encoding numbers them: eax, ecx, edx,
ebx, esp, ebp, esi, edi are registers 0 to 7 in every ModR/M byte. That is not alphabetical and not the
order `pushal` uses either, but it lets the interpreter pick a register with the three bits it just
decoded, without a table. Named properties (`cpu.eax`) are there for humans.

The registers are stored in an `InlineArray<8, UInt32>`, Swift's fixed-size array that lives inside its
struct with no heap allocation and no reference counting, so copying a `CPUState` is copying a few
hundred bytes and nothing else. */

/// The eight 32-bit general registers, numbered as the instruction encoding numbers them.
public enum Register32: Int, CaseIterable, Sendable, CustomStringConvertible {
    case eax = 0, ecx, edx, ebx, esp, ebp, esi, edi

    public var description: String { ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"][rawValue] }
}

/// The six segment registers, numbered as the `sreg` field of an instruction numbers them.
public enum SegmentRegisterName: Int, CaseIterable, Sendable, CustomStringConvertible {
    case es = 0, cs, ss, ds, fs, gs

    public var description: String { ["es", "cs", "ss", "ds", "fs", "gs"][rawValue] }
}

/*X:130 A segment register is more than its selector.

When a program loads a selector into, say, ds, the CPU reads the descriptor from the GDT and keeps a
private copy in a *descriptor cache* beside the register. From then on every access through ds uses the
cached base and limit, even if someone rewrites the GDT entry. Intel's manuals call it the hidden part of
the register; we keep it in the open, because the Host must set it when it switches worlds and tests want
to look at it.

`SegmentRegister` therefore holds the selector and the cached descriptor, plus the base and the limit
already unpacked, since the interpreter adds the base to every memory operand. */

/// A segment register: the visible selector and the hidden descriptor cache.
public struct SegmentRegister: Hashable, Sendable, CustomStringConvertible {
    /// The visible part: what `mov %ds, %eax` reads.
    public var selector: SegmentSelector
    /// The descriptor the CPU cached when the selector was loaded.
    public var descriptor: SegmentDescriptor
    /// The cached base (from `descriptor`), added to every offset.
    public private(set) var base: UInt32
    /// The cached effective limit in bytes (from `descriptor`).
    public private(set) var limit: UInt32

    /// Loads `selector` with its descriptor, as the CPU does after its checks pass.
    public init(selector: SegmentSelector, descriptor: SegmentDescriptor) {
        self.selector = selector
        self.descriptor = descriptor
        self.base = descriptor.base
        self.limit = descriptor.effectiveLimit
    }

    /// A flat 4 GiB segment: code when `executable`, with DPL and RPL both `ring`, in GDT slot `index`.
    public static func flat(index: Int, ring: UInt8, executable: Bool) -> SegmentRegister {
        SegmentRegister(selector: SegmentSelector(index: index, rpl: ring),
                        descriptor: .flat(executable: executable, dpl: ring))
    }

    /// The null segment: selector 0, nothing cached. Loading it into ds, es, fs or gs is allowed.
    public static let null = SegmentRegister(selector: SegmentSelector(rawValue: 0),
                                             descriptor: SegmentDescriptor(rawValue: 0))

    /// The descriptor's privilege level.
    public var dpl: UInt8 { descriptor.dpl }

    public var description: String { "\(selector) base \(hex32(base)) limit \(hex(limit)) dpl \(dpl)" }
}

/// GDTR or IDTR: the linear base address of a descriptor table and its limit (size in bytes minus 1).
public struct DescriptorTableRegister: Hashable, Sendable {
    /// The table's linear (guest-virtual) address.
    public var base: GuestVirtualAddress
    /// The offset of the table's last valid byte: 8 × entries − 1.
    public var limit: UInt16

    public init(base: GuestVirtualAddress, limit: UInt16) {
        self.base = base
        self.limit = limit
    }

    /// True when the 8-byte entry at `offset` lies within the limit.
    public func containsEntry(at offset: UInt32) -> Bool { offset &+ 7 >= offset && offset &+ 7 <= UInt32(limit) }
}

/*X:140 The TSS fields we keep in the CPU.

When an interrupt arrives while the CPU runs at ring 3, it cannot push the interrupt frame on the user's
stack: the user controls that stack and could point it anywhere. So the CPU switches to a stack the
kernel chose in advance. Where does it find it? In the *task state segment*, a structure in memory
whose descriptor sits in the GDT and whose selector sits in the task register, TR. The TSS holds a stack
segment and stack pointer for each of rings 0, 1 and 2: `ss0:esp0` and friends.

This machine keeps `ss0/esp0` and `ss1/esp1` in `CPUState` instead of reading them from a TSS in
memory, and keeps TR only as a selector. The behaviour a program can observe is the same (the stack
switch goes to the value the kernel last set), and it spares the delivery path a descriptor walk and a
memory read that could themselves fault. lguest's Guest sets its kernel stack with the `SET_STACK`
hypercall (`G:038`) rather than by writing its TSS, so nothing in the book depends on the TSS's bytes.
Ring 2 is unused by everyone, so it has no fields. */

/// The complete architectural state of the CPU.
public struct CPUState: Hashable, Sendable {
    /// The general registers in encoding order; use the named properties or `self[register]`.
    @usableFromInline var gpr: InlineArray<8, UInt32> = InlineArray(repeating: 0)

    /// The instruction pointer: the offset of the next instruction in cs.
    public var eip: UInt32 = 0
    /// The flags; bit 1 always set. Exact whenever the interpreter is not running (`X:100`).
    public var eflags: EFLAGS = .alwaysOne

    /// The extra segment: the destination of string instructions (`movs`, `stos`).
    public var es: SegmentRegister = .null
    /// The code segment; its selector's RPL is the current privilege level.
    public var cs: SegmentRegister = .null
    /// The stack segment: pushes, pops, and operands based on esp or ebp.
    public var ss: SegmentRegister = .null
    /// The data segment: every other memory operand, unless a prefix says otherwise.
    public var ds: SegmentRegister = .null
    /// Used only through prefixes; Linux points fs or gs at per-thread or per-CPU data.
    public var fs: SegmentRegister = .null
    /// Used only through prefixes, like fs.
    public var gs: SegmentRegister = .null

    /// Control register 0. Starts with PE and ET set: this machine has no real mode.
    public var cr0: CR0 = [.protectionEnable, .extensionType]
    /// The address of the last page fault.
    public var cr2: GuestVirtualAddress = GuestVirtualAddress(0)
    /// The host-physical address of the page directory the MMU walks.
    public var cr3: HostPhysicalAddress = HostPhysicalAddress(0)
    /// Control register 4.
    public var cr4: CR4 = []

    /// The global descriptor table.
    public var gdtr = DescriptorTableRegister(base: GuestVirtualAddress(0), limit: 0)
    /// The interrupt descriptor table.
    public var idtr = DescriptorTableRegister(base: GuestVirtualAddress(0), limit: 0)
    /// The task register's selector (the TSS itself is not read; see `X:140`).
    public var tr = SegmentSelector(rawValue: 0)

    /// The stack segment for events that enter ring 0 from an outer ring.
    public var ss0 = SegmentSelector(rawValue: 0)
    /// The stack pointer for events that enter ring 0 from an outer ring.
    public var esp0: UInt32 = 0
    /// The stack segment for events that enter ring 1: where lguest's guest kernel takes traps
    /// from its user programs.
    public var ss1 = SegmentSelector(rawValue: 0)
    /// The stack pointer for events that enter ring 1 (the guest kernel's stack top).
    public var esp1: UInt32 = 0

    /// A CPU with every register zero, flat nothing, protected mode on and paging off.
    public init() {}

    /*X:150 Reading the state: the CPL and registers by name.

    Two things here are worth a second look. The current privilege level is not a field at all: it is the
    low two bits (the RPL) of the selector in cs, which is why only a far transfer, an interrupt or an
    `iret` can change a program's ring. And the eight general registers live in one small array, so the
    interpreter can index them by the three-bit numbers of the encoding, while everyone else writes
    `cpu.eax`; both spellings reach the same storage. Equality and hashing are written out by hand at the
    end only because `InlineArray` provides neither. */
    /// The current privilege level: the RPL of the selector in cs (0 = most privileged).
    @inlinable public var cpl: UInt8 { @inline(__always) get { cs.selector.rpl } }

    /// A general register by name.
    @inlinable public subscript(register: Register32) -> UInt32 {
        @inline(__always) get { gpr[register.rawValue] }
        @inline(__always) set { gpr[register.rawValue] = newValue }
    }

    /// A segment register by name.
    public subscript(segment: SegmentRegisterName) -> SegmentRegister {
        get {
            switch segment {
            case .es: es
            case .cs: cs
            case .ss: ss
            case .ds: ds
            case .fs: fs
            case .gs: gs
            }
        }
        set {
            switch segment {
            case .es: es = newValue
            case .cs: cs = newValue
            case .ss: ss = newValue
            case .ds: ds = newValue
            case .fs: fs = newValue
            case .gs: gs = newValue
            }
        }
    }

    @inlinable public var eax: UInt32 {
        @inline(__always) get { gpr[0] }
        @inline(__always) set { gpr[0] = newValue } }
    @inlinable public var ecx: UInt32 {
        @inline(__always) get { gpr[1] }
        @inline(__always) set { gpr[1] = newValue } }
    @inlinable public var edx: UInt32 {
        @inline(__always) get { gpr[2] }
        @inline(__always) set { gpr[2] = newValue } }
    @inlinable public var ebx: UInt32 {
        @inline(__always) get { gpr[3] }
        @inline(__always) set { gpr[3] = newValue } }
    @inlinable public var esp: UInt32 {
        @inline(__always) get { gpr[4] }
        @inline(__always) set { gpr[4] = newValue } }
    @inlinable public var ebp: UInt32 {
        @inline(__always) get { gpr[5] }
        @inline(__always) set { gpr[5] = newValue } }
    @inlinable public var esi: UInt32 {
        @inline(__always) get { gpr[6] }
        @inline(__always) set { gpr[6] = newValue } }
    @inlinable public var edi: UInt32 {
        @inline(__always) get { gpr[7] }
        @inline(__always) set { gpr[7] = newValue } }

    // InlineArray is not Equatable or Hashable, so equality and hashing are spelled out.
    public static func == (lhs: CPUState, rhs: CPUState) -> Bool {
        Register32.allCases.allSatisfy { lhs[$0] == rhs[$0] } && lhs.eip == rhs.eip && lhs.eflags == rhs.eflags
            && SegmentRegisterName.allCases.allSatisfy { lhs[$0] == rhs[$0] }
            && lhs.cr0 == rhs.cr0 && lhs.cr2 == rhs.cr2 && lhs.cr3 == rhs.cr3 && lhs.cr4 == rhs.cr4
            && lhs.gdtr == rhs.gdtr && lhs.idtr == rhs.idtr && lhs.tr == rhs.tr
            && lhs.ss0 == rhs.ss0 && lhs.esp0 == rhs.esp0 && lhs.ss1 == rhs.ss1 && lhs.esp1 == rhs.esp1
    }

    public func hash(into hasher: inout Hasher) {
        for register in Register32.allCases { hasher.combine(self[register]) }
        hasher.combine(eip)
        hasher.combine(eflags)
        hasher.combine(cr3)
    }
}
/*:*/
