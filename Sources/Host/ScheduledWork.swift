/*H:045 Work for later, in virtual time.

A real disk takes time to answer, and while it does the Guest gets on with something else: that is the
whole point of an interrupt. The Launcher's devices (`L:216`) could answer every request at once, but
then no process would ever wait for the disk, and the Guest's scheduler would have nothing to do. So
the Host lets the Launcher ask for *work at a virtual time*: "run this when the clock reaches t".

The facility is three small changes to the run loop, each next to its neighbour for the timer:

* before every switch into the Guest, `prepareToRun` runs the work that is due (`runDueWork`), in order
  of time and, for equal times, in the order it was asked for, so runs stay byte for byte the same;
* a halted Guest sleeps until the earliest of its timer and the pending work (`sleepUntilInterrupt`):
  the clock jumps to that moment, the work runs, and if it raised an interrupt the Guest can take, the
  Guest wakes. Only a Guest with neither a timer nor work pending can never wake, and is killed;
* the instruction budget the Switcher gets ends at the earliest deadline (`instructionBudget`), so a
  busy Guest is interrupted in time for its disk's answer, just as for its timer.

Work runs on the Host's one thread, between two stretches of the Guest, so it can touch the Guest's
memory and raise interrupts exactly as a NOTIFY handler can. */

/// Work the Launcher asked to run at given virtual times, kept in order.
struct ScheduledWork {
    /// One piece of work: when, the order it was asked for, and what.
    private struct Item {
        var deadline: UInt64
        var sequence: UInt64
        var work: (Guest) -> Void
    }

    /// The pending items, earliest first (ties in the order they were asked for).
    private var items: [Item] = []
    /// How many items have ever been scheduled: the tie-breaker.
    private var scheduled: UInt64 = 0

    /// The earliest deadline pending, if any.
    var earliest: UInt64? { items.first?.deadline }

    /// Adds `work` to run at `deadline`, after everything already due by then.
    mutating func add(at deadline: UInt64, _ work: @escaping (Guest) -> Void) {
        scheduled &+= 1
        let item = Item(deadline: deadline, sequence: scheduled, work: work)
        let index = items.firstIndex { $0.deadline > deadline } ?? items.endIndex
        items.insert(item, at: index)
    }

    /// Removes and returns the earliest item due at `now`, if there is one.
    mutating func takeDue(at now: UInt64) -> ((Guest) -> Void)? {
        guard let first = items.first, first.deadline <= now else { return nil }
        items.removeFirst()
        return first.work
    }
}

extension Guest {
    /// Runs `work` once the virtual clock is `nanoseconds` past now, before the Guest next runs from
    /// then on; a halted Guest sleeps until then at most.
    public func schedule(after nanoseconds: UInt64, _ work: @escaping (Guest) -> Void) {
        scheduledWork.add(at: host.machine.clock.ticks &+ nanoseconds, work)
    }

    /// Runs every piece of work that is due, in order, while the Guest lives.
    func runDueWork() {
        while isAlive, let work = scheduledWork.takeDue(at: machine.clock.ticks) {
            work(self)
        }
    }

    /// The earliest thing that will happen to a Guest without its doing anything: the timer, if
    /// `timerCounts`, or pending work.
    func nextWake(timerCounts: Bool) -> UInt64? {
        let timer = timerCounts ? clockDeadline : nil
        switch (timer, scheduledWork.earliest) {
        case let (timer?, work?): return min(timer, work)
        case let (timer?, nil): return timer
        case let (nil, work?): return work
        case (nil, nil): return nil
        }
    }
}
/*:*/
