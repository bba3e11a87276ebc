/*G:080 A small kernel on top: processes.

lguest's Guest chapter ends once Linux is booting; Linux takes it from there. We have no Linux to hand
over to, so we finish the job with a kernel just big enough to run the project's i386 programs: it
loads them from the initial ramdisk (`G:086`), gives each its own address space (`G:084`), answers
Linux's system calls through the personality it shares with Appendix X (`G:089`, `X:877`), enough
for a static glibc program and busybox, kills a program that faults the way Linux would, with a signal (`G:092`),
lets programs open the devices the drivers offer (`G:090`), and shares the processor between programs
that sleep, yield, wait for a device or run out their time slice (`G:088`).

Its design is forced by how Swift code "at ring 1" runs (`P:400`): every entry into the kernel, be it a
system call, a fault or an interrupt, is a Swift function call that must end with `iret`, so the kernel
has one kernel stack and never blocks in the middle of a function. A system call that must wait (a
`nanosleep`, or a `read` of a disk or a console with nothing typed yet, `G:091`) marks its process
sleeping or blocked and then, on the way out, the kernel picks some other process to return to: the classic *one kernel stack per processor* design, as in the L4 microkernels. When
nobody can run, the kernel idles in `HALT`, and the timer interrupt that ends the halt runs on the
same stack, nested, before `HALT` returns.

Here is the kernel stack at its busiest: a program made a system call, the call had to wait, the kernel
halted, and the timer interrupt arrived in the middle of the `HALT` hypercall:

```
 top of the kernel stack (SET_STACK told the Host where, G:044)
 +---------------------------+
 | ss, esp, eflags, cs, eip  |  pushed by the processor for `int $0x80` from ring 3
 +---------------------------+
 | eflags, cs, eip           |  pushed by the Host for IRQ 0, over the HALT hypercall (ring 1)
 +---------------------------+  <- esp while the timer handler runs
```

The timer handler returns with `iret` to the hypercall, `HALT` returns to the idle loop, which finds a
process to run and rebuilds the top frame for it: the stack is never more than two frames deep, and the
Swift stack behind it is never more than two entry points deep either.

A process is little more than its saved registers, its page directory, its heap's break and how far
its stack has grown. */

import LguestABI
import Machine

/// One running program.
struct Process {
    /// What a process is waiting for, if anything.
    enum State: Equatable {
        case runnable
        case sleeping(until: UInt64)
        /// Waiting for a driver's interrupt to wake it (`G:091`); its system call is made again then.
        case blocked(WaitChannel)
    }

    let pid: UInt32
    let name: String
    var directory: GuestPhysicalAddress
    /// The user registers as they were when the process last entered the kernel.
    var context: GuestRegisters
    /// Where the heap starts (just past the program's segments) and where it ends now.
    let breakStart: UInt32
    var currentBreak: UInt32
    /// The lowest page of the stack mapped so far; it grows down on demand (G:093).
    var stackBottom = ProgramImage.stackTop - ProgramImage.stackPages * UInt32(pageSize)
    var state: State = .runnable
    /// What the program reads on standard input, and how much it has read.
    var input: [UInt8]
    /// The open files, by descriptor (`G:090`).
    var files: [Int: OpenFile] = [:]
    /// The page holding this process's FPU state while another process owns the FPU (`G:049`).
    /// Set when the process is created; nil only for processes made by hand in tests.
    var fpuArea: GuestPhysicalAddress? = nil
    /// What the shared Linux personality keeps for the process (`X:877`): its TLS entries, signal
    /// actions, `mmap2` cursor and random stream.
    var linux = LinuxProcessState(pid: 0)
}

/// The kernel's processes.
struct ProcessTable {
    var processes: [Process] = []
    /// The index of the process the processor is running (or last ran), if any.
    var current: Int?
    var nextPID: UInt32 = 1
    /// Set when the running process should give up the processor at its next return to user mode.
    var needsReschedule = false
    /// The pid of the process whose state the FPU holds now, if any (`G:049`).
    var fpuOwner: UInt32?
}

