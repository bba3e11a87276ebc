/*H:010 Welcome to the Host!

This is the hypervisor proper: the code that runs Guests. lguest's Host was a kernel module; ours is a
Swift library, `Host`, that owns the machine's processor while a Guest runs and gets it back whenever the
Guest traps. Everything the Guest chapter asked for with a hypercall is answered here, and every
interrupt the Guest receives is delivered from here.

The Host's first duty is to itself: the Guest is untrusted, and nothing it does may crash the Host, reach
outside its own memory, or get it to ring 0. You will see the same three moves again and again: a host
bug is a `precondition`; a Guest's misbehaviour throws `GuestViolation`, which kills the Guest with a
reason and nothing else; and a fault the Guest *should* see (a page fault in its own program) is
reflected to its own handler. The tests in `HostTests` provoke every kill on purpose and then boot
another Guest on the same Host, to show the Host none the worse.

`Host` itself is small: it owns the Switcher and a pool of frames for shadow page tables, makes Guests,
and runs them. */

import LguestABI
import Machine
import Switcher

/// A Launcher's mistake in setting up a Guest (not a Guest's misbehaviour).
public enum HostError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The machine has not enough free memory for what was asked.
    case outOfMemory(String)
    /// The configuration cannot work: `reason` says why.
    case badConfiguration(String)

    public var description: String {
        switch self {
        case let .outOfMemory(reason): "host: out of memory: \(reason)"
        case let .badConfiguration(reason): "host: bad configuration: \(reason)"
        }
    }
}

/// The hypervisor: runs Guests on one machine.
public final class Host {
    /// The machine the Host runs on.
    public let machine: Machine
    /// The world switch.
    public let switcher: Switcher
    /// Frames for shadow page tables, shared by every Guest.
    public let frames: FramePool
    /// Whether Guests' traps may go straight to their own handlers (`H:250`). Set it before running a
    /// Guest: false sends every trap through the Host, which is slower and otherwise changes nothing.
    public var directTraps = true

    /// The longest stretch of user code the Host lets run before taking the processor back, in
    /// instructions (one virtual millisecond).
    public static let timeSlice: UInt64 = 1_000_000

    /// Sets up the Host (and the Switcher) on `machine`.
    public init(machine: Machine) {
        self.machine = machine
        self.switcher = Switcher(machine: machine)
        self.frames = FramePool(memory: machine.memory)
    }

    /// Makes a Guest with `pageCount` pages of zeroed memory, running `image` from its boot entry with
    /// the page directory at guest-physical `initialPageDirectory` and the stack pointer `stack`.
    /// The Launcher fills the Guest's memory (`guest.memory`) before calling `run(_:)`.
    public func makeGuest(pageCount: UInt32, image: GuestKernelImage, initialPageDirectory: GuestPhysicalAddress,
                          stack: GuestVirtualAddress) throws(HostError) -> Guest {
        // A Launcher's mistakes are errors for the Launcher, not violations by a Guest.
        guard let entry = image.bootEntry, image.entry(at: entry) != nil else {
            throw .badConfiguration("the kernel image has no boot entry")
        }
        guard pageCount > 0, UInt64(pageCount) * UInt64(pageSize) <= UInt64(switcherAddress.rawValue - pageOffset.rawValue) else {
            throw .badConfiguration("\(pageCount) pages of guest memory")
        }
        // Guest memory is one contiguous run of host frames, plus a page for its registers.
        guard let base = machine.memory.allocateFrames(count: Int(pageCount)),
              let registers = machine.memory.allocateFrames(count: 1)
        else { throw .outOfMemory("\(pageCount) guest pages") }
        let memory = GuestMemory(physicalMemory: machine.memory, baseFrame: base, pageCount: pageCount)
        let tables: ShadowPageTables
        do {
            tables = try ShadowPageTables(guestMemory: memory, pool: frames, switcherPageTable: switcher.switcherPageTableFrame,
                                          initialDirectory: initialPageDirectory)
        } catch {
            throw .badConfiguration(error.reason)
        }
        let guest = Guest(host: self, memory: memory, image: image,
                          registerPage: RegisterPage(memory: machine.memory, frame: registers),
                          pageTables: tables, stack: stack)
        guest.setUpRegisters(entry: entry, stack: stack)
        return guest
    }
    /*:*/

    /*H:030 The run loop.

    Here is the heart of the Host, lguest's `run_guest()`. A Guest runs in a loop until it stops: get the
    Guest ready (deliver an interrupt if it can take one, sleep if it is halted), switch to it, and handle
    whatever trap brought it back. That is all a hypervisor's main loop is.

    Every `GuestViolation` thrown anywhere in handling a trap lands here, and only here: the Guest is
    killed with the violation's reason, and the loop ends. When the loop ends for any reason, the Guest's
    shadow page tables go back to the pool for the next Guest.

    Hypercalls made from the Guest kernel's Swift code do not come through this loop: they trap while the
    Guest's Swift code is on the stack, and the Switcher hands them to `handleTrapDuringKernel`, which does
    exactly what one turn of this loop does (`H:035`). The code is the same; only the stack is different.
When the loop ends, every frame the Guest held goes back: one Host can run guest after guest, for as
long as you like, on a fixed amount of RAM. */

