//! What people look at: an extract described with names, the approver's queue, unconfirmed
//! deletions, and a requester's earlier requests — metadata only, never member data.
//!
//! Guarantees: an approver's queue holds only pending requests in the districts where they
//! hold the approver role (all districts for a party-wide approver) and never their own;
//! "who received member M" answers from the disclosure ledger, so it is exact after every
//! payload is shredded (E6), only for the districts where the policy lets the asker view the
//! audit (party-wide auditors: all), and is itself an audit event naming the member by pseudonym
//! only. Nothing here decides anything (that is `lifecycle`), and nothing returns rows.

use serde_json::json;
use time::OffsetDateTime;

use super::{Error, lifecycle};
use crate::app::AppState;
use crate::audit::{self, Action, Actor, Event, Outcome};
use crate::crypto::MemberRef;
use crate::policy::{Permit, Principal, Reach};
use crate::store::Store;
use crate::store::extracts::{DecisionRow, ExtractRow};

/// Most items a list returns.
const LIST_LIMIT: i64 = 200;
/// How many earlier requests an approver sees beside a request.
const HISTORY_LEN: usize = 10;

/// An approver's verdict with the approver's username.
#[derive(Debug, Clone)]
pub struct NamedVerdict {
    pub approver: String,
    pub decision: DecisionRow,
}

/// An extract with the people in it named.
#[derive(Debug, Clone)]
pub struct Described {
    pub row: ExtractRow,
    pub requester: String,
    pub verdicts: Vec<NamedVerdict>,
}

/// The username of a user id (the id itself if the user is gone).
pub async fn username(store: &Store, user_id: &str) -> Result<String, Error> {
    Ok(store
        .find_user_by_id(user_id)
        .await?
        .map_or_else(|| user_id.to_owned(), |u| u.username))
}

pub async fn describe(state: &AppState, row: ExtractRow) -> Result<Described, Error> {
    describe_in(&state.store, row).await
}

/// [`describe`] with the store only (for the command line).
pub async fn describe_in(store: &Store, row: ExtractRow) -> Result<Described, Error> {
    let mut verdicts = Vec::new();
    for decision in store.list_decisions(&row.id).await? {
        let approver = username(store, &decision.approver_id).await?;
        verdicts.push(NamedVerdict { approver, decision });
    }
    let requester = username(store, &row.requester_id).await?;
    Ok(Described {
        row,
        requester,
        verdicts,
    })
}

/// The user's own extracts, newest first.
pub async fn own(state: &AppState, who: &Principal) -> Result<Vec<ExtractRow>, Error> {
    Ok(state
        .store
        .list_extracts_by_requester(&who.user_id(), LIST_LIMIT)
        .await?)
}

/// Pending requests `who` may decide, oldest first.
pub async fn queue(state: &AppState, who: &Principal) -> Result<Vec<ExtractRow>, Error> {
    let Some(reach) = approver_reach(state, who).await? else {
        return Ok(Vec::new());
    };
    let districts = reach.district_names();
    let rows = state
        .store
        .list_extracts_in_state("pending", districts.as_deref(), LIST_LIMIT)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.requester_id != who.user_id())
        .collect())
}

/// Downloaded extracts in `who`'s approver districts whose copies are not confirmed deleted
/// `extracts.attest_grace_hours` after they ended.
pub async fn overdue(
    state: &AppState,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Vec<ExtractRow>, Error> {
    let Some(reach) = approver_reach(state, who).await? else {
        return Ok(Vec::new());
    };
    let districts = reach.district_names();
    let grace = i64::from(state.config.extracts.attest_grace_hours) * 3600;
    Ok(state
        .store
        .list_attestations_overdue(
            now.unix_timestamp() - grace,
            districts.as_deref(),
            LIST_LIMIT,
        )
        .await?)
}

/// The requester's latest other requests, for the approver's review.
pub async fn history(state: &AppState, row: &ExtractRow) -> Result<Vec<ExtractRow>, Error> {
    let rows = state
        .store
        .list_extracts_by_requester(&row.requester_id, HISTORY_LEN as i64 + 1)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.id != row.id)
        .take(HISTORY_LEN)
        .collect())
}

