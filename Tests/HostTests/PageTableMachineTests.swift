// The shadow page tables under the machine's real MMU (H:330, H:480): cr3 holds the shadow, every
// fault goes to demandPage(), and the access is retried, as the run loop does.

import Testing
import LguestABI
import Machine
@testable import Host

@Suite struct PageTableMachineTests {
    enum Outcome: Equatable {
        /// The access went through, to this host address, after this many faults the Host fixed.
        case translated(HostPhysicalAddress, faults: Int)
        /// The fault was the Guest's, with this error code.
        case reflected(PageFaultErrorCode)
    }

    /// A machine running on the world's RAM with its shadow in cr3, paging on and CR0.WP set.
    private func machine(for world: PageTableWorld) -> Machine {
        let machine = Machine(memory: world.ram)
        var cpu = machine.cpu
        cpu.cr0 = [.protectionEnable, .extensionType, .paging, .writeProtect]
        cpu.cr3 = world.tables.currentDirectory
        machine.cpu = cpu
        return machine
    }

    /// Tries an access the way the run loop handles a Guest's #PF: demand-page and retry, at most a
    /// few times (a fault the Host "fixes" forever would be a bug).
    private func access(_ machine: Machine, _ world: PageTableWorld, _ va: UInt32, _ kind: AccessKind,
                        _ privilege: Privilege) throws -> Outcome {
        for faults in 0..<4 {
            do {
                let host = try machine.translate(GuestVirtualAddress(va), access: kind, privilege: privilege)
                return .translated(host, faults: faults)
            } catch {
                guard try world.tables.demandPage(error.address, error.errorCode) else {
                    return .reflected(error.errorCode)
                }
                machine.flushTLB()
            }
        }
        Issue.record("the Host fixed the same fault over and over at \(GuestVirtualAddress(va))")
        return .reflected([])
    }

    @Test func h330_theMMUSeesTheGuestsPageAfterOneFaultAndDirtyAfterTheFirstWrite() throws {
        let world = try PageTableWorld()
        try world.map(userAddress, to: 41, [.present, .writable, .user])
        let machine = machine(for: world)
        let expected = HostPhysicalAddress(frame: world.host(41), offset: 0x10)

        #expect(try access(machine, world, userAddress + 0x10, .read, .user) == .translated(expected, faults: 1))
        #expect(try world.guestEntry(userAddress).flags == [.present, .writable, .user, .accessed])
        #expect(try access(machine, world, userAddress + 0x10, .read, .user) == .translated(expected, faults: 0))
        #expect(try access(machine, world, userAddress + 0x10, .write, .user) == .translated(expected, faults: 1))
        #expect(try world.guestEntry(userAddress).flags.contains(.dirty))
        #expect(try access(machine, world, userAddress + 0x10, .write, .user) == .translated(expected, faults: 0))
    }

    /// lguest looked only at the table entry; with a read-only directory entry it would loop forever.
    @Test func h330_aReadOnlyDirectoryEntryIsHonouredNotLoopedOn() throws {
        let world = try PageTableWorld()
        try world.map(userAddress, to: 41, [.present, .writable, .user], directoryFlags: [.present, .user])
        let machine = machine(for: world)
        #expect(try access(machine, world, userAddress, .read, .user) == .translated(
            HostPhysicalAddress(frame: world.host(41)), faults: 1))
        #expect(try access(machine, world, userAddress, .write, .user) == .reflected([.protection, .write, .user]))
    }

    @Test func h330_aGuestKernelWriteToAReadOnlyPageIsReflected() throws {
        let world = try PageTableWorld()
        try world.map(kernelAddress, to: 42, [.present])
        let machine = machine(for: world)
        #expect(try access(machine, world, kernelAddress, .read, .supervisor) == .translated(
            HostPhysicalAddress(frame: world.host(42)), faults: 1))
        #expect(try access(machine, world, kernelAddress, .write, .supervisor) == .reflected([.protection, .write]))
    }

    @Test func h480_theGuestKernelReadsTheSwitcherButCannotWriteItsCode() throws {
        let world = try PageTableWorld()
        let machine = machine(for: world)
        // The register page (the second) is writable for the CPU's own pushes, at ring 0 or 1.
        let registers = try access(machine, world, switcherAddress.rawValue + 0x1000, .write, .supervisor)
        guard case .translated(_, faults: 0) = registers else {
            Issue.record("register page: \(registers)")
            return
        }
        #expect(try access(machine, world, switcherAddress.rawValue, .read, .supervisor) != .reflected([]))
        expectViolation("touched the Switcher") { () throws(GuestViolation) in
            do throws(PageFault) {
                _ = try machine.translate(switcherAddress, access: .write, privilege: .supervisor)
                Issue.record("the Switcher's code page was writable")
            } catch {
                _ = try world.tables.demandPage(error.address, error.errorCode)
            }
        }
    }

    @Test func h480_aProgramCannotEvenReadTheSwitcher() throws {
        let world = try PageTableWorld()
        let machine = machine(for: world)
        #expect(try access(machine, world, switcherAddress.rawValue + 0x2000, .read, .user) == .reflected([.protection, .user]))
    }
}
