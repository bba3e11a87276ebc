import Testing
@testable import Weave

@Test func w200_chapterFieldsAreRead() throws {
    let chapter = try Chapter.parse(path: "chapters/machine.md", text: """
        ---
        letter: X
        title: "Appendix X: the machine"
        order: 8
        ---

        Intro *text*.

        """).get()
    #expect(chapter.letterString == "X")
    #expect(chapter.title == "Appendix X: the machine")
    #expect(chapter.order == 8)
    #expect(chapter.slug == "machine")
    #expect(chapter.introduction == "Intro *text*.")
}

@Test(arguments: [
    ("Just an introduction.\n", "chapters/c.md:1:1: error: chapter file has no fields; start it with '---', 'letter:', 'title:', 'order:' lines and '---'"),
    ("---\nletter: Q\ntitle: Q\n---\n", "chapters/c.md:1:1: error: chapter file lacks the field 'order'"),
    ("---\nletter: Q\ntitle: Q\norder: 1\ncolour: red\n---\n", "chapters/c.md:5:1: error: unknown chapter field 'colour'"),
    ("---\nletter: QQ\ntitle: Q\norder: 1\n---\n", "chapters/c.md:2:1: error: chapter letter must be one capital letter, not 'QQ'"),
    ("---\nletter: Q\ntitle: Q\norder: first\n---\n", "chapters/c.md:4:1: error: chapter order must be a whole number, not 'first'"),
    ("---\nletter: Q\ntitle: Q\norder: 1\n", "chapters/c.md:1:1: error: chapter file has no fields; start it with '---', 'letter:', 'title:', 'order:' lines and '---'"),
])
func w200_aChapterWithoutItsFieldsIsAnError(text: String, expected: String) {
    let book = weave([], chapters: [InputFile(path: "chapters/c.md", text: text)])
    #expect(messages(book) == [expected])
    #expect(book.chapters.isEmpty)
}

@Test func w200_twoChaptersCannotShareALetterOrAPlace() {
    let chapters = [
        InputFile(path: "chapters/a.md", text: "---\nletter: A\ntitle: A\norder: 1\n---\n"),
        InputFile(path: "chapters/b.md", text: "---\nletter: A\ntitle: B\norder: 2\n---\n"),
        InputFile(path: "chapters/c.md", text: "---\nletter: C\ntitle: C\norder: 1\n---\n"),
    ]
    #expect(messages(weave([], chapters: chapters)) == [
        "chapters/b.md:1:1: error: chapter letter A is already used by chapters/a.md",
        "chapters/c.md:1:1: error: chapter order 1 is already used by chapters/a.md",
    ])
}

@Test func w300_diagnosticsReadLikeACompilers() {
    let diagnostic = Diagnostic(file: "Sources/A.swift", line: 3, column: 7, message: "something is wrong")
    #expect(diagnostic.description == "Sources/A.swift:3:7: error: something is wrong")
}

@Test func w310_aDuplicateTagNamesBothPlaces() {
    let book = weave([
        ("Sources/B.swift", "let a = 1\n  /*G:037 Again. :*/\n"),
        ("Sources/A.swift", "/*G:037 First. :*/\n"),
    ])
    #expect(messages(book) == ["Sources/B.swift:2:3: error: duplicate tag G:037; first defined at Sources/A.swift:1:1"])
    #expect(book.sections.map(\.file) == ["Sources/A.swift"])
}

@Test func w310_aTagWhoseLetterHasNoChapterIsAnError() {
    let book = weave(swift: "/*Q:010 Lost. :*/\n")
    #expect(messages(book) == ["Sources/A.swift:1:1: error: no chapter has the letter Q of tag Q:010; add one to chapters/"])
    #expect(book.sections.isEmpty)
}

@Test func w310_aMentionOfAnUndefinedTagIsAnError() {
    let book = weave(swift: "/*G:010 Fine.\n *\n * See G:020 and\n * then H:999, which is missing. :*/\n/*G:020 Here. :*/\n")
    #expect(messages(book) == ["Sources/A.swift:4:9: error: H:999 is mentioned but no section defines it"])
    let chapter = InputFile(path: "chapters/g.md", text: "---\nletter: G\ntitle: G\norder: 1\n---\nIntro about\nthe `G:404` page.\n")
    #expect(messages(weave([], chapters: [chapter])) == ["chapters/g.md:7:6: error: G:404 is mentioned but no section defines it"])
}

@Test func w310_sectionsSortByChapterOrderThenNumber() {
    let book = weave([
        ("Sources/Z.swift", "/*W:010 w :*/\n/*P:900 p :*/\n/*G:100 g :*/\n"),
        ("Sources/A.swift", "/*G:30 g :*/\n/*H:005 h :*/\n/*X:001 x :*/\n/*G:0200 g :*/\n"),
    ])
    #expect(tags(book) == ["P:900", "G:030", "G:100", "G:200", "H:005", "X:001", "W:010"])
}

@Test func w320_testsAreFoundByTheirFunctionNames() {
    let book = weave([
        ("Sources/A.swift", "/*G:037 Ring. :*/\n/*G:038 Other. :*/\n"),
        ("Tests/GuestTests/RingTests.swift", """
            @Test func g037_fillsInOrder() {}
            @Test func g037_fullRingIsSynchronous() {}
            func g37_notCanonical() {}
            let text = "func g038_inAString() {}"
            // func g038_inAComment() {}
            func g0380_anotherSection() {}
            """),
        ("Sources/NotTests.swift", "func g038_notUnderTests() {}\n"),
    ])
    #expect(book.tests[Tag("G:037")!] == ["g037_fillsInOrder", "g037_fullRingIsSynchronous"])
    #expect(book.tests[Tag("G:038")!] == nil)
}

@Test func w305_offsetsBecomeLinesAndColumns() {
    let bytes = Array("ab\ncd\r\n\nlast\n".utf8)
    let table = LineTable(bytes)
    #expect(table.lineCount == 4)
    let expected = [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (2, 4), (3, 1), (4, 1), (4, 2), (4, 3)]
    for (offset, position) in expected.enumerated() {
        #expect(table.position(of: offset) == position, "offset \(offset)")
    }
    #expect((1...4).map { String(decoding: bytes[table.range(ofLine: $0, in: bytes)], as: UTF8.self) } == ["ab", "cd", "", "last"])
    #expect(LineTable(Array("no newline".utf8)).lineCount == 1)
    #expect(LineTable([]).lineCount == 1)
}
