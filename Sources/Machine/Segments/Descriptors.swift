/*X:200 Segments, selectors and descriptors.

The i386 inherited segmentation from the 8086 and dressed it up for protected mode. Every memory access
goes through a *segment*: a base address added to the offset, a limit the offset must not exceed, and a
privilege level. Modern kernels, Linux included, make the segments flat (base 0, limit 4 GiB) and let
paging do the real work, but the machinery still decides two things that matter enormously to lguest:
**which ring the CPU is in** (the low two bits of cs) and **which stack an interrupt switches to**.

A segment register does not hold a segment; it holds a 16-bit *selector*, an index into a table of
8-byte *descriptors* (the GDT, or a per-process LDT). Loading a selector makes the CPU fetch the
descriptor and keep a hidden copy of it, so that it does not read the table on every access. */

/// A segment selector (Intel Vol. 3 §3.4.2): the value held in cs, ds, ss and friends.
///
/// ```
///  15                          3   2   1 0
/// +-----------------------------+----+-----+
/// |     descriptor index        | TI | RPL |
/// +-----------------------------+----+-----+
/// ```
public struct SegmentSelector: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The table a selector indexes (the TI bit, bit 2).
    public enum Table: UInt16, Sendable { case gdt = 0, ldt = 1 }

    /// Builds a selector from its three fields; `index` must fit in 13 bits and `rpl` in 2.
    @inlinable public init(index: Int, table: Table = .gdt, rpl: UInt8) {
        precondition((0..<8192).contains(index) && rpl < 4, "selector: field out of range")
        rawValue = UInt16(index) << 3 | table.rawValue << 2 | UInt16(rpl)
    }

    /// Bits 15-3: which descriptor in the table.
    @inlinable public var index: Int { Int(rawValue >> 3) }
    /// Bit 2: GDT or LDT.
    @inlinable public var table: Table { rawValue & 4 == 0 ? .gdt : .ldt }
    /// Bits 1-0: the requested privilege level.
    @inlinable public var rpl: UInt8 { UInt8(rawValue & 3) }
    /// True for selectors 0-3, which point at nothing (the "null selector").
    @inlinable public var isNull: Bool { rawValue & ~3 == 0 && table == .gdt }
    /// The byte offset of the descriptor within its table.
    @inlinable public var tableOffset: UInt32 { UInt32(rawValue & ~7) }

    public var description: String { "sel:" + hex(rawValue) }
}

/*X:210 The segment descriptor's famous mess.

A GDT entry is eight bytes, and its layout is what happens when a 24-bit design (the 80286) grows to 32
bits without breaking old tables: the base address is split into three pieces and the limit into two.

```
 high word (bytes 4-7)
 31          24 23 22 21 20 19    16 15 14 13 12 11     8 7            0
+--------------+--+--+--+--+--------+--+-----+--+--------+--------------+
| base 31..24  | G|DB| L|AV|lim19-16| P| DPL | S|  type  | base 23..16  |
+--------------+--+--+--+--+--------+--+-----+--+--------+--------------+
 low word (bytes 0-3)
 31                              16 15                                 0
+----------------------------------+-----------------------------------+
|           base 15..0             |            limit 15..0            |
+----------------------------------+-----------------------------------+
```

* **G** (granularity): the 20-bit limit counts 4 KiB units instead of bytes, so a flat segment has limit
  0xFFFFF and G set.
* **D/B**: 32-bit code or stack (always set here).
* **L**: 64-bit code; reserved on the i386 and kept only so the raw value round-trips.
* **AVL**: free for the operating system.
* **P**: present. **DPL**: the descriptor's privilege level, 0 to 3.
* **S**: 1 for code and data segments, 0 for *system* descriptors such as the TSS.
* **type**: for code and data, four bits (executable, conforming/expand-down, readable/writable,
  accessed); for system descriptors, a number (9 = available 32-bit TSS, 11 = busy TSS, 2 = LDT).

`SegmentDescriptor` stores the raw 64 bits and computes every field from them, so decoding then encoding
any eight bytes gives back the same eight bytes, even nonsense ones a hostile guest wrote. */

