/*G:092 Entering the kernel: traps, faults and interrupts.

Every vector's entry point leads here, to `enter(vector:)`. What the processor left on the kernel stack
tells us where we came from:

```
 from user mode (ring 3)         from the kernel (ring 1)
 +--------------------+           +--------------------+
 | error code (some)  | <- esp    | error code (some)  | <- esp
 | eip                |           | eip                |
 | cs  (RPL 3)        |           | cs  (RPL 1)        |
 | eflags             |           | eflags             |
 | esp                |           +--------------------+
 | ss                 |
 +--------------------+ <- top of the kernel stack
```

Only vectors 8, 10-14 and 17 push an error code, and only the processor knows which vector it was, so
each vector has an entry point of its own.

Coming from user mode, the first thing we do is save the program's registers, because they are about
to be clobbered by our own hypercalls; on the way out, `exitToUser()` restores whichever program runs
next. Coming from the kernel, the interrupted code is some hypercall or memory access of ours, whose
registers the Switcher saves and restores around us (`P:400`); we handle the interrupt and `iret`.

Faults are where the three levels of failure part ways. A program that faults is killed, with the
signal Linux would send it (a page fault or protection fault is `SIGSEGV`, a divide error `SIGFPE`, an
invalid opcode `SIGILL`), and the kernel carries on. A fault inside the kernel is a kernel bug: we panic,
and the Host is told why. The Host's own bugs never reach us at all. */

import LguestABI
import Machine

/// The signals a program can die of, with Linux's numbers (`signal(7)`). A killed program's status
/// is 128 plus the number, as a shell would report it.
enum Signal: UInt32 {
    case illegalInstruction = 4, trap = 5, bus = 7, floatingPoint = 8, segmentationFault = 11

    var name: String {
        switch self {
        case .illegalInstruction: "SIGILL"
        case .trap: "SIGTRAP"
        case .bus: "SIGBUS"
        case .floatingPoint: "SIGFPE"
        case .segmentationFault: "SIGSEGV"
        }
    }
}

/// The interrupt frame as the processor pushed it.
struct TrapFrame {
    /// The error code, for the vectors that push one.
    var errorCode: UInt32?
    /// Where the interrupted code was: the instruction to retry (a fault) or the next one (a trap).
    var eip: UInt32
    /// The interrupted code segment; its RPL says which ring was interrupted.
    var cs: SegmentSelector
    /// The interrupted flags.
    var eflags: UInt32
    /// The interrupted stack pointer and segment, pushed only on a switch from user mode.
    var userStack: (esp: UInt32, ss: UInt32)?

    /// Whether the interrupted code was a program.
    var fromUser: Bool { cs.rpl == guestUserRing }
}

extension GuestKernel {
    /// The entry point of every vector: save, handle, and leave by `exitToUser()` or `iret`. Every path
    /// ends in an `iret`, as the Switcher requires (`P:400`).
    func enter(vector: UInt8) throws(GuestStopped) {
        let registers = cpu.registers
        let frame = try readTrapFrame(vector: vector, at: registers.esp)
        // From user mode: save the program's registers before our own hypercalls clobber them.
        if frame.fromUser {
            guard processes.current != nil else {
                try LguestPlatform.panic(self, "trap \(vector) from user mode with no process")
            }
            var context = registers
            context.eip = frame.eip
            context.eflags = EFLAGS(rawValue: frame.eflags)
            context.esp = frame.userStack?.esp ?? 0
            currentProcess.context = context
        }
        // What arrived: a system call (only a program may make one), an IRQ, or an exception.
        switch vector {
        case systemCallVector where frame.fromUser:
            try systemCall()
        case firstExternalVector...:
            try handleIRQ(vector: vector)
        default:
            try handleException(vector: vector, frame: frame)
        }
        // Back to user mode, perhaps in another process; or back to the kernel code we interrupted.
        if frame.fromUser {
            try exitToUser()
        } else {
            // Pop the error code, if any, so that esp points at eip for the iret.
            if frame.errorCode != nil { cpu.registers.esp = registers.esp &+ 4 }
            try pvOps.iret(self)
        }
    }

