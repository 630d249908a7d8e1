//! Sign-in through the party's OpenID provider: authorization code flow with PKCE
//! (OpenID Connect Core 1.0 §3.1, RFC 7636, ASVS V10).
//!
//! Guarantees: every login uses fresh 256-bit `state`, `nonce` and PKCE verifier (S256); the
//! returned `state` is compared in constant time; an [`Identity`] comes only out of an ID token
//! that passed every check of Core 1.0 §3.1.3.7 (see [`verify`]), evaluated at the `now` the
//! caller passes; users are identified by (`iss`, `sub`) and `mfa` is true only when the
//! returned claims satisfy one of the configured trust rules ([`TrustRule`]: `acr`, `amr`, a
//! named claim such as `registrationLevel`). When a login asked for `max_age`, the token's
//! `auth_time` must be present and recent enough, and for a step-up no older than the step-up
//! itself. A token signed with a key id the provider did not publish makes the client fetch
//! the provider's keys again, at most once per [`JWKS_REFETCH_INTERVAL`]. Provider calls never
//! follow redirects (SSRF) and are bounded by [`Settings::timeout`]; issuers and endpoints must
//! use https unless they are on loopback (tests). Of the token's claims only `sub`, `acr`,
//! `amr`, `auth_time`, `email` and the claims the rules name are read: an identity number the
//! provider adds is never kept.
//!
//! Must never: log or put into an error the client secret, the code, the PKCE verifier, the
//! nonce, the state or any token; key a user by e-mail; read the system clock for token checks.
//! Single use of `state` is the caller's job: it keeps [`PendingLogin`] server-side, keyed by a
//! hash of `state`, and deletes it on first use.

mod transport;
mod verify;

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreJsonWebKeySet,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKey as _, JsonWebKeySetUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _, reqwest,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::config::oidc::{RequestAcr, TrustRule};
use crate::crypto::{constant_time_eq, random_token};
#[cfg(test)]
use transport::provider_text;
use transport::{discovery_error, http_client, is_loopback, require_secure, token_error};

/// Longest authorization code forwarded to the provider; real codes are far shorter.
const MAX_CODE_LEN: usize = 2048;

/// The provider's keys are fetched again for an unknown key id at most this often.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Clock skew allowed between the provider and the broker for `auth_time`.
const AUTH_TIME_SKEW: i64 = 60;

/// What the `[oidc]` section of `registervakt.toml` configures.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Issuer URL exactly as the provider states it (compared byte for byte, Discovery §4.3).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The broker's callback, e.g. `https://broker.example/auth/oidc/callback`.
    pub redirect_url: String,
    /// Extra scopes; `openid` is always requested.
    pub scopes: Vec<String>,
    /// Which sign-ins count as two factors: any rule whose every condition holds.
    pub trust: Vec<TrustRule>,
    /// How the `acr` values in `acr_values` are asked for.
    pub request_acr: RequestAcr,
    /// The `acr` values asked for (e.g. `http://id.elegnamnden.se/loa/1.0/loa3`).
    pub acr_values: Vec<String>,
    /// Connect and total timeout of every call to the provider.
    pub timeout: Duration,
}

/// The provider client after discovery. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointMaybeSet,
>;

struct Inner {
    settings: Settings,
    issuer: IssuerUrl,
    client_id: ClientId,
    provider: ProviderClient,
    jwks_uri: JsonWebKeySetUrl,
    jwks: RwLock<CoreJsonWebKeySet>,
    /// When the keys were last fetched again for an unknown key id.
    last_refetch: Mutex<Option<Instant>>,
    acr_values: Vec<String>,
    http: reqwest::Client,
}

/// What a login asks of the provider beyond signing the user in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ask {
    /// `max_age` (Core 1.0 §3.1.2.1): the user's authentication there may be at most this many
    /// seconds old; the token must then carry `auth_time`.
    pub max_age: Option<i64>,
    /// `prompt=login`: authenticate again even with a session at the provider (step-up).
    pub fresh: bool,
}

/// What the broker remembers between [`Client::begin`] and [`Client::complete`].
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// What was asked ([`Ask`]), and when the login began (Unix seconds).
    #[serde(default)]
    pub max_age: Option<i64>,
    #[serde(default)]
    pub fresh: bool,
    #[serde(default)]
    pub begun_at: i64,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingLogin { .. redacted .. }")
    }
}

