/*W:120 The prose of a section is the body of its opening comment, and
most authors decorate block comments with a column of stars:

```
 * Like this, with a star
 * at the start of every line.
```

Those stars are furniture, not Markdown, so they go. If every non-blank line
after the first starts with optional white space and a star, we remove the
star and the one space after it; any further indentation stays, so an
indented code block in the prose survives. If the lines are not decorated we
remove the indentation they all share instead, which lets a Swift author
write plain indented paragraphs inside the comment.

The text on the tag's own line gets one more chance: when it is short and a
blank line and more prose follow it, it is the section's *title* and becomes
its heading
(the original's Guest chapter opened with a welcome in just that way). Otherwise the section is
listed under its first sentence, and its heading is just the tag.
*/
struct Prose {
    /// The prose as Markdown, without decoration and without the title line.
    var markdown: String
    /// The title, when the tag's line gives one.
    var title: String?
    /// Byte offset in the file where each line of `markdown` starts.
    var origins: [Int]
    /// Byte offset in the file where the title starts.
    var titleOrigin: Int?

    /// The longest line that is still taken as a title.
    static let maximumTitleLength = 80

    init(file: ParsedFile, body: Range<Int>) {
        // Work on byte ranges as long as possible, so each line still knows
        // where in the file it came from.
        var lines = Prose.split(file.bytes, body)
        Prose.undecorate(file.bytes, &lines)
        var texts = lines.map { String(decoding: file.bytes[$0], as: UTF8.self) }
        var origins = lines.map(\.lowerBound)
        if let first = texts.first, !first.isEmpty, first.utf8.count <= Prose.maximumTitleLength,
           texts.count > 2, texts[1].isEmpty, texts.dropFirst(2).contains(where: { !$0.isEmpty }) {
            title = first
            titleOrigin = origins.removeFirst()
            texts.removeFirst()
        }
        // Blank lines around the prose are the comment's layout, not paragraphs.
        while texts.first?.isEmpty ?? false { texts.removeFirst(); origins.removeFirst() }
        while texts.last?.isEmpty ?? false { texts.removeLast(); origins.removeLast() }
        markdown = texts.joined(separator: "\n")
        self.origins = origins
    }

    /// The body's lines as byte ranges, without the newline, carriage return or trailing space.
    private static func split(_ bytes: [UInt8], _ body: Range<Int>) -> [Range<Int>] {
        var lines: [Range<Int>] = []
        var start = body.lowerBound
        for offset in body where bytes[offset] == UInt8(ascii: "\n") {
            lines.append(start..<offset)
            start = offset + 1
        }
        lines.append(start..<body.upperBound)
        return lines.map { bytes.trimmingTrailingSpace($0) }
    }

    /// Strips the first line's leading space, then the star column or the shared indentation of the rest.
    private static func undecorate(_ bytes: [UInt8], _ lines: inout [Range<Int>]) {
        guard !lines.isEmpty else { return }
        // The first line follows the tag on the same line: only its leading space goes.
        lines[0] = skipSpace(bytes, lines[0])
        let rest = 1..<lines.count
        // Decorated means every line with text has the star column.
        let decorated = rest.allSatisfy { index in
            let text = skipSpace(bytes, lines[index])
            return text.isEmpty || bytes[text.lowerBound] == UInt8(ascii: "*")
        }
        if decorated {
            // Star, then one space: the author's own indentation after that is kept.
            for index in rest {
                var text = skipSpace(bytes, lines[index])
                if !text.isEmpty { text = (text.lowerBound + 1)..<text.upperBound }
                if let first = text.first { text = (first + bytes.spaceWidth(at: first))..<text.upperBound }
                lines[index] = text
            }
        } else {
            // Blank lines say nothing about indentation and are left out of the minimum.
            let indents = rest.compactMap { index -> Int? in
                let line = lines[index]
                let text = skipSpace(bytes, line)
                return text.isEmpty ? nil : text.lowerBound - line.lowerBound
            }
            let width = indents.min() ?? 0
            for index in rest where !lines[index].isEmpty {
                lines[index] = (lines[index].lowerBound + width)..<lines[index].upperBound
            }
        }
    }

    private static func skipSpace(_ bytes: [UInt8], _ range: Range<Int>) -> Range<Int> {
        bytes.trimmingLeadingSpace(range)
    }
}
/*:*/
