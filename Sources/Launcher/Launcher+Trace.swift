/*L:110 A trace of the boot, in virtual time.

Counts (`L:090`) say how often the Host was needed; a trace shows *when*, and what the Guest was doing
in between. `lguest boot --trace-out FILE` writes one in the Chrome trace-event format, a JSON file of
events that Perfetto (ui.perfetto.dev) and Chrome's `chrome://tracing` both draw as tracks of slices
on a time line (`H:062` shows how to open one). The events come from the Host's own event stream
(`Guest.onEvent`, `H:060`), the one mechanism the tests also watch; this file only draws them:

* **the Host's track**: one slice per visit to the Host, from the trap that brought the Guest back to
  the resume that sends it on, named by its cause: the hypercall's name (`NEW_PGTABLE`), `page fault
  fixed` or `page fault reflected`, `emulated in/out`, `host timer` for the Host's own interrupt, or
  `trap N` for a trap the Host reflects. Inside it, instant events for each hypercall (those from the
  async ring too), each interrupt delivered, each page fault, each device notification (which device
  and what: a status change or a kick of a queue) and the Guest's end;
* **a track per Guest process**, and one for the Guest kernel: a slice for each stretch the Guest ran
  between two visits, on the track of the process the Guest kernel says it is running
  (`GuestKernel.runningProcess`, asked at each resume). System calls through a direct trap (`H:250`)
  never reach the Host, so they do not split a slice: a stretch of a program's slice is a program and
  its kernel answering it, which is exactly what a direct trap is for;
* one trace "process" per boot, since a restart begins a fresh machine whose clock starts again at 0.

Time stamps are the virtual clock's nanoseconds written as microseconds with three decimals (the
format's unit), so the same command writes the same bytes every time. Every slice is a complete event
(`"ph": "X"` with its `dur`), written when it ends, and the instants inside a visit are held back until
the visit's slice is out, so each track's time stamps never go backwards: the format does not demand
it, but a file that keeps to it is easy to check, and the tests do. */

import Guest
import Host
import LguestABI
import Machine
import Switcher

/// A Chrome trace-event file in the making: metadata naming the tracks, then the events in order.
public struct ChromeTrace: Sendable, Equatable {
    /// `"ph": "M"` events that name each boot and each track, one JSON object each.
    var metadata: [String] = []
    /// The trace's events, one JSON object each, in the order they were written.
    var events: [String] = []

    /// The whole file: `{"displayTimeUnit": "ns", "traceEvents": [...]}`, one event per line.
    public var json: String {
        let all = metadata + events
        return "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n" + all.joined(separator: ",\n") + "\n]}\n"
    }

    /// Adds `other`'s tracks and events after this trace's.
    mutating func append(_ other: ChromeTrace) {
        metadata += other.metadata
        events += other.events
    }
}
/*:*/

/*L:112 The recorder: from Host events to slices.

`TraceRecorder` keeps two things open at a time: the Host visit in progress (its start, its trap
vector, and its cause once an event names one) and the Guest stretch in progress (its start and its
track). A trap ends the stretch and opens a visit; a resume ends the visit and opens a stretch. Tracks
are numbered so that they sort sensibly in a viewer: 1 is the Host, 2 the Guest kernel, 100 + pid a
process. */

/// Turns one boot's Host events into a `ChromeTrace`. Installed by `Launcher.bootOnce` as the
/// Guest's `onEvent`, and told of device notifications by its `onNotify`.
final class TraceRecorder {
    /// The trace's process id for this boot (1 for the first boot, 2 after a restart, ...).
    let boot: Int
    /// Asked at each resume: the process the Guest kernel is running, if any.
    let runningProcess: () -> (pid: UInt32, name: String)?
    /// What has been written so far.
    private(set) var trace = ChromeTrace()
    /// The Host visit in progress: when it began, its vector, and its cause once known.
    private var visit: (start: UInt64, vector: UInt8, cause: String?)?
    /// Instant events inside the visit in progress, held until its slice is written.
    private var heldInstants: [String] = []
    /// The Guest stretch in progress: when it began, its track and the slice's name.
    private var stretch: (start: UInt64, track: Int, name: String)?
    /// Tracks already named in the metadata.
    private var namedTracks: Set<Int> = []

    /// The Host's track and the Guest kernel's.
    static let hostTrack = 1, kernelTrack = 2

    /// A recorder for boot number `boot`, asking `runningProcess` which process runs.
    init(boot: Int, runningProcess: @escaping () -> (pid: UInt32, name: String)?) {
        self.boot = boot
        self.runningProcess = runningProcess
        trace.metadata.append(Self.object([("name", .text("process_name")), ("ph", .text("M")), ("pid", .number(boot)),
                                           ("args", .raw(Self.object([("name", .text("lguest boot \(boot)"))])))]))
        name(track: Self.hostTrack, "Host")
        name(track: Self.kernelTrack, "Guest kernel")
    }

    /// Records `event`, which the Host reported at virtual nanosecond `time`.
    func record(_ time: UInt64, _ event: HostEvent) {
        switch event {
        case let .trap(vector):
            endStretch(at: time)
            endVisit(at: time)
            visit = (time, vector, nil)
        case .resume:
            endVisit(at: time)
            beginStretch(at: time)
        case let .hypercall(call, asynchronous):
            if !asynchronous { nameVisit(call.name) }
            instant(time, call.name, category: "hypercall", args: [("async", .raw(asynchronous ? "true" : "false"))])
        case let .interrupt(vector):
            instant(time, "interrupt \(vector)", category: "interrupt", args: [("vector", .number(Int(vector)))])
        case let .pageFault(address, fixed):
            let name = fixed ? "page fault fixed" : "page fault reflected"
            nameVisit(name)
            instant(time, name, category: "page fault", args: [("address", .text("\(address)"))])
        case .emulated:
            nameVisit("emulated in/out")
            instant(time, "emulated in/out", category: "trap", args: [])
        case let .exit(exit):
            instant(time, "guest exit", category: "exit", args: [("how", .text("\(exit)"))])
        }
    }

