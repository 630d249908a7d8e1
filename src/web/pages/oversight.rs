//! Oversight pages for people: the auditor's timeline (`/audit/events`), the follow-up flags
//! with their acknowledgement (`/audit/flags`), the sampled follow-up (`/audit/samples`), and the DPO's reports — extract activity over a
//! period (`/audit/reports`) and the printable record of processing (`/audit/reports/article30`).
//!
//! Guarantees: every page needs a full session and shows exactly what its JSON API answers —
//! the pages call the same handlers and library functions (`oversight::timeline`,
//! `oversight::followup`, `report`), so scope, filters, counts and audit events cannot differ
//! between page and API. Filters arrive as text and are parsed by the library; a bad one shows
//! the library's sentence on the page with 422, never a panic. The browser's date and
//! date-and-time fields are read in the zone the pages show times in (`server.time_zone`), and
//! handed to the library as RFC 3339, as the API takes them. An acknowledgement is a POST with
//! the session's CSRF token, checked before the rest of the form is used, and a fresh second
//! factor or a TOTP code in the form (the approve form's step-up), then a 303 back.
//!
//! Must never: put member data on these pages (the log holds pseudonyms, flags and reports
//! hold staff actions and counts), or take a filter from anywhere but the query string.

mod flags;
mod reports;
mod samples;
mod timeline;

pub use flags::{acknowledge_flag, flags_page};
pub use reports::{activity_page, article30_page};
pub use samples::{draw_early, review_item, sample_page, samples_page, sign_off};
pub use timeline::events_page;

use crate::web::i18n::{self, Lang};
use jiff::tz::TimeZone;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// A form value, or `None` when the field was left empty (a form sends every field).
fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// Which end of a range a form value gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::web::pages) enum End {
    /// The first instant the value names.
    Start,
    /// The last instant of the day, minute or second the value names (an inclusive end).
    Inclusive,
    /// The first instant after the day a date names; a date and time as it is (an exclusive
    /// end, as the activity report's `to`).
    Exclusive,
}

/// The zone the pages show times in, so a time typed in a form means what the pages say.
pub(in crate::web::pages) fn time_zone(state: &crate::web::AppState) -> TimeZone {
    TimeZone::get(&state.config.server.time_zone)
        .or_else(|_| TimeZone::get(crate::config::DEFAULT_TIME_ZONE))
        .unwrap_or(TimeZone::UTC)
}

/// A time from a form as RFC 3339 for the library: RFC 3339 as it is; the browser's
/// `YYYY-MM-DDTHH:MM[:SS]` (datetime-local) or `YYYY-MM-DD` (date) read as wall-clock time in
/// `zone`, at `end`. A day is the zone's day (23 or 25 hours at a clock change); a time the
/// clock skips is read with the offset before the skip, as RFC 5545 and Temporal do. Anything
/// else is handed on unchanged, so the library refuses it with its own sentence.
pub(in crate::web::pages) fn form_time(text: &str, end: End, zone: &TimeZone) -> String {
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
    // The end is found on the wall clock, then placed in the zone.
    let (wall, less) = match end {
        End::Start => (Some(t), Duration::ZERO),
        End::Inclusive => (t.checked_add(span), Duration::milliseconds(1)),
        End::Exclusive if whole_day => (t.checked_add(span), Duration::ZERO),
        End::Exclusive => (Some(t), Duration::ZERO),
    };
    wall.and_then(|w| in_zone(w, zone))
        .map(|at| at - less)
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| text.to_owned())
}

/// A wall-clock time in `zone` as a moment.
fn in_zone(wall: PrimitiveDateTime, zone: &TimeZone) -> Option<OffsetDateTime> {
    let narrow = |n: u8| i8::try_from(n).ok();
    let civil = jiff::civil::DateTime::new(
        wall.year().try_into().ok()?,
        narrow(u8::from(wall.month()))?,
        narrow(wall.day())?,
        narrow(wall.hour())?,
        narrow(wall.minute())?,
        narrow(wall.second())?,
        0,
    )
    .ok()?;
    let at = civil.to_zoned_datetime(zone.clone()).ok()?.timestamp();
    OffsetDateTime::from_unix_timestamp_nanos(at.as_nanosecond()).ok()
}

/// An RFC 3339 time in words to the second, in the shown zone (the timeline needs the seconds).
pub(in crate::web::pages) fn when_exact(lang: Lang, rfc3339: &str) -> String {
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
            "/audit/samples",
            SignedIn,
            Records(&[A::SampleListed, A::SampleDrawn]),
            get(samples_page),
        ),
        entry(
            M::POST,
            "/audit/samples/draw-early",
            SignedIn,
            Records(&[A::SampleDrawn, A::SampleListed]),
            post(draw_early),
        ),
        entry(
            M::GET,
            "/audit/samples/{district}/{period}",
            SignedIn,
            Records(&[A::SampleListed, A::SampleDrawn]),
            get(sample_page),
        ),
        entry(
            M::POST,
            "/audit/samples/{district}/{period}/items/{position}/review",
            SignedIn,
            ra::PAGE_SAMPLE_REVIEW,
            post(review_item),
        ),
        entry(
            M::POST,
            "/audit/samples/{district}/{period}/sign-off",
            SignedIn,
            ra::PAGE_SAMPLE_SIGN_OFF,
            post(sign_off),
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
    fn browser_times_are_read_in_the_given_zone_and_moved_to_the_asked_end() {
        let t = |text: &str, end: End| form_time(text, end, &TimeZone::UTC);
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
    fn browser_times_are_the_shown_zones_wall_clock_across_its_clock_changes() {
        let stockholm = TimeZone::get("Europe/Stockholm").unwrap();
        let t = |text: &str, end: End| form_time(text, end, &stockholm);
        assert_eq!(t("2026-03-01T12:34", End::Start), "2026-03-01T11:34:00Z");
        assert_eq!(t("2026-07-01T12:34", End::Start), "2026-07-01T10:34:00Z");
        assert_eq!(
            t("2026-12-02T15:05", End::Inclusive),
            "2026-12-02T14:05:59.999Z"
        );
        assert_eq!(t("2026-03-01", End::Start), "2026-02-28T23:00:00Z");
        // 29 March 2026 has 23 hours in Stockholm; 25 October 25.
        assert_eq!(t("2026-03-29", End::Exclusive), "2026-03-29T22:00:00Z");
        assert_eq!(t("2026-10-25", End::Inclusive), "2026-10-25T22:59:59.999Z");
        // 02:30 on 29 March is skipped by the clock: read as 02:30 winter time (03:30 summer).
        assert_eq!(t("2026-03-29T02:30", End::Start), "2026-03-29T01:30:00Z");
        assert_eq!(
            t("2026-03-01T12:00:00+01:00", End::Start),
            "2026-03-01T12:00:00+01:00"
        );
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
