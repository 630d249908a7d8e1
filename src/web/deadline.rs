//! A deadline on every request (SECURITY_BAR G4). A handler that has not produced its response
//! within `server.request_timeout_secs` is dropped. The client gets 503 `unavailable`: the JSON
//! error for the API, the error page for people. It does not wait on a hung or slow store,
//! register or mail server.
//!
//! Why here: the pools bound only *getting* a connection (`acquire_timeout`). A statement sent
//! on a connection whose peer stops answering (a stopped database, a dropped route) waits
//! forever, because sqlx has no client-side statement timeout. One slow dependency would also
//! add up across a request's many statements.
//!
//! Guarantees: dropping the handler drops its open transaction uncommitted (sqlx rolls it
//! back), so work cut off here changes nothing stored and releases nothing. The one
//! ambiguity is the commit itself: a change whose commit was already sent may be stored with
//! its audit event, as with any lost reply. The cause is logged once, in the request's span.
//! The deadline covers only the work before the response starts. A download body, streamed
//! after its release was committed, is not cut by it.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::web::AppState;

/// Runs the rest of the stack under the configured deadline.
pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let secs = state.config.server.request_timeout_secs;
    match tokio::time::timeout(Duration::from_secs(secs), next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let cause = format!(
                "no response within server.request_timeout_secs = {secs} s; a dependency \
                 (store, register, mail) is slow or not answering"
            );
            if super::frame::is_page() {
                tracing::error!(%cause, "request failed");
                super::render::unavailable_page(&state.pages)
            } else {
                ApiError::Unavailable(cause).into_response()
            }
        }
    }
}