/// A GDT or LDT entry in its real 8-byte format (Intel Vol. 3 §3.4.5).
public struct SegmentDescriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 8 bytes as a little-endian 64-bit value: `low` in bits 0-31, `high` in bits 32-63.
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Builds a descriptor from its two 32-bit halves as they sit in memory.
    @inlinable public init(low: UInt32, high: UInt32) { rawValue = UInt64(high) << 32 | UInt64(low) }

    /// The type bits of a code or data descriptor (S = 1).
    public struct TypeBits: OptionSet, Hashable, Sendable {
        public var rawValue: UInt8
        @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue & 0xF }
        /// Bit 0 (A): set by the CPU when the segment is loaded.
        public static let accessed = TypeBits(rawValue: 1)
        /// Bit 1: readable for code, writable for data.
        public static let readableOrWritable = TypeBits(rawValue: 2)
        /// Bit 2: conforming for code, expand-down for data.
        public static let conformingOrExpandDown = TypeBits(rawValue: 4)
        /// Bit 3: executable (a code segment).
        public static let executable = TypeBits(rawValue: 8)
    }

    /// System descriptor type: an available 32-bit TSS (S = 0, type 9).
    public static let availableTSS32Type: UInt8 = 0x9
    /// System descriptor type: a busy 32-bit TSS (S = 0, type 11).
    public static let busyTSS32Type: UInt8 = 0xB
    /// System descriptor type: an LDT (S = 0, type 2).
    public static let ldtType: UInt8 = 0x2

    /// Builds a descriptor from its fields. `limit` is the raw 20-bit field (in 4 KiB units when
    /// `granularity` is set); `type` is the raw 4-bit field.
    public init(base: UInt32, limit: UInt32, type: UInt8, isCodeOrData: Bool = true, dpl: UInt8,
                present: Bool = true, available: Bool = false, defaultSize32: Bool = true,
                granularity: Bool = true) {
        precondition(limit <= 0xFFFFF && type < 16 && dpl < 4, "descriptor: field out of range")
        self.init(rawValue: 0)
        self.base = base
        self.limit = limit
        self.type = type
        self.isCodeOrData = isCodeOrData
        self.dpl = dpl
        self.isPresent = present
        self.available = available
        self.defaultSize32 = defaultSize32
        self.granularity = granularity
    }

    /// A flat 4 GiB code (`executable`) or data segment at privilege `dpl`, accessed bit set.
    public static func flat(executable: Bool, dpl: UInt8) -> SegmentDescriptor {
        let type: TypeBits = executable ? [.executable, .readableOrWritable, .accessed] : [.readableOrWritable, .accessed]
        return SegmentDescriptor(base: 0, limit: 0xFFFFF, type: type.rawValue, dpl: dpl)
    }

    /*X:215 Every field, computed from the raw bits.

    Two small helpers, `get(bits:at:)` and `set(_:bits:at:)`, pull a field out of the 64-bit value or put
    one in, and every property below is written with them, so each line reads like a row of the diagram:
    the base is 16 bits at 16, then 8 at 32, then 8 at 56. Setting a field touches only its own bits,
    which is what lets odd descriptors round-trip unchanged. `effectiveLimit` is the one the checks of
    `X:230` use: with G set, a limit of 0xFFFFF means "up to 0xFFFFFFFF", because the scaled limit names
    the last byte of the last 4 KiB unit, not the first. */
    /// Bytes 0-3.
    @inlinable public var low: UInt32 { UInt32(truncatingIfNeeded: rawValue) }
    /// Bytes 4-7.
    @inlinable public var high: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }

    private mutating func set(_ value: UInt64, bits: Int, at shift: Int) {
        let mask = ((1 as UInt64) << bits - 1) << shift
        rawValue = rawValue & ~mask | (value << shift) & mask
    }
    @inline(__always) private func get(bits: Int, at shift: Int) -> UInt64 { (rawValue >> shift) & ((1 << bits) - 1) }

    /// The segment's base address, gathered from its three pieces.
    public var base: UInt32 {
        get { UInt32(get(bits: 16, at: 16) | get(bits: 8, at: 32) << 16 | get(bits: 8, at: 56) << 24) }
        set {
            set(UInt64(newValue & 0xFFFF), bits: 16, at: 16)
            set(UInt64(newValue >> 16 & 0xFF), bits: 8, at: 32)
            set(UInt64(newValue >> 24), bits: 8, at: 56)
        }
    }
    /// The raw 20-bit limit field.
    public var limit: UInt32 {
        get { UInt32(get(bits: 16, at: 0) | get(bits: 4, at: 48) << 16) }
        set {
            set(UInt64(newValue & 0xFFFF), bits: 16, at: 0)
            set(UInt64(newValue >> 16 & 0xF), bits: 4, at: 48)
        }
    }
    /// The highest valid offset in bytes: the limit scaled by the granularity.
    public var effectiveLimit: UInt32 { granularity ? limit << 12 | 0xFFF : limit }
    /// The raw 4-bit type field (bits 40-43).
    public var type: UInt8 {
        get { UInt8(get(bits: 4, at: 40)) }
        set { set(UInt64(newValue), bits: 4, at: 40) }
    }
    /// The type field read as code/data bits (meaningful only when `isCodeOrData`).
    public var typeBits: TypeBits { TypeBits(rawValue: type) }
    /// S, bit 44: a code or data segment (true) or a system descriptor (false).
    public var isCodeOrData: Bool {
        get { get(bits: 1, at: 44) != 0 }
        set { set(newValue ? 1 : 0, bits: 1, at: 44) }
    }
    /// DPL, bits 45-46: the descriptor privilege level.
    public var dpl: UInt8 {
        get { UInt8(get(bits: 2, at: 45)) }
        set { set(UInt64(newValue), bits: 2, at: 45) }
    }
    /// P, bit 47: present.
    public var isPresent: Bool {
        get { get(bits: 1, at: 47) != 0 }
        set { set(newValue ? 1 : 0, bits: 1, at: 47) }
    }
    /// AVL, bit 52: available to software.
    public var available: Bool {
        get { get(bits: 1, at: 52) != 0 }
        set { set(newValue ? 1 : 0, bits: 1, at: 52) }
    }
    /// D/B, bit 54: 32-bit default operand size (code) or stack (data).
    public var defaultSize32: Bool {
        get { get(bits: 1, at: 54) != 0 }
        set { set(newValue ? 1 : 0, bits: 1, at: 54) }
    }
    /// G, bit 55: the limit counts 4 KiB units.
    public var granularity: Bool {
        get { get(bits: 1, at: 55) != 0 }
        set { set(newValue ? 1 : 0, bits: 1, at: 55) }
    }
    /// True for a present-or-not code segment (S = 1, executable).
    public var isCode: Bool { isCodeOrData && typeBits.contains(.executable) }
    /// True for a writable data segment (S = 1, not executable, W set).
    public var isWritableData: Bool {
        isCodeOrData && !typeBits.contains(.executable) && typeBits.contains(.readableOrWritable)
    }

    public var description: String {
        "desc(base \(hex32(base)) limit \(hex(effectiveLimit)) type \(type) S \(isCodeOrData ? 1 : 0) "
            + "dpl \(dpl) P \(isPresent ? 1 : 0))"
    }
}

