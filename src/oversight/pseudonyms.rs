//! Pseudonyms on request. The audit log and the ledger name members by keyed pseudonym only;
//! an auditor turns a member number into its pseudonym to search them (*resolve*), or finds
//! which member a pseudonym stands for in a DPO case (*reveal*).
//!
//! Guarantees: both need a `pseudonym.resolve` permit from the policy (party-wide, or reaching
//! the district searched); reveal also needs a stated reason and searches only one district's
//! member numbers, as the register holds them now, through the one register read that takes
//! that permit (`Register::member_ids_for_reveal`: protected identities included, the DPO may
//! need them, and only numbers are read); each is an audit event naming the pseudonym and
//! never the member number.

use futures::StreamExt as _;
use serde_json::json;
use time::OffsetDateTime;

use super::disclosures::check_member_id;
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::MemberRef;
use crate::extract::Error;
use crate::extract::review::permit;
use crate::nouns::DistrictCode;
use crate::policy::Principal;

/// The reason for revealing a member: one line of 10–500 characters ([`crate::text`]).
pub const REASON: crate::text::Rule = crate::text::Rule::one_line(10, 500);

const REFUSAL: &str = "only an auditor with the right to resolve pseudonyms may do this";

/// The pseudonym the log and the ledger use for `member_id`. Audited as `pseudonym.resolve`.
pub async fn resolve(
    state: &Context,
    who: &Principal,
    member_id: &str,
    now: OffsetDateTime,
) -> Result<MemberRef, Error> {
    let member_id = check_member_id(member_id)?;
    let permit = permit(state, who, crate::policy::Action::PseudonymResolve, REFUSAL).await?;
    let member = state.pseudonyms.member_ref(member_id);
    let event = Event::new(
        EventKind::PseudonymResolved,
        Actor::user(permit.user_id()),
        &format!("member:{member}"),
        Outcome::Success,
        json!({}),
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(member)
}

/// A pseudonym as typed: 32 hexadecimal characters.
pub fn parse_member_ref(text: &str) -> Result<[u8; 16], Error> {
    let bad = || Error::BadInput("a pseudonym is 32 hexadecimal characters".to_owned());
    let bytes = hex::decode(text.trim().to_ascii_lowercase()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// The reason for revealing a member, trimmed, if [`REASON`] takes it.
pub fn check_reason(reason: &str) -> Result<&str, Error> {
    REASON.check(reason).map_err(|e| {
        Error::BadInput(format!(
            "give the reason for revealing a member in {} to {} characters, on one line: it {e}",
            REASON.min, REASON.max
        ))
    })
}

/// Which member of `district` the pseudonym stands for, if any is there now. Audited as
/// `pseudonym.reveal` with the reason, whether it was found and how many members were searched.
pub async fn reveal(
    state: &Context,
    who: &Principal,
    pseudonym: &str,
    district: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, Error> {
    let wanted = parse_member_ref(pseudonym)?;
    // A district the caller typed is their input: a bad one is a 422, not a register fault.
    let district = DistrictCode::parse(district).map_err(|e| Error::BadInput(e.to_string()))?;
    let reason = check_reason(reason)?;
    let permit = permit(state, who, crate::policy::Action::PseudonymResolve, REFUSAL).await?;
    if !permit.reach().covers(district.as_str()) {
        return Err(Error::Denied {
            code: crate::policy::DenyCode::NotPermitted,
            reason: format!("you may not reveal members of {}", district.as_str()),
        });
    }
    let mut rows = state
        .register
        .member_ids_for_reveal(&permit, &district, now.date())?;
    let mut searched: u64 = 0;
    let mut found = None;
    while let Some(row) = rows.next().await {
        let row = row?;
        searched += 1;
        let Some(Some(id)) = row.first() else {
            continue;
        };
        if state.pseudonyms.member_ref(id).as_bytes() == &wanted {
            found = Some(id.clone());
            break;
        }
    }
    let event = Event::new(
        EventKind::PseudonymRevealed,
        Actor::user(permit.user_id()),
        &format!("member:{}", hex::encode(wanted)),
        Outcome::Success,
        json!({
            "district": district.as_str(), "reason": reason,
            "found": found.is_some(), "searched": searched,
        }),
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(found)
}
