//! The processor confirms that every copy is deleted, through the link of the third mail; the
//! confirmation closes the `processor_deletion_overdue` follow-up flag and is made once.

use serde_json::json;
use time::OffsetDateTime;

use super::{Refusal, Token, about, processor_actor, refuse};
use crate::audit::{self, Event, EventKind, Outcome};
use crate::context::Context;
use crate::extract::Error;
use crate::store::handovers::{self as rows, HandoverRow};

/// Whether the deletion link is one that may still be used; audited when not.
pub async fn look_deletion(
    state: &Context,
    token: &Token,
    now: OffsetDateTime,
) -> Result<HandoverRow, Error> {
    let found = state
        .store
        .find_handover_by_deletion(&token.hash("deletion"))
        .await?;
    match found {
        None => Err(refuse(state, None, Refusal::UnknownLink, now).await),
        Some(h) if h.deletion_confirmed_at.is_some() => {
            Err(refuse(state, Some(&h), Refusal::AlreadyConfirmed, now).await)
        }
        Some(h) => Ok(h),
    }
}

/// The processor confirms that every copy is deleted: closes the follow-up flag.
pub async fn confirm_deletion(
    state: &Context,
    token: &Token,
    now: OffsetDateTime,
) -> Result<HandoverRow, Error> {
    let h = look_deletion(state, token, now).await?;
    let mut tx = state.store.begin().await?;
    if !rows::confirm_deletion(&mut tx, &h.extract_id, now.unix_timestamp()).await? {
        tx.rollback().await?;
        return Err(refuse(state, Some(&h), Refusal::AlreadyConfirmed, now).await);
    }
    let mut details = about(&h);
    details["late"] = json!(h.delete_by.is_some_and(|t| t < now.unix_timestamp()));
    let event = Event::new(
        EventKind::HandoverDeletionConfirmed,
        processor_actor(&h.processor_id),
        &format!("extract:{}", h.extract_id),
        Outcome::Success,
        details,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(h)
}
