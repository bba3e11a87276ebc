/*H:100 Hypercalls: answering the Guest.

A hypercall arrives as a trap on vector 0x1F (`P:100`), with the Guest's registers already saved in its
registers page: the call in eax, the arguments in ebx, ecx, edx and esi. `handleHypercall()` decodes the
call, runs it, and writes the result back into eax, where the Guest will find it when it resumes.

Two rules come before the call itself:

* Until the Guest has made `LGUEST_INIT`, the Host does not even know where `lguest_data` is, so any
  other call is refused, and the Guest killed: a Guest that skips the handshake is not one we understand.
* The async ring is drained *before* the synchronous call (`H:110`). The Guest queued those calls
  earlier, so they must take effect first: a Guest that queues "set this page table entry" and then
  synchronously "switch to that page table" would otherwise switch to a table still missing its entry.

A number that is not a `Hypercall` kills the Guest. This is where the enum with one `switch` earns its
keep: a new call cannot be half-added, because the compiler insists every case is handled. */

import LguestABI
import Machine
import Switcher

extension Guest {
    /// Handles the hypercall in the registers page and writes its result to eax.
    func handleHypercall() throws(GuestViolation) {
        let page = registerPage
        // The call number first: anything that is not a `Hypercall` is a Guest we do not understand.
        guard let call = Hypercall(rawValue: page[.eax]) else {
            throw GuestViolation("hypercalls: bad hypercall \(page[.eax])")
        }
        // No `lguest_data` yet: only the handshake will do.
        if lguestData == nil {
            guard call == .lguestInit else {
                throw GuestViolation("hypercalls: \(call.name) before LGUEST_INIT")
            }
        } else {
            // The calls the Guest queued earlier come before the one it is making now.
            try runAsyncHypercalls()
            guard isAlive else { return }
        }
        statistics.count(call, asynchronous: false)
        report(.hypercall(call, asynchronous: false))
        // The arguments from ebx, ecx, edx and esi; the answer into eax for the Guest to find.
        page[.eax] = try perform(call, page[.ebx], page[.ecx], page[.edx], page[.esi])
    }

    /*:*/

    /*H:105 The calls, one by one.

    `perform` is the one `switch` over every hypercall, and the same code runs a call whether it came
    with `int $0x1F` or from the async ring. Most cases are a line long, because the work lives with the
    part of the Host that owns the state:

    | call | handled by |
    | ---- | ---------- |
    | LGUEST_INIT | `initialize(lguestData:)` (`H:120`) |
    | SHUTDOWN | `shutDown(reasonAt:kind:)` (`H:130`) |
    | LOAD_GDT, LOAD_TLS | the Guest's GDT copy (`H:620`, `H:650`) |
    | NEW_PGTABLE, FLUSH_TLB, SET_PTE, SET_PMD | the shadow page tables (`H:300` onwards) |
    | LOAD_IDT_ENTRY | `loadIDTEntry` (`H:230`) |
    | SET_STACK | `setStack` (`H:260`) |
    | SET_CLOCKEVENT | `setClockEvent` (`H:205`) |
    | TS, HALT | a flag the Switcher or the run loop reads |
    | NOTIFY | the Launcher's callback, at once |

    Every argument is a raw 32-bit number from the Guest's registers. The first thing each handler does
    with it is check it; nothing here converts an address without `GuestMemory` (`H:032`). */

    /// Runs one hypercall, synchronous or from the ring, and returns its result (0 for every call
    /// lguest has; the register is there for calls that want one).
    func perform(_ call: Hypercall, _ a1: UInt32, _ a2: UInt32, _ a3: UInt32, _ a4: UInt32)
        throws(GuestViolation) -> UInt32
    {
        switch call {
        case .flushAsync:
            break  // The ring was drained before we got here: that was the whole point.
        case .lguestInit:
            try initialize(lguestData: GuestPhysicalAddress(a1))
        case .shutdown:
            try shutDown(reasonAt: GuestPhysicalAddress(a1), kind: a2)
        case .loadGDT:
            try gdt.load(from: GuestPhysicalAddress(a1), count: a2, memory: memory)
        case .newPageTable:
            try pageTables.newPageTable(GuestPhysicalAddress(a1))
        case .flushTLB:
            try pageTables.flush(kernelToo: a1 != 0)
        case .loadIDTEntry:
            try loadIDTEntry(vector: a1, low: a2, high: a3)
        case .setStack:
            try setStack(segment: a1, pointer: a2, pages: a3)
        case .taskSwitched:
            taskSwitched = a1 != 0
        case .setClockEvent:
            setClockEvent(nanoseconds: a1)
        case .halt:
            halted = true
        case .setPTE:
            try pageTables.setPTE(directory: GuestPhysicalAddress(a1), address: GuestVirtualAddress(a2),
                                  entry: PageTableEntry(rawValue: a3))
        case .setPMD:
            try pageTables.setPMD(directory: GuestPhysicalAddress(a1), index: a2)
        case .loadTLS:
            try gdt.loadTLS(from: GuestPhysicalAddress(a1), memory: memory)
        case .notify:
            onNotify?(self, GuestPhysicalAddress(a1))
        }
        return 0
    }
    /*:*/

    /*H:110 Draining the async ring.

    The ring (`P:210`) is 64 slots in `lguest_data`, used in order. The Host remembers which slot it will
    look at next; it runs the call there if the slot's status byte says the Guest filled it (anything but
    0xFF, as in lguest), marks the slot free again with 0xFF, and moves on, wrapping at 64. It stops at the
    first free slot, after one full lap at most, or as soon as a call stops the Guest: the calls queued
    after a SHUTDOWN are never run, since there is nobody left to run them for.

    Every field is read through `GuestMemory`, so a Guest that put `lguest_data` at the very end of its
    memory, or scribbles on the ring, finds only its own death.

    **Exercise** (easy; read first G:037): after running a slot's call, mark the slot free again so
    that the Guest may reuse it and the next drain stops there. */

