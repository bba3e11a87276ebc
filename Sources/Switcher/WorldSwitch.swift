/*S:050 Copying in only what changed.

Before the processor can run a Guest, the state page must hold that Guest's GDT and IDT, and the
Switcher's page table must map that Guest's registers page. Copying two tables on every switch would
waste most of the switch's time, and nearly always for nothing: a Guest changes its tables a few times
at boot and rarely after. lguest therefore copies the tables only when the Guest changed them, or when
some other Guest used the state page since (then *everything* is stale). The Guest object keeps the
change marks; the Switcher only says whether another Guest came between (`claimState(for:)`). */

import LguestABI
import Machine

extension Switcher {
    /// Prepares the state page and the registers mapping for `world`.
    func copyIn(_ world: GuestWorld) {
        let anotherGuestCameBetween = claimState(for: world)
        world.copyTables(into: state, everything: anotherGuestCameBetween)
        if anotherGuestCameBetween { mapPage(1, frame: world.registerPage.frame, writable: true) }
    }
    /*:*/

    /*S:100 Into the Guest: the switch itself.

    Here is the moment the book has been building up to. The Host is at ring 0 on the Switcher's
    segments; the Guest's registers wait in its registers page. To switch:

    1. load the Guest's world into the processor: cr3 becomes the Guest's shadow page directory, the
       GDT and IDT registers point at the state page, cr0 gets the Guest's task-switched bit, and the
       stack pointers for traps (ss0:esp0 for ring 0, ss1:esp1 for the Guest kernel) are set;
    2. pop the general and data-segment registers from the page;
    3. `iret` on the five words at the top of the page: eip, cs, eflags, esp and ss. The processor
       checks them like any `iret`, and drops to ring 1 or 3.

    Two words in that frame are the Guest's to write (the page is writable, and the Guest kernel at
    ring 1 could scribble on it), so the Switcher does not trust them: eflags loses any I/O privilege
    level and gains the interrupt flag (a Guest always runs with real interrupts on; its *virtual* flag is
    `irqEnabled`), and cs must carry ring 1 or 3. Anything else `iret` would refuse anyway, with a fault
    at ring 0 that lguest could only answer by killing the Guest; we refuse first, with a clearer reason.

    Loading cr3 flushes the TLB, and the Switcher relies on that, as lguest does: the Host edits shadow
    entries between switches without telling the TLB, and the registers page may have been remapped for
    another Guest. The Host's cr3 always differs from any Guest's, so every switch in reloads it.

    **Exercise** (medium; read first S:030, X:450): distrust the two words of the frame the Guest could
    forge: refuse a cs or ss not at ring 1 or 3 (or not at the same ring), and take away any I/O
    privilege level, nested-task or vm86 bit from eflags. */

    /// Switches the processor into `world`; returns nil on success, or why the Guest cannot be entered.
    func switchIn(_ world: GuestWorld) -> Trap? {
        copyIn(world)
        let page = world.registerPage
        let frame = page.registers
        // Only rings 1 and 3 are the Guest's, and its stack must be at the same ring as its code.
        let ring = UInt8(frame.cs & 3)
        // exercise S:100 {
        guard ring == guestKernelRing || ring == guestUserRing, frame.ss & 3 == frame.cs & 3 else {
            return .kernelLost("switcher: bad guest segments cs \(hexWord(frame.cs)) ss \(hexWord(frame.ss))")
        }
        // exercise S:100 } stub: ExerciseStub.unfinished("S:100")
        // The Guest's own eflags, minus what it may not have: I/O privilege, nested tasks, vm86.
        var flags = EFLAGS(rawValue: frame.eflags)
        // exercise S:100 {
        flags.iopl = 0
        flags.insert([.interruptEnable, .alwaysOne])
        flags.remove([.nestedTask, .virtual8086])
        // exercise S:100 } stub: flags.insert([.interruptEnable, .alwaysOne])
        page[.eflags] = flags.rawValue

        // Step 1: the Guest's world, built on the Host's state (same GDT and IDT registers, same esp0).
        var cpu = hostState
        cpu.cr3 = world.shadowPageDirectory
        if world.taskSwitched { cpu.cr0.insert(.taskSwitched) }
        (cpu.ss1, cpu.esp1) = world.kernelStack
        // Step 2: the general and data-segment registers, as the `popl`s would restore them.
        cpu.eax = frame.eax; cpu.ebx = frame.ebx; cpu.ecx = frame.ecx; cpu.edx = frame.edx
        cpu.esi = frame.esi; cpu.edi = frame.edi; cpu.ebp = frame.ebp
        cpu.ds = dataSegment(frame.ds, ring: ring, register: 0)
        cpu.es = dataSegment(frame.es, ring: ring, register: 1)
        cpu.fs = dataSegment(frame.fs, ring: ring, register: 2)
        cpu.gs = dataSegment(frame.gs, ring: ring, register: 3)
        // Step 3: esp on the processor's five words in the registers page, ready for `iret`.
        cpu.esp = SwitcherLayout.registers.rawValue &+ GuestRegisterFrame.offsetInPage &+ GuestRegisterFrame.eipOffset
        precondition(cpu.cr3 != hostState.cr3, "switcher: a guest running on the host's page directory")
        machine.cpu = cpu
        statistics.worldSwitches &+= 1
        // The `iret` checks the frame's segments against the Guest's GDT like any other.
        if let failure = machine.iret() {
            machine.cpu = hostState
            return .kernelLost("switcher: cannot return to guest: \(failure)")
        }
        return nil
    }

