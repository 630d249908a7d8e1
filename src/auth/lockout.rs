//! Throttling of wrong second-factor codes and of failed sign-ins per IP address, as a pure
//! state machine (NIST SP 800-63B §3.2.2 "rate limiting"; SECURITY_BAR A4).
//!
//! Guarantees:
//! - Every [`FAILURES_PER_LOCK`]th consecutive failure locks the factor for
//!   [`FIRST_LOCK_SECS`] × 2^(locks so far), capped at [`MAX_LOCK_SECS`]; the arithmetic
//!   saturates, so no number of failures can overflow or wrap a lock into the past.
//! - [`DISABLE_AFTER_FAILURES`] consecutive failures disable the factor for good: from then
//!   on [`gate`] answers [`Gate::Disabled`] at every time, and only an administrator reset
//!   (the store writing `FactorState::default()`) re-enables it. SP 800-63B §3.2.2 allows
//!   at most 100 consecutive failed attempts on one account.
//! - Attempts made while the gate is shut are never counted ([`after_failure`] leaves the
//!   state alone), so an attacker cannot push a victim from "locked" to "disabled" faster
//!   than the lock schedule allows.
//!
//! Must never: read the clock (`now` is an argument, in unix seconds), touch the database,
//! or decide anything about which factor or account is meant — the caller persists the
//! returned state and audits the returned [`Event`].

/// Consecutive failures that trigger each lock.
pub const FAILURES_PER_LOCK: u32 = 5;
/// Length of the first lock; every further lock doubles it.
pub const FIRST_LOCK_SECS: i64 = 15 * 60;
/// Upper bound of a single lock, so the doubling stays humane and cannot overflow.
pub const MAX_LOCK_SECS: i64 = 24 * 60 * 60;
/// Consecutive failures after which the factor is disabled until an administrator resets
/// it (SP 800-63B §3.2.2: at most 100 consecutive failed attempts per account).
pub const DISABLE_AFTER_FAILURES: u32 = 100;
/// Length of the window in which failed sign-ins from one IP address are counted.
pub const IP_WINDOW_SECS: i64 = 15 * 60;
/// Failed sign-in attempts from one IP address, across all accounts, per window.
pub const IP_MAX_FAILURES: u32 = 50;

/// What the store keeps per account and second factor. Times are unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FactorState {
    pub consecutive_failures: u32,
    pub locks: u32,
    pub locked_until: Option<i64>,
    pub disabled: bool,
}

/// Whether an attempt may be checked at all at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Refuse without checking the code; the lock ends at this second (exclusive).
    LockedUntil(i64),
    /// Refuse until an administrator resets the factor.
    Disabled,
}

/// Something the caller must write to the audit log (SECURITY_BAR A4: "locks audited").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Locked { until: i64, duration_secs: i64 },
    Disabled,
}

/// Whether an attempt may be checked at `now`. A lock holds for the seconds
/// `now < locked_until`; at `locked_until` itself the gate is open again.
pub fn gate(state: &FactorState, now: i64) -> Gate {
    if state.disabled {
        return Gate::Disabled;
    }
    match state.locked_until {
        Some(until) if now < until => Gate::LockedUntil(until),
        _ => Gate::Open,
    }
}

/// The state after a wrong code at `now`, and the lock or disable event it caused, if any.
///
/// The caller checks [`gate`] first; if it is not open this function changes nothing
/// anyway, because refused attempts must not count.
pub fn after_failure(state: FactorState, now: i64) -> (FactorState, Option<Event>) {
    if gate(&state, now) != Gate::Open {
        return (state, None);
    }
    let failures = state.consecutive_failures.saturating_add(1);
    let mut next = FactorState {
        consecutive_failures: failures,
        ..state
    };
    if failures >= DISABLE_AFTER_FAILURES {
        next.disabled = true;
        next.locked_until = None;
        return (next, Some(Event::Disabled));
    }
    if !failures.is_multiple_of(FAILURES_PER_LOCK) {
        return (next, None);
    }
    let duration_secs = lock_duration(state.locks);
    let until = now.saturating_add(duration_secs);
    next.locks = state.locks.saturating_add(1);
    next.locked_until = Some(until);
    (
        next,
        Some(Event::Locked {
            until,
            duration_secs,
        }),
    )
}

/// The state after a correct code: failures and the doubling start again from zero.
/// A disabled factor stays disabled (the caller should never get here, [`gate`] refused).
pub fn after_success(state: FactorState) -> FactorState {
    FactorState {
        consecutive_failures: 0,
        locks: 0,
        locked_until: None,
        disabled: state.disabled,
    }
}

/// Whether one more sign-in attempt may be checked from an IP address that already has
/// `failures_in_window` failures in the current [`IP_WINDOW_SECS`] window. This stops one
/// address from spraying guesses across many accounts, which the per-account lock cannot
/// see (SP 800-63B §3.2.2).
pub fn ip_allows(failures_in_window: u32) -> bool {
    failures_in_window < IP_MAX_FAILURES
}

