/*X:580 String instructions and rep.

The string instructions are the x86's built-in loops: `movs` copies from ds:esi to es:edi, `stos`
stores al/ax/eax to es:edi, `lods` loads from ds:esi, `cmps` compares the two, and `scas` compares the
accumulator with es:edi. Each moves its pointers on by the operand size, forward, or backward when DF is
set. Only the source may take a segment override; the destination is always es.

With a `rep` prefix the instruction repeats ecx times, which is how `memcpy` and `memset` compile. For
`cmps` and `scas` the prefix also tests ZF after each round: `repe` stops at the first difference and
`repne` at the first match, which is `strlen` and `memchr` in one instruction.

A repeated string instruction is *interruptible*: the CPU may stop between any two iterations with esi,
edi and ecx describing exactly the work left and eip still pointing at the instruction, so that a page
fault or an interrupt in the middle of a megabyte copy can be handled and the copy resumed. This
interpreter does the same: a fault mid-way leaves the registers at the failing iteration, and when the
run's budget runs out between iterations, eip is put back on the instruction, to resume next time.
Single-stepping is the same story told by the hardware itself: with TF set, the trap comes after each
iteration, with eip on the instruction until the last, so a debugger steps through a `rep movsb` one
byte at a time.

The direction flag (DF, bit 10 of EFLAGS) decides which way the pointers walk. `cld` clears it and
`std` sets it; the System V ABI promises it is clear on every function call and return, so compilers
only ever see it clear, and a `memmove` may set it briefly when it must copy an overlapping block from the
top down:

```
  DF = 0 (cld): esi, edi += size          DF = 1 (std): esi, edi -= size

   esi -> [a][b][c][d]                        [a][b][c][d] <- esi
          ----------->                        <-----------
   edi -> [ ][ ][ ][ ]                        [ ][ ][ ][ ] <- edi
```

Here `size` is 1, 2 or 4: the low bit of the opcode picks a byte or a full operand, and a 0x66 prefix
makes the full operand 16 bits. The code computes the step once, as `delta`, and adds it with wrapping
arithmetic, so a backward step is just the addition of `0 - size`.

One cost rule matters for the run loop (`X:600`): the whole repeated instruction is one instruction to
the hardware, but here each extra round spends one tick of the run's budget, so that `rep stosl` over a
megabyte cannot stall virtual time. */

extension Core {
    /// Executes a string instruction (0xA4-0xA7, 0xAA-0xAF), with any rep prefix.
    mutating func stringInstruction(_ opcode: UInt8) throws(Fault) {
        // Operand width from the opcode's low bit, then the step each round takes, signed by DF.
        let width = opcode & 1 == 0 ? 0xFF : operandMask
        let size: UInt32 = width == 0xFF ? 1 : width == 0xFFFF ? 2 : 4
        let delta = cpu.eflags.contains(.direction) ? 0 &- size : size
        let kind = opcode & 0xFE  // the byte form's opcode names the instruction for both widths
        // Without rep the instruction runs exactly once, whatever ecx holds.
        guard repeatPrefix != 0 else {
            try stringIteration(kind, width, delta)
            return
        }
        // cmps and scas also stop on ZF: repe while equal, repne while different.
        let compares = kind == 0xA6 || kind == 0xAE
        var first = true
        while cpu.ecx != 0 {
            // The first round is paid for by the instruction itself; each further round costs a tick,
            // and when the budget runs out we stop between rounds with eip on the instruction.
            if !first {
                guard remaining != 0 else {
                    cpu.eip = instructionStart
                    return
                }
                remaining &-= 1
                repeatTicks &+= 1
            }
            first = false
            try stringIteration(kind, width, delta)
            cpu.ecx &-= 1
            if compares && (repeatPrefix == 0xF3) != zeroFlag { break }
            // Single-stepping traps after every round, not once at the end: eip stays on the
            // instruction while rounds remain, and the run loop raises the #DB (X:500).
            if cpu.eflags.rawValue & EFLAGS.trap.rawValue != 0 && cpu.ecx != 0 {
                cpu.eip = instructionStart
                return
            }
        }
    }

    /// One round of a string instruction; pointers move only after its memory accesses succeed.
    @inline(__always)
    private mutating func stringIteration(_ kind: UInt8, _ width: UInt32, _ delta: UInt32) throws(Fault) {
        // The destination is always es:edi, whatever segment override the instruction carries.
        let destination = segmentBases[SegmentRegisterName.es.rawValue] &+ cpu.edi
        switch kind {
        case 0xA4:  // movs
            try writeMemory(destination, try readMemory(dataLinear(cpu.esi), width), width)
            cpu.esi &+= delta
            cpu.edi &+= delta
        case 0xA6:  // cmps: flags of source - destination, as cmp would set them
            let source = try readMemory(dataLinear(cpu.esi), width)
            let target = try readMemory(destination, width)
            setFlags(.sub, source &- target, source, target, width)
            cpu.esi &+= delta
            cpu.edi &+= delta
        case 0xAA:  // stos
            try writeMemory(destination, cpu.eax & width, width)
            cpu.edi &+= delta
        case 0xAC:  // lods
            writeRegister(0, try readMemory(dataLinear(cpu.esi), width), width)
            cpu.esi &+= delta
        default:  // 0xAE, scas: flags of accumulator - destination
            let accumulator = readRegister(0, width)
            let target = try readMemory(destination, width)
            setFlags(.sub, accumulator &- target, accumulator, target, width)
            cpu.edi &+= delta
        }
    }
}
/*:*/
