/*X:877 One Linux personality for two kernels.

This book has two kernels that run Linux programs. The stand-in of this appendix, `ProgramRunner`
(`X:850`), runs one program on the bare machine; the Guest chapter's kernel (`G:080`) runs many, at
ring 1, under the Host. Both must answer a program's `int $0x80` the way Linux does, and if each had
its own `uname` or its own `mmap2`, sooner or later one would answer differently from the other, and
a program would behave one way under `lguest program` and another inside the Guest.

So the answers live here, once: the *Linux personality*. It is the part of a Linux kernel that a
program can see (the system call numbers, their arguments, their error codes, the start-up stack of
`X:876`) with everything a kernel *owns* pushed behind a small protocol, `LinuxPersonality`:

| the protocol asks the kernel for | because |
| --- | --- |
| `readUserMemory()`, `writeUserMemory()` | only the kernel knows how to reach its process's memory (`X:882`, `G:084`) |
| `linux` | a little per-process state the personality keeps (signal actions, TLS entries, where the next `mmap` goes) |
| the kernel's own calls: `sysExit()`, `sysRead()`, `sysWrite()`, `sysBrk()`, `sysSleep()`, ... | they touch what only the kernel has: its open files, its scheduler, its page tables |
| `mapAnonymousPage()`, `unmapPage()`, `protectPage()`, `installTLS()` | the page-table and GDT work behind `mmap2`, `munmap`, `mprotect` and `set_thread_area` |

Everything else (decoding the number, checking arguments in Linux's order, building the structures a
call fills in, choosing where a mapping goes) is written once in `performSystemCall()` and its
helpers, and both kernels call it. A kernel without a file system, such as the stand-in, simply
leaves the file-system requirements at their defaults, which answer `ENOSYS` as a Linux built without
them would.

Why not run the bare case through the Guest instead, so there is only one kernel? Because the two
exist for different lessons: the stand-in shows what a kernel *is* with nothing else in the way, and
the Guest shows what a paravirtualized one must do differently. Sharing the personality keeps both
stories honest while making it impossible for them to disagree about Linux.

The protocol's `Stop` is the one way a requirement may fail without answering: the Guest kernel's
`GuestStopped`, when the Host has killed it in the middle of a call. The stand-in never stops that
way, and its `Stop` is `Never`.
*/

/// Linux's i386 system call numbers for the calls the personality knows (`arch/x86/entry/syscalls/
/// syscall_32.tbl`). A number not here is answered with `ENOSYS`.
public enum LinuxSystemCall: UInt32, Sendable, CaseIterable {
    case exit = 1, read = 3, write = 4, open = 5, close = 6, lseek = 19, getpid = 20, getuid = 24
    case brk = 45, getgid = 47, geteuid = 49, getegid = 50, ioctl = 54, getppid = 64
    case gettimeofday = 78, readlink = 85, reboot = 88, munmap = 91, fsync = 118, uname = 122, mprotect = 125
    case llseek = 140, writev = 146, schedYield = 158, nanosleep = 162, rtSigaction = 174, rtSigprocmask = 175
    case ugetrlimit = 191, mmap2 = 192, stat64 = 195, lstat64 = 196, fstat64 = 197
    case getuid32 = 199, getgid32 = 200, geteuid32 = 201, getegid32 = 202, getdents64 = 220, gettid = 224
    case setThreadArea = 243, getThreadArea = 244, exitGroup = 252, setTidAddress = 258, clockGettime = 265
    case clockNanosleep = 267, openat = 295, fstatat64 = 300, setRobustList = 311, getrandom = 355, statx = 383
    case rseq = 386, clockGettime64 = 403, clockNanosleep64 = 407
}

