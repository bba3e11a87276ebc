/*W:100 With the tokens in hand, finding sections is a walk over the block
comments of a file, in order, with one piece of state: the section that is
currently *open*, if any.

A comment whose first bytes after the opener are a tag starts a section.
If that same comment ends with the *story marker*, a colon just before the
closing star-slash (the chapter introduction spells all the markers out), the
section is *prose only*: a paragraph of story with no code. Otherwise the
section stays open, and everything after the comment belongs to it until
some later block comment that ends with the story marker. That comment is
shown as the last lines of the excerpt, the way the original printed it,
unless it is the bare marker with nothing in it, which only ends the excerpt
and is never shown. Comments that close the ordinary way are just code: a
section can explain a function with remarks inside it, and they stay in the
excerpt.

Two more rules make the walk total. A new tag while a section is open ends
the open one just before the new tag's comment, so consecutive sections need
no end markers between them. And a section still open when the file ends is
an error: the author forgot the marker, and guessing where the excerpt should
stop would hide that. (The original's own files do end that way; W:800 tells
how a course weaves them, and the error names the option that does it, so
that someone weaving such files is told the way out rather than left to find
it.) */
/// A source file as weave reads it: its path, bytes and tokens.
public struct ParsedFile: Sendable {
    public let path: String
    public let language: SourceLanguage
    public let bytes: [UInt8]
    public let lexed: LexedFile
    let lines: LineTable

    /// Lexes `text`, the contents of the file at `path` (relative to the project root).
    public init(path: String, language: SourceLanguage, text: String) {
        self.path = path
        self.language = language
        self.bytes = Array(text.utf8)
        self.lexed = Lexer.lex(bytes, as: language)
        self.lines = LineTable(bytes)
    }

    /// `path:line:column` of byte `offset`, as diagnostics print places.
    func place(of offset: Int) -> String {
        let (line, column) = lines.position(of: offset)
        return "\(path):\(line):\(column)"
    }

    func diagnostic(at offset: Int, _ message: String, severity: Diagnostic.Severity = .error) -> Diagnostic {
        let (line, column) = lines.position(of: offset)
        return Diagnostic(file: path, line: line, column: column, message: message, severity: severity)
    }
}

/// One tagged section: its prose, and the code it explains unless it is prose only.
public struct Section: Sendable {
    public let tag: Tag
    /// The file the section comes from.
    public let file: String
    /// The title given on the tag's own line, when that line is followed by a blank line.
    public let title: String?
    /// Byte offset in the file where the title starts.
    let titleOffset: Int?
    /// The commentary, as clean Markdown.
    public let prose: String
    /// Where each line of `prose` starts in the file, for diagnostics about the prose.
    let proseOrigins: [Int]
    /// Byte offset of the tag in its file, just after the comment opener.
    let tagOffset: Int
    /// The excerpt of code, one byte range per line, already dedented; empty when prose only.
    public let codeLines: [Range<Int>]
    /// The file's lines from the tag to the last line of the section.
    public let lines: ClosedRange<Int>
    /// The offset of the colon of the story marker that ends the excerpt, when the closing comment
    /// has words and so is shown: the book leaves that colon out, as the original's script did (W:110).
    let storyMarkerColon: Int?
}

extension Section {
    /// This section with other prose (the same prose with its figures drawn, W:452).
    func with(prose: String, origins: [Int]) -> Section {
        Section(tag: tag, file: file, title: title, titleOffset: titleOffset, prose: prose, proseOrigins: origins,
                tagOffset: tagOffset, codeLines: codeLines, lines: lines, storyMarkerColon: storyMarkerColon)
    }
}

enum Extractor {
    /// A section whose opening comment has been seen and whose end has not.
    private struct Opening {
        var tag: Tag
        /// The byte range of the opening comment.
        var comment: Range<Int>
        /// Just past the tag's last digit: the prose starts here.
        var tagEnd: Int
    }

