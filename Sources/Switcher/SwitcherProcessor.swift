/*S:210 The processor, as the Guest kernel's Swift code sees it.

`SwitcherProcessor` is the Switcher's implementation of `GuestProcessor` (`P:400`): each method does
what one ring-1 instruction would, on the real processor state, and when the instruction traps, the
trap goes where it would go on hardware.

The pattern repeats in every method: put the processor's eip on the instruction in the kernel text
(`P:500`) that the method stands for, do what the instruction does (which may deliver a trap through
the IDT), and then let the world run (`runWorld`) until the processor is back at ring 1 just past that
instruction. In between, anything may happen: the Host may handle a hypercall, fix a page fault, deliver
an interrupt whose Swift handler runs and returns; only when the instruction has "retired" does the
method return to its Swift caller.

We assume flat segments here, as Linux does: cs has base 0, so eip is the virtual address itself. */

import LguestABI
import Machine

/// The Switcher's `GuestProcessor`: one per Guest, valid while the Guest lives.
final class SwitcherProcessor: GuestProcessor {
    unowned let switcher: Switcher
    /// The Guest. Held strongly, so the Switcher's table of processors (keyed by the Guest's identity)
    /// can never hand a new Guest a dead one's processor; `Switcher.forget(_:)` lets both go.
    let world: GuestWorld
    let machine: Machine
    /// The sites in the Guest's kernel text each operation executes as (`P:500`), looked up once.
    let hypercallReturn: GuestVirtualAddress
    let accessSite: GuestVirtualAddress
    let noInterruptStoreSite: GuestVirtualAddress
    let iretSite: GuestVirtualAddress
    let nativeSites: [NativeInstruction: GuestVirtualAddress]

    /// The most times one instruction may fault in a row before the Guest is declared lost.
    static let faultLimit = 64

    /// Whether the entry now running has executed its `iret` (successfully or not); after that its
    /// Swift code may not use the processor again (`S:205`). `Switcher.enterKernel` sets it per entry.
    var entryReturned = false

    init(switcher: Switcher, world: GuestWorld) {
        self.switcher = switcher
        self.world = world
        self.machine = switcher.machine
        let image = world.image
        hypercallReturn = image.hypercallSite.advanced(by: 2)
        accessSite = image.memoryAccessSite
        noInterruptStoreSite = image.noInterruptStoreSite
        iretSite = image.iretSite
        nativeSites = image.nativeSites
    }

    /*S:215 What "the registers" are to Swift code.

    Swift code has its own registers, which the host's compiler manages; the Guest's registers are the
    emulated processor's, and `registers` reads and writes those. A handler entered from a user program
    finds the program's registers there (a system call's number in eax, its arguments in ebx and on),
    and changes them to return a result or to switch to another process before its `iret`.

    Writing `registers` is like a `popf` at ring 1 for the flags: the arithmetic flags, the trap and
    direction flags and the like may change, but never the interrupt flag or the I/O privilege level,
    which ring 1 code cannot touch on a real processor either. That is the lesson of the virtual
    interrupt flag (`G:033`) seen from the other side. */
    var registers: GuestRegisters {
        get {
            let cpu = machine.cpu
            var registers = GuestRegisters()
            registers.eax = cpu.eax; registers.ebx = cpu.ebx; registers.ecx = cpu.ecx; registers.edx = cpu.edx
            registers.esi = cpu.esi; registers.edi = cpu.edi; registers.ebp = cpu.ebp; registers.esp = cpu.esp
            registers.eip = cpu.eip
            registers.eflags = cpu.eflags
            return registers
        }
        set {
            // A dead Guest's registers are gone; a write now would land on the Host's state.
            guard world.isAlive, !entryReturned else { return }
            var cpu = machine.cpu
            cpu.eax = newValue.eax; cpu.ebx = newValue.ebx; cpu.ecx = newValue.ecx; cpu.edx = newValue.edx
            cpu.esi = newValue.esi; cpu.edi = newValue.edi; cpu.ebp = newValue.ebp; cpu.esp = newValue.esp
            cpu.eip = newValue.eip
            // Ring 1 with IOPL 0 can change only these flags (as with `popf`): never IF, IOPL or VM.
            let changeable: EFLAGS = [.status, .trap, .direction, .alignmentCheck, .identification]
            cpu.eflags = cpu.eflags.subtracting(changeable).union(newValue.eflags.intersection(changeable))
            machine.cpu = cpu
        }
    }

