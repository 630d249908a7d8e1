//! Session extractors, the session cookie and the cross-origin guard.
//!
//! A handler states what it needs by the extractor it takes:
//! - [`AnyStage`]: any live session, also half-signed-in — only the second-factor step,
//!   enrolment and sign-out take it;
//! - [`SignedIn`]: both factors done (every other non-public route);
//! - [`StepUp`]: both factors and a second-factor proof no older than 5 minutes (B2).
//!
//! Every extractor reads the session from the store on every request: no cache, so a
//! disabled user or a changed role is refused at the next request on every broker.
//! State-changing requests from another origin are refused (`Origin` /
//! `Sec-Fetch-Site`), which together with `SameSite=Strict` stops CSRF for both the JSON API
//! and forms; forms carry a per-session token as well.

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::error::ApiError;
use crate::auth::session::{self, COOKIE_PLAIN, COOKIE_SECURE, NewSession, Session, Stage};
use crate::auth::signin::Client;
use crate::web::AppState;

/// The session cookie's name: `__Host-` prefixed unless `server.secure_cookies = false`.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.config.server.secure_cookies {
        COOKIE_SECURE
    } else {
        COOKIE_PLAIN
    }
}

/// The `Set-Cookie` value for a new session token.
pub fn session_cookie(state: &AppState, new: &NewSession) -> HeaderValue {
    let secure = if state.config.server.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        cookie_name(state),
        new.token.expose_secret()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.config.server.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(state)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn token_from(headers: &HeaderMap, name: &str) -> Option<SecretString> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| SecretString::from(c.value().to_owned()))
}

async fn load(parts: &Parts, state: &AppState) -> Result<Session, ApiError> {
    load_as(parts, state, session::Use::Active).await
}

async fn load_as(parts: &Parts, state: &AppState, used: session::Use) -> Result<Session, ApiError> {
    let token = token_from(&parts.headers, cookie_name(state))
        .ok_or_else(|| ApiError::from(crate::auth::Error::NotSignedIn))?;
    Ok(session::authenticate_as(
        &state.store,
        &token,
        &state.config.sessions,
        OffsetDateTime::now_utc(),
        used,
    )
    .await?)
}

/// Any live session, including one waiting for its second factor.
pub struct AnyStage(pub Session);

/// A session with both factors.
pub struct SignedIn(pub Session);

/// A session with both factors, for a page that watches for a change by itself: the request
/// does not count as the user's activity, so the session still ends when left alone.
pub struct Watching(pub Session);

/// A session with both factors and a fresh second-factor proof.
pub struct StepUp(pub Session);

impl FromRequestParts<AppState> for AnyStage {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        load(parts, state).await.map(AnyStage)
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        full(parts, state, session::Use::Active).await.map(SignedIn)
    }
}

impl FromRequestParts<AppState> for Watching {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        full(parts, state, session::Use::Watching)
            .await
            .map(Watching)
    }
}

/// The session if it has both factors; on a page, the frame learns the user's roles and ways
/// to confirm.
async fn full(parts: &Parts, state: &AppState, used: session::Use) -> Result<Session, ApiError> {
    let s = load_as(parts, state, used).await?;
    match s.stage {
        Stage::Full => {
            if super::frame::is_page() {
                // The page frame shows the links for the user's roles; without them
                // (a store error) it shows none, and the handler answers as it would.
                let roles = state.store.list_roles(&s.user_id).await.unwrap_or_default();
                let idle = state.config.sessions.idle_timeout_secs;
                // Without them (a store error) the forms show the code field only.
                let methods = crate::auth::passkey::methods(&state.store, &s.user_id)
                    .await
                    .unwrap_or(crate::auth::passkey::Methods {
                        totp: true,
                        passkeys: false,
                    });
                let mut user = super::frame::User::new(&s, &roles, idle, &methods);
                if !state.oidc.is_empty() {
                    user.providers = state
                        .oidc
                        .of_user(&state.store, &s.user_id)
                        .await
                        .is_ok_and(|p| !p.is_empty());
                }
                super::frame::set_user(user);
            }
            Ok(s)
        }
        Stage::Password => Err(crate::auth::Error::SecondFactorRequired.into()),
        Stage::Enrol => Err(crate::auth::Error::EnrolmentRequired.into()),
    }
}

impl FromRequestParts<AppState> for StepUp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let SignedIn(s) = SignedIn::from_request_parts(parts, state).await?;
        let now = OffsetDateTime::now_utc();
        if !s.has_fresh_second_factor(
            now.unix_timestamp(),
            state.config.sessions.step_up_max_age_secs,
        ) {
            return Err(crate::auth::Error::StepUpRequired.into());
        }
        require_phishing_resistant(state, &s, None, parts.uri.path()).await?;
        Ok(StepUp(s))
    }
}

