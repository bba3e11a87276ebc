/*X:625 Before an x87 instruction runs: #NM, then #MF.

Two checks stand between an escape opcode and its work, and their order is the hardware's.

**Is the FPU there at all?** CR0 has two bits for that. EM ("emulate") says there is no FPU: every x87
instruction raises #NM, *device not available*, vector 7, so that a kernel could emulate it in software.
TS ("task switched") says the FPU holds somebody else's numbers: the processor sets it on a hardware task
switch and kernels set it by hand on a software one, and again every x87 instruction raises #NM. This is
the hook for *lazy FPU switching*: the kernel saves and loads FPU state only when a process actually
uses the FPU after a switch (`G:040`, `H:210`). The #NM comes before anything else, before the operand
is read and before any pending exception, so the kernel's handler sees the instruction untouched and
simply restarts it. `wait` (`fwait`) is the exception: it raises #NM only when TS *and* MP ("monitor
coprocessor") are both set, and ignores EM.

**Is an exception pending?** When an operation raises an exception that the control word leaves
*unmasked*, the x87 does not interrupt at once. It sets the flag and ES, and the next *waiting* x87
instruction (or `fwait`) raises #MF, *floating-point error*, vector 16, with eip at that later
instruction. That delay is a fossil of the separate coprocessor chip, which ran in parallel with the
CPU and could only report an error when the CPU next spoke to it. A masked exception (the default)
only sets its sticky flag and delivers the IEEE default result: a NaN, an infinity, a rounded value.
PC-compatible machines with CR0.NE clear route the error through an external interrupt line instead
(IRQ 13); this machine always raises #MF, as Linux asks for by setting NE.

After the checks, a non-control instruction records where it was (FIP, FCS, FOP) and its memory operand
(FDP, FDS), the pointers `fnstenv` reports to an exception handler. The operand's segment is taken as ds
or the override prefix; programs here run with flat segments, so the offsets are the linear addresses. */

import CHostFPU

extension Core {
    /// Executes the x87 instruction whose escape byte (0xD8-0xDF) was just fetched.
    mutating func executeFPU(_ escapeByte: UInt8) throws(Fault) {
        // The ModR/M byte names the instruction; peek at it before decoding the operand.
        let start = cpu.eip
        let modrm = try fetch8()
        cpu.eip = start
        let (_, operand) = try decodeModRM()
        let escape = escapeByte & 7
        let instruction = FPUInstruction.decode(escape: escape, modrm: modrm)
        if instruction == .undefined { throw .invalidOpcode }
        // X:625: #NM first, then a pending exception for a waiting instruction.
        if cpu.cr0.contains(.emulation) || cpu.cr0.contains(.taskSwitched) { throw .exception(7, errorCode: nil) }
        if instruction.isWaiting && fpu.hasPendingException { throw .exception(16, errorCode: nil) }
        if !instruction.isControl { recordFPUPointers(escape: escape, modrm: modrm, operand: operand) }
        try perform(instruction, escape: escape, modrm: modrm, operand: operand)
    }

    /// wait/fwait: #NM when CR0.MP and CR0.TS are both set; #MF when an unmasked exception is pending.
    mutating func waitForFPU() throws(Fault) {
        if cpu.cr0.isSuperset(of: [.monitorCoprocessor, .taskSwitched]) { throw .exception(7, errorCode: nil) }
        if fpu.hasPendingException { throw .exception(16, errorCode: nil) }
    }

    /// Remembers the instruction (and its memory operand) for `fnstenv`, as non-control ones do.
    private mutating func recordFPUPointers(escape: UInt8, modrm: UInt8, operand: Operand) {
        fpu.instructionPointer = instructionStart
        fpu.codeSelector = cpu.cs.selector.rawValue
        fpu.opcode = UInt16(escape) << 8 | UInt16(modrm)
        guard operand.isMemory else { return }
        let segment = segmentOverride >= 0 ? segmentOverride : SegmentRegisterName.ds.rawValue
        fpu.dataPointer = operand.linear &- segmentBases[segment]
        fpu.dataSelector = cpu[SegmentRegisterName(rawValue: segment) ?? .ds].selector.rawValue
    }

