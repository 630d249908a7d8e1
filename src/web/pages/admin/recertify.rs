//! `/roles/confirm` ("Bekräfta roller"): the roles the viewer may confirm or remove, with due
//! dates in local time and their standing (due soon, suspended), each with Confirm and Remove
//! buttons and the code step. The list is `admin::recertify::to_confirm` (audited `user.list`),
//! the acts `admin::recertify::confirm` / `remove` like the API's, after the form's CSRF token
//! and a fresh second factor (or the form's code); each redirects (303) back with a fixed
//! message. People are shown by name, roles in words, never ids.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::admin::recertify::{self, Holding, RoleChangeOutcome};
use crate::auth::session::Session;
use crate::nouns::RoleGrant;
use crate::web::AppState;
use crate::web::api::recertify::confirmer;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{self, Lang, text};
use crate::web::page::refusal;
use crate::web::page::{PageForm, PageSession, csrf_field};
use crate::web::pages::extract::{is_fresh, render, see_other, step_up};
use crate::web::session::ClientAddr;

#[derive(Debug, Default, Deserialize)]
pub struct ConfirmPageQuery {
    #[serde(default)]
    msg: Option<String>,
}

/// What a redirect's `?msg=` says: fixed sentences only, never text from the URL.
fn message(lang: Lang, key: &str) -> Option<String> {
    match key {
        "confirmed" | "removed" | "awaiting" => Some(text(lang, &format!("recertify.msg_{key}"))),
        _ => None,
    }
}

/// One holding as the template shows it.
pub(in crate::web) fn item(lang: Lang, h: &Holding) -> minijinja::Value {
    context! {
        name => h.display_name, username => h.username, role => h.grant.to_string(),
        role_words => super::role_words(lang, &h.grant),
        due => i18n::datetime(lang, h.due_at),
        due_at => h.due_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        standing => h.standing.as_str(),
        standing_words => text(lang, &format!("recertify.standing_{}", h.standing.as_str())),
    }
}

async fn view(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let lang = frame::lang();
    let result = async {
        let who = confirmer(state, session).await?;
        let now = OffsetDateTime::now_utc();
        Ok::<_, ApiError>(
            recertify::to_confirm(&state.store, &who, &state.config.roles, now).await?,
        )
    }
    .await;
    let shown = match result {
        Ok(shown) => shown,
        Err(e) => return refusal(state, e),
    };
    let ctx = context! {
        holdings => shown.iter().map(|h| item(lang, h)).collect::<Vec<_>>(),
        days => state.config.roles.recertify_days,
        csrf => session.csrf_token.clone(), fresh => is_fresh(state, session), notice, error,
    };
    render(state, status, "roles_confirm.html", ctx)
}

/// The roles the viewer may confirm. Needs `extract approve` in a district or party-wide
/// `users administer`; anyone else gets the refusal page. Audited as `user.list`.
pub async fn confirm_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<Query<ConfirmPageQuery>, QueryRejection>,
) -> Response {
    let notice = query
        .ok()
        .and_then(|Query(q)| q.msg)
        .and_then(|k| message(frame::lang(), &k));
    view(&state, &session, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    /// `confirm` or `remove`.
    #[serde(default)]
    act: String,
    #[serde(default)]
    code: Option<SecretString>,
}

async fn failed(state: &AppState, session: &Session, error: ApiError) -> Response {
    let lang = frame::lang();
    let (status, code, shown) = error.page_parts(lang);
    if status.is_server_error() {
        return refusal(state, error);
    }
    let shown = match code {
        "step_up_required" => text(lang, "error.step_up_form"),
        _ => shown,
    };
    view(state, session, status, None, Some(shown)).await
}

/// Confirms or removes one holder's role. Needs the confirm permit for the role, the form's
/// CSRF token and a fresh second factor (or the form's code); never one's own role (409).
/// Audited as `role.recertify` (with the revoke or the proposal when removed).
pub async fn confirm_or_remove(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageForm(session, form): PageForm<ConfirmForm>,
) -> Response {
    // A malformed role is refused before a one-time code is spent on it.
    let grant: RoleGrant = match form.role.parse() {
        Ok(g) if matches!(form.act.as_str(), "confirm" | "remove") => g,
        Ok(_) => {
            let e = ApiError::BadRequest("invalid_input", "unknown action".into());
            return failed(&state, &session, e).await;
        }
        Err(e) => return failed(&state, &session, crate::admin::Error::from(e).into()).await,
    };
    let fresh = match step_up(&state, session.clone(), form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return failed(&state, &session, e).await,
    };
    let result = async {
        let who = confirmer(&state, &fresh.session).await?;
        let now = OffsetDateTime::now_utc();
        let terms = &state.config.roles;
        let (store, user) = (&state.store, form.username.as_str());
        Ok::<_, ApiError>(if form.act == "confirm" {
            recertify::confirm(store, &who, terms, user, &grant, now).await?;
            "confirmed"
        } else {
            match recertify::remove(store, &who, terms, user, &grant, now).await? {
                RoleChangeOutcome::Applied => "removed",
                RoleChangeOutcome::AwaitingSecondAdmin { .. } => "awaiting",
            }
        })
    }
    .await;
    let res = match result {
        Ok(msg) => see_other(&format!("/roles/confirm?msg={msg}")),
        Err(e) => failed(&state, &fresh.session, e).await,
    };
    fresh.send(res)
}

csrf_field!(ConfirmForm);

/// This area's routes: who may call each one and what it records in the audit log.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::Records;
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/roles/confirm",
            SignedIn,
            Records(&[A::UsersListed, A::PermitRefused, A::AuthzError]),
            get(confirm_page),
        ),
        entry(
            M::POST,
            "/roles/confirm",
            SignedIn,
            Records(&[
                A::RoleRecertified,
                A::RoleRevoked,
                A::RoleChangeRequested,
                A::UsersListed,
                A::PermitRefused,
                A::AuthzError,
                A::SecondFactorAccepted,
                A::SecondFactorRejected,
                A::SecondFactorLocked,
                A::SecondFactorDisabled,
            ]),
            post(confirm_or_remove),
        ),
    ]
}
