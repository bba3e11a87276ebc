/*G:086 Where programs come from: the initial ramdisk.

Our kernel has no disk driver yet (the Drivers chapter brings a virtio block device), so its programs
arrive the way Linux's early user space does: in an *initial ramdisk*, an archive the Launcher loads
into guest memory next to the kernel and describes in the boot parameters (`initrdAddress`,
`initrdSize`). The format is Linux's own: a *cpio* archive in the "newc" format, which is a 110-byte
header of ASCII hexadecimal fields per file, its name, its bytes, each padded to four bytes, and a
last entry named `TRAILER!!!`:

```
 "070701" ino mode uid gid nlink mtime filesize major minor rmajor rminor namesize check
   6     +-------------------------- 13 fields of 8 hex digits --------------------------+
 name (namesize bytes, NUL included), padded to 4 | data (filesize bytes), padded to 4
```

A file named `NAME.in`, if present, is what program `NAME` reads on its standard input. The command
line names the programs to run in order (`init=hello,syscalls`), joining with `+` those that should run
at the same time (`init=hello,sieve+crc32`); without one, the kernel runs every program in the archive,
one after another, in archive order.

Why cpio, a format from 1977? Because it is the simplest archive that does the job: a header, a name,
the bytes, no compression and no index, readable in a single pass. Linux picked it for initramfs in
2001 for the same reason, and its kernel unpacks it with a few hundred lines of C. Ours needs fewer,
because it keeps only regular files and ignores permissions, owners and directories.

The archive is only as trustworthy as the Launcher that made it, and a kernel that crashed on a bad
one would take the whole host process with it (our Guest is Swift in the host's address space), so
every field is checked and a malformed archive is reported, not believed.

One entry, byte for byte, as `CPIOArchive.encode(_:)` writes a 1,234-byte program called `hello` (the
fields are shown spaced out; in the archive they run together):

```
 offset 0    070701                      magic
        6    00000001 000081A4           inode 1, mode 0o100644 (a regular file, rw-r--r--)
       22    00000000 00000000 00000001  uid, gid, one link
       46    00000000 000004D2           mtime 0 (reproducible), filesize 1234
       62    00000000 00000000 00000000 00000000   device numbers, all zero
       94    00000006 00000000           namesize 6 ("hello" and its NUL), check 0
      110    h e l l o \0                name; 116 is already a multiple of 4
      116    ... 1234 bytes ...          data, then 2 bytes of padding to 1352
```

Note the two paddings are counted from the start of the archive, not of the entry; since every entry
starts on a four-byte boundary, the two are the same thing. */

import LguestABI
import Machine

/// One file of the initial ramdisk.
public struct InitrdFile: Sendable, Equatable {
    /// Its name in the archive: a program's name, or `NAME.in` for a program's input.
    public var name: String
    /// Its contents.
    public var bytes: [UInt8]

    /// A file named `name` holding `bytes`.

    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

/// The cpio "newc" format, both ways: the Launcher writes archives, the kernel reads them.
public enum CPIOArchive {
    /// The six characters that open every "newc" header.
    static let magic = Array("070701".utf8)
    /// The header's size: the magic and thirteen eight-digit fields.
    static let headerSize = 110
    /// The name of the entry that ends an archive.
    static let trailer = "TRAILER!!!"

    /// An archive holding `files`, in order: what the Launcher writes. Every file gets a distinct
    /// inode number and the mode of a regular file (0o100644), as `cpio -o -H newc` would write;
    /// owners, times and device numbers are zero, which also makes the archive reproducible.
    public static func encode(_ files: [InitrdFile]) -> [UInt8] {
        var archive: [UInt8] = []
        for (index, file) in files.enumerated() {
            append(name: file.name, bytes: file.bytes, inode: UInt32(index + 1), mode: 0o100644, to: &archive)
        }
        append(name: trailer, bytes: [], inode: 0, mode: 0, to: &archive)
        return archive
    }

    /// Append one entry: header, padded name, padded data.
    private static func append(name: String, bytes: [UInt8], inode: UInt32, mode: UInt32, to archive: inout [UInt8]) {
        // The thirteen fields in header order; see the table in `G:086` for which is which.
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [inode, mode, 0, 0, 1, 0, UInt32(bytes.count), 0, 0, 0, 0, UInt32(nameBytes.count), 0]
        archive += magic
        // Each field is eight upper-case hex digits, zero-filled on the left.
        for field in fields {
            let digits = Array(String(field, radix: 16, uppercase: true).utf8)
            archive += [UInt8](repeating: UInt8(ascii: "0"), count: 8 - digits.count) + digits
        }
        archive += nameBytes
        pad(&archive)
        archive += bytes
        pad(&archive)
    }

    /// Pad `archive` with zeroes to a multiple of four bytes.
    private static func pad(_ archive: inout [UInt8]) {
        while archive.count % 4 != 0 { archive.append(0) }
    }

