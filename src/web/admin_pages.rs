//! `/admin`: users and roles, role changes awaiting a second administrator, and the purpose
//! catalogue. The page needs a full session and the admin role; every change needs a fresh
//! second factor (step-up) and the form's CSRF token, and goes through the same domain
//! functions as the API, so the same rules and audit events apply.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use time::OffsetDateTime;

use super::auth_pages::refusal;
use super::error::ApiError;
use super::frame;
use super::i18n::{Lang, text, text_with};
use super::labels::{self, pick};
use super::session::{SignedIn, check_csrf};
use crate::app::AppState;
use crate::audit::Actor;
use crate::auth::RoleGrant;
use crate::auth::roles::{self, Change, Requester, RoleChangeOutcome};
use crate::auth::session::Session;
use crate::policy::Action as PolicyAction;
use crate::policy::source::ChangeError;

async fn is_admin(state: &AppState, session: &Session) -> bool {
    state
        .store
        .list_roles(&session.user_id)
        .await
        .is_ok_and(|roles| roles.iter().any(|r| r.role == "admin"))
}

/// Renders the page with an optional message or error.
async fn page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let reader = || crate::audit::Actor::user(&session.user_id);
    let users = crate::auth::accounts::list_as_admin(&state.store, reader(), now).await;
    let pending =
        crate::auth::accounts::pending_role_changes_as_admin(&state.store, reader(), now).await;
    let current = state.policy.current(&state.store).await;
    let (Ok(users), Ok(pending), Ok(current)) = (users, pending, current) else {
        return refusal(state, ApiError::Unavailable("admin page data".into()));
    };
    let lang = frame::lang();
    let users: Vec<minijinja::Value> = users
        .into_iter()
        .map(|(u, roles)| {
            // Roles stay as ROLE:DISTRICT, the form the role fields below take.
            let roles: Vec<String> = roles
                .iter()
                .map(|r| format!("{}:{}", r.role, r.district))
                .collect();
            let status = labels::user_status(lang, &u.status);
            context! { username => u.username, display_name => u.display_name, status, roles }
        })
        .collect();
    let pending: Vec<minijinja::Value> = pending
        .into_iter()
        .map(|c| {
            let change = change_label(lang, &c.change);
            let role = format!("{}:{}", c.role, c.district);
            context! { id => c.id, change, role, user_id => c.user_id, requested_by => c.requested_by }
        })
        .collect();
    let purposes: Vec<minijinja::Value> = current
        .policy
        .purposes()
        .iter()
        .map(|p| {
            let fields: Vec<&str> = p.allowed_fields.iter().map(|f| f.as_str()).collect();
            let name = pick(lang, &p.name_sv, &p.name_en);
            context! { id => p.id.as_str(), name, fields, max_rows => p.max_rows, max_lifetime => p.max_lifetime_minutes }
        })
        .collect();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let fresh = session.has_fresh_second_factor(now, state.config.sessions.step_up_max_age_secs);
    let ctx = context! {
        csrf => session.csrf_token, users, pending, purposes, version => current.version,
        purposes_toml => current.texts.purposes, fresh, message, error,
    };
    let mut res = super::pages::page(state.pages.render("admin.html", ctx));
    if res.status().is_success() {
        *res.status_mut() = status;
    }
    res
}

/// Checks the session, the admin role, the CSRF token and step-up for a change.
async fn gate(
    state: &AppState,
    session: Result<SignedIn, ApiError>,
    csrf: Option<&str>,
) -> Result<Session, Response> {
    let SignedIn(session) = session.map_err(|e| refusal(state, e))?;
    if !is_admin(state, &session).await {
        return Err(refusal(
            state,
            ApiError::Forbidden(
                "forbidden",
                "Only an administrator may see this page.".into(),
            ),
        ));
    }
    let lang = frame::lang();
    if let Some(csrf) = csrf {
        check_csrf(&session, csrf).map_err(|e| refusal(state, e))?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if !session.has_fresh_second_factor(now, state.config.sessions.step_up_max_age_secs) {
            return Err(page(
                state,
                &session,
                StatusCode::UNAUTHORIZED,
                None,
                Some(text(lang, "error.step_up_required")),
            )
            .await);
        }
    }
    Ok(session)
}

