//! JSON API for administering accounts: `/api/v1/users` and `/api/v1/user-proposals`.
//!
//! Who may is the policy's `users administer` line, as far as it reaches for the caller
//! (`admin::users_permit`; a refusal is 403 and audited). A new account is a proposal that a
//! second administrator confirms (`admin::users`); the invitation goes to the new user's
//! e-mail or, once, to the confirming administrator — never back to the proposer. Changes need
//! a fresh second factor (step-up).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::admin::{self, users};
use crate::auth::accounts;
use crate::auth::session::Session;
use crate::nouns::{RoleGrant, Username};
use crate::policy::{Permit, Principal};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::params::ApiPath;
use crate::web::session::{SignedIn, StepUp};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(value_type = crate::web::api::wire_schema::Username)]
    pub username: String,
    #[schema(value_type = crate::web::api::wire_schema::DisplayName)]
    pub display_name: String,
    /// Roles as `ROLE:DISTRICT`, e.g. `staff:Uppsala`, `auditor:*`.
    #[schema(value_type = Vec<crate::web::api::wire_schema::RoleGrant>)]
    pub roles: Vec<String>,
    /// Where the invitation and notices are e-mailed (when the broker sends mail): one `@`,
    /// no spaces, at most 254 characters.
    #[serde(default)]
    #[schema(value_type = Option<crate::web::api::wire_schema::Email>)]
    pub email: Option<String>,
    /// The id of a configured identity provider the account signs in through (no password of
    /// its own; the invitation is accepted by signing in there); absent: password and a
    /// second factor.
    #[serde(default)]
    pub identity_provider: Option<String>,
}

/// A change filed for a second administrator.
#[derive(Serialize, ToSchema)]
pub struct ProposalResponse {
    /// Always `awaiting_second_admin`.
    pub state: &'static str,
    pub proposal_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConfirmedUserResponse {
    pub username: String,
    /// `emailed` (sent to the new user's address) or `handed_over` (in `invitation_link`,
    /// shown this once: give it to the new user yourself).
    pub invitation: &'static str,
    pub invitation_link: Option<String>,
    pub invitation_expires_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UserProposalResponse {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub requested_by: String,
    pub requested_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub username: String,
    pub display_name: String,
    /// `invited`, `active` or `disabled`.
    pub status: String,
    pub second_factor: bool,
    pub roles: Vec<String>,
}

/// The caller's `users administer` permit; a refusal is audited by `admin::users_permit`.
pub(crate) async fn users_permit(state: &AppState, session: &Session) -> Result<Permit, ApiError> {
    let now = OffsetDateTime::now_utc();
    let who = Principal::load(&state.store, &session.user_id)
        .await
        .map_err(crate::auth::Error::from)?;
    let current = state
        .policy
        .current(&state.store)
        .await
        .map_err(crate::auth::Error::from)?;
    Ok(admin::users_permit(&state.store, &current.policy, &who, now).await?)
}

/// Proposes an account with roles; a second administrator confirms it. Needs step-up.
/// `id` if it names a configured identity provider (an empty one is none).
pub(in crate::web) fn known_provider(
    state: &AppState,
    id: Option<String>,
) -> Result<Option<String>, crate::auth::Error> {
    match id.filter(|p| !p.trim().is_empty()) {
        None => Ok(None),
        Some(id) if state.oidc.get(id.trim()).is_some() => Ok(Some(id.trim().to_owned())),
        Some(_) => Err(crate::auth::Error::UnknownIdentityProvider),
    }
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 202, description = "Proposed: a second administrator confirms it", body = ProposalResponse),
              (status = 403, description = "The policy's `users administer` does not reach every role asked for (`not_permitted`)", body = ErrorBody),
              (status = 409, description = "The username is taken, or proposed already (`user_exists`), or no identity provider by that id is configured (`unknown_identity_provider`), or a role's district is not the register's (`unknown_district`)", body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<ProposalResponse>), ApiError> {
    let permit = users_permit(&state, &session).await?;
    let roles = req
        .roles
        .iter()
        .map(|r| r.parse::<RoleGrant>())
        .collect::<Result<Vec<_>, _>>()?;
    let new = accounts::NewUser {
        username: Username::parse(&req.username)?,
        display_name: req.display_name,
        roles,
        email: req.email.filter(|e| !e.trim().is_empty()),
        oidc_provider: known_provider(&state, req.identity_provider)?,
    };
    let proposed = users::propose_user(
        &state.store,
        &permit,
        &state.register.districts().await?,
        new,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ProposalResponse {
            state: "awaiting_second_admin",
            proposal_id: proposed.id,
        }),
    ))
}

