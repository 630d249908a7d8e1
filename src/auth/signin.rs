//! The sign-in steps: password, second factor (TOTP or a recovery code), TOTP enrolment,
//! step-up and sign-out. Each step that succeeds replaces the session token.
//!
//! Guarantees: unknown users and wrong passwords cost the same argon2 work and give the same
//! error; a failed-attempt counter per client address spans accounts; a TOTP step is claimed
//! with a compare-and-set before the session is upgraded, so a code works once even when
//! submitted in parallel or to two brokers (SECURITY_BAR A2); wrong codes count towards the
//! lockout (A4); every outcome is an audit event.

use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use super::session::{self, NewSession, Session, Stage};
use super::{Error, Username, lockout, password, recovery, totp, unix};
use crate::audit::{self, Action, Actor, Event, Outcome};
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
    fn as_str(self) -> &'static str {
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
fn seed_aad(user_id: &str) -> Vec<u8> {
    format!("registervakt/totp-seed\0user:{user_id}").into_bytes()
}

async fn record(store: &Store, event: Event, now: OffsetDateTime) -> Result<(), Error> {
    audit::record_now(store, &event, now).await?;
    Ok(())
}

/// Refuses every sign-in step from an address past its failure limit (a guesser with one
/// pending session must not keep trying codes after the address is limited).
async fn check_address(store: &Store, client: &Client, now: OffsetDateTime) -> Result<(), Error> {
    let failures = store
        .ip_failures(&client.ip, unix(now), lockout::IP_WINDOW_SECS)
        .await?;
    if lockout::ip_allows(u32::try_from(failures).unwrap_or(u32::MAX)) {
        return Ok(());
    }
    let event = Event::new(
        Action::AddressLimited,
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
                Action::PasswordRejected,
                Actor::anonymous(),
                &target,
                Outcome::Failure,
                details,
            );
            record(store, event, now).await?;
            return Err(Error::InvalidCredentials);
        }
    };
    let stage = if user.totp_seed.is_some() {
        Stage::Password
    } else {
        Stage::Enrol
    };
    let mut tx = store.begin().await?;
    let new = session::start(&mut tx, &user.id, user.auth_epoch, stage, t, None, now).await?;
    let event = Event::new(
        Action::PasswordAccepted,
        Actor::user(&user.id),
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "ip": client.ip, "next": stage.as_str() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(new)
}

fn factor_state(u: &UserRow) -> lockout::FactorState {
    stored_state(&store::accounts::TotpFailures {
        totp_failures: u.totp_failures,
        totp_locks: u.totp_locks,
        totp_locked_until: u.totp_locked_until,
        totp_disabled: u.totp_disabled,
    })
}

fn stored_state(f: &store::accounts::TotpFailures) -> lockout::FactorState {
    lockout::FactorState {
        consecutive_failures: u32::try_from(f.totp_failures).unwrap_or(0),
        locks: u32::try_from(f.totp_locks).unwrap_or(0),
        locked_until: f.totp_locked_until,
        disabled: f.totp_disabled,
    }
}

/// Refuses a second factor that is locked or disabled, without counting the attempt.
async fn check_gate(
    store: &Store,
    user: &UserRow,
    client: &Client,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let refusal = match lockout::gate(&factor_state(user), unix(now)) {
        lockout::Gate::Open => return Ok(()),
        lockout::Gate::LockedUntil(until) => Error::Locked {
            until: OffsetDateTime::from_unix_timestamp(until)
                .map(|t| format!("{} UTC", t.time()))
                .unwrap_or_default(),
        },
        lockout::Gate::Disabled => Error::FactorDisabled,
    };
    let event = Event::new(
        Action::SecondFactorRejected,
        Actor::user(&user.id),
        &format!("user:{}", user.username),
        Outcome::Denied,
        json!({ "ip": client.ip, "reason": "locked" }),
    );
    record(store, event, now).await?;
    Err(refusal)
}

/// Counts a wrong code, locking or disabling the factor as the schedule says.
async fn count_failure(
    store: &Store,
    user: &UserRow,
    reason: &str,
    client: &Client,
    now: OffsetDateTime,
) -> Result<Error, Error> {
    // Counted on the locked row, with its events, in one transaction: N parallel wrong codes
    // count N failures (F-1), and a failure is never counted without being audited.
    let mut tx = store.begin().await?;
    let stored = store::accounts::lock_totp_failures(&mut tx, &user.id)
        .await?
        .ok_or(Error::SessionExpired)?;
    let (next, lock_event) = lockout::after_failure(stored_state(&stored), unix(now));
    store::accounts::save_totp_failures(
        &mut tx,
        &user.id,
        store::accounts::TotpFailures {
            totp_failures: i32::try_from(next.consecutive_failures).unwrap_or(i32::MAX),
            totp_locks: i32::try_from(next.locks).unwrap_or(i32::MAX),
            totp_locked_until: next.locked_until,
            totp_disabled: next.disabled,
        },
    )
    .await?;
    let target = format!("user:{}", user.username);
    let mut events = vec![Event::new(
        Action::SecondFactorRejected,
        Actor::user(&user.id),
        &target,
        Outcome::Failure,
        json!({ "ip": client.ip, "reason": reason, "consecutive_failures": next.consecutive_failures }),
    )];
    match lock_event {
        Some(lockout::Event::Locked {
            until,
            duration_secs,
        }) => events.push(Event::new(
            Action::SecondFactorLocked,
            Actor::system(),
            &target,
            Outcome::Denied,
            json!({ "until": until, "duration_secs": duration_secs }),
        )),
        Some(lockout::Event::Disabled) => events.push(Event::new(
            Action::SecondFactorDisabled,
            Actor::system(),
            &target,
            Outcome::Denied,
            json!({}),
        )),
        None => {}
    }
    for event in &events {
        audit::record(&mut tx, event, now).await?;
    }
    tx.commit().await?;
    store
        .record_ip_failure(&client.ip, unix(now), lockout::IP_WINDOW_SECS)
        .await?;
    Ok(Error::InvalidCode)
}