    /// The data segment register `raw` names, if the Guest may hold it at `ring`; a null one otherwise.
    /// (Popping a bad selector would fault inside the Switcher; lguest's Guest cannot cause that either.)
    /// `register` (0 to 3 for ds, es, fs, gs) picks the slot of `dataSegmentAnswers` to consult (`S:105`).
    func dataSegment(_ raw: UInt32, ring: UInt8, register: Int) -> SegmentRegister {
        let selector = SegmentSelector(rawValue: UInt16(truncatingIfNeeded: raw))
        guard !selector.isNull, selector.table == .gdt, let descriptor = state.descriptor(slot: selector.index) else {
            return .null
        }
        // The same question as last time, with the same eight bytes in the GDT: the same answer.
        if let known = dataSegmentAnswers[register], known.selector == raw, known.ring == ring,
           known.descriptor == descriptor {
            return known.segment
        }
        var segment = SegmentRegister.null
        if descriptor.isCodeOrData, descriptor.isPresent, descriptor.dpl >= max(ring, selector.rpl),
           !descriptor.isCode || descriptor.typeBits.contains(.readableOrWritable) {
            segment = SegmentRegister(selector: selector, descriptor: descriptor)
        }
        dataSegmentAnswers[register] = DataSegmentAnswer(selector: raw, ring: ring, descriptor: descriptor, segment: segment)
        return segment
    }
    /*:*/

