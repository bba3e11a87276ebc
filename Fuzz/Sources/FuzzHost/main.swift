// Fuzz target (a): the fuzz bytes are a program for a hostile Guest kernel, run against a real Host.
// The first chunk is ring-3 code for the user page; the rest is read one operation at a time by the
// boot entry and by four trap handlers (so a handler that traps again nests): hypercalls with chosen
// arguments, stores into the page tables, the GDT, the IDT and lguest_data, the async hypercall ring,
// iret frames on the stack, native instructions, and iret itself. After each input the world's checks
// run (`FuzzWorld.checkAfterGuest`).

import FuzzSupport
import Host
import LguestABI
import Machine

/// The world every input runs against.
nonisolated(unsafe) let world = FuzzWorld()

/// One hostile Guest's program.
final class HostileProgram {
    let input: FuzzBytes
    var handlers: [GuestVirtualAddress] = []
    /// Operations run so far, capped so that a handler that traps on every step still ends.
    var steps = 0

    init(_ input: FuzzBytes) { self.input = input }

    /// Values at the edges of what the Host checks, and what an iret frame to ring 3 needs.
    static let landmarks: [UInt32] = [
        0, 0xFFFF_FFFF, 0x8000_0000, 0xC000_0000, 0xFFC0_0000, 0xFFFF_F000,
        FuzzWorld.guestPages * UInt32(pageSize), FuzzWorld.guestPages, FuzzWorld.userCodeVirtual.rawValue,
        FuzzWorld.userCodeVirtual.rawValue + 0x1000, UInt32(GDTLayout.userCodeSelector.rawValue),
        UInt32(GDTLayout.userDataSelector.rawValue), UInt32(GDTLayout.kernelCodeSelector.rawValue),
        UInt32(GDTLayout.kernelDataSelector.rawValue), 0x202, 0x3202,
    ]

    /// A 32-bit argument: usually a value that means something to the Host, sometimes raw bits.
    func word() -> UInt32 {
        switch input.below(10) {
        case 0: return UInt32(input.byte())
        case 1: return FuzzWorld.kva(GuestPhysicalAddress(UInt32(input.u16()) << 4)).rawValue
        case 2: return UInt32(input.u16()) << 4
        case 3: return Self.landmarks[input.below(Self.landmarks.count)]
        case 4: return input.handlerOrRaw(handlers)
        case 5: return UInt32(input.byte()) << 12 | UInt32(input.byte() & 0x7)
        default: return input.u32()
        }
    }

    /// A guest-virtual address: in the kernel's map, in user space, or anywhere.
    func address() -> GuestVirtualAddress {
        switch input.below(4) {
        case 0: return FuzzWorld.kva(FuzzWorld.lguestData.advanced(by: UInt32(input.byte()) & ~3))
        case 1: return FuzzWorld.kva(FuzzWorld.stackTop.advanced(by: 0 &- UInt32(input.byte() & 0x3C) &- 4))
        case 2: return FuzzWorld.userCodeVirtual.advanced(by: UInt32(input.u16() & 0xFFF))
        default: return GuestVirtualAddress(word())
        }
    }

    /// Runs operations until the input ends or the Guest stops; `depth` is 0 for the boot entry.
    func run(_ cpu: any GuestProcessor, depth: Int) throws(GuestStopped) {
        while !input.isAtEnd, steps < 2_000 {
            steps += 1
            if try step(cpu, depth: depth) { return }
        }
    }

