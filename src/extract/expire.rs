//! Ending extracts: crypto-shredding with a deletion receipt, "I'm done", revocation,
//! attestation, the incident switch, and the sweeper that does what is due.
//!
//! Guarantees (D4): shredding sets the wrapped data key to NULL and deletes every chunk in one
//! transaction with its `extract.shred` receipt; the state change is conditional, so across any
//! number of brokers an extract is shredded exactly once. After the commit SQLite's WAL is
//! checkpointed so the freed pages (overwritten under `secure_delete`) do not linger there. The
//! sweeper runs at start-up and every `extracts.sweep_interval_secs` (≤ 60 s): an extract is
//! gone within a minute of its deadline, measured by the later of the clock and the newest
//! audit entry. While frozen, nothing is created, approved or released,
//! and every live extract is shredded.

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::request::Request;
use super::{
    BUILD_LEASE_SECS, DOWNLOAD_SETTLE_SECS, Error, ExtractId, ExtractState, MAX_BUILD_ATTEMPTS,
    ShredReason, lifecycle, snapshot,
};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::policy::{Permit, Principal};
use crate::store::extracts as rows;

/// Shreds a live extract; false when it was not live (already ended elsewhere).
pub async fn shred(
    state: &Context,
    id: &ExtractId,
    reason: ShredReason,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    // Read before the transaction: a call list's "do not call again" members go on to the
    // purpose's recipient (`calls::do_not_call`) under the policy in force.
    let policy = if super::calls::do_not_call::hands_on(reason) {
        lifecycle::policy_now(state).await.ok()
    } else {
        None
    };
    let mut tx = state.store.begin().await?;
    let handed_on =
        super::calls::do_not_call::hand_on(state, &mut tx, id, reason, policy.as_ref(), now)
            .await?;
    let Some(gone) =
        rows::shred(&mut tx, id.as_str(), reason.as_str(), now.unix_timestamp()).await?
    else {
        tx.rollback().await?;
        return Ok(false);
    };
    let event = Event::new(
        EventKind::ExtractShredded,
        actor.clone(),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({
            "reason": reason.as_str(), "rows": gone.row_count, "chunks_deleted": gone.chunk_count,
            "data_key_id": gone.key_id, "wrapped_key": "destroyed",
        }),
    );
    // A call list's assignments, outcomes and notes go with the data: only counts remain.
    crate::store::calls::close(&mut tx, id.as_str()).await?;
    audit::record(&mut tx, &event, now).await?;
    if reason != ShredReason::Done {
        lifecycle::notify(&mut tx, &gone.requester_id, "extract_shredded", id, now).await?;
    }
    tx.commit().await?;
    lifecycle::after_commit(state).await;
    if let Err(e) = state.store.checkpoint_wal().await {
        tracing::warn!(error = %e, "WAL checkpoint after a shred failed; retried at the next sweep");
    }
    tracing::info!(extract = %id, reason = reason.as_str(), "extract shredded");
    if let Some(list) = handed_on {
        super::handover::offer_later(state.clone(), list);
    }
    Ok(true)
}

/// The requester is done with a live extract: it is shredded now.
pub async fn done(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let row = lifecycle::find_own(state, who, id).await?;
    shred_live(
        state,
        &row,
        id,
        ShredReason::Done,
        &Actor::user(who.user_id()),
        now,
    )
    .await
}

/// An approver for the district stops a live extract: it is shredded now. Anyone else who may
/// see the extract (its requester, an admin) is refused.
pub async fn revoke(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let row = lifecycle::find_visible(state, who, id).await?;
    let district = crate::nouns::DistrictCode::parse(&row.district)?;
    let policy = lifecycle::policy_now(state).await?;
    let permit = policy
        .permits(who, crate::policy::Action::ExtractRevoke, &district)
        .await
        .map_err(|e| Error::Denied {
            code: e.deny_code(),
            reason: format!("only an approver for {district} may revoke an extract"),
        })?;
    revoke_live(state, &permit, &row, id, now).await
}

/// Shreds a live extract on the word of an `extract.revoke` permit that reaches its district.
async fn revoke_live(
    state: &Context,
    permit: &Permit,
    row: &crate::store::extracts::ExtractRow,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    permit
        .check_district(crate::policy::Action::ExtractRevoke, &row.district)
        .map_err(|e| Error::Denied {
            code: e.deny_code(),
            reason: format!(
                "only an approver for {} may revoke an extract",
                row.district
            ),
        })?;
    let actor = Actor::user(permit.user_id());
    shred_live(state, row, id, ShredReason::Revoked, &actor, now).await
}

