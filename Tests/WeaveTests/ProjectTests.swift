import Foundation
import Testing
@testable import Weave

private let chapterFiles: [String: String] = Dictionary(uniqueKeysWithValues: standardChapters.map { ($0.path, $0.text) })

@Test func w700_aProjectReadsSourcesTestsAndChaptersButNothingHidden() throws {
    let tree = try FixtureTree(chapterFiles.merging([
        "Sources/Guest/Boot.swift": "/*G:010 Boot. :*/\n",
        "Sources/Guest/notes.txt": "/*G:011 Not a source file. :*/\n",
        "Sources/.hidden/Secret.swift": "/*G:012 Hidden. :*/\n",
        "Tests/GuestTests/BootTests.swift": "@Test func g010_boots() {}\n/*G:013 A section in a test file. :*/\n",
        "Sources/C/driver.c": "/*D:010 A driver in C. :*/\n",
    ]) { $1 })
    let book = Project(root: tree.root).load()
    #expect(book.diagnostics.isEmpty)
    #expect(tags(book) == ["G:010", "G:013", "D:010"])
    #expect(book.sections.map(\.file) == ["Sources/Guest/Boot.swift", "Tests/GuestTests/BootTests.swift", "Sources/C/driver.c"])
    #expect(book.tests[Tag("G:010")!] == ["g010_boots"])
}

@Test func w700_theSameInputsGiveTheSameBytesInAnyOrder() {
    let sources = [
        ("Sources/B.swift", "/*G:020 B.\n *\n * Mentions G:010. */\nlet b = \"x\"\n/*:*/\n"),
        ("Sources/A.swift", "/*G:010 A. :*/\n/*W:010 W. :*/\n"),
        ("Tests/GuestTests/T.swift", "func g020_b() {}\n"),
    ]
    let project = Project()
    let first = project.render(weave(sources))
    let second = project.render(weave(sources.reversed()))
    #expect(first == second)
    #expect(first.map(\.path) == first.map(\.path).sorted())
    for file in first {
        #expect(!file.contents.contains(NSTemporaryDirectory()), "\(file.path) holds an absolute path")
    }
}

@Test func w710_checkPassesAfterBuildAndFailsAfterAnEdit() throws {
    let tree = try FixtureTree(chapterFiles.merging([
        "Sources/A.swift": "/*G:010 The first words. :*/\n",
    ]) { $1 })
    let project = Project(root: tree.root)
    try project.write(project.render(project.load()))
    #expect(project.differences(from: project.render(project.load())).isEmpty)
    #expect(tree.read("book/markdown/guest.md")?.contains("The first words.") == true)

    try tree.write("Sources/A.swift", "/*G:010 Edited words. :*/\n")
    let stale = project.differences(from: project.render(project.load())).map(\.description)
    #expect(stale.contains("book/html/guest.html:1:1: error: out of date; run 'swift run weave build'"))
    #expect(stale.contains("book/markdown/guest.md:1:1: error: out of date; run 'swift run weave build'"))

    try tree.write("book/html/old-chapter.html", "gone")
    try FileManager.default.removeItem(atPath: tree.root + "/book/html/index.html")
    let more = project.differences(from: project.render(project.load())).map(\.description)
    #expect(more.contains("book/html/old-chapter.html:1:1: error: not part of the book any more; run 'swift run weave build'"))
    #expect(more.contains("book/html/index.html:1:1: error: missing from the book; run 'swift run weave build'"))

    try project.write(project.render(project.load()))
    #expect(project.differences(from: project.render(project.load())).isEmpty)
    #expect(tree.read("book/html/old-chapter.html") == nil)
}

/// A small tree in the style of the original lguest sources: C files whose comments tell the tour,
/// spread over several directories, written afresh for this test.
private let originalStyleTree: [String: String] = [
    "linux/arch/x86/lguest/boot.c": """
        /*P:010
         * A hypervisor lets several kernels share one machine.  This tree is a
         * pretend one, here to check that the tour comes out in order. :*/
        #include <linux/kernel.h>

        /*G:010 Welcome to the pretend Guest!
         *
         * It is the same kernel as the Host, with a few operations swapped. :*/

        /*G:030 Here we install our replacements. */
        void pretend_init(void)
        {
        \tpv_irq_ops.save_fl = save_fl;\t/* an ordinary remark */
        \tpv_irq_ops.irq_disable = irq_disable;
        }
        /*:*/

        /*G:020 The boot path comes before pretend_init() in the tour, though
         * not in the file. */
        static void boot_path(void)
        {
        \tpretend_init();
        \t/* And then we never return. :*/
        }

        /*M:002 An idea for later: make this faster. :*/
        """,
    "linux/drivers/lguest/core.c": """
        /*H:000 Welcome to the pretend Host. :*/
        /*H:010 The run loop. */
        int run_guest(void)
        {
        \treturn 0;
        }
        /*:*/
        """,
    "linux/drivers/lguest/hypercalls.c": """
        /*H:100 Hypercalls arrive here.
         *
         * The pretend switch handles none. */
        static void do_hcall(void)
        {
        \tswitch (0) { default: break; }
        }
        /*:*/
        """,
    "linux/drivers/lguest/x86/switcher_32.S": """
        /*S:100 The pretend Switcher. */
        ENTRY(switch_to_guest)
        \tpushl\t%ebp
        /*:*/
        """,
    "linux/drivers/lguest/lguest_device.c": "/*D:010 Devices live past the top of memory. :*/\n",
    "linux/Documentation/lguest/lguest.c": """
        /*L:010 The Launcher starts here. */
        int main(int argc, char *argv[])
        {
        \tchar c = '"';
        \treturn c;
        }
        /*:*/
        """,
    "linux/include/linux/lguest.h": "/* An ordinary header with a remark about G:010, which is not a section. */\n",
]

