// C programs built with gcc and glibc at test time (`gcc -m32 -static`), for the tests of the Linux
// personality (X:876-X:899, G:094-G:099). A static glibc program is about 700 KB, too big to commit
// for every test, so each is compiled into a temporary folder when first needed; without gcc-multilib
// and libc6-dev-i386 (`tools/setup --optional`) the tests that need one are skipped, saying so.
// This file is shared with MachineTests through a symbolic link.
import Foundation

/// Building and running glibc test programs.
enum Glibc {
    /// Why glibc programs cannot be built here, or nil when they can.
    static let unavailableReason: String? = {
        do {
            _ = try build("probe", "int main(void) { return 0; }")
            return nil
        } catch {
            return "needs gcc -m32 -static with glibc (tools/setup --optional installs gcc-multilib, libc6-dev-i386): \(error)"
        }
    }()

    /// Whether glibc programs can be built.
    static var available: Bool { unavailableReason == nil }

    /// The folder the programs are built in, one per test process.
    static let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lguest-glibc-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// A failed build, with gcc's messages.
    struct BuildError: Error, CustomStringConvertible {
        let description: String
    }

    /// Serialises builds: tests run in parallel, and two may want the same program at once.
    private static let buildLock = NSLock()

    /// Compile `source` as program `name` (cached for the process); the executable's path.
    static func build(_ name: String, _ source: String, flags: [String] = ["-O1"]) throws -> URL {
        buildLock.lock()
        defer { buildLock.unlock() }
        let executable = folder.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: executable.path) { return executable }
        let sourceFile = folder.appendingPathComponent(name + ".c")
        try Data(source.utf8).write(to: sourceFile)
        let result = try run(URL(fileURLWithPath: "/usr/bin/gcc"),
                             ["-m32", "-static"] + flags + ["-o", executable.path, sourceFile.path],
                             environment: ["PATH": "/usr/bin:/bin"])
        guard result.status == 0 else { throw BuildError(description: "gcc: " + result.output) }
        return executable
    }

    /// Run `executable` natively with `arguments`, standard input from `input`, in `directory`:
    /// its exit status and standard output (with standard error after it).
    static func run(_ executable: URL, _ arguments: [String], input: URL? = nil, directory: URL? = nil,
                    environment: [String: String] = ["HOME": "/", "TERM": "linux"]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = directory }
        if let input { process.standardInput = try FileHandle(forReadingFrom: input) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The project's root folder (where Package.swift is).
    static let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Debian's busybox-static for i386, where `tools/setup --optional` unpacks it, if it is there.
    static let busybox: URL? = {
        let url = projectRoot.appendingPathComponent(".optional/busybox-static/bin/busybox")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }()

    /// The reason busybox tests are skipped.
    static let busyboxMissing = "needs Debian's busybox-static for i386 in .optional/ (tools/setup --optional)"

    /// A program with the integers, strings, arguments and thread-local storage glibc start-up needs.
    static let helloSource = """
        #include <stdio.h>
        static __thread int counter = 41;
        int main(int argc, char **argv) {
            counter++;
            printf("argc %d\\n", argc);
            for (int i = 1; i < argc; i++) printf("argv[%d] %s\\n", i, argv[i]);
            printf("tls %d\\n", counter);
            printf("%s %5d|%-6x|%08lu|%c\\n", "ints", -42, 0xbeef, 1234567UL, 'z');
            return argc;
        }
        """

    /// A program whose output is the personality's answers: the same under both kernels (`X:877`).
    static let personalitySource = """
        #include <stdio.h>
        #include <time.h>
        #include <sys/utsname.h>
        #include <sys/resource.h>
        #include <sys/random.h>
        #include <unistd.h>
        int main(int argc, char **argv) {
            struct utsname u;
            uname(&u);
            printf("%s %s %s %s\\n", u.sysname, u.nodename, u.release, u.machine);
            struct rlimit r;
            getrlimit(RLIMIT_NOFILE, &r);
            printf("argc %d pid %d uid %d files %lu\\n", argc, getpid(), getuid(), (unsigned long)r.rlim_cur);
            unsigned char b[8];
            getrandom(b, sizeof b, 0);
            for (int i = 0; i < 8; i++) printf("%02x", b[i]);
            char path[64];
            ssize_t n = readlink("/proc/self/exe", path, sizeof path);
            printf(" %.*s\\n", (int)n, path);
            return 0;
        }
        """

    /// A program that prints floats and doubles: needs the x87 FPU.
    static let floatSource = """
        #include <stdio.h>
        int main(void) {
            volatile double third = 1.0 / 3.0;
            volatile float big = 2.5e10f;
            printf("%.6f %g %e %.2f\\n", third, third * 1e10, (double)big, -0.125);
            return 0;
        }
        """

    /// Whether the machine computes with the x87: a probe that multiplies a double and exits with it.
    static let x87Probe = "int main(void) { volatile double x = 1.5; return (int)(x * 2.0); }"
}
