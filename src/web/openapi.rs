//! The OpenAPI document at `/api/openapi.json`, generated from the handlers' annotations so
//! it cannot drift from the code.

use axum::Json;
use utoipa::OpenApi;

use super::error::ErrorBody;
use super::health::{Liveness, Readiness, ReadinessChecks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Registervakt",
        description = "Access broker for a membership register: time-limited, policy-bound, audited member extracts."
    ),
    paths(super::health::healthz, super::health::readyz, super::metrics::metrics),
    components(schemas(ErrorBody, Liveness, Readiness, ReadinessChecks)),
    tags((name = "health", description = "Liveness, readiness and metrics"))
)]
pub struct ApiDoc;

/// The API description. Public: no session needed.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
