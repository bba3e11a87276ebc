import Foundation
import Testing
@testable import Weave

private let sample: [(String, String)] = [
    ("Sources/Guest/Ring.swift", """
        /*G:010 Welcome!
         *
         * The ring is explained in G:037, and `G:037` too; `/*G:037 */` is just code.
         * Raw <b>HTML</b> stays text. :*/

        struct Ring {
            /*G:037 The ring. */
            @inline(__always) func push(_ value: Int) -> Bool {
                let limit = 0x1F // a <limit>
                return value < limit && "ok" != ""
            }
            /*:*/
        }
        """),
    ("Sources/Host/Run.swift", "/*H:030 The loop, after G:010. :*/\n"),
    ("Tests/GuestTests/RingTests.swift", "@Test func g037_pushes() {}\n@Test func g037_refuses() {}\n"),
]

private func html(_ path: String) -> String {
    let book = weave(sample)
    return HTMLBook(book: book, title: "Test Book").files().first { $0.path == path }?.contents ?? ""
}

private func markdown(_ path: String) -> String {
    let book = weave(sample)
    return MarkdownBook(book: book, title: "Test Book", rootPrefix: "../../").files().first { $0.path == path }?.contents ?? ""
}

@Test func w400_rawHTMLInProseBecomesVisibleText() {
    let page = html("guest.html")
    #expect(page.contains("Raw &lt;b&gt;HTML&lt;/b&gt; stays text."))
    #expect(!page.contains("<b>HTML</b>"))
    #expect(markdown("guest.md").contains("Raw \\<b\\>HTML\\</b\\> stays text.") || markdown("guest.md").contains("Raw <b>HTML</b>") == false)
}

@Test func w410_mentionedTagsBecomeLinksExceptInsideCode() {
    let page = html("guest.html")
    #expect(page.contains("explained in <a href=\"#g037\">G:037</a>, and <a href=\"#g037\"><code>G:037</code></a> too; <code>/*G:037 */</code> is just code."))
    #expect(html("host.html").contains("after <a href=\"guest.html#g010\">G:010</a>."))
    #expect(markdown("host.md").contains("after [G:010](guest.md#g010)."))
}

@Test func w500_codeIsPaintedByTokenKindAndEscaped() {
    let page = html("guest.html")
    #expect(page.contains("<span class=\"a\">@inline</span>(__always) <span class=\"k\">func</span> push(_ value: <span class=\"t\">Int</span>)"))
    #expect(page.contains("<span class=\"n\">0x1F</span> <span class=\"c\">// a &lt;limit&gt;</span>"))
    #expect(page.contains("<span class=\"s\">&quot;ok&quot;</span>"))
}

@Test func w614_chapterPagesHaveAnchorsSourceLinksAndTests() {
    let page = html("guest.html")
    #expect(page.contains("<nav class=\"sidebar\""))
    #expect(page.contains("<li class=\"current\"><a href=\"guest.html\" aria-current=\"page\">"))
    #expect(page.contains("<a href=\"#g037\"><span class=\"tag\">G:037</span> The ring.</a>"))
    #expect(page.contains("<section class=\"section\" id=\"g037\">"))
    #expect(page.contains("<p class=\"file\">[ Sources/Guest/Ring.swift ]</p>"))
    #expect(page.contains("<h2><a class=\"tag\" href=\"#g010\">G:010</a> Welcome!</h2>"))
    #expect(page.contains("<a class=\"source\" href=\"src/Sources/Guest/Ring.swift.html#g037\">Sources/Guest/Ring.swift, lines 7–12</a>"))
    #expect(page.contains("Exercises (2 tests): <code>swift test --filter g037</code>"))
    #expect(!html("host.html").contains("Exercises"))
    #expect(page.contains("<a class=\"previous\" href=\"preparation.html\">← Preparation</a>"))
    #expect(page.contains("<a class=\"next\" href=\"drivers.html\">Drivers →</a>"))
}

@Test func w610_noPageReachesOutsideTheBook() {
    let book = weave(sample)
    for file in HTMLBook(book: book, title: "Test Book").files() {
        for needle in ["http://", "https://", "//fonts", "@import"] {
            #expect(!file.contents.contains(needle), "\(file.path) mentions \(needle)")
        }
    }
}

@Test func w612_aChapterWithoutSectionsSaysTheyAreToCome() {
    #expect(html("drivers.html").contains("The sections of this chapter are still to come."))
    #expect(html("index.html").contains("Sections still to come."))
    #expect(markdown("drivers.md").contains("*The sections of this chapter are still to come.*"))
}

