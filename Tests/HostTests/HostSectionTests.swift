// Tests of Host and Switcher sections that had none named after them: a Guest's first registers
// (H:028), a stop from outside (H:042), the IDT the processor really uses (H:240); the shadow page
// tables' cache, flags, frames and full flush (H:315, H:317, H:335, H:350, H:470); the way out of the
// Guest's world (S:110, S:130), its registers page (S:035), the Host's side of the processor (S:045),
// one view per Guest (S:047), and the processor as the Guest kernel's Swift code sees it (S:215-S:245).

import LguestABI
import Machine
@testable import Switcher
import Testing
@testable import Host

@Test func h240_stubGatesTakeTheGuestsPrivilegeAndTheHypercallGateGetsRing1() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    // An interrupt gate never goes direct: its stub gate keeps the Guest's privilege, 3 here.
    let open = GateDescriptor(offset: 0xC010_0040, selector: GDTLayout.kernelCodeSelector, kind: .interrupt, dpl: 3)
    try guest.loadIDTEntry(vector: 0x30, low: open.low, high: open.high)
    let installed = guest.switcherGate(vector: 0x30)
    #expect(installed.offset == SwitcherLayout.stub(vector: 0x30).rawValue)
    #expect(installed.selector == GDTLayout.switcherCodeSelector && installed.kind == .interrupt)
    #expect(installed.dpl == 3)
    // A vector the Guest left empty still leads to the Host, but no user program may `int` to it.
    let empty = guest.switcherGate(vector: 0x31)
    #expect(empty.offset == SwitcherLayout.stub(vector: 0x31).rawValue && empty.dpl == 0)
    // The hypercall gate is for the Guest kernel at ring 1, and for nobody at ring 3.
    let hypercall = guest.switcherGate(vector: hypercallVector)
    #expect(hypercall.offset == SwitcherLayout.stub(vector: hypercallVector).rawValue)
    #expect(hypercall.dpl == guestKernelRing)
}

@Test func s110_aTrapThroughTheHostSavesEveryGeneralRegister() throws {
    let bed = HostTestBed()
    var seen: [UInt32] = []
    var traps: [UInt8] = []
    // mov $1..$7 into eax, ebx, ecx, edx, esi, edi, ebp; int $0x80; jmp .
    let program: [UInt8] = [0xB8, 1, 0, 0, 0, 0xBB, 2, 0, 0, 0, 0xB9, 3, 0, 0, 0, 0xBA, 4, 0, 0, 0,
                            0xBE, 5, 0, 0, 0, 0xBF, 6, 0, 0, 0, 0xBD, 7, 0, 0, 0, 0xCD, 0x80, 0xEB, 0xFE]
    let guest = try bed.makeGuest(userCode: program, setUp: { image in
        _ = image.addEntry(named: "syscall") { cpu throws(GuestStopped) in
            let r = cpu.registers
            seen = [r.eax, r.ebx, r.ecx, r.edx, r.esi, r.edi, r.ebp]
            try Bed.powerOff(cpu, "exit")
        }
    }) { cpu throws(GuestStopped) in
        // An interrupt gate: the trap goes out to the Host through the stub, and the Host reflects it.
        try bootToUser(cpu, gates: [(systemCallVector, entryAddress(0), .interrupt, 3)])
    }
    guest.onEvent = { _, event in if case let .trap(vector) = event { traps.append(vector) } }
    #expect(bed.host.run(guest) == .poweredOff("exit"))
    // The Host ran in between with its own registers, so these came back from the registers page.
    #expect(seen == [1, 2, 3, 4, 5, 6, 7])
    #expect(traps.contains(systemCallVector))
    #expect(guest.statistics.trapsReflected == 1)
}

@Test func h315_switchingBackToACachedShadowCostsNoFaultsAndNoFrames() throws {
    let world = try PageTableWorld()
    try world.map(userAddress, to: 45, [.present, .writable, .user])
    #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
    let second = GuestPhysicalAddress(frame: world.newGuestFrame())
    try world.tables.newPageTable(second)
    let frames = world.pool.framesInUse
    let fixed = world.tables.statistics.faultsFixed
    try world.tables.newPageTable(world.directory)
    // The shadow built before the switch is whole: no frame allocated, no fault needed to use the page.
    #expect(world.pool.framesInUse == frames)
    #expect(try world.shadowEntry(userAddress)?.flags.contains(.present) == true)
    #expect(world.tables.statistics.faultsFixed == fixed)
    #expect(world.tables.currentGuestDirectory == world.directory)
}