/*G:081 Birth and death of a process.

`spawn` is this kernel's `fork` and `exec` in one, since there is no parent to copy: find the program
in the ramdisk, load it into a fresh address space (`G:087`), give it an FPU area, and set up the
registers it will "return" to, with interrupts on. A program that cannot be started is reported on the
console and skipped, because one bad file should not stop the others. `exitCurrent` undoes it in a
careful order. The processor first switches to the kernel's own page directory, because freeing the
directory it is running on would pull the floor from under it; only then do the pages go back. */
extension GuestKernel {
    /// The process the processor is running, which must exist (a trap from user mode names it).
    var currentProcess: Process {
        // Lent in place, never copied: `currentProcess.context.eax = 0` on every system call would
        // otherwise copy the whole process, its files and its input, out and back (`G:088`). `_read`
        // and `_modify` are Swift's yielding accessors, the ones its own collections are built on; the
        // underscore only says their spelling is not final.
        _read {
            guard let index = processes.current else { preconditionFailure("guest: no current process") }
            yield processes.processes[index]
        }
        _modify {
            guard let index = processes.current else { preconditionFailure("guest: no current process") }
            yield &processes.processes[index]
        }
    }

    /// Load program `name` from the ramdisk and make it a runnable process; a program that cannot
    /// be loaded is reported on the console and skipped.
    func spawn(_ name: String) throws(GuestStopped) {
        guard let file = initrdFile(name) else {
            try printk("init: no program named \(name)\n")
            return
        }
        let pid = processes.nextPID
        var linux = LinuxProcessState(pid: pid)
        switch try load(file.bytes, name: name, linux: &linux) {
        case .failure(.malformed(let reason)):
            try printk("init: \(name): \(reason)\n")
        case .failure(.outOfMemory):
            try printk("init: \(name): out of memory\n")
        case .failure(.argumentsTooLong):
            try printk("init: \(name): argument list too long\n")
        case .success(let program):
            // Its FPU state starts as `fninit` leaves the FPU (G:049).
            guard let fpuArea = try newFPUArea() else {
                try destroyAddressSpace(program.directory)
                try printk("init: \(name): out of memory\n")
                return
            }
            // A new process "returns" to its entry point, with its stack and interrupts on.
            var context = GuestRegisters()
            context.eip = program.entry
            context.esp = program.stackPointer
            context.eflags = [.alwaysOne, .interruptEnable]
            processes.nextPID += 1
            let input = initrdFile(name + ".in")?.bytes
            processes.processes.append(Process(pid: pid, name: name, directory: program.directory, context: context,
                                               breakStart: program.initialBreak, currentBreak: program.initialBreak,
                                               input: input ?? [], files: standardFiles(hasInput: input != nil),
                                               fpuArea: fpuArea, linux: linux))
            statistics.programsStarted += 1
        }
    }

    /// End the current process: free its memory and forget it. `status` is what a parent would see
    /// (the exit status, or 128 + the signal for a program that was killed).
    func exitCurrent(status: UInt32, reason: String) throws(GuestStopped) {
        let process = currentProcess
        closeAllFiles()
        try printk("[\(process.name) (pid \(process.pid)) \(reason)]\n")
        // Never free the directory the processor is using: go back to the kernel's first.
        try pvOps.writeCR3(self, kernelPageDirectory)
        try destroyAddressSpace(process.directory)
        // Its FPU state dies with it, whether in its area or in the FPU itself.
        if let area = process.fpuArea { pages.release(area) }
        if processes.fpuOwner == process.pid { processes.fpuOwner = nil }
        if let index = processes.current { processes.processes.remove(at: index) }
        processes.current = nil
        lastExitStatus = status
    }
}
/*:*/

