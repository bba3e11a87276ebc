/*G:020 How the Guest starts.

A native kernel starts in a bare processor with paging off and must build its first page tables before
it can run at its linked address. Our Guest is spared that: the Launcher has already loaded our text at
1 MiB, built initial page tables that map all of guest memory at `pageOffset` (as lguest's Launcher
did, `L:030`), pointed the stack at our kernel stack, and started the processor at ring 1 at our boot
entry. So the first thing our kernel does is what lguest's `lguest_entry` did in four lines of
assembler: fill in the parts of `lguest_data` the Host reads at INIT, and make the INIT hypercall with
its guest-physical address. From then on the Host knows where our shared page is, and fills in what
it owes us (`reserveMemory`, `tscKHz`, the time).

The entry points the processor can arrive at are registered in the kernel image (`P:500`): the boot
entry and one for each interrupt vector. Each is a real address holding `ud2`, and each leads to a
method of this kernel.

Notice what the boot entry does *not* do: set up a stack. lguest's `lguest_entry` loaded esp right after
INIT, because C code needs a stack from its first call. Our Swift code runs on the host's stack, and the
guest's stack only ever holds the frames the processor and the Host push; the Launcher points esp at
the top of our kernel stack before the first instruction, and that is all it needs until the first
interrupt. */

import LguestABI
import Machine

extension GuestKernel {
    /// Build the kernel text: the fixed sites of `GuestKernelImage` plus our entry points (boot, and
    /// one per vector). The Launcher loads its bytes at `layout.text`. The entry points hold the
    /// kernel weakly: whoever runs the Guest keeps the kernel alive.
    public func makeImage() -> GuestKernelImage {
        precondition(layout.text == GuestKernelImage.loadAddress, "guest: text must load at the image's address")
        // The image comes with its fixed sites (the hypercall, the iret path, the native
        // instructions); we add our entry points after them, boot first.
        var image = GuestKernelImage()
        image.bootEntry = image.addEntry(named: "boot") { [weak self] cpu throws(GuestStopped) in
            try Self.entered(self, on: cpu).boot()
        }
        // One entry per vector: the vector is the only thing that tells the handlers apart, and the
        // processor does not push it, so each needs an address of its own.
        vectorEntries = (0...255).map { vector in
            image.addEntry(named: "vector \(vector)") { [weak self] cpu throws(GuestStopped) in
                try Self.entered(self, on: cpu).enter(vector: UInt8(vector))
            }
        }
        precondition(image.text.count <= pageSize, "guest: kernel text outgrew its page")
        noInterruptWindow = image.noInterruptWindow
        return image
    }

    /// The kernel an entry point leads to, now running on `cpu`. The Launcher keeps the kernel alive
    /// for as long as its Guest runs; an entry into a kernel that is gone is a host bug.
    static func entered(_ kernel: GuestKernel?, on cpu: any GuestProcessor) -> GuestKernel {
        guard let kernel else { preconditionFailure("guest: entry point reached after the kernel was released") }
        kernel.processor = cpu
        return kernel
    }

    /// The address of the entry point for `vector`.
    func vectorEntry(_ vector: UInt8) -> GuestVirtualAddress {
        precondition(vectorEntries.count == 256, "guest: entry points used before makeImage()")
        return vectorEntries[Int(vector)]
    }

    /// The boot entry: INIT, the replacements, then the rest of boot.
    func boot() throws(GuestStopped) {
        // What the Host reads at INIT must be in place before INIT.
        try prepareLguestData(noInterruptWindow: noInterruptWindow)
        try hcall(.lguestInit, layout.lguestData.rawValue)
        lguestInit()
        // Patch early, as Linux does, so that nearly every call of the four goes the cheap way.
        if configuration.patching { applyPatches() }
        if configuration.pvOpWorkloadPairs > 0 { try runPVOpWorkload(pairs: configuration.pvOpWorkloadPairs) }
        try startKernel()
    }
}
/*:*/

