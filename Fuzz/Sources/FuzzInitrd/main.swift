// Fuzz target (c): the fuzz bytes are an initial ramdisk, as the Guest reads it. Decoding must give
// files or an `InitrdError`; files it gives, written again by the Launcher's encoder, must decode to
// the same files.

import FuzzSupport
import Guest

/// One fuzz input (exported for libFuzzer's own `main`, which a debug build links).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard case let .success(files) = CPIOArchive.decode(FuzzBytes(start, count).bytes) else { return 0 }
    guard case let .success(again) = CPIOArchive.decode(CPIOArchive.encode(files)), again == files else {
        fatalError("fuzz: initrd files did not survive encoding again")
    }
    return 0
}

// A release build links this module's own `main`, which hands the same function to libFuzzer.
runFuzzer { start, count in fuzzTestOneInput(start, count) }
