/*W:610 The HTML book is a handful of static pages that open straight from
the disk: no server, no network, no fonts or scripts from anywhere else. There
is an index with the whole table of contents, one page per chapter, and one
line-numbered page per source file that has sections in it.

Every page carries the same sidebar, listing the chapters and, for the
chapter you are in, its sections; a search box sits on top of it (W:630).
Each section is an HTML `section` whose `id` is its anchor, so `guest.html#g037`
lands on it and a mention in prose can link to it. Above the first section
from a new file, a small `[ file ]` label says where we are, as the original's
printouts did. Below each excerpt, a link opens the exact lines in the source
page, and the test command tells the reader how to check their understanding.
*/
struct HTMLBook {
    let book: Book
    /// The book's title, on every page and in every window title.
    let title: String
    /// Where each section is, for links to it.
    private let addresses: SectionAddresses

    init(book: Book, title: String) {
        self.book = book
        self.title = title
        self.addresses = SectionAddresses(book: book, pageExtension: ".html")
    }

    /// Every file of the HTML book, sorted by path.
    func files() -> [OutputFile] {
        // Three fixed files, one page per chapter, one page per source file.
        var files = [
            OutputFile(path: "index.html", contents: indexPage()),
            OutputFile(path: "style.css", contents: HTMLAssets.styleSheet),
            OutputFile(path: "search.js", contents: searchScript()),
        ]
        for (index, chapter) in book.chapters.enumerated() {
            files.append(OutputFile(path: chapter.slug + ".html", contents: chapterPage(chapter, at: index)))
        }
        // Dictionary order changes from run to run in Swift, so the keys are sorted.
        for path in book.files.keys.sorted() {
            guard let file = book.files[path] else { continue }
            files.append(OutputFile(path: HTMLBook.sourcePage(path), contents: sourcePage(file)))
        }
        return files.sorted { $0.path < $1.path }
    }

    /// The page of a source file, under src/; `..` segments are renamed so the page stays inside the book.
    /// (A course may weave sources from beside its root with `--sources ../linux`.)
    static func sourcePage(_ path: String) -> String {
        "src/" + path.split(separator: "/").map { $0 == ".." ? "__" : String($0) }.joined(separator: "/") + ".html"
    }

    /// Renders `markdown` with its mentions linked; `page` is the page the HTML goes on.
    private func prose(_ markdown: String, on page: String) -> String {
        addresses.linked(markdown, on: page, tables: true).html()
    }

    /// The inside of a single paragraph of HTML, as a heading wants it.
    static func stripParagraph(_ html: String) -> String {
        guard html.hasPrefix("<p>"), html.hasSuffix("</p>\n") else { return html }
        return String(html.dropFirst(3).dropLast(5))
    }

    /// The start of every page, up to and including `<body>`. The `color-scheme` meta tag
    /// tells the browser that the page has both schemes, so its own controls follow suit;
    /// the search script is deferred so it never delays the first paint. `up` leads from
    /// the page back to the top of the book.
    func head(title pageTitle: String, up: String = "", searchable: Bool = true, bodyClass: String? = nil) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        <title>\(escapeHTML(pageTitle))</title>
        <link rel="stylesheet" href="\(up)style.css">
        \(searchable ? "<script src=\"\(up)search.js\" defer></script>\n" : "")</head>
        <body\(bodyClass.map { " class=\"\($0)\"" } ?? "") data-root="\(up)">

        """
    }

    /// The frame of every book page: head, sidebar, and the page's own content.
    private func page(title pageTitle: String, current: Chapter?, body: String) -> String {
        head(title: pageTitle) + """
        \(HTMLBook.menuButton)
        <main id="top">
        \(body)
        </main>
        \(sidebar(current: current))
        </body>
        </html>

