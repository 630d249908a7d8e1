//! Talking to the provider over HTTP: the hardened client and the mapping of openidconnect's
//! errors onto [`super::Error`].
//!
//! Guarantees: no redirects are followed (SSRF — openidconnect's own advice), connect and total
//! timeouts apply, plain http is allowed on loopback only, and every error message is safe to
//! log. Must never: copy a response body into an error (a half-parsed token response may carry
//! tokens), or let provider text longer than 200 characters or with control characters through.

use std::time::Duration;

use openidconnect::core::CoreErrorResponseType;
use openidconnect::{
    DiscoveryError, HttpClientError, RequestTokenError, StandardErrorResponse, reqwest,
};

use super::Error;

/// Longest piece of provider-supplied text (`error_description`) put into an error.
const MAX_PROVIDER_TEXT: usize = 200;

/// The provider client: no redirects (openidconnect's SSRF advice), connect and total timeouts,
/// https only unless the issuer is on loopback.
pub(super) fn http_client(timeout: Duration, loopback: bool) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .https_only(!loopback)
        .build()
        .map_err(|e| Error::Discovery(format!("cannot build HTTP client: {e}")))
}

pub(super) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Discovery 1.0 §3 wants https issuers; plain http is allowed on loopback only (tests).
pub(super) fn require_secure(url: &url::Url, what: &str) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => Err(format!("{what} must use https")),
    }
}

/// Names the kind of failure only: reqwest's own message may carry the whole URL and more.
fn request_failure(err: &HttpClientError<reqwest::Error>, what: &str) -> Error {
    let reason = match err {
        HttpClientError::Reqwest(e) if e.is_timeout() => "timed out",
        HttpClientError::Reqwest(e) if e.is_connect() => "connection failed",
        HttpClientError::Reqwest(e) if e.is_redirect() => "redirect refused",
        HttpClientError::Io(_) => "I/O error",
        _ => "request failed",
    };
    Error::Unreachable(format!("{what}: {reason}"))
}

pub(super) fn discovery_error(err: DiscoveryError<HttpClientError<reqwest::Error>>) -> Error {
    match err {
        DiscoveryError::Request(e) => request_failure(&e, "discovery"),
        DiscoveryError::Response(status, _body, _) => {
            Error::Discovery(format!("provider answered HTTP {status}"))
        }
        DiscoveryError::Parse(e) => Error::Discovery(format!("invalid metadata at `{}`", e.path())),
        DiscoveryError::Validation(msg) => Error::Discovery(provider_text(&msg)),
        DiscoveryError::UrlParse(e) => Error::Discovery(format!("bad URL: {e}")),
        other => Error::Discovery(provider_text(&other.to_string())),
    }
}

pub(super) fn token_error(
    err: RequestTokenError<
        HttpClientError<reqwest::Error>,
        StandardErrorResponse<CoreErrorResponseType>,
    >,
) -> Error {
    match err {
        RequestTokenError::ServerResponse(resp) => {
            let description = resp.error_description().map(|d| provider_text(d));
            Error::TokenExchange(match description {
                Some(d) => format!("{}: {d}", provider_text(resp.error().as_ref())),
                None => provider_text(resp.error().as_ref()),
            })
        }
        RequestTokenError::Request(e) => request_failure(&e, "token endpoint"),
        // Never echo the body: a half-parsed success response may carry tokens.
        RequestTokenError::Parse(..) => {
            Error::TokenExchange("unparseable token response".to_owned())
        }
        RequestTokenError::Other(msg) => Error::TokenExchange(provider_text(&msg)),
    }
}

/// Provider text made safe to log: control characters dropped, at most 200 characters.
pub(super) fn provider_text(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_PROVIDER_TEXT)
        .collect()
}
