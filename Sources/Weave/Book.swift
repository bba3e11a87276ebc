/*W:310 Assembly is where the parts meet and where most mistakes become
visible. The book is built from three kinds of input: the chapter files, the
source files with their sections, and the test files whose function names
point at sections. From them we make, in this order:

1. the chapters, sorted by their `order` field, with a diagnostic for a
   chapter file without fields, and for two chapters claiming the same letter
   or the same place;
2. the sections, with a diagnostic for a tag used twice (naming both places,
   so the author can choose which one to renumber) and for a tag whose letter
   no chapter claims;
3. the mentions: every tag named in prose or in an introduction must be
   defined somewhere, or the link in the book would lead nowhere.

Inputs are sorted by path before anything else happens, so "first" and
"second" in a duplicate report mean the same thing on every machine, and the
book comes out byte for byte the same. Sections with problems are left out
of the book, but the diagnostics still name them.
*/
/// Everything weave knows about the project: chapters, sections in book order, tests, problems.
public struct Book: Sendable {
    /// The chapters in book order.
    public let chapters: [Chapter]
    /// The sections in book order: by chapter order, then by number.
    public let sections: [Section]
    /// The files that sections come from, by path.
    public let files: [String: ParsedFile]
    /// Names of the test functions that exercise each section.
    public let tests: [Tag: [String]]
    /// Every problem, sorted by file and position.
    public let diagnostics: [Diagnostic]
    /// The prose of each section as plain words, for search.
    let words: [Tag: String]
    /// The first paragraph of each section as plain words, for its list title.
    let leads: [Tag: String]

    /// Weaves `sources` (Swift, C and assembly files; others are ignored) under the chapters
    /// in `chapterFiles`. Test functions are looked for in the Swift files under `Tests/`.
    /// With `sectionsMayRunToEndOfFile`, a section still open when its file ends is not
    /// an error but ends there, as the original's script allowed (W:800).
    /// With `figures`, every figure a section asks for (W:450) is drawn by it; without, figures
    /// keep whatever their source holds.
    public init(sources: [InputFile], chapterFiles: [InputFile], sectionsMayRunToEndOfFile: Bool = false,
                figures: FigureRunner? = nil) {
        // Bytes that are not text are refused first (W:332), in every file weave reads.
        var diagnostics = chapterFiles.filter { $0.path.hasSuffix(".md") }.flatMap(\.refusals)
        // Chapters first: they decide which letters exist and in what order.
        let chapters = Book.chapters(chapterFiles.sorted { $0.path < $1.path }, &diagnostics)
        let letters = Set(chapters.map(\.letter))
        let order = Dictionary(uniqueKeysWithValues: chapters.enumerated().map { ($1.letter, $0) })

        var files: [String: ParsedFile] = [:]
        var definedAt: [Tag: String] = [:]
        var sections: [Section] = []
        var tests: [Tag: [String]] = [:]
        var testFiles: [ParsedFile] = []
        // Then every source file, in path order, each lexed exactly once: the
        // same tokens serve extraction, test names and, later, highlighting.
        for input in sources.sorted(by: { $0.path < $1.path }) {
            guard let language = SourceLanguage(path: input.path) else { continue }
            let file = ParsedFile(path: input.path, language: language, text: input.text)
            let found = Extractor.sections(in: file, mayRunToEnd: sectionsMayRunToEndOfFile)
            diagnostics += input.refusals + found.diagnostics + Extractor.nearMisses(in: file, letters: letters)
            for extracted in found.sections {
                var section = extracted
                // Figures are drawn first, so that everything after sees them as prose (W:452).
                if let figures {
                    let filled = Figures.fill(section.prose, origins: section.proseOrigins, run: figures)
                    section = section.with(prose: filled.prose, origins: filled.origins)
                    diagnostics += filled.problems.map { file.diagnostic(at: $0.offset, $0.message) }
                }
                if let problem = Book.problem(admitting: section, from: file, definedAt: definedAt, letters: letters) {
                    diagnostics.append(problem)
                } else {
                    definedAt[section.tag] = file.place(of: section.tagOffset - 2)
                    sections.append(section)
                }
            }
            // Only files with sections are kept: they are the ones the book shows.
            if !found.sections.isEmpty { files[file.path] = file }
            if input.path.hasPrefix("Tests/"), language == .swift {
                testFiles.append(file)
                for (tag, name) in Book.testFunctions(in: file, letters: letters) { tests[tag, default: []].append(name) }
            }
        }
        // Book order. No two sections share a tag, so the order is total and
        // does not depend on the order the files were read in.
        sections.sort { (order[$0.tag.letter] ?? 0, $0.tag.number) < (order[$1.tag.letter] ?? 0, $1.tag.number) }
        // A chapter may ask for the list of exercises (W:760), which needs every section.
        let woven = chapters.map { $0.withExercises(of: sections, chapters: chapters) }
        self.chapters = woven
        self.sections = sections
        self.files = files
        self.tests = tests.mapValues { Array(Set($0)).sorted() }
        // Last, the prose, which can only be checked once every tag is known.
        let prose = Book.readProse(chapters: woven, sections: sections, files: files, letters: letters,
                                   defined: Set(definedAt.keys))
        self.words = prose.words
        self.leads = prose.leads
        diagnostics += prose.diagnostics
        // And every test command the prose names must run something (W:325).
        diagnostics += Book.unmatchedTestCommands(sections: sections, chapters: chapters, files: files,
                                                  testNames: Book.testNames(in: testFiles))
        // Reported in file order, each once, like a compiler's output.
        self.diagnostics = Array(Set(diagnostics)).sorted {
            ($0.file, $0.line, $0.column, $0.message) < ($1.file, $1.line, $1.column, $1.message)
        }
    }
    /*:*/

