import Testing
@testable import Weave

/// The kinds and texts of the tokens of `text`.
private func tokens(_ text: String, _ language: SourceLanguage = .swift) -> [(Token.Kind, String)] {
    let bytes = Array(text.utf8)
    return Lexer.lex(bytes, as: language).tokens.map { ($0.kind, String(decoding: bytes[$0.range], as: UTF8.self)) }
}

private func problems(_ text: String, _ language: SourceLanguage = .swift) -> [String] {
    Lexer.lex(Array(text.utf8), as: language).problems.map(\.message)
}

@Test func w020_tagsPrintWithThreeDigitsAndCompareAsNumbers() {
    #expect(Tag(letter: UInt8(ascii: "G"), number: 37).description == "G:037")
    #expect(Tag(letter: UInt8(ascii: "G"), number: 37).anchor == "g037")
    #expect(Tag(letter: UInt8(ascii: "H"), number: 1234).description == "H:1234")
    #expect(Tag("G:37") == Tag("G:037"))
    #expect(Tag("G:9")! < Tag("G:10")!)
    #expect(Tag("G:999")! < Tag("H:1")!)
    for text in ["G:", "g:010", "G010", "G:01x", "GG:010", "G:1234567", ""] {
        #expect(Tag(text) == nil, "\(text) is not a tag")
    }
}

@Test(arguments: [
    ("see G:037.", ["G:037"]),
    ("(G:037) and H:200, then W:7", ["G:037", "H:200", "W:007"]),
    ("AG:037 G:037x G_:1 xG:010", []),
    ("Z:010 is not a chapter", []),
    ("G:1234567 is too long", []),
    ("G:010G:020", []),
])
func w025_mentionsNeedABoundaryOnBothSides(text: String, expected: [String]) {
    let letters = Set("PGDLHSMXW".utf8)
    #expect(Tag.mentions(in: text, letters: letters).map(\.tag.description) == expected)
}

