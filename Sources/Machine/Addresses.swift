/*X:010 Welcome to the machine.

Everything else in this book runs on a computer that does not exist. The Host, the Switcher and the
Guest all believe they are on a 32-bit x86 PC of the early 2000s: a Pentium-class processor with
protected mode, segments, two-level paging and an interrupt descriptor table. This appendix builds that
PC in Swift, piece by piece, so that the chapters can talk about "the CPU" and "the page tables" and
mean something you can read, test and step through.

We build only what lguest leans on. There is no BIOS, no real mode and no floppy controller. There
*is* physical memory made of page frames, the CPU's register file, the real 8-byte descriptor formats,
an MMU that walks real page tables and caches the result in a TLB, interrupt and exception delivery
through the IDT with every privilege check that matters, an x87 floating-point unit, and an interpreter
that executes genuine i386 machine code produced by `gcc`, with a cache of decoded instructions that
makes it three times faster without changing a single answer. Where we cut a corner we say so, in the
section that cuts it.

The sources follow the appendix, one folder per part, in the order it tells them:

| folder | what it holds | sections |
| ------ | ------------- | -------- |
| (top) | addresses, the machine as a whole, its core | X:010-X:070 |
| `Memory` | physical RAM and its frame allocator | X:040-X:050 |
| `CPU` | flags, control registers, the register file | X:100-X:140 |
| `Segments` | descriptors and segment loads | X:200-X:230 |
| `Paging` | entries, faults, the page walk and the TLB | X:300-X:350 |
| `Interrupts` | delivery through the IDT, and `iret` | X:400-X:450 |
| `Interpreter` | fetch, decode, lazy flags and every instruction | X:500-X:595 |
| `FPU` | the x87: its registers, its instructions, saving and restoring it | X:610-X:648 |
| `CodeCache` | decoding once, running many times, and never running stale code | X:660-X:680 |
| `Disassembler` | the machine explaining itself | X:700-X:720 |
| `Loader` | ELF programs | X:800-X:840 |
| `Programs` | the stand-in kernel that runs one program on the bare machine | X:850-X:895 |
| `Linux` | the system calls both kernels share, and a process's first stack | X:876-X:899 | :*/

/*X:020 Addresses, and why they get four different types.

A hypervisor juggles several kinds of address at once, and the classic bug is to hand one kind to code
that expects another. A 32-bit number could be:

* a **guest-virtual** address: what a guest program puts in a register and the MMU translates;
* a **guest-physical** address: what the guest *thinks* is physical memory, which the Host must convert;
* a **host-physical** address: an offset into the machine's real RAM, the only kind that reaches
  `PhysicalMemory`;
* a **page frame number**: a host- or guest-physical address divided by the page size, which is what a
  page table entry stores.

In C they are all `unsigned long` and the compiler shrugs. Here each is its own struct wrapping a
`UInt32`, so passing a guest-physical address where a host-physical one belongs does not compile. The
structs cost nothing at run time: the optimiser sees straight through them.

Arithmetic on addresses wraps at 2^32 as the hardware's does (`&+`), and comes with a checked variant
for the places where a guest-supplied address plus a length must not wrap around, the classic way to
sneak past a bounds check. */

/// The size of a page and of a page frame on the i386: 4 KiB.
public let pageSize = 4096

/// log2 of `pageSize`: how far to shift an address to get its page number.
public let pageShift: UInt32 = 12

/// The low bits of an address that select a byte within its page.
public let pageOffsetMask: UInt32 = 0xFFF

/// What the four address types share: a 32-bit value, its page number and offset, and wrapping
/// arithmetic. Each conforming type is distinct, so mixing them is a compile-time error.
public protocol MachineAddress: RawRepresentable<UInt32>, Hashable, Comparable, Sendable,
    CustomStringConvertible
{
    /// Creates the address from its 32-bit value.
    init(_ rawValue: UInt32)
    /// A short prefix naming the address space in messages, such as `gva`.
    static var spaceName: String { get }
}

extension MachineAddress {
    public init(rawValue: UInt32) { self.init(rawValue) }

    /// The page number: the address shifted right by 12.
    @inlinable public var pageNumber: UInt32 { rawValue >> pageShift }

    /// The byte offset within the page, 0 ... 4095.
    @inlinable public var pageOffset: UInt32 { rawValue & pageOffsetMask }

    /// True when the address is the first byte of a page.
    @inlinable public var isPageAligned: Bool { pageOffset == 0 }

    /// The first address of the page that holds this one.
    @inlinable public var pageBase: Self { Self(rawValue & ~pageOffsetMask) }

    /// The address `delta` bytes further on, wrapping at 2^32 like the hardware.
    @inlinable public func advanced(by delta: UInt32) -> Self { Self(rawValue &+ delta) }

    /// The address `delta` bytes further on, or nil if that would wrap past 2^32 - 1.
    /// Use this on guest-supplied ranges: a range that wraps is always a lie.
    @inlinable public func checkedAdvanced(by delta: UInt32) -> Self? {
        let (sum, overflow) = rawValue.addingReportingOverflow(delta)
        return overflow ? nil : Self(sum)
    }

