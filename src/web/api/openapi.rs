//! The OpenAPI document at `/api/openapi.json`, generated from the handlers' annotations so
//! it cannot drift from the code.
//!
//! [`document`] adds what no single handler's annotation knows, from the one place that does:
//! who may call each operation (the route table's access class, as the session cookie's
//! security schemes), the error responses that the shared extractors and middleware give
//! every operation of a kind (401 without a session, 403 from the cross-origin guard, 400 /
//! 413 / 415 / 422 for a JSON body, 422 for a parameter, 500 and 503), and the links from an
//! operation that hands out an id to the operations that take it ([`links`]). Served, the
//! purpose ids are an `enum` of the catalogue in force, so a client (and the API fuzzer,
//! SECURITY_BAR G1) can tell a purpose the policy knows from one it does not. The ids are the
//! policy's, not member data; names and field lists stay behind a session.
//!
//! Guarantees, each held by a test in `openapi/tests.rs`: one schema name names one Rust
//! type (utoipa would let a second type of the same name overwrite the first without a
//! word); every API route is an operation of the document and every operation is routed;
//! every link names an operation and parameter that exist. That the statuses are all there is
//! held against the running broker: by every black-box suite (`tests/it/common/openapi.rs`) and
//! by schemathesis (`tests/api_fuzz/run.py`, `status_code_conformance`).

mod links;

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};

use crate::web::api::auth::{
    AcceptInvitationRequest, CodeRequest, EnrolmentResponse, LoginRequest, LoginResponse,
    MeResponse, RecoveryCodesResponse, RoleResponse, SignedInResponse,
};
use crate::web::api::health::{Liveness, Readiness, ReadinessChecks};
use crate::web::api::recertify::{RoleHolding, RoleHoldingRequest, RoleHoldingsResponse};
use crate::web::api::roles::{PendingRoleChange, RoleChangeRequest, RoleChangeResponse};
use crate::web::api::users::{
    ConfirmedUserResponse, CreateUserRequest, ProposalResponse, UserProposalResponse, UserResponse,
};
use crate::web::error::ErrorBody;

/// A named schema of the description and the Rust type that gives it.
#[derive(Debug, Clone)]
pub struct NamedSchema {
    /// Its name in `components.schemas`.
    pub name: Cow<'static, str>,
    /// The Rust type, e.g. `registervakt::web::api::extracts_wire::DecidedResponse`.
    pub rust: &'static str,
    /// The schema itself.
    pub schema: Value,
    /// The named schemas it refers to, as the type itself states them.
    pub refers_to: Vec<(String, Value)>,
}

impl NamedSchema {
    fn of<T: ToSchema + 'static>() -> NamedSchema {
        let mut refers_to = Vec::new();
        T::schemas(&mut refers_to);
        NamedSchema {
            name: T::name(),
            rust: std::any::type_name::<T>(),
            schema: serde_json::to_value(T::schema()).unwrap_or_default(),
            refers_to: refers_to
                .into_iter()
                .map(|(name, s)| (name, serde_json::to_value(s).unwrap_or_default()))
                .collect(),
        }
    }
}

/// [`ApiDoc`] from one list of operations and one of schemas; the same lists give
/// [`named_schemas`] (each schema with its Rust type) and, in tests, the schemas each
/// operation brings in by itself, which is how a second type of a taken name is caught.
macro_rules! api_doc {
    (
        paths: [$($($path:ident)::+),* $(,)?],
        schemas: [$($($schema:ident)::+),* $(,)?] $(,)?
    ) => {
        #[derive(OpenApi)]
        #[openapi(
            info(
                title = "Registervakt",
                description = "Access broker for a membership register: time-limited, policy-bound, audited member extracts."
            ),
            paths($($($path)::+),*),
            components(schemas($($($schema)::+),*)),
            tags(
                (name = "health", description = "Liveness, readiness and metrics"),
                (name = "api", description = "This description of the API"),
                (name = "auth", description = "Sign-in with a mandatory second factor"),
                (name = "users", description = "Accounts and roles (administrators)"),
                (name = "policy", description = "What the access policy allows"),
                (name = "extracts", description = "Time-limited member extracts: request, approve, download, expire"),
                (name = "calls", description = "Call lists worked in Registervakt: give members to callers, call, record outcomes"),
                (name = "audit", description = "The auditor's questions (each one audited)")
            )
        )]
        pub struct ApiDoc;

        /// Every named schema of the description, with its Rust type.
        pub fn named_schemas() -> Vec<NamedSchema> {
            vec![$(NamedSchema::of::<$($schema)::+>()),*]
        }

        /// Per operation (its handler's path), the named schemas its annotation brings into
        /// the document by itself: what utoipa merges into `components.schemas`, last one
        /// winning.
        /// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::web::Access::{Public};
    use crate::web::Audited::{NotAudited};
    use crate::web::{entry};
    use axum::http::Method as M;
    use axum::routing::{get};
    vec![
        entry(
            M::GET,
            "/api/openapi.json",
            Public,
            NotAudited("the API description"),
            get(openapi_json),
        ),
    ]
}

