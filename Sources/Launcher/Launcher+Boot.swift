/*L:020 Guest memory.

The Guest's "physical" memory is a run of the machine's page frames that the Host allocates when we
create the Guest; guest-physical address g is simply the g-th byte of that run (`H:032`). We also give
the machine room beyond it for the Host's own pages: shadow page tables, the Switcher's pages, and
the frames the Host allocates as the Guest runs.

Everything the Launcher writes into guest memory goes through the Host's checked `GuestMemory`, like
any other access to it. The layout it writes, bottom to top:

```
 0x00000000  boot parameters (the "zero page")           L:040
 0x00001000  command line                                L:040
 0x00100000  kernel text (GuestKernelImage)              L:040
 ...         free memory for the Guest
 initrd      the programs, a cpio archive                L:040
 top - n     initial page tables (reserved in the e820)  L:030
 top
``` */

import Drivers
import Guest
import Host
import LguestABI
import Machine

/// Where the Launcher puts things in a Guest of a given size.
struct MemoryPlan {
    /// The Guest's memory in pages.
    let pageCount: UInt32
    /// The initial page directory, then one page table per 4 MiB of memory.
    let pageDirectory: GuestPhysicalAddress
    let pageTableCount: UInt32
    /// The initial ramdisk's place, if there are programs.
    let initrd: GuestPhysicalAddress?
    /// The initial ramdisk's size in bytes (0 without one).
    let initrdSize: UInt32

    /// Plan a Guest of `pageCount` pages with an initial ramdisk of `initrdSize` bytes.
    init(pageCount: UInt32, initrdSize: Int) {
        self.pageCount = pageCount
        // One page table per 4 MiB, and the directory below them, at the very top.
        pageTableCount = (pageCount + 1023) / 1024
        let tablesStart = pageCount - pageTableCount - 1
        pageDirectory = GuestPhysicalAddress(tablesStart << pageShift)
        self.initrdSize = UInt32(initrdSize)
        // The ramdisk just below the tables, page aligned.
        if initrdSize > 0 {
            let pages = (UInt32(initrdSize) + UInt32(pageSize) - 1) >> pageShift
            initrd = GuestPhysicalAddress((tablesStart - pages) << pageShift)
        } else {
            initrd = nil
        }
    }

    /// The e820 map: RAM up to the page tables, which are reserved.
    var memoryMap: [E820Entry] {
        [E820Entry(address: 0, length: UInt64(pageDirectory.rawValue), type: .ram),
         E820Entry(address: UInt64(pageDirectory.rawValue),
                   length: UInt64(pageCount << pageShift) - UInt64(pageDirectory.rawValue), type: .reserved)]
    }
}
/*:*/

/*L:030 The initial page tables.

The Guest kernel expects to start with paging on and all of its memory mapped at `pageOffset`, as
lguest's Launcher arranged in its `setup_pagetables()`: a page directory and enough page tables to map
every page, placed at the very top of guest memory where the kernel will not trip over them (the e820
map marks them reserved). Entries are kernel-only (no user bit): user programs come later, with their
own page directories. The kernel replaces these tables with its own during boot (`G:070`), but until
then every memory access it makes, the first INIT hypercall included, goes through these. */

extension MemoryPlan {
    /// The bytes of the page directory and page tables, in order, starting at `pageDirectory`.
    func initialPageTables() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(pageTableCount + 1) * pageSize)
        func put(_ value: UInt32, at offset: Int) {
            for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        // Kernel-only, writable: the kernel half of every address space the Guest will build.
        let kernelFlags: PagingFlags = [.present, .writable]
        for table in 0..<pageTableCount {
            let tableAddress = pageDirectory &+ (table + 1) << pageShift
            // Table n maps guest-physical n * 4 MiB, at pageOffset + n * 4 MiB.
            let slot = pageOffset.pageDirectoryIndex + Int(table)
            put(PageDirectoryEntry(frame: tableAddress.frame, flags: kernelFlags).rawValue, at: slot * 4)
            for index in 0..<UInt32(1024) {
                let frame = table * 1024 + index
                guard frame < pageCount else { break }
                let entry = PageTableEntry(frame: PageFrameNumber(frame), flags: kernelFlags)
                put(entry.rawValue, at: Int(table + 1) * pageSize + Int(index) * 4)
            }
        }
        return bytes
    }
}
/*:*/

