/*P:500 The Guest kernel's text: real bytes behind Swift code.

The Guest kernel's code is Swift, but the processor still needs somewhere to *be* while that code runs:
an address to push when an interrupt arrives, an instruction for the Host to decode when the Guest
tries `out`, a handler address to put in an interrupt gate. `GuestKernelImage` provides that somewhere.
It is a small page (or a few) of genuine i386 instructions, loaded by the Launcher into guest memory at
`GuestKernelImage.loadAddress` and so mapped at `kernelVirtual(loadAddress)` in the kernel half:

```
 +0x00  cd 1f      int $0x1f         the hypercall site; returns to +0x02
 +0x02  8b 00      mov (%eax),%eax   where eip points while a Swift load or store runs
 +0x04  89 02      mov %eax,(%edx)   \ the no-interrupt window (G:045): the store that
 +0x06  cf         iret              / restores irqEnabled, and the iret that follows
 +0x08  ...        one copy of each privileged instruction the Guest may try (`NativeInstruction`)
 +0x40  0f 0b ...  entry points, four bytes each: `ud2`, padding
```

An entry point's bytes are `ud2`, the instruction Intel reserves to be undefined: if the processor ever
really executed one, it would fault. It never does, because the Switcher recognises the address first
and calls the Swift function registered there (`S:200`). The name of each entry travels with it, for
traces and for the Host's messages.

Why bother with real bytes at all, when the Host could be told in Swift what the Guest wanted? Because
the Host of this book is written against the hardware's contract, not against our Guest. When the Guest
kernel tries `in` or `out` at ring 1, the Host receives a #GP and an eip, and finds out what the
instruction was by reading the bytes at eip through the Guest's page tables (`emulateInstruction()`, `H:225`),
exactly as lguest's Host does with a real Linux Guest. And a kernel that forgot `lguestInit()` and ran
`mov %eax,%cr3` natively faults at a genuine instruction, so a trace's disassembly (`X:700`) names the
culprit instead of printing `(bad)`.

The encodings are worth reading once, because they show the ModR/M byte (`X:510`) doing a job other
than addressing memory. In `0f 22 d8`, the byte `d8` is `11 011 000`: mod 11 says "registers only",
reg 011 names control register 3, and r/m 000 names eax. The same three fields in `0f 01 10` (`lgdt
(%eax)`) read `00 010 000`: mod 00, a memory operand at (eax), and reg 010 is not a register at all but
the number of the operation within group 7, as in the groups of `X:715`. */

import Machine

/// A privileged instruction the Guest kernel may try, with its real encoding. At ring 1 each one
/// traps into the Host with a general protection fault (#GP).
public enum NativeInstruction: CaseIterable, Hashable, Sendable {
    /// `cli` (fa): clear the interrupt flag.
    case cli
    /// `sti` (fb): set the interrupt flag.
    case sti
    /// `hlt` (f4): halt until an interrupt.
    case hlt
    /// `clts` (0f 06): clear cr0's task-switched bit.
    case clts
    /// `wbinvd` (0f 09): write back and invalidate caches.
    case wbinvd
    /// `in (%dx),%al` (ec): read a byte from the port in dx.
    case inByte
    /// `in (%dx),%ax` (66 ed): read a 16-bit word from the port in dx.
    case inWord
    /// `in (%dx),%eax` (ed): read a 32-bit word from the port in dx.
    case inLong
    /// `out %al,(%dx)` (ee): write al to the port in dx.
    case outByte
    /// `out %ax,(%dx)` (66 ef): write ax to the port in dx.
    case outWord
    /// `out %eax,(%dx)` (ef): write eax to the port in dx.
    case outLong
    /// `mov %eax,%cr3` (0f 22 d8): load a page directory.
    case writeCR3
    /// `mov %cr3,%eax` (0f 20 d8): read the page directory base.
    case readCR3
    /// `mov %eax,%cr0` (0f 22 c0): write control register 0.
    case writeCR0
    /// `lgdt (%eax)` (0f 01 10): load the GDT register.
    case lgdt
    /// `lidt (%eax)` (0f 01 18): load the IDT register.
    case lidt
    /// `invlpg (%eax)` (0f 01 38): drop one TLB entry.
    case invlpg

    /// The instruction's bytes, as `gcc -m32` would emit them.
    public var bytes: [UInt8] {
        switch self {
        case .cli: [0xFA]
        case .sti: [0xFB]
        case .hlt: [0xF4]
        case .clts: [0x0F, 0x06]
        case .wbinvd: [0x0F, 0x09]
        case .inByte: [0xEC]
        case .inWord: [0x66, 0xED]
        case .inLong: [0xED]
        case .outByte: [0xEE]
        case .outWord: [0x66, 0xEF]
        case .outLong: [0xEF]
        case .writeCR3: [0x0F, 0x22, 0xD8]
        case .readCR3: [0x0F, 0x20, 0xD8]
        case .writeCR0: [0x0F, 0x22, 0xC0]
        case .lgdt: [0x0F, 0x01, 0x10]
        case .lidt: [0x0F, 0x01, 0x18]
        case .invlpg: [0x0F, 0x01, 0x38]
        }
    }
}

