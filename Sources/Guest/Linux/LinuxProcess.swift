/*G:098 The kernel's side of the Linux personality.

The system calls are answered by the Linux personality this kernel shares with Appendix X's stand-in
(`X:877`); what it needs from us is the short list of things only a kernel owns, and
`GuestPersonality` is that list, each item a line or two forwarding to the part of the kernel that
does the work: user memory through our own page-table walk (`G:084`), files through the descriptor
table (`G:090`), memory for `mmap2` through the page allocator and `mapUserPage()`, sleeping through
the scheduler (`G:088`).

Two of these are new. `protectPage()`, behind `mprotect`, rewrites one page-table entry with the
writable bit changed, through `setPTEAt()` so that the Host's shadow follows. And `installTLS()`,
behind `set_thread_area`, is `G:099`.

A program also needs a proper start (`X:876`): its arguments, its environment and the auxiliary
vector. The arguments come from the ramdisk, as standard input does: a file `NAME.args` beside
program `NAME` holds its arguments one per line, and the Launcher writes it from `lguest boot
--arguments 'NAME=ARG ARG...'`. The environment is the one Linux gives its first process, `HOME=/`
and `TERM=linux`. */

import LguestABI
import Machine

/// The Guest kernel as the shared personality sees it: each requirement forwards to the kernel.
struct GuestPersonality: LinuxPersonality {
    typealias Stop = GuestStopped
    /// The kernel behind the view.
    let kernel: GuestKernel

    func readUserMemory(_ address: UInt32, count: Int) throws(GuestStopped) -> [UInt8]? {
        guard count > 0 else { return [] }
        return try kernel.copyFromUser(kernel.currentProcess.directory, GuestVirtualAddress(address), count: count)
    }

    func writeUserMemory(_ address: UInt32, _ bytes: [UInt8]) throws(GuestStopped) -> Bool {
        try kernel.copyToUser(kernel.currentProcess.directory, GuestVirtualAddress(address), bytes)
    }

    var linux: LinuxProcessState {
        get { kernel.currentProcess.linux }
        nonmutating set { kernel.currentProcess.linux = newValue }
    }

    var processID: UInt32 { kernel.currentProcess.pid }
    var executablePath: String { "/" + kernel.currentProcess.name }
    var openFileLimit: UInt32 { UInt32(maximumOpenFiles) }
    func currentTime() throws(GuestStopped) -> UInt64 { try kernel.now() }
    func noteUnknownSystemCall(_ number: UInt32) { kernel.statistics.unknownSystemCalls += 1 }

    func sysExit(status: UInt32) throws(GuestStopped) {
        // The only call that does not return: there is no process left to return to.
        try kernel.exitCurrent(status: status, reason: "exited with status \(status)")
        kernel.statistics.programsExited += 1
    }

    func sysRead(fd: UInt32, buffer: UInt32, count: UInt32) throws(GuestStopped) -> UInt32? {
        try kernel.sysRead(fd: fd, buffer: buffer, count: count)
    }

    func sysWrite(fd: UInt32, buffer: UInt32, count: UInt32) throws(GuestStopped) -> UInt32? {
        try kernel.sysWrite(fd: fd, buffer: buffer, count: count)
    }

    func sysBrk(_ requested: UInt32) throws(GuestStopped) -> UInt32 { try kernel.sysBrk(requested) }
    func sysSleep(nanoseconds: UInt64) throws(GuestStopped) -> UInt32 { try kernel.sysSleep(nanoseconds) }

    /// Nothing to do now: `exitToUser()` picks the next process on the way out.
    func sysYield() { kernel.processes.needsReschedule = true }

    func fileKind(fd: UInt32) -> LinuxFileKind? {
        kernel.currentProcess.files[Int(fd)].map { kernel.kind(of: $0.node) }
    }

    func mapAnonymousPage(at address: UInt32) throws(GuestStopped) -> Bool {
        guard let frame = kernel.pages.allocate() else { return false }
        try kernel.zeroPage(frame)
        guard try kernel.mapUserPage(kernel.currentProcess.directory, GuestVirtualAddress(address), frame: frame,
                                     writable: true) else {
            kernel.pages.release(frame)
            return false
        }
        return true
    }

    func unmapPage(at address: UInt32) throws(GuestStopped) {
        if let frame = try kernel.unmapUserPage(kernel.currentProcess.directory, GuestVirtualAddress(address)) {
            kernel.pages.release(frame)
        }
    }

    func protectPage(at address: UInt32, writable: Bool) throws(GuestStopped) -> Bool {
        let directory = kernel.currentProcess.directory, page = GuestVirtualAddress(address)
        guard let pointer = try kernel.pageTableEntryPointer(directory, page) else { return isStackPromise(address) }
        let entry = PageTableEntry(rawValue: try kernel.read32(linear(pointer)))
        guard entry.flags.contains(.present) else { return isStackPromise(address) }
        let flags = writable ? entry.flags.union(.writable) : entry.flags.subtracting(.writable)
        try kernel.pvOps.setPTEAt(kernel, directory, page, pointer, PageTableEntry(frame: entry.frame, flags: flags))
        return true
    }

    /// Whether `address` is stack the process may still grow into (`G:093`): promised, if not mapped.
    private func isStackPromise(_ address: UInt32) -> Bool {
        address >= ProgramImage.stackLimit && address < ProgramImage.stackTop
    }

