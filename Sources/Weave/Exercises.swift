/*W:760 The teacher's page: every exercise, listed by chapter.

A section becomes an exercise with one paragraph of its commentary that starts
`**Exercise** (easy; read first P:210, H:110):` and states the task; the lines a
student writes are fenced by two ordinary comments, `// exercise G:037 {` and
`// exercise G:037 } stub: ...`, which `tools/exercises` reads to make the
student edition. The reader of the book sees the task where it belongs, in the
section; a teacher planning a course wants them all on one page, with how hard
each is, what to read first and how to grade it.

So a chapter file may hold the line `<!-- weave: exercises -->`, and weave puts
that list there, built from the sections' own paragraphs. Because the list is
woven like everything else, `weave check` fails when a task changes and the
committed book does not, and a list typed by hand could never drift from the
exercises. The grammar is small on purpose: a difficulty of `easy`, `medium` or
`hard` (worth 1, 2 and 4 points, the weights `tools/grade` uses), an optional
`read first` list of tags, a colon, and the task. */

/// One exercise, as a section's commentary states it.
struct Exercise: Equatable {
    let tag: Tag
    let difficulty: String
    let readFirst: [String]
    let task: String

    /// The points `tools/grade` gives for this difficulty.
    var points: Int { ["easy": 1, "medium": 2, "hard": 4][difficulty] ?? 0 }

    /// The exercise stated in `section`'s prose, if it has an `**Exercise** (...)` paragraph.
    init?(_ section: Section) {
        let marker = "**Exercise** ("
        let paragraphs = section.prose.components(separatedBy: "\n\n")
        guard let paragraph = paragraphs.first(where: { $0.trimmingSpaces.hasPrefix(marker) }) else { return nil }
        let text = paragraph.split(separator: "\n").map { String($0).trimmingSpaces }.joined(separator: " ")
        guard let close = text.range(of: "): ") else { return nil }
        let head = text[text.index(text.startIndex, offsetBy: marker.count)..<close.lowerBound]
        let parts = head.components(separatedBy: "; read first ")
        guard ["easy", "medium", "hard"].contains(parts[0]) else { return nil }
        tag = section.tag
        difficulty = parts[0]
        readFirst = parts.count > 1 ? parts[1].components(separatedBy: ", ") : []
        task = String(text[close.upperBound...])
    }
}

/// Where a chapter file asks for the list of exercises.
let exercisesDirective = "<!-- weave: exercises -->"

extension Chapter {
    /// The chapter with `exercisesDirective` replaced by the list of `sections`' exercises,
    /// grouped under the chapters in `chapters`; unchanged when it has no such line.
    func withExercises(of sections: [Section], chapters: [Chapter]) -> Chapter {
        let lines = introduction.components(separatedBy: "\n")
        guard let at = lines.firstIndex(of: exercisesDirective) else { return self }
        let list = Chapter.exerciseList(sections.compactMap(Exercise.init), chapters: chapters)
        let listLines = list.components(separatedBy: "\n")
        var newLines = lines, newOrigins = origins
        newLines.replaceSubrange(at...at, with: listLines)
        newOrigins.replaceSubrange(at...at, with: Array(repeating: origins[at], count: listLines.count))
        return Chapter(file: file, slug: slug, letter: letter, title: title, order: order,
                       introduction: newLines.joined(separator: "\n"), origins: newOrigins, lines: self.lines)
    }

    /// The Markdown list: a paragraph per chapter, an item per exercise.
    static func exerciseList(_ exercises: [Exercise], chapters: [Chapter]) -> String {
        let total = exercises.reduce(0) { $0 + $1.points }
        var text = "\(exercises.count) exercises, \(total) points in all.\n"
        for chapter in chapters {
            let mine = exercises.filter { $0.tag.letter == chapter.letter }
            guard !mine.isEmpty else { continue }
            text += "\n**\(chapter.letterString) · \(chapter.title)**\n\n"
            for exercise in mine {
                let points = exercise.points == 1 ? "1 point" : "\(exercise.points) points"
                let reading = exercise.readFirst.isEmpty ? "" : "; read first \(exercise.readFirst.joined(separator: ", "))"
                let filter = exercise.tag.anchor
                text += "- \(exercise.tag) (\(exercise.difficulty), \(points)\(reading)): \(exercise.task) "
                text += "Grade it with `tools/grade \(filter)`.\n"
            }
        }
        return text
    }
}
/*:*/
