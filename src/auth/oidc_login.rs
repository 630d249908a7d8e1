//! Sign-in, invitation and step-up through the configured identity providers (OIDC), on top
//! of [`super::oidc`].
//!
//! Guarantees (SECURITY_BAR A7):
//! - state, nonce and PKCE verifier are kept server-side, sealed, and taken once: a replayed
//!   or unknown `state` finds nothing; a login older than [`PENDING_TTL_SECS`] is refused;
//!   a login started for one provider is never finished by another's callback;
//! - the login is bound to the browser that started it (a random value in a short-lived
//!   cookie, compared in constant time), so a victim cannot be made to finish an attacker's login;
//! - users are found by (issuer, subject) only: linked by an administrator, or bound once by
//!   accepting an invitation at the provider (audited); an account made for a provider has no
//!   password and is signed in only by a sign-in its rules count as two factors;
//! - every login asks for `max_age` = the step-up window and the token's `auth_time` must fit
//!   it; a step-up also asks `prompt=login` and needs an authentication after it began, so a
//!   silent single sign-on never counts as a fresh second factor (F-6);
//! - otherwise the broker asks for its own second factor — never half-signed-in;
//! - a subject that looks like a personal identity number is refused, never stored;
//! - discovery happens on first use and is retried on later requests while the provider is
//!   down, so the broker starts and recovers without a restart (G4); every outcome, also a
//!   cancel at the provider or a provider that does not answer, is audited.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use super::session::{self, Factor, NewSession, Proof, Session, Stage};
use super::signin::Client as ClientAddr;
use super::{Error, oidc, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::config::SessionConfig;
use crate::crypto::{self, Keyring};
use crate::nouns::Username;
use crate::store::{self, Store};

mod providers;
pub use providers::{Provider, Providers, redirect_url};

/// A login must come back from the provider within this many seconds.
pub const PENDING_TTL_SECS: i64 = 600;

const PENDING_AAD: &[u8] = b"registervakt/oidc-pending";

/// Why a sign-in through a provider did not go through; each has its own sentence on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user cancelled at the provider.
    Cancelled,
    /// The provider answered with an error, or the answer failed a check.
    Rejected,
    /// Nobody's account is linked to this identity.
    NotLinked,
    /// The sign-in does not count as two factors, and the account has no other.
    NotTrusted,
    /// The provider's authentication was older than allowed.
    TooOld,
    /// The account is disabled or not yet accepted.
    NotActive,
    /// The invitation is used, expired, or not for this provider.
    Invitation,
    /// The identity belongs to another account than the one stepping up or invited.
    OtherAccount,
}

impl Refusal {
    /// Stable code for the API and the pages.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Cancelled => "oidc_cancelled",
            Refusal::Rejected => "oidc_rejected",
            Refusal::NotLinked => "oidc_not_linked",
            Refusal::NotTrusted => "oidc_level_not_trusted",
            Refusal::TooOld => "oidc_too_old",
            Refusal::NotActive => "oidc_account_not_active",
            Refusal::Invitation => "invalid_invitation",
            Refusal::OtherAccount => "oidc_other_account",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Cancelled => "the sign-in was cancelled at the identity provider",
            Refusal::Rejected => "the identity provider's answer was refused",
            Refusal::NotLinked => "no account is linked to this identity",
            Refusal::NotTrusted => "this sign-in does not count as two factors",
            Refusal::TooOld => "the sign-in at the identity provider was too long ago",
            Refusal::NotActive => "the account is not active",
            Refusal::Invitation => {
                "the invitation link is invalid, used or expired; ask an administrator for a new one"
            }
            Refusal::OtherAccount => "this identity belongs to another account",
        })
    }
}

/// What a login is for.
pub enum Intent<'a> {
    /// Sign in to an account linked to the identity.
    SignIn,
    /// Accept an invitation to an account made for this provider, binding the identity to it.
    Invitation(&'a str),
    /// Prove the second factor again for `session`, then go on to `next` (a local path).
    StepUp { session: &'a Session, next: &'a str },
}

