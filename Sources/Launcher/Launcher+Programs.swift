/*L:050 Finding the programs.

The programs a Guest runs are ordinary files on the host: the project's i386 programs, built by `gcc`
and committed, or any other i386 executable named by its path. The Launcher reads the ones it is asked
for, and for each program `NAME` also a file `NAME.in` beside it if there is one, which becomes that
program's standard input (`G:086`). A file that is missing or unreadable is the user's mistake, not
the Guest's, so it is an error with the path in it, reported before anything boots. So is a file that
is not an i386 program at all: the Launcher runs the same ELF checks the Guest's loader will (`X:800`),
so that "this is not a program" is a message on the terminal and a non-zero status, not a line in the
Guest's console followed by a cheerful power-off. */

import Foundation
import Guest
import Machine

extension Launcher {
    /// What the Guest runs when nobody says otherwise (`swift run lguest`, and the `boot_ms` benchmark):
    /// a greeting, real work, a deep stack, a growing heap, every system call, the three devices (the
    /// disk, the rng, and the console's input), and one program that dies on purpose.
    public static let defaultPrograms = "hello,sieve,crc32,recurse,pages,syscalls,disk,hwrng,cat,fault_null"

    /// Read programs `names` (each with its optional `NAME.in`) from `directory`, in order, ready to
    /// put in a `LaunchOptions`; a name with a `/` in it is a path of its own, and the program takes
    /// the file's name. Throws `LaunchError.cannotRead` naming the first file that is missing, and
    /// `LaunchError.notAProgram` for the first that the ELF loader refuses.
    public static func programs(named names: [String], in directory: String) throws(LaunchError) -> [InitrdFile] {
        var files: [InitrdFile] = []
        for name in names {
            let path = name.contains("/") ? name : (directory as NSString).appendingPathComponent(name)
            guard let contents = FileManager.default.contents(atPath: path) else { throw .cannotRead(path) }
            let bytes = Array(contents)
            do {
                _ = try ELFImage(bytes: bytes)
            } catch {
                throw .notAProgram(path, "\(error)")
            }
            let programName = (path as NSString).lastPathComponent
            files.append(InitrdFile(name: programName, bytes: bytes))
            if let input = FileManager.default.contents(atPath: path + ".in") {
                files.append(InitrdFile(name: programName + ".in", bytes: Array(input)))
            }
        }
        return files
    }
}
/*:*/
