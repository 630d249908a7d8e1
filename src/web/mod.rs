//! HTTP: the axum router, pages and the JSON API under `/api/v1`.
//!
//! Guarantees: every response carries the security headers ([`headers`]); request bodies
//! over [`MAX_BODY_BYTES`](crate::config::MAX_BODY_BYTES) are refused with 413 before any
//! handler parses them, except on the routes whose [`Route::body`] raises the cap, which read
//! nothing before [`upload`]'s guard checked the session, the audit permit and a slot; every request has an id (`x-request-id`) that appears in its log
//! line; a request that has not started its response within `server.request_timeout_secs` is
//! dropped with a 503 ([`deadline`]); errors have exactly one mapping to HTTP ([`error`]). Logs
//! carry the path, never the query string.

pub mod admin_pages;
pub mod audit_api;
pub mod audit_pages;
pub mod audit_timeline_api;
pub mod audit_trace_api;
pub mod auth_api;
pub mod auth_pages;
pub mod client_addr;
pub mod deadline;
pub mod error;
pub mod extract_pages;
pub mod extracts_api;
pub mod extracts_wire;
pub mod followup_api;
pub mod frame;
pub mod headers;
pub mod health;
pub mod i18n;
pub mod json;
pub mod labels;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod oversight_pages;
pub mod pages;
pub mod params;
pub mod policy_api;
pub mod policy_change_api;
pub mod reports_api;
pub mod roles_api;
pub mod route_audit;
pub mod serve;
pub mod session;
pub mod start_page;
mod state;
pub mod upload;
pub mod users_api;
pub mod wire_schema;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodRouter, get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::MAX_BODY_BYTES;

/// Who may call a route. The router is built from [`route_table`], and a test walks the
/// table to prove that every route that is not `Public` answers 401 without a session and
/// with a half-finished one (SECURITY_BAR A6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, the OpenAPI document, the sign-in pages and their static assets.
    Public,
    /// Any live session, also one waiting for its second factor: only the 2FA step itself.
    SecondFactorStep,
    /// Both factors done.
    SignedIn,
}

pub use route_audit::Audited;

pub use state::AppState;
pub use upload::Body;

/// One route, who may call it, what it records in the audit log (E5) and what body it takes
/// (F3, F5: a test walks every route whose body is not [`Body::Capped`]).
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub audit: Audited,
    pub body: Body,
}

type Entry = (Route, MethodRouter<AppState>);

fn entry(
    method: Method,
    path: &'static str,
    access: Access,
    audit: Audited,
    handler: MethodRouter<AppState>,
) -> Entry {
    (
        Route {
            method,
            path,
            access,
            audit,
            body: Body::Capped,
        },
        handler,
    )
}

/// A route that takes a leaked file (up to the trace's cap): signed in, and [`router`] puts
/// it behind [`upload::guarded`], so the session, the audit permit and an upload slot are
/// checked before a byte is read. The only way a route gets a raised body limit.
fn upload_entry(path: &'static str, audit: Audited, handler: MethodRouter<AppState>) -> Entry {
    let (route, handler) = entry(Method::POST, path, Access::SignedIn, audit, handler);
    (
        Route {
            body: Body::AuditFile,
            ..route
        },
        handler,
    )
}

