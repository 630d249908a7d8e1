//! What every page handler shares: a template rendered with its status, a refusal shown as a
//! page in the user's language, and the extractors [`PageSession`] and [`PageForm`] that
//! answer a missing or half-finished session, an unreadable form or a wrong CSRF token with
//! that page — so a page handler starts with its work.
//!
//! Guarantees: a page never answers JSON; a server error's cause is logged, never shown; a
//! missing session is a 401 page with a link to `/login`.

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use minijinja::context;

use super::AppState;
use super::error::ApiError;
use super::frame;
use super::i18n::text;
use super::session::{AnyStage, SignedIn, Watching, check_csrf};
use crate::auth::session::Session;
use serde::de::DeserializeOwned;

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

/// [`PageSession`] for a page's script that watches for a change: the request does not keep
/// the session alive.
pub struct PageWatch(pub Session);

impl FromRequestParts<AppState> for PageWatch {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Watching::from_request_parts(parts, state).await {
            Ok(Watching(session)) => Ok(PageWatch(session)),
            Err(e) => Err(refusal(state, e)),
        }
    }
}

/// A page's form: it carries the session's CSRF token.
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

/// Implements [`WithCsrf`] for forms whose token is their `csrf` field.
macro_rules! csrf_field {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::web::page::WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })+
    };
}
pub(crate) use csrf_field;

/// A form posted from a page by a signed-in user, its CSRF token checked: the session first
/// (without one the answer is the 401 page whatever the body holds), then the form, then the
/// token. Each refusal is a page, answered before the handler runs.
pub struct PageForm<T>(pub Session, pub T);

impl<T> FromRequest<AppState> for PageForm<T>
where
    T: DeserializeOwned + WithCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let PageSession(session) = PageSession::from_request_parts(&mut parts, state).await?;
        let form = checked_form(Request::from_parts(parts, body), state, &session).await?;
        Ok(PageForm(session, form))
    }
}

/// Any live session, for the sign-in steps (the second factor, enrolment): also one waiting
/// for its second factor. Without one, the refusal page (401) before the handler runs.
pub struct PageStep(pub Session);

impl FromRequestParts<AppState> for PageStep {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match AnyStage::from_request_parts(parts, state).await {
            Ok(AnyStage(session)) => Ok(PageStep(session)),
            Err(e) => Err(refusal(state, e)),
        }
    }
}

/// [`PageForm`] for the sign-in steps: any live session ([`PageStep`]), then the form and its
/// CSRF token.
pub struct PageStepForm<T>(pub Session, pub T);

impl<T> FromRequest<AppState> for PageStepForm<T>
where
    T: DeserializeOwned + WithCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let PageStep(session) = PageStep::from_request_parts(&mut parts, state).await?;
        let form = checked_form(Request::from_parts(parts, body), state, &session).await?;
        Ok(PageStepForm(session, form))
    }
}

/// The form of `req`, if it parses and carries `session`'s CSRF token; else the refusal page.
async fn checked_form<T>(req: Request, state: &AppState, session: &Session) -> Result<T, Response>
where
    T: DeserializeOwned + WithCsrf + Send,
{
    let Ok(Form(form)) = Form::<T>::from_request(req, state).await else {
        return Err(refusal(state, unreadable_form()));
    };
    check_csrf(session, form.csrf()).map_err(|e| refusal(state, e))?;
    Ok(form)
}

/// The refusal of a form that does not parse.
pub fn unreadable_form() -> ApiError {
    ApiError::BadRequest(
        "invalid_form",
        "The form could not be read; reload the page.".into(),
    )
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
    let (status, code, message) = error.page_parts(lang);
    if code == "phishing_resistant_required" {
        return super::pages::passkeys::passkey_required(state, "/start");
    }
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
