/*W:300 Weave talks like a compiler. Every problem it finds is a
`Diagnostic` printed as `file:line:column: error: message`, the shape that
editors and terminals already know how to turn into a jump to the right
place. Lines and columns count from one, and columns count bytes, as the Swift
and C compilers do.

The rule for the whole tool is that a problem is reported, never trapped: a
file with a string that never ends, a comment left open, or a chapter without
its fields gets a diagnostic, and weave carries on to find the next one, so a
single run shows everything that needs fixing.

Like a compiler, weave has two strengths of complaint. An *error* means the
book would come out wrong, so nothing is written and the command fails. A
*warning* means the sources are probably not what their author meant, such as
a comment that is nearly a tag (W:335), but the book would still be exactly
what they say: it is printed, and the book is written all the same. */
/// One problem found while weaving, located in a file of the project.
public struct Diagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    /// How serious a problem is: whether it stops the book being written.
    public enum Severity: String, Hashable, Sendable {
        /// The book would be wrong: nothing is written, and the command fails.
        case error
        /// Probably a mistake, but the book is still what the sources say.
        case warning
    }

    /// The path of the file, relative to the project root.
    public var file: String
    /// One-based line number.
    public var line: Int
    /// One-based column, in UTF-8 bytes.
    public var column: Int
    /// What is wrong, in one line.
    public var message: String
    /// Whether this stops the book (an error) or only tells (a warning).
    public var severity: Severity

    public init(file: String, line: Int, column: Int, message: String, severity: Severity = .error) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.severity = severity
    }

    /// Whether this diagnostic stops the book from being written.
    public var isError: Bool { severity == .error }

    /// `file:line:col: error: message`, or `warning:` for a warning.
    public var description: String { "\(file):\(line):\(column): \(severity.rawValue): \(message)" }
}
/*:*/

/*W:305 Everything inside weave points into a file by byte offset, because
that is what the lexer produces and what slicing needs. People, and editors,
want lines and columns. The `LineTable` of a file remembers where each line
starts, so that converting is a binary search rather than a walk from the
top of the file: weave makes thousands of these conversions for a big book,
mostly for the line numbers of source links.

A file that ends with a newline does not have an empty last line, which is
how editors number lines too.
*/
/// The start of every line of a text, for turning byte offsets into lines and columns.
struct LineTable: Sendable {
    /// Byte offset of the first byte of each line; line 1 starts at `starts[0] == 0`.
    let starts: [Int]
    /// Total number of bytes of the text.
    let count: Int

    init(_ bytes: [UInt8]) {
        var starts = [0]
        for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            starts.append(offset + 1)
        }
        self.starts = starts
        self.count = bytes.count
    }

    /// The number of lines; a final newline does not start another line.
    var lineCount: Int {
        starts.count > 1 && starts[starts.count - 1] == count ? starts.count - 1 : starts.count
    }

    /// The one-based line that contains byte `offset`: the last line that starts at or before it.
    func line(of offset: Int) -> Int {
        var low = 0
        var high = starts.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if starts[middle] <= offset { low = middle } else { high = middle }
        }
        return low + 1
    }

    /// The one-based line and column of byte `offset`.
    func position(of offset: Int) -> (line: Int, column: Int) {
        let line = line(of: offset)
        return (line, offset - starts[line - 1] + 1)
    }

    /// Byte range of one-based `line`, without its newline (or the carriage return before it).
    func range(ofLine line: Int, in bytes: [UInt8]) -> Range<Int> {
        precondition(line >= 1 && line <= starts.count, "line \(line) is not in the file")
        let start = starts[line - 1]
        var end = line < starts.count ? starts[line] - 1 : count
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return start..<end
    }
}
/*:*/