/// A change posted from the page: the session first (without one the answer is 401 whatever
/// the body holds), then the body, then the admin role, CSRF token and step-up.
async fn admin_form<T>(
    state: &AppState,
    session: Result<SignedIn, ApiError>,
    form: Result<Form<T>, FormRejection>,
    csrf: impl Fn(&T) -> &str,
) -> Result<(Session, T), Response> {
    let session = session.map_err(|e| refusal(state, e))?;
    let Ok(Form(form)) = form else {
        return Err(refusal(
            state,
            ApiError::BadRequest(
                "invalid_form",
                "The form could not be read; reload the page.".into(),
            ),
        ));
    };
    let session = gate(state, Ok(session), Some(csrf(&form))).await?;
    Ok((session, form))
}

/// The admin page. Needs a full session and the admin role.
pub async fn admin_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
) -> Response {
    match gate(&state, session, None).await {
        Ok(session) => page(&state, &session, StatusCode::OK, None, None).await,
        Err(res) => res,
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf: String,
    username: String,
    role: String,
    change: String,
}

/// Grants or revokes a role. Needs admin + step-up + CSRF.
pub async fn change_role(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    form: Result<Form<RoleForm>, FormRejection>,
) -> Response {
    let (session, form) = match admin_form(&state, session, form, |f| f.csrf.as_str()).await {
        Ok(pair) => pair,
        Err(res) => return res,
    };
    let result = async {
        let grant: RoleGrant = form.role.trim().parse()?;
        let change = Change::parse(&form.change)?;
        roles::change_role(
            &state.store,
            Requester::Admin(session.user_id.clone()),
            &form.username,
            grant,
            change,
            OffsetDateTime::now_utc(),
        )
        .await
    }
    .await;
    let lang = frame::lang();
    match result {
        Ok(RoleChangeOutcome::Applied) => {
            let message = text(lang, "admin.role_changed");
            page(&state, &session, StatusCode::OK, Some(message), None).await
        }
        Ok(RoleChangeOutcome::AwaitingSecondAdmin { .. }) => {
            let message = text(lang, "admin.role_awaiting");
            page(&state, &session, StatusCode::ACCEPTED, Some(message), None).await
        }
        Err(e) => refused(&state, &session, e.into(), lang).await,
    }
}

#[derive(Deserialize)]
pub struct NewUserForm {
    csrf: String,
    username: String,
    display_name: String,
    role: String,
}

/// Creates a user with one role and shows the one-time invitation link to hand over (it is
/// shown once, on this answer only). Needs admin + step-up + CSRF; the same domain call and
/// audit event (`user.create`) as `POST /api/v1/users`.
pub async fn create_user(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    form: Result<Form<NewUserForm>, FormRejection>,
) -> Response {
    let (session, form) = match admin_form(&state, session, form, |f| f.csrf.as_str()).await {
        Ok(pair) => pair,
        Err(res) => return res,
    };
    let result = async {
        let role: RoleGrant = form.role.trim().parse()?;
        roles::check_new_user_roles(
            &Requester::Admin(session.user_id.clone()),
            std::slice::from_ref(&role),
        )?;
        let new = crate::auth::accounts::NewUser {
            username: crate::auth::Username::parse(form.username.trim())?,
            display_name: form.display_name.trim().to_owned(),
            roles: vec![role],
        };
        crate::auth::accounts::create_user(
            &state.store,
            Actor::user(&session.user_id),
            new,
            state.config.sessions.invitation_ttl_secs,
            OffsetDateTime::now_utc(),
        )
        .await
    }
    .await;
    match result {
        Ok(invitation) => {
            let lang = super::frame::lang();
            let hours = (state.config.sessions.invitation_ttl_secs / 3600).max(1);
            let message = super::i18n::text_with(
                lang,
                "admin.user_created",
                &[
                    ("link", invitation.link(&state.config.server.public_url)),
                    ("hours", hours.to_string()),
                ],
            );
            page(&state, &session, StatusCode::CREATED, Some(message), None).await
        }
        Err(e) => refused(&state, &session, e.into(), super::frame::lang()).await,
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    id: String,
}

/// Confirms a pending role change as the second admin. Needs admin + step-up + CSRF.
pub async fn confirm_role(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Response {
    let (session, form) = match admin_form(&state, session, form, |f| f.csrf.as_str()).await {
        Ok(pair) => pair,
        Err(res) => return res,
    };
    match roles::confirm_role_change(
        &state.store,
        &session.user_id,
        &form.id,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(()) => {
            let message = text(frame::lang(), "admin.change_confirmed");
            page(&state, &session, StatusCode::OK, Some(message), None).await
        }
        Err(e) => refused(&state, &session, e.into(), frame::lang()).await,
    }
}

#[derive(Deserialize)]
pub struct PolicyForm {
    csrf: String,
    purposes: String,
    comment: String,
}

/// Stores an edited purpose catalogue as a new version. Needs party-wide policy.administer
/// + step-up + CSRF.
pub async fn change_policy(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    form: Result<Form<PolicyForm>, FormRejection>,
) -> Response {
    let (session, form) = match admin_form(&state, session, form, |f| f.csrf.as_str()).await {
        Ok(pair) => pair,
        Err(res) => return res,
    };
    let allowed = match (
        super::policy_api::principal(&state, &session).await,
        state.policy.current(&state.store).await,
    ) {
        (Ok(who), Ok(current)) => current
            .policy
            .permits_party_wide(&who, PolicyAction::PolicyAdminister)
            .await
            .is_ok(),
        _ => false,
    };
    let lang = frame::lang();
    if !allowed {
        let error = text(lang, "admin.policy_party_wide");
        return page(&state, &session, StatusCode::FORBIDDEN, None, Some(error)).await;
    }
    let purposes = form.purposes.replace("\r\n", "\n");
    let actor = Actor::user(&session.user_id);
    match state
        .policy
        .change(
            &state.store,
            actor,
            Some(purposes),
            None,
            &form.comment,
            OffsetDateTime::now_utc(),
        )
        .await
    {
        Ok(v) => {
            let message = text_with(lang, "admin.policy_in_force", &[("version", v.to_string())]);
            page(&state, &session, StatusCode::OK, Some(message), None).await
        }
        // The checker's sentence names the line and field at fault: kept as it is.
        Err(ChangeError::Invalid(e)) => {
            let error = Some(e.to_string());
            page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                error,
            )
            .await
        }
        Err(ChangeError::Comment) => {
            let error = Some(text(lang, "admin.policy_comment"));
            page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                error,
            )
            .await
        }
        // Nothing was changed; the cause is logged by `refusal`, never shown.
        Err(e @ (ChangeError::Audit(_) | ChangeError::Store(_))) => {
            refusal(&state, ApiError::Unavailable(e.to_string()))
        }
    }
}

/// A refused change: the page again with the error's sentence in `lang` and its status; a
/// server error is the error page.
async fn refused(state: &AppState, session: &Session, error: ApiError, lang: Lang) -> Response {
    let (status, _, message) = error.page_parts(lang);
    if status.is_server_error() {
        return refusal(state, error);
    }
    page(state, session, status, None, Some(message)).await
}

/// A pending role change's direction (`grant`, `revoke`) in words.
fn change_label(lang: Lang, change: &str) -> String {
    match change {
        "grant" | "revoke" => text(lang, &format!("admin.{change}")),
        other => other.to_owned(),
    }
}
