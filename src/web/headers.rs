//! Security headers on every response, the request-body cap, and the request id's origin.
//!
//! CSP allows only the broker's own styles and scripts — no inline script, no external
//! origin (ASVS V3.4). `Cache-Control: no-store` is the default so no page or API answer is
//! kept by a browser or proxy; static assets opt out explicitly.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::upload::Body;
use crate::config::MAX_BODY_BYTES;

/// `connect-src 'self'` lets the pages' own script ask the broker's API (the live estimate);
/// nothing else may be fetched, framed, or posted anywhere else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
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
