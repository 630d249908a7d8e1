//! Passkey pages: "My passkeys" on `/account` (list, rename, remove; adding runs in
//! `static/passkey.js` against `/api/v1/passkeys/*`), the step-up page `/confirm?next=…`
//! offering every method the user has, and the page that says an action needs a passkey.
//!
//! Guarantees: `next` is only ever a local path (`/…`, never `//…` or a scheme), so the
//! step-up page cannot send anyone to another site; every form carries the session's CSRF
//! token; a code on `/confirm` is checked exactly as `/login/code` checks it.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::passkey::{self, PasskeyName};
use crate::auth::session::Session;
use crate::auth::signin::{self, Purpose};
use crate::auth::totp;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{self, Lang, text};
use crate::web::page::{PageForm, PageSession, csrf_field, refusal, render};
use crate::web::session::{ClientAddr, session_cookie};

/// `next` if it is a path on this site, else the overview.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/start".to_owned(),
    }
}

/// The user's passkeys for the account page, times as `<time>` in words.
pub async fn account_context(
    state: &AppState,
    session: &Session,
    lang: Lang,
) -> Result<minijinja::Value, ApiError> {
    let list = passkey::list(&state.store, &session.user_id).await?;
    let at = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t).ok().map(|t| {
            let rfc = t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            context! { rfc, text => i18n::datetime(lang, t) }
        })
    };
    let passkeys: Vec<minijinja::Value> = list
        .into_iter()
        .map(|p| {
            context! { id => p.id, name => p.name, created => at(p.created_at),
            last_used => p.last_used_at.and_then(at) }
        })
        .collect();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let fresh = session.has_fresh_second_factor(now, state.config.sessions.step_up_max_age_secs);
    Ok(context! { passkeys, passkeys_on => state.passkeys.is_some(), fresh })
}

#[derive(Deserialize)]
pub struct ConfirmQuery {
    #[serde(default)]
    next: Option<String>,
}

async fn confirm_page(
    state: &AppState,
    session: &Session,
    methods: &passkey::Methods,
    next: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (status, error) = error.map_or((StatusCode::OK, None), |(s, e)| (s, Some(e)));
    // The identity providers where the user has an identity: a round trip there confirms.
    let lang = crate::web::frame::lang();
    let providers: Vec<minijinja::Value> = state
        .oidc
        .of_user(&state.store, &session.user_id)
        .await
        .unwrap_or_default()
        .iter()
        .map(|p| context! { id => p.id, label => p.config.label(lang.code()) })
        .collect();
    let ctx = context! {
        csrf => session.csrf_token, next, error, totp => methods.totp,
        passkeys => methods.passkeys && state.passkeys.is_some(), providers,
    };
    render(state, status, "confirm.html", ctx)
}

/// The step-up page: a code from the app if the user has it, a passkey if they have one, a
/// new sign-in at each identity provider where they have an identity; then back to `next`. Needs a full session.
pub async fn confirm_get(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<Query<ConfirmQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = local_path(query.ok().and_then(|q| q.0.next).as_deref());
    match passkey::methods(&state.store, &session.user_id).await {
        Ok(methods) => confirm_page(&state, &session, &methods, &next, None).await,
        Err(e) => refusal(&state, e.into()),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    code: SecretString,
    #[serde(default)]
    next: Option<String>,
}

/// Steps up with a code from the app, then goes on to `next`. Needs a full session.
pub async fn confirm_submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageForm(session, form): PageForm<ConfirmForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let result = match totp::Code::parse(form.code.expose_secret()) {
        Ok(code) => {
            signin::with_totp(
                &state.store,
                &state.keyring,
                &session,
                &code,
                Purpose::StepUp,
                &client,
                OffsetDateTime::now_utc(),
            )
            .await
        }
        Err(_) => Err(crate::auth::Error::InvalidCode),
    };
    match result {
        Ok(new) => {
            let mut res = Redirect::to(&next).into_response();
            res.headers_mut()
                .append(header::SET_COOKIE, session_cookie(&state, &new));
            res
        }
        Err(e) => {
            let (status, _, message) = ApiError::from(e).page_parts(frame::lang());
            match passkey::methods(&state.store, &session.user_id).await {
                Ok(m) => confirm_page(&state, &session, &m, &next, Some((status, message))).await,
                Err(e) => refusal(&state, e.into()),
            }
        }
    }
}

#[derive(Deserialize)]
pub struct RenameForm {
    csrf: String,
    name: String,
}

/// Renames one of the user's passkeys. Needs a full session.
pub async fn rename_submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<RenameForm>,
) -> Response {
    let result = match PasskeyName::parse(&form.name) {
        Ok(name) => {
            passkey::rename(
                &state.store,
                &session,
                &id,
                &name,
                OffsetDateTime::now_utc(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to("/account?msg=passkey_renamed#passkeys").into_response(),
        Err(e) => refusal(&state, e.into()),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
}

/// Removes one of the user's passkeys. Needs a full session with a fresh second factor
/// (else to `/confirm` first); the last second factor stays.
pub async fn remove_submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(session, _form): PageForm<RemoveForm>,
) -> Response {
    let max_age = state.config.sessions.step_up_max_age_secs;
    let now = OffsetDateTime::now_utc();
    match passkey::remove(&state.store, &session, &id, max_age, now).await {
        Ok(()) => Redirect::to("/account?msg=passkey_removed#passkeys").into_response(),
        Err(crate::auth::Error::StepUpRequired) => {
            Redirect::to("/confirm?next=/account").into_response()
        }
        Err(e) => refusal(&state, e.into()),
    }
}

/// The page that says an action needs a passkey: how to add one, and (for a user who has
/// one) a way to confirm with it and come back to `next`. 403.
pub fn passkey_required(state: &AppState, next: &str) -> Response {
    let lang = frame::lang();
    let ctx = context! {
        title => text(lang, "passkeys.required_title"),
        next => local_path(Some(next)),
    };
    render(state, StatusCode::FORBIDDEN, "passkey_required.html", ctx)
}

csrf_field!(ConfirmForm, RenameForm, RemoveForm);

/// This area's routes: who may call each one and what it records in the audit log.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::{Public, SignedIn};
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::entry;
    use crate::web::route_audit as ra;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/static/passkey.js",
            Public,
            NotAudited("a static asset"),
            get(crate::web::render::passkey_script),
        ),
        entry(
            M::GET,
            "/confirm",
            SignedIn,
            NotAudited("the step-up form; the confirmation is audited"),
            get(confirm_get),
        ),
        entry(
            M::POST,
            "/confirm",
            SignedIn,
            ra::SECOND_FACTOR,
            post(confirm_submit),
        ),
        entry(
            M::POST,
            "/account/passkeys/{id}/name",
            SignedIn,
            Records(&[A::PasskeyRenamed]),
            post(rename_submit),
        ),
        entry(
            M::POST,
            "/account/passkeys/{id}/remove",
            SignedIn,
            Records(&[A::PasskeyRemoved]),
            post(remove_submit),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn the_step_up_page_goes_back_only_to_a_path_on_this_site() {
        assert_eq!(local_path(Some("/extracts/ab12")), "/extracts/ab12");
        assert_eq!(local_path(Some("//evil.example/x")), "/start");
        assert_eq!(local_path(Some("https://evil.example")), "/start");
        assert_eq!(local_path(Some("/\\evil.example")), "/start");
        assert_eq!(local_path(Some("/a\nb")), "/start");
        assert_eq!(local_path(None), "/start");
    }
}
