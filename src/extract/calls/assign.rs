//! Giving a call list's members to callers: by place in the list, shared in turn among callers,
//! or moved from one caller to another. Only the requester; each step is a `calls.assign`
//! event, a refusal too.

use serde_json::json;
use time::OffsetDateTime;

use super::{Refusal, open_own, refuse};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::{Error, ExtractId, lifecycle};
use crate::nouns::Username;
use crate::policy::{Action, Principal};
use crate::store::calls as rows;

/// A refused assignment, audited as `calls.assign` with its code.
async fn refused(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    refusal: Refusal,
    now: OffsetDateTime,
) -> Error {
    refuse(state, EventKind::CallsAssigned, who, id, refusal, now).await
}

/// The account named `caller`, if it may request member lists in `district` now.
async fn caller_in_district(
    state: &Context,
    caller: &Username,
    district: &crate::nouns::DistrictCode,
) -> Result<Option<String>, Error> {
    let Some(user) = state.store.find_user_by_username(caller.as_str()).await? else {
        return Ok(None);
    };
    if user.status != "active" {
        return Ok(None);
    }
    let principal = lifecycle::principal_of(state, &user.id).await?;
    let policy = lifecycle::policy_now(state).await?;
    let may = policy
        .permits(&principal, Action::ExtractRequest, district)
        .await
        .is_ok();
    Ok(may.then_some(user.id))
}

/// Assigns `positions` (0-based, in the list) to `caller`, moving those not yet called from
/// whoever had them. Only the requester; audited as `calls.assign`.
pub async fn assign(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    caller: &Username,
    positions: &[i64],
    now: OffsetDateTime,
) -> Result<u64, Error> {
    let opened = open_own(state, who, id, now).await?;
    let rows_total = opened.row.row_count.unwrap_or(0);
    if positions.is_empty() || positions.iter().any(|p| *p < 0 || *p >= rows_total) {
        return Err(refused(state, who, id, Refusal::MemberNotInList, now).await);
    }
    let Some(caller_id) = caller_in_district(state, caller, &opened.request.district).await? else {
        return Err(refused(state, who, id, Refusal::CallerNotInDistrict, now).await);
    };
    let mut sorted = positions.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut tx = state.store.begin().await?;
    let n = rows::assign(
        &mut tx,
        id.as_str(),
        &caller_id,
        &sorted,
        now.unix_timestamp(),
    )
    .await?;
    record_assignment(&mut tx, who, id, &caller_id, n, None, now).await?;
    tx.commit().await?;
    Ok(n)
}

/// Shares every member not yet assigned among `callers`, in turn. Only the requester.
pub async fn share(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    callers: &[Username],
    now: OffsetDateTime,
) -> Result<u64, Error> {
    let opened = open_own(state, who, id, now).await?;
    if callers.is_empty() {
        return Err(refused(state, who, id, Refusal::CallerNotInDistrict, now).await);
    }
    let mut ids = Vec::with_capacity(callers.len());
    for caller in callers {
        match caller_in_district(state, caller, &opened.request.district).await? {
            Some(caller_id) if !ids.contains(&caller_id) => ids.push(caller_id),
            Some(_) => {}
            None => {
                return Err(refused(state, who, id, Refusal::CallerNotInDistrict, now).await);
            }
        }
    }
    let taken: Vec<i64> = state
        .store
        .list_assignments(id.as_str())
        .await?
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    let free: Vec<i64> = (0..opened.row.row_count.unwrap_or(0))
        .filter(|p| taken.binary_search(p).is_err())
        .collect();
    let mut shares: Vec<Vec<i64>> = vec![Vec::new(); ids.len()];
    for (i, p) in free.into_iter().enumerate() {
        shares[i % ids.len()].push(p);
    }
    let mut tx = state.store.begin().await?;
    let mut total = 0;
    for (caller_id, share) in ids.iter().zip(&shares) {
        if share.is_empty() {
            continue;
        }
        let n = rows::assign(&mut tx, id.as_str(), caller_id, share, now.unix_timestamp()).await?;
        record_assignment(&mut tx, who, id, caller_id, n, None, now).await?;
        total += n;
    }
    tx.commit().await?;
    Ok(total)
}

/// Moves every member `from` has not called yet to `to`. Only the requester.
pub async fn reassign(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    from: &Username,
    to: &Username,
    now: OffsetDateTime,
) -> Result<u64, Error> {
    let opened = open_own(state, who, id, now).await?;
    let Some(to_id) = caller_in_district(state, to, &opened.request.district).await? else {
        return Err(refused(state, who, id, Refusal::CallerNotInDistrict, now).await);
    };
    // The one losing members need not still be staff: that is often why they are moved.
    let from_id = state
        .store
        .find_user_by_username(from.as_str())
        .await?
        .map(|u| u.id)
        .ok_or_else(|| Refusal::CallerNotInDistrict.error())?;
    let mut tx = state.store.begin().await?;
    let n =
        rows::move_unfinished(&mut tx, id.as_str(), &from_id, &to_id, now.unix_timestamp()).await?;
    record_assignment(&mut tx, who, id, &to_id, n, Some(&from_id), now).await?;
    tx.commit().await?;
    Ok(n)
}

async fn record_assignment(
    tx: &mut crate::store::Tx,
    who: &Principal,
    id: &ExtractId,
    caller_id: &str,
    members: u64,
    from: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let mut details = json!({ "caller": format!("user:{caller_id}"), "members": members });
    if let Some(from) = from {
        details["from_caller"] = json!(format!("user:{from}"));
    }
    let event = Event::new(
        EventKind::CallsAssigned,
        Actor::user(who.user_id()),
        &format!("extract:{id}"),
        Outcome::Success,
        details,
    );
    audit::record(tx, &event, now).await?;
    Ok(())
}