@Test func w620_sourcePagesNumberEveryLineAndWrapEachSection() throws {
    let page = html("src/Sources/Guest/Ring.swift.html")
    for line in 1...13 {
        #expect(page.contains("<div class=\"line\" id=\"L\(line)\"><a class=\"ln\" href=\"#L\(line)\">\(line)</a>"))
    }
    #expect(!page.contains("id=\"L14\""))
    let range = page.components(separatedBy: "<div class=\"range\" id=\"g037\">")
    try #require(range.count == 2)
    let inside = range[1].components(separatedBy: "</div>\n</div>")[0]
    #expect(inside.contains("id=\"L7\"") && inside.contains("id=\"L12\"") && !inside.contains("id=\"L13\""))
    #expect(page.contains("<link rel=\"stylesheet\" href=\"../../../style.css\">"))
    #expect(page.contains("<a class=\"back\" href=\"../../../guest.html#g037\">G:037 in the book</a>"))
}

@Test func w620_sourcePagesStayInsideTheBook() {
    #expect(HTMLBook.sourcePage("../linux/drivers/lguest/core.c") == "src/__/linux/drivers/lguest/core.c.html")
}

@Test func w630_theSearchIndexIsAScriptWithEscapedStrings() {
    let script = html("search.js")
    #expect(script.contains("[\"G:037\",\"The ring.\",\"guest.html#g037\",\"Guest\","))
    #expect(script.contains("Raw \\u003cb>HTML\\u003c/b> stays text."))
    #expect(script.contains("document.addEventListener(\"DOMContentLoaded\""))
    #expect(javaScriptString("a\"b\\c\n</script>\u{2028}") == "\"a\\\"b\\\\c\\n\\u003c/script>\\u2028\"")
}

@Test func w640_theStyleSheetFollowsTheSystemSchemeAndPrints() {
    let css = html("style.css")
    #expect(css.contains("@media (prefers-color-scheme: dark)"))
    #expect(css.contains("@media print"))
    #expect(css.contains(".range:target"))
}

@Test func w650_theMarkdownBookHasAnchorsFencesAndLineLinks() {
    let guest = markdown("guest.md")
    #expect(guest.contains("<a id=\"g037\"></a>\n\n### G:037\n\nThe ring.\n"))
    #expect(guest.contains("```swift\n@inline(__always) func push(_ value: Int) -> Bool {\n"))
    #expect(guest.contains("[Sources/Guest/Ring.swift, lines 7–12](../../Sources/Guest/Ring.swift#L7-L12)"))
    #expect(guest.contains("Exercises (2 tests): `swift test --filter g037`"))
    #expect(markdown("README.md").contains("- [G:037](guest.md#g037) The ring."))
    #expect(MarkdownBook.longestBacktickRun("a ``` b ```` c") == 4)
}