/*L:040 Booting: the kernel, the boot parameters and the initrd.

lguest's Launcher loaded a Linux kernel image from a file; ours gets the Guest kernel's text from the
Guest module (`GuestKernelImage`, `P:500`): one page of real i386 bytes, with the entry points behind
which the Swift kernel waits. It goes at 1 MiB, where Linux loads.

The boot parameters are Linux's "zero page": the e820 memory map, where the command line is,
where the initial ramdisk is. The initial ramdisk is a cpio archive of the programs (`G:086`),
placed just below the page tables.

Then we ask the Host for a Guest with all this in its memory, the processor starting at the kernel's
boot entry with the stack at the top of the kernel stack, and run it. The run call returns only when
the Guest is finished: it powered off, asked to restart, or was killed. A restart is the Launcher's to
carry out: lguest's re-executed itself; ours simply boots again on a fresh machine, up to a limit, so
that a Guest that restarts for ever cannot keep us here for ever. Until then everything happens
inside the Host's run loop, and the Launcher hears from the Guest only through its notification handler
(`L:070`). */

public enum Launcher {
    /// Boot a Guest as `options` say and run it until it stops, booting it again (on a fresh machine)
    /// each time it asks to restart, at most `options.maximumRestarts` times. `echo` receives console
    /// output as it is printed; the result's console holds every boot's, its counts the last boot's.
    public static func boot(_ options: LaunchOptions,
                            echo: @escaping (String) -> Void = { _ in }) throws(LaunchError) -> BootResult {
        // The disk and the input outlive each boot: a restarted Guest finds its writes and its place.
        var disk: DiskImage?
        if let options = options.disk { disk = try DiskImage(options) }
        let input = ConsoleInput(options.input)
        var console = ""
        var restarts = 0
        var trace: ChromeTrace? = options.recordsTrace ? ChromeTrace() : nil
        while true {
            var result = try bootOnce(options, disk: disk, input: input, echo: echo, boot: restarts + 1)
            console += result.console
            if let boot = result.trace { trace?.append(boot) }
            // A restart is a new machine, but the same time limit: virtual time starts again with it.
            guard case .restart = result.exit, restarts < options.maximumRestarts else {
                result.console = console
                result.restarts = restarts
                result.trace = trace
                return result
            }
            restarts += 1
        }
    }

