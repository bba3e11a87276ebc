// Fuzz target (b): the fuzz bytes are an ELF file. The loader must refuse a bad one with an
// `ELFImageError`; one it accepts is loaded into a small machine and run for a few thousand
// instructions, which must end in a result, never a crash.

import FuzzSupport
import Machine

/// One fuzz input (exported for libFuzzer's own `main`, which a debug build links).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzBytes(start, count).bytes
    guard let image = try? ELFImage(bytes: bytes) else { return 0 }
    for segment in image.segments { _ = image.fileContents(of: segment).count }
    guard let runner = try? ProgramRunner(image: image, frameCount: 512) else { return 0 }
    _ = runner.run(maxInstructions: 5_000)
    return 0
}

// A release build links this module's own `main`, which hands the same function to libFuzzer.
runFuzzer { start, count in fuzzTestOneInput(start, count) }
