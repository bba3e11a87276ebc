/*L:198 The block device.

A virtio disk is one queue of requests and eight bytes of configuration: its capacity, in 512-byte
sectors. It offers two features (`P:630`): `flush`, since it honours flush requests, and `readOnly`
when the image was opened with `--disk-read-only`, so that a driver knows not to try. Feature bit 9
lands in the second byte of the bitmap, so the bitmap is two bytes long.

A read-only disk does not rely on the driver having accepted `readOnly`: the device must never depend
on a feature the driver did not accept (`P:630`), so a write to it simply fails, whatever the driver
thinks.

A disk may also take its time: with a `latency` (`--disk-latency NS`) each request is answered that many
virtual nanoseconds after the device took it (`L:222`), so a process that reads the disk really waits.
The default is 0, an answer at once. */

import Host
import LguestABI
import Machine

/// The block device: requests on queue 0 against a `DiskImage`.
public final class BlockDevice: DeviceService {
    public let kind = VirtioDeviceID.block
    public let name = "block"
    public let queueCount = 1
    /// The image the requests go to.
    public let image: DiskImage
    /// What a get-id request answers, padded with zeros to `BlockDevice.idLength` bytes.
    static let identity = Array("lguest-swift-disk".utf8)
    /// The largest transfer one request may ask for; larger ones get `ioError`.
    public static let largestTransfer = 4 << 20
    /// The length of a disk's id string (`VIRTIO_BLK_ID_BYTES`).
    static let idLength = 20

    /// How long each request takes to answer, in virtual nanoseconds.
    public let latency: UInt64

    /// A block device serving `image`, answering each request `latency` virtual nanoseconds after it
    /// was taken (0: at once).
    public init(image: DiskImage, latency: UInt64 = 0) {
        self.image = image
        self.latency = latency
    }

    public var offeredFeatures: [UInt8] {
        var bits: [Int] = [VirtioBlockFeature.flush]
        if image.readOnly { bits.append(VirtioBlockFeature.readOnly) }
        var bitmap = [UInt8](repeating: 0, count: 2)
        for bit in bits { bitmap[bit / 8] |= 1 << UInt8(bit % 8) }
        return bitmap
    }

    public var config: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: image.sectorCount >> (8 * UInt64($0))) } }
}
/*:*/

/*L:210 Serving one disk request.

A request is a chain in three parts (`P:640`): a 16-byte header the device reads, the data, and a last
one-byte buffer for the status. `serve` checks its shape first (`L:212`), then does what the header's
type asks and writes the status byte.

A request of the right shape that the disk cannot do is not the driver's fault: it is the disk's
answer. A read or write that runs past the end (computed without overflow, since the sector number is
the Guest's 64-bit choice), one larger than 4 MiB (`largestTransfer`; the buffers may overlap, so a
Guest could otherwise ask for more bytes than it has) and a write to a read-only disk get `ioError`;
a flush the file system refuses gets `ioError` too; a type the device does not know gets
`unsupported`, as real hardware would answer. The used length counts the bytes written into the
chain: the data read (or the id), and the status byte. */

extension BlockDevice {
    public func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(GuestViolation) -> ServedRequest {
        let request = try BlockRequest(chain, memory: memory)
        let answer: BlockAnswer
        switch BlockRequestType(rawValue: request.header.type) {
        case .read?: answer = try read(request, memory: memory)
        case .write?: answer = try write(request)
        case .flush?:
            try request.require(readable: false, writable: false, "flush")
            answer = BlockAnswer(status: image.flush() ? .ok : .ioError)
        case .getID?:
            try request.require(readable: false, writable: true, "get id")
            let id = Self.identity + [UInt8](repeating: 0, count: Self.idLength - Self.identity.count)
            answer = BlockAnswer(status: .ok, written: try DescriptorChain.scatter(id, into: request.replies, memory: memory))
        case nil:
            answer = BlockAnswer(status: .unsupported)
        }
        try memory.store8(answer.status.rawValue, at: request.status.address)
        return ServedRequest(written: UInt32(answer.written + 1), payload: answer.payload)
    }

