//! `/auth/oidc/start` and `/auth/oidc/callback`: sign-in through the identity provider.
//!
//! The callback is a top-level GET from the provider's site, so the browser-binding cookie
//! is `SameSite=Lax` (a `Strict` cookie would not come back) and lives ten minutes; the
//! session cookie set afterwards is `Strict` as always. Logs carry the path, never the query.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::oidc_login::{self, PENDING_TTL_SECS};
use crate::auth::session::Stage;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::session::{ClientAddr, session_cookie};

fn binding_cookie_name(state: &AppState) -> &'static str {
    if state.config.server.secure_cookies {
        "__Host-registervakt-oidc"
    } else {
        "registervakt-oidc"
    }
}

fn binding_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.server.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        binding_cookie_name(state)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Sends the browser to the identity provider. Public. 404 when OIDC is not configured.
pub async fn oidc_start(State(state): State<AppState>) -> Result<Response, ApiError> {
    let provider = state.oidc.clone().ok_or(ApiError::NotFound)?;
    let started = oidc_login::begin(
        &state.store,
        &state.keyring,
        &provider,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let mut res = Redirect::to(&started.authorization_url).into_response();
    let cookie = binding_cookie(
        &state,
        started.browser_binding.expose_secret(),
        PENDING_TTL_SECS,
    );
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// Where the identity provider sends the browser back. Public.
pub async fn oidc_callback(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Result<Response, ApiError> {
    let provider = state.oidc.clone().ok_or(ApiError::NotFound)?;
    let binding = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == binding_cookie_name(&state))
        .map(|c| c.value().to_owned());
    let (Some(code), Some(returned_state)) = (callback.code, callback.state) else {
        return Err(ApiError::Unauthorized(
            "oidc_rejected",
            "The identity provider did not sign you in.".into(),
        ));
    };
    let new = oidc_login::complete(
        &state.store,
        &state.keyring,
        &provider,
        &returned_state,
        &code,
        binding.as_deref(),
        &client,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let next = match new.stage {
        Stage::Full => "/start",
        Stage::Password => "/login/code",
        Stage::Enrol => "/enrol",
    };
    let mut res = Redirect::to(next).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&state, &new));
    res.headers_mut()
        .append(header::SET_COOKIE, binding_cookie(&state, "", 0));
    Ok(res)
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::Public;
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::get;
    vec![
        entry(
            M::GET,
            "/auth/oidc/start",
            Public,
            NotAudited("a redirect to the identity provider; the callback is audited"),
            get(oidc_start),
        ),
        entry(
            M::GET,
            "/auth/oidc/callback",
            Public,
            Records(&[A::OidcAccepted, A::OidcRejected]),
            get(oidc_callback),
        ),
    ]
}