#[cfg(test)]
        fn schemas_by_operation() -> Vec<(String, Value)> {
            vec![$({
                #[derive(OpenApi)]
                #[openapi(paths($($path)::+))]
                struct One;
                let schemas = One::openapi().components.map(|c| c.schemas).unwrap_or_default();
                (
                    stringify!($($path)::+).replace(' ', ""),
                    serde_json::to_value(schemas).unwrap_or_default(),
                )
            }),*]
        }
    };
}

api_doc! {
    paths: [
        crate::web::api::health::healthz,
        crate::web::api::health::readyz,
        crate::web::metrics::metrics,
        crate::web::api::openapi::openapi_json,
        crate::web::api::auth::login,
        crate::web::api::auth::submit_totp,
        crate::web::api::auth::submit_recovery_code,
        crate::web::api::auth::begin_enrolment,
        crate::web::api::auth::confirm_enrolment,
        crate::web::api::auth::logout,
        crate::web::api::auth::accept_invitation,
        crate::web::api::auth::me,
        crate::web::api::passkeys::begin_registration,
        crate::web::api::passkeys::finish_registration,
        crate::web::api::passkeys::begin_authentication,
        crate::web::api::passkeys::finish_authentication,
        crate::web::api::passkeys::list_passkeys,
        crate::web::api::passkeys::rename_passkey,
        crate::web::api::passkeys::remove_passkey,
        crate::web::api::users::create_user,
        crate::web::api::users::list_user_proposals,
        crate::web::api::users::confirm_user_proposal,
        crate::web::api::users::reject_user_proposal,
        crate::web::api::users::list_users,
        crate::web::api::users::disable_user,
        crate::web::api::users::enable_user,
        crate::web::api::users::reset_second_factor,
        crate::web::api::roles::change_role,
        crate::web::api::roles::list_role_changes,
        crate::web::api::roles::confirm_role_change,
        crate::web::api::roles::reject_role_change,
        crate::web::api::recertify::list_role_holdings,
        crate::web::api::recertify::confirm_role_holding,
        crate::web::api::recertify::remove_role_holding,
        crate::web::api::policy::decide,
        crate::web::api::policy::show_policy,
        crate::web::api::policy_change::propose_policy,
        crate::web::api::policy_change::list_policy_proposals,
        crate::web::api::policy_change::confirm_policy_proposal,
        crate::web::api::policy_change::reject_policy_proposal,
        crate::web::api::extracts::estimate_extract,
        crate::web::api::extracts::create_extract,
        crate::web::api::extracts::list_extracts_route,
        crate::web::api::extracts::show_extract,
        crate::web::api::extracts::approve_extract,
        crate::web::api::extracts::deny_extract,
        crate::web::api::extracts::download_extract,
        crate::web::api::extracts::view_extract,
        crate::web::api::extracts::finish_extract,
        crate::web::api::extracts::resend_handover_link,
        crate::web::api::extracts::attest_extract_deleted,
        crate::web::api::extracts::revoke_extract,
        crate::web::api::extracts::show_freeze,
        crate::web::api::extracts::freeze_extracts,
        crate::web::api::extracts::lift_freeze,
        crate::web::api::extracts::list_notices,
        crate::web::api::extracts::read_notice,
        crate::web::api::calls::my_lists,
        crate::web::api::calls::assign,
        crate::web::api::calls::share,
        crate::web::api::calls::reassign,
        crate::web::api::calls::progress,
        crate::web::api::calls::next,
        crate::web::api::calls::record_outcome,
        crate::web::api::audit::member_disclosures,
        crate::web::api::audit::extract_story,
        crate::web::api::audit::resolve_pseudonym,
        crate::web::api::audit::reveal_pseudonym,
        crate::web::api::audit_trace::trace,
        crate::web::api::audit_trace::breach_scope,
        crate::web::api::audit_trace::breach_scope_of_file,
        crate::web::api::audit_timeline::list_audit_events,
        crate::web::api::audit_timeline::export_audit_events,
        crate::web::api::followup::list_flags,
        crate::web::api::followup::acknowledge_flag,
        crate::web::api::samples::list_samples,
        crate::web::api::samples::show_sample,
        crate::web::api::samples::review_item,
        crate::web::api::samples::sign_off_sample,
        crate::web::api::reports::activity_report,
        crate::web::api::reports::article30_report,
    ],
    schemas: [
        crate::web::api::wire_schema::PurposeId, crate::web::api::wire_schema::PurposeFilter,
        crate::web::api::wire_schema::FieldName, crate::web::api::wire_schema::District,
        crate::web::api::wire_schema::Username, crate::web::api::wire_schema::DisplayName, crate::web::api::wire_schema::Email,
        crate::web::api::wire_schema::PasskeyName,
        crate::web::api::wire_schema::RoleGrant, crate::web::api::wire_schema::RoleChange,
        crate::web::api::wire_schema::Justification, crate::web::api::wire_schema::Acknowledged,
        crate::web::api::wire_schema::CallOutcome, crate::web::api::wire_schema::CallNote,
        crate::web::api::wire_schema::FilterValue, crate::web::api::wire_schema::FileFormat,
        crate::web::api::wire_schema::FileHeader,
        crate::web::api::wire_schema::FreezeReason, crate::web::api::wire_schema::RevealReason,
        crate::web::api::wire_schema::FlagComment, crate::web::api::wire_schema::PolicyComment,
        crate::web::api::wire_schema::ApprovalComment, crate::web::api::wire_schema::DenialComment,
        crate::web::api::wire_schema::MemberNumber, crate::web::api::wire_schema::MemberRef,
        crate::web::api::wire_schema::ExtractId, crate::web::api::wire_schema::RequestHash,
        crate::web::api::wire_schema::EventCode, crate::web::api::wire_schema::Instant,
        crate::web::api::wire_schema::WindowTime, crate::web::api::wire_schema::ExportFormat,
        ErrorBody, Liveness, Readiness, ReadinessChecks,
        LoginRequest, LoginResponse, CodeRequest, SignedInResponse, EnrolmentResponse,
        RecoveryCodesResponse, AcceptInvitationRequest, RoleResponse, MeResponse,
        crate::web::api::passkeys::PasskeyOptions, crate::web::api::passkeys::PasskeyRegistrationRequest,
        crate::web::api::passkeys::PasskeyAssertionRequest, crate::web::api::passkeys::PasskeyRegisteredResponse,
        crate::web::api::passkeys::PasskeyResponse, crate::web::api::passkeys::PasskeyRenameRequest,
        crate::web::api::passkeys::PasskeySignedInResponse,
        CreateUserRequest, ProposalResponse, ConfirmedUserResponse, UserProposalResponse,
        UserResponse, RoleChangeRequest,
        RoleChangeResponse, PendingRoleChange, RoleHolding, RoleHoldingRequest, RoleHoldingsResponse,
        crate::web::api::policy::DecisionRequest, crate::web::api::policy::DecisionResponse,
        crate::web::api::policy::PurposeResponse, crate::web::api::policy::PolicyResponse,
        crate::web::api::policy_change::PolicyChangeRequest, crate::web::api::policy_change::PolicyChangeResponse,
        crate::web::api::policy_change::PolicyProposalResponse, crate::web::api::policy_change::PolicyFileDiff,
        crate::web::api::policy_change::PolicyHistoryResponse, crate::web::api::policy_change::PolicyHistoryCount,
        crate::web::api::policy_change::PolicyHistoryRequest, crate::web::api::policy_change::PolicyHistoryDecision,
        crate::web::history_words::HistoryWords, crate::web::history_words::HistoryRequestWords,
        crate::web::api::extracts_wire::FiltersBody, crate::web::api::extracts_wire::EstimateRequest,
        crate::web::api::extracts_wire::EstimateResponse, crate::web::api::extracts_wire::CreateExtractRequest,
        crate::web::api::extracts_wire::CreatedResponse, crate::web::api::extracts_wire::VerdictResponse,
        crate::web::api::extracts_wire::ExtractResponse, crate::web::api::extracts_wire::HistoryItem,
        crate::web::api::extracts_wire::ExtractList, crate::web::api::extracts_wire::ApproveBody,
        crate::web::api::extracts_wire::DenyBody, crate::web::api::extracts_wire::DecidedResponse,
        crate::web::api::extracts_wire::DownloadBody, crate::web::api::extracts_wire::ViewBody,
        crate::web::api::extracts_wire::ViewResponse, crate::web::api::extracts_wire::FreezeBody,
        crate::web::api::extracts_wire::FreezeResponse, crate::web::api::extracts_wire::NoticeResponse,
        crate::web::api::extracts_wire::NoticeList,
        crate::web::api::calls::AssignBody, crate::web::api::calls::ShareBody,
        crate::web::api::calls::ReassignBody, crate::web::api::calls::AssignedResponse,
        crate::web::api::calls::CallerProgressResponse, crate::web::api::calls::ProgressResponse,
        crate::web::api::calls::MyListResponse, crate::web::api::calls::MyListsResponse,
        crate::web::api::calls::ToCallResponse, crate::web::api::calls::CallBatchResponse,
        crate::web::api::calls::OutcomeBody,
        crate::web::api::audit::DisclosureResponse, crate::web::api::audit::ShownResponse,
        crate::web::api::audit::MemberDisclosures,
        crate::web::api::audit::HandedOver,
        crate::web::api::audit::StoryEvent, crate::web::api::audit::ExtractStory,
        crate::web::api::audit::ResolveBody, crate::web::api::audit::RevealBody,
        crate::web::api::audit::PseudonymResponse,
        crate::web::api::audit_trace::TraceCandidate, crate::web::api::audit_trace::TraceResponse,
        crate::web::api::audit_trace::CategoryResponse, crate::web::api::audit_trace::HeldResponse,
        crate::web::api::audit_trace::ReleaseResponse, crate::web::api::audit_trace::BreachScopeResponse,
        crate::web::api::audit_timeline::TimelineEvent, crate::web::api::audit_timeline::Timeline,
        crate::web::api::followup::FlagResponse, crate::web::api::followup::FlagList,
        crate::web::api::followup::AcknowledgeRequest,
        crate::web::api::samples::SampleSummary, crate::web::api::samples::SampleList,
        crate::web::api::samples::SampleItem, crate::web::api::samples::SampleResponse,
        crate::web::api::samples::ReviewVerdict, crate::web::api::samples::ReviewRequest,
        crate::web::api::wire_schema::SampleComment,
        crate::web::api::reports::CountsBody, crate::web::api::reports::GroupCounts,
        crate::web::api::reports::ActivityResponse, crate::web::api::reports::RoleCountsBody, crate::web::api::reports::CategoryBody,
        crate::web::api::reports::ProcessingEntry, crate::web::api::reports::Article30Response,
        crate::web::api::reports::RecipientBody,
    ],
}

