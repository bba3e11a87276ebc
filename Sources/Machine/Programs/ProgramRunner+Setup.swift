/*X:862 Loading the segments.

With the page tables ready to grow, loading a program is a loop over its
segments: map every page the segment's memory part touches, with the user
bit and, if the segment says `PF_W`, the writable bit; then copy the file
part in, one page-sized piece at a time, since neighbouring virtual pages
need not sit in neighbouring frames. The bytes between the file part's end
and the memory part's end stay zero, because every frame arrives zeroed:
that is all `.bss` is. The heap starts on the first page after the highest
segment.
*/

extension ProgramRunner {
    /// Maps and fills every segment of `image`, then places the heap after them.
    ///
    /// - Throws: `ProgramRunnerError.outOfMemory` when RAM cannot hold the program.
    func loadSegments(of image: ELFImage) throws(ProgramRunnerError) {
        for segment in image.segments {
            var flags: PagingFlags = [.present, .user]
            if segment.permissions.contains(.writable) { flags.insert(.writable) }
            var page = segment.virtualAddress.pageBase
            while page.rawValue < segment.endAddress {
                _ = try space.map(page, flags: flags)
                page = page &+ UInt32(pageSize)
            }
            copySegmentContents(image.fileContents(of: segment), to: segment.virtualAddress)
        }
        let end = image.segments.map(\.endAddress).max() ?? 0
        space.heapStart = AddressSpace.roundUpToPage(end)
        space.programBreak = space.heapStart
    }

    /// Copies `bytes` to the (already mapped) pages starting at `address`.
    private func copySegmentContents(_ bytes: ArraySlice<UInt8>, to address: GuestVirtualAddress) {
        var address = address
        var rest = bytes[...]
        while !rest.isEmpty {
            let room = pageSize - Int(address.pageOffset)
            let piece = rest.prefix(room)
            guard let frame = space.mappedFrame(address) else {
                preconditionFailure("runner: segment page \(address) was not mapped")
            }
            space.copy(piece, to: HostPhysicalAddress(frame: frame, offset: address.pageOffset))
            rest = rest.dropFirst(piece.count)
            address = address &+ UInt32(piece.count)
        }
    }
}
/*:*/

/*X:870 The kernel's half: GDT, IDT and a stack for traps.

When the program executes `int $0x80`, the CPU needs three things from the
kernel, all found through registers and all in memory it can reach with
paging on:

1. The **IDT**, through `idtr`: gate 0x80 says where the handler is and which
   code segment to run it in. Its DPL is 3, so ring-3 code may invoke it with
   `int`. The exception gates have DPL 0: a program that writes `int $14` to
   fake a page fault gets a general protection fault instead, as on Linux,
   which also leaves `int3` (vector 3) and `into` (vector 4) open to ring 3.
2. The **GDT**, through `gdtr`: the handler's code segment must be a present,
   ring-0 code descriptor there, and the stack segment in `ss0` a ring-0
   data descriptor.
3. A **kernel stack**, through `ss0:esp0`: a trap from ring 3 switches to it
   before pushing anything, so the program's own stack, which could be
   pointing anywhere, is never trusted with the frame. (A real CPU reads
   `ss0:esp0` from the task-state segment; this machine keeps them in
   `CPUState` instead.)

The GDT follows the classic flat model: every segment starts at 0 and spans
4 GiB, so segmentation is a formality and paging does the protecting. Its
slots are 1 and 2 for the kernel's code and data, 3 and 4 for the user's
(selectors `0x08`, `0x10`, `0x1b`, `0x23`: the low two bits of a user
selector are its requested privilege, 3).

The gates point at addresses in a kernel "text" page. Nothing ever executes
there: the interpreter stops as soon as the CPU reaches ring 0, and this
Swift code takes over. The page is filled with `hlt` anyway, so that if
something ever did run there it would fault at once rather than run garbage.
*/

extension ProgramRunner {
    /// The page of gate targets; the handler of vector `n` is 16 bytes per vector in.
    static let kernelText = GuestVirtualAddress(0xC000_0000)
    /// The GDT's page; `gdtr` points here.
    static let gdtBase = GuestVirtualAddress(0xC000_1000)
    /// The IDT's page; `idtr` points here.
    static let idtBase = GuestVirtualAddress(0xC000_2000)
    /// The kernel stack's lowest address; it grows down from `kernelStackTop`.
    static let kernelStackBottom = GuestVirtualAddress(0xC000_3000)
    /// The first address above the kernel stack: the value of `esp0`.
    static let kernelStackTop = GuestVirtualAddress(0xC000_5000)

    /// Selector `0x08`: GDT slot 1, the kernel's code.
    static let kernelCode = SegmentSelector(index: 1, rpl: 0)
    /// Selector `0x10`: GDT slot 2, the kernel's data and stack (`ss0`).
    static let kernelData = SegmentSelector(index: 2, rpl: 0)
    /// Selector `0x1b`: GDT slot 3, the program's code, requested privilege 3.
    static let userCode = SegmentSelector(index: 3, rpl: 3)
    /// Selector `0x23`: GDT slot 4, the program's data and stack.
    static let userData = SegmentSelector(index: 4, rpl: 3)
    /// Slots in the GDT, the null descriptor in slot 0 included: 5 and 6 stay empty, and 6 to 8 are
    /// the thread-local-storage slots of `set_thread_area` (`X:897`), at Linux's numbers.
    static let gdtEntries = 9
    /// The software-interrupt vector of Linux's i386 system calls.
    static let systemCallVector: UInt8 = 0x80