/*G:088 Scheduling, sleeping and idling.

Every return to user mode goes through `exitToUser()`, which decides whom to return to. Round robin:
the next runnable process after the current one. If nobody is runnable but someone sleeps or waits for
a device, the kernel idles in `HALT` until an interrupt wakes one: the timer for a sleeper, a device's
interrupt for a process blocked on it (`G:091`). If nobody exists at all, the next group of programs
named on the command line starts; and when there are none left, the kernel powers the machine off.

Switching to a process is Linux's context switch in miniature: load its page directory (`writeCR3`,
`G:040`) and its thread-local storage (`G:034`), and set cr0's TS bit so that the first floating-point
instruction the new process runs traps and the kernel can switch FPU state lazily (`G:049`; TS is
cleared instead for the process whose state the FPU still holds). All three
go through the async ring inside a lazy section, and the section's end flushes them with one world
switch. Then build the frame that `iret` pops to
get back to ring 3, at the top of the kernel stack where the processor put the frame we entered by,
restore the process's registers, and take the iret path of `G:045`.

The lazy section earns its keep here more than anywhere: without it a context switch is three
synchronous hypercalls, with it one, and a busy system switches hundreds of times a second.

The rest of `resume()` runs on the way out of every system call, switch or no switch, so it copies
nothing it need not: `currentProcess` lends the process in place rather than copying it (with its
open files and its input) out and back, and the five words of the frame go out as words (`S:236`).
Those two, with the processor fetched once (`G:012`) and a few copies spared in the Switcher
(`S:105`), took a Guest's system call from 1,850 ns to about 710 ns (`H:250`).

This is where an interrupt does real work, and it is worth following one through. A program reads
the console; nothing has been typed; the console driver posts a buffer, kicks, and answers "wait"
(`D:164`). The process is marked blocked, its eip wound back over its `int $0x80`, and `exitToUser()`
runs another program, or, with nobody else, halts. Some time later the Launcher fills the buffer and
raises the console's IRQ. The Host delivers it, in the middle of the `HALT` hypercall or of whatever
the other program was doing; the driver's handler walks the used ring, keeps the bytes, and wakes the
channel; the blocked process is runnable again. When it next runs it makes the same `read`, which
now finds the bytes waiting. Nobody polled, and the processor did other work, or slept, in between.

Time slices come from the one-shot clock event: when another process is waiting to run, the kernel
arms the timer for `timeSlice` before it returns to user mode, and a timer interrupt that arrives from
user mode asks for a reschedule. Sleepers are woken by the same interrupt; the clock is always armed
for the earliest of them. */

extension GuestKernel {
    /// Leave the kernel for user mode, in whichever process should run next; power off when no
    /// program is left. Returns after the `iret`: the caller must return at once.
    func exitToUser() throws(GuestStopped) {
        while true {
            // Somebody to run: go.
            if let next = nextRunnable() {
                try resume(next)
                return
            }
            // Somebody asleep: wait for the timer to wake them.
            if processes.processes.contains(where: { $0.state != .runnable }) {
                try idle()
                continue
            }
            // Nobody at all: start the next group of programs.
            if !runQueue.isEmpty {
                for name in runQueue.removeFirst() { try spawn(name) }
                continue
            }
            try printk("All programs finished; powering off.\n")
            try LguestPlatform.powerOff(self)
        }
    }

    /// The index of the next runnable process, round robin after the current one.
    func nextRunnable() -> Int? {
        // Start at the current process, or just after it when it should give way.
        let table = processes.processes
        guard !table.isEmpty else { return nil }
        let start = processes.needsReschedule ? (processes.current ?? -1) + 1 : (processes.current ?? 0)
        processes.needsReschedule = false
        for step in 0..<table.count {
            let index = (start + step) % table.count
            if table[index].state == .runnable { return index }
        }
        return nil
    }

    /// Nothing can run: halt until an interrupt (the timer, for a sleeper) has been handled.
    func idle() throws(GuestStopped) {
        try irqDisable()
        try pvOps.safeHalt(self)
    }