    /*L:042 One boot, step by step.

    `bootOnce` reads top to bottom in the order things must happen. First the checks on what the user
    asked for (a memory size, a command line, programs that fit in half the Guest's memory), all before
    anything is allocated, so a refusal leaves nothing behind. Then the machine, with 16 MiB beyond the
    Guest's pages for the Host's own use; the Host; the Guest kernel and its text; the devices on their
    page; and the Guest itself, created with its memory already laid out. Only then are the listeners
    attached (notifications, and the trace when asked for) and the Guest run. The restart loop above calls
    this once per boot, so each boot starts on a fresh machine while the disk and the console input carry
    over. */
    /// One boot, from empty memory to the Guest's end.
    static func bootOnce(_ options: LaunchOptions, disk: DiskImage?, input: ConsoleInput,
                         echo: @escaping (String) -> Void, boot: Int = 1) throws(LaunchError) -> BootResult {
        // The user's mistakes first, before any memory is touched.
        guard (4...512).contains(options.memoryMiB) else { throw .badMemorySize(options.memoryMiB) }
        let commandLine = Array(options.commandLine.utf8)
        guard commandLine.count <= BootParameters.maximumCommandLineLength else {
            throw .commandLineTooLong(commandLine.count)
        }
        let archive = options.programs.isEmpty ? [] : CPIOArchive.encode(options.programs)
        let pageCount = UInt32(options.memoryMiB * 256)
        guard archive.count < Int(pageCount) * pageSize / 2 else { throw .initrdTooLarge(archive.count) }
        let plan = MemoryPlan(pageCount: pageCount, initrdSize: archive.count)

        // A machine with the Guest's memory, its device page, and 16 MiB more for the Host's own pages.
        let guestPages = pageCount + DevicePage.pageCount
        let machine = makeMachine(guestPages: guestPages, options: options)
        let host = Host(machine: machine)
        host.directTraps = options.directTraps
        let kernel = GuestKernel(configuration: options.configuration, modules: [LguestBus()])
        let image = kernel.makeImage()
        // The devices, on the page just past the e820 map (`L:220`).
        let output = ConsoleOutput(echo: echo)
        let devices = makeDevices(page: DevicePage.address(memoryPages: pageCount), disk: disk, input: input,
                                  options: options, output: output)
        // The Guest, and everything it expects to find in its memory at boot.
        let guest: Guest
        do {
            guest = try host.makeGuest(pageCount: guestPages, image: image, initialPageDirectory: plan.pageDirectory,
                                       stack: linear(kernel.layout.stackTop))
            try guest.memory.copyIn(image.text, at: GuestKernelImage.loadAddress)
            try guest.memory.copyIn(plan.initialPageTables(), at: plan.pageDirectory)
            let initrd = plan.initrd.map { (address: $0, size: plan.initrdSize) }
            try guest.memory.copyIn(BootParameters.encodePage(memoryMap: plan.memoryMap, commandLineLength: commandLine.count,
                                                              initrd: initrd),
                                    at: BootParameters.address)
            try guest.memory.copyIn(commandLine + [0], at: BootParameters.commandLineAddress)
            if let address = plan.initrd { try guest.memory.copyIn(archive, at: address) }
            try devices.writeDescriptors(into: guest.memory)
        } catch {
            throw .hostRefused("\(error)")
        }
        // Every NOTIFY goes to the devices: a status change, a kick, or an early console string (`L:215`).
        guest.onNotify = { guest, address in devices.notify(guest, address) }
        // The trace, if asked for, listens to the Host's events and to the notifications (`L:110`).
        let recorder = options.recordsTrace ? TraceRecorder(boot: boot) { kernel.runningProcess } : nil
        if let recorder {
            guest.onEvent = { time, event in recorder.record(time, event) }
            guest.onNotify = { guest, address in
                recorder.notify(machine.clock.nanoseconds, devices.meaning(ofNotify: address))
                devices.notify(guest, address)
            }
        }
        // A way to stop it from outside (`L:045`), and then run it until it is done.
        var stoppedBy: OutsideStop?
        guest.stopCheck = stopCheck(options, machine: machine) { stoppedBy = $0 }
        let exit = host.run(guest)
        recorder?.finish(at: machine.clock.nanoseconds)
        return BootResult(exit: exit, console: output.text,
                          statistics: statistics(host: host, guest: guest, kernel: kernel, machine: machine)
                              + devices.statistics,
                          guestStatistics: kernel.statistics, lastExitStatus: kernel.lastExitStatus, restarts: 0,
                          stoppedBy: stoppedBy, trace: recorder?.trace)
    }

    /// A fresh machine with `guestPages` pages for the Guest and 16 MiB more for the Host, its code
    /// cache on or off as `options` say.
    static func makeMachine(guestPages: UInt32, options: LaunchOptions) -> Machine {
        let machine = Machine(memory: PhysicalMemory(frameCount: Int(guestPages) + 4096))
        machine.codeCacheEnabled = options.codeCache
        return machine
    }