async fn user_of(store: &Store, session: &Session) -> Result<UserRow, Error> {
    store
        .find_user_by_id(&session.user_id)
        .await?
        .ok_or(Error::SessionExpired)
}

fn check_stage(session: &Session, purpose: Purpose) -> Result<(), Error> {
    match (session.stage, purpose) {
        (Stage::Enrol, _) => Err(Error::EnrolmentRequired),
        (Stage::Password, Purpose::SignIn) | (Stage::Full, Purpose::StepUp) => Ok(()),
        (Stage::Full, Purpose::SignIn) => Ok(()),
        (Stage::Password, Purpose::StepUp) => Err(Error::SecondFactorRequired),
    }
}

/// Upgrades the session after an accepted second factor and audits it.
async fn accept(
    store: &Store,
    session: &Session,
    user: &UserRow,
    method: &str,
    purpose: Purpose,
    client: &Client,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    let mut tx = store.begin().await?;
    let new = session::rotate(&mut tx, session, Stage::Full, Some(unix(now)), now).await?;
    let event = Event::new(
        Action::SecondFactorAccepted,
        Actor::user(&user.id),
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "ip": client.ip, "method": method, "purpose": purpose.as_str() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(new)
}

/// Step 2 (or step-up): a TOTP code.
pub async fn with_totp(
    store: &Store,
    keyring: &Keyring,
    session: &Session,
    code: &totp::Code,
    purpose: Purpose,
    client: &Client,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    check_stage(session, purpose)?;
    check_address(store, client, now).await?;
    let user = user_of(store, session).await?;
    check_gate(store, &user, client, now).await?;
    let sealed = user.totp_seed.as_deref().ok_or(Error::EnrolmentRequired)?;
    let seed = totp::Seed::from_bytes(&keyring.open(sealed, &seed_aad(&user.id))?)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let step = match totp::verify(&seed, code, unix(now), user.totp_last_step) {
        Ok(step) => step,
        Err(totp::Rejection::Replayed) => {
            return Err(count_failure(store, &user, "replayed", client, now).await?);
        }
        Err(totp::Rejection::Invalid) => {
            return Err(count_failure(store, &user, "invalid", client, now).await?);
        }
    };
    if !store::accounts::claim_totp_step(store, &user.id, step, unix(now)).await? {
        return Err(count_failure(store, &user, "replayed", client, now).await?);
    }
    accept(store, session, &user, "totp", purpose, client, now).await
}

/// Step 2 with a single-use recovery code instead of TOTP.
pub async fn with_recovery_code(
    store: &Store,
    session: &Session,
    input: &str,
    client: &Client,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    check_stage(session, Purpose::SignIn)?;
    check_address(store, client, now).await?;
    let user = user_of(store, session).await?;
    check_gate(store, &user, client, now).await?;
    let used = match recovery::normalise(input) {
        Some(code) => {
            store::accounts::use_recovery_code(store, &user.id, &recovery::hash(&code), unix(now))
                .await?
        }
        None => false,
    };
    if !used {
        return Err(count_failure(store, &user, "bad_recovery_code", client, now).await?);
    }
    accept(
        store,
        session,
        &user,
        "recovery_code",
        Purpose::SignIn,
        client,
        now,
    )
    .await
}

/// Enrolment, part 1: a fresh seed, stored sealed as *pending* and shown once.
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
    let seed = totp::Seed::generate();
    let sealed = keyring.seal(seed.as_bytes(), &seed_aad(&user.id))?;
    let mut tx = store.begin().await?;
    store::accounts::set_pending_seed(&mut tx, &user.id, &sealed, unix(now)).await?;
    tx.commit().await?;
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
    let new = session::rotate(&mut tx, session, Stage::Full, Some(unix(now)), now).await?;
    let event = Event::new(
        Action::TotpEnrolled,
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
        Action::SignedOut,
        Actor::user(&session.user_id),
        &format!("user:{}", session.username),
        Outcome::Success,
        json!({ "ip": client.ip }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}
