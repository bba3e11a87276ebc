import CCmark
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/*W:450 Figures that the machine draws.

A book about a machine that runs should not ask its reader to trust numbers
someone typed: the boot transcript, the counts that `--stats` prints and the
difference lazy mode makes change whenever the code does, and a figure typed
by hand goes stale without anyone noticing. So a section asks for a figure
instead of writing it down. A fenced code block whose info string starts
with `lguest-run` is a *figure*: the rest of the info string is the command
line of `lguest`, and weave runs that command while it weaves and puts what
it printed in the block, under a first line that shows the command, so the
reader can run it too. The block's info string becomes `console` in the
book, which is what the figure is:

````
```lguest-run --programs hello --stats | grep -e world_switches -e NEW_PGTABLE
```
````

becomes, in both books, a block that starts with
`$ swift run lguest --programs hello --stats | grep -e world_switches -e NEW_PGTABLE`
and goes on with the two lines of output that match. The filter is the one
piece of shell weave understands: `| grep WORD` or `| grep -e WORD -e WORD`
keeps the lines that contain one of the words, plain words only, so the
command in the book does what it says when pasted into a terminal. Whatever
the source has between the fences is replaced: the source keeps the
request, the book keeps the figure.

These figures are counts and transcripts in virtual time (DESIGN's promise,
`H:050`), so the same sources give the same figure on every run, and the
book stays byte for byte reproducible. That is also what makes a stale
figure visible: `weave check` renders the book afresh, figures included, and
a committed book whose figure no longer matches the machine is out of date
like any other edited page (W:710). Host-time figures, nanoseconds and
instructions per second, change from run to run and machine to machine, and
stay in BENCHMARKS.md with the command that reproduces them.
*/
/// One figure asked for by a section: the `lguest` arguments and the words its output is filtered by.
public struct FigureRequest: Hashable, Sendable {
    /// The arguments given to `lguest`, one word each.
    public let arguments: [String]
    /// Words of `| grep`: a line is kept when it contains one of them. Empty keeps every line.
    public let words: [String]
    /// The command as the book prints it, without the `$ swift run lguest` that starts it.
    public let shown: String

    /// The info-string word that marks a figure.
    public static let marker = "lguest-run"

    /// Reads the info string of a fenced block: nil when it is not a figure, a problem when it
    /// is one that cannot be read.
    static func parse(info: String) -> Result<FigureRequest, FigureProblem>? {
        let trimmed = info.trimmingCharacters(in: .whitespaces)
        guard trimmed == marker || trimmed.hasPrefix(marker + " ") else { return nil }
        let rest = trimmed.dropFirst(marker.count).trimmingCharacters(in: .whitespaces)
        let parts = rest.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
        let command = String(parts[0]).trimmingCharacters(in: .whitespaces)
        guard let arguments = FigureRequest.words(command) else {
            return .failure(FigureProblem("figure: unbalanced quote in '\(rest)'"))
        }
        var words: [String] = []
        if parts.count == 2 {
            var filter = parts[1].split(separator: " ").map(String.init)
            guard filter.first == "grep", filter.count > 1 else {
                return .failure(FigureProblem("figure: the only filter is '| grep WORD' or '| grep -e WORD -e WORD', not '|\(parts[1])'"))
            }
            filter.removeFirst()
            if filter.count > 1 || filter.first == "-e" {
                // Pairs of `-e WORD`, nothing else.
                guard filter.count % 2 == 0, stride(from: 0, to: filter.count, by: 2).allSatisfy({ filter[$0] == "-e" }) else {
                    return .failure(FigureProblem("figure: write several words as '| grep -e WORD -e WORD', not '|\(parts[1])'"))
                }
                words = stride(from: 1, to: filter.count, by: 2).map { filter[$0] }
            } else {
                words = filter
            }
            let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
            if let bad = words.first(where: { $0.isEmpty || !$0.allSatisfy(plain.contains) || $0.hasPrefix("-") }) {
                return .failure(FigureProblem("figure: grep takes plain words (letters, digits, _ . : -), not '\(bad)'"))
            }
        }
        return .success(FigureRequest(arguments: arguments, words: words, shown: rest))
    }

