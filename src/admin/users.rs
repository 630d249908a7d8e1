//! Accounts as administrators keep them: proposing a new account, confirming or rejecting a
//! proposal, disabling, enabling, resetting a second factor, and reading the lists.
//!
//! Guarantees (SECURITY_BAR C8):
//! - a new account exists only once a second administrator confirms it: the proposal holds
//!   the username, display name, roles and notice address; confirmation makes the account, its
//!   roles and its invitation in one transaction;
//! - the invitation never goes back to the proposer: it is e-mailed to the new user's address
//!   when `[smtp]` is set and the proposal has one, else it is handed once to the confirming
//!   administrator ([`Invitation`]), who is not the proposer;
//! - every act takes a `users administer` [`Permit`] that must reach every role involved (a
//!   district administrator cannot touch a party-wide role holder);
//! - every proposal, confirmation, rejection and list read is an audit event.

use serde_json::json;
use time::OffsetDateTime;

use super::roles::check_reach;
use super::{Error, second_person, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::auth::accounts::{self, Invitation, NewUser, check_display_name, check_email};
use crate::notify::mail::Mailer;
use crate::nouns::{RoleGrant, Username};
use crate::policy::Permit;
use crate::register::Districts;
use crate::store::proposals::{self, UserProposalRow};
use crate::store::{Store, accounts::RoleRow, accounts::UserRow};

/// A proposal filed for a second administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    pub id: String,
}

/// An account proposed by `requested_by`, as the lists show it.
#[derive(Debug, Clone)]
pub struct PendingUser {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<RoleGrant>,
    pub requested_by: String,
    pub requested_at: i64,
}

/// A confirmed account and how its invitation reaches its owner.
pub struct Confirmed {
    pub username: String,
    pub delivery: Delivery,
}

/// How the invitation of a confirmed account reaches its owner.
pub enum Delivery {
    /// E-mailed to the new user's address (not shown to anyone).
    Mailed,
    /// Shown once to the confirming administrator, who hands it over.
    ToConfirmer(Invitation),
}

