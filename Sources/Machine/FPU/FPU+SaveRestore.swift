/*X:640 Saving and restoring the whole FPU.

A kernel that gives each process its own FPU must be able to move all of the x87's state to memory and
back. The i386 has three generations of instructions for it, and this machine implements the two a
32-bit kernel uses, plus the environment-only pair:

* `fnstenv` / `fldenv` (D9 /6, D9 /4): the 28-byte environment only, control, status and tag words and
  the pointers. `fnstenv` then masks every exception, so that a handler can compute safely.
* `fnsave` / `frstor` (DD /6, DD /4): the environment and the eight registers, 108 bytes; `fnsave` then
  re-initializes the FPU as `fninit` does. This is the image the machine keeps anyway (`X:615`), so the
  instructions are copies, with the guest's pointers patched in.
* `fxsave` / `fxrstor` (0F AE /0, 0F AE /1), from the Pentium II on: 512 bytes at a 16-byte-aligned
  address (#GP otherwise), with an *abridged* tag word of one bit per register (1 = occupied), each
  register in a 16-byte slot, and room for the SSE registers. `fxsave` leaves the FPU as it was, which is
  why it is the faster one for a context switch. This CPU has FXSR but no SSE, like a Pentium II: the
  MXCSR fields are written as zero and ignored on restore, and the XMM area is neither written nor read.

Whatever comes in from memory is passed once through the host's own `fldenv`, or its `frstor` and
`fnsave` (`hostfpu_normalize`), so the state is kept the way the processor keeps it: the tag word recomputed from the registers'
contents, the control word's reserved bits as the hardware forces them. A guest cannot put the FPU into
a state the processor could not be in.

The 16-bit layouts (the same instructions with an operand-size prefix) are refused with #UD: no 32-bit
compiler or kernel uses them. */

import CHostFPU

/// The three formats in which the whole FPU state moves to and from memory.
public enum FPUSaveFormat: Sendable {
    /// `fnsave`/`frstor`: 108 bytes; saving re-initializes the FPU.
    case fnsave
    /// `fxsave`/`fxrstor`: 512 bytes, 16-byte aligned; saving leaves the FPU as it is.
    case fxsave

    /// The bytes of memory the format occupies.
    public var size: Int { self == .fnsave ? FPUImage.size : 512 }
}

extension Core {
    /// frstor or fnsave at `linear` (`X:640`).
    mutating func transferState(_ instruction: FPUInstruction, at linear: UInt32, user: Bool) throws(Fault) {
        switch instruction {
        case .saveState:
            try saveFPU(.fnsave, at: linear, user: user)
        case .restoreState:
            try restoreFPU(.fnsave, at: linear, user: user)
        default:
            preconditionFailure("transferState: \(instruction) moves no state")
        }
    }

    /// Saves the whole FPU at `linear` in `format`; fnsave then re-initializes it.
    mutating func saveFPU(_ format: FPUSaveFormat, at linear: UInt32, user: Bool) throws(Fault) {
        switch format {
        case .fnsave:
            try writeBytes(fpu.environmentBytes(count: FPUImage.size), at: linear, user: user)
            fpu = FPUState()
        case .fxsave:
            guard linear & 15 == 0 else { throw .generalProtection(0) }
            try writeBytes(fpu.fxsaveBytes(), at: linear, user: user)
        }
    }

    /// Loads the whole FPU from `format` at `linear`.
    mutating func restoreFPU(_ format: FPUSaveFormat, at linear: UInt32, user: Bool) throws(Fault) {
        if format == .fxsave, linear & 15 != 0 { throw .generalProtection(0) }
        // Only the x87 part of an fxsave area matters to this CPU: 32 bytes of header, 8 × 16 of registers.
        var bytes = [UInt8](repeating: 0, count: format == .fnsave ? FPUImage.size : 160)
        try readBytes(&bytes, at: linear, user: user)
        if format == .fnsave { fpu.load(environment: bytes) } else { fpu.load(fxsave: bytes) }
    }

