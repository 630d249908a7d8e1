//! HTTP: the axum router, pages and the JSON API under `/api/v1`.
//!
//! Guarantees: every response carries the security headers ([`headers`]); request bodies
//! over [`MAX_BODY_BYTES`](crate::config::MAX_BODY_BYTES) are refused with 413 before any
//! handler parses them; every request has an id (`x-request-id`) that appears in its log
//! line; errors have exactly one mapping to HTTP ([`error`]). Logs carry the path, never the
//! query string.

pub mod error;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod pages;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::config::MAX_BODY_BYTES;

/// The whole application. Routes that need no session are listed in [`PUBLIC_ROUTES`].
pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/", get(pages::landing))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/openapi.json", get(openapi::openapi_json))
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
                        tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::from_fn(headers::security_headers))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    metrics::count_requests,
                ))
                .layer(axum::middleware::from_fn(headers::limit_body))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .with_state(state)
}

/// Routes anyone may call without signing in. Sign-in (issue 3) adds its own; every other
/// route will require a full two-factor session, and a test enumerates them.
pub const PUBLIC_ROUTES: &[&str] = &[
    "/",
    "/static/app.css",
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/openapi.json",
];