    /// Runs `guest` until it powers off, asks to restart, or is killed, and says which.
    public func run(_ guest: Guest) -> GuestExit {
        precondition(guest.host === self, "host: guest belongs to another host")
        while guest.isAlive {
            do {
                // Interrupts, halting, the clock: everything that must happen before the switch.
                try guest.prepareToRun()
                guard guest.isAlive else { break }
                // Into the Guest and, some time later, back out with a reason.
                let trap = switcher.run(guest)
                // And answer it: a hypercall, a fault to fix or pass on, an instruction to emulate.
                try guest.handleTrap(trap)
            } catch {
                guest.kill(error.reason)
            }
        }
        // The Guest is gone: its processor, its shadow page tables, its registers page and its
        // memory go with it, back to the machine for the next Guest (`H:034`).
        switcher.forget(guest)
        guest.pageTables.release()
        guest.registerPage.release()
        guest.memory.release()
        // And the FPU's registers, which the world switch never touches (G:049): the next Guest
        // must find them as `fninit` leaves them, not full of this one's numbers.
        machine.fpu = FPUState()
        guard let exit = guest.exit else { preconditionFailure("host: loop ended with the guest alive") }
        return exit
    }
}
/*:*/

/*H:035 The same turn of the loop, from inside the Guest kernel.

`handleTrapDuringKernel(_:)` (in `Guest`) is the run loop's body for a trap that arrives while the Guest
kernel's Swift code is waiting on the stack: handle the trap, then get the Guest ready to run again.
If the Guest did not survive, it throws `GuestStopped`, and the Guest's Swift stack unwinds all the way
back to the Switcher, which reports `Trap.stopped` to the run loop above. :*/

extension Guest {
    /*H:040 Getting a Guest ready to run.

    Before each switch into the Guest the Host asks the Launcher whether to stop the Guest from outside
    (`H:042`), and then does four things:

    * run the Launcher's work that has fallen due (`H:045`);
    * raise IRQ 0 if the Guest's one-shot timer has expired (`H:205`);
    * if the Guest is halted, sleep until an interrupt can wake it: on the virtual clock, sleeping means
      jumping time forward to the timer's deadline, or to the Launcher's next piece of work. A Guest
      that halts with no timer armed, no work and nothing pending can never wake; lguest would leave
      it asleep for ever, and we kill it instead, so the Launcher is not left waiting on a Guest that
      cannot move;
    * deliver a virtual interrupt if one is pending and the Guest can take it (`H:210`).

    It also refreshes the wall clock in `lguest_data` (`P:230`). */

    /// Does what must happen before every switch into the Guest.
    func prepareToRun() throws(GuestViolation) {
        if let check = stopCheck, let reason = check() {
            stop(.stoppedFromOutside(reason))
            return
        }
        runDueWork()
        guard isAlive else { return }
        raiseExpiredTimer()
        if halted { try sleepUntilInterrupt() }
        try writeWallClock()
        try maybeDeliverInterrupt()
        report(.resume)
    }

    /// Jumps virtual time to the Guest's timer or its pending work (`H:045`), until an interrupt it
    /// can take is pending; kills a Guest that can never wake.
    func sleepUntilInterrupt() throws(GuestViolation) {
        while isAlive {
            let blocked = try blockedInterrupts()
            // Something is already waiting and unmasked: no need to sleep (any longer).
            if pendingInterrupts & ~blocked != 0 { return }
            // Otherwise only the timer (armed and not masked) or the Launcher's work can wake it.
            guard let deadline = nextWake(timerCounts: blocked & (1 << UInt32(timerIRQ)) == 0) else {
                throw GuestViolation("halt: no interrupt can ever arrive")
            }
            // Sleeping on a virtual clock is jumping it forward: nothing else happens meanwhile.
            let now = host.machine.clock.ticks
            if deadline > now {
                host.machine.advance(by: deadline - now)
                statistics.haltedNanoseconds &+= deadline - now
            }
            raiseExpiredTimer()
            runDueWork()
        }
    }

    /// Writes the wall clock into `lguest_data`: nanoseconds first, seconds last (`P:230`).
    func writeWallClock() throws(GuestViolation) {
        guard let data = lguestData else { return }
        let now = machine.clock.nanoseconds
        let seconds = bootWallClockSeconds &+ UInt32(truncatingIfNeeded: now / 1_000_000_000)
        try memory.store32(UInt32(now % 1_000_000_000), at: data.advanced(by: LguestData.timeNanoseconds))
        try memory.store32(seconds, at: data.advanced(by: LguestData.timeSeconds))
    }
}
/*:*/

/*H:042 Stopping a Guest from outside.

A Guest that never powers off would keep its Launcher running for ever, and a person who has seen
enough should be able to press Ctrl-C and get the counts so far. Neither is the Guest's doing, so
neither is a kill: the Launcher installs a `stopCheck`, and the Host asks it before every switch
into the Guest. Every way back into the Guest passes here, whether from the run loop or from a trap
taken while the Guest's Swift code is on the stack (`H:035`), and no Guest can stay away from it for
long: the Host's own timer takes the processor back at least once a virtual millisecond (`S:120`).
A "yes" stops the Guest as it stands, with the Launcher's reason, and the run loop unwinds as for
any other ending. :*/