/// Files a new account for a second administrator. Nothing can sign in until it is confirmed.
pub async fn propose_user(
    store: &Store,
    permit: &Permit,
    districts: &Districts,
    new: NewUser,
    now: OffsetDateTime,
) -> Result<Proposed, Error> {
    for grant in &new.roles {
        check_reach(permit, grant)?;
    }
    super::check_districts(districts, &new.roles)?;
    let display_name = check_display_name(&new.display_name)?;
    if let Some(address) = &new.email {
        check_email(address)?;
    }
    accounts::check_username_free(store, new.username.as_str()).await?;
    let actor = Actor::user(permit.user_id());
    let roles: Vec<String> = new.roles.iter().map(ToString::to_string).collect();
    let row = UserProposalRow {
        id: crate::crypto::random_id128(),
        username: new.username.as_str().to_owned(),
        display_name,
        email: new.email.clone(),
        roles: roles.join("\n"),
        requested_by: actor.as_str().to_owned(),
        requested_at: unix(now),
        oidc_provider: new.oidc_provider.clone(),
    };
    let mut tx = store.begin().await?;
    if proposals::user_proposal_pending(&mut tx, &row.username).await? {
        tx.rollback().await?;
        return Err(crate::auth::Error::UserExists(row.username).into());
    }
    proposals::insert_user_proposal(&mut tx, &row).await?;
    let event = Event::new(
        EventKind::UserProposed,
        actor,
        &format!("user:{}", row.username),
        Outcome::Success,
        json!({ "proposal_id": row.id, "roles": roles, "email": row.email.is_some() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Proposed { id: row.id })
}

/// The roles a proposal asks for.
fn roles_of(row: &UserProposalRow) -> Result<Vec<RoleGrant>, Error> {
    Ok(row
        .roles
        .lines()
        .map(str::parse)
        .collect::<Result<Vec<RoleGrant>, _>>()?)
}

/// The pending proposal `id` if `permit` reaches all its roles; else "no such proposal".
async fn pending_within_reach(
    store: &Store,
    permit: &Permit,
    id: &str,
) -> Result<(UserProposalRow, Vec<RoleGrant>), Error> {
    let row = store
        .find_pending_user_proposal(id)
        .await?
        .ok_or(Error::NoSuchProposal)?;
    let roles = roles_of(&row)?;
    if roles.iter().any(|g| check_reach(permit, g).is_err()) {
        return Err(Error::NoSuchProposal);
    }
    Ok((row, roles))
}

/// A second administrator confirms a proposed account: it is made with its roles and an
/// invitation, which is e-mailed to the new user when `mailer` is set and the proposal has an
/// address, else handed to the confirming administrator.
pub async fn confirm_user(
    store: &Store,
    permit: &Permit,
    id: &str,
    invitation_ttl_secs: i64,
    mailer: Option<&Mailer>,
    public_url: &str,
    now: OffsetDateTime,
) -> Result<Confirmed, Error> {
    let (row, roles) = pending_within_reach(store, permit, id).await?;
    second_person(permit, &row.requested_by)?;
    accounts::check_username_free(store, &row.username).await?;
    let new = NewUser {
        username: Username::parse(&row.username)?,
        display_name: row.display_name.clone(),
        roles,
        email: row.email.clone(),
        oidc_provider: row.oidc_provider.clone(),
    };
    let by_mail = mailer.is_some() && row.email.is_some();
    let actor = Actor::user(permit.user_id());
    let mut tx = store.begin().await?;
    let decided =
        proposals::decide_user_proposal(&mut tx, id, actor.as_str(), "applied", unix(now)).await?;
    if decided.is_none() {
        tx.rollback().await?;
        return Err(Error::NoSuchProposal);
    }
    let details = json!({
        "proposal_id": id, "proposed_by": row.requested_by,
        "invitation_to": if by_mail { "email" } else { "confirming_admin" },
    });
    let invitation =
        accounts::insert_account(&mut tx, actor, &new, invitation_ttl_secs, details, now).await?;
    proposals::link_user_proposal(&mut tx, id, &invitation.user_id).await?;
    tx.commit().await?;
    let delivery = match (mailer, &row.email) {
        (Some(mailer), Some(to)) => {
            let link = invitation.link(public_url);
            match mailer
                .send(to, INVITATION_SUBJECT, &invitation_body(&link))
                .await
            {
                Ok(()) => Delivery::Mailed,
                Err(e) => {
                    // The account exists; the confirmer hands the link over instead.
                    tracing::warn!(error = %e, "the invitation could not be e-mailed");
                    Delivery::ToConfirmer(invitation)
                }
            }
        }
        _ => Delivery::ToConfirmer(invitation),
    };
    Ok(Confirmed {
        username: row.username,
        delivery,
    })
}

const INVITATION_SUBJECT: &str = "Inbjudan till Registervakt / Invitation to Registervakt";

/// The invitation mail: a fixed text and the one-time link, nothing about members.
fn invitation_body(link: &str) -> String {
    format!(
        "Du har fått ett konto i Registervakt. Välj ditt lösenord här (länken fungerar en gång):\n\
         {link}\n\n\
         You have an account in Registervakt. Choose your password here (the link works once):\n\
         {link}\n"
    )
}

/// Sends an invited user a fresh invitation by e-mail, ending the ones they had: for a link
/// that expired or was lost. Only by e-mail to the account's own address — an administrator
/// who saw the link could sign in as the user, and the account's four eyes would be one.
/// Audited as `user.invitation_resend`.
#[allow(clippy::too_many_arguments)]
pub async fn resend_invitation(
    store: &Store,
    permit: &Permit,
    mailer: Option<&Mailer>,
    username: &str,
    invitation_ttl_secs: i64,
    public_url: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let user = within_reach(store, permit, username).await?;
    if user.status != "invited" {
        return Err(Error::NotInvited);
    }
    let Some(mailer) = mailer else {
        return Err(Error::CannotResendInvitation);
    };
    let mut tx = store.begin().await?;
    let Some(to) = crate::store::accounts::email_of(&mut tx, &user.id).await? else {
        tx.rollback().await?;
        return Err(Error::CannotResendInvitation);
    };
    let ended = crate::store::accounts::end_invitations(&mut tx, &user.id, unix(now)).await?;
    let invitation = accounts::new_invitation(&mut tx, &user.id, invitation_ttl_secs, now).await?;
    let event = Event::new(
        EventKind::InvitationResent,
        Actor::user(permit.user_id()),
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "ended": ended, "invitation_expires_at": invitation.expires_at, "to": "email" }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let link = invitation.link(public_url);
    // Sent after the commit: a link that was never recorded must not reach anyone. A mail that
    // fails leaves a recorded, unusable-to-anyone-else invitation; the admin is told.
    mailer
        .send(&to, INVITATION_SUBJECT, &invitation_body(&link))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the new invitation could not be e-mailed");
            Error::CannotResendInvitation
        })
}

