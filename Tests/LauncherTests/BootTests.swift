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

@Test func l040_badOptionsAreRefusedBeforeAnythingBoots() {
    #expect(throws: LaunchError.badMemorySize(2)) { try Launcher.boot(LaunchOptions(memoryMiB: 2)) }
    let long = String(repeating: "x", count: 3000)
    #expect(throws: LaunchError.commandLineTooLong(3000)) { try Launcher.boot(LaunchOptions(commandLine: long)) }
}

@Test func l050_aMissingProgramNamesItsPath() {
    #expect(throws: LaunchError.cannotRead("/nonexistent/hello")) {
        try Launcher.programs(named: ["hello"], in: "/nonexistent")
    }
}

@Test func l040_aMalformedProgramIsReportedAndTheRestRun() throws {
    let options = LaunchOptions(memoryMiB: 8, programs: [
        InitrdFile(name: "junk", bytes: Array("#!/bin/sh\necho hi\n".utf8)),
        InitrdFile(name: "hello", bytes: TinyProgram.hello("fine\n")),
    ])
    let result = try Launcher.boot(options)
    #expect(result.console.contains("init: junk: not an ELF file\nfine\n[hello (pid 1) exited with status 0]"))
    #expect(result.exitStatus == 0)
}