/// What the callback finds again, sealed.
#[derive(serde::Serialize, serde::Deserialize)]
enum PendingIntent {
    SignIn,
    Invitation {
        token_hash: String,
    },
    StepUp {
        session_hash: String,
        user_id: String,
        next: String,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    provider: String,
    login: oidc::PendingLogin,
    binding_hash: String,
    intent: PendingIntent,
}

/// What the browser must carry back: the value of the binding cookie.
pub struct Started {
    pub authorization_url: String,
    pub browser_binding: SecretString,
}

/// A finished login: the new session, and where to go with it.
pub struct Done {
    pub session: NewSession,
    pub next: String,
}

/// Only a path on this site: "/…" but not "//…" (another host) or "/\…".
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && !next.chars().any(char::is_control)
}

async fn audit_refusal(
    store: &Store,
    provider: &str,
    reason: &str,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let event = Event::new(
        EventKind::OidcRejected,
        Actor::anonymous(),
        "oidc",
        Outcome::Denied,
        json!({ "reason": reason, "provider": provider, "ip": client.ip }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(())
}

async fn refuse(
    store: &Store,
    provider: &str,
    reason: &str,
    refusal: Refusal,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Error {
    match audit_refusal(store, provider, reason, client, now).await {
        Ok(()) => Error::OidcRefused(refusal),
        Err(e) => e,
    }
}

/// The provider cannot be reached: audited, and the sign-in is refused (fail closed).
async fn unavailable(
    store: &Store,
    provider: &str,
    cause: &oidc::Error,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Error {
    tracing::warn!(provider, cause = %cause, "identity provider not answering");
    match audit_refusal(store, provider, "unreachable", client, now).await {
        Ok(()) => Error::OidcUnavailable(cause.code().to_owned()),
        Err(e) => e,
    }
}

/// Starts a login for `intent`: stores the pending state sealed and returns where to send the
/// browser. Every login asks for an authentication at most `sessions.step_up_max_age_secs`
/// old; a step-up asks for a new one.
#[allow(clippy::too_many_arguments)]
pub async fn begin(
    store: &Store,
    keyring: &Keyring,
    provider: &Provider,
    intent: Intent<'_>,
    sessions: &SessionConfig,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Result<Started, Error> {
    let intent = match intent {
        Intent::SignIn => PendingIntent::SignIn,
        Intent::Invitation(token) => {
            let token_hash = crypto::sha256_hex(token.as_bytes());
            let user = match super::accounts::invited_user(store, &token_hash, now).await {
                Ok(user) => Some(user),
                Err(Error::InvalidInvitation) => None,
                Err(e) => return Err(e),
            };
            if user.is_none_or(|u| u.oidc_provider.as_deref() != Some(provider.id.as_str())) {
                return Err(Error::OidcRefused(Refusal::Invitation));
            }
            PendingIntent::Invitation { token_hash }
        }
        Intent::StepUp { session, next } => {
            if !is_local_path(next) {
                return Err(Error::BadInput(
                    "the page to return to is not on this site".into(),
                ));
            }
            PendingIntent::StepUp {
                session_hash: session.token_hash.clone(),
                user_id: session.user_id.clone(),
                next: next.to_owned(),
            }
        }
    };
    let oidc_client = match provider.client().await {
        Ok(c) => c,
        Err(e) => return Err(unavailable(store, &provider.id, &e, client, now).await),
    };
    let ask = oidc::Ask {
        max_age: Some(sessions.step_up_max_age_secs),
        fresh: matches!(intent, PendingIntent::StepUp { .. }),
    };
    let (url, login) = oidc_client.begin(ask, now);
    let binding = crypto::random_token();
    let state_hash = crypto::sha256_hex(login.state.as_bytes());
    let pending = Pending {
        provider: provider.id.clone(),
        login,
        binding_hash: crypto::sha256_hex(binding.as_bytes()),
        intent,
    };
    let plain = zeroize::Zeroizing::new(
        serde_json::to_vec(&pending).map_err(|e| Error::Internal(e.to_string()))?,
    );
    let sealed = keyring.seal(&plain, PENDING_AAD)?;
    let mut tx = store.begin().await?;
    store::sessions::insert_oidc_pending(&mut tx, &state_hash, &sealed, unix(now)).await?;
    tx.commit().await?;
    Ok(Started {
        authorization_url: url,
        browser_binding: SecretString::from(binding),
    })
}

/// What the provider sent back to the callback.
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    /// `error` (RFC 6749 §4.1.2.1), e.g. `access_denied` when the user cancelled.
    pub error: Option<&'a str>,
}

/// The provider's `error` as a known code (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6), or "other":
/// its text is never recorded as it came.
fn provider_error_code(error: &str) -> &'static str {
    const KNOWN: [&str; 14] = [
        "access_denied",
        "invalid_request",
        "unauthorized_client",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
    ];
    KNOWN.into_iter().find(|k| *k == error).unwrap_or("other")
}

/// True for what looks like a Swedish personal or co-ordination number (10 or 12 digits, with
/// an optional `-` or `+`): such a subject would put an identity number in the store and the
/// audit log, so it is refused.
pub fn looks_like_identity_number(subject: &str) -> bool {
    let digits: String = subject.chars().filter(|c| *c != '-' && *c != '+').collect();
    let separators = subject.len() - digits.len();
    separators <= 1
        && (digits.len() == 10 || digits.len() == 12)
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Finishes a login at provider `provider`'s callback.
#[allow(clippy::too_many_arguments)]
pub async fn complete(
    store: &Store,
    keyring: &Keyring,
    provider: &Provider,
    callback: Callback<'_>,
    browser_binding: Option<&str>,
    sessions: &SessionConfig,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Result<Done, Error> {
    let id = provider.id.as_str();
    let Some(state) = callback.state.filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Err(refuse(store, id, "missing_state", Refusal::Rejected, client, now).await);
    };
    let mut tx = store.begin().await?;
    let sealed = store::sessions::take_oidc_pending(
        &mut tx,
        &crypto::sha256_hex(state.as_bytes()),
        unix(now) - PENDING_TTL_SECS,
    )
    .await?;
    tx.commit().await?;
    let Some(sealed) = sealed else {
        let reason = "unknown_or_replayed_state";
        return Err(refuse(store, id, reason, Refusal::Rejected, client, now).await);
    };
    let plain = keyring.open(&sealed, PENDING_AAD)?;
    let pending: Pending =
        serde_json::from_slice(&plain).map_err(|e| Error::Internal(e.to_string()))?;
    let bound = browser_binding.is_some_and(|b| {
        crypto::constant_time_eq(
            crypto::sha256_hex(b.as_bytes()).as_bytes(),
            pending.binding_hash.as_bytes(),
        )
    });
    if !bound {
        return Err(refuse(store, id, "browser_binding", Refusal::Rejected, client, now).await);
    }
    if pending.provider != provider.id {
        return Err(refuse(store, id, "other_provider", Refusal::Rejected, client, now).await);
    }
    if let Some(error) = callback.error {
        let code = provider_error_code(error);
        let (reason, refusal) = match code {
            "access_denied" => ("cancelled", Refusal::Cancelled),
            "login_required" | "interaction_required" => ("login_required", Refusal::Rejected),
            _ => ("provider_error", Refusal::Rejected),
        };
        let event = Event::new(
            EventKind::OidcRejected,
            Actor::anonymous(),
            "oidc",
            Outcome::Denied,
            json!({ "reason": reason, "provider": id, "error": code, "ip": client.ip }),
        );
        audit::record_now(store, &event, now).await?;
        return Err(Error::OidcRefused(refusal));
    }
    let code = callback.code.unwrap_or_default();
    let oidc_client = match provider.client().await {
        Ok(c) => c,
        Err(e) => return Err(unavailable(store, id, &e, client, now).await),
    };
    let identity = match oidc_client.complete(&pending.login, state, code, now).await {
        Ok(identity) => identity,
        Err(e @ oidc::Error::Unreachable(_)) => {
            return Err(unavailable(store, id, &e, client, now).await);
        }
        Err(e) => {
            let refusal = if e.code() == oidc::IdTokenProblem::AuthTime.as_str() {
                Refusal::TooOld
            } else {
                Refusal::Rejected
            };
            return Err(refuse(store, id, e.code(), refusal, client, now).await);
        }
    };
    if looks_like_identity_number(&identity.subject) {
        let reason = "subject_is_identity_number";
        return Err(refuse(store, id, reason, Refusal::Rejected, client, now).await);
    }
    let evidence = json!({
        "ip": client.ip, "provider": id, "issuer": identity.issuer,
        "mfa_trusted": identity.mfa, "acr": identity.acr, "amr": identity.amr,
        "claims": identity.named.iter().cloned().collect::<BTreeMap<_, _>>(),
    });
    match pending.intent {
        PendingIntent::SignIn => sign_in(store, provider, &identity, evidence, client, now).await,
        PendingIntent::Invitation { token_hash } => {
            accept(
                store,
                provider,
                &identity,
                &token_hash,
                evidence,
                client,
                now,
            )
            .await
        }
        PendingIntent::StepUp {
            session_hash,
            user_id,
            next,
        } => {
            let step = StepUp {
                session_hash: &session_hash,
                user_id: &user_id,
                next,
            };
            step_up(
                store, provider, &identity, step, evidence, sessions, client, now,
            )
            .await
        }
    }
}

fn proof(provider: &Provider, now: OffsetDateTime) -> Proof {
    Proof {
        factor: Factor::Oidc(provider.id.clone()),
        at: unix(now),
    }
}

async fn sign_in(
    store: &Store,
    provider: &Provider,
    identity: &oidc::Identity,
    mut evidence: serde_json::Value,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Result<Done, Error> {
    let id = provider.id.as_str();
    let Some(user) = store
        .find_user_by_oidc(&identity.issuer, &identity.subject)
        .await?
    else {
        return Err(refuse(
            store,
            id,
            "no_linked_account",
            Refusal::NotLinked,
            client,
            now,
        )
        .await);
    };
    if user.status != "active" {
        let reason = "account_not_active";
        return Err(refuse(store, id, reason, Refusal::NotActive, client, now).await);
    }
    let (stage, proof) = if identity.mfa {
        (Stage::Full, Some(proof(provider, now)))
    } else if user.oidc_provider.is_some() {
        // An account made for the provider has no second factor of its own to fall back on.
        let reason = "level_not_trusted";
        return Err(refuse(store, id, reason, Refusal::NotTrusted, client, now).await);
    } else if user.totp_seed.is_some() {
        (Stage::Password, None)
    } else {
        (Stage::Enrol, None)
    };
    let mut tx = store.begin().await?;
    let new = session::start(
        &mut tx,
        &user.id,
        user.auth_epoch,
        stage,
        unix(now),
        proof,
        now,
    )
    .await?;
    if let Some(map) = evidence.as_object_mut() {
        map.insert("next".into(), json!(stage.as_str()));
    }
    let event = Event::new(
        EventKind::OidcAccepted,
        Actor::user(&user.id),
        &format!("user:{}", user.username),
        Outcome::Success,
        evidence,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    let next = match stage {
        Stage::Full => "/start",
        Stage::Password => "/login/code",
        Stage::Enrol => "/enrol",
    };
    Ok(Done {
        session: new,
        next: next.to_owned(),
    })
}

/// Accepts an invitation by a sign-in at the provider: binds (issuer, subject) to the invited
/// account once, activates it and signs it in, in one transaction.
async fn accept(
    store: &Store,
    provider: &Provider,
    identity: &oidc::Identity,
    token_hash: &str,
    evidence: serde_json::Value,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Result<Done, Error> {
    let id = provider.id.as_str();
    if !identity.mfa {
        let reason = "level_not_trusted";
        return Err(refuse(store, id, reason, Refusal::NotTrusted, client, now).await);
    }
    if store
        .find_user_by_oidc(&identity.issuer, &identity.subject)
        .await?
        .is_some()
    {
        let reason = "identity_already_linked";
        return Err(refuse(store, id, reason, Refusal::OtherAccount, client, now).await);
    }
    let mut tx = store.begin().await?;
    let taken = store::accounts::take_invitation(&mut tx, token_hash, unix(now)).await?;
    let user = match taken {
        Some(user_id) => store::accounts::find_user_in(&mut tx, &user_id).await?,
        None => None,
    };
    let Some(user) = user.filter(|u| u.oidc_provider.as_deref() == Some(id)) else {
        tx.rollback().await?;
        return Err(refuse(
            store,
            id,
            "invalid_invitation",
            Refusal::Invitation,
            client,
            now,
        )
        .await);
    };
    store::accounts::link_oidc_identity(&mut tx, &identity.issuer, &identity.subject, &user.id)
        .await?;
    store::accounts::set_status(&mut tx, &user.id, "active", unix(now)).await?;
    let target = format!("user:{}", user.username);
    let linked = Event::new(
        EventKind::OidcLinked,
        Actor::user(&user.id),
        &target,
        Outcome::Success,
        json!({ "issuer": identity.issuer, "subject": identity.subject, "provider": id, "by": "invitation" }),
    );
    audit::record(&mut tx, &linked, now).await?;
    let accepted = Event::new(
        EventKind::InvitationAccepted,
        Actor::user(&user.id),
        &target,
        Outcome::Success,
        json!({ "provider": id }),
    );
    audit::record(&mut tx, &accepted, now).await?;
    // Activating moved the auth epoch on: the session is made under the new one.
    let epoch = store::accounts::find_user_in(&mut tx, &user.id)
        .await?
        .map_or(user.auth_epoch, |u| u.auth_epoch);
    let new = session::start(
        &mut tx,
        &user.id,
        epoch,
        Stage::Full,
        unix(now),
        Some(proof(provider, now)),
        now,
    )
    .await?;
    let event = Event::new(
        EventKind::OidcAccepted,
        Actor::user(&user.id),
        &target,
        Outcome::Success,
        evidence,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Done {
        session: new,
        next: "/start".to_owned(),
    })
}

struct StepUp<'a> {
    session_hash: &'a str,
    user_id: &'a str,
    next: String,
}

/// A fresh second factor for the session that began the step-up, proven by a new
/// authentication at the provider of the same person.
#[allow(clippy::too_many_arguments)]
async fn step_up(
    store: &Store,
    provider: &Provider,
    identity: &oidc::Identity,
    step: StepUp<'_>,
    evidence: serde_json::Value,
    sessions: &SessionConfig,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Result<Done, Error> {
    let id = provider.id.as_str();
    let user = store
        .find_user_by_oidc(&identity.issuer, &identity.subject)
        .await?;
    if user.is_none_or(|u| u.id != step.user_id) {
        let reason = "step_up_other_account";
        return Err(refuse(store, id, reason, Refusal::OtherAccount, client, now).await);
    }
    if !identity.mfa {
        let reason = "level_not_trusted";
        return Err(refuse(store, id, reason, Refusal::NotTrusted, client, now).await);
    }
    let session = session::find_live(store, step.session_hash, sessions, now).await?;
    if session.stage != Stage::Full || session.user_id != step.user_id {
        return Err(Error::SessionExpired);
    }
    let mut tx = store.begin().await?;
    let new = session::rotate(
        &mut tx,
        &session,
        Stage::Full,
        Some(proof(provider, now)),
        now,
    )
    .await?;
    let mut details = evidence;
    if let Some(map) = details.as_object_mut() {
        map.insert("method".into(), json!("oidc"));
        map.insert("purpose".into(), json!("step_up"));
    }
    let event = Event::new(
        EventKind::SecondFactorAccepted,
        Actor::user(&session.user_id),
        &format!("user:{}", session.username),
        Outcome::Success,
        details,
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Done {
        session: new,
        next: step.next,
    })
}

/// Links an identity at the provider to an existing account (admin action, audited).
pub async fn link(
    store: &Store,
    actor: Actor,
    username: &str,
    issuer: &str,
    subject: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let name = Username::parse(username)?;
    let user = store
        .find_user_by_username(name.as_str())
        .await?
        .ok_or_else(|| Error::NoSuchUser(name.as_str().to_owned()))?;
    if issuer.is_empty() || subject.is_empty() || issuer.len() > 512 || subject.len() > 255 {
        return Err(Error::BadInput(
            "give the issuer URL and the subject (sub) exactly as the provider states them".into(),
        ));
    }
    if looks_like_identity_number(subject) {
        return Err(Error::BadInput(
            "that subject looks like a personal identity number, which Registervakt never stores; configure the provider to give an opaque or pairwise subject".into(),
        ));
    }
    let mut tx = store.begin().await?;
    store::accounts::link_oidc_identity(&mut tx, issuer, subject, &user.id).await?;
    let event = Event::new(
        EventKind::OidcLinked,
        actor,
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "issuer": issuer, "subject": subject, "by": "administrator" }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_numbers_are_recognised_and_opaque_subjects_are_not() {
        for pnr in [
            "195307279878",
            "5307279878",
            "530727-9878",
            "19530727-9878",
            "121212+1212",
        ] {
            assert!(looks_like_identity_number(pnr), "{pnr}");
        }
        for sub in [
            "alice",
            "a1b2c3",
            "1234567890123",
            "12345",
            "5307-27-9878",
            "",
        ] {
            assert!(!looks_like_identity_number(sub), "{sub}");
        }
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert!(is_local_path("/extracts/abc"));
        for bad in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil",
            "extracts",
            "",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }

    #[test]
    fn provider_errors_are_recorded_only_as_known_codes() {
        assert_eq!(provider_error_code("access_denied"), "access_denied");
        assert_eq!(provider_error_code("<script>"), "other");
    }
}