    /// fxsave and fxrstor (0F AE /0 and /1) at ring 3: #NM under CR0.EM or CR0.TS, like any x87 use.
    mutating func executeFXSaveRestore(restore: Bool, at operand: Operand) throws(Fault) {
        guard operand.isMemory else { throw .invalidOpcode }
        if cpu.cr0.contains(.emulation) || cpu.cr0.contains(.taskSwitched) { throw .exception(7, errorCode: nil) }
        if restore { try restoreFPU(.fxsave, at: operand.linear, user: true) } else { try saveFPU(.fxsave, at: operand.linear, user: true) }
    }
}

/*:*/

/*X:642 The layouts, byte by byte.

The FNSAVE image is the stored state itself, so its bytes need only the pointers patched in. The FXSAVE
area is built field by field from the table in `X:640`, and read back the same way; its abridged tag
word becomes a full one with 00 for every occupied register, and the normalization pass through the
host's FPU then computes the true tags from the registers' contents. */

extension FPUState {
    /// The first `count` bytes of the FNSAVE image, with the guest's pointers.
    func environmentBytes(count: Int) -> [UInt8] {
        let image = imageForGuest()
        return withUnsafeBytes(of: image.words) { Array($0.prefix(count)) }
    }

    /// Replaces the first `bytes.count` bytes of the image (the environment, or all 108) and
    /// normalizes the result through the host's FPU.
    mutating func load(environment bytes: [UInt8]) {
        var incoming = image
        withUnsafeMutableBytes(of: &incoming.words) { raw in
            for index in 0..<min(bytes.count, FPUImage.size) { raw[index] = bytes[index] }
        }
        takePointers(from: incoming)
        image = incoming
        image.withHostImage { hostfpu_normalize($0) }
    }

    /// The 512-byte FXSAVE area (X:640); bytes 160-511, the SSE area, are left as zeros.
    func fxsaveBytes() -> [UInt8] {
        var area = [UInt8](repeating: 0, count: 512)
        func put<T: FixedWidthInteger>(_ value: T, _ offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { for (i, byte) in $0.enumerated() { area[offset + i] = byte } }
        }
        put(control.rawValue, 0)
        put(status.rawValue, 2)
        put(abridgedTags, 4)
        put(opcode & 0x7FF, 6)
        put(instructionPointer, 8)
        put(codeSelector, 12)
        put(dataPointer, 16)
        put(dataSelector, 20)
        for index in 0..<8 {
            let value = register(index)
            put(value.significand, 32 + 16 * index)
            put(value.signAndExponent, 40 + 16 * index)
        }
        return area
    }

    /// One bit per physical register, set when it is occupied: the FXSAVE form of the tag word.
    var abridgedTags: UInt8 {
        (0..<8).reduce(UInt8(0)) { tags, physical in isOccupied(physical: physical) ? tags | 1 << UInt8(physical) : tags }
    }

    /// Loads the x87 part (the first 160 bytes) of an FXSAVE area.
    mutating func load(fxsave area: [UInt8]) {
        func get<T: FixedWidthInteger>(_ offset: Int, _ type: T.Type) -> T {
            area.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        var next = FPUState()
        next.control = FPUControlWord(rawValue: get(0, UInt16.self))
        next.status = FPUStatusWord(rawValue: get(2, UInt16.self))
        // Occupied registers are tagged 00 here; the normalization below computes their true tags.
        let abridged = get(4, UInt8.self)
        let full = (0..<8).reduce(UInt16(0)) { tags, physical in
            abridged & 1 << UInt8(physical) != 0 ? tags : tags | 3 << (2 * UInt16(physical))
        }
        next.image.store(full, at: 8)
        for index in 0..<8 {
            next.setRegister(index, FPURegister(significand: get(32 + 16 * index, UInt64.self),
                                                signAndExponent: get(40 + 16 * index, UInt16.self)))
        }
        next.image.withHostImage { hostfpu_normalize($0) }
        next.opcode = get(6, UInt16.self) & 0x7FF
        next.instructionPointer = get(8, UInt32.self)
        next.codeSelector = get(12, UInt16.self)
        next.dataPointer = get(16, UInt32.self)
        next.dataSelector = get(20, UInt16.self)
        self = next
    }
}
/*:*/

/*X:645 The FPU from outside: for the Switcher and for tests.

Two kinds of code outside the interpreter need the FPU. Tests look at it and set it (`Machine.fpu`). And
a kernel that is not interpreted, such as this book's Swift Guest running "at ring 1" (`P:400`), must
save and load a process's FPU state with the same instructions a real kernel would execute at ring 1:
`Machine.saveFPU(_:at:)` and `Machine.restoreFPU(_:at:)` are those instructions, executed with
supervisor privilege through the MMU, with the same #NM and alignment rules. They report a fault the way
the instruction would raise it, for the caller to deliver. */

extension Machine {
    /// The x87 state. Setting it replaces the whole FPU.
    public var fpu: FPUState {
        get { core.fpu }
        set { core.fpu = newValue }
    }

