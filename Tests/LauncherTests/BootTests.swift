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
