/*D:170 The disk.

A virtio disk has one queue, and every request is a chain of three parts (`P:640`): a header the
device reads (the type, and the first sector), the data (written by the device for a read, read by
it for a write), and one status byte the device writes last. The data here is one page of ours, a
bounce buffer: `read()` and `write()` of `/dev/vda` move at most a page per call (`G:095`), and the
system call copies between that page and the program.

Its config is the capacity, a little-endian u64 count of 512-byte sectors. Two features matter to
us: `readOnly`, which makes opening for writing `EROFS` (`G:096`), and `flush`, which says the disk
has a write cache, so that `fsync` must send a flush request to empty it (`G:096`).

A disk is not a byte stream, so offsets matter. A read may start anywhere: we read the sectors that
cover it and hand back the part that was asked for, capped so that the sectors fit the bounce page.
A write must cover whole sectors (`EINVAL` otherwise), since writing part of one would need a read
first: Linux's page cache does that work, and we have no page cache. A read at or past the end is end
of file; a write there is `ENOSPC`, and one that runs past the end is cut short, as on Linux.

One request is in flight at a time. A second process that wants the disk meanwhile waits on the same
channel, and tries again when the first request's interrupt wakes everyone.

How fast is it? `vdread` reading an 8 MiB disk a page at a time ran at about 18 guest megabytes per host
second on 4 December 2026 (`lguest-bench block_read_mb_per_s`, BENCHMARKS.md): each page is a system
call, a kick, an interrupt and three copies of the page. Slow for a disk, quick for a teaching machine;
`M:050` says where the time could be won back. */

import Guest
import LguestABI
import Machine

/// The virtio block driver: `/dev/vda`, `/dev/vdb`, ...
public final class VirtioBlock: VirtioDriver, DeviceFile {
    /// Drives virtio disks.
    public let deviceType = VirtioDeviceID.block
    /// Read-only and flush: the two block features this driver understands (`D:170`).
    public let knownFeatures: Set<Int> = [VirtioBlockFeature.readOnly, VirtioBlockFeature.flush]

    /// One request: what it is, for whom, and where.
    struct Request: Equatable {
        /// A read, a write or a flush.
        var kind: BlockRequestType
        /// The byte offset in the disk.
        var offset: UInt64
        /// The bytes asked for.
        var count: Int
    }

    /// The request the device has, with the open file it is for and its head.
    var current: (request: Request, file: OpenFileID, head: UInt16, firstSector: UInt64, sectors: Int)?
    /// Answers waiting for the open file that asked, to collect when it makes its call again.
    var answers: [OpenFileID: (request: Request, result: DeviceResult)] = [:]
    /// Files closed while their request was with the device.
    var orphans: Set<OpenFileID> = []
    /// What the device made of a request: bytes read, bytes written, or a refusal.
    enum DeviceResult: Equatable {
        case read([UInt8]), written(Int), failed(DeviceFileError)
    }

    /// The device's one queue, once found.
    var queue: Virtqueue?
    /// The disk's size in sectors, from its config.
    public private(set) var capacitySectors: UInt64 = 0
    /// Whether the device offered, and we accepted, `readOnly`.
    public private(set) var readOnly = false
    /// Whether the device offered, and we accepted, `flush`: it has a write cache `fsync` must empty.
    public private(set) var flushes = false
    /// Its name under /dev (`vda`).
    public private(set) var name = ""
    /// The page holding the header (at 0) and the status byte (at 16), and the data page.
    var controlPage = GuestPhysicalAddress(0)
    var dataPage = GuestPhysicalAddress(0)
    /// Where callers wait for the disk.
    var waiters = WaitChannel?.none

    public init() {}

    /// The boot log's line: name, size, and whether it is read-only.
    public var summary: String { "\(name): \(capacitySectors) sectors\(readOnly ? ", read-only" : "")" }
    /// The disk's size in bytes.
    public var size: UInt64? { capacitySectors &* UInt64(sectorSize) }
}
/*:*/

/*D:171 Probing a disk.

The probe reads the capacity from the config (refusing one whose size in bytes would not fit 64 bits,
which would make every offset check meaningless), notes whether the disk is read-only, allocates its
two bounce pages, finds its one queue, and registers it under the first free name of `vda` to `vdz`. */

