import Guest
import Launcher
import Testing

/// The benchmark workload of G:065, patched and not: it makes exactly the pairs it was asked for, each
/// call the expected way, and powers off before the rest of boot.
@Test(arguments: [true, false])
func g065_theWorkloadMakesItsPairsTheWayPatchingSays(patching: Bool) throws {
    let pairs = 50
    let options = LaunchOptions(memoryMiB: 8, configuration: GuestConfiguration(patching: patching, pvOpWorkloadPairs: pairs),
                                maximumRestarts: 0)
    let result = try Launcher.boot(options)
    #expect(result.exit == .poweredOff("Power down"))
    #expect(!result.console.contains("Booting paravirtualized kernel"), "the workload stops before the rest of boot")
    let statistics = result.guestStatistics
    #expect((patching ? statistics.patchedPVCalls : statistics.indirectPVCalls) == 2 * pairs)
    #expect((patching ? statistics.indirectPVCalls : statistics.patchedPVCalls) == 0)
}
