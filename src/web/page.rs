//! What every page handler shares: a template rendered with its status, a refusal shown as a
//! page in the user's language, and the extractor [`PageSession`] that answers a missing or
//! half-finished session with that page — so a page handler starts with its work.
//!
//! Guarantees: a page never answers JSON; a server error's cause is logged, never shown; a
//! missing session is a 401 page with a link to `/login`.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use minijinja::context;

use super::AppState;
use super::error::ApiError;
use super::frame;
use super::i18n::text;
use super::session::SignedIn;
use crate::auth::session::Session;

/// A signed-in session (both factors), for a page: without one the request is answered with
/// the sign-in page's refusal (401) before the handler runs.
pub struct PageSession(pub Session);

impl FromRequestParts<AppState> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match SignedIn::from_request_parts(parts, state).await {
            Ok(SignedIn(session)) => Ok(PageSession(session)),
            Err(e) => Err(refusal(state, e)),
        }
    }
}

/// Renders a template with a status; rendering failures become a generic 500 page.
pub fn render(state: &AppState, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    let mut res = crate::web::render::page(state.pages.render(name, ctx));
    if res.status().is_success() {
        *res.status_mut() = status;
    }
    res
}

/// A refusal shown as a page in the page's language, with the error's status: "sign in
/// first" with a link to `/login` for a 401, the error page for anything else. A server
/// error says only that nothing was released (its cause is logged here, never shown).
pub fn refusal(state: &AppState, error: ApiError) -> Response {
    let lang = frame::lang();
    let (status, _, message) = error.page_parts(lang);
    if status.is_server_error() {
        tracing::error!(cause = %error, "page request failed");
    }
    let ctx = if status == StatusCode::UNAUTHORIZED {
        context! {
            title => text(lang, "error.sign_in_title"), text => message,
            link => "/login", link_text => text(lang, "error.sign_in"),
        }
    } else {
        let title = if status.is_server_error() {
            "error.title"
        } else {
            "error.refused"
        };
        context! { title => text(lang, title), text => message, status => status.as_u16() }
    };
    let template = if status == StatusCode::UNAUTHORIZED {
        "message.html"
    } else {
        "error.html"
    };
    render(state, status, template, ctx)
}