    /// `text` split into words at spaces, with single or double quotes around a word that holds spaces;
    /// nil when a quote is left open.
    static func words(_ text: String) -> [String]? {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { word.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character == " " || character == "\t" {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(character)
                inWord = true
            }
        }
        guard quote == nil else { return nil }
        if inWord { words.append(word) }
        return words
    }

    /// The lines of `output` this figure keeps.
    func filtered(_ output: String) -> String {
        guard !words.isEmpty else { return output }
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let kept = lines.filter { line in words.contains { line.contains($0) } }
        return kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")
    }
}

/// Why a figure could not be drawn, in weave's `subsystem: reason` words.
public struct FigureProblem: Error, Hashable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// Runs figures: given `lguest`'s arguments, what it printed (standard output, then the exit
/// status when it is not zero), or why it could not run.
public typealias FigureRunner = @Sendable ([String]) -> Result<String, FigureProblem>
/*:*/

/*W:452 Filling in a figure, and what it costs.

The figures are drawn once per weaving, before anything else reads the
prose: a section's Markdown is parsed by cmark to find its fenced blocks
(the same parser that renders it, so a fence inside an indented code block
or a longer fence is never mistaken for a figure), and the lines between
each figure's fences are replaced by the command and its output. The
section then carries the figure in its prose like any text an author
wrote: search finds words in it, both books print it, and the line origins
that diagnostics use still point at the figure's opening fence.

Each distinct command line runs once per weaving, however many sections ask
for it; a cache keyed by the arguments sees to that, and figures that only
filter the same run differently cost one run between them. So the book's
figures use small boots: seven distinct commands, each a tenth to a third of
a second of CPU in a debug build (the boot of the ten default programs
would take 0.6 s, and without the `cr3_changed` trick 1.4 s), run two at a
time (W:456). Measured on 4 December 2026 in a debug build, on a two-core
machine shared with other work: `weave check` took 2.2 s with every figure
empty (an `lguest` that prints nothing) and 4.8 s with the real ones, 1.8 s
of CPU more. A release build of `lguest` runs them many times faster; `weave
list`, which shows no prose, draws none.
*/
enum Figures {
    /// `prose` (with `origins`, the file offset of each line) with every figure filled in by `run`;
    /// problems are returned with the offset of the figure's opening fence.
    static func fill(_ prose: String, origins: [Int], run: FigureRunner)
        -> (prose: String, origins: [Int], problems: [(offset: Int, message: String)]) {
        guard prose.contains(FigureRequest.marker) else { return (prose, origins, []) }
        var lines = prose.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // One origin per line, as `Prose` makes them; any other caller's list is fitted to the lines.
        var newOrigins = Array((origins + Array(repeating: origins.last ?? 0, count: max(0, lines.count - origins.count)))
            .prefix(lines.count))
        var problems: [(Int, String)] = []
        // Bottom up, so the line numbers of the blocks still to do do not move.
        for block in blocks(in: prose).reversed() {
            let origin = block.open < origins.count ? origins[block.open] : (origins.last ?? 0)
            switch FigureRequest.parse(info: block.info) {
            case nil: continue
            case .failure(let problem)?: problems.append((origin, problem.message))
            case .success(let request)?:
                switch run(request.arguments) {
                case .failure(let problem): problems.append((origin, problem.message))
                case .success(let output):
                    let indent = String(lines[block.open].prefix { $0 == " " })
                    var body = ["$ swift run lguest " + request.shown]
                    body += request.filtered(output).split(separator: "\n", omittingEmptySubsequences: false)
                        .map { $0.isEmpty ? "" : indent + $0 }
                    while body.last?.isEmpty ?? false { body.removeLast() }
                    body[0] = indent + body[0]
                    // The lines between the fences are replaced; a closing fence the author left
                    // out is supplied, so the figure ends where it should.
                    let fence = String(lines[block.open].drop { $0 == " " }.prefix { $0 == "`" || $0 == "~" })
                    // The book's fence says `console`, what the figure is, for code hosts and the stylesheet.
                    lines[block.open] = indent + fence + "console"
                    let inside = (block.open + 1)..<(block.closed ? block.close : block.close + 1)
                    let added = block.closed ? body : body + [indent + fence]
                    lines.replaceSubrange(inside, with: added)
                    newOrigins.replaceSubrange(inside, with: Array(repeating: origin, count: added.count))
                }
            }
        }
        return (lines.joined(separator: "\n"), newOrigins, problems)
    }

