//! Changing the policy with four eyes (F-3): one party-wide administrator proposes a new
//! purpose catalogue and/or permission table, a different one reads what changes and confirms it.
//!
//! Guarantees:
//! - a proposal is validated completely when it is made and again when it is confirmed; it
//!   names the version it was made against, and a confirmation is refused once another
//!   version is in force, so nobody confirms a diff they were not shown;
//! - both acts take a party-wide `policy administer` [`Permit`]; the proposer cannot confirm;
//! - the proposal (`policy.propose`), the new version (`policy.change`, naming both people)
//!   and a rejection (`policy.propose_reject`) are audit events in their transactions.

use serde_json::json;
use similar::TextDiff;
use time::OffsetDateTime;

use super::policy_history::{self, HistoryDiff, Window};
use super::{Error, second_person, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::nouns::Scope;
use crate::policy::source::{self, ChangeError, Source, check_comment, purpose_ids};
use crate::policy::{self, Permit, Policy, Texts};
use crate::store::proposals::{self, PolicyProposalRow};
use crate::store::{self, Store};

/// A proposal filed for a second administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    pub id: String,
}

/// A proposed change as the confirming administrator sees it.
#[derive(Debug, Clone)]
pub struct PendingChange {
    pub id: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub comment: String,
    /// What the purpose catalogue changes, purpose by purpose, against the policy in force:
    /// what the confirming administrator reads (the pages say it in words).
    pub changes: policy::CatalogueChanges,
    /// The permission table (`policy.csv`) changes too.
    pub permissions_changed: bool,
    /// A unified diff of each file that changes, against the policy in force.
    pub diffs: Vec<FileDiff>,
    /// Another version came into force after the proposal: it can only be rejected.
    pub stale: bool,
    /// The past requests the proposal would have decided differently from the policy in force
    /// (`admin::policy_history`), computed when asked for.
    pub history: HistoryDiff,
}

#[derive(Debug, Clone)]
pub struct FileDiff {
    pub file: &'static str,
    pub diff: String,
}

fn check_permit(permit: &Permit) -> Result<(), Error> {
    permit
        .check(policy::Action::PolicyAdminister, &Scope::Party)
        .map_err(|_| Error::NotPermitted)
}

/// Files a policy change for a second administrator, after checking it completely.
pub async fn propose(
    source: &Source,
    store: &Store,
    permit: &Permit,
    purposes: Option<String>,
    permissions: Option<String>,
    comment: &str,
    now: OffsetDateTime,
) -> Result<Proposed, Error> {
    check_permit(permit)?;
    let comment = check_comment(comment)?;
    let before = source.current(store).await?;
    let after = before.texts.with(purposes, permissions);
    Policy::from_parts(&after.model, &after.permissions, &after.purposes)
        .await
        .map_err(ChangeError::from)?;
    if after == before.texts {
        return Err(crate::auth::Error::BadInput(
            "the proposal is the policy already in force; change something first".into(),
        )
        .into());
    }
    let actor = Actor::user(permit.user_id());
    let row = PolicyProposalRow {
        id: crate::crypto::random_id128(),
        base_version: before.version,
        permissions: after.permissions.clone(),
        purposes: after.purposes.clone(),
        comment: comment.to_owned(),
        proposed_by: actor.as_str().to_owned(),
        proposed_at: unix(now),
    };
    let mut tx = store.begin().await?;
    proposals::insert_policy_proposal(&mut tx, &row).await?;
    let details = json!({
        "proposal_id": row.id, "base_version": before.version, "comment": comment,
        "purposes_before": purpose_ids(&before.texts.purposes),
        "purposes_after": purpose_ids(&after.purposes),
        "permissions_changed": before.texts.permissions != after.permissions,
        "sha256_before": before.texts.sha256(), "sha256_after": after.sha256(),
    });
    let event = Event::new(
        EventKind::PolicyProposed,
        actor,
        "policy",
        Outcome::Success,
        details,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Proposed { id: row.id })
}

