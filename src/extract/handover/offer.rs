//! Offering a live extract to its processor: the link's hash is stored and the link mailed —
//! never data. An agreement ended since the approval shreds the extract instead (audited).

use serde_json::json;
use time::OffsetDateTime;

use super::{LINK_HOURS, Token, check, link, refused, send};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::request::Request;
use crate::extract::{Error, ExtractId, ShredReason, expire, lifecycle};
use crate::policy::DenyCode;
use crate::store::handovers::{self as rows, NewHandover};

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
        Some(p) => check(&policy, p, request.processor.as_ref(), now),
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
    let body = format!(
        "Hej!\n\n{party} lämnar över en medlemslista till {name} för ändamålet \"{purpose_sv}\" \
         enligt personuppgiftsbiträdesavtal {agreement}.\n\
         Öppna länken, begär en engångskod (den skickas till den här adressen) och hämta listan. \
         Listan kan hämtas en gång.\n\n\
         Hello,\n\n{party} hands a member list over to {name} for the purpose \"{purpose_en}\" \
         under data-processing agreement {agreement}.\n\
         Open the link, ask for a one-time code (it is sent to this address) and download the \
         list. It can be downloaded once.\n\n{url}\n",
        party = "Registervakt",
        name = processor.name,
        purpose_sv = purpose.name_sv,
        purpose_en = purpose.name_en,
        agreement = processor.agreement_ref,
        url = link(state, "", &token),
    );
    send(
        state,
        &processor.contact,
        "Registervakt: medlemslista att hämta / member list to collect",
        &body,
    )
    .await
}
