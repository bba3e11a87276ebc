import Guest
import Host
@testable import Launcher
import LguestABI
import Machine
import Testing

@Test func l040_bootsToPowerOffWithNoPrograms() throws {
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 8))
    print(result.console)
    print(result.exit)
    #expect(result.exit == .poweredOff("Power down"))
    #expect(result.console.contains("Booting paravirtualized kernel on lguest"))
}

@Test func l040_runsAProgramAndPowersOff() throws {
    let options = LaunchOptions(memoryMiB: 8, programs: [
        InitrdFile(name: "hello", bytes: TinyProgram.hello("Hello from ring 3\n", status: 5)),
        InitrdFile(name: "null", bytes: TinyProgram.nullWrite),
        InitrdFile(name: "sleeper", bytes: TinyProgram.sleeper),
    ])
    let result = try Launcher.boot(options)
    print(result.console)
    print(result.exit)
    for line in result.statistics { print(line.name, line.value) }
    #expect(result.exit == .poweredOff("Power down"))
    #expect(result.console.contains("Hello from ring 3\n[hello (pid 1) exited with status 5]"))
}