    /// A read: the sectors from the file into the writable buffers.
    private func read(_ request: BlockRequest, memory: GuestMemory) throws(GuestViolation) -> BlockAnswer {
        try request.require(readable: false, writable: true, "read")
        let count = request.replyLength
        guard let offset = range(request.header.sector, count), let bytes = image.read(count: count, at: offset) else {
            return BlockAnswer(status: .ioError)
        }
        let written = try DescriptorChain.scatter(bytes, into: request.replies, memory: memory)
        return BlockAnswer(status: .ok, written: written, payload: written)
    }

    /// A write: the readable data after the header into the file, at once.
    private func write(_ request: BlockRequest) throws(GuestViolation) -> BlockAnswer {
        try request.require(readable: true, writable: false, "write")
        guard !image.readOnly, let offset = range(request.header.sector, request.data.count),
              image.write(Array(request.data), at: offset)
        else { return BlockAnswer(status: .ioError) }
        return BlockAnswer(status: .ok, payload: request.data.count)
    }

    /// The byte offset of `count` bytes from `sector`, or nil when they do not lie wholly on the disk
    /// or are more than `largestTransfer`.
    func range(_ sector: UInt64, _ count: Int) -> UInt64? {
        let (offset, overflow) = sector.multipliedReportingOverflow(by: UInt64(sectorSize))
        guard count <= Self.largestTransfer, !overflow, offset <= image.byteCount,
              UInt64(count) <= image.byteCount - offset
        else { return nil }
        return offset
    }
}

/*:*/

/*L:212 The shape of a disk request.

Before the device acts on a request it checks that the chain has the shape of one, and a wrong shape
is a driver bug that kills the Guest with a reason:

* no header: fewer than 16 readable bytes (the header may be split across buffers, which is legal if
  odd);
* no status: the last buffer is not a writable one of exactly one byte;
* the data going the wrong way: readable data on a read or get-id, writable data on a write, any data
  on a flush.

`BlockRequest` is the checked shape; the header's two fields the device needs are decoded into
`BlockHeader`, little-endian, from the readable bytes it copied out once. */

/// What the device answers: the status, the bytes written into the data buffers, the payload moved.
struct BlockAnswer {
    var status: BlockRequestStatus
    var written = 0
    var payload = 0
}

/// A block request whose shape has been checked: a header, the data after it, the writable data
/// buffers, and the status byte.
struct BlockRequest {
    let head: UInt16
    let header: BlockHeader
    /// The readable bytes after the header (at most `largestTransfer + 1` of them).
    let data: ArraySlice<UInt8>
    /// The writable buffers before the status byte.
    let replies: ArraySlice<GuestBuffer>
    /// The status byte's buffer.
    let status: GuestBuffer

    /// Checks the chain's shape (a header, a status) and copies out its readable part.
    init(_ chain: DescriptorChain, memory: GuestMemory) throws(GuestViolation) {
        guard chain.readableLength >= BlockRequestHeader.size else {
            throw GuestViolation("block: request \(chain.head) has no readable \(BlockRequestHeader.size)-byte header")
        }
        guard let status = chain.writable.last, status.length == 1 else {
            throw GuestViolation("block: request \(chain.head) does not end in a 1-byte writable status")
        }
        let readable = try chain.gather(from: memory, upTo: BlockRequestHeader.size + BlockDevice.largestTransfer + 1)
        head = chain.head
        header = BlockHeader(readable)
        data = readable.dropFirst(BlockRequestHeader.size)
        replies = chain.writable.dropLast()
        self.status = status
    }

    /// The total length of the writable data buffers.
    var replyLength: Int { replies.reduce(0) { $0 + Int($1.length) } }

    /// Kills the Guest when a `what` request carries data it may not: readable data unless
    /// `readable`, writable data unless `writable`.
    func require(readable: Bool, writable: Bool, _ what: String) throws(GuestViolation) {
        guard readable || data.isEmpty else { throw GuestViolation("block: \(what) request \(head) carries readable data") }
        guard writable || replies.isEmpty else { throw GuestViolation("block: \(what) request \(head) carries writable data") }
    }
}

/// The two header fields the device acts on, decoded from the first 16 readable bytes.
struct BlockHeader {
    var type: UInt32
    var sector: UInt64

    /// Decodes the header at the start of `bytes`, which holds at least `BlockRequestHeader.size`.
    init(_ bytes: [UInt8]) {
        func field(_ offset: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        type = UInt32(field(BlockRequestHeader.type, 4))
        sector = field(BlockRequestHeader.sector, 8)
    }
}
/*:*/