/// A verified sign-in. Users are keyed by (`issuer`, `subject`), never by `email`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    /// The claims the trust rules name, with their values (e.g. `registrationLevel: PLUS`).
    pub named: Vec<(String, Vec<String>)>,
    /// When the user authenticated at the provider (Unix seconds), if it said.
    pub auth_time: Option<i64>,
    /// The claims satisfy one of the trust rules.
    pub mfa: bool,
    /// Informational only, as asserted by the provider (possibly unverified).
    pub email: Option<String>,
}

/// Why an ID token was rejected (Core 1.0 §3.1.3.7); [`IdTokenProblem::as_str`] is stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdTokenProblem {
    Issuer,
    Audience,
    Nonce,
    Expired,
    IssuedInFuture,
    Signature,
    Algorithm,
    Missing,
    /// `auth_time` absent although `max_age` was asked, or older than allowed.
    AuthTime,
    Other,
}

impl IdTokenProblem {
    /// Stable code for the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::Nonce => "nonce",
            Self::Expired => "expired",
            Self::IssuedInFuture => "issued_in_future",
            Self::Signature => "signature",
            Self::Algorithm => "algorithm",
            Self::Missing => "missing",
            Self::AuthTime => "auth_time",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for IdTokenProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of this module. Every message is safe to log: no tokens, codes or secrets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("OIDC settings are invalid: {0}")]
    Settings(String),
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    #[error("identity provider discovery failed: {0}")]
    Discovery(String),
    #[error("returned state does not match the pending login")]
    StateMismatch,
    #[error("authorization code exchange failed: {0}")]
    TokenExchange(String),
    #[error("ID token rejected: {0}")]
    IdToken(IdTokenProblem),
}

impl Error {
    /// Stable code for logs and the audit trail.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Settings(_) => "settings",
            Self::Unreachable(_) => "unreachable",
            Self::Discovery(_) => "discovery",
            Self::StateMismatch => "state_mismatch",
            Self::TokenExchange(_) => "token_exchange",
            Self::IdToken(problem) => problem.as_str(),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("issuer", &self.inner.issuer.as_str())
            .field("client_id", &self.inner.client_id.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Fetches the provider's metadata and keys (OpenID Connect Discovery 1.0 §4). Fails closed:
    /// [`Error::Unreachable`] when the provider cannot be reached in time, [`Error::Discovery`]
    /// when its metadata is unusable or names another issuer than `settings.issuer` (§4.3).
    #[tracing::instrument(skip_all, fields(issuer = %settings.issuer))]
    pub async fn discover(settings: Settings) -> Result<Client, Error> {
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| Error::Settings(format!("issuer is not a URL: {e}")))?;
        require_secure(issuer.url(), "issuer").map_err(Error::Settings)?;
        let redirect = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| Error::Settings(format!("redirect_url is not a URL: {e}")))?;
        let http = http_client(settings.timeout, is_loopback(issuer.url()))?;

        let discovery = CoreProviderMetadata::discover_async(issuer.clone(), &http);
        let metadata = tokio::time::timeout(settings.timeout, discovery)
            .await
            .map_err(|_| Error::Unreachable("discovery timed out".to_owned()))?
            .map_err(discovery_error)?;

