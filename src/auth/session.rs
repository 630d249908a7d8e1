//! Sessions: opaque 256-bit tokens in a `__Host-` cookie, stored only as SHA-256 hashes.
//!
//! Guarantees (SECURITY_BAR B1): a new token at every sign-in step and step-up (the old one
//! is deleted in the same transaction); idle and absolute limits checked on every request
//! against the store, so they hold across brokers; a disabled user, or one whose roles or
//! second factor changed (auth epoch moved on), is refused at the very next request.

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::{Error, unix};
use crate::config::SessionConfig;
use crate::crypto;
use crate::store::sessions::{SessionLookup, SessionRow};
use crate::store::{self, Store, Tx};

/// Cookie name with HTTPS (`__Host-`: Secure, Path=/, no Domain — RFC 6265bis §4.1.3.2).
pub const COOKIE_SECURE: &str = "__Host-registervakt";
/// Cookie name for the loopback demo over plain HTTP (browsers refuse `__Host-` there).
pub const COOKIE_PLAIN: &str = "registervakt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// First factor done; the second is pending.
    Password,
    /// First factor done; the user has no TOTP yet and must enrol before anything else.
    Enrol,
    /// Both factors done.
    Full,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Password => "password",
            Stage::Enrol => "enrol",
            Stage::Full => "full",
        }
    }

    fn parse(s: &str) -> Option<Stage> {
        [Stage::Password, Stage::Enrol, Stage::Full]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// How a second factor was proven. Stored with the session as text ([`Factor::as_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Factor {
    /// A code from the authenticator app.
    Totp,
    /// A single-use recovery code.
    RecoveryCode,
    /// A passkey (WebAuthn): bound to this site's origin, so phishing-resistant.
    Passkey,
    /// The identity provider with this id in the configuration asserted a trusted level.
    Oidc(String),
}

impl Factor {
    pub fn as_text(&self) -> String {
        match self {
            Factor::Totp => "totp".to_owned(),
            Factor::RecoveryCode => "recovery_code".to_owned(),
            Factor::Passkey => "passkey".to_owned(),
            Factor::Oidc(provider) => format!("oidc:{provider}"),
        }
    }

    pub fn parse(text: &str) -> Option<Factor> {
        match text {
            "totp" => Some(Factor::Totp),
            "recovery_code" => Some(Factor::RecoveryCode),
            "passkey" => Some(Factor::Passkey),
            _ => text
                .strip_prefix("oidc:")
                .filter(|p| !p.is_empty())
                .map(|p| Factor::Oidc(p.to_owned())),
        }
    }
}

/// A second-factor proof: how and when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub factor: Factor,
    pub at: i64,
}

/// A session token to put in the cookie. Shown to the client once; never stored.
pub struct NewSession {
    pub token: SecretString,
    pub stage: Stage,
}

/// A session that passed every check for this request.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub stage: Stage,
    pub csrf_token: String,
    pub created_at: i64,
    pub second_factor_at: Option<i64>,
    /// How the last second-factor proof was made (None while it is pending).
    pub factor: Option<Factor>,
    pub auth_epoch: i64,
}

impl Session {
    /// True when the last second-factor proof is at most `max_age` seconds old (B2).
    pub fn has_fresh_second_factor(&self, now: i64, max_age: i64) -> bool {
        self.stage == Stage::Full && self.second_factor_at.is_some_and(|t| now - t <= max_age)
    }
}

pub fn hash_token(token: &str) -> String {
    crypto::sha256_hex(token.as_bytes())
}

/// The session's CSRF token (the synchronizer token its forms carry): derived from the session
/// token under its own domain tag, so it is never stored (F-20) and the stored token hash does
/// not give it away. Sessions made before it was derived keep the one stored with them.
fn csrf_for(token: &str) -> String {
    crypto::sha256_hex(format!("registervakt/csrf/v1\0{token}").as_bytes())
}

/// Inserts a session for `user_id` in the caller's transaction.
pub async fn start(
    tx: &mut Tx,
    user_id: &str,
    auth_epoch: i64,
    stage: Stage,
    created_at: i64,
    proof: Option<Proof>,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    let token = crypto::random_token();
    let (second_factor_at, factor) = match proof {
        Some(p) => (Some(p.at), Some(p.factor.as_text())),
        None => (None, None),
    };
    let row = SessionRow {
        token_hash: hash_token(&token),
        user_id: user_id.to_owned(),
        stage: stage.as_str().to_owned(),
        auth_epoch,
        // Derived at each request from the token ([`csrf_for`]); nothing is stored.
        csrf_token: String::new(),
        created_at,
        last_seen_at: unix(now),
        second_factor_at,
        factor,
    };
    store::sessions::insert_session(tx, &row).await?;
    Ok(NewSession {
        token: SecretString::from(token),
        stage,
    })
}

/// Replaces `old` with a new token at `stage` (sign-in step or step-up). The absolute limit
/// keeps counting from the original sign-in.
pub async fn rotate(
    tx: &mut Tx,
    old: &Session,
    stage: Stage,
    proof: Option<Proof>,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    if !store::sessions::delete_session(tx, &old.token_hash).await? {
        return Err(Error::SessionExpired);
    }
    start(
        tx,
        &old.user_id,
        old.auth_epoch,
        stage,
        old.created_at,
        proof,
        now,
    )
    .await
}