    /*S:105 What a round trip costs, and where it went.

    A world switch is the Switcher's whole reason to exist, so its price matters: every hypercall pays it
    twice, in and out. lguest's Switcher kept that price down by doing nothing it did not have to (it
    copies the Guest's tables in only when they changed, `S:050`), and ours follows the same rule in a
    few more places, each found with a profiler rather than guessed:

    * the data segments: `switchIn` must check the four data-segment selectors the Guest left in its
      registers page against the GDT. The answer depends only on the selector, the ring and the eight
      bytes of the descriptor, so `dataSegment` remembers its last answer per register and decodes the
      descriptor again only when one of the three changed. The eight bytes are read every time: the
      memo can never outlive a change to the GDT.
    * the last Guest: `claimState(for:)` writes its reference only when a different Guest comes.
    * reference counts nobody needed. Swift counts references to a class instance up and down as
      values move around, an atomic operation each time, and a profile of the switch showed over a
      quarter of it doing that. Four sources were easy to stop. The last Guest was held by a *weak*
      reference, and an object with one keeps its counts in a side table, so every count of the Guest,
      anywhere, took a detour; it is held strongly now, which changes no lifetime, since the table of
      processors holds each Guest strongly already (`S:047`). `runWorld` read the Guest's kernel image,
      a struct of tables, through `GuestWorld` on every turn of its loop, each read a copy; it now
      reads it once, and only when ring 1 needs it. The state page's description (`state`) was built
      afresh for each data segment checked; it is made once. And the Host's `Guest` keeps its own
      reference to the machine, so the clock reads of every switch do not go through the unowned Host.
    * Swift's run-time exclusivity checks: a stored property of a class that the compiler cannot prove
      is accessed by one piece of code at a time gets a check around every access, a call into the
      runtime costing some ten nanoseconds. For the few properties on the switch's path where the
      argument is simple (each is touched by code that runs to completion without calling anything that
      could touch it again), we say so next to the property and mark it `@exclusivity(unchecked)`; the
      Machine does the same for its core (`X:060`), and the Host for the plain `Guest` values read on
      every hypercall or switch (`H:022`). Everything else keeps its checks.
    * no allocation per event: the Machine's delivery builds the frame it pushes in a fixed-size buffer,
      and the Host copies an async ring entry out the same way, where each used to grow an array.
    * only the registers that change: lguest's rule for the tables (`S:050`), applied to the processor.
      A hypercall from the Guest's Swift code changes six registers, so `SwitcherProcessor.hypercall`
      sets just those and reads back just eax, and the loop in `runWorld` asks only for the privilege
      level and the next instruction's address (`X:125`), where each used to copy the whole `CPUState`
      out of the Machine and, for a write, back in, with the segment bases recomputed. The switch itself
      still loads a whole state each way, because there nearly everything does change: segments, cr3,
      stacks.

    Measured with
    `lguest-bench` (best of three, release build; BENCHMARKS.md), a round trip (`world_switch_ns`) went
    from 967 ns to about 550 ns (543 to 568 over three runs), a synchronous hypercall from 944 ns to about
    550 ns, and a call through the async ring from 216 ns to 61 ns. That is a little over half a
    microsecond, where a real VM exit on the same hardware costs 0.6 to 1 µs. Copying only the registers
    that change took the round trip from 453 to 438 ns (best of five runs of each build, side by side on
    the same, busier day): 3 %, and `perf` shows the copies falling from 8 % of the time to under 6 %.
    The reference counts came next: with the four changes above, the round trip went from 434 to
    355 ns and a synchronous hypercall from 436 to 354 ns (best of ten runs of each build, side by side,
    at a load average of 2.7 to 3.4), some 18 %, and counting fell from over a quarter of the profile
    to under a tenth. Then the checks: the Host's exclusivity checks on its `Guest` were the next tenth
    of the profile, and with nine more plain values argued safe to leave unchecked the round trip
    came to about 295 ns, a synchronous hypercall likewise (best runs, side by side at a load of 2.4
    to 3.6). That is two thirds of where this round of work began, and under a third of a microsecond.
    Built together with the code cache (`X:660`), on a quiet machine, the same round trip measures 330
    to 340 ns. The missing 40 ns are not work: the two builds run the same instructions within 2 %,
    function by function, but a simulated instruction cache misses 29 times per round trip in the one
    and 5 in the other, because the Machine's new code moved the dozen functions of a round trip to
    addresses that crowd the same cache sets (BENCHMARKS.md has the counts). A lesson worth keeping:
    a figure this small depends on the linker's layout by some 10 %, and the lasting cure is a shorter
    hot path, not a luckier one. What is left to shorten is spread thin: the two whole-state loads of
    the switch and the segment bases they recompute, the descriptor reads of the `iret` and the
    delivery, and the page walks after each cr3 load; `M:020` sketches the next step.
    :*/

    /*S:110 And back out again.

    A trap through one of the Switcher's gates arrives at ring 0 in a stub, with the processor's frame
    already in the registers page (`S:030`). The "common code" finishes the frame: the error code (0 when
    the processor pushed none), the trap number, then the general and data-segment registers. Then it
    restores the Host's processor state, which includes the Host's cr3: the Guest's world is gone from the
    processor until the next `switchIn`. */

