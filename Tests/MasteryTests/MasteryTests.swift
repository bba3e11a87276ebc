// Chapter M: scaffolds for the ideas a reader may try. Each test states what an idea would
// change, in counts the Launcher already reports, and fails until someone builds it. They are
// skipped unless LGUEST_MASTERY=1 is set, so the suite stays green:
//
//     LGUEST_MASTERY=1 swift test --filter MasteryTests     (or --filter m007 for one idea)
import Foundation
import Guest
import Launcher
import Testing

/// The one switch that turns the scaffolds on.
private let masteryOn = ProcessInfo.processInfo.environment["LGUEST_MASTERY"] == "1"

/// Why a scaffold is skipped: it tests an idea nobody has built yet.
private func notBuilt(_ idea: String) -> Comment {
    Comment(rawValue: "\(idea) is an idea for the reader, not yet built; LGUEST_MASTERY=1 runs this test")
}

/// programs/bin at the package root, three levels above this file: the committed i386 programs.
private let programDirectory: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return (parts + ["programs", "bin"]).joined(separator: "/")
}()

/// Boots the Guest with the committed programs `names`, run in order, and returns the Launcher's counts.
private func counts(running names: [String]) throws -> [String: UInt64] {
    let programs = try Launcher.programs(named: names, in: programDirectory)
    let result = try Launcher.boot(LaunchOptions(memoryMiB: 8, programs: programs))
    #expect(result.exit == .poweredOff("Power down"), "the Guest must still boot and power off")
    return Dictionary(result.statistics.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
}

/// The page faults the Host fixed for running `program` after `hello`, beyond `hello` alone.
private func extraFaultsFixed(by program: String) throws -> UInt64 {
    let alone = try counts(running: ["hello"])["page_faults_fixed"] ?? 0
    let with = try counts(running: ["hello", program])["page_faults_fixed"] ?? 0
    return with &- alone
}

/// M:007: `pages` touches 256 fresh pages in a row. Filling a fault's neighbours in the same
/// shadow page table while we are there (a batch of eight, say) would fix the run with an eighth
/// of the faults; today every page costs its own.
@Test(.enabled(if: masteryOn, notBuilt("M:007, batching page lookups")))
func m007_touchingPagesInARowTakesAFractionOfTheFaults() throws {
    let extra = try extraFaultsFixed(by: "pages")
    print("m007 page_faults_fixed for pages:", extra)
    #expect(extra < 256 / 4, "pages cost \(extra) fixed faults; a batch of four or more would bring it under 64")
}

/// M:021: `fault_null` writes to address 0, which its own page tables do not map. A walker in the
/// Switcher that saw that would deliver the fault straight to the Guest kernel; today the Host takes
/// it first and reflects it, and counts it.
@Test(.enabled(if: masteryOn, notBuilt("M:021, reflecting user page faults without the Host")))
func m021_aFaultTheGuestsTablesRefuseNeverReachesTheHost() throws {
    let alone = try counts(running: ["hello"])["page_faults_reflected"] ?? 0
    let with = try counts(running: ["hello", "fault_null"])["page_faults_reflected"] ?? 0
    print("m021 page_faults_reflected for fault_null:", with &- alone)
    #expect(with == alone, "fault_null's fault was reflected by the Host \(with &- alone) times")
}