/// Linux's error numbers, returned negated in eax (`errno(3)`). A C library turns -n into -1 and
/// sets `errno`; a program without one looks at eax itself.
public enum Errno: UInt32, Error, Sendable {
    case noEntry = 2             // ENOENT
    case ioError = 5             // EIO
    case badFileDescriptor = 9   // EBADF
    case noMemory = 12           // ENOMEM
    case fault = 14              // EFAULT
    case notDirectory = 20       // ENOTDIR
    case isDirectory = 21        // EISDIR
    case invalidArgument = 22    // EINVAL
    case tooManyFiles = 24       // EMFILE
    case notATerminal = 25       // ENOTTY
    case fileTooLarge = 27       // EFBIG
    case noSpace = 28            // ENOSPC
    case illegalSeek = 29        // ESPIPE
    case readOnlyFileSystem = 30 // EROFS
    case noSuchDevice = 19       // ENODEV
    case searchFailed = 3        // ESRCH
    case nameTooLong = 36        // ENAMETOOLONG
    case noSuchCall = 38         // ENOSYS
    case overflow = 75           // EOVERFLOW

    /// The value eax carries back: -errno.
    public var returnValue: UInt32 { 0 &- rawValue }
}

/// The six argument registers of a system call, in Linux's order.
public struct SystemCallArguments: Sendable {
    public var ebx: UInt32, ecx: UInt32, edx: UInt32, esi: UInt32, edi: UInt32, ebp: UInt32

    /// The arguments as they sit in the registers.
    public init(ebx: UInt32, ecx: UInt32, edx: UInt32, esi: UInt32 = 0, edi: UInt32 = 0, ebp: UInt32 = 0) {
        (self.ebx, self.ecx, self.edx, self.esi, self.edi, self.ebp) = (ebx, ecx, edx, esi, edi, ebp)
    }
}

/// What became of a system call.
public enum SystemCallOutcome: Equatable, Sendable {
    /// It answered: this goes in eax.
    case result(UInt32)
    /// The process waits and will make the call again when woken (`G:091`); eax is untouched.
    case blocked
    /// The process is gone (`exit`, `exit_group`, a `reboot` that powered off).
    case exited
}

/// What a descriptor or a path refers to, as `fstat64` and `ioctl` need to know it.
public enum LinuxFileKind: Equatable, Sendable {
    /// A terminal: the console.
    case terminal
    /// A pipe, as a program's redirected standard streams are.
    case pipe
    /// A read-only regular file of `size` bytes.
    case regular(size: UInt64)
    /// A directory.
    case directory
    /// A disk of `size` bytes.
    case blockDevice(size: UInt64)
    /// A stream device other than the console (the random number generator).
    case characterDevice
}

/*:*/

/*X:878 What a kernel owes the personality.

Two things, and the second is the protocol itself. First, a little state per process, kept by the
kernel with each process but owned by the personality: `LinuxProcessState`, which holds what Linux
keeps in a task for the calls of `X:896`–`X:898` (the address `set_tid_address` names, the TLS
descriptors, signal records, the `mmap2` cursor and a deterministic random stream). A kernel stores
it and hands it back through `linux`; it never looks inside.

Second, `LinuxPersonality`'s requirements: the user-memory copies, the calls whose work is a kernel's
own, and four primitives of page tables and segments. Each kernel conforms with a small view type
(`RunnerPersonality` for the stand-in, `GuestPersonality` for the Guest, `G:098`) that forwards each
requirement to the code that already does the job, so the protocol adds no second copy of anything.
*/

/// The per-process state the personality keeps: what Linux keeps in a task for the calls below.
public struct LinuxProcessState: Sendable {
    /// `set_tid_address`: where the C library wants its thread id cleared at exit.
    public var clearChildTID: UInt32 = 0
    /// `set_robust_list`: the head of the list of robust futexes.
    public var robustList: UInt32 = 0
    /// The three TLS descriptors (`GDT_ENTRY_TLS_MIN` 6 to 8), empty until `set_thread_area`.
    public var tls = [SegmentDescriptor](repeating: SegmentDescriptor(rawValue: 0), count: 3)
    /// `rt_sigaction`'s records, 20 bytes each, by signal number.
    public var signalActions: [UInt32: [UInt8]] = [:]
    /// `rt_sigprocmask`'s mask of blocked signals (bit n-1 for signal n).
    public var blockedSignals: UInt64 = 0
    /// The lowest address mapped by `mmap2` so far; mappings grow down from `mmapTop`.
    public var mmapBottom: UInt32 = LinuxProcessState.mmapTop
    /// The deterministic generator behind `getrandom` and `AT_RANDOM`.
    public var random: DeterministicRandom

