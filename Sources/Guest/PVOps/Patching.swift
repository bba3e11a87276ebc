/*G:050 Patching: taking the indirection back out.

The pv-ops table lets one kernel run both on metal and as a Guest, but it has a price: every `cli`
has become an indirect call through a table, with the register saving that a call implies. We added a
layer of indirection to solve one problem, and the layer is now a problem of its own, on the hottest
paths of the kernel.

Linux's answer is to *patch*: at boot, it visits every call site of the hottest operations and asks the
paravirt back end whether it has something better to put there. lguest answers for the four interrupt
operations, because its versions are single memory accesses that fit in the bytes the call occupied:
`irq_disable` becomes "store 0 to `irqEnabled`", and so on. The indirect call disappears from the
kernel text for good.

Our kernel is Swift, and we do not rewrite machine code behind the compiler's back. What we can do is
keep the same *mechanism*: every call of one of the four operations goes through a `PatchSite`, which
starts out holding an indirect call through `pvOps` and which the patch routine (`G:060`) may rewrite
to hold an inline template instead. The template runs the memory access directly, without the table
lookup and the call through a function value, exactly the shape of the original's trade.

What does it buy? Counted, not guessed: `KernelStatistics` counts the calls that went through the table
and the ones that ran patched, and `swift run lguest --stats` prints both (`guest.pvop_indirect_calls`,
`guest.pvop_patched_calls`). Here they are for the small boot of `G:035`, drawn by running the machine
as this book was woven (`W:450`): every call inline, once patched.

```lguest-run --memory 4 --programs hello,pages --stats | grep pvop
```

Timed in a release build inside a real Guest under the real Host (the workload of `G:065`, two million
disable/enable pairs, best of three boots), an operation took about 33 ns through the table and 24 ns
patched: `swift run -c release lguest-bench pvop_indirect_ns pvop_patched_ns` measures it again, and
BENCHMARKS.md says on what machine and load. Against the cost of a single world switch that is small
change, which is the honest lesson of the original too: patching mattered for a kernel that turned
interrupts off millions of times a second, and was never the big win that the async ring was. :*/

import LguestABI
import Machine

/*G:055 The templates.

lguest's templates lived in its assembler file, each between a pair of labels so the patch routine
could measure it: `lgstart_cli` to `lgend_cli`, and so on. Ours are the cases of `PatchTemplate`, each
knowing the length its i386 encoding would have, because "does it fit?" is the one question the patch
routine must ask. A site is the room the compiler left at a call: the indirect call itself, padded to
the longest template, as Linux pads its paravirt call sites.

One honest caveat about the lengths. Each is the length of the template's *store or load* alone, what
the original's four templates were. But our `irq_enable` and `restore_fl` do more when they turn
interrupts on: the pending check of `M:003` (a test of `irqPending`, a jump, and on the rare path a
hypercall), which on the i386 would need some fifteen bytes more than the ten `storeEnabled` claims,
and would not fit the site. That is exactly what happened to lguest: once it added the check, it
patched only the two operations that never turn interrupts on, `irq_disable` and `save_fl`, and let
the other two keep their calls. Our Swift sites have no bytes to run out of, so all four stay patched,
and the lengths remain the original's, for the fit test of `G:060` to measure. */

/// The four operations a site can be patched for (Linux's `PARAVIRT_PATCH(pv_irq_ops.*)` types).
enum PatchableOp: Int, CaseIterable {
    case irqDisable, irqEnable, restoreFlags, saveFlags
}

/// What a patch site executes: the indirect call it was built with, or an inline template.
enum SiteCode: Equatable {
    /// A call through the `pvOps` table: on the i386, `call *pv_irq_ops+n` (an indirect call, 6 bytes).
    case indirectCall
    /// The lguest template copied over the call.
    case inline(PatchTemplate)
}

/// lguest's templates: the instruction each of the four operations becomes, and its encoded length.
enum PatchTemplate: Equatable {
    /// `movl $0, irqEnabled`: the template for `irq_disable` (lguest's `lgstart_cli`).
    case storeZero
    /// `movl $0x200, irqEnabled`, then the pending check of M:003: the template for `irq_enable`
    /// (its length counts the store alone; see `G:055`).
    case storeEnabled
    /// `movl %eax, irqEnabled`, then the pending check: the template for `restore_fl` (its length
    /// counts the store alone).
    case storeArgument
    /// `movl irqEnabled, %eax`: the template for `save_fl`.
    case load

    /// The bytes the template's store or load takes in the kernel text, as lguest's assembler
    /// versions would; the pending check after a store is not counted (`G:055`).
    var length: Int {
        switch self {
        case .storeZero, .storeEnabled: 10  // c7 05 <address> <immediate>
        case .storeArgument, .load: 5       // a3 <address> / a1 <address>
        }
    }
}

