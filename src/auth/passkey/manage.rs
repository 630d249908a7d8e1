//! A user's own passkeys: list, rename, remove.
//!
//! Guarantees: a user reaches only their own passkeys (every query names the user); removal
//! needs a second factor no older than the step-up age and never leaves the account without
//! a second factor (checked under the user's row lock, so two removals at once cannot both
//! pass); renaming and removal are audited in the transaction that makes them.

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::auth::session::Session;
use crate::auth::{Error, unix};
use crate::store::{self, Store};

/// A passkey's name as the user gives it ("Telefonen", "YubiKey på nyckelringen"): one line
/// of 1–60 characters ([`crate::text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

pub const NAME: crate::text::Rule = crate::text::Rule::one_line(1, 60);

impl PasskeyName {
    pub fn parse(input: &str) -> Result<PasskeyName, Error> {
        NAME.check(input)
            .map(|s| PasskeyName(s.to_owned()))
            .map_err(|e| Error::BadInput(format!("a passkey's name {e}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One passkey as its owner sees it: no credential material.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The user's passkeys, oldest first.
pub async fn list(store: &Store, user_id: &str) -> Result<Vec<Summary>, Error> {
    Ok(store
        .list_passkeys(user_id)
        .await?
        .into_iter()
        .map(|row| Summary {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        })
        .collect())
}

/// Gives one of the session's user's passkeys a new name.
pub async fn rename(
    store: &Store,
    session: &Session,
    id: &str,
    name: &PasskeyName,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let mut tx = store.begin().await?;
    if !store::passkeys::rename_passkey(&mut tx, &session.user_id, id, name.as_str()).await? {
        tx.rollback().await?;
        return Err(Error::NoSuchPasskey);
    }
    let event = Event::new(
        EventKind::PasskeyRenamed,
        Actor::user(&session.user_id),
        &format!("user:{}", session.username),
        Outcome::Success,
        json!({ "passkey": id }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes one of the session's user's passkeys. Needs a fresh second factor; refuses to
/// remove the account's last second factor (no authenticator app and no other passkey).
pub async fn remove(
    store: &Store,
    session: &Session,
    id: &str,
    step_up_max_age: i64,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if !session.has_fresh_second_factor(unix(now), step_up_max_age) {
        return Err(Error::StepUpRequired);
    }
    let mut tx = store.begin().await?;
    let factor = store::accounts::lock_second_factor(&mut tx, &session.user_id)
        .await?
        .ok_or(Error::SessionExpired)?;
    let passkeys = store::passkeys::list_passkeys_in(&mut tx, &session.user_id).await?;
    if !passkeys.iter().any(|p| p.id == id) {
        tx.rollback().await?;
        return Err(Error::NoSuchPasskey);
    }
    if factor.totp_seed.is_none() && passkeys.len() == 1 {
        tx.rollback().await?;
        return Err(Error::LastSecondFactor);
    }
    store::passkeys::delete_passkey(&mut tx, &session.user_id, id).await?;
    let event = Event::new(
        EventKind::PasskeyRemoved,
        Actor::user(&session.user_id),
        &format!("user:{}", session.username),
        Outcome::Success,
        json!({ "passkey": id }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passkey_name_is_one_trimmed_line_of_at_most_sixty_characters() {
        assert_eq!(
            PasskeyName::parse("  Telefonen ").ok().map(|n| n.0),
            Some("Telefonen".to_owned())
        );
        assert!(PasskeyName::parse("").is_err());
        assert!(PasskeyName::parse("a\nb").is_err());
        assert!(PasskeyName::parse(&"x".repeat(61)).is_err());
    }
}
