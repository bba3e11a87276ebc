import Testing
@testable import Machine

@Suite struct PagingTests {
    @Test func x330_walkSetsAccessedOnReadsAndDirtyOnWrites() {
        // mov 0x20000,%eax; movl $1,0x21000; int $0x80
        let test = TestMachine()
        #expect(!test.pte(0x20000).flags.contains(.accessed))
        test.load([0xA1, 0x00, 0x00, 0x02, 0x00, 0xC7, 0x05, 0x00, 0x10, 0x02, 0x00, 0x01, 0, 0, 0, 0xCD, 0x80])
        _ = test.machine.run(maxInstructions: 10)
        #expect(test.pte(0x20000).flags.contains(.accessed) && !test.pte(0x20000).flags.contains(.dirty))
        #expect(test.pte(0x21000).flags.isSuperset(of: [.accessed, .dirty]))
        #expect(test.pte(0x10000).flags.contains(.accessed) && !test.pte(0x10000).flags.contains(.dirty))
        #expect(!test.pte(0x22000).flags.contains(.accessed))
        let pde = PageDirectoryEntry(rawValue: try! test.memory.load32(at: HostPhysicalAddress(0)))
        #expect(pde.flags.contains(.accessed))
    }

    /// (description, code, address touched, expected error code bits)
    static let faultCases: [(String, [UInt8], UInt32, PageFaultErrorCode)] = [
        ("user read of a supervisor page", [0xA1, 0x00, 0x00, 0x04, 0x00], 0x40000, [.protection, .user]),
        ("user write to a read-only page", [0xA3, 0x00, 0x08, 0x01, 0x00], 0x10800, [.protection, .write, .user]),
        ("user read of an unmapped page", [0xA1, 0x00, 0x00, 0x06, 0x00], 0x60000, [.user]),
        ("user write to an unmapped page", [0xA3, 0x00, 0x00, 0x06, 0x00], 0x60000, [.write, .user]),
        ("read-modify-write of a read-only page", [0x83, 0x05, 0x00, 0x08, 0x01, 0x00, 0x01], 0x10800, [.protection, .write, .user]),
        ("page 0 is not mapped", [0x8B, 0x00], 0x0, [.user]),
        ("a read straddling into an unmapped page", [0xA1, 0xFE, 0x7F, 0x03, 0x00], 0x38000, [.user]),
    ]

