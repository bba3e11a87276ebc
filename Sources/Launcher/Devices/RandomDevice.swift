/*L:199 The random-number device, and why it is not random.

A kernel needs unpredictable bytes for many things (address-space layout, hash seeds, keys) and a
virtual machine has little of the hardware noise a real one collects them from. lguest's answer was a
virtio rng device whose Launcher read `/dev/urandom` on the host and handed the bytes over.

This edition makes a different promise: the same command prints the same bytes, every time, because
time is virtual (`X:600`). A Guest that read the host's `/dev/urandom` could print a different line on every
run, and every test that looked at its output would become a test of luck. So our device draws from a
*seeded* generator, SplitMix64: sixty-four bits of state, a constant added each step and the result
mixed by two multiply-xorshift rounds. It passes the usual statistical tests and is nothing like
cryptographic, which is fine for a teaching machine and would be a disaster anywhere else. `--rng-seed
N` chooses the seed; without it the seed is `RandomDevice.defaultSeed`. The same seed gives the same
bytes, a different seed different ones, and the Guest cannot tell either from noise. */

import Host
import LguestABI
import Machine

/// SplitMix64: a small, fast, seeded generator of 64-bit values (not for cryptography).
public struct SplitMix64: Sendable {
    /// The generator's whole state.
    private var state: UInt64

    /// A generator started from `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// The next `count` bytes, eight from each value, least significant first.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let value = next()
            for index in 0..<min(8, count - bytes.count) { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
        }
        return bytes
    }
}
/*:*/

/*L:211 Serving the rng.

The driver posts writable buffers and the device fills them, up to 64 KiB a request: the used length
tells the driver how much it got, and a Guest cannot make us generate gigabytes by posting one buffer
many times over. A readable buffer in an rng
request means the driver is confused about which way the bytes go, and it dies. The generator's state
carries on from request to request, and across a device reset too: a reset driver should get fresh
bytes, not the same ones again. */

/// The rng device: one queue of buffers to fill.
public final class RandomDevice: DeviceService {
    /// The seed without `--rng-seed`.
    public static let defaultSeed: UInt64 = 0x6C67_7565_7374
    /// The most bytes one request gets; a driver asking for more gets this many, and the used
    /// length says so (the buffers are the Guest's, and may overlap to claim gigabytes).
    public static let largestRequest = 65536
    public let kind = VirtioDeviceID.rng
    public let name = "rng"
    public let queueCount = 1
    public let offeredFeatures: [UInt8] = []
    public let config: [UInt8] = []
    /// Where the bytes come from.
    private var generator: SplitMix64

    /// An rng device whose bytes follow from `seed`.
    public init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    public func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(GuestViolation) -> ServedRequest {
        guard chain.readable.isEmpty else {
            throw GuestViolation("rng: request \(chain.head) has readable buffers")
        }
        let bytes = generator.bytes(min(chain.writableLength, Self.largestRequest))
        let written = try DescriptorChain.scatter(bytes, into: chain.writable, memory: memory)
        return ServedRequest(written: UInt32(written), payload: written)
    }
}
/*:*/
