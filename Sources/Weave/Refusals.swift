import Foundation

/*W:330 Refusing bad input, loudly

Most tools that fail do so noisily: a compiler that cannot read a file stops,
and a program that traps leaves a backtrace. A tool that builds a book can
fail *quietly*, which is much worse. If weave swapped a byte it could not read
for a replacement character, or skipped a comment that was nearly a tag, the
book would still come out, it would look finished, and it would be committed.
The mistake would then be found, if ever, by a student puzzling over a `�` in
the middle of a sentence or over a chapter that jumps from `G:030` to `G:050`,
while the author believed the missing section was there all along.

So weave refuses, and refuses in a particular way. Every refusal names the
place (a file, line and column, or the option on the command line), says in
one line what is wrong and what would put it right, and makes the command end
with a failure status, so that scripts and CI notice as surely as a person
does. None of them is a trap: a backtrace talks about weave's insides, and the
author needs to hear about their own file. Where the sources are probably
wrong but the book would still be exactly what they say, as with a comment
that is nearly a tag (W:335), weave only warns and writes the book.

The refusals live where the trouble is met. Bytes that are not text are
caught as files are read, below; near misses of a tag as comments are looked
at (W:335); directories that are not there, and symbolic links that lead in
circles, as the project is walked (W:705); a book that cannot be written, when
it is written (W:710); and the exit status of every subcommand at the front
door (W:735). It is a smoke detector's job description: stay quiet until there
is something to say, then be impossible to ignore. :*/

/*W:332 The first question about a file is whether it is text at all. Weave
reads its sources as UTF-8, and Swift will happily decode anything as UTF-8
by replacing each bad sequence with U+FFFD, the replacement character. That is
the right thing for a tool that only displays, and the wrong one for a tool
whose output is committed: a file saved as Latin-1 would put a `�` into the
book wherever it had an accent. So the bytes are checked first, with the
standard library's UTF-8 parser, which says exactly where each bad sequence
starts. A NUL byte is valid UTF-8 but is never part of a text file: it means a
binary file with a source's name, or a file some tool has damaged.

Each kind of bad byte is reported once per file, at its first place, with a
count of the rest, so a Latin-1 file costs one line of output and not one per
accent. The column is counted in the file's own bytes, like every other
column (W:300), so an editor jumps to the very byte. The file is still woven,
with replacement characters, so that the rest of what weave says about it (a
duplicate tag, a mention of a missing section) stays true; the error alone is
enough to stop the book being written.
*/
/// A file handed to the weaver: its path relative to the project root, its text, and
/// what was wrong with its bytes.
public struct InputFile: Sendable {
    public var path: String
    public var text: String
    /// Errors about the file's bytes: unreadable, not UTF-8, or holding NUL bytes.
    public var refusals: [Diagnostic]

    /// A file whose text is already a string, such as a test's fixture; only NUL bytes can be wrong with it.
    public init(path: String, text: String) {
        self.init(path: path, text: text, refusals: InputFile.refusals(path: path, bytes: Array(text.utf8)))
    }

    /// A file as read from disk: `contents` decoded as UTF-8, with an error for each kind of bad byte.
    public init(path: String, contents: [UInt8]) {
        self.init(path: path, text: String(decoding: contents, as: UTF8.self),
                  refusals: InputFile.refusals(path: path, bytes: contents))
    }

    private init(path: String, text: String, refusals: [Diagnostic]) {
        self.path = path
        self.text = text
        self.refusals = refusals
    }

    /// The file at `path` on disk, shown as `shown`; a file that cannot be read is an empty
    /// file with an error, so that it is reported like any other problem.
    static func read(_ path: String, shownAs shown: String) -> InputFile {
        func refused(_ message: String) -> InputFile {
            InputFile(path: shown, text: "", refusals: [Diagnostic(file: shown, line: 1, column: 1, message: message)])
        }
        // A pipe or a device with a source's name would be read for ever, or not at all.
        guard FileEntry(path)?.isRegularFile ?? false else { return refused("not a regular file; weave reads only files") }
        guard let data = FileManager.default.contents(atPath: path) else { return refused("cannot read this file") }
        return InputFile(path: shown, contents: Array(data))
    }

    /// One error at the first bad UTF-8 sequence of `bytes`, one at the first NUL byte.
    static func refusals(path: String, bytes: [UInt8]) -> [Diagnostic] {
        let invalid = invalidUTF8(in: bytes)
        let nuls = bytes.contains(0) ? bytes.indices.filter { bytes[$0] == 0 } : []
        guard !invalid.isEmpty || !nuls.isEmpty else { return [] }
        let lines = LineTable(bytes)
        func report(_ offsets: [Int], _ what: String) -> [Diagnostic] {
            guard let first = offsets.first else { return [] }
            let (line, column) = lines.position(of: first)
            let more = offsets.count > 1 ? " (and \(offsets.count - 1) more in this file)" : ""
            return [Diagnostic(file: path, line: line, column: column, message: what + more)]
        }
        let byte = invalid.first.map { String($0 < bytes.count ? bytes[$0] : 0, radix: 16, uppercase: true) } ?? ""
        return report(invalid, "byte 0x\(byte) is not UTF-8; weave reads sources as UTF-8, so save the file that way")
            + report(nuls, "NUL byte in a text file; weave reads only text")
    }

