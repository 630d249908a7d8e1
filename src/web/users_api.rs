//! JSON API for administering users: `/api/v1/users`.
//!
//! Every handler needs a full session and the `admin` role (in any district, until the
//! policy of issue 4 narrows it); changes also need a fresh second factor (step-up).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::json::ApiJson;
use super::params::ApiPath;
use super::session::{SignedIn, StepUp};
use crate::app::AppState;
use crate::audit::Actor;
use crate::auth::session::Session;
use crate::auth::{RoleGrant, Username, accounts, roles};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(value_type = crate::web::wire_schema::Username)]
    pub username: String,
    #[schema(value_type = crate::web::wire_schema::DisplayName)]
    pub display_name: String,
    /// Roles as `ROLE:DISTRICT`, e.g. `staff:Uppsala`, `auditor:*`.
    #[schema(value_type = Vec<crate::web::wire_schema::RoleGrant>)]
    pub roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreateUserResponse {
    pub id: String,
    /// Send this to the user; it is shown once and expires.
    pub invitation_link: String,
    pub invitation_expires_at: i64,
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

async fn require_admin(state: &AppState, session: &Session) -> Result<(), ApiError> {
    let roles = state
        .store
        .list_roles(&session.user_id)
        .await
        .map_err(crate::auth::Error::from)?;
    if roles.iter().any(|r| r.role == "admin") {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "forbidden",
            "Only an administrator may do this.".into(),
        ))
    }
}

/// Creates a user with roles and returns a one-time invitation link. Needs admin + step-up.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = CreateUserResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<CreateUserResponse>), ApiError> {
    require_admin(&state, &session).await?;
    let roles = req
        .roles
        .iter()
        .map(|r| r.parse::<RoleGrant>())
        .collect::<Result<Vec<_>, _>>()?;
    crate::auth::roles::check_new_user_roles(
        &crate::auth::roles::Requester::Admin(session.user_id.clone()),
        &roles,
    )?;
    let new = accounts::NewUser {
        username: Username::parse(&req.username)?,
        display_name: req.display_name,
        roles,
    };
    let invitation = accounts::create_user(
        &state.store,
        Actor::user(&session.user_id),
        new,
        state.config.sessions.invitation_ttl_secs,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreateUserResponse {
            invitation_link: invitation.link(&state.config.server.public_url),
            id: invitation.user_id,
            invitation_expires_at: invitation.expires_at,
        }),
    ))
}

/// Lists users with their roles. Needs admin. Audited as `user.list`.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [UserResponse]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<Vec<UserResponse>>, ApiError> {
    require_admin(&state, &session).await?;
    let reader = Actor::user(&session.user_id);
    let users = accounts::list_as_admin(&state.store, reader, OffsetDateTime::now_utc()).await?;
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

/// Disables a user; their sessions end at once. Needs admin + step-up.
#[utoipa::path(post, path = "/api/v1/users/{username}/disable", tag = "users",
    params(("username" = super::wire_schema::Username, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disable_user(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &session).await?;
    accounts::set_enabled(
        &state.store,
        Actor::user(&session.user_id),
        &username,
        false,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Re-enables a user. Needs admin + step-up.
#[utoipa::path(post, path = "/api/v1/users/{username}/enable", tag = "users",
    params(("username" = super::wire_schema::Username, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn enable_user(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &session).await?;
    accounts::set_enabled(
        &state.store,
        Actor::user(&session.user_id),
        &username,
        true,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user's second factor; they enrol again. Needs admin + step-up.
#[utoipa::path(post, path = "/api/v1/users/{username}/reset-2fa", tag = "users",
    params(("username" = super::wire_schema::Username, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset_second_factor(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(username): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &session).await?;
    accounts::reset_second_factor(
        &state.store,
        Actor::user(&session.user_id),
        &username,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChangeRequest {
    /// `ROLE:DISTRICT`, e.g. `approver:Uppsala` or `auditor:*`.
    #[schema(value_type = crate::web::wire_schema::RoleGrant)]
    pub role: String,
    /// `grant` or `revoke`.
    #[schema(value_type = crate::web::wire_schema::RoleChange)]
    pub change: String,
}

#[derive(Serialize, ToSchema)]
pub struct RoleChangeResponse {
    /// `applied`, or `awaiting_second_admin` for admin, party-wide or own roles.
    pub state: &'static str,
    pub request_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PendingRoleChange {
    pub id: String,
    pub user_id: String,
    pub change: String,
    pub role: String,
    pub requested_by: String,
    pub requested_at: i64,
}

/// Grants or revokes a role; admin, party-wide and own roles wait for a second admin.
/// Needs admin + step-up.
#[utoipa::path(post, path = "/api/v1/users/{username}/roles", tag = "users",
    params(("username" = super::wire_schema::Username, Path)), request_body = RoleChangeRequest,
    responses((status = 200, body = RoleChangeResponse), (status = 202, body = RoleChangeResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn change_role(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(username): ApiPath<String>,
    ApiJson(req): ApiJson<RoleChangeRequest>,
) -> Result<(StatusCode, Json<RoleChangeResponse>), ApiError> {
    require_admin(&state, &session).await?;
    let grant: RoleGrant = req.role.parse()?;
    let change = roles::Change::parse(&req.change)?;
    let requester = roles::Requester::Admin(session.user_id.clone());
    let outcome = roles::change_role(
        &state.store,
        requester,
        &username,
        grant,
        change,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(match outcome {
        roles::RoleChangeOutcome::Applied => (
            StatusCode::OK,
            Json(RoleChangeResponse {
                state: "applied",
                request_id: None,
            }),
        ),
        roles::RoleChangeOutcome::AwaitingSecondAdmin { request_id } => (
            StatusCode::ACCEPTED,
            Json(RoleChangeResponse {
                state: "awaiting_second_admin",
                request_id: Some(request_id),
            }),
        ),
    })
}

/// Role changes waiting for a second admin. Needs admin. Audited as `user.list`.
#[utoipa::path(get, path = "/api/v1/role-changes", tag = "users",
    responses((status = 200, body = [PendingRoleChange]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_role_changes(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<Vec<PendingRoleChange>>, ApiError> {
    require_admin(&state, &session).await?;
    let reader = Actor::user(&session.user_id);
    let rows =
        accounts::pending_role_changes_as_admin(&state.store, reader, OffsetDateTime::now_utc())
            .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| PendingRoleChange {
                role: format!("{}:{}", r.role, r.district),
                id: r.id,
                user_id: r.user_id,
                change: r.change,
                requested_by: r.requested_by,
                requested_at: r.requested_at,
            })
            .collect(),
    ))
}

/// Confirms a pending role change as the second admin. Needs admin + step-up.
#[utoipa::path(post, path = "/api/v1/role-changes/{id}/confirm", tag = "users",
    params(("id" = String, Path)),
    responses((status = 200, body = RoleChangeResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such pending role change", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn confirm_role_change(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RoleChangeResponse>, ApiError> {
    require_admin(&state, &session).await?;
    roles::confirm_role_change(
        &state.store,
        &session.user_id,
        &id,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(RoleChangeResponse {
        state: "applied",
        request_id: None,
    }))
}
