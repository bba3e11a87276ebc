/*G:072 Where the drivers plug in.

Linux does not know at compile time which drivers a machine needs: each driver is a *module* with an
init function, and the kernel calls every one of them late in boot, once memory, interrupts and time
work. A driver's init looks for its hardware and, if it finds some, registers what it offers (a disk,
a console) with the rest of the kernel.

Our kernel keeps that shape. Whoever makes the kernel hands it a list of `KernelModule`s
(`GuestKernel(configuration:layout:modules:)`); `startModules()` starts each in order, after the
first clock tick and before the first program. The Guest module never names a driver: the Drivers
module imports us, not the other way round, just as a Linux module links against the kernel's exported
symbols and the kernel knows nothing of it.

What may a driver ask of the kernel? Exactly what it needs to drive a device through memory and
hypercalls, and nothing more. Each is a small public method, listed here so a reader can see the whole
surface at once:

| service | what it does |
| ------- | ------------ |
| `notify(_:)` | the `NOTIFY` hypercall with a guest-physical address |
| `requestIRQ(_:handler:)`, `unmaskIRQ(_:)` | run a handler when an IRQ arrives; let it arrive |
| `allocateContiguousPages(_:)` | zeroed, physically contiguous pages of RAM |
| `mapDevicePage(_:)` | put a page past the end of RAM into the kernel's address space |
| `readPhysical`, `writePhysical`, ... | kernel memory by guest-physical address |
| `printk(_:)` | a line in the boot log |
| `registerDevice(_:_:)`, `attachConsole(_:)` | offer a file under /dev, or take over the console |
| `makeWaitChannel()`, `wake(_:)` | the waiting of `G:091` |

A module that throws `GuestStopped` is not misbehaving: the Guest is stopping, and the error unwinds
boot as it would any other kernel code. */

import LguestABI
import Machine

/// Code the kernel starts once at boot (Linux's `module_init`): a driver, or a bus of them.
public protocol KernelModule: AnyObject {
    /// A short name for the boot log.
    var name: String { get }
    /// Find the hardware and register what it offers; a module that finds nothing just returns.
    func start(_ kernel: GuestKernel) throws(GuestStopped)
}

extension GuestKernel {
    /// Start every module, in the order the kernel was given them.
    func startModules() throws(GuestStopped) {
        for module in modules { try module.start(self) }
    }

    /// Whether `lguestInit()` found the Host and installed lguest's operations: a driver of lguest's
    /// bus refuses to start on anything else, as Linux's checks `pv_info.name`.
    public var isRunningUnderLguest: Bool { lguestInitialised }

    /// The first guest-physical address past every range of the e820 map (Linux's `max_pfn`, in
    /// bytes): where the Launcher puts what is not RAM, such as the device page.
    public var memoryMapEnd: GuestPhysicalAddress {
        // The Launcher's numbers, so checked: an end past 4 GiB (or one that wraps) counts as the last page.
        let lastPage = UInt64(UInt32.max) & ~UInt64(pageSize - 1)
        let end = bootParameters.memoryMap.reduce(UInt64(0)) { top, entry in
            let (end, overflow) = entry.address.addingReportingOverflow(entry.length)
            return max(top, overflow ? lastPage : min(end, lastPage))
        }
        return GuestPhysicalAddress(UInt32((end + UInt64(pageSize) - 1) & ~UInt64(pageSize - 1)))
    }

    /// The `NOTIFY` hypercall: hand the Launcher guest-physical `address` (a ring, a descriptor).
    public func notify(_ address: GuestPhysicalAddress) throws(GuestStopped) {
        try hcall(.notify, address.rawValue)
    }

    /// Run `handler` whenever IRQ `irq` arrives; false when `irq` is not one a driver may have (out
    /// of range, the timer's, or taken). The IRQ stays masked until `unmaskIRQ(_:)`.
    public func requestIRQ(_ irq: Int, handler: @escaping (GuestKernel) throws(GuestStopped) -> Void) -> Bool {
        guard (1..<irqCount).contains(irq), irqHandlers[irq] == nil else { return false }
        installIRQHandler(irq, handler)
        return true
    }

    /// Let IRQ `irq` arrive; it must be one `requestIRQ(_:handler:)` accepted.
    public func unmaskIRQ(_ irq: Int) throws(GuestStopped) {
        precondition(irqHandlers[irq] != nil, "guest: unmasking irq \(irq), which has no handler")
        try LguestIRQChip.unmask(self, irq)
    }

