import Foundation

/*X:895 The differential test.

How do we know the runner and the interpreter are right? The best witness is
the real thing. An x86-64 Linux kernel runs static i386 programs natively, so
the test runs each guest program twice, once on the host's CPU and kernel
and once in this machine, feeds both the same input, and demands the same
bytes on standard output and the same ending: exit status, or the signal
that killed it.

That single comparison checks a great deal at once: every instruction the
program executes, every flag a branch depends on, the system calls and the
exact error numbers they return, demand paging, and the mapping from faults
to signals. It cannot check what the programs do not exercise, which is why
the instruction tests of the interpreter exist too; but when this test
passes, real compiled programs really run.

The programs are written so that nothing legitimately differs between the
two runs: they print "getpid ok" rather than the pid, and never an address,
since the host randomises where the heap and the stack start.
:*/

/*X:899 Where the guest programs live.

The guest programs are C sources in `programs/src`, and `programs/build`
turns them into the i386 executables in `programs/bin`, which are committed
so that a machine without a 32-bit C compiler runs them all the same.

Finding them again at run time is a small puzzle: `swift run lguest`, the
benchmark and the tests each start in a different working directory. Rather
than copying the files into every build product, the catalog finds them
relative to this very source file, whose path the compiler records in
`#filePath`: three directories up from `Sources/Machine/Programs` is the checkout.
That works in any fresh clone, debug or release; the price is that a built
binary moved away from its checkout no longer finds the programs, which for a
teaching tool that is always run from its checkout is a fair trade.
*/

/// The committed guest programs in `programs/bin`, and loading any ELF file.
public enum GuestPrograms {
    /// The directory holding the built guest programs of this checkout.
    public static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Sources/Machine/Programs
        .deletingLastPathComponent()  // Sources/Machine
        .deletingLastPathComponent()  // Sources
        .deletingLastPathComponent()  // the checkout
        .appendingPathComponent("programs/bin", isDirectory: true)

    /// The names of the committed programs, sorted.
    public static var names: [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return entries.filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The committed programs that open the Guest's devices (`/dev/vda`, `/dev/hwrng`): they run under
    /// the Guest kernel only. The bare machine answers their `open` with `ENOSYS`, and a native run
    /// would reach the host's own devices (on many machines `/dev/vda` is the root disk), so the
    /// differential test leaves them out.
    public static let guestOnly: Set<String> = ["disk", "hwrng", "vdread"]

    /// The committed programs that never end on purpose (`spin`, for the Launcher's time limit and
    /// Ctrl-C, `L:045`): the differential test, which waits for the native run to finish, leaves them out.
    public static let neverEnding: Set<String> = ["spin"]

    /// The file of the committed program `name`.
    public static func url(named name: String) -> URL {
        directory.appendingPathComponent(name, isDirectory: false)
    }

    /// Loads and validates an ELF file.
    ///
    /// - Parameter nameOrPath: a committed program's name (`hello`), or else
    ///   the path of any file.
    /// - Throws: `GuestProgramError` when the file cannot be read or is not a
    ///   program this machine runs.
    public static func load(_ nameOrPath: String) throws(GuestProgramError) -> ELFImage {
        let committed = !nameOrPath.contains("/") && names.contains(nameOrPath)
        let url = committed ? url(named: nameOrPath) : URL(fileURLWithPath: nameOrPath)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw .unreadable(nameOrPath)
        }
        do {
            return try ELFImage(bytes: [UInt8](data))
        } catch {
            throw .malformed(url.path, error)
        }
    }
}

/// Why a guest program could not be loaded.
public enum GuestProgramError: Error, Equatable, CustomStringConvertible {
    /// The file does not exist or cannot be read.
    case unreadable(String)
    /// The file is not a valid i386 executable.
    case malformed(String, ELFImageError)

    public var description: String {
        switch self {
        case let .unreadable(path): "program: \(path) is neither a committed program nor a readable file"
        case let .malformed(path, error): "\(path): \(error)"
        }
    }
}
/*:*/
