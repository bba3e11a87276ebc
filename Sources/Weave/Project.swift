import Foundation

/*W:700 The command line sees the project as a directory on disk. A
`Project` knows where to look: the Swift, C and assembly files under
Sources/ and Tests/ (and any other source directories named on the command
line, so a course can weave a tree of C files in the original's style), the
chapter files in chapters/, and the book under book/. Hidden directories
are skipped, and every listing is sorted, so what weave reads does not depend
on the order a file system happens to return.

Paths in the book are relative to the project root and use forward slashes.
No absolute path, time stamp or host name is ever written: the same sources
give the same book, byte for byte, on every machine. That is what lets
`weave check` compare the committed book with a fresh rendering and fail
when someone edited a tagged comment but forgot to rebuild.
*/
/// A project on disk: where its sources, chapters and book are.
public struct Project: Sendable {
    /// The project root; other paths are relative to it unless absolute.
    public var root: String
    /// Directories to read sections from, besides Sources and Tests.
    public var extraSources: [String]
    public var chaptersDirectory: String
    public var outputDirectory: String
    /// The book's title, shown on every page.
    public var title: String
    /// Whether a section may run to the end of its file, as in the original's sources.
    public var sectionsMayRunToEndOfFile: Bool

    public init(root: String = ".", extraSources: [String] = [], chaptersDirectory: String = "chapters",
                outputDirectory: String = "book", title: String = "lguest in Swift",
                sectionsMayRunToEndOfFile: Bool = false) {
        self.root = root
        self.extraSources = extraSources
        self.chaptersDirectory = chaptersDirectory
        self.outputDirectory = outputDirectory
        self.title = title
        self.sectionsMayRunToEndOfFile = sectionsMayRunToEndOfFile
    }

    /// Reads every source and chapter file and weaves them.
    public func load() -> Book {
        // Directories that do not exist are simply empty: a course tree may
        // have no Tests/, and a fresh project no Sources/ yet.
        var sources: [InputFile] = []
        for directory in ["Sources", "Tests"] + extraSources.map(Project.normalized) {
            sources += Project.files(in: resolve(directory), displayedAs: directory) { SourceLanguage(path: $0) != nil }
        }
        let chapters = Project.files(in: resolve(chaptersDirectory), displayedAs: Project.normalized(chaptersDirectory),
                                     recursive: false) { $0.hasSuffix(".md") }
        return Book(sources: sources, chapterFiles: chapters, sectionsMayRunToEndOfFile: sectionsMayRunToEndOfFile)
    }

    /// Every file of the book, paths relative to the output directory (`html/...`, `markdown/...`).
    public func render(_ book: Book) -> [OutputFile] {
        // The Markdown book links to sources relative to itself, so it needs to
        // know how deep below the root it sits: book/markdown is two levels.
        let depth = Project.normalized(outputDirectory).split(separator: "/").count + 1
        let html = HTMLBook(book: book, title: title).files()
        let markdown = MarkdownBook(book: book, title: title, rootPrefix: String(repeating: "../", count: depth)).files()
        return html.map { OutputFile(path: "html/" + $0.path, contents: $0.contents) }
            + markdown.map { OutputFile(path: "markdown/" + $0.path, contents: $0.contents) }
    }
    /*:*/

    /// Weaves the project and writes the book, unless weaving found problems; returns them.
    public func build() throws -> [Diagnostic] {
        let book = load()
        guard book.diagnostics.isEmpty else { return book.diagnostics }
        try write(render(book))
        return []
    }

    /// Weaves the project in memory; returns its problems and every file of the book on disk
    /// that differs from what `build()` would write.
    public func check() -> [Diagnostic] {
        let book = load()
        return book.diagnostics + differences(from: render(book))
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : root + "/" + path
    }

    static func normalized(_ path: String) -> String {
        var parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        parts.removeAll { $0 == "." }
        return path.hasPrefix("/") ? "/" + parts.joined(separator: "/") : parts.joined(separator: "/")
    }

    /// The files under `directory` whose names `wanted` accepts, read, sorted, with paths
    /// starting with `prefix`. Bytes that are not UTF-8 are replaced, never fatal.
    static func files(in directory: String, displayedAs prefix: String, recursive: Bool = true,
                      where wanted: (String) -> Bool) -> [InputFile] {
        paths(in: directory, displayedAs: prefix, recursive: recursive, where: wanted).compactMap { shown, path in
            FileManager.default.contents(atPath: path).map { InputFile(path: shown, text: String(decoding: $0, as: UTF8.self)) }
        }
    }

