//! `/api/v1/policy/proposals`: changing the policy with four eyes (F-3).
//!
//! A party-wide administrator (the policy's `policy administer` line, held for `*`) proposes a
//! new purpose catalogue and/or permission table; it is checked completely at once. A
//! different party-wide administrator reads the diff and confirms it, and only then is it the
//! version in force on every broker (`admin::policy_change`). Changes need step-up.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::admin::policy_history::{HistoryDiff, Verdict, Window};
use crate::admin::{self, policy_change};
use crate::auth::session::Session;
use crate::policy::{Permit, Policy, Principal};
use crate::web::AppState;
use crate::web::api::users::ProposalResponse;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::history_words::{self, HistoryWords};
use crate::web::i18n::Lang;
use crate::web::json::ApiJson;
use crate::web::params::ApiPath;
use crate::web::session::{SignedIn, StepUp};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChangeRequest {
    /// The whole new `purposes.toml`, if the catalogue changes.
    pub purposes: Option<String>,
    /// The whole new `policy.csv`, if the permission table changes.
    pub permissions: Option<String>,
    /// Why the policy changes (kept with the version and in the audit log).
    #[schema(value_type = crate::web::api::wire_schema::PolicyComment)]
    pub comment: String,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyChangeResponse {
    pub version: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyFileDiff {
    /// `purposes.toml` or `policy.csv`.
    pub file: &'static str,
    /// A unified diff against the version in force.
    pub diff: String,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyProposalResponse {
    pub id: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub comment: String,
    pub diffs: Vec<PolicyFileDiff>,
    /// Another version came into force after it was proposed: it can only be rejected.
    pub stale: bool,
    /// The past requests the proposal would have decided differently from the policy in
    /// force, computed at this call (`[policy] history_days`).
    pub history: PolicyHistoryResponse,
}

/// A proposal tried against the extract requests of the last days.
#[derive(Serialize, ToSchema)]
pub struct PolicyHistoryResponse {
    /// How many days back requests were read.
    pub days: u32,
    /// How many requests were decided again.
    pub read: usize,
    /// More requests were in the window than `[policy] history_max_requests`: the oldest
    /// were not read.
    pub capped: bool,
    /// Log entries that could not be decided again (e.g. denied before a member count).
    pub skipped: usize,
    /// How many requests move each way.
    pub counts: Vec<PolicyHistoryCount>,
    /// Each request whose decision differs, newest first.
    pub requests: Vec<PolicyHistoryRequest>,
    /// The same in Swedish sentences, as the admin page shows it.
    pub words_sv: HistoryWords,
    /// The same in English sentences.
    pub words_en: HistoryWords,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyHistoryCount {
    /// `now_denied`, `more_approvers`, `fewer_approvers`, `now_allowed` or `now_approvable`.
    pub change: &'static str,
    pub count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyHistoryRequest {
    /// `now_denied`, `more_approvers`, `fewer_approvers`, `now_allowed` or `now_approvable`.
    pub change: &'static str,
    /// When it was asked, Unix milliseconds.
    pub at_ms: i64,
    /// "Display name (username)" of the requester.
    pub requester: String,
    pub purpose: String,
    pub district: String,
    pub before: PolicyHistoryDecision,
    pub after: PolicyHistoryDecision,
}

/// A decision: `allow` (no approver), `needs_approval` (`approvers`) or `deny` (`code`).
#[derive(Serialize, ToSchema)]
pub struct PolicyHistoryDecision {
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvers: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

impl From<&Verdict> for PolicyHistoryDecision {
    fn from(v: &Verdict) -> Self {
        match v {
            Verdict::Allowed => PolicyHistoryDecision {
                decision: "allow",
                approvers: None,
                code: None,
            },
            Verdict::Approvers(n) => PolicyHistoryDecision {
                decision: "needs_approval",
                approvers: Some(*n),
                code: None,
            },
            Verdict::Denied { code, .. } => PolicyHistoryDecision {
                decision: "deny",
                approvers: None,
                code: Some(code.as_str()),
            },
        }
    }
}

/// The history diff for the API: data and both languages' sentences.
pub fn history_response(policy: &Policy, diff: &HistoryDiff) -> PolicyHistoryResponse {
    PolicyHistoryResponse {
        days: diff.window.days,
        read: diff.read,
        capped: diff.capped,
        skipped: diff.skipped,
        counts: diff
            .counts()
            .into_iter()
            .map(|(shift, count)| PolicyHistoryCount {
                change: shift.as_str(),
                count,
            })
            .collect(),
        requests: diff
            .changes
            .iter()
            .map(|c| PolicyHistoryRequest {
                change: c.shift.as_str(),
                at_ms: c.at_ms,
                requester: c.requester.clone(),
                purpose: c.purpose.as_str().to_owned(),
                district: c.district.as_str().to_owned(),
                before: (&c.before).into(),
                after: (&c.after).into(),
            })
            .collect(),
        words_sv: history_words::words(Lang::Sv, policy, diff),
        words_en: history_words::words(Lang::En, policy, diff),
    }
}

async fn policy_permit(state: &AppState, session: &Session) -> Result<Permit, ApiError> {
    let now = OffsetDateTime::now_utc();
    let who = Principal::load(&state.store, &session.user_id)
        .await
        .map_err(crate::auth::Error::from)?;
    let current = state
        .policy
        .current(&state.store)
        .await
        .map_err(crate::auth::Error::from)?;
    Ok(admin::policy_permit(&state.store, &current.policy, &who, now).await?)
}

/// Proposes a new policy version after checking it; a second party-wide administrator
/// confirms it. Needs step-up.
#[utoipa::path(post, path = "/api/v1/policy/proposals", tag = "policy", request_body = PolicyChangeRequest,
    responses((status = 202, body = ProposalResponse), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn propose_policy(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(req): ApiJson<PolicyChangeRequest>,
) -> Result<(StatusCode, Json<ProposalResponse>), ApiError> {
    let permit = policy_permit(&state, &session).await?;
    let proposed = policy_change::propose(
        &state.policy,
        &state.store,
        &permit,
        req.purposes,
        req.permissions,
        &req.comment,
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

/// Policy changes waiting for a second party-wide administrator, each with its diff.
#[utoipa::path(get, path = "/api/v1/policy/proposals", tag = "policy",
    responses((status = 200, body = [PolicyProposalResponse]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_policy_proposals(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<Vec<PolicyProposalResponse>>, ApiError> {
    let permit = policy_permit(&state, &session).await?;
    let window = Window::of(&state.config.policy);
    let now = OffsetDateTime::now_utc();
    let pending = policy_change::pending(&state.policy, &state.store, &permit, window, now).await?;
    let current = state
        .policy
        .current(&state.store)
        .await
        .map_err(crate::auth::Error::from)?;
    Ok(Json(
        pending
            .into_iter()
            .map(|p| PolicyProposalResponse {
                history: history_response(&current.policy, &p.history),
                id: p.id,
                proposed_by: p.proposed_by,
                proposed_at: p.proposed_at,
                comment: p.comment,
                diffs: p
                    .diffs
                    .into_iter()
                    .map(|d| PolicyFileDiff {
                        file: d.file,
                        diff: d.diff,
                    })
                    .collect(),
                stale: p.stale,
            })
            .collect(),
    ))
}

/// Confirms a proposed policy change as the second party-wide administrator: it is in force
/// at the next request on every broker. Needs step-up.
#[utoipa::path(post, path = "/api/v1/policy/proposals/{id}/confirm", tag = "policy",
    params(("id" = String, Path)),
    responses((status = 201, body = PolicyChangeResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such pending proposal", body = ErrorBody),
              (status = 409, description = "Another version came into force since it was proposed", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn confirm_policy_proposal(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<PolicyChangeResponse>), ApiError> {
    let permit = policy_permit(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let version = policy_change::confirm(&state.policy, &state.store, &permit, &id, now).await?;
    Ok((StatusCode::CREATED, Json(PolicyChangeResponse { version })))
}

/// Turns a proposed policy change down (its proposer may withdraw it). Needs step-up.
#[utoipa::path(post, path = "/api/v1/policy/proposals/{id}/reject", tag = "policy",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, description = "No such pending proposal", body = ErrorBody)))]
pub async fn reject_policy_proposal(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let permit = policy_permit(&state, &session).await?;
    policy_change::reject(&state.store, &permit, &id, OffsetDateTime::now_utc()).await?;
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
            "/api/v1/policy/proposals",
            SignedIn,
            Records(&[A::PolicyProposed, A::PermitRefused, A::AuthzError]),
            post(propose_policy),
        ),
        entry(
            M::GET,
            "/api/v1/policy/proposals",
            SignedIn,
            Records(&[A::PermitRefused, A::AuthzError]),
            get(list_policy_proposals),
        ),
        entry(
            M::POST,
            "/api/v1/policy/proposals/{id}/confirm",
            SignedIn,
            Records(&[A::PolicyChanged, A::PermitRefused, A::AuthzError]),
            post(confirm_policy_proposal),
        ),
        entry(
            M::POST,
            "/api/v1/policy/proposals/{id}/reject",
            SignedIn,
            Records(&[A::PolicyProposalRejected, A::PermitRefused, A::AuthzError]),
            post(reject_policy_proposal),
        ),
    ]
}
