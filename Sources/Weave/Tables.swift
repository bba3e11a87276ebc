import CCmark

/*W:430 Tables, which CommonMark does not have.

The sources write tables the way GitHub's Markdown (GFM) does, a header
row, a row of dashes with optional colons for alignment, and body rows, all
with cells between pipes:

```
| call      | number |
| :-------- | -----: |
| `SET_PTE` |     14 |
```

CommonMark has no tables, so cmark reads those lines as one paragraph of
pipes, and that is what a reader of the HTML book used to see. The Markdown
book needs nothing done: a code host renders GFM tables itself, so they are
printed back as written. For the HTML book weave finds such paragraphs in
cmark's tree and turns each into a table, following the GFM specification's
rules:

* a table starts where a line of cells is followed by a *delimiter row*
  with the same number of cells, each of them dashes with an optional colon
  at either end (`:--` left, `--:` right, `:-:` centre); lines of the
  paragraph before that stay a paragraph;
* the leading and trailing pipes are optional, and `\|` is a pipe inside a
  cell, even inside a code span;
* a body row with fewer cells gets empty ones, and cells beyond the
  header's count are dropped;
* each cell's text is Markdown inline content, parsed by cmark on its own,
  so code spans, emphasis and tag mentions work in cells as anywhere else.

Cmark's tree has no table node, so a table is made of *custom blocks*,
nodes whose opening and closing HTML the renderer prints as given. Only
weave's own tags go there, never the author's text: every cell's content
is a paragraph of cmark's own nodes, rendered with the same safe defaults
as the rest of the prose (W:420).
*/
extension MarkdownTree {
    /// The alignment of a column, from its delimiter cell.
    enum Alignment {
        case none, left, center, right

        /// The attribute GFM's reference renderer writes on each cell of the column.
        var attribute: String {
            switch self {
            case .none: ""
            case .left: " align=\"left\""
            case .center: " align=\"center\""
            case .right: " align=\"right\""
            }
        }

        /// The alignment a delimiter cell such as `:--:` asks for, or nil when it is not one.
        init?(delimiter cell: String) {
            let trimmed = cell.trimmingSpaces
            let core = trimmed.drop { $0 == ":" }.reversed().drop { $0 == ":" }
            guard !core.isEmpty, core.allSatisfy({ $0 == "-" }), trimmed.count - core.count <= 2 else { return nil }
            switch (trimmed.hasPrefix(":"), trimmed.hasSuffix(":")) {
            case (true, true): self = .center
            case (true, false): self = .left
            case (false, true): self = .right
            case (false, false): self = .none
            }
        }
    }

