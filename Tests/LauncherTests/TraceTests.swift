// The boot trace (L:110-L:114) against the Chrome trace-event format, and the direct-trap switch
// on a real program (H:250).

import Foundation
import Guest
import Host
@testable import Launcher
import LguestABI
import Machine
import Testing

/// A boot of committed `programs` (with `input` on the console) with a trace recorded.
private func tracedBoot(_ programs: [String], input: String = "", directTraps: Bool = true) throws -> BootResult {
    var options = LaunchOptions(memoryMiB: 8, programs: try Launcher.programs(named: programs, in: GuestPrograms.directory.path),
                                commandLine: "init=" + programs.joined(separator: ","))
    options.recordsTrace = true
    options.directTraps = directTraps
    options.input = .bytes(Array(input.utf8))
    return try Launcher.boot(options)
}

/// One event of a parsed trace.
private struct Event {
    let name: String
    let phase: String
    let track: [Int]
    let start: Double?
    let duration: Double?
    let category: String?
    let args: [String: Any]
}

/// Parses `json` as a trace-event file, checking the shape of each event as it goes.
private func parse(_ json: String) throws -> [Event] {
    let top = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    #expect(top["displayTimeUnit"] as? String == "ns")
    let raw = try #require(top["traceEvents"] as? [[String: Any]])
    return try raw.map { object in
        let name = try #require(object["name"] as? String)
        let phase = try #require(object["ph"] as? String)
        let pid = try #require(object["pid"] as? Int)
        let event = Event(name: name, phase: phase, track: [pid, object["tid"] as? Int ?? 0],
                          start: (object["ts"] as? NSNumber)?.doubleValue, duration: (object["dur"] as? NSNumber)?.doubleValue,
                          category: object["cat"] as? String, args: object["args"] as? [String: Any] ?? [:])
        switch phase {
        case "M": #expect(event.args["name"] is String || event.args["sort_index"] is Int, "\(object)")
        case "X": #expect(event.start != nil && (event.duration ?? -1) >= 0, "\(object)")
        case "i": #expect(event.start != nil && object["s"] as? String == "t", "\(object)")
        default: Issue.record("phase \(phase) is not one this trace uses: \(object)")
        }
        return event
    }
}

@Test func l110_aBootsTraceIsValidTraceEventJSONInOrderOnEveryTrack() throws {
    let result = try tracedBoot(["hello", "syscalls", "cat"], input: "a line\n")
    let trace = try #require(result.trace)
    let events = try parse(trace.json)
    // Metadata first, then the timed events.
    let firstTimed = try #require(events.firstIndex { $0.phase != "M" })
    #expect(events[firstTimed...].allSatisfy { $0.phase != "M" })
    // Per track, time never goes backwards, and one slice ends before the next begins.
    let timed = events.filter { $0.phase != "M" }
    for track in Set(timed.map(\.track)) {
        let onTrack = timed.filter { $0.track == track }
        for (earlier, later) in zip(onTrack, onTrack.dropFirst()) {
            #expect(earlier.start! <= later.start!, "track \(track): \(earlier.name) then \(later.name)")
        }
        let slices = onTrack.filter { $0.phase == "X" }
        for (earlier, later) in zip(slices, slices.dropFirst()) {
            #expect(earlier.start! + earlier.duration! <= later.start! + 1e-6, "track \(track): \(earlier.name) overlaps \(later.name)")
        }
    }
    // What the trace must show: switches named by cause, hypercalls by name, interrupts, faults, devices.
    let switches = timed.filter { $0.category == "world switch" }
    #expect(switches.contains { $0.name == "LGUEST_INIT" })
    #expect(switches.contains { $0.name == "page fault fixed" })
    #expect(switches.contains { $0.name == "HALT" && $0.duration! > 0 }, "a halt is the visit with width")
    #expect(timed.contains { $0.category == "hypercall" && $0.name == "NEW_PGTABLE" })
    #expect(timed.contains { $0.category == "hypercall" && $0.args["async"] as? Bool == true })
    #expect(timed.contains { $0.category == "interrupt" && $0.name == "interrupt 32" })
    #expect(timed.contains { $0.category == "device" && $0.name.hasPrefix("notify console kick queue") })
    #expect(timed.contains { $0.category == "device" && $0.name == "notify console status" })
    #expect(timed.last?.name == "guest exit")
    // A track per process, named by the Guest kernel's own pid and program.
    let trackNames = events.filter { $0.phase == "M" && $0.name == "thread_name" }.compactMap { $0.args["name"] as? String }
    #expect(trackNames.starts(with: ["Host", "Guest kernel"]))
    for program in ["hello", "syscalls", "cat"] {
        #expect(trackNames.contains { $0.hasPrefix("pid ") && $0.hasSuffix(" \(program)") }, "\(program) has a track")
        #expect(timed.contains { $0.category == "guest" && $0.name == program && $0.track[1] > 100 })
    }
    // The counts agree with `--stats`: a visit per trap the Host handled.
    let initCount = result.statistics.first { $0.name == "hypercall.NEW_PGTABLE" }?.value ?? 0
    #expect(UInt64(timed.filter { $0.category == "hypercall" && $0.name == "NEW_PGTABLE" }.count) == initCount)
}

