/*D:150 The drivers are ordinary virtio drivers.

Everything lguest-specific ends with the bus. A driver sees a device with config, features, status
and queues (`D:130`-`D:140`), which is all virtio promises, and would drive the same device on any
other transport unchanged: the original's Drivers chapter stopped here, because Linux's virtio
console, block and network drivers needed no lguest code at all.

Our kernel has no such drivers to borrow, so we write the three this edition's Launcher offers. Each
conforms to `VirtioDriver`: the device type it drives, the features it understands, and `probe()`,
which finds its queues and registers what it offers with the kernel: a `DeviceFile` under /dev
(`G:090`), or the console itself. What they share is a pattern worth seeing once in general terms:

* a read or write the device must do becomes a chain of buffers in kernel memory (*bounce buffers*:
  the device never sees a program's pages), added to a queue and kicked;
* if the device answered during the kick (the Launcher may do the work at once), the answer is
  already there when the kick returns, since the interrupt was delivered on the way back;
* otherwise the driver answers `.wait(channel)`, the process blocks, and the interrupt handler, when the
  used buffer turns up, keeps the answer for the caller and wakes the channel (`G:091`). */

import Guest
import LguestABI
import Machine

/// A driver for one kind of virtio device.
public protocol VirtioDriver: AnyObject {
    /// The device type it drives.
    var deviceType: VirtioDeviceID { get }
    /// The feature bits it understands.
    var knownFeatures: Set<Int> { get }
    /// Take `device`, whose features are `features`: find its queues, register what it offers.
    /// Returns nil on success, or why the device cannot be used.
    func probe(_ kernel: GuestKernel, _ device: LguestDevice, features: Set<Int>) throws(GuestStopped) -> String?
    /// One line for the boot log about the device it drives.
    var summary: String { get }
}
/*:*/

/*D:160 The console.

The console has two queues (`ConsoleQueue`): receive, whose buffers the device fills with input, and
transmit, whose buffers it prints. Once it is up, it is *the* console: descriptors 0, 1 and 2,
`/dev/console` and the kernel's own `printk()` (`attachConsole()`, `G:072`).

*Output* is where it pays. The early console costs a world switch per 16 bytes (`G:047`); here a
`write()` of up to a page is one buffer and one kick, and a long write is several buffers and still
one kick. The transmit queue never needs an interrupt: we set `noInterrupt` on it, and take back used
buffers at the start of the next write, as Linux's virtio console does. Only when every transmit
buffer is still with the device does a writer have to wait, and then we ask for the interrupt again.

*Input* is posted only when somebody asks: a `read()` that finds nothing buffered posts one page for
the device to fill. A buffer used with length 0 means end of file, and the console stays at end of file
from then on, as a pipe does once its writer is gone. */

/// The virtio console driver.
public final class VirtioConsole: VirtioDriver, ConsoleDevice {
    /// Drives virtio consoles.
    public let deviceType = VirtioDeviceID.console
    /// No features: the device's basic behaviour is all this driver uses.
    public let knownFeatures: Set<Int> = []
    /// How many pages of output may be with the device at once.
    static let transmitPages = 4

    /// The receive and transmit queues, once found.
    var receive: Virtqueue?
    var transmit: Virtqueue?
    /// The page the device fills with input, and whether it has it now.
    var receivePage = GuestPhysicalAddress(0)
    var receivePosted = false
    /// Input received and not yet read, and whether the input has ended.
    var input: [UInt8] = []
    var endOfInput = false
    /// Transmit pages free to fill, and those with the device, by head.
    var freeTransmit: [GuestPhysicalAddress] = []
    var sending: [UInt16: GuestPhysicalAddress] = [:]
    /// Where readers wait for input.
    var readers = WaitChannel?.none
    /// Where writers wait for a transmit page.
    var writers = WaitChannel?.none

    public init() {}

    /// The boot log's line.
    public var summary: String { "2 queues, the console from here on" }

    /// Read the config, allocate buffers, find the queue(s), register the device.
    public func probe(_ kernel: GuestKernel, _ device: LguestDevice, features: Set<Int>) throws(GuestStopped) -> String? {
        guard let pages = try kernel.allocateContiguousPages(1 + Self.transmitPages) else { return "no memory for buffers" }
        receivePage = pages
        freeTransmit = (1...Self.transmitPages).map { pages &+ UInt32($0 * pageSize) }
        switch try device.findQueue(kernel, ConsoleQueue.receive, callback: { [weak self] kernel throws(GuestStopped) in
            try self?.received(kernel)
        }) {
        case .failure(let error): return "\(error)"
        case .success(let queue): receive = queue
        }
        switch try device.findQueue(kernel, ConsoleQueue.transmit, callback: { [weak self] kernel throws(GuestStopped) in
            try self?.sent(kernel)
        }) {
        case .failure(let error): return "\(error)"
        case .success(let queue): transmit = queue
        }
        try transmit?.suppressInterrupts(kernel, true)
        readers = kernel.makeWaitChannel()
        writers = kernel.makeWaitChannel()
        kernel.attachConsole(self)
        return nil
    }