    /// The cells of one table line: pipes split it, except escaped ones, and a pipe at either
    /// end only closes the row. Escaped pipes come back as plain pipes, as GFM says.
    static func cells(_ line: String) -> [String] {
        var text = Substring(line.trimmingSpaces)
        if text.hasPrefix("|") { text = text.dropFirst() }
        var cells: [String] = []
        var cell = ""
        var escaped = false
        for character in text {
            if escaped {
                // `\|` is a pipe in the cell; any other escape stays for cmark to read.
                if character != "|" { cell.append("\\") }
                cell.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "|" {
                cells.append(cell)
                cell = ""
            } else {
                cell.append(character)
            }
        }
        if escaped { cell.append("\\") }
        // Text after the last pipe is a cell; nothing after it means the pipe closed the row.
        if !cell.trimmingSpaces.isEmpty || cells.isEmpty { cells.append(cell) }
        return cells.map(\.trimmingSpaces)
    }

    /// Whether a line has a pipe that is not escaped, the least a table line needs.
    static func hasPipe(_ line: String) -> Bool {
        var escaped = false
        for character in line {
            if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "|" { return true }
        }
        return false
    }

    /*:*/

    /*W:432 Building a table in cmark's tree.

    Only paragraphs at the top of the document are looked at, because cmark tells us the lines each
    block came from, and for a top-level paragraph those lines are the author's text exactly (inside
    a list or a quotation they would carry the container's markers). The lines are re-read from the
    source, not from the parsed inlines, because cmark has already turned `\|` into a plain pipe by
    then, and the difference between the two is the difference between a cell boundary and a pipe in
    the text. Each cell's text is then parsed by cmark on its own, and its inlines become the
    content of a paragraph inside the cell: inline content, as GFM requires, with everything cmark
    reads as a block (a heading, a list item) kept as the literal text it was. */

    /// Turns every top-level paragraph of `source` (the text this tree was parsed from) that holds
    /// a GFM table into a table of custom blocks.
    func makeTables(from source: String) {
        guard source.contains("|") else { return }
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var child = cmark_node_first_child(root)
        while let paragraph = child {
            child = cmark_node_next(paragraph)
            guard cmark_node_get_type(paragraph) == CMARK_NODE_PARAGRAPH else { continue }
            let first = Int(cmark_node_get_start_line(paragraph)) - 1
            let last = Int(cmark_node_get_end_line(paragraph)) - 1
            guard first >= 0, last < lines.count, first < last else { continue }
            replaceWithTable(paragraph, lines: Array(lines[first...last]))
        }
    }

    /// Replaces `paragraph`, whose source is `lines`, by what they hold: a paragraph of the lines
    /// before the table, if any, then the table. Leaves it alone when there is no table.
    private func replaceWithTable(_ paragraph: OpaquePointer, lines: [String]) {
        // The header is the line just before the first delimiter row with as many cells as it has.
        guard let delimiter = (1..<lines.count).first(where: { index in
            let delimiters = MarkdownTree.cells(lines[index])
            return MarkdownTree.hasPipe(lines[index]) && MarkdownTree.hasPipe(lines[index - 1])
                && delimiters.allSatisfy { Alignment(delimiter: $0) != nil }
                && MarkdownTree.cells(lines[index - 1]).count == delimiters.count
        }) else { return }
        let header = delimiter - 1
        let alignments = MarkdownTree.cells(lines[delimiter]).compactMap { Alignment(delimiter: $0) }
        // Body rows run to the end of the paragraph: cmark has already ended it at a blank line
        // or at the start of another block, which is where GFM ends a table too.
        let end = lines.count
        let table = MarkdownTree.block("<table>", "</table>")
        let head = MarkdownTree.block("<thead>", "</thead>")
        head.append(row(MarkdownTree.cells(lines[header]), alignments, cell: "th"))
        cmark_node_append_child(table.node, head.node)
        if end > header + 2 {
            let body = MarkdownTree.block("<tbody>", "</tbody>")
            for line in lines[(header + 2)..<end] { body.append(row(MarkdownTree.cells(line), alignments, cell: "td")) }
            cmark_node_append_child(table.node, body.node)
        }
        if header > 0 {
            let before = MarkdownTree.inlineParagraph(lines[0..<header].joined(separator: "\n"))
            cmark_node_insert_before(paragraph, before)
        }
        cmark_node_insert_before(paragraph, table.node)
        cmark_node_unlink(paragraph)
        cmark_node_free(paragraph)
    }

    /*W:434 Rows, cells, and blocks cmark does not know.

    cmark has no table node, so a table is made of *custom blocks*: nodes that print a fixed string on
    entry and another on exit, here `<table>` and `</table>`, `<tr>` and so on, with their children
    rendered as usual in between. That is what lets the cells keep cmark's own inline rendering, links
    and code spans included. A row always has exactly as many cells as the header has columns, padding
    a short line with empty cells and dropping the extra ones of a long line, which is the rule the GFM
    spec gives. `inlineParagraph` is where a cell that looks like a block stays text: unless cmark reads
    it as exactly one paragraph, the cell gets the text literally. */
    /// One row: a cell for each column, empty where the line has too few, extra cells dropped.
    private func row(_ cells: [String], _ alignments: [Alignment], cell tag: String) -> OpaquePointer {
        let row = MarkdownTree.block("<tr>", "</tr>")
        for (index, alignment) in alignments.enumerated() {
            let cell = MarkdownTree.block("<\(tag)\(alignment.attribute)>", "</\(tag)>")
            let text = index < cells.count ? cells[index] : ""
            if !text.isEmpty { cell.append(MarkdownTree.inlineParagraph(text)) }
            cmark_node_append_child(row.node, cell.node)
        }
        return row.node
    }

    /// A custom block that prints `enter` and `exit` around its children.
    private static func block(_ enter: String, _ exit: String) -> (node: OpaquePointer, append: (OpaquePointer) -> Void) {
        guard let node = cmark_node_new(CMARK_NODE_CUSTOM_BLOCK) else { preconditionFailure("cmark could not allocate a node") }
        cmark_node_set_on_enter(node, enter)
        cmark_node_set_on_exit(node, exit)
        return (node, { cmark_node_append_child(node, $0) })
    }

    /// `text` as one paragraph of inline content, parsed by cmark: a cell, or the lines around a table.
    /// Whatever cmark would read as a block (a heading, a list) is inline text here, as GFM has it.
    static func inlineParagraph(_ text: String) -> OpaquePointer {
        let parsed = MarkdownTree(text)
        guard let paragraph = cmark_node_new(CMARK_NODE_PARAGRAPH) else { preconditionFailure("cmark could not allocate a node") }
        if let only = cmark_node_first_child(parsed.root), cmark_node_next(only) == nil,
           cmark_node_get_type(only) == CMARK_NODE_PARAGRAPH {
            while let inline = cmark_node_first_child(only) {
                cmark_node_unlink(inline)
                cmark_node_append_child(paragraph, inline)
            }
        } else {
            guard let literal = cmark_node_new(CMARK_NODE_TEXT) else { preconditionFailure("cmark could not allocate a node") }
            cmark_node_set_literal(literal, text)
            cmark_node_append_child(paragraph, literal)
        }
        return paragraph
    }
}

/*:*/
