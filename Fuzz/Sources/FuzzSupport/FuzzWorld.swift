// One machine and one Host that live for the whole fuzzing run, with a neighbour Guest that never runs
// and whose memory is a canary, and snapshots of the Switcher's fixed pages. After every input the
// checks below must hold; any that fails is a finding, so it stops the run (`fatalError` is right in a
// fuzz harness: libFuzzer saves the input that did it).
//
// Guest memory is laid out the way Tests/HostTests/HostTestBed.swift lays it out (a kernel page table
// mapping every page at 0xC0000000, a user page at 0x00400000, a Linux GDT), so that the fuzz bytes
// start from a working Guest and spend their time on the interesting parts.

import Host
import LguestABI
import Machine
import Switcher

/// The long-lived machine, Host and canaries every host-side fuzz target runs its Guests against.
public final class FuzzWorld {
    public let machine: Machine
    public let host: Host
    /// A Guest made but never run: nothing another Guest does may change its memory.
    let neighbour: Guest
    /// The neighbour's memory as written.
    let neighbourBytes: [UInt8]
    /// The Switcher's pages that no Guest may change: its stubs, its page table (but for the register
    /// page's entry, which each Guest maps in turn) and the Host's page directory.
    let switcherFrames: [(frame: PageFrameNumber, isTable: Bool, bytes: [UInt8])]
    /// Free frames with no Guest alive but the neighbour: the machine's, and those the shadow frame
    /// pool keeps for reuse (`H:310`).
    var availableFrames: Int { machine.memory.freeFrameCount + host.frames.idleFrameCount }
    /// `availableFrames` after the neighbour was made.
    let freeFrames: Int
    /// Shadow frames in use with no Guest alive but the neighbour (its shadow page directory).
    let shadowFrames: Int

    public static let guestPages: UInt32 = 320
    public static let directory = GuestPhysicalAddress(0x2000)
    public static let kernelTable = GuestPhysicalAddress(0x3000)
    public static let lguestData = GuestPhysicalAddress(0x4000)
    public static let gdt = GuestPhysicalAddress(0x5000)
    public static let reasonAddress = GuestPhysicalAddress(0x5800)
    public static let stackTop = GuestPhysicalAddress(0x8000)
    public static let userTable = GuestPhysicalAddress(0x9000)
    public static let userCode = GuestPhysicalAddress(0x10000)
    public static let userCodeVirtual = GuestVirtualAddress(0x0040_0000)

