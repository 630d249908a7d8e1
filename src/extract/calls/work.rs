//! A caller at work: their lists, the next few members (each recorded in the ledger as shown to
//! them), and an outcome with an optional note sealed under the extract's data key.

use serde_json::json;
use time::OffsetDateTime;

use super::{BATCH, CallPage, MyList, NOTE, Refusal, ToCall, open_as_caller, outcomes_of, refuse};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::deliver;
use crate::extract::{Error, ExtractId, ExtractState};
use crate::nouns::CallOutcome;
use crate::policy::Principal;
use crate::store::calls as rows;
use crate::store::shown;

/// The lists `who` has members on, with how many are left to call.
pub async fn my_lists(state: &Context, who: &Principal) -> Result<Vec<MyList>, Error> {
    let mut out = Vec::new();
    let lists = state
        .store
        .list_call_lists_of(who.user_id(), CallOutcome::CallBack.as_str())
        .await?;
    for l in lists {
        if let Some(row) = state.store.find_extract(&l.extract_id).await?
            && row.state == ExtractState::Live
        {
            out.push(MyList {
                row,
                assigned: l.assigned,
                left: l.left,
            });
        }
    }
    Ok(out)
}

/// The next few members for `who` to call on list `id`, with only the approved fields. Each is
/// recorded in the ledger as shown to `who`, with the `calls.show` event.
pub async fn next(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    client_ip: &str,
    now: OffsetDateTime,
) -> Result<CallPage, Error> {
    let opened = open_as_caller(state, who, id, now).await?;
    let outcomes = outcomes_of(state, &opened).await?;
    let call_back = CallOutcome::CallBack.as_str();
    let batch = state
        .store
        .list_to_call(id.as_str(), who.user_id(), call_back, BATCH as i64)
        .await?;
    let mut positions: Vec<i64> = batch.iter().map(|a| a.position).collect();
    positions.sort_unstable();
    let values = deliver::rows_at(state, who, &opened, &positions, now).await?;
    let mut members = Vec::with_capacity(batch.len());
    for a in batch {
        let Some((_, row)) = values.iter().find(|(p, _)| *p == a.position) else {
            continue;
        };
        let note = match &a.note_sealed {
            Some(sealed) => {
                let plain = opened.key.open(sealed, &note_aad(id, a.position))?;
                Some(String::from_utf8_lossy(&plain).into_owned())
            }
            None => None,
        };
        members.push(ToCall {
            position: a.position,
            values: row.clone(),
            outcome: a
                .outcome
                .as_deref()
                .and_then(|o| CallOutcome::parse(o).ok()),
            note,
        });
    }
    let lists = state
        .store
        .list_call_lists_of(who.user_id(), call_back)
        .await?;
    let mine = lists.iter().find(|l| l.extract_id == opened.row.id);
    let (assigned, left) = mine.map_or((0, 0), |l| (l.assigned, l.left));
    let event = Event::new(
        EventKind::CallsShown,
        Actor::user(who.user_id()),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({ "members": members.len(), "ip": client_ip }),
    );
    let mut tx = state.store.begin().await?;
    let at = now.unix_timestamp();
    for m in &members {
        shown::insert_shown(
            &mut tx,
            id.as_str(),
            m.position,
            m.position,
            who.user_id(),
            at,
        )
        .await?;
    }
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(CallPage {
        columns: opened
            .request
            .fields
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect(),
        row: opened.row,
        outcomes,
        members,
        left,
        assigned,
    })
}

/// What a sealed note is bound to: the list and the member's position in it.
fn note_aad(id: &ExtractId, position: i64) -> Vec<u8> {
    format!("registervakt.call-note.v1\0{id}\0{position}").into_bytes()
}

/// Records `outcome` and an optional note for the member at `position`, assigned to `who`.
/// Audited as `calls.outcome` (the outcome and whether there is a note, never the note).
pub async fn record(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    position: i64,
    outcome: &str,
    note: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let opened = open_as_caller(state, who, id, now).await?;
    let outcomes = outcomes_of(state, &opened).await?;
    let kind = EventKind::CallOutcomeRecorded;
    let Some(outcome) = CallOutcome::parse(outcome)
        .ok()
        .filter(|o| outcomes.contains(o))
    else {
        return Err(refuse(state, kind, who, id, Refusal::OutcomeNotAllowed, now).await);
    };
    let Ok(note) = NOTE.check(note) else {
        return Err(refuse(state, kind, who, id, Refusal::NoteRefused, now).await);
    };
    let assigned = state
        .store
        .find_assigned(id.as_str(), who.user_id(), position)
        .await?;
    if assigned.is_none() {
        return Err(refuse(state, kind, who, id, Refusal::MemberNotInList, now).await);
    }
    let sealed = if note.is_empty() {
        None
    } else {
        Some(opened.key.seal(note.as_bytes(), &note_aad(id, position))?)
    };
    let event = Event::new(
        kind,
        Actor::user(who.user_id()),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({ "outcome": outcome.as_str(), "note": sealed.is_some() }),
    );
    let mut tx = state.store.begin().await?;
    let at = now.unix_timestamp();
    let done = rows::record_outcome(
        &mut tx,
        id.as_str(),
        position,
        who.user_id(),
        outcome.as_str(),
        sealed.as_deref(),
        at,
    )
    .await?;
    if !done {
        tx.rollback().await?;
        return Err(refuse(state, kind, who, id, Refusal::MemberNotInList, now).await);
    }
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}
