//! `ApiJson<T>`: axum's JSON extractor with Registervakt's error body.
//!
//! A body that is not JSON, has unknown or missing fields, or has a value of the wrong type
//! is refused with a stable code. The message names at most the field, never a value: serde's
//! own messages can quote the input (a password, say), so they are not passed on.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(describe(&rejection)),
        }
    }
}

fn describe(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::Rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.".into(),
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::Rejected(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "The body is not valid JSON.".into(),
        ),
        JsonRejection::JsonDataError(e) => {
            ApiError::BadRequest("invalid_input", field_problem(&e.body_text()))
        }
        JsonRejection::BytesRejection(_) => ApiError::BodyTooLarge,
        _ => ApiError::Rejected(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "The body could not be read.".into(),
        ),
    }
}

/// Keeps only "unknown field `x`" / "missing field `x`" from serde's text.
fn field_problem(text: &str) -> String {
    for kind in ["unknown field", "missing field"] {
        if let Some(rest) = text.split(&format!("{kind} `")).nth(1) {
            let field: String = rest.chars().take_while(|c| *c != '`').take(64).collect();
            let field = crate::audit::encode_controls(&field);
            return format!("The body has an {kind} `{field}`.").replace("an missing", "a missing");
        }
    }
    "The body has a field of the wrong type or format.".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_never_echoed() {
        let msg =
            field_problem("invalid type: string \"hunter2hunter2\", expected a sequence at line 1");
        assert!(!msg.contains("hunter2"));
        assert_eq!(
            field_problem("unknown field `colour`, expected one of `a`"),
            "The body has an unknown field `colour`."
        );
        assert_eq!(
            field_problem("missing field `code` at line 1"),
            "The body has a missing field `code`."
        );
    }
}