    /// Why `section` cannot join the book, or nil when it can: a section joins only if
    /// its tag is new and its chapter exists. `definedAt` holds the place of every tag so far.
    private static func problem(admitting section: Section, from file: ParsedFile, definedAt: [Tag: String],
                                letters: Set<UInt8>) -> Diagnostic? {
        if let first = definedAt[section.tag] {
            return file.diagnostic(at: section.tagOffset - 2, "duplicate tag \(section.tag); first defined at \(first)")
        }
        if !letters.contains(section.tag.letter) {
            return file.diagnostic(at: section.tagOffset - 2, Book.noChapter(section.tag.letterString, of: section.tag))
        }
        return nil
    }

    /// What is wrong when no chapter has `letter`: the same words for a tag in a source
    /// and for a letter asked for on the command line (`weave chapter Q`).
    public static func noChapter(_ letter: String, of tag: Tag? = nil) -> String {
        "no chapter has the letter \(letter)" + (tag.map { " of tag \($0)" } ?? "") + "; add one to chapters/"
    }

    private static func chapters(_ inputs: [InputFile], _ diagnostics: inout [Diagnostic]) -> [Chapter] {
        var chapters: [Chapter] = []
        // Inputs arrive sorted by path, so when two chapters clash, the one
        // whose file sorts later is the one reported.
        for input in inputs where input.path.hasSuffix(".md") {
            switch Chapter.parse(path: input.path, text: input.text) {
            case .failure(let problem):
                diagnostics.append(problem)
            case .success(let chapter):
                if let other = chapters.first(where: { $0.letter == chapter.letter }) {
                    diagnostics.append(Diagnostic(file: chapter.file, line: 1, column: 1,
                        message: "chapter letter \(chapter.letterString) is already used by \(other.file)"))
                } else if let other = chapters.first(where: { $0.order == chapter.order }) {
                    diagnostics.append(Diagnostic(file: chapter.file, line: 1, column: 1,
                        message: "chapter order \(chapter.order) is already used by \(other.file)"))
                } else {
                    chapters.append(chapter)
                }
            }
        }
        return chapters.sorted { $0.order < $1.order }
    }

    /*W:320 Tests are found by name. A test function whose name is a
    lowercase tag followed by an underscore, like `w320_testsAreFoundByTheirFunctionNames`,
    exercises that section, and the book then prints the command that runs
    it. We read the names from the tokens of the files under Tests/: the word
    after the keyword `func`. Going through the lexer means a name quoted in
    a string or a comment does not count, and neither XCTest's `test...`
    convention nor any framework's macros need to be understood.
    */
    static func testFunctions(in file: ParsedFile, letters: Set<UInt8>) -> [(Tag, String)] {
        var found: [(Tag, String)] = []
        var afterFunc = false
        // Comments are skipped entirely, so a commented-out test does not count
        // and does not separate `func` from its name either.
        for token in file.lexed.tokens where token.kind != .lineComment && token.kind != .blockComment {
            let name = file.bytes[token.range]
            defer { afterFunc = token.kind == .keyword && name.elementsEqual("func".utf8) }
            guard afterFunc, token.kind == .identifier, let tag = testTag(Array(name)), letters.contains(tag.letter) else {
                continue
            }
            found.append((tag, String(decoding: name, as: UTF8.self)))
        }
        return found
    }

