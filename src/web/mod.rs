//! HTTP: the axum router, pages and the JSON API under `/api/v1`.
//!
//! Guarantees: every response carries the security headers ([`headers`]); request bodies
//! over [`MAX_BODY_BYTES`](crate::config::MAX_BODY_BYTES) are refused with 413 before any
//! handler parses them; every request has an id (`x-request-id`) that appears in its log
//! line; errors have exactly one mapping to HTTP ([`error`]). Logs carry the path, never the
//! query string.

pub mod admin_pages;
pub mod audit_api;
pub mod auth_api;
pub mod auth_pages;
pub mod error;
pub mod extract_pages;
pub mod extracts_api;
pub mod extracts_wire;
pub mod followup_api;
pub mod headers;
pub mod health;
pub mod json;
pub mod metrics;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod policy_api;
pub mod reports_api;
pub mod session;
pub mod users_api;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodRouter, get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
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

/// One route and who may call it.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

type Entry = (Route, MethodRouter<AppState>);

fn entry(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> Entry {
    (
        Route {
            method,
            path,
            access,
        },
        handler,
    )
}

/// Every route of the application with its access class.
pub fn route_table() -> Vec<Entry> {
    use Access::{Public, SecondFactorStep, SignedIn};
    use Method as M;
    vec![
        entry(M::GET, "/", Public, get(pages::landing)),
        entry(M::GET, "/static/app.css", Public, get(pages::stylesheet)),
        entry(
            M::GET,
            "/static/extracts.js",
            Public,
            get(pages::extracts_script),
        ),
        entry(M::GET, "/healthz", Public, get(health::healthz)),
        entry(M::GET, "/readyz", Public, get(health::readyz)),
        entry(M::GET, "/metrics", Public, get(metrics::metrics)),
        entry(
            M::GET,
            "/api/openapi.json",
            Public,
            get(openapi::openapi_json),
        ),
        entry(M::GET, "/login", Public, get(auth_pages::login_page)),
        entry(M::POST, "/login", Public, post(auth_pages::login_submit)),
        entry(
            M::GET,
            "/invite/{token}",
            Public,
            get(auth_pages::invite_page),
        ),
        entry(M::POST, "/invite", Public, post(auth_pages::invite_submit)),
        entry(M::POST, "/api/v1/auth/login", Public, post(auth_api::login)),
        entry(
            M::POST,
            "/api/v1/auth/invitation",
            Public,
            post(auth_api::accept_invitation),
        ),
        entry(M::GET, "/auth/oidc/start", Public, get(oidc::oidc_start)),
        entry(
            M::GET,
            "/auth/oidc/callback",
            Public,
            get(oidc::oidc_callback),
        ),
        entry(
            M::GET,
            "/login/code",
            SecondFactorStep,
            get(auth_pages::code_page_get),
        ),
        entry(
            M::POST,
            "/login/code",
            SecondFactorStep,
            post(auth_pages::code_submit),
        ),
        entry(
            M::GET,
            "/login/recovery",
            SecondFactorStep,
            get(auth_pages::recovery_page_get),
        ),
        entry(
            M::POST,
            "/login/recovery",
            SecondFactorStep,
            post(auth_pages::recovery_submit),
        ),
        entry(
            M::GET,
            "/enrol",
            SecondFactorStep,
            get(auth_pages::enrol_page),
        ),
        entry(
            M::POST,
            "/enrol",
            SecondFactorStep,
            post(auth_pages::enrol_submit),
        ),
        entry(
            M::POST,
            "/logout",
            SecondFactorStep,
            post(auth_pages::logout_submit),
        ),
        entry(
            M::POST,
            "/api/v1/auth/totp",
            SecondFactorStep,
            post(auth_api::submit_totp),
        ),
        entry(
            M::POST,
            "/api/v1/auth/recovery",
            SecondFactorStep,
            post(auth_api::submit_recovery_code),
        ),
        entry(
            M::POST,
            "/api/v1/auth/enrol",
            SecondFactorStep,
            post(auth_api::begin_enrolment),
        ),
        entry(
            M::POST,
            "/api/v1/auth/enrol/confirm",
            SecondFactorStep,
            post(auth_api::confirm_enrolment),
        ),
        entry(
            M::POST,
            "/api/v1/auth/logout",
            SecondFactorStep,
            post(auth_api::logout),
        ),
        entry(M::GET, "/account", SignedIn, get(auth_pages::account_page)),
        entry(M::GET, "/api/v1/me", SignedIn, get(auth_api::me)),
        entry(
            M::GET,
            "/api/v1/users",
            SignedIn,
            get(users_api::list_users),
        ),
        entry(
            M::POST,
            "/api/v1/users",
            SignedIn,
            post(users_api::create_user),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/disable",
            SignedIn,
            post(users_api::disable_user),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/enable",
            SignedIn,
            post(users_api::enable_user),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/reset-2fa",
            SignedIn,
            post(users_api::reset_second_factor),
        ),
        entry(
            M::POST,
            "/api/v1/users/{username}/roles",
            SignedIn,
            post(users_api::change_role),
        ),
        entry(
            M::GET,
            "/api/v1/role-changes",
            SignedIn,
            get(users_api::list_role_changes),
        ),
        entry(
            M::POST,
            "/api/v1/policy/decisions",
            SignedIn,
            post(policy_api::decide),
        ),
        entry(
            M::POST,
            "/api/v1/role-changes/{id}/confirm",
            SignedIn,
            post(users_api::confirm_role_change),
        ),
        entry(
            M::GET,
            "/api/v1/policy",
            SignedIn,
            get(policy_api::show_policy),
        ),
        entry(
            M::POST,
            "/api/v1/policy/versions",
            SignedIn,
            post(policy_api::change_policy),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/estimate",
            SignedIn,
            post(extracts_api::estimate_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts",
            SignedIn,
            post(extracts_api::create_extract),
        ),
        entry(
            M::GET,
            "/api/v1/extracts",
            SignedIn,
            get(extracts_api::list_extracts),
        ),
        entry(
            M::GET,
            "/api/v1/extracts/{id}",
            SignedIn,
            get(extracts_api::show_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/approve",
            SignedIn,
            post(extracts_api::approve_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/deny",
            SignedIn,
            post(extracts_api::deny_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/download",
            SignedIn,
            post(extracts_api::download_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/view",
            SignedIn,
            post(extracts_api::view_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/done",
            SignedIn,
            post(extracts_api::finish_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/attest-deleted",
            SignedIn,
            post(extracts_api::attest_extract_deleted),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/revoke",
            SignedIn,
            post(extracts_api::revoke_extract),
        ),
        entry(
            M::GET,
            "/api/v1/freeze",
            SignedIn,
            get(extracts_api::show_freeze),
        ),
        entry(
            M::POST,
            "/api/v1/freeze",
            SignedIn,
            post(extracts_api::freeze_extracts),
        ),
        entry(
            M::POST,
            "/api/v1/freeze/lift",
            SignedIn,
            post(extracts_api::lift_freeze),
        ),
        entry(
            M::GET,
            "/api/v1/notices",
            SignedIn,
            get(extracts_api::list_notices),
        ),
        entry(
            M::POST,
            "/api/v1/notices/{id}/read",
            SignedIn,
            post(extracts_api::read_notice),
        ),
        entry(
            M::GET,
            "/extracts",
            SignedIn,
            get(extract_pages::list_extracts_page),
        ),
        entry(
            M::POST,
            "/extracts",
            SignedIn,
            post(extract_pages::create_extract),
        ),
        entry(
            M::GET,
            "/extracts/new",
            SignedIn,
            get(extract_pages::new_extract_page),
        ),
        entry(
            M::GET,
            "/extracts/{id}",
            SignedIn,
            get(extract_pages::show_extract_page),
        ),
        entry(
            M::POST,
            "/extracts/{id}/download",
            SignedIn,
            post(extract_pages::download_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/view",
            SignedIn,
            post(extract_pages::view_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/done",
            SignedIn,
            post(extract_pages::finish_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/attest",
            SignedIn,
            post(extract_pages::attest_extract_deleted),
        ),
        entry(
            M::POST,
            "/extracts/{id}/approve",
            SignedIn,
            post(extract_pages::approve_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/deny",
            SignedIn,
            post(extract_pages::deny_extract),
        ),
        entry(
            M::GET,
            "/approvals",
            SignedIn,
            get(extract_pages::approvals_page),
        ),
        entry(
            M::GET,
            "/api/v1/audit/extracts/{id}",
            SignedIn,
            get(audit_api::extract_story),
        ),
        entry(
            M::GET,
            "/api/v1/audit/members/{member_id}/disclosures",
            SignedIn,
            get(audit_api::member_disclosures),
        ),
        entry(
            M::GET,
            "/api/v1/audit/flags",
            SignedIn,
            get(followup_api::list_flags),
        ),
        entry(
            M::POST,
            "/api/v1/audit/flags/{id}/acknowledge",
            SignedIn,
            post(followup_api::acknowledge_flag),
        ),
        entry(
            M::GET,
            "/api/v1/audit/reports/activity",
            SignedIn,
            get(reports_api::activity_report),
        ),
        entry(
            M::GET,
            "/api/v1/audit/reports/article30",
            SignedIn,
            get(reports_api::article30_report),
        ),
        entry(M::GET, "/admin", SignedIn, get(admin_pages::admin_page)),
        entry(
            M::POST,
            "/admin/roles",
            SignedIn,
            post(admin_pages::change_role),
        ),
        entry(
            M::POST,
            "/admin/roles/confirm",
            SignedIn,
            post(admin_pages::confirm_role),
        ),
        entry(
            M::POST,
            "/admin/policy",
            SignedIn,
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
    let mut router = Router::new();
    for (route, handler) in route_table() {
        router = router.route(route.path, handler);
    }
    router
        .fallback(error::not_found)
        .layer(
            ServiceBuilder::new()
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
                .layer(axum::middleware::from_fn(headers::limit_body))
                .layer(axum::middleware::from_fn(session::same_origin_only))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .with_state(state)
}

/// The path as logged: an invitation token in `/invite/{token}` is a credential and is cut.
fn loggable_path(path: &str) -> &str {
    if path.starts_with("/invite/") {
        "/invite/…"
    } else {
        path
    }
}