@Test func w030_tagsInStringsAndLineCommentsAreNotSections() {
    let book = weave(swift: #"""
        let plain = "/*G:010 not a tag :*/"
        let multi = """
            /*G:020 not a tag either
            :*/
            """
        let raw = #"a "quoted" /*G:030 still a string "#
        // /*G:040 a remark, not a section :*/
        /*G:050 The only real one. :*/
        """#)
    #expect(tags(book) == ["G:050"])
    #expect(book.diagnostics.isEmpty)
}

@Test func w030_everyPrefixOfATrickyFileLexesWithoutTrapping() {
    let text = #"""
        @Test func g037_x() { let s = "a \(f("b", #"c"#)) d" /* x /* y */ z */ }
        let m = """
            line \(1 + 2)
            """ // done
        let r = ##"raw "# still"##; let n = 0x1F_FF + 1.5e-3
        /*G:010 Title
         *
         * Prose. */
        func f() {}
        /*:*/
        """#
    let bytes = Array(text.utf8)
    for length in 0...bytes.count {
        let prefix = String(decoding: bytes[0..<length], as: UTF8.self)
        let lexed = Lexer.lex(Array(prefix.utf8), as: .swift)
        var previousEnd = 0
        for token in lexed.tokens {
            #expect(token.range.lowerBound >= previousEnd && token.range.upperBound <= prefix.utf8.count)
            previousEnd = token.range.upperBound
        }
        _ = weave(swift: prefix)
    }
}

@Test func w035_interpolationIsLexedAsCodeInsideTheString() {
    let found = tokens(#"let s = "a \(f("x")) b""#)
    #expect(found.map(\.1) == ["let", "s", "\"a \\(", "f", "\"x\"", ") b\""])
    #expect(found.map(\.0) == [.keyword, .identifier, .string, .identifier, .string, .string])
    let book = weave(swift: #"let s = "\(g("/*G:010 no"))"; /*G:020 Yes. :*/"#)
    #expect(tags(book) == ["G:020"])
}

@Test func w040_swiftCommentsNestButCCommentsDoNot() {
    #expect(tokens("/* a /* b */ c */ x").map(\.1) == ["/* a /* b */ c */", "x"])
    #expect(tokens("/* a /* b */ c", .c).map(\.1) == ["/* a /* b */", "c"])
    let swift = weave(swift: "/*G:010 outer /* inner */ still prose :*/\n")
    #expect(swift.sections.first?.prose == "outer /* inner */ still prose")
    #expect(tokens("// a /* b\nx").map(\.0) == [.lineComment, .identifier])
}

@Test func w040_unterminatedCommentIsReportedWithItsPlace() {
    #expect(problems("let a = 1\n/* never closed") == ["unterminated comment"])
    let book = weave(swift: "let a = 1\n  /* never closed")
    #expect(messages(book) == ["Sources/A.swift:2:3: error: unterminated comment"])
}

@Test(arguments: [
    (#"let s = "abc"#, "unterminated string literal"),
    ("let s = \"\"\"\nabc\n", "unterminated string literal"),
    (##"let s = #"abc"##, "unterminated string literal"),
    (#"let s = "\(f("#, "unterminated string literal"),
    ("let r = #/ab", "unterminated regex literal"),
])
func w045_unterminatedStringsAreDiagnosticsNotCrashes(text: String, message: String) {
    #expect(problems(text).contains(message))
}

@Test func w045_rawAndMultiLineStringsEndOnlyAtTheirOwnDelimiter() {
    #expect(tokens(##"#"a " b \" c"# x"##).map(\.1) == [##"#"a " b \" c"#"##, "x"])
    #expect(tokens(###"##"a "# b"## x"###).map(\.1) == [###"##"a "# b"##"###, "x"])
    #expect(tokens("\"\"\"\na \"\" \" b\n\"\"\" x").map(\.1) == ["\"\"\"\na \"\" \" b\n\"\"\"", "x"])
    #expect(tokens(##"#"a \#(b) c"#"##).map(\.1) == [##"#"a \#("##, "b", ##") c"#"##])
    #expect(tokens(#""a \" b" x"#).map(\.1) == [#""a \" b""#, "x"])
}

@Test func w050_cCharacterLiteralsAndDirectives() {
    #expect(tokens(#"char q = '"'; /* c */"#, .c).map(\.0) == [.keyword, .identifier, .string, .blockComment])
    #expect(tokens("#include <a.h> /* c */\nint x;", .c).map(\.1) == ["#include <a.h> ", "/* c */", "int", "x"])
    #expect(tokens("#define A \\\n  B\nx", .c).map(\.1) == ["#define A \\\n  B", "x"])
    #expect(problems("char c = 'x;\n", .c) == ["unterminated character literal"])
    let book = weave([("drivers/a.c", "char q = '\"';\n#include <x.h> /*G:010 After a directive. :*/\n")])
    #expect(tags(book) == ["G:010"])
}

@Test func w050_assemblyHasCommentsButNoCharacterLiterals() {
    let book = weave([("switcher.S", "/*S:100 Switch. */\nENTRY(x)\n\tmovl %eax, 'q\n/*:*/\n")])
    #expect(tags(book) == ["S:100"])
    #expect(book.diagnostics.isEmpty)
    #expect(code(book) == "ENTRY(x)\n\tmovl %eax, 'q")
}

@Test func w055_numbersAndNamesArePaintedByKind() {
    let found = tokens("#if DEBUG\n@Test func f() -> Int { 0x1F_FF + 1.5e-3 + 1..<5 }\n#endif")
    #expect(found.map(\.1) == ["#if", "DEBUG", "@Test", "func", "f", "Int", "0x1F_FF", "1.5e-3", "1", "5", "#endif"])
    #expect(found.map(\.0) == [.directive, .type, .attribute, .keyword, .identifier, .type, .number, .number, .number, .number, .directive])
    #expect(tokens("unsigned long x = 10UL;", .c).map(\.0) == [.keyword, .keyword, .identifier, .number])
    #expect(tokens("let `default` = $0", .swift).map(\.1) == ["let", "`default`", "$0"])
}

@Test(arguments: [SourceLanguage.swift, .c, .assembly])
func w030_randomBytesNeverTrapAndTokensStayInOrder(language: SourceLanguage) {
    // A fixed linear congruential generator: the same "random" files on every run.
    var state: UInt32 = 0x2545_F491
    let alphabet = Array("/*:\"#\\()'`@ \n\tGW0123x".utf8) + [0xC3, 0xA9, 0xFF]
    for round in 0..<400 {
        state = state &* 1_664_525 &+ 1_013_904_223
        let length = Int(state >> 24)
        var bytes: [UInt8] = []
        for _ in 0..<length {
            state = state &* 1_664_525 &+ 1_013_904_223
            bytes.append(alphabet[Int(state >> 16) % alphabet.count])
        }
        let lexed = Lexer.lex(bytes, as: language)
        var previousEnd = 0
        for token in lexed.tokens {
            #expect(token.range.lowerBound >= previousEnd && token.range.upperBound <= bytes.count)
            previousEnd = token.range.upperBound
        }
        // Weaving and rendering cost more than lexing: every fourth file is enough for them.
        guard round % 4 == 0 else { continue }
        let book = weave([("Sources/F." + (language == .swift ? "swift" : language == .c ? "c" : "S"),
                           String(decoding: bytes, as: UTF8.self))])
        _ = HTMLBook(book: book, title: "T").files()
    }
}

@Test func w055_noBreakSpacesSeparateWords() {
    #expect(tokens("static\u{A0}void\u{A0}f(void)", .c).map(\.1) == ["static", "void", "f", "void"])
    #expect(tokens("let\u{A0}é = 1").map(\.1) == ["let", "é", "1"])
}
