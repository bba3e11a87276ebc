// A stand-in for the Switcher that records what the Guest kernel asks of the processor.
//
// Memory is a flat array of guest-physical bytes seen through the kernel's linear map only
// (virtual pageOffset + g is physical g), which is all the kernel's own code touches. Every
// synchronous hypercall first "drains" the async ring the way the Host does (H:110), so ring tests
// can check what the Host would have run, and in which order.
@testable import Guest
import LguestABI
import Machine

final class RecordingProcessor: GuestProcessor {
    struct Call: Equatable {
        var call: Hypercall
        var arguments: [UInt32]
        var async: Bool
    }

    var memory: [UInt8]
    var registers = GuestRegisters()
    /// Every hypercall in the order the Host would have run it.
    var calls: [Call] = []
    var natives: [NativeInstruction] = []
    var stores: [(address: GuestVirtualAddress, value: UInt32, site: AccessSite)] = []
    var irets = 0
    /// Every FPU save (true) and restore (false), with its area.
    var fpuTransfers: [(save: Bool, address: GuestVirtualAddress)] = []
    var drainsRing = true
    var timeStampCounter: UInt64 = 0
    var cpuidAnswer: (UInt32) -> CPUIDResult = { _ in CPUIDResult(eax: 0, ebx: 0, ecx: 0, edx: 0) }
    /// Called after every 32-bit load, with its address, so a test can change memory "concurrently".
    var afterLoad32: (GuestVirtualAddress) -> Void = { _ in }
    /// A test's answer to a synchronous hypercall.
    var answer: (Hypercall, [UInt32]) -> UInt32 = { _, _ in 0 }

    init(megabytes: Int = 4) {
        memory = [UInt8](repeating: 0, count: megabytes << 20)
    }

    /// A kernel wired to this processor, its ring marked free.
    func kernel(_ configuration: GuestConfiguration = GuestConfiguration()) throws -> GuestKernel {
        let kernel = GuestKernel(configuration: configuration)
        _ = kernel.makeImage()
        kernel.processor = self
        try kernel.clearAsyncRing()
        return kernel
    }

    private func index(_ address: GuestVirtualAddress, _ count: Int) -> Int {
        let physical = Int(address.rawValue &- pageOffset.rawValue)
        precondition(address >= pageOffset && physical + count <= memory.count, "fake: \(address) unmapped")
        return physical
    }

    func hypercall(_ call: Hypercall, _ a1: UInt32, _ a2: UInt32, _ a3: UInt32, _ a4: UInt32) throws(GuestStopped) -> UInt32 {
        if drainsRing { drainRing() }
        calls.append(Call(call: call, arguments: [a1, a2, a3, a4], async: false))
        // The Host never returns from SHUTDOWN: the Guest is unwound.
        if call == .shutdown { throw GuestStopped() }
        return answer(call, [a1, a2, a3, a4])
    }

    /// Run every ready slot of the ring in order, starting where the Host left off, as the Host does.
    var nextSlot = 0
    func drainRing() {
        let base = Int(GuestKernel.testLguestData.rawValue)
        while memory[base + Int(LguestData.statusOffset(slot: nextSlot))] == hypercallReady {
            let entry = base + Int(LguestData.entryOffset(slot: nextSlot))
            let words = (0..<5).map { word in
                (0..<4).reduce(UInt32(0)) { $0 | UInt32(memory[entry + word * 4 + $1]) << (8 * UInt32($1)) }
            }
            calls.append(Call(call: Hypercall(rawValue: words[0])!, arguments: Array(words[1...]), async: true))
            memory[base + Int(LguestData.statusOffset(slot: nextSlot))] = hypercallDone
            nextSlot = (nextSlot + 1) % hypercallRingSize
        }
    }

    func saveFPU(_ format: FPUSaveFormat, at address: GuestVirtualAddress) throws(GuestStopped) {
        fpuTransfers.append((true, address))
    }

    func restoreFPU(_ format: FPUSaveFormat, from address: GuestVirtualAddress) throws(GuestStopped) {
        fpuTransfers.append((false, address))
    }

    func load8(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt8 { memory[index(address, 1)] }
    func load16(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt16 {
        let at = index(address, 2)
        return UInt16(memory[at]) | UInt16(memory[at + 1]) << 8
    }
    func load32(_ address: GuestVirtualAddress) throws(GuestStopped) -> UInt32 {
        let at = index(address, 4)
        let value = (0..<4).reduce(UInt32(0)) { $0 | UInt32(memory[at + $1]) << (8 * UInt32($1)) }
        afterLoad32(address)
        return value
    }
    func store8(_ value: UInt8, at address: GuestVirtualAddress) throws(GuestStopped) {
        memory[index(address, 1)] = value
        stores.append((address, UInt32(value), .ordinary))
    }
    func store16(_ value: UInt16, at address: GuestVirtualAddress) throws(GuestStopped) {
        let at = index(address, 2)
        memory[at] = UInt8(truncatingIfNeeded: value)
        memory[at + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }
    func store32(_ value: UInt32, at address: GuestVirtualAddress, site: AccessSite) throws(GuestStopped) {
        let at = index(address, 4)
        for byte in 0..<4 { memory[at + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) }
        stores.append((address, value, site))
    }
    func loadBytes(_ address: GuestVirtualAddress, count: Int) throws(GuestStopped) -> [UInt8] {
        let at = index(address, count)
        return Array(memory[at..<at + count])
    }
    func storeBytes(_ bytes: [UInt8], at address: GuestVirtualAddress) throws(GuestStopped) {
        let at = index(address, bytes.count)
        memory.replaceSubrange(at..<at + bytes.count, with: bytes)
    }
    func native(_ instruction: NativeInstruction) throws(GuestStopped) { natives.append(instruction) }
    func cpuid(_ leaf: UInt32) -> CPUIDResult { cpuidAnswer(leaf) }
    func readTimeStampCounter() -> UInt64 { timeStampCounter }
    func returnFromInterrupt() throws(GuestStopped) { irets += 1 }

    /// The synchronous calls only.
    var synchronous: [Call] { calls.filter { !$0.async } }

    /// The 32-bit word at kernel virtual `address`.
    func word(_ address: GuestVirtualAddress) -> UInt32 {
        let at = index(address, 4)
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(memory[at + $1]) << (8 * UInt32($1)) }
    }

    /// Set the word at kernel virtual `address` without recording a store.
    func setWord(_ address: GuestVirtualAddress, _ value: UInt32) {
        let at = index(address, 4)
        for byte in 0..<4 { memory[at + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) }
    }
}

extension GuestKernel {
    /// Where the default layout puts lguest_data, guest-physical.
    static var testLguestData: GuestPhysicalAddress { KernelLayout().lguestData }
}
