//! Follow-up flags for the district's approvers and the auditors: whole-district pulls, pulls
//! outside office hours, many pulls by one person, repeated denials and overdue deletion
//! confirmations — each acknowledged once, with a comment.
//!
//! Guarantees: flags are computed from the store (extracts, verdicts, the audit log) every time
//! they are asked for, under ids derived from what raised them ([`FlagId::derive`]), so an
//! acknowledgement sticks to the same flag however often it is recomputed. Who sees a flag is
//! decided by the policy: `audit.view` or `extract.approve` in the flag's district, or
//! party-wide for all; anyone else is refused, and a flag outside one's districts is reported
//! exactly like a missing one. Listing is audited (`followup.list`); an acknowledgement is
//! stored with its audit event (`followup.acknowledge`) in one transaction, and a flag is
//! acknowledged at most once.
//!
//! Never: put member data in a flag (they are about staff's actions: ids, counts, times), or
//! copy an acknowledgement's comment into the audit log (only its length and SHA-256 go there,
//! binding the stored text; the comment is the acknowledger's own words and may name people).

pub mod draw;
mod raise;
pub mod sample;

use std::fmt;

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::{Error, review};
use crate::policy::{DenyCode, Principal};
use crate::store::followup::{self as rows, AckRow};

/// An acknowledgement's comment: one line of 1–2000 characters ([`crate::text`]).
pub const COMMENT: crate::text::Rule = crate::text::Rule::one_line(1, 2000);

/// What raised a flag. `as_str` is the stable code on the wire and in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An extract of a whole district: no local-branch, age or joining-date filter, and every
    /// status that counts as a member (`Filters::is_whole_district`).
    WholeDistrict,
    /// An extract requested or downloaded outside `followup.office_hours`.
    OutsideHours,
    /// More than `followup.many_pulls_per_week` extracts by one person in one district in an
    /// ISO week.
    ManyPulls,
    /// At least `followup.denials_per_week` denied requests by one person in one district in an
    /// ISO week (by the policy when asked, or by an approver).
    RepeatedDenials,
    /// Downloaded, ended, and the copies not confirmed deleted within
    /// `extracts.attest_grace_hours`.
    AttestationOverdue,
    /// Handed over to a processor, and the processor has not confirmed deletion by its
    /// deadline (`extract::handover::DELETION_DAYS` after the download).
    ProcessorDeletionOverdue,
    /// A district's sample for a period not signed off by `followup.sample_review_days` after
    /// the period ended. Party-wide auditors only.
    SampleOverdue,
    /// A reviewer opened a case on a drawn release. Party-wide auditors only.
    SampleCase,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::WholeDistrict,
        Kind::OutsideHours,
        Kind::ManyPulls,
        Kind::RepeatedDenials,
        Kind::AttestationOverdue,
        Kind::ProcessorDeletionOverdue,
        Kind::SampleOverdue,
        Kind::SampleCase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::WholeDistrict => "whole_district",
            Kind::OutsideHours => "outside_hours",
            Kind::ManyPulls => "many_pulls",
            Kind::RepeatedDenials => "repeated_denials",
            Kind::AttestationOverdue => "attestation_overdue",
            Kind::ProcessorDeletionOverdue => "processor_deletion_overdue",
            Kind::SampleOverdue => "sample_overdue",
            Kind::SampleCase => "sample_case",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A flag's id: the first 128 bits of SHA-256 over its kind and what raised it, as 32
/// lowercase hex characters. The same facts always give the same id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlagId(String);

impl FlagId {
    /// The id of the flag of `kind` raised by `parts` (an extract id; or a user, a district
    /// and an ISO week).
    pub fn derive(kind: Kind, parts: &[&str]) -> FlagId {
        let mut bytes = b"registervakt.followup.v1\0".to_vec();
        bytes.extend_from_slice(kind.as_str().as_bytes());
        for part in parts {
            bytes.push(0);
            bytes.extend_from_slice(part.as_bytes());
        }
        let hex = crate::crypto::sha256_hex(&bytes);
        FlagId(hex.get(..32).unwrap_or(&hex).to_owned())
    }

