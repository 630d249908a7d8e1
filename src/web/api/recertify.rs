//! JSON API for recertification of roles: `/api/v1/role-holdings` (list, confirm, remove).
//!
//! Who may confirm is `admin::recertify`'s rule: the district's approver (an `extract approve`
//! permit reaching the role's district) for the district's staff, approver and auditor roles;
//! a party-wide administrator for admin and party-wide roles. Nobody acts on their own role
//! (409 `own_role`). Confirming and removing need a fresh second factor (step-up).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::admin::recertify::{self, Confirmer, Holding, RoleChangeOutcome};
use crate::auth::session::Session;
use crate::nouns::RoleGrant;
use crate::policy::Principal;
use crate::web::AppState;
use crate::web::api::roles::RoleChangeResponse;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::session::{SignedIn, StepUp};

/// One role of one person and where it stands in its term.
#[derive(Serialize, ToSchema)]
pub struct RoleHolding {
    pub username: String,
    pub display_name: String,
    /// `ROLE:DISTRICT`, e.g. `staff:Uppsala` or `auditor:*`.
    pub role: String,
    /// When it was granted or last confirmed (Unix seconds).
    pub confirmed_at: i64,
    /// When it must be confirmed by (Unix seconds); after that it is suspended.
    pub due_at: i64,
    /// `in_force`, `due_soon` (within the advance notice) or `suspended` (past its due date:
    /// kept, but it gives no access until confirmed).
    #[schema(pattern = "^(in_force|due_soon|suspended)$")]
    pub state: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct RoleHoldingsResponse {
    /// The roles the caller may confirm or remove (never their own), the soonest due first.
    pub holdings: Vec<RoleHolding>,
}

/// Which role of whom: the body of confirm and remove.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleHoldingRequest {
    #[schema(value_type = crate::web::api::wire_schema::Username)]
    pub username: String,
    /// `ROLE:DISTRICT`, e.g. `staff:Uppsala` or `auditor:*`.
    #[schema(value_type = crate::web::api::wire_schema::RoleGrant)]
    pub role: String,
}

pub(in crate::web) fn holding(h: &Holding) -> RoleHolding {
    RoleHolding {
        username: h.username.clone(),
        display_name: h.display_name.clone(),
        role: h.grant.to_string(),
        confirmed_at: h.confirmed_at.unix_timestamp(),
        due_at: h.due_at.unix_timestamp(),
        state: h.standing.as_str(),
    }
}

/// What the caller may confirm, by the policy in force; a refusal is audited.
pub(in crate::web) async fn confirmer(
    state: &AppState,
    session: &Session,
) -> Result<Confirmer, ApiError> {
    let now = OffsetDateTime::now_utc();
    let who = Principal::load(&state.store, &session.user_id)
        .await
        .map_err(crate::auth::Error::from)?;
    let current = state
        .policy
        .current(&state.store)
        .await
        .map_err(crate::auth::Error::from)?;
    Ok(recertify::confirmer(&state.store, &current.policy, &who, now).await?)
}

/// The roles the caller may confirm or remove, with due dates. Audited as `user.list`.
#[utoipa::path(get, path = "/api/v1/role-holdings", tag = "users",
    responses((status = 200, body = RoleHoldingsResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_role_holdings(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<RoleHoldingsResponse>, ApiError> {
    let confirmer = confirmer(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let shown = recertify::to_confirm(&state.store, &confirmer, &state.config.roles, now).await?;
    Ok(Json(RoleHoldingsResponse {
        holdings: shown.iter().map(holding).collect(),
    }))
}

/// Confirms a person's role for another term (any time; a suspended role works again).
/// Needs step-up. Audited as `role.recertify`.
#[utoipa::path(post, path = "/api/v1/role-holdings/confirm", tag = "users",
    request_body = RoleHoldingRequest,
    responses((status = 200, body = RoleHolding), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, description = "One's own role (`own_role`), or the person does not hold it (`no_such_holding`)", body = ErrorBody),
              (status = 422, description = "The role or username is not one", body = ErrorBody)))]
pub async fn confirm_role_holding(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(req): ApiJson<RoleHoldingRequest>,
) -> Result<Json<RoleHolding>, ApiError> {
    let grant: RoleGrant = req.role.parse()?;
    let confirmer = confirmer(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let terms = &state.config.roles;
    let h = recertify::confirm(&state.store, &confirmer, terms, &req.username, &grant, now).await?;
    Ok(Json(holding(&h)))
}

/// Removes a person's role at recertification, by the revoke rules: at once (200), or for an
/// admin or party-wide role once a second administrator confirms (202). Needs step-up.
#[utoipa::path(post, path = "/api/v1/role-holdings/remove", tag = "users",
    request_body = RoleHoldingRequest,
    responses((status = 200, body = RoleChangeResponse), (status = 202, body = RoleChangeResponse),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, description = "One's own role (`own_role`), or the person does not hold it (`no_such_holding`)", body = ErrorBody),
              (status = 422, description = "The role or username is not one", body = ErrorBody)))]
pub async fn remove_role_holding(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(req): ApiJson<RoleHoldingRequest>,
) -> Result<(StatusCode, Json<RoleChangeResponse>), ApiError> {
    let grant: RoleGrant = req.role.parse()?;
    let confirmer = confirmer(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let terms = &state.config.roles;
    let outcome =
        recertify::remove(&state.store, &confirmer, terms, &req.username, &grant, now).await?;
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
            "/api/v1/role-holdings",
            SignedIn,
            Records(&[A::UsersListed, A::PermitRefused, A::AuthzError]),
            get(list_role_holdings),
        ),
        entry(
            M::POST,
            "/api/v1/role-holdings/confirm",
            SignedIn,
            Records(&[A::RoleRecertified, A::PermitRefused, A::AuthzError]),
            post(confirm_role_holding),
        ),
        entry(
            M::POST,
            "/api/v1/role-holdings/remove",
            SignedIn,
            Records(&[
                A::RoleRecertified,
                A::RoleRevoked,
                A::RoleChangeRequested,
                A::PermitRefused,
                A::AuthzError,
            ]),
            post(remove_role_holding),
        ),
    ]
}
