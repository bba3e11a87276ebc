import Foundation
import Testing
@testable import Weave

/// `markdown` rendered for the HTML book, on one line, with the paragraph that wraps each
/// cell's content taken out, so it reads like the GFM specification's expected output.
private func table(_ markdown: String) -> String {
    var html = MarkdownTree(markdown, tables: true).html().replacingOccurrences(of: "\n", with: "")
    for cell in ["th", "td"] {
        html = html.replacingOccurrences(of: "(<\(cell)[^>]*>)<p>", with: "$1", options: .regularExpression)
            .replacingOccurrences(of: "</p></\(cell)>", with: "</\(cell)>")
    }
    return html
}

/// The examples of the GFM specification's tables extension (0.29, examples 198 to 205), with
/// the output it gives, on one line.
private let specification: [(markdown: String, html: String)] = [
    ("| foo | bar |\n| --- | --- |\n| baz | bim |",
     "<table><thead><tr><th>foo</th><th>bar</th></tr></thead><tbody><tr><td>baz</td><td>bim</td></tr></tbody></table>"),
    ("| abc | defghi |\n:-: | -----------:\nbar | baz",
     "<table><thead><tr><th align=\"center\">abc</th><th align=\"right\">defghi</th></tr></thead>"
        + "<tbody><tr><td align=\"center\">bar</td><td align=\"right\">baz</td></tr></tbody></table>"),
    ("| f\\|oo  |\n| ------ |\n| b `\\|` az |\n| b **\\|** im |",
     "<table><thead><tr><th>f|oo</th></tr></thead><tbody><tr><td>b <code>|</code> az</td></tr>"
        + "<tr><td>b <strong>|</strong> im</td></tr></tbody></table>"),
    ("| abc | def |\n| --- | --- |\n| bar | baz |\n> bar",
     "<table><thead><tr><th>abc</th><th>def</th></tr></thead><tbody><tr><td>bar</td><td>baz</td></tr></tbody></table>"
        + "<blockquote><p>bar</p></blockquote>"),
    ("| abc | def |\n| --- | --- |\n| bar | baz |\nbar\n\nbar",
     "<table><thead><tr><th>abc</th><th>def</th></tr></thead><tbody><tr><td>bar</td><td>baz</td></tr>"
        + "<tr><td>bar</td><td></td></tr></tbody></table><p>bar</p>"),
    ("| abc | def |\n| --- |\n| bar |",
     "<p>| abc | def || --- || bar |</p>"),
    ("| abc | def |\n| --- | --- |\n| bar |\n| bar | baz | boo |",
     "<table><thead><tr><th>abc</th><th>def</th></tr></thead><tbody><tr><td>bar</td><td></td></tr>"
        + "<tr><td>bar</td><td>baz</td></tr></tbody></table>"),
    ("| abc | def |\n| --- | --- |",
     "<table><thead><tr><th>abc</th><th>def</th></tr></thead></table>"),
]

@Test(arguments: specification.indices)
func w430_theGFMSpecificationsTableExamples(_ index: Int) {
    #expect(table(specification[index].markdown) == specification[index].html)
}

@Test func w430_linesBeforeTheHeaderStayAParagraphAndMentionsInCellsAreLinked() {
    let book = weave([("Sources/A.swift", "/*G:010 Intro\nline before\n| call | section |\n| --- | :-: |\n| `SET_PTE` | G:010 |\n:*/\n")])
    let page = HTMLBook(book: book, title: "T").files().first { $0.path == "guest.html" }?.contents ?? ""
    #expect(page.contains("<p>Intro\nline before</p>\n<table>"))
    #expect(page.contains("<td align=\"center\">\n<p><a href=\"#g010\">G:010</a></p>\n</td>"))
    #expect(page.contains("<p><code>SET_PTE</code></p>"))
    // The Markdown book keeps the table as GFM, for the code host to render.
    let markdown = MarkdownBook(book: book, title: "T", rootPrefix: "../../").files().first { $0.path == "guest.md" }?.contents ?? ""
    #expect(markdown.contains("| call | section |\n| --- | :-: |\n"))
}

@Test func w430_rawHTMLInACellIsText() {
    #expect(table("| a |\n| - |\n| <b>x</b> |").contains("<td>&lt;b&gt;x&lt;/b&gt;</td>"))
}

@Test func w430_thisProjectsBookHasNoPipeTextLeft() throws {
    // Every table the project's sources write comes out as a table: no delimiter row is left in a page.
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var project = Project(root: root.path)
    project.figures = nil
    let book = project.load(drawingFigures: false)
    for file in HTMLBook(book: book, title: "T").files() where file.path.hasSuffix(".html") && !file.path.hasPrefix("src/") {
        #expect(!file.contents.contains("| --- |") && !file.contents.contains("|---|"), "\(file.path)")
    }
}
