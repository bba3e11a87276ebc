/*W:615 Every page is built as a string, by code you can read top to
bottom, rather than by a template engine: the pages are simple, weave needs
no dependency beyond cmark, and the output is as deterministic as the code
that writes it. The price is discipline about escaping, and the rule is
short: *nothing from the sources reaches a page without passing through an
escape made for where it goes.*

Prose goes through cmark, which escapes text and refuses unsafe links. Any
other text, such as a title or a file name, goes through `escapeHTML`, and
code through the painter's own byte-level twin of it (W:500). And anything that ends up in an address, such as a chapter's
file name or a source path, is percent-encoded by `urlPath`, so a file named
with a space, a quote or a `#` still links to itself. The search index is a
script, so its strings go through `javaScriptString`, which also hides any
`<` so that no string can ever close the script element around it.
*/
/// Escapes the five characters that matter in HTML text and attributes.
func escapeHTML(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count)
    for character in text.unicodeScalars {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&#39;"
        default: escaped.unicodeScalars.append(character)
        }
    }
    return escaped
}

/// Percent-encodes `path` for use in a link: every byte except unreserved ASCII
/// characters and `/` becomes `%XX`, so the result is also safe inside an HTML attribute.
func urlPath(_ path: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var encoded: [UInt8] = []
    for byte in path.utf8 {
        if byte.isASCIICapital || byte.isASCIILower || byte.isASCIIDigit || "-._~/".utf8.contains(byte) {
            encoded.append(byte)
        } else {
            encoded += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        }
    }
    return String(decoding: encoded, as: UTF8.self)
}

/// Quotes `text` as a JavaScript string literal that is also safe inside HTML.
func javaScriptString(_ text: String) -> String {
    var quoted = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": quoted += "\\\""
        case "\\": quoted += "\\\\"
        case "\n": quoted += "\\n"
        case "<": quoted += "\\u003c"
        case "\u{2028}": quoted += "\\u2028"
        case "\u{2029}": quoted += "\\u2029"
        case _ where scalar.value < 0x20: quoted += " "
        default: quoted.unicodeScalars.append(scalar)
        }
    }
    return quoted + "\""
}
/*:*/
