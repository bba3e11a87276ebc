import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Weave

private let chapterFiles: [String: String] = Dictionary(uniqueKeysWithValues: standardChapters.map { ($0.path, $0.text) })

/// This project's own root, three levels above this file.
private let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

/// A fixture tree with the standard chapters and `sources`.
private func project(_ sources: [String: String]) throws -> FixtureTree {
    try FixtureTree(chapterFiles.merging(sources) { $1 })
}

@Test func w300_warningsReadLikeACompilersToo() {
    let warning = Diagnostic(file: "Sources/A.swift", line: 3, column: 7, message: "look here", severity: .warning)
    #expect(warning.description == "Sources/A.swift:3:7: warning: look here")
    #expect(!warning.isError)
    #expect(Diagnostic(file: "A", line: 1, column: 1, message: "m").isError)
}

// MARK: Bytes that are not text (W:332)

@Test func w332_bytesThatAreNotUTF8AreAnErrorAtTheirOwnColumn() {
    // "é" is two bytes, so the Latin-1 byte after "let é = " is the tenth byte of its line.
    let bytes = Array("let a = 1\nlet é = ".utf8) + [0xE9] + Array(" + 1\nlet b = ".utf8) + [0xFF, 0x41]
    let book = Book(sources: [InputFile(path: "Sources/A.swift", contents: bytes)], chapterFiles: standardChapters)
    #expect(messages(book) == [
        "Sources/A.swift:2:10: error: byte 0xE9 is not UTF-8; weave reads sources as UTF-8, so save the file that way"
            + " (and 1 more in this file)",
    ])
}

@Test(arguments: [
    ([0xC3] as [UInt8], 1), ([0x61, 0xE2, 0x82] as [UInt8], 2), ([0x61, 0x80, 0x62] as [UInt8], 2),
    ([0xED, 0xA0, 0x80] as [UInt8], 1), ([0xF4, 0x90, 0x80, 0x80] as [UInt8], 1),
])
func w332_everyKindOfBadSequenceIsFound(bytes: [UInt8], column: Int) {
    // A lone lead byte, a truncated sequence, a stray continuation byte, a surrogate, past U+10FFFF.
    let refusals = InputFile(path: "Sources/A.swift", contents: bytes).refusals
    #expect(refusals.count == 1)
    #expect(refusals.first?.column == column)
    #expect(InputFile.invalidUTF8(in: Array("plain ascii, é, and 💡".utf8)).isEmpty)
}

@Test func w332_nulBytesAreRefusedFromDiskAndFromStrings() {
    let text = "let a = 1\n  let b\0 = 2\0\n"
    for input in [InputFile(path: "Sources/A.swift", text: text), InputFile(path: "Sources/A.swift", contents: Array(text.utf8))] {
        #expect(input.refusals.map(\.description) == [
            "Sources/A.swift:2:8: error: NUL byte in a text file; weave reads only text (and 1 more in this file)",
        ])
    }
}

@Test func w332_aProjectRefusesBadBytesInSourcesAndChaptersAndWritesNothing() throws {
    let tree = try project(["Sources/Good.swift": "/*G:010 Fine. :*/\n"])
    try tree.write("Sources/Latin1.swift", bytes: Array("/*G:020 Caf".utf8) + [0xE9] + Array(". :*/\n".utf8))
    try tree.write("chapters/guest.md", bytes: Array("---\nletter: G\ntitle: Guest\norder: 2\n---\nA\0B\n".utf8))
    #expect(try Project(root: tree.root).build().map(\.description) == [
        "Sources/Latin1.swift:1:12: error: byte 0xE9 is not UTF-8; weave reads sources as UTF-8, so save the file that way",
        "chapters/guest.md:6:2: error: NUL byte in a text file; weave reads only text",
    ])
    #expect(!tree.exists("book"))
}

@Test func w332_aPipeWithASourcesNameIsRefusedNotReadForEver() throws {
    let tree = try project(["Sources/Good.swift": "/*G:010 Fine. :*/\n"])
    #expect(mkfifo(tree.root + "/Sources/Pipe.swift", 0o644) == 0)
    #expect(messages(Project(root: tree.root).load()) == [
        "Sources/Pipe.swift:1:1: error: not a regular file; weave reads only files",
    ])
}

// MARK: Near misses of a tag (W:335)

