//! What an auditor learns about extracts and members: one extract's whole story, and every
//! released extract that held a member (the register of disclosures, GDPR Art. 15 and 30).
//!
//! Guarantees: each answer is within the asker's audit permit (an extract outside it is "not
//! found", C2) and is an audit event (`audit.extract_story`, `audit.member_disclosures`,
//! `audit.member_report`) recorded before it is returned. Members are named by pseudonym in
//! the log, never by number.

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::MemberRef;
use crate::extract::review::{Described, audit_permit, describe, username};
use crate::extract::{Error, ExtractId};
use crate::policy::Principal;

/// What an auditor learns about one extract: who asked, who approved, what it held (fields and
/// how many members), every download with time and address, the deletion receipt and the
/// attestation — from the audit log and the ledger, so it is complete after shredding.
#[derive(Debug, Clone)]
pub struct Story {
    pub described: Described,
    pub members: i64,
    /// How many of them were shown to someone in the browser (recorded page by page).
    pub members_shown: i64,
    pub events: Vec<crate::store::audit::AuditRow>,
}

/// The extract's story, for an auditor whose audit scope covers its district; anyone else is
/// told there is no such extract (C2). Audited as `audit.extract_story`.
pub async fn story(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
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
    let members_shown = state.store.count_shown_positions(id.as_str()).await?;
    let event = Event::new(
        EventKind::AuditExtractStory,
        Actor::user(who.user_id()),
        &target,
        Outcome::Success,
        json!({ "events": events.len(), "members": members }),
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(Story {
        described: describe(state, row).await?,
        members,
        members_shown,
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

/// One released extract that held a member, and how the member left it: in a downloaded file
/// (`described.row.downloads`), shown on someone's screen (`shown`), or neither (held in the
/// extract but never shown nor downloaded).
#[derive(Debug, Clone)]
pub struct Disclosure {
    pub described: Described,
    /// Everyone who was shown the member in the browser, first shown first.
    pub shown: Vec<Shown>,
}

/// A person who was shown a member of an extract on a screen.
#[derive(Debug, Clone)]
pub struct Shown {
    /// Their username (the id itself if the account is gone).
    pub to: String,
    /// When first (Unix seconds).
    pub first_at: i64,
    /// On how many pages.
    pub times: i64,
}

impl Disclosure {
    /// Whether the member reached anyone: in a downloaded file or on a screen.
    pub fn reached_anyone(&self) -> bool {
        self.described.row.downloads > 0 || !self.shown.is_empty()
    }
}

/// Every released extract that held the member, in the asker's audit scope: the member's
/// pseudonym and the extracts, oldest first, each with how the member left it. Audited as
/// `audit.member_disclosures`.
pub async fn who_received(
    state: &Context,
    who: &Principal,
    member_id: &str,
    now: OffsetDateTime,
) -> Result<(MemberRef, Vec<Disclosure>), Error> {
    disclosures_audited(
        state,
        who,
        member_id,
        EventKind::AuditMemberLookup,
        json!({}),
        now,
    )
    .await
}

/// [`who_received`] for the printable access-request report (GDPR Art. 15), audited as
/// `audit.member_report` with whether staff names are shown — the DPO's choice.
pub async fn member_report(
    state: &Context,
    who: &Principal,
    member_id: &str,
    with_names: bool,
    now: OffsetDateTime,
) -> Result<(MemberRef, Vec<Disclosure>), Error> {
    let details = json!({ "staff_names": with_names });
    disclosures_audited(
        state,
        who,
        member_id,
        EventKind::AuditMemberReport,
        details,
        now,
    )
    .await
}

async fn disclosures_audited(
    state: &Context,
    who: &Principal,
    member_id: &str,
    action: EventKind,
    mut details: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(MemberRef, Vec<Disclosure>), Error> {
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
        Actor::user(who.user_id()),
        &format!("member:{member}"),
        Outcome::Success,
        details,
    );
    audit::record_now(&state.store, &event, now).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut shown = Vec::new();
        for s in state
            .store
            .list_shown_member(&row.id, member.as_bytes())
            .await?
        {
            shown.push(Shown {
                to: username(&state.store, &s.shown_to).await?,
                first_at: s.first_shown_at,
                times: s.times,
            });
        }
        out.push(Disclosure {
            described: describe(state, row).await?,
            shown,
        });
    }
    Ok((member, out))
}