    /// Where each bad UTF-8 sequence of `bytes` starts; empty for valid UTF-8.
    static func invalidUTF8(in bytes: [UInt8]) -> [Int] {
        // The library's validation is fast; the parser below runs only to find the places.
        if String(validating: bytes, as: UTF8.self) != nil { return [] }
        var offsets: [Int] = []
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar):
                offset += scalar.count
            case .error(let length):
                offsets.append(offset)
                offset += length
            case .emptyInput:
                return offsets
            }
        }
    }
}
/*:*/

/*W:335 A tag that is nearly right is the quietest mistake of all. The
grammar is strict on purpose (W:025): the letter follows the comment's opener
at once, it is a capital, and a number of one to six digits follows the
colon, so that an ordinary remark can never open a section by accident. The
price is that a comment opening with a space before `G:010`, or with
`g:010`, is an ordinary remark too, and without a word from weave the
section would simply be missing from the book.

So every block comment that does not open a section is given a second look.
If it is one small step from a tag, it gets a warning that names the step.
Here are the steps, shown as what follows the comment's opener:

```
after the opener   what is wrong
 G:010             a space before the letter
*G:010             a star before it (the opener of a doc comment)
g:010              a small letter
G:                 no number
G:1234567          more than six digits
G:010x             a number that runs into a word
```

Only one step is forgiven: a comment two steps away, such as a space and
then `g:10`, is taken to be a remark, and so is anything whose letter no
chapter has. The book is still written, because it is exactly what the
sources say; the warning is there so that the author finds out before a
reader does.
*/
extension Tag {
    /// Why the comment body starting at `index` (just after `/*`) and ending before `end`
    /// looks like a section tag but is not one, or nil when it is a tag or a remark.
    /// Only letters in `letters`, the chapters' letters, count.
    static func nearMiss(_ bytes: [UInt8], at index: Int, before end: Int, letters: Set<UInt8>) -> String? {
        // Step one that may be wrong: stars or spaces between the opener and the letter.
        var cursor = index
        while cursor < end, bytes[cursor] == UInt8(ascii: "*") { cursor += 1 }
        while cursor < end, bytes.spaceWidth(at: cursor) > 0 { cursor += bytes.spaceWidth(at: cursor) }
        let padded = cursor > index
        guard cursor + 1 < end, bytes[cursor].isASCIICapital || bytes[cursor].isASCIILower,
              letters.contains(bytes[cursor] & 0xDF), bytes[cursor + 1] == UInt8(ascii: ":") else { return nil }
        // The number, counted in full, and what comes right after it.
        let lowercase = bytes[cursor].isASCIILower
        var digitsEnd = cursor + 2
        while digitsEnd < end, bytes[digitsEnd].isASCIIDigit { digitsEnd += 1 }
        let digits = digitsEnd - cursor - 2
        var wordEnd = digitsEnd
        while wordEnd < end, bytes[wordEnd].isIdentifierByte, bytes.spaceWidth(at: wordEnd) == 0 { wordEnd += 1 }
        let runsOn = wordEnd > digitsEnd
        let written = "'/*" + String(decoding: bytes[index..<min(wordEnd, digitsEnd + 8)], as: UTF8.self) + "'"
        let canonical = "/*" + String(UnicodeScalar(bytes[cursor] & 0xDF)) + ":"
            + String(decoding: bytes[(cursor + 2)..<digitsEnd], as: UTF8.self)
        let wellFormed = (1...6).contains(digits) && !runsOn
        switch (padded, lowercase) {
        case (true, false) where wellFormed:
            return "\(written) does not open a section: nothing may come between '/*' and the tag; write '\(canonical)'"
        case (false, true) where digits > 0:
            return "\(written) does not open a section: chapter letters are capitals; write '\(canonical)'"
        case (false, false) where digits == 0 && !runsOn:
            return "\(written) does not open a section: a tag needs a number after its colon, like '\(canonical)010'"
        case (false, false) where digits > 6:
            return "\(written) does not open a section: a tag's number has at most six digits"
        case (false, false) where runsOn && digits > 0:
            return "\(written) does not open a section: its number runs into the word after it; put a space after the number"
        default:
            return nil
        }
    }
}

extension Extractor {
    /// A warning for every block comment of `file` that is nearly, but not, a section tag.
    static func nearMisses(in file: ParsedFile, letters: Set<UInt8>) -> [Diagnostic] {
        file.lexed.tokens.compactMap { token in
            guard token.kind == .blockComment else { return nil }
            let comment = token.range
            let bodyEnd = ends(file.bytes, comment, with: "*/") && comment.count >= 4 ? comment.upperBound - 2 : comment.upperBound
            guard Tag.scan(file.bytes, at: comment.lowerBound + 2) == nil,
                  let reason = Tag.nearMiss(file.bytes, at: comment.lowerBound + 2, before: bodyEnd, letters: letters) else {
                return nil
            }
            return file.diagnostic(at: comment.lowerBound, reason, severity: .warning)
        }
    }
}
/*:*/
