/*X:898 Files, terminals and signals, as far as start-up needs them.

The calls here are built from the kernel's own. `writev` (146), which `printf` uses to write its
buffer and a line together, is a loop of `sysWrite()` over the `struct iovec` array (a base and a
length per entry), stopping at the first short write as Linux does, so it can never disagree with
`write`. `open` and `openat` (5 and 295; glibc's `open()` is really `openat(AT_FDCWD, ...)`) read the
path and make it absolute (the current directory is always `/`) before the kernel looks it up.

`fstat64` (197), `stat64` (195) and `fstatat64` (300) fill Linux's 96-byte `struct stat64` from what
the kernel says a file is (`LinuxFileKind`): its type and permission bits in `st_mode`, its size, a
block size of 4,096. Times are all zero (the files were made at the epoch), so output is the same on
every run. glibc asks `fstat` of standard output whether it is a terminal (line-buffered) or not
(fully buffered); `ioctl` (54) answers the two terminal questions a console can answer: `TCGETS`, the
terminal's settings (the ordinary "cooked" ones a fresh Linux console has), and `TIOCGWINSZ`, its
size, 24 rows of 80 columns. Any other descriptor is `ENOTTY`, "not a typewriter", surely the most
charmingly dated message in Unix.

Signals come last. No signal is ever delivered to a handler here (a fault still ends the program,
`X:890`, `G:092`), but glibc's start-up and `abort()` set actions and masks, and a program is
entitled to read back what it set. So `rt_sigaction` (174) and `rt_sigprocmask` (175) keep the
records and the mask with the process, checking what Linux checks: the set size must be 8 bytes, the
signal 1 to 64, and `SIGKILL` (9) and `SIGSTOP` (19) can neither be caught nor blocked.
*/

/// `ioctl` commands a console answers.
enum TerminalCommand {
    static let getAttributes: UInt32 = 0x5401     // TCGETS
    static let getWindowSize: UInt32 = 0x5413     // TIOCGWINSZ
}

extension LinuxPersonality {
    /// `writev(fd, iov, count)`: each buffer in turn through `sysWrite()`.
    func writev(fd: UInt32, vector: UInt32, count: UInt32) throws(Stop) -> UInt32? {
        // IOV_MAX is 1,024.
        guard count <= 1024 else { return Errno.invalidArgument.returnValue }
        guard let table = try readUserMemory(vector, count: Int(count) * 8) else { return Errno.fault.returnValue }
        var total: UInt32 = 0
        for index in 0 ..< Int(count) {
            let base = word(table, at: index * 8), length = word(table, at: index * 8 + 4)
            guard length > 0 else { continue }
            guard let written = try sysWrite(fd: fd, buffer: base, count: length) else {
                // Blocked before anything was written: make the whole call again; after, report what went.
                return total == 0 ? nil : total
            }
            if Int32(bitPattern: written) < 0 { return total == 0 ? written : total }
            total &+= written
            if written < length { break }
        }
        return total
    }

    /// `open(path, flags)` and `openat(dirfd, path, flags)`: with the path made absolute.
    func open(path: UInt32, flags: UInt32, directory: UInt32?) throws(Stop) -> UInt32 {
        switch try absolutePath(path, directory: directory) {
        case .failure(let error): return error.returnValue
        case .success(let name): return try sysOpen(path: name, flags: flags)
        }
    }

    /// The path at `address`, relative to `/` (the only current directory) or to `AT_FDCWD`.
    func absolutePath(_ address: UInt32, directory: UInt32?) throws(Stop) -> Result<String, Errno> {
        guard let name = try userString(address) else { return .failure(.fault) }
        guard name.utf8.count < pageSize else { return .failure(.nameTooLong) }
        guard !name.isEmpty else { return .failure(.noEntry) }
        if name.hasPrefix("/") { return .success(name) }
        // AT_FDCWD is -100; a relative path against any other descriptor would need directories.
        guard directory == nil || directory == UInt32(bitPattern: -100) else { return .failure(.notDirectory) }
        return .success("/" + name)
    }

    /// `ioctl(fd, command, argument)`: the terminal questions, on a terminal.
    func ioctl(fd: UInt32, command: UInt32, argument: UInt32) throws(Stop) -> UInt32 {
        guard let kind = fileKind(fd: fd) else { return Errno.badFileDescriptor.returnValue }
        guard kind == .terminal else { return Errno.notATerminal.returnValue }
        switch command {
        case TerminalCommand.getAttributes:
            // struct termios: iflag ICRNL|IXON, oflag OPOST|ONLCR, cflag B38400|CS8|CREAD|HUPCL,
            // lflag ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN, line 0, then c_cc[19].
            let controls: [UInt8] = [3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0]
            let bytes = littleEndian(UInt32(0x500)) + littleEndian(UInt32(0x5)) + littleEndian(UInt32(0x4BF))
                + littleEndian(UInt32(0x8A3B)) + [0] + controls
            return try answer(bytes, to: argument)
        case TerminalCommand.getWindowSize:
            return try answer(littleEndian(UInt16(24)) + littleEndian(UInt16(80)) + [0, 0, 0, 0], to: argument)
        default:
            return Errno.notATerminal.returnValue
        }
    }