    @Test func x330_faultsCarryTheExactErrorCodeAndCR2() {
        for (description, code, address, errorCode) in Self.faultCases {
            let test = TestMachine()
            test.load(code)
            let stop = test.machine.run(maxInstructions: 10)
            #expect(stop == .enteredKernel(vector: 14, errorCode: errorCode.rawValue,
                                           handler: GuestVirtualAddress(TestMachine.handlerBase + 14 * 16)), "\(description)")
            #expect(test.machine.cpu.cr2 == GuestVirtualAddress(address), "\(description)")
            #expect(test.stackWord(1) == TestMachine.codeBase, "\(description): the faulting instruction restarts")
        }
    }

    @Test func x330_fetchFromAnUnmappedPageFaults() {
        // jmp *%eax with eax = 0x60000
        let outcome = execute([0xFF, 0xE0]) { _, cpu in cpu.eax = 0x60000 }
        #expect(outcome.stop == .enteredKernel(vector: 14, errorCode: PageFaultErrorCode.user.rawValue,
                                               handler: GuestVirtualAddress(TestMachine.handlerBase + 14 * 16)))
    }

    @Test func x330_bothLevelsMustAllowTheAccess() {
        // With the directory entry read-only, even the kernel stack would be read-only under CR0.WP
        // and the #PF could not be delivered (a triple fault), so this test turns WP off.
        let test = TestMachine()
        let pde = PageDirectoryEntry(frame: PageFrameNumber(1), flags: [.present, .user])  // not writable
        try! test.memory.store32(pde.rawValue, at: HostPhysicalAddress(0))
        var cpu = test.machine.cpu
        cpu.cr0.remove(.writeProtect)
        test.machine.cpu = cpu
        test.load([0xA3, 0x00, 0x00, 0x02, 0x00])  // mov %eax,0x20000
        let stop = test.machine.run(maxInstructions: 5)
        #expect(stop == .enteredKernel(vector: 14, errorCode: 7, handler: GuestVirtualAddress(TestMachine.handlerBase + 14 * 16)))
    }

    @Test func x330_largePagesAreReservedBitFaults() {
        let test = TestMachine()
        let pde = PageDirectoryEntry(frame: PageFrameNumber(1), flags: [.present, .user, .writable, .pageSize])
        try! test.memory.store32(pde.rawValue, at: HostPhysicalAddress(0))
        #expect(throws: PageFault(address: GuestVirtualAddress(0x20000), errorCode: [.protection, .reservedBit, .user])) {
            _ = try test.machine.readVirtual32(GuestVirtualAddress(0x20000), privilege: .user)
        }
    }

    @Test func x330_supervisorWritesIgnoreReadOnlyUnlessWP() throws {
        let test = TestMachine()
        #expect(throws: PageFault(address: GuestVirtualAddress(0x10000), errorCode: [.protection, .write])) {
            try test.machine.writeVirtual32(1, at: GuestVirtualAddress(0x10000), privilege: .supervisor)
        }
        var cpu = test.machine.cpu
        cpu.cr0.remove(.writeProtect)
        test.machine.cpu = cpu
        try test.machine.writeVirtual32(0xABCD, at: GuestVirtualAddress(0x10000), privilege: .supervisor)
        #expect(try test.memory.load32(at: HostPhysicalAddress(0x10000)) == 0xABCD)
        #expect(throws: PageFault.self) {
            try test.machine.writeVirtual32(1, at: GuestVirtualAddress(0x10000), privilege: .user)
        }
    }

    @Test func x330_framesOutsideRAMStopTheMachineInsteadOfCrashing() {
        let test = TestMachine()
        test.map(0x20000, to: 0xFFFF_F000, [.present, .user, .writable])
        test.load([0xA1, 0x00, 0x00, 0x02, 0x00])
        let stop = test.machine.run(maxInstructions: 5)
        guard case let .machineCheck(reason) = stop else {
            Issue.record("expected a machine check, got \(stop)")
            return
        }
        #expect(reason.contains("outside RAM"))
        var cpu = test.machine.cpu
        cpu.cr3 = HostPhysicalAddress(0x4000_0000)
        test.machine.cpu = cpu
        do {
            _ = try test.machine.readVirtual8(GuestVirtualAddress(0x20000), privilege: .supervisor)
            Issue.record("a directory outside RAM must not translate")
        } catch {
            #expect(error.frameOutsideRAM == PageFrameNumber(0x40000))
        }
    }

    @Test func x340_theTLBStaysStaleUntilFlushed() throws {
        let test = TestMachine()
        try test.memory.store32(0x1111, at: HostPhysicalAddress(0x20000))
        try test.memory.store32(0x2222, at: HostPhysicalAddress(0x21000))
        let address = GuestVirtualAddress(0x20000)
        #expect(try test.machine.readVirtual32(address, privilege: .user) == 0x1111)
        test.map(0x20000, to: 0x21000, [.present, .user, .writable])
        #expect(try test.machine.readVirtual32(address, privilege: .user) == 0x1111, "stale until flushed")
        test.machine.flushTLB(page: GuestVirtualAddress(0x22000))
        #expect(try test.machine.readVirtual32(address, privilege: .user) == 0x1111, "another page's flush")
        test.machine.flushTLB(page: address)
        #expect(try test.machine.readVirtual32(address, privilege: .user) == 0x2222)
        test.map(0x20000, to: 0x20000, [.present, .user, .writable])
        test.machine.flushTLB()
        #expect(try test.machine.readVirtual32(address, privilege: .user) == 0x1111)
        #expect(test.machine.statistics.tlbHits >= 2 && test.machine.statistics.tlbMisses >= 3)
    }

    @Test func x340_globalEntriesSurviveACR3LoadUnderPGE() throws {
        let test = TestMachine()
        var cpu = test.machine.cpu
        cpu.cr4.insert(.pageGlobalEnable)
        test.machine.cpu = cpu
        try test.memory.store32(0x1111, at: HostPhysicalAddress(0x20000))
        try test.memory.store32(0x2222, at: HostPhysicalAddress(0x21000))
        test.map(0x20000, to: 0x20000, [.present, .user, .writable, .global])
        test.map(0x22000, to: 0x20000, [.present, .user, .writable])
        _ = try test.machine.readVirtual32(GuestVirtualAddress(0x20000), privilege: .user)
        _ = try test.machine.readVirtual32(GuestVirtualAddress(0x22000), privilege: .user)
        test.map(0x20000, to: 0x21000, [.present, .user, .writable, .global])
        test.map(0x22000, to: 0x21000, [.present, .user, .writable])
        // A second directory with the same entry: a cr3 load keeps only the global translation.
        try test.memory.store32(try test.memory.load32(at: HostPhysicalAddress(0)), at: HostPhysicalAddress(0x5F000))
        cpu = test.machine.cpu
        cpu.cr3 = HostPhysicalAddress(0x5F000)
        test.machine.cpu = cpu
        #expect(try test.machine.readVirtual32(GuestVirtualAddress(0x20000), privilege: .user) == 0x1111)
        #expect(try test.machine.readVirtual32(GuestVirtualAddress(0x22000), privilege: .user) == 0x2222)
    }

    @Test func x340_flushingByGenerationSurvivesTheWrapAround() throws {
        let test = TestMachine()
        try test.memory.store32(0x1111, at: HostPhysicalAddress(0x20000))
        try test.memory.store32(0x2222, at: HostPhysicalAddress(0x21000))
        let address = GuestVirtualAddress(0x20000)
        for round in 0..<4200 {  // more flushes than there are generations
            let frame: UInt32 = round % 2 == 0 ? 0x20000 : 0x21000
            test.map(0x20000, to: frame, [.present, .user, .writable])
            test.machine.flushTLB()
            let value = try test.machine.readVirtual32(address, privilege: .user)
            if value != (round % 2 == 0 ? 0x1111 : 0x2222) {
                Issue.record("round \(round): read \(hex(value)) through a flushed TLB")
                return
            }
        }
        #expect(test.machine.statistics.tlbFlushes >= 4200)
    }

    @Test func x340_globalEntriesSurviveManyCR3LoadsAcrossTheWrapAround() throws {
        let test = TestMachine()
        var cpu = test.machine.cpu
        cpu.cr4.insert(.pageGlobalEnable)
        test.machine.cpu = cpu
        try test.memory.store32(0x1111, at: HostPhysicalAddress(0x20000))
        try test.memory.store32(0x2222, at: HostPhysicalAddress(0x21000))
        test.map(0x20000, to: 0x20000, [.present, .user, .writable, .global])
        _ = try test.machine.readVirtual32(GuestVirtualAddress(0x20000), privilege: .user)
        test.map(0x20000, to: 0x21000, [.present, .user, .writable, .global])
        try test.memory.store32(try test.memory.load32(at: HostPhysicalAddress(0)), at: HostPhysicalAddress(0x5F000))
        for round in 0..<4200 {
            cpu = test.machine.cpu
            cpu.cr3 = HostPhysicalAddress(round % 2 == 0 ? 0x5F000 : 0)
            test.machine.cpu = cpu
        }
        #expect(try test.machine.readVirtual32(GuestVirtualAddress(0x20000), privilege: .user) == 0x1111, "still the global entry")
        test.machine.flushTLB()
        #expect(try test.machine.readVirtual32(GuestVirtualAddress(0x20000), privilege: .user) == 0x2222)
    }

    @Test func x350_pageCrossingAccessesWorkAndFaultAtomically() throws {
        let test = TestMachine()
        try test.machine.writeVirtual32(0xA1B2_C3D4, at: GuestVirtualAddress(0x20FFE), privilege: .user)
        #expect(try test.machine.readVirtual32(GuestVirtualAddress(0x20FFE), privilege: .user) == 0xA1B2_C3D4)
        #expect(try test.memory.load16(at: HostPhysicalAddress(0x21000)) == 0xA1B2)
        test.map(0x21000, to: 0x21000, [.present, .user])  // read-only now
        test.machine.flushTLB()
        #expect(throws: PageFault(address: GuestVirtualAddress(0x21000), errorCode: [.protection, .write, .user])) {
            try test.machine.writeVirtual32(0, at: GuestVirtualAddress(0x20FFE), privilege: .user)
        }
        #expect(try test.memory.load16(at: HostPhysicalAddress(0x20FFE)) == 0xC3D4, "nothing written")
        #expect(throws: PageFault.self) {
            try test.machine.copyToVirtual([1, 2, 3, 4, 5, 6, 7, 8], at: GuestVirtualAddress(0x20FFC), privilege: .user)
        }
        #expect(try test.memory.load32(at: HostPhysicalAddress(0x20FFC)) == 0xC3D4_0000, "copy is all or nothing")
        let bytes = try test.machine.copyFromVirtual(GuestVirtualAddress(0x20FFE), count: 4, privilege: .user)
        #expect(bytes == [0xD4, 0xC3, 0xB2, 0xA1])
    }

    @Test func x350_interpreterHandlesUnalignedAndPageCrossingOperands() {
        // mov %ebx,0x20ffe; mov 0x20ffe,%ecx; movw 0x20fff,%dx
        let outcome = execute([0x89, 0x1D, 0xFE, 0x0F, 0x02, 0x00, 0x8B, 0x0D, 0xFE, 0x0F, 0x02, 0x00,
                               0x66, 0x8B, 0x15, 0xFF, 0x0F, 0x02, 0x00]) { _, cpu in cpu.ebx = 0x1122_3344 }
        #expect(outcome.cpu.ecx == 0x1122_3344 && outcome.cpu.edx == 0x2233)
    }

    @Test func x350_instructionsMayStraddleCodePages() {
        let test = TestMachine()
        test.load([0xB8, 0x78, 0x56, 0x34, 0x12, 0xCD, 0x80], at: 0x10FFD)  // mov $0x12345678,%eax across pages
        var cpu = test.machine.cpu
        cpu.eip = 0x10FFD
        test.machine.cpu = cpu
        let stop = test.machine.run(maxInstructions: 5)
        #expect(stop == .enteredKernel(vector: 0x80, errorCode: nil, handler: GuestVirtualAddress(TestMachine.handlerBase + 0x800)))
        #expect(test.machine.cpu.eax == 0x1234_5678)
    }
}
