/*D:180 Randomness.

The simplest device of all: one queue, and every buffer we post comes back filled with random bytes,
its used length saying how many. `/dev/hwrng` is Linux's name for a hardware random number generator,
and like Linux's we refuse to open it for writing (`EINVAL`, as the hw_random core does): there is
nothing to write to.

A read that finds no bytes left posts a buffer of the size asked for (a page at most) and kicks; the
interrupt keeps what came back and wakes the reader. A device that answers with no bytes at all would
have the reader post and wait for ever, a livelock rather than a crash, so the driver turns that answer
into `EIO` for the one read that was waiting. */

import Guest
import LguestABI
import Machine

/// The virtio entropy driver: `/dev/hwrng`.
public final class VirtioRNG: VirtioDriver, DeviceFile {
    /// Drives virtio entropy devices.
    public let deviceType = VirtioDeviceID.rng
    /// No features: the device's basic behaviour is all this driver uses.
    public let knownFeatures: Set<Int> = []

    /// The device's one queue, once found.
    var queue: Virtqueue?
    /// The page the device fills.
    var page = GuestPhysicalAddress(0)
    /// Bytes received and not yet read.
    var ready: [UInt8] = []
    /// Whether a buffer is with the device; whether it last came back empty.
    var posted = false
    var cameBackEmpty = false
    /// Where readers wait for input.
    var readers = WaitChannel?.none

    public init() {}

    /// The boot log's line.
    public var summary: String { "hwrng" }
    /// A stream: no size, no seeking.
    public var size: UInt64? { nil }

    /// Read the config, allocate buffers, find the queue(s), register the device.
    public func probe(_ kernel: GuestKernel, _ device: LguestDevice, features: Set<Int>) throws(GuestStopped) -> String? {
        guard let buffer = try kernel.allocateContiguousPages(1) else { return "no memory for a buffer" }
        page = buffer
        switch try device.findQueue(kernel, 0, callback: { [weak self] kernel throws(GuestStopped) in
            try self?.filled(kernel)
        }) {
        case .failure(let error): return "\(error)"
        case .success(let found): queue = found
        }
        readers = kernel.makeWaitChannel()
        return kernel.registerDevice("hwrng", self) ? nil : "/dev/hwrng is taken"
    }

    /// Whether this device may be opened so.
    public func refusal(readable: Bool, writable: Bool) -> DeviceFileError? {
        writable ? .invalidArgument : nil
    }

    /// Nothing is kept per open file.
    public func close(_ kernel: GuestKernel, file: OpenFileID) {}

    /// Write `bytes` for `file`, or say to wait.
    public func write(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, bytes: [UInt8]) throws(GuestStopped) -> DeviceWriteResult {
        .failed(.invalidArgument)
    }

    /*D:182 A read, and the interrupt that answers it.

    `read` and `filled` are two halves of one conversation. A read first takes whatever bytes are already
    there; only when there are none does it post the page to the device, once (`posted` stops a second
    reader from posting it again), and kick. It may then find bytes at once, if the device answered
    during the kick, or return `.wait`, and the reader sleeps on `readers` until the interrupt runs
    `filled`, which collects every used buffer and wakes it. The read is then made again from the top.
    `cameBackEmpty` is the livelock guard of `D:180`: an empty answer becomes one `EIO`, then is
    forgotten. */
    /// Read up to `count` bytes for `file`, or say to wait.
    public func read(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, count: Int) throws(GuestStopped) -> DeviceReadResult {
        if let answer = take(count) { return answer }
        guard let queue, let readers, !queue.isBroken else { return .failed(.ioError) }
        if !posted {
            let length = UInt32(min(count, pageSize))
            guard try queue.add(kernel, [.init(page, length: length, deviceWrites: true)]) != nil else { return .failed(.ioError) }
            posted = true
            try queue.kick(kernel)
        }
        return take(count) ?? .wait(readers)
    }

    /// Up to `count` ready bytes, the error for an empty answer, or nil when there is nothing yet.
    func take(_ count: Int) -> DeviceReadResult? {
        if cameBackEmpty {
            cameBackEmpty = false
            return .failed(.ioError)
        }
        guard !ready.isEmpty else { return nil }
        let bytes = Array(ready.prefix(count))
        ready.removeFirst(bytes.count)
        return .bytes(bytes)
    }

    /// The interrupt: keep the bytes the device wrote, wake the reader.
    func filled(_ kernel: GuestKernel) throws(GuestStopped) {
        guard let queue, let readers else { return }
        while let used = try queue.nextUsed(kernel) {
            posted = false
            if used.length == 0 { cameBackEmpty = true }
            ready += try kernel.readPhysical(page, count: Int(used.length))
        }
        if queue.isBroken { cameBackEmpty = true }
        kernel.wake(readers)
    }
}
/*:*/