    /// The tag a test name starts with (`w320_...` gives W:320), written the canonical way.
    static func testTag(_ name: [UInt8]) -> Tag? {
        guard let first = name.first, first.isASCIILower else { return nil }
        let digits = name.dropFirst().prefix(while: \.isASCIIDigit)
        guard (1...6).contains(digits.count), name.count > digits.count + 1,
              name[digits.count + 1] == UInt8(ascii: "_") else { return nil }
        // At most six digits, so the number cannot overflow.
        let number = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let tag = Tag(letter: first - 32, number: number)
        // `g37_` would not be run by `--filter g037`, so only the canonical spelling counts.
        return name.starts(with: Array(tag.anchor.utf8)) ? tag : nil
    }
    /*:*/
}

extension Book {
    /// The chapter that holds `tag`, if any. A linear search: there are nine chapters.
    public func chapter(of tag: Tag) -> Chapter? {
        chapters.first { $0.letter == tag.letter }
    }

    /// The sections of `chapter`, in order; `sections` is sorted by chapter first,
    /// so filtering keeps their order.
    public func sections(of chapter: Chapter) -> [Section] {
        sections.filter { $0.tag.letter == chapter.letter }
    }

    /// Reads the prose of every section and introduction once: reports every tag mentioned there
    /// that no section defines, and returns each section's prose as plain words.
    static func readProse(chapters: [Chapter], sections: [Section], files: [String: ParsedFile],
                          letters: Set<UInt8>, defined: Set<Tag>)
        -> (diagnostics: [Diagnostic], words: [Tag: String], leads: [Tag: String]) {
        var found: [Diagnostic] = []
        var words: [Tag: String] = [:]
        var leads: [Tag: String] = [:]
        func check(_ markdown: String, origins: [Int], report: (Int, String) -> Diagnostic) -> MarkdownTree {
            // The same linking the books do, with an empty address: what comes
            // back is exactly the set of mentions a reader could not follow.
            let tree = MarkdownTree(markdown)
            let missing = tree.linkTags(letters: letters) { defined.contains($0) ? "" : nil }
            guard !missing.isEmpty else { return tree }
            // cmark does not say where in the text a leaf came from, so we find
            // the first mention of the tag in the Markdown and map it back to the file.
            let mentions = Tag.mentions(in: markdown, letters: letters)
            for tag in Set(missing).sorted() {
                let offset = mentions.first { $0.tag == tag }?.offset ?? 0
                found.append(report(fileOffset(offset, in: markdown, origins: origins),
                                    "\(tag) is mentioned but no section defines it"))
            }
            return tree
        }
        for section in sections {
            guard let file = files[section.file] else { continue }
            let tree = check(section.prose, origins: section.proseOrigins) { file.diagnostic(at: $0, $1) }
            words[section.tag] = tree.plainText()
            leads[section.tag] = tree.plainText(firstBlockOnly: true)
            if let title = section.title, let offset = section.titleOffset {
                _ = check(title, origins: [offset]) { file.diagnostic(at: $0, $1) }
            }
        }
        for chapter in chapters {
            _ = check(chapter.introduction, origins: chapter.origins) { chapter.diagnostic(at: $0, $1) }
        }
        return (found, words, leads)
    }

    /// Maps a byte offset in extracted Markdown to the file offset it came from.
    /// Removing decoration only ever cuts the start of a line, so an offset within a
    /// line of Markdown is the same distance from that line's origin in the file.
    static func fileOffset(_ offset: Int, in markdown: String, origins: [Int]) -> Int {
        let bytes = Array(markdown.utf8)
        var line = 0
        var lineStart = 0
        for index in 0..<min(offset, bytes.count) where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        guard line < origins.count else { return origins.last ?? 0 }
        return origins[line] + (offset - lineStart)
    }
}
