/*X:876 The start-up stack, as Linux builds it.

A Linux program does not start with an empty stack. At its first instruction, `esp` points at
`argc`, and above it lie the argument pointers, the environment pointers, and the *auxiliary
vector*: pairs of a key and a value through which the kernel tells the C library what it cannot
easily find out for itself. Above all of these, near the top of the stack, are the strings the
pointers point at. Both kernels of this book build it with `InitialStack.build()`:

```
 top        the executable's path          <- AT_EXECFN
            argument and environment strings, NUL-terminated
            "i686"                          <- AT_PLATFORM
            16 random bytes                 <- AT_RANDOM
            (padding: esp ends 16-byte aligned, as the i386 ABI asks)
            AT_NULL 0
            ... key, value pairs ...
            AT_PHDR  where the program headers are in memory
            NULL                            end of envp
            envp[0] ... envp[n-1]
            NULL                            end of argv
            argv[0] ... argv[argc-1]
 esp ->     argc
```

A static glibc program reads more of this than one might expect. It finds its own program headers
through `AT_PHDR`, `AT_PHENT` and `AT_PHNUM`, because that is where the `PT_TLS` header tells it how big
each thread's block must be; it seeds its stack protector and pointer guard from `AT_RANDOM`; it asks
`AT_HWCAP` which instructions the processor has. `AT_HWCAP` here is exactly what `cpuid` leaf 1
answers in edx (`X:595`), read from the same function the interpreter's `cpuid` uses, so the two can
never disagree. `AT_UID` and friends say the program runs as root (0, and `AT_SECURE` 0: no set-uid
care needed). The random bytes come from the process's deterministic stream (`X:896`).

The whole vector must fit in `InitialStack.maximumSize`, three pages, the part of the stack both
kernels have ready before the program runs; more is Linux's `E2BIG`, "argument list too long".
*/

/// The auxiliary vector's keys (`AT_*` in Linux's `include/uapi/linux/auxvec.h`).
public enum AuxiliaryKey: UInt32, Sendable {
    case end = 0, programHeaders = 3, programHeaderSize = 4, programHeaderCount = 5, pageSize = 6
    case base = 7, flags = 8, entry = 9, uid = 11, euid = 12, gid = 13, egid = 14, platform = 15
    case hardwareCapabilities = 16, clockTicks = 17, secure = 23, random = 25, hardwareCapabilities2 = 26
    case executableName = 31
}

/// What the start-up stack says about the program itself.
public struct ProgramFacts: Sendable {
    /// `e_entry`.
    public var entry: UInt32
    /// Where the program header table is in memory (0 when no loaded segment holds it).
    public var programHeaders: UInt32
    /// How many program headers there are.
    public var programHeaderCount: UInt32

    /// The facts as the ELF loader found them.
    public init(entry: UInt32, programHeaders: UInt32, programHeaderCount: UInt32) {
        (self.entry, self.programHeaders, self.programHeaderCount) = (entry, programHeaders, programHeaderCount)
    }

    /// Where the table at file offset `tableOffset` lands: in the loaded segment whose file bytes
    /// hold it (`segments` as offset, address and file size), or 0.
    public static func programHeaderAddress(tableOffset: UInt32, count: UInt32,
                                            segments: [(offset: UInt32, address: UInt32, fileSize: UInt32)]) -> UInt32 {
        let size = UInt64(count) * 32
        for segment in segments where segment.offset <= tableOffset
            && UInt64(tableOffset) + size <= UInt64(segment.offset) + UInt64(segment.fileSize) {
            return segment.address &+ (tableOffset - segment.offset)
        }
        return 0
    }
}

/// Linux's initial process stack (`X:876`).
public enum InitialStack {
    /// The most bytes the vector and its strings may take.
    public static let maximumSize = 3 * pageSize

    /// The processor's capabilities as `AT_HWCAP` reports them: cpuid leaf 1's edx.
    public static var hardwareCapabilities: UInt32 { Core.identification(leaf: 1).edx }

    /// The stack for `program`, ending at `top`: its lowest address (the first `esp`) and its bytes,
    /// from there up to `top`; nil when it would not fit in `maximumSize` (`E2BIG`).
    public static func build(top: UInt32, arguments: [String], environment: [String], executable: String,
                             program: ProgramFacts, random: [UInt8]) -> (stackPointer: UInt32, bytes: [UInt8])? {
        precondition(random.count == 16, "initial stack: AT_RANDOM is 16 bytes")
        // Refuse an oversized list before any arithmetic on addresses, so nothing can wrap.
        let stringBytes = (arguments + environment + [executable]).reduce(0) { $0 + $1.utf8.count + 1 }
        guard stringBytes <= maximumSize else { return nil }
        // The strings first, from the top down; each remembers its address.
        var strings: [UInt8] = []
        var cursor = top
        func place(_ bytes: [UInt8]) -> UInt32 {
            cursor &-= UInt32(bytes.count)
            strings = bytes + strings
            return cursor
        }
        let execfn = place(Array(executable.utf8) + [0])
        let environmentPointers = environment.reversed().map { place(Array($0.utf8) + [0]) }.reversed()
        let argumentPointers = arguments.reversed().map { place(Array($0.utf8) + [0]) }.reversed()
        let platform = place(Array("i686".utf8) + [0])
        let randomAddress = place(random)
        guard Int(top - cursor) <= maximumSize else { return nil }
        let auxiliary: [(AuxiliaryKey, UInt32)] = [
            (.hardwareCapabilities, hardwareCapabilities), (.pageSize, UInt32(pageSize)), (.clockTicks, 100),
            (.programHeaders, program.programHeaders), (.programHeaderSize, 32),
            (.programHeaderCount, program.programHeaderCount), (.base, 0), (.flags, 0), (.entry, program.entry),
            (.uid, 0), (.euid, 0), (.gid, 0), (.egid, 0), (.secure, 0), (.random, randomAddress),
            (.hardwareCapabilities2, 0), (.executableName, execfn), (.platform, platform), (.end, 0),
        ]
        let words: [UInt32] = [UInt32(arguments.count)] + argumentPointers + [0] + environmentPointers + [0]
            + auxiliary.flatMap { [$0.0.rawValue, $0.1] }
        let vectorSize = UInt32(words.count * 4)
        let stackPointer = (cursor - vectorSize) & ~15
        guard Int(top - stackPointer) <= maximumSize else { return nil }
        let padding = [UInt8](repeating: 0, count: Int(cursor - stackPointer - vectorSize))
        return (stackPointer, words.flatMap { littleEndian($0) } + padding + strings)
    }
}
/*:*/
