/*W:720 Not every reader wants a browser. `weave chapter G` prints one
chapter to the terminal as plain text, the way the original's `make Guest`
did: the introduction, then each section's tag line, prose and code, with a
`[ file ]` line whenever the story moves to another file. And `weave list`
prints one line per section, with its tag, the file and lines it spans and
its title, in book order, which is handy with grep.
*/
extension Book {
    /// The chapter with `letter` as plain text, or nil when there is no such chapter.
    public func plainText(ofChapter letter: String) -> String? {
        // `weave chapter g` works as well as `weave chapter G`.
        guard let chapter = chapters.first(where: { $0.letterString == letter.uppercased() }) else { return nil }
        // The title underlined with `=`, which is how plain text says "heading".
        var text = chapter.title + "\n" + String(repeating: "=", count: chapter.title.count) + "\n\n"
        if !chapter.introduction.isEmpty { text += chapter.introduction + "\n\n" }
        var lastFile: String?
        let views = views(of: chapter)
        if views.isEmpty { text += "(The sections of this chapter are still to come.)\n" }
        for view in views {
            let section = view.section
            if section.file != lastFile { text += "[ \(section.file) ]\n" }
            lastFile = section.file
            // The prose is printed as Markdown: it reads well as plain text,
            // which is the point of Markdown.
            text += "\(section.tag)" + (section.title.map { " " + $0 } ?? "") + "\n"
            if !section.prose.isEmpty { text += section.prose + "\n" }
            if !section.codeLines.isEmpty, let file = files[section.file] {
                text += "\n" + file.text(section.codeLines, hiding: section.storyMarkerColon) + "\n"
            }
            text += "\n"
        }
        return text
    }

    /// One line per section: tag, `file:first-last` and title.
    public func listing() -> String {
        var text = ""
        for chapter in chapters {
            for view in views(of: chapter) {
                let section = view.section
                text += "\(section.tag) \(section.file):\(section.lines.lowerBound)-\(section.lines.upperBound) \(view.listTitle)\n"
            }
        }
        return text
    }
}
/*:*/
