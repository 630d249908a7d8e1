//! Breach scope (GDPR Art. 33; SECURITY_BAR E7): what a notification to the supervisory
//! authority must say — how many members, which categories of data, who downloaded when and
//! from where, and when the payload was destroyed — from an extract id, a leaked file, or an
//! account and a time window.
//!
//! Guarantees: answered from the disclosure ledger and the audit log only, so it is the same
//! after every payload is shredded; members are counted once however many extracts held them;
//! only extracts in the asker's audit scope are counted or named; the report is an audit event
//! (`audit.breach_scope`) with its basis and counts, never member data. A few indexed queries
//! per extract: seconds for thousands of extracts (see `BENCHMARKS.md`).

use std::collections::BTreeMap;

use serde_json::json;
use time::OffsetDateTime;

use super::trace::{self, Confidence};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::request::Request;
use crate::extract::review::{self, Described};
use crate::extract::{Error, ExtractId};
use crate::nouns::ExtractState;
use crate::nouns::{Field, Sensitivity};
use crate::policy::{Principal, Reach};
use crate::store::Store;

/// Longest account window a scope covers.
pub const MAX_WINDOW_DAYS: i64 = 400;

/// What the scope starts from.
#[derive(Debug, Clone)]
pub enum Basis {
    Extract(ExtractId),
    /// Every extract the account held at some moment in the window (a stolen account).
    Account {
        username: String,
        from: OffsetDateTime,
        to: OffsetDateTime,
    },
    /// The extract a leaked file most likely comes from (the trace must be at least medium sure).
    File(trace::ReadFile),
}

/// One release of data: a download or a page shown in the browser.
#[derive(Debug, Clone)]
pub struct Release {
    pub extract_id: String,
    pub username: String,
    pub at: i64,
    /// `csv`, `xlsx` or `view`.
    pub format: String,
    pub address: Option<String>,
}

/// One extract in the scope.
#[derive(Debug, Clone)]
pub struct Held {
    pub described: Described,
    pub fields: Vec<Field>,
    /// Members the ledger records for it.
    pub members: i64,
}

/// The breach scope.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The basis in words, for the report's heading.
    pub basis: String,
    pub extracts: Vec<Held>,
    /// Different members over all the extracts.
    pub members: i64,
    /// The fields released, by category.
    pub categories: BTreeMap<Sensitivity, Vec<Field>>,
    /// Every release, in time order.
    pub releases: Vec<Release>,
    /// Extracts whose data is still held (not shredded): revoke them.
    pub still_live: usize,
}

/// The scope for a signed-in auditor (scope and identity from the policy and the session).
pub async fn scope(
    state: &Context,
    who: &Principal,
    basis: Basis,
    now: OffsetDateTime,
) -> Result<Scope, Error> {
    let permit = review::audit_permit(state, who).await?;
    scope_as(
        &state.store,
        &Actor::user(permit.user_id()),
        permit.reach(),
        basis,
        now,
    )
    .await
}

