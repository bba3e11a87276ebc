/*G:095 The file system calls.

Five calls work on open files. Each checks, in Linux's order, what Linux checks: the descriptor
(`EBADF`), the access mode it was opened with (`EBADF` again: reading a file opened write-only is a
bad descriptor *for reading*), the user's buffer (`EFAULT`), and only then asks the device. A read
checks that the whole buffer is writable *before* asking, because what a device hands over is
consumed: console input read into a bad pointer would be lost for good.

A device read is capped at a page per call, which POSIX allows (a short read is not an error, and
every careful program loops); it keeps a driver's bounce buffers one page long. */

import LguestABI
import Machine

/// The most descriptors a process may have open (Linux's default is 1,024; ours is smaller).
let maximumOpenFiles = 32
/// The most bytes one read of a device moves (`G:095`).
let deviceTransferLimit = pageSize

extension GuestKernel {
    /// `read(fd, buffer, count)`; nil when the process blocked and will make the call again.
    func sysRead(fd: UInt32, buffer: UInt32, count: UInt32) throws(GuestStopped) -> UInt32? {
        guard let file = currentProcess.files[Int(fd)], file.readable else { return Errno.badFileDescriptor.returnValue }
        let directory = currentProcess.directory
        var wanted = Int(min(count, 0x7FFF_FFFF))
        switch file.node {
        case .initrdInput, .file: break
        case .directory: return Errno.isDirectory.returnValue
        default: wanted = min(wanted, deviceTransferLimit)
        }
        guard wanted > 0 else { return 0 }
        // The whole buffer must be writable before anything is consumed.
        guard try userRangeWritable(directory, GuestVirtualAddress(buffer), count: wanted) else {
            return Errno.fault.returnValue
        }
        let answer: DeviceReadResult
        switch file.node {
        case .initrdInput:
            let input = currentProcess.input
            let start = Int(min(file.offset, UInt64(input.count)))
            answer = .bytes(Array(input[start..<min(input.count, start + wanted)]))
        case .file(let contents):
            let start = Int(min(file.offset, UInt64(contents.bytes.count)))
            answer = .bytes(Array(contents.bytes[start..<min(contents.bytes.count, start + wanted)]))
        case .directory: return Errno.isDirectory.returnValue
        case .console:
            guard let driver = devices.console else { return 0 }
            answer = try driver.read(self, file: file.id, offset: 0, count: wanted)
        case .device(_, let device):
            answer = try device.read(self, file: file.id, offset: file.offset, count: wanted)
        }
        switch answer {
        case .wait(let channel):
            blockAndRestart(on: channel)
            return nil
        case .failed(let error):
            return error.errno.returnValue
        case .bytes(let bytes):
            guard try copyToUser(directory, GuestVirtualAddress(buffer), bytes) else { return Errno.fault.returnValue }
            currentProcess.files[Int(fd)]?.offset += UInt64(bytes.count)
            return UInt32(bytes.count)
        }
    }

    /// `write(fd, buffer, count)`; nil when the process blocked and will make the call again.
    func sysWrite(fd: UInt32, buffer: UInt32, count: UInt32) throws(GuestStopped) -> UInt32? {
        guard let file = currentProcess.files[Int(fd)], file.writable else { return Errno.badFileDescriptor.returnValue }
        guard count > 0 else { return 0 }
        // A count with the top bit set is a negative size_t: no buffer is that big.
        guard count < 0x8000_0000 else { return Errno.fault.returnValue }
        var length = Int(count)
        if case .device = file.node { length = min(length, deviceTransferLimit) }
        guard let bytes = try copyFromUser(currentProcess.directory, GuestVirtualAddress(buffer), count: length) else {
            return Errno.fault.returnValue
        }
        let answer: DeviceWriteResult
        switch file.node {
        case .initrdInput, .file, .directory: return Errno.badFileDescriptor.returnValue
        case .console: answer = try consoleWrite(file.id, bytes)
        case .device(_, let device): answer = try device.write(self, file: file.id, offset: file.offset, bytes: bytes)
        }
        switch answer {
        case .wait(let channel):
            blockAndRestart(on: channel)
            return nil
        case .failed(let error):
            return error.errno.returnValue
        case .written(let written):
            currentProcess.files[Int(fd)]?.offset += UInt64(written)
            return UInt32(written)
        }
    }
}
/*:*/