    /// Runs every call waiting in the async ring, in order.
    func runAsyncHypercalls() throws(GuestViolation) {
        guard let data = lguestData else { return }
        for _ in 0..<hypercallRingSize {
            let slot = nextRingSlot
            let status = data.advanced(by: LguestData.statusOffset(slot: slot))
            // A free slot ends the batch: the Guest has queued nothing beyond it.
            guard try memory.load8(status) != hypercallDone else { return }
            nextRingSlot = (slot + 1) % hypercallRingSize
            // Copy the five words out before acting on them: the Guest cannot change them under us.
            let entry = data.advanced(by: LguestData.entryOffset(slot: slot))
            // (A fixed-size buffer: this runs for every queued call, and an array would allocate each time.)
            var words = InlineArray<5, UInt32>(repeating: 0)
            for index in 0..<5 { words[index] = try memory.load32(entry.advanced(by: UInt32(index * 4))) }
            guard let call = Hypercall(rawValue: words[0]) else {
                throw GuestViolation("hypercalls: bad async hypercall \(words[0])")
            }
            statistics.count(call, asynchronous: true)
            report(.hypercall(call, asynchronous: true))
            _ = try perform(call, words[1], words[2], words[3], words[4])
            // Free the slot only once the call is done, so a Guest never reuses a slot in flight.
            // exercise H:110 {
            try memory.store8(hypercallDone, at: status)
            // exercise H:110 } stub: ExerciseStub.unfinished("H:110")
            guard isAlive else { return }
        }
    }
    /*:*/

    /*H:120 The handshake: LGUEST_INIT.

    The Guest's first hypercall tells the Host where its `lguest_data` lives. The Host reads the fields the
    Guest filled (`P:200`): its no-interrupt window, where its kernel half begins, its system-call vector;
    checks each; and fills in its own: how much memory at the top to leave for the Switcher, the rate of
    the time-stamp counter (the virtual clock runs at a nominal 1 GHz, `X:600`), the page directory the
    Guest is running on, and the time.

    The checks are the Host's protection, not the Guest's: a window that ends before it starts, a kernel
    half inside the Switcher's slot, or a system-call vector that would shadow the hypercall vector, an
    exception, or the Host's own timer vector (`S:120`) would each let the Guest confuse the Host later, so
    each kills the Guest now. A second INIT is refused too: `lguest_data` cannot move. */

    /// Handles LGUEST_INIT with `lguest_data` at `address`.
    func initialize(lguestData address: GuestPhysicalAddress) throws(GuestViolation) {
        // Where the Guest says its `lguest_data` is: once only, and all of it inside guest memory.
        guard lguestData == nil else { throw GuestViolation("hypercalls: LGUEST_INIT twice") }
        guard memory.contains(address, count: Int(LguestData.size)) else {
            throw GuestViolation("hypercalls: bad lguest_data address \(address)")
        }
        // What the Guest filled in before INIT, each checked before the Host relies on it.
        let start = try memory.load32(address.advanced(by: LguestData.noInterruptStart))
        let end = try memory.load32(address.advanced(by: LguestData.noInterruptEnd))
        guard start <= end else { throw GuestViolation("hypercalls: bad no-interrupt window \(start)...\(end)") }
        let vector = try memory.load32(address.advanced(by: LguestData.systemCallVector))
        guard (UInt32(firstExternalVector)...255).contains(vector), vector != UInt32(Switcher.hostTimerVector) else {
            throw GuestViolation("hypercalls: bad system call vector \(vector)")
        }
        try pageTables.setKernelAddress(GuestVirtualAddress(try memory.load32(address.advanced(by: LguestData.kernelAddress))))
        // What the Host fills in: the Switcher's 4 MiB to keep clear, the TSC's 1 GHz, the current
        // page directory, and (below) the time.
        try memory.store32(0 &- switcherAddress.rawValue, at: address.advanced(by: LguestData.reserveMemory))
        try memory.store32(UInt32(VirtualClock.ticksPerSecond / 1000), at: address.advanced(by: LguestData.tscKHz))
        try memory.store32(pageTables.currentGuestDirectory.rawValue, at: address.advanced(by: LguestData.pageDirectory))
        noInterruptWindow = start..<end
        systemCallVector = UInt8(vector)
        // A new system-call vector may turn a gate direct (`H:250`): rebuild the Switcher's table.
        idtChanged = true
        lguestData = address
        try writeWallClock()
    }
    /*:*/

    /*H:130 Stopping: SHUTDOWN.

    A Guest that wants to stop says why, as a string in its memory, and whether it wants to power off or
    restart. The Host reads the string (bounded, `H:032`) and records the exit; the run loop ends when
    it next looks. lguest treated any kind but "restart" as power off; we are stricter and kill a Guest
    that names a kind that does not exist, since it surely meant something we do not understand. */

    /// Handles SHUTDOWN: `reasonAt` is the guest-physical address of the reason, `kind` a `ShutdownKind`.
    func shutDown(reasonAt address: GuestPhysicalAddress, kind: UInt32) throws(GuestViolation) {
        guard let kind = ShutdownKind(rawValue: kind) else {
            throw GuestViolation("hypercalls: bad shutdown kind \(kind)")
        }
        let reason = try memory.string(at: address)
        switch kind {
        case .powerOff: stop(.poweredOff(reason))
        case .restart: stop(.restart(reason))
        }
    }
}
/*:*/
