//! The audit log: every step of every extract, every sign-in and every refusal is an event.
//!
//! Guarantees:
//! - Events are a closed set ([`EventKind`]) with stable codes; the codes are part of the
//!   product's interface (SIEM rules match on them) and never change meaning.
//! - [`record`] writes in the caller's transaction, so the event and the change it describes
//!   commit together or not at all (SECURITY_BAR E2). There is no update or delete.
//! - Entries form a SHA-256 hash chain ([`chain`]); [`verify`] names the first bad entry.
//! - Text that came from users (actor names, targets, detail strings) has CR, LF and other
//!   control characters encoded before it is stored (E5), so a log line cannot be forged.
//!
//! Never: put member data, passwords, codes or keys into `details`. Members are referred to
//! by keyed pseudonyms only.

pub mod chain;
pub mod checkpoint;
pub mod clock;
pub mod syslog;
pub mod verify;

pub use verify::{VerifyReport, verify};

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::store::{self, Tx};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the audit log cannot be written: {0}")]
    Store(#[from] store::Error),
    #[error("the audit clock is before 1970")]
    Clock,
}

/// Declares [`EventKind`], its [`EventKind::ALL`] and its codes from one list, so no kind can
/// be left out of `ALL` or lack a code.
macro_rules! event_kinds {
    ($($(#[$doc:meta])* $kind:ident => $code:literal,)+) => {
        /// What happened. Codes are stable: add kinds, never rename or reuse a code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($(#[$doc])* $kind,)+
        }

        impl EventKind {
            /// Every kind, in the order declared.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$kind),+];

            /// The stable code stored in the audit log, e.g. `extract.download`.
            pub fn code(self) -> &'static str {
                match self {
                    $(EventKind::$kind => $code,)+
                }
            }
        }
    };
}

