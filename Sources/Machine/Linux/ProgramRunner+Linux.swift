// The stand-in kernel's side of the shared Linux personality (`X:877`): what only it owns, its one
// process's memory, files and tables, behind the personality's protocol. The calls themselves are
// answered by the personality; see `X:880` for how they arrive.

/// The runner as the personality sees it: a thin view that forwards each requirement to the runner.
struct RunnerPersonality: LinuxPersonality {
    typealias Stop = Never
    /// The kernel behind the view.
    let runner: ProgramRunner

    /// The `count` bytes at `address`, or nil unless every one of them is readable.
    func readUserMemory(_ address: UInt32, count: Int) -> [UInt8]? {
        guard count >= 0, runner.userRangeIsPlausible(address, count: UInt32(clamping: count)) else { return nil }
        let bytes = runner.copyFromUser(address, count: count)
        return bytes.count == count ? bytes : nil
    }

    /// Write `bytes` at `address`; false unless all of them could be written.
    func writeUserMemory(_ address: UInt32, _ bytes: [UInt8]) -> Bool {
        guard runner.userRangeIsPlausible(address, count: UInt32(clamping: bytes.count)) else { return false }
        return runner.copyToUser(bytes, at: GuestVirtualAddress(address)) == bytes.count
    }

    var linux: LinuxProcessState {
        get { runner.linuxState }
        nonmutating set { runner.linuxState = newValue }
    }

    var processID: UInt32 { ProgramRunner.processID }
    /// Three descriptors, and no call to open more.
    var openFileLimit: UInt32 { 3 }
    func currentTime() -> UInt64 { runner.machine.clock.nanoseconds }
    func noteUnknownSystemCall(_ number: UInt32) { runner.unknownSystemCalls &+= 1 }

    func sysExit(status: UInt32) {
        runner.termination = .exited(status: UInt8(truncatingIfNeeded: status))
    }

    /// The only process yields to itself.
    func sysYield() {}

    /// The three standard descriptors are pipes to the runner's buffers, as under a test harness.
    func fileKind(fd: UInt32) -> LinuxFileKind? { fd <= 2 ? .pipe : nil }

    func mapAnonymousPage(at address: UInt32) -> Bool {
        do {
            _ = try runner.space.map(GuestVirtualAddress(address), flags: [.user, .writable])
            return true
        } catch {
            return false
        }
    }

    func unmapPage(at address: UInt32) {
        if runner.space.unmap(GuestVirtualAddress(address)) { runner.machine.flushTLB(page: GuestVirtualAddress(address)) }
    }

    func protectPage(at address: UInt32, writable: Bool) -> Bool {
        let page = GuestVirtualAddress(address)
        if runner.space.setWritable(page, writable) {
            runner.machine.flushTLB(page: page)
            return true
        }
        // Not mapped yet: fine if the heap or stack promises it (it will arrive writable).
        return runner.space.growsOnDemand(page)
    }

    /// Store the three TLS descriptors into GDT slots 6 to 8; the next load of gs sees them.
    func installTLS() {
        guard let gdt = runner.space.mappedFrame(ProgramRunner.gdtBase) else { preconditionFailure("runner: no GDT page") }
        for (index, descriptor) in runner.linuxState.tls.enumerated() {
            runner.writeDescriptor(descriptor.rawValue, frame: gdt, slot: 6 + index)
        }
    }
}

extension RunnerPersonality {
    var executablePath: String { runner.executablePath }
    func sysRead(fd: UInt32, buffer: UInt32, count: UInt32) -> UInt32? { runner.sysRead(fd: fd, buffer: buffer, count: count) }
    func sysWrite(fd: UInt32, buffer: UInt32, count: UInt32) -> UInt32? { runner.sysWrite(fd: fd, buffer: buffer, count: count) }
    func sysBrk(_ requested: UInt32) -> UInt32 { runner.sysBrk(requested) }
    func sysSleep(nanoseconds: UInt64) -> UInt32 { runner.sysSleep(nanoseconds: nanoseconds) }
}