        let token_url = metadata
            .token_endpoint()
            .cloned()
            .ok_or_else(|| Error::Discovery("provider has no token_endpoint".to_owned()))?;
        for (url, what) in [
            (
                metadata.authorization_endpoint().url(),
                "authorization_endpoint",
            ),
            (token_url.url(), "token_endpoint"),
            (metadata.jwks_uri().url(), "jwks_uri"),
        ] {
            require_secure(url, what).map_err(Error::Discovery)?;
        }
        let auth_type = client_auth_type(metadata.token_endpoint_auth_methods_supported());
        let acr_values = acr_values_to_request(
            &settings.acr_values,
            metadata.acr_values_supported().map(Vec::as_slice),
        );
        let jwks = metadata.jwks().clone();
        let jwks_uri = metadata.jwks_uri().clone();
        if jwks.keys().is_empty() {
            return Err(Error::Discovery("provider publishes no keys".to_owned()));
        }
        let client_id = ClientId::new(settings.client_id.clone());
        let secret = ClientSecret::new(settings.client_secret.expose_secret().to_owned());
        let provider =
            CoreClient::from_provider_metadata(metadata, client_id.clone(), Some(secret))
                .set_token_uri(token_url)
                .set_redirect_uri(redirect)
                .set_auth_type(auth_type);
        tracing::info!(keys = jwks.keys().len(), "OIDC provider discovered");
        Ok(Client {
            inner: Arc::new(Inner {
                settings,
                issuer,
                client_id,
                provider,
                jwks_uri,
                jwks: RwLock::new(jwks),
                last_refetch: Mutex::new(None),
                acr_values,
                http,
            }),
        })
    }

    /// Starts a login at `now`: the URL to send the browser to, and what to keep until the
    /// callback.
    ///
    /// The configured `acr` values (narrowed to the provider's `acr_values_supported` when it
    /// publishes that list) go out as an essential `acr` claim in the `claims` parameter
    /// (Core 1.0 §5.5.1.1) or as `acr_values` (§3.1.2.1), as configured. Either way the asserted
    /// claims are checked in [`Client::complete`] all the same.
    pub fn begin(&self, ask: Ask, now: OffsetDateTime) -> (String, PendingLogin) {
        let pending = PendingLogin {
            state: random_token(),
            nonce: random_token(),
            pkce_verifier: random_token(),
            max_age: ask.max_age,
            fresh: ask.fresh,
            begun_at: now.unix_timestamp(),
        };
        // random_token() is 43 base64url characters, within RFC 7636 §4.1's 43..=128.
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            pending.pkce_verifier.clone(),
        ));
        let (state, nonce) = (pending.state.clone(), pending.nonce.clone());
        let mut request = self
            .inner
            .provider
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(challenge);
        let mut scopes: Vec<&String> = Vec::new();
        for scope in &self.inner.settings.scopes {
            if scope != "openid" && !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        for scope in scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        match self.inner.settings.request_acr {
            _ if self.inner.acr_values.is_empty() => {}
            RequestAcr::Essential => {
                let claims = serde_json::json!({
                    "id_token": { "acr": { "essential": true, "values": self.inner.acr_values } }
                });
                request = request.add_extra_param("claims", claims.to_string());
            }
            RequestAcr::AcrValues => {
                for acr in &self.inner.acr_values {
                    request = request
                        .add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
                }
            }
            RequestAcr::None => {}
        }
        if let Some(max_age) = ask.max_age {
            request = request.set_max_age(Duration::from_secs(max_age.max(0).unsigned_abs()));
        }
        if ask.fresh {
            request = request.add_prompt(CoreAuthPrompt::Login);
        }
        let (url, _, _) = request.url();
        (url.to_string(), pending)
    }

    /// Finishes a login from the callback's `state` and `code`, checking the ID token at `now`.
    #[tracing::instrument(skip_all, fields(issuer = %self.inner.issuer.as_str()))]
    pub async fn complete(
        &self,
        pending: &PendingLogin,
        returned_state: &str,
        code: &str,
        now: OffsetDateTime,
    ) -> Result<Identity, Error> {
        // RFC 6749 §10.12: the callback must belong to a login this browser started.
        if pending.state.is_empty()
            || !constant_time_eq(pending.state.as_bytes(), returned_state.as_bytes())
        {
            return Err(Error::StateMismatch);
        }
        if code.is_empty() || code.len() > MAX_CODE_LEN {
            return Err(Error::TokenExchange(
                "malformed authorization code".to_owned(),
            ));
        }
        let request = self
            .inner
            .provider
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
        let response = tokio::time::timeout(
            self.inner.settings.timeout,
            request.request_async(&self.inner.http),
        )
        .await
        .map_err(|_| Error::Unreachable("token request timed out".to_owned()))?
        .map_err(token_error)?;
        let id_token = response
            .id_token()
            .ok_or(Error::IdToken(IdTokenProblem::Missing))?
            .to_string();
        let claims = match self.verify(&id_token, &pending.nonce, now) {
            Err(IdTokenProblem::Signature) if self.may_refetch_for(&id_token) => {
                self.refetch_keys().await?;
                self.verify(&id_token, &pending.nonce, now)
            }
            other => other,
        }
        .map_err(Error::IdToken)?;
        check_auth_time(claims.auth_time, pending, now).map_err(Error::IdToken)?;
        let settings = &self.inner.settings;
        let mfa = is_mfa(&claims, &settings.trust);
        Ok(Identity {
            issuer: settings.issuer.clone(),
            subject: claims.subject,
            acr: claims.acr,
            amr: claims.amr,
            named: claims.named,
            auth_time: claims.auth_time,
            mfa,
            email: claims.email,
        })
    }

    fn verify(
        &self,
        id_token: &str,
        nonce: &str,
        now: OffsetDateTime,
    ) -> Result<verify::VerifiedClaims, IdTokenProblem> {
        let jwks = self
            .inner
            .jwks
            .read()
            .map_err(|_| IdTokenProblem::Other)?
            .clone();
        verify::verify_id_token(
            id_token,
            &verify::Expected {
                issuer: &self.inner.issuer,
                client_id: &self.inner.client_id,
                jwks: &jwks,
                nonce,
                now,
                named_claims: &named_claims(&self.inner.settings.trust),
            },
        )
    }

    /// True when the token names a key id the known keys lack and no refetch happened within
    /// [`JWKS_REFETCH_INTERVAL`]; claims the refetch slot. A bad signature by a known key
    /// never refetches (that is a forgery, not a rotation).
    fn may_refetch_for(&self, id_token: &str) -> bool {
        let Some(kid) = verify::key_id(id_token) else {
            return false;
        };
        let known = self.inner.jwks.read().is_ok_and(|jwks| {
            jwks.keys()
                .iter()
                .any(|k| k.key_id().is_some_and(|id| id.as_str() == kid))
        });
        if known {
            return false;
        }
        let Ok(mut last) = self.inner.last_refetch.lock() else {
            return false;
        };
        if last.is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    async fn refetch_keys(&self) -> Result<(), Error> {
        let fetch = CoreJsonWebKeySet::fetch_async(&self.inner.jwks_uri, &self.inner.http);
        let jwks = tokio::time::timeout(self.inner.settings.timeout, fetch)
            .await
            .map_err(|_| Error::Unreachable("key fetch timed out".to_owned()))?
            .map_err(discovery_error)?;
        if jwks.keys().is_empty() {
            return Err(Error::Discovery("provider publishes no keys".to_owned()));
        }
        tracing::info!(keys = jwks.keys().len(), "OIDC provider keys fetched again");
        if let Ok(mut slot) = self.inner.jwks.write() {
            *slot = jwks;
        }
        Ok(())
    }
}

