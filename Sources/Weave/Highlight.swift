/*W:500 Code in the book is painted by the same tokens that found the
sections (W:030). The painter walks the lines it is asked for and the tokens
in step, cutting a token where a line ends (a multi-line string or comment
is painted line by line), and wraps each token in a `span` whose class names
its kind: `k` for keywords, `s` for strings, `c` for comments, `n` for
numbers, `a` for attributes, `d` for directives and `t` for type names. The
colours themselves live in the stylesheet, once for light pages and once for
dark ones. Everything else is escaped and copied as it is. One line of
Swift comes out like this:

```
if a < 0x1F { return }
<span class="k">if</span> a &lt; <span class="n">0x1F</span> { <span class="k">return</span> }
```

The spans never cross a line, so each line of a source page can be its
own element with its own anchor, and a section's excerpt can start at any
line without leaving a span open.
*/
extension ParsedFile {
    /// The HTML class that paints a token of `kind`, or nil for plain names. One
    /// letter each, because a source page wraps thousands of tokens and the class
    /// names are a fair part of its size.
    static func cssClass(_ kind: Token.Kind) -> String? {
        switch kind {
        case .blockComment, .lineComment: "c"
        case .string: "s"
        case .number: "n"
        case .keyword: "k"
        case .attribute: "a"
        case .directive: "d"
        case .type: "t"
        case .identifier: nil
        }
    }

    /// The opening `span` tag for each token kind, by raw value; nil for kinds left plain.
    private static let openingSpans: [[UInt8]?] = (0...Token.Kind.identifier.rawValue).map { raw in
        Token.Kind(rawValue: raw).flatMap(cssClass).map { Array("<span class=\"\($0)\">".utf8) }
    }
    private static let closingSpan = Array("</span>".utf8)

    /*W:505 The walk, in one pass. `highlighted(_:hiding:)` keeps two cursors
    in step, one over the lines it was asked for and one over the tokens, and
    neither ever moves back, so painting a whole source page costs one pass over
    its tokens. A binary search finds where to start, which is what makes a short
    excerpt from the middle of a long file cheap. The loop body is the
    clipping rule from W:500 in code: a token is cut to the line, the plain bytes
    before it are escaped and copied, and the span closes before the line ends.
    */
    /// Each of `ranges` (in increasing order, within the file) as highlighted, escaped HTML.
    /// The byte at offset `hidden`, if any, is left out (a story marker's colon, W:110).
    func highlighted(_ ranges: [Range<Int>], hiding hidden: Int? = nil) -> [String] {
        let tokens = lexed.tokens
        // `next` only moves forward: the ranges come in file order, so the whole
        // walk is linear in the tokens and lines, with one binary search to start.
        var next = firstToken(endingAfter: ranges.first?.lowerBound ?? 0)
        return ranges.map { range in
            // Skip tokens that end before this line; a token that spans lines stays.
            while next < tokens.count, tokens[next].range.upperBound <= range.lowerBound { next += 1 }
            var html: [UInt8] = []
            var done = range.lowerBound
            var index = next
            while index < tokens.count, tokens[index].range.lowerBound < range.upperBound {
                let token = tokens[index]
                // Clip the token to the line, and copy the plain bytes before it.
                let start = max(token.range.lowerBound, range.lowerBound)
                let end = min(token.range.upperBound, range.upperBound)
                if start > done { appendEscaped(done..<start, to: &html, hiding: hidden) }
                if let opening = ParsedFile.openingSpans[Int(token.kind.rawValue)] {
                    html += opening
                    appendEscaped(start..<end, to: &html, hiding: hidden)
                    html += ParsedFile.closingSpan
                } else {
                    appendEscaped(start..<end, to: &html, hiding: hidden)
                }
                done = end
                index += 1
            }
            if done < range.upperBound { appendEscaped(done..<range.upperBound, to: &html, hiding: hidden) }
            return String(decoding: html, as: UTF8.self)
        }
    }

    /// The index of the first token that ends after `offset`.
    private func firstToken(endingAfter offset: Int) -> Int {
        let tokens = lexed.tokens
        var low = 0
        var high = tokens.count
        while low < high {
            let middle = (low + high) / 2
            if tokens[middle].range.upperBound <= offset { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Copies bytes into HTML text: the characters with a meaning in HTML are escaped
    /// (quotes too, so that code never even looks like an attribute to a tool that
    /// scans the page), and carriage returns of Windows line ends are dropped.
    private func appendEscaped(_ range: Range<Int>, to html: inout [UInt8], hiding hidden: Int? = nil) {
        for (offset, byte) in zip(range, bytes[range]) where offset != hidden {
            switch byte {
            case UInt8(ascii: "&"): html += Array("&amp;".utf8)
            case UInt8(ascii: "<"): html += Array("&lt;".utf8)
            case UInt8(ascii: ">"): html += Array("&gt;".utf8)
            case UInt8(ascii: "\""): html += Array("&quot;".utf8)
            case UInt8(ascii: "\r"): break
            default: html.append(byte)
            }
        }
    }

    /// The lines `ranges` as plain text, for the Markdown book and the terminal,
    /// where the code host or the reader's eyes do the painting.
    /// The byte at offset `hidden`, if any, is left out, as in `highlighted(_:hiding:)`.
    func text(_ ranges: [Range<Int>], hiding hidden: Int? = nil) -> String {
        ranges.map { range in
            String(decoding: zip(range, bytes[range]).filter { $0.0 != hidden }.map(\.1), as: UTF8.self)
        }.joined(separator: "\n")
    }
}
/*:*/
