/*G:089 System calls.

A program asks its kernel for something the way our kernel asks the Host: a number in eax, arguments
in ebx, ecx and edx, and a trap, `int $0x80`, with the answer coming back in eax. That trap never goes
near the Host: our IDT gate for vector 0x80 is a trap gate the Host copies as a *direct trap*
(`H:240`), so the processor goes straight from the program to our handler at ring 1, as fast as on
metal. lguest measured this at 270 ns against 1750 ns for the trip through the Host.

The answers come from the Linux personality this kernel shares with the stand-in kernel of
Appendix X (`X:877`): one dispatcher for both, so a program cannot tell them apart. The kernel's own
part is what the personality asks of it (`GuestPersonality`): its processes' memory, their files, their
page tables, the scheduler. Here are the calls whose work is the kernel's, with Linux's numbers and
Linux's errors, a negative errno in eax; the personality adds the rest a static glibc program needs
(`G:098`, `G:099`).

| call | number | what it does here |
| ---- | ------ | ----------------- |
| `exit` | 1 | end the program with a status |
| `read` | 3 | an open file (`G:090`): standard input is the program's `.in` file from the ramdisk if it has one, else the console |
| `write` | 4 | an open file: standard output and error are the console |
| `open` | 5 | `/dev/console`, the devices drivers registered (`/dev/vda`, `/dev/hwrng`), and the ramdisk's files (`G:094`) |
| `close` | 6 | forget a descriptor |
| `lseek` | 19 | move in a disk (or a redirected standard input); `ESPIPE` on a stream |
| `getpid` | 20 | the process id |
| `brk` | 45 | move the end of the heap; returns the new end, or the old one on failure |
| `reboot` | 88 | power the Guest off, or restart it (with Linux's magic numbers) |
| `fsync` | 118 | make a disk's writes durable: a flush request, when the disk has a cache to flush |
| `_llseek` | 140 | `lseek` with a 64-bit offset and result, for disks past 2 GiB |
| `sched_yield` | 158 | let another process run |
| `nanosleep` | 162 | sleep on the virtual clock |

The personality answers the rest itself, from the process's memory and the little it keeps per
process, and these are what let an unmodified static glibc program, or Debian's busybox, start and
run here (`X:896`–`X:898`, `G:094`, `G:099`):

| calls | numbers |
| ----- | ------- |
| `exit_group`, `set_tid_address`, `set_robust_list`, `rseq` (`ENOSYS`, as glibc allows) | 252, 258, 311, 386 |
| `set_thread_area`, `get_thread_area`: thread-local storage through `LOAD_TLS` | 243, 244 |
| `mmap2`, `munmap`, `mprotect`: anonymous memory | 192, 91, 125 |
| `uname`, `ugetrlimit`, `readlink` of `/proc/self/exe`, `getrandom` (deterministic) | 122, 191, 85, 355 |
| `clock_gettime`, `clock_gettime64`, `gettimeofday`: the virtual clock | 265, 403, 78 |
| `clock_nanosleep`, `clock_nanosleep_time64`: glibc's `nanosleep()`, on the virtual clock | 267, 407 |
| `getuid32` and friends (root), `getppid`, `gettid` | 199-202, 24, 47, 49, 50, 64, 224 |
| `ioctl` (`TCGETS`, `TIOCGWINSZ` on the console), `writev` | 54, 146 |
| `open`, `openat`, `getdents64`, `stat64`, `lstat64`, `fstat64`, `fstatat64` on the ramdisk's root | 5, 295, 220, 195-197, 300 |
| `rt_sigaction`, `rt_sigprocmask`: recorded, as start-up needs | 174, 175 |

Anything else is `ENOSYS`, counted in `guest.unknown_system_calls` for `--stats`.

`reboot` is how a program reaches the last of lguest's replacements: power-off and restart
(`G:044`). Linux guards it with two magic numbers, so that a stray call cannot take the machine down,
and so do we.

Every pointer a program passes is checked against its page tables before the kernel touches the
memory behind it (`G:084`): a bad one is `EFAULT`, never a kernel fault. So is every count: a `write`
of 0x7FFFFFFF bytes from a buffer that ends after one page fails cleanly at the end of the page, and
a negative count (the top bit set, as a C `size_t` sees a negative int) fails at once.

These are also the calls the project's programs use, and each of them runs identically here and on
a real Linux, byte for byte and exit status for exit status, as the Machine's differential test checks
for its own stand-in kernel. Where our answers could differ from Linux's they are chosen not to: the pid is
whatever it is, but programs print "getpid ok", not the number. */

import LguestABI
import Machine

