/*L:192 The console's output, early or late.

A Guest prints in two ways during its life: through the early console (`L:070`), one `NOTIFY` per
string, until its console driver is up, and through the console device's transmit queue after that. A
reader of the output should never be able to tell which: the same bytes go to the same place. So both
roads end in one `ConsoleOutput`, which keeps every byte for the boot's result and hands text to the
`echo` callback as it arrives (`swift run lguest` writes it to standard output).

One detail: the transmit queue carries bytes, and a buffer may end in the middle of a multi-byte UTF-8
character whose rest comes in the next. Handing the half to `echo` would print a replacement character
where the Guest printed none, so `ConsoleOutput` holds back an unfinished character until the rest
arrives. */

import Foundation
import Host
import LguestABI
import Machine

/// Where a Guest's console output goes: kept whole, and echoed as it arrives.
public final class ConsoleOutput {
    /// Every byte printed so far.
    public private(set) var bytes: [UInt8] = []
    /// Receives the text as it arrives.
    let echo: (String) -> Void
    /// The start of a UTF-8 character whose remaining bytes have not arrived yet.
    private var unfinished: [UInt8] = []

    /// Output that `echo` sees as it arrives.
    public init(echo: @escaping (String) -> Void = { _ in }) {
        self.echo = echo
    }

    /// Everything printed, as text.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Prints `new`.
    public func write(_ new: [UInt8]) {
        bytes += new
        let pending = unfinished + new
        let split = pending.count - Self.unfinishedSuffixLength(pending)
        unfinished = Array(pending[split...])
        if split > 0 { echo(String(decoding: pending[..<split], as: UTF8.self)) }
    }

    /// The length of an incomplete UTF-8 character at the end of `bytes` (0 when it ends cleanly).
    static func unfinishedSuffixLength(_ bytes: [UInt8]) -> Int {
        // Look back at most three bytes for the lead byte of the last character. A Guest can print
        // nothing at all (an early-console string that is just its NUL), and `1...0` would trap.
        guard !bytes.isEmpty else { return 0 }
        for back in 1...min(3, bytes.count) {
            let byte = bytes[bytes.count - back]
            guard byte & 0xC0 == 0x80 else {
                // A lead byte: 110xxxxx wants 2 bytes in all, 1110xxxx 3, 11110xxx 4.
                let wanted = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                return wanted > back ? back : 0
            }
        }
        return 0
    }
}
/*:*/

/*L:193 The console's input.

The Guest's programs read their standard input from the console's receive queue, and the Launcher
decides where those bytes come from: the text of `--input`, or the Launcher's own standard input with
`--stdin`, or, with neither, nothing at all. `ConsoleInput` serves them out in order and remembers how
far it got, across device resets and reboots, since the same input should never be read twice.

Standard input is read lazily, only when the Guest posts a buffer, and only as much as that buffer
holds: a Guest that never reads never makes the Launcher wait for a keyboard. When the source runs dry,
`read` returns no bytes, which the console device turns into end of file (`L:196`). */

/// Where console input comes from.
public enum ConsoleInputSource: Sendable, Equatable {
    /// These bytes, then end of file.
    case bytes([UInt8])
    /// The Launcher's standard input, until it ends.
    case standardInput
}

/// The console's input, served out in order.
public final class ConsoleInput {
    /// Where the bytes come from.
    let source: ConsoleInputSource
    /// How far into `.bytes` we have got.
    private var position = 0
    /// Whether the source has ended; it stays ended.
    public private(set) var ended = false

    /// Input from `source`.
    public init(_ source: ConsoleInputSource) {
        self.source = source
    }

    /// Up to `maximum` more bytes; none once the input has ended.
    public func read(maximum: Int) -> [UInt8] {
        guard !ended, maximum > 0 else { return [] }
        let maximum = min(maximum, Self.largestRead)
        let bytes: [UInt8]
        switch source {
        case let .bytes(all):
            bytes = Array(all[min(position, all.count)..<min(position + maximum, all.count)])
            position += bytes.count
        case .standardInput:
            bytes = Self.readStandardInput(maximum: maximum)
        }
        if bytes.isEmpty { ended = true }
        return bytes
    }

    /// The most one read hands over, whatever the buffers could hold.
    static let largestRead = 65536

    /// One `read(2)` of at most `maximum` bytes from file descriptor 0; none at its end or on an error.
    static func readStandardInput(maximum: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maximum)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(0, $0.baseAddress, maximum) }
            if count < 0 && errno == EINTR { continue }
            return count > 0 ? Array(buffer[..<count]) : []
        }
    }
}
/*:*/

/*L:196 The console device.

The console is the simplest device there is: two queues and nothing to configure. The driver posts
empty, writable buffers on the receive queue when a program wants input, and the device fills each
with as many input bytes as fit and gives it back with that length. When the input has ended, it gives
a buffer back empty, length 0, and the driver reads that as end of file; from then on every buffer
comes back the same way, as a terminal at end of file keeps answering reads with 0.

On the transmit queue the driver posts readable buffers of output, and the device prints them through
the same `ConsoleOutput` as the early console (at most 1 MiB of one request, `largestOutput`), and
gives them back having written nothing.

A buffer the wrong way round (a readable one on the receive queue, a writable one on the transmit
queue) is a driver that does not know what it is doing, and it dies: we would otherwise have to guess
what it meant. */

/// The console device: input on queue 0, output on queue 1.
public final class ConsoleDevice: DeviceService {
    /// The most one transmit request prints.
    public static let largestOutput = 1 << 20
    public let kind = VirtioDeviceID.console
    public let name = "console"
    public let queueCount = 2
    public let offeredFeatures: [UInt8] = []
    public let config: [UInt8] = []
    /// Where input comes from.
    let input: ConsoleInput
    /// Where output goes.
    let output: ConsoleOutput

    /// A console reading `input` and printing to `output`.
    public init(input: ConsoleInput, output: ConsoleOutput) {
        self.input = input
        self.output = output
    }

    public func serve(_ chain: DescriptorChain, queue: Int, memory: GuestMemory) throws(GuestViolation) -> ServedRequest {
        if queue == ConsoleQueue.receive {
            guard chain.readable.isEmpty else {
                throw GuestViolation("console: receive buffer \(chain.head) is readable")
            }
            let bytes = input.read(maximum: chain.writableLength)
            let written = try DescriptorChain.scatter(bytes, into: chain.writable, memory: memory)
            return ServedRequest(written: UInt32(written), payload: written)
        }
        guard chain.writable.isEmpty else {
            throw GuestViolation("console: transmit buffer \(chain.head) is writable")
        }
        let bytes = try chain.gather(from: memory, upTo: Self.largestOutput)
        output.write(bytes)
        return ServedRequest(written: 0, payload: bytes.count)
    }
}
/*:*/
