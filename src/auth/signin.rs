//! The sign-in steps: password, TOTP enrolment and sign-out; the second factor and step-up
//! are in [`super::second_factor`]. Each step that succeeds replaces the session token.
//!
//! Guarantees: unknown users and wrong passwords cost the same argon2 work and give the same
//! error; a failed-attempt counter per client address spans accounts and holds at every step;
//! every outcome is an audit event.

use crate::nouns::Username;
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use super::session::{self, NewSession, Session, Stage};
use super::{Error, lockout, password, recovery, totp, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::crypto::{Keyring, PseudonymKey};
use crate::store::accounts::UserRow;
use crate::store::{self, Store};

/// Where the request came from, for the per-address limit and the audit log.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: String,
}

/// Why a second factor is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SignIn,
    StepUp,
}

impl Purpose {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "sign_in",
            Purpose::StepUp => "step_up",
        }
    }
}

/// What the user sees right after enrolling: shown once.
pub struct Enrolment {
    pub otpauth_uri: SecretString,
    pub secret_base32: SecretString,
    pub qr_svg: String,
}

/// The associated data that binds a sealed TOTP seed to its user row.
pub(super) fn seed_aad(user_id: &str) -> Vec<u8> {
    format!("registervakt/totp-seed\0user:{user_id}").into_bytes()
}

async fn record(store: &Store, event: Event, now: OffsetDateTime) -> Result<(), Error> {
    audit::record_now(store, &event, now).await?;
    Ok(())
}

/// Refuses every sign-in step from an address past its failure limit (a guesser with one
/// pending session must not keep trying codes after the address is limited).
pub(super) async fn check_address(
    store: &Store,
    client: &Client,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let failures = store
        .ip_failures(&client.ip, unix(now), lockout::IP_WINDOW_SECS)
        .await?;
    if lockout::ip_allows(u32::try_from(failures).unwrap_or(u32::MAX)) {
        return Ok(());
    }
    let event = Event::new(
        EventKind::AddressLimited,
        Actor::anonymous(),
        "sign_in",
        Outcome::Denied,
        json!({ "ip": client.ip }),
    );
    record(store, event, now).await?;
    Err(Error::TooManyAttempts)
}

/// Step 1: username and password. Returns a session at `Password` (second factor next) or
/// `Enrol` (no TOTP yet). A refusal is audited under the account's own username when the
/// typed name is one; otherwise under a keyed reference to what was typed, never the text
/// itself: it may be a password typed into the wrong field (ASVS V16.2.5).
pub async fn with_password(
    store: &Store,
    pseudonyms: &PseudonymKey,
    username: &str,
    password_input: &SecretString,
    client: &Client,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    check_address(store, client, now).await?;
    let t = unix(now);
    let user = match Username::parse(username) {
        Ok(name) => store.find_user_by_username(name.as_str()).await?,
        Err(_) => None,
    };
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let password_ok = password::verify(stored_hash.as_deref(), password_input).await;
    let user = match user {
        Some(u) if password_ok && u.status == "active" => u,
        known => {
            store
                .record_ip_failure(&client.ip, t, lockout::IP_WINDOW_SECS)
                .await?;
            let (target, details) = match known {
                Some(u) => (format!("user:{}", u.username), json!({ "ip": client.ip })),
                None => (
                    "sign_in".to_owned(),
                    json!({ "ip": client.ip, "unknown_user": pseudonyms.typed_name_ref(username) }),
                ),
            };
            let event = Event::new(
                EventKind::PasswordRejected,
                Actor::anonymous(),
                &target,
                Outcome::Failure,
                details,
            );
            record(store, event, now).await?;
            return Err(Error::InvalidCredentials);
        }
    };
    let has_passkey = super::passkey::has_passkey(store, &user.id).await?;
    let stage = if user.totp_seed.is_some() || has_passkey {
        Stage::Password
    } else {
        Stage::Enrol
    };
    let mut tx = store.begin().await?;
    let new = session::start(&mut tx, &user.id, user.auth_epoch, stage, t, None, now).await?;
    let event = Event::new(
        EventKind::PasswordAccepted,
        Actor::user(&user.id),
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "ip": client.ip, "next": stage.as_str() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(new)
}

async fn user_of(store: &Store, session: &Session) -> Result<UserRow, Error> {
    store
        .find_user_by_id(&session.user_id)
        .await?
        .ok_or(Error::SessionExpired)
}

pub use super::second_factor::{with_recovery_code, with_totp};

/// Enrolment, part 1: a seed stored sealed as *pending* and shown. Within the session that
/// made it the same seed is shown again (a reload keeps the QR code the user already
/// scanned); a later session gets a fresh one, so an abandoned enrolment's seed is never
/// shown twice across sessions.
pub async fn begin_enrolment(
    store: &Store,
    keyring: &Keyring,
    session: &Session,
    issuer: &str,
    now: OffsetDateTime,
) -> Result<Enrolment, Error> {
    if session.stage != Stage::Enrol {
        return Err(Error::AlreadyEnrolled);
    }
    let user = user_of(store, session).await?;
    let kept = match (&user.totp_pending_seed, &user.totp_pending_session) {
        (Some(sealed), Some(shown_in)) if *shown_in == session.token_hash => Some(
            totp::Seed::from_bytes(&keyring.open(sealed, &seed_aad(&user.id))?)
                .map_err(|e| Error::Internal(e.to_string()))?,
        ),
        _ => None,
    };
    let seed = match kept {
        Some(seed) => seed,
        None => {
            let seed = totp::Seed::generate();
            let sealed = keyring.seal(seed.as_bytes(), &seed_aad(&user.id))?;
            let mut tx = store.begin().await?;
            store::accounts::set_pending_seed(
                &mut tx,
                &user.id,
                &sealed,
                &session.token_hash,
                unix(now),
            )
            .await?;
            tx.commit().await?;
            seed
        }
    };
    let uri = totp::otpauth_uri(&seed, issuer, &user.username);
    let qr_svg = totp::qr_svg(&uri).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Enrolment {
        otpauth_uri: SecretString::from(uri),
        secret_base32: SecretString::from(seed.base32()),
        qr_svg,
    })
}

