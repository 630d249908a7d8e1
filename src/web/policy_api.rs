//! `/api/v1/policy/*`: asking the policy before asking for data.
//!
//! `POST /api/v1/policy/decisions` answers what the policy would decide for the signed-in
//! user's request — allowed, needs N approvers, or denied with a sentence — without
//! touching the register. Every answer is an audit event with the requested scope
//! (purpose, district, fields): a denial is evidence too (SECURITY_BAR C2). A policy that
//! cannot decide denies and is audited as `authz.error` (C6).

use std::str::FromStr;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::json::ApiJson;
use super::session::SignedIn;
use crate::app::AppState;
use crate::audit::{self, Action, Actor, Event, Outcome};
use crate::auth::RoleGrant;
use crate::auth::session::Session;
use crate::policy::{Decision, DenyCode, ExtractRequest, Principal, PurposeId};
use crate::register::{DistrictCode, Field};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// A purpose id from the catalogue, e.g. `district-assembly-invitation`.
    pub purpose: String,
    pub district: String,
    /// Field names, e.g. `first_name`, `email`.
    pub fields: Vec<String>,
    pub lifetime_minutes: u32,
    pub estimated_rows: u64,
}

#[derive(Serialize, ToSchema)]
pub struct DecisionResponse {
    /// `allow` or `needs_approval`.
    pub decision: &'static str,
    /// Distinct approvers needed (0 when allowed at once).
    pub approvers: u8,
    pub reason: String,
}

/// The signed-in user as the policy sees them: their roles read from the store now.
pub async fn principal(state: &AppState, session: &Session) -> Result<Principal, ApiError> {
    let rows = state
        .store
        .list_roles(&session.user_id)
        .await
        .map_err(crate::auth::Error::from)?;
    let roles = rows
        .iter()
        .filter_map(|r| {
            format!("{}:{}", r.role, r.district)
                .parse::<RoleGrant>()
                .ok()
        })
        .collect();
    Ok(Principal {
        user_id: session.user_id.clone(),
        roles,
    })
}

fn parse(req: &DecisionRequest) -> Result<ExtractRequest, ApiError> {
    let bad = |m: &str| ApiError::BadRequest("invalid_input", m.to_owned());
    let fields = req
        .fields
        .iter()
        .map(|f| Field::from_str(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e.to_string()))?;
    Ok(ExtractRequest {
        purpose: PurposeId::parse(&req.purpose).map_err(|_| {
            ApiError::BadRequest(
                "unknown_purpose",
                "Choose a purpose from the catalogue.".into(),
            )
        })?,
        district: DistrictCode::parse(&req.district).map_err(|e| bad(&e.to_string()))?,
        fields,
        lifetime_minutes: req.lifetime_minutes,
        estimated_rows: req.estimated_rows,
    })
}

/// What the policy would decide. Needs a full session.
#[utoipa::path(post, path = "/api/v1/policy/decisions", tag = "policy", request_body = DecisionRequest,
    responses((status = 200, body = DecisionResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionResponse>, ApiError> {
    let request = parse(&req)?;
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let decision = state.policy.decide(&who, &request, now).await;
    let (outcome, word, code, approvers, reason) = match &decision {
        Decision::Allow(_) => (
            Outcome::Success,
            "allow",
            None,
            0,
            "The policy allows this request.".to_owned(),
        ),
        Decision::NeedsApproval {
            approvers, reason, ..
        } => (
            Outcome::Success,
            "needs_approval",
            None,
            *approvers,
            reason.clone(),
        ),
        Decision::Deny { code, reason } => {
            (Outcome::Denied, "deny", Some(*code), 0, reason.clone())
        }
    };
    let action = if code == Some(DenyCode::PolicyError) {
        Action::AuthzError
    } else {
        Action::PolicyDecision
    };
    let details = json!({
        "purpose": req.purpose, "district": req.district, "fields": req.fields,
        "lifetime_minutes": req.lifetime_minutes, "estimated_rows": req.estimated_rows,
        "decision": word, "code": code.map(DenyCode::as_str), "approvers": approvers,
    });
    let target = format!(
        "purpose:{}",
        req.purpose.chars().take(64).collect::<String>()
    );
    let event = Event::new(
        action,
        Actor::user(&session.user_id),
        &target,
        outcome,
        details,
    );
    audit::record_now(&state.store, &event, now)
        .await
        .map_err(crate::auth::Error::from)?;
    match code {
        None => Ok(Json(DecisionResponse {
            decision: word,
            approvers,
            reason,
        })),
        Some(DenyCode::UnknownPurpose) => Err(ApiError::BadRequest("unknown_purpose", reason)),
        Some(code) => Err(ApiError::Forbidden(code.as_str(), reason)),
    }
}