/*G:070 The rest of boot.

With every replacement in place we return to the rest of boot, which is where the original handed
over to Linux's own `start_kernel()`. Ours is shorter, but its steps are the same ones, in the same
order, and each meets an operation from this chapter:

1. Keep clear of the top of the address space, where the Host told us the Switcher lives
   (`reserveMemory`).
2. Find our memory in the boot parameters' e820 map (`G:048`).
3. Detect the processor through our filtered `cpuid` (`G:039`).
4. Install the trap and interrupt gates (`G:034`, `G:042`) and our GDT.
5. Build the kernel's own page tables, mapping all of memory at `pageOffset`, one `setPTE()` per page,
   and switch to them: the workload that made the `cr3Changed` trick worth having (`G:041`).
6. Tell the Host where our kernel stack is (`G:044`).
7. Start time (`G:043`) and turn interrupts on.
8. Wait for the first timer tick, idling in `HALT`, as Linux's delay-loop calibration waits for
   jiffies to move: proof that the clock works before anything depends on it.
9. Start the drivers (`G:072`): they need memory, interrupts and the clock, and the programs need them.
10. Start the first program (`G:080`).

The original also had to cure a disease we never catch: Linux's IDE driver spent three seconds probing
for disks at I/O ports that were not there, each probe a trap into the Host. lguest reserved the whole
I/O space up front so no driver could probe it, which took boot from 4.1 to 0.45 seconds. Our kernel
has no drivers that probe, so it has nothing to reserve.

Three more things the original did at this point have no step of their own in our list, and each went
somewhere worth knowing. Linux switched off features a Guest cannot have, machine checks and ACPI among
them: our kernel never had them, and the processor features it may use are decided once, by the filtered
`cpuid` of `G:039`, which is why step 3 only reads, prints and obeys them. Linux registered the `hvc`
console as the preferred one and an early console that speaks through hypercalls: our `printk()` uses the
early console of `G:047` until the console driver attaches in step 9 and takes over (`G:072`). And Linux
pointed its power-off and restart hooks at lguest's functions, so that a `halt` or `reboot` becomes a
`SHUTDOWN` hypercall: ours has no hooks to point, because `LguestPlatform.powerOff()` and
`LguestPlatform.restart()` are already the only ways the kernel stops (`G:044`), called by the scheduler
when the last program has finished and by the `reboot` system call. */

extension GuestKernel {
    /// Everything after `lguestInit()`, up to running the first program.
    func startKernel() throws(GuestStopped) {
        try zeroPage(layout.scratch)
        try printk("Booting paravirtualized kernel on lguest\n")
        let reserve = try read32(lguestDataField(LguestData.reserveMemory))
        bootParameters = try readBootParameters()
        try setUpMemory(reservedAtTop: reserve)
        try detectProcessor()
        try trapInit()
        try initIRQ()
        try buildGDT()
        try loadGDT()
        try pagingInit()
        try pvOps.loadSP0(self, linear(layout.stackTop))
        try timeInit()
        try irqEnable()
        try calibrate()
        try startModules()
        try unpackInitrd()
        try exitToUser()
    }

    /// Point the processor's exception vectors and the system-call vector at our entries
    /// (Linux's `trap_init`). Each gate is a hypercall: about 240 of them in all, with `initIRQ()`,
    /// the largest single item in our boot's count of world switches.
    func trapInit() throws(GuestStopped) {
        // Linux's cpu_init() loads the task register and an empty LDT here: no-ops for us (G:038).
        pvOps.loadTR(self)
        pvOps.setLDT(self, GuestVirtualAddress(0), 0)
        for vector in ExceptionVector.allCases.map(\.rawValue) + [systemCallVector] {
            guard let gate = gate(for: vector) else { continue }
            try writeIDTEntry(vector, gate)
        }
    }

