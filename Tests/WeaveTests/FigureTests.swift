import Foundation
import Testing
@testable import Weave

/// A runner that prints its arguments and three counts, and records how often it ran.
private final class FakeMachine: @unchecked Sendable {
    private(set) var runs: [[String]] = []
    private let lock = NSLock()

    var runner: FigureRunner {
        { arguments in
            self.lock.lock()
            self.runs.append(arguments)
            self.lock.unlock()
            if arguments.contains("--missing") { return .failure(FigureProblem("figure: cannot run 'lguest --missing'")) }
            return .success("args \(arguments.joined(separator: " "))\nworld_switches 12\nhypercall.SET_PTE 7\n")
        }
    }
}

private func book(_ prose: String, machine: FakeMachine) -> Book {
    Book(sources: [InputFile(path: "Sources/A.swift", text: prose)], chapterFiles: standardChapters,
         figures: machine.runner)
}

@Test func w450_aFigureIsDrawnByRunningTheCommandItNames() {
    let machine = FakeMachine()
    let woven = book("/*L:100 Boot:\n\n```lguest-run --programs hello --stats\nstale text\n```\n\nAfter. :*/\n", machine: machine)
    #expect(woven.diagnostics.isEmpty)
    let prose = woven.sections[0].prose
    #expect(prose.contains("```console\n$ swift run lguest --programs hello --stats\nargs --programs hello --stats\nworld_switches 12\n"))
    #expect(!prose.contains("stale text"))
    #expect(prose.hasSuffix("```\n\nAfter."))
    #expect(machine.runs == [["--programs", "hello", "--stats"]])
    // Both books print it.
    let page = HTMLBook(book: woven, title: "T").files().first { $0.path == "launcher.html" }?.contents ?? ""
    #expect(page.contains("<code class=\"language-console\">$ swift run lguest --programs hello --stats\nargs"))
}

@Test func w450_grepKeepsTheLinesWithOneOfItsWords() {
    let machine = FakeMachine()
    let woven = book("/*L:100 A\n\n```lguest-run --stats | grep -e world_switches -e SET_PTE\n```\n:*/\n", machine: machine)
    #expect(woven.sections[0].prose.contains("grep -e world_switches -e SET_PTE\nworld_switches 12\nhypercall.SET_PTE 7\n```"))
    let single = book("/*L:100 A\n\n```lguest-run --stats | grep SET_PTE\n```\n:*/\n", machine: machine)
    #expect(single.sections[0].prose.contains("| grep SET_PTE\nhypercall.SET_PTE 7\n```"))
}

@Test func w450_aFilterWeaveCannotHonourIsAnError() {
    for info in ["--stats | sort", "--stats | grep 'a.*b'", "--stats | grep -e a b", "--input 'open"] {
        let woven = book("/*L:100 A\n\n```lguest-run \(info)\n```\n:*/\n", machine: FakeMachine())
        #expect(woven.diagnostics.count == 1, "\(info)")
        #expect(woven.diagnostics.first?.message.hasPrefix("figure: ") ?? false)
        #expect(woven.diagnostics.first?.line == 3, "the diagnostic points at the fence")
    }
}

@Test func w450_quotesHoldSpacesAndBlocksThatAreNotFiguresStay() {
    let machine = FakeMachine()
    let woven = book("/*L:100 A\n\n```lguest-run --input \"a b\"\n```\n\n```swift\nlet x = 1\n```\n\n    ```lguest-run indented\n:*/\n",
                     machine: machine)
    #expect(machine.runs == [["--input", "a b"]])
    #expect(woven.sections[0].prose.contains("```swift\nlet x = 1\n```"))
    #expect(woven.sections[0].prose.contains("    ```lguest-run indented"))
}

