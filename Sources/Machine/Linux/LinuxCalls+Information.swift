/*X:896 Calls that only tell: who, what, when, how much.

A static glibc program asks a handful of questions before `main` runs (`strace` on the host shows
them): how big may my stack grow (`ugetrlimit`), where is my own file (`readlink` of
`/proc/self/exe`), give me some randomness for the stack protector and `malloc`'s pointer guard
(`getrandom`), and later, for `printf` and friends, the time and the name of the machine. None of
them needs more than the process's memory, so the personality answers them all.

Every answer is deterministic, as everything in this project: the clocks are the virtual clock
(`X:600`), with the wall clock's epoch at the machine's power-on, so a program that prints the date
learns it is 1 January 1970; and `getrandom` draws from a SplitMix64 stream seeded by the pid, the
same bytes on every run. That is a terrible source of keys and a perfect one for a test.

Each structure is written as Linux's i386 ABI lays it out, word by word, little-endian:
`struct timespec` is two 32-bit words for `clock_gettime` (265) and two 64-bit ones for
`clock_gettime64` (403), which glibc 2.34 and later try first; `struct rlimit` is two words, with
`RLIM_INFINITY` all ones; `struct new_utsname` is six fields of 65 bytes.
*/

/// The little-endian bytes of `value`.
func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0 ..< T.bitWidth / 8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}

/// The 32-bit little-endian word at `offset` of `bytes` (which must hold it).
func word(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0 ..< 4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
}

extension LinuxPersonality {
    /// Write `bytes` to user `address`: 0, or `EFAULT`.
    func answer(_ bytes: [UInt8], to address: UInt32) throws(Stop) -> UInt32 {
        try writeUserMemory(address, bytes) ? 0 : Errno.fault.returnValue
    }

    /// `clock_gettime(clock, tp)`: every clock reads the virtual clock; 64-bit fields when `wide`.
    func clockGettime(clock: UInt32, _ address: UInt32, wide: Bool) throws(Stop) -> UInt32 {
        // CLOCK_REALTIME 0 ... CLOCK_BOOTTIME 7, and the _ALARM variants 8 and 9; others are EINVAL.
        guard clock <= 9 else { return Errno.invalidArgument.returnValue }
        let now = try currentTime()
        let seconds = now / 1_000_000_000, nanoseconds = now % 1_000_000_000
        let bytes = wide ? littleEndian(seconds) + littleEndian(nanoseconds)
            : littleEndian(UInt32(truncatingIfNeeded: seconds)) + littleEndian(UInt32(nanoseconds))
        return try answer(bytes, to: address)
    }

    /// `gettimeofday(tv, tz)`: seconds and microseconds of the virtual clock; the zone is UTC.
    func gettimeofday(_ address: UInt32, zone: UInt32) throws(Stop) -> UInt32 {
        let now = try currentTime()
        if address != 0 {
            let bytes = littleEndian(UInt32(truncatingIfNeeded: now / 1_000_000_000))
                + littleEndian(UInt32(now % 1_000_000_000 / 1_000))
            guard try writeUserMemory(address, bytes) else { return Errno.fault.returnValue }
        }
        // struct timezone: minutes west of Greenwich and the obsolete DST flag, both 0.
        if zone != 0 { return try answer([UInt8](repeating: 0, count: 8), to: zone) }
        return 0
    }

    /// `uname(buf)`: the machine's names, as `uname -a` prints them.
    func uname(_ address: UInt32) throws(Stop) -> UInt32 {
        let fields = ["Linux", "lguest", "6.1.0-lguest", "#1 lguest in Swift", "i686", "(none)"]
        let bytes = fields.flatMap { field in
            let utf8 = Array(field.utf8.prefix(64))
            return utf8 + [UInt8](repeating: 0, count: 65 - utf8.count)
        }
        return try answer(bytes, to: address)
    }

    /// `ugetrlimit(resource, rlim)`: the stack's 8 MiB, the descriptor table's size, and no other limit.
    func getrlimit(resource: UInt32, _ address: UInt32) throws(Stop) -> UInt32 {
        // RLIMIT_CPU 0 ... RLIMIT_RTTIME 15.
        guard resource < 16 else { return Errno.invalidArgument.returnValue }
        let infinity = UInt32.max
        let (current, maximum): (UInt32, UInt32) = switch resource {
        case 3: (8 << 20, infinity)                  // RLIMIT_STACK
        case 7: (openFileLimit, openFileLimit)       // RLIMIT_NOFILE
        default: (infinity, infinity)
        }
        return try answer(littleEndian(current) + littleEndian(maximum), to: address)
    }

