/*G:089 System calls.

A program asks its kernel for something the way our kernel asks the Host: a number in eax, arguments
in ebx, ecx and edx, and a trap, `int $0x80`, with the answer coming back in eax. That trap never goes
near the Host: our IDT gate for vector 0x80 is a trap gate the Host copies as a *direct trap*
(`H:240`), so the processor goes straight from the program to our handler at ring 1, as fast as on
metal. lguest measured this at 270 ns against 1750 ns for the trip through the Host.

We offer Linux's numbers for thirteen calls, and Linux's errors: a negative errno in eax.

| call | number | what it does here |
| ---- | ------ | ----------------- |
| `exit` | 1 | end the program with a status |
| `read` | 3 | an open file (`G:090`): standard input is the program's `.in` file from the ramdisk if it has one, else the console |
| `write` | 4 | an open file: standard output and error are the console |
| `open` | 5 | `/dev/console`, and the devices drivers registered (`/dev/vda`, `/dev/hwrng`) |
| `close` | 6 | forget a descriptor |
| `lseek` | 19 | move in a disk (or a redirected standard input); `ESPIPE` on a stream |
| `getpid` | 20 | the process id |
| `brk` | 45 | move the end of the heap; returns the new end, or the old one on failure |
| `reboot` | 88 | power the Guest off, or restart it (with Linux's magic numbers) |
| `fsync` | 118 | make a disk's writes durable: a flush request, when the disk has a cache to flush |
| `_llseek` | 140 | `lseek` with a 64-bit offset and result, for disks past 2 GiB |
| `sched_yield` | 158 | let another process run |
| `nanosleep` | 162 | sleep on the virtual clock |

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

/// Linux's i386 system call numbers for the calls this kernel offers (`arch/x86/entry/syscalls/
/// syscall_32.tbl` in today's Linux, `unistd_32.h` in lguest's day).
enum SystemCall: UInt32 {
    case exit = 1, read = 3, write = 4, open = 5, close = 6, lseek = 19, getpid = 20, brk = 45, reboot = 88
    case fsync = 118, llseek = 140, schedYield = 158, nanosleep = 162
}

/// The arguments `reboot` insists on (`LINUX_REBOOT_MAGIC1`, `LINUX_REBOOT_MAGIC2`) and the commands
/// it understands (`LINUX_REBOOT_CMD_RESTART`, `LINUX_REBOOT_CMD_POWER_OFF`).
enum RebootCommand: UInt32 {
    static let magic1: UInt32 = 0xFEE1_DEAD
    static let magic2: UInt32 = 672_274_793
    case restart = 0x0123_4567
    case powerOff = 0x4321_FEDC
}

/// Linux's error numbers, returned negated in eax (`errno(3)`). A C library turns -n into -1 and
/// sets `errno`; our programs have no C library and look at eax themselves.
enum Errno: UInt32, Error {
    case noEntry = 2             // ENOENT
    case ioError = 5             // EIO
    case badFileDescriptor = 9   // EBADF
    case fault = 14              // EFAULT
    case invalidArgument = 22    // EINVAL
    case tooManyFiles = 24       // EMFILE
    case noSpace = 28            // ENOSPC
    case illegalSeek = 29        // ESPIPE
    case readOnlyFileSystem = 30 // EROFS
    case nameTooLong = 36        // ENAMETOOLONG
    case noSuchCall = 38         // ENOSYS
    case overflow = 75           // EOVERFLOW

    /// The value eax carries back: -errno.
    var returnValue: UInt32 { 0 &- rawValue }
}

extension GuestKernel {
    /// Handle the system call in the current process's saved registers, leaving the result in its eax
    /// (a non-negative answer, or a negated errno).
    func systemCall() throws(GuestStopped) {
        // The arguments are the registers the program trapped with, saved on entry (G:092).
        let context = currentProcess.context
        guard let call = SystemCall(rawValue: context.eax) else {
            currentProcess.context.eax = Errno.noSuchCall.returnValue
            return
        }
        statistics.systemCalls += 1
        let result: UInt32?
        switch call {
        case .exit:
            // The only call that does not return: there is no process left to return to.
            try exitCurrent(status: context.ebx & 0xFF, reason: "exited with status \(context.ebx & 0xFF)")
            statistics.programsExited += 1
            return
        // The rest answer at once, or (nil) block the process until a driver wakes it, when the call
        // is made again (G:091); a result goes back in eax when the process next runs, which for all
        // but nanosleep and a blocked call is straight away.
        case .read: result = try sysRead(fd: context.ebx, buffer: context.ecx, count: context.edx)
        case .write: result = try sysWrite(fd: context.ebx, buffer: context.ecx, count: context.edx)
        case .open: result = try sysOpen(path: context.ebx, flags: context.ecx)
        case .close: result = sysClose(fd: context.ebx)
        case .fsync: result = try sysFsync(fd: context.ebx)
        case .lseek: result = sysLseek(fd: context.ebx, offset: context.ecx, whence: context.edx)
        case .llseek:
            result = try sysLlseek(fd: context.ebx, high: context.ecx, low: context.edx, result: context.esi,
                                   whence: context.edi)
        case .getpid: result = currentProcess.pid
        case .brk: result = try sysBrk(context.ebx)
        case .schedYield:
            // Nothing to do now: exitToUser() will pick the next process on the way out.
            processes.needsReschedule = true
            result = 0
        case .nanosleep: result = try sysNanosleep(context.ebx)
        case .reboot: result = try sysReboot(magic1: context.ebx, magic2: context.ecx, command: context.edx)
        }
        if let result { currentProcess.context.eax = result }
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

    /// `nanosleep(request, remainder)`: sleep on the virtual clock. Sleeps are never interrupted
    /// (there are no signals), so the remainder is never written.
    func sysNanosleep(_ request: UInt32) throws(GuestStopped) -> UInt32 {
        guard let bytes = try copyFromUser(currentProcess.directory, GuestVirtualAddress(request), count: 8) else {
            return Errno.fault.returnValue
        }
        // Linux refuses a negative time and nanoseconds outside 0...999,999,999 with EINVAL.
        // struct timespec on the i386: two signed 32-bit words, seconds then nanoseconds.
        let seconds = Int32(bitPattern: bytes[0..<4].reversed().reduce(0) { $0 << 8 | UInt32($1) })
        let nanoseconds = Int32(bitPattern: bytes[4..<8].reversed().reduce(0) { $0 << 8 | UInt32($1) })
        guard seconds >= 0, (0..<1_000_000_000).contains(nanoseconds) else { return Errno.invalidArgument.returnValue }
        let duration = UInt64(seconds) * 1_000_000_000 + UInt64(nanoseconds)
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
