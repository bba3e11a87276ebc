import Testing
@testable import Weave

@Test func w100_aCommentEndingWithTheStoryMarkerIsProseOnly() {
    let book = weave(swift: "/*G:010 Just words,\n * no code. :*/\nlet x = 1\n")
    #expect(tags(book) == ["G:010"])
    #expect(book.sections[0].codeLines.isEmpty)
    #expect(book.sections[0].prose == "Just words,\nno code.")
    #expect(book.sections[0].lines == 1...2)
}

@Test func w100_aSectionRunsToAClosingCommentManyLinesLater() {
    let body = (1...40).map { "let v\($0) = \($0) /* an ordinary comment */" }.joined(separator: "\n")
    let book = weave(swift: "/*G:020 The long one. */\n\(body)\n/* and that is all :*/\nlet after = 0\n")
    #expect(book.diagnostics.isEmpty)
    let lines = code(book).split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 41)
    #expect(lines.first == "let v1 = 1 /* an ordinary comment */")
    #expect(lines.last == "/* and that is all :*/")
    #expect(book.sections[0].lines == 1...42)
}

@Test func w100_theBareMarkerEndsASectionAndIsNotShown() {
    let book = weave(swift: "/*G:030 Short. */\nfunc f() {}\n    /*:*/\nfunc g() {}\n")
    #expect(code(book) == "func f() {}")
    #expect(book.sections[0].lines == 1...3)
}

@Test func w100_aNewTagEndsTheOpenSection() {
    let book = weave(swift: "/*G:040 First. */\nlet a = 1\n\n/*G:041 Second. */\nlet b = 2\n/*:*/\n")
    #expect(tags(book) == ["G:040", "G:041"])
    #expect(code(book, 0) == "let a = 1")
    #expect(code(book, 1) == "let b = 2")
    #expect(book.sections[0].lines == 1...2)
}

@Test func w100_aSectionStillOpenAtTheEndOfItsFileIsAnError() {
    let book = weave(swift: "let x = 0\n/*G:050 Open. */\nlet y = 1\n")
    #expect(messages(book) == [
        "Sources/A.swift:2:1: error: section G:050 is still open at the end of the file; end it with a comment that closes with ':*/'"
            + ", or weave with --sections-end-with-files to let sections run to the ends of their files",
    ])
}

@Test func w110_excerptsLoseSharedIndentationAndBlankEdges() {
    let book = weave(swift: """
        struct S {
            /*G:060 Indented. */

            func f() {
                return
            }

            /*:*/
        }
        """)
    #expect(code(book) == "func f() {\n    return\n}")
}

@Test func w110_codeOnTheOpeningLineIsKept() {
    let book = weave(swift: "/*G:070 Inline. */  if a {\n    b()\n}\n/*:*/\n")
    #expect(code(book) == "if a {\n    b()\n}")
}

@Test func w120_starDecorationIsRemovedButDeeperIndentationStays() {
    let book = weave(swift: """
        /*G:080
         * A paragraph
         * on two lines.
         *
         *     indented code in prose
         *
         * * a list item
         :*/
        """)
    #expect(book.sections[0].title == nil)
    #expect(book.sections[0].prose == "A paragraph\non two lines.\n\n    indented code in prose\n\n* a list item")
}

@Test func w120_undecoratedProseLosesOnlySharedIndentation() {
    let book = weave(swift: "    /*G:090 Words on the tag line,\n    and more words;\n      one indented line. :*/\n")
    #expect(book.sections[0].prose == "Words on the tag line,\nand more words;\n  one indented line.")
}

@Test(arguments: [
    ("/*G:100 Welcome!\n *\n * Body. :*/", "Welcome!", "Body."),
    ("/*G:100 A one-line section. :*/", nil, "A one-line section."),
    ("/*G:100 Nothing follows\n *\n :*/", nil, "Nothing follows"),
    ("/*G:100 Not a title\n * because no blank line follows. :*/", nil, "Not a title\nbecause no blank line follows."),
    ("/*G:100\n * Nothing on the tag line.\n *\n * Body. :*/", nil, "Nothing on the tag line.\n\nBody."),
    ("/*G:100 " + String(repeating: "x", count: 81) + "\n *\n * Body. :*/", nil, String(repeating: "x", count: 81) + "\n\nBody."),
])
func w120_aShortTagLineFollowedByABlankLineIsTheTitle(text: String, title: String?, prose: String) {
    let section = weave(swift: text).sections[0]
    #expect(section.title == title)
    #expect(section.prose == prose)
}

@Test(arguments: [
    "/*G:1 a *//*G:2 b :*/",
    "/*G:1 a */ /*G:2 b :*/",
    "/*G:1 a */ x /*:*/ /*G:2 b */ /*:*/",
    "/*G:1 a */\n/*:*/\n/*G:2 b */\n  /*:*/",
])
func w100_sectionsOnOneLineStillEndInOrder(text: String) {
    let book = weave(swift: text)
    #expect(tags(book) == ["G:001", "G:002"])
    #expect(book.diagnostics.isEmpty)
}

@Test func w110_theStoryMarkerOfAShownClosingCommentIsPrintedAsAnOrdinaryEnd() {
    let book = weave(swift: "/*G:010 Intro. */\nlet a = 1\n/* a: the end :*/\nlet b = 2 /* and: this :*/\n")
    let section = book.sections[0]
    #expect(book.files[section.file]?.text(section.codeLines, hiding: section.storyMarkerColon) == "let a = 1\n/* a: the end */")
    let page = HTMLBook(book: book, title: "T").files().first { $0.path == "guest.html" }?.contents ?? ""
    #expect(page.contains("<span class=\"c\">/* a: the end */</span>"))
    // Only the marker's colon goes: the colon after `a` stays, and the file keeps its marker.
    #expect(book.files[section.file]?.text(section.codeLines).hasSuffix(":*/") ?? false)
}
