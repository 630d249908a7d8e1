//! Granting and revoking roles of existing accounts.
//!
//! Guarantees (SECURITY_BAR C5, C7, C8):
//! - every grant an administrator makes — every role requests, approves, views or audits
//!   member data — waits for a second administrator: the first proposes, a different one
//!   whose permit reaches the role's district confirms, and only then does it happen;
//! - revoking takes data access away and applies at once, except an admin role, a party-wide
//!   role or a role of one's own, which a second administrator confirms too (so no admin can
//!   remove the others, or hand themselves a role by a revoke-and-regrant dance);
//! - the permit must reach the role's district (a party-wide role needs a party-wide permit);
//!   the user a change is about cannot confirm it;
//! - every applied change ends the user's sessions at once (auth epoch), so the very next
//!   request runs with the new roles; proposals, confirmations, rejections and changes are
//!   audit events in the change's transaction.
//!
//! The command line (`registervakt user grant|revoke`) acts as the operator of the machine,
//! who could change the database anyway: [`change_role_as_operator`] applies at once and is
//! audited as `cli:<user>`.

use serde_json::json;
use time::OffsetDateTime;

use super::{Error, second_person, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::nouns::{Role, RoleGrant, Scope, Username};
use crate::policy::{self, Permit};
use crate::register::Districts;
use crate::store::roles::RoleChangeRow;
use crate::store::{self, Store, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Grant,
    Revoke,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Grant => "grant",
            Change::Revoke => "revoke",
        }
    }

    pub fn parse(s: &str) -> Result<Change, crate::auth::Error> {
        match s {
            "grant" => Ok(Change::Grant),
            "revoke" => Ok(Change::Revoke),
            _ => Err(crate::auth::Error::BadInput(
                "change is \"grant\" or \"revoke\"".into(),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChangeOutcome {
    Applied,
    AwaitingSecondAdmin { request_id: String },
}

/// Whether an administrator's change waits for a second one: every grant, and revoking an
/// admin role, a party-wide role, or a role of one's own.
pub fn needs_second_admin(
    grant: &RoleGrant,
    change: Change,
    target_user_id: &str,
    admin_user_id: &str,
) -> bool {
    match change {
        Change::Grant => true,
        Change::Revoke => {
            admin_user_id == target_user_id
                || grant.role == Role::Admin
                || grant.scope == Scope::Party
        }
    }
}

/// Refuses a permit that is not for administering users or does not reach `grant`'s scope.
pub(super) fn check_reach(permit: &Permit, grant: &RoleGrant) -> Result<(), Error> {
    permit
        .check(policy::Action::UsersAdminister, &grant.scope)
        .map_err(|_| Error::NotPermitted)
}

async fn target(store: &Store, username: &str) -> Result<store::accounts::UserRow, Error> {
    let name = Username::parse(username)?;
    Ok(store
        .find_user_by_username(name.as_str())
        .await?
        .ok_or_else(|| crate::auth::Error::NoSuchUser(name.as_str().to_owned()))?)
}

/// Applies a change and audits it (in `tx`).
async fn apply(
    tx: &mut Tx,
    user: &store::accounts::UserRow,
    grant: &RoleGrant,
    change: Change,
    actor: Actor,
    proposed_by: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let (role, district) = (grant.role.as_str(), grant.scope.as_str());
    let changed = match change {
        Change::Grant => {
            store::roles::grant_role(tx, &user.id, role, district, actor.as_str(), unix(now))
                .await?
        }
        Change::Revoke => store::roles::revoke_role(tx, &user.id, role, district).await?,
    };
    store::roles::bump_auth_epoch(tx, &user.id, unix(now)).await?;
    let action = match change {
        Change::Grant => EventKind::RoleGranted,
        Change::Revoke => EventKind::RoleRevoked,
    };
    let details =
        json!({ "role": grant.to_string(), "changed": changed, "proposed_by": proposed_by });
    let event = Event::new(
        action,
        actor,
        &format!("user:{}", user.username),
        Outcome::Success,
        details,
    );
    audit::record(tx, &event, now).await?;
    Ok(())
}

/// The operator at the command line grants or revokes a role: at once, audited as `cli:…`.
pub async fn change_role_as_operator(
    store: &Store,
    districts: &Districts,
    username: &str,
    grant: RoleGrant,
    change: Change,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if change == Change::Grant {
        super::check_districts(districts, [&grant])?;
    }
    let user = target(store, username).await?;
    let mut tx = store.begin().await?;
    apply(&mut tx, &user, &grant, change, Actor::cli(), None, now).await?;
    tx.commit().await?;
    Ok(())
}

/// An administrator grants or revokes a role: applied at once only for a revoke that
/// [`needs_second_admin`] lets through, else filed for a second administrator.
pub async fn change_role(
    store: &Store,
    permit: &Permit,
    districts: &Districts,
    username: &str,
    grant: RoleGrant,
    change: Change,
    now: OffsetDateTime,
) -> Result<RoleChangeOutcome, Error> {
    check_reach(permit, &grant)?;
    if change == Change::Grant {
        super::check_districts(districts, [&grant])?;
    }
    let user = target(store, username).await?;
    let actor = Actor::user(permit.user_id());
    let mut tx = store.begin().await?;
    if !needs_second_admin(&grant, change, &user.id, permit.user_id()) {
        apply(&mut tx, &user, &grant, change, actor, None, now).await?;
        tx.commit().await?;
        return Ok(RoleChangeOutcome::Applied);
    }
    let request_id = file_proposal(&mut tx, &user, &grant, change, actor, now).await?;
    tx.commit().await?;
    Ok(RoleChangeOutcome::AwaitingSecondAdmin { request_id })
}

/// Files a change for a second administrator and audits the proposal (in `tx`).
async fn file_proposal(
    tx: &mut Tx,
    user: &store::accounts::UserRow,
    grant: &RoleGrant,
    change: Change,
    actor: Actor,
    now: OffsetDateTime,
) -> Result<String, Error> {
    let row = RoleChangeRow {
        id: crate::crypto::random_id128(),
        user_id: user.id.clone(),
        change: change.as_str().to_owned(),
        role: grant.role.as_str().to_owned(),
        district: grant.scope.as_str().to_owned(),
        requested_by: actor.as_str().to_owned(),
        requested_at: unix(now),
    };
    store::roles::insert_role_change(tx, &row).await?;
    let details =
        json!({ "request_id": row.id, "change": change.as_str(), "role": grant.to_string() });
    let event = Event::new(
        EventKind::RoleChangeRequested,
        actor,
        &format!("user:{}", user.username),
        Outcome::Success,
        details,
    );
    audit::record(tx, &event, now).await?;
    Ok(row.id)
}

/// A revoke by `remover` under the same rules as [`change_role`] (in `tx`): applied at once
/// when [`needs_second_admin`] lets it through, else filed for a second administrator. The
/// caller has checked that the remover may act on `grant` (recertification).
pub(super) async fn revoke_in(
    tx: &mut Tx,
    user: &store::accounts::UserRow,
    grant: &RoleGrant,
    remover_id: &str,
    now: OffsetDateTime,
) -> Result<RoleChangeOutcome, Error> {
    let actor = Actor::user(remover_id);
    if needs_second_admin(grant, Change::Revoke, &user.id, remover_id) {
        let request_id = file_proposal(tx, user, grant, Change::Revoke, actor, now).await?;
        return Ok(RoleChangeOutcome::AwaitingSecondAdmin { request_id });
    }
    apply(tx, user, grant, Change::Revoke, actor, None, now).await?;
    Ok(RoleChangeOutcome::Applied)
}

/// The pending change `id` as the permit's holder may decide it: their permit reaches its
/// role's district. Anything else is "no such pending change".
async fn pending_within_reach(
    store: &Store,
    permit: &Permit,
    id: &str,
) -> Result<(RoleChangeRow, RoleGrant, Change), Error> {
    let pending = store
        .find_pending_role_change(id)
        .await?
        .ok_or(Error::NoSuchProposal)?;
    let grant: RoleGrant = format!("{}:{}", pending.role, pending.district).parse()?;
    let change = Change::parse(&pending.change)?;
    check_reach(permit, &grant).map_err(|_| Error::NoSuchProposal)?;
    Ok((pending, grant, change))
}

/// A second administrator confirms a pending change. The proposer, and the user the change
/// is about, cannot confirm it; the confirmer's permit must reach the role's district.
pub async fn confirm_role_change(
    store: &Store,
    permit: &Permit,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let (pending, grant, change) = pending_within_reach(store, permit, id).await?;
    second_person(permit, &pending.requested_by)?;
    if pending.user_id == permit.user_id() {
        return Err(Error::SecondAdminRequired);
    }
    let user = store
        .find_user_by_id(&pending.user_id)
        .await?
        .ok_or(Error::NoSuchProposal)?;
    let actor = Actor::user(permit.user_id());
    let mut tx = store.begin().await?;
    if store::roles::decide_role_change(&mut tx, id, actor.as_str(), "applied", unix(now))
        .await?
        .is_none()
    {
        // Decided by someone else meanwhile: it is no longer a pending change.
        tx.rollback().await?;
        return Err(Error::NoSuchProposal);
    }
    let proposer = pending.requested_by.as_str();
    apply(&mut tx, &user, &grant, change, actor, Some(proposer), now).await?;
    tx.commit().await?;
    Ok(())
}

/// An administrator turns a pending change down (the proposer may withdraw their own).
/// Nothing changes but the proposal, which is closed and audited.
pub async fn reject_role_change(
    store: &Store,
    permit: &Permit,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let (pending, grant, change) = pending_within_reach(store, permit, id).await?;
    let username = store
        .find_user_by_id(&pending.user_id)
        .await?
        .map_or_else(|| pending.user_id.clone(), |u| u.username);
    let actor = Actor::user(permit.user_id());
    let mut tx = store.begin().await?;
    if store::roles::decide_role_change(&mut tx, id, actor.as_str(), "rejected", unix(now))
        .await?
        .is_none()
    {
        tx.rollback().await?;
        return Err(Error::NoSuchProposal);
    }
    let details = json!({ "request_id": id, "change": change.as_str(), "role": grant.to_string(),
        "proposed_by": pending.requested_by });
    let event = Event::new(
        EventKind::RoleChangeRejected,
        actor,
        &format!("user:{username}"),
        Outcome::Success,
        details,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The role changes waiting for a second admin that `permit` reaches, audited as `user.list`.
pub async fn pending_role_changes(
    store: &Store,
    permit: &Permit,
    now: OffsetDateTime,
) -> Result<Vec<RoleChangeRow>, Error> {
    let rows: Vec<RoleChangeRow> = store
        .list_pending_role_changes()
        .await?
        .into_iter()
        .filter(|r| {
            format!("{}:{}", r.role, r.district)
                .parse::<RoleGrant>()
                .is_ok_and(|g| check_reach(permit, &g).is_ok())
        })
        .collect();
    super::users::record_listing(store, permit, "role_changes", rows.len(), now).await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(s: &str) -> RoleGrant {
        s.parse().unwrap()
    }

    #[test]
    fn every_grant_waits_for_a_second_admin_and_only_harmless_revokes_apply_at_once() {
        for role in [
            "staff:Uppsala",
            "approver:Uppsala",
            "auditor:Uppsala",
            "admin:Uppsala",
        ] {
            assert!(
                needs_second_admin(&grant(role), Change::Grant, "u", "a"),
                "{role}"
            );
        }
        assert!(!needs_second_admin(
            &grant("staff:Uppsala"),
            Change::Revoke,
            "u",
            "a"
        ));
        assert!(!needs_second_admin(
            &grant("approver:Skåne"),
            Change::Revoke,
            "u",
            "a"
        ));
        assert!(needs_second_admin(
            &grant("admin:Uppsala"),
            Change::Revoke,
            "u",
            "a"
        ));
        assert!(needs_second_admin(
            &grant("auditor:*"),
            Change::Revoke,
            "u",
            "a"
        ));
        assert!(needs_second_admin(
            &grant("staff:Uppsala"),
            Change::Revoke,
            "a",
            "a"
        ));
    }
}
