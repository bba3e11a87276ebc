/*X:410 Delivering an event through the IDT.

This is the most important thing the CPU does for a hypervisor, because it is how control gets from a
guest program to a kernel. Whether the cause is a page fault, a timer tick or a program's `int $0x80`,
the CPU follows the same steps:

1. Read gate number *vector* from the IDT. The entry must lie inside IDTR's limit, and it must be an
   interrupt or trap gate.
2. For a software `int n` only: the gate's DPL must be at least the CPL. This is how a kernel decides
   which vectors user code may call: Linux gives the system-call gate DPL 3 and every exception gate
   DPL 0, so a program cannot fake a page fault with `int $14`. Failing the check raises #GP with
   error code `vector * 8 + 2` (the 2 says "this selector indexes the IDT").
3. The gate must be present, else #NP with the same style of error code.
4. Read the handler's code segment descriptor from the GDT. It must be a present code segment whose
   DPL is not *less* privileged than the CPL: an interrupt never lowers privilege.
5. If the handler runs at a more privileged ring than the current one, switch stacks: load ss and esp
   for that ring from the TSS fields (`X:140`), then push the old ss and esp there. Then push eflags,
   cs and eip, and the error code if the event has one.
6. Load cs:eip from the gate. Clear TF (so a single-stepping debugger does not step into the kernel),
   and for an interrupt gate also clear IF.

Error codes from descriptor checks carry one more bit, EXT (bit 0), set when the event being delivered
came from outside the program (an exception or a hardware interrupt) rather than from `int n`.

The frame is written to memory before any register changes, so a delivery that faults halfway leaves
the CPU exactly as it was and the *new* fault can be delivered in its place. */

extension Core {
    /// One attempt to deliver `vector`; throws the fault that stops it. On success the CPU is at the
    /// handler. `eflags` must be materialized.
    mutating func attemptDelivery(_ vector: UInt8, errorCode: UInt32?, kind: DeliveryKind) throws(Fault) {
        // Step 1: the gate. Error codes that name an IDT entry carry bit 1 (IDT) and bit 0 (EXT).
        let external: UInt32 = kind == .software ? 0 : 1
        let gateOffset = UInt32(vector) * 8
        let idtCode = gateOffset | 2 | external
        guard cpu.idtr.containsEntry(at: gateOffset) else { throw .generalProtection(idtCode) }
        let gate = GateDescriptor(rawValue: try readSystemQuad(cpu.idtr.base.rawValue &+ gateOffset))
        guard gate.systemBitIsClear, let gateKind = gate.kind, gateKind != .task else {
            throw .generalProtection(idtCode)
        }
        // Step 2: only int n is checked against the gate's DPL; exceptions and interrupts may use any gate.
        let cpl = cpu.cpl
        if kind == .software && gate.dpl < cpl { throw .generalProtection(gateOffset | 2) }
        guard gate.isPresent else { throw .exception(11, errorCode: idtCode) }

        // Step 4: the handler's code segment, which must not be less privileged than we are now.
        let selector = gate.selector
        let selectorCode = selector.tableOffset | external
        guard !selector.isNull else { throw .generalProtection(external) }
        var code = try loadDescriptor(selector, external: external)
        guard code.isCode, code.dpl <= cpl else { throw .generalProtection(selectorCode) }
        guard code.isPresent else { throw .exception(11, errorCode: selectorCode) }
        try markAccessed(selector, &code)

        // Step 5: a conforming code segment runs at the caller's ring; otherwise at its own DPL, and
        // going inward means a new stack, with the old one's ss:esp saved on it.
        let conforming = code.typeBits.contains(.conformingOrExpandDown)
        let newRing = conforming ? cpl : code.dpl
        // The frame in push order, at most six words; a fixed-size buffer, since delivery is on every
        // world switch's path and a growing array would cost an allocation each time.
        var frame = InlineArray<6, UInt32>(repeating: 0)
        var count = 0
        func push(_ word: UInt32) { frame[count] = word; count += 1 }
        var stack = (segment: cpu.ss, esp: cpu.esp)
        if newRing < cpl {
            push(UInt32(cpu.ss.selector.rawValue))
            push(cpu.esp)
            stack = try innerStack(ring: newRing, external: external)
        }
        push(cpu.eflags.rawValue)
        push(UInt32(cpu.cs.selector.rawValue))
        push(cpu.eip)
        if kind == .exception, let errorCode { push(errorCode) }

        // Write the whole frame before touching a register, lowest address (eip or error code) first.
        let top = stack.esp &- UInt32(count * 4)
        for index in 0..<count {
            let linear = stack.segment.base &+ top &+ UInt32(index * 4)
            let value = frame[count - 1 - index]
            do { try writeLinear(value, linear, width: 4, user: newRing == 3) } catch { throw .pageFault(error) }
        }

        // Step 6: commit. From here nothing can fault.
        cpu.ss = stack.segment
        cpu.esp = top
        cpu.cs = SegmentRegister(selector: SegmentSelector(rawValue: selector.rawValue & ~3 | UInt16(newRing)),
                                 descriptor: code)
        cpu.eip = gate.offset
        cpu.eflags.subtract([.trap, .nestedTask, .resume, .virtual8086])
        if gateKind == .interrupt { cpu.eflags.remove(.interruptEnable) }
        refreshSegmentBases()
        invalidateFetchPage()
    }