    /// A machine of `frames` frames with its Host, the neighbour and the snapshots.
    public init(frames: Int = 2048) {
        machine = Machine(memory: PhysicalMemory(frameCount: frames))
        host = Host(machine: machine)
        var image = GuestKernelImage()
        image.bootEntry = image.addEntry(named: "neighbour") { _ throws(GuestStopped) in }
        do {
            neighbour = try host.makeGuest(pageCount: 16, image: image, initialPageDirectory: Self.directory,
                                           stack: Self.kva(Self.stackTop))
            let pattern = (0..<(16 * pageSize)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
            try neighbour.memory.copyIn(pattern, at: GuestPhysicalAddress(0))
            neighbourBytes = pattern
        } catch { fatalError("fuzz: cannot make the neighbour: \(error)") }
        // The Switcher takes four frames in a row: stubs, state, its page table, the Host's directory.
        let table = host.switcher.switcherPageTableFrame
        let frames = [(PageFrameNumber(table.rawValue - 2), false), (table, true), (host.switcher.hostPageDirectoryFrame, true)]
        let memory = machine.memory
        switcherFrames = frames.map { ($0, $1, Self.read(frame: $0, isTable: $1, memory)) }
        freeFrames = machine.memory.freeFrameCount + host.frames.idleFrameCount
        shadowFrames = host.frames.framesInUse
    }

    /// The bytes of host frame `frame`; of a page table (`isTable`), with the accessed and dirty bits
    /// that the MMU sets as it walks cleared, and the register page's entry (slot 1) left out.
    static func read(frame: PageFrameNumber, isTable: Bool, _ memory: PhysicalMemory) -> [UInt8] {
        do {
            var bytes = try memory.copyOut(from: HostPhysicalAddress(frame: frame), count: pageSize)
            guard isTable else { return bytes }
            bytes.replaceSubrange(4..<8, with: [0, 0, 0, 0])
            for entry in stride(from: 0, to: pageSize, by: 4) { bytes[entry] &= ~0x60 }
            return bytes
        } catch { fatalError("fuzz: frame \(frame): \(error)") }
    }

    /// The kernel virtual address of guest-physical `gpa`.
    public static func kva(_ gpa: GuestPhysicalAddress) -> GuestVirtualAddress {
        guard let address = kernelVirtual(gpa) else { fatalError("fuzz: \(gpa) not in the linear map") }
        return address
    }

    /// A Guest running `image` (whose boot entry must be set) with the standard layout and `userCode`
    /// in its user page, and `extraPages` pages past the mapped ones (for a device page).
    public func makeGuest(image: GuestKernelImage, userCode: [UInt8], extraPages: UInt32 = 0) -> Guest {
        do {
            let guest = try host.makeGuest(pageCount: Self.guestPages + extraPages, image: image, initialPageDirectory: Self.directory,
                                           stack: Self.kva(Self.stackTop))
            try layOut(guest, userCode: userCode, pages: Self.guestPages + extraPages)
            return guest
        } catch { fatalError("fuzz: cannot make a guest: \(error)") }
    }

    /// Writes page tables (mapping `pages` pages), GDT, lguest_data defaults, kernel text and user code into `guest`.
    func layOut(_ guest: Guest, userCode: [UInt8], pages: UInt32) throws {
        let memory = guest.memory
        let kernelPDE = PageDirectoryEntry(frame: Self.kernelTable.frame, flags: [.present, .writable])
        try memory.store32(kernelPDE.rawValue, at: Self.directory.advanced(by: UInt32(pageOffset.pageDirectoryIndex * 4)))
        for page in 0..<pages {
            let pte = PageTableEntry(frame: PageFrameNumber(page), flags: [.present, .writable])
            try memory.store32(pte.rawValue, at: Self.kernelTable.advanced(by: page * 4))
        }
        let userPDE = PageDirectoryEntry(frame: Self.userTable.frame, flags: [.present, .writable, .user])
        try memory.store32(userPDE.rawValue, at: Self.directory.advanced(by: UInt32(Self.userCodeVirtual.pageDirectoryIndex * 4)))
        let userPTE = PageTableEntry(frame: Self.userCode.frame, flags: [.present, .writable, .user])
        try memory.store32(userPTE.rawValue, at: Self.userTable.advanced(by: UInt32(Self.userCodeVirtual.pageTableIndex * 4)))
        try memory.copyIn(Array(userCode.prefix(pageSize)), at: Self.userCode)
        let flat: [(Int, SegmentDescriptor)] = [
            (GDTLayout.kernelCode, .flat(executable: true, dpl: 0)), (GDTLayout.kernelData, .flat(executable: false, dpl: 0)),
            (GDTLayout.userCode, .flat(executable: true, dpl: 3)), (GDTLayout.userData, .flat(executable: false, dpl: 3)),
        ]
        for (slot, descriptor) in flat {
            try memory.store32(descriptor.low, at: Self.gdt.advanced(by: UInt32(slot * 8)))
            try memory.store32(descriptor.high, at: Self.gdt.advanced(by: UInt32(slot * 8 + 4)))
        }
        try memory.copyIn(guest.image.text, at: GuestKernelImage.loadAddress)
        let data = Self.lguestData
        for slot in 0..<hypercallRingSize { try memory.store8(hypercallDone, at: data.advanced(by: LguestData.statusOffset(slot: slot))) }
        try memory.store32(guest.image.noInterruptWindow.lowerBound.rawValue, at: data.advanced(by: LguestData.noInterruptStart))
        try memory.store32(guest.image.noInterruptWindow.upperBound.rawValue, at: data.advanced(by: LguestData.noInterruptEnd))
        try memory.store32(pageOffset.rawValue, at: data.advanced(by: LguestData.kernelAddress))
        try memory.store32(UInt32(systemCallVector), at: data.advanced(by: LguestData.systemCallVector))
    }

    /// Runs `guest` with a budget of `switches` switches into it (a Guest may well loop for ever).
    public func run(_ guest: Guest, switches: Int = 200) -> GuestExit {
        var left = switches
        guest.stopCheck = {
            left -= 1
            return left < 0 ? "fuzz: out of switches" : nil
        }
        return host.run(guest)
    }

    /// INIT with the standard lguest_data and LOAD_GDT of the standard GDT.
    public static func initialize(_ cpu: any GuestProcessor) throws(GuestStopped) {
        try cpu.hypercall(.lguestInit, lguestData.rawValue)
        try cpu.hypercall(.loadGDT, gdt.rawValue, UInt32(GDTLayout.entryCount))
    }

    /// Powers off with `reason`.
    public static func powerOff(_ cpu: any GuestProcessor, _ reason: String) throws(GuestStopped) {
        try cpu.storeBytes(Array(reason.utf8) + [0], at: kva(reasonAddress))
        try cpu.hypercall(.shutdown, reasonAddress.rawValue, ShutdownKind.powerOff.rawValue)
    }

    /// Checks everything a Guest must not have been able to change, then boots a healthy Guest and
    /// checks it powers off; stops the run with a message if anything is wrong.
    public func checkAfterGuest(_ what: String) {
        if host.frames.framesInUse != shadowFrames {
            fatalError("fuzz: \(host.frames.framesInUse) shadow frames in use after \(what), \(shadowFrames) before")
        }
        if availableFrames != freeFrames {
            fatalError("fuzz: \(availableFrames) free frames after \(what), \(freeFrames) before")
        }
        do {
            if try neighbour.memory.copyOut(from: GuestPhysicalAddress(0), count: neighbourBytes.count) != neighbourBytes {
                fatalError("fuzz: the neighbour's memory changed after \(what)")
            }
        } catch { fatalError("fuzz: neighbour unreadable: \(error)") }
        for (frame, isTable, bytes) in switcherFrames where Self.read(frame: frame, isTable: isTable, machine.memory) != bytes {
            fatalError("fuzz: switcher frame \(frame) changed after \(what)")
        }
        var image = GuestKernelImage()
        image.bootEntry = image.addEntry(named: "healthy") { cpu throws(GuestStopped) in
            try Self.initialize(cpu)
            try Self.powerOff(cpu, "healthy")
        }
        let exit = run(makeGuest(image: image, userCode: []))
        guard case .poweredOff = exit else { fatalError("fuzz: the healthy guest after \(what) ended \(exit)") }
        if host.frames.framesInUse != shadowFrames || availableFrames != freeFrames {
            fatalError("fuzz: the healthy guest did not give its frames back")
        }
    }
}