/// Shreds `row` now on `actor`'s word; 410 when it is no longer live.
async fn shred_live(
    state: &Context,
    row: &crate::store::extracts::ExtractRow,
    id: &ExtractId,
    reason: ShredReason,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if row.state != ExtractState::Live {
        return Err(lifecycle::unavailable(row));
    }
    if shred(state, id, reason, actor, now).await? {
        Ok(())
    } else {
        Err(Error::Gone(ExtractState::Shredded.as_str().into()))
    }
}

/// The requester confirms that every downloaded copy is deleted.
pub async fn attest_deleted(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let row = lifecycle::find_own(state, who, id).await?;
    if row.state == ExtractState::Live {
        return Err(Error::Conflict(
            "still_live",
            "the extract can still be downloaded; say \"I'm done\" first, then confirm".into(),
        ));
    }
    if row.downloads == 0 {
        return Err(Error::Conflict(
            "nothing_downloaded",
            "nothing was downloaded from this extract, so there is nothing to confirm".into(),
        ));
    }
    let mut tx = state.store.begin().await?;
    if !rows::set_attested(&mut tx, id.as_str(), now.unix_timestamp()).await? {
        tx.rollback().await?;
        return Err(Error::Conflict(
            "already_attested",
            "you have already confirmed this".into(),
        ));
    }
    let event = Event::new(
        EventKind::ExtractAttested,
        Actor::user(who.user_id()),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({ "state": row.state, "downloads": row.downloads }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Turns the incident switch on (`frozen`) or off. Needs `extract.freeze` party-wide. Turning
/// it on shreds every live extract at once.
/// The reason for freezing or lifting the freeze: one line of 1–500 characters
/// ([`crate::text`]).
pub const FREEZE_REASON: crate::text::Rule = crate::text::Rule::one_line(1, 500);

/// The reason for freezing or lifting the freeze, trimmed, if [`FREEZE_REASON`] takes it.
pub fn check_freeze_reason(reason: &str) -> Result<&str, Error> {
    match FREEZE_REASON.check(reason) {
        Ok(reason) => Ok(reason),
        Err(crate::text::Refused::Length { min, max }) => Err(Error::BadInput(format!(
            "say why, in {min} to {max} characters"
        ))),
        Err(e) => Err(Error::BadInput(format!("the reason {e}"))),
    }
}

pub async fn set_freeze(
    state: &Context,
    who: &Principal,
    frozen: bool,
    reason: &str,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let policy = lifecycle::policy_now(state).await?;
    let permit = policy
        .permits_party_wide(who, crate::policy::Action::ExtractFreeze)
        .await
        .map_err(|e| Error::Denied {
            code: e.deny_code(),
            reason: "only a party-wide security role may freeze or unfreeze extracts".into(),
        })?;
    freeze_with(state, &permit, frozen, reason, now).await
}

/// Whether `who` may turn the incident switch (a party-wide `extract.freeze`): the pages show
/// its buttons only then. The switch itself asks the policy again.
pub async fn may_freeze(state: &Context, who: &Principal) -> Result<bool, Error> {
    let policy = lifecycle::policy_now(state).await?;
    Ok(policy
        .permits_party_wide(who, crate::policy::Action::ExtractFreeze)
        .await
        .is_ok())
}

/// Turns the incident switch on or off on the word of a party-wide `extract.freeze` permit.
async fn freeze_with(
    state: &Context,
    permit: &Permit,
    frozen: bool,
    reason: &str,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    permit
        .check(
            crate::policy::Action::ExtractFreeze,
            &crate::nouns::Scope::Party,
        )
        .map_err(|e| Error::Denied {
            code: e.deny_code(),
            reason: "only a party-wide security role may freeze or unfreeze extracts".into(),
        })?;
    let reason = check_freeze_reason(reason)?;
    let actor = Actor::user(permit.user_id());
    let mut tx = state.store.begin().await?;
    rows::set_freeze(
        &mut tx,
        frozen,
        reason,
        permit.user_id(),
        now.unix_timestamp(),
    )
    .await?;
    let action = if frozen {
        EventKind::ExtractsFrozen
    } else {
        EventKind::ExtractsUnfrozen
    };
    let event = Event::new(
        action,
        actor.clone(),
        "extracts",
        Outcome::Success,
        json!({ "reason": reason }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    if !frozen {
        return Ok(0);
    }
    shred_all_live(state, &actor, now).await
}

async fn shred_all_live(
    state: &Context,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let mut count = 0;
    for id in state.store.list_live_extract_ids().await? {
        let id = ExtractId::parse(&id)?;
        if shred(state, &id, ShredReason::Frozen, actor, now).await? {
            count += 1;
        }
    }
    Ok(count)
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    pub shredded: usize,
    pub lapsed: usize,
    pub restarted: usize,
    pub failed: usize,
    pub warned: usize,
}

/// Does everything that is due at `now`.
pub async fn sweep(state: &Context, now: OffsetDateTime) -> Result<Sweep, Error> {
    let mut done = Sweep::default();
    let now_s = now.unix_timestamp();
    // Deadlines by the later of the clock and the audit log: a clock set back does not
    // bring a passed deadline back (`audit::clock`).
    let due_by = audit::clock::deadline_time(&state.store, now).await?;
    for (id, reason) in state
        .store
        .list_due_for_shredding(due_by.unix_timestamp(), DOWNLOAD_SETTLE_SECS)
        .await?
    {
        let reason = ShredReason::parse(&reason).unwrap_or(ShredReason::Expired);
        if shred(
            state,
            &ExtractId::parse(&id)?,
            reason,
            &Actor::system(),
            now,
        )
        .await?
        {
            done.shredded += 1;
        }
    }
    if matches!(state.store.find_freeze().await?, Some(f) if f.frozen) {
        done.shredded += shred_all_live(state, &Actor::system(), now).await?;
    }
    for id in state.store.list_lapsed_pending(now_s).await? {
        if lapse(state, &ExtractId::parse(&id)?, now).await? {
            done.lapsed += 1;
        }
    }
    for id in state.store.list_stale_builds(now_s).await? {
        match restart_build(state, &ExtractId::parse(&id)?, now).await? {
            Some(true) => done.restarted += 1,
            Some(false) => done.failed += 1,
            None => {}
        }
    }
    for id in state.store.list_expiring_unwarned(now_s + 3600).await? {
        let id = ExtractId::parse(&id)?;
        let mut tx = state.store.begin().await?;
        if rows::set_expiry_warned(&mut tx, id.as_str()).await? {
            if let Some(row) = rows::find_extract_in(&mut tx, id.as_str()).await? {
                lifecycle::notify(&mut tx, &row.requester_id, "extract_expiring", &id, now).await?;
            }
            done.warned += 1;
        }
        tx.commit().await?;
    }
    lifecycle::after_commit(state).await;
    Ok(done)
}

async fn lapse(state: &Context, id: &ExtractId, now: OffsetDateTime) -> Result<bool, Error> {
    let mut tx = state.store.begin().await?;
    if !rows::end_pending(
        &mut tx,
        id.as_str(),
        ExtractState::Lapsed,
        "not_decided_in_time",
        now.unix_timestamp(),
    )
    .await?
    {
        tx.rollback().await?;
        return Ok(false);
    }
    let event = Event::new(
        EventKind::ExtractLapsed,
        Actor::system(),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({}),
    );
    audit::record(&mut tx, &event, now).await?;
    if let Some(row) = rows::find_extract_in(&mut tx, id.as_str()).await? {
        lifecycle::notify(&mut tx, &row.requester_id, "extract_lapsed", id, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Takes over a build whose broker stopped (crash, kill): starts again from nothing with a new
/// data key, or fails it after [`MAX_BUILD_ATTEMPTS`]. `None` when another sweeper took it.
async fn restart_build(
    state: &Context,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<Option<bool>, Error> {
    let now_s = now.unix_timestamp();
    let Some(attempt) = state
        .store
        .claim_stale_build(id.as_str(), now_s, now_s + BUILD_LEASE_SECS)
        .await?
    else {
        return Ok(None);
    };
    let gave_up = Error::Conflict("too_many_attempts", "the build kept failing".into());
    if attempt > MAX_BUILD_ATTEMPTS {
        snapshot::record_failure(state, id, attempt, &gave_up).await?;
        return Ok(Some(false));
    }
    let mut tx = state.store.begin().await?;
    rows::clear_partial_build(&mut tx, id.as_str()).await?;
    tx.commit().await?;
    let Some(row) = state.store.find_extract(id.as_str()).await? else {
        return Ok(None);
    };
    let request = Request::from_json(&row.request)?;
    let decisions = state.store.list_decisions(id.as_str()).await?;
    let policy = lifecycle::policy_now(state).await?;
    match lifecycle::regrant(state, &policy, &row, &request, &decisions, now).await? {
        Ok(grant) => {
            tracing::info!(extract = %id, attempt, "restarting an abandoned build");
            snapshot::spawn(state.clone(), id.clone(), attempt, grant, request);
            Ok(Some(true))
        }
        Err((code, _)) => {
            let denied = Error::Denied {
                code,
                reason: String::new(),
            };
            snapshot::record_failure(state, id, attempt, &denied).await?;
            Ok(Some(false))
        }
    }
}

/// Runs [`sweep`] at start-up and then every `interval`, forever; errors are logged and retried.
pub async fn run_sweeper(state: Context, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        match sweep(&state, OffsetDateTime::now_utc()).await {
            Ok(s) if s == Sweep::default() => {}
            Ok(s) => tracing::info!(?s, "extract sweep"),
            Err(e) => {
                tracing::error!(error = %e, "extract sweep failed; retrying at the next tick")
            }
        }
    }
}
