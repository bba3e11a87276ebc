/*G:082 Free memory.

Everything after this point is the small kernel we build on lguest's Guest: enough of an operating
system to run the project's i386 programs. It needs memory first, and keeps it the simplest way that
works: a list of free page frames, taken from the e820 map at boot. Allocation pops a frame and freeing
pushes it back. Frames are handed out lowest first, so that every run makes the same choices; a
deterministic machine deserves a deterministic allocator.

What is not free: the first megabyte and the kernel's own pages (`G:015`), the initial ramdisk until
its programs have been read, anything the map calls reserved (the Launcher's initial page tables live
there), and anything the linear map cannot reach below the Switcher (`reserveMemory`).

A real kernel needs far more than this: a buddy allocator for contiguous runs, slabs for small
objects, and a way to reclaim memory under pressure. Ours never needs more than one page at a time,
and a list does that in a few lines. The one place it shows is `release()`, which keeps the list sorted
so the lowest-first promise survives frees. */

import LguestABI
import Machine

/// The kernel's free page frames, as guest-physical addresses.
struct PageAllocator {
    /// Free frames; the lowest is allocated first.
    private var free: [GuestPhysicalAddress]
    /// The first address past all usable memory (what the kernel's linear map must cover).
    private(set) var topOfMemory = GuestPhysicalAddress(0)

    /// An allocator handing out `free`, for memory that ends at `topOfMemory`.
    init(free: [GuestPhysicalAddress], topOfMemory: GuestPhysicalAddress = GuestPhysicalAddress(0)) {
        self.free = free.sorted(by: >)
        self.topOfMemory = topOfMemory
    }

    /// How many frames are free.
    var freeCount: UInt32 { UInt32(free.count) }

    /// Take the lowest free frame, or nil when memory is exhausted.
    mutating func allocate() -> GuestPhysicalAddress? {
        free.popLast()
    }

    /// Take the lowest run of `count` consecutive free frames and return its first, or nil when no
    /// run is that long (drivers' rings need contiguous pages, `G:072`).
    mutating func allocateContiguous(_ count: Int) -> GuestPhysicalAddress? {
        guard count > 0, count <= free.count else { return nil }
        // The list runs highest first, so a run of consecutive frames is a run of consecutive
        // entries counting down by a page: scan from the low end.
        var index = free.count - 1
        while index - (count - 1) >= 0 {
            let first = free[index]
            let run = (1..<count).allSatisfy { free[index - $0].rawValue == first.rawValue &+ UInt32($0 * pageSize) }
            if run {
                free.removeSubrange((index - (count - 1))...index)
                return first
            }
            index -= 1
        }
        return nil
    }

    /// Give `frame` back.
    mutating func release(_ frame: GuestPhysicalAddress) {
        precondition(frame.isPageAligned, "guest: freeing unaligned frame \(frame)")
        // Keep the list sorted (highest first) so allocation stays lowest-first and deterministic.
        let index = free.firstIndex { $0 < frame } ?? free.endIndex
        free.insert(frame, at: index)
    }
}

/*G:083 Filling the list at boot.

`setUpMemory` reads the e820 map the Launcher wrote (`P:310`) and keeps only whole pages of RAM that
the kernel can also reach through its linear map: the map ends where the Host's reservation at the top
of the address space begins, and never above the Switcher. The map is input from outside the kernel,
so the end of each range is computed with `addingReportingOverflow` rather than trusted, and a range
that wraps is clipped to the limit. A page survives only if `isFreeAtBoot` agrees that
neither the kernel's own layout nor the initial ramdisk owns it; with nothing left, the kernel panics,
the one honest answer a kernel without memory can give. */
extension GuestKernel {
    /// Build the allocator from the boot parameters' memory map.
    func setUpMemory(reservedAtTop: UInt32) throws(GuestStopped) {
        // The linear map ends where the Host's reservation at the top begins (never above the
        // Switcher's slot, whatever the Host said).
        let reserveStart = (UInt64(1) << 32) - UInt64(reservedAtTop)
        let mapEnd = max(min(reserveStart, UInt64(switcherAddress.rawValue)), UInt64(pageOffset.rawValue))
        let limit = mapEnd - UInt64(pageOffset.rawValue)
        var free: [GuestPhysicalAddress] = []
        var top: UInt64 = 0
        for entry in bootParameters.memoryMap where entry.type == .ram {
            // Whole pages only: round the start up and the end down, and stop at what we can map.
            let start = (entry.address + UInt64(pageSize) - 1) & ~UInt64(pageSize - 1)
            let (end, overflow) = entry.address.addingReportingOverflow(entry.length)
            let usableEnd = min(overflow ? limit : end, limit) & ~UInt64(pageSize - 1)
            guard start < usableEnd else { continue }
            top = max(top, usableEnd)
            // Every page of the range that nothing else claims.
            var frame = start
            while frame < usableEnd {
                let address = GuestPhysicalAddress(UInt32(frame))
                if isFreeAtBoot(address) { free.append(address) }
                frame += UInt64(pageSize)
            }
        }
        pages = PageAllocator(free: free, topOfMemory: GuestPhysicalAddress(UInt32(top)))
        if free.isEmpty { try LguestPlatform.panic(self, "no usable memory in the e820 map") }
    }

    /// Whether `frame` is free when the kernel starts.
    private func isFreeAtBoot(_ frame: GuestPhysicalAddress) -> Bool {
        // The boot parameters, the first megabyte and the kernel's own pages.
        if frame < layout.end { return false }
        // The initial ramdisk, until its programs are read (G:086).
        if let initrd = bootParameters.initrd,
           frame.rawValue &+ UInt32(pageSize) > initrd.lowerBound.rawValue, frame < initrd.upperBound {
            return false
        }
        return true
    }
}
/*:*/