/// Refuses (403 `phishing_resistant_required`, audited) a session whose second factor was not
/// a passkey when the policy in force asks for one for this user or `purpose` (A9).
pub async fn require_phishing_resistant(
    state: &AppState,
    session: &Session,
    purpose: Option<&crate::policy::PurposeId>,
    action: &str,
) -> Result<(), ApiError> {
    let current = state
        .policy
        .current(&state.store)
        .await
        .map_err(crate::auth::Error::from)?;
    crate::auth::passkey::require_phishing_resistant(
        &state.store,
        &current.policy,
        &state.oidc,
        session,
        purpose,
        action,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(())
}

/// The client's address: the TCP peer, or what a trusted proxy recorded
/// (`web::client_addr`).
pub struct ClientAddr(pub Client);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| {
                state
                    .trusted_proxies
                    .client_ip(c.0.ip(), &parts.headers)
                    .to_string()
            })
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientAddr(Client { ip }))
    }
}

/// The origin users reach the broker at: scheme, host and port of `server.public_url`
/// (RFC 6454 §4). A request's `Origin` must be exactly this.
#[derive(Debug, Clone)]
pub struct PublicOrigin(url::Origin);

impl PublicOrigin {
    /// The origin of `public_url` (validated as a URL at load; an opaque origin, which no
    /// `Origin` header equals, if it were not).
    pub fn of(public_url: &str) -> PublicOrigin {
        PublicOrigin(
            url::Url::parse(public_url).map_or_else(|_| url::Origin::new_opaque(), |u| u.origin()),
        )
    }
}

/// Refuses a state-changing request that a browser marks as coming from another site.
pub async fn same_origin_only(
    State(origin): State<Arc<PublicOrigin>>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && is_cross_origin(req.headers(), &origin) {
        return ApiError::Forbidden(
            "cross_origin",
            "Requests that change something must come from Registervakt's own pages.".into(),
        )
        .into_response();
    }
    next.run(req).await
}

/// `Sec-Fetch-Site` when the browser sends it; else an `Origin` other than the public one
/// (scheme, host and port all count: `http://` and `https://` on one host are two origins,
/// so a page served over plain HTTP by an attacker on the path cannot post as ours).
fn is_cross_origin(headers: &HeaderMap, public: &PublicOrigin) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    match fetch_site {
        Some("cross-site" | "same-site") => return true,
        // The browser itself says the request comes from our own pages. With
        // `Referrer-Policy: no-referrer` a browser sends `Origin: null` on form posts, so the
        // Origin check below would refuse every form of ours.
        Some("same-origin") => return false,
        _ => {}
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    // `null`, or anything that is not a URL, is an opaque origin: never ours.
    let sent = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .map(|u| u.origin());
    sent.is_none_or(|sent| !sent.is_tuple() || sent != public.0)
}

/// Checks a form's CSRF field against the session's token, in constant time.
pub fn check_csrf(session: &Session, submitted: &str) -> Result<(), ApiError> {
    if crate::crypto::constant_time_eq(session.csrf_token.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "csrf",
            "The form has expired; reload the page and try again.".into(),
        ))
    }
}

/// The signed-in user as the policy sees them: their roles read from the store now.
pub async fn principal(
    state: &AppState,
    session: &Session,
) -> Result<crate::policy::Principal, ApiError> {
    let proved = session
        .factor
        .as_ref()
        .is_some_and(|f| state.oidc.is_phishing_resistant(f));
    Ok(
        crate::extract::lifecycle::principal_of(state, &session.user_id)
            .await?
            .with_phishing_resistant_proof(proved),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn cross(pairs: &[(&'static str, &'static str)]) -> bool {
        is_cross_origin(&headers(pairs), &PublicOrigin::of("https://rv.example"))
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        assert!(cross(&[("sec-fetch-site", "cross-site")]));
        assert!(cross(&[
            ("origin", "https://evil.example"),
            ("host", "rv.example")
        ]));
        assert!(cross(&[("origin", "null"), ("host", "rv.example")]));
        assert!(!cross(&[
            ("origin", "https://rv.example"),
            ("host", "rv.example")
        ]));
        assert!(!cross(&[("sec-fetch-site", "same-origin")]));
        // What Chromium sends for our own form under `Referrer-Policy: no-referrer`.
        assert!(!cross(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "null"),
            ("host", "rv.example")
        ]));
        // Without the browser's word, a null origin is still refused.
        assert!(cross(&[("origin", "null"), ("host", "rv.example")]));
        assert!(!cross(&[]));
    }

    #[test]
    fn an_origin_with_another_scheme_or_port_than_the_public_url_is_cross_origin() {
        // The same host over plain HTTP is another origin (RFC 6454 §4), whatever Host says.
        assert!(cross(&[
            ("origin", "http://rv.example"),
            ("host", "rv.example")
        ]));
        assert!(cross(&[
            ("origin", "https://rv.example:8443"),
            ("host", "rv.example:8443")
        ]));
        assert!(cross(&[("origin", "not a url")]));
        // The default port written out is the same origin; so is upper case in the host.
        assert!(!cross(&[("origin", "https://rv.example:443")]));
        assert!(!cross(&[("origin", "https://RV.example")]));
        let plain = PublicOrigin::of("http://127.0.0.1:8080/");
        let h = headers(&[("origin", "http://127.0.0.1:8080")]);
        assert!(!is_cross_origin(&h, &plain));
    }
}
