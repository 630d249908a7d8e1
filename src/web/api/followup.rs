//! `/api/v1/audit/flags`: the follow-up flags an approver or auditor should look at, and their
//! acknowledgement with a comment (`oversight::followup` decides who sees what).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::session::Session;
use crate::extract::review;
use crate::oversight::followup::{self, Flag, FlagId};
use crate::web::AppState;
use crate::web::api::extracts_wire::rfc3339;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::params::ApiPath;
use crate::web::session::principal;
use crate::web::session::{SignedIn, StepUp};

/// One flag.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagResponse {
    pub id: String,
    /// `whole_district`, `outside_hours`, `many_pulls`, `repeated_denials` or
    /// `attestation_overdue`.
    pub kind: &'static str,
    pub district: String,
    /// Username of the person whose actions raised it.
    pub user: String,
    /// For flags about one extract.
    pub extract_id: Option<String>,
    /// For flags about a person's ISO week (UTC), e.g. `2026-W49`.
    pub week: Option<String>,
    /// Pulls, denials, or requests and downloads outside office hours; 1 for one extract.
    pub count: i64,
    pub raised_at: String,
    pub acknowledged: bool,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagList {
    pub flags: Vec<FlagResponse>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagsQuery {
    /// `true`: only unacknowledged flags; `false`: only acknowledged ones; absent: all.
    pub open: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// What was done about it: 1–2000 characters, no control characters.
    #[schema(value_type = crate::web::api::wire_schema::FlagComment)]
    pub comment: String,
}

async fn flag_response(state: &AppState, flag: Flag) -> Result<FlagResponse, ApiError> {
    let user = review::username(&state.store, &flag.user_id).await?;
    let acknowledged_by = match &flag.ack {
        Some(ack) => Some(review::username(&state.store, &ack.acknowledged_by).await?),
        None => None,
    };
    Ok(FlagResponse {
        id: flag.id.to_string(),
        kind: flag.kind.as_str(),
        district: flag.district,
        user,
        extract_id: flag.extract_id,
        week: flag.week,
        count: flag.count,
        raised_at: rfc3339(flag.raised_at),
        acknowledged: flag.ack.is_some(),
        acknowledged_by,
        acknowledged_at: flag.ack.as_ref().map(|a| rfc3339(a.acknowledged_at)),
        comment: flag.ack.map(|a| a.comment),
    })
}

/// The follow-up flags in your districts, newest first. Needs `audit.view` or
/// `extract.approve` (in the flags' districts, or party-wide for all); audited.
#[utoipa::path(get, path = "/api/v1/audit/flags", tag = "audit",
    params(("open" = Option<bool>, Query, description = "true: unacknowledged only; false: acknowledged only")),
    responses((status = 200, body = FlagList),
              (status = 403, description = "Neither `audit.view` nor `extract.approve` anywhere (`not_permitted`)", body = ErrorBody)))]
pub async fn list_flags(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    query: Result<Query<FlagsQuery>, QueryRejection>,
) -> Result<Json<FlagList>, ApiError> {
    let Query(q) = query.map_err(|_| {
        ApiError::BadRequest(
            "invalid_input",
            "The only query parameter is open=true or open=false.".into(),
        )
    })?;
    Ok(Json(flags(&state, &session, q.open).await?))
}

/// The flags the session may see (`open`: only unacknowledged ones, or only acknowledged),
/// audited as `followup.list`. The API and the pages both answer with it.
pub async fn flags(
    state: &AppState,
    session: &Session,
    open: Option<bool>,
) -> Result<FlagList, ApiError> {
    let who = principal(state, session).await?;
    let found = followup::list(state, &who, open, OffsetDateTime::now_utc()).await?;
    let mut flags = Vec::with_capacity(found.len());
    for flag in found {
        flags.push(flag_response(state, flag).await?);
    }
    Ok(FlagList { flags })
}

/// Acknowledges a flag with a comment. Needs `audit.view` or `extract.approve` in its district
/// (or party-wide) and a fresh second factor; a flag is acknowledged once (409 after).
#[utoipa::path(post, path = "/api/v1/audit/flags/{id}/acknowledge", tag = "audit",
    request_body = AcknowledgeRequest, params(("id" = String, Path)),
    responses((status = 200, body = FlagResponse),
              (status = 404, description = "No such flag raised now in your districts, or none you may see: the same answer (`not_found`)", body = ErrorBody),
              (status = 409, description = "Already acknowledged (`already_acknowledged`)", body = ErrorBody)))]
pub async fn acknowledge_flag(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AcknowledgeRequest>,
) -> Result<Json<FlagResponse>, ApiError> {
    let id = FlagId::parse(&id)?;
    let who = principal(&state, &session).await?;
    let flag =
        followup::acknowledge(&state, &who, &id, &body.comment, OffsetDateTime::now_utc()).await?;
    Ok(Json(flag_response(&state, flag).await?))
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
            "/api/v1/audit/flags",
            SignedIn,
            Records(&[A::FollowupListed]),
            get(list_flags),
        ),
        entry(
            M::POST,
            "/api/v1/audit/flags/{id}/acknowledge",
            SignedIn,
            Records(&[A::FollowupAcknowledged]),
            post(acknowledge_flag),
        ),
    ]
}