    /// Where `mmap2` places its first mapping (just under the end), and how low mappings may go.
    public static let mmapTop: UInt32 = 0xB000_0000
    public static let mmapFloor: UInt32 = 0x4000_0000

    /// A fresh state for process `pid`; its random stream depends on nothing but the pid.
    public init(pid: UInt32) {
        random = DeterministicRandom(seed: 0x6C67_7565_7374 &+ UInt64(pid))
    }
}

/// SplitMix64: a tiny generator whose every run gives the same bytes, as this project's randomness must.
public struct DeterministicRandom: Sendable {
    private var state: UInt64

    /// A generator started at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next `count` bytes of the stream.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for shift in stride(from: 0, to: 64, by: 8) where out.count < count {
                out.append(UInt8(truncatingIfNeeded: z >> UInt64(shift)))
            }
        }
        return out
    }
}

/// A kernel that runs Linux programs: what the shared personality needs from it (`X:877`).
public protocol LinuxPersonality {
    /// How a requirement fails without answering (the Guest: `GuestStopped`; the stand-in: `Never`).
    associatedtype Stop: Error

    /// `count` bytes of the process's memory at `address`, or nil if any of them is not readable.
    func readUserMemory(_ address: UInt32, count: Int) throws(Stop) -> [UInt8]?
    /// Write `bytes` to the process's memory at `address`; false if any of it is not writable.
    func writeUserMemory(_ address: UInt32, _ bytes: [UInt8]) throws(Stop) -> Bool
    /// The current process's personality state.
    var linux: LinuxProcessState { get nonmutating set }
    /// The process id (also its thread id: every process has one thread).
    var processID: UInt32 { get }
    /// The program's path, as `readlink("/proc/self/exe")` reports it.
    var executablePath: String { get }
    /// The most descriptors a process may have open (`RLIMIT_NOFILE`).
    var openFileLimit: UInt32 { get }
    /// Virtual nanoseconds since the machine started.
    func currentTime() throws(Stop) -> UInt64
    /// A call the personality does not know was made (counted for `--stats`).
    func noteUnknownSystemCall(_ number: UInt32)

    /// End the process with `status` (`exit`, `exit_group`).
    func sysExit(status: UInt32) throws(Stop)
    /// `read(fd, buffer, count)`; nil when the process blocked.
    func sysRead(fd: UInt32, buffer: UInt32, count: UInt32) throws(Stop) -> UInt32?
    /// `write(fd, buffer, count)`; nil when the process blocked.
    func sysWrite(fd: UInt32, buffer: UInt32, count: UInt32) throws(Stop) -> UInt32?
    /// `brk(address)`: the break as it stands afterwards.
    func sysBrk(_ requested: UInt32) throws(Stop) -> UInt32
    /// Sleep `nanoseconds` of virtual time; the result once the sleep is arranged.
    func sysSleep(nanoseconds: UInt64) throws(Stop) -> UInt32
    /// Let another process run.
    func sysYield()
    /// What `fd` refers to, or nil when it is not open.
    func fileKind(fd: UInt32) -> LinuxFileKind?
    /// Map a zeroed, writable user page at `address`; false when memory ran out.
    func mapAnonymousPage(at address: UInt32) throws(Stop) -> Bool
    /// Remove the user page at `address`, if mapped.
    func unmapPage(at address: UInt32) throws(Stop)
    /// Make the mapped page at `address` writable or read-only; false if no page is there and none
    /// is promised (`ENOMEM`).
    func protectPage(at address: UInt32, writable: Bool) throws(Stop) -> Bool
    /// Make the descriptors in `linux.tls` the process's GDT entries 6 to 8, now.
    func installTLS() throws(Stop)

