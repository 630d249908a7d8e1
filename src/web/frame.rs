//! The page frame: what every page shows around its own content — the language, who is
//! signed in, the navigation for their roles, the sign-out form and the idle warning.
//!
//! The frame is per request: the [`scope`] middleware opens it for every page (never for the
//! JSON API or static files) with the language from the `rv_lang` cookie, and the session
//! extractors fill in the signed-in user when a handler asks for a session. Templates read it
//! through [`context`], merged under the handler's own context by `Pages::render`. A
//! navigation link for a role the user does not hold is never shown; the handlers check the
//! grant again, so the navigation is a convenience and never the control.

use axum::extract::{Form, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use super::i18n::{self, LANG_COOKIE, Lang};
use crate::auth::session::Session;
use crate::store::accounts::RoleRow;

tokio::task_local! {
    static FRAME: Frame;
}

struct Frame {
    lang: Lang,
    path: String,
    user: Mutex<Option<User>>,
}

/// The signed-in user as the frame shows them.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub display_name: String,
    pub csrf: String,
    pub idle_secs: i64,
    pub staff: bool,
    pub approver: bool,
    pub admin: bool,
    pub auditor: bool,
    /// The user has the authenticator app: step-up forms show the code field.
    pub totp: bool,
    /// The user has a passkey: step-up forms offer "confirm with a passkey".
    pub passkeys: bool,
    /// The user has an identity at a configured provider: step-up forms offer to confirm there.
    pub providers: bool,
}

impl User {
    pub fn new(
        session: &Session,
        roles: &[RoleRow],
        idle_secs: i64,
        methods: &crate::auth::passkey::Methods,
    ) -> User {
        let has = |name: &str| roles.iter().any(|r| r.role == name);
        User {
            totp: methods.totp,
            passkeys: methods.passkeys,
            providers: false,
            display_name: session.display_name.clone(),
            csrf: session.csrf_token.clone(),
            idle_secs,
            staff: has("staff"),
            approver: has("approver"),
            admin: has("admin"),
            auditor: has("auditor"),
        }
    }
}

/// Opens the frame for a page request. JSON API and static paths pass straight through.
pub async fn scope(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/api/") || path.starts_with("/static/") {
        return next.run(req).await;
    }
    let path = req
        .uri()
        .path_and_query()
        .map_or(path, |pq| pq.as_str())
        .to_owned();
    let headers = req.headers();
    let lang = Lang::of_request(
        headers.get(header::COOKIE).and_then(|v| v.to_str().ok()),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let frame = Frame {
        lang,
        path,
        user: Mutex::new(None),
    };
    FRAME.scope(frame, next.run(req)).await
}

/// The language of the page being answered (Swedish outside a page request).
pub fn lang() -> Lang {
    FRAME.try_with(|f| f.lang).unwrap_or_default()
}

/// True while answering a page (the session extractors then load the user's roles).
pub fn is_page() -> bool {
    FRAME.try_with(|_| ()).is_ok()
}

/// Records the signed-in user for the frame of the page being answered.
pub fn set_user(user: User) {
    let _ = FRAME.try_with(|f| {
        if let Ok(mut slot) = f.user.lock() {
            *slot = Some(user);
        }
    });
}

/// The frame's template variables: `lang`, `other_lang`, `path`, `user`, `js_text`.
pub fn context() -> Value {
    let (lang, path, user) = FRAME
        .try_with(|f| {
            let user = f.user.lock().ok().and_then(|u| u.clone());
            (f.lang, f.path.clone(), user)
        })
        .unwrap_or((Lang::Sv, "/".to_owned(), None));
    let other = match lang {
        Lang::Sv => Lang::En,
        Lang::En => Lang::Sv,
    };
    context! {
        lang => lang.code(),
        other_lang => other.code(),
        path,
        user,
        js_text => i18n::script_texts(lang),
    }
}

#[derive(Deserialize)]
pub struct LanguageForm {
    lang: String,
    #[serde(default)]
    next: String,
}

/// `POST /language`: keeps the chosen language in a cookie for a year and goes back to the
/// page the visitor was on (a local path only, so the form cannot send anyone elsewhere).
pub async fn choose_language(
    form: Result<Form<LanguageForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return Redirect::to("/").into_response();
    };
    let lang = Lang::parse(&form.lang).unwrap_or_default();
    let next = safe_next(&form.next);
    let mut res = Redirect::to(next).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, value);
    }
    res
}

/// A path on this site to go back to: starts with one `/`, no scheme, no backslash, no
/// control characters; anything else is `/`.
fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 512;
    if local { next } else { "/" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_form_only_returns_to_a_local_path() {
        assert_eq!(safe_next("/extracts?x=1"), "/extracts?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn outside_a_page_the_frame_is_swedish_and_anonymous() {
        assert_eq!(lang(), Lang::Sv);
        assert!(!is_page());
        let ctx = context();
        assert_eq!(ctx.get_attr("lang").unwrap().as_str(), Some("sv"));
        assert!(ctx.get_attr("user").unwrap().is_none());
    }
}
