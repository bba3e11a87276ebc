import CCmark
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/*W:400 weave does not parse Markdown itself. Every piece of prose, from a
section or from a chapter's introduction, goes through cmark, the reference
implementation of CommonMark, which reads it into a tree of nodes: document,
paragraphs, emphasis, code spans, links, and plain text at the leaves. We
edit that tree and then let cmark print it, as HTML for the web book and as
CommonMark again for the Markdown book, so both books say exactly the same
thing.

Two edits happen on the tree. The first is about safety: raw HTML in a
comment is not passed through to the page. cmark's HTML renderer would only
drop it with a placeholder, which loses the author's text; we turn each piece
of raw HTML into literal text (or a code block) instead, so `Array<Int>`
written outside backticks shows up as written rather than vanishing as an
unknown HTML tag. The second edit turns tags in the prose into links (W:410).
*/
/// A Markdown document parsed by cmark, owned until it is released. A class, not a
/// struct, because it owns cmark's tree: copies must not free it twice, and `deinit`
/// is where it is freed.
final class MarkdownTree {
    let root: OpaquePointer

    /// Parses `text` as CommonMark and turns any raw HTML in it into literal text; with `tables`,
    /// GFM tables become tables (W:430), which only the HTML book wants.
    init(_ text: String, tables: Bool = false) {
        // cmark takes a pointer and a length; a contiguous UTF-8 copy gives it both.
        var source = text
        let parsed = source.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) { cmark_parse_document($0.baseAddress, $0.count, CMARK_OPT_DEFAULT) }
        }
        guard let parsed else { preconditionFailure("cmark could not allocate a document") }
        root = parsed
        if tables { makeTables(from: text) }
        neutralizeRawHTML()
    }

    // Freeing the document frees every node still attached to it; nodes we
    // detach while editing are freed as we detach them.
    deinit { cmark_node_free(root) }

    /// Every node of the tree in document order (each visited once, on entry).
    /// Edits happen after the walk, on this list: cmark's iterator must not see
    /// the tree change under it.
    private func nodes(under top: OpaquePointer? = nil) -> [OpaquePointer] {
        var found: [OpaquePointer] = []
        guard let iterator = cmark_iter_new(top ?? root) else { return found }
        defer { cmark_iter_free(iterator) }
        while true {
            let event = cmark_iter_next(iterator)
            if event == CMARK_EVENT_DONE { break }
            if event == CMARK_EVENT_ENTER, let node = cmark_iter_get_node(iterator) { found.append(node) }
        }
        return found
    }

    /// The text of a leaf (text, code, HTML), or "" for nodes without any.
    private static func literal(_ node: OpaquePointer) -> String {
        cmark_node_get_literal(node).map { String(cString: $0) } ?? ""
    }

    /// A new, detached node. Running out of memory inside cmark is not something a
    /// book can recover from, so it is a precondition failure like any host bug.
    private static func make(_ type: cmark_node_type, literal: String? = nil) -> OpaquePointer {
        guard let node = cmark_node_new(type) else { preconditionFailure("cmark could not allocate a node") }
        if let literal { cmark_node_set_literal(node, literal) }
        return node
    }

    /// Puts `replacement` where `node` was, and frees `node`.
    private static func replace(_ node: OpaquePointer, with replacement: OpaquePointer) {
        cmark_node_insert_before(node, replacement)
        cmark_node_unlink(node)
        cmark_node_free(node)
    }

    private func neutralizeRawHTML() {
        // Inline HTML becomes text in its paragraph; an HTML block becomes a
        // code block, which keeps its lines as the author wrote them.
        for node in nodes() {
            let type = cmark_node_get_type(node)
            if type == CMARK_NODE_HTML_INLINE {
                MarkdownTree.replace(node, with: MarkdownTree.make(CMARK_NODE_TEXT, literal: MarkdownTree.literal(node)))
            } else if type == CMARK_NODE_HTML_BLOCK {
                MarkdownTree.replace(node, with: MarkdownTree.make(CMARK_NODE_CODE_BLOCK, literal: MarkdownTree.literal(node)))
            }
        }
    }
    /*:*/

    /*W:410 A tag mentioned in prose, like W:400, becomes a link to its
    section. We look for mentions in the text leaves of the tree, skipping text
    that is already inside a link, and in code spans whose whole content is a
    tag; a code span that merely contains a tag, such as an example of the
    comment syntax, is code and stays code. Each text leaf with mentions is cut
    into pieces: plain text, a link around the tag, plain text again.

    Whoever asks for the links says where each tag lives (the HTML and
    Markdown books use different file names) and gets back the tags that lead
    nowhere. A mention of a section that does not exist is a broken promise to
    the reader, so the book reports it as an error (W:310).
    */
    /// Turns every mention of a tag with one of `letters` into a link to `url(tag)`;
    /// returns, in order, the mentioned tags for which `url` gives nil.
    func linkTags(letters: Set<UInt8>, url: (Tag) -> String?) -> [Tag] {
        var missing: [Tag] = []
        for node in nodes() {
            let type = cmark_node_get_type(node)
            // A link inside a link is not allowed in HTML, so text that is
            // already a link's label is left alone.
            if type == CMARK_NODE_TEXT, !MarkdownTree.insideLink(node) {
                missing += linkMentions(in: node, letters: letters, url: url)
            } else if type == CMARK_NODE_CODE, !MarkdownTree.insideLink(node),
                      let tag = Tag(MarkdownTree.literal(node)), letters.contains(tag.letter) {
                guard let target = url(tag) else { missing.append(tag); continue }
                // Wrap the code span in a link: it keeps its monospace look.
                let link = MarkdownTree.make(CMARK_NODE_LINK)
                cmark_node_set_url(link, target)
                cmark_node_insert_before(node, link)
                cmark_node_unlink(node)
                cmark_node_append_child(link, node)
            }
        }
        return missing
    }

    /// Whether any ancestor of `node` is a link or an image (whose text is its description).
    private static func insideLink(_ node: OpaquePointer) -> Bool {
        var parent = cmark_node_parent(node)
        while let current = parent {
            let type = cmark_node_get_type(current)
            if type == CMARK_NODE_LINK || type == CMARK_NODE_IMAGE { return true }
            parent = cmark_node_parent(current)
        }
        return false
    }

    /// Replaces the text leaf `node` by pieces with its mentions linked; returns the
    /// mentions that `url` had no address for.
    private func linkMentions(in node: OpaquePointer, letters: Set<UInt8>, url: (Tag) -> String?) -> [Tag] {
        let text = MarkdownTree.literal(node)
        let mentions = Tag.mentions(in: text, letters: letters)
        guard !mentions.isEmpty else { return [] }
        let bytes = Array(text.utf8)
        var missing: [Tag] = []
        // The new nodes that replace this leaf, and how much of its text they cover.
        var pieces: [OpaquePointer] = []
        var done = 0
        for (tag, offset) in mentions {
            let end = offset + Array(tag.description.utf8).count
            guard let target = url(tag), end <= bytes.count else { missing.append(tag); continue }
            if offset > done { pieces.append(MarkdownTree.make(CMARK_NODE_TEXT, literal: String(decoding: bytes[done..<offset], as: UTF8.self))) }
            let link = MarkdownTree.make(CMARK_NODE_LINK)
            cmark_node_set_url(link, target)
            cmark_node_append_child(link, MarkdownTree.make(CMARK_NODE_TEXT, literal: String(decoding: bytes[offset..<end], as: UTF8.self)))
            pieces.append(link)
            done = end
        }
        // No mention led anywhere: the leaf stays as it was.
        guard !pieces.isEmpty else { return missing }
        if done < bytes.count { pieces.append(MarkdownTree.make(CMARK_NODE_TEXT, literal: String(decoding: bytes[done...], as: UTF8.self))) }
        for piece in pieces { cmark_node_insert_before(node, piece) }
        cmark_node_unlink(node)
        cmark_node_free(node)
        return missing
    }
    /*:*/

    /*W:420 Printing the tree uses cmark's defaults on purpose. The
    default is *safe*: raw HTML is never copied (we already turned it into
    text) and links with dangerous schemes such as `javascript:` lose their
    address. We leave out "smart" punctuation, which would turn the quotes
    and dashes inside prose into typographic ones but also change what an
    author wrote inside plain text, and when printing CommonMark we ask for
    no line wrapping, so a paragraph keeps the lines its author gave it and
    a diff of the Markdown book follows a diff of the sources line for line.
    */
    /// The tree as HTML, with cmark's safe defaults (no raw HTML, no `javascript:` links).
    func html() -> String {
        MarkdownTree.take(cmark_render_html(root, CMARK_OPT_DEFAULT))
    }

    /// The tree as CommonMark, without re-wrapping lines.
    func commonMark() -> String {
        MarkdownTree.take(cmark_render_commonmark(root, CMARK_OPT_DEFAULT, 0))
    }

    /// The words of the tree without markup, for search and for titles: the text of
    /// every leaf and code span, with each run of white space and each break
    /// between blocks turned into one space. `firstBlockOnly` keeps only the first
    /// paragraph (or heading, or list), where a section's list title comes from.
    func plainText(firstBlockOnly: Bool = false) -> String {
        if firstBlockOnly && cmark_node_first_child(root) == nil { return "" }
        let top = firstBlockOnly ? cmark_node_first_child(root) : root
        var words: [UInt8] = []
        var pendingSpace = false
        func add(_ text: String) {
            let bytes = Array(text.utf8)
            var index = 0
            while index < bytes.count {
                let width = bytes[index] == UInt8(ascii: "\n") ? 1 : bytes.spaceWidth(at: index)
                if width > 0 {
                    pendingSpace = !words.isEmpty
                    index += width
                } else {
                    if pendingSpace { words.append(UInt8(ascii: " ")) }
                    pendingSpace = false
                    words.append(bytes[index])
                    index += 1
                }
            }
        }
        for node in nodes(under: top) {
            let type = cmark_node_get_type(node)
            if type == CMARK_NODE_TEXT || type == CMARK_NODE_CODE || type == CMARK_NODE_CODE_BLOCK {
                add(MarkdownTree.literal(node))
            } else if type == CMARK_NODE_SOFTBREAK || type == CMARK_NODE_LINEBREAK || type == CMARK_NODE_PARAGRAPH
                        || type == CMARK_NODE_HEADING || type == CMARK_NODE_ITEM {
                add(" ")
            }
        }
        return String(decoding: words, as: UTF8.self)
    }

    /// Copies a string cmark allocated and frees cmark's copy.
    private static func take(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { preconditionFailure("cmark could not render") }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
/*:*/
