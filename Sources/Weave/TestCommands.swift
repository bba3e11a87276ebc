import Foundation

/*W:325 A test command in the prose must run something.

The book prints a test command under every section that has tests (W:320),
and those are right by construction. But authors also write commands into
their prose, such as "run the chapter's exercises with
`swift test --filter GuestTests`", and a command that matches no test is
worse than none: `swift test` says nothing is wrong, runs nothing, and the
student believes they passed. So weave reads every `swift test ... --filter X`
in the prose of sections and chapter introductions and checks `X` against the
tests it can see, as `swift test` would: `X` is a regular expression searched
for in each test's full name, `Target.Type/function` (a plain word is just a
word to find). The names come from the tokens of the Swift files under
Tests/: the target is the folder under Tests/, the types are the words after
`struct`, `class`, `enum`, `actor` and `extension`, and the functions are the
words after `func`. A filter that finds none of them is an error at the place
where the prose names it.
*/
extension Book {
    /// The names `swift test --filter` is matched against: each test target, and each type and
    /// function of its files, as `Target`, `Target.Type`, `Target.function` and `Target.Type/function`.
    static func testNames(in files: [ParsedFile]) -> [String] {
        var names: [String] = []
        for file in files where file.path.hasPrefix("Tests/") && file.language == .swift {
            let parts = file.path.split(separator: "/")
            guard parts.count > 2 else { continue }
            let target = String(parts[1])
            names.append(target)
            var types: [String] = []
            var functions: [String] = []
            var previous = ""
            for token in file.lexed.tokens where token.kind != .lineComment && token.kind != .blockComment {
                let word = String(decoding: file.bytes[token.range], as: UTF8.self)
                if token.kind == .identifier || token.kind == .type {
                    if previous == "func" { functions.append(word) }
                    if ["struct", "class", "enum", "actor", "extension"].contains(previous) { types.append(word) }
                }
                previous = token.kind == .keyword ? word : ""
            }
            names += types.map { target + "." + $0 } + functions.map { target + "." + $0 }
            names += types.flatMap { type in functions.map { target + "." + type + "/" + $0 } }
        }
        return names
    }

    /// Every `swift test ... --filter X` in `markdown`: the filter and its byte offset.
    static func testFilters(in markdown: String) -> [(filter: String, offset: Int)] {
        guard markdown.contains("--filter") else { return [] }
        // A command may be broken across two lines of prose; a newline is one byte, as a space is.
        let text = markdown.replacingOccurrences(of: "\n", with: " ")
        guard let pattern = try? NSRegularExpression(pattern: "swift\\s+test\\b[^`]*?--filter[ =]([^\\s`'\")]+)") else { return [] }
        let whole = NSRange(text.startIndex..., in: text)
        return pattern.matches(in: text, range: whole).compactMap { match in
            guard let range = Range(match.range(at: 1), in: text) else { return nil }
            return (String(text[range]), text.utf8.distance(from: text.startIndex, to: range.lowerBound))
        }
    }

    /// Whether `filter` finds one of `names`, the way `swift test --filter` does.
    static func filter(_ filter: String, matchesAnyOf names: [String]) -> Bool {
        guard let expression = try? NSRegularExpression(pattern: filter) else {
            return names.contains { $0.contains(filter) }
        }
        return names.contains { name in
            expression.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
        }
    }

    /// One error for each test command in the prose of `sections` and `chapters` that runs no test.
    static func unmatchedTestCommands(sections: [Section], chapters: [Chapter], files: [String: ParsedFile],
                                      testNames: [String]) -> [Diagnostic] {
        var found: [Diagnostic] = []
        func check(_ markdown: String, origins: [Int], report: (Int, String) -> Diagnostic) {
            for (filter, offset) in testFilters(in: markdown) where !Book.filter(filter, matchesAnyOf: testNames) {
                found.append(report(fileOffset(offset, in: markdown, origins: origins),
                                    "'swift test --filter \(filter)' matches no test under Tests/"))
            }
        }
        for section in sections {
            guard let file = files[section.file] else { continue }
            check(section.prose, origins: section.proseOrigins) { file.diagnostic(at: $0, $1) }
        }
        for chapter in chapters {
            check(chapter.introduction, origins: chapter.origins) { chapter.diagnostic(at: $0, $1) }
        }
        return found
    }
}
/*:*/
