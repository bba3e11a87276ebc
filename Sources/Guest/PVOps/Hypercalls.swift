/*G:031 The hypercall.

Everything the Guest cannot do for itself, it asks of the Host with a hypercall: the number of the
call in eax, up to four arguments in ebx, ecx, edx and esi, then `int $0x1F`, and the answer comes back
in eax (`P:100`). The trap takes the processor through the Switcher's gate into the Host, which does the
work and switches back. That round trip, a *world switch* there and back, is the most expensive thing
the Guest does, and most of the cleverness in this chapter is about doing it less often.

`hcall()` is the one place our kernel makes that trap. Like every function that reaches the Host it is
marked `throws(GuestStopped)`: if the Host decides this Guest is finished (it powered off, or did
something unforgivable) the call never returns normally, and the error unwinds every Swift frame of the
kernel back to the Switcher. A `try` in this chapter marks exactly the places where that can happen. */

import LguestABI
import Machine

extension GuestKernel {
    /// Make hypercall `call` now, trapping into the Host, and return what it put in eax.
    @discardableResult
    func hcall(_ call: Hypercall, _ a1: UInt32 = 0, _ a2: UInt32 = 0, _ a3: UInt32 = 0,
               _ a4: UInt32 = 0) throws(GuestStopped) -> UInt32 {
        statistics.synchronousHypercalls += 1
        // The Host runs the whole async ring before any synchronous call (H:110).
        deferredCalls = 0
        return try cpu.hypercall(call, a1, a2, a3, a4)
    }
}
/*:*/

/*G:037 The async ring.

`asyncHcall()` is how a call that can wait gets stored instead of made. Its home is the ring of 64
slots inside `lguest_data` (`P:210`): five words per slot, the call and its four arguments, and, kept
apart, one status byte per slot that reads 0xFF while the slot is free and 0 once the Guest has filled
it. The Host empties the ring, in order, the next time the Guest traps for any reason, and marks each
slot free again as it goes.

The steps are few, and their order matters:

1. Turn interrupts off. An interrupt handler that itself made an async call would otherwise grab the
   same slot halfway through our filling it.
2. Look at our next slot. If its status is not 0xFF the Host has not got round to it: the ring is
   full. Then we simply make the call synchronously, which has the pleasant side effect that the Host
   drains the whole ring first (`H:110`), so the next call finds room.
3. Otherwise write the call and its arguments, and only then the status byte. The Host reads the
   status first, so it must never see a 0 in front of a half-written slot. (On a real multiprocessor
   this needs a write barrier; on our machine memory writes land in program order, and we say so here
   rather than pretend a barrier does something.)
4. Step on to the next slot, wrapping at the end, and restore interrupts.

It is one of lguest's small jewels: it is hard to think of a simpler way to batch calls between two
worlds that share nothing but memory.

**Exercise** (easy; read first P:210, H:110): write the slot's status byte, the store that tells the
Host the slot is ready, after the five words of the call. `swift test --filter g037` passes when the
Host runs the queued calls in order. */

extension GuestKernel {
    /// Store `call` in the async ring for the Host to run at its next trap; if the ring is full, make
    /// the call synchronously instead (which empties the ring).
    func asyncHcall(_ call: Hypercall, _ a1: UInt32, _ a2: UInt32, _ a3: UInt32) throws(GuestStopped) {
        let flags = try saveFlags()
        try irqDisable()
        let slot = nextAsyncSlot
        let status = try read8(lguestDataField(LguestData.statusOffset(slot: slot)))
        if status != hypercallDone {
            statistics.ringFullFallbacks += 1
            try hcall(call, a1, a2, a3)
        } else {
            let entry = lguestDataField(LguestData.entryOffset(slot: slot))
            try write32(entry &+ HypercallRingEntry.call, call.rawValue)
            try write32(entry &+ HypercallRingEntry.arguments, a1)
            try write32(entry &+ (HypercallRingEntry.arguments + 4), a2)
            try write32(entry &+ (HypercallRingEntry.arguments + 8), a3)
            try write32(entry &+ (HypercallRingEntry.arguments + 12), 0)
            // The status byte last: once it reads "ready" the Host may run the slot.
            // exercise G:037 {
            try write8(lguestDataField(LguestData.statusOffset(slot: slot)), hypercallReady)
            // exercise G:037 } stub: ExerciseStub.unfinished("G:037")
            nextAsyncSlot = (slot + 1) % hypercallRingSize
            deferredCalls += 1
            statistics.asyncHypercalls += 1
        }
        try restoreFlags(flags)
    }