    /// Saves the Guest's registers (`cpu`, the processor as the trap left it) after a trap through the
    /// stub for `vector`, and restores the Host. Returns false, saving nothing, when the frame is not
    /// where a trap from the Guest's rings puts it.
    func exitToHost(_ world: GuestWorld, vector: UInt8, errorCode: UInt32?, cpu: CPUState) -> Bool {
        // Every trap from ring 1 or 3 switched to esp0, so the frame is always in the same place. Only
        // a trap taken at ring 0 could leave it elsewhere, and the Guest never runs at ring 0: the
        // processor refuses its code there (`S:100`) and `SwitcherProcessor` refuses to run after an
        // `iret` or a death (`S:205`). Should it happen all the same, the Guest is lost, not the Host.
        let expectedESP = SwitcherLayout.ringZeroStackTop.rawValue &- (errorCode == nil ? 20 : 24)
        guard cpu.cpl == 0, cpu.esp == expectedESP else {
            machine.cpu = hostState
            return false
        }
        let page = world.registerPage
        // What the stub pushes: a zero error code if the processor pushed none, then the vector.
        page[.errorCode] = errorCode ?? 0
        page[.trapNumber] = UInt32(vector)
        // What the common code pushes: the registers the processor did not save for us.
        page[.eax] = cpu.eax; page[.ebx] = cpu.ebx; page[.ecx] = cpu.ecx; page[.edx] = cpu.edx
        page[.esi] = cpu.esi; page[.edi] = cpu.edi; page[.ebp] = cpu.ebp
        page[.ds] = UInt32(cpu.ds.selector.rawValue); page[.es] = UInt32(cpu.es.selector.rawValue)
        page[.fs] = UInt32(cpu.fs.selector.rawValue); page[.gs] = UInt32(cpu.gs.selector.rawValue)
        // cr2 belongs to the processor, not the page: keep the fault address before the Host's state
        // replaces it, as lguest's Switcher reads cr2 straight after the switch.
        if vector == ExceptionVector.pageFault.rawValue { lastPageFault = cpu.cr2 }
        machine.cpu = hostState
        return true
    }
    /*:*/

    /*S:120 Running a Guest once.

    `run(_:)` is what the Host's run loop calls (`H:030`): switch in, let the Guest's world run until the
    processor comes back to the Host, and report why. "The Guest's world" is more than the interpreter
    running user programs. When a user program makes a system call through a direct-trap gate, the
    processor goes straight to the Guest kernel at ring 1, and the Switcher runs the Swift handler there
    (`S:200`) without the Host ever hearing of it: that is the point of direct traps (`H:250`). The world
    runs until something arrives at a Switcher stub.

    One thing can stop the world without the Guest's help: the Host's own timer. The interpreter is given
    a budget (the Host sets it from the Guest's next timer deadline), and when it runs out, the Host's timer
    "interrupt" is delivered like any external interrupt, on vector 0xEF; its gate is a Switcher stub, so the
    processor comes home. A Guest kernel that bounces between its own handlers without ever trapping gets the
    same treatment after a fixed number of entries, so no Guest can keep the processor from the Host. */

    /// Runs `world` until it traps to the Host, and returns the trap. The Host then reads the Guest's
    /// registers page for details.
    public func run(_ world: GuestWorld) -> Trap {
        if let failure = switchIn(world) { return failure }
        do {
            // With no return points, `runWorld` has only one way to return: with a trap.
            guard case let .trap(trap) = try runWorld(world, from: nil, until: .none) else {
                preconditionFailure("switcher: top-level world returned without a trap")
            }
            return trap
        } catch {
            machine.cpu = hostState
            return .stopped
        }
    }

    /// The most Guest kernel entries in a row before the Host's timer takes the processor back.
    static let kernelEntryLimit = 10_000