    /// The number of bytes from `other` up to `self`, wrapping.
    @inlinable public func distance(from other: Self) -> UInt32 { rawValue &- other.rawValue }

    /// Wrapping addition of a byte count.
    @inlinable public static func &+ (lhs: Self, rhs: UInt32) -> Self { lhs.advanced(by: rhs) }

    /// Wrapping subtraction of a byte count.
    @inlinable public static func &- (lhs: Self, rhs: UInt32) -> Self { Self(lhs.rawValue &- rhs) }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "\(Self.spaceName):\(hex32(rawValue))" }
}

/*X:025 The four types, and what only physical addresses can do.

With the shared behaviour in `MachineAddress`, each address type is three lines: its value, an
initialiser, and the short name it prints with (`gva:`, `gpa:`, `hpa:`), so a trace or an error
message says which space a number lives in. A frame number is deliberately *not* a `MachineAddress`:
it is not an address, and has no page offset. Only the two physical kinds can be made from a frame
or asked for theirs, through `PhysicalAddress`; a virtual address has no frame until the MMU says
which, and the compiler keeps it that way. */
/// An address as a guest program or guest kernel sees it: translated by the MMU before use.
public struct GuestVirtualAddress: MachineAddress {
    public var rawValue: UInt32
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public static var spaceName: String { "gva" }
}

/// An address in the guest's idea of physical memory; the Host converts it to a host-physical one.
public struct GuestPhysicalAddress: MachineAddress {
    public var rawValue: UInt32
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public static var spaceName: String { "gpa" }
}

/// An offset into the machine's RAM, the only address `PhysicalMemory` accepts.
public struct HostPhysicalAddress: MachineAddress {
    public var rawValue: UInt32
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public static var spaceName: String { "hpa" }
}

/// The number of a 4 KiB page frame: a physical address shifted right by 12. Page table entries
/// store these. Which physical space it counts in (guest or host) depends on whose table holds it.
public struct PageFrameNumber: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// The frame `count` frames further on, wrapping.
    @inlinable public func advanced(by count: UInt32) -> PageFrameNumber { PageFrameNumber(rawValue &+ count) }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "pfn:\(hex32(rawValue))" }
}

/// Physical addresses know their frame, and can be built from one.
public protocol PhysicalAddress: MachineAddress {}
extension GuestPhysicalAddress: PhysicalAddress {}
extension HostPhysicalAddress: PhysicalAddress {}

extension PhysicalAddress {
    /// The address of byte `offset` of `frame`. Only the low 20 bits of the frame number fit in
    /// 32 bits, as on the hardware; `offset` must be below the page size.
    @inlinable public init(frame: PageFrameNumber, offset: UInt32 = 0) {
        precondition(offset < UInt32(pageSize), "address: page offset \(offset) out of range")
        self.init((frame.rawValue << pageShift) | offset)
    }

    /// The frame that holds this address.
    @inlinable public var frame: PageFrameNumber { PageFrameNumber(pageNumber) }
}

/*X:030 How the MMU reads a virtual address.

With paging on, the i386 reads a 32-bit virtual address as three fields:

```
 31                22 21                12 11                     0
+--------------------+--------------------+------------------------+
| page directory idx |  page table index  |    offset in page      |
|      10 bits       |      10 bits       |        12 bits         |
+--------------------+--------------------+------------------------+
        |                      |                       |
        v                      v                       v
 one of 1024 entries    one of 1024 entries     one of 4096 bytes
 in the directory that  in the page table that  in the page frame
 cr3 points to          the directory entry     the table entry
                        points to               points to
```

Ten bits pick one of the 1024 four-byte entries in the page directory, whose frame cr3 holds; that
entry names a page table; ten more bits pick one of its 1024 entries; that entry names the page frame;
the last twelve bits pick the byte. Two lookups per translation, which is why the TLB (`X:340`) exists.
Each directory entry covers 4 MiB, and the 1024 of them cover all 4 GiB. */

extension GuestVirtualAddress {
    /// Bits 31...22: the index of the entry in the page directory.
    @inlinable public var pageDirectoryIndex: Int { Int(rawValue >> 22) }

    /// Bits 21...12: the index of the entry in the page table.
    @inlinable public var pageTableIndex: Int { Int((rawValue >> pageShift) & 0x3FF) }

    /// Builds an address from its three fields; each must be in range.
    @inlinable public init(pageDirectoryIndex: Int, pageTableIndex: Int, offset: UInt32 = 0) {
        precondition((0..<1024).contains(pageDirectoryIndex) && (0..<1024).contains(pageTableIndex)
            && offset < UInt32(pageSize), "address: paging indices out of range")
        self.init(UInt32(pageDirectoryIndex) << 22 | UInt32(pageTableIndex) << pageShift | offset)
    }
}
/*:*/

/// Formats a 32-bit value as `0x` and eight hex digits, for messages and traces.
@usableFromInline func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

/// Formats a value as `0x` and as many hex digits as it needs.
func hex(_ value: some BinaryInteger) -> String { "0x" + String(value, radix: 16) }
