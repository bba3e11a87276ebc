/*W:200 A chapter is a Markdown file in chapters/ that starts with three
*fields* between two lines of dashes, and then the introduction:

```
---
letter: W
title: Appendix W: how this book is woven
order: 9
---
Welcome to the back room of the book...
```

A value may be wrapped in double quotes, as YAML would want for a title
with a colon in it. The letter is the one tags use, the title is printed at the top of the
chapter, and the order places the chapter in the book. The file's name
without `.md` becomes the name of the chapter's page, so `weaving.md` turns
into `weaving.html`. A chapter file without its fields, with a field that is
not one of these three, or with a letter or order that another chapter
already uses, is an error: every one of those would otherwise leave a reader
with a book in the wrong order or sections with nowhere to go.
*/
/// A chapter of the book, read from its file in chapters/.
public struct Chapter: Sendable {
    /// The path of the chapter file, relative to the project root.
    public let file: String
    /// The file's name without `.md`, used for the chapter's pages.
    public let slug: String
    public let letter: UInt8
    public let title: String
    public let order: Int
    /// The introduction, Markdown.
    public let introduction: String
    /// Byte offset in the file where each line of `introduction` starts.
    let origins: [Int]
    /// Where the lines of the chapter file start.
    let lines: LineTable

    /// The letter as a one-character string.
    public var letterString: String { String(UnicodeScalar(letter)) }

    func diagnostic(at offset: Int, _ message: String) -> Diagnostic {
        let (line, column) = lines.position(of: offset)
        return Diagnostic(file: file, line: line, column: column, message: message)
    }

    /// Reads a chapter file, or explains why it is not one.
    static func parse(path: String, text: String) -> Result<Chapter, Diagnostic> {
        // Chapter files are small, so they are read as lines of text; the
        // line table still maps everything back to a line for diagnostics.
        let bytes = Array(text.utf8)
        let table = LineTable(bytes)
        let lines = (1...table.lineCount).map { table.range(ofLine: $0, in: bytes) }
        func line(_ index: Int) -> String { String(decoding: bytes[lines[index]], as: UTF8.self) }
        func failure(_ index: Int, _ message: String) -> Result<Chapter, Diagnostic> {
            .failure(Diagnostic(file: path, line: index + 1, column: 1, message: message))
        }
        guard !lines.isEmpty, line(0) == "---", let close = (1..<lines.count).first(where: { line($0) == "---" }) else {
            return failure(0, "chapter file has no fields; start it with '---', 'letter:', 'title:', 'order:' lines and '---'")
        }
        // Each field line is `name: value`; the value may itself hold colons,
        // so only the first one separates.
        var fields: [String: (value: String, line: Int)] = [:]
        for index in 1..<close {
            let text = line(index)
            guard let colon = text.firstIndex(of: ":") else { return failure(index, "expected 'name: value' in the chapter's fields") }
            let name = String(text[..<colon]).trimmingSpaces
            guard ["letter", "title", "order"].contains(name) else { return failure(index, "unknown chapter field '\(name)'") }
            var value = String(text[text.index(after: colon)...]).trimmingSpaces
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            fields[name] = (value, index)
        }
        for name in ["letter", "title", "order"] where fields[name] == nil {
            return failure(0, "chapter file lacks the field '\(name)'")
        }
        guard let letterField = fields["letter"], let titleField = fields["title"], let orderField = fields["order"] else {
            return failure(0, "chapter file lacks its fields")
        }
        let letter = Array(letterField.value.utf8)
        guard letter.count == 1, letter[0].isASCIICapital else {
            return failure(letterField.line, "chapter letter must be one capital letter, not '\(letterField.value)'")
        }
        guard let order = Int(orderField.value) else {
            return failure(orderField.line, "chapter order must be a whole number, not '\(orderField.value)'")
        }
        guard !titleField.value.isEmpty else { return failure(titleField.line, "chapter title is empty") }
        // The introduction is everything after the fields, without blank edges.
        var body = Array((close + 1)..<lines.count)
        while let first = body.first, lines[first].isEmpty { body.removeFirst() }
        while let last = body.last, lines[last].isEmpty { body.removeLast() }
        // The slug names the chapter's pages: `chapters/guest.md` becomes `guest`.
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return .success(Chapter(file: path, slug: String(name.dropLast(name.hasSuffix(".md") ? 3 : 0)),
                                letter: letter[0], title: titleField.value, order: order,
                                introduction: body.map(line).joined(separator: "\n"),
                                origins: body.map { lines[$0].lowerBound }, lines: table))
    }
}
/*:*/

extension String {
    var trimmingSpaces: String {
        let bytes = Array(utf8)
        var start = 0
        var end = bytes.count
        while start < end, bytes[start].isHorizontalSpace { start += 1 }
        while end > start, bytes[end - 1].isHorizontalSpace { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
