/*L:090 Counting.

`swift run lguest --stats` prints what the boot cost, one `name value` a line, in a fixed order so that
two runs can be compared with `diff`: the world switches the Switcher made, the hypercalls the Host
handled by lguest's name, split into those made synchronously and those that came through the async
ring, the interrupts the Host delivered, the page faults it fixed itself against those it passed on to
the Guest, and a few counts the Guest kernel keeps about itself. Every figure comes from a counter that
the code being counted increments; none is computed after the fact.

Two boots of the same Guest print the same figures, to the last digit: time is virtual, memory is
allocated lowest first, and nothing depends on the host's clock or its thread scheduling. A change in a
figure is a change in the code, and this book would notice: the table below is drawn by running the
machine as the book is woven (`W:450`), for the smallest boot there is, one greeting program.

```lguest-run --programs hello --stats
```
*/

import Guest
import Host
import LguestABI
import Machine

extension Launcher {
    /// The counts of one boot, in a stable order: the Switcher's, the Host's per hypercall (total,
    /// then synchronous, then through the ring), the Host's other counts, the Guest kernel's own, and
    /// the machine's instructions and virtual time.
    static func statistics(host: Host, guest: Guest, kernel: GuestKernel,
                           machine: Machine) -> [(name: String, value: UInt64)] {
        // The Host's counts for this Guest, and the Switcher's, which it keeps per host.
        let counts = guest.statistics
        var lines: [(name: String, value: UInt64)] = [
            ("world_switches", host.switcher.statistics.worldSwitches),
            ("kernel_entries", host.switcher.statistics.kernelEntries),
        ]
        // Hypercalls in lguest's numbering order; calls never made are left out.
        for call in Hypercall.allCases {
            let synchronous = counts.synchronousHypercalls[call] ?? 0
            let asynchronous = counts.asynchronousHypercalls[call] ?? 0
            guard synchronous + asynchronous > 0 else { continue }
            lines.append(("hypercall.\(call.name)", synchronous + asynchronous))
            lines.append(("hypercall.\(call.name).sync", synchronous))
            lines.append(("hypercall.\(call.name).async", asynchronous))
        }
        // What the Host did besides hypercalls, then what the Guest kernel counted for itself, then
        // the machine's own measure of the work and the virtual time it took.
        lines += [
            ("interrupts_delivered", counts.interruptsDelivered),
            ("traps_reflected", counts.trapsReflected),
            ("page_faults_fixed", counts.pageFaultsFixed),
            ("page_faults_reflected", counts.pageFaultsReflected),
            ("instructions_emulated", counts.instructionsEmulated),
            ("guest.timer_interrupts", UInt64(kernel.statistics.timerInterrupts)),
            ("guest.system_calls", UInt64(kernel.statistics.systemCalls)),
            ("guest.unknown_system_calls", UInt64(kernel.statistics.unknownSystemCalls)),
            ("guest.programs_started", UInt64(kernel.statistics.programsStarted)),
            ("guest.programs_exited", UInt64(kernel.statistics.programsExited)),
            ("guest.programs_killed", UInt64(kernel.statistics.programsKilled)),
            ("guest.pvop_indirect_calls", UInt64(kernel.statistics.indirectPVCalls)),
            ("guest.pvop_patched_calls", UInt64(kernel.statistics.patchedPVCalls)),
            ("guest.async_ring_full", UInt64(kernel.statistics.ringFullFallbacks)),
            ("machine.instructions", machine.statistics.instructions),
            ("machine.code_cache_blocks", machine.statistics.codeCacheBlocks),
            ("machine.code_cache_flushes", machine.statistics.codeCacheFlushes),
            ("machine.virtual_ns", machine.clock.nanoseconds),
        ]
        return lines
    }
}
/*:*/

/*L:095 What the optimisations are worth.

lguest's author reported two of the Guest's tricks in seconds of boot time: batching hypercalls in lazy
mode, and deferring the kernel's TLB flushes until its first page-table switch (`G:035`, `G:041`). Time
on this machine is virtual and the Host is Swift, so we report what the tricks actually save instead:
world switches and flushes. `optimisationFigures` boots the same Guest with each trick on and off and
returns the four counts `lguest-bench` prints. */

/// One measured figure: a `name value unit` line for `lguest-bench`.
public struct Figure: Sendable, Equatable {
    /// The figure's name, as `BENCHMARKS.md` lists it.
    public var name: String
    /// Its value.
    public var value: UInt64
    /// What it counts.
    public var unit: String
}

extension Launcher {
    /// Boot `options` four times (lazy mode on and off, the cr3 trick on and off) and count world
    /// switches and `FLUSH_TLB` hypercalls: `boot_switches_lazy`, `boot_switches_eager`,
    /// `boot_flushes_cr3_trick`, `boot_flushes_no_trick`.
    public static func optimisationFigures(_ options: LaunchOptions) throws(LaunchError) -> [Figure] {
        func boot(_ change: (inout GuestConfiguration) -> Void) throws(LaunchError) -> BootResult {
            var variant = options
            change(&variant.configuration)
            return try Launcher.boot(variant)
        }
        func count(_ result: BootResult, _ name: String) -> UInt64 {
            result.statistics.first { $0.name == name }?.value ?? 0
        }
        // Four boots, each differing from `options` in one switch only.
        let lazy = try boot { $0.lazyMode = true }
        let eager = try boot { $0.lazyMode = false }
        let trick = try boot { $0.cr3ChangedTrick = true }
        let noTrick = try boot { $0.cr3ChangedTrick = false }
        return [
            Figure(name: "boot_switches_lazy", value: count(lazy, "world_switches"), unit: "switches"),
            Figure(name: "boot_switches_eager", value: count(eager, "world_switches"), unit: "switches"),
            Figure(name: "boot_flushes_cr3_trick", value: count(trick, "hypercall.FLUSH_TLB"), unit: "flushes"),
            Figure(name: "boot_flushes_no_trick", value: count(noTrick, "hypercall.FLUSH_TLB"), unit: "flushes"),
        ]
    }
}
/*:*/