        """
    }

    /// The button that opens the sidebar on a narrow screen (W:616); hidden on a wide one.
    /// A link to the sidebar's own anchor, so it works without a script.
    static let menuButton = "<a class=\"menu\" href=\"#contents\" aria-controls=\"contents\">☰ Contents</a>"
    /*:*/

    /*W:612 Finding your way around a book of a few hundred sections takes
    three kinds of help, and each page gives all three. The *sidebar* is the
    map: every chapter, and the sections of the one you are in, each listed by
    tag and title; it stays in place while the page scrolls. The *index* is
    the whole table of contents on one page, which is also the quickest way to
    find a section with the browser's own search. And the *pager* at the top
    and bottom of each chapter leads to its neighbours, so the book can be read
    from front to back as the original intended.

    Chapters that have no sections yet still appear everywhere, marked as
    still to come: a student sees the shape of the whole tour from the first
    day, and an author sees where their sections will land.
    */
    /// The sidebar: every chapter, and the sections of the current one. Listing
    /// every section of every chapter would make each page as long as the index.
    /// `up` leads from the page to the top of the book; `local` lists sections on the page itself
    /// (a source page's), under the chapters.
    func sidebar(current: Chapter?, up: String = "", local: [SectionView] = []) -> String {
        var html = """
            <nav class="sidebar" id="contents" aria-label="Chapters">
            <a class="close" href="#top" aria-label="Close the contents">×</a>
            <a class="book-title" href="\(up)index.html">\(escapeHTML(title))</a>
            <div class="search"><input type="search" id="search" placeholder="Search the book" \
            aria-label="Search the book" autocomplete="off"><ol id="results" hidden></ol></div>
            <ol class="chapters">