@Test func w720_plainTextChaptersAndTheListing() {
    let book = weave(sample)
    let text = book.plainText(ofChapter: "g") ?? ""
    #expect(text.hasPrefix("Guest\n=====\n\nThe Guest chapter.\n\n[ Sources/Guest/Ring.swift ]\nG:010 Welcome!\n"))
    #expect(text.contains("G:037\nThe ring.\n\n@inline(__always) func push"))
    #expect(book.plainText(ofChapter: "Q") == nil)
    #expect(book.listing() == """
        G:010 Sources/Guest/Ring.swift:1-4 Welcome!
        G:037 Sources/Guest/Ring.swift:7-12 The ring.
        H:030 Sources/Host/Run.swift:1-1 The loop, after G:010.

        """)
}

@Test func w615_everythingFromTheSourcesIsEscapedForWhereItGoes() {
    #expect(escapeHTML("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;")
    #expect(urlPath("Sources/My Dir/a#b\"c.swift") == "Sources/My%20Dir/a%23b%22c.swift")
    #expect(urlPath("Sources/Ünï.swift") == "Sources/%C3%9Cn%C3%AF.swift")
    let book = weave([("Sources/Odd #1.swift", "/*G:010 <Odd> & \"named\". :*/\n")])
    let page = HTMLBook(book: book, title: "T & <T>").files().first { $0.path == "guest.html" }?.contents ?? ""
    #expect(page.contains("<a class=\"source\" href=\"src/Sources/Odd%20%231.swift.html#g010\">Sources/Odd #1.swift, line 1</a>"))
    #expect(page.contains("<title>Guest · T &amp; &lt;T&gt;</title>"))
    #expect(page.contains("&lt;Odd&gt; &amp; &quot;named&quot;."))
    #expect(!page.contains("<Odd>"))
}

@Test func w420_cmarkPrintsSafelyAndKeepsTheAuthorsLines() {
    let tree = MarkdownTree("A [trap](javascript:alert(1)) and \"quotes\" -- kept.\n" + String(repeating: "word ", count: 40))
    let html = tree.html()
    #expect(!html.contains("javascript:"))
    #expect(html.contains("&quot;quotes&quot; -- kept."))
    #expect(tree.commonMark().split(separator: "\n").count == 2)
}

@Test(arguments: [
    ("Short one. Then more.", "Short one."),
    ("Ends with a colon: and goes on.", "Ends with a colon"),
    ("No full stop at all", "No full stop at all"),
    ("Two\u{A0}spaced.\u{A0}\u{A0}Then more.", "Two\u{A0}spaced."),
    ("e.g. abbreviations stop it early. Sadly.", "e.g."),
    (String(repeating: "long ", count: 30), String(repeating: "long ", count: 14).dropLast() + "…"),
])
func w600_listTitlesAreFirstSentencesCutAtAWord(text: String, expected: String) {
    #expect(SectionView.firstSentence(text) == expected)
}

@Test func w600_bothBooksShowTheSameSectionsInTheSameOrder() {
    let page = html("guest.html")
    let chapter = markdown("guest.md")
    func order(_ text: String, _ prefix: String) -> [String] {
        text.components(separatedBy: prefix).dropFirst().map { String($0.prefix(4)) }
    }
    #expect(order(page, "<section class=\"section\" id=\"") == ["g010", "g037"])
    #expect(order(chapter, "<a id=\"") == ["g010", "g037"])
    let index = MarkdownBook(book: weave(sample), title: "T", rootPrefix: "").files().first { $0.path == "README.md" }?.contents ?? ""
    #expect(index.contains("- [G:010](guest.md#g010) Welcome!\n- [G:037](guest.md#g037) The ring.\n"))
    #expect(html("index.html").contains("<span class=\"tag\">G:010</span> Welcome!</a></li>\n<li><a href=\"guest.html#g037\"><span class=\"tag\">G:037</span> The ring.</a>"))
}

@Test func w610_theBookIsIndexStylesSearchChaptersAndSources() {
    let paths = HTMLBook(book: weave(sample), title: "T").files().map(\.path)
    #expect(paths == [
        "drivers.html", "guest.html", "host.html", "index.html", "launcher.html", "machine.html", "mastery.html",
        "preparation.html", "search.js", "src/Sources/Guest/Ring.swift.html", "src/Sources/Host/Run.swift.html",
        "style.css", "switcher.html", "weaving.html",
    ])
}

@Test func w612_theSidebarListsOnlyTheCurrentChaptersSections() {
    let host = html("host.html")
    #expect(host.contains("<a href=\"#h030\"><span class=\"tag\">H:030</span>"))
    #expect(!host.contains("<a href=\"#g037\">"))
    #expect(host.contains("<li class=\"current\"><a href=\"host.html\" aria-current=\"page\">"))
    #expect(html("index.html").contains("<a class=\"next\" href=\"preparation.html\">Preparation →</a>"))
    #expect(html("weaving.html").contains("<a class=\"previous\" href=\"machine.html\">← Appendix X</a></nav>"))
}

@Test func w600_aListTitleComesFromTheFirstParagraphOnly() {
    let book = weave(swift: "/*G:050\n * Patching, briefly\n *\n * The story goes on. :*/\n")
    #expect(book.listing() == "G:050 Sources/A.swift:1-4 Patching, briefly\n")
}

@Test func w610_everyLinkInTheBookLeadsToAPageAndAnAnchor() {
    let files = HTMLBook(book: weave(sample), title: "T").files()
    let pages = Dictionary(uniqueKeysWithValues: files.map { ($0.path, $0.contents) })
    func ids(_ page: String) -> Set<String> {
        Set(page.components(separatedBy: " id=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) })
    }
    var checked = 0
    for file in files where file.path.hasSuffix(".html") {
        let folder = file.path.split(separator: "/").dropLast().map(String.init)
        for attribute in [" href=\"", " src=\""] {
            for link in file.contents.components(separatedBy: attribute).dropFirst().map({ String($0.prefix { $0 != "\"" }) }) {
                let parts = link.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                var target = folder
                for step in parts[0].split(separator: "/") where !parts[0].isEmpty {
                    if step == ".." { _ = target.popLast() } else { target.append(String(step)) }
                }
                let path = parts[0].isEmpty ? file.path : target.joined(separator: "/").removingPercentEncoding ?? ""
                #expect(pages[path] != nil, "\(file.path) links to \(link)")
                if parts.count == 2, let page = pages[path] {
                    #expect(ids(page).contains(parts[1]), "\(file.path) links to \(link)")
                }
                checked += 1
            }
        }
    }
    #expect(checked > 50)
}
