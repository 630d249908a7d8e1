//! The processor collects the list: the link's page, the one-time code sent to the contact
//! address, and the one download with that code, after which the extract is shredded and a
//! deletion-confirmation link is mailed.
//!
//! Guarantees: nothing is released without the link, the code and an agreement in force; a
//! wrong code counts towards the lock ([`super::MAX_CODE_FAILURES`]); the download happens once
//! however many ask at the same time.

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use super::{
    CODE_DIGITS, CODE_MINUTES, DELETION_DAYS, MAX_CODE_FAILURES, MAX_CODES, Refusal, Token, about,
    agreement_holds, code_hash, link, processor_actor, refuse, send, usable, usable_live,
};
use crate::audit::{self, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::request::Request;
use crate::extract::{Error, ExtractId, ExtractState, deliver, lifecycle};
use crate::store::handovers::{self as rows, HandoverRow};

/// What the processor's page shows: names, never data.
#[derive(Debug, Clone)]
pub struct Offer {
    pub processor_name: String,
    pub agreement_ref: String,
    pub purpose: crate::policy::PurposeId,
    pub rows: i64,
    pub link_expires_at: i64,
    pub code_sent: bool,
}

/// The page behind the link: which processor, which purpose, how many members.
pub async fn look(state: &Context, token: &Token, now: OffsetDateTime) -> Result<Offer, Error> {
    let (h, row, request) = usable_live(state, token, now).await?;
    Ok(Offer {
        processor_name: h.processor_name,
        agreement_ref: h.agreement_ref,
        purpose: request.purpose,
        rows: row.row_count.unwrap_or(0),
        link_expires_at: h.link_expires_at,
        code_sent: h.code_hash.is_some(),
    })
}

/// Sends a one-time code to the processor's contact (a second mail): whoever downloads must
/// read that mailbox, not only hold the link.
pub async fn send_code(state: &Context, token: &Token, now: OffsetDateTime) -> Result<(), Error> {
    let (h, _, request) = usable_live(state, token, now).await?;
    agreement_holds(state, &h, &request, now).await?;
    let code = new_code();
    let expires = now.unix_timestamp() + CODE_MINUTES * 60;
    let mut tx = state.store.begin().await?;
    let hash = code_hash(&h.extract_id, code.expose_secret());
    if !rows::set_code(
        &mut tx,
        &h.extract_id,
        &hash,
        expires,
        MAX_CODES,
        now.unix_timestamp(),
    )
    .await?
    {
        tx.rollback().await?;
        return Err(refuse(state, Some(&h), Refusal::TooManyCodes, now).await);
    }
    let mut details = about(&h);
    details["until"] = json!(expires);
    let event = Event::new(
        EventKind::HandoverCodeSent,
        processor_actor(&h.processor_id),
        &format!("extract:{}", h.extract_id),
        Outcome::Success,
        details,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let body = format!(
        "Engångskod för att hämta medlemslistan / one-time code to download the member list:\n\n\
         {code}\n\nKoden gäller i {CODE_MINUTES} minuter. / The code works for {CODE_MINUTES} minutes.\n",
        code = code.expose_secret()
    );
    send(
        state,
        &h.contact,
        "Registervakt: engångskod / one-time code",
        &body,
    )
    .await
}

/// [`CODE_DIGITS`] random decimal digits (the bias of a 64-bit modulus is below 2^-30).
pub(super) fn new_code() -> SecretString {
    let n = u64::from_le_bytes(crate::crypto::random_bytes::<8>());
    let modulus = 10u64.pow(CODE_DIGITS as u32);
    SecretString::from(format!("{:0width$}", n % modulus, width = CODE_DIGITS))
}

/// The one download: with the link and the right code, the CSV of the purpose's fields, made
/// from every authenticated chunk before it counts; the extract is shredded after it is sent,
/// and the processor is mailed a link to confirm deletion.
pub async fn download(
    state: &Context,
    token: &Token,
    code: &str,
    client_ip: &str,
    now: OffsetDateTime,
) -> Result<deliver::Download, Error> {
    let h = usable(state, token, now).await?;
    let id = ExtractId::parse(&h.extract_id)?;
    let code = code.trim();
    if code.is_empty() {
        return Err(refuse(state, Some(&h), Refusal::CodeRequired, now).await);
    }
    let row = state
        .store
        .find_extract(id.as_str())
        .await?
        .ok_or(Error::NotFound)?;
    if row.state != ExtractState::Live {
        return Err(lifecycle::unavailable(&row));
    }
    let request = Request::from_json(&row.request)?;
    agreement_holds(state, &h, &request, now).await?;
    let hash = code_hash(&h.extract_id, code);
    let right =
        h.code_hash.as_deref().is_some_and(|stored| {
            crate::crypto::constant_time_eq(stored.as_bytes(), hash.as_bytes())
        }) && h.code_expires_at.is_some_and(|t| t > now.unix_timestamp());
    if !right {
        return Err(wrong_code(state, &h, now).await);
    }
    let actor = processor_actor(&h.processor_id);
    let prepared = deliver::prepare_handover(state, &id, &row, &request, &actor, now).await?;
    let deletion = crate::crypto::random_token();
    let delete_by = now.unix_timestamp() + DELETION_DAYS * 86_400;
    let mut tx = state.store.begin().await?;
    let deletion_hash = Token::new(&deletion).hash("deletion");
    let now_s = now.unix_timestamp();
    if !rows::take_download(
        &mut tx,
        id.as_str(),
        &hash,
        &deletion_hash,
        delete_by,
        now_s,
    )
    .await?
    {
        tx.rollback().await?;
        // Another request took it first, or the code ran out meanwhile.
        let again = state.store.find_handover(id.as_str()).await?;
        let why = match again {
            Some(a) if a.downloaded_at.is_some() => Refusal::AlreadyDownloaded,
            _ => Refusal::WrongCode,
        };
        return Err(refuse(state, Some(&h), why, now).await);
    }
    if crate::store::extracts::take_download(&mut tx, id.as_str(), now_s)
        .await?
        .is_none()
    {
        tx.rollback().await?;
        return Err(Error::Gone("download_limit".into()));
    }
    let mut details = about(&h);
    details["rows"] = json!(row.row_count);
    details["ip"] = json!(client_ip);
    details["format"] = json!("csv");
    details["until"] = json!(delete_by);
    let event = Event::new(
        EventKind::HandoverReleased,
        actor,
        &format!("extract:{id}"),
        Outcome::Success,
        details,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let mail_state = state.clone();
    let (contact, name) = (h.contact.clone(), h.processor_name.clone());
    tokio::spawn(async move {
        let until = OffsetDateTime::from_unix_timestamp(delete_by)
            .map(|t| t.date().to_string())
            .unwrap_or_default();
        let body = format!(
            "{name}: bekräfta senast {until} att alla kopior av medlemslistan är raderade, med \
             länken nedan.\n{name}: confirm by {until} that every copy of the member list is \
             deleted, with the link below.\n\n{url}\n",
            url = link(&mail_state, "deleted/", &deletion),
        );
        if let Err(e) = send(
            &mail_state,
            &contact,
            "Registervakt: bekräfta radering / confirm deletion",
            &body,
        )
        .await
        {
            tracing::warn!(error = %e, "the deletion link could not be mailed to the processor");
        }
    });
    Ok(deliver::send_handover(state, &id, prepared))
}

/// Counts a wrong code (audited), locking the hand-over at [`MAX_CODE_FAILURES`].
async fn wrong_code(state: &Context, h: &HandoverRow, now: OffsetDateTime) -> Error {
    let counted = async {
        let mut tx = state.store.begin().await?;
        let failures = rows::count_code_failure(
            &mut tx,
            &h.extract_id,
            MAX_CODE_FAILURES,
            now.unix_timestamp(),
        )
        .await?;
        let target = format!("extract:{}", h.extract_id);
        let actor = processor_actor(&h.processor_id);
        let mut details = about(h);
        details["code"] = json!(Refusal::WrongCode.as_str());
        details["failures"] = json!(failures);
        let event = Event::new(
            EventKind::HandoverRefused,
            actor.clone(),
            &target,
            Outcome::Denied,
            details,
        );
        audit::record(&mut tx, &event, now).await?;
        let locked = failures >= MAX_CODE_FAILURES;
        if locked {
            let mut details = about(h);
            details["failures"] = json!(failures);
            let event = Event::new(
                EventKind::HandoverLocked,
                actor,
                &target,
                Outcome::Denied,
                details,
            );
            audit::record(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(locked)
    }
    .await;
    match counted {
        Ok(true) => Error::Handover(Refusal::Locked),
        Ok(false) => Error::Handover(Refusal::WrongCode),
        Err(e) => e,
    }
}