@Test func w800_originalStyleCSourcesComeOutInTheOriginalOrder() throws {
    let original = standardChapters.filter { !$0.path.contains("machine") && !$0.path.contains("weaving") }
    let tree = try FixtureTree(originalStyleTree.merging(
        Dictionary(uniqueKeysWithValues: original.map { ($0.path, $0.text) })) { $1 })
    let book = Project(root: tree.root, extraSources: ["linux"]).load()
    #expect(book.diagnostics.isEmpty)
    #expect(tags(book) == ["P:010", "G:010", "G:020", "G:030", "D:010", "L:010", "H:000", "H:010", "H:100", "S:100", "M:002"])
    #expect(book.chapters.map(\.letterString) == ["P", "G", "D", "L", "H", "S", "M"])

    let guest = book.plainText(ofChapter: "G") ?? ""
    #expect(guest.contains("""
        [ linux/arch/x86/lguest/boot.c ]
        G:010 Welcome to the pretend Guest!
        It is the same kernel as the Host, with a few operations swapped.

        G:020
        The boot path comes before pretend_init() in the tour, though
        not in the file.

        static void boot_path(void)
        {
        \tpretend_init();
        \t/* And then we never return. */

        G:030
        Here we install our replacements.

        void pretend_init(void)
        {
        \tpv_irq_ops.save_fl = save_fl;\t/* an ordinary remark */
        \tpv_irq_ops.irq_disable = irq_disable;
        }
        """))
    let host = book.plainText(ofChapter: "H") ?? ""
    #expect(host.contains("[ linux/drivers/lguest/core.c ]\nH:000"))
    #expect(host.contains("[ linux/drivers/lguest/hypercalls.c ]\nH:100 Hypercalls arrive here."))
}

@Test func w730_buildWritesNothingWhenTheSourcesHaveProblems() throws {
    let tree = try FixtureTree(chapterFiles.merging([
        "Sources/A.swift": "/*G:010 Fine. :*/\n/*G:010 Again. :*/\n",
    ]) { $1 })
    let project = Project(root: tree.root)
    #expect(try project.build().map(\.description) == [
        "Sources/A.swift:2:1: error: duplicate tag G:010; first defined at Sources/A.swift:1:1",
    ])
    #expect(tree.read("book/html/index.html") == nil)
    #expect(project.check().count > 1)

    try tree.write("Sources/A.swift", "/*G:010 Fine. :*/\n/*G:020 Fixed. :*/\n")
    #expect(try project.build().isEmpty)
    #expect(project.check().isEmpty)
    #expect(tree.read("book/html/index.html")?.contains("G:020") == true)
}

@Test func w800_theOriginalsLastSectionMayRunToTheEndOfItsFile() throws {
    let text = "/*G:070 The last one. */\nvoid start(void)\n{\n}\n/* The end of the chapter. */\n"
    let strict = weave([("linux/boot.c", text)])
    #expect(messages(strict) == [
        "linux/boot.c:1:1: error: section G:070 is still open at the end of the file; end it with a comment that closes with ':*/'"
            + ", or weave with --sections-end-with-files to let sections run to the ends of their files",
    ])
    let lenient = Book(sources: [InputFile(path: "linux/boot.c", text: text)], chapterFiles: standardChapters,
                       sectionsMayRunToEndOfFile: true)
    #expect(lenient.diagnostics.isEmpty)
    #expect(lenient.files["linux/boot.c"].map { $0.text(lenient.sections[0].codeLines) }
            == "void start(void)\n{\n}\n/* The end of the chapter. */")
}

@Test func w800_noBreakSpacesWeaveLikeSpaces() {
    let nbsp = "\u{A0}"
    let book = weave([("linux/boot.c", "/*G:037\(nbsp)The ring.\n\(nbsp)*\n\(nbsp)*\(nbsp)It is simple.\(nbsp)\(nbsp)Really. :*/\n")])
    #expect(tags(book) == ["G:037"])
    #expect(book.sections[0].title == "The ring.")
    #expect(book.sections[0].prose == "It is simple.\(nbsp)\(nbsp)Really.")
}