    /// Decode the frame at `esp` for `vector`. The frame's cs is what the processor pushed, or what the
    /// Host pushed on its behalf: both are trusted, since the Host checks what it delivers.
    func readTrapFrame(vector: UInt8, at esp: UInt32) throws(GuestStopped) -> TrapFrame {
        // The frame is on our own kernel stack, which the Host keeps mapped (G:044), so these reads
        // cannot fault. The processor is fetched once for all of them: every use of `cpu` counts a
        // reference up and down, and this runs on every trap (`G:012`).
        let cpu = self.cpu
        var cursor = GuestVirtualAddress(esp)
        var errorCode: UInt32?
        if vectorPushesErrorCode(vector) {
            errorCode = try cpu.load32(cursor)
            cursor = cursor &+ 4
        }
        let eip = try cpu.load32(cursor)
        let cs = SegmentSelector(rawValue: UInt16(truncatingIfNeeded: try cpu.load32(cursor &+ 4)))
        let eflags = try cpu.load32(cursor &+ 8)
        var frame = TrapFrame(errorCode: errorCode, eip: eip, cs: cs, eflags: eflags)
        if frame.fromUser {
            frame.userStack = (try cpu.load32(cursor &+ 12), try cpu.load32(cursor &+ 16))
        }
        return frame
    }

    /// A processor exception: a lazy FPU switch, a stack to grow, or else the end of the program that
    /// caused it, or a panic if the kernel did.
    func handleException(vector: UInt8, frame: TrapFrame) throws(GuestStopped) {
        let exception = ExceptionVector(rawValue: vector)
        // Not every exception is a program's mistake: the kernel asked for the first two.
        if exception == .deviceNotAvailable, frame.fromUser {
            // The lazy FPU switch of G:049: the FPU changes hands, and the instruction runs again.
            try deviceNotAvailable()
            return
        }
        if exception == .pageFault, frame.fromUser, try growStack(errorCode: frame.errorCode ?? 0) {
            return
        }
        var detail = "\(exception.map { "\($0)" } ?? "vector \(vector)") at eip \(hex(frame.eip))"
        if exception == .pageFault {
            detail += ", address \(hex(try pvOps.readCR2(self).rawValue)), error \(frame.errorCode ?? 0)"
        }
        // The kernel's own fault: a bug, and nothing can be trusted after it.
        guard frame.fromUser else {
            try LguestPlatform.panic(self, "\(detail) in the kernel")
        }
        // A program's fault: the signal Linux would send, and with no handlers, the end of it.
        let signal: Signal = switch exception {
        case .divideError, .floatingPoint, .simdFloatingPoint: .floatingPoint
        case .invalidOpcode: .illegalInstruction
        case .breakpoint, .debug: .trap
        case .alignmentCheck: .bus
        default: .segmentationFault
        }
        // No signal handlers: the signal ends the program, and the reason goes on the console.
        statistics.programsKilled += 1
        try exitCurrent(status: 128 + signal.rawValue, reason: "killed by \(signal.name): \(detail)")
    }
}
/*:*/

/*G:093 A stack that grows.

A program's stack starts small, four pages, and grows the way Linux grows it: on demand. When a
program pushes past the bottom of its stack, the processor raises a page fault for an address with no
mapping. The Host finds no entry in our page tables either, so it cannot fix the fault itself and
reflects it to us (`H:220`), with the address in `lguest_data.cr2`. If the address lies in the region
the stack may grow into (8 MiB below the top, and above the heap), we map fresh zeroed pages down to
it and return; the processor tries the instruction again, and this time the Host finds our entry and
builds its shadow. Anything else is a real fault, and the program dies of it.

This is the guest page fault the original's benchmarks cared about: it costs two round trips to the
Host, one to reflect the fault to us and one, after our `SET_PTE`, to build the shadow entry. */

extension GuestKernel {
    /// Handle a user page fault that is the stack growing; false if it is not (or memory ran out, in
    /// which case the program dies of the fault, as a Linux program whose stack cannot grow does).
    func growStack(errorCode: UInt32) throws(GuestStopped) -> Bool {
        let address = try pvOps.readCR2(self).rawValue
        let process = currentProcess
        // Only a missing page (error bit 0 clear), in the stack's region, above the heap.
        guard errorCode & 1 == 0, address >= ProgramImage.stackLimit, address < process.stackBottom,
              address >= process.currentBreak &+ UInt32(pageSize) else { return false }
        let target = address & ~UInt32(pageSize - 1)
        let grown = try lazySection { () throws(GuestStopped) -> Bool in
            var page = process.stackBottom
            while page > target {
                page -= UInt32(pageSize)
                guard let frame = pages.allocate() else { return false }
                try zeroPage(frame)
                guard try mapUserPage(process.directory, GuestVirtualAddress(page), frame: frame, writable: true) else {
                    pages.release(frame)
                    return false
                }
                currentProcess.stackBottom = page
            }
            return true
        }
        return grown
    }
}
/*:*/

