/*L:050 Finding the programs.

The programs a Guest runs are ordinary files on the host: the project's i386 programs, built by `gcc`
and committed. The Launcher reads the ones it is asked for, and for each program `NAME` also a file
`NAME.in` beside it if there is one, which becomes that program's standard input (`G:086`). A file that
is missing or unreadable is the user's mistake, not the Guest's, so it is an error with the path in
it, reported before anything boots. */

import Foundation
import Guest

extension Launcher {
    /// Read programs `names` (each with its optional `NAME.in`) from `directory`, in order, ready to
    /// put in a `LaunchOptions`. Throws `LaunchError.cannotRead` naming the first file that is missing.
    public static func programs(named names: [String], in directory: String) throws(LaunchError) -> [InitrdFile] {
        var files: [InitrdFile] = []
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let contents = FileManager.default.contents(atPath: path) else { throw .cannotRead(path) }
            files.append(InitrdFile(name: name, bytes: Array(contents)))
            if let input = FileManager.default.contents(atPath: path + ".in") {
                files.append(InitrdFile(name: name + ".in", bytes: Array(input)))
            }
        }
        return files
    }
}
/*:*/
