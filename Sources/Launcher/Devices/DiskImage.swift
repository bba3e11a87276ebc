/*L:186 The disk image, checked before anything boots.

The block device serves a file on the host: `--disk PATH`, or `--disk PATH --disk-read-only` for a
disk the Guest may read and never change. A disk image is the user's input, so every way it can be
wrong is the user's mistake, refused with one line before any Guest exists (`L:010`):

* the path does not exist, or names a directory;
* the file cannot be opened (for reading and writing, or only for reading with `--disk-read-only`);
* it is empty, or its size is not a whole number of 512-byte sectors: virtio disks count in sectors
  (`P:640`), and a disk with half a sector at the end would leave the Guest a piece it cannot ask for.

`DiskImage` owns the open file and closes it when it goes. Reads and writes are `pread` and `pwrite`
at a byte offset the block device has already checked against the capacity (`L:210`); a write goes to
the file at once, not into a cache of ours, and a flush is an `fsync`, so the file holds every write
the Guest saw complete even if the Launcher is interrupted a moment later. */

import Foundation
import LguestABI

/// Which file the block device serves, and whether the Guest may write it.
public struct DiskOptions: Sendable, Equatable {
    /// The image file's path.
    public var path: String
    /// Whether writes are refused.
    public var readOnly: Bool

    public init(path: String, readOnly: Bool = false) {
        self.path = path
        self.readOnly = readOnly
    }
}

/// An open disk image file, a whole number of sectors long.
public final class DiskImage {
    /// The path it was opened from.
    public let path: String
    /// Whether writes are refused.
    public let readOnly: Bool
    /// Its size in bytes, a non-zero multiple of `sectorSize`.
    public let byteCount: UInt64
    /// The open file.
    private let descriptor: Int32

    /// Opens `options.path`, refusing every kind of bad image with `LaunchError.badDisk`.
    public init(_ options: DiskOptions) throws(LaunchError) {
        let path = options.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .badDisk(path, "no such file")
        }
        guard !isDirectory.boolValue else { throw .badDisk(path, "is a directory") }
        let descriptor = open(path, (options.readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw .badDisk(path, "cannot open: \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            throw .badDisk(path, "cannot read its size")
        }
        let size = UInt64(max(0, info.st_size))
        guard size > 0, size % UInt64(sectorSize) == 0 else {
            close(descriptor)
            throw .badDisk(path, size == 0 ? "is empty" : "size \(size) is not a multiple of \(sectorSize)")
        }
        self.path = path
        self.readOnly = options.readOnly
        self.byteCount = size
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// The capacity in sectors.
    public var sectorCount: UInt64 { byteCount / UInt64(sectorSize) }

    /// Reads `count` bytes at `offset`; nil when the host's read fails or comes up short.
    func read(count: Int, at offset: UInt64) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return nil }
            done += got
        }
        return bytes
    }

    /// Writes `bytes` at `offset`; false when the host's write fails.
    func write(_ bytes: [UInt8], at offset: UInt64) -> Bool {
        var done = 0
        while done < bytes.count {
            let put = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if put < 0 && errno == EINTR { continue }
            guard put > 0 else { return false }
            done += put
        }
        return true
    }

    /// Makes every completed write durable in the file system; false when `fsync` fails.
    func flush() -> Bool { fsync(descriptor) == 0 }
}
/*:*/

/*L:187 A scratch disk for the default run.

`swift run lguest` with no `--disk` should still show the block device at work, so the front door
makes a small image of its own: a fresh temporary directory, a file of `sectorCount` sectors in it
whose contents are the same every time (sector 0 begins with a label, `ScratchDisk.label`, and every
other byte is zero, so a program can tell a fresh scratch disk from somebody's data), and both removed when the run is over, whatever way it ended. The path changes from run
to run but is never printed, so the output does not. */

/// A small disk image in a temporary directory of its own, removed by `remove()`.
public struct ScratchDisk {
    /// The number of sectors in a scratch disk.
    public static let sectorCount = 64
    /// The image's path.
    public let path: String
    /// The directory that holds it.
    let directory: String

    /// Makes the directory and the image; `LaunchError.badDisk` if the host refuses.
    public init() throws(LaunchError) {
        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("lguest-disk.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .badDisk(NSTemporaryDirectory(), "cannot make a scratch directory")
        }
        directory = String(cString: made)
        path = (directory as NSString).appendingPathComponent("scratch.img")
        guard FileManager.default.createFile(atPath: path, contents: Data(Self.contents)) else {
            try? FileManager.default.removeItem(atPath: directory)
            throw .badDisk(path, "cannot write the scratch image")
        }
    }

    /// The text at the start of sector 0.
    public static let label = "lguest scratch disk\n"

    /// The image's bytes: the label, then zeros to the end.
    static var contents: [UInt8] {
        Array(label.utf8) + [UInt8](repeating: 0, count: sectorCount * sectorSize - label.utf8.count)
    }

    /// Removes the image and its directory.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
/*:*/