/*P:510 Entry points and the fixed sites.

An entry point is a Swift closure with a name, and `GuestKernelImage` keeps them by the address the
processor will arrive at. Its stored properties are the offsets of the diagram, given names so that
nobody writes `base + 4` by hand: the Switcher knows a hypercall returns two bytes past
`hypercallSite`, the Guest's interrupt-flag code hands `noInterruptWindow` to the Host (`G:045`), and
`iretSite` is the one `iret` the Switcher runs for the Guest kernel and watches for. */
/// A Swift function the processor "runs" when it arrives at ring 1 at its entry address.
public typealias GuestEntryPoint = (any GuestProcessor) throws(GuestStopped) -> Void

/// One registered entry point: its name (for traces and messages) and its body.
public struct GuestKernelEntry {
    /// A short human name, such as the Linux function it stands for, printed in traces.
    public let name: String
    /// The Swift code that runs when the processor arrives at the entry's address.
    public let body: GuestEntryPoint

    /// An entry called `name` that runs `body`.
    public init(name: String, body: @escaping GuestEntryPoint) {
        self.name = name
        self.body = body
    }
}

/// The Guest kernel's text: the bytes the Launcher loads and the Swift entry points behind them.
public struct GuestKernelImage {
    /// Where the Launcher loads the text in guest-physical memory: 1 MiB, where Linux loads.
    public static let loadAddress = GuestPhysicalAddress(0x0010_0000)
    /// Where the text appears in the kernel half of every address space.
    public static let base = GuestVirtualAddress(0xC010_0000)

    /// Offset of the first entry point in the text.
    static let firstEntryOffset: UInt32 = 0x40
    /// Bytes each entry point occupies.
    static let entrySize: UInt32 = 4

    /// The `int $0x1F` every hypercall executes as; it returns to `hypercallSite + 2`.
    public let hypercallSite = base
    /// The instruction eip names while a Swift load or store is in progress.
    public let memoryAccessSite = base.advanced(by: 2)
    /// The no-interrupt window: the Host delivers no interrupt while eip is inside it.
    public let noInterruptWindow = base.advanced(by: 4)..<base.advanced(by: 7)
    /// The store inside the no-interrupt window (`AccessSite.noInterruptWindow`).
    public let noInterruptStoreSite = base.advanced(by: 4)
    /// The `iret` every `returnFromInterrupt()` executes as.
    public let iretSite = base.advanced(by: 6)
    /// Where each privileged instruction sits; after the Host emulates one, eip is past it.
    public let nativeSites: [NativeInstruction: GuestVirtualAddress]

    /// The text as the Launcher must load it.
    public private(set) var text: [UInt8]
    /// The registered entry points by address.
    public private(set) var entries: [GuestVirtualAddress: GuestKernelEntry] = [:]
    /// The entry the Guest starts at; set it to one of `entries`' addresses.
    public var bootEntry: GuestVirtualAddress?

    /*P:520 Laying out the text.

    The initialiser writes the picture above into bytes, in its order: the four fixed sites, one copy of
    each `NativeInstruction`, then nops up to offset 0x40. The padding is there so that the entry
    addresses never move when someone adds a privileged instruction to the list; the precondition
    catches the day the list outgrows its room, which would be a bug in this file, not anything a Guest
    did. After that, each `addEntry(named:_:)` appends four bytes and remembers the Swift body under
    their address, which is all the Switcher needs to find it again (`S:200`). */
    /// An image with the fixed sites laid out and no entry points yet.
    public init() {
        // The fixed sites first, at the offsets the properties above promise: int, mov, mov, iret, nop.
        var text: [UInt8] = [0xCD, hypercallVector, 0x8B, 0x00, 0x89, 0x02, 0xCF, 0x90]
        // Then one copy of every privileged instruction, each at an address of its own.
        var sites: [NativeInstruction: GuestVirtualAddress] = [:]
        for instruction in NativeInstruction.allCases {
            sites[instruction] = Self.base.advanced(by: UInt32(text.count))
            text += instruction.bytes
        }
        precondition(text.count <= Int(Self.firstEntryOffset), "kernel image: native sites overflow")
        // Fill with nops up to the first entry point, so the entry addresses do not move when the
        // list of native instructions grows.
        text += [UInt8](repeating: 0x90, count: Int(Self.firstEntryOffset) - text.count)
        self.text = text
        self.nativeSites = sites
    }

    /// Registers `body` under `name` at the next free entry address and returns that address.
    public mutating func addEntry(named name: String, _ body: @escaping GuestEntryPoint) -> GuestVirtualAddress {
        let address = Self.base.advanced(by: UInt32(text.count))
        // ud2 and two nops: four bytes, so entry addresses stay aligned and easy to read in a trace.
        text += [0x0F, 0x0B, 0x90, 0x90]
        entries[address] = GuestKernelEntry(name: name, body: body)
        return address
    }

    /// The entry registered at `address`, if any.
    public func entry(at address: GuestVirtualAddress) -> GuestKernelEntry? { entries[address] }

    /// The address of the native instruction `instruction` in the text.
    public func site(of instruction: NativeInstruction) -> GuestVirtualAddress {
        guard let site = nativeSites[instruction] else { preconditionFailure("kernel image: no site") }
        return site
    }

    /// True when `address` lies inside the text.
    public func contains(_ address: GuestVirtualAddress) -> Bool {
        address >= Self.base && address.distance(from: Self.base) < UInt32(text.count)
    }
}
/*:*/
