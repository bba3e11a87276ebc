import Testing
@testable import Weave

/// A chapter whose introduction asks for the list of exercises.
private let teachersChapter = InputFile(
    path: "chapters/t.md", text: "---\nletter: M\ntitle: Mastery\norder: 7\n---\nThe exercises:\n\n<!-- weave: exercises -->\n")

@Test func w760_theDirectiveBecomesTheListOfExercisesByChapter() {
    let source = """
        /*H:110 Draining.

        **Exercise** (easy; read first G:037): free the slot
        after its call. :*/
        /*:*/
        /*G:037 The ring.

        Sixty-four slots.

        **Exercise** (hard): write the status byte. :*/
        /*:*/
        /*G:038 Not an exercise. :*/
        """
    let book = weave([("Sources/A.swift", source)], chapters: standardChapters.filter { !$0.path.hasSuffix("mastery.md") } + [teachersChapter])
    #expect(messages(book).isEmpty)
    let intro = book.chapters.first { $0.letterString == "M" }?.introduction ?? ""
    #expect(!intro.contains("<!-- weave"))
    #expect(intro.contains("2 exercises, 5 points in all."))
    #expect(intro.contains("- G:037 (hard, 4 points): write the status byte. Grade it with `tools/grade g037`."))
    #expect(intro.contains("- H:110 (easy, 1 point; read first G:037): free the slot after its call. Grade it with `tools/grade h110`."))
    // By chapter, in the book's order: the Guest before the Host.
    let guest = intro.range(of: "**G · Guest**"), host = intro.range(of: "**H · Host**")
    #expect(guest != nil && host != nil && guest!.lowerBound < host!.lowerBound)
}

@Test func w760_aChapterWithoutTheDirectiveIsLeftAlone() {
    let book = weave(swift: "/*G:037 The ring.\n\n**Exercise** (easy): a task. :*/\n")
    #expect(book.chapters.allSatisfy { !$0.introduction.contains("exercises, ") })
}
