//! Hand-over of an extract to a registered processor (a printer, a mailing house) instead of
//! to the requester: the list goes once, to the processor's own address, and never through
//! anyone's mailbox as a file.
//!
//! The path: the request names a processor the purpose lists (`policy::processors`), with an
//! agreement in force; an approver always approves it, seeing the processor; when the snapshot
//! is live the processor's contact gets a mail with a link — never data. On the link's page the
//! processor asks for a one-time code, which goes to the same address in a second mail (so
//! whoever downloads controls the address, not only the link); with the code the file is
//! downloaded **once**, through the same authenticated-chunk pass as every download
//! (`deliver`), and the extract is shredded right after. A third mail holds a link by which the
//! processor confirms deletion before [`DELETION_DAYS`] are out; a missed deadline is a
//! follow-up flag (`oversight::followup`). The ledger keeps which members went to which
//! processor under which agreement (`handovers` beside `disclosures`).
//!
//! Guarantees:
//! - Every link and code is stored only as a hash, used through a conditional UPDATE (one
//!   download, one confirmation, however parallel), and expires; [`MAX_CODE_FAILURES`] wrong
//!   codes lock the hand-over for good; at most [`MAX_CODES`] codes are ever sent.
//! - An ended agreement refuses the hand-over at request, at approval, when the link is sent,
//!   when a code is asked for and at download.
//! - Every refusal is an audit event (`handover.refuse`, with a stable code), and nothing is
//!   released by a refused step.
//!
//! Must never: put member data or a token in a log line or an error, send a token anywhere but
//! the processor's contact address, or release without the code.

mod collect;
mod deletion;
mod offer;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use super::request::Request;
use super::{Error, ExtractId, ExtractState, lifecycle};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::policy::{DenyCode, Policy, Processor, ProcessorId, Purpose};
use crate::store::handovers::HandoverRow;

pub use collect::{Offer, download, look, send_code};
pub use deletion::{confirm_deletion, look_deletion};
pub use offer::{MAX_LINKS, Status, offer, offer_later, resend, status};

/// How long the processor's link works (never past the extract's own deadline).
pub const LINK_HOURS: i64 = 72;
/// How long a one-time code works.
pub const CODE_MINUTES: i64 = 15;
/// Digits in a one-time code.
pub const CODE_DIGITS: usize = 8;
/// Wrong codes before the hand-over is locked for good (SECURITY_BAR A4's figure).
pub const MAX_CODE_FAILURES: i64 = 5;
/// Codes a hand-over ever sends.
pub const MAX_CODES: i64 = 5;
/// Days after the download within which the processor confirms deletion.
pub const DELETION_DAYS: i64 = 7;

/// Why a processor's step was refused; `as_str` is the stable code on the wire and in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No hand-over has this link (a mistyped, forged or old link).
    UnknownLink,
    /// The link's time is out.
    LinkExpired,
    /// A download without a one-time code.
    CodeRequired,
    /// A wrong, expired or already used code.
    WrongCode,
    /// Too many wrong codes: the hand-over is locked.
    Locked,
    /// The one download has been made.
    AlreadyDownloaded,
    /// Every code a hand-over may send has been sent.
    TooManyCodes,
    /// Deletion is already confirmed.
    AlreadyConfirmed,
    /// Every link mail a hand-over may send has been sent.
    TooManyLinks,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownLink => "handover_unknown",
            Refusal::LinkExpired => "handover_expired",
            Refusal::CodeRequired => "handover_code_required",
            Refusal::WrongCode => "handover_wrong_code",
            Refusal::Locked => "handover_locked",
            Refusal::AlreadyDownloaded => "handover_already_downloaded",
            Refusal::TooManyCodes => "handover_too_many_codes",
            Refusal::AlreadyConfirmed => "handover_already_confirmed",
            Refusal::TooManyLinks => "handover_too_many_links",
        }
    }

    /// A safe English sentence (pages say it from the catalogues).
    pub fn message(self) -> &'static str {
        match self {
            Refusal::UnknownLink => "the link is not valid",
            Refusal::LinkExpired => "the link has expired; ask the party to send a new one",
            Refusal::CodeRequired => "enter the one-time code sent to your address",
            Refusal::WrongCode => "the one-time code is wrong, expired or already used",
            Refusal::Locked => "too many wrong codes: the hand-over is locked",
            Refusal::AlreadyDownloaded => "the list has already been downloaded once",
            Refusal::TooManyCodes => "no more codes can be sent for this hand-over",
            Refusal::AlreadyConfirmed => "deletion is already confirmed",
            Refusal::TooManyLinks => "no more links can be sent for this hand-over",
        }
    }
}

