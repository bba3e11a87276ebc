/*G:094 A read-only root file system from the ramdisk.

A program built against a real C library expects a file system: busybox's `sha256sum FILE` opens
`FILE`, `ls` lists a directory. We have no disk file system, but we do have the ramdisk (`G:086`),
and its files make a perfectly good read-only root: `/hello` is the program `hello`, `/hello.in` its
input, and every other file the Launcher packed. Beside them sits `/dev`, with the console and the
devices drivers registered (`G:090`).

Opening a root file for writing is `EROFS`, and reading it is a copy from the kernel's copy of the
archive. `getdents64` (220) lists a directory as Linux's `struct linux_dirent64` records, each an
inode number, an offset cookie, the record's length (rounded up to 8 bytes), a type (4 for a
directory, 8 for a regular file, 2 for a character device, 6 for a block device) and the
NUL-terminated name. The open directory's offset counts the entries already returned, so a second
call carries on where the first stopped, and a call that finds nothing left returns 0. */

import LguestABI
import Machine

extension GuestKernel {
    /// What absolute `path` names in the ramdisk's root: a file, `/` or `/dev`.
    func rootNode(_ path: String) -> Result<FileNode, Errno> {
        // Trailing slashes name the same thing ("/dev/" is "/dev"), and "/." is "/".
        var name = path
        while name.count > 1, name.hasSuffix("/") { name.removeLast() }
        if name == "/" || name == "/." { return .success(.directory("/")) }
        if name == "/dev" { return .success(.directory("/dev")) }
        let parts = name.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1, let file = initrdFile(String(parts[0])) else { return .failure(.noEntry) }
        return .success(.file(file))
    }

    /// The entries of directory `path`: name, type (`DT_*`) and inode.
    func directoryEntries(_ path: String) -> [(name: String, type: UInt8)] {
        if path == "/dev" {
            return [(".", 4), ("..", 4), ("console", 2)] + devices.files.keys.sorted().map { name in
                (name, devices.files[name]?.size == nil ? 2 : 6)
            }
        }
        return [(".", 4), ("..", 4), ("dev", 4)] + programs.map { ($0.name, 8) }
    }

    /// `getdents64(fd, buffer, count)`: as many whole records as fit, from the directory's offset.
    func sysGetdents64(fd: UInt32, buffer: UInt32, count: UInt32) throws(GuestStopped) -> UInt32 {
        guard let file = currentProcess.files[Int(fd)] else { return Errno.badFileDescriptor.returnValue }
        guard case .directory(let path) = file.node else { return Errno.notDirectory.returnValue }
        let entries = directoryEntries(path)
        var bytes: [UInt8] = []
        var index = Int(min(file.offset, UInt64(entries.count)))
        while index < entries.count {
            let name = Array(entries[index].name.utf8) + [0]
            let length = (19 + name.count + 7) & ~7
            guard bytes.count + length <= Int(min(count, 0x10000)) else { break }
            var record = littleEndianBytes(UInt32(index + 1)) + [0, 0, 0, 0]        // d_ino, 64-bit
            record += littleEndianBytes(UInt32(index + 1)) + [0, 0, 0, 0]          // d_off: the next index
            record += [UInt8(truncatingIfNeeded: length), UInt8(truncatingIfNeeded: length >> 8), entries[index].type] + name
            bytes += record + [UInt8](repeating: 0, count: length - record.count)
            index += 1
        }
        // Not even one record fits: the buffer is too small (EINVAL), unless nothing is left.
        if bytes.isEmpty, index < entries.count { return Errno.invalidArgument.returnValue }
        guard try copyToUser(currentProcess.directory, GuestVirtualAddress(buffer), bytes) else {
            return Errno.fault.returnValue
        }
        currentProcess.files[Int(fd)]?.offset = UInt64(index)
        return UInt32(bytes.count)
    }

    /// What an open file is, in the personality's terms.
    func kind(of node: FileNode) -> LinuxFileKind {
        switch node {
        case .console: .terminal
        case .initrdInput: .regular(size: UInt64(currentProcess.input.count))
        case .file(let contents): .regular(size: UInt64(contents.bytes.count))
        case .directory: .directory
        case .device(_, let device): device.size.map { .blockDevice(size: $0) } ?? .characterDevice
        }
    }

    /// What absolute `path` names, for `stat64`.
    func pathKind(_ path: String) -> Result<LinuxFileKind, Errno> {
        if path == "/dev/console" { return .success(.terminal) }
        if path.hasPrefix("/dev/"), let device = devices.files[String(path.dropFirst(5))] {
            return .success(kind(of: .device(name: path, device)))
        }
        return rootNode(path).map { kind(of: $0) }
    }
}
/*:*/