    /*S:125 The world's loop.

    `runWorld` is a loop with two halves. First it deals with what the processor just did: a trap the
    Host must see, or a direct entry into the Guest kernel. Then it looks at where the processor is now:
    at ring 3 the interpreter runs; at ring 1 on a registered entry address the Swift handler runs; at a
    return point the Swift code waiting further up the stack gets control back (`S:200`). The counter
    `entriesInARow` is the other half of the fairness promise above: after `kernelEntryLimit` Guest kernel
    entries without a trap, the Host's timer is delivered anyway. And ring 1 anywhere else means the
    processor is executing bytes no Swift stands for, so the Guest is given up as lost. */
    /// Runs `world`'s world from the processor's current state (after `event`, if any).
    ///
    /// With `returnPoints` empty this is the top level: the first trap to the Host is returned. With
    /// return points, Swift kernel code is waiting on the stack: traps go to the Host through
    /// `handleTrapDuringKernel` and the loop ends, returning nil, when the processor is at ring 1 at one
    /// of the points, returning the point reached.
    func runWorld(_ world: GuestWorld, from event: StopReason?, until returnPoints: ReturnPoints)
        throws(GuestStopped) -> WorldExit
    {
        var event = event
        var entriesInARow = 0
        // The image is a constant of the Guest, but each read through `GuestWorld` copies it, with a
        // reference count on each table inside: read it once, and only when ring 1 needs it (`S:105`).
        var image: GuestKernelImage?
        while true {
            // First, whatever the processor just did: a trap for the Host, or a direct entry.
            if let stop = event {
                event = nil
                if let trap = takeTrap(world, stop) {
                    if returnPoints.isEmpty { return .trap(trap) }
                    // Swift kernel code is waiting: the Host handles the trap here and now, then
                    // the world switches straight back in.
                    try world.handleTrapDuringKernel(trap)
                    if let failure = switchIn(world) {
                        try world.handleTrapDuringKernel(failure)
                        throw GuestStopped()
                    }
                    entriesInARow = 0
                    continue
                }
            }
            // Then, where the processor is now: user code runs in the interpreter...
            let ring = machine.currentPrivilegeLevel
            let eip = machine.linearInstructionPointer
            if ring == guestUserRing {
                event = machine.run(maxInstructions: max(1, world.instructionBudget))
                continue
            }
            // ...an instruction the waiting Swift code executed has retired...
            if ring == guestKernelRing, returnPoints.contains(eip) {
                return .reached(eip)
            }
            if ring == guestKernelRing && image == nil { image = world.image }
            if ring == guestKernelRing && eip == image?.iretSite {
                // An `iret` that faulted and was fixed up: the processor executes it again (S:230).
                machine.advance(by: Self.kernelOperationCost)
                event = machine.iret()
                continue
            }
            // ...or the Guest kernel's Swift code runs, unless it has had the processor long enough.
            if ring == guestKernelRing, let entry = image?.entry(at: eip) {
                entriesInARow += 1
                if entriesInARow > Self.kernelEntryLimit {
                    statistics.hostInterrupts &+= 1
                    event = machine.deliver(vector: Self.hostTimerVector, kind: .external)
                    entriesInARow = 0
                    continue
                }
                event = try callEntry(entry, at: eip, world: world)
                continue
            }
            // Anywhere else, ring 1 would be executing bytes that no Swift stands for: give up.
            machine.cpu = hostState
            let lost = Trap.kernelLost("switcher: guest kernel at \(eip) ring \(ring) has no entry point")
            if returnPoints.isEmpty { return .trap(lost) }
            try world.handleTrapDuringKernel(lost)
            throw GuestStopped()
        }
    }

    /*S:130 Which stops are traps.

    Not every stop of the interpreter concerns the Host. `takeTrap` sorts them: an entry into ring 0
    through one of the Switcher's stubs is a trap, and the Guest's registers are saved for the Host; an
    entry anywhere else is a direct trap into the Guest kernel, so the answer is nil and the world goes
    on. A spent budget becomes the Host's timer interrupt, delivered through the IDT like a real one, so
    it arrives at its stub and comes back here as a trap. Note the check on the frame: if the stack the
    processor pushed on is not where `esp0` said, the Guest is lost rather than trusted. */
    /// Turns a stop of the machine into a trap for the Host when it is one (saving the Guest's
    /// registers), or returns nil when the processor simply entered the Guest kernel directly.
    func takeTrap(_ world: GuestWorld, _ stop: StopReason) -> Trap? {
        switch stop {
        case let .enteredKernel(_, errorCode, handler):
            let cpu = machine.cpu
            guard cpu.cpl == 0, let vector = SwitcherLayout.vector(ofStub: handler) else { return nil }
            guard exitToHost(world, vector: vector, errorCode: errorCode, cpu: cpu) else {
                return .kernelLost("switcher: trap \(vector) frame not where esp0 put it (esp \(hexWord(cpu.esp)))")
            }
            return .vector(vector)
        case .budgetExhausted:
            statistics.hostInterrupts &+= 1
            return takeTrap(world, machine.deliver(vector: Self.hostTimerVector, kind: .external))
        case let .tripleFault(reason), let .machineCheck(reason):
            machine.cpu = hostState
            return .machineStopped(reason)
        }
    }
    /*:*/