    func installTLS() throws(GuestStopped) { try kernel.loadProcessTLS(kernel.currentProcess) }

    func sysOpen(path: String, flags: UInt32) throws(GuestStopped) -> UInt32 { try kernel.sysOpen(path: path, flags: flags) }
    func sysClose(fd: UInt32) throws(GuestStopped) -> UInt32 { kernel.sysClose(fd: fd) }
    func sysLseek(fd: UInt32, offset: UInt32, whence: UInt32) throws(GuestStopped) -> UInt32 {
        kernel.sysLseek(fd: fd, offset: offset, whence: whence)
    }
    func sysLlseek(fd: UInt32, high: UInt32, low: UInt32, result: UInt32, whence: UInt32) throws(GuestStopped) -> UInt32 {
        try kernel.sysLlseek(fd: fd, high: high, low: low, result: result, whence: whence)
    }
    func sysFsync(fd: UInt32) throws(GuestStopped) -> UInt32? { try kernel.sysFsync(fd: fd) }
    func sysReboot(magic1: UInt32, magic2: UInt32, command: UInt32) throws(GuestStopped) -> UInt32 {
        try kernel.sysReboot(magic1: magic1, magic2: magic2, command: command)
    }
    func sysGetdents64(fd: UInt32, buffer: UInt32, count: UInt32) throws(GuestStopped) -> UInt32 {
        try kernel.sysGetdents64(fd: fd, buffer: buffer, count: count)
    }
    func pathKind(_ path: String) -> Result<LinuxFileKind, Errno> { kernel.pathKind(path) }
}
/*:*/

/*G:099 Thread-local storage through LOAD_TLS.

At last the `LOAD_TLS` hypercall does the job it was made for (`G:034`, `H:650`). Each process keeps
its three TLS descriptors (`LinuxProcessState.tls`, filled by `set_thread_area`, `X:897`); whenever
they must be in the GDT, because the process just changed them or because we are switching to it
(`G:088`), the kernel writes the three into its scratch page and sends their address with
`LOAD_TLS`, and the Host checks each one and copies it into the Guest's GDT. A descriptor glibc asks
for is a ring-3 data segment with a base, which passes the Host's checks unchanged.

One subtlety is worth knowing. A segment register caches its descriptor when it is loaded: changing
the GDT entry does not change a gs loaded before. So how does a process switch give the next glibc
program *its* base in gs? Through the Host, as in lguest: the `LOAD_TLS` is flushed with a world
switch, and on its way back into the Guest the Switcher reloads the segment registers it saved
(the Switcher chapter, `lguest_regs`), which re-reads the new descriptor. Two glibc programs sharing the
processor each see their own `__thread` variables (the `g099_` tests run two). What we do not do is
keep gs's *selector* per process, as Linux's `__switch_to` does; every glibc program uses the same
slot, so it has not mattered yet (`M:041`). */

extension GuestKernel {
    /// Put `process`'s TLS descriptors in the scratch page and load them into the GDT.
    func loadProcessTLS(_ process: Process) throws(GuestStopped) {
        let bytes = process.linux.tls.flatMap { littleEndianBytes($0.low) + littleEndianBytes($0.high) }
        try writeBytes(linear(layout.scratch &+ tlsOffset), bytes)
        try loadTLS(layout.scratch &+ tlsOffset)
    }

    /// The start-up stack of a new process (`X:876`), written at the top of its mapped stack; its
    /// first stack pointer, or nil when the arguments do not fit (`E2BIG`).
    func buildInitialStack(_ directory: GuestPhysicalAddress, name: String, image: ProgramImage,
                           state: inout LinuxProcessState) throws(GuestStopped) -> UInt32? {
        let arguments = initrdFile(name + ".args").map { file in
            String(decoding: file.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        } ?? []
        guard let stack = InitialStack.build(top: ProgramImage.stackTop, arguments: [name] + arguments,
                                             environment: ["HOME=/", "TERM=linux"], executable: "/" + name,
                                             program: image.facts, random: state.random.bytes(16)) else { return nil }
        guard try copyToUser(directory, GuestVirtualAddress(stack.stackPointer), stack.bytes) else { return nil }
        return stack.stackPointer
    }
}
/*:*/

/*M:041 Where the Linux personality could go next.

* *A gs selector per process.* Programs that pick different TLS slots, or one that clears gs, need
  the selector saved with the process and reloaded in `resume()`, as Linux's `__switch_to` does with
  `loadsegment(gs, ...)`.
* *A shell with pipelines.* busybox `sh -c 'echo hi | wc -c'` needs `fork` (or `vfork`/`clone`),
  `execve`, `wait4`, `pipe` and `dup2`. `fork` is the big one: copy the address space, ideally
  copy-on-write (`M:040`); `execve` is `spawn()` over the current process, with the start-up stack of
  `X:876`; `wait4` blocks on a channel the child's exit wakes (`G:091`); a pipe is a page of kernel
  memory with two channels, one for readers and one for writers. Every one of them belongs in the
  shared personality except the address-space copy, which is each kernel's own.
* *File mappings.* `mmap2` of a ramdisk file could copy the file's bytes into anonymous pages; that
  is all a read-only, private file mapping has to look like.
* *Reusing address space.* `mmap2` stacks mappings downwards and never reuses a hole left by
  `munmap`; a free list of holes, searched first-fit, is the classic next step. :*/