/// A link's token as the processor presents it: a secret, never logged.
pub struct Token(SecretString);

impl Token {
    pub fn new(text: &str) -> Token {
        Token(SecretString::from(text.trim().to_owned()))
    }

    fn hash(&self, purpose: &str) -> String {
        let mut bytes = format!("registervakt.handover.{purpose}\0").into_bytes();
        bytes.extend_from_slice(self.0.expose_secret().as_bytes());
        crate::crypto::sha256_hex(&bytes)
    }
}

fn code_hash(id: &str, code: &str) -> String {
    crate::crypto::sha256_hex(format!("registervakt.handover.code\0{id}\0{code}").as_bytes())
}

/// Whether `processor` may receive an extract of `purpose` on `now`'s date (`None`: the
/// requester receives it, which a hand-over-only purpose refuses). The reason is a sentence
/// for the requester or approver.
pub fn check<'p>(
    policy: &'p Policy,
    purpose: &Purpose,
    processor: Option<&ProcessorId>,
    now: OffsetDateTime,
) -> Result<Option<&'p Processor>, (DenyCode, String)> {
    let Some(id) = processor else {
        if purpose.formats.is_empty() {
            return Err((
                DenyCode::ProcessorNotAllowed,
                "this purpose only hands lists over to a processor: choose one".into(),
            ));
        }
        return Ok(None);
    };
    let registered = policy
        .processor(id)
        .filter(|_| purpose.allows_processor(id));
    let Some(p) = registered else {
        return Err((
            DenyCode::ProcessorNotAllowed,
            "the purpose does not allow hand-over to that processor".into(),
        ));
    };
    in_force(p, now).map(Some)
}

/// [`check`] for a stored request. The list of a call list's "do not call again" members
/// (`calls::do_not_call`) goes only to the recipient the purpose names for it now.
pub fn check_request<'p>(
    policy: &'p Policy,
    purpose: &Purpose,
    request: &Request,
    now: OffsetDateTime,
) -> Result<Option<&'p Processor>, (DenyCode, String)> {
    if request.from_call_list.is_none() {
        return check(policy, purpose, request.processor.as_ref(), now);
    }
    let named = purpose
        .do_not_call_to
        .as_ref()
        .filter(|to| request.processor.as_ref() == Some(*to))
        .and_then(|to| policy.processor(to));
    let Some(p) = named else {
        return Err((
            DenyCode::ProcessorNotAllowed,
            "the purpose no longer sends members who do not want to be called again to that \
             recipient"
                .into(),
        ));
    };
    in_force(p, now).map(Some)
}

/// `p`, if its agreement is in force on `now`'s date.
fn in_force(p: &Processor, now: OffsetDateTime) -> Result<&Processor, (DenyCode, String)> {
    if !p.agreement_in_force(now) {
        return Err((
            DenyCode::AgreementEnded,
            format!(
                "the data-processing agreement with {} ended on {}; nothing is handed over",
                p.name, p.agreement_ends
            ),
        ));
    }
    Ok(p)
}

