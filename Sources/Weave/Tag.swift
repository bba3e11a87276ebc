/*W:010 Welcome to the weaver!

This appendix is about the tool that made the book you are reading. lguest's
author kept the story of his hypervisor in the comments of its source, and a
short shell script pulled those comments out, chapter by chapter, into a
guided tour. We do the same, with a little more care: `weave` reads every Swift
and C file of the project, finds the tagged comments, checks that they hang
together, and writes the book twice, once as HTML to browse from disk and once
as Markdown for code hosts.

The whole pipeline is four steps, and the sections of this appendix follow
them in order:

1. *Lexing* (W:030 onwards): split each file into comments, strings and
   code, so that a tag is only ever recognised where a human would see one.
2. *Extraction* (W:100 onwards): turn tagged comments into sections of prose
   and code.
3. *Assembly* (W:300 onwards): put the sections in chapter order, find their
   tests, and report anything inconsistent like a compiler would.
4. *Rendering* (W:400 onwards): Markdown through cmark, then the HTML and
   Markdown books.

Everything starts with the humble tag. :*/

/*W:020 A tag is a chapter letter and a number, written `W:020`. The letter
names the chapter (the chapters/ directory says which letters exist) and the
number orders the section inside it. Numbers are compared as numbers, so
`W:20` and `W:020` would be the same tag; we print them with at least three
digits, the way the original did.

Two derived spellings matter outside the book: the anchor `w020` that HTML and
Markdown links aim at, and the prefix of test names (`w020_...`) that ties a
test to its section. They are the same string on purpose: `swift test --filter
w020` then runs exactly the tests of this section. */
/// A section tag such as `G:037`: a chapter letter and a section number.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The chapter letter, an ASCII capital.
    public let letter: UInt8
    /// The section number inside the chapter.
    public let number: Int

    /// Creates a tag; `letter` must be an ASCII capital letter.
    public init(letter: UInt8, number: Int) {
        precondition(letter >= UInt8(ascii: "A") && letter <= UInt8(ascii: "Z"), "tag letter must be A-Z")
        precondition(number >= 0, "tag number must not be negative")
        self.letter = letter
        self.number = number
    }

    /// The letter as a one-character string, `"G"`.
    public var letterString: String { String(UnicodeScalar(letter)) }

    /// The number with at least three digits, `"037"`.
    public var numberString: String {
        let digits = String(number)
        return digits.count >= 3 ? digits : String(repeating: "0", count: 3 - digits.count) + digits
    }

    /// The tag as written in prose, `"G:037"`.
    public var description: String { letterString + ":" + numberString }

    /// The anchor and test-name prefix, `"g037"`.
    public var anchor: String { letterString.lowercased() + numberString }

    public static func < (a: Tag, b: Tag) -> Bool {
        (a.letter, a.number) < (b.letter, b.number)
    }
}
/*:*/

/*W:025 Tags turn up in three places: right after the opener of a block comment,
mentioned in prose, and as the start of a test name. The first two are read
by the small scanner below (test names have a rule of their own, W:320), which
works on raw UTF-8 bytes because everything it looks for is ASCII. A mention needs a boundary on both sides, so `AG:0370` or
`G:0370x` are not mentions of anything; and the number may not run into more
letters or digits. The grammar is strict so that no remark opens a section
by accident, and a comment that misses it by one small step gets a warning
instead (W:335).
*/
extension Tag {
    /// Reads a tag (`X:` then decimal digits) at `index` in `bytes`, returning the tag
    /// and the index just past its last digit, or nil when there is none there.
    /// Numbers longer than six digits are not tags.
    public static func scan(_ bytes: [UInt8], at index: Int) -> (tag: Tag, end: Int)? {
        guard index >= 0, index + 2 < bytes.count,
              bytes[index].isASCIICapital, bytes[index + 1] == UInt8(ascii: ":") else { return nil }
        var cursor = index + 2
        var number = 0
        while cursor < bytes.count, bytes[cursor].isASCIIDigit, cursor - index - 2 < 7 {
            number = number * 10 + Int(bytes[cursor] - UInt8(ascii: "0"))
            cursor += 1
        }
        let digits = cursor - index - 2
        guard digits >= 1, digits <= 6 else { return nil }
        if cursor < bytes.count, bytes[cursor].isIdentifierByte, bytes.spaceWidth(at: cursor) == 0 { return nil }
        return (Tag(letter: bytes[index], number: number), cursor)
    }