    /// What stops a supervisor-mode FPU save or restore, as the instruction would raise it.
    public enum FPUTransferFault: Error, Equatable, Sendable {
        /// #NM: CR0.TS or CR0.EM is set.
        case deviceNotAvailable
        /// #GP(0): an fxsave area that is not 16-byte aligned.
        case misaligned
        /// #PF: the area is not mapped (or not writable) for the supervisor.
        case pageFault(PageFault)
    }

    /// Executes `fnsave`/`fxsave` at supervisor privilege: the whole FPU to `address` (`X:645`).
    public func saveFPU(_ format: FPUSaveFormat, at address: GuestVirtualAddress) throws(FPUTransferFault) {
        try supervisorFPU { (core: inout Core) throws(Fault) in try core.saveFPU(format, at: address.rawValue, user: false) }
    }

    /// Executes `frstor`/`fxrstor` at supervisor privilege: the whole FPU from `address` (`X:645`).
    public func restoreFPU(_ format: FPUSaveFormat, from address: GuestVirtualAddress) throws(FPUTransferFault) {
        try supervisorFPU { (core: inout Core) throws(Fault) in try core.restoreFPU(format, at: address.rawValue, user: false) }
    }

    /// Runs a supervisor FPU transfer after the #NM check, translating its fault.
    private func supervisorFPU(_ body: (inout Core) throws(Fault) -> Void) throws(FPUTransferFault) {
        if core.cpu.cr0.contains(.emulation) || core.cpu.cr0.contains(.taskSwitched) { throw .deviceNotAvailable }
        do throws(Fault) { try body(&core) } catch {
            if case let .pageFault(fault) = error { throw .pageFault(fault) }
            throw .misaligned  // the only other fault a transfer raises
        }
    }
}
/*:*/

/*M:060 Where the FPU could go next.

The x87 here is complete for what gcc and a libm emit on a CPU without SSE, and it is exact because
the host's processor does the arithmetic (`X:630`). That choice has edges a student could push on:

* **Other hosts.** `CHostFPU` needs an x86-64 host. On any other processor the machine would need its
  own extended-precision arithmetic: a software floating-point library in Swift (Berkeley SoftFloat is
  the classic model, and it has an 80-bit type) with the x87's rounding to 24 and 53 bits, its NaN
  rules and its stack faults. The differential program `fpu` would then be the judge, since its
  checksums must not change.
* **SSE and SSE2.** `movss`, `addsd`, `cvttsd2si` and friends, the XMM registers in the FXSAVE area
  (bytes 160-287) and MXCSR, then the cpuid bits 25 and 26 (`X:595`); with SSE3, `fisttp`. gcc would
  then be allowed `-msse2 -mfpmath=sse`, and glibc's i686 libm its faster paths.
* **The 16-bit layouts** of `fnstenv` and `fnsave`, for completeness; no 32-bit code needs them.
* **Cheaper restores.** Each `fxrstor` and `frstor` passes the incoming state once through the host's
  FPU to normalize it (`X:640`); a restore of a state the machine itself saved could skip that. The
  figures in BENCHMARKS.md ("Lazy FPU switching") show what a save and a restore cost now. */
/*:*/
