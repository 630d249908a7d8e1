//! The activity report: over a period, how many extracts were requested, let through, denied,
//! released and downloaded, and how many members they disclosed — in total and by purpose, by
//! district and by approver.
//!
//! What counts: every extract *requested* in `[from, to)`, with what has happened to it since,
//! plus every request the policy denied on the spot in that period (those are audit events
//! only: no extract is stored for them). An approver's row counts the requests they decided:
//! their approvals and denials, and what was released and disclosed under their approval.
//! Members disclosed is the snapshot's row count, kept after shredding.
//!
//! Recertification of roles (issue 22, item 2): the roles confirmed, removed and suspended in
//! the period, from the audit log (`role.recertify`, `role.suspend`), for the roles of the
//! districts covered (party-wide roles only in a party-wide report).

use std::collections::BTreeMap;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::Error;
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::nouns::ExtractState;
use crate::policy::Principal;
use crate::policy::Reach;
use crate::store::Store;
use crate::store::extracts::ExtractRow;

/// The longest period one report covers.
pub const MAX_DAYS: i64 = 400;

/// A report's period, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl Period {
    /// Two RFC 3339 times; `from` not after `to`, at most [`MAX_DAYS`] apart.
    pub fn parse(from: &str, to: &str) -> Result<Period, Error> {
        let time = |name: &str, text: &str| {
            OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
                Error::BadRange(format!(
                    "`{name}` is not an RFC 3339 time; write it as 2026-01-01T00:00:00Z"
                ))
            })
        };
        let period = Period {
            from: time("from", from)?,
            to: time("to", to)?,
        };
        if period.from > period.to {
            return Err(Error::BadRange("`from` is after `to`".into()));
        }
        if period.to - period.from > Duration::days(MAX_DAYS) {
            return Err(Error::BadRange(format!(
                "a report covers at most {MAX_DAYS} days; ask for a shorter period"
            )));
        }
        Ok(period)
    }
}

/// The counts of one row of the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requested: u64,
    /// Let through: allowed at once by the policy or approved by enough approvers.
    pub approved: u64,
    /// Denied by the policy (when asked or at approval) or by an approver.
    pub denied: u64,
    /// Made available (a snapshot was sealed).
    pub released: u64,
    /// Downloaded at least once.
    pub downloaded: u64,
    /// Downloads in all.
    pub downloads: u64,
    pub members_disclosed: u64,
}

impl Counts {
    fn add_extract(&mut self, row: &ExtractRow) {
        self.requested += 1;
        match row.state {
            ExtractState::Pending | ExtractState::Lapsed => {}
            ExtractState::Denied => self.denied += 1,
            ExtractState::Building
            | ExtractState::Live
            | ExtractState::Shredded
            | ExtractState::Failed => self.approved += 1,
        }
        self.add_release(row);
    }

    fn add_release(&mut self, row: &ExtractRow) {
        if row.live_at.is_some() {
            self.released += 1;
            self.members_disclosed += u64::try_from(row.row_count.unwrap_or(0)).unwrap_or(0);
        }
        if row.downloads > 0 {
            self.downloaded += 1;
            self.downloads += u64::try_from(row.downloads).unwrap_or(0);
        }
    }
}

/// Recertification of roles in the period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoleCounts {
    /// Roles confirmed for another term.
    pub confirmed: u64,
    /// Roles removed at recertification (including removals awaiting a second administrator).
    pub removed: u64,
    /// Roles that passed their due date unconfirmed.
    pub suspended: u64,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub period: Period,
    /// The districts covered, or the whole party.
    pub scope: Reach,
    pub totals: Counts,
    pub by_purpose: BTreeMap<String, Counts>,
    pub by_district: BTreeMap<String, Counts>,
    /// By the approver's username.
    pub by_approver: BTreeMap<String, Counts>,
    /// Roles confirmed, removed and suspended (recertification).
    pub roles: RoleCounts,
}

/// Builds the report for `reach` from the store.
pub async fn build(store: &Store, reach: &Reach, period: Period) -> Result<Activity, Error> {
    let names = reach.district_names();
    let scope = names.as_deref();
    let (from, to) = (period.from.unix_timestamp(), period.to.unix_timestamp());
    let extracts = store
        .list_extracts_requested_between(from, to, scope)
        .await?;
    let mut report = Activity {
        period,
        scope: reach.clone(),
        totals: Counts::default(),
        by_purpose: BTreeMap::new(),
        by_district: BTreeMap::new(),
        by_approver: BTreeMap::new(),
        roles: recertification(store, reach, period).await?,
    };
    for row in &extracts {
        report.totals.add_extract(row);
        report
            .by_purpose
            .entry(row.purpose.clone())
            .or_default()
            .add_extract(row);
        report
            .by_district
            .entry(row.district.clone())
            .or_default()
            .add_extract(row);
    }
    for (purpose, district) in denied_on_request(store, scope, period).await? {
        for counts in [
            &mut report.totals,
            report.by_purpose.entry(purpose).or_default(),
            report.by_district.entry(district).or_default(),
        ] {
            counts.requested += 1;
            counts.denied += 1;
        }
    }
    let by_id: BTreeMap<&str, &ExtractRow> = extracts.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for verdict in store
        .list_verdicts_on_extracts_requested_between(from, to, scope)
        .await?
    {
        let Some(row) = by_id.get(verdict.extract_id.as_str()).copied() else {
            continue;
        };
        if !names.contains_key(&verdict.approver_id) {
            let name = store
                .find_user_by_id(&verdict.approver_id)
                .await?
                .map_or_else(|| verdict.approver_id.clone(), |u| u.username);
            names.insert(verdict.approver_id.clone(), name);
        }
        let name = names.get(&verdict.approver_id).cloned().unwrap_or_default();
        let counts = report.by_approver.entry(name).or_default();
        counts.requested += 1;
        if verdict.verdict == "approve" {
            counts.approved += 1;
            counts.add_release(row);
        } else {
            counts.denied += 1;
        }
    }
    Ok(report)
}

