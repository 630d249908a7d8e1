//! The auditor's timeline and exports of the log: who did what, when, filtered and paged.
//!
//! Guarantees: the asker's scope comes from the policy (`audit.view`, see
//! [`review::audit_scope`]): a district auditor sees only entries about extracts in their
//! districts (joined in SQL through `target = 'extract:' || extracts.id`), a party-wide auditor
//! every entry; anyone else is refused. Filters are parsed into newtypes before they reach the
//! store; a limit outside `1..=`[`MAX_LIMIT`] is refused, never clamped. Every read is an audit
//! event (`audit.timeline`) with the filters; every export is `audit.export`, recorded before
//! the first byte ([`export::start`]).
//!
//! Never: puts member data in an event (the log holds pseudonyms only, and the filters are
//! usernames, districts, purposes, codes and times).

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::export::{self, Export, Format};
use crate::audit::{Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::review;
use crate::nouns::DistrictCode;
use crate::nouns::Username;
use crate::policy::{Principal, PurposeId};
use crate::store::{self, audit::AuditRow, audit::AuditSelection};

/// Most entries one timeline page returns.
pub const MAX_LIMIT: i64 = 500;
/// Entries per page when no limit is given.
pub const DEFAULT_LIMIT: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadInput(String),
    /// No audit scope (not an auditor), or the policy could not be read.
    #[error(transparent)]
    Scope(#[from] crate::extract::Error),
    #[error("the audit log cannot be read: {0}")]
    Store(#[from] store::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),
}

/// The filters as they arrive (query string), before parsing.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub actor: Option<String>,
    pub district: Option<String>,
    pub action: Option<String>,
    pub purpose: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

/// A time window, both ends inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

impl Window {
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Window, Error> {
        let window = Window {
            from: from.map(|t| parse_time("from", t)).transpose()?,
            to: to.map(|t| parse_time("to", t)).transpose()?,
        };
        if let (Some(f), Some(t)) = (window.from, window.to)
            && f > t
        {
            return Err(Error::BadInput("`from` is after `to`".into()));
        }
        Ok(window)
    }

    fn millis(t: Option<OffsetDateTime>) -> Option<i64> {
        t.and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
    }
}

fn parse_time(name: &str, text: &str) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
        Error::BadInput(format!(
            "`{name}` is an RFC 3339 time, e.g. 2026-03-01T00:00:00Z"
        ))
    })
}

/// The timeline's filters, parsed.
#[derive(Debug, Clone)]
pub struct Filter {
    pub actor: Option<Username>,
    pub district: Option<DistrictCode>,
    pub action: Option<EventKind>,
    pub purpose: Option<PurposeId>,
    pub window: Window,
    /// Only entries with a smaller sequence number (the next page).
    pub before: Option<i64>,
    pub limit: i64,
}

impl Filter {
    pub fn parse(p: &Params) -> Result<Filter, Error> {
        let bad = |m: &str| Error::BadInput(m.to_owned());
        let limit = match p.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| bad("`limit` is a whole number from 1 to 500"))?,
        };
        let before = p
            .before
            .as_deref()
            .map(|t| {
                t.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("`before` is a sequence number from a previous page"))
            })
            .transpose()?;
        let action = p
            .action
            .as_deref()
            .map(|c| {
                EventKind::from_code(c.trim()).ok_or_else(|| bad("`action` is not an event code"))
            })
            .transpose()?;
        Ok(Filter {
            actor: p
                .actor
                .as_deref()
                .map(|u| Username::parse(u).map_err(|_| bad("`actor` is not a username")))
                .transpose()?,
            district: p
                .district
                .as_deref()
                .map(|d| DistrictCode::parse(d).map_err(|e| Error::BadInput(e.to_string())))
                .transpose()?,
            action,
            purpose: p
                .purpose
                .as_deref()
                .map(|x| PurposeId::parse(x).map_err(|_| bad("`purpose` is not a purpose id")))
                .transpose()?,
            window: Window::parse(p.from.as_deref(), p.to.as_deref())?,
            before,
            limit,
        })
    }

    /// The filters as recorded in the `audit.timeline` event.
    fn details(&self) -> serde_json::Value {
        json!({
            "actor": self.actor.as_ref().map(|u| u.as_str().to_owned()),
            "district": self.district.as_ref().map(ToString::to_string),
            "action": self.action.map(EventKind::code),
            "purpose": self.purpose.as_ref().map(|p| p.as_str().to_owned()),
            "from": Window::millis(self.window.from).map(export::rfc3339_ms),
            "to": Window::millis(self.window.to).map(export::rfc3339_ms),
            "before": self.before,
            "limit": self.limit,
        })
    }
}

/// One page of the timeline, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub events: Vec<AuditRow>,
    /// Pass as `before` for the next (older) page; `None` when this page is the last.
    pub next_before: Option<i64>,
}