    /// Finds every section of `file`, and the problems with them; `mayRunToEnd` lets
    /// the last section end with the file instead of reporting it.
    static func sections(in file: ParsedFile, mayRunToEnd: Bool = false) -> (sections: [Section], diagnostics: [Diagnostic]) {
        var sections: [Section] = []
        // Strings and comments that never end are the lexer's findings, and
        // they are reported here with the rest of the file's problems.
        var diagnostics = file.lexed.problems.map { file.diagnostic(at: $0.offset, $0.message) }
        var open: Opening?
        let bytes = file.bytes
        // Only block comments matter; code, strings and line comments between
        // them are simply part of whatever section is open.
        for token in file.lexed.tokens where token.kind == .blockComment {
            let comment = token.range
            // Five bytes is the shortest comment with the story marker: the bare marker itself.
            let closesStory = comment.count >= 5 && ends(bytes, comment, with: ":*/")
            if let (tag, tagEnd) = Tag.scan(bytes, at: comment.lowerBound + 2), tagEnd <= comment.upperBound {
                // A new tag: the open section, if any, stops where this comment's line starts.
                if let previous = open {
                    let end = max(lineStartIfAlone(bytes, comment.lowerBound), previous.comment.upperBound)
                    sections.append(section(previous, in: file, code: previous.comment.upperBound..<end))
                }
                let opening = Opening(tag: tag, comment: comment, tagEnd: tagEnd)
                if closesStory {
                    sections.append(section(opening, in: file, code: nil))
                    open = nil
                } else {
                    open = opening
                }
            } else if closesStory, let opening = open {
                // The end of the open section. A bare marker is cut off with the
                // white space before it; a comment with words stays in the excerpt.
                let bare = comment.count == 5
                let end = max(bare ? lineStartIfAlone(bytes, comment.lowerBound) : comment.upperBound, opening.comment.upperBound)
                let last = file.lines.line(of: comment.upperBound - 1)
                sections.append(section(opening, in: file, code: opening.comment.upperBound..<end, lastLine: last,
                                        markerColon: bare ? nil : comment.upperBound - 3))
                open = nil
            }
            // Any other comment is code, inside a section or outside one.
        }
        // Still open at the end: report it, but keep the section so that
        // `weave list` can still show what the author was writing.
        if let opening = open {
            if !mayRunToEnd {
                diagnostics.append(file.diagnostic(at: opening.comment.lowerBound,
                    "section \(opening.tag) is still open at the end of the file; end it with a comment that closes with ':*/'"
                    + ", or weave with --\(Project.sectionsEndWithFilesOption) to let sections run to the ends of their files"))
            }
            sections.append(section(opening, in: file, code: opening.comment.upperBound..<bytes.count))
        }
        return (sections, diagnostics)
    }
    /*:*/

    /// Whether the bytes of `range` end with `suffix`.
    static func ends(_ bytes: [UInt8], _ range: Range<Int>, with suffix: String) -> Bool {
        let tail = Array(suffix.utf8)
        guard range.count >= tail.count else { return false }
        return bytes[(range.upperBound - tail.count)..<range.upperBound].elementsEqual(tail)
    }

    /// `offset`, moved back to the start of its line when only white space precedes it there.
    private static func lineStartIfAlone(_ bytes: [UInt8], _ offset: Int) -> Int {
        var start = offset
        while bytes.spaceWidth(before: start) > 0 { start -= bytes.spaceWidth(before: start) }
        return start == 0 || bytes[start - 1] == UInt8(ascii: "\n") ? start : offset
    }

    /// Makes the section that `opening` starts, with the code in `code` (nil for prose only).
    /// `lastLine` is the line of the comment that ended it, when one did.
    private static func section(_ opening: Opening, in file: ParsedFile, code: Range<Int>?, lastLine: Int? = nil,
                                markerColon: Int? = nil) -> Section {
        let comment = opening.comment
        // The prose runs from the tag to the closer, which is three bytes with the
        // story marker, two without, and nothing when the comment never closed.
        let closer = ends(file.bytes, comment, with: ":*/") ? 3 : (ends(file.bytes, comment, with: "*/") ? 2 : 0)
        let bodyEnd = max(opening.tagEnd, comment.upperBound - closer)
        let prose = Prose(file: file, body: opening.tagEnd..<bodyEnd)
        let codeLines = code.map { excerpt(file, $0) } ?? []
        // The section's lines, for links to the source: from the tag to the
        // closing comment, or to the last line of code when no comment closed it.
        let firstLine = file.lines.line(of: comment.lowerBound)
        var endLine = lastLine ?? file.lines.line(of: max(comment.upperBound - 1, comment.lowerBound))
        if lastLine == nil, let lastCode = codeLines.last {
            endLine = max(endLine, file.lines.line(of: lastCode.lowerBound))
        }
        return Section(tag: opening.tag, file: file.path, title: prose.title, titleOffset: prose.titleOrigin, prose: prose.markdown,
                       proseOrigins: prose.origins, tagOffset: comment.lowerBound + 2,
                       codeLines: codeLines, lines: firstLine...endLine,
                       storyMarkerColon: codeLines.contains { $0.contains(markerColon ?? -1) } ? markerColon : nil)
    }
}

