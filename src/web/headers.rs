//! Security headers on every response, the request-body cap, and the request id's origin.
//!
//! CSP allows only the broker's own styles and scripts — no inline script, no external
//! origin (ASVS V3.4). `Cache-Control: no-store` is the default so no page or API answer is
//! kept by a browser or proxy; static assets opt out explicitly.
//!
//! The headers are `tower-http` layers ([`security_headers`]). The body cap is axum's
//! `DefaultBodyLimit` while a body is read, and [`limit_body`] before: `tower-http`'s
//! `RequestBodyLimitLayer` is not used, because it has one limit per layer where ours come
//! per path from the route table, and its 413 has a text body of its own where a client is owed
//! the `{"error","message"}` body (or, on a page, the 413 page). The leak-trace upload's raised
//! limit is set in `web::upload::guarded`, inside its role check, as before.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;

use super::error::ApiError;
use super::upload::Body;
use crate::config::MAX_BODY_BYTES;

/// `connect-src 'self'` lets the pages' own script ask the broker's API (the live estimate);
/// nothing else may be fetched, framed, or posted anywhere else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// One header set over any a handler set (HTTP `insert`: one value).
fn always(name: HeaderName, value: &'static str) -> SetHeader {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

type SetHeader = SetResponseHeaderLayer<HeaderValue>;

/// The security headers as `tower-http` layers, one a header (its `SetMultipleResponseHeaders`
/// cannot be cloned for axum's response type, which a router layer must be), and
/// `Cache-Control: no-store` where the handler set none (static assets set their own).
#[rustfmt::skip]
pub fn security_headers() -> (
    SetHeader, SetHeader, SetHeader, SetHeader, SetHeader, SetHeader, SetHeader, SetHeader,
    SetHeader,
) {
    (
        always(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        always(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        always(header::REFERRER_POLICY, "no-referrer"),
        always(header::X_FRAME_OPTIONS, "DENY"),
        always(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        always(HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
        always(HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
        always(
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
        SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ),
    )
}

/// The paths whose route takes a body over [`MAX_BODY_BYTES`], and their caps: made from the
/// route table ([`super::Route::body`]) when the router is built, so no list of paths is
/// kept by hand. A raised route whose path had a parameter would not match here and would
/// keep the 1 MiB cap: a mistake that refuses, never one that lets more in.
#[derive(Debug, Default)]
pub struct BodyCaps(HashMap<&'static str, usize>);

impl BodyCaps {
    /// Records `path`'s cap when `body` raises it.
    pub fn allow(&mut self, path: &'static str, body: Body) {
        if body.cap() > MAX_BODY_BYTES {
            self.0.insert(path, body.cap());
        }
    }

    /// The largest body a request to `path` may declare.
    pub fn cap(&self, path: &str) -> usize {
        self.0.get(path).copied().unwrap_or(MAX_BODY_BYTES)
    }
}

/// Refuses a declared body over its path's cap before anything reads it (SECURITY_BAR F3),
/// with the JSON error body. Bodies without a length are capped while read by
/// `DefaultBodyLimit`, and their extractors answer the same 413.
pub async fn limit_body(State(caps): State<Arc<BodyCaps>>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let cap = caps.cap(req.uri().path());
    if declared.is_some_and(|n| n > cap as u64) {
        return ApiError::BodyTooLarge(cap).into_response();
    }
    next.run(req).await
}

/// Removes an `X-Request-Id` the client sent, so the id in the response and in every log
/// line of the request is always one the broker made (`SetRequestIdLayer` keeps one that is
/// present). A client could otherwise choose it: to collide with another request's lines, or
/// to carry text of its own into the log (ASVS V16.3.3, log injection).
pub async fn drop_client_request_id(mut req: Request, next: Next) -> Response {
    req.headers_mut().remove("x-request-id");
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    async fn headers_of(path: &str) -> axum::http::HeaderMap {
        let app = Router::new()
            .route("/", get(|| async { "page" }))
            .route(
                "/asset",
                get(|| async {
                    (
                        [
                            (header::CACHE_CONTROL, "public, max-age=3600"),
                            (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
                        ],
                        "asset",
                    )
                }),
            )
            .layer(security_headers());
        let req = Request::builder().uri(path).body(Body::empty()).unwrap();
        app.oneshot(req).await.unwrap().headers().clone()
    }

    #[tokio::test]
    async fn every_response_carries_each_security_header_with_its_exact_value() {
        let h = headers_of("/").await;
        let expected = [
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
            ("strict-transport-security", "max-age=31536000"),
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-resource-policy", "same-origin"),
            (
                "permissions-policy",
                "camera=(), microphone=(), geolocation=(), payment=()",
            ),
            ("cache-control", "no-store"),
        ];
        for (name, value) in expected {
            let got: Vec<_> = h.get_all(name).iter().collect();
            assert_eq!(got, [value], "{name}");
        }
    }

    #[tokio::test]
    async fn a_handlers_cache_control_is_kept_and_its_other_security_headers_overridden() {
        let h = headers_of("/asset").await;
        assert_eq!(h["cache-control"], "public, max-age=3600");
        let frame: Vec<_> = h.get_all("x-frame-options").iter().collect();
        assert_eq!(frame, ["DENY"]);
    }
}