    /// The address the IDT names as the handler of `vector`.
    static func handler(for vector: UInt8) -> GuestVirtualAddress {
        kernelText &+ UInt32(vector) * 16
    }

    /// Maps the kernel's pages and writes the GDT and the IDT into them.
    func buildKernelHalf() throws(ProgramRunnerError) {
        let text = try space.map(Self.kernelText, flags: [])
        space.copy([UInt8](repeating: 0xF4, count: pageSize), to: HostPhysicalAddress(frame: text))
        let gdt = try space.map(Self.gdtBase, flags: [])
        for (slot, descriptor) in [
            (1, SegmentDescriptor.flat(executable: true, dpl: 0)), (2, .flat(executable: false, dpl: 0)),
            (3, .flat(executable: true, dpl: 3)), (4, .flat(executable: false, dpl: 3)),
        ] {
            writeDescriptor(descriptor.rawValue, frame: gdt, slot: slot)
        }
        let idt = try space.map(Self.idtBase, flags: [])
        for vector in 0 ... 255 {
            writeDescriptor(Self.gate(for: UInt8(vector)).rawValue, frame: idt, slot: vector)
        }
        var page = Self.kernelStackBottom
        while page < Self.kernelStackTop {
            _ = try space.map(page, flags: .writable)
            page = page &+ UInt32(pageSize)
        }
    }

    /// The IDT entry for `vector`: Linux's choices of gate type and privilege.
    static func gate(for vector: UInt8) -> GateDescriptor {
        let openToUser = vector == systemCallVector || vector == 3 || vector == 4
        return GateDescriptor(
            offset: handler(for: vector).rawValue, selector: kernelCode,
            kind: vector == systemCallVector ? .trap : .interrupt, dpl: openToUser ? 3 : 0)
    }

    /// Stores an 8-byte descriptor in slot `slot` of the table in `frame`, low half first.
    func writeDescriptor(_ raw: UInt64, frame: PageFrameNumber, slot: Int) {
        let at = HostPhysicalAddress(frame: frame, offset: UInt32(slot * 8))
        space.store(UInt32(truncatingIfNeeded: raw), at: at)
        space.store(UInt32(truncatingIfNeeded: raw >> 32), at: at &+ 4)
    }
}
/*:*/

/*X:875 The first instant of the process.

Linux starts a program at ring 3 with the registers nearly empty and the
stack holding what `main` would need: the argument count, the argument
pointers, the environment pointers, and the *auxiliary vector*. The Guest's
kernel builds exactly the same stack, so the builder is part of the shared
Linux personality: `InitialStack.build()` (`X:876`), which shows the layout.
The runner's part is to write the bytes it returns at the top of the stack,
through the MMU like any copy to user memory: the stack pages appear on
demand as they are touched (`X:865`).

Then the CPU state: paging on with write protection (so even the kernel
cannot write a read-only page by accident), cr3 at the page directory, the
descriptor tables, the user segments, interrupts enabled, and `eip` at the
entry point. Setting `machine.cpu` is the runner's one privileged moment;
from here on the program only ever leaves ring 3 through a gate.
*/

extension ProgramRunner {
    /// Loads the CPU state for the program's first instruction and builds its initial stack.
    func startProcess(_ image: ELFImage, arguments: [String], environment: [String]) throws(ProgramRunnerError) {
        guard let stack = InitialStack.build(top: AddressSpace.stackTop, arguments: arguments, environment: environment,
                                             executable: executablePath, program: image.facts,
                                             random: linuxState.random.bytes(16)) else {
            throw .argumentsTooLong
        }
        // The CPU state comes first: the stack is written through the MMU,
        // which needs cr3 and paging to find the program's pages.
        machine.cpu = initialCPU(entry: image.entry, stackPointer: stack.stackPointer)
        guard copyToUser(stack.bytes, at: GuestVirtualAddress(stack.stackPointer)) == stack.bytes.count
        else { throw .outOfMemory(neededFor: "the initial stack") }
    }

    /// Ring 3 at `entry` with `stackPointer`, paging on, the kernel's tables loaded.
    private func initialCPU(entry: GuestVirtualAddress, stackPointer: UInt32) -> CPUState {
        var cpu = CPUState()
        cpu.cr0 = [.protectionEnable, .extensionType, .writeProtect, .paging]
        cpu.cr3 = HostPhysicalAddress(frame: space.directory)
        cpu.gdtr = DescriptorTableRegister(base: Self.gdtBase, limit: UInt16(Self.gdtEntries * 8 - 1))
        cpu.idtr = DescriptorTableRegister(base: Self.idtBase, limit: 256 * 8 - 1)
        cpu.ss0 = Self.kernelData
        cpu.esp0 = Self.kernelStackTop.rawValue
        cpu.cs = .flat(index: Self.userCode.index, ring: 3, executable: true)
        let data = SegmentRegister.flat(index: Self.userData.index, ring: 3, executable: false)
        cpu.ss = data
        cpu.ds = data
        cpu.es = data
        cpu.eflags = [.alwaysOne, .interruptEnable]
        cpu.eip = entry.rawValue
        cpu.esp = stackPointer
        return cpu
    }
}
/*:*/
