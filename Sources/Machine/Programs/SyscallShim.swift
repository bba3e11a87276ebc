/*X:880 System calls: the program knocks on gate 0x80.

On i386 Linux a program asks the kernel for something by loading registers
and executing `int $0x80`:

| register | holds |
| --- | --- |
| `eax` | the system call number; on return, the result |
| `ebx`, `ecx`, `edx` | the first three arguments (`esi`, `edi`, `ebp` the next three) |

A result between -4095 and -1 is an error: the negated `errno`. Everything
else is success. (That is why `mmap` can return addresses above 2 GiB: they
are "negative" but not in the error range.) The C library turns the error
range into `-1` and `errno`; the project's own programs have no C library and
look at the raw value, which makes them strict judges of the runner, while a
static glibc program (`X:876`) sees the errors as `errno`, as it would on Linux.

By the time the Swift code below runs, the CPU has already done its part: it
checked gate 0x80's DPL, switched to the kernel stack, pushed the program's
`ss`, `esp`, `eflags`, `cs` and `eip`, and stopped at the handler. The
program's general registers are untouched, so the shim reads the arguments
straight out of `machine.cpu`, writes the result into `eax`, and the common
exit path (`X:890`) executes `iret()`.

The runner does not decode the call itself: it hands the number and the six
argument registers to the Linux personality that the Guest's kernel uses too
(`X:877`), which answers most calls on its own and asks the runner for the
few that touch what only the runner has (its input and output, its heap, its
page tables: `X:884` to `X:888`, and `ProgramRunner+Linux`). An unknown
number is `ENOSYS`, as on any kernel, and never a crash. With a trace
attached (`ProgramRunner.trace`, which `lguest --trace` sets), every call is
reported with its arguments and result, much as `strace` reports a real
process's: `kernel: write(0x1, 0x804a000, 0x1c) = 28`.
*/

extension ProgramRunner {
    /// The pid every program sees: it is the first and only process.
    static let processID: UInt32 = 1

    /// Performs the system call the registers describe, through the shared personality (`X:877`),
    /// and stores its result in `eax`.
    func systemCall() {
        systemCalls &+= 1
        let cpu = machine.cpu
        let arguments = SystemCallArguments(ebx: cpu.ebx, ecx: cpu.ecx, edx: cpu.edx, esi: cpu.esi, edi: cpu.edi, ebp: cpu.ebp)
        let name = LinuxSystemCall(rawValue: cpu.eax).map { "\($0)" } ?? "system call \(cpu.eax)"
        switch RunnerPersonality(runner: self).performSystemCall(cpu.eax, arguments) {
        case .exited:
            trace?("kernel: \(name)(\(cpu.ebx & 0xFF))")
        case .blocked:
            // Nothing here ever waits: a call that would is a bug in the runner.
            preconditionFailure("runner: \(name) blocked")
        case .result(let result):
            trace?("kernel: \(name)(\(hex(cpu.ebx)), \(hex(cpu.ecx)), \(hex(cpu.edx))) = \(Int32(bitPattern: result))")
            machine.cpu.eax = result
        }
    }
}
/*:*/

/*X:882 Reading and writing the program's memory.

A kernel handed a pointer by a program must treat it as a claim: the buffer
may be unmapped, read-only, or lie in the kernel's half on purpose, in the
hope that the kernel will write there on the program's behalf. Linux guards
against this twice: `access_ok()` first refuses any range that reaches above
the user half, and then every copy runs with fault handling, so an unmapped
page turns into `EFAULT` instead of a kernel crash.

The runner does the same. `userRangeIsPlausible()` is the `access_ok()`.
Then it translates page by page through the machine's MMU with *user*
privilege, as if the program itself made the access: a page the program
could not read or write is a page the kernel will not read or write for it.
A not-present page inside the heap or stack is first given a fresh frame,
exactly as if the program had touched it (`X:890`).

The copies go page by page because the pages of a buffer are contiguous only
in virtual memory; each may live in any frame.

One difference from the host shows up in the tests: an x86-64 kernel running
a 32-bit program checks its pointers against the 64-bit limit, so a buffer
whose end wraps past 4 GiB passes `access_ok()` there and the readable part
is written. An i386 kernel, whose user half ends at `0xC0000000`, refuses the
whole range with `EFAULT`, and so does this runner.
*/

extension ProgramRunner {
    /// Linux's `access_ok()`: the range lies wholly in the user half.
    func userRangeIsPlausible(_ address: UInt32, count: UInt32) -> Bool {
        UInt64(address) + UInt64(count) <= UInt64(ELFImage.userLimit)
    }

    /// Copies up to `count` bytes out of the program's memory at `address`,
    /// stopping at the first page the program may not read.
    func copyFromUser(_ address: UInt32, count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var address = GuestVirtualAddress(address)
        while bytes.count < count {
            let piece = min(count - bytes.count, pageSize - Int(address.pageOffset))
            guard let physical = userPage(address, access: .read) else { break }
            do {
                bytes += try machine.memory.copyOut(from: physical, count: piece)
            } catch {
                break
            }
            address = address &+ UInt32(piece)
        }
        return bytes
    }

    /// Copies `bytes` into the program's memory at `address`, stopping at the
    /// first page the program may not write; returns how many bytes were copied.
    func copyToUser(_ bytes: [UInt8], at address: GuestVirtualAddress) -> Int {
        var copied = 0
        var address = address
        while copied < bytes.count {
            let piece = min(bytes.count - copied, pageSize - Int(address.pageOffset))
            guard let physical = userPage(address, access: .write) else { break }
            do {
                try machine.memory.copyIn(bytes[copied ..< copied + piece], at: physical)
            } catch {
                break
            }
            copied += piece
            address = address &+ UInt32(piece)
        }
        return copied
    }