extension VirtioBlock {
    /// Read the config, allocate buffers, find the queue(s), register the device.
    public func probe(_ kernel: GuestKernel, _ device: LguestDevice, features: Set<Int>) throws(GuestStopped) -> String? {
        guard let config = try device.config(kernel, offset: 0, count: 8) else { return "config too short for a capacity" }
        let capacity = config.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        // A capacity whose byte count does not fit 64 bits would make every offset check meaningless.
        guard capacity <= UInt64.max / UInt64(sectorSize) else { return "capacity \(capacity) sectors is too large" }
        capacitySectors = capacity
        readOnly = features.contains(VirtioBlockFeature.readOnly)
        flushes = features.contains(VirtioBlockFeature.flush)
        guard let pages = try kernel.allocateContiguousPages(2) else { return "no memory for buffers" }
        controlPage = pages
        dataPage = pages &+ UInt32(pageSize)
        switch try device.findQueue(kernel, 0, callback: { [weak self] kernel throws(GuestStopped) in
            try self?.completed(kernel)
        }) {
        case .failure(let error): return "\(error)"
        case .success(let found): queue = found
        }
        waiters = kernel.makeWaitChannel()
        // The first free name of vda, vdb, ... vdz.
        for letter in UInt8(ascii: "a")...UInt8(ascii: "z") {
            let candidate = "vd" + String(UnicodeScalar(letter))
            if kernel.registerDevice(candidate, self) {
                name = candidate
                return nil
            }
        }
        return "no name left under /dev"
    }

    /// Whether this device may be opened so.
    public func refusal(readable: Bool, writable: Bool) -> DeviceFileError? {
        writable && readOnly ? .readOnly : nil
    }

    /// Forget what is kept for `file`.
    public func close(_ kernel: GuestKernel, file: OpenFileID) {
        answers[file] = nil
        if current?.file == file { orphans.insert(file) }
    }
}
/*:*/

/*D:172 Reading and writing.

Both calls have the same three steps: collect an answer this open file is owed (the call being made
again after a wait), refuse or trim what cannot be done, and otherwise submit and, unless the device
answered during the kick, wait. */

extension VirtioBlock {
    /// Read up to `count` bytes for `file`, or say to wait.
    public func read(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, count: Int) throws(GuestStopped) -> DeviceReadResult {
        let capacity = capacitySectors &* UInt64(sectorSize)
        guard offset < capacity else { return .bytes([]) }
        // Trim to the end of the disk, and to what one page of whole sectors covers.
        let within = Int(offset % UInt64(sectorSize))
        let length = min(count, Int(min(capacity - offset, UInt64(pageSize))), pageSize - within)
        let request = Request(kind: .read, offset: offset, count: length)
        switch try perform(kernel, request, file: file) {
        case .wait(let channel): return .wait(channel)
        case .answer(.read(let bytes)): return .bytes(bytes)
        case .answer(.failed(let error)): return .failed(error)
        case .answer(.written): return .failed(.ioError)
        }
    }

    /// Write `bytes` for `file`, or say to wait.
    public func write(_ kernel: GuestKernel, file: OpenFileID, offset: UInt64, bytes: [UInt8]) throws(GuestStopped) -> DeviceWriteResult {
        guard !readOnly else { return .failed(.readOnly) }
        guard offset % UInt64(sectorSize) == 0, bytes.count % sectorSize == 0 else { return .failed(.invalidArgument) }
        let capacity = capacitySectors &* UInt64(sectorSize)
        guard offset < capacity else { return .failed(.noSpace) }
        let length = min(bytes.count, Int(min(capacity - offset, UInt64(pageSize))))
        switch try perform(kernel, Request(kind: .write, offset: offset, count: length), file: file,
                           data: Array(bytes.prefix(length))) {
        case .wait(let channel): return .wait(channel)
        case .answer(.written(let count)): return .written(count)
        case .answer(.failed(let error)): return .failed(error)
        case .answer(.read): return .failed(.ioError)
        }
    }
}
/*:*/

/*D:174 Submitting a request, and its interrupt.

`perform()` is the three steps of `D:172`'s calls in one place, and `submit()` builds the chain: a
flush has no data, so its chain is the header and the status alone. The data page belongs to whichever
request is in flight, so a write copies its data in only once the disk is known to be free; copying
earlier could overwrite the page under a read the device has finished but whose interrupt we have not
yet taken. The interrupt handler reads the status byte, keeps the answer for the open file that asked
(unless it was closed meanwhile), and wakes everyone waiting for the disk. */

extension VirtioBlock {
    /// `fsync`: a flush request when the disk has a write cache to flush (it offered `flush`); a disk
    /// without one has made every write durable already.
    public func flush(_ kernel: GuestKernel, file: OpenFileID) throws(GuestStopped) -> DeviceWriteResult {
        guard flushes else { return .written(0) }
        switch try perform(kernel, Request(kind: .flush, offset: 0, count: 0), file: file) {
        case .wait(let channel): return .wait(channel)
        case .answer(.written): return .written(0)
        case .answer(.failed(let error)): return .failed(error)
        case .answer(.read): return .failed(.ioError)
        }
    }

    /// What `perform()` came to: wait on a channel, or the answer.
    enum Outcome { case wait(WaitChannel), answer(DeviceResult) }