    /// One operation; true when a handler should return now.
    func step(_ cpu: any GuestProcessor, depth: Int) throws(GuestStopped) -> Bool {
        switch input.below(16) {
        case 0, 1:
            let call = Hypercall.allCases[input.below(Hypercall.allCases.count)]
            try cpu.hypercall(call, word(), word(), word(), word())
        case 2: try cpu.store32(word(), at: address())
        case 3: try cpu.store8(input.byte(), at: address())
        case 4: _ = try cpu.load32(address())
        case 5:
            // A page-table or page-directory entry, then maybe the hypercall that tells the Host.
            let table = [FuzzWorld.directory, FuzzWorld.kernelTable, FuzzWorld.userTable][input.below(3)]
            let slot = UInt32(input.u16() & 0x3FF)
            let entry = word()
            try cpu.store32(entry, at: FuzzWorld.kva(table.advanced(by: slot * 4)))
            if input.byte() & 1 == 1 {
                try cpu.hypercall(.setPTE, table.rawValue, slot << 12, entry)
            }
        case 6:
            // A GDT descriptor, then LOAD_GDT or LOAD_TLS.
            let slot = UInt32(input.below(GDTLayout.entryCount))
            try cpu.store32(word(), at: FuzzWorld.kva(FuzzWorld.gdt.advanced(by: slot * 8)))
            try cpu.store32(word(), at: FuzzWorld.kva(FuzzWorld.gdt.advanced(by: slot * 8 + 4)))
            if input.byte() & 1 == 1 {
                try cpu.hypercall(.loadGDT, FuzzWorld.gdt.rawValue, UInt32(input.below(40)))
            } else {
                try cpu.hypercall(.loadTLS, FuzzWorld.kva(FuzzWorld.gdt.advanced(by: slot * 8)).rawValue)
            }
        case 7:
            // An entry in the async ring, any call number, marked ready; sometimes flushed at once.
            let slot = input.below(hypercallRingSize)
            let entry = FuzzWorld.lguestData.advanced(by: LguestData.entryOffset(slot: slot))
            try cpu.store32(UInt32(input.byte()), at: FuzzWorld.kva(entry))
            for argument in 0..<4 {
                try cpu.store32(word(), at: FuzzWorld.kva(entry.advanced(by: HypercallRingEntry.arguments + UInt32(argument * 4))))
            }
            try cpu.store8(input.byte() & 1 == 0 ? hypercallReady : input.byte(),
                           at: FuzzWorld.kva(FuzzWorld.lguestData.advanced(by: LguestData.statusOffset(slot: slot))))
            if input.byte() & 1 == 1 { try cpu.hypercall(.flushAsync) }
        case 8:
            // An IDT gate aimed at one of the handlers (or anywhere), of any kind and privilege.
            let vector = input.byte()
            let gate = GateDescriptor(offset: input.handlerOrRaw(handlers), selector: SegmentSelector(rawValue: input.u16() & 0xFF),
                                      kind: input.byte() & 1 == 0 ? .interrupt : .trap, dpl: input.byte() & 3)
            try cpu.hypercall(.loadIDTEntry, UInt32(vector), input.byte() & 1 == 0 ? gate.low : word(), gate.high)
        case 9:
            // An iret frame on the stack: eip, cs, eflags, and for ring 3 esp and ss.
            for slot in 0..<5 {
                try cpu.store32(word(), at: FuzzWorld.kva(FuzzWorld.stackTop.advanced(by: 0 &- UInt32(20 - slot * 4))))
            }
        case 10: try cpu.returnFromInterrupt()
        case 11: try cpu.native(NativeInstruction.allCases[input.below(NativeInstruction.allCases.count)])
        case 12: try cpu.hypercall(.setClockEvent, UInt32(input.u16()))
        case 13:
            // lguest_data's interrupt fields: enable, block, pending.
            let field = [LguestData.irqEnabled, LguestData.blockedInterrupts, LguestData.irqPending][input.below(3)]
            try cpu.store32(word(), at: FuzzWorld.kva(FuzzWorld.lguestData.advanced(by: field)))
        case 14:
            _ = cpu.cpuid(word())
            _ = cpu.readTimeStampCounter()
        default:
            if depth > 0 { return true }
            try cpu.hypercall(.shutdown, FuzzWorld.reasonAddress.rawValue, word())
        }
        return false
    }
}

extension FuzzBytes {
    /// One of `handlers`' addresses, or raw bits.
    func handlerOrRaw(_ handlers: [GuestVirtualAddress]) -> UInt32 {
        let pick = below(handlers.count + 1)
        return pick < handlers.count ? handlers[pick].rawValue : u32()
    }
}

/// Builds the Guest for `bytes`, runs it, and checks the world.
func runOne(_ bytes: FuzzBytes) {
    let program = HostileProgram(bytes)
    let userCode = bytes.chunk()
    var image = GuestKernelImage()
    for index in 0..<4 {
        program.handlers.append(image.addEntry(named: "handler\(index)") { cpu throws(GuestStopped) in
            try program.run(cpu, depth: 1)
            try cpu.returnFromInterrupt()
        })
    }
    image.bootEntry = image.addEntry(named: "boot") { cpu throws(GuestStopped) in
        try FuzzWorld.initialize(cpu)
        try program.run(cpu, depth: 0)
        try FuzzWorld.powerOff(cpu, "fuzz done")
    }
    _ = world.run(world.makeGuest(image: image, userCode: userCode))
    world.checkAfterGuest("a hostile guest")
}

/// One fuzz input (exported for libFuzzer's own `main`, which a debug build links).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    runOne(FuzzBytes(start, count))
    return 0
}

// A release build links this module's own `main`, which hands the same function to libFuzzer.
runFuzzer { start, count in fuzzTestOneInput(start, count) }