    /// `count` physically contiguous pages of RAM, zeroed, or nil when no such run is free.
    public func allocateContiguousPages(_ count: Int) throws(GuestStopped) -> GuestPhysicalAddress? {
        guard count > 0, let first = pages.allocateContiguous(count) else { return nil }
        for page in 0..<UInt32(count) { try zeroPage(first &+ page &* UInt32(pageSize)) }
        return first
    }
}
/*:*/

/*G:074 Mapping a page that is not memory.

The device page lies just past the end of the memory map, and `pagingInit()` (`G:070`) mapped only
memory: the kernel's linear map stops where RAM does. So a driver that wants to read the device page
must first put it into the kernel's page tables, as Linux's lguest driver did with `lguest_map()`
(an `ioremap` of the page). We give it its natural address, `pageOffset` plus its physical address,
so that every other kernel accessor works on it unchanged.

The page table for that address may not exist yet (when RAM ends on a 4 MiB boundary, the device page
starts a new one); then we make one, and hook it into the kernel's directory with `setPMD()`. Every
program's directory copies the kernel's half when it is made (`G:084`), so a mapping made at boot, before
the first program, is seen by all of them. That is one reason drivers start where they do. */

extension GuestKernel {
    /// Map the page at guest-physical `page`, which lies outside RAM, at its linear-map address, and
    /// return that address; nil when it is not page aligned, is inside RAM (already mapped, and not a
    /// device's), or cannot be reached by the linear map.
    public func mapDevicePage(_ page: GuestPhysicalAddress) throws(GuestStopped) -> GuestVirtualAddress? {
        guard page.isPageAligned, page >= pages.topOfMemory, let virtual = kernelVirtual(page) else { return nil }
        let slot = kernelPageDirectory &+ UInt32(virtual.pageDirectoryIndex) &* 4
        var table = PageDirectoryEntry(rawValue: try read32(linear(slot)))
        if !table.flags.contains(.present) {
            guard let newTable = pages.allocate() else { return nil }
            try zeroPage(newTable)
            table = PageDirectoryEntry(frame: newTable.frame, flags: [.present, .writable, .accessed])
            try pvOps.setPMD(self, slot, table)
        }
        let pointer = GuestPhysicalAddress(frame: table.frame, offset: UInt32(virtual.pageTableIndex) &* 4)
        let entry = PageTableEntry(frame: page.frame, flags: [.present, .writable, .accessed, .dirty])
        // Naming the directory and the address lets the Host fix exactly one shadow entry (`G:041`).
        try pvOps.setPTEAt(self, kernelPageDirectory, virtual, pointer, entry)
        return virtual
    }
}
/*:*/

// Kernel memory by guest-physical address, for drivers: their rings, their buffers and the device
// page all live at physical addresses they hand the Launcher. Each goes through the linear map (and
// so through the processor, as every kernel access does); an address outside it is a driver bug.
extension GuestKernel {
    /// The kernel virtual address of guest-physical `address`.
    func mapped(_ address: GuestPhysicalAddress) -> GuestVirtualAddress { linear(address) }

    /// The byte at guest-physical `address`.
    public func readPhysical8(_ address: GuestPhysicalAddress) throws(GuestStopped) -> UInt8 {
        try read8(mapped(address))
    }

    /// The little-endian 16-bit word at guest-physical `address`.
    public func readPhysical16(_ address: GuestPhysicalAddress) throws(GuestStopped) -> UInt16 {
        try cpu.load16(mapped(address))
    }

    /// The little-endian 32-bit word at guest-physical `address`.
    public func readPhysical32(_ address: GuestPhysicalAddress) throws(GuestStopped) -> UInt32 {
        try read32(mapped(address))
    }

    /// `count` bytes from guest-physical `address`.
    public func readPhysical(_ address: GuestPhysicalAddress, count: Int) throws(GuestStopped) -> [UInt8] {
        try readBytes(mapped(address), count: count)
    }

    /// Store a byte at guest-physical `address`.
    public func writePhysical8(_ address: GuestPhysicalAddress, _ value: UInt8) throws(GuestStopped) {
        try write8(mapped(address), value)
    }

    /// Store a little-endian 16-bit word at guest-physical `address`.
    public func writePhysical16(_ address: GuestPhysicalAddress, _ value: UInt16) throws(GuestStopped) {
        try cpu.store16(value, at: mapped(address))
    }

    /// Store a little-endian 32-bit word at guest-physical `address`.
    public func writePhysical32(_ address: GuestPhysicalAddress, _ value: UInt32) throws(GuestStopped) {
        try write32(mapped(address), value)
    }

    /// Copy `bytes` to guest-physical `address`.
    public func writePhysical(_ address: GuestPhysicalAddress, _ bytes: [UInt8]) throws(GuestStopped) {
        try writeBytes(mapped(address), bytes)
    }
}
