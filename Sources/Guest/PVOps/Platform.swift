/*G:044 Odds and ends: the stack, halting and stopping.

An oddball collection, each simple.

*The kernel stack.* When a trap or interrupt arrives from user mode, the processor switches to the
kernel's stack before pushing its frame; natively it finds that stack in the Task State Segment. We
tell the Host instead, with `SET_STACK`: the stack segment (our kernel data segment, with our ring in
its RPL, since the Host will not hear of ring 0), the stack's top, and its size in pages. The Host
checks all three and keeps the stack's pages mapped at all times (`H:260`): a fault while the
processor is pushing a frame would be unrecoverable.

*Halting.* Linux's idle loop runs `sti; hlt`, turning interrupts on and stopping until one arrives, in
one indivisible step: no interrupt can slip in between and be missed. `HALT` does both: the Host sets
our interrupt flag back on when it wakes us, and delivers the interrupt before the call returns.

*Stopping.* `SHUTDOWN` takes a reason, as a string in our memory, and says whether to power off or to
restart; panicking is powering off with the panic message as the reason. Programs ask for the first two
with the `reboot` system call (`G:089`). Like everything we hand the Host, the string is given by its
guest-physical address: the Host prefers physical addresses because it need not walk our page tables to
use them. */

import LguestABI
import Machine

public enum LguestPlatform {
    /// `load_sp0`: the stack traps from user mode land on.
    static func loadSP0(_ kernel: GuestKernel, _ top: GuestVirtualAddress) throws(GuestStopped) {
        try kernel.lazyHcall(.setStack, UInt32(GDTLayout.kernelDataSelector.rawValue), top.rawValue,
                             KernelLayout.stackPages)
    }

    /// `safe_halt`: enable interrupts and stop until one arrives.
    static func safeHalt(_ kernel: GuestKernel) throws(GuestStopped) {
        try kernel.hcall(.halt)
    }

    /// `power_off`: stop for good.
    static func powerOff(_ kernel: GuestKernel) throws(GuestStopped) -> Never {
        // Stop the clock first, as Linux shuts its clock event device down on the way out.
        if kernel.clock.armedDeadline != nil { try LguestTime.shutdownClockEvent(kernel) }
        try kernel.shutdown("Power down", .powerOff)
    }

    /// `restart`: ask the Launcher to boot us again.
    static func restart(_ kernel: GuestKernel, reason: String) throws(GuestStopped) -> Never {
        try kernel.shutdown(reason, .restart)
    }

    /// How a panic's shutdown reason begins, so that whoever reads the reason can tell a panic from
    /// an orderly power-off.
    public static let panicPrefix = "Kernel panic: "

    /// `panic`: something is badly wrong inside the kernel; stop, saying what.
    static func panic(_ kernel: GuestKernel, _ message: String) throws(GuestStopped) -> Never {
        try kernel.printk(panicPrefix + message + "\n")
        try kernel.shutdown(panicPrefix + message, .powerOff)
    }
}

extension GuestKernel {
    /// Hand the Host `reason` and stop. The hypercall never returns: the Host stops the Guest and
    /// the Switcher unwinds us with `GuestStopped`.
    func shutdown(_ reason: String, _ kind: ShutdownKind) throws(GuestStopped) -> Never {
        // The reason goes in our scratch page, NUL-terminated, clear of the TLS descriptors kept there.
        let bytes = Array(reason.utf8.prefix(Int(tlsOffset) - 1)) + [0]
        try writeBytes(linear(layout.scratch), bytes)
        try hcall(.shutdown, layout.scratch.rawValue, kind.rawValue)
        preconditionFailure("guest: the Host returned from SHUTDOWN")
    }

    /*:*/

    /*G:047 The first console.

    Until a real console driver exists (the Drivers chapter's virtio console), the
    kernel prints with `NOTIFY`, handing the Launcher the address of a NUL-terminated string. We copy at
    most 16 bytes at a time into a scratch buffer to add the NUL: an extra copy nobody loves, and one the
    virtio console will make unnecessary. Sixteen is lguest's number too; nothing depends on it but the
    count of NOTIFYs, which is why a program that prints a lot costs a lot of world switches until the
    Drivers chapter's console arrives with a ring to batch them. `printk()` is the kernel's one way to
    print: through the console driver once one has attached and can take the message (`G:072`), through
    the early console before, and `consoleWrite()` is the same choice for a program writing to its
    terminal. */