@Test(arguments: [
    ("/* G:010 Spaced. :*/", "'/* G:010' does not open a section: nothing may come between '/*' and the tag; write '/*G:010'"),
    ("/**G:020 Starred. :*/", "'/**G:020' does not open a section: nothing may come between '/*' and the tag; write '/*G:020'"),
    ("/*g:010 Small. :*/", "'/*g:010' does not open a section: chapter letters are capitals; write '/*G:010'"),
    ("/*G: Numberless. :*/", "'/*G:' does not open a section: a tag needs a number after its colon, like '/*G:010'"),
    ("/*G:*/", "'/*G:' does not open a section: a tag needs a number after its colon, like '/*G:010'"),
    ("/*G:1234567 Long. :*/", "'/*G:1234567' does not open a section: a tag's number has at most six digits"),
    ("/*G:010x Glued. :*/", "'/*G:010x' does not open a section: its number runs into the word after it; put a space after the number"),
])
func w335_aNearMissOfATagIsAWarningAndTheBookIsStillWritten(comment: String, message: String) throws {
    let tree = try project(["Sources/A.swift": "let a = 1\n  \(comment)\nlet b = 2\n/*G:030 A real one. :*/\n"])
    let problems = try Project(root: tree.root).build()
    #expect(problems.map(\.description) == ["Sources/A.swift:2:3: warning: " + message])
    #expect(tree.read("book/html/guest.html")?.contains("A real one.") == true)
}

@Test(arguments: [
    "/* an ordinary remark */", "/*: not a tag */", "/*x: 1 */", "/* g:10 two steps away */", "/**\n * G:010 a doc comment\n */",
    "/*G:010 A real tag. :*/", "/* P: a space, a letter, a colon */", "/*K:010 no chapter has K */", "/*G:foo a label */",
    "/**/", "/*:*/", "/*G",
])
func w335_remarksAndRealTagsAreNotNearMisses(comment: String) {
    let book = weave([("Sources/A.swift", "let a = 1\n\(comment)\nlet b = 2\n")])
    #expect(book.diagnostics.filter { !$0.isError }.isEmpty, "\(messages(book))")
}

@Test func w335_thisProjectsOwnSourcesHaveNoNearMisses() {
    let book = Project(root: projectRoot).load()
    #expect(book.sections.count > 100)
    #expect(book.diagnostics.filter { !$0.isError }.map(\.description) == [])
}

// MARK: Directories (W:705) and walks (W:707)

@Test func w705_aRootOrSourcesDirectoryThatIsNotThereIsRefused() throws {
    let tree = try project(["Sources/A.swift": "/*G:010 Fine. :*/\n", "notes.txt": "not a directory"])
    #expect(Project(root: tree.root).missingDirectories().isEmpty)
    #expect(Project(root: tree.root + "/nowhere").missingDirectories() == ["--root names no directory: \(tree.root)/nowhere"])
    #expect(Project(root: tree.root + "/notes.txt").missingDirectories() == ["--root names no directory: \(tree.root)/notes.txt"])
    #expect(Project(root: tree.root, extraSources: ["Sources", "linux"]).missingDirectories()
            == ["--sources names no directory: linux"])
    // Sources/ and Tests/ may be missing from a fresh project, as before.
    #expect(Project(root: tree.root, extraSources: [tree.root + "/Sources"]).missingDirectories().isEmpty)
}

@Test func w707_symbolicLinkLoopsEndAndEveryFileIsReadOnce() throws {
    let tree = try project([
        "Sources/Guest/Boot.swift": "/*G:010 Boot. :*/\n",
        "Tests/GuestTests/Shared.swift": "/*G:020 Shared by a link. :*/\n@Test func g010_boots() {}\n",
    ])
    // Two links to the directory they sit in: a walk that followed them blindly would read
    // 2, 4, 8... copies of each file, until the paths grew too long.
    try tree.link("Sources/Guest/again", to: ".")
    try tree.link("Sources/Guest/more", to: "..")
    // A link to a file already seen, sorting before the real one, and a loop of links to nowhere.
    try tree.link("Tests/AGuestTests/Shared.swift", to: "../GuestTests/Shared.swift")
    try tree.link("Sources/x.swift", to: "y.swift")
    try tree.link("Sources/y.swift", to: "x.swift")
    // An extra source directory that the walk has already been through.
    let book = Project(root: tree.root, extraSources: ["Sources/Guest", "."]).load()
    #expect(book.diagnostics.isEmpty, "\(messages(book))")
    #expect(tags(book) == ["G:010", "G:020"])
    #expect(book.sections.map(\.file) == ["Sources/Guest/Boot.swift", "Tests/GuestTests/Shared.swift"])
    #expect(book.tests[Tag("G:010")!] == ["g010_boots"])
}

@Test func w707_aLinkedTreeIsWovenUnderTheLinksName() throws {
    let tree = try project(["elsewhere/linux/boot.c": "/*G:010 Boot. :*/\n"])
    try tree.link("Sources/linux", to: "../elsewhere/linux")
    let book = Project(root: tree.root).load()
    #expect(book.sections.map(\.file) == ["Sources/linux/boot.c"])
}