/// Where the policy lets `who` approve (`extract.approve`), or `None` when nowhere: the
/// approver's queues are what this reaches.
pub async fn approver_reach(state: &AppState, who: &Principal) -> Result<Option<Reach>, Error> {
    match permit(state, who, crate::policy::Action::ExtractApprove, "").await {
        Ok(permit) => Ok(Some(permit.reach().clone())),
        Err(Error::Denied { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The permit to view the audit (`audit.view`), as far as the policy reaches for `who`.
pub(crate) async fn audit_permit(state: &AppState, who: &Principal) -> Result<Permit, Error> {
    permit(
        state,
        who,
        crate::policy::Action::AuditView,
        "only an auditor may read the audit trail",
    )
    .await
}

/// The permit for `action`, reaching every district (or the whole party) where the policy in
/// force lets `who` do it: the one place an auditor's or approver's scope is computed
/// ([`crate::policy::Policy::permit`]). Refused with `refusal` when that is nowhere; a policy
/// that cannot be evaluated refuses too (C6).
pub(crate) async fn permit(
    state: &AppState,
    who: &Principal,
    action: crate::policy::Action,
    refusal: &str,
) -> Result<Permit, Error> {
    let policy = lifecycle::policy_now(state).await?;
    policy.permit(who, action).await.map_err(|e| Error::Denied {
        code: e.deny_code(),
        reason: refusal.to_owned(),
    })
}

/// What an auditor learns about one extract: who asked, who approved, what it held (fields and
/// how many members), every download with time and address, the deletion receipt and the
/// attestation — from the audit log and the ledger, so it is complete after shredding.
#[derive(Debug, Clone)]
pub struct Story {
    pub described: Described,
    pub members: i64,
    pub events: Vec<crate::store::audit::AuditRow>,
}

/// The extract's story, for an auditor whose audit scope covers its district; anyone else is
/// told there is no such extract (C2). Audited as `audit.extract_story`.
pub async fn story(
    state: &AppState,
    who: &Principal,
    id: &super::ExtractId,
    now: OffsetDateTime,
) -> Result<Story, Error> {
    let permit = match audit_permit(state, who).await {
        Ok(permit) => permit,
        Err(Error::Denied { .. }) => return Err(Error::NotFound),
        Err(e) => return Err(e),
    };
    let row = state
        .store
        .find_extract(id.as_str())
        .await?
        .filter(|row| permit.reach().covers(&row.district))
        .ok_or(Error::NotFound)?;
    let target = format!("extract:{id}");
    let events = state.store.list_audit_events_for(&target).await?;
    let members = state.store.count_disclosures(id.as_str()).await?;
    let event = Event::new(
        Action::AuditExtractStory,
        Actor::user(&who.user_id()),
        &target,
        Outcome::Success,
        json!({ "events": events.len(), "members": members }),
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(Story {
        described: describe(state, row).await?,
        members,
        events,
    })
}

/// A member number as an auditor types it: one line of 1–64 characters ([`crate::text`]).
pub const MEMBER_ID: crate::text::Rule = crate::text::Rule::one_line(1, 64);

/// The member number trimmed, if [`MEMBER_ID`] takes it.
pub fn check_member_id(member_id: &str) -> Result<&str, Error> {
    MEMBER_ID
        .check(member_id)
        .map_err(|e| Error::BadInput(format!("a member number {e}")))
}

/// Every released extract that held the member, in the asker's audit scope: the member's
/// pseudonym and the extracts, oldest first. Audited as `audit.member_disclosures`.
pub async fn who_received(
    state: &AppState,
    who: &Principal,
    member_id: &str,
    now: OffsetDateTime,
) -> Result<(MemberRef, Vec<Described>), Error> {
    disclosures_audited(
        state,
        who,
        member_id,
        Action::AuditMemberLookup,
        json!({}),
        now,
    )
    .await
}

/// [`who_received`] for the printable access-request report (GDPR Art. 15), audited as
/// `audit.member_report` with whether staff names are shown — the DPO's choice.
pub async fn member_report(
    state: &AppState,
    who: &Principal,
    member_id: &str,
    with_names: bool,
    now: OffsetDateTime,
) -> Result<(MemberRef, Vec<Described>), Error> {
    let details = json!({ "staff_names": with_names });
    disclosures_audited(
        state,
        who,
        member_id,
        Action::AuditMemberReport,
        details,
        now,
    )
    .await
}

async fn disclosures_audited(
    state: &AppState,
    who: &Principal,
    member_id: &str,
    action: Action,
    mut details: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(MemberRef, Vec<Described>), Error> {
    let member_id = check_member_id(member_id)?;
    let permit = audit_permit(state, who).await?;
    let member = state.pseudonyms.member_ref(member_id);
    let districts = permit.reach().district_names();
    let rows = state
        .store
        .list_extracts_holding(member.as_bytes(), districts.as_deref())
        .await?;
    details["extracts"] = json!(rows.len());
    details["scope"] = json!(permit.reach().names());
    let event = Event::new(
        action,
        Actor::user(&who.user_id()),
        &format!("member:{member}"),
        Outcome::Success,
        details,
    );
    audit::record_now(&state.store, &event, now).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(describe(state, row).await?);
    }
    Ok((member, out))
}