/// `auth_time` against what the login asked (Core 1.0 §3.1.2.1, §3.1.3.7 step 13): with
/// `max_age` it must be present and within it; for a step-up (`prompt=login`) the user must
/// have authenticated after the step-up began.
fn check_auth_time(
    auth_time: Option<i64>,
    pending: &PendingLogin,
    now: OffsetDateTime,
) -> Result<(), IdTokenProblem> {
    let Some(max_age) = pending.max_age else {
        return Ok(());
    };
    let Some(at) = auth_time else {
        return Err(IdTokenProblem::AuthTime);
    };
    let now = now.unix_timestamp();
    if now - at > max_age + AUTH_TIME_SKEW || at > now + AUTH_TIME_SKEW {
        return Err(IdTokenProblem::AuthTime);
    }
    if pending.fresh && at < pending.begun_at - AUTH_TIME_SKEW {
        return Err(IdTokenProblem::AuthTime);
    }
    Ok(())
}

/// The claims the rules name besides `acr` and `amr`.
fn named_claims(rules: &[TrustRule]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in rules.iter().filter_map(|r| r.claim.as_ref()) {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// Two factors only on exact matches with a configured rule, every condition of which holds
/// (BRIEF "Sign in"; oauth2-proxy PR #1982).
fn is_mfa(claims: &verify::VerifiedClaims, rules: &[TrustRule]) -> bool {
    rules.iter().any(|rule| {
        let acr = rule.acr.is_empty()
            || claims
                .acr
                .as_ref()
                .is_some_and(|acr| rule.acr.contains(acr));
        let amr = rule.amr.is_empty() || claims.amr.iter().any(|m| rule.amr.contains(m));
        let named = rule.claim.as_ref().is_none_or(|name| {
            claims
                .named
                .iter()
                .find(|(n, _)| n == name)
                .is_some_and(|(_, values)| values.iter().any(|v| rule.values.contains(v)))
        });
        let names_something = !rule.acr.is_empty() || !rule.amr.is_empty() || rule.claim.is_some();
        names_something && acr && amr && named
    })
}

fn acr_values_to_request(
    trusted: &[String],
    supported: Option<&[AuthenticationContextClass]>,
) -> Vec<String> {
    trusted
        .iter()
        .filter(|acr| supported.is_none_or(|s| s.iter().any(|v| v.as_str() == acr.as_str())))
        .cloned()
        .collect()
}

/// `client_secret_basic` (RFC 6749 §2.3.1) unless the provider only offers `client_secret_post`.
fn client_auth_type(supported: Option<&Vec<CoreClientAuthMethod>>) -> AuthType {
    match supported {
        Some(methods)
            if !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && methods.contains(&CoreClientAuthMethod::ClientSecretPost) =>
        {
            AuthType::RequestBody
        }
        _ => AuthType::BasicAuth,
    }
}

#[cfg(test)]
mod tests;