/// The API description. Public: no session needed.
#[utoipa::path(get, path = "/api/openapi.json", tag = "api",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json",
               body = Object)))]
pub async fn openapi_json(State(state): State<crate::web::AppState>) -> Json<Value> {
    let purposes: Vec<String> = match state.policy.current(&state.store).await {
        Ok(current) => current
            .policy
            .purposes()
            .iter()
            .map(|p| p.id.as_str().to_owned())
            .collect(),
        // Without a policy the ids stay a pattern; the operations answer as they will.
        Err(_) => Vec::new(),
    };
    Json(document(
        &purposes,
        crate::web::session::cookie_name(&state),
    ))
}

/// The served document: [`ApiDoc`] with each operation's access, shared error responses and
/// links; `cookie` is the session cookie's name as this broker reads it
/// (`__Host-registervakt`, or `registervakt` with `server.secure_cookies = false`);
/// `purposes` are the catalogue's ids for the `PurposeId` enum (none: it stays a pattern).
pub fn document(purposes: &[String], cookie: &str) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    doc["components"]["securitySchemes"] = json!({
        "session": {
            "type": "apiKey", "in": "cookie", "name": cookie,
            "description": "The session cookie set by `/api/v1/auth/login` and renewed by each \
                            second-factor step."
        }
    });
    let table = crate::web::routes();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let method = method.to_ascii_uppercase();
                if let Some(route) = table
                    .iter()
                    .find(|r| r.method.as_str() == method && r.path == path)
                {
                    describe(route, op);
                }
            }
        }
    }
    links::add(&mut doc);
    if !purposes.is_empty() {
        doc["components"]["schemas"]["PurposeId"]["enum"] = json!(purposes);
    }
    doc
}