    /*X:415 The inner stack, and why its faults are #TS.

    When delivery goes inward, the new stack comes from the task state fields of `X:140`, and it is
    checked exactly like a hand-written load of ss (`X:230`): not null, the right RPL, writable data at
    the target ring's privilege, present. The difference is whom the fault blames. A bad selector here is
    not the interrupted program's mistake but the kernel's, which filled in the TSS, so it raises #TS
    (vector 10, invalid TSS) instead of #GP; only a stack segment that is not present raises #SS. */
    /// The stack for entering `ring` from an outer ring: ss0/esp0 or ss1/esp1, checked like a stack
    /// segment load. A bad stack selector raises #TS; a stack segment that is not present, #SS.
    mutating func innerStack(ring: UInt8, external: UInt32) throws(Fault) -> (segment: SegmentRegister, esp: UInt32) {
        let (selector, esp): (SegmentSelector, UInt32) = switch ring {
        case 0: (cpu.ss0, cpu.esp0)
        case 1: (cpu.ss1, cpu.esp1)
        default: throw .exception(10, errorCode: cpu.tr.tableOffset | external)  // no ring-2 stack
        }
        // The same checks as loading ss by hand (X:230), but failures are #TS: the TSS was wrong.
        let code = selector.tableOffset | external
        guard !selector.isNull, selector.rpl == ring else { throw .exception(10, errorCode: code) }
        var descriptor = try loadDescriptor(selector, faulting: 10, external: external)
        guard descriptor.isWritableData, descriptor.dpl == ring else { throw .exception(10, errorCode: code) }
        guard descriptor.isPresent else { throw .exception(12, errorCode: code) }
        try markAccessed(selector, &descriptor)
        return (SegmentRegister(selector: selector, descriptor: descriptor), esp)
    }
    /*:*/

    /*X:420 When delivery itself fails: double and triple faults.

    The steps of `X:410` can fail: the IDT entry may be missing, the kernel stack may be unmapped. The CPU
    then has a new exception on its hands while it was in the middle of the first. Intel sorts exceptions
    into three classes, *benign* (most of them, plus every interrupt and `int n`), *contributory* (#DE,
    #TS, #NP, #SS, #GP) and *page faults*, and the rule is:

    | first event | second fault | result |
    | --- | --- | --- |
    | benign | anything | deliver the second fault |
    | contributory | contributory | #DF |
    | page fault | contributory or page fault | #DF |
    | contributory | page fault | deliver the page fault |
    | #DF | anything | triple fault |

    So `int $0x80` through a gate with DPL 0 is not a double fault: it turns into a plain #GP, which is
    exactly what lguest's Host relies on when it emulates instructions the Guest may not execute. A PC
    that triple-faults resets itself; ours stops with `.tripleFault` and a reason, which is more useful
    when you are trying to find out what went wrong. Task gates, which this machine does not implement,
    count as bad gates (#GP). */

    /// Delivers an event, escalating per `X:420`, and reports where the CPU ended up. When the event
    /// is a software interrupt or trap whose delivery faults, the new fault restarts the instruction at
    /// `restartAt` (the `int` itself), as a fault on that instruction must.
    mutating func deliver(_ vector: UInt8, errorCode: UInt32?, kind: DeliveryKind, restartAt: UInt32? = nil) -> StopReason {
        materializeFlags()
        var event = (vector: vector, errorCode: errorCode, kind: kind)
        while true {
            do {
                try attemptDelivery(event.vector, errorCode: event.errorCode, kind: event.kind)
                statistics.deliveries[Int(event.vector)] &+= 1
                let pushed = event.kind == .exception ? event.errorCode : nil
                return .enteredKernel(vector: event.vector, errorCode: pushed,
                                      handler: GuestVirtualAddress(cpu.cs.base &+ cpu.eip))
            } catch {
                let second: (vector: UInt8, errorCode: UInt32?)
                switch error {
                case let .pageFault(fault):
                    if fault.frameOutsideRAM != nil { return .machineCheck(reason: fault.description) }
                    cpu.cr2 = fault.address
                    second = (14, fault.errorCode.rawValue)
                case let .exception(number, code): second = (number, code)
                case let .software(number), let .trap(number): second = (number, nil)  // not raised by delivery
                }
                // A fault while delivering #DF: give up, as the hardware does.
                if event.kind == .exception && event.vector == 8 {
                    return .tripleFault(reason: "vector \(second.vector) while delivering #DF (first: \(vector))")
                }
                // Otherwise classify both events and apply the table above.
                let first = faultClass(event.vector, event.kind)
                let next = faultClass(second.vector, .exception)
                let double = (first == .contributory && next == .contributory)
                    || (first == .pageFault && next != .benign)
                event = double ? (8, 0, .exception) : (second.vector, second.errorCode, .exception)
                if let restartAt { cpu.eip = restartAt }
            }
        }
    }

    private enum FaultClass { case benign, contributory, pageFault }

    private func faultClass(_ vector: UInt8, _ kind: DeliveryKind) -> FaultClass {
        guard kind == .exception else { return .benign }
        switch vector {
        case 0, 10, 11, 12, 13: return .contributory
        case 14: return .pageFault
        default: return .benign
        }
    }
}
/*:*/

extension Machine {
    /// Delivers `vector` through the IDT as the CPU would (`X:410`, `X:420`) and returns where the CPU
    /// ended up: `.enteredKernel` with the vector actually delivered (a failed delivery may become #GP,
    /// #NP, #PF or #DF), or `.tripleFault` / `.machineCheck`. `errorCode` is pushed only for `.exception`.
    /// A fault raised by the delivery itself names the current eip, as `iret()`'s do.
    @discardableResult
    public func deliver(vector: UInt8, errorCode: UInt32? = nil, kind: DeliveryKind) -> StopReason {
        // Outside `run`, the instruction the event belongs to is at eip (`iret()` does the same).
        core.instructionStart = core.cpu.eip
        return core.deliver(vector, errorCode: errorCode, kind: kind)
    }
}