/// Checks a presented token against the store and the limits. Any failure is a plain "not
/// signed in" or "expired": the caller answers 401.
pub async fn authenticate(
    store: &Store,
    token: &SecretString,
    limits: &SessionConfig,
    now: OffsetDateTime,
) -> Result<Session, Error> {
    authenticate_as(store, token, limits, now, Use::Active).await
}

/// Whether a request is the user's own doing (it keeps the session alive) or a page watching
/// for a change by itself (it must not: an open page left alone still ends its session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Active,
    Watching,
}

/// [`authenticate`], saying whether the request counts as the user's activity.
pub async fn authenticate_as(
    store: &Store,
    token: &SecretString,
    limits: &SessionConfig,
    now: OffsetDateTime,
    used: Use,
) -> Result<Session, Error> {
    let token = token.expose_secret();
    if token.len() != 43 {
        return Err(Error::NotSignedIn);
    }
    let mut session = lookup(store, &hash_token(token), limits, now, used).await?;
    if session.csrf_token.is_empty() {
        session.csrf_token = csrf_for(token);
    }
    Ok(session)
}

/// The live session whose token hashes to `token_hash`, checked against the store and the
/// limits like [`authenticate`]; its `csrf_token` is empty unless one was stored. For a
/// round trip that cannot carry the session cookie (a step-up at the identity provider,
/// whose redirect back is cross-site) and keeps the hash server-side instead.
pub async fn find_live(
    store: &Store,
    token_hash: &str,
    limits: &SessionConfig,
    now: OffsetDateTime,
) -> Result<Session, Error> {
    lookup(store, token_hash, limits, now, Use::Active).await
}

async fn lookup(
    store: &Store,
    token_hash: &str,
    limits: &SessionConfig,
    now: OffsetDateTime,
    used: Use,
) -> Result<Session, Error> {
    let found: SessionLookup = store
        .find_session(token_hash)
        .await?
        .ok_or(Error::NotSignedIn)?;
    let t = unix(now);
    let alive = found.status == "active"
        && found.session_epoch == found.user_epoch
        && t - found.last_seen_at <= limits.idle_timeout_secs
        && t - found.created_at <= limits.absolute_timeout_secs;
    let stage = Stage::parse(&found.stage).ok_or(Error::SessionExpired)?;
    if !alive {
        return Err(Error::SessionExpired);
    }
    // `last_seen_at` has a resolution of one second: within the second it was set, touching it
    // again would change nothing, and would still take the store's write lock.
    if used == Use::Active && t > found.last_seen_at {
        store.touch_session(token_hash, t).await?;
    }
    Ok(Session {
        token_hash: token_hash.to_owned(),
        user_id: found.user_id,
        username: found.username,
        display_name: found.display_name,
        stage,
        csrf_token: found.csrf_token,
        created_at: found.created_at,
        second_factor_at: found.second_factor_at,
        factor: found.factor.as_deref().and_then(Factor::parse),
        auth_epoch: found.session_epoch,
    })
}

/// Deletes sessions past their idle or absolute limit, and OIDC logins never finished.
/// Requests already refuse such sessions; this keeps the table small. Idempotent, so several
/// brokers may run it at once.
pub async fn sweep(
    store: &Store,
    limits: &SessionConfig,
    now: OffsetDateTime,
) -> Result<u64, Error> {
    let t = unix(now);
    let sessions = store
        .delete_expired_sessions(
            t - limits.idle_timeout_secs,
            t - limits.absolute_timeout_secs,
        )
        .await?;
    let logins = store
        .delete_stale_oidc_pending(t - super::oidc_login::PENDING_TTL_SECS)
        .await?;
    let ceremonies = store
        .delete_stale_passkey_ceremonies(t - super::passkey::CEREMONY_TTL_SECS)
        .await?;
    Ok(sessions + logins + ceremonies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_derived_per_session_and_differs_from_the_stored_hash() {
        let (a, b) = (crypto::random_token(), crypto::random_token());
        assert_eq!(csrf_for(&a), csrf_for(&a));
        assert_ne!(csrf_for(&a), csrf_for(&b));
        assert_ne!(csrf_for(&a), hash_token(&a));
        assert_eq!(csrf_for(&a).len(), 64);
    }

    fn session(stage: Stage, second_factor_at: Option<i64>) -> Session {
        Session {
            token_hash: String::new(),
            user_id: "u".into(),
            username: "u".into(),
            display_name: "U".into(),
            stage,
            csrf_token: String::new(),
            created_at: 0,
            second_factor_at,
            factor: None,
            auth_epoch: 0,
        }
    }

    #[test]
    fn step_up_is_fresh_for_exactly_the_configured_age() {
        let max = crate::config::DEFAULT_STEP_UP_MAX_AGE_SECS;
        let s = session(Stage::Full, Some(1_000));
        assert!(s.has_fresh_second_factor(1_000 + max, max));
        assert!(!s.has_fresh_second_factor(1_000 + max + 1, max));
    }

    #[test]
    fn a_session_without_both_factors_is_never_fresh() {
        let s = session(Stage::Password, Some(1_000));
        assert!(!s.has_fresh_second_factor(1_000, 300));
        assert!(!session(Stage::Full, None).has_fresh_second_factor(1_000, 300));
    }
}