    /// Records a device notification at virtual nanosecond `time`, meaning `meaning` (`DeviceBus`).
    func notify(_ time: UInt64, _ meaning: String) {
        instant(time, "notify \(meaning)", category: "device", args: [])
    }

    /// Ends whatever is open at virtual nanosecond `time`, when the boot is over.
    func finish(at time: UInt64) {
        endStretch(at: time)
        endVisit(at: time)
    }
    /*:*/

    /*L:114 Writing slices, instants and names.

    The rest is bookkeeping. A visit's name falls back on its vector when no event named a cause; a
    stretch's track comes from the Guest kernel's answer; a track gets its `thread_name` the first time
    it is used, in the metadata, which goes at the top of the file whatever its time. */

    /// Gives the open visit its cause, unless an earlier event already did.
    private func nameVisit(_ cause: String) {
        if visit != nil && visit?.cause == nil { visit?.cause = cause }
    }

    /// Writes the open visit's slice, then the instants held inside it.
    private func endVisit(at time: UInt64) {
        guard let open = visit else { return }
        visit = nil
        let name = open.cause ?? (open.vector == Switcher.hostTimerVector ? "host timer" : "trap \(open.vector)")
        trace.events.append(slice(name, category: "world switch", track: Self.hostTrack, from: open.start, to: time,
                                  args: [("vector", .number(Int(open.vector)))]))
        trace.events += heldInstants
        heldInstants.removeAll()
    }

    /// Opens a stretch of Guest running on the track of the process the kernel names.
    private func beginStretch(at time: UInt64) {
        endStretch(at: time)
        if let process = runningProcess() {
            let track = 100 + Int(process.pid)
            name(track: track, "pid \(process.pid) \(process.name)")
            stretch = (time, track, process.name)
        } else {
            stretch = (time, Self.kernelTrack, "kernel")
        }
    }

    /// Writes the open stretch's slice.
    private func endStretch(at time: UInt64) {
        guard let open = stretch else { return }
        stretch = nil
        trace.events.append(slice(open.name, category: "guest", track: open.track, from: open.start, to: time, args: []))
    }

    /// An instant event on the Host's track: held while a visit is open, written at once otherwise.
    private func instant(_ time: UInt64, _ name: String, category: String, args: [(String, JSONValue)]) {
        let event = Self.object([("name", .text(name)), ("cat", .text(category)), ("ph", .text("i")), ("s", .text("t")),
                                 ("ts", .raw(Self.microseconds(time))), ("pid", .number(boot)),
                                 ("tid", .number(Self.hostTrack)), ("args", .raw(Self.object(args)))])
        if visit != nil { heldInstants.append(event) } else { trace.events.append(event) }
    }

    /// A complete event on `track` from `start` to `end`.
    private func slice(_ name: String, category: String, track: Int, from start: UInt64, to end: UInt64,
                       args: [(String, JSONValue)]) -> String {
        Self.object([("name", .text(name)), ("cat", .text(category)), ("ph", .text("X")),
                     ("ts", .raw(Self.microseconds(start))), ("dur", .raw(Self.microseconds(end - start))),
                     ("pid", .number(boot)), ("tid", .number(track)), ("args", .raw(Self.object(args)))])
    }

    /// Names `track` in the metadata, once.
    private func name(track: Int, _ name: String) {
        guard namedTracks.insert(track).inserted else { return }
        trace.metadata.append(Self.object([("name", .text("thread_name")), ("ph", .text("M")), ("pid", .number(boot)),
                                           ("tid", .number(track)), ("args", .raw(Self.object([("name", .text(name))])))]))
        trace.metadata.append(Self.object([("name", .text("thread_sort_index")), ("ph", .text("M")), ("pid", .number(boot)),
                                           ("tid", .number(track)), ("args", .raw(Self.object([("sort_index", .number(track))])))]))
    }

    /*:*/

    /*L:116 JSON by hand.

    Foundation's `JSONSerialization` would write the same events, but in an order of keys and a form of
    numbers that are its own to change. The trace's bytes are a promise (two runs, one file), so the
    few lines that write JSON are ours: members in the order given, strings escaped as the JSON grammar
    requires (quotes, backslashes, control characters; every other character as it is, in UTF-8), and
    time stamps as exact decimals made from integers, never through a `Double`. */

    /// A JSON value as this file writes them.
    enum JSONValue {
        case text(String)
        case number(Int)
        /// Already JSON: an object, `true`, or a time stamp.
        case raw(String)
    }

    /// A JSON object of `members`, in order.
    static func object(_ members: [(String, JSONValue)]) -> String {
        "{" + members.map { key, value in
            let written = switch value {
            case let .text(text): quoted(text)
            case let .number(number): "\(number)"
            case let .raw(raw): raw
            }
            return quoted(key) + ":" + written
        }.joined(separator: ",") + "}"
    }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Virtual nanoseconds as the format's microseconds, with three decimals: `1234567` is `1234.567`.
    static func microseconds(_ nanoseconds: UInt64) -> String {
        let fraction = String(nanoseconds % 1000)
        return "\(nanoseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
/*:*/