    /// Anything but 32 lowercase hex characters is no flag: [`Error::NotFound`].
    pub fn parse(s: &str) -> Result<FlagId, Error> {
        if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(FlagId(s.to_owned()))
        } else {
            Err(Error::NotFound)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FlagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One flag, with its acknowledgement if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub id: FlagId,
    pub kind: Kind,
    pub district: String,
    /// The user whose actions raised it (the requester).
    pub user_id: String,
    /// The extract, for flags about one extract.
    pub extract_id: Option<String>,
    /// The ISO week (`2026-W49`, UTC), for flags about a person's week.
    pub week: Option<String>,
    /// Pulls, denials, or requests and downloads outside office hours; 1 for one extract.
    pub count: i64,
    /// When the first event that raised it happened (Unix seconds).
    pub raised_at: i64,
    pub ack: Option<AckRow>,
}

/// The districts whose flags `who` sees, or `None` for the whole party: wherever the policy
/// lets them view the audit or approve extracts (the union of the two permits' reach).
pub async fn scope(state: &Context, who: &Principal) -> Result<Option<Vec<String>>, Error> {
    use crate::policy::Action as P;
    let mut districts: Vec<String> = Vec::new();
    let mut any = false;
    for action in [P::AuditView, P::ExtractApprove] {
        let permit = match review::permit(state, who, action, "").await {
            Ok(permit) => permit,
            Err(Error::Denied { .. }) => continue,
            Err(e) => return Err(e),
        };
        any = true;
        match permit.reach().district_names() {
            None => return Ok(None),
            Some(names) => {
                for d in names {
                    if !districts.contains(&d) {
                        districts.push(d);
                    }
                }
            }
        }
    }
    if !any {
        return Err(Error::Denied {
            code: DenyCode::NotPermitted,
            reason: "only the district's approvers and the auditors see follow-up flags".into(),
        });
    }
    Ok(Some(districts))
}

/// Whether `who` may view the audit of the whole party: the sampled follow-up's own flags
/// (overdue samples, opened cases) are for them only.
async fn party_auditor(state: &Context, who: &Principal) -> Result<bool, Error> {
    match review::audit_permit(state, who).await {
        Ok(permit) => Ok(permit.reach().district_names().is_none()),
        Err(Error::Denied { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The flags in `who`'s districts, newest first: only unacknowledged ones with
/// `open = Some(true)`, only acknowledged ones with `Some(false)`, all with `None`. Audited as
/// `followup.list`.
pub async fn list(
    state: &Context,
    who: &Principal,
    open: Option<bool>,
    now: OffsetDateTime,
) -> Result<Vec<Flag>, Error> {
    let scope = scope(state, who).await?;
    let party = party_auditor(state, who).await?;
    let mut flags = raise::all(state, scope.as_deref(), party, now).await?;
    attach_acks(state, &mut flags).await?;
    if let Some(open) = open {
        flags.retain(|f| f.ack.is_none() == open);
    }
    let event = Event::new(
        EventKind::FollowupListed,
        Actor::user(who.user_id()),
        "followup",
        Outcome::Success,
        json!({
            "open": open,
            "flags": flags.len(),
            "scope": scope.as_deref().map_or_else(|| vec!["*".to_owned()], <[String]>::to_vec),
        }),
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(flags)
}

/// An acknowledgement's comment, trimmed, if [`COMMENT`] takes it.
pub fn check_comment(text: &str) -> Result<String, Error> {
    COMMENT.check(text).map(str::to_owned).map_err(|e| {
        Error::BadInput(format!(
            "say in {} to {} characters, on one line, what was done about the flag: the \
             comment {e}",
            COMMENT.min, COMMENT.max
        ))
    })
}

/// Acknowledges a flag `who` sees, with a comment; a flag outside their districts, or one
/// that is not raised now, is [`Error::NotFound`]; a second acknowledgement is a conflict.
/// The acknowledgement and its `followup.acknowledge` event commit together.
pub async fn acknowledge(
    state: &Context,
    who: &Principal,
    id: &FlagId,
    comment: &str,
    now: OffsetDateTime,
) -> Result<Flag, Error> {
    let comment = check_comment(comment)?;
    let scope = match scope(state, who).await {
        Ok(scope) => scope,
        Err(Error::Denied { .. }) => return Err(Error::NotFound),
        Err(e) => return Err(e),
    };
    let party = party_auditor(state, who).await?;
    let mut flag = raise::all(state, scope.as_deref(), party, now)
        .await?
        .into_iter()
        .find(|f| &f.id == id)
        .ok_or(Error::NotFound)?;
    let ack = AckRow {
        flag_id: id.to_string(),
        kind: flag.kind.as_str().to_owned(),
        district: flag.district.clone(),
        acknowledged_by: who.user_id().to_owned(),
        comment,
        acknowledged_at: now.unix_timestamp(),
    };
    let mut tx = state.store.begin().await?;
    if !rows::insert_followup_ack(&mut tx, &ack).await? {
        tx.rollback().await?;
        return Err(Error::Conflict(
            "already_acknowledged",
            "this flag is already acknowledged".into(),
        ));
    }
    let event = Event::new(
        EventKind::FollowupAcknowledged,
        Actor::user(who.user_id()),
        &format!("flag:{id}"),
        Outcome::Success,
        json!({
            "kind": flag.kind.as_str(),
            "district": flag.district,
            "extract_id": flag.extract_id,
            "week": flag.week,
            "comment_chars": ack.comment.chars().count(),
            "comment_sha256": crate::crypto::sha256_hex(ack.comment.as_bytes()),
        }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    flag.ack = Some(ack);
    Ok(flag)
}

async fn attach_acks(state: &Context, flags: &mut [Flag]) -> Result<(), Error> {
    let ids: Vec<String> = flags.iter().map(|f| f.id.to_string()).collect();
    let acks = state.store.list_followup_acks(&ids).await?;
    for flag in flags.iter_mut() {
        flag.ack = acks.iter().find(|a| a.flag_id == flag.id.as_str()).cloned();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_id_depends_on_its_kind_and_every_part_and_parses_back() {
        let a = FlagId::derive(Kind::ManyPulls, &["u1", "Uppsala", "2026-W49"]);
        assert_eq!(
            a,
            FlagId::derive(Kind::ManyPulls, &["u1", "Uppsala", "2026-W49"])
        );
        assert_ne!(
            a,
            FlagId::derive(Kind::RepeatedDenials, &["u1", "Uppsala", "2026-W49"])
        );
        assert_ne!(
            a,
            FlagId::derive(Kind::ManyPulls, &["u1", "Uppsala", "2026-W50"])
        );
        assert_ne!(
            a,
            FlagId::derive(Kind::ManyPulls, &["u1U", "ppsala", "2026-W49"])
        );
        assert_eq!(FlagId::parse(a.as_str()).unwrap(), a);
        assert!(FlagId::parse("not-a-flag").is_err());
    }

    #[test]
    fn comments_are_one_to_two_thousand_characters_without_controls() {
        assert_eq!(
            check_comment("  Talat med Anna.  ").unwrap(),
            "Talat med Anna."
        );
        assert!(check_comment("   ").is_err());
        assert!(check_comment(&"å".repeat(2001)).is_err());
        assert!(check_comment(&"å".repeat(2000)).is_ok());
        assert!(check_comment("ok\r\nforged line").is_err());
        assert!(check_comment("bell\u{7}").is_err());
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