@Test func h317_noMatterHowManyDirectoriesTheCacheHoldsFour() throws {
    let world = try PageTableWorld()
    for _ in 0..<7 { try world.tables.newPageTable(GuestPhysicalAddress(frame: world.newGuestFrame())) }
    #expect(world.tables.directories.count == ShadowPageTables.cacheSize)
    #expect(ShadowPageTables.cacheSize == 4 && ShadowPageTables.maximumStackPages == 2)
    #expect(world.tables.installsEntriesEagerly)
}

@Test func h335_aFaultMarksTheGuestDirectoryAccessedAndTheShadowTakesItsPermissions() throws {
    let world = try PageTableWorld()
    // A read-only directory entry above a writable table entry: the directory's word is final.
    try world.map(userAddress, to: 45, [.present, .writable, .user], directoryFlags: [.present, .user])
    #expect(try !world.guestDirectoryEntry(userAddress).flags.contains(.accessed))
    #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
    #expect(try world.guestDirectoryEntry(userAddress).flags.contains(.accessed))
    let shadow = try world.shadowDirectoryEntry(userAddress).flags
    #expect(shadow.isSuperset(of: [.present, .user]))
    #expect(!shadow.contains(.writable))
    #expect(shadow.isSubset(of: allowedDirectoryFlags))
}

@Test func h335_aHostOutOfFramesKillsTheGuestWithAReason() throws {
    let world = try PageTableWorld(poolLimit: 1)
    try world.map(userAddress, to: 45, [.present, .writable, .user])
    expectViolation("host out of memory for a shadow page table") { () throws(GuestViolation) in
        _ = try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user])
    }
}

@Test func h350_guestFrameNIsHostFrameBasePlusN() throws {
    let world = try PageTableWorld()
    for frame: UInt32 in [40, 45, 63] {
        let va = userAddress + frame * UInt32(pageSize)
        try world.map(va, to: frame, [.present, .writable, .user])
        #expect(try world.tables.demandPage(GuestVirtualAddress(va), [.user]))
        #expect(try world.shadowEntry(va)?.frame == world.memory.baseFrame.advanced(by: frame))
    }
}

@Test func s215_writingTheRegistersChangesEverythingButTheInterruptFlag() throws {
    let bed = HostTestBed()
    var before = EFLAGS(), after = GuestRegisters()
    let guest = try bed.makeGuest { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        var registers = cpu.registers
        before = registers.eflags
        registers.eax = 0x1234_5678
        registers.eflags = registers.eflags.symmetricDifference([.interruptEnable, .direction, .carry])
        cpu.registers = registers
        after = cpu.registers
        registers.eflags = before  // put the direction flag back before going on
        cpu.registers = registers
        try Bed.powerOff(cpu)
    }
    #expect(bed.host.run(guest) == .poweredOff("done"))
    #expect(after.eax == 0x1234_5678)
    #expect(after.eflags.contains(.direction) != before.contains(.direction))
    #expect(after.eflags.contains(.carry) != before.contains(.carry))
    #expect(after.eflags.contains(.interruptEnable) == before.contains(.interruptEnable))
}

@Test func s220_aUserProgramMayNotMakeAHypercall() throws {
    let bed = HostTestBed()
    var errorCode: UInt32 = 0
    let guest = try bed.makeGuest(userCode: [0xCD, hypercallVector, 0xEB, 0xFE], setUp: { image in  // int $0x1f
        _ = image.addEntry(named: "general protection") { cpu throws(GuestStopped) in
            errorCode = try cpu.load32(GuestVirtualAddress(cpu.registers.esp))
            try Bed.powerOff(cpu, "gp")
        }
    }) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [(13, entryAddress(0), .interrupt, 0)])
    }
    #expect(bed.host.run(guest) == .poweredOff("gp"))
    // The gate's privilege (1) refused ring 3: #GP with the gate's IDT index in the error code.
    #expect(errorCode == UInt32(hypercallVector) * 8 + 2)
}

@Test func s240_aPrivilegedInstructionFaultsToTheGuestAndCPUIDDoesNot() throws {
    let bed = HostTestBed()
    var traps: [UInt8] = []
    var trapsAroundCPUID = (0, 0)
    let guest = try bed.makeGuest(setUp: { image in
        _ = image.addEntry(named: "general protection") { cpu throws(GuestStopped) in try Bed.powerOff(cpu, "gp") }
    }) { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try Bed.setGate(cpu, vector: 13, handler: entryAddress(0))
        trapsAroundCPUID.0 = traps.count
        _ = cpu.cpuid(0)
        trapsAroundCPUID.1 = traps.count
        try cpu.native(.wbinvd)
        try Bed.powerOff(cpu, "wbinvd did not fault")
    }
    guest.onEvent = { _, event in if case let .trap(vector) = event { traps.append(vector) } }
    #expect(bed.host.run(guest) == .poweredOff("gp"))
    #expect(trapsAroundCPUID.0 == trapsAroundCPUID.1)  // cpuid went straight to the machine
    #expect(traps.contains(13))
}

