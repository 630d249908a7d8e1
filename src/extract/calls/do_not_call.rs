//! The members a call list marked "do not call again", handed on when the list ends.
//!
//! When a call list ends at its deadline or because its requester closes it, and its purpose
//! names a recipient in `do_not_call_to` (typically the register's administrators, registered
//! as a `[[processor]]`), the members callers marked "do not call again" become their own small
//! extract: the list's fields for just those members, sealed under a new data key, each in the
//! ledger as disclosed to that recipient under the same pseudonym. It is then handed over like
//! every hand-over (`extract::handover`): a link by mail, a one-time code, one download, a
//! deletion confirmation by a deadline.
//!
//! Guarantees:
//! - It is made in the transaction that shreds the call list, from the list's own sealed rows
//!   (no new read of the register): both happen or neither. No member number, name or note is
//!   stored unsealed or logged; the event holds the count and the recipient.
//! - The second person is the call list's approver: the purpose named the recipient when the
//!   list was approved, and nothing but the outcome "do not call again" chooses the members.
//! - A recipient the purpose no longer names, an ended agreement, a policy that cannot be read
//!   or a damaged list hands on nothing: the refusal is audited (`calls.do_not_call`, with a
//!   stable code) and the call list is shredded all the same, so its deadline holds.
//!
//! Must never: hand on a member with another outcome, or anything from a list revoked or frozen
//! (a misuse or a breach being scoped).

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::DataKey;
use crate::extract::fingerprint::TagColumns;
use crate::extract::request::Request;
use crate::extract::{
    CHUNK_ROWS, Error, ExtractId, ExtractState, ShredReason, container, deliver, handover,
};
use crate::nouns::CallOutcome;
use crate::policy::{Policy, ProcessorId};
use crate::store::Tx;
use crate::store::calls as assignments;
use crate::store::extracts::{self as rows, ExtractRow, FinishedBuild, NewExtract};

/// Whether a list that ends for `reason` hands on its "do not call again" members: at its
/// deadline, or when its requester closes it.
pub fn hands_on(reason: ShredReason) -> bool {
    matches!(reason, ShredReason::Expired | ShredReason::Done)
}

