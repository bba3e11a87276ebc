import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// The command-line option that sets `sectionsMayRunToEndOfFile`, without its dashes;
    /// the error for a section left open names it.
    public static let sectionsEndWithFilesOption = "sections-end-with-files"
    /// Draws the figures sections ask for (W:450); by default, the `lguest` beside weave's own binary,
    /// run in the project root.
    public var figures: FigureRunner?

    public init(root: String = ".", extraSources: [String] = [], chaptersDirectory: String = "chapters",
                outputDirectory: String = "book", title: String = "lguest in Swift",
                sectionsMayRunToEndOfFile: Bool = false) {
        self.root = root
        self.extraSources = extraSources
        self.chaptersDirectory = chaptersDirectory
        self.outputDirectory = outputDirectory
        self.title = title
        self.sectionsMayRunToEndOfFile = sectionsMayRunToEndOfFile
        self.figures = LguestExecutable.runner(LguestExecutable.besideThisProgram, in: root)
    }

    /// Reads every source and chapter file and weaves them; with `drawingFigures` false, figures are
    /// left as their sources have them (for `weave list`, which shows no prose).
    public func load(drawingFigures: Bool = true) -> Book {
        // Directories that do not exist are simply empty: a course tree may
        // have no Tests/, and a fresh project no Sources/ yet.
        // One walk over them all, so a file reached twice is still read once (W:705).
        let directories = (["Sources", "Tests"] + extraSources.map(Project.normalized)).map { (resolve($0), $0) }
        let sources = Project.files(in: directories) { SourceLanguage(path: $0) != nil }
        let chapters = Project.files(in: [(resolve(chaptersDirectory), Project.normalized(chaptersDirectory))],
                                     recursive: false) { $0.hasSuffix(".md") }
        if drawingFigures, let figures { Figures.prefetch(sources, run: figures) }
        return Book(sources: sources, chapterFiles: chapters, sectionsMayRunToEndOfFile: sectionsMayRunToEndOfFile,
                    figures: drawingFigures ? figures : nil)
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

    /// Weaves the project and writes the book, unless weaving found errors; returns every
    /// diagnostic, warnings included. Throws `BookWriteError` when the book cannot be written.
    public func build() throws -> [Diagnostic] {
        let book = load()
        guard !book.diagnostics.contains(where: \.isError) else { return book.diagnostics }
        try write(render(book))
        return book.diagnostics
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

    /*W:705 Walking the project's directories is where the file system can
    surprise us, so the walk makes three promises (the last two are W:707's).

    A directory the user named must be there. Sources/, Tests/ and chapters/
    may be missing, because a fresh project or a course tree may not have them
    yet; but `--root` and every `--sources` were typed by someone, and a typo
    there used to weave an empty book in silence. Now it is refused before
    anything is read.
    */
    /// What is wrong with the directories this project names, or nothing: the root and every
    /// extra source directory must exist, since someone typed them.
    public func missingDirectories() -> [String] {
        var missing: [String] = []
        if !Project.isDirectory(root) { missing.append("--root names no directory: \(root)") }
        for directory in extraSources where Project.isDirectory(root) && !Project.isDirectory(resolve(directory)) {
            missing.append("--sources names no directory: \(directory)")
        }
        return missing
    }

    /// Whether `path` leads to a directory, following links.
    static func isDirectory(_ path: String) -> Bool {
        FileEntry(path)?.isDirectory ?? false
    }

    /// The files under `directories` whose names `wanted` accepts, read, each once, with
    /// paths as shown; bad bytes and unreadable files become refusals (W:332).
    static func files(in directories: [(path: String, shown: String)], recursive: Bool = true,
                      where wanted: @escaping (String) -> Bool) -> [InputFile] {
        paths(in: directories, recursive: recursive, where: wanted).map { InputFile.read($0.path, shownAs: $0.shown) }
    }

    /// The paths of the files under `directories` whose names `wanted` accepts, as shown and as
    /// found on disk, each file once. Hidden entries are skipped.
    static func paths(in directories: [(path: String, shown: String)], recursive: Bool = true,
                      where wanted: @escaping (String) -> Bool) -> [(shown: String, path: String)] {
        var walk = TreeWalk(recursive: recursive, wanted: wanted)
        for directory in directories { walk.enter(directory.path, shownAs: directory.shown) }
        walk.followLinks()
        return walk.found
    }
    /*:*/
}

/*W:707 Walks that end, and files read once

The walk ends. Symbolic links are followed, since a course may link a
tree of C files into its project, but a link that leads back to a
directory above it would make a naive walk go round for ever. So each
directory is entered once, known by its device and inode numbers rather
than by its name, which a loop changes at every turn.

And each file is read once, however many paths lead to it. Reading a file
twice would make every tag in it a "duplicate" of itself, which is a
false report: the file is one file. When both a link and a real path lead
to the same file, the real path wins, because that is the name a code
host shows and the one a source link in the book should use: links are
followed only after every real entry has been walked. (This project's own
tests share a file between two test targets by just such a link.)
*/
/// One walk over directory trees: every directory entered once and every file found once,
/// however many symbolic links lead to them, the real path preferred to a link.
struct TreeWalk {
    let recursive: Bool
    let wanted: (String) -> Bool
    /// The files found, as shown and as on disk, in the order found.
    private(set) var found: [(shown: String, path: String)] = []
    /// Every directory entered and file found so far.
    private var seen: Set<FileEntry.Identity> = []
    /// Links met in directories, to be followed once every real entry is walked.
    private var links: [(name: String, shown: String, path: String)] = []

    init(recursive: Bool, wanted: @escaping (String) -> Bool) {
        self.recursive = recursive
        self.wanted = wanted
    }

    /// Walks `directory`, unless it was entered already.
    mutating func enter(_ directory: String, shownAs prefix: String) {
        guard let entry = FileEntry(directory), entry.isDirectory, seen.insert(entry.identity).inserted,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names.sorted() where !name.hasPrefix(".") {
            let shown = prefix.isEmpty ? name : prefix + "/" + name
            visit(name: name, shown: shown, path: directory + "/" + name, throughLink: false)
        }
    }

    /// Follows the links met so far, and any met on the way, each once.
    mutating func followLinks() {
        var next = 0
        while next < links.count {
            let link = links[next]
            next += 1
            visit(name: link.name, shown: link.shown, path: link.path, throughLink: true)
        }
    }

    /// Looks at one entry of a directory: a link is put off until `followLinks()` (unless we are
    /// following it now), a directory is entered, and a wanted file is found if it is new.
    private mutating func visit(name: String, shown: String, path: String, throughLink: Bool) {
        // A link that leads nowhere, or round in a circle of links, has no entry.
        guard let entry = FileEntry(path) else { return }
        if entry.isLink, !throughLink {
            links.append((name, shown, path))
        } else if entry.isDirectory {
            if recursive { enter(path, shownAs: shown) }
        } else if wanted(name), seen.insert(entry.identity).inserted {
            found.append((shown, path))
        }
    }
}

/// What the file system says about a path: what it leads to (following links) and
/// whether the path itself is a symbolic link.
struct FileEntry {
    /// A file or directory as the file system knows it, whatever its name.
    struct Identity: Hashable {
        /// The file system's device number.
        let device: UInt64
        /// The file's number on that device.
        let inode: UInt64
    }
    let identity: Identity
    let isDirectory: Bool
    let isRegularFile: Bool
    let isLink: Bool

    /// The entry at `path`, or nil when nothing is there (a broken link, or a loop of links).
    init?(_ path: String) {
        var target = stat()
        guard stat(path, &target) == 0 else { return nil }
        var own = stat()
        isLink = lstat(path, &own) == 0 && own.st_mode & S_IFMT == S_IFLNK
        identity = Identity(device: UInt64(target.st_dev), inode: UInt64(target.st_ino))
        isDirectory = target.st_mode & S_IFMT == S_IFDIR
        isRegularFile = target.st_mode & S_IFMT == S_IFREG
    }
}
/*:*/

extension Project {
    /*W:710 Writing the book touches only files whose contents changed, and
    removes files in book/html and book/markdown that the book no longer has
    (a renamed chapter, a source file that lost its last section). Checking
    the book renders it in memory and compares, reporting each file that is
    missing, different or left over as a diagnostic against that file.

    Writing can fail for reasons that are nobody's bug: the output is a file
    rather than a directory, or a directory someone may not write to. The file
    system's own error is a nest of domains and codes meant for programmers,
    so each step is wrapped, and what reaches the user is one plain line, such
    as `cannot write book/html: Not a directory`, naming the path as they
    typed it.
    */
    /// Writes `files` under the output directory and removes what is no longer part of the book;
    /// throws `BookWriteError` naming the first path that could not be written.
    public func write(_ files: [OutputFile]) throws {
        let manager = FileManager.default
        let output = resolve(outputDirectory)
        let shown = Project.normalized(outputDirectory)
        let wanted = Set(files.map(\.path))
        for file in files {
            let path = output + "/" + file.path
            let data = Data(file.contents.utf8)
            // Unchanged files keep their time stamps, which keeps `make`-style
            // tools and browsers' caches happy.
            if manager.contents(atPath: path) == data { continue }
            let folder = (file.path as NSString).deletingLastPathComponent
            try BookWriteError.naming(shown + (folder.isEmpty ? "" : "/" + folder)) {
                try manager.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            }
            try BookWriteError.naming(shown + "/" + file.path) { try data.write(to: URL(fileURLWithPath: path)) }
        }
        for stale in existingFiles() where !wanted.contains(stale) {
            try BookWriteError.naming(shown + "/" + stale) { try manager.removeItem(atPath: output + "/" + stale) }
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
            Project.paths(in: [(output + "/" + part, part)]) { _ in true }.map(\.shown)
        }
    }
}

/// A file or directory of the book that could not be written, with the file system's reason in words.
public struct BookWriteError: Error, Hashable, CustomStringConvertible {
    /// The path as the user would type it, relative to the project root.
    public let path: String
    /// Why, as the operating system says it, such as `Not a directory`.
    public let reason: String

    /// `cannot write PATH: REASON`.
    public var description: String { "cannot write \(path): \(reason)" }

    /// Runs `step`, turning whatever it throws into an error that names `path`.
    static func naming(_ path: String, _ step: () throws -> Void) throws {
        do {
            try step()
        } catch {
            throw BookWriteError(path: path, reason: reason(error))
        }
    }

    /// The plain words for `error`: the operating system's own, when Foundation wraps a POSIX error.
    static func reason(_ error: Error) -> String {
        let wrapped = error as NSError
        let underlying = (wrapped.userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError }
        for candidate in [wrapped, underlying].compactMap({ $0 }) where candidate.domain == NSPOSIXErrorDomain {
            if let text = strerror(Int32(candidate.code)) { return String(cString: text) }
        }
        return wrapped.localizedDescription
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
