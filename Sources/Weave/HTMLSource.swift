/*W:620 A section's source link goes to a copy of its file, painted and
numbered, in book/html/src/. Every line there has its own anchor (`#L42`),
and every section is wrapped in a block whose anchor is the section's own
(`#w620`). The link under an excerpt aims at that block, and the stylesheet
shades whichever block is the target of the address, so following the link
shows exactly the lines of the section, with no script involved. A small
label at the top of each block leads back to the section in the book:

```
<div class="range" id="w620">            target of ...Lexer.swift.html#w620
  <a class="back" href="...">W:620 in the book</a>
  <div class="line" id="L12">            target of ...#L12
    <a class="ln" href="#L12">12</a><code>...painted line...</code>
  </div>
  ...
</div>
```
*/
extension HTMLBook {
    func sourcePage(_ file: ParsedFile) -> String {
        // Source pages sit in folders that mirror the source tree, so links back
        // to the book climb one level per folder.
        let pagePath = HTMLBook.sourcePage(file.path)
        let up = String(repeating: "../", count: pagePath.utf8.filter { $0 == UInt8(ascii: "/") }.count)
        let sections = book.sections.filter { $0.file == file.path }.sorted { $0.lines.lowerBound < $1.lines.lowerBound }
        let lineCount = file.lines.lineCount
        // The whole file is painted in one pass over its tokens.
        let code = file.highlighted((1...lineCount).map { file.lines.range(ofLine: $0, in: file.bytes) })
        // The chapter navigation and the search come along (W:616), with the file's own sections
        // listed under the chapters, linked to their lines on this page.
        let views = book.chapters.flatMap { book.views(of: $0) }.filter { $0.section.file == file.path }
        var html = head(title: "\(file.path) · \(title)", up: up, bodyClass: "source-page") + """
            \(HTMLBook.menuButton)
            <main class="source" id="top">
            <header class="source-header"><a href="\(up)index.html">\(escapeHTML(title))</a> › \(escapeHTML(file.path))</header>
            <div class="listing">

            """
        // Sections in a file never overlap, so one block is open at a time:
        // `next` is the next section to start, `openUntil` the last line of the open one.
        var next = 0
        var openUntil: Int?
        for line in 1...lineCount {
            if let end = openUntil, line > end {
                html += "</div>\n"
                openUntil = nil
            }
            if next < sections.count, sections[next].lines.lowerBound == line {
                // A section that starts on the line where the previous one ended
                // closes it first, so the blocks stay properly nested.
                if openUntil != nil { html += "</div>\n" }
                let section = sections[next]
                let chapter = book.chapter(of: section.tag).map { urlPath($0.slug) + ".html" } ?? "index.html"
                html += "<div class=\"range\" id=\"\(section.tag.anchor)\">"
                html += "<a class=\"back\" href=\"\(up)\(chapter)#\(section.tag.anchor)\">\(section.tag) in the book</a>\n"
                openUntil = section.lines.upperBound
                next += 1
            }
            html += "<div class=\"line\" id=\"L\(line)\"><a class=\"ln\" href=\"#L\(line)\">\(line)</a>"
            html += "<code>\(code[line - 1])</code></div>\n"
        }
        if openUntil != nil { html += "</div>\n" }
        return html + "</div>\n</main>\n" + sidebar(current: nil, up: up, local: views) + "\n</body>\n</html>\n"
    }
    /*:*/

    /*W:630 Search has to work from a page opened straight from the disk,
    where a browser will not let a script fetch another file. So the index
    travels as a script of its own, search.js, which every page loads: one
    entry per chapter and per section, with its tag, title, page and the plain
    words of its prose. Typing in the box keeps the entries that contain every
    word typed and ranks them: a word in the tag or title counts most, then
    how often each word occurs in the body, so the section about page faults
    comes before one that mentions them in passing. The first twenty are
    shown, with a last line saying how many more there are; Enter follows the
    first result, and the arrow keys walk the list. Source pages carry the
    same box, and every link in a result is made relative to the page it is
    shown on (the page's `data-root`).
    The results are built as DOM nodes
    with their text set as text, so nothing in the index is ever parsed as
    HTML.
    */
    func searchScript() -> String {
        // Each entry is `[tag, title, page, chapter, words]`: an array rather
        // than an object keeps the index small.
        var entries: [String] = []
        for chapter in book.chapters {
            let words = MarkdownTree(chapter.introduction).plainText()
            entries.append("[\(javaScriptString(chapter.letterString)),\(javaScriptString(chapter.title)),"
                + "\(javaScriptString(urlPath(chapter.slug) + ".html")),\(javaScriptString(chapter.title)),\(javaScriptString(words))]")
        }
        for chapter in book.chapters {
            for view in book.views(of: chapter) {
                let section = view.section
                entries.append("[\(javaScriptString(section.tag.description)),\(javaScriptString(view.listTitle)),"
                    + "\(javaScriptString(urlPath(chapter.slug) + ".html#" + section.tag.anchor)),"
                    + "\(javaScriptString(chapter.title)),\(javaScriptString(view.words))]")
            }
        }
        return "// The search index of the book and the code that searches it; written by weave.\n"
            + "const WEAVE_INDEX = [\n" + entries.joined(separator: ",\n") + "\n];\n" + HTMLAssets.searchCode
    }
    /*:*/
}
