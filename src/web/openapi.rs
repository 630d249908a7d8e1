//! The OpenAPI document at `/api/openapi.json`, generated from the handlers' annotations so
//! it cannot drift from the code.

use axum::Json;
use utoipa::OpenApi;

use super::auth_api::{
    AcceptInvitationRequest, CodeRequest, EnrolmentResponse, LoginRequest, LoginResponse,
    MeResponse, RecoveryCodesResponse, RoleResponse, SignedInResponse,
};
use super::error::ErrorBody;
use super::health::{Liveness, Readiness, ReadinessChecks};
use super::users_api::{
    CreateUserRequest, CreateUserResponse, PendingRoleChange, RoleChangeRequest,
    RoleChangeResponse, UserResponse,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Registervakt",
        description = "Access broker for a membership register: time-limited, policy-bound, audited member extracts."
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        super::auth_api::login,
        super::auth_api::submit_totp,
        super::auth_api::submit_recovery_code,
        super::auth_api::begin_enrolment,
        super::auth_api::confirm_enrolment,
        super::auth_api::logout,
        super::auth_api::accept_invitation,
        super::auth_api::me,
        super::users_api::create_user,
        super::users_api::list_users,
        super::users_api::disable_user,
        super::users_api::enable_user,
        super::users_api::reset_second_factor,
        super::users_api::change_role,
        super::users_api::list_role_changes,
        super::users_api::confirm_role_change,
        super::policy_api::decide,
        super::policy_api::show_policy,
        super::policy_api::change_policy,
        super::extracts_api::estimate_extract,
        super::extracts_api::create_extract,
        super::extracts_api::list_extracts_route,
        super::extracts_api::show_extract,
        super::extracts_api::approve_extract,
        super::extracts_api::deny_extract,
        super::extracts_api::download_extract,
        super::extracts_api::view_extract,
        super::extracts_api::finish_extract,
        super::extracts_api::attest_extract_deleted,
        super::extracts_api::revoke_extract,
        super::extracts_api::show_freeze,
        super::extracts_api::freeze_extracts,
        super::extracts_api::lift_freeze,
        super::extracts_api::list_notices,
        super::extracts_api::read_notice,
        super::audit_api::member_disclosures,
        super::audit_api::extract_story,
        super::audit_api::resolve_pseudonym,
        super::audit_api::reveal_pseudonym,
        super::audit_trace_api::trace,
        super::audit_trace_api::breach_scope,
        super::audit_trace_api::breach_scope_of_file,
        super::audit_timeline_api::list_audit_events,
        super::audit_timeline_api::export_audit_events,
        super::followup_api::list_flags,
        super::followup_api::acknowledge_flag,
        super::reports_api::activity_report,
        super::reports_api::article30_report,
    ),
    components(schemas(
        ErrorBody, Liveness, Readiness, ReadinessChecks, LoginRequest, LoginResponse,
        CodeRequest, SignedInResponse, EnrolmentResponse, RecoveryCodesResponse,
        AcceptInvitationRequest, RoleResponse, MeResponse, CreateUserRequest,
        CreateUserResponse, UserResponse, RoleChangeRequest, RoleChangeResponse,
        PendingRoleChange, super::policy_api::DecisionRequest, super::policy_api::DecisionResponse,
        super::policy_api::PurposeResponse, super::policy_api::PolicyResponse,
        super::policy_api::PolicyChangeRequest, super::policy_api::PolicyChangeResponse,
        super::extracts_wire::FiltersBody, super::extracts_wire::EstimateRequest, super::extracts_wire::EstimateResponse, super::extracts_wire::CreateExtractRequest, super::extracts_wire::CreatedResponse, super::extracts_wire::VerdictResponse, super::extracts_wire::ExtractResponse, super::extracts_wire::HistoryItem, super::extracts_wire::ExtractList, super::extracts_wire::DecisionBody, super::extracts_wire::DecisionResponse, super::extracts_wire::DownloadBody, super::extracts_wire::ViewBody, super::extracts_wire::ViewResponse, super::extracts_wire::FreezeBody, super::extracts_wire::FreezeResponse, super::extracts_wire::NoticeResponse, super::extracts_wire::NoticeList, super::audit_api::DisclosureResponse, super::audit_api::MemberDisclosures, super::audit_api::StoryEvent, super::audit_api::ExtractStory, super::audit_api::ResolveBody, super::audit_api::RevealBody, super::audit_api::PseudonymResponse, super::audit_trace_api::TraceCandidate, super::audit_trace_api::TraceResponse, super::audit_trace_api::CategoryResponse, super::audit_trace_api::HeldResponse, super::audit_trace_api::ReleaseResponse, super::audit_trace_api::BreachScopeResponse, super::audit_timeline_api::TimelineEvent, super::audit_timeline_api::Timeline,
        super::followup_api::FlagResponse, super::followup_api::FlagList,
        super::followup_api::AcknowledgeRequest, super::reports_api::CountsBody,
        super::reports_api::GroupCounts, super::reports_api::ActivityResponse,
        super::reports_api::CategoryBody, super::reports_api::ProcessingEntry,
        super::reports_api::Article30Response
    )),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "auth", description = "Sign-in with a mandatory second factor"),
        (name = "users", description = "Accounts and roles (administrators)"),
        (name = "policy", description = "What the access policy allows"),
        (name = "extracts", description = "Time-limited member extracts: request, approve, download, expire"),
        (name = "audit", description = "The auditor's questions (each one audited)")
    )
)]
pub struct ApiDoc;

/// The API description. Public: no session needed.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
