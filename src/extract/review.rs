//! What people look at: an extract described with names, the approver's queue, unconfirmed
//! deletions, and a requester's earlier requests — metadata only, never member data.
//!
//! Guarantees: an approver's queue holds only pending requests in the districts where they
//! hold the approver role (all districts for a party-wide approver) and never their own;
//! "who received member M" answers from the disclosure ledger, so it is exact after every
//! payload is shredded (E6), only for the districts where the policy lets the asker view the
//! audit (party-wide auditors: all), and is itself an audit event naming the member by pseudonym
//! only. Nothing here decides anything (that is `lifecycle`), and nothing returns rows.

use time::OffsetDateTime;

use super::{Error, ExtractState, lifecycle};
use crate::context::Context;
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
    /// The hand-over to a processor, when the extract went to one: the processor and the
    /// agreement the members were disclosed under.
    pub handover: Option<crate::store::handovers::HandoverRow>,
}

/// The username of a user id (the id itself if the user is gone).
pub async fn username(store: &Store, user_id: &str) -> Result<String, Error> {
    let found = store.find_user_by_id(user_id).await?;
    Ok(name_or_id(found.map(|u| u.username), user_id))
}

/// A person as every view names them: their username, or their user id when the account is
/// gone.
fn name_or_id(username: Option<String>, user_id: &str) -> String {
    username.unwrap_or_else(|| user_id.to_owned())
}

pub async fn describe(state: &Context, row: ExtractRow) -> Result<Described, Error> {
    describe_in(&state.store, row).await
}

/// [`describe`] with the store only (for the command line).
pub async fn describe_in(store: &Store, row: ExtractRow) -> Result<Described, Error> {
    let people = store
        .find_extract_people(&row.id, &row.requester_id)
        .await?;
    let verdicts = people
        .decisions
        .into_iter()
        .map(|(decision, name)| NamedVerdict {
            approver: name_or_id(name, &decision.approver_id),
            decision,
        })
        .collect();
    Ok(Described {
        requester: name_or_id(people.requester, &row.requester_id),
        row,
        verdicts,
        handover: people.handover,
    })
}

/// The user's own extracts, newest first.
pub async fn own(state: &Context, who: &Principal) -> Result<Vec<ExtractRow>, Error> {
    Ok(state
        .store
        .list_extracts_by_requester(who.user_id(), LIST_LIMIT)
        .await?)
}

/// Pending requests `who` may decide, oldest first.
pub async fn queue(state: &Context, who: &Principal) -> Result<Vec<ExtractRow>, Error> {
    let Some(reach) = approver_reach(state, who).await? else {
        return Ok(Vec::new());
    };
    let districts = reach.district_names();
    let rows = state
        .store
        .list_extracts_in_state(ExtractState::Pending, districts.as_deref(), LIST_LIMIT)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.requester_id != who.user_id())
        .collect())
}

/// Downloaded extracts in `who`'s approver districts whose copies are not confirmed deleted
/// `extracts.attest_grace_hours` after they ended.
pub async fn overdue(
    state: &Context,
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
pub async fn history(state: &Context, row: &ExtractRow) -> Result<Vec<ExtractRow>, Error> {
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
pub async fn approver_reach(state: &Context, who: &Principal) -> Result<Option<Reach>, Error> {
    match permit(state, who, crate::policy::Action::ExtractApprove, "").await {
        Ok(permit) => Ok(Some(permit.reach().clone())),
        Err(Error::Denied { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Who else could decide a pending request: the district's approvers (and party-wide ones)
/// by name, but not its requester and not `who`. What the approver's page says beside *why*
/// the request needs approval (`policy::approval_reasons`).
pub async fn other_approvers(
    state: &Context,
    who: &Principal,
    row: &ExtractRow,
) -> Result<Vec<String>, Error> {
    let holders = state
        .store
        .list_role_holder_names(crate::nouns::Role::Approver.as_str(), &row.district)
        .await?;
    Ok(holders
        .into_iter()
        .filter(|(id, _)| id != who.user_id() && *id != row.requester_id)
        .map(|(_, name)| name)
        .collect())
}

/// The permit to view the audit (`audit.view`), as far as the policy reaches for `who`.
pub(crate) async fn audit_permit(state: &Context, who: &Principal) -> Result<Permit, Error> {
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
    state: &Context,
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
