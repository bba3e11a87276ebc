/*G:015 Where the kernel lives.

A real kernel is linked at a fixed address, and so is ours, although there is no linker: the
Launcher copies our kernel text to a fixed guest-physical address, and everything else the kernel owns
from its first instruction on follows the text at fixed offsets, the way a linked kernel's `.data` and
`.bss` follow its `.text`:

```
 guest-physical                     kernel virtual (pageOffset + physical)
 0x00000000  boot parameters page    0xC0000000   (the Launcher's, read once at boot)
 0x00100000  kernel text             0xC0100000   entry points, the iret path, native sites
 0x00101000  lguest_data             0xC0101000   the page shared with the Host (P:200)
 0x00102000  kernel stack, 2 pages   0xC0102000   traps from user mode land at its top
 0x00104000  GDT                     0xC0104000   32 descriptors (G:034)
 0x00105000  IDT                     0xC0105000   256 gates (G:034)
 0x00106000  scratch page            0xC0106000   early-console buffer, strings for the Host
 0x00107000  kernel page directory   0xC0107000   the kernel's own, built at boot (G:041)
 0x00108000  free memory ...
```

Starting at 1 MiB is Linux's habit on the PC, where the first megabyte was full of BIOS leftovers;
we keep it because it costs nothing and a reader who knows Linux will feel at home.

Every address the kernel computes from this layout is its own; the Host trusts none of them anyway
(`H:032`). */

import LguestABI
import Machine

/// The guest-physical places the kernel's image and data occupy. The Launcher loads the text at
/// `text`; the kernel finds everything else from here.
public struct KernelLayout: Sendable, Equatable {
    /// Where the Launcher copies the kernel text.
    public let text: GuestPhysicalAddress

    /// A layout whose text starts at `text` (page aligned, below 1 GiB).
    public init(text: GuestPhysicalAddress = GuestPhysicalAddress(0x0010_0000)) {
        precondition(text.isPageAligned && text.rawValue < 0x4000_0000, "layout: bad text address \(text)")
        self.text = text
    }

    /// The page holding `lguest_data`.
    public var lguestData: GuestPhysicalAddress { page(1) }
    /// The lowest page of the two-page kernel stack.
    public var stackBottom: GuestPhysicalAddress { page(2) }
    /// The number of pages in the kernel stack (what SET_STACK reports).
    public static let stackPages: UInt32 = 2
    /// Just past the kernel stack: where the stack pointer starts.
    public var stackTop: GuestPhysicalAddress { page(4) }
    /// The GDT's page.
    public var gdt: GuestPhysicalAddress { page(4) }
    /// The IDT's page.
    public var idt: GuestPhysicalAddress { page(5) }
    /// A page for short strings handed to the Host.
    public var scratch: GuestPhysicalAddress { page(6) }
    /// The kernel's own page directory.
    public var pageDirectory: GuestPhysicalAddress { page(7) }
    /// The first page the kernel does not own from the start.
    public var end: GuestPhysicalAddress { page(8) }

    /// The guest-physical address `index` pages past the text.
    func page(_ index: UInt32) -> GuestPhysicalAddress {
        GuestPhysicalAddress(text.rawValue &+ index &* UInt32(pageSize))
    }
}

/// The kernel's virtual address for guest-physical `address`, in the linear map.
///
/// Only for addresses the kernel itself chose (its layout, pages it allocated); a value that does not
/// fit the linear map is a kernel bug.
func linear(_ address: GuestPhysicalAddress) -> GuestVirtualAddress {
    guard let virtual = kernelVirtual(address) else {
        preconditionFailure("guest: physical \(address) is outside the linear map")
    }
    return virtual
}
/*:*/
