//! Routes that take a large body: the leaked file an auditor traces (up to
//! [`MAX_TRACE_BYTES`]), where every other route takes at most
//! [`MAX_BODY_BYTES`](crate::config::MAX_BODY_BYTES). The file is read as it streams in
//! ([`read_leaked`]): what a trace holds is its keys, never the body.
//!
//! Guarantees (SECURITY_BAR F5, ASVS V15.2 resource limits): the raised cap exists only on a
//! route whose [`Body`] in the route table says so, and [`guarded`] is the only thing that
//! grants it. Before a byte of the body is read the guard has (1) read the session from the
//! store — 401 without a full one; (2) asked the policy for the audit view permit, exactly as
//! the trace itself does (`extract::review::audit_scope`, which audits a broken policy as
//! `authz.error`) — 403 without it; and (3) taken one of `server.max_concurrent_uploads`
//! slots — 429 with `Retry-After` when none is free. The slot is held until the handler has
//! answered, so at most that many files are read at once. The API answers
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
use futures::StreamExt as _;
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::session::SignedIn;
use super::session::principal;
use crate::config::MAX_BODY_BYTES;
use crate::crypto::PseudonymKey;
pub use crate::oversight::trace::MAX_TRACE_BYTES;
use crate::oversight::trace::{self, LeakedFile, ReadFile};
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

/// Bytes handed to the trace's reader at a time, on a blocking thread (reading is CPU work:
/// decoding, parsing and a keyed hash per row).
const PIECE_BYTES: usize = 1024 * 1024;

/// The leaked file of a raised-limit API route, read as it streams in. A body over the cap,
/// with or without a length, is the JSON 413; a body the client broke off is a JSON 400
/// `invalid_upload`; an empty body is the trace's own refusal (no header row).
pub struct Leaked(pub ReadFile);

impl FromRequest<AppState> for Leaked {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let stream = req.into_body().into_data_stream();
        let read = read_leaked(state.pseudonyms.clone(), stream, |_| {
            // The client stopped sending part-way: nothing to trace.
            ApiError::Rejected(
                StatusCode::BAD_REQUEST,
                "invalid_upload",
                "The file could not be read; send it again.".into(),
            )
        })
        .await?;
        match read {
            Some(file) => Ok(Leaked(file)),
            None => Ok(Leaked(trace::read_bytes(&state.pseudonyms, &[])?)),
        }
    }
}

/// Reads a leaked file from `stream` as it arrives, a piece at a time, refusing it once it
/// passes [`MAX_TRACE_BYTES`] (413); `None` when the stream held no bytes. `broken` names a
/// stream error (the client broke off, or a multipart field could not be read).
pub async fn read_leaked<S, E>(
    key: Arc<PseudonymKey>,
    stream: S,
    broken: impl Fn(E) -> ApiError,
) -> Result<Option<ReadFile>, ApiError>
where
    S: futures::Stream<Item = Result<Bytes, E>>,
{
    let mut stream = std::pin::pin!(stream);
    let mut leaked = LeakedFile::new();
    let mut piece = Vec::with_capacity(PIECE_BYTES);
    let mut any = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(&broken)?;
        any |= !chunk.is_empty();
        if leaked.bytes() + (piece.len() + chunk.len()) as u64 > MAX_TRACE_BYTES as u64 {
            return Err(ApiError::BodyTooLarge(MAX_TRACE_BYTES));
        }
        piece.extend_from_slice(&chunk);
        if piece.len() >= PIECE_BYTES {
            let k = key.clone();
            (leaked, piece) = blocking(move || {
                leaked.feed(&k, &piece)?;
                piece.clear();
                Ok((leaked, piece))
            })
            .await?;
        }
    }
    if !any {
        return Ok(None);
    }
    let read = blocking(move || {
        leaked.feed(&key, &piece)?;
        leaked.finish(&key)
    })
    .await?;
    Ok(Some(read))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::extract::Error> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Ok(done?),
        Err(e) => Err(ApiError::Internal(format!(
            "the trace's reader stopped: {e}"
        ))),
    }
}