/*W:110 The excerpt of code is cut by whole lines. It starts on the line
after the opening comment (or right after the comment, if code follows it on
the same line), and it ends before the line of a bare end marker, or with the
line of a closing comment that has words in it. Blank lines at either end are
dropped.

```
 12 |     (the opening comment ends on this line)
 13 |
 14 |     func push(_ value: Int) {      first line of the excerpt
 15 |         ring.append(value)
 16 |     }                              last line of the excerpt
 17 |
 18 |     (a bare end marker here)        dropped, with line 17
```

The closing comment, when it is shown, ends with the story marker, the
colon before its closing star-slash. That colon is furniture for weave and
not for the reader, so the book leaves it out, as the original's script did,
and the excerpt ends with an ordinary comment. Only that one colon goes, and
only in the book; the file keeps its marker.

Code in the middle of a type is indented, and an excerpt that kept that
indentation would drift to the right of the page for no reason. So we remove
the white space that every non-blank line shares. The excerpt is kept as byte
ranges of the file rather than as a copy of its text: the highlighter then
paints it with the tokens of the whole file, so an excerpt that begins inside
a multi-line string is still painted as a string.
*/
extension Extractor {
    static func excerpt(_ file: ParsedFile, _ code: Range<Int>) -> [Range<Int>] {
        let bytes = file.bytes
        guard !code.isEmpty else { return [] }
        var ranges: [Range<Int>] = []
        // Whether the first line starts after other text (code after the
        // opening comment): its indentation then says nothing about the rest.
        var firstPartial = false
        for line in file.lines.line(of: code.lowerBound)...file.lines.line(of: max(code.upperBound - 1, code.lowerBound)) {
            let whole = file.lines.range(ofLine: line, in: bytes)
            var start = max(whole.lowerBound, code.lowerBound)
            let end = min(whole.upperBound, code.upperBound)
            if start > whole.lowerBound, ranges.isEmpty {
                start = bytes.trimmingLeadingSpace(start..<end).lowerBound
                if start >= end { continue }
                firstPartial = true
            }
            ranges.append(start..<max(start, end))
        }
        // Blank lines at the edges are layout of the file, not of the excerpt.
        while let first = ranges.first, isBlank(bytes, first) { ranges.removeFirst(); firstPartial = false }
        while let last = ranges.last, isBlank(bytes, last) { ranges.removeLast() }
        return dedent(bytes, ranges.map { bytes.trimmingTrailingSpace($0) }, skippingFirst: firstPartial)
    }

    private static func isBlank(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        bytes.trimmingTrailingSpace(range).isEmpty
    }

    /// Removes the leading white space shared by every non-blank line.
    private static func dedent(_ bytes: [UInt8], _ ranges: [Range<Int>], skippingFirst: Bool) -> [Range<Int>] {
        // The shared indentation is compared byte by byte, so a file that mixes
        // tabs and spaces loses only what all its lines really have in common.
        var common: [UInt8]?
        for (index, range) in ranges.enumerated() where !(index == 0 && skippingFirst) && !range.isEmpty {
            let indent = Array(bytes[range.lowerBound..<bytes.trimmingLeadingSpace(range).lowerBound])
            if let shared = common {
                common = Array(zip(shared, indent).prefix(while: { $0 == $1 }).map(\.0))
            } else {
                common = indent
            }
        }
        let width = common?.count ?? 0
        return ranges.enumerated().map { index, range in
            if index == 0 && skippingFirst || range.isEmpty { return range }
            return (range.lowerBound + width)..<range.upperBound
        }
    }
}
/*:*/
