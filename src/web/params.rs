//! `ApiQuery<T>` and `ApiPath<T>`: axum's query-string and path extractors with Registervakt's
//! error body.
//!
//! axum's own rejections answer 400 with a plain-text sentence (`Invalid URL: Invalid UTF-8 in
//! `id``, `Failed to deserialize query string: …`), outside the one error mapping and outside
//! the API description. These answer 422 `invalid_input` as JSON, like [`super::json::ApiJson`]
//! does for bodies. The message names at most the parameter, never its value: serde's text
//! can quote the input.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiQuery<T>(pub T);

pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(describe_query(&rejection)),
        }
    }
}

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(describe_path(&rejection)),
        }
    }
}

fn describe_query(rejection: &QueryRejection) -> ApiError {
    ApiError::BadRequest("invalid_input", query_problem(&rejection.body_text()))
}

/// Keeps only "unknown field `x`" / "missing field `x`" from serde's text, as for bodies.
fn query_problem(text: &str) -> String {
    for kind in ["unknown field", "missing field"] {
        if let Some(rest) = text.split(&format!("{kind} `")).nth(1) {
            let name: String = rest.chars().take_while(|c| *c != '`').take(64).collect();
            let name = crate::audit::encode_controls(&name);
            let what = if kind == "unknown field" {
                "an unknown"
            } else {
                "a missing"
            };
            return format!("The query string has {what} parameter `{name}`.");
        }
    }
    "The query string has a parameter of the wrong type or format.".into()
}

fn describe_path(rejection: &PathRejection) -> ApiError {
    match rejection {
        // The route table and the handler disagree about the parameters: our bug, not the
        // caller's.
        PathRejection::MissingPathParams(_) => {
            ApiError::Internal("a handler asked for path parameters its route lacks".into())
        }
        _ => ApiError::BadRequest(
            "invalid_input",
            "The path holds a value that is not valid UTF-8 or not of the right type.".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_never_echoed_only_parameter_names() {
        let msg = query_problem("Failed to deserialize query string: pending: hunter2hunter2");
        assert!(!msg.contains("hunter2"));
        assert_eq!(
            query_problem(
                "Failed to deserialize query string: unknown field `colour`, expected `a`"
            ),
            "The query string has an unknown parameter `colour`."
        );
        assert_eq!(
            query_problem("Failed to deserialize query string: missing field `from`"),
            "The query string has a missing parameter `from`."
        );
    }
}
