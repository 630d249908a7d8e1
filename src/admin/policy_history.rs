//! Trying a policy change against history: the extract requests of the last days, as the audit
//! log recorded them, decided again under the policy in force and under a candidate, and the
//! ones whose decision differs (issue 22, item 3).
//!
//! Guarantees:
//! - both policies decide each request with the same inputs: the recorded purpose, district,
//!   fields, lifetime and member count, the requester's roles *as held now*
//!   ([`Principal::load`], read once per person and used for both policies), and the time the
//!   request was made as `now` (so a purpose's validity window is judged as it was then);
//! - only what the log says was asked is decided again: successful `extract.request` entries
//!   and `policy.decide` denials that carry a member count; the others are counted as skipped;
//! - the read is bounded: at most `max_requests` requests, newest first, and the answer says
//!   when it was capped.
//!
//! Never: changes anything, records anything, or reads member data (the count is the one the
//! log holds).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use time::OffsetDateTime;

use crate::audit::EventKind;
use crate::nouns::{DistrictCode, Field};
use crate::policy::{Decision, DenyCode, ExtractRequest, Policy, Principal, PurposeId};
use crate::store::audit::{AuditRow, AuditSelection};
use crate::store::{self, Store};

/// How far back and how many requests (`[policy] history_days`, `history_max_requests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub days: u32,
    pub max_requests: u32,
}

impl Window {
    /// The window `[policy]` configures.
    pub fn of(config: &crate::config::PolicyConfig) -> Window {
        Window {
            days: config.history_days,
            max_requests: config.history_max_requests,
        }
    }
}

/// A decision reduced to what differs between policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed without an approver.
    Allowed,
    /// Needs this many approvers (1 or 2).
    Approvers(u8),
    Denied {
        code: DenyCode,
        reason: String,
    },
}

impl Verdict {
    fn of(decision: &Decision) -> Verdict {
        match decision {
            Decision::Allow(_) => Verdict::Allowed,
            Decision::NeedsApproval { approvers, .. } => Verdict::Approvers(*approvers),
            Decision::Deny { code, reason } => Verdict::Denied {
                code: *code,
                reason: reason.clone(),
            },
        }
    }

    /// How many approvers it takes: 0 allowed at once, `None` denied.
    fn approvers(&self) -> Option<u8> {
        match self {
            Verdict::Allowed => Some(0),
            Verdict::Approvers(n) => Some(*n),
            Verdict::Denied { .. } => None,
        }
    }
}

/// How a request's decision moves from the policy in force to the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shift {
    /// Allowed (with or without approval) now, denied under the candidate.
    NowDenied,
    /// Under the candidate it needs more approvers than now.
    MoreApprovers,
    /// Under the candidate it needs fewer approvers, but at least one.
    FewerApprovers,
    /// Under the candidate it is allowed without any approver.
    NowAllowed,
    /// Denied now, allowed with approval under the candidate.
    NowApprovable,
}

impl Shift {
    pub fn as_str(self) -> &'static str {
        match self {
            Shift::NowDenied => "now_denied",
            Shift::MoreApprovers => "more_approvers",
            Shift::FewerApprovers => "fewer_approvers",
            Shift::NowAllowed => "now_allowed",
            Shift::NowApprovable => "now_approvable",
        }
    }

    /// `None` when the decision is the same (two denials count as the same decision).
    pub fn between(before: &Verdict, after: &Verdict) -> Option<Shift> {
        match (before.approvers(), after.approvers()) {
            (None, None) => None,
            (Some(_), None) => Some(Shift::NowDenied),
            (None, Some(0)) => Some(Shift::NowAllowed),
            (None, Some(_)) => Some(Shift::NowApprovable),
            (Some(a), Some(b)) if a == b => None,
            (Some(_), Some(0)) => Some(Shift::NowAllowed),
            (Some(a), Some(b)) if b > a => Some(Shift::MoreApprovers),
            (Some(_), Some(_)) => Some(Shift::FewerApprovers),
        }
    }
}

/// One past request whose decision the candidate changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// When it was asked (Unix milliseconds, from the log).
    pub at_ms: i64,
    pub requester_id: String,
    /// "Display name (username)", or the id for an account that is gone.
    pub requester: String,
    pub purpose: PurposeId,
    pub district: DistrictCode,
    pub before: Verdict,
    pub after: Verdict,
    pub shift: Shift,
}

/// What the candidate would have decided differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryDiff {
    pub window: Window,
    /// Requests decided again.
    pub read: usize,
    /// More requests were in the window than `max_requests`: the oldest were not read.
    pub capped: bool,
    /// Entries that could not be decided again (no member count, not a person, unreadable).
    pub skipped: usize,
    /// Newest first.
    pub changes: Vec<Changed>,
}