@Test func s245_anUnalignedFXSaveStopsTheGuestWithTheReasonAndTheHostGoesOn() throws {
    let bed = HostTestBed()
    let area = Bed.kva(GuestPhysicalAddress(0x20000))
    let reason = try bed.killReason { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        try cpu.saveFPU(.fxsave, at: area)               // aligned: fine
        try cpu.restoreFPU(.fxsave, from: area)
        try cpu.saveFPU(.fxsave, at: area.advanced(by: 8))  // not 16-byte aligned
        try Bed.powerOff(cpu, "unaligned fxsave was accepted")
    }
    #expect(reason.contains("switcher: FPU save at") && reason.contains("refused"))
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func h470_aFullFlushEmptiesEveryCachedShadowNotJustTheCurrentOne() throws {
    let world = try PageTableWorld()
    try world.tables.setKernelAddress(pageOffset)
    let second = GuestPhysicalAddress(frame: world.newGuestFrame())
    var shadows: [HostPhysicalAddress] = []
    for directory in [world.directory, second] {
        try world.map(kernelAddress, to: 44, [.present, .writable], in: directory)
        try world.map(userAddress, to: 45, [.present, .writable, .user], in: directory)
        try world.tables.newPageTable(directory)
        #expect(try world.tables.demandPage(GuestVirtualAddress(kernelAddress), []))
        #expect(try world.tables.demandPage(GuestVirtualAddress(userAddress), [.user]))
        shadows.append(world.tables.currentDirectory)
    }
    try world.tables.flush(kernelToo: true)
    for shadow in shadows {  // the first is cached but not current, and it is emptied too
        #expect(try world.shadowEntry(kernelAddress, shadow: shadow) == nil)
        #expect(try world.shadowEntry(userAddress, shadow: shadow) == nil)
        #expect(try world.shadowDirectoryEntry(switcherAddress.rawValue, shadow: shadow).frame == world.switcherTable)
    }
    #expect(world.pool.framesInUse == world.baselineFrames + shadows.count)  // only the directories remain
}

@Test func s235_aCopyAcrossPagesNotYetShadowedFaultsInEachPageAndArrivesWhole() throws {
    func faultsFixed(copying bytes: [UInt8]) throws -> (fixed: UInt64, readBack: [UInt8]) {
        let bed = HostTestBed()
        var readBack: [UInt8] = []
        let start = Bed.kva(GuestPhysicalAddress(0x20FF0))  // 16 bytes before a page boundary
        let guest = try bed.makeGuest { cpu throws(GuestStopped) in
            try Bed.initialize(cpu)
            if !bytes.isEmpty {
                try cpu.storeBytes(bytes, at: start)
                readBack = try cpu.loadBytes(start, count: bytes.count)
            }
            try Bed.powerOff(cpu)
        }
        #expect(bed.host.run(guest) == .poweredOff("done"))
        return (guest.statistics.pageFaultsFixed, readBack)
    }
    // 16 bytes in one page, two whole pages, 16 bytes in a fourth: four pages the shadow lacks.
    let bytes = (0..<(2 * pageSize + 32)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let baseline = try faultsFixed(copying: [])
    let copied = try faultsFixed(copying: bytes)
    #expect(copied.readBack == bytes)
    #expect(copied.fixed - baseline.fixed == 4)
}

@Test func s238_anIretToRing0IsRefusedAndTheGuestDiesNotTheHost() throws {
    let bed = HostTestBed()
    let reason = try bed.killReason { cpu throws(GuestStopped) in
        try Bed.initialize(cpu)
        // A frame that would return to ring 0: the Switcher's own code selector.
        var registers = cpu.registers
        let frame = GuestVirtualAddress(registers.esp &- 12)
        let words = [Bed.kva(GuestPhysicalAddress(0x100000)).rawValue,
                     UInt32(GDTLayout.switcherCodeSelector.rawValue), irqEnabledValue | 2]
        for (index, word) in words.enumerated() { try cpu.store32(word, at: frame.advanced(by: UInt32(index * 4))) }
        registers.esp = frame.rawValue
        cpu.registers = registers
        try cpu.returnFromInterrupt()
    }
    // The processor refused the frame with #GP at the image's `iret`, and this Guest has no handler.
    #expect(reason == "traps: unhandled trap 13 at \(GuestKernelImage().iretSite)")
    #expect(bed.machine.cpu.cpl == 0)  // the processor is the Host's again
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}

@Test func s035_theWordSubscriptAndTheWholeFrameSeeTheSamePage() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    let page = guest.registerPage
    page[.eax] = 0xCAFE_F00D
    page[.trapNumber] = 14
    #expect(page.registers.eax == 0xCAFE_F00D && page.registers.trapNumber == 14)
    var frame = page.registers
    frame.ebx = 0x0BAD_BEEF
    page.registers = frame
    #expect(page[.ebx] == 0x0BAD_BEEF && page[.eax] == 0xCAFE_F00D)
}

@Test func s045_afterAGuestTheProcessorIsInTheHostsStateAgain() throws {
    let bed = HostTestBed()
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
    let cpu = bed.machine.cpu
    #expect(cpu == bed.host.switcher.hostState)
    #expect(cpu.cpl == 0 && cpu.cs.selector == GDTLayout.switcherCodeSelector)
    #expect(cpu.cr0.isSuperset(of: [.paging, .writeProtect]))
    #expect(cpu.esp0 == SwitcherLayout.ringZeroStackTop.rawValue)
}

@Test func s047_oneProcessorViewPerGuestUntilTheHostForgetsIt() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    let switcher = bed.host.switcher
    let first = switcher.switcherProcessor(for: guest)  // held, so its address cannot be reused
    let again = first === switcher.switcherProcessor(for: guest)
    let other = try bed.makeGuest { _ throws(GuestStopped) in }
    let sharedWithOther = first === switcher.switcherProcessor(for: other)
    switcher.forget(guest)
    let keptAfterForget = first === switcher.switcherProcessor(for: guest)
    #expect(again)
    #expect(!sharedWithOther)
    #expect(!keptAfterForget)
}

