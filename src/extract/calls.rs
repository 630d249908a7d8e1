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
use crate::nouns::CallOutcome;
use crate::policy::{Action, Format, Principal};
use crate::register::Row;
use crate::store::calls::TallyRow;
use crate::store::extracts::ExtractRow;

mod assign;
pub mod do_not_call;
mod work;

pub use assign::{assign, reassign, share};
pub use work::{my_lists, next, record};

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
