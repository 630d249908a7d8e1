//! The housekeeping pass of recertification: each role past its due date is recorded as
//! suspended once (`role.suspend`, and the holder's sessions end), and the holder and those who
//! may confirm are told `recertify_notice_days` ahead, once per due date (`role.due_notice`).
//!
//! Guarantees: safe on several brokers at once — each mark is a conditional UPDATE in the
//! transaction of its event and notices. The suspension itself never waits for this pass: the
//! store's reads of the roles in force already leave a role past its due date out.

use serde_json::json;
use time::OffsetDateTime;

use super::{Standing, confirmers_of, record, unix};
use crate::admin::Error;
use crate::audit::{Actor, EventKind};
use crate::config::RolesConfig;
use crate::nouns::RoleGrant;
use crate::store::Store;
use crate::store::roles::{self as rows, HoldingRow};

/// What one housekeeping pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub noticed: usize,
    pub suspended: usize,
}

/// The housekeeping pass: records each role past its due date as suspended (once per due
/// date; the holder's sessions end), and sends the advance notice for each role due within
/// `recertify_notice_days` (once per due date). Safe to run on several brokers at once: each
/// mark is a conditional UPDATE in the transaction of its event and notices.
pub async fn sweep(
    store: &Store,
    terms: &RolesConfig,
    now: OffsetDateTime,
) -> Result<Swept, Error> {
    let mut swept = Swept::default();
    for row in store.list_holdings().await? {
        let Ok(grant) = format!("{}:{}", row.role, row.district).parse::<RoleGrant>() else {
            continue;
        };
        match Standing::at(row.confirmed_at, terms, now) {
            Standing::Suspended if row.suspended_for != Some(row.confirmed_at) => {
                swept.suspended += usize::from(suspend(store, &row, &grant, terms, now).await?);
            }
            Standing::DueSoon if row.notice_for != Some(row.confirmed_at) => {
                swept.noticed += usize::from(tell(store, &row, &grant, terms, now).await?);
            }
            _ => {}
        }
    }
    Ok(swept)
}

async fn suspend(
    store: &Store,
    row: &HoldingRow,
    grant: &RoleGrant,
    terms: &RolesConfig,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let mut tx = store.begin().await?;
    if !rows::mark_suspended(&mut tx, row).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    // The role already gives nothing (read time); ending the sessions makes the frame, the
    // landing page and every open tab start again from the roles in force.
    rows::bump_auth_epoch(&mut tx, &row.user_id, unix(now)).await?;
    let due = row.confirmed_at.saturating_add(terms.term_secs());
    let details = json!({ "role": grant.to_string(), "due_at": due });
    record(
        &mut tx,
        EventKind::RoleSuspended,
        Actor::system(),
        &row.username,
        details,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

async fn tell(
    store: &Store,
    row: &HoldingRow,
    grant: &RoleGrant,
    terms: &RolesConfig,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    let (role, scope) = confirmers_of(grant);
    let confirmers: Vec<String> = store
        .list_role_holders(role.as_str(), scope)
        .await?
        .into_iter()
        .map(|r| r.id)
        .filter(|id| *id != row.user_id)
        .collect();
    let mut tx = store.begin().await?;
    if !rows::mark_notice_sent(&mut tx, row).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    crate::notify::leave(&mut tx, &row.user_id, ROLE_DUE, None, unix(now)).await?;
    for id in &confirmers {
        crate::notify::leave(&mut tx, id, ROLE_DUE_CONFIRM, None, unix(now)).await?;
    }
    let due = row.confirmed_at.saturating_add(terms.term_secs());
    let details =
        json!({ "role": grant.to_string(), "due_at": due, "confirmers": confirmers.len() });
    record(
        &mut tx,
        EventKind::RoleDueNoticed,
        Actor::system(),
        &row.username,
        details,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The notice kind the holder of a role due soon gets.
pub const ROLE_DUE: &str = "role_due";
/// The notice kind those who may confirm a role due soon get.
pub const ROLE_DUE_CONFIRM: &str = "role_due_confirm";
