//! The one mapping from errors to HTTP. Wire body: `{ "error": "<stable_code>", "message":
//! "<safe text>" }`. 5xx bodies are generic; the cause is logged once, here, with the request
//! span (which carries the request id), never sent to the client.

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `not_found`, `body_too_large`, `unavailable`.
    pub error: &'static str,
    /// A sentence safe to show to the user. Never contains secrets or member data.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such page or endpoint.".into(),
            ),
            ApiError::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "The request body is larger than {} bytes.",
                    crate::config::MAX_BODY_BYTES
                ),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Registervakt cannot serve this request right now. Nothing was released; try again shortly.".into(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side. Nothing was released.".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, message) = self.parts();
        if status.is_server_error() {
            tracing::error!(cause = %self, "request failed");
        }
        (status, Json(ErrorBody { error, message })).into_response()
    }
}

/// Unknown paths: JSON for the API, a page for people.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::NotFound.into_response()
    } else {
        super::pages::not_found_page()
    }
}
