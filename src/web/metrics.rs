//! Prometheus metrics (`GET /metrics`, text exposition format). Labels have a small fixed
//! set of values (method, status class) so a client cannot blow up cardinality; no label
//! ever holds a user name, path parameter or member data.

use std::sync::atomic::AtomicU64;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::web::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    status: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    ready: Gauge,
    kek_uses: Gauge<u64, AtomicU64>,
    syslog: crate::audit::syslog::Stats,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("registervakt");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method and status class",
            requests.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 when the last readiness check passed",
            ready.clone(),
        );
        let kek_uses = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "kek_uses",
            "Encryptions with the active key-encryption key since start (SP 800-38D 8.3)",
            kek_uses.clone(),
        );
        let syslog = crate::audit::syslog::Stats::default();
        registry.register(
            "syslog_forwarded",
            "Audit entries and checkpoints sent to syslog",
            syslog.forwarded.clone(),
        );
        registry.register(
            "syslog_dropped",
            "Audit entries and checkpoints not sent to syslog (queue full or destination failing)",
            syslog.dropped.clone(),
        );
        Metrics {
            registry,
            requests,
            ready,
            kek_uses,
            syslog,
        }
    }

    /// The syslog forwarder's counters (shared: the forwarder counts, `/metrics` reads).
    pub fn syslog_stats(&self) -> crate::audit::syslog::Stats {
        self.syslog.clone()
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    fn observe(&self, method: &axum::http::Method, status: axum::http::StatusCode) {
        let method = match *method {
            axum::http::Method::GET => "GET",
            axum::http::Method::POST => "POST",
            axum::http::Method::PUT => "PUT",
            axum::http::Method::DELETE => "DELETE",
            axum::http::Method::PATCH => "PATCH",
            _ => "OTHER",
        };
        let status = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels { method, status })
            .inc();
    }
}

pub async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let res = next.run(req).await;
    state.metrics.observe(&method, res.status());
    res
}

/// OpenMetrics text. Public, like `/healthz`: it holds counts only.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "OpenMetrics text exposition (version 1.0.0, UTF-8)",
               content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.kek_uses.set(state.keyring.uses());
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &state.metrics.registry) {
        return super::error::ApiError::Internal(e.to_string()).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
