//! Passkeys (WebAuthn, through `webauthn-rs`): a phishing-resistant second factor beside or
//! instead of TOTP, at sign-in and for step-up (NIST SP 800-63B-4 §3.2.5, SECURITY_BAR A9).
//!
//! Guarantees:
//! - every ceremony's state is kept server-side, sealed under the key-encryption key with the
//!   session and the ceremony's kind as AAD, one at a time per session, taken once and only
//!   within [`CEREMONY_TTL_SECS`]: a replayed assertion finds no challenge;
//! - the relying party id and origin come from the configuration (`server.public_url`), so an
//!   assertion made for another site is refused; user verification is required (webauthn-rs'
//!   passkey ceremonies ask for it and check it), and a signature counter that went backwards
//!   is refused as a possible clone;
//! - a registration starts only from a session at the enrol stage or a full session with a
//!   fresh second factor; removing a passkey needs a fresh second factor and never removes
//!   the last second factor of the account;
//! - stored credentials are sealed with the passkey's id and user as AAD; every outcome is an
//!   audit event, committed with the change it records.
//!
//! Never: accept a ceremony begun by another session; store or log a credential in the clear.

mod ceremony;
mod manage;

use serde_json::json;
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid,
};

pub use manage::{NAME as PASSKEY_NAME, PasskeyName, Summary, list, remove, rename};

use ceremony::{Pending, credential_aad, credential_key, keep, open_credential, take};

use super::session::{self, NewSession, Session, Stage};
use super::signin::{Client, Purpose, check_address};
use super::{Error, lockout, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::config::passkeys::RelyingParty;
use crate::crypto::{self, Keyring};
use crate::store::passkeys::PasskeyRow;
use crate::store::{self, Store};

/// A ceremony must be finished within this many seconds of its start (the browser's own
/// timeout is the same, WebAuthn L3 §15.1).
pub const CEREMONY_TTL_SECS: i64 = 300;

/// The relying party: this broker, as browsers and authenticators know it.
pub struct RelyingPartyHandle {
    webauthn: webauthn_rs::Webauthn,
}

impl RelyingPartyHandle {
    pub fn new(rp: &RelyingParty) -> Result<RelyingPartyHandle, Error> {
        let webauthn = webauthn_rs::WebauthnBuilder::new(&rp.id, &rp.origin)
            .map_err(|e| Error::Internal(format!("passkeys: {e}")))?
            .rp_name("Registervakt")
            .timeout(std::time::Duration::from_secs(
                u64::try_from(CEREMONY_TTL_SECS).unwrap_or(300),
            ))
            .build()
            .map_err(|e| Error::Internal(format!("passkeys: {e}")))?;
        Ok(RelyingPartyHandle { webauthn })
    }
}

/// What a user's session needs to begin and finish ceremonies.
pub struct Ceremonies<'a> {
    pub store: &'a Store,
    pub keyring: &'a Keyring,
    pub rp: &'a RelyingPartyHandle,
    /// `sessions.step_up_max_age_secs`: how fresh the second factor must be to register.
    pub step_up_max_age: i64,
}

fn kind_of(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::SignIn => "sign_in",
        Purpose::StepUp => "step_up",
    }
}

/// WebAuthn's user handle: the account's 128-bit random id.
fn user_handle(user_id: &str) -> Result<Uuid, Error> {
    hex::decode(user_id)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| Error::Internal("an account id is not 128 bits".into()))
}

/// May this session register a passkey now? At the enrol stage (instead of the app), or
/// signed in with a second factor no older than the step-up age.
fn may_register(c: &Ceremonies<'_>, session: &Session, now: OffsetDateTime) -> Result<(), Error> {
    match session.stage {
        Stage::Enrol => Ok(()),
        Stage::Password => Err(Error::SecondFactorRequired),
        Stage::Full if session.has_fresh_second_factor(unix(now), c.step_up_max_age) => Ok(()),
        Stage::Full => Err(Error::StepUpRequired),
    }
}

