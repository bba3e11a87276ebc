/*W:030 Why does a weaver need a lexer at all? The original script matched
lines with a shell pattern, so a test's string that holds a comment opener and a tag,
or a tag quoted in a `//` remark, would have opened a section. Our own tests are
full of exactly such strings: they are the fixtures that check the weaver.
So before looking for tags we split each file into *tokens*, the pieces a
compiler sees: comments, string literals, numbers, words and punctuation.
Only a block comment can open or close a section.

The same tokens paint the code in the book (W:500), which is why the lexer
also tells keywords from names and notices numbers and attributes it does
not otherwise care about. It is a lexer for highlighting and tag-finding,
not a compiler: it never rejects a file, it only reports what never ends.
*/
/// The rules a file is lexed with, chosen by its extension.
public enum SourceLanguage: String, Sendable {
    /// Swift: nested block comments, multi-line, raw and interpolated strings, `@attributes`.
    case swift
    /// C and its headers: flat block comments, character literals, preprocessor lines.
    case c
    /// Assembly run through the C preprocessor (`.S`): C comments, `#` lines, no character literals.
    case assembly

    /// The language of a file named `path`, or nil when weave does not read such files.
    public init?(path: String) {
        if path.hasSuffix(".swift") {
            self = .swift
        } else if path.hasSuffix(".c") || path.hasSuffix(".h") {
            self = .c
        } else if path.hasSuffix(".S") {
            self = .assembly
        } else {
            return nil
        }
    }

    /// The name code hosts use for fenced code blocks.
    public var fenceName: String {
        switch self {
        case .swift: "swift"
        case .c: "c"
        case .assembly: "asm"
        }
    }
}

/// A piece of a source file that weave cares about; the bytes between tokens are
/// punctuation and white space.
public struct Token: Hashable, Sendable {
    public enum Kind: UInt8, Sendable {
        case blockComment, lineComment, string, number, keyword, attribute, directive, type, identifier
    }
    public var kind: Kind
    /// Byte offsets in the file.
    public var range: Range<Int>
}

/// What lexing a file produced: its tokens in order, and the literals or comments that never end.
public struct LexedFile: Sendable {
    public var tokens: [Token]
    /// Byte offset of the start of each unterminated construct, with a message.
    public var problems: [(offset: Int, message: String)]
}
/*:*/

/*W:035 The lexer is a cursor over the file's bytes. Working on UTF-8 bytes
rather than Swift `Character`s keeps it fast (weaving the whole book should
take a blink) and loses nothing, because every delimiter it looks for is ASCII;
a multi-byte character is simply a run of bytes that are part of a name or of
some literal.

`code(untilParen:)` is the main loop. It is also re-entered for the code
inside a Swift string interpolation, which may itself hold strings and
comments; it then stops at the parenthesis that closes the interpolation.
Here is what comes out for one line with an interpolation in it:

```
let s = "a \(f("x")) b"
        ^^^^^            string     "a \(
             ^           identifier f
               ^^^       string     "x"
                   ^^^^  string     ) b"
```

The string is cut into two pieces around the code, and the code inside is
lexed like any other, so the quote marks of `"x"` cannot end the outer
string. Nesting is capped so that a hostile file cannot exhaust the stack:
past the cap, the rest of the string is simply treated as text.
*/
struct Lexer {
    private let bytes: [UInt8]
    private let language: SourceLanguage
    // The next byte to look at. Every step moves it forward by at least one
    // byte, which is what guarantees that lexing ends, whatever the file holds.
    private var cursor = 0
    // What we found so far, in file order and never overlapping.
    private var tokens: [Token] = []
    private var problems: [(offset: Int, message: String)] = []
    // How many interpolations deep we are, against the cap.
    private var depth = 0
    private static let maximumDepth = 64

    /// Lexes `bytes` as `language`.
    static func lex(_ bytes: [UInt8], as language: SourceLanguage) -> LexedFile {
        var lexer = Lexer(bytes: bytes, language: language)
        lexer.code(untilParen: false)
        return LexedFile(tokens: lexer.tokens, problems: lexer.problems)
    }

    private init(bytes: [UInt8], language: SourceLanguage) {
        self.bytes = bytes
        self.language = language
    }

