//! Accounts: an admin creates a user with roles and a one-time invitation; the user sets a
//! password through it and must then enrol TOTP. Disabling a user or resetting their second
//! factor ends all their sessions at once (the auth epoch moves on).
//!
//! Guarantees: invitation tokens are 256-bit random, stored as SHA-256 hashes, expire, and
//! are taken once; every change here is an audit event in the same transaction.

use crate::nouns::{RoleGrant, Username};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use super::{Error, password, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::crypto;
use crate::store::{self, Store, accounts::RoleRow, accounts::UserRow};

/// What an admin asks for.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub display_name: String,
    pub roles: Vec<RoleGrant>,
    /// Where notices (and, when proposed in the web, the invitation) are e-mailed.
    pub email: Option<String>,
    /// The identity provider (its id in the configuration) the account signs in through, with
    /// no password of its own; `None`: password and second factor.
    pub oidc_provider: Option<String>,
}

/// A fresh invitation: the token is shown once (in the link) and never stored.
pub struct Invitation {
    pub user_id: String,
    pub token: SecretString,
    pub expires_at: i64,
}

impl Invitation {
    pub fn link(&self, public_url: &str) -> String {
        format!(
            "{}/invite/{}",
            public_url.trim_end_matches('/'),
            self.token.expose_secret()
        )
    }
}

/// A display name: one line of 1–100 characters ([`crate::text`]).
pub const DISPLAY_NAME: crate::text::Rule = crate::text::Rule::one_line(1, 100);

/// The display name trimmed, if [`DISPLAY_NAME`] takes it.
pub fn check_display_name(name: &str) -> Result<String, Error> {
    DISPLAY_NAME
        .check(name)
        .map(str::to_owned)
        .map_err(|e| Error::BadInput(format!("a display name {e}")))
}

/// The operator at the command line (or the demo) creates an account at once, with its roles
/// and an invitation, audited as `user.create`. Administrators in the web propose accounts
/// instead (`admin::users`), and a second administrator confirms them.
pub async fn create_user(
    store: &Store,
    actor: Actor,
    new: NewUser,
    ttl_secs: i64,
    now: OffsetDateTime,
) -> Result<Invitation, Error> {
    check_username_free(store, new.username.as_str()).await?;
    let mut tx = store.begin().await?;
    let invitation = insert_account(&mut tx, actor, &new, ttl_secs, json!({}), now).await?;
    tx.commit().await?;
    Ok(invitation)
}

/// Refuses a username that an account already has.
pub async fn check_username_free(store: &Store, username: &str) -> Result<(), Error> {
    if store.find_user_by_username(username).await?.is_some() {
        return Err(Error::UserExists(username.to_owned()));
    }
    Ok(())
}

/// Makes the account, its roles, its notice address and its invitation in `tx`, and records
/// `user.create` with `details` added. The caller has checked who may.
pub(crate) async fn insert_account(
    tx: &mut store::Tx,
    actor: Actor,
    new: &NewUser,
    ttl_secs: i64,
    mut details: serde_json::Value,
    now: OffsetDateTime,
) -> Result<Invitation, Error> {
    let display_name = check_display_name(&new.display_name)?;
    if let Some(address) = &new.email {
        check_email(address)?;
    }
    let id = crypto::random_id128();
    let token = crypto::random_token();
    let expires_at = unix(now) + ttl_secs;
    let granted_by = actor.as_str().to_owned();
    let t = unix(now);
    store::accounts::insert_user(tx, &id, new.username.as_str(), &display_name, t).await?;
    for grant in &new.roles {
        let (role, district) = (grant.role.as_str(), grant.scope.as_str());
        store::roles::grant_role(tx, &id, role, district, &granted_by, t).await?;
    }
    if let Some(address) = &new.email {
        store::accounts::set_email(tx, &id, Some(address), t).await?;
    }
    if let Some(provider) = &new.oidc_provider {
        store::accounts::set_oidc_provider(tx, &id, provider, t).await?;
    }
    let token_hash = crypto::sha256_hex(token.as_bytes());
    store::accounts::insert_invitation(tx, &token_hash, &id, expires_at).await?;
    let roles: Vec<String> = new.roles.iter().map(ToString::to_string).collect();
    if let Some(map) = details.as_object_mut() {
        map.insert("user_id".into(), json!(id));
        map.insert("roles".into(), json!(roles));
        map.insert("invitation_expires_at".into(), json!(expires_at));
        if let Some(provider) = &new.oidc_provider {
            map.insert("signs_in_with".into(), json!(provider));
        }
    }
    let event = Event::new(
        EventKind::UserCreated,
        actor,
        &format!("user:{}", new.username.as_str()),
        Outcome::Success,
        details,
    );
    audit::record(tx, &event, now).await?;
    Ok(Invitation {
        user_id: id,
        token: SecretString::from(token),
        expires_at,
    })
}