    /// Switch to process `index` and return to its user mode.
    func resume(_ index: Int) throws(GuestStopped) {
        // Interrupts off until the iret, as every kernel's return path has them: an interrupt now
        // would push its frame onto the stack we are about to rebuild. The iret path turns them
        // back on from the frame (G:045).
        try irqDisable()
        // A different process, or the same one after the kernel borrowed its own directory: switch.
        let switching = processes.current != index
        processes.current = index
        let loaded = try pvOps.readCR3(self)
        if switching || loaded != currentProcess.directory {
            let process = currentProcess
            try lazySection { () throws(GuestStopped) in
                try pvOps.writeCR3(self, process.directory)
                try loadProcessTLS(process)
                // Lazy FPU switching: the next floating-point instruction traps (G:049). Or, with
                // lazy switching off, the FPU changes hands now, used or not.
                if configuration.lazyFPU {
                    // A process that still owns the FPU finds its state there: no trap needed.
                    var cr0 = try pvOps.readCR0(self)
                    if processes.fpuOwner == process.pid { cr0.remove(.taskSwitched) } else { cr0.insert(.taskSwitched) }
                    try pvOps.writeCR0(self, cr0)
                } else {
                    try giveFPU(to: index)
                }
            }
        }
        try armTimeSlice()
        // The frame iret pops for a return to ring 3: eip, cs, eflags, esp, ss.
        let top = linear(layout.stackTop).rawValue
        let context = currentProcess.context
        let eflags = context.eflags.union([.alwaysOne, .interruptEnable])
        // Five words in place, never an array, and the processor fetched once for the three uses
        // below: this runs on every system call's way out (`S:236`, `G:012`).
        let frame: InlineArray<5, UInt32> = [context.eip, UInt32(GDTLayout.userCodeSelector.rawValue),
                                             eflags.rawValue, context.esp, UInt32(GDTLayout.userDataSelector.rawValue)]
        let cpu = self.cpu
        try cpu.storeWords(frame, at: GuestVirtualAddress(top &- 20))
        // The program's registers, but the kernel's own eip and flags until the iret pops the frame.
        let kernel = cpu.registers
        var registers = context
        registers.esp = top &- 20
        registers.eip = kernel.eip
        registers.eflags = kernel.eflags
        cpu.registers = registers
        try pvOps.iret(self)
    }

    /// Arm the timer for a time slice if another process waits to run and no earlier event is armed.
    func armTimeSlice() throws(GuestStopped) {
        // Alone on the processor: no slice needed, and no timer interrupt to pay for.
        let table = processes.processes
        let others = table.indices.contains { $0 != processes.current && table[$0].state == .runnable }
        guard others else { return }
        let deadline = try now() &+ UInt64(configuration.timeSlice)
        if let armed = clock.armedDeadline, armed <= deadline { return }
        try LguestTime.setNextEvent(self, delta: UInt64(configuration.timeSlice))
    }

    /// The timer interrupt: wake sleepers whose time has come, re-arm for the next, and ask for a
    /// reschedule so a waiting process gets its turn.
    func timerInterrupt() throws(GuestStopped) {
        statistics.timerInterrupts += 1
        // The event was one-shot: nothing is armed any more.
        clock.armedDeadline = nil
        let time = try now()
        var earliest: UInt64?
        for index in processes.processes.indices {
            guard case .sleeping(let until) = processes.processes[index].state else { continue }
            if until <= time {
                processes.processes[index].state = .runnable
            } else {
                earliest = min(earliest ?? until, until)
            }
        }
        // Sleepers still waiting: the next alarm is for the earliest of them.
        if let earliest { try LguestTime.setNextEvent(self, delta: earliest - time) }
        processes.needsReschedule = true
    }
}
/*:*/

/// The offset in the scratch page where a process's three TLS descriptors are put for LOAD_TLS (`G:099`).
let tlsOffset: UInt32 = 0x800

/// The four bytes of `value`, least significant first.
func littleEndianBytes(_ value: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/*M:040 Where the small kernel could go next.

The kernel of `G:080` does just enough, and each thing it leaves out is a good exercise, because each
meets lguest somewhere interesting:

* *`fork` with copy-on-write.* Marking a parent's pages read-only and sharing them with its child is
  a burst of `SET_PTE` calls (batch them in a lazy section), and the first write to each shared page is
  a user page fault the Host must reflect to us, like the stack's (`G:093`); the original's Mastery
  chapter has a story about a stale copy-on-write page that is worth reading first.
* *Signals with handlers.* Today a fault ends a program; delivering a signal means building a frame on
  the user's stack and returning to a handler, the same dance as `resume()` with a different frame.
* *A pipe.* The blocking of `G:091` is all a pipe needs: a reader waits on a channel until a writer
  has put bytes in a page of kernel memory, and wakes it. Two programs joined by one (`cat`, reading
  what another prints) would make the shell's most famous trick run on our kernel.
* *Tickless idle that is really tickless.* The kernel only arms the timer when someone sleeps or two
  programs share the processor; a kernel with timers of its own (alarms, timeouts) needs a sorted
  queue and the same one-shot clock event. :*/