    /// Print what the processor says it is, through the filtered `cpuid` (Linux's `cpu_detect`), and
    /// turn on what it offers.
    func detectProcessor() throws(GuestStopped) {
        let vendor = pvOps.cpuid(self, 0)
        let name = [vendor.ebx, vendor.edx, vendor.ecx].flatMap { word in
            (0..<4).map { UInt8(truncatingIfNeeded: word >> ($0 * 8)) }
        }
        let features = pvOps.cpuid(self, 1)
        let family = (features.eax >> 8) & 0xF
        try printk("CPU: \(String(decoding: name, as: UTF8.self)) family \(family), features edx \(hex(features.edx)) ecx \(hex(features.ecx))\n")
        // Linux turns on global pages when cpuid offers them, which ours always does (G:039).
        if CPUFeaturesEDX(rawValue: features.edx).contains(.pge) {
            try pvOps.writeCR4(self, pvOps.readCR4(self).union(.pageGlobalEnable))
        }
    }

    /*G:071 The kernel's own page tables, and the first tick.

    `pagingInit` maps every page of usable memory into the kernel half, a page table per 4 MiB, and only
    then loads the new directory into cr3. The order is the point. Until that switch the Host shadows
    none of these tables, so the thousands of `setPTE()` calls of this loop need no TLB flush, which is
    what the cr3 trick of `G:041` saves; after it, our tables are live and every change must be told.
    `calibrate` then arms the clock for one millisecond of virtual time and halts until the tick comes,
    so that the boot's first timer interrupt is also proof that the clock event path works. */
    /// Build the kernel's page directory, mapping all usable memory at `pageOffset`, and switch to it
    /// (Linux's `paging_init`).
    func pagingInit() throws(GuestStopped) {
        // The directory itself, empty: no user half, and the kernel half filled in below.
        let directory = layout.pageDirectory
        try zeroPage(directory)
        let pagesToMap = pages.topOfMemory.pageNumber
        var mapped: UInt32 = 0
        while mapped < pagesToMap {
            guard let table = pages.allocate() else {
                try LguestPlatform.panic(self, "out of memory building the kernel page tables")
            }
            try zeroPage(table)
            // Fill the table, one setPTE() per page: the burst the cr3 trick was invented for.
            let first = mapped
            for index in 0..<min(1024, pagesToMap - first) {
                let frame = PageFrameNumber(first + index)
                let entry = PageTableEntry(frame: frame, flags: [.present, .writable, .accessed, .dirty])
                try pvOps.setPTE(self, table &+ index &* 4, entry)
                mapped += 1
            }
            // Then hook the table into the directory at the virtual address it maps.
            let virtual = linear(GuestPhysicalAddress(first << pageShift))
            let slot = directory &+ UInt32(virtual.pageDirectoryIndex) &* 4
            try pvOps.setPMD(self, slot, PageDirectoryEntry(frame: table.frame, flags: [.present, .writable, .accessed]))
        }
        // The switch: from now on our tables are the live ones, and setPTE() must flush.
        kernelPageDirectory = directory
        try pvOps.writeCR3(self, directory)
        try printk("Memory: \(pagesToMap * 4) KiB mapped at \(hex(pageOffset.rawValue)), \(pages.freeCount * 4) KiB free\n")
    }

    /// Wait for the first timer tick: arm the clock event and halt until it fires.
    func calibrate() throws(GuestStopped) {
        // One millisecond of virtual time; the loop guards against waking for anything else.
        let ticksBefore = statistics.timerInterrupts
        try LguestTime.setNextEvent(self, delta: 1_000_000)
        while statistics.timerInterrupts == ticksBefore {
            try irqDisable()
            try pvOps.safeHalt(self)
        }
        try printk("Clock: first tick at \(try now()) ns, TSC at \(clock.tscKHz) kHz, wall clock \(try LguestTime.wallClock(self))\n")
    }
}
/*:*/

/// `value` as eight hexadecimal digits with a 0x prefix.
func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