    /// A fenced block of the prose: its info string and its first and last lines (0-based).
    struct Block {
        let info: String
        let open: Int
        let close: Int
        /// Whether `close` is a closing fence (a block left open runs to the end of the prose).
        let closed: Bool
    }

    /// The fenced code blocks of `markdown` with an info string, as cmark finds them.
    static func blocks(in markdown: String) -> [Block] {
        var source = markdown
        let parsed = source.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) { cmark_parse_document($0.baseAddress, $0.count, CMARK_OPT_DEFAULT) }
        }
        guard let document = parsed else { preconditionFailure("cmark could not allocate a document") }
        defer { cmark_node_free(document) }
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false)
        var found: [Block] = []
        guard let iterator = cmark_iter_new(document) else { return found }
        defer { cmark_iter_free(iterator) }
        while true {
            let event = cmark_iter_next(iterator)
            if event == CMARK_EVENT_DONE { break }
            guard event == CMARK_EVENT_ENTER, let node = cmark_iter_get_node(iterator),
                  cmark_node_get_type(node) == CMARK_NODE_CODE_BLOCK,
                  let info = cmark_node_get_fence_info(node).map({ String(cString: $0) }), !info.isEmpty else { continue }
            let open = Int(cmark_node_get_start_line(node)) - 1
            var close = Int(cmark_node_get_end_line(node)) - 1
            close = min(max(close, open), lines.count - 1)
            // The last line is a closing fence when it is only fence characters and is not the opening line.
            let last = lines[close].trimmingCharacters(in: .whitespaces)
            let closed = close > open && !last.isEmpty && last.allSatisfy { $0 == "`" || $0 == "~" }
            found.append(Block(info: info, open: open, close: close, closed: closed))
        }
        return found
    }
}

/*W:454 Finding the machine.

Weave must not import the Launcher: it is a tool that reads sources, and a
module tree of its own (Appendix W), so that a course can weave C files
without building a hypervisor. It runs the `lguest` executable instead, as a
reader would, looking for it beside its own binary: `swift build` puts both
in the same directory, and `tools/book` builds both before it weaves. When
it is not there, every figure becomes one error that says where it looked
and how to build it, and no book is written, rather than a book with holes.

The run happens in the project root, so the programs and paths in a
figure's command mean what they mean to a reader in a terminal. Standard
output is the figure; a run that ends with a non-zero status (a Guest the
Host killed, say) is still a figure, with a last line giving the status and
what the command printed on standard error, because such runs are worth
showing. A run that does not finish within a minute of host time is stopped
and reported: no figure in this book needs that long.
*/
public enum LguestExecutable {
    /// The `lguest` beside the running executable, such as `.build/debug/lguest` beside `.build/debug/weave`.
    public static var besideThisProgram: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let me = count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                           : CommandLine.arguments.first ?? "weave"
        return (me as NSString).deletingLastPathComponent + "/lguest"
    }

    /// A runner for `executable`, working in `directory`, that runs each distinct command once.
    public static func runner(_ executable: String, in directory: String) -> FigureRunner {
        let cache = FigureCache()
        return { arguments in
            cache.value(for: arguments) { run(executable, arguments, in: directory) }
        }
    }

    /// Runs `executable` with `arguments` in `directory` and returns its standard output.
    static func run(_ executable: String, _ arguments: [String], in directory: String) -> Result<String, FigureProblem> {
        let shown = (["lguest"] + arguments).joined(separator: " ")
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            return .failure(FigureProblem("figure: cannot run '\(shown)': no lguest executable at \(executable); "
                                          + "build it with 'swift build --product lguest' (tools/book does)"))
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("weave-figure-\(getpid())-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Files, not pipes: nothing can fill up and stall the child while we wait for it.
        let out = scratch.appendingPathComponent("out"), err = scratch.appendingPathComponent("err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        guard let outHandle = try? FileHandle(forWritingTo: out), let errHandle = try? FileHandle(forWritingTo: err) else {
            return .failure(FigureProblem("figure: cannot run '\(shown)': no scratch files in \(scratch.path)"))
        }
        process.standardOutput = outHandle
        process.standardError = errHandle
        do { try process.run() } catch {
            return .failure(FigureProblem("figure: cannot run '\(shown)': \(error.localizedDescription)"))
        }
        let deadline = DispatchTime.now() + .seconds(60)
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { process.waitUntilExit(); stopped.signal() }
        if stopped.wait(timeout: deadline) == .timedOut {
            process.terminate()
            process.waitUntilExit()
            return .failure(FigureProblem("figure: '\(shown)' did not finish within 60 seconds"))
        }
        try? outHandle.close()
        try? errHandle.close()
        let output = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        let errors = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
        if process.terminationReason == .uncaughtSignal {
            return .failure(FigureProblem("figure: '\(shown)' was killed by signal \(process.terminationStatus)"))
        }
        guard process.terminationStatus != 0 else { return .success(output) }
        let ending = output.isEmpty || output.hasSuffix("\n") ? "" : "\n"
        return .success(output + ending + errors + (errors.isEmpty || errors.hasSuffix("\n") ? "" : "\n")
                        + "(exit status \(process.terminationStatus))\n")
    }
}