impl HistoryDiff {
    /// How many requests move each way, in [`Shift`] order.
    pub fn counts(&self) -> Vec<(Shift, usize)> {
        let mut counts: BTreeMap<Shift, usize> = BTreeMap::new();
        for c in &self.changes {
            *counts.entry(c.shift).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

/// A request as the log recorded it.
struct Past {
    at_ms: i64,
    requester_id: String,
    request: ExtractRequest,
}

fn parse(row: &AuditRow) -> Option<Past> {
    let requester_id = row.actor.strip_prefix("user:")?.to_owned();
    let d: Value = serde_json::from_str(&row.details).ok()?;
    let fields = d["fields"]
        .as_array()?
        .iter()
        .map(|f| f.as_str().and_then(|f| f.parse::<Field>().ok()))
        .collect::<Option<Vec<Field>>>()?;
    let request = ExtractRequest {
        purpose: PurposeId::parse(d["purpose"].as_str()?).ok()?,
        district: DistrictCode::parse(d["district"].as_str()?).ok()?,
        fields,
        lifetime_minutes: u32::try_from(d["lifetime_minutes"].as_u64()?).ok()?,
        estimated_rows: d["estimated_rows"].as_u64()?,
    };
    Some(Past {
        at_ms: row.occurred_at,
        requester_id,
        request,
    })
}

/// The requests of the window, newest first, at most `max_requests` (and whether more were
/// there), with the number of entries that could not be read as requests.
async fn past_requests(
    store: &Store,
    window: Window,
    now: OffsetDateTime,
) -> Result<(Vec<Past>, bool, usize), store::Error> {
    let from_ms = (now - time::Duration::days(i64::from(window.days))).unix_timestamp() * 1000;
    let limit = i64::from(window.max_requests) + 1;
    let mut rows = Vec::new();
    for (kind, outcome) in [
        (EventKind::ExtractRequested, "success"),
        (EventKind::PolicyDecision, "denied"),
    ] {
        let sel = AuditSelection {
            action: Some(kind.code().to_owned()),
            from_ms: Some(from_ms),
            ..AuditSelection::default()
        };
        let found = store.list_audit_events_matching(&sel, None, limit).await?;
        rows.extend(found.into_iter().filter(|r| r.outcome == outcome));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.seq));
    let cap = window.max_requests as usize;
    let capped = rows.len() > cap;
    rows.truncate(cap);
    let parsed: Vec<Past> = rows.iter().filter_map(parse).collect();
    let skipped = rows.len() - parsed.len();
    Ok((parsed, capped, skipped))
}

/// Decides the requests of the last `window.days` (as of `now`) under `in_force` and under
/// `candidate`, and returns those whose decision differs.
pub async fn against_history(
    store: &Store,
    in_force: &Policy,
    candidate: &Policy,
    window: Window,
    now: OffsetDateTime,
) -> Result<HistoryDiff, store::Error> {
    let (past, capped, skipped) = past_requests(store, window, now).await?;
    let mut people: HashMap<String, (Principal, String)> = HashMap::new();
    let mut changes = Vec::new();
    for p in &past {
        if !people.contains_key(&p.requester_id) {
            let principal = Principal::load(store, &p.requester_id).await?;
            let name = store.find_user_by_id(&p.requester_id).await?.map_or_else(
                || p.requester_id.clone(),
                |u| format!("{} ({})", u.display_name, u.username),
            );
            people.insert(p.requester_id.clone(), (principal, name));
        }
        let Some((principal, name)) = people.get(&p.requester_id) else {
            continue;
        };
        let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(p.at_ms) * 1_000_000)
        else {
            continue;
        };
        let before = Verdict::of(&in_force.decide(principal, &p.request, at).await);
        let after = Verdict::of(&candidate.decide(principal, &p.request, at).await);
        if let Some(shift) = Shift::between(&before, &after) {
            changes.push(Changed {
                at_ms: p.at_ms,
                requester_id: p.requester_id.clone(),
                requester: name.clone(),
                purpose: p.request.purpose.clone(),
                district: p.request.district.clone(),
                before,
                after,
                shift,
            });
        }
    }
    Ok(HistoryDiff {
        window,
        read: past.len(),
        capped,
        skipped,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Verdict {
        Verdict::Denied {
            code: DenyCode::TooManyRows,
            reason: String::new(),
        }
    }

    #[test]
    fn shifts_are_named_by_what_changes_for_the_requester() {
        use Verdict::{Allowed, Approvers};
        let cases = [
            (Allowed, Allowed, None),
            (Approvers(1), Approvers(1), None),
            (denied(), denied(), None),
            (Allowed, denied(), Some(Shift::NowDenied)),
            (Approvers(2), denied(), Some(Shift::NowDenied)),
            (Allowed, Approvers(1), Some(Shift::MoreApprovers)),
            (Approvers(1), Approvers(2), Some(Shift::MoreApprovers)),
            (Approvers(2), Approvers(1), Some(Shift::FewerApprovers)),
            (Approvers(1), Allowed, Some(Shift::NowAllowed)),
            (denied(), Allowed, Some(Shift::NowAllowed)),
            (denied(), Approvers(1), Some(Shift::NowApprovable)),
        ];
        for (before, after, shift) in cases {
            assert_eq!(
                Shift::between(&before, &after),
                shift,
                "{before:?} → {after:?}"
            );
        }
    }
}
