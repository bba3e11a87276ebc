/*X:890 Faults: a fresh page, or a signal.

Every trip into the kernel ends in one of two ways. Either the kernel fixes
what went wrong and returns to the very instruction that trapped (or, for a
system call, to the one after it), or the program is beyond help and dies.

Page faults are the interesting case. The CPU has left the faulting address
in cr2 and pushed an error code whose bits say what happened:

```
 bit 2  U  the access came from ring 3
 bit 1  W  it was a write (clear: a read or an instruction fetch)
 bit 0  P  the page was present, so a permission check failed;
           clear: there was no page at all
```

A not-present fault (P clear) inside the heap or the stack is the program
using memory it was promised (`X:865`): the runner maps a zeroed, writable
page there and returns, and the CPU retries the instruction, which now
succeeds. This is *demand paging*, and with it a program's memory costs
only what it touches. Every other page fault (a wild pointer, a write to the
text segment, a read of the kernel's half) earns `SIGSEGV`, and every other
exception the signal Linux sends for it, which ends the program:

| exception | signal |
| --- | --- |
| #DE divide error (0) | `SIGFPE` |
| #DB debug (1), #BP `int3` (3) | `SIGTRAP` |
| #OF `into` (4), #BR `bound` (5), #NP (11), #SS (12), #GP (13), #PF (14) | `SIGSEGV` |
| #UD invalid opcode (6) | `SIGILL` |
| #NM no FPU (7) | `SIGILL` (see below) |
| #MF (16), #XM (19) floating-point errors | `SIGFPE` |
| #AC alignment check (17) | `SIGBUS` |

Linux handles #NM by giving the program the FPU; our machine has no FPU at
all, so an FPU instruction cannot be completed, and the runner reports it as
an instruction the machine does not have. The guest programs are built with
`-mgeneral-regs-only` and never meet this row.

Before `iret()` one chore remains, easy to forget and fatal when forgotten:
for the exceptions that push an error code, the error code sits on top of
the kernel stack, above the `eip` that `iret` expects. Every x86 trap
handler pops it first, and so does `returnToUser()`.
*/

extension ProgramRunner {
    /// Handles one entry into the kernel, then returns to the program unless it ended.
    func enterKernel(vector: UInt8, errorCode: UInt32?) {
        switch vector {
        case Self.systemCallVector:
            systemCall()
        case ExceptionVector.pageFault.rawValue:
            pageFault(errorCode: PageFaultErrorCode(rawValue: errorCode ?? 0))
        default:
            kill(Self.signal(for: vector), reason: "exception \(vector)" + (errorCode.map { " error \(hex($0))" } ?? "")
                + " at eip \(hex32(userEIP(aboveErrorCode: errorCode != nil)))")
        }
        if termination == nil { returnToUser(discardingErrorCode: errorCode != nil) }
    }

    /// The signal Linux sends for an exception at ring 3.
    static func signal(for vector: UInt8) -> Signal {
        switch vector {
        case 0, 16, 19: .sigfpe
        case 1, 3: .sigtrap
        case 6, 7: .sigill
        case 17: .sigbus
        case 4, 5, 11, 12, 13, 14: .sigsegv
        default: .sigkill  // a vector ring 3 cannot raise: the machine is confused
        }
    }

    private func pageFault(errorCode: PageFaultErrorCode) {
        let address = machine.cpu.cr2
        if !errorCode.contains(.protection), space.growsOnDemand(address) {
            if mapDemandPage(at: address) {
                trace?("kernel: page fault at \(hex32(address.rawValue)): mapped a fresh page")
                return
            }
            kill(.sigkill, reason: "out of memory for the page at \(address)")
            return
        }
        let eip = userEIP(aboveErrorCode: true)
        kill(.sigsegv, reason: "#PF at \(hex32(address.rawValue)) (\(errorCode)) at eip \(hex32(eip))")
    }

    /// Maps a zeroed, writable user page at `address` if the heap or stack may
    /// grow there; returns whether the page is now mapped.
    func mapDemandPage(at address: GuestVirtualAddress) -> Bool {
        guard space.growsOnDemand(address) else { return false }
        do {
            _ = try space.map(address, flags: [.user, .writable])
        } catch {
            return false
        }
        demandFaults &+= 1
        return true
    }

    private func kill(_ signal: Signal, reason: String) {
        trace?("kernel: \(reason): killed by \(signal)")
        termination = .killed(signal)
        faultDescription = reason
    }

    /// The program's eip, saved in the frame on the kernel stack: on top, or
    /// just above the error code.
    private func userEIP(aboveErrorCode: Bool) -> UInt32 {
        let slot = GuestVirtualAddress(machine.cpu.esp) &+ (aboveErrorCode ? 4 : 0)
        return (try? machine.readVirtual32(slot, privilege: .supervisor)) ?? 0
    }

    /// Pops the error code, if the CPU pushed one, and leaves through `iret()`.
    private func returnToUser(discardingErrorCode: Bool) {
        if discardingErrorCode { machine.cpu.esp &+= 4 }
        // The frame is the one the CPU pushed a moment ago, so a fault here is
        // the runner's own bug, reported as a stopped machine.
        if let stop = machine.iret() { termination = .machineStopped(reason: "iret faulted: \(stop)") }
    }
}
/*:*/