/// The patch sites of the kernel: one per patchable operation, since each Swift call site of an
/// operation shares its site.
struct PatchSites {
    /// The room at each site: the indirect call the compiler left there. Linux leaves sites of
    /// 6 bytes (the call) padded to fit the largest template, 10; so do we.
    static let siteLength = 10
    private var code = [SiteCode](repeating: .indirectCall, count: PatchableOp.allCases.count)

    subscript(op: PatchableOp) -> SiteCode {
        get { code[op.rawValue] }
        set { code[op.rawValue] = newValue }
    }
}
/*:*/

/*G:060 The patch routine.

The table of templates maps each patchable operation to its replacement, and the routine is short:
if we have a replacement and it fits in the room the site offers, copy it in and report how much of
the room we used; otherwise leave the site alone, still calling through the table (Linux's
`paravirt_patch_default`), which is always correct, only slower. */

extension GuestKernel {
    /// lguest's replacement for each patchable operation.
    static func template(for op: PatchableOp) -> PatchTemplate {
        switch op {
        case .irqDisable: .storeZero
        case .irqEnable: .storeEnabled
        case .restoreFlags: .storeArgument
        case .saveFlags: .load
        }
    }

    /// Patch the site of `op` if the template fits in `room` bytes; return the bytes used (0 when
    /// the site keeps its indirect call).
    @discardableResult
    func patch(_ op: PatchableOp, room: Int = PatchSites.siteLength) -> Int {
        let template = Self.template(for: op)
        guard template.length <= room else { return 0 }
        patchSites[op] = .inline(template)
        return template.length
    }

    /// Patch every site, as Linux's `apply_paravirt` does early in boot.
    func applyPatches() {
        for op in PatchableOp.allCases {
            patch(op)
        }
    }
}
/*:*/

/*G:065 Measuring the trade.

A claim about speed needs a way to check it, so the kernel carries one small workload for the
benchmarks: with `GuestConfiguration.pvOpWorkloadPairs` set, the boot entry stops right after INIT and
patching, turns interrupts off and on again that many times through the very patch sites the rest of
the kernel uses, and powers off. Booted with patching on and then off, it times the same kernel code
both ways, inside a real Guest under the real Host, so every access to `irqEnabled` pays for the trip
through the shadow page tables, as it does in a real boot. Interrupts are safe to turn on this early
only because nothing can raise one yet: the clock is not armed until `timeInit()`. */

extension GuestKernel {
    /// Make `pairs` `irqDisable()`/`irqEnable()` pairs through their patch sites, then power off.
    func runPVOpWorkload(pairs: Int) throws(GuestStopped) -> Never {
        for _ in 0..<pairs {
            try irqDisable()
            try irqEnable()
        }
        try LguestPlatform.powerOff(self)
    }
}
/*:*/

// The four operations as the rest of the kernel calls them: through their patch site.
extension GuestKernel {
    /// `save_fl` through its patch site.
    func saveFlags() throws(GuestStopped) -> UInt32 {
        if case .inline = patchSites[.saveFlags] {
            statistics.patchedPVCalls += 1
            return try read32(lguestDataField(LguestData.irqEnabled))
        }
        statistics.indirectPVCalls += 1
        return try pvOps.saveFlags(self)
    }

    /// `restore_fl` through its patch site.
    func restoreFlags(_ flags: UInt32) throws(GuestStopped) {
        if case .inline = patchSites[.restoreFlags] {
            statistics.patchedPVCalls += 1
            try write32(lguestDataField(LguestData.irqEnabled), flags & irqEnabledValue)
            if flags & irqEnabledValue != 0 { try deliverPendingInterrupts() }
            return
        }
        statistics.indirectPVCalls += 1
        try pvOps.restoreFlags(self, flags)
    }

    /// `irq_disable` through its patch site.
    func irqDisable() throws(GuestStopped) {
        if case .inline = patchSites[.irqDisable] {
            statistics.patchedPVCalls += 1
            try write32(lguestDataField(LguestData.irqEnabled), 0)
            return
        }
        statistics.indirectPVCalls += 1
        try pvOps.irqDisable(self)
    }

    /// `irq_enable` through its patch site.
    func irqEnable() throws(GuestStopped) {
        if case .inline = patchSites[.irqEnable] {
            statistics.patchedPVCalls += 1
            try write32(lguestDataField(LguestData.irqEnabled), irqEnabledValue)
            try deliverPendingInterrupts()
            return
        }
        statistics.indirectPVCalls += 1
        try pvOps.irqEnable(self)
    }
}