event_kinds! {
    /// The broker started serving.
    SystemStarted => "system.start",
    /// The broker stopped serving (graceful shutdown).
    SystemStopped => "system.stop",
    /// The broker started with another active key-encryption key than the last start
    /// recorded (`keys rotate` ran in between): from which key id to which.
    KeysRotated => "keys.rotate",
    /// `registervakt init` created or migrated the store.
    StoreInitialised => "store.init",
    /// The demo created its synthetic register and store.
    DemoCreated => "demo.create",
    /// An admin created a user and an invitation.
    UserCreated => "user.create",
    /// An invited user set their password.
    InvitationAccepted => "user.invitation_accept",
    /// An administrator sent an invited user a new invitation by e-mail (the old one ends).
    InvitationResent => "user.invitation_resend",
    UserDisabled => "user.disable",
    UserEnabled => "user.enable",
    /// The address notices are e-mailed to was set or cleared (the address is not logged).
    UserEmailChanged => "user.email",
    /// An admin removed a user's second factor (they must enrol again).
    SecondFactorReset => "auth.second_factor_reset",
    /// Password accepted; the second factor is still needed.
    PasswordAccepted => "auth.password_ok",
    /// Wrong username or password (or unknown user).
    PasswordRejected => "auth.password_fail",
    /// TOTP or recovery code accepted, at sign-in or as step-up.
    SecondFactorAccepted => "auth.second_factor_ok",
    /// Wrong, replayed or locked-out second factor.
    SecondFactorRejected => "auth.second_factor_fail",
    /// Too many wrong codes: the second factor is locked for a while.
    SecondFactorLocked => "auth.second_factor_lock",
    /// Too many wrong codes in a row: the second factor is disabled until reset.
    SecondFactorDisabled => "auth.second_factor_disable",
    /// Too many failed sign-ins from one address.
    AddressLimited => "auth.address_limit",
    /// A TOTP seed was confirmed and bound to the account.
    TotpEnrolled => "auth.totp_enrol",
    /// A passkey was registered to the account (at enrolment or from the account page).
    PasskeyRegistered => "auth.passkey_register",
    /// A passkey registration was refused (no ceremony, wrong origin, no user verification, …).
    PasskeyRejected => "auth.passkey_reject",
    /// The user gave one of their passkeys another name.
    PasskeyRenamed => "auth.passkey_rename",
    /// The user removed one of their passkeys.
    PasskeyRemoved => "auth.passkey_remove",
    /// The policy asks for a phishing-resistant factor (a passkey) for this action, and the
    /// session's second factor was not one.
    PhishingResistantRequired => "auth.phishing_resistant_required",
    SignedOut => "auth.logout",
    /// An OIDC sign-in was accepted (second factor may still be needed).
    OidcAccepted => "auth.oidc_ok",
    /// An OIDC sign-in was rejected (bad state, token, issuer, audience, nonce, …).
    OidcRejected => "auth.oidc_reject",
    /// An administrator linked an identity at the provider (issuer, subject) to an account.
    OidcLinked => "user.oidc_link",
    /// A role was granted (ends the user's sessions).
    RoleGranted => "user.role_grant",
    /// A role was revoked (ends the user's sessions).
    RoleRevoked => "user.role_revoke",
    /// A role change was proposed and awaits a second administrator.
    RoleChangeRequested => "user.role_change_request",
    /// A proposed role change was turned down (or withdrawn by its proposer).
    RoleChangeRejected => "user.role_change_reject",
    /// A new account was proposed and awaits a second administrator (SECURITY_BAR C8).
    UserProposed => "user.propose",
    /// A proposed account was turned down (or withdrawn by its proposer).
    UserProposalRejected => "user.propose_reject",
    /// A policy change was proposed and awaits a second party-wide administrator (F-3).
    PolicyProposed => "policy.propose",
    /// A proposed policy change was turned down (or withdrawn by its proposer).
    PolicyProposalRejected => "policy.propose_reject",
    /// The policy refused an administrative act (the permission it needs, in the details).
    PermitRefused => "authz.refuse",
    /// The policy answered a request (allow, needs approval or deny), with the requested scope.
    PolicyDecision => "policy.decide",
    /// The policy could not decide (engine error, broken model or table): denied (C6).
    AuthzError => "authz.error",
    /// A new version of the access policy was stored (before and after in the details).
    PolicyChanged => "policy.change",
    /// A count of matching members was shown before a request (never rows).
    ExtractEstimated => "extract.estimate",
    /// An extract was requested (allowed at once or waiting for approval).
    ExtractRequested => "extract.request",
    /// An approver approved the hash of a request.
    ExtractApproved => "extract.approve",
    /// An approver denied a request, or the policy denied it at approval.
    ExtractDenied => "extract.deny",
    /// Nobody decided a request before its pending deadline.
    ExtractLapsed => "extract.lapse",
    /// The snapshot was read, sealed and recorded in the disclosure ledger.
    ExtractBuilt => "extract.snapshot",
    /// The snapshot could not be made; nothing was released.
    ExtractBuildFailed => "extract.snapshot_fail",
    /// Data was released as a file: durable before the first byte.
    ExtractReleased => "extract.download",
    /// A page of an extract was shown in the browser.
    ExtractViewed => "extract.view",
    /// A stored chunk failed authentication; nothing was sent.
    ExtractDamaged => "extract.integrity_fail",
    /// A call list's requester gave members to a caller (or moved them from another), or was
    /// refused (`code`).
    CallsAssigned => "calls.assign",
    /// A caller was shown members of a call list, each recorded in the ledger as shown to them.
    CallsShown => "calls.show",
    /// A caller recorded an outcome for a member (never the note's text), or was refused.
    CallOutcomeRecorded => "calls.outcome",
    /// A call list ended and its "do not call again" members became their own extract for the
    /// purpose's recipient (`from`, `rows`, the recipient), or were not handed on (`code`).
    CallsDoNotCall => "calls.do_not_call",
    /// The data key was destroyed and the chunks deleted: the deletion receipt.
    ExtractShredded => "extract.shred",
    /// The requester confirmed that downloaded copies are deleted.
    ExtractAttested => "extract.attest_deleted",
    /// An extract for a processor went live: its contact was mailed a link (never data).
    HandoverOffered => "handover.offer",
    /// The processor asked for a one-time code; it went to the contact address.
    HandoverCodeSent => "handover.code",
    /// The processor downloaded the list, once, with link and code: durable before the first
    /// byte, naming the processor and the agreement.
    HandoverReleased => "handover.download",
    /// A processor's step was refused (unknown link, wrong code, second download, ended
    /// agreement …); nothing was released.
    HandoverRefused => "handover.refuse",
    /// Too many wrong codes: the hand-over is locked for good.
    HandoverLocked => "handover.lock",
    /// The processor confirmed that every copy is deleted.
    HandoverDeletionConfirmed => "handover.confirm_deleted",
    /// The incident switch: no new extracts, every live one shredded.
    ExtractsFrozen => "extract.freeze",
    /// The incident switch was lifted.
    ExtractsUnfrozen => "extract.unfreeze",
    /// An auditor asked which extracts held a member (named by pseudonym only).
    AuditMemberLookup => "audit.member_disclosures",
    /// An auditor read an extract's whole story.
    AuditExtractStory => "audit.extract_story",
    /// An auditor traced a leaked file to the extracts it may come from.
    AuditTrace => "audit.trace",
    /// An auditor scoped a breach: members, fields, downloads and shred times.
    AuditBreachScope => "audit.breach_scope",
    /// An auditor made the printable access-request report (GDPR Art. 15) for a member.
    AuditMemberReport => "audit.member_report",
    /// An auditor turned a member number into its pseudonym, to search the log.
    PseudonymResolved => "pseudonym.resolve",
    /// An auditor found which member a pseudonym stands for (a DPO case).
    PseudonymRevealed => "pseudonym.reveal",
    /// An auditor read a page of the audit timeline (the filters are in the details).
    AuditTimeline => "audit.timeline",
    /// The audit log (or the asker's share of it) was exported, recorded before the first byte.
    AuditExport => "audit.export",
    /// An administrator read the user list or the role changes awaiting a second admin.
    UsersListed => "user.list",
    /// An approver read the queue of other people's requests or unconfirmed deletions.
    ExtractQueueShown => "extract.queue",
    /// An approver or admin read the metadata of someone else's extract.
    ExtractShown => "extract.show",
    /// An approver or auditor listed the follow-up flags in their districts.
    FollowupListed => "followup.list",
    /// A follow-up flag was acknowledged with a comment.
    FollowupAcknowledged => "followup.acknowledge",
    // Recertification of roles (issue 22, item 2).
    /// A role was confirmed for another term, or removed, at its recertification.
    RoleRecertified => "role.recertify",
    /// A role passed its due date unconfirmed: it is suspended (kept, granting nothing).
    RoleSuspended => "role.suspend",
    /// The holder and those who may confirm were told that a role falls due soon.
    RoleDueNoticed => "role.due_notice",
    // Sampled follow-up (`oversight::followup::draw`, `::sample`).
    /// A district's sample of releases for a period was drawn: the population's size and
    /// SHA-256, the seed and the chosen entries, so the draw can be re-derived.
    SampleDrawn => "followup.sample_draw",
    /// An approver or auditor read the samples, or one district's sample for a period.
    SampleListed => "followup.sample_list",
    /// A drawn release was reviewed: fine, or a case opened (the comment's length and hash).
    SampleReviewed => "followup.sample_review",
    /// A district's sample for a period was signed off, every item reviewed.
    SampleSignedOff => "followup.sample_signoff",
    /// The DPO's activity report (extracts by purpose, district and approver) was made.
    ReportActivity => "report.activity",
    /// The record-of-processing summary of the purposes (GDPR Art. 30) was made.
    ReportArticle30 => "report.article30",
}

