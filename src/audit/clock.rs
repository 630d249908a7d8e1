//! The clock guard: no member data leaves while the wall clock reads earlier than the newest
//! time the audit log already holds.
//!
//! Why: every deadline is compared with the clock (there is no clock abstraction; the code
//! reads `OffsetDateTime::now_utc()`). A clock set back — by hand, by a bad NTP source, by a
//! virtual machine resumed from a snapshot — makes a passed deadline look far away again, so
//! an extract could be released after its real deadline. The audit log is the broker's memory
//! of time: its newest `occurred_at` is a time this broker, or another on the same store, has
//! already seen.
//!
//! Guarantees:
//! - [`check`] and [`check_in`] refuse with [`Error::Behind`] while `now` is more than
//!   [`SKEW_TOLERANCE_MS`] earlier than the newest entry (the tolerance allows for skew
//!   between several brokers on one store). The store is read every time, never cached, so
//!   service resumes by itself as soon as the clock has caught up. Release (download,
//!   in-browser view, a snapshot being built or going live) and `/readyz` call them.
//! - [`deadline_time`] gives the sweeper the later of the clock and the newest entry, so an
//!   extract whose deadline passed by the log's time is shredded though the clock reads early.
//!
//! The other side of the trade: a forward jump, once recorded, holds release back until the
//! real time reaches it (fail closed; `docs/operations.md` says to fix the clock first).
//!
//! Never: refuses sign-in, shredding or any other step that releases nothing; names a member.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::{self, Store, Tx};

/// How far the clock may read behind the newest audit entry before release stops, in ms:
/// the skew allowed between brokers sharing one store.
pub const SKEW_TOLERANCE_MS: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The clock reads earlier than the log; the text is the operator's log line.
    #[error(
        "the system clock reads {} s earlier than the newest audit entry ({}); no member data is released until the clock catches up (check NTP and the host's time)",
        .behind_ms.saturating_add(999) / 1000,
        rfc3339(*.newest_ms)
    )]
    Behind { behind_ms: i64, newest_ms: i64 },
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The rule, for a clock reading `now_ms` and the log's newest time (both Unix ms): fine
/// when the log is empty or the clock is at most [`SKEW_TOLERANCE_MS`] behind it.
pub fn rule(now_ms: i64, newest_ms: Option<i64>) -> Result<(), Error> {
    match newest_ms {
        Some(newest_ms) if now_ms < newest_ms.saturating_sub(SKEW_TOLERANCE_MS) => {
            Err(Error::Behind {
                behind_ms: newest_ms.saturating_sub(now_ms),
                newest_ms,
            })
        }
        _ => Ok(()),
    }
}

/// [`rule`] against the store as it is now.
pub async fn check(store: &Store, now: OffsetDateTime) -> Result<(), Error> {
    rule(unix_ms(now), store.find_newest_audit_time().await?)
}

/// [`rule`] inside a write transaction (a snapshot going live checks in its own commit).
pub async fn check_in(tx: &mut Tx, now: OffsetDateTime) -> Result<(), Error> {
    rule(unix_ms(now), store::audit::find_newest_time_in(tx).await?)
}

/// The time deadlines are measured against: the later of `now` and the newest entry.
pub async fn deadline_time(store: &Store, now: OffsetDateTime) -> Result<OffsetDateTime, Error> {
    let newest = store
        .find_newest_audit_time()
        .await?
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok());
    Ok(newest.map_or(now, |t| t.max(now)))
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MIN)
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms after 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEWEST: i64 = 1_800_000_000_000;

    #[test]
    fn an_empty_log_or_a_clock_at_or_after_the_newest_entry_is_fine() {
        assert!(rule(NEWEST, None).is_ok());
        assert!(rule(0, None).is_ok());
        assert!(rule(NEWEST, Some(NEWEST)).is_ok());
        assert!(rule(NEWEST + 3_600_000, Some(NEWEST)).is_ok());
    }

    #[test]
    fn a_clock_behind_by_the_tolerance_is_fine_and_one_millisecond_more_is_refused() {
        assert!(rule(NEWEST - SKEW_TOLERANCE_MS, Some(NEWEST)).is_ok());
        let err = rule(NEWEST - SKEW_TOLERANCE_MS - 1, Some(NEWEST)).unwrap_err();
        assert!(
            matches!(err, Error::Behind { behind_ms, newest_ms: NEWEST } if behind_ms == SKEW_TOLERANCE_MS + 1),
            "{err:?}"
        );
    }

    #[test]
    fn a_clock_set_back_an_hour_is_refused_with_a_sentence_naming_the_gap_and_the_fix() {
        let err = rule(NEWEST - 3_600_000, Some(NEWEST)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("3600 s earlier"), "{text}");
        assert!(text.contains("2027-01-15T08:00:00Z"), "{text}");
        assert!(text.contains("check NTP"), "{text}");
    }

    #[test]
    fn extreme_values_neither_overflow_nor_pass() {
        assert!(rule(i64::MIN, Some(i64::MAX)).is_err());
        assert!(rule(i64::MAX, Some(i64::MIN)).is_ok());
        assert!(rule(i64::MIN, Some(i64::MIN)).is_ok());
    }
}
