/*H:220 What brought the Guest back: trap dispatch.

When the Switcher returns to the run loop, the Guest's registers page says which vector it trapped
with, and `handleTrap(_:)` decides what it means (lguest's `lguest_arch_handle_trap()`):

| vector | what the Host does |
| ------ | ------------------ |
| 13, #GP | if the Guest kernel tried `in` or `out`, emulate it (`H:225`); otherwise reflect it |
| 14, #PF | let the shadow page tables fix it (`H:330`); if they cannot, tell the Guest: cr2 into `lguest_data`, and reflect |
| 7, #NM | the Guest set the task-switched bit and touched the FPU: reflect, for its lazy FPU switch (`G:049`) |
| 0x1F | a hypercall (`H:100`) |
| 0xEF | the Host's own timer took the processor back (`S:120`): nothing to do |
| anything else | reflect it to the Guest's handler; a Guest with no handler for it is killed |

"Reflect" means deliver the trap to the Guest's own handler as the processor would have, had the Guest
been running on bare hardware (`H:215`). A Guest that has set no handler for a trap it caused is beyond
help, and dies with the vector and the address in its obituary. */

import LguestABI
import Machine
import Switcher

extension Guest {
    /// Handles what the Switcher brought back.
    func handleTrap(_ trap: Trap) throws(GuestViolation) {
        statistics.traps &+= 1
        switch trap {
        case let .vector(vector): try handleVector(vector)
        case let .machineStopped(reason): throw GuestViolation("machine: \(reason)")
        case let .kernelLost(reason): throw GuestViolation(reason)
        case .stopped:
            if isAlive { throw GuestViolation("switcher: guest stopped with no reason") }
        }
    }

    /// Handles a trap through the Switcher's stub for `vector`.
    func handleVector(_ vector: UInt8) throws(GuestViolation) {
        report(.trap(vector: vector))
        let errorCode = registerPage[.errorCode]
        switch vector {
        case ExceptionVector.generalProtection.rawValue:
            if errorCode == 0, try emulateInstruction() { return }
            try reflectTrap(vector)
        case ExceptionVector.pageFault.rawValue:
            // The shadow page tables get the first look: most faults are theirs, not the Guest's.
            let address = host.switcher.lastPageFault
            if try pageTables.demandPage(address, PageFaultErrorCode(rawValue: errorCode)) {
                statistics.pageFaultsFixed &+= 1
                report(.pageFault(address: address, fixed: true))
                return
            }
            // A real fault for the Guest: it reads the address from `lguest_data`, not from cr2.
            statistics.pageFaultsReflected &+= 1
            report(.pageFault(address: address, fixed: false))
            if let data = lguestData { try memory.store32(address.rawValue, at: data.advanced(by: LguestData.cr2)) }
            try reflectTrap(vector)
        case hypercallVector:
            try handleHypercall()
        case Switcher.hostTimerVector:
            statistics.hostInterrupts &+= 1
        default:
            // #NM included: the processor raises it only when the Guest asked for cr0.TS, so it is the
            // Guest's to handle (G:049). lguest had to tell the Host's own lazy-FPU traps apart here; we
            // have none, since the world switch never touches the FPU's registers (X:610).
            try reflectTrap(vector)
        }
    }

    /// Delivers trap `vector` to the Guest's handler, or kills a Guest that has none.
    func reflectTrap(_ vector: UInt8) throws(GuestViolation) {
        let registers = registerPage.registers
        guard idt[Int(vector)].isPresent else {
            throw GuestViolation("traps: unhandled trap \(vector) at \(GuestVirtualAddress(registers.eip))")
        }
        try pushFrame(vector: vector, errorCode: vectorHasErrorCode(vector) ? registers.errorCode : nil)
        statistics.trapsReflected &+= 1
    }
    /*:*/

    /*H:225 Emulating `in` and `out`.

    A PC's devices sit on I/O ports, and kernels poke at them, if only to find out what is there. The Guest
    kernel runs with an I/O privilege level of 0, so every `in` and `out` it tries faults with a general
    protection fault, error code 0. The Host decodes the instruction at the Guest's eip: real bytes, read
    through the Guest's page tables, because it is the Guest's instruction. It answers the way an empty
    ISA bus does: an `in` reads all ones (nobody drives the lines), an `out` goes nowhere. Then it moves eip
    past the instruction, and the Guest carries on none the wiser. Device probes that read 0xFF find
    nothing and give up, which is exactly what we want.

    The forms, as the Guest's compiler would emit them:

    | bytes | instruction | length |
    | ----- | ----------- | ------ |
    | e4 ib / e5 ib | `in $port,%al` / `%eax` | 2 |
    | e6 ib / e7 ib | `out %al` / `%eax,$port` | 2 |
    | ec / ed | `in (%dx),%al` / `%eax` | 1 |
    | ee / ef | `out %al` / `%eax,(%dx)` | 1 |

    A 0x66 prefix makes the 32-bit forms 16-bit; it adds one byte to the length. Only the Guest *kernel*
    is emulated: a user program that tries `in` gets its #GP reflected, as it would on a real kernel. */

    /// Emulates the `in` or `out` at the Guest kernel's eip; false if it is not one.
    func emulateInstruction() throws(GuestViolation) -> Bool {
        var registers = registerPage.registers
        guard registers.cs & 3 == UInt32(guestKernelRing) else { return false }
        let eip = GuestVirtualAddress(registers.eip)
        var length: UInt32 = 0
        // The instruction's first byte, through the Guest's own page tables: it is the Guest's code.
        var opcode = try instructionByte(at: eip)
        var operandSize16 = false
        if opcode == 0x66 {
            operandSize16 = true
            length = 1
            opcode = try instructionByte(at: eip.advanced(by: 1))
        }
        let isIn: Bool
        switch opcode {
        case 0xE4, 0xE5: (isIn, length) = (true, length + 2)
        case 0xE6, 0xE7: (isIn, length) = (false, length + 2)
        case 0xEC, 0xED: (isIn, length) = (true, length + 1)
        case 0xEE, 0xEF: (isIn, length) = (false, length + 1)
        default: return false
        }
        // An `in` reads all ones into the part of eax it writes; an `out` is simply dropped.
        if isIn {
            let byteWide = opcode & 1 == 0
            let mask: UInt32 = byteWide ? 0xFF : (operandSize16 ? 0xFFFF : 0xFFFF_FFFF)
            registers.eax |= mask
        }
        // Skip the instruction, as if the Guest had executed it.
        registers.eip = registers.eip &+ length
        registerPage.registers = registers
        statistics.instructionsEmulated &+= 1
        report(.emulated)
        return true
    }

    /// Reads one byte of the Guest's code at virtual `address`, through its own page tables.
    private func instructionByte(at address: GuestVirtualAddress) throws(GuestViolation) -> UInt8 {
        try memory.load8(try pageTables.guestPhysical(of: address))
    }
}
/*:*/