// MARK: Writing the book (W:710)

@Test func w710_aBookThatCannotBeWrittenIsOnePlainSentence() throws {
    let tree = try project(["Sources/A.swift": "/*G:010 Fine. :*/\n", "taken": "a file where the book should go"])
    #expect(throws: BookWriteError(path: "taken/html", reason: "Not a directory")) {
        try Project(root: tree.root, outputDirectory: "taken").build()
    }
}

// MARK: The front door (W:730), end to end

@Suite(.enabled(if: weaveExecutableExists, "needs the weave executable beside the tests (swift build --build-tests)"))
struct FrontDoorRefusalTests {
    @Test func w705_aMissingRootOrSourcesIsAUsageErrorAndNoBookAppears() throws {
        let tree = try project(["Sources/A.swift": "/*G:010 Fine. :*/\n"])
        for subcommand in ["build", "check", "list"] {
            let run = try runWeave([subcommand, "--root", "nowhere"], in: tree.root)
            #expect(run.status == 64)
            #expect(run.errors.hasPrefix("Error: --root names no directory: nowhere\n"), "\(run.errors)")
        }
        let run = try runWeave(["build", "--sources", "linux"], in: tree.root)
        #expect(run.status == 64)
        #expect(run.errors.hasPrefix("Error: --sources names no directory: linux\n"), "\(run.errors)")
        #expect(!tree.exists("book") && !tree.exists("nowhere"))
    }

    @Test func w710_anUnwritableOutputIsOneLineAndStatusOne() throws {
        let tree = try project(["Sources/A.swift": "/*G:010 Fine. :*/\n", "taken": "a file"])
        let run = try runWeave(["build", "--output", "taken"], in: tree.root)
        #expect(run.status == 1)
        #expect(run.errors == "weave: error: cannot write taken/html: Not a directory\n")
    }

    @Test func w730_listAndChapterFailWhenTheyPrintErrorsButStillPrint() throws {
        let tree = try project(["Sources/A.swift": "/*G:010 Fine. :*/\n/*G:010 Again. :*/\n"])
        let error = "Sources/A.swift:2:1: error: duplicate tag G:010; first defined at Sources/A.swift:1:1\n"
        let list = try runWeave(["list"], in: tree.root)
        #expect(list.status == 1)
        #expect(list.errors == error)
        #expect(list.output == "G:010 Sources/A.swift:1-1 Fine.\n")
        let chapter = try runWeave(["chapter", "G"], in: tree.root)
        #expect(chapter.status == 1)
        #expect(chapter.errors == error)
        #expect(chapter.output.contains("G:010\nFine."))
    }

    @Test func w730_warningsAloneLeaveTheStatusAtZero() throws {
        let tree = try project(["Sources/A.swift": "/*G:010 Fine. :*/\n/* G:020 Nearly. */\n"])
        for arguments in [["build"], ["check"], ["list"], ["chapter", "G"]] {
            let run = try runWeave(arguments, in: tree.root)
            #expect(run.status == 0, "\(arguments)")
            #expect(run.errors.hasPrefix("Sources/A.swift:2:1: warning: '/* G:020' does not open a section"), "\(arguments)")
        }
    }

    @Test func w730_anUnknownChapterLetterIsWordedAsABadTagIs() throws {
        let tree = try project(["Sources/A.swift": "/*G:010 Fine. :*/\n"])
        let run = try runWeave(["chapter", "Q"], in: tree.root)
        #expect(run.status == 1)
        #expect(run.errors == "weave: error: no chapter has the letter Q; add one to chapters/\n")
        let tag = weave(swift: "/*Q:010 Nowhere. :*/\n")
        #expect(messages(tag) == ["Sources/A.swift:1:1: error: no chapter has the letter Q of tag Q:010; add one to chapters/"])
    }

    @Test func w800_theOptionThatTheOpenSectionErrorNamesExists() throws {
        let tree = try project(["linux/boot.c": "/*G:070 The last one. */\nvoid start(void) {}\n"])
        let strict = try runWeave(["build", "--sources", "linux"], in: tree.root)
        #expect(strict.status == 1)
        let option = try #require(strict.errors.split(separator: " ").first { $0.hasPrefix("--") })
        #expect(option == "--sections-end-with-files")
        let lenient = try runWeave(["build", "--sources", "linux", String(option)], in: tree.root)
        #expect(lenient.status == 0, "\(lenient.errors)")
        #expect(tree.read("book/markdown/guest.md")?.contains("void start(void) {}") == true)
    }
}