/// Enrolment, part 2: a correct code binds the pending seed. Returns the full session and
/// the recovery codes (shown once).
pub async fn confirm_enrolment(
    store: &Store,
    keyring: &Keyring,
    session: &Session,
    code: &totp::Code,
    client: &Client,
    now: OffsetDateTime,
) -> Result<(NewSession, Vec<recovery::RecoveryCode>), Error> {
    if session.stage != Stage::Enrol {
        return Err(Error::AlreadyEnrolled);
    }
    let user = user_of(store, session).await?;
    let pending = user
        .totp_pending_seed
        .clone()
        .ok_or_else(|| Error::BadInput("start the set-up first".into()))?;
    let seed = totp::Seed::from_bytes(&keyring.open(&pending, &seed_aad(&user.id))?)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let Ok(step) = totp::verify(&seed, code, unix(now), None) else {
        store
            .record_ip_failure(&client.ip, unix(now), lockout::IP_WINDOW_SECS)
            .await?;
        return Err(Error::InvalidCode);
    };
    let codes = recovery::generate();
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| recovery::normalise(c.display()))
        .map(|c| recovery::hash(&c))
        .collect();
    let mut tx = store.begin().await?;
    if !store::accounts::confirm_pending_seed(&mut tx, &user.id, &pending, step, unix(now)).await? {
        tx.rollback().await?;
        return Err(Error::InvalidCode);
    }
    store::accounts::replace_recovery_codes(&mut tx, &user.id, &hashes).await?;
    let proof = session::Proof {
        factor: session::Factor::Totp,
        at: unix(now),
    };
    let new = session::rotate(&mut tx, session, Stage::Full, Some(proof), now).await?;
    let event = Event::new(
        EventKind::TotpEnrolled,
        Actor::user(&user.id),
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "ip": client.ip, "recovery_codes": hashes.len() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok((new, codes))
}

/// Sign-out: the session is deleted at once.
pub async fn sign_out(
    store: &Store,
    session: &Session,
    client: &Client,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let mut tx = store.begin().await?;
    store::sessions::delete_session(&mut tx, &session.token_hash).await?;
    let event = Event::new(
        EventKind::SignedOut,
        Actor::user(&session.user_id),
        &format!("user:{}", session.username),
        Outcome::Success,
        json!({ "ip": client.ip }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}
