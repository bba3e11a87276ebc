/*S:010 Welcome to the Switcher!

The Switcher is the one piece of code that lives in two worlds at once. When the Host wants to run a
Guest, it cannot simply jump into it: the Guest needs its own page tables in cr3, its own descriptor
tables, its own stack, its own privilege level. Changing all of that at once, while still executing
*somewhere*, is the trick. lguest solves it by mapping a few pages, the Switcher's, at the same virtual
address in both the Host's and every Guest's address space: the very top 4 MiB, 0xFFC00000 onwards
(`P:030`). Code running there can load a Guest's cr3 and keep running, because the page it is executing
from is mapped identically on the other side.

The Switcher's region holds three pages, and their layout is this chapter's map:

```
 0xFFC00000  text      one 16-byte stub per vector: where every trap from the Guest lands (S:020)
 0xFFC01000  registers the Guest's saved registers, at the top of the page; the ring-0 stack ends
                       there, so a trap's frame lands on them (S:030). Writable. One page per Guest,
                       mapped in as that Guest runs.
 0xFFC02000  state     the GDT and the IDT the processor uses while the Guest runs. Read-only to
                       the Guest, so it cannot rewrite its own interrupt table behind the Host's back.
```

In this emulator the Switcher's *logic* is Swift, like the Host's; what is real is everything the
processor sees: the pages, their mappings, the tables, the stack the frames land on, and the privilege
checks that stop a Guest from touching any of it. */

import LguestABI
import Machine

/// Where the Switcher's pages sit in every address space, and how the state page is carved up.
public enum SwitcherLayout {
    /// The stubs page.
    public static let text = switcherAddress
    /// The Guest's registers page; the ring-0 stack grows down from its end.
    public static let registers = switcherAddress.advanced(by: UInt32(pageSize))
    /// The read-only state page: GDT, then IDT.
    public static let state = switcherAddress.advanced(by: 2 * UInt32(pageSize))
    /// The GDT inside the state page.
    public static let gdt = state
    /// The IDT inside the state page.
    public static let idt = state.advanced(by: 0x800)
    /// The top of the ring-0 stack: the end of the registers page.
    public static let ringZeroStackTop = state
    /// Bytes per stub in the text page.
    public static let stubSize: UInt32 = 16
    /// The number of pages the Switcher maps.
    public static let pageCount = 3

    /// The address of the stub for `vector`.
    public static func stub(vector: UInt8) -> GuestVirtualAddress {
        text.advanced(by: UInt32(vector) * stubSize)
    }

    /// The vector whose stub is at `address`, or nil if `address` is not the start of a stub.
    public static func vector(ofStub address: GuestVirtualAddress) -> UInt8? {
        guard address >= text, address < registers else { return nil }
        let offset = address.distance(from: text)
        guard offset % stubSize == 0 else { return nil }
        return UInt8(offset / stubSize)
    }
}
/*:*/

/*S:020 The stubs: one landing place per vector.

Every interrupt gate the Host does not hand straight to the Guest (`H:240`) points at a stub in the
Switcher's text page, at ring 0. When the Guest traps, the processor switches to the ring-0 stack (its
top is the end of the registers page, `ringZeroStackTop`), pushes the Guest's ss, esp, eflags, cs, eip
and, for some vectors, an error code, and jumps to the stub.

Real stubs do two things: push a zero for the vectors where the processor pushes no error code, so every
frame has the same shape, and push the vector number; then they jump to common code that saves the rest
of the registers and switches to the Host. We write exactly those bytes into the page, so a disassembly
of the Switcher shows them; the "common code" is `exitToHost()` in Swift, which the Switcher runs when it
sees the processor arrive at a stub, the same way it runs the Guest's Swift handlers (`S:200`).

**Exercise** (easy; read first X:400): say which vectors the processor pushes an error code for, so
that the stubs push a zero for all the others. */

/// The vectors for which the processor itself pushes an error code (8, 10-14, 17).
public func vectorHasErrorCode(_ vector: UInt8) -> Bool {
    // exercise S:020 {
    vector == 8 || (10...14).contains(vector) || vector == 17
    // exercise S:020 } stub: return ExerciseStub.unfinished("S:020", false)
}

/// The bytes of the stub for `vector`: `push $0` unless the processor pushed an error code,
/// `push $vector`, and `ud2` where the jump to the common code would be.
func stubBytes(vector: UInt8) -> [UInt8] {
    var bytes: [UInt8] = vectorHasErrorCode(vector) ? [] : [0x6A, 0x00]
    bytes += vector < 0x80 ? [0x6A, vector] : [0x68, vector, 0, 0, 0]
    bytes += [0x0F, 0x0B]
    return bytes + [UInt8](repeating: 0x90, count: Int(SwitcherLayout.stubSize) - bytes.count)
}
/*:*/

/*S:030 The Guest's registers, where the trap frame lands.

lguest keeps a Guest's registers in a structure at the very top of a page, `struct lguest_regs`, and
points the ring-0 stack pointer (the TSS's esp0) at the end of it. A trap then pushes its frame straight
into the last five or six words of the structure; the stub pushes the vector below that; and the common
code pushes the remaining registers below *that*. By the time the Switcher is done, the page holds every
register of the Guest in a known order, and nothing was copied twice:

```
 top of page  ss  esp  eflags  cs  eip      pushed by the processor
              errorCode                     pushed by the processor, or 0 by the stub
              trapNumber                    pushed by the stub
              es  ds  fs  gs                \
              ebp edi esi edx ecx ebx eax   / pushed by the common code
```

Going back into the Guest is the same film run backwards: pop the general registers, skip the vector
and error code, and `iret` on the frame. The Host reads and writes this page while the Guest is stopped:
to fetch hypercall arguments, to skip an instruction it emulated, to push an interrupt frame. */