/// A second party-wide administrator confirms a proposal: it becomes the next version.
pub async fn confirm(
    source: &Source,
    store: &Store,
    permit: &Permit,
    id: &str,
    now: OffsetDateTime,
) -> Result<i64, Error> {
    check_permit(permit)?;
    let row = store
        .find_pending_policy_proposal(id)
        .await?
        .ok_or(Error::NoSuchProposal)?;
    second_person(permit, &row.proposed_by)?;
    let before = source.current(store).await?;
    if before.version != row.base_version {
        return Err(Error::Stale);
    }
    let after = proposed_texts(&before.texts, &row);
    Policy::from_parts(&after.model, &after.permissions, &after.purposes)
        .await
        .map_err(ChangeError::from)?;
    let actor = Actor::user(permit.user_id());
    let mut tx = store.begin().await?;
    if store::policy::latest_version_in(&mut tx).await? != row.base_version {
        tx.rollback().await?;
        return Err(Error::Stale);
    }
    if proposals::decide_policy_proposal(&mut tx, id, actor.as_str(), "applied", unix(now))
        .await?
        .is_none()
    {
        tx.rollback().await?;
        return Err(Error::NoSuchProposal);
    }
    let extra = json!({ "proposal_id": id, "proposed_by": row.proposed_by });
    let version =
        source::store_version(&mut tx, &before, &after, actor, &row.comment, extra, now).await?;
    proposals::set_policy_proposal_version(&mut tx, id, version).await?;
    tx.commit().await?;
    Ok(version)
}

/// An administrator turns a proposal down (the proposer may withdraw their own).
pub async fn reject(
    store: &Store,
    permit: &Permit,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    check_permit(permit)?;
    let actor = Actor::user(permit.user_id());
    let mut tx = store.begin().await?;
    let Some(row) =
        proposals::decide_policy_proposal(&mut tx, id, actor.as_str(), "rejected", unix(now))
            .await?
    else {
        tx.rollback().await?;
        return Err(Error::NoSuchProposal);
    };
    let event = Event::new(
        EventKind::PolicyProposalRejected,
        actor,
        "policy",
        Outcome::Success,
        json!({ "proposal_id": id, "proposed_by": row.proposed_by }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The pending proposals with their diffs against the policy in force, each tried against
/// the requests of `window` before `now`.
pub async fn pending(
    source: &Source,
    store: &Store,
    permit: &Permit,
    window: Window,
    now: OffsetDateTime,
) -> Result<Vec<PendingChange>, Error> {
    check_permit(permit)?;
    let current = source.current(store).await?;
    let rows = store.list_pending_policy_proposals().await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let after = proposed_texts(&current.texts, &row);
        // Checked when proposed; a candidate that no longer loads denies everything, and the
        // history says so rather than hiding it.
        let candidate = Policy::from_texts_or_deny_all(&after).await;
        let history =
            policy_history::against_history(store, &current.policy, &candidate, window, now)
                .await?;
        out.push(PendingChange {
            changes: policy::catalogue_changes(&current.texts.purposes, &after.purposes),
            permissions_changed: current.texts.permissions != after.permissions,
            diffs: diffs(&current.texts, &after),
            stale: row.base_version != current.version,
            id: row.id,
            proposed_by: row.proposed_by,
            proposed_at: row.proposed_at,
            comment: row.comment,
            history,
        });
    }
    Ok(out)
}

fn proposed_texts(current: &Texts, row: &PolicyProposalRow) -> Texts {
    current.with(Some(row.purposes.clone()), Some(row.permissions.clone()))
}

/// Unified diffs (three lines of context) of the files that differ.
pub fn diffs(before: &Texts, after: &Texts) -> Vec<FileDiff> {
    let files = [
        (policy::PURPOSES_FILE, &before.purposes, &after.purposes),
        (
            policy::PERMISSIONS_FILE,
            &before.permissions,
            &after.permissions,
        ),
    ];
    files
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(file, old, new)| FileDiff {
            file,
            diff: TextDiff::from_lines(old.as_str(), new.as_str())
                .unified_diff()
                .context_radius(3)
                .header("i kraft / in force", "föreslagen / proposed")
                .to_string(),
        })
        .collect()
}

impl From<crate::policy::Error> for Error {
    fn from(e: crate::policy::Error) -> Error {
        Error::Policy(ChangeError::Invalid(e))
    }
}