impl EventKind {
    pub fn from_code(code: &str) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|a| a.code() == code)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Who did it: `system`, `cli:<name>(<uid>)` (the operator's real uid) or `user:<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn system() -> Actor {
        Actor("system".into())
    }

    /// An operator at the command line: `cli:NAME(UID)`, the process's real uid and its name
    /// in the passwd database (`cli:(UID)` when it has none). Never `$USER` or anything else
    /// the caller's environment can set.
    pub fn cli() -> Actor {
        let uid = nix::unistd::getuid();
        let name = nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|user| user.name)
            .unwrap_or_default();
        Actor(format!("cli:{}({uid})", encode_controls(&name)))
    }

    /// A signed-in (or signing-in) user, by id.
    pub fn user(id: &str) -> Actor {
        Actor(format!("user:{}", encode_controls(id)))
    }

    /// A registered processor acting through its hand-over link (`processor:<id>`).
    pub fn processor(id: &str) -> Actor {
        Actor(format!("processor:{}", encode_controls(id)))
    }

    /// Someone not (yet) identified, e.g. a failed sign-in.
    pub fn anonymous() -> Actor {
        Actor("anonymous".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One event, built by the typed constructors below.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: EventKind,
    pub actor: Actor,
    pub target: String,
    pub outcome: Outcome,
    pub details: Value,
}

impl Event {
    /// An event of `action`. User text in `target` and `details` is encoded here.
    pub fn new(
        action: EventKind,
        actor: Actor,
        target: &str,
        outcome: Outcome,
        details: Value,
    ) -> Event {
        Event {
            action,
            actor,
            target: encode_controls(target),
            outcome,
            details: encode_value(details),
        }
    }

    /// The same event with one more detail (user text in it is encoded).
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Event {
        if let Value::Object(map) = &mut self.details {
            map.insert(encode_controls(key), encode_value(value.into()));
        }
        self
    }

    /// The same event about another target.
    pub fn with_target(mut self, target: &str) -> Event {
        self.target = encode_controls(target);
        self
    }

    /// `kek_id`: the active key-encryption key's id, so that the next start can tell a
    /// rotation (`keys.rotate`).
    pub fn system_started(version: &str, listen: &str, instance: &str, kek_id: &str) -> Event {
        let details = json!({
            "version": version, "listen": listen, "instance": instance, "kek_id": kek_id,
        });
        Event::new(
            EventKind::SystemStarted,
            Actor::system(),
            "broker",
            Outcome::Success,
            details,
        )
    }

    pub fn system_stopped(instance: &str) -> Event {
        let details = json!({ "instance": instance });
        Event::new(
            EventKind::SystemStopped,
            Actor::system(),
            "broker",
            Outcome::Success,
            details,
        )
    }

    pub fn store_initialised(backend: &str) -> Event {
        let details = json!({ "backend": backend });
        Event::new(
            EventKind::StoreInitialised,
            Actor::cli(),
            "store",
            Outcome::Success,
            details,
        )
    }

    pub fn demo_created(members: u64) -> Event {
        let details = json!({ "synthetic_members": members });
        Event::new(
            EventKind::DemoCreated,
            Actor::cli(),
            "demo",
            Outcome::Success,
            details,
        )
    }
}

/// Where an event landed in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub seq: i64,
    pub entry_hash: String,
}

