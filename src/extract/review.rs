//! What people look at: an extract described with names, the approver's queue, unconfirmed
//! deletions, and a requester's earlier requests — metadata only, never member data.
//!
//! Guarantees: an approver's queue holds only pending requests in the districts where they
//! hold the approver role (all districts for a party-wide approver) and never their own;
//! nothing here decides anything (that is `lifecycle`), and nothing returns rows.

use time::OffsetDateTime;

use super::{Error, lifecycle};
use crate::app::AppState;
use crate::auth::Role;
use crate::policy::Principal;
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
pub async fn username(state: &AppState, user_id: &str) -> Result<String, Error> {
    Ok(state
        .store
        .find_user_by_id(user_id)
        .await?
        .map_or_else(|| user_id.to_owned(), |u| u.username))
}

pub async fn describe(state: &AppState, row: ExtractRow) -> Result<Described, Error> {
    let mut verdicts = Vec::new();
    for decision in state.store.list_decisions(&row.id).await? {
        let approver = username(state, &decision.approver_id).await?;
        verdicts.push(NamedVerdict { approver, decision });
    }
    let requester = username(state, &row.requester_id).await?;
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
        .list_extracts_by_requester(&who.user_id, LIST_LIMIT)
        .await?)
}

/// Pending requests `who` may decide, oldest first.
pub async fn queue(state: &AppState, who: &Principal) -> Result<Vec<ExtractRow>, Error> {
    let districts = lifecycle::districts_with(who, Role::Approver);
    let rows = state
        .store
        .list_extracts_in_state("pending", districts.as_deref(), LIST_LIMIT)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.requester_id != who.user_id)
        .collect())
}

/// Downloaded extracts in `who`'s approver districts whose copies are not confirmed deleted
/// `extracts.attest_grace_hours` after they ended.
pub async fn overdue(
    state: &AppState,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Vec<ExtractRow>, Error> {
    let districts = lifecycle::districts_with(who, Role::Approver);
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
