//! HTTP: the axum router, pages and the JSON API under `/api/v1`.
//!
//! Guarantees: every response carries the security headers ([`headers`]); request bodies
//! over [`MAX_BODY_BYTES`](crate::config::MAX_BODY_BYTES) are refused with 413 before any
//! handler parses them, except on the routes whose [`Route::body`] raises the cap, which read
//! nothing before [`upload`]'s guard checked the session, the audit permit and a slot; every request has an id (`x-request-id`) that appears in its log
//! line; a request that has not started its response within `server.request_timeout_secs` is
//! dropped with a 503 ([`deadline`]); errors have exactly one mapping to HTTP ([`error`]). Logs
//! carry the path, never the query string.

pub mod api;
pub mod client_addr;
pub mod deadline;
pub mod error;
pub mod event_text;
pub mod frame;
pub mod headers;
pub mod history_words;
pub mod i18n;
pub mod json;
pub mod labels;
pub mod metrics;
pub mod page;
pub mod pages;
pub mod params;
pub mod render;
pub mod route_audit;
pub mod serve;
pub mod session;
mod state;
pub mod upload;

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

pub(in crate::web) type Entry = (Route, MethodRouter<AppState>);

pub(in crate::web) fn entry(
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
pub(in crate::web) fn upload_entry(
    path: &'static str,
    audit: Audited,
    handler: MethodRouter<AppState>,
) -> Entry {
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
    [
        kit_routes(),
        api::health::routes(),
        api::openapi::routes(),
        pages::auth::routes(),
        pages::handover::routes(),
        pages::passkeys::routes(),
        api::auth::routes(),
        api::passkeys::routes(),
        pages::oidc::routes(),
        pages::freeze::routes(),
        api::users::routes(),
        api::roles::routes(),
        api::recertify::routes(),
        api::policy::routes(),
        api::policy_change::routes(),
        api::extracts::routes(),
        api::calls::routes(),
        pages::extract::routes(),
        pages::calls::routes(),
        pages::start::routes(),
        api::audit::routes(),
        api::audit_timeline::routes(),
        api::audit_trace::routes(),
        pages::audit::routes(),
        pages::oversight::routes(),
        api::followup::routes(),
        api::samples::routes(),
        api::reports::routes(),
        pages::admin::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The kit's own routes: the landing page, static assets, health, metrics, the API description.
fn kit_routes() -> Vec<Entry> {
    use Access::Public;
    use Audited::NotAudited;
    use Method as M;
    vec![
        entry(
            M::GET,
            "/",
            Public,
            NotAudited("the landing page: links only"),
            get(render::landing),
        ),
        entry(
            M::GET,
            "/static/app.css",
            Public,
            NotAudited("a static asset"),
            get(render::stylesheet),
        ),
        entry(
            M::GET,
            "/static/extracts.js",
            Public,
            NotAudited("a static asset"),
            get(render::extracts_script),
        ),
        entry(
            M::GET,
            "/static/frame.js",
            Public,
            NotAudited("a static asset"),
            get(render::frame_script),
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
            "/metrics",
            Public,
            NotAudited("counters without labels naming people"),
            get(metrics::metrics),
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
                .layer(headers::security_headers())
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
    } else if path.starts_with("/handover/deleted/") {
        // A processor's links are credentials too.
        "/handover/deleted/…"
    } else if path.starts_with("/handover/")
        && !matches!(
            path,
            "/handover/code" | "/handover/download" | "/handover/deleted"
        )
    {
        "/handover/…"
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
        assert_eq!(loggable_path("/handover/secret-token"), "/handover/…");
        assert_eq!(
            loggable_path("/handover/deleted/secret"),
            "/handover/deleted/…"
        );
        assert_eq!(loggable_path("/handover/download"), "/handover/download");
        assert_eq!(
            loggable_path("/api/v1/audit/members/100234/disclosures"),
            "/api/v1/audit/members/…/disclosures"
        );
        assert_eq!(loggable_path("/api/v1/extracts"), "/api/v1/extracts");
    }
}
