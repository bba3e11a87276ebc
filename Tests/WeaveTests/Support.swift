import Foundation
@testable import Weave

/// Chapter files for every letter the project uses, in the book's order.
let standardChapters: [InputFile] = [
    ("preparation", "P", "Preparation"), ("guest", "G", "Guest"), ("drivers", "D", "Drivers"),
    ("launcher", "L", "Launcher"), ("host", "H", "Host"), ("switcher", "S", "Switcher"),
    ("mastery", "M", "Mastery"), ("machine", "X", "Appendix X"), ("weaving", "W", "Appendix W"),
].enumerated().map { index, chapter in
    InputFile(path: "chapters/\(chapter.0).md",
              text: "---\nletter: \(chapter.1)\ntitle: \(chapter.2)\norder: \(index + 1)\n---\nThe \(chapter.2) chapter.\n")
}

/// Weaves sources given as path/text pairs under the standard chapters.
func weave(_ sources: [(String, String)], chapters: [InputFile] = standardChapters) -> Book {
    Book(sources: sources.map { InputFile(path: $0.0, text: $0.1) }, chapterFiles: chapters)
}

/// Weaves one Swift file.
func weave(swift text: String) -> Book {
    weave([("Sources/A.swift", text)])
}

/// The tags of a book's sections, in book order, as text.
func tags(_ book: Book) -> [String] {
    book.sections.map(\.tag.description)
}

/// The code excerpt of a section as text.
func code(_ book: Book, _ index: Int = 0) -> String {
    let section = book.sections[index]
    return book.files[section.file].map { $0.text(section.codeLines) } ?? ""
}

/// The messages of a book's diagnostics.
func messages(_ book: Book) -> [String] {
    book.diagnostics.map(\.description)
}

/// A fresh directory with `files` written into it; removed when the value is released.
final class FixtureTree {
    let root: String

    init(_ files: [String: String]) throws {
        root = NSTemporaryDirectory() + "weave-fixture-" + UUID().uuidString
        for path in files.keys.sorted() {
            try write(path, files[path] ?? "")
        }
    }

    func write(_ path: String, _ text: String) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }

    /// Writes `bytes` exactly, for files that are not valid text.
    func write(_ path: String, bytes: [UInt8]) throws {
        try write(path, "")
        try Data(bytes).write(to: URL(fileURLWithPath: root + "/" + path))
    }

    /// Makes `path` a symbolic link to `destination` (relative to the link's own folder).
    func link(_ path: String, to destination: String) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: destination)
    }

    func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: root + "/" + path)
    }

    func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: root + "/" + path).map { String(decoding: $0, as: UTF8.self) }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }
}

/// The `weave` executable built beside this test bundle, when the build made one
/// (`swift build --build-tests` builds it).
let weaveExecutable = URL(fileURLWithPath: CommandLine.arguments[0])
    .resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("weave")

let weaveExecutableExists = FileManager.default.isExecutableFile(atPath: weaveExecutable.path)

/// What a run of `weave` showed its user.
struct WeaveRun {
    var status: Int32
    var output: String
    var errors: String
}

/// Runs `weave` with `arguments` in `directory`. Its output goes through files, not pipes,
/// so that a long listing cannot fill a pipe while the other one is being read.
func runWeave(_ arguments: [String], in directory: String) throws -> WeaveRun {
    let scratch = NSTemporaryDirectory() + "weave-run-" + UUID().uuidString
    let outputPath = scratch + ".out", errorsPath = scratch + ".err"
    defer { for path in [outputPath, errorsPath] { try? FileManager.default.removeItem(atPath: path) } }
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errorsPath, contents: nil)
    let process = Process()
    process.executableURL = weaveExecutable
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    process.standardOutput = FileHandle(forWritingAtPath: outputPath)
    process.standardError = FileHandle(forWritingAtPath: errorsPath)
    try process.run()
    process.waitUntilExit()
    func text(_ path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
    return WeaveRun(status: process.terminationStatus, output: text(outputPath), errors: text(errorsPath))
}
