//! `ApiJson<T>`: axum's JSON extractor with Registervakt's error body.
//!
//! A body that is not JSON, has unknown or missing fields, or has a value of the wrong type
//! is refused with a stable code. The message names at most the field, never a value: serde's
//! own messages can quote the input (a password, say), so they are not passed on.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

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
        JsonRejection::BytesRejection(_) => ApiError::BodyTooLarge(crate::config::MAX_BODY_BYTES),
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

/// A whole number as JSON reads one: `3` and `3.0` are the same number, and the API
/// description's `integer` (JSON Schema) allows both; serde alone refuses `3.0` for an integer
/// type. Fractions, negative numbers and numbers out of `T`'s range are still refused.
struct Whole<T>(T);

impl<'de, T: TryFrom<u64>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct WholeVisitor<T>(std::marker::PhantomData<T>);
        impl<T: TryFrom<u64>> Visitor<'_> for WholeVisitor<T> {
            type Value = Whole<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Whole<T>, E> {
                T::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::custom("the number is out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Whole<T>, E> {
                let v = u64::try_from(v).map_err(|_| E::custom("the number is negative"))?;
                self.visit_u64(v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Whole<T>, E> {
                // Every whole f64 below 2^64 converts to u64 exactly.
                if v.is_finite()
                    && v.fract() == 0.0
                    && (0.0..18_446_744_073_709_551_616.0).contains(&v)
                {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    self.visit_u64(v as u64)
                } else {
                    Err(E::custom("the number is not a whole number in range"))
                }
            }
        }
        d.deserialize_any(WholeVisitor(std::marker::PhantomData))
    }
}

/// `#[serde(deserialize_with)]` for a whole-number field (see [`Whole`]).
pub fn whole_number<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    Whole::<T>::deserialize(d).map(|w| w.0)
}

/// [`whole_number`] for a list of whole numbers.
pub fn whole_numbers<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Whole<T>>::deserialize(d).map(|v| v.into_iter().map(|w| w.0).collect())
}

/// [`whole_number`] for an optional field: absent or `null` is `None`.
pub fn whole_number_or_null<'de, D: Deserializer<'de>, T: TryFrom<u64>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<Whole<T>>::deserialize(d).map(|o| o.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Counts {
        #[serde(deserialize_with = "whole_number")]
        small: u8,
        #[serde(default, deserialize_with = "whole_number_or_null")]
        big: Option<u64>,
    }

    fn counts(text: &str) -> Result<Counts, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction_but_nothing_else_is_let_through() {
        let c = counts(r#"{"small": 132.0, "big": 9007199254740993}"#).unwrap();
        assert_eq!((c.small, c.big), (132, Some(9_007_199_254_740_993)));
        assert_eq!(counts(r#"{"small": 1e2}"#).unwrap().small, 100);
        assert_eq!(counts(r#"{"small": 7, "big": null}"#).unwrap().big, None);
        for bad in [
            r#"{"small": 1.5}"#,
            r#"{"small": -1}"#,
            r#"{"small": -0.5}"#,
            r#"{"small": 256}"#,
            r#"{"small": 256.0}"#,
            r#"{"small": "7"}"#,
            r#"{"small": 1, "big": 1e20}"#,
        ] {
            assert!(counts(bad).is_err(), "{bad}");
        }
    }

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