    /*X:627 Carrying it out.

    Once the checks have passed, `perform` sorts the decoded instruction into a few kinds. Most of the
    x87 runs on the host's own FPU (`X:630`), with the guest's state loaded around it; the cases here are
    the ones that need the guest's integer side too. `fcmov` asks the guest's flags whether to move;
    `fcomi` writes its answer into the guest's ZF, PF and CF, so the lazy flags are made real first; and
    `fnstsw %ax` writes a register. The environment and state instructions go through guest memory with
    their own layouts (`X:640`), and only in their 32-bit forms: a 16-bit one is refused with #UD rather
    than done wrong. */
    /// Carries out a decoded instruction whose checks have passed.
    private mutating func perform(_ instruction: FPUInstruction, escape: UInt8, modrm: UInt8,
                                  operand: Operand) throws(Fault) {
        switch instruction {
        case let .host(read, written, _, _):
            try executeOnHost(escape: escape, modrm: modrm, operand: operand, read: read, written: written)
            // fninit also forgets the pointers, which live outside the image.
            if escape == 3 && modrm == 0xE3 { fpu.clearPointers() }
        case let .conditionalMove(condition, register):
            let move = self.condition(condition)
            try executeOnHost(escape: 2, modrm: 0xC0 | register, operand: operand, read: 0, written: 0, carry: move)
        case .compareToFlags:
            let hostFlags = try executeOnHost(escape: escape, modrm: modrm, operand: operand, read: 0, written: 0)
            // fcomi writes ZF, PF and CF as fcom writes C3, C2 and C0, and clears OF, SF and AF.
            materializeFlags()
            let result = EFLAGS(rawValue: hostFlags).intersection([.zero, .parity, .carry])
            cpu.eflags = cpu.eflags.subtracting(.status).union(result)
        case .storeStatusToAX:
            writeRegister(0, UInt32(fpu.status.rawValue), 0xFFFF)
        case .loadEnvironment, .storeEnvironment, .restoreState, .saveState:
            // The 16-bit formats (with an operand-size prefix) are not implemented: refuse them.
            guard operandMask == 0xFFFF_FFFF else { throw .invalidOpcode }
            if instruction == .loadEnvironment || instruction == .storeEnvironment {
                try transferEnvironment(load: instruction == .loadEnvironment, escape: escape, modrm: modrm, operand: operand)
            } else {
                try transferState(instruction, at: operand.linear, user: true)
            }
        case .undefined:
            throw .invalidOpcode
        }
    }
}

/// The memory operand as the host's instruction sees it: 32 bytes, enough for an environment.
struct FPUOperandBuffer {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
}

extension FPUState {
    /// Zeroes the instruction and operand pointers, as `fninit` does.
    mutating func clearPointers() {
        instructionPointer = 0
        codeSelector = 0
        opcode = 0
        dataPointer = 0
        dataSelector = 0
    }
}
/*:*/

/*X:630 The arithmetic: borrowing the host's x87.

How does an emulator get floating point *bit-exact*? The x87 is full of corners: results rounded to
24, 53 or 64 bits in any of four directions, denormals, two kinds of NaN and the rule for which one wins,
pseudo-denormals, stack faults, the exact digits of `fsin` and `fyl2x`, and the half-written results of
an unmasked overflow. Reimplementing all of it in Swift is a fine project for a semester and a fine
way to be subtly wrong.

This machine runs on an x86-64 host, and every x86-64 processor still carries a complete x87. So each
arithmetic instruction is executed **by the host's x87**, on the emulated state: the little C target
`CHostFPU` loads the 108-byte image into the real FPU with `frstor`, executes *the very same two
instruction bytes* the program contained (with the memory operand redirected to a 32-byte buffer), and
stores the result with `fnsave`, which also leaves the host's FPU clean. Rounding mode, precision control,
exception flags and condition codes come out exactly as the processor makes them, because the processor
made them. The guest's ModR/M byte is rewritten to mod 00, r/m 000 (`(%rax)` on the host), and the C
side holds one precompiled case per encoding, 576 of them, rather than generating code at run time.

The Swift side keeps every promise the emulator makes. Memory operands are read through the MMU before
the instruction and written after it, so a page fault (for a store: a write fault, tested before
anything runs) restarts the instruction with the state untouched. Only encodings that
`FPUInstruction.decode` accepts ever reach the host, and a waiting instruction only when nothing is
pending, so the host's processor never raises an exception of its own: a pending guest exception stays
a bit in the guest's status word until the guest's next waiting instruction turns it into #MF
(`X:625`). `fcmov` reads the guest's flags, so it reaches the host as `fcmovb` with the host's carry
flag set to the guest's condition; `fcomi` writes flags, so the host's come back in the answer.

One promise is about the host rather than the guest: `hostfpu_execute` hands back the host's own
control word exactly as it found it, and `Core.hostControlWord` lets the tests check that after every
hostile state they load. The first version read the flags with `pushf`, and at -O2 that push landed
on the spot below the stack pointer where the compiler kept the saved control word: every x87
instruction left the host with all exceptions unmasked. Nothing in Swift noticed, since it computes
with SSE, until the differential fuzzer's own `logl` trapped. The C shim now catches the flags with
`setc`, `setp` and `setz`, and touches no stack inside its assembly.

The price of honesty is stated plainly: the transcendental instructions (`fsin`, `fcos`, `fptan`,
`fpatan`, `f2xm1`, `fyl2x`, `fyl2xp1`, `fsincos`) give *the host processor's* answers. Intel and AMD
processors round some of those differently in the last bit, so a program's `fsin` here matches the same
program run natively on the same machine, which is what the differential tests check (`X:895`), and
not necessarily on another vendor's chip. Every other instruction is specified exactly by the manual
and agrees everywhere. */

extension Core {
    /// The host's own x87 control word: the FPU shim leaves it as it found it (`X:630`).
    static var hostControlWord: UInt16 { hostfpu_control_word() }

