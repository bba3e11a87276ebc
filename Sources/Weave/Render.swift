/*W:600 Both books are written from one description of what the reader
should see, so they cannot drift apart. For every section it holds the title
that lists it, the file and lines it comes from, and the command that runs
its tests. The renderers add only what their format needs: HTML pages and
stylesheets, or Markdown files with links that a code host understands.

Every file of the book is produced as a path and its contents in memory,
sorted by path. Writing the book, and checking that the book on disk is up to
date (W:710), are then the same list compared two ways.
*/
/// One file of the book: its path under the output directory and its contents.
public struct OutputFile: Hashable, Sendable {
    public let path: String
    public let contents: String
}

/// What the reader sees of each section, shared by the HTML and Markdown books.
/// Everything here is derived from the book when the view is made, once per
/// section and page, so the renderers only arrange it.
struct SectionView {
    let section: Section
    let chapter: Chapter
    /// The section's name in lists: its title, or the first sentence of its prose.
    let listTitle: String
    /// Names of the tests that exercise the section.
    let tests: [String]

    /// The longest list title before it is cut with an ellipsis.
    static let maximumListTitle = 72

    /// The prose as plain words, for search.
    let words: String

    init(_ section: Section, chapter: Chapter, tests: [String], words: String, lead: String) {
        self.section = section
        self.chapter = chapter
        self.tests = tests
        self.words = words
        if let title = section.title {
            listTitle = MarkdownTree(title).plainText()
        } else {
            listTitle = SectionView.firstSentence(lead)
        }
    }

    /// The first sentence of `text`, cut at a word boundary if it is long.
    static func firstSentence(_ text: String) -> String {
        // A sentence ends at punctuation followed by a space; the length check
        // keeps an opening like "A." or an abbreviation-sized fragment going.
        var sentence = ""
        var previous: Character = " "
        for character in text {
            if character == " " || character == "\u{A0}", [".", "!", "?", ":"].contains(previous), sentence.count > 1 { break }
            sentence.append(character)
            previous = character
        }
        if sentence.hasSuffix(":") { sentence.removeLast() }
        // Too long for a list: cut at the last whole word that fits.
        guard sentence.count > maximumListTitle else { return sentence }
        var cut = String(sentence.prefix(maximumListTitle))
        if let space = cut.lastIndex(of: " ") { cut = String(cut[..<space]) }
        return cut + "…"
    }

    /// `"lines 10–24"`, or `"line 10"`, with an en dash as ranges want.
    var linesText: String {
        let lines = section.lines
        return lines.count == 1 ? "line \(lines.lowerBound)" : "lines \(lines.lowerBound)–\(lines.upperBound)"
    }

    /// The command that runs this section's tests, when there are any.
    var testCommand: String? {
        tests.isEmpty ? nil : "swift test --filter \(section.tag.anchor)"
    }

    /// `"1 test"` or `"3 tests"`.
    var testCount: String { tests.count == 1 ? "1 test" : "\(tests.count) tests" }
}

/*W:605 Every mention becomes a link. When the prose says `H:330`, the
reader should be one click from it, and `SectionAddresses` is the map that
makes that possible: the page each tag lives on, built once per book. A link
to a section on the same page is a bare `#anchor`, so following it scrolls
instead of reloading. `linked(_:on:tables:)` parses a piece of Markdown and
rewrites the mentions in cmark's tree rather than in the text (`linkTags`,
W:410), so a code block stays code and text that is already a link is
not linked twice. A tag with no section gets no link; reporting those is the
checker's job (W:310), not the renderer's.
*/
/// Where each section lives in one of the books, for the links that mentions become.
struct SectionAddresses {
    /// The page of every section, such as `guest.html`, by tag.
    private let pages: [Tag: String]
    private let letters: Set<UInt8>

    /// The addresses of `book`'s sections in the book whose chapter pages end in `pageExtension`.
    init(book: Book, pageExtension: String) {
        var pages: [Tag: String] = [:]
        for section in book.sections {
            if let chapter = book.chapter(of: section.tag) { pages[section.tag] = urlPath(chapter.slug) + pageExtension }
        }
        self.pages = pages
        self.letters = book.letters
    }

    /// The link to `tag` from `page`, or nil when no section has that tag. A section
    /// on the same page is a bare `#anchor`, so following it does not reload the page.
    func link(to tag: Tag, from page: String) -> String? {
        guard let target = pages[tag] else { return nil }
        return (target == page ? "" : target) + "#" + tag.anchor
    }

    /// `markdown` parsed, with every mention linked as seen from `page`; `tables` as `MarkdownTree.init`.
    func linked(_ markdown: String, on page: String, tables: Bool = false) -> MarkdownTree {
        let tree = MarkdownTree(markdown, tables: tables)
        _ = tree.linkTags(letters: letters) { link(to: $0, from: page) }
        return tree
    }
}

extension Book {
    /// The sections of `chapter`, ready to render.
    func views(of chapter: Chapter) -> [SectionView] {
        sections(of: chapter).map { SectionView($0, chapter: chapter, tests: tests[$0.tag] ?? [], words: words[$0.tag] ?? "",
                                  lead: leads[$0.tag] ?? "") }
    }

    /// All chapter letters, for recognising mentions.
    var letters: Set<UInt8> { Set(chapters.map(\.letter)) }

}
/*:*/