    // Reading through `byte(_:)` instead of subscripting means that looking one
    // or two bytes ahead at the end of the file is a nil, never a trap.
    private func byte(_ offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    // Every scanner below moves the cursor past its construct, then calls
    // `emit` with where the construct began.
    private mutating func emit(_ kind: Token.Kind, from start: Int) {
        if cursor > start { tokens.append(Token(kind: kind, range: start..<cursor)) }
    }

    /*W:037 One byte decides.

    The main loop looks at the current byte, and sometimes the next one, and hands over to the scanner
    for whatever starts there. The order of the cases is the whole grammar that matters for finding
    comments: a slash is a comment only when a slash or a star follows; a quote starts a string, and so
    does a `#` in Swift, where it may open a raw string; a `#` in C is a directive only at the start of a
    line. The parenthesis count is what lets an interpolation end at the right `)`: only the one that
    brings `parens` below zero belongs to the `\(` that called us. Everything else is stepped over one
    byte at a time, which is why a multi-byte character needs no special care. */
    private mutating func code(untilParen: Bool) {
        // Parentheses opened since we started: only the one that brings this
        // back below zero closes an interpolation.
        var parens = 0
        // A C directive must be the first thing on its line.
        var atLineStart = true
        while let current = byte(cursor) {
            let start = cursor
            let next = byte(cursor + 1)
            switch current {
            // White space separates tokens and is not one itself.
            case UInt8(ascii: "\n"):
                cursor += 1
                atLineStart = true
                continue
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                cursor += 1
                continue
            // A no-break space is white space too, though no compiler would say so.
            case 0xC2 where next == 0xA0:
                cursor += 2
                continue
            // A slash starts a comment only when a slash or a star follows;
            // otherwise it is division and falls through to the default.
            case UInt8(ascii: "/") where next == UInt8(ascii: "/"):
                lineComment()
            case UInt8(ascii: "/") where next == UInt8(ascii: "*"):
                blockComment()
            case UInt8(ascii: "#") where language != .swift && atLineStart:
                directiveLine()
            // Strings, and the Swift forms that start with `#`: raw strings,
            // regex literals and compiler directives such as `#if`.
            case UInt8(ascii: "\""):
                string(hashes: 0, from: start)
            case UInt8(ascii: "#") where language == .swift:
                hashPrefixed()
            case UInt8(ascii: "'") where language == .c:
                characterLiteral()
            case UInt8(ascii: "@") where language == .swift && (next?.isIdentifierByte ?? false):
                cursor += 1
                skipIdentifier()
                emit(.attribute, from: start)
            case UInt8(ascii: "`") where language == .swift:
                quotedIdentifier()
            case UInt8(ascii: "("):
                parens += 1
                cursor += 1
            // Inside an interpolation, the parenthesis that matches the opening
            // `\(` hands control back to the string that called us.
            case UInt8(ascii: ")"):
                cursor += 1
                if untilParen {
                    if parens == 0 { return }
                    parens -= 1
                }
            case _ where current.isASCIIDigit:
                number()
            case _ where current.isIdentifierByte || current == UInt8(ascii: "$"):
                word()
            // Any other byte is punctuation: step over it.
            default:
                cursor += 1
            }
            atLineStart = false
        }
    }
    /*:*/

    /*W:040 Comments come in two shapes. A line comment runs to the end of
    its line and is never part of the story, whatever it says. A block comment
    is where sections live, and Swift lets block comments nest: `/* a /* b */
    still a */` is one comment, so we count openers and closers. C does not nest
    them, and the first closer ends the comment whatever came before. A comment
    still open at the end of the file is reported and taken to run to the end.
    */
    // A line comment stops before its newline, which the main loop then sees
    // as the start of a line (a C directive may follow).
    private mutating func lineComment() {
        let start = cursor
        while let current = byte(cursor), current != UInt8(ascii: "\n") { cursor += 1 }
        emit(.lineComment, from: start)
    }

    private mutating func blockComment() {
        let start = cursor
        cursor += 2
        // How many comments are open: the one we are in, plus any nested ones.
        var open = 1
        while open > 0 {
            // The file ended first: report where the comment began, which is
            // where the author has to look, and keep what we have.
            guard let current = byte(cursor) else {
                problems.append((start, "unterminated comment"))
                break
            }
            let next = byte(cursor + 1)
            // Each closer and opener is consumed as a pair of bytes, so the slash
            // of a closer can never also begin an opener, as compilers read it.
            if current == UInt8(ascii: "*"), next == UInt8(ascii: "/") {
                open -= 1
                cursor += 2
            } else if language == .swift, current == UInt8(ascii: "/"), next == UInt8(ascii: "*") {
                open += 1
                cursor += 2
            } else {
                cursor += 1
            }
        }
        emit(.blockComment, from: start)
    }
    /*:*/

    /*W:045 Swift's strings are the subtle part. Besides the plain `"..."`
    there are multi-line strings between `"""` fences, and *raw* strings
    wrapped in `#` signs, where a backslash is just a backslash unless it is
    followed by the same number of `#`s. Both kinds may be combined, and all of
    them may interpolate code with `\(...)` (or `\#(...)` in a raw string).

    ```
    opens with    ends with                  escapes start with
    "             "   on the same line       \
    """           """ on a later line        \
    #"            "#  on the same line       \#
    ##"           "## on the same line       \##
    #"""          """# on a later line       \#
    ```

    We find the end of a string by looking, at each byte, for one of three
    things: a newline (which ends a one-line string that was never closed, and
    is reported), an escape (skipped, or an interpolation lexed as code), or a
    quote followed by enough `#`s. The string is emitted in pieces around each
    interpolation so that the code inside is painted as code.
    */
    private mutating func hashPrefixed() {
        let start = cursor
        // Count the `#`s: what follows them decides what we are looking at.
        var hashes = 0
        while byte(cursor) == UInt8(ascii: "#") {
            hashes += 1
            cursor += 1
        }
        if byte(cursor) == UInt8(ascii: "\"") {
            string(hashes: hashes, from: start)
        } else if byte(cursor) == UInt8(ascii: "/") {
            regexLiteral(hashes: hashes, from: start)
        } else if hashes == 1, byte(cursor)?.isIdentifierByte ?? false {
            // `#if`, `#available`, `#file`: one word, painted as a directive.
            skipIdentifier()
            emit(.directive, from: start)
        }
    }

    /// Lexes a string whose opening `"` is at `cursor`, preceded by `hashes` `#` signs from `start`.
    private mutating func string(hashes: Int, from start: Int) {
        // Only Swift has multi-line strings; in C, two quotes are an empty string.
        let multiLine = language == .swift && matches("\"\"\"", at: cursor)
        cursor += multiLine ? 3 : 1
        // Where the piece of string we are in began: the opening delimiter,
        // or the parenthesis that closed the last interpolation.
        var piece = start
        while true {
            // Both ways of never ending are reported at the opening quote, and
            // lexing carries on after them, so one stray quote costs one
            // diagnostic and not a file's worth of misread comments.
            guard let current = byte(cursor) else {
                problems.append((start, "unterminated string literal"))
                break
            }
            if current == UInt8(ascii: "\n"), !multiLine {
                problems.append((start, "unterminated string literal"))
                break
            }
            // An escape: a backslash and as many `#`s as the string has.
            if current == UInt8(ascii: "\\"), hashesFollow(hashes, at: cursor + 1) {
                cursor += 1 + hashes
                // An interpolation: close this piece of string, lex the code
                // up to its closing parenthesis, and start a new piece there.
                if byte(cursor) == UInt8(ascii: "("), language == .swift, depth < Lexer.maximumDepth {
                    cursor += 1
                    emit(.string, from: piece)
                    depth += 1
                    code(untilParen: true)
                    depth -= 1
                    // The code stopped just after the closing parenthesis, which
                    // belongs to the string again; at the end of the file there is none.
                    piece = byte(cursor - 1) == UInt8(ascii: ")") ? cursor - 1 : cursor
                } else if byte(cursor) != nil {
                    // Any other escape: skip the escaped byte, which may be a quote.
                    cursor += 1
                }
                continue
            }
            // A quote ends the string only with the right number of quotes
            // and of `#`s after it; otherwise it is part of the text.
            if current == UInt8(ascii: "\"") {
                let closer = multiLine ? 3 : 1
                if (!multiLine || matches("\"\"\"", at: cursor)), hashesFollow(hashes, at: cursor + closer) {
                    cursor += closer + hashes
                    break
                }
            }
            cursor += 1
        }
        // The last piece: from the final interpolation (or the opening quote)
        // to the closing delimiter.
        emit(.string, from: piece)
    }

    /*W:047 Regex literals, and the small questions underneath.

    Swift 5.7 added regex literals, and the extended form `#/.../#` matters to a lexer for the same
    reason raw strings do: inside it, a quote or a comment opener is just a character. So the lexer
    treats it as one more kind of string, ended by a slash followed by the same number of `#`s. The
    bare form `/.../` is deliberately not recognised, since telling it from two divisions needs a
    parser, and a missed regex costs nothing worse than some punctuation painted plainly. The two small
    helpers below answer the questions all of this code keeps asking: do enough `#`s follow here, and do
    these bytes spell this text. Both answer false at the end of the file instead of reading past it. */
    /// A Swift regex literal `#/.../#`; its body is painted as a string. Bare `/.../`
    /// literals cannot be told from division without parsing expressions, so they are
    /// left to the main loop, where their bytes are harmless punctuation.
    private mutating func regexLiteral(hashes: Int, from start: Int) {
        cursor += 1
        while let current = byte(cursor) {
            cursor += 1
            if current == UInt8(ascii: "/"), hashesFollow(hashes, at: cursor) {
                cursor += hashes
                emit(.string, from: start)
                return
            }
        }
        problems.append((start, "unterminated regex literal"))
        emit(.string, from: start)
    }

    /// Whether `count` `#` signs start at `offset`; zero of them always do.
    private func hashesFollow(_ count: Int, at offset: Int) -> Bool {
        var index = offset
        while index < offset + count {
            guard byte(index) == UInt8(ascii: "#") else { return false }
            index += 1
        }
        return true
    }

    /// Whether the bytes at `offset` spell `text`; false when the file ends first.
    private func matches(_ text: StaticString, at offset: Int) -> Bool {
        let count = text.utf8CodeUnitCount
        guard offset >= 0, offset + count <= bytes.count else { return false }
        return text.withUTF8Buffer { pattern in
            for index in 0..<count where bytes[offset + index] != pattern[index] { return false }
            return true
        }
    }
    /*:*/

    /*W:050 C adds two small things of its own. A character literal `'x'`
    is lexed like a short string, so that `'"'` does not open a string. A line
    that starts with `#` is a preprocessor directive and is painted as one up to
    its end (lines continued with a backslash included), except that a comment
    on the same line is still a comment: a section may open right after an
    `#include`.
    */
    private mutating func characterLiteral() {
        let start = cursor
        cursor += 1
        while let current = byte(cursor) {
            // A character literal never spans lines; a lone apostrophe in a C
            // file is reported and ends at the line's end.
            if current == UInt8(ascii: "\n") { break }
            cursor += 1
            if current == UInt8(ascii: "\\") {
                if byte(cursor) != nil { cursor += 1 }
            } else if current == UInt8(ascii: "'") {
                emit(.string, from: start)
                return
            }
        }
        problems.append((start, "unterminated character literal"))
        emit(.string, from: start)
    }

    private mutating func directiveLine() {
        let start = cursor
        while let current = byte(cursor) {
            // A newline ends the directive unless a backslash escapes it.
            if current == UInt8(ascii: "\n") {
                let previous = cursor > start ? bytes[cursor - 1] : 0
                if previous != UInt8(ascii: "\\") { break }
            }
            // A comment ends the directive's token, and the main loop lexes it.
            if current == UInt8(ascii: "/"), let next = byte(cursor + 1),
               next == UInt8(ascii: "*") || next == UInt8(ascii: "/") {
                break
            }
            cursor += 1
        }
        emit(.directive, from: start)
    }
    /*:*/

    /*W:055 The rest of the lexer only paints. Numbers are never
    interpreted, so the scanner is generous: digits, letters and underscores in
    any mix (`0x1F`, `1_000`, `10UL`), a dot only when a digit follows, so that
    `1..<5` stays a range, and a sign only right after an exponent letter.

    Names are looked up in a small set of keywords for the file's language.
    A Swift name that starts with a capital letter is painted as a type: a
    guess, but one that Swift's naming conventions make right nearly every
    time, and a wrong guess costs only a colour. Attributes such as `@Test`
    and directives such as `#if` get colours of their own because they change
    how the code around them is compiled, which is worth a reader's notice.
    */
    private mutating func number() {
        let start = cursor
        let hex = byte(cursor) == UInt8(ascii: "0") && (byte(cursor + 1) == UInt8(ascii: "x") || byte(cursor + 1) == UInt8(ascii: "X"))
        while let current = byte(cursor) {
            if current.isIdentifierByte {
                let exponent = hex ? (current == UInt8(ascii: "p") || current == UInt8(ascii: "P"))
                                   : (current == UInt8(ascii: "e") || current == UInt8(ascii: "E"))
                cursor += 1
                if exponent, let sign = byte(cursor), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                    cursor += 1
                }
            } else if current == UInt8(ascii: "."), byte(cursor + 1)?.isASCIIDigit ?? false {
                cursor += 1
            } else {
                break
            }
        }
        emit(.number, from: start)
    }

    private mutating func skipIdentifier() {
        while let current = byte(cursor), current.isIdentifierByte || current == UInt8(ascii: "$"),
              bytes.spaceWidth(at: cursor) == 0 {
            cursor += 1
        }
    }

    // Swift lets a keyword be used as a name by quoting it in backticks.
    private mutating func quotedIdentifier() {
        let start = cursor
        cursor += 1
        while let current = byte(cursor), current != UInt8(ascii: "`"), current != UInt8(ascii: "\n") { cursor += 1 }
        if byte(cursor) == UInt8(ascii: "`") { cursor += 1 }
        emit(.identifier, from: start)
    }

    /// A name: a keyword of the language, a type (a capitalised Swift name), or a plain identifier.
    private mutating func word() {
        let start = cursor
        skipIdentifier()
        let text = bytes[start..<cursor]
        let kind: Token.Kind
        if Keywords.contains(text, language: language) {
            kind = .keyword
        } else if language == .swift, text.first?.isASCIICapital ?? false {
            kind = .type
        } else {
            kind = .identifier
        }
        emit(kind, from: start)
    }
}

/*W:057 The keyword lists. Each language's keywords are a set of byte
slices, so looking a name up needs no `String` at all: the lexer hands over
the bytes it already has. The lists are written as one long string and split
once, which keeps them readable as the lists they are. The C list is not
quite C's: it adds the Linux kernel's `u8` to `s64` and its `__init` markers,
because in the original lguest sources those read as part of the language.
Assembly has no keywords here; its mnemonics stay plain names.
*/
/// The reserved words painted as keywords. The C list adds the kernel's fixed-width
/// integer names, which read as keywords in lguest's sources.
enum Keywords {
    static func contains(_ word: ArraySlice<UInt8>, language: SourceLanguage) -> Bool {
        switch language {
        case .swift: swift.contains(word)
        case .c: c.contains(word)
        case .assembly: false
        }
    }

    private static func set(_ words: String) -> Set<ArraySlice<UInt8>> {
        Set(words.split(separator: " ").map { ArraySlice(Array($0.utf8)) })
    }

    private static let swift = set("""
        actor any as associatedtype async await break case catch class consuming continue default defer \
        deinit do else enum extension fallthrough false fileprivate final for func get guard if import in \
        indirect init inout internal is lazy let mutating nil nonisolated nonmutating open operator \
        override package precedencegroup private protocol public repeat rethrows return self Self set \
        some static struct subscript super switch throw throws true try typealias unowned var weak where \
        while willSet didSet borrowing sending
        """)

    private static let c = set("""
        auto break case char const continue default do double else enum extern float for goto if inline \
        int long register restrict return short signed sizeof static struct switch typedef union unsigned \
        void volatile while bool true false NULL u8 u16 u32 u64 s8 s16 s32 s64 unsigned __init __initdata
        """)
}
/*:*/
