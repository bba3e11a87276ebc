/*P:300 What the Launcher leaves for the Guest at boot.

A freshly booted kernel knows nothing about the machine it woke up in: not how much memory there is,
not what it was asked to do. On a PC the boot loader tells it, by filling a page of *boot parameters*
(Linux calls it the "zero page") and pointing a register at it. lguest's Launcher plays boot loader,
and so does ours.

We keep Linux's own offsets inside that page, for the few fields we use, so a reader who knows
`struct boot_params` recognises them:

```
 offset  size          field
  0x1E8     1          e820EntryCount      how many entries the memory map holds
  0x218     4          initrdAddress       guest-physical address of the initial ramdisk, or 0
  0x21C     4          initrdSize          its size in bytes
  0x228     4          commandLinePointer  guest-physical address of the command line
  0x238     4          commandLineSize     its length in bytes, without the NUL
  0x23C     4          hardwareSubarch     1 = "lguest": the Guest knows where it is
  0x2D0  20*n          e820Map             the memory map, n <= 128 entries
```

The page sits at guest-physical address 0 and the command line at 0x1000, right after it, as lguest's
Launcher placed them; the Guest kernel finds the page's address in esi when it starts.

The *e820 map* takes its name from the BIOS call that produced it (`int $0x15` with eax = 0xE820): a list
of address ranges, each with a type. lguest's Guest gets exactly one entry, "RAM from 0 to the end of
guest memory", and so does ours. */

import Machine

/// The layout of the boot parameter page: where it lives and the offsets of its fields.
public enum BootParameters {
    /// The guest-physical address of the boot parameter page.
    public static let address = GuestPhysicalAddress(0)
    /// u8: the number of entries in `e820Map`.
    public static let e820EntryCount: UInt32 = 0x1E8
    /// u32: guest-physical address of the initial ramdisk (Linux's `ramdisk_image`), 0 if none.
    public static let initrdAddress: UInt32 = 0x218
    /// u32: the initial ramdisk's size in bytes (Linux's `ramdisk_size`).
    public static let initrdSize: UInt32 = 0x21C
    /// u32: guest-physical address of the NUL-terminated command line.
    public static let commandLinePointer: UInt32 = 0x228
    /// u32: the command line's length in bytes, without its NUL.
    public static let commandLineSize: UInt32 = 0x238
    /// u32: which kind of platform booted us; `lguestSubarch` for lguest.
    public static let hardwareSubarch: UInt32 = 0x23C
    /// `E820Entry.size` bytes each: the memory map.
    public static let e820Map: UInt32 = 0x2D0
    /// The most entries `e820Map` can hold.
    public static let maximumE820Entries = 128
    /// The value of `hardwareSubarch` that says "lguest" (Linux's `X86_SUBARCH_LGUEST`).
    public static let lguestSubarch: UInt32 = 1
    /// Where the Launcher puts the command line: the page after the boot parameters.
    public static let commandLineAddress = GuestPhysicalAddress(0x1000)
    /// The longest command line, in bytes without its NUL (Linux's `COMMAND_LINE_SIZE` less one).
    public static let maximumCommandLineLength = 2047

    /// Encodes a boot parameter page (4096 bytes) holding `memoryMap`, the initial ramdisk's place
    /// (0 and 0 for none), and pointing at a command line of `commandLineLength` bytes at
    /// `commandLineAddress`.
    /// Preconditions: at most `maximumE820Entries` entries, a command line no longer than the maximum.
    public static func encodePage(memoryMap: [E820Entry], commandLineLength: Int,
                                  initrd: (address: GuestPhysicalAddress, size: UInt32)? = nil) -> [UInt8] {
        precondition(memoryMap.count <= maximumE820Entries, "boot: too many e820 entries")
        precondition((0...maximumCommandLineLength).contains(commandLineLength), "boot: command line too long")
        var page = [UInt8](repeating: 0, count: pageSize)
        page[Int(e820EntryCount)] = UInt8(memoryMap.count)
        putLittleEndian(commandLineAddress.rawValue, into: &page, at: Int(commandLinePointer))
        putLittleEndian(UInt32(commandLineLength), into: &page, at: Int(commandLineSize))
        putLittleEndian(lguestSubarch, into: &page, at: Int(hardwareSubarch))
        putLittleEndian(initrd?.address.rawValue ?? 0, into: &page, at: Int(initrdAddress))
        putLittleEndian(initrd?.size ?? 0, into: &page, at: Int(initrdSize))
        for (index, entry) in memoryMap.enumerated() {
            let start = Int(e820Map) + index * Int(E820Entry.size)
            page.replaceSubrange(start..<start + Int(E820Entry.size), with: entry.bytes)
        }
        return page
    }
}

/*P:310 One entry of the memory map.

An e820 entry is twenty bytes: a 64-bit start, a 64-bit length and a 32-bit type, even on a 32-bit
machine, because the BIOS interface was designed to describe memory above 4 GiB. Only two types
matter here, usable RAM and reserved. Decoding is the side to read carefully: a type this code does
not know becomes nil rather than a guess, and the rule that goes with it is the safe one, that a range
of unknown type is not RAM and must be left alone. */
/// The kind of an e820 memory range.
public enum E820Type: UInt32, Sendable {
    /// Usable RAM.
    case ram = 1
    /// Reserved: do not touch.
    case reserved = 2
}

/// One range of the e820 memory map: 8 bytes of address, 8 of size, 4 of type, little-endian.
public struct E820Entry: Hashable, Sendable {
    /// The encoded size of an entry in bytes.
    public static let size: UInt32 = 20

    /// The first byte of the range.
    public var address: UInt64
    /// The length of the range in bytes.
    public var length: UInt64
    /// What the range is; an unknown type decodes as nil and the range must be left alone.
    public var type: E820Type?

    public init(address: UInt64, length: UInt64, type: E820Type) {
        self.address = address
        self.length = length
        self.type = type
    }

    /// Decodes an entry from exactly `E820Entry.size` bytes; nil if the count is wrong.
    public init?(bytes: some Collection<UInt8>) {
        let raw = Array(bytes)
        guard raw.count == Int(Self.size) else { return nil }
        func word(_ at: Int, _ width: Int) -> UInt64 {
            (0..<width).reversed().reduce(0) { $0 << 8 | UInt64(raw[at + $1]) }
        }
        address = word(0, 8)
        length = word(8, 8)
        type = E820Type(rawValue: UInt32(truncatingIfNeeded: word(16, 4)))
    }

    /// The 20 bytes of the entry as they sit in the boot parameter page.
    public var bytes: [UInt8] {
        let typeValue = UInt64(type?.rawValue ?? 0)
        return littleEndianBytes(address, 8) + littleEndianBytes(length, 8) + littleEndianBytes(typeValue, 4)
    }
}
/*:*/

/// The low `width` bytes of `value`, least significant first.
func littleEndianBytes(_ value: UInt64, _ width: Int) -> [UInt8] {
    (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// Writes `value` little-endian into `bytes` at `offset`; the four bytes must fit.
func putLittleEndian(_ value: UInt32, into bytes: inout [UInt8], at offset: Int) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
}