/*G:049 Lazy FPU switching.

Each process has its own FPU: its own eight registers, its own rounding mode, its own pending
exceptions. A process switch must therefore also switch the FPU's 108 bytes of state, and saving and
loading them on every switch is the obvious way. It is also wasteful, because most processes never
touch the FPU at all, and a process that computes in floating point while the others only wait for I/O
would have its state saved and reloaded for nothing, again and again.

The i386 offers a better way, and lguest was built to let its Guest use it, exactly as Linux does on
bare hardware. On a switch, `resume()` only sets cr0's TS bit, with the `TS` hypercall (`G:040`), and
leaves the old process's numbers in the FPU. Nothing else happens until somebody executes an FPU
instruction. Then the processor raises #NM ("device not available") instead; the Host sees a trap the
Guest asked for and reflects it (`H:220`); and `deviceNotAvailable()` below clears TS (`clts`, the same
hypercall), saves the state of the process that *owns* the FPU into that process's save area, loads
the current process's, notes the new owner, and returns to the faulting instruction, which now runs.

Three things make this cheap:

* A process that never uses the FPU costs nothing beyond the TS hypercall, which rides along in the
  lazy section of the switch at no extra world switch (`G:035`).
* If the process coming back still owns the FPU (the others in between did not touch it), `resume()`
  clears TS instead of setting it, as Linux does when a task's registers are still loaded: no trap, no
  save, no load, and the process computes at once.
* The saves and loads are `fxsave` and `fxrstor`, executed by the kernel itself at ring 1 (`S:245`):
  unprivileged instructions that need no Host at all, into a page of the process's own (`fpuArea`).

The Host's part is to leave the FPU alone. Its world switch swaps the CPU's registers but not the FPU's
(the Machine keeps those beside the CPU state, `X:610`), so whatever the Guest loaded stays loaded
across every trap, hypercall and interrupt, until the Guest itself moves it.

Each process's area starts as the state `fninit` gives: control word 0x037F, nothing on the stack,
written once when the process is created. `GuestConfiguration.lazyFPU` turns the whole scheme off, so
that `giveFPU(to:)` runs on every switch instead, and lguest-bench measures the difference
(BENCHMARKS.md, "Lazy FPU switching"). With one FPU user beside a process that never computes in
floating point, 4,000 switches cost the lazy kernel one trap and one restore in all, and the eager
kernel 8,000 saves and restores. With two FPU users taking turns, every switch must move the state
either way, and lazy switching adds a trap and a `clts` hypercall, two world switches, to each one.
On this machine a save or a restore costs about 0.5 µs (Swift copying 512 bytes through the MMU) and
a trap with its `clts` about 3.6 µs, so there lazy switching loses clearly; the same arithmetic, with `xsaveopt` making saves cheap and traps staying
dear, is why Linux itself gave up lazy FPU switching on x86 in 2016. lguest's Guest was written when
the balance lay the other way. */

extension GuestKernel {
    /// #NM from a program: clear TS and give the FPU to the current process (`G:049`).
    func deviceNotAvailable() throws(GuestStopped) {
        statistics.fpuTraps += 1
        try pvOps.clts(self)
        guard let index = processes.current else { try LguestPlatform.panic(self, "#NM with no process") }
        try giveFPU(to: index)
    }

    /// Make the FPU hold process `index`'s state: save the owner's into its area, load this one's.
    func giveFPU(to index: Int) throws(GuestStopped) {
        let process = processes.processes[index]
        guard processes.fpuOwner != process.pid else { return }
        if let owner = processes.fpuOwner, let previous = processes.processes.first(where: { $0.pid == owner }),
           let area = previous.fpuArea {
            try cpu.saveFPU(.fxsave, at: linear(area))
            statistics.fpuSaves += 1
        }
        guard let area = process.fpuArea else { try LguestPlatform.panic(self, "process \(process.pid) has no FPU area") }
        try cpu.restoreFPU(.fxsave, from: linear(area))
        statistics.fpuRestores += 1
        processes.fpuOwner = process.pid
    }

    /// A fresh page holding the FXSAVE image of an initialized FPU, or nil when memory is out.
    func newFPUArea() throws(GuestStopped) -> GuestPhysicalAddress? {
        guard let frame = pages.allocate() else { return nil }
        try zeroPage(frame)
        // All else zero: status 0, every register empty (abridged tag 0), no pointers.
        try cpu.store16(FPUControlWord.initial.rawValue, at: linear(frame))
        return frame
    }
}
/*:*/
