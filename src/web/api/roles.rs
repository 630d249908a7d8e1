//! JSON API for role changes: `/api/v1/users/{username}/roles` and `/api/v1/role-changes`.
//!
//! Who may is the policy's `users administer` line, as far as it reaches for the caller. Every
//! grant, and revoking an admin, party-wide or own role, waits for a second administrator
//! (`admin::roles`). Changes need a fresh second factor (step-up).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::admin::roles::{self, RoleChangeOutcome};
use crate::nouns::RoleGrant;
use crate::web::AppState;
use crate::web::api::users::users_permit;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::params::ApiPath;
use crate::web::session::{SignedIn, StepUp};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChangeRequest {
    /// `ROLE:DISTRICT`, e.g. `approver:Uppsala` or `auditor:*`.
    #[schema(value_type = crate::web::api::wire_schema::RoleGrant)]
    pub role: String,
    /// `grant` or `revoke`.
    #[schema(value_type = crate::web::api::wire_schema::RoleChange)]
    pub change: String,
}

#[derive(Serialize, ToSchema)]
pub struct RoleChangeResponse {
    /// `applied`, or `awaiting_second_admin` for every grant and for revoking an admin,
    /// party-wide or own role.
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

/// Grants or revokes a role; grants (and revoking admin, party-wide or own roles) wait for a
/// second admin. Needs step-up.
#[utoipa::path(post, path = "/api/v1/users/{username}/roles", tag = "users",
    params(("username" = crate::web::api::wire_schema::Username, Path)), request_body = RoleChangeRequest,
    responses((status = 200, body = RoleChangeResponse), (status = 202, body = RoleChangeResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "The role's district is not the register's (`unknown_district`)", body = ErrorBody), (status = 422, description = "The role is not one", body = ErrorBody)))]
pub async fn change_role(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(username): ApiPath<String>,
    ApiJson(req): ApiJson<RoleChangeRequest>,
) -> Result<(StatusCode, Json<RoleChangeResponse>), ApiError> {
    let permit = users_permit(&state, &session).await?;
    let grant: RoleGrant = req.role.parse()?;
    let change = roles::Change::parse(&req.change)?;
    let now = OffsetDateTime::now_utc();
    let districts = state.register.districts().await?;
    let outcome = roles::change_role(
        &state.store,
        &permit,
        &districts,
        &username,
        grant,
        change,
        now,
    )
    .await?;
    Ok(match outcome {
        RoleChangeOutcome::Applied => (
            StatusCode::OK,
            Json(RoleChangeResponse {
                state: "applied",
                request_id: None,
            }),
        ),
        RoleChangeOutcome::AwaitingSecondAdmin { request_id } => (
            StatusCode::ACCEPTED,
            Json(RoleChangeResponse {
                state: "awaiting_second_admin",
                request_id: Some(request_id),
            }),
        ),
    })
}

/// Role changes waiting for a second admin, within the caller's reach. Audited as `user.list`.
#[utoipa::path(get, path = "/api/v1/role-changes", tag = "users",
    responses((status = 200, body = [PendingRoleChange]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_role_changes(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<Vec<PendingRoleChange>>, ApiError> {
    let permit = users_permit(&state, &session).await?;
    let rows =
        roles::pending_role_changes(&state.store, &permit, OffsetDateTime::now_utc()).await?;
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

/// Confirms a pending role change as the second admin. Needs step-up.
#[utoipa::path(post, path = "/api/v1/role-changes/{id}/confirm", tag = "users",
    params(("id" = String, Path)),
    responses((status = 200, body = RoleChangeResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such pending role change", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn confirm_role_change(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RoleChangeResponse>, ApiError> {
    let permit = users_permit(&state, &session).await?;
    roles::confirm_role_change(&state.store, &permit, &id, OffsetDateTime::now_utc()).await?;
    Ok(Json(RoleChangeResponse {
        state: "applied",
        request_id: None,
    }))
}

/// Turns a pending role change down (its proposer may withdraw it). Needs step-up.
#[utoipa::path(post, path = "/api/v1/role-changes/{id}/reject", tag = "users",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such pending role change", body = ErrorBody)))]
pub async fn reject_role_change(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let permit = users_permit(&state, &session).await?;
    roles::reject_role_change(&state.store, &permit, &id, OffsetDateTime::now_utc()).await?;
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
            M::POST,
            "/api/v1/users/{username}/roles",
            SignedIn,
            Records(&[
                A::RoleRevoked,
                A::RoleChangeRequested,
                A::PermitRefused,
                A::AuthzError,
            ]),
            post(change_role),
        ),
        entry(
            M::GET,
            "/api/v1/role-changes",
            SignedIn,
            Records(&[A::UsersListed, A::PermitRefused, A::AuthzError]),
            get(list_role_changes),
        ),
        entry(
            M::POST,
            "/api/v1/role-changes/{id}/confirm",
            SignedIn,
            Records(&[
                A::RoleGranted,
                A::RoleRevoked,
                A::PermitRefused,
                A::AuthzError,
            ]),
            post(confirm_role_change),
        ),
        entry(
            M::POST,
            "/api/v1/role-changes/{id}/reject",
            SignedIn,
            Records(&[A::RoleChangeRejected, A::PermitRefused, A::AuthzError]),
            post(reject_role_change),
        ),
    ]
}