    /*S:200 Calling the Guest kernel's Swift code.

    When the processor arrives at ring 1 at an address where the Guest registered a Swift function, the
    Switcher calls that function, handing it the Guest's `GuestProcessor`. The function runs, using the
    processor as ring-1 code would, and ends with `returnFromInterrupt()`, whose `iret` takes the
    processor wherever the frame on the stack says: back to a user program, or back into the Guest
    kernel's Swift code that was interrupted.

    In the second case the Switcher plays the part of an entry stub's register save: the handler was
    entered in the middle of Swift code that may be relying on its registers (a hypercall's result in eax,
    for instance), so the general registers are put back as they were when the handler was entered. When
    the handler returns to user mode, its changes stand: changing the user's registers is how a system
    call returns a value and how the kernel switches from one process to another.

    A handler that returns without its `iret` would leave the processor at its own entry, calling it again
    for ever: the Switcher reports that as a lost kernel, and the Host kills the Guest. */

    /// Calls `entry`'s Swift code and returns the event its `iret` left for the loop, if any.
    func callEntry(_ entry: GuestKernelEntry, at eip: GuestVirtualAddress, world: GuestWorld)
        throws(GuestStopped) -> StopReason?
    {
        // The registers as the handler found them: what an entry stub's SAVE_ALL would push.
        let before = machine.cpu
        statistics.kernelEntries &+= 1
        machine.advance(by: Self.kernelOperationCost)
        pendingEvent = nil
        try enterKernel(entry, world: world)
        // A faulting `iret` left its fault here for the loop (`S:230`).
        let event = pendingEvent
        pendingEvent = nil
        var after = machine.cpu
        if event == nil && after.cpl == guestKernelRing && after.eip == before.eip && after.esp == before.esp {
            machine.cpu = hostState
            let lost = Trap.kernelLost("switcher: handler \(entry.name) returned without iret")
            try world.handleTrapDuringKernel(lost)
            throw GuestStopped()
        }
        // Back into interrupted kernel code: RESTORE_ALL.
        if event == nil && after.cpl == guestKernelRing {
            after.eax = before.eax; after.ebx = before.ebx; after.ecx = before.ecx; after.edx = before.edx
            after.esi = before.esi; after.edi = before.edi; after.ebp = before.ebp
            machine.cpu = after
        }
        return event
    }
    /*:*/

    /*S:205 How deep the Guest kernel may nest.

    Each entry into the Guest kernel's Swift code is a Swift call on the *host's* stack, and an entry can
    be made inside another: a hypercall in a handler lets the Host deliver an interrupt, whose handler
    runs nested inside the hypercall. On hardware every such nesting costs the Guest some of its own
    kernel stack (the processor's frame, then the handler's registers and locals), and a kernel that
    nests without end runs off the bottom of its stack and dies of a double fault. Here the same nesting
    costs the Host a few kilobytes of its stack per level, and without a bound a Guest whose timer
    handler turns interrupts back on and re-arms the clock before its next hypercall would take the
    whole host process down, some 2,500 levels in.

    So the Switcher gives the Guest a kernel stack of a fixed depth, `kernelNestingLimit` entries. A
    Linux kernel stack is 8 KB on the i386, and a nested interrupt takes at least the 60-odd bytes of its
    saved registers plus the handler's frame, so a few dozen levels is already a stack in trouble; a
    healthy kernel nests three or four deep (a system call, a hypercall in it, an interrupt over that).
    At the limit the Guest dies with the reason its hardware twin would have had, and the Host goes on.
    In debug builds a level costs the host about 15 KB of stack, so 64 levels fit comfortably in even
    a test thread's stack.

    The same place keeps the other promise of `S:200`: a handler's Swift code may use the processor
    only until its own `iret`. `SwitcherProcessor` remembers whether the entry now running has returned,
    and each entry starts afresh and restores its caller's state when it ends, so nested entries each
    have their own. */

    /// The most Guest kernel entries that may be on the host's stack at once.
    public static let kernelNestingLimit = 64