/// A Guest's saved registers, as lguest's `struct lguest_regs` lays them out in the registers page.
public struct GuestRegisterFrame: Hashable, Sendable {
    public var eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0
    public var esi: UInt32 = 0, edi: UInt32 = 0, ebp: UInt32 = 0
    public var gs: UInt32 = 0, fs: UInt32 = 0, ds: UInt32 = 0, es: UInt32 = 0
    /// The vector the Guest trapped with.
    public var trapNumber: UInt32 = 0
    /// The error code the processor pushed, or 0.
    public var errorCode: UInt32 = 0
    public var eip: UInt32 = 0, cs: UInt32 = 0, eflags: UInt32 = 0, esp: UInt32 = 0, ss: UInt32 = 0

    public init() {}

    /// The number of 32-bit words in the frame.
    public static let wordCount = 18
    /// The size of the frame in bytes.
    public static let size = UInt32(wordCount * 4)
    /// The frame's offset within the registers page: it ends exactly at the page's end.
    public static let offsetInPage = UInt32(pageSize) - size
    /// The offset of `eip` within the frame: where the processor's five-word frame begins.
    public static let eipOffset: UInt32 = 13 * 4

}

/// The words of a `GuestRegisterFrame`, numbered in memory order.
public enum RegisterWord: UInt32, CaseIterable, Sendable {
    case eax = 0, ebx, ecx, edx, esi, edi, ebp, gs, fs, ds, es, trapNumber, errorCode, eip, cs, eflags, esp, ss
}

/*S:035 The page that holds them.

Each Guest has a `RegisterPage` of its own, one host frame, with the frame above laid out at its very
top so that the processor's pushes end exactly at the page's end. It is a class because there is one
page per Guest and the Host and the Switcher must see the same one. Two ways in are offered, and the
difference is speed: the subscript reads or writes one word, which is all most world switches need
(an eip to advance, a return value in eax), while `registers` copies the whole frame for code that
wants to look at everything. Both go through `hostLoad32` and `hostStore32`, which treat a failure as
a host bug, because the Host chose the address and the Guest cannot move it. */
/// One Guest's registers page: a host frame whose top holds a `GuestRegisterFrame`.
public final class RegisterPage {
    /// The machine's RAM.
    public let memory: PhysicalMemory
    /// The host frame of the page.
    public let frame: PageFrameNumber

    /// Wraps `frame` of `memory`. Precondition: the frame exists.
    public init(memory: PhysicalMemory, frame: PageFrameNumber) {
        precondition(memory.contains(frame: frame), "switcher: registers frame outside RAM")
        self.memory = memory
        self.frame = frame
    }

    /// One word of the saved registers, read or written alone: the world switch's hot path touches
    /// only the words it needs.
    public subscript(word: RegisterWord) -> UInt32 {
        get { hostLoad32(memory, frameAddress.advanced(by: word.rawValue * 4)) }
        set { hostStore32(memory, newValue, frameAddress.advanced(by: word.rawValue * 4)) }
    }

    /// Gives the frame back to the machine when the Guest is gone. Only the Host and the Switcher touch
    /// a registers page, and only while its Guest runs, so nothing reads it afterwards.
    public func release() {
        memory.freeFrames(frame, count: 1)
    }

    private var frameAddress: HostPhysicalAddress {
        HostPhysicalAddress(frame: frame, offset: GuestRegisterFrame.offsetInPage)
    }

    /// The saved registers. Reading and writing go straight to the page, a word at a time in
    /// `struct lguest_regs` order (this is on every world switch's path, so no arrays).
    public var registers: GuestRegisterFrame {
        get {
            let base = frameAddress
            func word(_ index: UInt32) -> UInt32 { hostLoad32(memory, base.advanced(by: index * 4)) }
            var frame = GuestRegisterFrame()
            frame.eax = word(0); frame.ebx = word(1); frame.ecx = word(2); frame.edx = word(3)
            frame.esi = word(4); frame.edi = word(5); frame.ebp = word(6)
            frame.gs = word(7); frame.fs = word(8); frame.ds = word(9); frame.es = word(10)
            frame.trapNumber = word(11); frame.errorCode = word(12)
            frame.eip = word(13); frame.cs = word(14); frame.eflags = word(15); frame.esp = word(16); frame.ss = word(17)
            return frame
        }
        set {
            let base = frameAddress
            func put(_ index: UInt32, _ value: UInt32) { hostStore32(memory, value, base.advanced(by: index * 4)) }
            put(0, newValue.eax); put(1, newValue.ebx); put(2, newValue.ecx); put(3, newValue.edx)
            put(4, newValue.esi); put(5, newValue.edi); put(6, newValue.ebp)
            put(7, newValue.gs); put(8, newValue.fs); put(9, newValue.ds); put(10, newValue.es)
            put(11, newValue.trapNumber); put(12, newValue.errorCode)
            put(13, newValue.eip); put(14, newValue.cs); put(15, newValue.eflags); put(16, newValue.esp); put(17, newValue.ss)
        }
    }
}

/// Reads a word of the Host's own memory: the address is the Host's choice, so a failure is a host bug.
func hostLoad32(_ memory: PhysicalMemory, _ address: HostPhysicalAddress) -> UInt32 {
    do { return try memory.load32(at: address) } catch { preconditionFailure("switcher: \(error)") }
}

/// Writes a word of the Host's own memory; a failure is a host bug.
func hostStore32(_ memory: PhysicalMemory, _ value: UInt32, _ address: HostPhysicalAddress) {
    do { try memory.store32(value, at: address) } catch { preconditionFailure("switcher: \(error)") }
}
/*:*/