    /// The files of `archive`, or a message saying what is wrong with it: what the kernel reads.
    /// Every entry before the trailer is taken as a regular file, whatever its mode says; a kernel
    /// with no directories has no use for the others.
    public static func decode(_ archive: [UInt8]) -> Result<[InitrdFile], InitrdError> {
        var files: [InitrdFile] = []
        var offset = 0
        // One entry per turn: header, name, data. Every length is checked against what is left of
        // the archive before it is used, so no arithmetic here can run past the end.
        while true {
            guard archive.count - offset >= headerSize else { return .failure(.truncated(offset: offset)) }
            guard Array(archive[offset..<offset + 6]) == magic else { return .failure(.badMagic(offset: offset)) }
            // Thirteen fields of eight hexadecimal digits; we need only the sizes (fields 6 and 11).
            var fields: [Int] = []
            for field in 0..<13 {
                let start = offset + 6 + field * 8
                guard let value = UInt32(String(decoding: archive[start..<start + 8], as: UTF8.self), radix: 16) else {
                    return .failure(.badField(offset: start))
                }
                fields.append(Int(value))
            }
            let fileSize = fields[6], nameSize = fields[11]
            let nameStart = offset + headerSize
            guard nameSize >= 1, nameSize <= archive.count - nameStart else { return .failure(.truncated(offset: nameStart)) }
            let name = String(decoding: archive[nameStart..<nameStart + nameSize - 1], as: UTF8.self)
            // The name is NUL-terminated and, with the header, padded to a multiple of four bytes.
            let dataStart = (nameStart + nameSize + 3) & ~3
            guard dataStart <= archive.count, fileSize <= archive.count - dataStart else {
                return .failure(.truncated(offset: dataStart))
            }
            // The trailer ends the archive; anything after it (Linux pads to 512 bytes) is ignored.
            if name == trailer { return .success(files) }
            files.append(InitrdFile(name: name, bytes: Array(archive[dataStart..<dataStart + fileSize])))
            offset = (dataStart + fileSize + 3) & ~3
        }
    }
}

/// Why an initial ramdisk was refused; each message gives the byte offset where reading stopped,
/// which is what one needs to look at the archive with a hex dump.
public enum InitrdError: Error, Equatable, CustomStringConvertible {
    /// A header, name or file body runs past the end of the archive.
    case truncated(offset: Int)
    /// An entry does not start with "070701": not a newc archive, or a length earlier was wrong.
    case badMagic(offset: Int)
    /// A header field holds something other than eight hexadecimal digits.
    case badField(offset: Int)

    public var description: String {
        switch self {
        case .truncated(let offset): "initrd: archive ends early at offset \(offset)"
        case .badMagic(let offset): "initrd: no newc header at offset \(offset)"
        case .badField(let offset): "initrd: bad hexadecimal field at offset \(offset)"
        }
    }
}

extension GuestKernel {
    /// Read the initial ramdisk into the kernel's program list and give its memory back. A missing or
    /// malformed ramdisk is reported on the console, and the kernel carries on with no programs.
    func unpackInitrd() throws(GuestStopped) {
        // No ramdisk is not an error: a kernel with nothing to run boots and powers off.
        guard let initrd = bootParameters.initrd else {
            try printk("initrd: none; nothing to run\n")
            return
        }
        // It must lie in memory we have mapped, or reading it would fault inside the kernel.
        guard initrd.upperBound <= pages.topOfMemory, let start = kernelVirtual(initrd.lowerBound) else {
            try printk("initrd: \(hex(initrd.lowerBound.rawValue)) is outside memory; ignored\n")
            return
        }
        // Read the whole archive once; the files are small, and afterwards its memory is free.
        let bytes = try readBytes(start, count: Int(initrd.upperBound.rawValue - initrd.lowerBound.rawValue))
        switch CPIOArchive.decode(bytes) {
        case .failure(let error):
            try printk("\(error)\n")
        case .success(let files):
            programs = files
            try printk("initrd: \(files.count) files, \(bytes.count) bytes\n")
        }
        // Give the ramdisk's pages to the allocator, as Linux frees its initrd once unpacked.
        // Frames below the kernel's end are never released: a ramdisk overlapping the kernel
        // image must not hand the kernel's own pages to the allocator.
        var frame = initrd.lowerBound.pageBase
        while frame < initrd.upperBound {
            if frame >= layout.end { pages.release(frame) }
            frame = frame &+ UInt32(pageSize)
        }
        runQueue = programsToRun()
    }

    /// The groups of programs the command line names (`init=a,b+c`: `a`, then `b` and `c`
    /// together), or every program in the archive, one after another.
    func programsToRun() -> [[String]] {
        // Linux's own `init=` names one program; ours names a script of them.
        for word in bootParameters.commandLine.split(separator: " ") where word.hasPrefix("init=") {
            return word.dropFirst(5).split(separator: ",").map { $0.split(separator: "+").map(String.init) }
        }
        // No init=: every program in archive order, each in a group of its own; inputs are not programs.
        return programs.map(\.name).filter { !$0.hasSuffix(".in") && !$0.hasSuffix(".args") }.map { [$0] }
    }

    /// The file named `name` in the initial ramdisk, if the archive had one.
    func initrdFile(_ name: String) -> InitrdFile? {
        programs.first { $0.name == name }
    }
}
/*:*/