/// An administrator turns a proposed account down (the proposer may withdraw their own).
pub async fn reject_user(
    store: &Store,
    permit: &Permit,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let (row, _) = pending_within_reach(store, permit, id).await?;
    let actor = Actor::user(permit.user_id());
    let mut tx = store.begin().await?;
    let decided =
        proposals::decide_user_proposal(&mut tx, id, actor.as_str(), "rejected", unix(now)).await?;
    if decided.is_none() {
        tx.rollback().await?;
        return Err(Error::NoSuchProposal);
    }
    let event = Event::new(
        EventKind::UserProposalRejected,
        actor,
        &format!("user:{}", row.username),
        Outcome::Success,
        json!({ "proposal_id": id, "proposed_by": row.requested_by }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The account `username` if `permit` reaches every role it holds.
async fn within_reach(store: &Store, permit: &Permit, username: &str) -> Result<UserRow, Error> {
    let name = Username::parse(username)?;
    let user = store
        .find_user_by_username(name.as_str())
        .await?
        .ok_or_else(|| crate::auth::Error::NoSuchUser(name.as_str().to_owned()))?;
    for role in store.list_stored_roles(&user.id).await? {
        let grant: RoleGrant = format!("{}:{}", role.role, role.district).parse()?;
        check_reach(permit, &grant)?;
    }
    Ok(user)
}

/// Disables or re-enables an account; disabling ends its sessions at once (C7).
pub async fn set_enabled(
    store: &Store,
    permit: &Permit,
    username: &str,
    enabled: bool,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let user = within_reach(store, permit, username).await?;
    let actor = Actor::user(permit.user_id());
    accounts::set_enabled(store, actor, &user.username, enabled, now).await?;
    Ok(())
}

/// Removes an account's second factor; its owner enrols again at the next sign-in.
pub async fn reset_second_factor(
    store: &Store,
    permit: &Permit,
    username: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let user = within_reach(store, permit, username).await?;
    let actor = Actor::user(permit.user_id());
    accounts::reset_second_factor(store, actor, &user.username, now).await?;
    Ok(())
}

/// The accounts an administrator reads (API, admin page), audited as `user.list`: who looked
/// at everyone's accounts and roles is evidence too (SECURITY_BAR E5).
pub async fn list_users(
    store: &Store,
    permit: &Permit,
    now: OffsetDateTime,
) -> Result<Vec<(UserRow, Vec<RoleRow>)>, Error> {
    let users = accounts::list(store).await?;
    record_listing(store, permit, "users", users.len(), now).await?;
    Ok(users)
}

/// The proposed accounts `permit` reaches, audited as `user.list`.
pub async fn pending_users(
    store: &Store,
    permit: &Permit,
    now: OffsetDateTime,
) -> Result<Vec<PendingUser>, Error> {
    let mut out = Vec::new();
    for row in store.list_pending_user_proposals().await? {
        let Ok(roles) = roles_of(&row) else { continue };
        if roles.iter().all(|g| check_reach(permit, g).is_ok()) {
            out.push(PendingUser {
                id: row.id,
                username: row.username,
                display_name: row.display_name,
                roles,
                requested_by: row.requested_by,
                requested_at: row.requested_at,
            });
        }
    }
    record_listing(store, permit, "user_proposals", out.len(), now).await?;
    Ok(out)
}

pub(super) async fn record_listing(
    store: &Store,
    permit: &Permit,
    what: &str,
    count: usize,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let event = Event::new(
        EventKind::UsersListed,
        Actor::user(permit.user_id()),
        what,
        Outcome::Success,
        json!({ "count": count }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(())
}