/// [`check`] at approval: an ended agreement or a processor gone from the purpose refuses the
/// approval (audited with the extract as target).
pub async fn check_at_approval(
    state: &Context,
    policy: &Policy,
    approver: &crate::policy::Principal,
    id: &ExtractId,
    request: &Request,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if request.processor.is_none() {
        return Ok(());
    }
    let checked = match policy.purpose(&request.purpose) {
        Some(purpose) => check_request(policy, purpose, request, now).map(|_| ()),
        None => Err((DenyCode::UnknownPurpose, "the purpose is gone".into())),
    };
    let Err((code, reason)) = checked else {
        return Ok(());
    };
    let event = Event::new(
        EventKind::PolicyDecision,
        Actor::user(approver.user_id()),
        &format!("extract:{id}"),
        Outcome::Denied,
        json!({ "code": code.as_str(), "purpose": request.purpose.as_str(),
                "processor": request.processor.as_ref().map(ProcessorId::as_str) }),
    );
    audit::record_now(&state.store, &event, now).await?;
    Err(Error::Denied { code, reason })
}

fn link(state: &Context, path: &str, token: &str) -> String {
    let base = state.config.server.public_url.trim_end_matches('/');
    format!("{base}/handover/{path}{token}")
}

/// The details every hand-over event carries: which processor, under which agreement.
fn about(h: &HandoverRow) -> serde_json::Value {
    json!({ "processor": h.processor_id, "processor_name": h.processor_name,
            "agreement_ref": h.agreement_ref })
}

async fn send(state: &Context, to: &str, subject: &str, body: &str) -> Result<(), Error> {
    let Some(mailer) = &state.mailer else {
        return Err(Error::Conflict(
            "mail_not_configured",
            "e-mail is not set up, so nothing can be handed over to a processor".into(),
        ));
    };
    mailer.send(to, subject, body).await.map_err(|e| {
        // The error names the server's answer, never the message or the token.
        tracing::warn!(error = %e, "a hand-over mail could not be sent");
        Error::Conflict(
            "mail_failed",
            "the mail to the processor could not be sent; try again later".into(),
        )
    })
}