    /// The kernel's virtual address for guest-physical `address` (the linear map), for the places the
    /// Launcher must name in the kernel's terms, such as the first stack pointer.
    static func linear(_ address: GuestPhysicalAddress) -> GuestVirtualAddress {
        guard let virtual = kernelVirtual(address) else { preconditionFailure("launcher: \(address) not mappable") }
        return virtual
    }
}
/*:*/

/*L:045 A Launcher that always ends.

Some Guests never power off: a program stuck in a loop, a kernel waiting for something that never
comes. lguest's Launcher ran until someone killed it; ours lets a person say beforehand how long is
long enough, in *virtual* time (`--time-limit`), so that a limit stops a Guest at the same instruction
on every run, on a fast machine or a slow one, and the output stays byte for byte the same. And Ctrl-C
stops a run cleanly instead of killing the process: the front door's signal handler only raises a flag
(the one thing a signal handler may safely do), and the Host looks at it before every switch into the
Guest (`H:042`), so the Guest stops between two instructions and the counts so far can still be printed.

Neither ending is the Guest's fault, so neither is a kill: the Guest exits "stopped", and the status
tells a shell which it was (124 for the limit, as `timeout` says it; 130 for Ctrl-C, 128 + SIGINT). */

extension Launcher {
    /// The check the Host makes before each switch into the Guest: `options`' time limit on `machine`'s
    /// virtual clock, then its interrupt flag. `record` learns which one fired.
    static func stopCheck(_ options: LaunchOptions, machine: Machine,
                          record: @escaping (OutsideStop) -> Void) -> (() -> String?)? {
        guard options.timeLimit != nil || options.interruptRequested != nil else { return nil }
        let limit = options.timeLimit
        let interrupted = options.interruptRequested
        return {
            if let limit, machine.clock.nanoseconds >= limit {
                record(.timeLimit)
                return "launcher: time limit of \(limit / 1_000_000) ms of virtual time reached"
            }
            if let interrupted, interrupted() {
                record(.interrupted)
                return "launcher: interrupted"
            }
            return nil
        }
    }
}
/*:*/

/*L:070 Notifications and the early console.

A Guest's `NOTIFY` hypercall hands the Launcher a guest-physical address. Most addresses name a device
or one of its rings (`L:215`); any other address below the end of the Guest's memory is a NUL-terminated
string for the console, the way a Guest prints before its console device is up. We read it through
the Host's checked memory access, with a length limit: a string longer than 256 bytes, or one that
runs off the end of guest memory, is dropped. A Guest that notifies us with garbage gets garbage
printed, or nothing, and never anything worse. The string goes to the same `ConsoleOutput` as the
console device's output (`L:192`). */

extension ConsoleOutput {
    /// Print the string at `address` in `memory`, if there is one.
    func earlyConsole(_ memory: GuestMemory, _ address: GuestPhysicalAddress) {
        guard let text = try? memory.string(at: address, maximumLength: 256) else { return }
        write(Array(text.utf8))
    }
}
/*:*/

/*L:220 The run loop's device side.

lguest's Launcher ended its `main()` in a loop: run the Guest, and whenever the run returned with
something for the Launcher, handle it and run again. Ours has no loop of its own to write: the Host's
run loop (`H:030`) calls the Launcher's notification handler in the middle of the `NOTIFY` hypercall,
and the handler is the device bus (`L:215`). What remains is to build the bus before the Guest boots:
the console always, the block device when there is a disk, and the rng, in that order, each of them
getting the next IRQ (`L:190`). */

extension Launcher {
    /// The devices of one boot, on the device page at `page`.
    static func makeDevices(page: GuestPhysicalAddress, disk: DiskImage?, input: ConsoleInput, options: LaunchOptions,
                            output: ConsoleOutput) -> DeviceBus {
        var services: [any DeviceService] = [ConsoleDevice(input: input, output: output)]
        if let disk { services.append(BlockDevice(image: disk, latency: options.diskLatency)) }
        services.append(RandomDevice(seed: options.rngSeed))
        return DeviceBus(page: page, services: services, output: output)
    }
}
/*:*/