    /// A stream: no size, no seeking.
    public var size: UInt64? { nil }
    /// The console may be opened any way.
    public func refusal(readable: Bool, writable: Bool) -> DeviceFileError? { nil }
    /// Nothing is kept per open file.
    public func close(_ kernel: GuestKernel, file: OpenFileID) {}
}
/*:*/

/*D:162 Console output.

`send()` takes back what the device has finished with, then puts as much as fits into free transmit
pages, one buffer each, and kicks once. `printk()` may not wait, so for it the console answers false
when the whole message does not fit, and the kernel falls back on the early console (`G:047`). */

extension VirtioConsole {
    /// Write `bytes` for `file`, or say to wait.
    public func write(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, bytes: [UInt8]) throws(GuestStopped) -> DeviceWriteResult {
        let sent = try send(kernel, bytes, all: false)
        if sent > 0 || bytes.isEmpty { return .written(sent) }
        guard let writers, let transmit, !transmit.isBroken else { return .failed(.ioError) }
        // Every page is with the device: ask for the interrupt that gives them back, and wait.
        try transmit.suppressInterrupts(kernel, false)
        return .wait(writers)
    }

    public func print(_ kernel: GuestKernel, _ bytes: [UInt8]) throws(GuestStopped) -> Bool {
        try send(kernel, bytes, all: true) == bytes.count
    }

    /// Queue as much of `bytes` as free pages hold (nothing unless it all fits, when `all`), kick
    /// once, and return how many bytes went.
    func send(_ kernel: GuestKernel, _ bytes: [UInt8], all: Bool) throws(GuestStopped) -> Int {
        guard let transmit, !transmit.isBroken else { return 0 }
        try reclaim(kernel)
        let pagesNeeded = (bytes.count + pageSize - 1) / pageSize
        if all && pagesNeeded > freeTransmit.count { return 0 }
        var sent = 0
        while sent < bytes.count, let page = freeTransmit.popLast() {
            let chunk = Array(bytes[sent..<min(bytes.count, sent + pageSize)])
            try kernel.writePhysical(page, chunk)
            guard let head = try transmit.add(kernel, [.init(page, length: UInt32(chunk.count), deviceWrites: false)]) else {
                freeTransmit.append(page)
                break
            }
            sending[head] = page
            sent += chunk.count
        }
        if sent > 0 { try transmit.kick(kernel) }
        return sent
    }

    /// Take back every transmit page the device has printed.
    func reclaim(_ kernel: GuestKernel) throws(GuestStopped) {
        guard let transmit else { return }
        while let used = try transmit.nextUsed(kernel) {
            if let page = sending.removeValue(forKey: used.head) { freeTransmit.append(page) }
        }
    }

    /// The transmit queue's interrupt (only asked for when a writer waits): pages are back.
    func sent(_ kernel: GuestKernel) throws(GuestStopped) {
        let before = freeTransmit.count
        try reclaim(kernel)
        guard freeTransmit.count > before || transmit?.isBroken == true, let writers else { return }
        try transmit?.suppressInterrupts(kernel, true)
        kernel.wake(writers)
    }
}
/*:*/

/*D:164 Console input.

A read takes buffered input first, then end of file, and only then posts the receive page and kicks.
The interrupt handler appends what the device wrote and wakes every reader: the first to run takes
the bytes, and the others, finding nothing, post the page again and go back to waiting. */

extension VirtioConsole {
    /// Read up to `count` bytes for `file`, or say to wait.
    public func read(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, count: Int) throws(GuestStopped) -> DeviceReadResult {
        if let answer = buffered(count) { return answer }
        guard let receive, let readers, !receive.isBroken else { return .failed(.ioError) }
        if !receivePosted {
            guard try receive.add(kernel, [.init(receivePage, length: UInt32(pageSize), deviceWrites: true)]) != nil else {
                return .failed(.ioError)
            }
            receivePosted = true
            try receive.kick(kernel)
        }
        // The device may have answered during the kick.
        return buffered(count) ?? .wait(readers)
    }

    /// Up to `count` bytes of buffered input, end of file, or nil when there is neither.
    func buffered(_ count: Int) -> DeviceReadResult? {
        if !input.isEmpty {
            let bytes = Array(input.prefix(count))
            input.removeFirst(bytes.count)
            return .bytes(bytes)
        }
        return endOfInput ? .bytes([]) : nil
    }

    /// The receive queue's interrupt: keep what the device wrote (length 0: the end), wake readers.
    func received(_ kernel: GuestKernel) throws(GuestStopped) {
        guard let receive, let readers else { return }
        while let used = try receive.nextUsed(kernel) {
            receivePosted = false
            if used.length == 0 {
                endOfInput = true
            } else {
                input += try kernel.readPhysical(receivePage, count: Int(used.length))
            }
        }
        // A broken queue ends the input rather than leave a reader waiting for ever.
        if receive.isBroken { endOfInput = true }
        kernel.wake(readers)
    }
}
/*:*/
