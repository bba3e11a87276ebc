/*G:043 Time.

A kernel needs three things from a clock: the date, a way to tell how much time has passed, and an
alarm. The Guest has no clock chip; the Host provides all three (`P:230`), from the machine's virtual
clock, so the same boot takes the same virtual time on every run.

*The date* is `lguest_data`'s `timeSeconds`, which the Host keeps current.

*Elapsed time* comes preferably from the time-stamp counter, read with the unprivileged `rdtsc`:
the Host tells us its rate in `tscKHz`, and if it ever says 0 (a counter it cannot vouch for) we fall
back to `lguest_data`'s time. That fallback needs care, because the time is two words, seconds and
nanoseconds, and the Host may update them between our two reads: reading 99 seconds just before the
update and 0 nanoseconds just after it would send time backwards by a second, and a clock that runs
backwards breaks every assumption a scheduler makes. So we read the seconds, then the nanoseconds,
then the seconds again, and try again if they changed.

*The alarm* is the clock event: `SET_CLOCKEVENT` with a delay in nanoseconds arms a one-shot timer in
the Host, which raises IRQ 0 when it expires; 0 disarms it. Our timer interrupt handler takes it from
there (`G:088`). The timer stays masked in `blockedInterrupts` from boot until `timeInit()` has installed
its handler, so nothing arrives before the kernel can cope. */

import LguestABI
import Machine

/// The kernel's clock state.
struct GuestClock {
    /// The counter's rate as the Host gave it at boot; 0 means "use lguest_data's time".
    var tscKHz: UInt32 = 0
    /// The virtual time the armed clock event expires at, if one is armed.
    var armedDeadline: UInt64?
    /// The shortest delay the Host's timer takes (lguest's `LG_CLOCK_MIN_DELTA`, 100 µs).
    static let minimumDelta: UInt64 = 100_000
    /// The longest (lguest's `LG_CLOCK_MAX_DELTA`, the largest 32-bit value).
    static let maximumDelta: UInt64 = UInt64(UInt32.max)
}

enum LguestTime {
    /// The wall clock's seconds (lguest's `get_wallclock`).
    static func wallClock(_ kernel: GuestKernel) throws(GuestStopped) -> UInt32 {
        try kernel.read32(kernel.lguestDataField(LguestData.timeSeconds))
    }

    /// The time-stamp counter's rate (lguest's `tsc_khz`).
    static func tscKHz(_ kernel: GuestKernel) throws(GuestStopped) -> UInt32 {
        try kernel.read32(kernel.lguestDataField(LguestData.tscKHz))
    }

    /// The fallback clock source: `lguest_data`'s time in nanoseconds, read without tearing.
    static func clockRead(_ kernel: GuestKernel) throws(GuestStopped) -> UInt64 {
        while true {
            let seconds = try kernel.read32(kernel.lguestDataField(LguestData.timeSeconds))
            let nanoseconds = try kernel.read32(kernel.lguestDataField(LguestData.timeNanoseconds))
            if try kernel.read32(kernel.lguestDataField(LguestData.timeSeconds)) == seconds {
                return UInt64(seconds) &* 1_000_000_000 &+ UInt64(nanoseconds)
            }
        }
    }

    /// Arm the clock event to fire `delta` nanoseconds from now, clamped to what the Host takes.
    static func setNextEvent(_ kernel: GuestKernel, delta: UInt64) throws(GuestStopped) {
        let clamped = min(max(delta, GuestClock.minimumDelta), GuestClock.maximumDelta)
        kernel.clock.armedDeadline = try kernel.now() &+ clamped
        try kernel.hcall(.setClockEvent, UInt32(clamped))
    }

    /// Disarm the clock event (`CLOCK_EVT_MODE_SHUTDOWN`).
    static func shutdownClockEvent(_ kernel: GuestKernel) throws(GuestStopped) {
        kernel.clock.armedDeadline = nil
        try kernel.hcall(.setClockEvent, 0)
    }
}

extension GuestKernel {
    /// Nanoseconds of virtual time: from the counter when the Host vouches for it, else the fallback.
    func now() throws(GuestStopped) -> UInt64 {
        guard clock.tscKHz != 0 else { return try LguestTime.clockRead(self) }
        // Whole seconds, then the rest; the rest's product needs 128 bits, and its quotient is
        // below 1e9 because the rest is below one second's cycles.
        let cycles = cpu.readTimeStampCounter()
        let perSecond = UInt64(clock.tscKHz) &* 1000
        let rest = perSecond.dividingFullWidth((cycles % perSecond).multipliedFullWidth(by: 1_000_000_000))
        return (cycles / perSecond) &* 1_000_000_000 &+ rest.quotient
    }

    /// Set up time: learn the counter's rate, install the timer handler, and unmask IRQ 0
    /// (lguest's `time_init`).
    func timeInit() throws(GuestStopped) {
        clock.tscKHz = try LguestTime.tscKHz(self)
        installIRQHandler(timerIRQ) { kernel throws(GuestStopped) in try kernel.timerInterrupt() }
        try LguestIRQChip.unmask(self, timerIRQ)
    }
}
/*:*/
