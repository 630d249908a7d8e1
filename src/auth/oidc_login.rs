//! Sign-in through the party's identity provider (OIDC), on top of [`super::oidc`].
//!
//! Guarantees (SECURITY_BAR A7):
//! - state, nonce and PKCE verifier are kept server-side, sealed, and taken once: a replayed
//!   or unknown `state` finds nothing; a login older than [`PENDING_TTL_SECS`] is refused;
//! - the login is bound to the browser that started it (a random value in a short-lived
//!   cookie, compared in constant time), so a victim cannot be made to finish an attacker's login;
//! - users are found by (issuer, subject) only, linked by an administrator beforehand;
//! - the broker still asks for its own TOTP unless the token's `acr`/`amr` is configured as
//!   trusted MFA — never half-signed-in;
//! - discovery happens on first use and is retried on later requests while the provider is
//!   down, so the broker starts and recovers without a restart (G4); every rejection is audited.

use crate::nouns::Username;
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::RwLock;

use super::session::{self, NewSession, Stage};
use super::signin::Client as ClientAddr;
use super::{Error, oidc, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::config::OidcConfig;
use crate::crypto::{self, Keyring};
use crate::store::{self, Store};

/// A login must come back from the provider within this many seconds.
pub const PENDING_TTL_SECS: i64 = 600;

const PENDING_AAD: &[u8] = b"registervakt/oidc-pending";

/// The configured provider, discovered on first use and again after a signature failure
/// (the provider may have rotated its keys): recovery never needs a restart.
pub struct Provider {
    settings: oidc::Settings,
    client: RwLock<Option<oidc::Client>>,
}

impl Provider {
    pub fn new(cfg: &OidcConfig, public_url: &str) -> Provider {
        Provider {
            settings: oidc::Settings {
                issuer: cfg.issuer.clone(),
                client_id: cfg.client_id.clone(),
                client_secret: cfg.client_secret.clone(),
                redirect_url: format!("{}/auth/oidc/callback", public_url.trim_end_matches('/')),
                scopes: cfg.scopes.clone(),
                trusted_acr: cfg.trusted_acr.clone(),
                trusted_amr: cfg.trusted_amr.clone(),
                timeout: std::time::Duration::from_secs(cfg.timeout_secs),
            },
            client: RwLock::new(None),
        }
    }

    /// The discovered client; a failed discovery is not kept, so the next request retries.
    pub async fn client(&self) -> Result<oidc::Client, Error> {
        if let Some(client) = self.client.read().await.as_ref() {
            return Ok(client.clone());
        }
        let mut slot = self.client.write().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = oidc::Client::discover(self.settings.clone())
            .await
            .map_err(|e| Error::OidcUnavailable(e.to_string()))?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Forgets the discovered metadata and keys, so the next login fetches them again.
    async fn forget(&self) {
        *self.client.write().await = None;
    }
}

/// What the browser must carry back: the value of the binding cookie.
pub struct Started {
    pub authorization_url: String,
    pub browser_binding: SecretString,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    login: oidc::PendingLogin,
    binding_hash: String,
}

/// Starts a login: stores the pending state sealed and returns where to send the browser.
pub async fn begin(
    store: &Store,
    keyring: &Keyring,
    provider: &Provider,
    now: OffsetDateTime,
) -> Result<Started, Error> {
    let client = provider.client().await?;
    let (url, login) = client.begin();
    let binding = crypto::random_token();
    let state_hash = crypto::sha256_hex(login.state.as_bytes());
    let pending = Pending {
        login,
        binding_hash: crypto::sha256_hex(binding.as_bytes()),
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

async fn reject(
    store: &Store,
    reason: &str,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Result<Error, Error> {
    let event = Event::new(
        EventKind::OidcRejected,
        Actor::anonymous(),
        "oidc",
        Outcome::Denied,
        json!({ "reason": reason, "ip": client.ip }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(Error::Oidc(format!(
        "sign-in through the identity provider was refused ({reason})"
    )))
}

/// Finishes a login at the callback. Returns a session at `Full` (trusted MFA), `Password`
/// (TOTP next) or `Enrol` (no TOTP yet).
#[allow(clippy::too_many_arguments)]
pub async fn complete(
    store: &Store,
    keyring: &Keyring,
    provider: &Provider,
    state: &str,
    code: &str,
    browser_binding: Option<&str>,
    client: &ClientAddr,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    let oidc_client = provider.client().await?;
    let mut tx = store.begin().await?;
    let sealed = store::sessions::take_oidc_pending(
        &mut tx,
        &crypto::sha256_hex(state.as_bytes()),
        unix(now) - PENDING_TTL_SECS,
    )
    .await?;
    tx.commit().await?;
    let Some(sealed) = sealed else {
        return Err(reject(store, "unknown_or_replayed_state", client, now).await?);
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
        return Err(reject(store, "browser_binding", client, now).await?);
    }
    let identity = match oidc_client.complete(&pending.login, state, code, now).await {
        Ok(identity) => identity,
        Err(e) => {
            if matches!(e, oidc::Error::IdToken(oidc::IdTokenProblem::Signature)) {
                provider.forget().await;
            }
            return Err(reject(store, e.code(), client, now).await?);
        }
    };
    let Some(user) = store
        .find_user_by_oidc(&identity.issuer, &identity.subject)
        .await?
    else {
        return Err(reject(store, "no_linked_account", client, now).await?);
    };
    if user.status != "active" {
        return Err(reject(store, "account_not_active", client, now).await?);
    }
    let (stage, proof) = if identity.mfa {
        let factor = session::Factor::Oidc(identity.issuer.clone());
        (
            Stage::Full,
            Some(session::Proof {
                factor,
                at: unix(now),
            }),
        )
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
    let event = Event::new(
        EventKind::OidcAccepted,
        Actor::user(&user.id),
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "ip": client.ip, "issuer": identity.issuer, "mfa_trusted": identity.mfa, "acr": identity.acr, "amr": identity.amr, "next": stage.as_str() }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(new)
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
    let mut tx = store.begin().await?;
    store::accounts::link_oidc_identity(&mut tx, issuer, subject, &user.id).await?;
    let event = Event::new(
        EventKind::OidcLinked,
        actor,
        &format!("user:{}", user.username),
        Outcome::Success,
        json!({ "issuer": issuer, "subject": subject }),
    );
    audit::record(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(())
}