    /// Every tag mentioned in `text` whose letter is in `letters`, with its byte offset.
    /// A mention must not be glued to a preceding letter, digit or underscore.
    public static func mentions(in text: String, letters: Set<UInt8>) -> [(tag: Tag, offset: Int)] {
        let bytes = Array(text.utf8)
        var found: [(tag: Tag, offset: Int)] = []
        var index = 0
        while index < bytes.count {
            if bytes[index].isASCIICapital, letters.contains(bytes[index]),
               index == 0 || !bytes[index - 1].isIdentifierByte,
               let (tag, end) = scan(bytes, at: index) {
                found.append((tag, index))
                index = end
            } else {
                index += 1
            }
        }
        return found
    }

    /// Parses a whole string that is exactly one tag, such as `"G:037"`.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard let (tag, end) = Tag.scan(bytes, at: 0), end == bytes.count else { return nil }
        self = tag
    }
}

/*W:027 The byte classes everything else leans on. The scanner above,
the lexer (W:035) and the prose cleaner all ask the same few questions of a
byte: is it a capital, a digit, part of a name, a space? They are answered
once, here. Note what counts as part of a name: every byte of a multi-byte
UTF-8 character does, since Swift allows `café` as an identifier and a
lexer that split it in two would see a stray symbol. The same thinking
explains the space helpers that follow: a no-break space is two bytes, so
"how wide is the space here" has three answers, not two.
*/
extension UInt8 {
    var isASCIICapital: Bool { self >= UInt8(ascii: "A") && self <= UInt8(ascii: "Z") }
    var isASCIILower: Bool { self >= UInt8(ascii: "a") && self <= UInt8(ascii: "z") }
    var isASCIIDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    /// Letters, digits, `_` and every byte of a multi-byte UTF-8 character.
    var isIdentifierByte: Bool {
        isASCIICapital || isASCIILower || isASCIIDigit || self == UInt8(ascii: "_") || self >= 0x80
    }
    var isHorizontalSpace: Bool { self == UInt8(ascii: " ") || self == UInt8(ascii: "\t") }
}

// Text pasted from web pages and word processors often carries no-break spaces
// (U+00A0, two bytes in UTF-8) where plain spaces were meant; our copy of the
// original Guest source is full of them. Wherever weave skips or trims white
// space it asks these two functions, so such a file weaves like any other.
extension Array where Element == UInt8 {
    /// The length of the space character starting at `index`: 1 for a space or tab,
    /// 2 for a no-break space, 0 for anything else or past the end.
    func spaceWidth(at index: Int) -> Int {
        guard index >= 0, index < count else { return 0 }
        if self[index].isHorizontalSpace { return 1 }
        return self[index] == 0xC2 && index + 1 < count && self[index + 1] == 0xA0 ? 2 : 0
    }

    /// The length of the space character that ends just before `index`, as `spaceWidth(at:)`.
    func spaceWidth(before index: Int) -> Int {
        guard index > 0, index <= count else { return 0 }
        if self[index - 1].isHorizontalSpace { return 1 }
        return self[index - 1] == 0xA0 && index >= 2 && self[index - 2] == 0xC2 ? 2 : 0
    }

    /// `range` without the spaces (and carriage returns) at its end.
    func trimmingTrailingSpace(_ range: Range<Int>) -> Range<Int> {
        var end = range.upperBound
        while end > range.lowerBound {
            let width = self[end - 1] == UInt8(ascii: "\r") ? 1 : spaceWidth(before: end)
            guard width > 0, end - width >= range.lowerBound else { break }
            end -= width
        }
        return range.lowerBound..<end
    }

    /// `range` without the spaces at its start.
    func trimmingLeadingSpace(_ range: Range<Int>) -> Range<Int> {
        var start = range.lowerBound
        while start < range.upperBound {
            let width = spaceWidth(at: start)
            guard width > 0, start + width <= range.upperBound else { break }
            start += width
        }
        return start..<range.upperBound
    }
}
/*:*/