            """
        for chapter in book.chapters {
            // `aria-current` tells screen readers which chapter this page is.
            let isCurrent = chapter.letter == current?.letter
            html += "<li\(isCurrent ? " class=\"current\"" : "")><a href=\"\(up)\(urlPath(chapter.slug)).html\"\(isCurrent ? " aria-current=\"page\"" : "")>"
            html += "<span class=\"letter\">\(chapter.letterString)</span> \(escapeHTML(chapter.title))</a>"
            if isCurrent {
                let views = book.views(of: chapter)
                if !views.isEmpty {
                    html += "\n<ol class=\"sections\">\n"
                    for view in views {
                        html += "<li><a href=\"#\(view.section.tag.anchor)\"><span class=\"tag\">\(view.section.tag)</span> "
                        html += "\(escapeHTML(view.listTitle))</a></li>\n"
                    }
                    html += "</ol>"
                }
            }
            html += "</li>\n"
        }
        html += "</ol>\n"
        if !local.isEmpty {
            html += "<p class=\"local\">In this file</p>\n<ol class=\"sections\">\n"
            for view in local {
                html += "<li><a href=\"#\(view.section.tag.anchor)\"><span class=\"tag\">\(view.section.tag)</span> "
                html += "\(escapeHTML(view.listTitle))</a></li>\n"
            }
            html += "</ol>\n"
        }
        return html + "</nav>"
    }

    /// The index: the whole table of contents, with each section's list title.
    private func indexPage() -> String {
        // The index is the one page with every section on it, so a reader can
        // scan the whole tour or use the browser's own find to jump anywhere.
        var body = "<article>\n<h1>\(escapeHTML(title))</h1>\n"
        body += "<p class=\"lede\">A book woven from the sources: every section below is a comment in the code, "
        body += "shown with the code it explains. Appendix W tells how.</p>\n"
        for chapter in book.chapters {
            body += "<h2><a href=\"\(urlPath(chapter.slug)).html\"><span class=\"letter\">\(chapter.letterString)</span> "
            body += "\(escapeHTML(chapter.title))</a></h2>\n"
            // A chapter nobody has written yet still appears, so the shape of
            // the book is visible from the first day.
            let views = book.views(of: chapter)
            if views.isEmpty {
                body += "<p class=\"pending\">Sections still to come.</p>\n"
                continue
            }
            body += "<ol class=\"toc\">\n"
            for view in views {
                body += "<li><a href=\"\(urlPath(chapter.slug)).html#\(view.section.tag.anchor)\"><span class=\"tag\">\(view.section.tag)</span> "
                body += "\(escapeHTML(view.listTitle))</a></li>\n"
            }
            body += "</ol>\n"
        }
        body += "</article>\n" + pager(previous: nil, next: book.chapters.first)
        return page(title: title, current: nil, body: body)
    }

    /// Previous and next chapter links; the first chapter's previous is the contents.
    private func pager(previous: Chapter?, next: Chapter?) -> String {
        var html = "<nav class=\"pager\" aria-label=\"Previous and next\">"
        if let previous {
            html += "<a class=\"previous\" href=\"\(urlPath(previous.slug)).html\">← \(escapeHTML(previous.title))</a>"
        } else {
            html += "<a class=\"previous\" href=\"index.html\">← Contents</a>"
        }
        if let next { html += "<a class=\"next\" href=\"\(urlPath(next.slug)).html\">\(escapeHTML(next.title)) →</a>" }
        return html + "</nav>"
    }

    /*:*/

    /*W:614 A chapter page is the introduction from chapters/ followed by the
    sections in order. Each section shows, from top to bottom: the `[ file ]`
    label when the story moves to a new file, a heading with the tag (a link to
    itself, handy for copying an address) and the title when there is one, the
    prose, the painted excerpt, and one line of facts: the file and lines the
    excerpt comes from, linked to the source page, and the command that runs
    the section's exercises. The command is only printed when there are tests
    named after the tag (W:320), so a command in the book always runs
    something.
    */
    /// A chapter: its introduction, then its sections in order, with a `[ file ]`
    /// label whenever a section comes from a different file than the one before.
    private func chapterPage(_ chapter: Chapter, at index: Int) -> String {
        let page = urlPath(chapter.slug) + ".html"
        // The pager appears above and below the chapter: above for a reader
        // who arrived by mistake, below for one who finished.
        let previous = index > 0 ? book.chapters[index - 1] : nil
        let next = index + 1 < book.chapters.count ? book.chapters[index + 1] : nil
        var body = pager(previous: previous, next: next) + "\n<article>\n"
        body += "<h1><span class=\"letter\">\(chapter.letterString)</span> \(escapeHTML(chapter.title))</h1>\n"
        body += prose(chapter.introduction, on: page)
        let views = book.views(of: chapter)
        if views.isEmpty {
            body += "<p class=\"pending\">The sections of this chapter are still to come.</p>\n"
        }
        var lastFile: String?
        for view in views {
            body += section(view, on: page, showFile: view.section.file != lastFile)
            lastFile = view.section.file
        }
        body += "</article>\n" + pager(previous: previous, next: next)
        return self.page(title: "\(chapter.title) · \(title)", current: chapter, body: body)
    }

    /// One section: heading, prose, painted code, then the line that says where the
    /// code lives and how to run its exercises.
    private func section(_ view: SectionView, on page: String, showFile: Bool) -> String {
        let section = view.section
        let anchor = section.tag.anchor
        // The anchor goes on the section itself, so a link lands on the file
        // label and heading, and `:target` can shade the whole section.
        var html = "<section class=\"section\" id=\"\(anchor)\">\n"
        if showFile { html += "<p class=\"file\">[ \(escapeHTML(section.file)) ]</p>\n" }
        html += "<h2><a class=\"tag\" href=\"#\(anchor)\">\(section.tag)</a>"
        if let title = section.title { html += " " + HTMLBook.stripParagraph(prose(title, on: page)) }
        html += "</h2>\n" + prose(section.prose, on: page)
        // The code is one `pre` block, so copying it from the page gives exactly the source text.
        if !section.codeLines.isEmpty, let file = book.files[section.file] {
            // Each line is a span that ends with its newline: one element per line lets print
            // give wrapped lines a hanging indent (W:640), and copying still gives the source text.
            // A line's own indentation, in characters, lets print hang its wrapped part under its text.
            let indents = section.codeLines.map { range in
                file.bytes[range].prefix { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                    .reduce(0) { $0 + ($1 == UInt8(ascii: "\t") ? 4 : 1) }
            }
            let code = zip(file.highlighted(section.codeLines, hiding: section.storyMarkerColon), indents).map { line, indent in
                "<span class=\"cl\"\(indent > 0 ? " style=\"--i:\(indent)\"" : "")>\(line)\n</span>"
            }.joined()
            html += "<pre class=\"code\"><code class=\"language-\(file.language.fenceName)\">\(code)</code></pre>\n"
        }
        // The source link aims at the section's block in the source page, not
        // at its first line, so the whole range is shaded on arrival (W:620).
        html += "<p class=\"meta\"><a class=\"source\" href=\"\(urlPath(HTMLBook.sourcePage(section.file)))#\(anchor)\">"
        html += "\(escapeHTML(section.file)), \(view.linesText)</a>"
        if let command = view.testCommand {
            html += " <span class=\"tests\">Exercises (\(view.testCount)): <code>\(command)</code></span>"
        }
        return html + "</p>\n</section>\n"
    }
    /*:*/
}
