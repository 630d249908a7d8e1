//! Sign-in through the party's OpenID provider: authorization code flow with PKCE
//! (OpenID Connect Core 1.0 §3.1, RFC 7636, ASVS V10).
//!
//! Guarantees: every login uses fresh 256-bit `state`, `nonce` and PKCE verifier (S256); the
//! returned `state` is compared in constant time; an [`Identity`] comes only out of an ID token
//! that passed every check of Core 1.0 §3.1.3.7 (see [`verify`]), evaluated at the `now` the
//! caller passes; users are identified by (`iss`, `sub`) and `mfa` is true only when the
//! configuration trusts the asserted `acr` or `amr` value. Provider calls never follow
//! redirects (SSRF) and are bounded by [`Settings::timeout`]; issuers and endpoints must use
//! https unless they are on loopback (tests).
//!
//! Must never: log or put into an error the client secret, the code, the PKCE verifier, the
//! nonce, the state or any token; key a user by e-mail; read the system clock for token checks.
//! Single use of `state` is the caller's job: it keeps [`PendingLogin`] server-side, keyed by a
//! hash of `state`, and deletes it on first use.

mod transport;
mod verify;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreJsonWebKeySet,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _, reqwest,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::crypto::{constant_time_eq, random_token};
#[cfg(test)]
use transport::provider_text;
use transport::{discovery_error, http_client, is_loopback, require_secure, token_error};

/// Longest authorization code forwarded to the provider; real codes are far shorter.
const MAX_CODE_LEN: usize = 2048;

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
    /// `acr` values trusted as multi-factor (e.g. `http://id.elegnamnden.se/loa/1.0/loa3`).
    pub trusted_acr: Vec<String>,
    /// `amr` values trusted as multi-factor (RFC 8176, e.g. `mfa`, `otp`, `hwk`).
    pub trusted_amr: Vec<String>,
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
    jwks: CoreJsonWebKeySet,
    acr_values: Vec<String>,
    http: reqwest::Client,
}

/// What the broker remembers between [`Client::begin`] and [`Client::complete`].
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
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
    /// `acr` ∈ `trusted_acr` or some `amr` ∈ `trusted_amr`.
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
            &settings.trusted_acr,
            metadata.acr_values_supported().map(Vec::as_slice),
        );
        let jwks = metadata.jwks().clone();
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
                jwks,
                acr_values,
                http,
            }),
        })
    }

    /// Starts a login: the URL to send the browser to, and what to keep until the callback.
    ///
    /// When `trusted_acr` is set, those values (narrowed to the provider's
    /// `acr_values_supported` when it publishes that list) go out as `acr_values`
    /// (Core 1.0 §3.1.2.1). They are a voluntary request only: the asserted `acr` is checked in
    /// [`Client::complete`] all the same, and providers that do not know them ignore them.
    pub fn begin(&self) -> (String, PendingLogin) {
        let pending = PendingLogin {
            state: random_token(),
            nonce: random_token(),
            pkce_verifier: random_token(),
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
        for acr in &self.inner.acr_values {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
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
            .ok_or(Error::IdToken(IdTokenProblem::Missing))?;
        let claims = verify::verify_id_token(
            &id_token.to_string(),
            &verify::Expected {
                issuer: &self.inner.issuer,
                client_id: &self.inner.client_id,
                jwks: &self.inner.jwks,
                nonce: &pending.nonce,
                now,
            },
        )
        .map_err(Error::IdToken)?;
        let settings = &self.inner.settings;
        let mfa = is_mfa(
            claims.acr.as_deref(),
            &claims.amr,
            &settings.trusted_acr,
            &settings.trusted_amr,
        );
        Ok(Identity {
            issuer: settings.issuer.clone(),
            subject: claims.subject,
            acr: claims.acr,
            amr: claims.amr,
            mfa,
            email: claims.email,
        })
    }
}

/// MFA only on exact matches with configured values (BRIEF "Sign in"; oauth2-proxy PR #1982).
fn is_mfa(
    acr: Option<&str>,
    amr: &[String],
    trusted_acr: &[String],
    trusted_amr: &[String],
) -> bool {
    acr.is_some_and(|acr| trusted_acr.iter().any(|t| t == acr))
        || amr.iter().any(|m| trusted_amr.contains(m))
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