    /// Mark every ring slot free, as lguest's static initialiser of `lguest_data` did; done once at
    /// boot, before the Host knows where the ring is.
    func clearAsyncRing() throws(GuestStopped) {
        for slot in 0..<hypercallRingSize {
            try write8(lguestDataField(LguestData.statusOffset(slot: slot)), hypercallDone)
        }
        nextAsyncSlot = 0
    }
}
/*:*/

/*G:035 Lazy mode: our first real optimisation.

Some work is naturally done in bursts. Mapping a program's pages, or tearing an address space down,
changes dozens of page-table entries one after the other, and each change is a hypercall. Linux marks
such bursts: it *enters lazy mode*, makes its changes, and *leaves lazy mode*, promising that nothing
in between depends on the changes having reached the hardware yet.

A Guest can take that promise at its word. `lazyHcall()` is used for every call that is allowed to wait:
outside lazy mode it is an ordinary hypercall, inside it the call goes to the async ring and costs no
trap at all.

When the Launcher turns lazy mode off (`GuestConfiguration.lazyMode`, the `--no-lazy` option), the
sections still mark themselves but every call is made synchronously, so the world switches a boot costs
can be counted both ways. These two figures are drawn by running the machine as the book is woven, for
a small boot (4 MiB, and two programs: `hello`, and `pages`, which fills 256 pages of heap and stack),
first with lazy mode:

```lguest-run --memory 4 --programs hello,pages --stats | grep -e world_switches -e FLUSH_ASYNC -e SET_PTE
```

and then without it:

```lguest-run --memory 4 --programs hello,pages --stats --no-lazy | grep -e world_switches -e FLUSH_ASYNC -e SET_PTE
```

Nearly every `SET_PTE`, from loading programs and growing their heaps and stacks, rides the async ring
in the first run, and a handful of `FLUSH_ASYNC`s take the whole ring to the Host at once. In host
time, a call through the ring is several times cheaper than a trap of its own: `lguest-bench` measures
both (`world_switch_ns`, `hypercall_async_ns`, `H:050`; `boot_switches_lazy` against
`boot_switches_eager`, computed by `Launcher.optimisationFigures`, `L:095`), and BENCHMARKS.md keeps
its figures with the command that reproduces them. */

extension GuestKernel {
    /// Make `call` now, or defer it to the async ring when inside a lazy section.
    func lazyHcall(_ call: Hypercall, _ a1: UInt32 = 0, _ a2: UInt32 = 0, _ a3: UInt32 = 0) throws(GuestStopped) {
        if lazyMode && configuration.lazyMode {
            try asyncHcall(call, a1, a2, a3)
        } else {
            try hcall(call, a1, a2, a3)
        }
    }

    /// Begin a burst of changes whose hypercalls may be deferred (Linux's `arch_enter_lazy_mmu_mode`).
    func enterLazyMode() {
        precondition(!lazyMode, "guest: lazy sections do not nest")
        lazyMode = true
    }
}
/*:*/

/*G:036 Leaving lazy mode.

The end of a lazy section is where the promise falls due: from here on, the kernel may rely on its
changes. So leaving lazy mode makes the do-nothing hypercall, `FLUSH_ASYNC`, whose only effect is the
one every hypercall has: the Host runs everything waiting in the ring first.

A small refinement over the original: the kernel counts the calls it has put in the ring since its
last synchronous hypercall (which drained them all), and if the section deferred nothing there is
nothing to flush and we save the trap. */

extension GuestKernel {
    /// End a lazy section, making sure the Host has run every call it deferred.
    func leaveLazyMode() throws(GuestStopped) {
        precondition(lazyMode, "guest: leaving a lazy section that was never entered")
        lazyMode = false
        if deferredCalls > 0 {
            try hcall(.flushAsync)
        }
    }

    /// Run `body` as a lazy section: its deferrable hypercalls are batched and flushed at the end.
    func lazySection<T>(_ body: () throws(GuestStopped) -> T) throws(GuestStopped) -> T {
        enterLazyMode()
        let result: T
        do {
            result = try body()
        } catch {
            lazyMode = false
            throw error
        }
        try leaveLazyMode()
        return result
    }
}
/*:*/