    /// Executes one x87 instruction on the host (`X:630`), moving `read`/`written` bytes of memory
    /// operand in or out. Returns the host's flags after it (for fcomi).
    @discardableResult
    private mutating func executeOnHost(escape: UInt8, modrm: UInt8, operand: Operand, read: Int, written: Int,
                                        carry: Bool = false) throws(Fault) -> UInt32 {
        var buffer = FPUOperandBuffer()
        if read > 0 { try copyIn(&buffer, from: operand.linear, count: read, user: true) }
        // A store must fault (with the write bit) before the instruction changes the FPU. The buffer
        // starts as the memory's bytes: a store that an unmasked exception cancels leaves them as they were.
        if written > 0 {
            try probeWrite(operand.linear, count: written, user: true)
            try copyIn(&buffer, from: operand.linear, count: written, user: true)
        }
        let encoding = UInt16(escape) << 8 | UInt16(operand.isMemory ? modrm & 0x38 : modrm)
        let flags = fpu.image.withHostImage { image in
            withUnsafeMutableBytes(of: &buffer.words) { bytes in
                hostfpu_execute(image, encoding, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), carry ? 1 : 0)
            }
        }
        if written > 0 { try copyOut(buffer, to: operand.linear, count: written, user: true) }
        return flags
    }

/*:*/

/*X:635 Operands in and out of guest memory.

The host's instruction reads and writes a 32-byte buffer; these helpers fill it from guest memory
before and copy it back after, always through the MMU with the access's privilege. `writeBytes` proves
every page writable first, so a store that faults changes nothing. `fldenv` and `fnstenv` run on the
host too, so that the processor decides what loading or storing an environment does to the state; only
their pointer fields, bytes 12 to 27, are exchanged for the guest's own. */

    /// fldenv and fnstenv (X:640), executed on the host with the guest's pointers moved in or out.
    private mutating func transferEnvironment(load: Bool, escape: UInt8, modrm: UInt8, operand: Operand) throws(Fault) {
        let size = FPUImage.environmentSize
        var buffer = FPUOperandBuffer()
        if load {
            try copyIn(&buffer, from: operand.linear, count: size, user: true)
        } else {
            try probeWrite(operand.linear, count: size, user: true)
        }
        fpu.image.withHostImage { image in
            withUnsafeMutableBytes(of: &buffer.words) { bytes in
                _ = hostfpu_execute(image, UInt16(escape) << 8 | UInt16(modrm & 0x38),
                                    bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), 0)
            }
        }
        // The environment's bytes 12-27 are the pointers: the guest's, never the host's.
        if load {
            var incoming = FPUImage()
            withUnsafeMutableBytes(of: &incoming.words) { raw in
                withUnsafeBytes(of: buffer.words) { for index in 0..<size { raw[index] = $0[index] } }
            }
            fpu.takePointers(from: incoming)
        } else {
            var bytes = withUnsafeBytes(of: buffer.words) { Array($0.prefix(size)) }
            let guest = fpu.environmentBytes(count: size)
            for index in 12..<size { bytes[index] = guest[index] }
            try writeBytes(bytes, at: operand.linear, user: true)
        }
    }

    /// Reads `count` (at most 32) bytes at `linear` into `buffer`.
    mutating func copyIn(_ buffer: inout FPUOperandBuffer, from linear: UInt32, count: Int, user: Bool) throws(Fault) {
        var bytes = [UInt8](repeating: 0, count: count)
        try readBytes(&bytes, at: linear, user: user)
        withUnsafeMutableBytes(of: &buffer.words) { raw in
            for index in 0..<min(count, raw.count) { raw[index] = bytes[index] }
        }
    }

    /// Writes the first `count` (at most 32) bytes of `buffer` at `linear`.
    mutating func copyOut(_ buffer: FPUOperandBuffer, to linear: UInt32, count: Int, user: Bool) throws(Fault) {
        let bytes = withUnsafeBytes(of: buffer.words) { Array($0.prefix(count)) }
        try writeBytes(bytes, at: linear, user: user)
    }

    /// Reads `bytes.count` bytes at `linear` through the MMU (`copyFromLinear`).
    mutating func readBytes(_ bytes: inout [UInt8], at linear: UInt32, user: Bool) throws(Fault) {
        do { bytes = try copyFromLinear(linear, count: bytes.count, user: user) } catch { throw .pageFault(error) }
    }

    /// Faults (as a write) unless every page of `count` bytes at `linear` is writable.
    mutating func probeWrite(_ linear: UInt32, count: Int, user: Bool) throws(Fault) {
        do {
            var page = linear & ~pageOffsetMask
            let last = (linear &+ UInt32(count - 1)) & ~pageOffsetMask
            _ = try translate(linear, .write, user: user)
            while page != last {
                page &+= UInt32(pageSize)
                _ = try translate(page, .write, user: user)
            }
        } catch { throw .pageFault(error) }
    }

    /// Writes `bytes` at `linear`, all pages checked first so a fault leaves memory unchanged
    /// (`copyToLinear`).
    mutating func writeBytes(_ bytes: [UInt8], at linear: UInt32, user: Bool) throws(Fault) {
        do { try copyToLinear(bytes, at: linear, user: user) } catch { throw .pageFault(error) }
    }
}
/*:*/
