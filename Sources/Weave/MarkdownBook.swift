import Foundation

/*W:650 The Markdown book is for reading on a code host, where HTML pages
do not render but Markdown files do. book/markdown/README.md holds the
contents, and each chapter is one file beside it. The prose is printed back
out of cmark's tree, so mentions are already links (to `guest.md#g037` style
addresses) and raw HTML is already text.

Two small tricks make it behave on common hosts. Each section starts with an
empty `a` element carrying its anchor, because the anchors hosts derive from
headings change whenever a title does. And each excerpt is fenced with
enough backticks to be longer than any run of backticks inside the code,
with a language name so the host paints it. The source link points at the
file in the repository with a `#L10-L24` fragment, which the common hosts
turn into a highlighted range. A section of this appendix comes out as:

````
<a id="w650"></a>

### W:650

The Markdown book is for reading on a code host, ...

```swift
struct MarkdownBook {
...
```

[Sources/Weave/MarkdownBook.swift, lines 1–40](../../Sources/Weave/MarkdownBook.swift#L1-L40)
````
*/
struct MarkdownBook {
    let book: Book
    /// The book's title, at the top of README.md.
    let title: String
    /// The way from book/markdown back to the project root, such as `"../../"`.
    let rootPrefix: String
    private let addresses: SectionAddresses

    init(book: Book, title: String, rootPrefix: String) {
        self.book = book
        self.title = title
        self.rootPrefix = rootPrefix
        self.addresses = SectionAddresses(book: book, pageExtension: ".md")
    }

    /// Every file of the Markdown book, sorted by path.
    func files() -> [OutputFile] {
        var files = [OutputFile(path: "README.md", contents: contents())]
        for (index, chapter) in book.chapters.enumerated() {
            files.append(OutputFile(path: chapter.slug + ".md", contents: chapterFile(chapter, at: index)))
        }
        return files.sorted { $0.path < $1.path }
    }

    /// The prose printed back by cmark with its mentions linked. Printing the tree,
    /// rather than copying the author's text, is what carries the raw-HTML rule and
    /// the links over from the HTML book (W:400).
    private func prose(_ markdown: String, on page: String) -> String {
        addresses.linked(markdown, on: page).commonMark()
    }

    /// README.md: the title, then each chapter with a list of its sections.
    private func contents() -> String {
        var text = "# \(title)\n\nA book woven from the sources by `weave` (see Appendix W). "
        text += "Each section is a comment in the code, shown with the code it explains.\n"
        for chapter in book.chapters {
            text += "\n## [\(chapter.letterString) · \(chapter.title)](\(urlPath(chapter.slug)).md)\n\n"
            let views = book.views(of: chapter)
            if views.isEmpty { text += "Sections still to come.\n" }
            for view in views {
                text += "- [\(view.section.tag)](\(urlPath(chapter.slug)).md#\(view.section.tag.anchor)) \(MarkdownBook.escapeInline(view.listTitle))\n"
            }
        }
        return text
    }

    /// One chapter: navigation, introduction, sections, navigation again.
    private func chapterFile(_ chapter: Chapter, at index: Int) -> String {
        let page = urlPath(chapter.slug) + ".md"
        var text = "# \(chapter.letterString) · \(chapter.title)\n\n" + navigation(at: index) + "\n\n"
        text += prose(chapter.introduction, on: page)
        let views = book.views(of: chapter)
        if views.isEmpty { text += "\n*The sections of this chapter are still to come.*\n" }
        var lastFile: String?
        for view in views {
            text += "\n" + section(view, on: page, showFile: view.section.file != lastFile)
            lastFile = view.section.file
        }
        return text + "\n---\n\n" + navigation(at: index) + "\n"
    }

    /// `← previous · Contents · next →`, as far as there are neighbours.
    private func navigation(at index: Int) -> String {
        var links = ["[Contents](README.md)"]
        if index > 0 { links.insert("[← \(book.chapters[index - 1].title)](\(urlPath(book.chapters[index - 1].slug)).md)", at: 0) }
        if index + 1 < book.chapters.count {
            links.append("[\(book.chapters[index + 1].title) →](\(urlPath(book.chapters[index + 1].slug)).md)")
        }
        return links.joined(separator: " · ")
    }

    /*W:652 One section, as Markdown. The order is the HTML book's: anchor,
    heading, prose, code, and a last line with the source link and the command
    that runs the section's tests. Two details keep it correct on any code host.
    The anchor is an explicit `a id`, because the ids hosts invent for headings
    differ from host to host. And the code fence is made one backtick longer than
    the longest run of backticks in the excerpt, never fewer than three, so code
    that itself prints a fence (the weaver's own sources do) cannot close it early.
    The source link ends in `#L10-L24`, the line-range form GitHub and its
    imitators highlight.
    */
    /// One section, in the same order as the HTML book: anchor, file label, heading,
    /// prose, fenced code, and the line with the source link and the test command.
    private func section(_ view: SectionView, on page: String, showFile: Bool) -> String {
        let section = view.section
        var text = "<a id=\"\(section.tag.anchor)\"></a>\n\n"
        if showFile { text += "`[ \(section.file) ]`\n\n" }
        let title = section.title.map { " " + self.prose($0, on: page).trimmingCharacters(in: .newlines) } ?? ""
        text += "### \(section.tag)\(title)\n\n"
        let prose = self.prose(section.prose, on: page)
        if !prose.isEmpty { text += prose + "\n" }
        if !section.codeLines.isEmpty, let file = book.files[section.file] {
            let code = file.text(section.codeLines, hiding: section.storyMarkerColon)
            let fence = String(repeating: "`", count: max(3, MarkdownBook.longestBacktickRun(code) + 1))
            text += fence + file.language.fenceName + "\n" + code + "\n" + fence + "\n\n"
        }
        let lines = section.lines
        text += "[\(section.file), \(view.linesText)](\(rootPrefix)\(urlPath(section.file))#L\(lines.lowerBound)-L\(lines.upperBound))"
        if let command = view.testCommand { text += " · Exercises (\(view.testCount)): `\(command)`" }
        return text + "\n"
    }
    /*:*/

    /// The longest run of backticks in `text`; a fence must be longer to contain it.
    static func longestBacktickRun(_ text: String) -> Int {
        var longest = 0
        var run = 0
        for byte in text.utf8 {
            run = byte == UInt8(ascii: "`") ? run + 1 : 0
            longest = max(longest, run)
        }
        return longest
    }

    /// Escapes the characters that would turn a plain title into Markdown: a list
    /// title is plain text, and `*` or `_` in it must not become emphasis.
    static func escapeInline(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if "\\`*_[]<>#|".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
