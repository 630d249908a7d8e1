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

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::nouns::{DistrictCode, Field};
use crate::policy::{Decision, DenyCode, ExtractRequest, PurposeId};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::session::SignedIn;
use crate::web::session::principal;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// A purpose id from the catalogue, e.g. `district-assembly-invitation`.
    #[schema(value_type = crate::web::api::wire_schema::PurposeId)]
    pub purpose: String,
    #[schema(value_type = crate::web::api::wire_schema::District)]
    pub district: String,
    /// Field names, e.g. `first_name`, `email`.
    #[schema(value_type = Vec<crate::web::api::wire_schema::FieldName>)]
    pub fields: Vec<String>,
    #[serde(deserialize_with = "crate::web::json::whole_number")]
    pub lifetime_minutes: u32,
    #[serde(deserialize_with = "crate::web::json::whole_number")]
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
    responses((status = 200, body = DecisionResponse),
              (status = 403, description = "The policy denies it (its deny code, e.g. `not_permitted`, `field_not_allowed`, `lifetime_too_long`)", body = ErrorBody),
              (status = 422, description = "A field is refused (`invalid_input`), or the purpose is not in the catalogue (`unknown_purpose`)", body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionResponse>, ApiError> {
    let request = parse(&req)?;
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let policy = state
        .policy
        .current(&state.store)
        .await
        .map_err(crate::auth::Error::from)?
        .policy;
    let decision = policy.decide(&who, &request, now).await;
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
        EventKind::AuthzError
    } else {
        EventKind::PolicyDecision
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

#[derive(Serialize, ToSchema)]
pub struct PurposeResponse {
    pub id: String,
    pub name_sv: String,
    pub name_en: String,
    pub description_sv: String,
    pub description_en: String,
    pub allowed_fields: Vec<String>,
    pub required_consents: Vec<String>,
    pub max_rows: u64,
    pub max_lifetime_minutes: u32,
    pub acknowledgement_sv: String,
    pub acknowledgement_en: String,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyResponse {
    /// The stored version in force; absent while the shipped or configured policy is in force.
    pub version: Option<i64>,
    pub purposes: Vec<PurposeResponse>,
}

/// The purpose catalogue in force (staff choose from it). Needs a full session.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy",
    responses((status = 200, body = PolicyResponse)))]
pub async fn show_policy(
    State(state): State<AppState>,
    SignedIn(_session): SignedIn,
) -> Result<Json<PolicyResponse>, ApiError> {
    let current = state
        .policy
        .current(&state.store)
        .await
        .map_err(crate::auth::Error::from)?;
    let purposes = current
        .policy
        .purposes()
        .iter()
        .map(|p| PurposeResponse {
            id: p.id.as_str().to_owned(),
            name_sv: p.name_sv.clone(),
            name_en: p.name_en.clone(),
            description_sv: p.description_sv.clone(),
            description_en: p.description_en.clone(),
            allowed_fields: p
                .allowed_fields
                .iter()
                .map(|f| f.as_str().to_owned())
                .collect(),
            required_consents: p
                .required_consents
                .iter()
                .map(|c| c.field().as_str().to_owned())
                .collect(),
            max_rows: p.max_rows,
            max_lifetime_minutes: p.max_lifetime_minutes,
            acknowledgement_sv: p.acknowledgement_sv.clone(),
            acknowledgement_en: p.acknowledgement_en.clone(),
        })
        .collect();
    Ok(Json(PolicyResponse {
        version: current.version,
        purposes,
    }))
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::POST,
            "/api/v1/policy/decisions",
            SignedIn,
            Records(&[A::PolicyDecision, A::AuthzError]),
            post(decide),
        ),
        entry(
            M::GET,
            "/api/v1/policy",
            SignedIn,
            NotAudited("the purpose catalogue: no people in it"),
            get(show_policy),
        ),
    ]
}