    /// Runs `entry`'s Swift code one level deeper, or kills the Guest when it is already at the limit.
    func enterKernel(_ entry: GuestKernelEntry, world: GuestWorld) throws(GuestStopped) {
        guard kernelDepth < Self.kernelNestingLimit else {
            machine.cpu = hostState
            let lost = Trap.kernelLost("switcher: guest kernel entries nested \(Self.kernelNestingLimit) deep: its stack overflowed")
            try world.handleTrapDuringKernel(lost)
            throw GuestStopped()
        }
        let processor = switcherProcessor(for: world)
        let callersState = processor.entryReturned
        kernelDepth += 1
        processor.entryReturned = false
        defer {
            kernelDepth -= 1
            processor.entryReturned = callersState
        }
        try entry.body(processor)
        // A Guest that caught its own death and returned normally is still dead.
        guard world.isAlive else {
            machine.cpu = hostState
            throw GuestStopped()
        }
    }
    /*:*/
}

/// Where waiting Swift kernel code expects the processor back: at most two addresses, the instruction
/// after the one it executed and, for instructions that may be restarted, the instruction itself.
struct ReturnPoints {
    var first: GuestVirtualAddress?
    var second: GuestVirtualAddress?

    /// No Swift code is waiting: the top level.
    static let none = ReturnPoints(first: nil, second: nil)

    /// True when no Swift kernel code is waiting.
    var isEmpty: Bool { first == nil && second == nil }

    func contains(_ address: GuestVirtualAddress) -> Bool { first == address || second == address }
}

/// How a run of the Guest's world ended.
enum WorldExit {
    /// The Guest trapped to the Host (top level only).
    case trap(Trap)
    /// The processor came back to ring 1 at this return point of waiting Swift kernel code.
    case reached(GuestVirtualAddress)
}

/// Formats a word as `0x` and eight hex digits.
func hexWord(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

/*M:002 Switching the fast system-call registers lazily.

Real i386 processors since the Pentium II have `sysenter`, a system call that skips the gate and the
stack switch by reading its target from three model-specific registers. A host kernel sets those
registers for itself, so a Switcher that let a Guest use `sysenter` would have to load the Guest's
values on the way in and the host's on the way out, and a register write of that kind is slow. lguest's
authors noted that most switches do not need it: the host's values matter only once the host process
runs something else, which the host's scheduler knows about through its hooks. Our machine has no
`sysenter` at all, so this is an idea to take in two steps: teach the
Machine the instruction and its registers, then make the Switcher swap them only when the scheduler
says another process is about to run. There is no test scaffold for it here, because both halves are
still missing. :*/

/*M:020 A cheaper world switch.

Every round trip through the Switcher loads cr3 twice, and each load empties the TLB (cheaply, by a
generation number, `X:340`), so the Guest pays for fresh page walks after every hypercall: the IDT gate,
the GDT descriptors, the stack. Real processors grew *tagged* TLBs (AMD's
ASIDs, Intel's PCIDs) for exactly this: entries carry the address space they belong to, and a switch
need not flush. Give the Machine's TLB a tag per cr3 value, keep a few address spaces' entries at once,
and measure `world_switch_ns` before and after (`H:050`). Which invalidations must still flush? :*/

/*M:021 Reflecting user page faults without the Host.

A Guest program's page fault costs two world switches even when the Host will only pass it on to the
Guest. lguest's author suggested a page-table walker in the Switcher itself: if the Guest's own page
tables say the page is simply not there, the Switcher could deliver the fault straight to the Guest
kernel's handler, as a direct trap, and only come to the Host when the shadow tables need filling. Which
checks would the Switcher need to make, and what must it never trust? The scaffold
`LGUEST_MASTERY=1 swift test --filter m021` runs the committed `fault_null` program and asks that its
fault never reach the Host; today the Host reflects it once. :*/

/// One remembered answer of `Switcher.dataSegment(_:ring:register:)`: the question and the answer.
struct DataSegmentAnswer {
    /// The selector word from the registers page.
    var selector: UInt32
    /// The ring the Guest was entering.
    var ring: UInt8
    /// The GDT entry the selector named, all eight bytes.
    var descriptor: SegmentDescriptor
    /// The segment register loaded for it (null when refused).
    var segment: SegmentRegister
}