/*X:220 Gates: the doors into the kernel.

The IDT holds *gate* descriptors, one per vector 0-255. A gate names the code segment and offset of the
handler, and the lowest privilege that may walk through it with a software `int n` (its DPL). There are
three kinds worth knowing:

* an **interrupt gate** (type 0xE) clears IF on the way in, so the handler starts with interrupts off;
* a **trap gate** (type 0xF) leaves IF alone, which suits system calls;
* a **task gate** (type 0x5) switches hardware tasks; Linux uses it only for the double fault, and this
  machine does not do task switches, so delivering through one is treated as a bad gate (`X:420`).

```
 high word
 31                              16 15 14 13 12 11     8 7            0
+----------------------------------+--+-----+--+--------+--------------+
|           offset 31..16          | P| DPL | 0|  type  |   reserved   |
+----------------------------------+--+-----+--+--------+--------------+
 low word
 31                              16 15                                 0
+----------------------------------+-----------------------------------+
|        segment selector          |           offset 15..0            |
+----------------------------------+-----------------------------------+
```
 */

/// An IDT entry in its real 8-byte format (Intel Vol. 3 §6.11).
public struct GateDescriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 8 bytes as a little-endian 64-bit value.
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Builds a gate from its two 32-bit halves as they sit in memory.
    @inlinable public init(low: UInt32, high: UInt32) { rawValue = UInt64(high) << 32 | UInt64(low) }

    /// The gate types this machine knows (the 4-bit type field).
    public enum Kind: UInt8, Sendable {
        /// A task gate: switch hardware tasks. Not supported by this machine.
        case task = 0x5
        /// A 32-bit interrupt gate: clears IF on entry.
        case interrupt = 0xE
        /// A 32-bit trap gate: leaves IF alone.
        case trap = 0xF
    }

    /// Builds a present-or-not gate from its fields.
    public init(offset: UInt32, selector: SegmentSelector, kind: Kind, dpl: UInt8, present: Bool = true) {
        precondition(dpl < 4, "gate: dpl out of range")
        let high = offset & 0xFFFF_0000 | (present ? 1 << 15 : 0) | UInt32(dpl) << 13 | UInt32(kind.rawValue) << 8
        let low = UInt32(selector.rawValue) << 16 | offset & 0xFFFF
        self.init(low: low, high: high)
    }

    /// Bytes 0-3.
    @inlinable public var low: UInt32 { UInt32(truncatingIfNeeded: rawValue) }
    /// Bytes 4-7.
    @inlinable public var high: UInt32 { UInt32(truncatingIfNeeded: rawValue >> 32) }

    /// The handler's offset within its code segment.
    public var offset: UInt32 { high & 0xFFFF_0000 | low & 0xFFFF }
    /// The handler's code segment.
    public var selector: SegmentSelector { SegmentSelector(rawValue: UInt16(truncatingIfNeeded: low >> 16)) }
    /// The raw 4-bit type field.
    public var type: UInt8 { UInt8(truncatingIfNeeded: high >> 8) & 0xF }
    /// The type, if it is one this machine knows.
    public var kind: Kind? { Kind(rawValue: type) }
    /// Bit 12 of the high word: must be 0 for a gate.
    public var systemBitIsClear: Bool { high & (1 << 12) == 0 }
    /// DPL: the least privileged ring allowed to use the gate with `int n`.
    public var dpl: UInt8 { UInt8(truncatingIfNeeded: high >> 13) & 3 }
    /// P: present.
    public var isPresent: Bool { high & (1 << 15) != 0 }

    public var description: String {
        "gate(\(selector):\(hex32(offset)) type \(hex(type)) dpl \(dpl) P \(isPresent ? 1 : 0))"
    }
}
/*:*/
