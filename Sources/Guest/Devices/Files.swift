/*G:090 Files and devices.

Unix's great simplification is that a device is a file: a program opens `/dev/vda` and reads it with
the same `read` it uses on anything else. Our kernel has no file system, only a few names under /dev
that drivers register (`registerDevice(_:_:)`, `G:072`), and the console, which every program has open
already as descriptors 0, 1 and 2.

A `DeviceFile` is what a driver hands us: a `read` and a `write` at an offset, a `flush` for `fsync`,
and two facts: whether it has a size (a disk, which `lseek` can move around in) or is a stream (a
console, where `lseek` is `ESPIPE`), and whether it may be opened for reading or for writing, which
each driver decides for itself as Linux's do (`refusal(readable:writable:)`). Each open makes an *open
file* with its own offset and its own access mode, kept in the process's table of descriptors. */

import LguestABI
import Machine

/// Why a device refused a request, in the terms a program sees (each becomes a Linux errno).
public enum DeviceFileError: Error, Equatable, Sendable {
    /// The device reported a failure (`EIO`).
    case ioError
    /// The request's offset or length does not suit the device (`EINVAL`).
    case invalidArgument
    /// A write at or past the end of the device (`ENOSPC`).
    case noSpace
    /// Opening for writing a device that cannot be written (`EROFS`).
    case readOnly

    /// The errno a program sees.
    var errno: Errno {
        switch self {
        case .ioError: .ioError
        case .invalidArgument: .invalidArgument
        case .noSpace: .noSpace
        case .readOnly: .readOnlyFileSystem
        }
    }
}

/// What a device made of a read.
public enum DeviceReadResult: Equatable, Sendable {
    /// These bytes; none means end of file.
    case bytes([UInt8])
    /// Not yet: block the process on this channel and try again once it is woken.
    case wait(WaitChannel)
    /// Refused.
    case failed(DeviceFileError)
}

/// What a device made of a write.
public enum DeviceWriteResult: Equatable, Sendable {
    /// This many bytes were written.
    case written(Int)
    /// Not yet: block the process on this channel and try again once it is woken.
    case wait(WaitChannel)
    /// Refused.
    case failed(DeviceFileError)
}

/// Identifies one open file to the driver behind it, so that a retried call finds its request.
public struct OpenFileID: Hashable, Sendable {
    /// The number the kernel gave it.
    let id: Int
}

/// A device a driver offers as a file under /dev.
public protocol DeviceFile: AnyObject {
    /// The device's size in bytes for a disk; nil for a stream, which has no offsets.
    var size: UInt64? { get }
    /// Whether it may be opened for reading and or writing: nil, or why not (as each Linux driver's
    /// `open` decides for itself).
    func refusal(readable: Bool, writable: Bool) -> DeviceFileError?
    /// Read up to `count` bytes at `offset` (ignored by streams) for open file `file`.
    func read(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, count: Int) throws(GuestStopped) -> DeviceReadResult
    /// Write `bytes` at `offset` (ignored by streams) for open file `file`.
    func write(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, bytes: [UInt8]) throws(GuestStopped) -> DeviceWriteResult
    /// Open file `file` is closed: forget anything kept for it.
    func close(_ kernel: GuestKernel, file: OpenFileID)
    /// Make everything written through `file` durable (`fsync`); `.written(0)` when done.
    func flush(_ kernel: GuestKernel, file: OpenFileID) throws(GuestStopped) -> DeviceWriteResult
}

extension DeviceFile {
    /// A device with nothing to make durable refuses, as Linux does for a file with no `fsync`.
    public func flush(_ kernel: GuestKernel, file: OpenFileID) throws(GuestStopped) -> DeviceWriteResult {
        .failed(.invalidArgument)
    }
}

/// A console driver: a stream device that can also print the kernel's own messages.
public protocol ConsoleDevice: DeviceFile {
    /// Print `bytes` without waiting; false when the device cannot take them now.
    func print(_ kernel: GuestKernel, _ bytes: [UInt8]) throws(GuestStopped) -> Bool
}

/*:*/

// The kernel's side of files: what a descriptor refers to, the open-file records, and the registry of
// devices and the console that drivers fill in at boot.

/// What an open descriptor refers to.
enum FileNode {
    /// The console: the console driver's once one is attached, the early console (output) and
    /// nothing (input) before.
    case console
    /// The program's `NAME.in` from the ramdisk, as if a shell had redirected its standard input.
    case initrdInput
    /// A device file.
    case device(name: String, any DeviceFile)
    /// A file of the ramdisk, read-only (`G:094`).
    case file(InitrdFile)
    /// A directory: `/` or `/dev` (`G:094`).
    case directory(String)
}