/// The store's selection for `filter` in `scope`; `None` if the actor names no user (then
/// nothing can match).
async fn selection(
    state: &Context,
    scope: Option<Vec<String>>,
    filter: &Filter,
) -> Result<Option<AuditSelection>, Error> {
    let actor = match &filter.actor {
        None => None,
        Some(name) => match state.store.find_user_by_username(name.as_str()).await? {
            Some(user) => Some(Actor::user(&user.id).as_str().to_owned()),
            None => return Ok(None),
        },
    };
    Ok(Some(AuditSelection {
        scope,
        district: filter.district.as_ref().map(ToString::to_string),
        purpose: filter.purpose.as_ref().map(|p| p.as_str().to_owned()),
        actor,
        action: filter.action.map(|a| a.code().to_owned()),
        from_ms: Window::millis(filter.window.from),
        to_ms: Window::millis(filter.window.to),
    }))
}

/// A page of the log in `who`'s audit scope, audited as `audit.timeline`.
pub async fn read(
    state: &Context,
    who: &Principal,
    filter: &Filter,
    now: OffsetDateTime,
) -> Result<Page, Error> {
    let permit = review::audit_permit(state, who).await?;
    let label = permit.reach().names();
    let events = match selection(state, permit.reach().district_names(), filter).await? {
        Some(sel) => {
            state
                .store
                .list_audit_events_matching(&sel, filter.before, filter.limit)
                .await?
        }
        None => Vec::new(),
    };
    let next_before = match events.last() {
        Some(last) if events.len() as i64 == filter.limit => Some(last.seq),
        _ => None,
    };
    let event = Event::new(
        EventKind::AuditTimeline,
        Actor::user(who.user_id()),
        "audit_log",
        Outcome::Success,
        json!({ "filters": filter.details(), "returned": events.len(), "scope": label }),
    );
    crate::audit::record_now(&state.store, &event, now).await?;
    Ok(Page {
        events,
        next_before,
    })
}

/// The entries in `who`'s audit scope within `window`, as a stream in `format`; the export is
/// audited as `audit.export` before this returns.
pub async fn export(
    state: &Context,
    who: &Principal,
    format: Format,
    window: Window,
    now: OffsetDateTime,
) -> Result<Export, Error> {
    let permit = review::audit_permit(state, who).await?;
    let selection = AuditSelection {
        scope: permit.reach().district_names(),
        from_ms: Window::millis(window.from),
        to_ms: Window::millis(window.to),
        ..AuditSelection::default()
    };
    let actor = Actor::user(who.user_id());
    Ok(export::start(&state.store, actor, selection, format, now).await?)
}

/// The whole log within `window`, for an operator at the command line (who holds the store
/// itself, so there is no narrower scope to apply). Audited as `audit.export` by `cli:<user>`.
pub async fn export_all(
    store: &store::Store,
    format: Format,
    window: Window,
    now: OffsetDateTime,
) -> Result<Export, Error> {
    let selection = AuditSelection {
        from_ms: Window::millis(window.from),
        to_ms: Window::millis(window.to),
        ..AuditSelection::default()
    };
    Ok(export::start(store, Actor::cli(), selection, format, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: Option<&str>) -> Params {
        Params {
            limit: limit.map(str::to_owned),
            ..Params::default()
        }
    }

    #[test]
    fn a_limit_outside_one_to_five_hundred_is_refused_not_clamped() {
        for bad in ["0", "501", "-1", "ten", "", "1e3"] {
            assert!(Filter::parse(&params(Some(bad))).is_err(), "{bad}");
        }
        assert_eq!(Filter::parse(&params(Some("500"))).unwrap().limit, 500);
        assert_eq!(Filter::parse(&params(Some("1"))).unwrap().limit, 1);
        assert_eq!(Filter::parse(&params(None)).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn unknown_codes_bad_times_and_reversed_windows_are_refused() {
        let with = |f: fn(&mut Params)| {
            let mut p = Params::default();
            f(&mut p);
            Filter::parse(&p)
        };
        assert!(with(|p| p.action = Some("extract.nothing".into())).is_err());
        assert!(with(|p| p.from = Some("yesterday".into())).is_err());
        assert!(with(|p| p.before = Some("0".into())).is_err());
        assert!(
            with(|p| {
                p.from = Some("2026-02-01T00:00:00Z".into());
                p.to = Some("2026-01-01T00:00:00Z".into());
            })
            .is_err()
        );
        let ok = with(|p| {
            p.action = Some("extract.download".into());
            p.from = Some("2026-01-01T00:00:00+01:00".into());
        })
        .unwrap();
        assert_eq!(ok.action, Some(EventKind::ExtractReleased));
        assert_eq!(
            Window::millis(ok.window.from),
            Some(1_767_222_000_000),
            "an offset is honoured"
        );
    }
}