/// Accounts proposed and waiting for a second administrator, within the caller's reach.
/// Audited as `user.list`.
#[utoipa::path(get, path = "/api/v1/user-proposals", tag = "users",
    responses((status = 200, body = [UserProposalResponse]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_user_proposals(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<Vec<UserProposalResponse>>, ApiError> {
    let permit = users_permit(&state, &session).await?;
    let pending = users::pending_users(&state.store, &permit, OffsetDateTime::now_utc()).await?;
    Ok(Json(
        pending
            .into_iter()
            .map(|p| UserProposalResponse {
                id: p.id,
                username: p.username,
                display_name: p.display_name,
                roles: p.roles.iter().map(ToString::to_string).collect(),
                requested_by: p.requested_by,
                requested_at: p.requested_at,
            })
            .collect(),
    ))
}

/// Confirms a proposed account as the second administrator: the account is made, and its
/// invitation e-mailed to the new user or shown here once. Needs step-up.
#[utoipa::path(post, path = "/api/v1/user-proposals/{id}/confirm", tag = "users",
    params(("id" = String, Path)),
    responses((status = 201, body = ConfirmedUserResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such pending proposal", body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn confirm_user_proposal(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<ConfirmedUserResponse>), ApiError> {
    let permit = users_permit(&state, &session).await?;
    let users::Confirmed { username, delivery } = users::confirm_user(
        &state.store,
        &permit,
        &id,
        state.config.sessions.invitation_ttl_secs,
        state.mailer.as_ref(),
        &state.config.server.public_url,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let response = match delivery {
        users::Delivery::Mailed => ConfirmedUserResponse {
            username,
            invitation: "emailed",
            invitation_link: None,
            invitation_expires_at: None,
        },
        users::Delivery::ToConfirmer(invitation) => ConfirmedUserResponse {
            username,
            invitation: "handed_over",
            invitation_link: Some(invitation.link(&state.config.server.public_url)),
            invitation_expires_at: Some(invitation.expires_at),
        },
    };
    Ok((StatusCode::CREATED, Json(response)))
}

/// Turns a proposed account down (its proposer may withdraw it). Needs step-up.
#[utoipa::path(post, path = "/api/v1/user-proposals/{id}/reject", tag = "users",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such pending proposal", body = ErrorBody)))]
pub async fn reject_user_proposal(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let permit = users_permit(&state, &session).await?;
    users::reject_user(&state.store, &permit, &id, OffsetDateTime::now_utc()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists users with their roles. Audited as `user.list`.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [UserResponse]), (status = 403, description = "Only an administrator may (`forbidden`)", body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<Vec<UserResponse>>, ApiError> {
    let permit = users_permit(&state, &session).await?;
    let users = users::list_users(&state.store, &permit, OffsetDateTime::now_utc()).await?;
    Ok(Json(
        users
            .into_iter()
            .map(|(u, roles)| UserResponse {
                second_factor: u.totp_seed.is_some(),
                username: u.username,
                display_name: u.display_name,
                status: u.status,
                roles: roles
                    .into_iter()
                    .map(|r| format!("{}:{}", r.role, r.district))
                    .collect(),
            })
            .collect(),
    ))
}

/// Disables a user; their sessions end at once. Needs step-up.
#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "users",
    params(("username" = crate::web::api::wire_schema::Username, Path)),
    responses((status = 204, description = "Done"), (status = 403, description = "Only an administrator may (`forbidden`)", body = ErrorBody), (status = 404, description = "No such user (`not_found`)", body = ErrorBody)))]
pub async fn disable_user(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    set_enabled(&state, &session, &username, false).await
}

/// Re-enables a user. Needs step-up.
#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "users",
    params(("username" = crate::web::api::wire_schema::Username, Path)),
    responses((status = 204, description = "Done"), (status = 403, description = "Only an administrator may (`forbidden`)", body = ErrorBody), (status = 404, description = "No such user (`not_found`)", body = ErrorBody)))]
pub async fn enable_user(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    set_enabled(&state, &session, &username, true).await
}

async fn set_enabled(
    state: &AppState,
    session: &Session,
    username: &str,
    enabled: bool,
) -> Result<StatusCode, ApiError> {
    let permit = users_permit(state, session).await?;
    let now = OffsetDateTime::now_utc();
    users::set_enabled(&state.store, &permit, username, enabled, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user's second factor; they enrol again. Needs step-up.
#[utoipa::path(post, path = "/api/v1/users/{username}/reset-2fa", tag = "users",
    params(("username" = crate::web::api::wire_schema::Username, Path)),
    responses((status = 204, description = "Done"), (status = 403, description = "Only an administrator may (`forbidden`)", body = ErrorBody), (status = 404, description = "No such user (`not_found`)", body = ErrorBody)))]
pub async fn reset_second_factor(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let permit = users_permit(&state, &session).await?;
    users::reset_second_factor(&state.store, &permit, &username, OffsetDateTime::now_utc()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
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
            "/api/v1/users",
            SignedIn,
            Records(&[A::UsersListed, A::PermitRefused, A::AuthzError]),
            get(list_users),
        ),
        entry(
            M::POST,
            "/api/v1/users",
            SignedIn,
            Records(&[A::UserProposed, A::PermitRefused, A::AuthzError]),
            post(create_user),
        ),
        entry(
            M::GET,
            "/api/v1/user-proposals",
            SignedIn,
            Records(&[A::UsersListed, A::PermitRefused, A::AuthzError]),
            get(list_user_proposals),
        ),
        entry(
            M::POST,
            "/api/v1/user-proposals/{id}/confirm",
            SignedIn,
            Records(&[A::UserCreated, A::PermitRefused, A::AuthzError]),
            post(confirm_user_proposal),
        ),
        entry(
            M::POST,
            "/api/v1/user-proposals/{id}/reject",
            SignedIn,
            Records(&[A::UserProposalRejected, A::PermitRefused, A::AuthzError]),
            post(reject_user_proposal),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/disable",
            SignedIn,
            Records(&[A::UserDisabled, A::PermitRefused, A::AuthzError]),
            post(disable_user),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/enable",
            SignedIn,
            Records(&[A::UserEnabled, A::PermitRefused, A::AuthzError]),
            post(enable_user),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/reset-2fa",
            SignedIn,
            Records(&[A::SecondFactorReset, A::PermitRefused, A::AuthzError]),
            post(reset_second_factor),
        ),
    ]
}