    // The file system and the machine: defaulted to ENOSYS for a kernel without them.
    /// `open(path, flags)` on an absolute path.
    func sysOpen(path: String, flags: UInt32) throws(Stop) -> UInt32
    /// `close(fd)`.
    func sysClose(fd: UInt32) throws(Stop) -> UInt32
    /// `lseek(fd, offset, whence)`.
    func sysLseek(fd: UInt32, offset: UInt32, whence: UInt32) throws(Stop) -> UInt32
    /// `_llseek(fd, high, low, result, whence)`.
    func sysLlseek(fd: UInt32, high: UInt32, low: UInt32, result: UInt32, whence: UInt32) throws(Stop) -> UInt32
    /// `fsync(fd)`; nil when the process blocked.
    func sysFsync(fd: UInt32) throws(Stop) -> UInt32?
    /// `reboot(magic1, magic2, command)`.
    func sysReboot(magic1: UInt32, magic2: UInt32, command: UInt32) throws(Stop) -> UInt32
    /// `getdents64(fd, buffer, count)`.
    func sysGetdents64(fd: UInt32, buffer: UInt32, count: UInt32) throws(Stop) -> UInt32
    /// What the absolute `path` names, or the errno for why it names nothing.
    func pathKind(_ path: String) -> Result<LinuxFileKind, Errno>
}

extension LinuxPersonality {
    public func sysOpen(path: String, flags: UInt32) throws(Stop) -> UInt32 { Errno.noEntry.returnValue }
    public func sysClose(fd: UInt32) throws(Stop) -> UInt32 { Errno.noSuchCall.returnValue }
    public func sysLseek(fd: UInt32, offset: UInt32, whence: UInt32) throws(Stop) -> UInt32 { Errno.noSuchCall.returnValue }
    public func sysLlseek(fd: UInt32, high: UInt32, low: UInt32, result: UInt32, whence: UInt32) throws(Stop) -> UInt32 {
        Errno.noSuchCall.returnValue
    }
    public func sysFsync(fd: UInt32) throws(Stop) -> UInt32? { Errno.noSuchCall.returnValue }
    public func sysReboot(magic1: UInt32, magic2: UInt32, command: UInt32) throws(Stop) -> UInt32 { Errno.noSuchCall.returnValue }
    public func sysGetdents64(fd: UInt32, buffer: UInt32, count: UInt32) throws(Stop) -> UInt32 { Errno.noSuchCall.returnValue }
    public func pathKind(_ path: String) -> Result<LinuxFileKind, Errno> { .failure(.noEntry) }
}
/*:*/

/*X:879 The dispatcher.

One `switch` over `LinuxSystemCall`, the only one in the project: a kernel hands over the number and
the six argument registers and gets back what goes in eax, or word that the process blocked or is
gone. The cases that need nothing but the process's memory are answered right here or by the helpers
of `X:896`–`X:898`; the rest go to the kernel's requirement of the same name.

An unknown number is `ENOSYS`, as on any Linux, and the kernel hears of it through
`noteUnknownSystemCall()`, so `--stats` can show a student which calls a new program would like. A
few known calls answer `ENOSYS` on purpose: `rseq` (386), which glibc tries and then does without, and
`statx` (383), whose absence sends glibc back to `fstatat64`, as on a kernel older than 4.11.
*/