/// A fresh invitation for an existing account, stored (as its hash) in `tx`: the token is
/// shown once, in the link the caller sends.
pub async fn new_invitation(
    tx: &mut store::Tx,
    user_id: &str,
    ttl_secs: i64,
    now: OffsetDateTime,
) -> Result<Invitation, Error> {
    let token = crypto::random_token();
    let expires_at = unix(now) + ttl_secs;
    let token_hash = crypto::sha256_hex(token.as_bytes());
    store::accounts::insert_invitation(tx, &token_hash, user_id, expires_at).await?;
    Ok(Invitation {
        user_id: user_id.to_owned(),
        token: SecretString::from(token),
        expires_at,
    })
}

/// Sets the password of an invited user. The invitation is used up only if the password is
/// acceptable, so a rejected password can be retried with the same link.
pub async fn accept_invitation(
    store: &Store,
    token: &str,
    new_password: &SecretString,
    now: OffsetDateTime,
) -> Result<UserRow, Error> {
    let token_hash = crypto::sha256_hex(token.as_bytes());
    let user = invited_user(store, &token_hash, now).await?;
    if user.oidc_provider.is_some() {
        // An account made for an identity provider never gets a password (a second way in).
        return Err(Error::BadInput(
            "this account signs in through the identity provider; accept the invitation with its button".into(),
        ));
    }
    password::check_policy(
        new_password.expose_secret(),
        &[&user.username, &user.display_name],
    )
    .map_err(Error::Password)?;
    let phc = password::hash(new_password)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut tx = store.begin().await?;
    if store::accounts::take_invitation(&mut tx, &token_hash, unix(now))
        .await?
        .is_none()
    {
        tx.rollback().await?;
        return Err(Error::InvalidInvitation);
    }
    store::accounts::set_password(&mut tx, &user.id, &phc, unix(now)).await?;
    let event = Event::new(
        EventKind::InvitationAccepted,
        Actor::user(&user.id),
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({}),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(user)
}

/// The identity provider through which the invited account signs in, or `None` for an
/// account with a password; an invalid, used or expired invitation is refused.
pub async fn invitation_provider(
    store: &Store,
    token: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, Error> {
    let token_hash = crypto::sha256_hex(token.as_bytes());
    Ok(invited_user(store, &token_hash, now).await?.oidc_provider)
}

/// The account an unused, unexpired invitation (by its token's hash) is for; anything else is
/// [`Error::InvalidInvitation`].
pub(crate) async fn invited_user(
    store: &Store,
    token_hash: &str,
    now: OffsetDateTime,
) -> Result<UserRow, Error> {
    let user_id = store
        .find_invitation(token_hash, unix(now))
        .await?
        .ok_or(Error::InvalidInvitation)?;
    store
        .find_user_by_id(&user_id)
        .await?
        .ok_or(Error::InvalidInvitation)
}

async fn find(store: &Store, username: &str) -> Result<UserRow, Error> {
    let name = Username::parse(username)?;
    store
        .find_user_by_username(name.as_str())
        .await?
        .ok_or_else(|| Error::NoSuchUser(name.as_str().to_owned()))
}

/// Disables or re-enables a user. Disabling ends every session at once (C7).
pub async fn set_enabled(
    store: &Store,
    actor: Actor,
    username: &str,
    enabled: bool,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let user = find(store, username).await?;
    let (status, action) = match (enabled, user.password_hash.is_some()) {
        (true, true) => ("active", EventKind::UserEnabled),
        (true, false) => ("invited", EventKind::UserEnabled),
        (false, _) => ("disabled", EventKind::UserDisabled),
    };
    let mut tx = store.begin().await?;
    store::accounts::set_status(&mut tx, &user.id, status, unix(now)).await?;
    let event = Event::new(
        action,
        actor,
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({}),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets (or with `None` clears) the address notices are e-mailed to. The address itself is
/// not put in the audit log, only that it changed.
pub async fn set_email(
    store: &Store,
    actor: Actor,
    username: &str,
    email: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if let Some(address) = email {
        check_email(address)?;
    }
    let user = find(store, username).await?;
    let mut tx = store.begin().await?;
    store::accounts::set_email(&mut tx, &user.id, email, unix(now)).await?;
    let event = Event::new(
        EventKind::UserEmailChanged,
        actor,
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "set": email.is_some() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The longest address taken, in characters (RFC 5321 §4.5.3.1.3 counts 254 octets; the
/// mail server has the last word on a longer UTF-8 one).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A plausible address: one `@` with text on both sides and a `.` in the domain, no white
/// space, control characters or angle brackets, at most [`MAX_EMAIL_CHARS`] characters. The
/// mail server has the last word.
pub fn check_email(address: &str) -> Result<(), Error> {
    let ok = address.chars().count() <= MAX_EMAIL_CHARS
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && matches!(address.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "{:?} is not an e-mail address; write it as name@example.org",
            address.chars().take(64).collect::<String>()
        )))
    }
}

/// Removes the user's TOTP, recovery codes and passkeys and ends every session of theirs;
/// they enrol again at their next sign-in. Audited.
pub async fn reset_second_factor(
    store: &Store,
    actor: Actor,
    username: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let user = find(store, username).await?;
    let mut tx = store.begin().await?;
    // The auth epoch moves on and every session of the user is deleted (reset_totp), so
    // the reset ends every session at once; passkeys go with the app's seed.
    store::accounts::reset_totp(&mut tx, &user.id, unix(now)).await?;
    let passkeys = store::passkeys::delete_user_passkeys(&mut tx, &user.id).await?;
    let event = Event::new(
        EventKind::SecondFactorReset,
        actor,
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "passkeys_removed": passkeys }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Every user with their roles, for `registervakt user list` and the admin page.
pub async fn list(store: &Store) -> Result<Vec<(UserRow, Vec<RoleRow>)>, Error> {
    let mut out = Vec::new();
    for user in store.list_users().await? {
        // Stored roles, suspended ones included: an administrator sees every holding.
        let roles = store.list_stored_roles(&user.id).await?;
        out.push((user, roles));
    }
    Ok(out)
}

/// The user list as an administrator reads it (API, admin page), audited as `user.list`:
/// who looked at everyone's accounts and roles is evidence too (SECURITY_BAR E5).
pub async fn list_as_admin(
    store: &Store,
    reader: Actor,
    now: OffsetDateTime,
) -> Result<Vec<(UserRow, Vec<RoleRow>)>, Error> {
    let users = list(store).await?;
    record_listing(store, reader, "users", users.len(), now).await?;
    Ok(users)
}

/// The role changes waiting for a second admin, audited as `user.list`.
pub async fn pending_role_changes_as_admin(
    store: &Store,
    reader: Actor,
    now: OffsetDateTime,
) -> Result<Vec<store::roles::RoleChangeRow>, Error> {
    let rows = store.list_pending_role_changes().await?;
    record_listing(store, reader, "role_changes", rows.len(), now).await?;
    Ok(rows)
}

async fn record_listing(
    store: &Store,
    reader: Actor,
    what: &str,
    count: usize,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let event = Event::new(
        EventKind::UsersListed,
        reader,
        what,
        Outcome::Success,
        json!({ "count": count }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_refuse_control_characters_and_excess_length() {
        assert!(check_display_name("Anna Berg").is_ok());
        assert!(check_display_name("Anna\nBerg").is_err());
        assert!(check_display_name("").is_err());
        assert!(check_display_name(&"x".repeat(101)).is_err());
    }
}