/// Starts registering a passkey: the options for `navigator.credentials.create`.
pub async fn begin_registration(
    c: &Ceremonies<'_>,
    session: &Session,
    now: OffsetDateTime,
) -> Result<CreationChallengeResponse, Error> {
    may_register(c, session, now)?;
    let user = c
        .store
        .find_user_by_id(&session.user_id)
        .await?
        .ok_or(Error::SessionExpired)?;
    let mut tx = c.store.begin().await?;
    let existing = store::passkeys::list_passkeys_in(&mut tx, &user.id).await?;
    tx.commit().await?;
    let exclude = existing
        .iter()
        .map(|row| open_credential(c.keyring, row).map(|p| p.cred_id().clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (options, state) =
        c.rp.webauthn
            .start_passkey_registration(
                user_handle(&user.id)?,
                &user.username,
                &user.display_name,
                Some(exclude),
            )
            .map_err(|e| Error::Internal(format!("passkeys: {e}")))?;
    keep(c, session, "register", &Pending::Register(state), now).await?;
    Ok(options)
}

/// The outcome of a registration: the new passkey's id, and, when it was the account's first
/// second factor, a new session (enrolment then counts as the second factor's proof) and the
/// account's recovery codes, shown once — as enrolling the app gives them.
pub struct Registered {
    pub id: String,
    pub session: Option<NewSession>,
    pub recovery_codes: Vec<super::recovery::RecoveryCode>,
}

/// Finishes registering: verifies the authenticator's answer (WebAuthn's JSON; one that does
/// not parse is refused like one that does not verify) against the ceremony begun by this
/// session, stores the passkey under `name` and, at the enrol stage, signs the session in.
pub async fn finish_registration(
    c: &Ceremonies<'_>,
    session: &Session,
    name: &PasskeyName,
    answer: &serde_json::Value,
    client: &Client,
    now: OffsetDateTime,
) -> Result<Registered, Error> {
    may_register(c, session, now)?;
    let target = format!("user:{}", session.username);
    let mut tx = c.store.begin().await?;
    let pending = take(&mut tx, c.keyring, session, "register", now).await?;
    let answer = serde_json::from_value::<RegisterPublicKeyCredential>(answer.clone());
    let verified = match (pending, answer) {
        (Some(Pending::Register(state)), Ok(answer)) => {
            c.rp.webauthn
                .finish_passkey_registration(&answer, &state)
                .map_err(|e| refusal_reason(&e))
        }
        (Some(_), Err(_)) => Err("malformed"),
        _ => Err("no_ceremony"),
    };
    let passkey = match verified {
        Ok(passkey) => passkey,
        Err(reason) => {
            let event = Event::new(
                EventKind::PasskeyRejected,
                Actor::user(&session.user_id),
                &target,
                Outcome::Failure,
                json!({ "ip": client.ip, "reason": reason }),
            );
            audit::record(&mut tx, &event, now).await?;
            tx.commit().await?;
            return Err(Error::PasskeyRefused);
        }
    };
    let id = crypto::random_id128();
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(&passkey).map_err(|e| Error::Internal(e.to_string()))?,
    );
    let row = PasskeyRow {
        sealed: c
            .keyring
            .seal(&plain, &credential_aad(&session.user_id, &id))?,
        id: id.clone(),
        user_id: session.user_id.clone(),
        name: name.as_str().to_owned(),
        credential_id: credential_key(passkey.cred_id()),
        created_at: unix(now),
        last_used_at: None,
    };
    store::passkeys::insert_passkey(&mut tx, &row).await?;
    let (new, recovery_codes) = if session.stage == Stage::Enrol {
        let codes = super::recovery::generate();
        let hashes: Vec<String> = codes
            .iter()
            .filter_map(|c| super::recovery::normalise(c.display()))
            .map(|c| super::recovery::hash(&c))
            .collect();
        store::accounts::replace_recovery_codes(&mut tx, &session.user_id, &hashes).await?;
        let proof = session::Proof {
            factor: session::Factor::Passkey,
            at: unix(now),
        };
        let new = session::rotate(&mut tx, session, Stage::Full, Some(proof), now).await?;
        (Some(new), codes)
    } else {
        (None, Vec::new())
    };
    let event = Event::new(
        EventKind::PasskeyRegistered,
        Actor::user(&session.user_id),
        &target,
        Outcome::Success,
        json!({ "ip": client.ip, "passkey": id, "at_enrolment": new.is_some(),
                "recovery_codes": recovery_codes.len() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Registered {
        id,
        session: new,
        recovery_codes,
    })
}

fn check_stage(session: &Session, purpose: Purpose) -> Result<(), Error> {
    match (session.stage, purpose) {
        (Stage::Enrol, _) => Err(Error::EnrolmentRequired),
        (Stage::Password, Purpose::SignIn) | (Stage::Full, _) => Ok(()),
        (Stage::Password, Purpose::StepUp) => Err(Error::SecondFactorRequired),
    }
}

/// Starts signing in (or stepping up) with a passkey: the options for
/// `navigator.credentials.get`, naming the user's passkeys.
pub async fn begin_authentication(
    c: &Ceremonies<'_>,
    session: &Session,
    purpose: Purpose,
    now: OffsetDateTime,
) -> Result<RequestChallengeResponse, Error> {
    check_stage(session, purpose)?;
    let mut tx = c.store.begin().await?;
    let rows = store::passkeys::list_passkeys_in(&mut tx, &session.user_id).await?;
    tx.commit().await?;
    if rows.is_empty() {
        return Err(Error::NoPasskey);
    }
    let passkeys = rows
        .iter()
        .map(|row| open_credential(c.keyring, row))
        .collect::<Result<Vec<_>, _>>()?;
    let (options, state) =
        c.rp.webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| Error::Internal(format!("passkeys: {e}")))?;
    keep(
        c,
        session,
        kind_of(purpose),
        &Pending::Authenticate(state),
        now,
    )
    .await?;
    Ok(options)
}

/// Finishes signing in (or stepping up): verifies the assertion against the ceremony begun by
/// this session, moves the passkey's counter on and continues the session under a new token
/// with a passkey proof.
pub async fn finish_authentication(
    c: &Ceremonies<'_>,
    session: &Session,
    purpose: Purpose,
    answer: &serde_json::Value,
    client: &Client,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    check_stage(session, purpose)?;
    check_address(c.store, client, now).await?;
    let target = format!("user:{}", session.username);
    let mut tx = c.store.begin().await?;
    let pending = take(&mut tx, c.keyring, session, kind_of(purpose), now).await?;
    let answer = serde_json::from_value::<PublicKeyCredential>(answer.clone());
    let verified = match (pending, answer) {
        (Some(Pending::Authenticate(state)), Ok(answer)) => {
            c.rp.webauthn
                .finish_passkey_authentication(&answer, &state)
                .map_err(|e| refusal_reason(&e))
        }
        (Some(_), Err(_)) => Err("malformed"),
        _ => Err("no_ceremony"),
    };
    let result = match verified {
        Ok(result) => result,
        Err(reason) => {
            let event = Event::new(
                EventKind::SecondFactorRejected,
                Actor::user(&session.user_id),
                &target,
                Outcome::Failure,
                json!({ "ip": client.ip, "method": "passkey", "reason": reason }),
            );
            audit::record(&mut tx, &event, now).await?;
            tx.commit().await?;
            c.store
                .record_ip_failure(&client.ip, unix(now), lockout::IP_WINDOW_SECS)
                .await?;
            return Err(Error::PasskeyRefused);
        }
    };
    let rows = store::passkeys::list_passkeys_in(&mut tx, &session.user_id).await?;
    let used = rows
        .iter()
        .find(|row| row.credential_id == credential_key(result.cred_id()))
        .ok_or(Error::PasskeyRefused)?;
    let mut passkey = open_credential(c.keyring, used)?;
    passkey.update_credential(&result);
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(&passkey).map_err(|e| Error::Internal(e.to_string()))?,
    );
    let sealed = c
        .keyring
        .seal(&plain, &credential_aad(&session.user_id, &used.id))?;
    store::passkeys::update_passkey_use(&mut tx, &session.user_id, &used.id, &sealed, unix(now))
        .await?;
    let proof = session::Proof {
        factor: session::Factor::Passkey,
        at: unix(now),
    };
    let new = session::rotate(&mut tx, session, Stage::Full, Some(proof), now).await?;
    let event = Event::new(
        EventKind::SecondFactorAccepted,
        Actor::user(&session.user_id),
        &target,
        Outcome::Success,
        json!({ "ip": client.ip, "method": "passkey", "passkey": used.id, "purpose": purpose.as_str() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(new)
}

/// A short, stable reason for the audit log (never the authenticator's data).
fn refusal_reason(e: &webauthn_rs::prelude::WebauthnError) -> &'static str {
    use webauthn_rs::prelude::WebauthnError as W;
    match e {
        W::InvalidRPOrigin => "wrong_origin",
        W::InvalidRPIDHash => "wrong_relying_party",
        W::MismatchedChallenge => "wrong_challenge",
        W::UserNotVerified => "user_not_verified",
        W::CredentialPossibleCompromise => "counter_went_back",
        W::CredentialNotFound => "unknown_passkey",
        _ => "invalid",
    }
}

/// Refuses a session whose last second-factor proof was not phishing-resistant when the
/// policy asks for one for this user (their roles) or `purpose` (SECURITY_BAR A9). The
/// refusal is audited with the action it stopped.
pub async fn require_phishing_resistant(
    store: &Store,
    policy: &crate::policy::Policy,
    providers: &crate::auth::oidc_login::Providers,
    session: &Session,
    purpose: Option<&crate::policy::PurposeId>,
    action: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if session
        .factor
        .as_ref()
        .is_some_and(|f| providers.is_phishing_resistant(f))
    {
        return Ok(());
    }
    let principal = crate::policy::Principal::load(store, &session.user_id).await?;
    if !policy.needs_phishing_resistant(&principal, purpose) {
        return Ok(());
    }
    let event = Event::new(
        EventKind::PhishingResistantRequired,
        Actor::user(&session.user_id),
        &format!("user:{}", session.username),
        Outcome::Denied,
        json!({
            "action": action,
            "purpose": purpose.map(|p| p.as_str()),
            "factor": session.factor.as_ref().map(session::Factor::as_text),
        }),
    );
    audit::record_now(store, &event, now).await?;
    Err(Error::PhishingResistantRequired)
}

/// Whether the user has any passkey (the sign-in pages offer one then).
pub async fn has_passkey(store: &Store, user_id: &str) -> Result<bool, Error> {
    Ok(store.count_passkeys(user_id).await? > 0)
}

/// A secret-free summary of a user's second factors, for the pages.
pub struct Methods {
    pub totp: bool,
    pub passkeys: bool,
}

pub async fn methods(store: &Store, user_id: &str) -> Result<Methods, Error> {
    let user = store
        .find_user_by_id(user_id)
        .await?
        .ok_or(Error::SessionExpired)?;
    Ok(Methods {
        totp: user.totp_seed.is_some(),
        passkeys: has_passkey(store, user_id).await?,
    })
}
