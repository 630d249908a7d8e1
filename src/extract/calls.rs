//! Call lists: an extract worked in Registervakt instead of a file. The requester assigns its
//! members to callers (staff of the district); each caller sees only the members assigned to
//! them, a few at a time, with only the approved fields, and records an outcome per member
//! from the purpose's list, with an optional short note.
//!
//! Guarantees:
//! - Every path to member data goes through `deliver::unlock` (live, before the deadline, not
//!   frozen, the audit sinks and clock sound, the person's roles still allowing requests in the
//!   district now, the purpose allowing a call list), so after shredding every one answers 410.
//! - A caller is shown only members assigned to them; each member shown is in the ledger as
//!   shown to that caller (`shown_members`), in the transaction of the `calls.show` event.
//! - Assigning to someone who may not request in the district, a member outside the list, an
//!   outcome not in the purpose's list or a refused note is refused with a sentence and audited;
//!   nothing is shown or changed.
//! - Notes are sealed under the extract's data key and deleted with the list: when it is
//!   shredded only counts per caller and outcome remain (`store::calls::close`).
//!
//! Must never: show a member to anyone but the caller it is assigned to, or keep a note after
//! the list has ended.

use serde_json::json;
use time::OffsetDateTime;

use super::deliver::{self, Opened};
use super::{Error, ExtractId, ExtractState, lifecycle};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::nouns::{CallOutcome, Username};
use crate::policy::{Action, Format, Principal};
use crate::register::Row;
use crate::store::calls::{self as rows, TallyRow};
use crate::store::extracts::ExtractRow;
use crate::store::shown;

/// How many members a caller sees at a time.
pub const BATCH: usize = 5;

/// A caller's note on a member: optional, one line of at most 200 characters.
pub const NOTE: crate::text::Rule = crate::text::Rule::one_line(0, 200);

/// Why a call-list step is refused: a stable code and a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The person to assign cannot request member lists in the extract's district.
    CallerNotInDistrict,
    /// A member (position) outside the list, or not assigned to this caller.
    MemberNotInList,
    /// An outcome the purpose does not list.
    OutcomeNotAllowed,
    /// A note that is too long or holds control characters.
    NoteRefused,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::CallerNotInDistrict => "caller_not_in_district",
            Refusal::MemberNotInList => "member_not_in_list",
            Refusal::OutcomeNotAllowed => "outcome_not_allowed",
            Refusal::NoteRefused => "note_refused",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Refusal::CallerNotInDistrict => {
                "that person cannot call for the list: they may not request member lists in its district"
            }
            Refusal::MemberNotInList => "that member is not on the list, or not assigned to you",
            Refusal::OutcomeNotAllowed => "the purpose does not allow that outcome",
            Refusal::NoteRefused => {
                "the note cannot be saved: at most 200 characters on one line, without control characters"
            }
        }
    }

    fn error(self) -> Error {
        Error::CallList(self.code(), self.sentence().to_owned())
    }
}

/// A member as a caller sees it: the ledger position (the handle the outcome form sends back),
/// the approved fields' values, and the caller's earlier outcome and note (to call back).
#[derive(Debug, Clone)]
pub struct ToCall {
    pub position: i64,
    pub values: Row,
    pub outcome: Option<CallOutcome>,
    pub note: Option<String>,
}

/// What a caller sees of a list: the members to call now and how many are left.
#[derive(Debug, Clone)]
pub struct CallPage {
    pub row: ExtractRow,
    pub columns: Vec<String>,
    pub outcomes: Vec<CallOutcome>,
    pub members: Vec<ToCall>,
    pub left: i64,
    pub assigned: i64,
}

/// A list a caller has members on.
#[derive(Debug, Clone)]
pub struct MyList {
    pub row: ExtractRow,
    pub assigned: i64,
    pub left: i64,
}