/// Every route of the application with its access class and its audit declaration.
pub fn route_table() -> Vec<Entry> {
    use crate::audit::EventKind as A;
    use Access::{Public, SecondFactorStep, SignedIn};
    use Audited::{NotAudited, Records};
    use Method as M;
    use route_audit as ra;
    vec![
        entry(
            M::GET,
            "/",
            Public,
            NotAudited("the landing page: links only"),
            get(pages::landing),
        ),
        entry(
            M::GET,
            "/static/app.css",
            Public,
            NotAudited("a static asset"),
            get(pages::stylesheet),
        ),
        entry(
            M::GET,
            "/static/extracts.js",
            Public,
            NotAudited("a static asset"),
            get(pages::extracts_script),
        ),
        entry(
            M::GET,
            "/static/frame.js",
            Public,
            NotAudited("a static asset"),
            get(pages::frame_script),
        ),
        entry(
            M::POST,
            "/language",
            Public,
            NotAudited("a display preference kept in a cookie"),
            post(frame::choose_language),
        ),
        entry(
            M::GET,
            "/healthz",
            Public,
            NotAudited("liveness: no data"),
            get(health::healthz),
        ),
        entry(
            M::GET,
            "/readyz",
            Public,
            NotAudited("readiness: start-up checks, no data"),
            get(health::readyz),
        ),
        entry(
            M::GET,
            "/metrics",
            Public,
            NotAudited("counters without labels naming people"),
            get(metrics::metrics),
        ),
        entry(
            M::GET,
            "/api/openapi.json",
            Public,
            NotAudited("the API description"),
            get(openapi::openapi_json),
        ),
        entry(
            M::GET,
            "/login",
            Public,
            NotAudited("the sign-in form"),
            get(auth_pages::login_page),
        ),
        entry(
            M::POST,
            "/login",
            Public,
            ra::PASSWORD,
            post(auth_pages::login_submit),
        ),
        entry(
            M::GET,
            "/invite/{token}",
            Public,
            NotAudited("the invitation form; the token is checked when it is submitted"),
            get(auth_pages::invite_page),
        ),
        entry(
            M::POST,
            "/invite",
            Public,
            Records(&[A::InvitationAccepted]),
            post(auth_pages::invite_submit),
        ),
        entry(
            M::POST,
            "/api/v1/auth/login",
            Public,
            ra::PASSWORD,
            post(auth_api::login),
        ),
        entry(
            M::POST,
            "/api/v1/auth/invitation",
            Public,
            Records(&[A::InvitationAccepted]),
            post(auth_api::accept_invitation),
        ),
        entry(
            M::GET,
            "/auth/oidc/start",
            Public,
            NotAudited("a redirect to the identity provider; the callback is audited"),
            get(oidc::oidc_start),
        ),
        entry(
            M::GET,
            "/auth/oidc/callback",
            Public,
            Records(&[A::OidcAccepted, A::OidcRejected]),
            get(oidc::oidc_callback),
        ),
        entry(
            M::GET,
            "/login/code",
            SecondFactorStep,
            NotAudited("the code form"),
            get(auth_pages::code_page_get),
        ),
        entry(
            M::POST,
            "/login/code",
            SecondFactorStep,
            ra::SECOND_FACTOR,
            post(auth_pages::code_submit),
        ),
        entry(
            M::GET,
            "/login/recovery",
            SecondFactorStep,
            NotAudited("the recovery-code form"),
            get(auth_pages::recovery_page_get),
        ),
        entry(
            M::POST,
            "/login/recovery",
            SecondFactorStep,
            ra::SECOND_FACTOR,
            post(auth_pages::recovery_submit),
        ),
        entry(
            M::GET,
            "/enrol",
            SecondFactorStep,
            NotAudited("the caller's own authenticator set-up; binding it is audited"),
            get(auth_pages::enrol_page),
        ),
        entry(
            M::POST,
            "/enrol",
            SecondFactorStep,
            Records(&[A::TotpEnrolled]),
            post(auth_pages::enrol_submit),
        ),
        entry(
            M::POST,
            "/logout",
            SecondFactorStep,
            Records(&[A::SignedOut]),
            post(auth_pages::logout_submit),
        ),
        entry(
            M::POST,
            "/api/v1/auth/totp",
            SecondFactorStep,
            ra::SECOND_FACTOR,
            post(auth_api::submit_totp),
        ),
        entry(
            M::POST,
            "/api/v1/auth/recovery",
            SecondFactorStep,
            ra::SECOND_FACTOR,
            post(auth_api::submit_recovery_code),
        ),
        entry(
            M::POST,
            "/api/v1/auth/enrol",
            SecondFactorStep,
            NotAudited("the caller's own authenticator set-up; binding it is audited"),
            post(auth_api::begin_enrolment),
        ),
        entry(
            M::POST,
            "/api/v1/auth/enrol/confirm",
            SecondFactorStep,
            Records(&[A::TotpEnrolled]),
            post(auth_api::confirm_enrolment),
        ),
        entry(
            M::POST,
            "/api/v1/auth/logout",
            SecondFactorStep,
            Records(&[A::SignedOut]),
            post(auth_api::logout),
        ),
        entry(
            M::GET,
            "/account",
            SignedIn,
            NotAudited("the caller's own account"),
            get(auth_pages::account_page),
        ),
        entry(
            M::GET,
            "/api/v1/me",
            SignedIn,
            NotAudited("the caller's own account"),
            get(auth_api::me),
        ),
        entry(
            M::GET,
            "/api/v1/users",
            SignedIn,
            Records(&[A::UsersListed, A::PermitRefused, A::AuthzError]),
            get(users_api::list_users),
        ),
        entry(
            M::POST,
            "/api/v1/users",
            SignedIn,
            Records(&[A::UserProposed, A::PermitRefused, A::AuthzError]),
            post(users_api::create_user),
        ),
        entry(
            M::GET,
            "/api/v1/user-proposals",
            SignedIn,
            Records(&[A::UsersListed, A::PermitRefused, A::AuthzError]),
            get(users_api::list_user_proposals),
        ),
        entry(
            M::POST,
            "/api/v1/user-proposals/{id}/confirm",
            SignedIn,
            Records(&[A::UserCreated, A::PermitRefused, A::AuthzError]),
            post(users_api::confirm_user_proposal),
        ),
        entry(
            M::POST,
            "/api/v1/user-proposals/{id}/reject",
            SignedIn,
            Records(&[A::UserProposalRejected, A::PermitRefused, A::AuthzError]),
            post(users_api::reject_user_proposal),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/disable",
            SignedIn,
            Records(&[A::UserDisabled, A::PermitRefused, A::AuthzError]),
            post(users_api::disable_user),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/enable",
            SignedIn,
            Records(&[A::UserEnabled, A::PermitRefused, A::AuthzError]),
            post(users_api::enable_user),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/reset-2fa",
            SignedIn,
            Records(&[A::SecondFactorReset, A::PermitRefused, A::AuthzError]),
            post(users_api::reset_second_factor),
        ),
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
            post(roles_api::change_role),
        ),
        entry(
            M::GET,
            "/api/v1/role-changes",
            SignedIn,
            Records(&[A::UsersListed, A::PermitRefused, A::AuthzError]),
            get(roles_api::list_role_changes),
        ),
        entry(
            M::POST,
            "/api/v1/policy/decisions",
            SignedIn,
            Records(&[A::PolicyDecision, A::AuthzError]),
            post(policy_api::decide),
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
            post(roles_api::confirm_role_change),
        ),
        entry(
            M::POST,
            "/api/v1/role-changes/{id}/reject",
            SignedIn,
            Records(&[A::RoleChangeRejected, A::PermitRefused, A::AuthzError]),
            post(roles_api::reject_role_change),
        ),
        entry(
            M::GET,
            "/api/v1/policy",
            SignedIn,
            NotAudited("the purpose catalogue: no people in it"),
            get(policy_api::show_policy),
        ),
        entry(
            M::POST,
            "/api/v1/policy/proposals",
            SignedIn,
            Records(&[A::PolicyProposed, A::PermitRefused, A::AuthzError]),
            post(policy_change_api::propose_policy),
        ),
        entry(
            M::GET,
            "/api/v1/policy/proposals",
            SignedIn,
            Records(&[A::PermitRefused, A::AuthzError]),
            get(policy_change_api::list_policy_proposals),
        ),
        entry(
            M::POST,
            "/api/v1/policy/proposals/{id}/confirm",
            SignedIn,
            Records(&[A::PolicyChanged, A::PermitRefused, A::AuthzError]),
            post(policy_change_api::confirm_policy_proposal),
        ),
        entry(
            M::POST,
            "/api/v1/policy/proposals/{id}/reject",
            SignedIn,
            Records(&[A::PolicyProposalRejected, A::PermitRefused, A::AuthzError]),
            post(policy_change_api::reject_policy_proposal),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/estimate",
            SignedIn,
            Records(&[A::ExtractEstimated]),
            post(extracts_api::estimate_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts",
            SignedIn,
            ra::EXTRACT_REQUEST,
            post(extracts_api::create_extract),
        ),
        entry(
            M::GET,
            "/api/v1/extracts",
            SignedIn,
            Records(&[A::ExtractQueueShown]),
            get(extracts_api::list_extracts_route),
        ),
        entry(
            M::GET,
            "/api/v1/extracts/{id}",
            SignedIn,
            Records(&[A::ExtractShown]),
            get(extracts_api::show_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/approve",
            SignedIn,
            ra::EXTRACT_DECISION,
            post(extracts_api::approve_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/deny",
            SignedIn,
            ra::EXTRACT_DECISION,
            post(extracts_api::deny_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/download",
            SignedIn,
            Records(&[A::ExtractReleased, A::ExtractDamaged, A::ExtractShredded]),
            post(extracts_api::download_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/view",
            SignedIn,
            Records(&[A::ExtractViewed, A::ExtractDamaged]),
            post(extracts_api::view_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/done",
            SignedIn,
            Records(&[A::ExtractShredded]),
            post(extracts_api::finish_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/attest-deleted",
            SignedIn,
            Records(&[A::ExtractAttested]),
            post(extracts_api::attest_extract_deleted),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/revoke",
            SignedIn,
            Records(&[A::ExtractShredded]),
            post(extracts_api::revoke_extract),
        ),
        entry(
            M::GET,
            "/api/v1/freeze",
            SignedIn,
            NotAudited("whether the incident switch is on: no people in it"),
            get(extracts_api::show_freeze),
        ),
        entry(
            M::POST,
            "/api/v1/freeze",
            SignedIn,
            Records(&[A::ExtractsFrozen, A::ExtractShredded]),
            post(extracts_api::freeze_extracts),
        ),
        entry(
            M::POST,
            "/api/v1/freeze/lift",
            SignedIn,
            Records(&[A::ExtractsUnfrozen]),
            post(extracts_api::lift_freeze),
        ),
        entry(
            M::GET,
            "/api/v1/notices",
            SignedIn,
            NotAudited("the caller's own notices"),
            get(extracts_api::list_notices),
        ),
        entry(
            M::POST,
            "/api/v1/notices/{id}/read",
            SignedIn,
            NotAudited("marks one of the caller's own notices read"),
            post(extracts_api::read_notice),
        ),
        entry(
            M::GET,
            "/extracts",
            SignedIn,
            NotAudited("the caller's own extracts and notices"),
            get(extract_pages::list_extracts_page),
        ),
        entry(
            M::POST,
            "/extracts",
            SignedIn,
            ra::PAGE_REQUEST,
            post(extract_pages::create_extract),
        ),
        entry(
            M::GET,
            "/extracts/new",
            SignedIn,
            NotAudited("the request form"),
            get(extract_pages::new_extract_page),
        ),
        entry(
            M::GET,
            "/extracts/{id}",
            SignedIn,
            Records(&[A::ExtractShown]),
            get(extract_pages::show_extract_page),
        ),
        entry(
            M::POST,
            "/extracts/{id}/download",
            SignedIn,
            ra::PAGE_DOWNLOAD,
            post(extract_pages::download_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/view",
            SignedIn,
            ra::PAGE_VIEW,
            post(extract_pages::view_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/done",
            SignedIn,
            Records(&[A::ExtractShredded]),
            post(extract_pages::finish_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/attest",
            SignedIn,
            Records(&[A::ExtractAttested]),
            post(extract_pages::attest_extract_deleted),
        ),
        entry(
            M::POST,
            "/extracts/{id}/approve",
            SignedIn,
            ra::PAGE_DECISION,
            post(extract_pages::approve_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/deny",
            SignedIn,
            ra::PAGE_DECISION,
            post(extract_pages::deny_extract),
        ),
        entry(
            M::GET,
            "/start",
            SignedIn,
            Records(&[A::ExtractQueueShown, A::FollowupListed]),
            get(start_page::start_page),
        ),
        entry(
            M::GET,
            "/approvals",
            SignedIn,
            Records(&[A::ExtractQueueShown, A::FollowupListed]),
            get(extract_pages::approvals_page),
        ),
        entry(
            M::GET,
            "/api/v1/audit/extracts/{id}",
            SignedIn,
            Records(&[A::AuditExtractStory]),
            get(audit_api::extract_story),
        ),
        entry(
            M::GET,
            "/api/v1/audit/events",
            SignedIn,
            Records(&[A::AuditTimeline]),
            get(audit_timeline_api::list_audit_events),
        ),
        entry(
            M::GET,
            "/api/v1/audit/export",
            SignedIn,
            Records(&[A::AuditExport]),
            get(audit_timeline_api::export_audit_events),
        ),
        entry(
            M::GET,
            "/api/v1/audit/members/{member_id}/disclosures",
            SignedIn,
            Records(&[A::AuditMemberLookup]),
            get(audit_api::member_disclosures),
        ),
        entry(
            M::POST,
            "/api/v1/audit/pseudonyms/resolve",
            SignedIn,
            Records(&[A::PseudonymResolved]),
            post(audit_api::resolve_pseudonym),
        ),
        entry(
            M::POST,
            "/api/v1/audit/pseudonyms/reveal",
            SignedIn,
            Records(&[A::PseudonymRevealed]),
            post(audit_api::reveal_pseudonym),
        ),
        upload_entry(
            "/api/v1/audit/trace",
            Records(&[A::AuditTrace]),
            post(audit_trace_api::trace),
        ),
        entry(
            M::GET,
            "/api/v1/audit/breach-scope",
            SignedIn,
            Records(&[A::AuditBreachScope]),
            get(audit_trace_api::breach_scope),
        ),
        upload_entry(
            "/api/v1/audit/breach-scope/file",
            Records(&[A::AuditTrace, A::AuditBreachScope]),
            post(audit_trace_api::breach_scope_of_file),
        ),
        entry(
            M::GET,
            "/audit",
            SignedIn,
            NotAudited("the asker's own audit scope and three empty forms"),
            get(audit_pages::audit_page),
        ),
        entry(
            M::POST,
            "/audit/members",
            SignedIn,
            Records(&[A::AuditMemberReport]),
            post(audit_pages::member_report_page),
        ),
        upload_entry(
            "/audit/trace",
            Records(&[A::AuditTrace]),
            post(audit_pages::trace_page),
        ),
        entry(
            M::GET,
            "/audit/scope",
            SignedIn,
            Records(&[A::AuditBreachScope]),
            get(audit_pages::scope_page),
        ),
        entry(
            M::GET,
            "/audit/extracts/{id}",
            SignedIn,
            Records(&[A::AuditExtractStory]),
            get(audit_pages::story_page),
        ),
        entry(
            M::GET,
            "/audit/events",
            SignedIn,
            Records(&[A::AuditTimeline]),
            get(oversight_pages::events_page),
        ),
        entry(
            M::GET,
            "/audit/flags",
            SignedIn,
            Records(&[A::FollowupListed]),
            get(oversight_pages::flags_page),
        ),
        entry(
            M::POST,
            "/audit/flags/{id}/acknowledge",
            SignedIn,
            ra::PAGE_ACKNOWLEDGE,
            post(oversight_pages::acknowledge_flag),
        ),
        entry(
            M::GET,
            "/audit/reports",
            SignedIn,
            Records(&[A::ReportActivity]),
            get(oversight_pages::activity_page),
        ),
        entry(
            M::GET,
            "/audit/reports/article30",
            SignedIn,
            Records(&[A::ReportArticle30]),
            get(oversight_pages::article30_page),
        ),
        entry(
            M::GET,
            "/api/v1/audit/flags",
            SignedIn,
            Records(&[A::FollowupListed]),
            get(followup_api::list_flags),
        ),
        entry(
            M::POST,
            "/api/v1/audit/flags/{id}/acknowledge",
            SignedIn,
            Records(&[A::FollowupAcknowledged]),
            post(followup_api::acknowledge_flag),
        ),
        entry(
            M::GET,
            "/api/v1/audit/reports/activity",
            SignedIn,
            Records(&[A::ReportActivity]),
            get(reports_api::activity_report),
        ),
        entry(
            M::GET,
            "/api/v1/audit/reports/article30",
            SignedIn,
            Records(&[A::ReportArticle30]),
            get(reports_api::article30_report),
        ),
        entry(
            M::GET,
            "/admin",
            SignedIn,
            ra::ADMIN_PAGE,
            get(admin_pages::admin_page),
        ),
        entry(
            M::POST,
            "/admin/users",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(admin_pages::create_user),
        ),
        entry(
            M::POST,
            "/admin/roles",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(admin_pages::change_role),
        ),
        entry(
            M::POST,
            "/admin/decide",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(admin_pages::decide),
        ),
        entry(
            M::POST,
            "/admin/policy",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(admin_pages::change_policy),
        ),
    ]
}

/// The routes and their access classes, without handlers (for tests and docs).
pub fn routes() -> Vec<Route> {
    route_table().into_iter().map(|(r, _)| r).collect()
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let uploads = upload::Uploads::new(state.clone());
    let mut caps = headers::BodyCaps::default();
    let mut router = Router::new();
    for (route, handler) in route_table() {
        caps.allow(route.path, route.body);
        let handler = match route.body {
            Body::Capped => handler,
            Body::AuditFile => upload::guarded(handler, &uploads),
        };
        router = router.route(route.path, handler);
    }
    let public_origin = Arc::new(session::PublicOrigin::of(&state.config.server.public_url));
    router
        .fallback(error::not_found)
        .layer(
            ServiceBuilder::new()
                // Ours alone: a client-sent id would otherwise be kept as the request's id,
                // letting a caller forge or collide the id that ties log lines together.
                .layer(axum::middleware::from_fn(headers::drop_client_request_id))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
                        let id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", id, method = %req.method(), path = loggable_path(req.uri().path()))
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::from_fn(headers::security_headers))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    metrics::count_requests,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    Arc::new(caps),
                    headers::limit_body,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    public_origin,
                    session::same_origin_only,
                ))
                .layer(axum::middleware::from_fn(frame::scope))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    deadline::enforce,
                ))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .with_state(state)
}

/// The path as logged: an invitation token in `/invite/{token}` is a credential, a member number
/// in `/api/v1/audit/members/{member_id}/…` is member data; both are cut.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/invite/") {
        "/invite/…"
    } else if path.starts_with("/api/v1/audit/members/") {
        // The member number names a member: it is member data.
        "/api/v1/audit/members/…/disclosures"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn credentials_and_member_numbers_never_reach_a_log_line() {
        assert_eq!(loggable_path("/invite/secret-token"), "/invite/…");
        assert_eq!(
            loggable_path("/api/v1/audit/members/100234/disclosures"),
            "/api/v1/audit/members/…/disclosures"
        );
        assert_eq!(loggable_path("/api/v1/extracts"), "/api/v1/extracts");
    }
}