/// The roles confirmed, removed and suspended in the period whose scope `reach` covers.
async fn recertification(
    store: &Store,
    reach: &Reach,
    period: Period,
) -> Result<RoleCounts, Error> {
    let events = store
        .list_audit_events_by_action_between(
            &[
                EventKind::RoleRecertified.code(),
                EventKind::RoleSuspended.code(),
            ],
            ms(period.from),
            ms(period.to),
        )
        .await?;
    let mut counts = RoleCounts::default();
    for event in &events {
        let Ok(details) = serde_json::from_str::<serde_json::Value>(&event.details) else {
            continue;
        };
        let Some(grant) = details["role"]
            .as_str()
            .and_then(|r| r.parse::<crate::nouns::RoleGrant>().ok())
        else {
            continue;
        };
        if !reach.covers_scope(&grant.scope) {
            continue;
        }
        match (event.action.as_str(), details["outcome"].as_str()) {
            (a, _) if a == EventKind::RoleSuspended.code() => counts.suspended += 1,
            (_, Some("confirmed")) => counts.confirmed += 1,
            (_, Some("removed")) => counts.removed += 1,
            _ => {}
        }
    }
    Ok(counts)
}

/// Unix milliseconds, as the audit log keeps its times.
fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// (purpose, district) of each request the policy denied when it was made, in the period and
/// scope. Those events carry the request's filters; the what-if endpoint's answers do not.
async fn denied_on_request(
    store: &Store,
    scope: Option<&[String]>,
    period: Period,
) -> Result<Vec<(String, String)>, Error> {
    let events = store
        .list_audit_events_by_action_between(
            &[
                EventKind::PolicyDecision.code(),
                EventKind::AuthzError.code(),
            ],
            ms(period.from),
            ms(period.to),
        )
        .await?;
    let mut out = Vec::new();
    for event in events.iter().filter(|e| e.outcome == "denied") {
        let Ok(details) = serde_json::from_str::<serde_json::Value>(&event.details) else {
            continue;
        };
        if details.get("filters").is_none() {
            continue;
        }
        let (Some(purpose), Some(district)) =
            (details["purpose"].as_str(), details["district"].as_str())
        else {
            continue;
        };
        if scope.is_none_or(|s| s.iter().any(|d| d == district)) {
            out.push((purpose.to_owned(), district.to_owned()));
        }
    }
    Ok(out)
}

/// The report for an auditor, over their audit scope; audited as `report.activity`.
pub async fn for_auditor(
    state: &Context,
    who: &Principal,
    period: Period,
    now: OffsetDateTime,
) -> Result<Activity, Error> {
    let scope = super::audit_scope(state, who).await?;
    let report = build(&state.store, &scope, period).await?;
    record(&state.store, Actor::user(who.user_id()), &report, now).await?;
    Ok(report)
}

/// Records that `report` was made, by whom, for which period and scope.
pub async fn record(
    store: &Store,
    actor: Actor,
    report: &Activity,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let when = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let event = Event::new(
        EventKind::ReportActivity,
        actor,
        "report:activity",
        Outcome::Success,
        json!({
            "from": when(report.period.from),
            "to": when(report.period.to),
            "scope": report.scope.names(),
            "requested": report.totals.requested,
        }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(())
}

/// The header of [`rows`].
pub const CSV_HEADER: [&str; 9] = [
    "grouping",
    "name",
    "requested",
    "approved",
    "denied",
    "released",
    "downloaded",
    "downloads",
    "members_disclosed",
];

/// The report as table rows: totals, then by purpose, district and approver.
pub fn rows(report: &Activity) -> Vec<Vec<String>> {
    let line = |group: &str, name: &str, c: &Counts| {
        let mut row = vec![group.to_owned(), name.to_owned()];
        row.extend(
            [
                c.requested,
                c.approved,
                c.denied,
                c.released,
                c.downloaded,
                c.downloads,
                c.members_disclosed,
            ]
            .map(|n| n.to_string()),
        );
        row
    };
    let mut out = vec![line("total", "", &report.totals)];
    for (group, map) in [
        ("purpose", &report.by_purpose),
        ("district", &report.by_district),
        ("approver", &report.by_approver),
    ] {
        out.extend(map.iter().map(|(name, c)| line(group, name, c)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_rfc3339_in_order_and_at_most_400_days() {
        let p = Period::parse("2026-01-01T00:00:00Z", "2026-02-01T00:00:00+01:00").unwrap();
        assert!(p.from < p.to);
        for (from, to) in [
            ("2026-01-01", "2026-02-01T00:00:00Z"),
            ("2026-03-01T00:00:00Z", "2026-02-01T00:00:00Z"),
            ("2025-01-01T00:00:00Z", "2026-02-06T00:00:00Z"),
        ] {
            assert!(
                matches!(Period::parse(from, to), Err(Error::BadRange(_))),
                "{from} {to}"
            );
        }
        assert!(Period::parse("2025-01-01T00:00:00Z", "2026-02-05T00:00:00Z").is_ok());
    }
}