/// The requester's view of a list: counts per caller and outcome, no member data.
#[derive(Debug, Clone)]
pub struct Progress {
    pub row: ExtractRow,
    /// The purpose's outcomes, in order.
    pub outcomes: Vec<CallOutcome>,
    /// Per caller (display name, user id): members per outcome (`None`: not called yet).
    pub callers: Vec<CallerProgress>,
    /// Members not assigned to anyone (0 once the list has ended).
    pub unassigned: i64,
    /// Who may be given members: staff who may request in the district, by name.
    pub candidates: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct CallerProgress {
    pub caller_id: String,
    pub username: String,
    pub name: String,
    pub counts: Vec<(Option<CallOutcome>, i64)>,
}

impl CallerProgress {
    pub fn assigned(&self) -> i64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    pub fn left(&self) -> i64 {
        self.counts
            .iter()
            .filter(|(o, _)| o.is_none_or(CallOutcome::calls_again))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The requester's call list, checked as every data path checks it.
async fn open_own(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<Opened, Error> {
    let row = lifecycle::find_own(state, who, id).await?;
    deliver::unlock(state, who, row, Format::CallList, now).await
}

/// A list with members assigned to `who`; anyone else is told it does not exist (C2).
async fn open_as_caller(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<Opened, Error> {
    let row = state
        .store
        .find_extract(id.as_str())
        .await?
        .ok_or(Error::NotFound)?;
    let assigned = state
        .store
        .list_call_lists_of(who.user_id(), CallOutcome::CallBack.as_str())
        .await?
        .iter()
        .any(|l| l.extract_id == row.id);
    // After shredding the assignments are gone: a caller who had a list is told it has ended
    // only if the ledger shows them as shown members of it; anyone else, "no such extract".
    if !assigned {
        let was_caller = row.state == ExtractState::Shredded
            && state.store.was_shown_to(&row.id, who.user_id()).await?;
        return Err(if was_caller {
            lifecycle::unavailable(&row)
        } else {
            Error::NotFound
        });
    }
    deliver::unlock(state, who, row, Format::CallList, now).await
}

/// The purpose's outcomes for an opened list.
async fn outcomes_of(state: &Context, opened: &Opened) -> Result<Vec<CallOutcome>, Error> {
    let policy = lifecycle::policy_now(state).await?;
    Ok(policy
        .purpose(&opened.request.purpose)
        .map(|p| p.call_outcomes.clone())
        .unwrap_or_default())
}

/// Audits a refused step and returns its error.
async fn refuse(
    state: &Context,
    kind: EventKind,
    who: &Principal,
    id: &ExtractId,
    refusal: Refusal,
    now: OffsetDateTime,
) -> Error {
    let event = Event::new(
        kind,
        Actor::user(who.user_id()),
        &format!("extract:{id}"),
        Outcome::Denied,
        json!({ "code": refusal.code() }),
    );
    if let Err(e) = audit::record_now(&state.store, &event, now).await {
        return e.into();
    }
    refusal.error()
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
        return Err(refuse(
            state,
            EventKind::CallsAssigned,
            who,
            id,
            Refusal::MemberNotInList,
            now,
        )
        .await);
    }
    let Some(caller_id) = caller_in_district(state, caller, &opened.request.district).await? else {
        return Err(refuse(
            state,
            EventKind::CallsAssigned,
            who,
            id,
            Refusal::CallerNotInDistrict,
            now,
        )
        .await);
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
        return Err(refuse(
            state,
            EventKind::CallsAssigned,
            who,
            id,
            Refusal::CallerNotInDistrict,
            now,
        )
        .await);
    }
    let mut ids = Vec::with_capacity(callers.len());
    for caller in callers {
        match caller_in_district(state, caller, &opened.request.district).await? {
            Some(caller_id) if !ids.contains(&caller_id) => ids.push(caller_id),
            Some(_) => {}
            None => {
                return Err(refuse(
                    state,
                    EventKind::CallsAssigned,
                    who,
                    id,
                    Refusal::CallerNotInDistrict,
                    now,
                )
                .await);
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
        return Err(refuse(
            state,
            EventKind::CallsAssigned,
            who,
            id,
            Refusal::CallerNotInDistrict,
            now,
        )
        .await);
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

/// The requester's progress: counts per caller and outcome, while live and after the end.
pub async fn progress(state: &Context, who: &Principal, id: &ExtractId) -> Result<Progress, Error> {
    let row = lifecycle::find_own(state, who, id).await?;
    let request = super::request::Request::from_json(&row.request)?;
    if !request.call_list {
        return Err(Error::CallList(
            "not_a_call_list",
            "the extract is not a call list".into(),
        ));
    }
    let policy = lifecycle::policy_now(state).await?;
    let outcomes = policy
        .purpose(&request.purpose)
        .map(|p| p.call_outcomes.clone())
        .unwrap_or_else(|| CallOutcome::ALL.to_vec());
    let tallies = state.store.list_call_tallies(id.as_str()).await?;
    let mut callers: Vec<CallerProgress> = Vec::new();
    for TallyRow {
        caller_id,
        outcome,
        members,
    } in tallies
    {
        let outcome = outcome.as_deref().and_then(|o| CallOutcome::parse(o).ok());
        match callers.iter_mut().find(|c| c.caller_id == caller_id) {
            Some(c) => c.counts.push((outcome, members)),
            None => {
                let (username, name) = names(state, &caller_id).await?;
                callers.push(CallerProgress {
                    caller_id,
                    username,
                    name,
                    counts: vec![(outcome, members)],
                });
            }
        }
    }
    callers.sort_by(|a, b| a.name.cmp(&b.name));
    let assigned: i64 = callers.iter().map(CallerProgress::assigned).sum();
    let live = row.state == ExtractState::Live;
    let unassigned = if live {
        row.row_count.unwrap_or(0) - assigned
    } else {
        0
    };
    let mut candidates = Vec::new();
    if live {
        for (user_id, name) in state
            .store
            .list_role_holder_names("staff", &row.district)
            .await?
        {
            let principal = lifecycle::principal_of(state, &user_id).await?;
            let may = policy
                .permits(&principal, Action::ExtractRequest, &request.district)
                .await
                .is_ok();
            if may {
                let username = state
                    .store
                    .find_user_by_id(&user_id)
                    .await?
                    .map(|u| u.username)
                    .unwrap_or_default();
                candidates.push((username, name));
            }
        }
    }
    Ok(Progress {
        row,
        outcomes,
        callers,
        unassigned,
        candidates,
    })
}

/// A user's username and display name (the id for both if the account is gone).
async fn names(state: &Context, user_id: &str) -> Result<(String, String), Error> {
    Ok(state.store.find_user_by_id(user_id).await?.map_or_else(
        || (user_id.to_owned(), user_id.to_owned()),
        |u| (u.username, u.display_name),
    ))
}

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