/// An open file: what it refers to, how it was opened, and where it is.
struct OpenFile {
    /// Its identity, for the driver.
    let id: OpenFileID
    /// What it refers to.
    let node: FileNode
    /// How it was opened.
    let readable: Bool
    let writable: Bool
    /// Where the next read or write starts (disks and redirected input only).
    var offset: UInt64 = 0
}

/// The kernel's devices and waiting processes.
struct DeviceTable {
    /// Files under /dev by name (`vda`, `hwrng`).
    var files: [String: any DeviceFile] = [:]
    /// The console driver, once one has attached.
    var console: (any ConsoleDevice)?
    /// The last channel and open-file numbers handed out.
    var nextChannel = 0
    var nextOpenFile = 0
}

extension GuestKernel {
    /// Offer `file` as `/dev/name`; false if the name is taken.
    public func registerDevice(_ name: String, _ file: any DeviceFile) -> Bool {
        guard devices.files[name] == nil, name != "console" else { return false }
        devices.files[name] = file
        return true
    }

    /// Make `console` the console: descriptors 0, 1 and 2, `/dev/console`, and `printk()`.
    public func attachConsole(_ console: any ConsoleDevice) {
        devices.console = console
    }

    /// A fresh open file for `node`.
    func makeOpenFile(_ node: FileNode, readable: Bool, writable: Bool) -> OpenFile {
        devices.nextOpenFile += 1
        return OpenFile(id: OpenFileID(id: devices.nextOpenFile), node: node, readable: readable, writable: writable)
    }

    /// Descriptors 0, 1 and 2 of a new process: its standard input (its `NAME.in`, or the console) and
    /// the console twice.
    func standardFiles(hasInput: Bool) -> [Int: OpenFile] {
        [0: makeOpenFile(hasInput ? .initrdInput : .console, readable: true, writable: false),
         1: makeOpenFile(.console, readable: false, writable: true),
         2: makeOpenFile(.console, readable: false, writable: true)]
    }
}

/*G:091 Waiting for a device.

What does a device answer when the data is not there yet? A disk request takes
time; the console's input arrives when somebody types it. Linux puts the process to sleep on a *wait
queue* and the driver's interrupt handler wakes it. Our kernel cannot sleep in the middle of a system
call (one kernel stack, `G:080`), so it does the next best thing, and it is what Linux does for a system
call interrupted by a signal: the driver answers `.wait(channel)`, the kernel marks the process blocked
on that channel and winds its eip back over the two bytes of `int $0x80`. When the interrupt handler
calls `wake(channel)`, the process becomes runnable, and the next time it runs it makes the very same
system call again, which now finds its data. The driver remembers, per open file, the request it
started, so the second attempt collects it instead of starting another.

There is a window to mind. Between a driver deciding to wait and the process being marked blocked,
an interrupt that completed the request would wake nobody, and the process would sleep for ever: the
race Linux closes with `prepare_to_wait()`. Ours cannot happen, and it is worth seeing why: interrupts
reach our kernel only at a hypercall or a trap, and nothing between the driver's answer and the marking
touches guest memory or calls the Host.

By default this edition's Launcher serves every kick inside the `NOTIFY` that made it (`L:216`), so
the answer and its interrupt are there before the driver looks, and nobody waits. Give the disk a
latency (`--disk-latency NS`, `L:222`) and every disk request takes that long in virtual time: run
`swift run lguest --programs disk+hello --disk-latency 2000000` and `hello` prints in the middle of
the disk program's work, because while `disk` waits for its first request, the kernel runs `hello`
(the `g091_` tests check exactly that). */

/// A place processes wait for a driver (Linux's wait queue): a number the kernel hands out.
public struct WaitChannel: Hashable, Sendable {
    /// The number the kernel gave it.
    let id: Int
}

extension GuestKernel {
    /// A new channel for processes to wait on.
    public func makeWaitChannel() -> WaitChannel {
        devices.nextChannel += 1
        return WaitChannel(id: devices.nextChannel)
    }

    /// Make every process blocked on `channel` runnable; returns how many there were. Called from
    /// interrupt handlers, so it only changes states: the scheduler does the rest on its way out.
    @discardableResult
    public func wake(_ channel: WaitChannel) -> Int {
        var woken = 0
        for index in processes.processes.indices where processes.processes[index].state == .blocked(channel) {
            processes.processes[index].state = .runnable
            woken += 1
        }
        if woken > 0 { statistics.wakeups += woken }
        return woken
    }

    /// How many processes are blocked, on any channel (for tests and figures).
    public var blockedProcessCount: Int {
        processes.processes.count { if case .blocked = $0.state { true } else { false } }
    }

    /// Block the current process on `channel` and arrange for its system call to be made again when
    /// it is woken: eip goes back over the `int $0x80` (two bytes, `cd 80`), eax still holds the call.
    func blockAndRestart(on channel: WaitChannel) {
        currentProcess.state = .blocked(channel)
        currentProcess.context.eip &-= 2
        statistics.blockedCalls += 1
    }
}
/*:*/