extension LinuxPersonality {
    /// Perform system call `number` with `a`: the one implementation both kernels use.
    public func performSystemCall(_ number: UInt32, _ a: SystemCallArguments) throws(Stop) -> SystemCallOutcome {
        guard let call = LinuxSystemCall(rawValue: number) else {
            noteUnknownSystemCall(number)
            return .result(Errno.noSuchCall.returnValue)
        }
        let answer: UInt32?
        switch call {
        case .exit, .exitGroup:
            try sysExit(status: a.ebx & 0xFF)
            return .exited
        case .read: answer = try sysRead(fd: a.ebx, buffer: a.ecx, count: a.edx)
        case .write: answer = try sysWrite(fd: a.ebx, buffer: a.ecx, count: a.edx)
        case .writev: answer = try writev(fd: a.ebx, vector: a.ecx, count: a.edx)
        case .open: answer = try open(path: a.ebx, flags: a.ecx, directory: nil)
        case .openat: answer = try open(path: a.ecx, flags: a.edx, directory: a.ebx)
        case .close: answer = try sysClose(fd: a.ebx)
        case .lseek: answer = try sysLseek(fd: a.ebx, offset: a.ecx, whence: a.edx)
        case .llseek: answer = try sysLlseek(fd: a.ebx, high: a.ecx, low: a.edx, result: a.esi, whence: a.edi)
        case .fsync: answer = try sysFsync(fd: a.ebx)
        case .getdents64: answer = try sysGetdents64(fd: a.ebx, buffer: a.ecx, count: a.edx)
        case .getpid, .gettid: answer = processID
        case .getppid: answer = 0
        case .getuid, .getgid, .geteuid, .getegid, .getuid32, .getgid32, .geteuid32, .getegid32: answer = 0
        case .brk: answer = try sysBrk(a.ebx)
        case .schedYield:
            sysYield()
            answer = 0
        case .nanosleep: answer = try nanosleep(request: a.ebx)
        case .clockNanosleep: answer = try clockNanosleep(clock: a.ebx, flags: a.ecx, request: a.edx, wide: false)
        case .clockNanosleep64: answer = try clockNanosleep(clock: a.ebx, flags: a.ecx, request: a.edx, wide: true)
        case .reboot: answer = try sysReboot(magic1: a.ebx, magic2: a.ecx, command: a.edx)
        case .ioctl: answer = try ioctl(fd: a.ebx, command: a.ecx, argument: a.edx)
        case .gettimeofday: answer = try gettimeofday(a.ebx, zone: a.ecx)
        case .clockGettime: answer = try clockGettime(clock: a.ebx, a.ecx, wide: false)
        case .clockGettime64: answer = try clockGettime(clock: a.ebx, a.ecx, wide: true)
        case .readlink: answer = try readlink(path: a.ebx, buffer: a.ecx, size: a.edx)
        case .uname: answer = try uname(a.ebx)
        case .ugetrlimit: answer = try getrlimit(resource: a.ebx, a.ecx)
        case .getrandom: answer = try getrandom(a.ebx, count: a.ecx, flags: a.edx)
        case .mmap2: answer = try mmap2(address: a.ebx, length: a.ecx, protection: a.edx, flags: a.esi, fd: a.edi)
        case .munmap: answer = try munmap(address: a.ebx, length: a.ecx)
        case .mprotect: answer = try mprotect(address: a.ebx, length: a.ecx, protection: a.edx)
        case .setThreadArea: answer = try setThreadArea(a.ebx)
        case .getThreadArea: answer = try getThreadArea(a.ebx)
        case .setTidAddress:
            linux.clearChildTID = a.ebx
            answer = processID
        case .setRobustList:
            // The head is 12 bytes on i386 (`struct robust_list_head`); any other size is EINVAL.
            guard a.ecx == 12 else { answer = Errno.invalidArgument.returnValue; break }
            linux.robustList = a.ebx
            answer = 0
        case .rseq, .statx: answer = Errno.noSuchCall.returnValue
        case .rtSigaction: answer = try sigaction(signal: a.ebx, action: a.ecx, old: a.edx, setSize: a.esi)
        case .rtSigprocmask: answer = try sigprocmask(how: a.ebx, set: a.ecx, old: a.edx, setSize: a.esi)
        case .fstat64: answer = try fstat64(fd: a.ebx, a.ecx)
        case .stat64, .lstat64: answer = try stat64(path: a.ebx, a.ecx)
        case .fstatat64: answer = try fstatat64(directory: a.ebx, path: a.ecx, a.edx, flags: a.esi)
        }
        return answer.map(SystemCallOutcome.result) ?? .blocked
    }
}
/*:*/
