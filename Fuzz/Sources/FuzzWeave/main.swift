// Fuzz target (d): the fuzz bytes are a source file for weave (Swift or C, by the first byte), read with
// the project's real chapter list. Lexing, extracting sections and reporting diagnostics must never
// crash; every other input is also rendered, which highlights the code again.

import FuzzSupport
import Weave

/// A chapter file for each letter, as chapters/ declares them (letter and order only).
let chapterFiles: [InputFile] = Array("PGDLHSMXW").enumerated().map { order, letter in
    InputFile(path: "chapters/\(letter).md", text: "---\nletter: \(letter)\ntitle: Chapter \(letter)\norder: \(order)\n---\nIntro.\n")
}

/// One fuzz input (exported for libFuzzer's own `main`, which a debug build links).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = FuzzBytes(start, count)
    let choice = input.byte()
    let path = choice & 1 == 0 ? "Sources/Fuzz/Input.swift" : "reference/input.c"
    let source = InputFile(path: path, contents: input.rest())
    let book = Book(sources: [source], chapterFiles: chapterFiles, sectionsMayRunToEndOfFile: choice & 2 != 0)
    if choice & 4 != 0 { _ = Project().render(book) }
    return 0
}

// A release build links this module's own `main`, which hands the same function to libFuzzer.
runFuzzer { start, count in fuzzTestOneInput(start, count) }