@Test func w452_eachCommandRunsOncePerWeaving() {
    let machine = FakeMachine()
    let cache = FigureCache()
    let runner: FigureRunner = { arguments in cache.value(for: arguments) { machine.runner(arguments) } }
    let text = "/*L:100 A\n\n```lguest-run --stats\n```\n:*/\n/*L:101 B\n\n```lguest-run --stats\n```\n"
        + "```lguest-run --stats | grep SET_PTE\n```\n:*/\n"
    let woven = Book(sources: [InputFile(path: "Sources/A.swift", text: text)], chapterFiles: standardChapters, figures: runner)
    #expect(woven.sections.count == 2)
    #expect(machine.runs == [["--stats"]])
}

@Test func w452_aFigureThatCannotBeDrawnStopsTheBook() {
    let woven = book("/*L:100 A\n\n```lguest-run --missing\n```\n:*/\n", machine: FakeMachine())
    #expect(messages(woven) == ["Sources/A.swift:3:1: error: figure: cannot run 'lguest --missing'"])
}

@Test func w452_aFigureLeftOpenIsClosed() {
    let woven = book("/*L:100 A\n\n```lguest-run --stats :*/\n", machine: FakeMachine())
    #expect(woven.sections[0].prose.hasSuffix("hypercall.SET_PTE 7\n```"))
}

@Test func w454_aMissingLguestIsOneClearError() {
    let result = LguestExecutable.run("/nonexistent/lguest", ["--stats"], in: "/")
    guard case .failure(let problem) = result else { Issue.record("ran a missing program"); return }
    #expect(problem.message.contains("no lguest executable at /nonexistent/lguest"))
    #expect(problem.message.contains("swift build --product lguest"))
}

@Test func w454_theRunnerReportsOutputAndAFailingStatus() {
    let result = LguestExecutable.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], in: "/")
    guard case .success(let text) = result else { Issue.record("sh did not run"); return }
    #expect(text == "out\nerr\n(exit status 3)\n")
}

@Test func w452_checkFailsWhenAFigureIsStale() throws {
    var files = ["Sources/A.swift": "/*L:100 A\n\n```lguest-run --stats\n```\n:*/\n"]
    for chapter in standardChapters { files[chapter.path] = chapter.text }
    let tree = try FixtureTree(files)
    var project = Project(root: tree.root)
    project.figures = { _ in .success("world_switches 12\n") }
    #expect(try project.build().isEmpty)
    #expect(project.check().isEmpty)
    #expect(tree.read("book/markdown/launcher.md")?.contains("world_switches 12") ?? false)
    // The machine changed: the same sources now draw another figure, and the book is stale.
    project.figures = { _ in .success("world_switches 13\n") }
    let stale = project.check().map(\.description)
    #expect(stale.contains("book/markdown/launcher.md:1:1: error: out of date; run 'swift run weave build'"))
    #expect(stale.contains("book/html/launcher.html:1:1: error: out of date; run 'swift run weave build'"))
}

@Test func w325_aTestCommandInTheProseMustRunSomething() {
    let sources = [
        ("Sources/A.swift", "/*G:010 Run `swift test --filter g010` or\n`swift test --filter GuestTests.Ring` or `swift test --filter GhostTests`. :*/\n"),
        ("Tests/GuestTests/RingTests.swift", "struct Ring {\n    @Test func g010_pushes() {}\n}\n// func g099_commentedOut() {}\n"),
    ]
    let book = weave(sources)
    #expect(messages(book) == ["Sources/A.swift:2:63: error: 'swift test --filter GhostTests' matches no test under Tests/"])
    // A test that is only in a comment does not count.
    let commented = weave([("Sources/A.swift", "/*G:010 Run `swift test --filter g099`. :*/\n"), sources[1]])
    #expect(messages(commented).count == 1)
}

@Test func w325_filtersAreRegularExpressionsAsSwiftTestReadsThem() {
    let names = Book.testNames(in: [ParsedFile(path: "Tests/HostTests/A.swift", language: .swift,
                                               text: "@Test func h100_a() {}\n")])
    #expect(Book.filter("h1[0-9]0", matchesAnyOf: names))
    #expect(Book.filter("HostTests.h100_a", matchesAnyOf: names))
    #expect(!Book.filter("h200", matchesAnyOf: names))
}