    /// Checks that the Guest's Swift code may use the processor now: the Guest is alive, the entry has
    /// not yet returned, and the processor is at ring 1 where that code runs. Otherwise the Guest is
    /// lost (if it was not dead already) and the Swift code is sent on its way with `GuestStopped`.
    private func ensureRunning() throws(GuestStopped) {
        guard world.isAlive else { throw GuestStopped() }
        // The privilege level alone, not the whole processor: this runs before every access (`X:125`).
        let ring = machine.currentPrivilegeLevel
        guard entryReturned || ring != guestKernelRing else { return }
        let reason = entryReturned ? "switcher: guest kernel used the processor after its iret"
                                   : "switcher: guest kernel ran at ring \(ring)"
        machine.cpu = switcher.hostState
        try world.handleTrapDuringKernel(.kernelLost(reason))
        throw GuestStopped()
    }

    /// Moves eip to `site`, as if the processor were about to execute the instruction there.
    private func execute(at site: GuestVirtualAddress) {
        machine.setInstructionPointer(site.rawValue)
        machine.advance(by: Switcher.kernelOperationCost)
    }
    /*:*/

    /*S:220 A hypercall is an `int $0x1F`.

    The arguments go in the registers, eip moves past the `int $0x1F` at the image's hypercall site (a
    software interrupt pushes the address of the *next* instruction), and the processor delivers vector
    0x1F through the IDT. The Host gave that gate privilege 1, so the Guest kernel may use it and user
    programs may not, and pointed it at the Switcher's stub: the world switches to the Host, which reads
    the call from the registers page and writes the answer into its eax. When the world comes back to
    the return address, the answer is in eax. */

    func hypercall(_ call: Hypercall, _ a1: UInt32, _ a2: UInt32, _ a3: UInt32, _ a4: UInt32)
        throws(GuestStopped) -> UInt32
    {
        try ensureRunning()
        let returnPoint = hypercallReturn
        // Load the registers as lguest's `hcall()` does in its inline assembly: only those (`S:105`).
        machine.setRegister(.eax, to: call.rawValue)
        machine.setRegister(.ebx, to: a1); machine.setRegister(.ecx, to: a2)
        machine.setRegister(.edx, to: a3); machine.setRegister(.esi, to: a4)
        // `int` is a trap: the frame it pushes names the instruction after it.
        machine.setInstructionPointer(returnPoint.rawValue)
        machine.advance(by: Switcher.kernelOperationCost)
        // The processor takes the gate: privilege check, stack switch to esp0, frame, stub.
        let stop = machine.deliver(vector: hypercallVector, kind: .software)
        // The world runs (Host, perhaps an interrupt handler) until the `int` has retired.
        _ = try switcher.runWorld(world, from: stop, until: ReturnPoints(first: returnPoint))
        // The Host's answer, from the register it wrote in the registers page.
        return machine.register(.eax)
    }
    /*:*/

    /*S:230 Loads and stores, and the faults they take.

    A Swift load or store goes through the MMU with the Guest's shadow page directory in cr3, as a
    supervisor, exactly like a `mov` at ring 1. If it faults, the processor delivers a page fault with eip
    on the image's memory-access instruction; the Host either fixes the shadow mapping (`H:330`) or
    reflects the fault to the Guest's own handler. Either way the processor comes back to that same
    instruction, and the access is tried again, as the hardware restarts a faulting instruction. An access
    that keeps faulting means the Guest's fault handler cannot fix it; after `faultLimit` tries the Guest is
    declared lost rather than left spinning for ever.

    An `iret` that faults is different: its fault is delivered at once, and the handler that called
    `returnFromInterrupt()` must return immediately, so the Switcher's loop takes the fault from there
    (`pendingEvent`). If the Host fixes the fault (the Guest's stack page was not yet in the shadow page
    tables, say), the processor comes back to ring 1 at the image's `iret`, and the Switcher's loop
    executes it again, as the hardware restarts any faulting instruction. */