/// Records a refused step (`handover.refuse`) and returns its error.
async fn refused(
    state: &Context,
    id: Option<&ExtractId>,
    h: Option<&HandoverRow>,
    code: &str,
    actor: Actor,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let target = id.map_or_else(|| "handover".to_owned(), |id| format!("extract:{id}"));
    let mut details = h.map_or_else(|| json!({}), about);
    details["code"] = json!(code);
    let event = Event::new(
        EventKind::HandoverRefused,
        actor,
        &target,
        Outcome::Denied,
        details,
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(())
}

async fn refuse(
    state: &Context,
    h: Option<&HandoverRow>,
    why: Refusal,
    now: OffsetDateTime,
) -> Error {
    let id = h.and_then(|h| ExtractId::parse(&h.extract_id).ok());
    let actor = h.map_or_else(Actor::anonymous, |h| processor_actor(&h.processor_id));
    match refused(state, id.as_ref(), h, why.as_str(), actor, now).await {
        Ok(()) => Error::Handover(why),
        Err(e) => e,
    }
}

fn processor_actor(id: &str) -> Actor {
    Actor::processor(id)
}

/// The hand-over a link opens, if it may still be used; every other answer is a refusal,
/// audited.
async fn usable(state: &Context, token: &Token, now: OffsetDateTime) -> Result<HandoverRow, Error> {
    let found = state
        .store
        .find_handover_by_link(&token.hash("link"))
        .await?;
    let Some(h) = found else {
        return Err(refuse(state, None, Refusal::UnknownLink, now).await);
    };
    let why = if h.downloaded_at.is_some() {
        Some(Refusal::AlreadyDownloaded)
    } else if h.locked_at.is_some() {
        Some(Refusal::Locked)
    } else if h.link_expires_at <= now.unix_timestamp() {
        Some(Refusal::LinkExpired)
    } else {
        None
    };
    if let Some(why) = why {
        return Err(refuse(state, Some(&h), why, now).await);
    }
    Ok(h)
}

/// Refuses (audited) when the processor's agreement has ended or it left the purpose.
async fn agreement_holds(
    state: &Context,
    h: &HandoverRow,
    request: &Request,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let policy = lifecycle::policy_now(state).await?;
    let checked = match policy.purpose(&request.purpose) {
        Some(p) => check_request(&policy, p, request, now).map(|_| ()),
        None => Err((DenyCode::UnknownPurpose, "the purpose is gone".into())),
    };
    match checked {
        Ok(()) => Ok(()),
        Err((code, reason)) => {
            let id = ExtractId::parse(&h.extract_id).ok();
            let actor = processor_actor(&h.processor_id);
            refused(state, id.as_ref(), Some(h), code.as_str(), actor, now).await?;
            Err(Error::Denied { code, reason })
        }
    }
}

/// A usable link's hand-over with its extract, which must still be live, and its request.
async fn usable_live(
    state: &Context,
    token: &Token,
    now: OffsetDateTime,
) -> Result<(HandoverRow, crate::store::extracts::ExtractRow, Request), Error> {
    let h = usable(state, token, now).await?;
    let row = state
        .store
        .find_extract(&h.extract_id)
        .await?
        .ok_or(Error::NotFound)?;
    if row.state != ExtractState::Live {
        return Err(lifecycle::unavailable(&row));
    }
    let request = Request::from_json(&row.request)?;
    Ok((h, row, request))
}

#[cfg(test)]
mod tests {
    use super::collect::new_code;
    use super::*;

    #[test]
    fn a_code_has_its_digits_and_two_codes_differ() {
        let a = new_code();
        let b = new_code();
        assert_eq!(a.expose_secret().len(), CODE_DIGITS);
        assert!(a.expose_secret().bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    async fn shipped_with(edit: impl Fn(String) -> String) -> Policy {
        let mut texts = crate::policy::Texts::shipped();
        texts.purposes = edit(texts.purposes);
        Policy::from_parts(&texts.model, &texts.permissions, &texts.purposes)
            .await
            .unwrap()
    }

    fn ids(s: &str) -> crate::policy::PurposeId {
        crate::policy::PurposeId::parse(s).unwrap()
    }

    const PRINTER: &str = "tryckeriet-norr";

    #[tokio::test]
    async fn a_hand_over_needs_a_processor_the_purpose_lists_with_an_agreement_in_force() {
        let policy = shipped_with(|t| t).await;
        let printing = policy.purpose(&ids("member-magazine-printing")).unwrap();
        let printer = ProcessorId::parse(PRINTER).unwrap();
        let before_end = time::macros::datetime!(2027-12-31 12:00 UTC);
        let after_end = time::macros::datetime!(2028-01-01 00:00 UTC);
        assert!(check(&policy, printing, Some(&printer), before_end).is_ok());
        let ended = check(&policy, printing, Some(&printer), after_end).unwrap_err();
        assert_eq!(ended.0, DenyCode::AgreementEnded);
        // A hand-over-only purpose refuses a list for the requester.
        let to_self = check(&policy, printing, None, before_end).unwrap_err();
        assert_eq!(to_self.0, DenyCode::ProcessorNotAllowed);
        // A processor the purpose does not list, or an unknown one, is refused.
        let canvassing = policy.purpose(&ids("phone-canvassing")).unwrap();
        let not_listed = check(&policy, canvassing, Some(&printer), before_end).unwrap_err();
        assert_eq!(not_listed.0, DenyCode::ProcessorNotAllowed);
        let unknown = ProcessorId::parse("tryckeriet-syd").unwrap();
        let refused = check(&policy, printing, Some(&unknown), before_end).unwrap_err();
        assert_eq!(refused.0, DenyCode::ProcessorNotAllowed);
        assert!(check(&policy, canvassing, None, before_end).is_ok_and(|p| p.is_none()));
    }

    #[test]
    fn a_code_is_bound_to_its_extract_and_a_link_to_its_use() {
        assert_ne!(code_hash("a", "12345678"), code_hash("b", "12345678"));
        let t = Token::new("abc");
        assert_ne!(t.hash("link"), t.hash("deletion"));
    }
}