    /// Linux's `struct stat64` for a file of `kind` with inode `inode`.
    static func statBytes(_ kind: LinuxFileKind, inode: UInt32) -> [UInt8] {
        // st_mode: the type (S_IFCHR, S_IFIFO, S_IFREG, S_IFDIR, S_IFBLK) and permission bits.
        let (mode, size, device): (UInt32, UInt64, UInt64) = switch kind {
        case .terminal: (0o020620, 0, 0x0501)          // /dev/console: character device 5,1
        case .pipe: (0o010600, 0, 0)
        case .regular(let size): (0o100555, size, 0)  // read-only file system: r-x for everyone
        case .directory: (0o040555, 4096, 0)
        case .blockDevice(let size): (0o060660, size, 0xFE00)
        case .characterDevice: (0o020666, 0, 0x0A00)
        }
        var bytes = littleEndian(UInt64(1)) + [0, 0, 0, 0] + littleEndian(inode) + littleEndian(mode)
        bytes += littleEndian(UInt32(1)) + littleEndian(UInt32(0)) + littleEndian(UInt32(0))   // nlink, uid, gid
        bytes += littleEndian(device) + [0, 0, 0, 0] + littleEndian(size) + littleEndian(UInt32(pageSize))
        bytes += littleEndian((size + 511) / 512) + [UInt8](repeating: 0, count: 24)         // blocks; three times
        bytes += littleEndian(UInt64(inode))
        return bytes
    }

    /// `fstat64(fd, buf)`.
    func fstat64(fd: UInt32, _ address: UInt32) throws(Stop) -> UInt32 {
        guard let kind = fileKind(fd: fd) else { return Errno.badFileDescriptor.returnValue }
        return try answer(Self.statBytes(kind, inode: fd &+ 1), to: address)
    }

    /// `stat64(path, buf)` (and `lstat64`: there are no links to tell apart).
    func stat64(path: UInt32, _ address: UInt32) throws(Stop) -> UInt32 {
        switch try absolutePath(path, directory: nil) {
        case .failure(let error): return error.returnValue
        case .success(let name): return try statPath(name, address)
        }
    }

    /// `fstatat64(dirfd, path, buf, flags)`: a path, or with `AT_EMPTY_PATH` and "" the descriptor itself.
    func fstatat64(directory: UInt32, path: UInt32, _ address: UInt32, flags: UInt32) throws(Stop) -> UInt32 {
        guard let name = try userString(path) else { return Errno.fault.returnValue }
        if name.isEmpty, flags & 0x1000 != 0 { return try fstat64(fd: directory, address) }
        switch try absolutePath(path, directory: directory) {
        case .failure(let error): return error.returnValue
        case .success(let name): return try statPath(name, address)
        }
    }

    /// Fill `struct stat64` at `address` for absolute `name`.
    private func statPath(_ name: String, _ address: UInt32) throws(Stop) -> UInt32 {
        switch pathKind(name) {
        case .failure(let error): return error.returnValue
        case .success(let kind):
            // A stable inode from the name, so that two stats of one file agree.
            let inode = name.utf8.reduce(UInt32(2166136261)) { ($0 ^ UInt32($1)) &* 16777619 } | 1
            return try answer(Self.statBytes(kind, inode: inode), to: address)
        }
    }

    /// `rt_sigaction(signal, act, oldact, sigsetsize)`: keep the 20-byte record.
    func sigaction(signal: UInt32, action: UInt32, old: UInt32, setSize: UInt32) throws(Stop) -> UInt32 {
        guard setSize == 8, (1 ... 64).contains(signal) else { return Errno.invalidArgument.returnValue }
        guard action == 0 || (signal != 9 && signal != 19) else { return Errno.invalidArgument.returnValue }
        let previous = linux.signalActions[signal] ?? [UInt8](repeating: 0, count: 20)
        var fresh: [UInt8]?
        if action != 0 {
            guard let record = try readUserMemory(action, count: 20) else { return Errno.fault.returnValue }
            fresh = record
        }
        if old != 0, !(try writeUserMemory(old, previous)) { return Errno.fault.returnValue }
        if let fresh { linux.signalActions[signal] = fresh }
        return 0
    }

    /// `rt_sigprocmask(how, set, oldset, sigsetsize)`: block, unblock or set the mask.
    func sigprocmask(how: UInt32, set: UInt32, old: UInt32, setSize: UInt32) throws(Stop) -> UInt32 {
        guard setSize == 8 else { return Errno.invalidArgument.returnValue }
        var change: UInt64?
        if set != 0 {
            guard how <= 2 else { return Errno.invalidArgument.returnValue }
            guard let bytes = try readUserMemory(set, count: 8) else { return Errno.fault.returnValue }
            change = UInt64(word(bytes, at: 0)) | UInt64(word(bytes, at: 4)) << 32
        }
        let previous = linux.blockedSignals
        if old != 0, !(try writeUserMemory(old, littleEndian(previous))) { return Errno.fault.returnValue }
        if let change {
            let mask: UInt64 = switch how {
            case 0: previous | change    // SIG_BLOCK
            case 1: previous & ~change   // SIG_UNBLOCK
            default: change              // SIG_SETMASK
            }
            // SIGKILL and SIGSTOP cannot be blocked.
            linux.blockedSignals = mask & ~(1 << 8 | 1 << 18)
        }
        return 0
    }
}
/*:*/