/// The arguments `reboot` insists on (`LINUX_REBOOT_MAGIC1`, `LINUX_REBOOT_MAGIC2`) and the commands
/// it understands (`LINUX_REBOOT_CMD_RESTART`, `LINUX_REBOOT_CMD_POWER_OFF`).
enum RebootCommand: UInt32 {
    static let magic1: UInt32 = 0xFEE1_DEAD
    static let magic2: UInt32 = 672_274_793
    case restart = 0x0123_4567
    case powerOff = 0x4321_FEDC
}

extension GuestKernel {
    /// Handle the system call in the current process's saved registers, leaving the result in its eax
    /// (a non-negative answer, or a negated errno): the shared personality decides (`X:879`).
    func systemCall() throws(GuestStopped) {
        // The arguments are the registers the program trapped with, saved on entry (G:092).
        let c = currentProcess.context
        statistics.systemCalls += 1
        let arguments = SystemCallArguments(ebx: c.ebx, ecx: c.ecx, edx: c.edx, esi: c.esi, edi: c.edi, ebp: c.ebp)
        // A result goes back in eax when the process next runs, which for all but nanosleep and a
        // blocked call is straight away; a blocked call is made again when its process is woken
        // (G:091), and an exit leaves no process to answer.
        if case .result(let result) = try GuestPersonality(kernel: self).performSystemCall(c.eax, arguments) {
            currentProcess.context.eax = result
        }
    }

    /// The highest break allowed: one unmapped guard page below the stack's limit, so that a heap
    /// grown to the limit and a stack grown to its own can never touch.
    var breakLimit: UInt32 { ProgramImage.stackLimit - UInt32(pageSize) }

    /// Move the break to `requested`; return the break as it now is (unchanged on failure, as Linux).
    func sysBrk(_ requested: UInt32) throws(GuestStopped) -> UInt32 {
        let process = currentProcess
        guard requested >= process.breakStart, requested <= breakLimit else { return process.currentBreak }
        // The break moves by bytes, memory by pages: only whole pages between the old and the new
        // rounded-up break are mapped or unmapped.
        let page = UInt32(pageSize)
        let oldTop = (process.currentBreak + page - 1) & ~(page - 1)
        let newTop = (requested + page - 1) & ~(page - 1)
        let moved = try lazySection { () throws(GuestStopped) -> Bool in
            // Growing: fresh zeroed pages. A failure part-way leaves the extra pages mapped but
            // unused; they go back with the rest of the address space when the process exits.
            for address in stride(from: oldTop, to: newTop, by: Int(page)) {
                guard let frame = pages.allocate() else { return false }
                try zeroPage(frame)
                guard try mapUserPage(process.directory, GuestVirtualAddress(address), frame: frame, writable: true) else {
                    pages.release(frame)
                    return false
                }
            }
            // Shrinking: unmap, which tells the Host, and free.
            for address in stride(from: newTop, to: oldTop, by: Int(page)) {
                if let frame = try unmapUserPage(process.directory, GuestVirtualAddress(address)) { pages.release(frame) }
            }
            return true
        }
        if moved { currentProcess.currentBreak = requested }
        return currentProcess.currentBreak
    }

    /// `reboot(magic1, magic2, command)`: power off or restart the whole Guest; never returns when the
    /// magic and the command are right, and is `EINVAL` otherwise.
    func sysReboot(magic1: UInt32, magic2: UInt32, command: UInt32) throws(GuestStopped) -> UInt32 {
        guard magic1 == RebootCommand.magic1, magic2 == RebootCommand.magic2,
              let command = RebootCommand(rawValue: command) else { return Errno.invalidArgument.returnValue }
        try printk("[\(currentProcess.name) (pid \(currentProcess.pid)) asked to \(command == .restart ? "restart" : "power off")]\n")
        switch command {
        case .restart: try LguestPlatform.restart(self, reason: "Restart requested by \(currentProcess.name)")
        case .powerOff: try LguestPlatform.powerOff(self)
        }
    }

    /// Sleep `duration` nanoseconds on the virtual clock (`nanosleep`, whose request the shared
    /// `nanosleep()` has checked). Sleeps are never interrupted (there are no signals), so the
    /// remainder is never written.
    func sysSleep(_ duration: UInt64) throws(GuestStopped) -> UInt32 {
        guard duration > 0 else { return 0 }
        // Mark the process asleep and make sure the alarm goes off in time for it; the timer
        // interrupt wakes it (G:088). The answer, 0, waits in its registers until then.
        let until = try now() &+ duration
        currentProcess.state = .sleeping(until: until)
        if clock.armedDeadline.map({ $0 > until }) ?? true {
            try LguestTime.setNextEvent(self, delta: duration)
        }
        return 0
    }
}
/*:*/