    /// The paths of the files under `directory` whose names `wanted` accepts, sorted,
    /// as shown (starting with `prefix`) and as found on disk. Hidden entries are skipped.
    static func paths(in directory: String, displayedAs prefix: String, recursive: Bool = true,
                      where wanted: (String) -> Bool) -> [(shown: String, path: String)] {
        let manager = FileManager.default
        guard let names = try? manager.contentsOfDirectory(atPath: directory) else { return [] }
        var found: [(shown: String, path: String)] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = directory + "/" + name
            let shown = prefix.isEmpty ? name : prefix + "/" + name
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                if recursive { found += paths(in: path, displayedAs: shown, where: wanted) }
            } else if wanted(name) {
                found.append((shown, path))
            }
        }
        return found
    }

    /*W:710 Writing the book touches only files whose contents changed, and
    removes files in book/html and book/markdown that the book no longer has
    (a renamed chapter, a source file that lost its last section). Checking
    the book renders it in memory and compares, reporting each file that is
    missing, different or left over as a diagnostic against that file.
    */
    /// Writes `files` under the output directory and removes what is no longer part of the book.
    public func write(_ files: [OutputFile]) throws {
        let manager = FileManager.default
        let output = resolve(outputDirectory)
        let wanted = Set(files.map(\.path))
        for file in files {
            let path = output + "/" + file.path
            let data = Data(file.contents.utf8)
            // Unchanged files keep their time stamps, which keeps `make`-style
            // tools and browsers' caches happy.
            if manager.contents(atPath: path) == data { continue }
            try manager.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: path))
        }
        for stale in existingFiles() where !wanted.contains(stale) {
            try manager.removeItem(atPath: output + "/" + stale)
        }
    }

    /// One diagnostic per file of the book on disk that differs from `files`.
    public func differences(from files: [OutputFile]) -> [Diagnostic] {
        let manager = FileManager.default
        let output = resolve(outputDirectory)
        let shown = Project.normalized(outputDirectory)
        var problems: [Diagnostic] = []
        let wanted = Set(files.map(\.path))
        for file in files {
            let current = manager.contents(atPath: output + "/" + file.path)
            if current == nil {
                problems.append(Diagnostic(file: shown + "/" + file.path, line: 1, column: 1,
                                           message: "missing from the book; run 'swift run weave build'"))
            } else if current != Data(file.contents.utf8) {
                problems.append(Diagnostic(file: shown + "/" + file.path, line: 1, column: 1,
                                           message: "out of date; run 'swift run weave build'"))
            }
        }
        for stale in existingFiles() where !wanted.contains(stale) {
            problems.append(Diagnostic(file: shown + "/" + stale, line: 1, column: 1,
                                       message: "not part of the book any more; run 'swift run weave build'"))
        }
        return problems
    }
    /*:*/

    /// The files now under the output's html and markdown directories, relative to the output directory.
    private func existingFiles() -> [String] {
        let output = resolve(outputDirectory)
        return ["html", "markdown"].flatMap { part in
            Project.paths(in: output + "/" + part, displayedAs: part) { _ in true }.map(\.shown)
        }
    }
}

/*W:800 Weave can still read the book it imitates. Point it at a tree of C
files written in the original's style, with `--sources DIR` and a chapters/
directory that names the seven letters, and it prints the same tour the
original's script did, in the same order: Preparation, Guest, Drivers,
Launcher, Host, Switcher, Mastery, each sorted by number, with a `[ file ]`
line wherever the story changes file.

There are three small differences, all deliberate. The original sorted
numbers as file names, so it relied on every number having three digits;
we compare numbers as numbers, which gives the same order for three digits
and a sensible one otherwise. The original stopped at the first duplicate
with a shell message; we report every duplicate at once, with both places.
And the original let the last section of a file run to the end of the file,
which this project's own sources may not do (W:100): a course weaving the
original's files passes `--sections-end-with-files` to get the old rule. The
exercises for this section weave such a tree, written afresh for the
purpose, and check the order. :*/