    /// Collect `file`'s answer to `request`, or submit it, or wait for the disk to be free.
    func perform(_ kernel: GuestKernel, _ request: Request, file: OpenFileID,
                 data: [UInt8] = []) throws(GuestStopped) -> Outcome {
        if let owed = answers[file], owed.request == request {
            answers[file] = nil
            return .answer(owed.result)
        }
        guard let waiters, let queue, !queue.isBroken else { return .answer(.failed(.ioError)) }
        if current != nil { return .wait(waiters) }
        guard let (head, firstSector, sectors) = try submit(kernel, request, data: data, to: queue) else {
            return .answer(.failed(.ioError))
        }
        current = (request, file, head, firstSector, sectors)
        try queue.kick(kernel)
        // Answered during the kick: collect it now.
        if let owed = answers[file], owed.request == request {
            answers[file] = nil
            return .answer(owed.result)
        }
        return .wait(waiters)
    }

    /// Put `request` on `queue`: header, data (none for a flush) and status; its head, first sector
    /// and sector count, or nil when the ring has no room.
    func submit(_ kernel: GuestKernel, _ request: Request, data: [UInt8],
                to queue: Virtqueue) throws(GuestStopped) -> (UInt16, UInt64, Int)? {
        // Only now is the data page ours to fill: no request of anyone else's is using it.
        if request.kind == .write { try kernel.writePhysical(dataPage, data) }
        let firstSector = request.offset / UInt64(sectorSize)
        let within = Int(request.offset % UInt64(sectorSize))
        let sectors = (within + request.count + sectorSize - 1) / sectorSize
        // The header: type, priority 0, first sector; the status byte the device overwrites.
        var header = [UInt8](repeating: 0, count: BlockRequestHeader.size)
        for byte in 0..<4 { header[BlockRequestHeader.type + byte] = UInt8(truncatingIfNeeded: request.kind.rawValue >> (8 * byte)) }
        for byte in 0..<8 { header[BlockRequestHeader.sector + byte] = UInt8(truncatingIfNeeded: firstSector >> (8 * byte)) }
        try kernel.writePhysical(controlPage, header + [0xFF])
        var buffers: [Virtqueue.Buffer] = [.init(controlPage, length: UInt32(BlockRequestHeader.size), deviceWrites: false)]
        if request.kind != .flush {
            buffers.append(.init(dataPage, length: UInt32(sectors * sectorSize), deviceWrites: request.kind == .read))
        }
        buffers.append(.init(controlPage &+ UInt32(BlockRequestHeader.size), length: 1, deviceWrites: true))
        guard let head = try queue.add(kernel, buffers) else { return nil }
        return (head, firstSector, sectors)
    }

    /*D:176 The interrupt, and the answers nobody asked for.

    Three details of `completed()` are worth a look. The queue itself already refuses a used entry for a
    buffer it never gave (`D:146`), and with one request in flight that leaves only the right head; the
    `guard` that skips any other is a second lock on the same door, there so that a driver grown to keep
    several requests in flight (`M:050`) cannot let a stray head finish someone else's. A file closed
    while its request was in flight is in `orphans`, and its answer is dropped instead of waiting for
    ever in `answers`. And a queue that the driver has found broken (`D:146`) fails the request in
    flight with `EIO`, so no reader sleeps on a disk that will never answer. */
    /// The disk's interrupt: finish the request in flight and wake whoever waits.
    func completed(_ kernel: GuestKernel) throws(GuestStopped) {
        guard let queue, let waiters else { return }
        while let used = try queue.nextUsed(kernel) {
            guard let request = current, request.head == used.head else { continue }
            current = nil
            let status = try kernel.readPhysical8(controlPage &+ UInt32(BlockRequestHeader.size))
            let result: DeviceResult
            if status != BlockRequestStatus.ok.rawValue {
                result = .failed(.ioError)
            } else if request.request.kind == .read {
                let within = Int(request.request.offset % UInt64(sectorSize))
                result = .read(try kernel.readPhysical(dataPage &+ UInt32(within), count: request.request.count))
            } else {
                result = .written(request.request.count)
            }
            if orphans.remove(request.file) == nil { answers[request.file] = (request.request, result) }
        }
        // A broken queue fails the request in flight rather than leave its caller waiting for ever.
        if queue.isBroken, let request = current {
            current = nil
            if orphans.remove(request.file) == nil { answers[request.file] = (request.request, .failed(.ioError)) }
        }
        kernel.wake(waiters)
    }
}
/*:*/

/*M:050 Where the drivers could go next.

The drivers of this chapter do the least that works, and each gap is a good exercise:

* *Flush on close.* Linux flushes a disk's cache when its last user closes it; ours flushes only when a
  program calls `fsync`. Closing cannot wait in our kernel, but it could queue the flush and let the
  next user of the disk wait for it.
* *More than one request in flight.* `VirtioBlock` keeps one request at a time. A real driver keeps as
  many as the ring has room for, each with its own bounce buffer (or none: a driver that maps the
  program's own pages can hand them to the device directly), and counts how many notifications the
  device's `noNotify` saved (`D:144`).
* *Indirect descriptors.* A long request could take one slot of the ring with an indirect table
  (`P:620`): allocate the table, fill it, and add one descriptor with the `indirect` flag.
* *Networking.* lguest's Launcher had a network device, virtio id 1. A driver is two queues like the
  console's, with a header in front of each packet; the hard part is everything above it. :*/