@Test func s130_onlyARing0EntryAtAStubIsATrapAndItsFrameMustBeWhereEsp0Put() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    let switcher = bed.host.switcher
    let stub = SwitcherLayout.stub(vector: 13)
    // The frame a trap with an error code leaves: five words and the code below the ring-0 stack top.
    var cpu = switcher.hostState
    cpu.esp = SwitcherLayout.ringZeroStackTop.rawValue - 24
    cpu.eax = 0x5555
    bed.machine.cpu = cpu
    #expect(switcher.takeTrap(guest, .enteredKernel(vector: 13, errorCode: 0x18, handler: stub)) == .vector(13))
    #expect(guest.registerPage[.errorCode] == 0x18 && guest.registerPage[.eax] == 0x5555)
    // An entry that is not at a stub is a direct trap into the Guest kernel: nothing for the Host.
    bed.machine.cpu = cpu
    #expect(switcher.takeTrap(guest, .enteredKernel(vector: 13, errorCode: 0, handler: GuestKernelImage.base)) == nil)
    // A frame anywhere else is not trusted: the Guest is lost, and the processor is the Host's again.
    cpu.esp = 0x1234
    bed.machine.cpu = cpu
    let lost = switcher.takeTrap(guest, .enteredKernel(vector: 13, errorCode: 0, handler: stub))
    guard case let .kernelLost(reason)? = lost else { Issue.record("got \(String(describing: lost))"); return }
    #expect(reason.hasPrefix("switcher: trap 13 frame not where esp0 put it"))
    #expect(bed.machine.cpu == switcher.hostState)
}

@Test func h028_aGuestStartsAtItsBootEntryAtRing1WithInterruptsOn() throws {
    let bed = HostTestBed()
    let guest = try bed.makeGuest { _ throws(GuestStopped) in }
    let frame = guest.registerPage.registers
    #expect(frame.eip == guest.image.bootEntry?.rawValue)
    #expect(frame.cs == UInt32(GDTLayout.kernelCodeSelector.rawValue) && frame.cs & 3 == UInt32(guestKernelRing))
    #expect(frame.ss == UInt32(GDTLayout.kernelDataSelector.rawValue))
    #expect(frame.ds == frame.ss && frame.es == frame.ss)
    #expect(frame.esp == Bed.kva(Bed.stackTop).rawValue)
    #expect(frame.esi == BootParameters.address.rawValue)
    #expect(frame.eflags == EFLAGS([.alwaysOne, .interruptEnable]).rawValue)
}

@Test func h042_aStopFromOutsideEndsTheGuestWithTheLaunchersReasonAndIsNoKill() throws {
    let bed = HostTestBed()
    var asked = 0
    // A Guest that would spin in user mode for ever.
    let guest = try bed.makeGuest(userCode: spin) { cpu throws(GuestStopped) in
        try bootToUser(cpu, gates: [])
    }
    guest.stopCheck = {
        asked += 1
        return asked == 3 ? "interrupted" : nil
    }
    #expect(bed.host.run(guest) == .stoppedFromOutside("interrupted"))
    #expect(asked == 3)
    #expect(try bed.runHealthyGuest() == .poweredOff("healthy"))
}
