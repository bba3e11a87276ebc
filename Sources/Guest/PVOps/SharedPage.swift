/*G:032 The shared page, from the Guest's side.

`lguest_data` (`P:200`) is an ordinary page of our memory. We chose where it lives (`G:015`), we fill
in the fields the Host reads at INIT, and from then on we read and write it with plain memory
accesses, the cheapest thing a kernel can do. The Host reads and writes the same bytes whenever it has
the Guest stopped.

All our memory accesses go through the processor the Switcher lends us, and so through the Host's
shadow page tables, exactly as a `mov` at ring 1 would: if a page is not yet in the shadow tables the
Host fixes that up behind our back (`H:330`), and we never notice.

The address we hand the Host is guest-physical, not virtual: the Host reads `lguest_data` when our
page tables may be in any state, and it has no business walking them for something this important. In
return, we must never move the page: it is ours until we power off. */

import LguestABI
import Machine

extension GuestKernel {
    /// The kernel virtual address of the `lguest_data` field at byte `offset`.
    func lguestDataField(_ offset: UInt32) -> GuestVirtualAddress {
        linear(layout.lguestData) &+ offset
    }

    /// Fill in the fields the Host reads once, at INIT (`P:200`'s last group), and free every ring slot.
    func prepareLguestData(noInterruptWindow: Range<GuestVirtualAddress>) throws(GuestStopped) {
        // Interrupts start off: we have no handlers yet.
        try write32(lguestDataField(LguestData.irqEnabled), 0)
        // Block the timer until time is set up (G:043), as lguest's static initialiser did.
        try write32(lguestDataField(LguestData.blockedInterrupts), 1 << UInt32(timerIRQ))
        // The iret path's window (G:045), where our kernel half starts, and our system-call vector,
        // which the Host lets through as a direct trap (H:240).
        try write32(lguestDataField(LguestData.noInterruptStart), noInterruptWindow.lowerBound.rawValue)
        try write32(lguestDataField(LguestData.noInterruptEnd), noInterruptWindow.upperBound.rawValue)
        try write32(lguestDataField(LguestData.kernelAddress), pageOffset.rawValue)
        try write32(lguestDataField(LguestData.systemCallVector), UInt32(systemCallVector))
        try clearAsyncRing()
    }
}
/*:*/

// The kernel's memory accessors: thin names over the processor's, so that the rest of the kernel
// reads like a kernel (`read32`, `write32`) and the `try` stays visible.
extension GuestKernel {
    /// The byte at kernel virtual `address`.
    func read8(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt8 {
        try cpu.load8(address)
    }

    /// The little-endian word at kernel virtual `address`.
    func read32(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt32 {
        try cpu.load32(address)
    }

    /// Store a byte at kernel virtual `address`.
    func write8(_ address: GuestVirtualAddress, _ value: UInt8) throws(GuestStopped) {
        try cpu.store8(value, at: address)
    }

    /// Store a little-endian word at kernel virtual `address`.
    func write32(_ address: GuestVirtualAddress, _ value: UInt32) throws(GuestStopped) {
        try cpu.store32(value, at: address)
    }

    /// Copy `bytes` to kernel virtual `address`.
    func writeBytes(_ address: GuestVirtualAddress, _ bytes: [UInt8]) throws(GuestStopped) {
        try cpu.storeBytes(bytes, at: address)
    }

    /// Read `count` bytes from kernel virtual `address`.
    func readBytes(_ address: GuestVirtualAddress, count: Int) throws(GuestStopped) -> [UInt8] {
        try cpu.loadBytes(address, count: count)
    }

    /// Fill the page at guest-physical `frame` with zeroes.
    func zeroPage(_ frame: GuestPhysicalAddress) throws(GuestStopped) {
        try cpu.storeBytes([UInt8](repeating: 0, count: pageSize), at: linear(frame))
    }
}