/// The scope among the extracts within `reach`, audited as `actor`.
pub async fn scope_as(
    store: &Store,
    actor: &Actor,
    reach: &Reach,
    basis: Basis,
    now: OffsetDateTime,
) -> Result<Scope, Error> {
    let in_scope = |district: &str| reach.covers(district);
    let district_names = reach.district_names();
    let districts = district_names.as_deref();
    let (words, target, rows) = match basis {
        Basis::Extract(id) => {
            let row = store
                .find_extract(id.as_str())
                .await?
                .filter(|r| in_scope(&r.district))
                .ok_or(Error::NotFound)?;
            (format!("extract {id}"), format!("extract:{id}"), vec![row])
        }
        Basis::Account { username, from, to } => {
            check_window(from, to)?;
            let user = store
                .find_user_by_username(&username)
                .await?
                .ok_or_else(|| Error::BadInput("there is no account with that username".into()))?;
            let rows = store
                .list_extracts_held_between(
                    &user.id,
                    from.unix_timestamp(),
                    to.unix_timestamp(),
                    districts,
                )
                .await?;
            (
                format!("account {} from {from} to {to}", user.username),
                format!("user:{}", user.id),
                rows,
            )
        }
        Basis::File(file) => {
            let traced = trace::trace_as(store, actor, reach, file, now).await?;
            let best = traced
                .candidates
                .into_iter()
                .next()
                .filter(|_| traced.confidence >= Confidence::Medium)
                .ok_or_else(|| {
                    Error::Conflict(
                        "trace_unsure",
                        "the file cannot be tied to one extract with confidence; trace it and \
                         scope the extracts it names"
                            .into(),
                    )
                })?;
            let id = best.described.row.id.clone();
            (
                format!(
                    "leaked file {} (traced to extract {id})",
                    traced.file_sha256
                ),
                format!("file:{}", traced.file_sha256),
                vec![best.described.row],
            )
        }
    };
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let members = store.count_distinct_members(&ids).await?;
    let mut extracts = Vec::with_capacity(rows.len());
    let mut releases = Vec::new();
    let mut categories: BTreeMap<Sensitivity, Vec<Field>> = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for row in rows {
        let fields = Request::from_json(&row.request)?.fields;
        for f in &fields {
            let list = categories.entry(f.sensitivity()).or_default();
            if !list.contains(f) {
                list.push(*f);
            }
        }
        for e in store
            .list_audit_events_for(&format!("extract:{}", row.id))
            .await?
        {
            let format = match e.action.as_str() {
                "extract.download" => None,
                "extract.view" => Some("view".to_owned()),
                _ => continue,
            };
            let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
            let user_id = e.actor.strip_prefix("user:").unwrap_or(&e.actor).to_owned();
            let username = match names.get(&user_id) {
                Some(n) => n.clone(),
                None => {
                    let n = review::username(store, &user_id).await?;
                    names.insert(user_id, n.clone());
                    n
                }
            };
            releases.push(Release {
                extract_id: row.id.clone(),
                username,
                at: e.occurred_at / 1000,
                format: format
                    .unwrap_or_else(|| details["format"].as_str().unwrap_or("unknown").to_owned()),
                address: details["ip"].as_str().map(str::to_owned),
            });
        }
        let held = store.count_disclosures(&row.id).await?;
        extracts.push(Held {
            described: review::describe_in(store, row).await?,
            fields,
            members: held,
        });
    }
    releases.sort_by_key(|r| r.at);
    let still_live = extracts
        .iter()
        .filter(|h| h.described.row.state == ExtractState::Live)
        .count();
    let event = Event::new(
        EventKind::AuditBreachScope,
        actor.clone(),
        &target,
        Outcome::Success,
        json!({
            "extracts": ids, "members": members, "releases": releases.len(),
            "still_live": still_live,
            "scope": reach.names(),
        }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(Scope {
        basis: words,
        extracts,
        members,
        categories,
        releases,
        still_live,
    })
}

fn check_window(from: OffsetDateTime, to: OffsetDateTime) -> Result<(), Error> {
    if from > to {
        return Err(Error::BadInput(
            "the window's start is after its end".into(),
        ));
    }
    if (to - from).whole_days() > MAX_WINDOW_DAYS {
        return Err(Error::BadInput(format!(
            "a window is at most {MAX_WINDOW_DAYS} days; scope a longer time in parts"
        )));
    }
    Ok(())
}

/// The category's name in a report.
pub fn category_name(s: Sensitivity) -> &'static str {
    match s {
        Sensitivity::Identity => "identity (and so membership of the party)",
        Sensitivity::Contact => "contact details",
        Sensitivity::Address => "address",
        Sensitivity::Sensitive => "identifiers across society (personal number, birth date)",
        Sensitivity::Flag => "consent and protection flags",
    }
}
