//! Granting and revoking roles.
//!
//! Guarantees (BRIEF "Who uses it"; SECURITY_BAR C5, C7):
//! - granting or revoking `admin`, any party-wide (`*`) role, or any role of one's own needs a
//!   second administrator: the first proposes, a different one confirms, and only then does
//!   the change happen — so no admin can give themselves data access alone;
//! - every applied change ends the user's sessions at once (auth epoch), so the very next
//!   request runs with the new roles;
//! - proposals, confirmations and changes are audit events in the change's transaction.
//!
//! The command line (`registervakt user grant|revoke`) acts as the operator of the machine,
//! who could change the database anyway: it applies at once and is audited as `cli:<user>`.

use serde_json::json;
use time::OffsetDateTime;

use super::{Error, RoleGrant, Username, unix};
use crate::audit::{self, Action, Actor, Event, Outcome};
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

    pub fn parse(s: &str) -> Result<Change, Error> {
        match s {
            "grant" => Ok(Change::Grant),
            "revoke" => Ok(Change::Revoke),
            _ => Err(Error::BadInput("change is \"grant\" or \"revoke\"".into())),
        }
    }
}

/// Who asks for a change.
#[derive(Debug, Clone)]
pub enum Requester {
    /// The operator at the command line.
    Operator,
    /// A signed-in administrator, by user id.
    Admin(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChangeOutcome {
    Applied,
    AwaitingSecondAdmin { request_id: String },
}

/// Whether a change needs a second administrator's confirmation.
pub fn needs_second_admin(grant: &RoleGrant, target_user_id: &str, requester: &Requester) -> bool {
    match requester {
        Requester::Operator => false,
        Requester::Admin(id) => {
            id == target_user_id
                || grant.role == super::Role::Admin
                || grant.scope == super::Scope::Party
        }
    }
}

/// The roles one administrator may give a new user alone: district roles other than admin.
/// Admin and party-wide roles are granted afterwards by a role change, which a second
/// administrator confirms — else an admin could create a puppet account with party-wide
/// access. The operator at the command line (who bootstraps the first admin) is not limited.
pub fn check_new_user_roles(requester: &Requester, roles: &[RoleGrant]) -> Result<(), Error> {
    let alone = |g: &RoleGrant| g.role != super::Role::Admin && g.scope != super::Scope::Party;
    match requester {
        Requester::Operator => Ok(()),
        Requester::Admin(_) if roles.iter().all(alone) => Ok(()),
        Requester::Admin(_) => Err(Error::SecondAdminRequired),
    }
}

async fn target(store: &Store, username: &str) -> Result<store::accounts::UserRow, Error> {
    let name = Username::parse(username)?;
    store
        .find_user_by_username(name.as_str())
        .await?
        .ok_or_else(|| Error::NoSuchUser(name.as_str().to_owned()))
}

fn actor_of(requester: &Requester) -> Actor {
    match requester {
        Requester::Operator => Actor::cli(),
        Requester::Admin(id) => Actor::user(id),
    }
}

/// Applies a change and audits it (in `tx`).
async fn apply(
    tx: &mut Tx,
    user: &store::accounts::UserRow,
    grant: &RoleGrant,
    change: Change,
    actor: Actor,
    confirmed_by: Option<&str>,
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
        Change::Grant => Action::RoleGranted,
        Change::Revoke => Action::RoleRevoked,
    };
    let details =
        json!({ "role": grant.to_string(), "changed": changed, "confirmed_by": confirmed_by });
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

/// Grants or revokes a role, or files it for a second admin when the rules say so.
pub async fn change_role(
    store: &Store,
    requester: Requester,
    username: &str,
    grant: RoleGrant,
    change: Change,
    now: OffsetDateTime,
) -> Result<RoleChangeOutcome, Error> {
    let user = target(store, username).await?;
    let actor = actor_of(&requester);
    let mut tx = store.begin().await?;
    if !needs_second_admin(&grant, &user.id, &requester) {
        apply(&mut tx, &user, &grant, change, actor, None, now).await?;
        tx.commit().await?;
        return Ok(RoleChangeOutcome::Applied);
    }
    let row = RoleChangeRow {
        id: crate::crypto::random_id128(),
        user_id: user.id.clone(),
        change: change.as_str().to_owned(),
        role: grant.role.as_str().to_owned(),
        district: grant.scope.as_str().to_owned(),
        requested_by: actor.as_str().to_owned(),
        requested_at: unix(now),
    };
    store::roles::insert_role_change(&mut tx, &row).await?;
    let details =
        json!({ "request_id": row.id, "change": change.as_str(), "role": grant.to_string() });
    let event = Event::new(
        Action::RoleChangeRequested,
        actor,
        &format!("user:{}", user.username),
        Outcome::Success,
        details,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(RoleChangeOutcome::AwaitingSecondAdmin { request_id: row.id })
}

/// A second administrator confirms a pending change. The proposer, and the user the change
/// is about, cannot confirm it.
pub async fn confirm_role_change(
    store: &Store,
    admin_user_id: &str,
    request_id: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let pending = store
        .find_pending_role_change(request_id)
        .await?
        .ok_or(Error::NoSuchRoleChange)?;
    let actor = Actor::user(admin_user_id);
    if pending.requested_by == actor.as_str() || pending.user_id == admin_user_id {
        return Err(Error::SecondAdminRequired);
    }
    let user = store
        .find_user_by_id(&pending.user_id)
        .await?
        .ok_or_else(|| Error::BadInput("the user of this role change no longer exists".into()))?;
    let grant: RoleGrant = format!("{}:{}", pending.role, pending.district).parse()?;
    let change = Change::parse(&pending.change)?;
    let mut tx = store.begin().await?;
    if store::roles::decide_role_change(&mut tx, request_id, actor.as_str(), "applied", unix(now))
        .await?
        .is_none()
    {
        // Decided by someone else meanwhile: it is no longer a pending change.
        tx.rollback().await?;
        return Err(Error::NoSuchRoleChange);
    }
    apply(
        &mut tx,
        &user,
        &grant,
        change,
        actor,
        Some(admin_user_id),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