    /// The physical address of `address` if the program may access it as
    /// `access`, mapping a demand page first where the program is owed one.
    private func userPage(_ address: GuestVirtualAddress, access: AccessKind) -> HostPhysicalAddress? {
        guard address.rawValue < ELFImage.userLimit else { return nil }
        do {
            return try machine.translate(address, access: access, privilege: .user)
        } catch {
            guard !error.errorCode.contains(.protection), mapDemandPage(at: address) else { return nil }
        }
        return try? machine.translate(address, access: access, privilege: .user)
    }
}
/*:*/

/*X:884 read and write.

The program has three open files, as every Unix process starts with:
descriptor 0 reads from the input the runner was given, and descriptors 1
and 2 collect what the program writes. The checks come in Linux's order, and
the order is visible to a program that passes several bad arguments at
once: a bad descriptor first (`EBADF`), then a buffer outside the user half
(`EFAULT`), then a count of zero (success, touching nothing).

A copy that faults partway is not an error if something was transferred:
like a pipe on Linux, `write` then reports the bytes it took, and only a
buffer whose first page is bad yields `EFAULT`.
*/

extension ProgramRunner {
    /// `read(fd, buffer, count)`: fd 0 is the runner's input.
    func sysRead(fd: UInt32, buffer: UInt32, count: UInt32) -> UInt32? {
        guard fd == 0 else { return Errno.badFileDescriptor.returnValue }
        guard userRangeIsPlausible(buffer, count: count) else { return Errno.fault.returnValue }
        let available = min(Int(count), input.count - inputPosition)
        guard available > 0 else { return 0 }
        let bytes = Array(input[inputPosition ..< inputPosition + available])
        let copied = copyToUser(bytes, at: GuestVirtualAddress(buffer))
        guard copied > 0 else { return Errno.fault.returnValue }
        inputPosition += copied
        return UInt32(copied)
    }

    /// `write(fd, buffer, count)`: fds 1 and 2 collect the output.
    func sysWrite(fd: UInt32, buffer: UInt32, count: UInt32) -> UInt32? {
        guard fd == 1 || fd == 2 else { return Errno.badFileDescriptor.returnValue }
        guard userRangeIsPlausible(buffer, count: count) else { return Errno.fault.returnValue }
        guard count > 0 else { return 0 }
        let room = Self.outputLimit - output.count - errorOutput.count
        guard room > 0 else { return Errno.fileTooLarge.returnValue }
        let bytes = copyFromUser(buffer, count: min(Int(count), room))
        guard !bytes.isEmpty else { return Errno.fault.returnValue }
        if fd == 1 { output += bytes } else { errorOutput += bytes }
        return UInt32(bytes.count)
    }
}
/*:*/

/*X:886 brk: moving the end of the heap.

`brk` is the oldest way a Unix program gets memory: the *program break* is
the end of the data segment, and `brk(address)` asks to move it. The call
returns the break as it stands afterwards, so a program learns the current
value with `brk(0)`, and detects failure by getting the old value back.
Linux's rules, which the runner follows:

- a request below the start of the heap, including 0, changes nothing;
- a request beyond the heap's limit fails, leaving the break where it was;
- growing only moves the number: pages appear when first touched (`X:865`);
- shrinking unmaps every whole page above the new break at once, and flushes
  each from the TLB, so a stale translation cannot keep the memory alive.
  The page holding the new break itself stays, as it may be partly in use.
*/

extension ProgramRunner {
    /// `brk(address)`: the break as it stands afterwards.
    func sysBrk(_ requested: UInt32) -> UInt32 {
        let start = space.heapStart
        guard requested >= start else { return space.programBreak }
        guard requested - start <= AddressSpace.heapLimit else { return space.programBreak }
        let oldEnd = AddressSpace.roundUpToPage(space.programBreak)
        let newEnd = AddressSpace.roundUpToPage(requested)
        var page = newEnd
        while page < oldEnd {
            if space.unmap(GuestVirtualAddress(page)) { machine.flushTLB(page: GuestVirtualAddress(page)) }
            page += UInt32(pageSize)
        }
        space.programBreak = requested
        return requested
    }
}
/*:*/

/*X:888 nanosleep: time that only the clock notices.

A program that sleeps on real Linux gives up the CPU and is woken later. Here
there is nothing else to run, and time is virtual (`X:600`): sleeping simply
moves the machine's clock forward by the requested amount, instantly, and
the program carries on. A test that sleeps for an hour takes no time at all,
and every run reports the same virtual time.

The request is a `struct timespec`, two 32-bit words on i386: seconds and
nanoseconds. The shared `nanosleep()` (`X:896`) reads it and checks it as
Linux does (`EFAULT`, `EINVAL`), so all that is left here is the sleep
itself. The second argument,
where Linux writes the unslept remainder if a signal cuts the sleep short, is
never needed: nothing here interrupts a sleep.
*/

extension ProgramRunner {
    /// Sleep by moving the clock: the shared `nanosleep()` has already checked the request.
    func sysSleep(nanoseconds: UInt64) -> UInt32 {
        machine.advance(by: nanoseconds)
        return 0
    }
}
/*:*/
