import ArgumentParser
import Foundation
import Weave

/*W:730 The front door is a declarative command built with
swift-argument-parser: four subcommands sharing the options that say where
the project is. The options are parsed and checked here, and nothing else:
the work itself lives in `Project.build()` and `Project.check()` in the
library, where the exercises can reach it, and this file only parses
arguments and prints.

Mistakes on the command line itself are the argument parser's to report,
with the usage beside them, because the usage is what helps: a `--root` or
`--sources` that names no directory (W:705) is refused that way, before a
single file is read or written. The one flag whose name the library needs,
the one that lets sections run to the ends of their files, takes its name
from the library, so the error that recommends it (W:100) and the parser
cannot come to disagree about its spelling.
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

    @Flag(name: .customLong(Project.sectionsEndWithFilesOption),
          help: "Let a section run to the end of its file, as the original lguest sources do.")
    var sectionsEndWithFiles = false

    /// Refuses directories that are not there, before anything is read or written.
    func validate() throws {
        if let problem = project.missingDirectories().first { throw ValidationError(problem) }
    }

    /// The project these options describe.
    var project: Project {
        Project(root: root, extraSources: sources, chaptersDirectory: chapters, outputDirectory: output, title: title,
                sectionsMayRunToEndOfFile: sectionsEndWithFiles)
    }

    /// Weaves the project and prints its diagnostics on standard error.
    func weave(drawingFigures: Bool = true) -> Book {
        let book = project.load(drawingFigures: drawingFigures)
        report(book.diagnostics)
        return book
    }
}

/// Prints `diagnostics` on standard error, one `file:line:col: error: ...` line each.
func report(_ diagnostics: [Diagnostic]) {
    let text = diagnostics.map { $0.description + "\n" }.joined()
    if !text.isEmpty { FileHandle.standardError.write(Data(text.utf8)) }
}

/// Ends the command with status 1 when `diagnostics` hold an error; warnings alone pass.
func failOnErrors(_ diagnostics: [Diagnostic]) throws {
    if diagnostics.contains(where: \.isError) { throw ExitCode.failure }
}

/// Prints `weave: error: MESSAGE` on standard error and ends the command with status 1.
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("weave: error: \(message)\n".utf8))
    return ExitCode.failure
}

/*:*/

/*W:735 Every subcommand ends with a status that tells the truth.
Diagnostics go to standard error, one per line, and a run exits with status
1 when any of them is an error: `build` and `check` because the book is
wrong, and `list` and `chapter` too, after printing what they can, so that a
script piping their output is not told that all is well while errors scroll
past. Warnings alone leave the status at zero. `build` writes nothing when
the sources have errors, so a broken book is never committed by accident.

Problems that are not about the words typed, such as a chapter letter that
no chapter has or a book that cannot be written (W:710), are one
`weave: error: ...` line, worded as weave words the same problem anywhere
else: `weave chapter Q` is told what a tag `Q:010` in a source would be told.
None of them ends in a backtrace.
*/
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
        do {
            let problems = try location.project.build()
            report(problems)
            try failOnErrors(problems)
        } catch let error as BookWriteError {
            throw fail(error.description)
        }
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
        try failOnErrors(problems)
    }
}

/// `weave chapter G`: one chapter as plain text, like the original's `make Guest`.
/// Problems are reported but do not stop the printing: a half-written chapter
/// is still worth reading. The status is 1 when there were errors.
struct ChapterText: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chapter", abstract: "Print one chapter as plain text.")
    @OptionGroup var location: Location
    @Argument(help: "The chapter's letter, such as G.") var letter: String

    func run() throws {
        let book = location.weave()
        guard let text = book.plainText(ofChapter: letter) else { throw fail(Book.noChapter(letter.uppercased())) }
        print(text, terminator: "")
        try failOnErrors(book.diagnostics)
    }
}

/// `weave list`: one line per section, in book order, such as
/// `W:730 Sources/weave/main.swift:5-30 The front door is...`.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print every section with its tag, file and lines.")
    @OptionGroup var location: Location

    func run() throws {
        let book = location.weave(drawingFigures: false)
        print(book.listing(), terminator: "")
        try failOnErrors(book.diagnostics)
    }
}
/*:*/
