/*P:010 Welcome to lguest!

A *hypervisor* is a program that runs other operating systems as if each had a computer of its own.
The operating systems it runs are its *Guests*; the system it runs on is the *Host*. Most hypervisors
spend enormous effort pretending to be a real PC, down to the timer chip and the keyboard controller,
so that an unmodified Guest cannot tell the difference.

lguest took two shortcuts, and they are the reason it fits in a book:

* **The Host is an ordinary kernel.** There is no separate hypervisor layer underneath everything; the
  Host is a normal system plus a small module, and a Guest is, from the Host's point of view, just a
  program (the *Launcher*) that happens to spend its time in another world.
* **Only paravirtualized Guests.** The Guest *knows* it is a Guest. Instead of executing privileged
  instructions and hoping the Host notices, it asks the Host politely with a *hypercall*, which is to a
  hypervisor what a system call is to a kernel.

How does a kernel know it is a Guest? Linux is told. The Launcher writes "lguest" (`lguestSubarch`) into
the `hardwareSubarch` field of the boot parameters (`P:300`), and Linux's earliest boot code reads that
field and jumps to lguest's entry instead of the native one. Our Guest kernel is built for nothing else,
so it never reads the field: the Launcher still writes it, as lguest's did, so that the page is what a
Linux Guest would find there.

In this edition the "PC" is the emulated machine of Appendix X, the Host and the Guest kernel are Swift,
and the Guest's user programs are real i386 machine code built by `gcc`. The ideas are lguest's; the
code is new, and every part of it can be run, traced and tested.

This first chapter, Preparation, collects what the Guest, the Host and the Launcher must agree on
before any of them can do anything: where things live in memory, the numbers of the hypercalls, the
page the Guest and the Host share, the boot parameters, and the interface through which Swift code
"at ring 1" touches the processor. Nothing in this module *does* anything; it only names things, so
that the other modules cannot disagree about them. :*/

import Machine

/*P:020 Three worlds, four privilege levels.

The i386 has four privilege levels, *rings* 0 to 3, and the current one (the CPL) lives in the low two
bits of the code segment register. Ordinary operating systems use only two: the kernel at ring 0 and
programs at ring 3. lguest uses three:

| ring | who runs there |
| ---- | -------------- |
| 0 | the Host and the Switcher |
| 1 | the Guest kernel |
| 3 | the Guest's user programs |

The Guest kernel therefore cannot execute privileged instructions (they fault into the Host), but to
the paging hardware it still counts as *supervisor*, because paging only distinguishes ring 3 from the
rest. That is why the Host must keep the Guest kernel away from its own pages by other means: the
Switcher's pages are mapped read-only (`P:030`), and the processor runs the Guest with the write-protect
bit (CR0.WP) set so that read-only means read-only even for a supervisor. */

/// The privilege level the Guest kernel runs at: one ring out from the Host.
public let guestKernelRing: UInt8 = 1

/// The privilege level of the Guest's user programs.
public let guestUserRing: UInt8 = 3
/*:*/

/*P:030 The shape of every address space.

Every address space the Guest can see is cut the same way, and both sides depend on it:

```
 0x00000000 +----------------------------+
            | user programs              |  ring 3, the Guest's own page tables
 0xC0000000 +----------------------------+  pageOffset: the kernel half starts here
            | all of guest-physical      |  virtual 0xC0000000 + g is guest-physical g
            | memory, mapped linearly    |
 0xFFC00000 +----------------------------+  switcherAddress: the top 4 MiB
            | the Switcher's pages       |  mapped by the Host; never writable by the Guest
 0xFFFFFFFF +----------------------------+
```

Putting the kernel at the top and linearly mapping physical memory is what Linux does on the i386
(its `PAGE_OFFSET`), and it makes the kernel's own conversion between a virtual and a physical address
a subtraction, which the Guest does constantly. The Host never relies on it for safety: everything the
Guest hands over is checked.

The Switcher lives in the very top page-directory entry, the last 4 MiB. Because that slot is the same
in every address space the Host builds, the Switcher code keeps running at the same virtual address
while the world changes underneath it, which is the whole trick of a world switch (`S:010`). The Guest
must leave that slot alone; the Host tells it how much to keep clear in `reserveMemory` (`P:220`). */

/// Where the Guest kernel's view of physical memory begins (Linux's `PAGE_OFFSET`).
public let pageOffset = GuestVirtualAddress(0xC000_0000)

/// Where the Switcher's pages appear in every address space: the last page-directory slot.
public let switcherAddress = GuestVirtualAddress(0xFFC0_0000)

/// The page-directory index the Switcher occupies; the Guest may never install anything there.
public let switcherPageDirectoryIndex = switcherAddress.pageDirectoryIndex

/// The kernel virtual address of guest-physical `address` (the linear map), or nil when the address
/// lies beyond what the kernel half can map below the Switcher.
public func kernelVirtual(_ address: GuestPhysicalAddress) -> GuestVirtualAddress? {
    guard address.rawValue < switcherAddress.rawValue &- pageOffset.rawValue else { return nil }
    return GuestVirtualAddress(pageOffset.rawValue &+ address.rawValue)
}

/// The guest-physical address behind kernel virtual `address` in the linear map, or nil when the
/// address lies outside the kernel's linear map.
public func kernelPhysical(_ address: GuestVirtualAddress) -> GuestPhysicalAddress? {
    guard address >= pageOffset, address < switcherAddress else { return nil }
    return GuestPhysicalAddress(address.rawValue &- pageOffset.rawValue)
}
/*:*/