    /// Runs `body` as the instruction at `site`, taking its page faults the hardware's way.
    private func access<T>(at site: GuestVirtualAddress, _ body: () throws(PageFault) -> T) throws(GuestStopped) -> T {
        try ensureRunning()
        machine.advance(by: Switcher.kernelOperationCost)
        for _ in 0..<Self.faultLimit {
            do {
                // The common case: the shadow page tables already map the address.
                return try body()
            } catch {
                // The processor faults as it would on the `mov` at `site`: eip names the faulting
                // instruction (a fault, not a trap), cr2 the address, and the error code says how.
                var cpu = machine.cpu
                cpu.eip = site.rawValue
                cpu.cr2 = error.address
                machine.cpu = cpu
                let stop = machine.deliver(vector: ExceptionVector.pageFault.rawValue,
                                           errorCode: error.errorCode.rawValue, kind: .exception)
                // Back at `site` means the fault was dealt with: go round and try the access again.
                _ = try switcher.runWorld(world, from: stop, until: ReturnPoints(first: site))
            }
        }
        // Still faulting after `faultLimit` tries: nobody is going to fix this address.
        machine.cpu = switcher.hostState
        try world.handleTrapDuringKernel(.kernelLost("switcher: kernel access at \(site) faults for ever"))
        throw GuestStopped()
    }

