//! Raising the flags: one pass over the extracts requested in the look-back window, the
//! downloads and request-time denials in the audit log, and the overdue deletion confirmations.
//!
//! Deterministic: the same store gives the same flags with the same ids, whatever the order of
//! the rows; a flag about a person's week is counted per district, so each district's approver
//! sees exactly what happened in their district.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::{Flag, FlagId, Kind};
use crate::context::Context;
use crate::extract::Error;
use crate::extract::request::Request;
use crate::nouns::ExtractState;
use crate::store::extracts::ExtractRow;

/// Most overdue deletion confirmations looked at.
const OVERDUE_LIMIT: i64 = 500;

/// Every flag in `scope` (`None`: the whole party) as of `now`, newest first, unacknowledged;
/// with `party_auditor`, also the sampled follow-up's overdue samples and opened cases.
pub(super) async fn all(
    state: &Context,
    scope: Option<&[String]>,
    party_auditor: bool,
    now: OffsetDateTime,
) -> Result<Vec<Flag>, Error> {
    let cfg = &state.config.followup;
    let now_s = now.unix_timestamp();
    let since = now_s - i64::from(cfg.lookback_days) * 86_400;
    let extracts = state
        .store
        .list_extracts_requested_between(since, now_s + 1, scope)
        .await?;
    let mut flags = Vec::new();
    for row in &extracts {
        let request = Request::from_json(&row.request)?;
        if request
            .filters
            .is_whole_district(state.register.member_statuses())
        {
            flags.push(one_extract(Kind::WholeDistrict, row, row.created_at, 1));
        }
    }
    flags.extend(outside_hours(state, scope, &extracts, since, now_s).await?);
    flags.extend(many_pulls(&extracts, cfg.many_pulls_per_week));
    flags.extend(repeated_denials(state, scope, &extracts, since, now_s).await?);
    let grace = i64::from(state.config.extracts.attest_grace_hours) * 3600;
    for row in state
        .store
        .list_attestations_overdue(now_s - grace, scope, OVERDUE_LIMIT)
        .await?
    {
        let due = row.ended_at.unwrap_or(row.created_at) + grace;
        flags.push(one_extract(Kind::AttestationOverdue, &row, due, 1));
    }
    for h in state
        .store
        .list_deletions_overdue(now_s, OVERDUE_LIMIT)
        .await?
    {
        let Some(row) = state.store.find_extract(&h.extract_id).await? else {
            continue;
        };
        if in_scope(scope, &row.district) {
            let due = h.delete_by.unwrap_or(row.created_at);
            flags.push(one_extract(Kind::ProcessorDeletionOverdue, &row, due, 1));
        }
    }
    if party_auditor {
        flags.extend(samples(state, now_s).await?);
    }
    flags.sort_by(|a, b| b.raised_at.cmp(&a.raised_at).then_with(|| a.id.cmp(&b.id)));
    Ok(flags)
}

/// Samples not signed off by their deadline, and cases opened in a review.
async fn samples(state: &Context, now_s: i64) -> Result<Vec<Flag>, Error> {
    let offset = i64::from(state.config.followup.utc_offset.0.whole_seconds());
    let mut flags = Vec::new();
    for d in state.store.list_sample_draws_overdue(now_s).await? {
        let start = d.period_start.to_string();
        flags.push(Flag {
            id: FlagId::derive(Kind::SampleOverdue, &[&d.district, &start]),
            kind: Kind::SampleOverdue,
            district: d.district,
            user_id: String::new(),
            extract_id: None,
            week: Some(iso_week(d.period_start + offset)),
            count: d.population,
            raised_at: d.review_by,
            ack: None,
        });
    }
    for i in state.store.list_sample_cases().await? {
        let (start, position) = (i.period_start.to_string(), i.position.to_string());
        flags.push(Flag {
            id: FlagId::derive(Kind::SampleCase, &[&i.district, &start, &position]),
            kind: Kind::SampleCase,
            district: i.district,
            user_id: i.actor.strip_prefix("user:").unwrap_or_default().to_owned(),
            extract_id: Some(i.extract_id),
            week: Some(iso_week(i.period_start + offset)),
            count: 1,
            raised_at: i.reviewed_at.unwrap_or(now_s),
            ack: None,
        });
    }
    Ok(flags)
}

fn one_extract(kind: Kind, row: &ExtractRow, raised_at: i64, count: i64) -> Flag {
    Flag {
        id: FlagId::derive(kind, &[&row.id]),
        kind,
        district: row.district.clone(),
        user_id: row.requester_id.clone(),
        extract_id: Some(row.id.clone()),
        week: None,
        count,
        raised_at,
        ack: None,
    }
}

fn in_scope(scope: Option<&[String]>, district: &str) -> bool {
    scope.is_none_or(|d| d.iter().any(|x| x == district))
}

/// `2026-W49`: the ISO week (UTC) of a Unix time.
pub(super) fn iso_week(at: i64) -> String {
    let date = OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date();
    let (year, week, _) = date.to_iso_week_date();
    format!("{year}-W{week:02}")
}

/// The extract an `extract:<id>` audit target names.
fn extract_of(target: &str) -> Option<&str> {
    target.strip_prefix("extract:")
}

