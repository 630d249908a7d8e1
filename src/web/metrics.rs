//! Prometheus metrics (`GET /metrics`, OpenMetrics text exposition).
//!
//! What is there: requests by method and status class; request latency per route; readiness
//! (overall and per check, refreshed in the background by `api::health`); the KEK use counter;
//! syslog forwarding; the build (`registervakt_build_info`); and the process itself under the
//! names every Prometheus client uses (`process_*`, read from `/proc`: [`process`]).
//!
//! Guarantees: every label has a small fixed set of values or is a route *template* from the
//! route table (`/api/v1/extracts/{id}`, never the path a client sent), so a client cannot
//! blow up cardinality and no label ever holds a user name, an id, a token, a path parameter
//! or member data. A request no route matched is counted under `route="unmatched"`. The build
//! labels are compile-time constants (the version, and the commit only when the build set
//! `REGISTERVAKT_GIT_COMMIT`).

mod process;

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::web::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    /// The route table's template, or `unmatched`.
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: &'static str,
}

/// Upper bounds of the latency buckets, in seconds: from a cached page (milliseconds) to the
/// longest `server.request_timeout_secs` (600 s, a large trace upload).
const LATENCY_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// The label a request that matched no route is counted under.
pub const UNMATCHED_ROUTE: &str = "unmatched";

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    ready: Gauge,
    checks: Family<CheckLabels, Gauge>,
    kek_uses: Gauge<u64, AtomicU64>,
    syslog: crate::audit::syslog::Stats,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The commit the binary was built from, when the build said (`REGISTERVAKT_GIT_COMMIT`).
pub const BUILD_COMMIT: &str = match option_env!("REGISTERVAKT_GIT_COMMIT") {
    Some(commit) => commit,
    None => "unknown",
};

impl Metrics {
    pub fn new() -> Metrics {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("registervakt");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method and status class",
            requests.clone(),
        );
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response's head, by method and route template",
            Unit::Seconds,
            latency.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 when the last readiness check passed (refreshed in the background)",
            ready.clone(),
        );
        let checks = Family::<CheckLabels, Gauge>::default();
        registry.register(
            "readiness_check",
            "1 when this readiness check passed the last time it ran",
            checks.clone(),
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
        registry.register(
            "build",
            "The running build: version, and the commit when the build recorded it",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("commit", BUILD_COMMIT),
            ]),
        );
        root.register_collector(Box::new(process::Collector::new()));
        Metrics {
            registry: root,
            requests,
            latency,
            ready,
            checks,
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

    /// One readiness check's last outcome (`check` is one of `/readyz`'s fixed names).
    pub fn set_check(&self, check: &'static str, ok: bool) {
        self.checks
            .get_or_create(&CheckLabels { check })
            .set(i64::from(ok));
    }

    fn observe(
        &self,
        method: &axum::http::Method,
        route: Option<&str>,
        status: axum::http::StatusCode,
        seconds: f64,
    ) {
        let method = match *method {
            axum::http::Method::GET => "GET",
            axum::http::Method::HEAD => "HEAD",
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
        let route = route.unwrap_or(UNMATCHED_ROUTE).to_owned();
        self.latency
            .get_or_create(&RouteLabels { method, route })
            .observe(seconds);
    }
}

/// Counts every request and times it to its response's head, under the route template the
/// router matched (axum's [`MatchedPath`]; this layer runs after routing).
pub async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let res = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let route = route.as_ref().map(MatchedPath::as_str);
    state.metrics.observe(&method, route, res.status(), seconds);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Metrics) -> String {
        let mut body = String::new();
        prometheus_client::encoding::text::encode(&mut body, &m.registry).unwrap();
        body
    }

    #[test]
    fn latency_is_labelled_by_route_template_and_unmatched_requests_share_one_label() {
        let m = Metrics::new();
        let ok = axum::http::StatusCode::OK;
        m.observe(
            &axum::http::Method::GET,
            Some("/api/v1/extracts/{id}"),
            ok,
            0.02,
        );
        m.observe(&axum::http::Method::GET, None, ok, 0.02);
        let body = text(&m);
        assert!(
            body.contains(
                "registervakt_http_request_duration_seconds_bucket{le=\"0.025\",method=\"GET\",route=\"/api/v1/extracts/{id}\"} 1"
            ),
            "{body}"
        );
        assert!(body.contains("route=\"unmatched\""), "{body}");
    }

    #[test]
    fn build_info_names_the_version_and_process_metrics_are_unprefixed() {
        let body = text(&Metrics::new());
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            body.contains(&format!("registervakt_build_info{{version=\"{version}\"")),
            "{body}"
        );
        assert!(body.contains("\nprocess_resident_memory_bytes "), "{body}");
        assert!(body.contains("\nregistervakt_ready 0"), "{body}");
    }
}