/*G:096 Opening, closing and syncing.

`open` gets the path already read from the program and made absolute by the personality (`X:898`:
a NUL-terminated string, checked a page at a time like every user copy), checks the access mode (3 is not one: `EINVAL`), finds the name, asks the device whether
it may be opened that way (a read-only disk says `EROFS`, the rng refuses writers with `EINVAL`), and
gives the lowest free descriptor, as Linux always does: closing 2 and opening again gives 2, which is
how a shell redirects standard error. `close` forgets the descriptor and tells the driver, which may be
holding an answer for it (`D:174`). A process's descriptors are all closed when it exits.

`fsync` asks the device behind a descriptor to make what was written durable; for a disk that is a
flush request (`D:174`), and it may wait like any other. A console cannot be synced (`EINVAL`, as
Linux says for a terminal), and the `.in` file has nothing to sync, so it succeeds at once. */

extension GuestKernel {
    /// `open(path, flags)` for an absolute `path` (the personality has read it and made it absolute):
    /// the console, a registered device, or a file or directory of the ramdisk's root (`G:094`). The
    /// mode argument is ignored, as it is for any file that already exists.
    func sysOpen(path: String, flags: UInt32) throws(GuestStopped) -> UInt32 {
        // O_ACCMODE: 0 read-only, 1 write-only, 2 both; 3 means nothing.
        let mode = flags & 3
        guard mode != 3 else { return Errno.invalidArgument.returnValue }
        let readable = mode != 1, writable = mode != 0
        let node: FileNode
        if path == "/dev/console" {
            node = .console
        } else if path.hasPrefix("/dev/"), let device = devices.files[String(path.dropFirst(5))] {
            if let refusal = device.refusal(readable: readable, writable: writable) { return refusal.errno.returnValue }
            node = .device(name: path, device)
        } else {
            switch rootNode(path) {
            case .failure(let error): return error.returnValue
            case .success(let found):
                // The root file system is read-only; O_DIRECTORY (0x10000) insists on a directory.
                guard !writable else { return Errno.readOnlyFileSystem.returnValue }
                if flags & 0x10000 != 0, case .file = found { return Errno.notDirectory.returnValue }
                node = found
            }
        }
        // The lowest free descriptor, as Linux always gives.
        guard let fd = (0..<maximumOpenFiles).first(where: { currentProcess.files[$0] == nil }) else {
            return Errno.tooManyFiles.returnValue
        }
        currentProcess.files[fd] = makeOpenFile(node, readable: readable, writable: writable)
        return UInt32(fd)
    }

    /// `close(fd)`.
    func sysClose(fd: UInt32) -> UInt32 {
        guard let file = currentProcess.files.removeValue(forKey: Int(fd)) else { return Errno.badFileDescriptor.returnValue }
        if case .device(_, let device) = file.node { device.close(self, file: file.id) }
        return 0
    }

    /// `fsync(fd)`; nil when the process blocked and will make the call again.
    func sysFsync(fd: UInt32) throws(GuestStopped) -> UInt32? {
        guard let file = currentProcess.files[Int(fd)] else { return Errno.badFileDescriptor.returnValue }
        switch file.node {
        case .console: return Errno.invalidArgument.returnValue
        case .initrdInput, .file, .directory: return 0
        case .device(_, let device):
            switch try device.flush(self, file: file.id) {
            case .wait(let channel):
                blockAndRestart(on: channel)
                return nil
            case .failed(let error): return error.errno.returnValue
            case .written: return 0
            }
        }
    }

    /// Close every descriptor of the current process (at exit).
    func closeAllFiles() {
        for fd in currentProcess.files.keys.sorted() { _ = sysClose(fd: UInt32(fd)) }
    }
}
/*:*/