/*:*/

/*W:456 One run per command, and a head start.

The cache is what keeps the cost of figures to one run per distinct command line in a weaving; it is
shared by every copy of the runner, so the two books and every section asking for the same figure
find it there. And since the figures are independent of one another, `Figures.prefetch` runs them side
by side before the weaving starts, two at a time on a two-core machine, so that the weaving finds them
done. The prefetch is only a head start, found by a plain scan for the marker: what really is a figure
is still decided by cmark, in `Figures.fill`. */

/// The results of one weaving's figures, by command line. A class because every copy of the runner
/// must share it; a lock because the runner is `Sendable` and could be called from several threads.
final class FigureCache: @unchecked Sendable {
    private var results: [[String]: Result<String, FigureProblem>] = [:]
    private let lock = NSLock()

    /// The result for `arguments`, computed by `make` the first time only. The lock is not held while
    /// `make` runs, so different commands run side by side; two threads asking for the same new one
    /// may both run it, which costs time but not correctness, since a figure is deterministic.
    func value(for arguments: [String], _ make: () -> Result<String, FigureProblem>) -> Result<String, FigureProblem> {
        lock.lock()
        let known = results[arguments]
        lock.unlock()
        if let known { return known }
        let result = make()
        lock.lock()
        results[arguments] = result
        lock.unlock()
        return result
    }
}

extension Figures {
    /// Runs every figure that `sources` ask for, side by side, so that the weaving after finds them
    /// in `run`'s cache. Only a head start: the lines are found by a plain scan for the marker,
    /// and the weaving itself decides, with cmark, which blocks really are figures.
    static func prefetch(_ sources: [InputFile], run: @escaping FigureRunner) {
        var requests = Set<[String]>()
        for input in sources where input.text.contains(FigureRequest.marker) {
            for line in input.text.split(separator: "\n") {
                guard let fence = line.range(of: "```" + FigureRequest.marker) else { continue }
                let info = line[fence.lowerBound...].drop { $0 == "`" }
                if case .success(let request)? = FigureRequest.parse(info: String(info)) { requests.insert(request.arguments) }
            }
        }
        let all = requests.sorted { $0.joined(separator: " ") < $1.joined(separator: " ") }
        DispatchQueue.concurrentPerform(iterations: all.count) { index in _ = run(all[index]) }
    }
}
/*:*/
