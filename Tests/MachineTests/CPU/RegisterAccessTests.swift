// The narrow register accessors the Switcher uses (X:125): each changes exactly what it names.

import Machine
import Testing

@Test func x125_registerAccessorsReadAndWriteOnlyWhatTheyName() {
    let machine = Machine(memory: PhysicalMemory(frameCount: 1))
    var cpu = machine.cpu
    cpu.cs = .flat(index: 2, ring: 1, executable: true)
    cpu.eip = 0x1234
    for register in Register32.allCases { cpu[register] = 0x100 + UInt32(register.rawValue) }
    machine.cpu = cpu
    #expect(machine.currentPrivilegeLevel == 1)
    #expect(machine.linearInstructionPointer == GuestVirtualAddress(cpu.cs.base &+ 0x1234))
    for register in Register32.allCases { #expect(machine.register(register) == cpu[register]) }
    machine.setRegister(.esi, to: 7)
    machine.setInstructionPointer(0x5678)
    // Everything else is as it was, to the last bit of every segment and control register.
    var expected = cpu
    expected.esi = 7
    expected.eip = 0x5678
    #expect(machine.cpu == expected)
}