/// 15 min × 2^locks_so_far, at most [`MAX_LOCK_SECS`]. The exponent is capped before
/// shifting: 2^7 × 15 min already exceeds 24 h, so larger exponents change nothing.
fn lock_duration(locks_so_far: u32) -> i64 {
    const MAX_EXPONENT: u32 = 7;
    let factor = 1_i64 << locks_so_far.min(MAX_EXPONENT);
    FIRST_LOCK_SECS.saturating_mul(factor).min(MAX_LOCK_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600; // 2026-01-01 00:00:00 UTC

    /// Applies `n` failures at `now`, each one at a time when the gate is open.
    fn fail_n(mut state: FactorState, n: u32, now: i64) -> (FactorState, Vec<Event>) {
        let mut events = Vec::new();
        for _ in 0..n {
            let (next, event) = after_failure(state, now);
            state = next;
            events.extend(event);
        }
        (state, events)
    }

    /// Fails until the next lock and returns the lock event, waiting out any open lock.
    fn fail_until_lock(state: FactorState, now: i64) -> (FactorState, Event) {
        let (state, events) = fail_n(state, FAILURES_PER_LOCK, now);
        assert_eq!(events.len(), 1, "{events:?}");
        (state, events[0])
    }

    #[test]
    fn four_failures_do_not_lock_and_the_fifth_locks_for_fifteen_minutes() {
        let (state, events) = fail_n(FactorState::default(), 4, T0);
        assert!(events.is_empty());
        assert_eq!(gate(&state, T0), Gate::Open);
        let (state, event) = after_failure(state, T0);
        assert_eq!(
            event,
            Some(Event::Locked {
                until: T0 + 15 * 60,
                duration_secs: 15 * 60
            })
        );
        assert_eq!(gate(&state, T0), Gate::LockedUntil(T0 + 15 * 60));
    }

    #[test]
    fn locks_after_five_ten_and_fifteen_failures_last_fifteen_thirty_and_sixty_minutes() {
        let mut state = FactorState::default();
        let mut now = T0;
        for expected_minutes in [15, 30, 60] {
            let (next, event) = fail_until_lock(state, now);
            let Event::Locked {
                until,
                duration_secs,
            } = event
            else {
                panic!("expected a lock, got {event:?}");
            };
            assert_eq!(duration_secs, expected_minutes * 60);
            assert_eq!(until, now + expected_minutes * 60);
            state = next;
            now = until;
        }
        assert_eq!(state.consecutive_failures, 15);
        assert_eq!(state.locks, 3);
    }

    #[test]
    fn a_lock_holds_until_the_second_before_its_end_and_opens_at_its_end() {
        let (state, _) = fail_until_lock(FactorState::default(), T0);
        let until = T0 + FIRST_LOCK_SECS;
        assert_eq!(gate(&state, until - 1), Gate::LockedUntil(until));
        assert_eq!(gate(&state, until), Gate::Open);
    }

    #[test]
    fn failures_while_locked_are_not_counted() {
        let (locked, _) = fail_until_lock(FactorState::default(), T0);
        let (after, events) = fail_n(locked, 50, T0 + 60);
        assert_eq!(after, locked);
        assert!(events.is_empty());
    }

    #[test]
    fn success_resets_failures_locks_and_the_doubling() {
        let (state, _) = fail_until_lock(FactorState::default(), T0);
        let (state, _) = fail_n(state, 3, T0 + FIRST_LOCK_SECS);
        let state = after_success(state);
        assert_eq!(state, FactorState::default());
        let (_, event) = fail_until_lock(state, T0 + FIRST_LOCK_SECS);
        assert!(
            matches!(event, Event::Locked { duration_secs, .. } if duration_secs == FIRST_LOCK_SECS)
        );
    }

    #[test]
    fn the_hundredth_consecutive_failure_disables_the_factor_for_ever() {
        let mut state = FactorState::default();
        let mut now = T0;
        let mut disabled_at = None;
        for attempt in 1..=DISABLE_AFTER_FAILURES {
            assert_eq!(gate(&state, now), Gate::Open, "attempt {attempt}");
            let (next, event) = after_failure(state, now);
            state = next;
            match event {
                Some(Event::Locked { until, .. }) => now = until,
                Some(Event::Disabled) => disabled_at = Some(attempt),
                None => {}
            }
        }
        assert_eq!(disabled_at, Some(DISABLE_AFTER_FAILURES));
        assert!(state.disabled);
        for later in [now, now + MAX_LOCK_SECS, i64::MAX] {
            assert_eq!(gate(&state, later), Gate::Disabled);
        }
        assert_eq!(after_failure(state, i64::MAX), (state, None));
        assert_eq!(gate(&after_success(state), i64::MAX), Gate::Disabled);
    }

    #[test]
    fn locks_are_capped_at_a_day_and_never_overflow() {
        for locks in [7, 8, 31, 32, 63, 64, u32::MAX] {
            let state = FactorState {
                consecutive_failures: FAILURES_PER_LOCK - 1,
                locks,
                ..FactorState::default()
            };
            let (next, event) = after_failure(state, i64::MAX - 10);
            assert_eq!(
                event,
                Some(Event::Locked {
                    until: i64::MAX,
                    duration_secs: MAX_LOCK_SECS
                })
            );
            assert_eq!(next.locks, locks.saturating_add(1));
        }
        assert_eq!(lock_duration(6), 16 * 60 * 60);
        assert_eq!(lock_duration(7), MAX_LOCK_SECS);
    }

    #[test]
    fn an_ip_may_fail_forty_nine_times_per_window_but_not_fifty() {
        assert!(ip_allows(0));
        assert!(ip_allows(49));
        assert!(!ip_allows(50));
        assert!(!ip_allows(u32::MAX));
    }
}
