import ArgumentParser
import Foundation
import Weave

/*W:730 The front door is a declarative command built with
swift-argument-parser: four subcommands sharing the options that say where
the project is. Diagnostics go to standard error, one per line, and `build`
and `check` exit with a failure status when there are any. `build` writes
nothing when the sources have problems, so a broken book is never committed
by accident. The work itself lives in `Project.build()` and `Project.check()`
in the library, where the exercises can reach it; this file only parses
arguments and prints.
*/
/// Where the project is and where its book goes; shared by every subcommand.
struct Location: ParsableArguments {
    @Option(name: .long, help: "The project root: the directory with Sources/, Tests/ and chapters/.")
    var root: String = "."

    @Option(name: .long, help: "Another directory of sources to weave, relative to the root (repeatable).")
    var sources: [String] = []

    @Option(name: .long, help: "The directory of chapter files, relative to the root.")
    var chapters: String = "chapters"

    @Option(name: .long, help: "Where the book goes, relative to the root.")
    var output: String = "book"

    @Option(name: .long, help: "The book's title.")
    var title: String = "lguest in Swift"

    @Flag(name: .long, help: "Let a section run to the end of its file, as the original lguest sources do.")
    var sectionsEndWithFiles = false

    /// The project these options describe.
    var project: Project {
        Project(root: root, extraSources: sources, chaptersDirectory: chapters, outputDirectory: output, title: title,
                sectionsMayRunToEndOfFile: sectionsEndWithFiles)
    }

    /// Weaves the project and prints its diagnostics on standard error.
    func weave() -> Book {
        let book = project.load()
        report(book.diagnostics)
        return book
    }
}

/// Prints `diagnostics` on standard error, one `file:line:col: error: ...` line each.
func report(_ diagnostics: [Diagnostic]) {
    let text = diagnostics.map { $0.description + "\n" }.joined()
    if !text.isEmpty { FileHandle.standardError.write(Data(text.utf8)) }
}

/// `weave`: the command and its four subcommands.
@main
struct WeaveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weave",
        abstract: "Weave the book from the tagged comments in the sources.",
        subcommands: [Build.self, Check.self, ChapterText.self, List.self])
}

/// `weave build`: write book/, or report why not. Exit status 0 when the book was
/// written, 1 when the sources have problems (and nothing was written).
struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the HTML and Markdown books.")
    @OptionGroup var location: Location

    func run() throws {
        let problems = try location.project.build()
        report(problems)
        guard problems.isEmpty else { throw ExitCode.failure }
    }
}

/// `weave check`: what CI runs after the tests. Exit status 0 when the sources are
/// sound and book/ is exactly what `build` would write, 1 otherwise.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fail on any diagnostic, or when the book on disk differs from what build would write.")
    @OptionGroup var location: Location

    func run() throws {
        let problems = location.project.check()
        report(problems)
        guard problems.isEmpty else { throw ExitCode.failure }
    }
}

/// `weave chapter G`: one chapter as plain text, like the original's `make Guest`.
/// Problems are reported but do not stop the printing: a half-written chapter
/// is still worth reading.
struct ChapterText: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chapter", abstract: "Print one chapter as plain text.")
    @OptionGroup var location: Location
    @Argument(help: "The chapter's letter, such as G.") var letter: String

    func run() throws {
        let book = location.weave()
        guard let text = book.plainText(ofChapter: letter) else {
            throw ValidationError("no chapter has the letter '\(letter)'")
        }
        print(text, terminator: "")
    }
}

/// `weave list`: one line per section, in book order, such as
/// `W:730 Sources/weave/main.swift:5-30 The front door is...`.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print every section with its tag, file and lines.")
    @OptionGroup var location: Location

    func run() throws {
        print(location.weave().listing(), terminator: "")
    }
}
/*:*/