/// Whether a route is an operation of the description: everything under `/api/` (the
/// description itself too) and the health endpoints. The pages are not.
pub fn is_api_route(route: &crate::web::Route) -> bool {
    route.path.starts_with("/api/") || matches!(route.path, "/healthz" | "/readyz" | "/metrics")
}

/// Adds the operation's security requirement and the error responses every operation of its
/// kind can give (each only if the annotation does not name that status already).
fn describe(route: &crate::web::Route, op: &mut Value) {
    let json_body = op
        .pointer("/requestBody/content/application~1json")
        .is_some();
    let raw_body = !json_body && op.get("requestBody").is_some();
    let has_parameters = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query" || p["in"] == "path"));
    let mut shared: Vec<(&str, &str)> = Vec::new();
    if route.access != crate::web::Access::Public {
        op["security"] = json!([{ "session": [] }]);
        shared.push((
            "401",
            "No live session (`not_signed_in`, `session_expired`), or one that lacks a step \
             (`second_factor_required`, `enrolment_required`, `step_up_required`)",
        ));
    }
    if route.method != Method::GET {
        shared.push((
            "403",
            "Refused: sent from another site (`cross_origin`), or not permitted",
        ));
    }
    if json_body {
        shared.push(("400", "The body is not JSON (`invalid_json`)"));
        shared.push(("413", "The body is over the cap (`body_too_large`)"));
        shared.push((
            "415",
            "The body is not sent as `application/json` (`unsupported_media_type`)",
        ));
        shared.push((
            "422",
            "A field is unknown, missing, of the wrong type, or refused (`invalid_input`, …)",
        ));
    } else if raw_body {
        shared.push(("413", "The body is over the cap (`body_too_large`)"));
    }
    if route.body != crate::web::Body::Capped {
        shared.push((
            "429",
            "Every upload slot is taken (`too_many_uploads`); `Retry-After` says when to try again",
        ));
    }
    if has_parameters {
        shared.push((
            "422",
            "A parameter is unknown, missing or of the wrong type (`invalid_input`, …)",
        ));
    }
    // Everything but liveness, readiness (which answers 503 with its own body) and this
    // document can fail inside: a store error, a key that does not open, a bug.
    if !matches!(route.path, "/healthz" | "/readyz" | "/api/openapi.json") {
        shared.push((
            "500",
            "Something failed on our side; nothing was released (`internal`)",
        ));
    }
    if !matches!(route.path, "/healthz" | "/metrics") {
        shared.push((
            "503",
            "The store or the audit log cannot answer, or no answer in time (`unavailable`), \
             or the member register does not answer (`register_unavailable`); nothing was \
             released",
        ));
    }
    let responses = &mut op["responses"];
    for (status, description) in shared {
        if responses.get(status).is_none() {
            responses[status] = json!({
                "description": description,
                "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/ErrorBody" }
                } }
            });
        }
    }
}

#[cfg(test)]
mod tests;