/// One flag per extract requested or downloaded outside office hours, counting each such
/// request and download; raised at the first.
async fn outside_hours(
    state: &Context,
    scope: Option<&[String]>,
    extracts: &[ExtractRow],
    since: i64,
    now_s: i64,
) -> Result<Vec<Flag>, Error> {
    let cfg = &state.config.followup;
    let outside = |at: i64| !cfg.office_hours.contains_time(at, cfg.utc_offset);
    // extract id → (first time outside, how many times)
    let mut seen: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut note = |id: &str, at: i64| {
        let e = seen.entry(id.to_owned()).or_insert((at, 0));
        e.0 = e.0.min(at);
        e.1 += 1;
    };
    for row in extracts.iter().filter(|r| outside(r.created_at)) {
        note(&row.id, row.created_at);
    }
    let downloads = state
        .store
        .list_audit_events_by_action_between(
            &[crate::audit::EventKind::ExtractReleased.code()],
            since * 1000,
            (now_s + 1) * 1000,
        )
        .await?;
    for event in downloads.iter().filter(|e| e.outcome == "success") {
        let at = event.occurred_at / 1000;
        if let Some(id) = extract_of(&event.target).filter(|_| outside(at)) {
            note(id, at);
        }
    }
    let mut flags = Vec::new();
    for (id, (first, count)) in seen {
        let row = match extracts.iter().find(|r| r.id == id) {
            Some(row) => Some(row.clone()),
            // Downloaded in the window but requested before it.
            None => state.store.find_extract(&id).await?,
        };
        if let Some(row) = row.filter(|r| in_scope(scope, &r.district)) {
            flags.push(one_extract(Kind::OutsideHours, &row, first, count));
        }
    }
    Ok(flags)
}

/// (user, district, week) → the times of the events, in order.
type PerWeek = BTreeMap<(String, String, String), Vec<i64>>;

fn per_week_flags(kind: Kind, groups: PerWeek, raise_at_count: usize) -> Vec<Flag> {
    let mut flags = Vec::new();
    for ((user, district, week), mut times) in groups {
        if times.len() < raise_at_count.max(1) {
            continue;
        }
        times.sort_unstable();
        flags.push(Flag {
            id: FlagId::derive(kind, &[&user, &district, &week]),
            kind,
            district,
            user_id: user,
            extract_id: None,
            week: Some(week),
            count: i64::try_from(times.len()).unwrap_or(i64::MAX),
            raised_at: times[raise_at_count.max(1) - 1],
            ack: None,
        });
    }
    flags
}

/// More than `limit` extracts by one person in one district in one ISO week; raised at the
/// pull that went over.
fn many_pulls(extracts: &[ExtractRow], limit: u32) -> Vec<Flag> {
    let mut groups = PerWeek::new();
    for row in extracts {
        let key = (
            row.requester_id.clone(),
            row.district.clone(),
            iso_week(row.created_at),
        );
        groups.entry(key).or_default().push(row.created_at);
    }
    per_week_flags(Kind::ManyPulls, groups, limit as usize + 1)
}

/// At least `followup.denials_per_week` denied requests by one person in one district in one
/// ISO week: denied by an approver (or by the policy at approval), or by the policy when asked
/// (`policy.decide` / `authz.error` with the request's scope; the what-if endpoint's answers,
/// which carry no filters, are not requests and do not count).
async fn repeated_denials(
    state: &Context,
    scope: Option<&[String]>,
    extracts: &[ExtractRow],
    since: i64,
    now_s: i64,
) -> Result<Vec<Flag>, Error> {
    use crate::audit::EventKind;
    let mut groups = PerWeek::new();
    for row in extracts.iter().filter(|r| r.state == ExtractState::Denied) {
        let at = row.decided_at.unwrap_or(row.created_at);
        let key = (row.requester_id.clone(), row.district.clone(), iso_week(at));
        groups.entry(key).or_default().push(at);
    }
    let events = state
        .store
        .list_audit_events_by_action_between(
            &[
                EventKind::PolicyDecision.code(),
                EventKind::AuthzError.code(),
            ],
            since * 1000,
            (now_s + 1) * 1000,
        )
        .await?;
    for event in events.iter().filter(|e| e.outcome == "denied") {
        let Ok(details) = serde_json::from_str::<serde_json::Value>(&event.details) else {
            continue;
        };
        let (Some(user), Some(district)) = (
            event.actor.strip_prefix("user:"),
            details["district"].as_str(),
        ) else {
            continue;
        };
        if details.get("filters").is_none() || !in_scope(scope, district) {
            continue;
        }
        let at = event.occurred_at / 1000;
        let key = (user.to_owned(), district.to_owned(), iso_week(at));
        groups.entry(key).or_default().push(at);
    }
    let limit = state.config.followup.denials_per_week as usize;
    Ok(per_week_flags(Kind::RepeatedDenials, groups, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_weeks_are_named_like_the_calendar() {
        // 2026-12-01 is a Tuesday in week 49; 2027-01-01 is a Friday in 2026's week 53.
        assert_eq!(iso_week(1_796_106_600), "2026-W49");
        assert_eq!(iso_week(1_798_761_600), "2026-W53");
    }

    #[test]
    fn a_week_is_flagged_only_at_the_threshold_and_raised_at_the_event_that_reached_it() {
        let key = ("u".to_owned(), "Uppsala".to_owned(), "2026-W49".to_owned());
        let mut groups = PerWeek::new();
        groups.insert(key.clone(), vec![30, 10, 20]);
        assert!(per_week_flags(Kind::ManyPulls, groups.clone(), 4).is_empty());
        let flags = per_week_flags(Kind::ManyPulls, groups, 3);
        assert_eq!(flags.len(), 1);
        assert_eq!((flags[0].count, flags[0].raised_at), (3, 30));
        assert_eq!(flags[0].week.as_deref(), Some("2026-W49"));
    }
}