@Test func l110_theSameBootWritesTheSameTraceByteForByte() throws {
    let first = try #require(try tracedBoot(["hello", "crc32"], input: "1\n").trace)
    let second = try #require(try tracedBoot(["hello", "crc32"], input: "1\n").trace)
    #expect(first.json == second.json)
    #expect(try tracedBoot(["hello"]).trace != first)
}

@Test func l110_noTraceUnlessAskedAndTheTraceChangesNothingElse() throws {
    let programs = ["hello", "syscalls"]
    let plain = try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: try Launcher.programs(named: programs, in: GuestPrograms.directory.path),
                                                commandLine: "init=hello,syscalls"))
    let traced = try tracedBoot(programs)
    #expect(plain.trace == nil)
    #expect(plain.console == traced.console)
    #expect(plain.statistics.map { "\($0.name) \($0.value)" } == traced.statistics.map { "\($0.name) \($0.value)" })
}

@Test func l112_escapesAndTimeStampsAreWrittenExactly() {
    #expect(TraceRecorder.microseconds(0) == "0.000")
    #expect(TraceRecorder.microseconds(1_234_567) == "1234.567")
    #expect(TraceRecorder.microseconds(5) == "0.005")
    #expect(TraceRecorder.quoted("a \"b\" \\ c\n\u{1}") == #""a \"b\" \\ c\n\u0001""#)
}

@Test func l104_noDirectTrapsSendsEverySystemCallThroughTheHostAndPrintsTheSame() throws {
    let direct = try tracedBoot(["syscall_loop"], input: "200\n")
    let reflected = try tracedBoot(["syscall_loop"], input: "200\n", directTraps: false)
    func count(_ result: BootResult, _ name: String) -> UInt64 { result.statistics.first { $0.name == name }?.value ?? 0 }
    #expect(direct.console == reflected.console)
    #expect(direct.console.contains("getpid gave the same answer 200 times of 200"))
    #expect(count(direct, "guest.system_calls") == count(reflected, "guest.system_calls"))
    // Every system call became a trap the Host reflected, and two world switches more.
    let calls = count(direct, "guest.system_calls")
    #expect(calls > 200)
    #expect(count(reflected, "traps_reflected") - count(direct, "traps_reflected") == calls)
    #expect(count(reflected, "world_switches") - count(direct, "world_switches") == calls)
    // And the trace shows them as visits on vector 0x80.
    let visits = try parse(try #require(reflected.trace).json).filter { $0.category == "world switch" && $0.name == "trap 128" }
    #expect(UInt64(visits.count) == calls)
}

@Test func l110_eachBootAfterARestartIsItsOwnProcessWithItsOwnClock() throws {
    // reboot(LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART): the Guest asks to restart.
    let P = TinyProgram.self
    let again = P.elf(code: P.movEAX(88) + P.movEBX(0xFEE1_DEAD) + P.movECX(672_274_793) + P.movEDX(0x0123_4567) + P.int80)
    var options = LaunchOptions(memoryMiB: 8, programs: [InitrdFile(name: "again", bytes: again)], maximumRestarts: 1)
    options.recordsTrace = true
    let result = try Launcher.boot(options)
    #expect(result.restarts == 1)
    let events = try parse(try #require(result.trace).json)
    let boots = events.filter { $0.name == "process_name" }.compactMap { $0.args["name"] as? String }
    #expect(boots == ["lguest boot 1", "lguest boot 2"])
    // Both boots start their clocks at 0, so each is its own trace process, in order within itself.
    for boot in [1, 2] {
        let timed = events.filter { $0.phase != "M" && $0.track[0] == boot }
        #expect(timed.first?.start == 0)
        #expect(timed.filter { $0.name == "guest exit" }.count == 1)
    }
}