/*G:097 Seeking.

`lseek` follows Linux to the letter, quirks included. A disk may be positioned anywhere up to its
size and no further (`EINVAL`, as Linux's `fixed_size_llseek`); a console is a stream (`ESPIPE`); the
`.in` file standing in for a redirected standard input is a regular file and may be positioned past
its end. The 32-bit `lseek` cannot return a position past 2 GiB: Linux moves the file there anyway
and then answers `EOVERFLOW`, and so do we, which is a nice trap for anyone who reads only the manual.
`_llseek` splits its 64-bit offset over two registers and writes the 64-bit result through a pointer.

Both seeking calls share `seek(fd:offset:whence:)`, which computes the new position with checked
arithmetic (an offset near 2^63 added to a position must be `EINVAL`, never a trap in the host
process) and moves the file. */

/// `lseek`'s `whence`: from the start, from the current position, from the end.
enum SeekOrigin: UInt32 {
    case set = 0, current = 1, end = 2
}

extension GuestKernel {
    /// Move open file `fd` by `offset` from `whence`; the new position, or the errno.
    func seek(fd: UInt32, offset: Int64, whence: UInt32) -> Result<Int64, Errno> {
        guard let file = currentProcess.files[Int(fd)] else { return .failure(.badFileDescriptor) }
        // How far the file goes, and how far a position may go.
        let size: Int64, limit: Int64
        switch file.node {
        case .console: return .failure(.illegalSeek)
        case .initrdInput: (size, limit) = (Int64(currentProcess.input.count), Int64.max)
        case .file(let contents): (size, limit) = (Int64(contents.bytes.count), Int64.max)
        case .directory: (size, limit) = (0, Int64.max)
        case .device(_, let device):
            guard let bytes = device.size else { return .failure(.illegalSeek) }
            (size, limit) = (Int64(clamping: bytes), Int64(clamping: bytes))
        }
        guard let origin = SeekOrigin(rawValue: whence) else { return .failure(.invalidArgument) }
        let base: Int64 = switch origin {
        case .set: 0
        case .current: Int64(clamping: file.offset)
        case .end: size
        }
        let (position, overflow) = base.addingReportingOverflow(offset)
        guard !overflow, position >= 0, position <= limit else { return .failure(.invalidArgument) }
        currentProcess.files[Int(fd)]?.offset = UInt64(position)
        return .success(position)
    }

    /// `lseek(fd, offset, whence)` with a signed 32-bit offset and result.
    func sysLseek(fd: UInt32, offset: UInt32, whence: UInt32) -> UInt32 {
        switch seek(fd: fd, offset: Int64(Int32(bitPattern: offset)), whence: whence) {
        case .failure(let error): return error.returnValue
        // Moved, but not expressible in 32 bits: Linux's answer, after the move.
        case .success(let position) where position > Int64(Int32.max): return Errno.overflow.returnValue
        case .success(let position): return UInt32(position)
        }
    }

    /// `_llseek(fd, offset_high, offset_low, result, whence)`: the 64-bit position goes to `result`.
    func sysLlseek(fd: UInt32, high: UInt32, low: UInt32, result: UInt32, whence: UInt32) throws(GuestStopped) -> UInt32 {
        let offset = Int64(bitPattern: UInt64(high) << 32 | UInt64(low))
        switch seek(fd: fd, offset: offset, whence: whence) {
        case .failure(let error): return error.returnValue
        case .success(let position):
            let bytes = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(position) >> (8 * $0)) }
            guard try copyToUser(currentProcess.directory, GuestVirtualAddress(result), bytes) else {
                return Errno.fault.returnValue
            }
            return 0
        }
    }
}
/*:*/

// The user-memory helper the file calls need beyond `copyFromUser()` and `copyToUser()` (G:084).
extension GuestKernel {
    /// Whether all `count` bytes at user `address` may be written, checked page by page.
    func userRangeWritable(_ directory: GuestPhysicalAddress, _ address: GuestVirtualAddress,
                           count: Int) throws(GuestStopped) -> Bool {
        guard count > 0 else { return true }
        guard let last = address.checkedAdvanced(by: UInt32(count - 1)) else { return false }
        var page = address.pageBase
        while true {
            guard try translateUser(directory, page, write: true) != nil else { return false }
            if page == last.pageBase { return true }
            page = page &+ UInt32(pageSize)
        }
    }
}
