//! What approvers and admins look at about other people's requests: the approver's queue,
//! unconfirmed deletions, and one extract's metadata.
//!
//! Guarantees: each look at someone else's activity is an audit event (`extract.queue`,
//! `extract.show`) recorded before the answer is returned (SECURITY_BAR E5); a requester
//! reading their own extract is not recorded (it reveals nobody else). Metadata only: nothing
//! here returns rows or member data, and the events carry ids and counts, never names.

use serde_json::json;
use time::OffsetDateTime;

use super::{Error, ExtractId, lifecycle, review};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::policy::Principal;
use crate::store::extracts::ExtractRow;

/// Pending requests `who` may decide (see [`review::queue`]), audited as `extract.queue`.
pub async fn queue(
    state: &Context,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Vec<ExtractRow>, Error> {
    let rows = review::queue(state, who).await?;
    record_queue(state, who, "pending", &rows, now).await?;
    Ok(rows)
}

/// Downloaded extracts whose copies are not confirmed deleted (see [`review::overdue`]),
/// audited as `extract.queue`.
pub async fn overdue(
    state: &Context,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Vec<ExtractRow>, Error> {
    let rows = review::overdue(state, who, now).await?;
    record_queue(state, who, "overdue", &rows, now).await?;
    Ok(rows)
}

async fn record_queue(
    state: &Context,
    who: &Principal,
    list: &str,
    rows: &[ExtractRow],
    now: OffsetDateTime,
) -> Result<(), Error> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let event = Event::new(
        EventKind::ExtractQueueShown,
        Actor::user(who.user_id()),
        &format!("extracts:{list}"),
        Outcome::Success,
        json!({ "count": rows.len(), "extracts": ids }),
    );
    audit::record_now(&state.store, &event, now).await?;
    Ok(())
}

/// The extract if `who` may see it ([`lifecycle::find_visible`]); a look by anyone but its
/// requester is audited as `extract.show` under the extract's target.
pub async fn show(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<ExtractRow, Error> {
    let row = lifecycle::find_visible(state, who, id).await?;
    if row.requester_id != who.user_id() {
        let event = Event::new(
            EventKind::ExtractShown,
            Actor::user(who.user_id()),
            &format!("extract:{id}"),
            Outcome::Success,
            json!({ "district": row.district, "state": row.state }),
        );
        audit::record_now(&state.store, &event, now).await?;
    }
    Ok(row)
}