/// Appends `event` in the caller's transaction. The caller commits; if it rolls back, the
/// event is gone together with the change it described.
pub async fn record(tx: &mut Tx, event: &Event, now: OffsetDateTime) -> Result<Recorded, Error> {
    let mut row = draft(event, now)?;
    let (last_seq, prev_hash) = store::audit::lock_and_find_head(tx)
        .await?
        .unwrap_or((0, chain::GENESIS.to_owned()));
    row.seq = last_seq + 1;
    row.prev_hash = prev_hash;
    row.entry_hash = chain::entry_hash(&row);
    store::audit::insert_event(tx, &row).await?;
    Ok(Recorded {
        seq: row.seq,
        entry_hash: row.entry_hash,
    })
}

/// The row of `event` at `now`, before it has a place in the chain.
fn draft(event: &Event, now: OffsetDateTime) -> Result<store::audit::AuditRow, Error> {
    let occurred_at =
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).map_err(|_| Error::Clock)?;
    if occurred_at < 0 {
        return Err(Error::Clock);
    }
    Ok(store::audit::AuditRow {
        seq: 0,
        occurred_at,
        actor: event.actor.as_str().to_owned(),
        action: event.action.code().to_owned(),
        target: event.target.clone(),
        outcome: event.outcome.as_str().to_owned(),
        // serde_json's map is ordered by key, so this text is canonical.
        details: event.details.to_string(),
        prev_hash: String::new(),
        entry_hash: String::new(),
    })
}

/// Records one event that stands alone (no other change goes with it) and returns once it is
/// durable. Events recorded at the same moment share one commit (group commit): under load the
/// log costs one fsync per batch, not per event.
pub async fn record_now(
    store: &store::Store,
    event: &Event,
    now: OffsetDateTime,
) -> Result<Recorded, Error> {
    let (seq, entry_hash) = store
        .append_audit_grouped(draft(event, now)?, chain::entry_hash)
        .await?;
    Ok(Recorded { seq, entry_hash })
}

/// Encodes CR, LF, TAB and every other control character as `\u{..}` so user input cannot
/// start a new log line or hide text (ASVS V16.3, log injection).
pub fn encode_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn encode_value(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(encode_controls(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(encode_value).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (encode_controls(&k), encode_value(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for a in EventKind::ALL {
            assert!(seen.insert(a.code()), "duplicate code {}", a.code());
            assert_eq!(EventKind::from_code(a.code()), Some(*a));
        }
    }

    #[test]
    fn control_characters_in_user_text_are_encoded() {
        let encoded = encode_controls("eve\r\n2026-01-01 system.start ok\t\u{1b}[31m");
        assert!(!encoded.chars().any(char::is_control), "{encoded}");
        assert!(encoded.contains("\\u{d}\\u{a}"));
    }

    #[test]
    fn control_characters_inside_details_are_encoded() {
        let v = encode_value(json!({"a\nb": ["x\ry", {"z": "\u{0}"}]}));
        assert!(!v.to_string().contains("\\n"));
        assert!(!v.to_string().contains("\\r"));
        assert!(!v.to_string().contains("\\u0000"));
    }
}
