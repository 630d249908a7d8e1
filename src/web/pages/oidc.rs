//! Sign-in, invitation and step-up through an identity provider:
//! `POST /auth/oidc/{provider}/start`, `POST /auth/oidc/{provider}/step-up` and
//! `GET /auth/oidc/{provider}/callback`.
//!
//! The callback is a top-level GET from the provider's site, so the browser-binding cookie
//! is `SameSite=Lax` (a `Strict` cookie would not come back) and lives ten minutes. The new
//! `Strict` session cookie is set on a page that then continues on its own: a redirect chain
//! that began at another site would not carry it. Every outcome is a page in the user's
//! language naming the provider; logs carry the path, never the query.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::oidc_login::{self, Callback, Intent, PENDING_TTL_SECS, Provider, Refusal};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, text_with};
use crate::web::page::{PageForm, csrf_field, render};
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

/// The provider's button text in `lang`, for sentences that name it.
fn label(provider: &Provider, lang: Lang) -> String {
    provider.config.label(lang.code()).to_owned()
}

/// A page saying why the sign-in through `provider` did not go through, with the way back.
fn outcome_page(state: &AppState, provider: &Provider, error: crate::auth::Error) -> Response {
    use crate::auth::Error as A;
    let lang = frame::lang();
    let name = label(provider, lang);
    let (status, key) = match &error {
        A::OidcUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "oidc.unavailable"),
        A::OidcRefused(r) => (
            if *r == Refusal::Invitation {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::UNAUTHORIZED
            },
            match r {
                Refusal::Cancelled => "oidc.cancelled",
                Refusal::Rejected => "oidc.rejected",
                Refusal::NotLinked => "oidc.not_linked",
                Refusal::NotTrusted => "oidc.not_trusted",
                Refusal::TooOld => "oidc.too_old",
                Refusal::NotActive => "oidc.not_active",
                Refusal::Invitation => "oidc.invitation",
                Refusal::OtherAccount => "oidc.other_account",
            },
        ),
        A::SessionExpired | A::NotSignedIn => (StatusCode::UNAUTHORIZED, "oidc.session_ended"),
        _ => {
            return crate::web::page::refusal(state, ApiError::from(error));
        }
    };
    let ctx = context! {
        title => text_with(lang, "oidc.title", &[("provider", name.clone())]),
        text => text_with(lang, key, &[("provider", name)]),
        link => "/login",
        link_text => crate::web::i18n::text(lang, "oidc.back"),
    };
    render(state, status, "message.html", ctx)
}

fn to_provider(started: &oidc_login::Started, state: &AppState) -> Response {
    let mut res = Redirect::to(&started.authorization_url).into_response();
    let cookie = binding_cookie(
        state,
        started.browser_binding.expose_secret(),
        PENDING_TTL_SECS,
    );
    res.headers_mut().append(header::SET_COOKIE, cookie);
    res
}

/// Begins a login for `intent` and sends the browser to the provider, or says why not.
async fn go(
    state: &AppState,
    provider: &Provider,
    intent: Intent<'_>,
    client: &crate::auth::signin::Client,
) -> Response {
    match oidc_login::begin(
        &state.store,
        &state.keyring,
        provider,
        intent,
        &state.config.sessions,
        client,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(started) => to_provider(&started, state),
        Err(e) => outcome_page(state, provider, e),
    }
}

#[derive(Deserialize)]
pub struct StartForm {
    /// An invitation to accept by this sign-in (the token from the invitation link).
    #[serde(default)]
    invitation: Option<SecretString>,
}

/// Sends the browser to the provider to sign in, or to accept an invitation. Public; a POST,
/// so another site cannot start it (the cross-origin guard).
pub async fn start(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    Form(form): Form<StartForm>,
) -> Response {
    let Some(provider) = state.oidc.get(&id) else {
        return crate::web::render::not_found_page();
    };
    let token = form
        .invitation
        .as_ref()
        .map(|t| t.expose_secret().to_owned());
    let intent = match token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => Intent::Invitation(token),
        None => Intent::SignIn,
    };
    go(&state, &provider, intent, &client).await
}

#[derive(Deserialize)]
pub struct StepUpForm {
    csrf: String,
    /// The page to return to (a path on this site).
    next: String,
}

csrf_field!(StepUpForm);

/// A fresh second factor by signing in again at the provider (`prompt=login`), then back to
/// `next`. Needs a full session whose user has an identity at this provider.
pub async fn step_up(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<StepUpForm>,
) -> Response {
    let Some(provider) = state.oidc.get(&id) else {
        return crate::web::render::not_found_page();
    };
    let intent = Intent::StepUp {
        session: &session,
        next: &form.next,
    };
    go(&state, &provider, intent, &client).await
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Where the provider sends the browser back. Public.
pub async fn callback(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(provider) = state.oidc.get(&id) else {
        return crate::web::render::not_found_page();
    };
    let binding = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == binding_cookie_name(&state))
        .map(|c| c.value().to_owned());
    let result = oidc_login::complete(
        &state.store,
        &state.keyring,
        &provider,
        Callback {
            state: query.state.as_deref(),
            code: query.code.as_deref(),
            error: query.error.as_deref(),
        },
        binding.as_deref(),
        &state.config.sessions,
        &client,
        OffsetDateTime::now_utc(),
    )
    .await;
    let mut res = match result {
        Ok(done) => {
            let lang = frame::lang();
            let ctx = context! {
                next => done.next,
                text => text_with(lang, "oidc.continue", &[("provider", label(&provider, lang))]),
            };
            let mut res = render(&state, StatusCode::OK, "continue.html", ctx);
            res.headers_mut()
                .append(header::SET_COOKIE, session_cookie(&state, &done.session));
            res
        }
        Err(e) => outcome_page(&state, &provider, e),
    };
    res.headers_mut()
        .append(header::SET_COOKIE, binding_cookie(&state, "", 0));
    res
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::{Public, SignedIn};
    use crate::web::Audited::Records;
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::POST,
            "/auth/oidc/{provider}/start",
            Public,
            Records(&[A::OidcRejected]),
            post(start),
        ),
        entry(
            M::POST,
            "/auth/oidc/{provider}/step-up",
            SignedIn,
            Records(&[A::OidcRejected]),
            post(step_up),
        ),
        entry(
            M::GET,
            "/auth/oidc/{provider}/callback",
            Public,
            Records(&[
                A::OidcAccepted,
                A::OidcRejected,
                A::OidcLinked,
                A::InvitationAccepted,
                A::SecondFactorAccepted,
            ]),
            get(callback),
        ),
    ]
}