    /// `getrandom(buf, count, flags)`: the next bytes of the process's deterministic stream.
    func getrandom(_ address: UInt32, count: UInt32, flags: UInt32) throws(Stop) -> UInt32 {
        // GRND_NONBLOCK 1, GRND_RANDOM 2, GRND_INSECURE 4; anything else is EINVAL.
        guard flags & ~7 == 0 else { return Errno.invalidArgument.returnValue }
        // Linux may return fewer bytes than asked past 256; we return at most a page per call.
        let bytes = linux.random.bytes(Int(min(count, UInt32(pageSize))))
        guard try writeUserMemory(address, bytes) else { return Errno.fault.returnValue }
        return UInt32(bytes.count)
    }

    /// `readlink(path, buf, size)`: only `/proc/self/exe` is a link; the answer is not NUL-terminated.
    func readlink(path: UInt32, buffer: UInt32, size: UInt32) throws(Stop) -> UInt32 {
        guard let name = try userString(path) else { return Errno.fault.returnValue }
        guard Int32(bitPattern: size) > 0 else { return Errno.invalidArgument.returnValue }
        guard name == "/proc/self/exe" else {
            // A file that exists is not a link (EINVAL); anything else does not exist.
            if case .success = pathKind(name) { return Errno.invalidArgument.returnValue }
            return Errno.noEntry.returnValue
        }
        let target = Array(executablePath.utf8.prefix(Int(size)))
        guard try writeUserMemory(buffer, target) else { return Errno.fault.returnValue }
        return UInt32(target.count)
    }

    /// `nanosleep(request, remainder)`: parse the `struct timespec` and let the kernel sleep.
    func nanosleep(request: UInt32) throws(Stop) -> UInt32 {
        guard let bytes = try readUserMemory(request, count: 8) else { return Errno.fault.returnValue }
        // Linux refuses a negative time and nanoseconds outside 0...999,999,999 with EINVAL.
        let seconds = Int32(bitPattern: word(bytes, at: 0)), nanoseconds = Int32(bitPattern: word(bytes, at: 4))
        guard seconds >= 0, (0 ..< 1_000_000_000).contains(nanoseconds) else { return Errno.invalidArgument.returnValue }
        return try sysSleep(nanoseconds: UInt64(seconds) * 1_000_000_000 + UInt64(nanoseconds))
    }

    /// `clock_nanosleep(clock, flags, request, remain)`: a relative sleep, or with `TIMER_ABSTIME` (1)
    /// a sleep until the clock reads `request`; 64-bit fields when `wide` (`clock_nanosleep_time64`),
    /// which is what glibc's `nanosleep()` calls first.
    func clockNanosleep(clock: UInt32, flags: UInt32, request: UInt32, wide: Bool) throws(Stop) -> UInt32 {
        // CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID and CLOCK_BOOTTIME; others are EINVAL.
        guard [0, 1, 2, 7].contains(clock) else { return Errno.invalidArgument.returnValue }
        guard let bytes = try readUserMemory(request, count: wide ? 16 : 8) else { return Errno.fault.returnValue }
        let seconds = wide ? Int64(bitPattern: UInt64(word(bytes, at: 0)) | UInt64(word(bytes, at: 4)) << 32)
            : Int64(Int32(bitPattern: word(bytes, at: 0)))
        let nanoseconds = wide ? Int64(bitPattern: UInt64(word(bytes, at: 8)) | UInt64(word(bytes, at: 12)) << 32)
            : Int64(Int32(bitPattern: word(bytes, at: 4)))
        guard seconds >= 0, (0 ..< 1_000_000_000).contains(nanoseconds) else { return Errno.invalidArgument.returnValue }
        // Centuries of sleep are as good as for ever: clamp instead of overflowing.
        let (scaled, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        var duration = overflow ? UInt64.max / 2 : min(scaled, UInt64.max / 2) + UInt64(nanoseconds)
        if flags & 1 != 0 {
            let now = try currentTime()
            duration = duration > now ? duration - now : 0
        }
        return try sysSleep(nanoseconds: duration)
    }

    /// The NUL-terminated string at user `address` (at most a page), or nil when it is unreadable.
    func userString(_ address: UInt32) throws(Stop) -> String? {
        var bytes: [UInt8] = []
        var cursor = address
        while bytes.count <= pageSize {
            // To the end of this page at most: the next may not be mapped.
            let chunk = pageSize - Int(cursor % UInt32(pageSize))
            guard UInt64(cursor) + UInt64(chunk) <= 1 << 32,
                  let piece = try readUserMemory(cursor, count: chunk) else { return nil }
            if let end = piece.firstIndex(of: 0) { return String(decoding: bytes + piece[..<end], as: UTF8.self) }
            bytes += piece
            cursor &+= UInt32(chunk)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
/*:*/