    /// Print on the early console, 16 bytes per NOTIFY (lguest's `early_put_chars`).
    func earlyPutChars(_ bytes: [UInt8]) throws(GuestStopped) {
        var rest = bytes[...]
        // One NOTIFY per 16 bytes: copy, terminate, and hand the Launcher the physical address.
        while !rest.isEmpty {
            // A NUL would end the string early; nothing we print contains one, but a program might.
            let chunk = rest.prefix(16).map { $0 == 0 ? UInt8(ascii: "?") : $0 }
            rest = rest.dropFirst(chunk.count)
            try writeBytes(linear(layout.scratch), chunk + [0])
            try hcall(.notify, layout.scratch.rawValue)
        }
        console.append(bytes)
        statistics.earlyConsoleBytes += bytes.count
    }

    /// The kernel's `printk`: a message on the console, through the console driver once one has
    /// attached (`G:072`) and can take it, through the early console before.
    public func printk(_ message: String) throws(GuestStopped) {
        let bytes = Array(message.utf8)
        if let driver = devices.console, try driver.print(self, bytes) {
            console.append(bytes)
            statistics.consoleDriverBytes += bytes.count
            return
        }
        try earlyPutChars(bytes)
    }

    /// A program's write to the console: the console driver's, once one has attached; the early
    /// console's before, which never waits.
    func consoleWrite(_ file: OpenFileID, _ bytes: [UInt8]) throws(GuestStopped) -> DeviceWriteResult {
        guard let driver = devices.console else {
            try earlyPutChars(bytes)
            return .written(bytes.count)
        }
        let result = try driver.write(self, file: file, offset: 0, bytes: bytes)
        if case .written(let count) = result, count > 0 {
            console.append(Array(bytes.prefix(count)))
            statistics.consoleDriverBytes += count
        }
        return result
    }

    /*:*/

    /*G:048 Memory, as the Launcher describes it.

    The Launcher describes our memory in the boot parameters with an *e820 map* (named after
    the BIOS call that produces it on a PC): a list of ranges marked usable or reserved. We believe it,
    except where it overlaps what we already own, and even that much belief is checked: the map is the
    Launcher's, so `readBootParameters()` caps every count and checks every address before it uses
    them. No test is named after this section; the memory it finds is tested by the boot tests of
    `G:020` and `G:070`. */

    /// Read the boot parameters the Launcher left at guest-physical 0: the memory map, the command
    /// line and the initial ramdisk (lguest's `memory_setup` and Linux's boot-parameter parsing).
    func readBootParameters() throws(GuestStopped) -> BootInformation {
        // The Launcher's numbers are untrusted here too: counts are capped and addresses checked,
        // because a kernel crash in this edition is a crash of the whole host process.
        let page = linear(BootParameters.address)
        var information = BootInformation()
        let count = min(Int(try read8(page &+ BootParameters.e820EntryCount)), BootParameters.maximumE820Entries)
        for index in 0..<count {
            let bytes = try readBytes(page &+ BootParameters.e820Map &+ UInt32(index) &* E820Entry.size,
                                      count: Int(E820Entry.size))
            if let entry = E820Entry(bytes: bytes) { information.memoryMap.append(entry) }
        }
        // The command line lives elsewhere, by physical address; it must be inside the linear map.
        let commandLineLength = min(try read32(page &+ BootParameters.commandLineSize),
                                    UInt32(BootParameters.maximumCommandLineLength))
        let commandLineAddress = GuestPhysicalAddress(try read32(page &+ BootParameters.commandLinePointer))
        if commandLineLength > 0, let virtual = kernelVirtual(commandLineAddress) {
            information.commandLine = String(decoding: try readBytes(virtual, count: Int(commandLineLength)),
                                             as: UTF8.self)
        }
        // The ramdisk's range, refused if it wraps around.
        let initrd = try read32(page &+ BootParameters.initrdAddress)
        let initrdSize = try read32(page &+ BootParameters.initrdSize)
        if initrdSize > 0, initrd &+ initrdSize > initrd {
            information.initrd = GuestPhysicalAddress(initrd)..<GuestPhysicalAddress(initrd &+ initrdSize)
        }
        return information
    }
}

/// What the boot parameters told the kernel.
struct BootInformation {
    /// The e820 ranges, in the Launcher's order.
    var memoryMap: [E820Entry] = []
    /// The kernel command line (`init=...`).
    var commandLine = ""
    /// Where the initial ramdisk is, if there is one.
    var initrd: Range<GuestPhysicalAddress>?
}

/// Everything the kernel has printed, kept so the Launcher and tests can read it back.
struct ConsoleBuffer {
    private(set) var bytes: [UInt8] = []
    mutating func append(_ more: [UInt8]) { bytes += more }
    var text: String { String(decoding: bytes, as: UTF8.self) }
}
/*:*/
