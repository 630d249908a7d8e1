//! Oversight pages for people: the auditor's timeline (`/audit/events`), the follow-up flags
//! with their acknowledgement (`/audit/flags`), and the DPO's reports — extract activity over a
//! period (`/audit/reports`) and the printable record of processing (`/audit/reports/article30`).
//!
//! Guarantees: every page needs a full session and shows exactly what its JSON API answers —
//! the pages call the same handlers and library functions (`oversight::timeline`,
//! `oversight::followup`, `report`), so scope, filters, counts and audit events cannot differ
//! between page and API. Filters arrive as text and are parsed by the library; a bad one shows
//! the library's sentence on the page with 422, never a panic. The browser's date and
//! date-and-time fields are read as UTC (the pages say so). An acknowledgement is a POST with
//! the session's CSRF token, checked before the rest of the form is used, and a fresh second
//! factor or a TOTP code in the form (the approve form's step-up), then a 303 back.
//!
//! Must never: put member data on these pages (the log holds pseudonyms, flags and reports
//! hold staff actions and counts), or take a filter from anywhere but the query string.

mod flags;
mod reports;
mod timeline;

pub use flags::{acknowledge_flag, flags_page};
pub use reports::{activity_page, article30_page};
pub use timeline::events_page;

use crate::web::i18n::{self, Lang};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// A form value, or `None` when the field was left empty (a form sends every field).
fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// Which end of a range a form value gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The first instant the value names.
    Start,
    /// The last instant of the day, minute or second the value names (an inclusive end).
    Inclusive,
    /// The first instant after the day a date names; a date and time as it is (an exclusive
    /// end, as the activity report's `to`).
    Exclusive,
}

/// A time from a form as RFC 3339 for the library: RFC 3339 as it is; the browser's
/// `YYYY-MM-DDTHH:MM[:SS]` (datetime-local) or `YYYY-MM-DD` (date) read as UTC, at `end`.
/// Anything else is handed on unchanged, so the library refuses it with its own sentence.
fn form_time(text: &str, end: End) -> String {
    let text = text.trim();
    if OffsetDateTime::parse(text, &Rfc3339).is_ok() {
        return text.to_owned();
    }
    let minute = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let second = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let day = format_description!("[year]-[month]-[day]");
    let parsed = if let Ok(t) = PrimitiveDateTime::parse(text, &minute) {
        Some((t, Duration::minutes(1), false))
    } else if let Ok(t) = PrimitiveDateTime::parse(text, &second) {
        Some((t, Duration::seconds(1), false))
    } else {
        time::Date::parse(text, &day)
            .ok()
            .map(|d| (d.midnight(), Duration::days(1), true))
    };
    let Some((t, span, whole_day)) = parsed else {
        return text.to_owned();
    };
    let t = t.assume_utc();
    let t = match end {
        End::Start => t,
        End::Inclusive => t + span - Duration::milliseconds(1),
        End::Exclusive if whole_day => t + span,
        End::Exclusive => t,
    };
    t.format(&Rfc3339).unwrap_or_else(|_| text.to_owned())
}

/// An RFC 3339 time in words to the second, in UTC (the timeline needs the seconds).
fn when_exact(lang: Lang, rfc3339: &str) -> String {
    i18n::parse_rfc3339(rfc3339)
        .map_or_else(|| rfc3339.to_owned(), |t| i18n::datetime_seconds(lang, t))
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::Records;
    use crate::web::entry;
    use crate::web::route_audit as ra;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/audit/events",
            SignedIn,
            Records(&[A::AuditTimeline]),
            get(events_page),
        ),
        entry(
            M::GET,
            "/audit/flags",
            SignedIn,
            Records(&[A::FollowupListed]),
            get(flags_page),
        ),
        entry(
            M::POST,
            "/audit/flags/{id}/acknowledge",
            SignedIn,
            ra::PAGE_ACKNOWLEDGE,
            post(acknowledge_flag),
        ),
        entry(
            M::GET,
            "/audit/reports",
            SignedIn,
            Records(&[A::ReportActivity]),
            get(activity_page),
        ),
        entry(
            M::GET,
            "/audit/reports/article30",
            SignedIn,
            Records(&[A::ReportArticle30]),
            get(article30_page),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_times_are_read_as_utc_and_moved_to_the_asked_end() {
        let t = |text: &str, end: End| form_time(text, end);
        assert_eq!(t("2026-03-01T12:34", End::Start), "2026-03-01T12:34:00Z");
        assert_eq!(
            t("2026-03-01T12:34", End::Inclusive),
            "2026-03-01T12:34:59.999Z"
        );
        assert_eq!(
            t("2026-03-01T12:34:56", End::Inclusive),
            "2026-03-01T12:34:56.999Z"
        );
        assert_eq!(
            t("2026-03-01T12:34", End::Exclusive),
            "2026-03-01T12:34:00Z"
        );
        assert_eq!(t("2026-03-01", End::Start), "2026-03-01T00:00:00Z");
        assert_eq!(t("2026-03-01", End::Inclusive), "2026-03-01T23:59:59.999Z");
        assert_eq!(t("2026-12-31", End::Exclusive), "2027-01-01T00:00:00Z");
        assert_eq!(
            t(" 2026-03-01T12:00:00+01:00 ", End::Exclusive),
            "2026-03-01T12:00:00+01:00",
            "RFC 3339 is taken as it is"
        );
        assert_eq!(t("yesterday", End::Start), "yesterday");
        assert_eq!(t("2026-02-30", End::Start), "2026-02-30");
    }

    #[test]
    fn empty_fields_count_as_absent() {
        assert_eq!(given(Some("  ")), None);
        assert_eq!(given(None), None);
        assert_eq!(given(Some(" anna ")), Some("anna"));
    }

    #[test]
    fn exact_times_keep_their_seconds() {
        assert_eq!(
            when_exact(Lang::Sv, "2026-03-01T12:34:56.789Z"),
            "1 mars 2026 13:34:56 CET"
        );
        assert_eq!(
            when_exact(Lang::En, "2026-03-01T12:34:56.789Z"),
            "1 Mar 2026, 13:34:56 CET"
        );
        assert_eq!(when_exact(Lang::Sv, "bad"), "bad");
    }
}