/// In `tx`, the transaction that shreds extract `id` for `reason`, before it is shredded: when
/// `id` is a call list whose purpose (under `policy`, `None` when it could not be read) names a
/// recipient, and callers marked members "do not call again", makes their extract live for
/// that recipient and returns its id, to be offered once `tx` is committed. `None` otherwise;
/// a refusal is audited in `tx`.
pub async fn hand_on(
    state: &Context,
    tx: &mut Tx,
    id: &ExtractId,
    reason: ShredReason,
    policy: Option<&Policy>,
    now: OffsetDateTime,
) -> Result<Option<ExtractId>, Error> {
    if !hands_on(reason) {
        return Ok(None);
    }
    let Some(row) = rows::find_extract_in(tx, id.as_str()).await? else {
        return Ok(None);
    };
    if row.state != ExtractState::Live {
        return Ok(None);
    }
    let request = Request::from_json(&row.request)?;
    if !request.call_list {
        return Ok(None);
    }
    let marked = CallOutcome::DoNotCall.as_str();
    let positions = assignments::list_positions_with_outcome_in(tx, id.as_str(), marked).await?;
    if positions.is_empty() {
        return Ok(None);
    }
    // While frozen nothing new is made, and a list being handed on would be one.
    match crate::extract::lifecycle::refuse_if_frozen_in(tx).await {
        Ok(()) => {}
        Err(Error::Frozen(_)) => {
            refuse(tx, id, None, "frozen", positions.len(), now).await?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    let Some(policy) = policy else {
        refuse(tx, id, None, "policy_error", positions.len(), now).await?;
        return Ok(None);
    };
    let Some(purpose) = policy.purpose(&request.purpose) else {
        refuse(tx, id, None, "unknown_purpose", positions.len(), now).await?;
        return Ok(None);
    };
    let Some(to) = purpose.do_not_call_to.clone() else {
        return Ok(None);
    };
    // A hand-over link lives LINK_HOURS; the list no longer than its purpose allows.
    let lifetime = u32::try_from(handover::LINK_HOURS * 60)
        .unwrap_or(u32::MAX)
        .min(purpose.max_lifetime_minutes);
    let list = Request {
        call_list: false,
        processor: Some(to.clone()),
        from_call_list: Some(id.clone()),
        lifetime_minutes: lifetime,
        ..request.clone()
    };
    let recipient = match handover::check_request(policy, purpose, &list, now) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(None),
        Err((code, _)) => {
            refuse(tx, id, Some(&to), code.as_str(), positions.len(), now).await?;
            return Ok(None);
        }
    };
    let sealed = match seal(state, tx, &row, &request, &positions).await {
        Ok(sealed) => sealed,
        Err(Error::Damaged(_)) => {
            refuse(tx, id, Some(&to), "damaged", positions.len(), now).await?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let child = sealed.id.clone();
    store(tx, &row, &list, &sealed, now).await?;
    let event = Event::new(
        EventKind::CallsDoNotCall,
        Actor::system(),
        &format!("extract:{child}"),
        Outcome::Success,
        json!({
            "from": format!("extract:{id}"), "rows": sealed.rows.len(),
            "processor": to.as_str(), "processor_name": recipient.name,
            "agreement_ref": recipient.agreement_ref, "purpose": list.purpose.as_str(),
        }),
    );
    audit::record(tx, &event, now).await?;
    Ok(Some(child))
}

/// The new extract's sealed chunks and, per row, the list's position it came from and its tag.
struct Sealed {
    id: ExtractId,
    /// The new data key, wrapped for the new extract, and its id.
    wrapped: Vec<u8>,
    key_id: String,
    chunks: Vec<(i64, Vec<u8>)>,
    rows: Vec<(i64, crate::crypto::RowRef)>,
}

/// Opens the list's rows at `positions` (each chunk authenticated first) and seals them, in the
/// list's order, as a new extract's chunks. Reads only: nothing is written yet.
async fn seal(
    state: &Context,
    tx: &mut Tx,
    row: &ExtractRow,
    request: &Request,
    positions: &[i64],
) -> Result<Sealed, Error> {
    let from = ExtractId::parse(&row.id)?;
    let wrapped = row
        .wrapped_key
        .as_deref()
        .ok_or(Error::Damaged("the list has no data key"))?;
    let key = state.keyring.unwrap(wrapped, &from.key_owner())?;
    let found = deliver::rows_at_in(tx, row, &key, request.fields.len(), positions).await?;
    let id = ExtractId::generate();
    let new_key = DataKey::generate();
    let tags = TagColumns::for_fields(&request.fields);
    let mut chunks = Vec::new();
    let mut tagged = Vec::with_capacity(found.len());
    let windows = found.len().div_ceil(CHUNK_ROWS);
    for (seq, window) in found.chunks(CHUNK_ROWS).enumerate() {
        let mut plain = container::Lines::default();
        for (position, cells) in window {
            plain.push(cells);
            tagged.push((*position, tags.row_ref(&state.pseudonyms, cells)));
        }
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        let last = seq + 1 == i64::try_from(windows).unwrap_or(i64::MAX);
        let plain = plain.finish();
        chunks.push((seq, new_key.seal(&plain, &id.chunk_aad(seq, last))?));
    }
    let wrapped = state.keyring.wrap(&new_key, &id.key_owner())?;
    Ok(Sealed {
        key_id: new_key.id().to_string(),
        id,
        wrapped,
        chunks,
        rows: tagged,
    })
}

/// Stores the new extract live: its row (requested by the list's requester, for `list`), its
/// chunks, its ledger (each member under the list's pseudonym) and its wrapped key.
async fn store(
    tx: &mut Tx,
    from: &ExtractRow,
    list: &Request,
    sealed: &Sealed,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let id = sealed.id.as_str();
    let at = now.unix_timestamp();
    let count = i64::try_from(sealed.rows.len()).unwrap_or(i64::MAX);
    let json = list.to_json().to_string();
    let hash = list.hash(&from.requester_id);
    rows::insert_extract(
        tx,
        &NewExtract {
            id,
            requester_id: &from.requester_id,
            purpose: list.purpose.as_str(),
            district: list.district.as_str(),
            request: &json,
            request_hash: &hash,
            policy_hash: &from.policy_hash,
            approvers_needed: from.approvers_needed,
            estimated_rows: count,
            lifetime_minutes: i64::from(list.lifetime_minutes),
            max_downloads: 1,
            created_at: at,
            pending_until: at,
        },
    )
    .await?;
    rows::insert_chunks(tx, id, &sealed.chunks).await?;
    for (to_position, (from_position, tag)) in (0_i64..).zip(&sealed.rows) {
        let copied = rows::copy_disclosure(
            tx,
            &from.id,
            *from_position,
            id,
            to_position,
            tag.as_bytes(),
        )
        .await?;
        if !copied {
            // The ledger holds every position of a live list; without one the store is damaged
            // and nothing is written (the shredding transaction fails and is tried again).
            return Err(Error::Conflict(
                "ledger_incomplete",
                "a member of the call list is missing from the disclosure ledger".into(),
            ));
        }
    }
    rows::index_disclosed_members(tx, id).await?;
    let live = FinishedBuild {
        row_count: count,
        chunk_count: i64::try_from(sealed.chunks.len()).unwrap_or(i64::MAX),
        key_id: &sealed.key_id,
        wrapped_key: &sealed.wrapped,
        live_at: at,
        expires_at: at + i64::from(list.lifetime_minutes) * 60,
    };
    rows::make_live(tx, id, &live).await?;
    Ok(())
}

/// Records that nothing was handed on (`code`), with how many members it concerned.
async fn refuse(
    tx: &mut Tx,
    id: &ExtractId,
    to: Option<&ProcessorId>,
    code: &str,
    members: usize,
    now: OffsetDateTime,
) -> Result<(), Error> {
    tracing::warn!(extract = %id, code, "the list of members not to call again was not handed on");
    let event = Event::new(
        EventKind::CallsDoNotCall,
        Actor::system(),
        &format!("extract:{id}"),
        Outcome::Denied,
        json!({ "code": code, "rows": members, "processor": to.map(ProcessorId::as_str) }),
    );
    audit::record(tx, &event, now).await?;
    Ok(())
}