    func load8(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt8 {
        try access(at: accessSite) { () throws(PageFault) in try machine.readVirtual8(address, privilege: .supervisor) }
    }

    func load16(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt16 {
        try access(at: accessSite) { () throws(PageFault) in try machine.readVirtual16(address, privilege: .supervisor) }
    }

    func load32(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt32 {
        try access(at: accessSite) { () throws(PageFault) in try machine.readVirtual32(address, privilege: .supervisor) }
    }

    func store8(_ value: UInt8, at address: GuestVirtualAddress) throws(GuestStopped) {
        try access(at: accessSite) { () throws(PageFault) in
            try machine.writeVirtual8(value, at: address, privilege: .supervisor)
        }
    }

    func store16(_ value: UInt16, at address: GuestVirtualAddress) throws(GuestStopped) {
        try access(at: accessSite) { () throws(PageFault) in
            try machine.writeVirtual16(value, at: address, privilege: .supervisor)
        }
    }

    func store32(_ value: UInt32, at address: GuestVirtualAddress, site: AccessSite) throws(GuestStopped) {
        let instruction = switch site {
        case .ordinary: accessSite
        case .noInterruptWindow: noInterruptStoreSite
        }
        try access(at: instruction) { () throws(PageFault) in
            try machine.writeVirtual32(value, at: address, privilege: .supervisor)
        }
    }

    /*:*/

    /*S:235 Copies, a page at a time.

    A copy of many bytes is many accesses, and each page it touches may fault separately: the first page
    may be mapped in the shadow tables while the second is not yet. So `loadBytes` and `storeBytes` go a
    page at a time, each chunk one "instruction" with its own fault handling, and a fault in the middle of
    a copy retries only the chunk that faulted. A real `rep movsb` behaves the same way: it faults with
    its registers pointing at the byte it could not reach, and resumes from there. */

    func loadBytes(_ address: GuestVirtualAddress, count: Int) throws(GuestStopped) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(0, count))
        var cursor = address
        while bytes.count < count {
            // Up to the end of the current page, never across it.
            let chunk = min(count - bytes.count, pageSize - Int(cursor.pageOffset))
            let start = cursor
            bytes += try access(at: accessSite) { () throws(PageFault) in
                try machine.copyFromVirtual(start, count: chunk, privilege: .supervisor)
            }
            cursor = cursor.advanced(by: UInt32(chunk))
        }
        return bytes
    }

    func storeBytes(_ bytes: [UInt8], at address: GuestVirtualAddress) throws(GuestStopped) {
        try storeInPages(bytes.count, at: address) { (start, offset, length) throws(PageFault) in
            try machine.copyToVirtual(bytes[offset..<offset + length], at: start, privilege: .supervisor)
        }
    }

    /// Runs `write` once for each page the `count` bytes at `address` touch, each call one access
    /// with its own faults: `write(start, offset, length)` stores the source's bytes
    /// `offset..<offset + length` at `start`, all on one page, and must store nothing if it faults.
    private func storeInPages(_ count: Int, at address: GuestVirtualAddress,
                              _ write: (GuestVirtualAddress, Int, Int) throws(PageFault) -> Void) throws(GuestStopped)
    {
        var done = 0
        var cursor = address
        while done < count {
            // Up to the end of the current page, never across it.
            let chunk = min(count - done, pageSize - Int(cursor.pageOffset))
            let (start, offset) = (cursor, done)
            try access(at: accessSite) { () throws(PageFault) in try write(start, offset, chunk) }
            done += chunk
            cursor = cursor.advanced(by: UInt32(chunk))
        }
    }
    /*:*/

    /*S:236 Words, without the bytes.

    `storeWords` is `storeBytes` for a handful of 32-bit values, and it exists for one caller that runs on
    every return to user mode: the Guest kernel's `resume()`, which writes the five-word frame of its
    `iret` (`G:088`). Spelled as bytes, that frame cost six little arrays, and `copyToVirtual` then took
    the twenty bytes one at a time through a generic collection; `perf` put more than a quarter of a
    Guest's system call there. The words need none of that. Each page's share is written as whole words
    through `writeVirtual32`, the Machine's ordinary checked store (`X:360`): the same page walk, the same
    protection check at the supervisor's privilege, the same path the code cache watches for writes.

    Two promises carry over from `storeBytes` unchanged, and the tests hold both. The accesses are the
    same: one per page touched, so a fault retries only its own page and the virtual clock moves exactly
    as before. And a page that faults is left untouched: its first store is the one that faults, since
    every later store to the same page walks the same entries that just let the first one through. A word
    that straddles two pages (only an unaligned address can make one) goes a byte at a time, each byte
    with the page it lies on, as the bytes would have. */

    func storeWords<let count: Int>(_ words: InlineArray<count, UInt32>, at address: GuestVirtualAddress)
        throws(GuestStopped)
    {
        try storeInPages(count * 4, at: address) { (start, offset, length) throws(PageFault) in
            var index = offset
            while index < offset + length {
                let at = start.advanced(by: UInt32(index - offset))
                let word = words[index / 4]
                if index % 4 == 0, index + 4 <= offset + length {
                    try machine.writeVirtual32(word, at: at, privilege: .supervisor)
                    index += 4
                } else {
                    // Part of a word that straddles the page's end: its bytes, least significant first.
                    let byte = UInt8(truncatingIfNeeded: word >> (8 * UInt32(index % 4)))
                    try machine.writeVirtual8(byte, at: at, privilege: .supervisor)
                    index += 1
                }
            }
        }
    }
    /*:*/

    /*S:238 The way out of every handler.

    `returnFromInterrupt()` executes the image's `iret`, with the frame the handler's stack holds. At
    ring 1 the processor checks the frame (`X:450`): the Guest kernel can return to itself or to its user
    programs, never to ring 0, since a selector with RPL 0 is refused. After the `iret` the processor is
    somewhere else entirely, which is why the Swift handler must return at once: its work is done, and
    the Switcher's loop takes over from wherever the processor now is. */

    func returnFromInterrupt() throws(GuestStopped) {
        try ensureRunning()
        // From here on this entry's Swift code is done with the processor, whatever the `iret` does.
        entryReturned = true
        execute(at: iretSite)
        // A fault names the `iret` at eip, as one in the interpreter would (`X:450`).
        guard let fault = machine.iret() else { return }
        switcher.pendingEvent = fault
    }
    /*:*/

    /*S:240 Privileged instructions fault, and unprivileged ones do not.

    `native(_:)` executes one of the privileged instructions in the image's text. At ring 1 with an I/O
    privilege level of 0, every one of them raises a general protection fault (#GP, vector 13, error code
    0), which reaches the Host through its stub. The Host emulates the ones it can (`in` and `out`,
    `H:220`) and moves eip past them; anything else it reflects to the Guest's own #GP handler, and if that
    handler returns to the instruction, it faults again, as it would on hardware.

    `cpuid` and `rdtsc` are not privileged (unless cr4 says so, which a Guest never gets), so they go
    straight to the machine. */

    func native(_ instruction: NativeInstruction) throws(GuestStopped) {
        // Every image lays out a site for every case of `NativeInstruction` in its initialiser, and
        // `nativeSites` is a constant: a missing one is a bug in LguestABI, not something a Guest did.
        guard let site = nativeSites[instruction] else { preconditionFailure("switcher: no site for \(instruction)") }
        try ensureRunning()
        let next = site.advanced(by: UInt32(instruction.bytes.count))
        for _ in 0..<Self.faultLimit {
            // eip on the instruction, and the fault every privileged instruction takes at ring 1.
            execute(at: site)
            let stop = machine.deliver(vector: ExceptionVector.generalProtection.rawValue, errorCode: 0,
                                       kind: .exception)
            // Past it: the Host emulated it. On it again: the Guest's own handler returned to retry.
            if case .reached(next) = try switcher.runWorld(world, from: stop, until: ReturnPoints(first: next, second: site)) { return }
        }
        machine.cpu = switcher.hostState
        try world.handleTrapDuringKernel(.kernelLost("switcher: \(instruction) at \(site) faults for ever"))
        throw GuestStopped()
    }

    func cpuid(_ leaf: UInt32) -> CPUIDResult {
        machine.advance(by: Switcher.kernelOperationCost)
        let answer = machine.cpuid(leaf: leaf)
        return CPUIDResult(eax: answer.eax, ebx: answer.ebx, ecx: answer.ecx, edx: answer.edx)
    }

    func readTimeStampCounter() -> UInt64 {
        machine.advance(by: Switcher.kernelOperationCost)
        return machine.clock.ticks
    }
    /*:*/

    /*S:245 Saving and loading the FPU at ring 1.

    `fxsave` and `fxrstor` are not privileged: a ring-1 kernel executes them itself, which is how the
    Guest switches FPU state between its processes (`G:049`). They are memory accesses like any other, so
    each runs as the image's memory-access instruction and takes its page faults the same way (`S:230`).
    What a real processor would raise besides, #NM because cr0.TS is still set or #GP for an area that
    is not 16-byte aligned, can only be a Guest kernel bug here: the Guest is stopped with the reason. */

    func saveFPU(_ format: FPUSaveFormat, at address: GuestVirtualAddress) throws(GuestStopped) {
        try transferFPU(format, address, save: true)
    }

    func restoreFPU(_ format: FPUSaveFormat, from address: GuestVirtualAddress) throws(GuestStopped) {
        try transferFPU(format, address, save: false)
    }

    /// One FPU save or restore, its page faults handled as `access(at:)` handles a store's.
    private func transferFPU(_ format: FPUSaveFormat, _ address: GuestVirtualAddress, save: Bool) throws(GuestStopped) {
        var refused: Machine.FPUTransferFault?
        try access(at: accessSite) { () throws(PageFault) in
            do throws(Machine.FPUTransferFault) {
                if save { try machine.saveFPU(format, at: address) } else { try machine.restoreFPU(format, from: address) }
            } catch {
                if case let .pageFault(fault) = error { throw fault }
                refused = error
            }
        }
        guard let refused else { return }
        let what = save ? "save" : "restore"
        machine.cpu = switcher.hostState
        try world.handleTrapDuringKernel(.kernelLost("switcher: FPU \(what) at \(address) refused: \(refused)"))
        throw GuestStopped()
    }
}
/*:*/
