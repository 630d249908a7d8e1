//! Offering a live extract to its processor: the link's hash is stored and the link mailed —
//! never data. An agreement ended since the approval shreds the extract instead (audited).
//!
//! The requester may send the link again ([`resend`]) while the list is neither downloaded
//! nor locked: a new link replaces the old one, at most [`MAX_LINKS`] link mails in all, each
//! audited; the agreement must still be in force.

use serde_json::json;
use time::OffsetDateTime;

use super::{LINK_HOURS, Refusal, Token, check_request, link, refused, send};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::request::Request;
use crate::extract::{Error, ExtractId, ShredReason, expire, lifecycle};
use crate::policy::{DenyCode, Principal, Processor, Purpose};
use crate::store::handovers::{self as rows, NewHandover};

/// Offers extract `id` to its processor in the background (a failure is logged; the requester
/// can send the link again): for a caller that must not wait for the mail, or whose own
/// future the offer's would contain (shredding, which an offer may do).
pub fn offer_later(state: Context, id: ExtractId) {
    tokio::spawn(async move {
        let now = OffsetDateTime::now_utc();
        if let Err(e) = offer(&state, &id, now).await {
            tracing::error!(extract = %id, error = %e, "the hand-over could not be offered to its recipient");
        }
    });
}

/// Offers a live extract to its processor: stores the link's hash and mails the link. An
/// agreement ended meanwhile shreds the extract instead (audited).
pub async fn offer(state: &Context, id: &ExtractId, now: OffsetDateTime) -> Result<(), Error> {
    let row = state
        .store
        .find_extract(id.as_str())
        .await?
        .ok_or(Error::NotFound)?;
    let request = Request::from_json(&row.request)?;
    let policy = lifecycle::policy_now(state).await?;
    let purpose = policy.purpose(&request.purpose);
    let checked = match purpose {
        Some(p) => check_request(&policy, p, &request, now),
        None => Err((DenyCode::UnknownPurpose, "the purpose is gone".into())),
    };
    let (processor, purpose) = match (checked, purpose) {
        (Ok(Some(processor)), Some(purpose)) => (processor.clone(), purpose.clone()),
        (Err((code, _)), _) => {
            refused(state, Some(id), None, code.as_str(), Actor::system(), now).await?;
            expire::shred(state, id, ShredReason::Revoked, &Actor::system(), now).await?;
            return Ok(());
        }
        _ => return Ok(()),
    };
    let token = crate::crypto::random_token();
    let link_hash = Token::new(&token).hash("link");
    let deadline = row.expires_at.unwrap_or(now.unix_timestamp());
    let link_expires_at = (now.unix_timestamp() + LINK_HOURS * 3600).min(deadline);
    let ends = processor.agreement_ends.to_string();
    let mut tx = state.store.begin().await?;
    let fresh = rows::insert_handover(
        &mut tx,
        &NewHandover {
            extract_id: id.as_str(),
            processor_id: processor.id.as_str(),
            processor_name: &processor.name,
            contact: &processor.contact,
            agreement_ref: &processor.agreement_ref,
            agreement_ends: &ends,
            link_hash: &link_hash,
            offered_at: now.unix_timestamp(),
            link_expires_at,
        },
    )
    .await?;
    if !fresh {
        tx.rollback().await?;
        return Ok(());
    }
    let event = Event::new(
        EventKind::HandoverOffered,
        Actor::system(),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({ "processor": processor.id.as_str(), "processor_name": processor.name,
                "agreement_ref": processor.agreement_ref, "until": link_expires_at }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    send_link(state, &processor, &purpose, &request, &token).await
}

/// Link mails a hand-over ever sends: the first and two more.
pub const MAX_LINKS: i64 = 3;

/// Mails the processor's contact the link (`token`), naming the purpose and the agreement.
async fn send_link(
    state: &Context,
    processor: &Processor,
    purpose: &Purpose,
    request: &Request,
    token: &str,
) -> Result<(), Error> {
    // The list of a call list's "do not call again" members says what it is for.
    let (what_sv, what_en) = if request.from_call_list.is_some() {
        (
            "Listan innehåller medlemmar som bad att inte bli uppringda igen när en ringlista \
             arbetades; markera dem så i medlemsregistret.\n",
            "The list holds members who asked not to be called again while a call list was \
             worked; mark them so in the member register.\n",
        )
    } else {
        ("", "")
    };
    let body = format!(
        "Hej!\n\n{party} lämnar över en medlemslista till {name} för ändamålet \"{purpose_sv}\" \
         enligt personuppgiftsbiträdesavtal {agreement}.\n{what_sv}\
         Öppna länken, begär en engångskod (den skickas till den här adressen) och hämta listan. \
         Listan kan hämtas en gång.\n\n\
         Hello,\n\n{party} hands a member list over to {name} for the purpose \"{purpose_en}\" \
         under data-processing agreement {agreement}.\n{what_en}\
         Open the link, ask for a one-time code (it is sent to this address) and download the \
         list. It can be downloaded once.\n\n{url}\n",
        party = "Registervakt",
        name = processor.name,
        purpose_sv = purpose.name_sv,
        purpose_en = purpose.name_en,
        agreement = processor.agreement_ref,
        url = link(state, "", token),
    );
    send(
        state,
        &processor.contact,
        "Registervakt: medlemslista att hämta / member list to collect",
        &body,
    )
    .await
}

/// The requester sends the processor a new link (the first mail was lost, or its link ran
/// out): the old link stops working, and so does a code already sent. Refused (audited) when
/// the list is downloaded or locked, after [`MAX_LINKS`] link mails, or when the agreement has
/// ended; only the requester of a live hand-over may ask.
pub async fn resend(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    lifecycle::refuse_if_frozen(state).await?;
    let row = lifecycle::find_own(state, who, id).await?;
    let Some(h) = state.store.find_handover(id.as_str()).await? else {
        return Err(Error::Conflict(
            "not_handed_over",
            "this list is not handed over to a processor".into(),
        ));
    };
    if row.state != crate::nouns::ExtractState::Live {
        return Err(lifecycle::unavailable(&row));
    }
    let request = Request::from_json(&row.request)?;
    let policy = lifecycle::policy_now(state).await?;
    let purpose = policy.purpose(&request.purpose);
    let checked = match purpose {
        Some(p) => check_request(&policy, p, &request, now),
        None => Err((DenyCode::UnknownPurpose, "the purpose is gone".into())),
    };
    let actor = Actor::user(who.user_id());
    let (processor, purpose) = match (checked, purpose) {
        (Ok(Some(processor)), Some(purpose)) => (processor.clone(), purpose.clone()),
        (Err((code, reason)), _) => {
            refused(state, Some(id), Some(&h), code.as_str(), actor, now).await?;
            return Err(Error::Denied { code, reason });
        }
        _ => {
            return Err(Error::Conflict(
                "not_handed_over",
                "this list is not handed over to a processor".into(),
            ));
        }
    };
    let why = if h.downloaded_at.is_some() {
        Some(Refusal::AlreadyDownloaded)
    } else if h.locked_at.is_some() {
        Some(Refusal::Locked)
    } else if h.links_sent >= MAX_LINKS {
        Some(Refusal::TooManyLinks)
    } else {
        None
    };
    if let Some(why) = why {
        refused(state, Some(id), Some(&h), why.as_str(), actor, now).await?;
        return Err(Error::Handover(why));
    }
    let token = crate::crypto::random_token();
    let link_hash = Token::new(&token).hash("link");
    let deadline = row.expires_at.unwrap_or(now.unix_timestamp());
    let link_expires_at = (now.unix_timestamp() + LINK_HOURS * 3600).min(deadline);
    let mut tx = state.store.begin().await?;
    if !rows::renew_link(&mut tx, id.as_str(), &link_hash, link_expires_at, MAX_LINKS).await? {
        tx.rollback().await?;
        refused(
            state,
            Some(id),
            Some(&h),
            Refusal::TooManyLinks.as_str(),
            actor,
            now,
        )
        .await?;
        return Err(Error::Handover(Refusal::TooManyLinks));
    }
    let event = Event::new(
        EventKind::HandoverOffered,
        actor,
        &format!("extract:{id}"),
        Outcome::Success,
        json!({ "processor": processor.id.as_str(), "processor_name": processor.name,
                "agreement_ref": processor.agreement_ref, "until": link_expires_at,
                "again": true }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    send_link(state, &processor, &purpose, &request, &token).await
}

/// Where a hand-over stands, for the extract's page: names and times, never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Until when the newest link works (unix seconds).
    pub link_until: i64,
    /// How many more times the link may be sent.
    pub links_left: i64,
    pub code_sent: bool,
    pub locked: bool,
    pub collected_at: Option<i64>,
    pub delete_by: Option<i64>,
    pub deletion_confirmed_at: Option<i64>,
}

/// The hand-over of an extract its caller may already see (`row`), if it has one.
pub async fn status(
    state: &Context,
    row: &crate::store::extracts::ExtractRow,
) -> Result<Option<Status>, Error> {
    let found = state.store.find_handover(&row.id).await?;
    Ok(found.map(|h| Status {
        link_until: h.link_expires_at,
        links_left: (MAX_LINKS - h.links_sent).max(0),
        code_sent: h.code_hash.is_some(),
        locked: h.locked_at.is_some(),
        collected_at: h.downloaded_at,
        delete_by: h.delete_by,
        deletion_confirmed_at: h.deletion_confirmed_at,
    }))
}
