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

use super::auth_api::{
    AcceptInvitationRequest, CodeRequest, EnrolmentResponse, LoginRequest, LoginResponse,
    MeResponse, RecoveryCodesResponse, RoleResponse, SignedInResponse,
};
use super::error::ErrorBody;
use super::health::{Liveness, Readiness, ReadinessChecks};
use super::roles_api::{PendingRoleChange, RoleChangeRequest, RoleChangeResponse};
use super::users_api::{
    ConfirmedUserResponse, CreateUserRequest, ProposalResponse, UserProposalResponse, UserResponse,
};

/// A named schema of the description and the Rust type that gives it.
#[derive(Debug, Clone)]
pub struct NamedSchema {
    /// Its name in `components.schemas`.
    pub name: Cow<'static, str>,
    /// The Rust type, e.g. `registervakt::web::extracts_wire::DecidedResponse`.
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
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        super::openapi::openapi_json,
        super::auth_api::login,
        super::auth_api::submit_totp,
        super::auth_api::submit_recovery_code,
        super::auth_api::begin_enrolment,
        super::auth_api::confirm_enrolment,
        super::auth_api::logout,
        super::auth_api::accept_invitation,
        super::auth_api::me,
        super::users_api::create_user,
        super::users_api::list_user_proposals,
        super::users_api::confirm_user_proposal,
        super::users_api::reject_user_proposal,
        super::users_api::list_users,
        super::users_api::disable_user,
        super::users_api::enable_user,
        super::users_api::reset_second_factor,
        super::roles_api::change_role,
        super::roles_api::list_role_changes,
        super::roles_api::confirm_role_change,
        super::roles_api::reject_role_change,
        super::policy_api::decide,
        super::policy_api::show_policy,
        super::policy_change_api::propose_policy,
        super::policy_change_api::list_policy_proposals,
        super::policy_change_api::confirm_policy_proposal,
        super::policy_change_api::reject_policy_proposal,
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
    ],
    schemas: [
        super::wire_schema::PurposeId, super::wire_schema::PurposeFilter,
        super::wire_schema::FieldName, super::wire_schema::District,
        super::wire_schema::Username, super::wire_schema::DisplayName, super::wire_schema::Email,
        super::wire_schema::RoleGrant, super::wire_schema::RoleChange,
        super::wire_schema::Justification, super::wire_schema::Acknowledged,
        super::wire_schema::FilterValue, super::wire_schema::FileFormat,
        super::wire_schema::FreezeReason, super::wire_schema::RevealReason,
        super::wire_schema::FlagComment, super::wire_schema::PolicyComment,
        super::wire_schema::ApprovalComment, super::wire_schema::DenialComment,
        super::wire_schema::MemberNumber, super::wire_schema::MemberRef,
        super::wire_schema::ExtractId, super::wire_schema::RequestHash,
        super::wire_schema::EventCode, super::wire_schema::Instant,
        super::wire_schema::WindowTime, super::wire_schema::ExportFormat,
        ErrorBody, Liveness, Readiness, ReadinessChecks,
        LoginRequest, LoginResponse, CodeRequest, SignedInResponse, EnrolmentResponse,
        RecoveryCodesResponse, AcceptInvitationRequest, RoleResponse, MeResponse,
        CreateUserRequest, ProposalResponse, ConfirmedUserResponse, UserProposalResponse,
        UserResponse, RoleChangeRequest,
        RoleChangeResponse, PendingRoleChange,
        super::policy_api::DecisionRequest, super::policy_api::DecisionResponse,
        super::policy_api::PurposeResponse, super::policy_api::PolicyResponse,
        super::policy_change_api::PolicyChangeRequest, super::policy_change_api::PolicyChangeResponse,
        super::policy_change_api::PolicyProposalResponse, super::policy_change_api::PolicyFileDiff,
        super::extracts_wire::FiltersBody, super::extracts_wire::EstimateRequest,
        super::extracts_wire::EstimateResponse, super::extracts_wire::CreateExtractRequest,
        super::extracts_wire::CreatedResponse, super::extracts_wire::VerdictResponse,
        super::extracts_wire::ExtractResponse, super::extracts_wire::HistoryItem,
        super::extracts_wire::ExtractList, super::extracts_wire::ApproveBody,
        super::extracts_wire::DenyBody, super::extracts_wire::DecidedResponse,
        super::extracts_wire::DownloadBody, super::extracts_wire::ViewBody,
        super::extracts_wire::ViewResponse, super::extracts_wire::FreezeBody,
        super::extracts_wire::FreezeResponse, super::extracts_wire::NoticeResponse,
        super::extracts_wire::NoticeList,
        super::audit_api::DisclosureResponse, super::audit_api::MemberDisclosures,
        super::audit_api::StoryEvent, super::audit_api::ExtractStory,
        super::audit_api::ResolveBody, super::audit_api::RevealBody,
        super::audit_api::PseudonymResponse,
        super::audit_trace_api::TraceCandidate, super::audit_trace_api::TraceResponse,
        super::audit_trace_api::CategoryResponse, super::audit_trace_api::HeldResponse,
        super::audit_trace_api::ReleaseResponse, super::audit_trace_api::BreachScopeResponse,
        super::audit_timeline_api::TimelineEvent, super::audit_timeline_api::Timeline,
        super::followup_api::FlagResponse, super::followup_api::FlagList,
        super::followup_api::AcknowledgeRequest,
        super::reports_api::CountsBody, super::reports_api::GroupCounts,
        super::reports_api::ActivityResponse, super::reports_api::CategoryBody,
        super::reports_api::ProcessingEntry, super::reports_api::Article30Response,
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
    Json(document(&purposes, super::session::cookie_name(&state)))
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
    let table = super::routes();
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
pub fn is_api_route(route: &super::Route) -> bool {
    route.path.starts_with("/api/") || matches!(route.path, "/healthz" | "/readyz" | "/metrics")
}

/// Adds the operation's security requirement and the error responses every operation of its
/// kind can give (each only if the annotation does not name that status already).
fn describe(route: &super::Route, op: &mut Value) {
    let json_body = op
        .pointer("/requestBody/content/application~1json")
        .is_some();
    let raw_body = !json_body && op.get("requestBody").is_some();
    let has_parameters = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query" || p["in"] == "path"));
    let mut shared: Vec<(&str, &str)> = Vec::new();
    if route.access != super::Access::Public {
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
    if route.body != super::Body::Capped {
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
            "The store or the audit log cannot answer, or no answer in time; nothing was \
             released (`unavailable`)",
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
