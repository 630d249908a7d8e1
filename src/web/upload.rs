//! Routes that take a large body: the leaked file an auditor traces (up to
//! [`MAX_TRACE_BYTES`]), where every other route takes at most
//! [`MAX_BODY_BYTES`](crate::config::MAX_BODY_BYTES).
//!
//! Guarantees (SECURITY_BAR F5, ASVS V15.2 resource limits): the raised cap exists only on a
//! route whose [`Body`] in the route table says so, and [`guarded`] is the only thing that
//! grants it. Before a byte of the body is read the guard has (1) read the session from the
//! store — 401 without a full one; (2) asked the policy for the audit view permit, exactly as
//! the trace itself does (`extract::review::audit_scope`, which audits a broken policy as
//! `authz.error`) — 403 without it; and (3) taken one of `server.max_concurrent_uploads`
//! slots — 429 with `Retry-After` when none is free. The slot is held until the handler has
//! answered, so the bodies held at once are at most that many times the cap. The API answers
//! `{"error","message"}`; the page route answers with a page.
//!
//! Must never: read the body before these checks, or hand the raised cap to a route by any
//! other path (a `DefaultBodyLimit` in the route table would; the route table has none).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::session::SignedIn;
use super::session::principal;
use crate::config::MAX_BODY_BYTES;
pub use crate::oversight::trace::MAX_TRACE_BYTES;
use crate::web::AppState;

/// What body a route takes: declared beside it in the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Up to [`MAX_BODY_BYTES`] (SECURITY_BAR F3), or none.
    Capped,
    /// A leaked file for the auditor, up to [`MAX_TRACE_BYTES`], read only after the session,
    /// the audit view permit and an upload slot were checked ([`guarded`]).
    AuditFile,
}

impl Body {
    /// The largest body the route takes, in bytes.
    pub fn cap(self) -> usize {
        match self {
            Body::Capped => MAX_BODY_BYTES,
            Body::AuditFile => MAX_TRACE_BYTES,
        }
    }
}

/// Seconds a client refused for want of an upload slot is asked to wait: about what one
/// large upload and its trace take on a modest link.
pub const UPLOAD_RETRY_AFTER_SECS: u64 = 30;

/// What the guard of every raised-limit route shares: the state, and the upload slots.
#[derive(Clone)]
pub struct Uploads {
    state: AppState,
    slots: Arc<Semaphore>,
}

impl Uploads {
    /// `server.max_concurrent_uploads` slots, shared by every raised-limit route.
    pub fn new(state: AppState) -> Uploads {
        let slots = Arc::new(Semaphore::new(state.config.server.max_concurrent_uploads));
        Uploads { state, slots }
    }
}

/// `handler` with the raised cap, behind the guard (the guard is the outer layer, so it runs
/// first and the raised cap exists only for requests it let through).
pub fn guarded(handler: MethodRouter<AppState>, uploads: &Uploads) -> MethodRouter<AppState> {
    handler
        .layer(DefaultBodyLimit::max(MAX_TRACE_BYTES))
        .layer(axum::middleware::from_fn_with_state(uploads.clone(), admit))
}

/// The guard: session, permit, slot — then the body may be read.
async fn admit(State(uploads): State<Uploads>, req: Request, next: Next) -> Response {
    let page = !req.uri().path().starts_with("/api/");
    let (mut parts, body) = req.into_parts();
    if let Err(e) = authorise(&uploads.state, &mut parts).await {
        return answer(&uploads.state, page, e);
    }
    let Ok(slot) = uploads.slots.clone().try_acquire_owned() else {
        let mut res = answer(&uploads.state, page, busy());
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(UPLOAD_RETRY_AFTER_SECS),
        );
        return res;
    };
    let res = next.run(Request::from_parts(parts, body)).await;
    // Held until the handler answered: it has read (and dropped) the body by then.
    drop(slot);
    res
}

/// A full session whose user the policy lets view the audit somewhere.
async fn authorise(
    state: &AppState,
    parts: &mut axum::http::request::Parts,
) -> Result<(), ApiError> {
    let SignedIn(session) = SignedIn::from_request_parts(parts, state).await?;
    let who = principal(state, &session).await?;
    crate::extract::review::audit_permit(state, &who).await?;
    Ok(())
}

fn busy() -> ApiError {
    ApiError::TooManyRequests(
        "too_many_uploads",
        "Other files are being uploaded right now; try again in a little while.".into(),
    )
}

/// The API's JSON error, or the page's refusal page.
fn answer(state: &AppState, page: bool, e: ApiError) -> Response {
    if page {
        super::page::refusal(state, e)
    } else {
        e.into_response()
    }
}

/// The file of a raised-limit API route, as sent. A body over the cap that came without a
/// length (chunked) is the JSON 413 like any other, not axum's plain-text one; a body the
/// client broke off is a JSON 400 `invalid_upload`.
pub struct File(pub Bytes);

impl FromRequest<AppState> for File {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(File)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BodyTooLarge(MAX_TRACE_BYTES)
                } else {
                    // The client stopped sending part-way: nothing to trace.
                    ApiError::Rejected(
                        StatusCode::BAD_REQUEST,
                        "invalid_upload",
                        "The file could not be read; send it again.".into(),
                    )
                }
            })
    }
}
