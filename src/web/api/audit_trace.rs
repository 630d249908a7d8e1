//! `/api/v1/audit/trace` and `/api/v1/audit/breach-scope`: which extract a leaked file comes
//! from, and what a breach touched (E7).
//!
//! The leaked file is the request body as is (CSV or XLSX, up to
//! [`MAX_TRACE_BYTES`](crate::oversight::trace::MAX_TRACE_BYTES)); it is read as it streams in
//! and never kept, and only after `web::upload`'s guard checked the session, the audit permit and an
//! upload slot (429 `too_many_uploads` when none is free). Both answers are audit events; members appear only as counts.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::extract::ExtractId;
use crate::oversight::breach::{self, Basis, Scope};
use crate::oversight::trace::{self, Traced};
use crate::web::AppState;
use crate::web::api::extracts_wire::{ExtractResponse, extract_response, rfc3339};
use crate::web::error::{ApiError, ErrorBody};
use crate::web::params::ApiQuery;
use crate::web::session::SignedIn;
use crate::web::session::principal;
use crate::web::upload::Leaked;

/// One extract the file may come from.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceCandidate {
    pub extract: ExtractResponse,
    /// The file's rows this extract held.
    pub matched_rows: usize,
    /// Of those, how many stand in the extract's own keyed order.
    pub rows_in_order: usize,
    /// Members the extract held.
    pub extract_rows: i64,
    /// The file's recognised columns are exactly the extract's fields.
    pub same_columns: bool,
    /// Share of the file's rows the extract held, 0–1.
    pub coverage: f64,
    /// Share of the matched rows in the extract's keyed order, 0–1.
    pub order: f64,
    /// The reasons, as sentences for a report.
    pub evidence: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TraceResponse {
    /// SHA-256 of the file as received.
    pub file_sha256: String,
    pub rows: usize,
    /// The header's columns that name register fields.
    pub columns: Vec<String>,
    /// `member_id` (by member number) or `row_tag` (by the keyed tag of the names).
    pub matched_by: String,
    /// `high`, `medium`, `low` or `none`.
    pub confidence: String,
    /// Extracts in your audit scope that share at least one row with the file.
    pub extracts_sharing_rows: usize,
    /// Best first.
    pub candidates: Vec<TraceCandidate>,
}

fn trace_response(t: Traced) -> TraceResponse {
    TraceResponse {
        file_sha256: t.file_sha256,
        rows: t.rows,
        columns: t.columns.iter().map(|f| f.as_str().to_owned()).collect(),
        matched_by: t.key.as_str().to_owned(),
        confidence: t.confidence.as_str().to_owned(),
        extracts_sharing_rows: t.extracts_sharing_rows,
        candidates: t
            .candidates
            .into_iter()
            .map(|c| TraceCandidate {
                extract: extract_response(&c.described),
                matched_rows: c.matched,
                rows_in_order: c.in_order,
                extract_rows: c.extract_rows,
                same_columns: c.same_columns,
                coverage: c.coverage,
                order: c.order,
                evidence: c.evidence,
            })
            .collect(),
    }
}

/// Which extract a leaked file most likely comes from, with the evidence and a confidence.
/// The body is the file (CSV or XLSX) exactly as found. Needs `audit.view`; only extracts in
/// your audit scope are considered.
#[utoipa::path(post, path = "/api/v1/audit/trace", tag = "audit",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The leaked CSV or XLSX file as found (renamed, re-saved, rows deleted…)"),
    responses((status = 200, body = TraceResponse), (status = 403, description = "No `audit.view` in any district, nor party-wide (`not_permitted`)", body = ErrorBody),
              (status = 413, description = "The file is larger than the trace reads (`body_too_large`)", body = ErrorBody),
              (status = 422, description = "Not a CSV or XLSX file with a header naming register fields (`invalid_input`)", body = ErrorBody),
              (status = 429, description = "Every upload slot is taken (`too_many_uploads`); try again after `Retry-After`", body = ErrorBody)))]
pub async fn trace(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Leaked(file): Leaked,
) -> Result<Json<TraceResponse>, ApiError> {
    let who = principal(&state, &session).await?;
    let traced = trace::trace(&state, &who, file, OffsetDateTime::now_utc()).await?;
    Ok(Json(trace_response(traced)))
}

/// From an extract, or from an account and a time window.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    /// An extract id.
    pub extract: Option<String>,
    /// A username: every extract the account held at some moment in `from`..`to`.
    pub user: Option<String>,
    /// RFC 3339 (or `YYYY-MM-DDTHH:MM`, UTC, as a form sends it); before `to`.
    #[param(value_type = Option<crate::web::api::wire_schema::WindowTime>)]
    pub from: Option<String>,
    /// RFC 3339 (or `YYYY-MM-DDTHH:MM`, UTC).
    #[param(value_type = Option<crate::web::api::wire_schema::WindowTime>)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryResponse {
    /// `identity`, `contact`, `address`, `sensitive` or `flag`.
    pub category: String,
    pub description: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HeldResponse {
    pub extract: ExtractResponse,
    pub fields: Vec<String>,
    /// Members the ledger records for it.
    pub members: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseResponse {
    pub extract_id: String,
    pub username: String,
    pub at: String,
    /// `csv`, `xlsx` or `view`.
    pub format: String,
    pub address: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreachScopeResponse {
    /// What the scope was made from, in words.
    pub basis: String,
    /// Different members affected, over all the extracts.
    pub members: i64,
    pub categories: Vec<CategoryResponse>,
    pub extracts: Vec<HeldResponse>,
    /// Every download and browser view, in time order, with who, when and from where.
    pub releases: Vec<ReleaseResponse>,
    /// Extracts whose data is still held: revoke them.
    pub still_live: usize,
}

fn scope_response(s: Scope) -> BreachScopeResponse {
    BreachScopeResponse {
        basis: s.basis,
        members: s.members,
        categories: s
            .categories
            .into_iter()
            .map(|(c, fields)| CategoryResponse {
                category: c.as_str().to_owned(),
                description: breach::category_name(c).to_owned(),
                fields: fields.iter().map(|f| f.as_str().to_owned()).collect(),
            })
            .collect(),
        extracts: s
            .extracts
            .iter()
            .map(|h| HeldResponse {
                extract: extract_response(&h.described),
                fields: h.fields.iter().map(|f| f.as_str().to_owned()).collect(),
                members: h.members,
            })
            .collect(),
        releases: s
            .releases
            .into_iter()
            .map(|r| ReleaseResponse {
                extract_id: r.extract_id,
                username: r.username,
                at: rfc3339(r.at),
                format: r.format,
                address: r.address,
            })
            .collect(),
        still_live: s.still_live,
    }
}

/// RFC 3339, or `YYYY-MM-DDTHH:MM` as a browser's date-and-time field sends it (read as UTC).
fn parse_time(name: &str, value: Option<&str>) -> Result<OffsetDateTime, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::BadRequest(
            "invalid_input",
            format!("`{name}` is needed with `user` (RFC 3339, e.g. 2026-11-30T08:00:00Z)"),
        )
    })?;
    let local = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    OffsetDateTime::parse(value, &Rfc3339)
        .or_else(|_| time::PrimitiveDateTime::parse(value, &local).map(|t| t.assume_utc()))
        .map_err(|_| {
            ApiError::BadRequest(
                "invalid_input",
                format!("`{name}` is not an RFC 3339 time (e.g. 2026-11-30T08:00:00Z)"),
            )
        })
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The basis a query names; empty parameters (as a form sends them) count as absent.
pub(in crate::web) fn basis(q: &ScopeQuery) -> Result<Basis, ApiError> {
    let (extract, user, from, to) = (
        given(&q.extract),
        given(&q.user),
        given(&q.from),
        given(&q.to),
    );
    match (extract, user) {
        (Some(id), None) if from.is_none() && to.is_none() => {
            Ok(Basis::Extract(ExtractId::parse(id)?))
        }
        (None, Some(user)) => Ok(Basis::Account {
            username: user.to_owned(),
            from: parse_time("from", from)?,
            to: parse_time("to", to)?,
        }),
        _ => Err(ApiError::BadRequest(
            "invalid_input",
            "give either `extract`, or `user` with `from` and `to`".into(),
        )),
    }
}

/// Breach scope (GDPR Art. 33) from an extract id, or from an account and a time window:
/// members affected, field categories, every download (who, when, address) and shred times.
/// Needs `audit.view`; only extracts in your audit scope count.
#[utoipa::path(get, path = "/api/v1/audit/breach-scope", tag = "audit", params(ScopeQuery),
    responses((status = 200, body = BreachScopeResponse), (status = 403, description = "No `audit.view` in any district, nor party-wide (`not_permitted`)", body = ErrorBody),
              (status = 404, description = "No such extract in your audit scope (`not_found`)", body = ErrorBody),
              (status = 422, description = "Not `extract`, nor `user` with `from` and `to`; or a time that does not exist (`invalid_input`)", body = ErrorBody)))]
pub async fn breach_scope(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiQuery(q): ApiQuery<ScopeQuery>,
) -> Result<Json<BreachScopeResponse>, ApiError> {
    let basis = basis(&q)?;
    let who = principal(&state, &session).await?;
    let scope = breach::scope(&state, &who, basis, OffsetDateTime::now_utc()).await?;
    Ok(Json(scope_response(scope)))
}

/// Breach scope from a leaked file: traced first, then scoped if the trace is at least medium
/// sure (else 409 `trace_unsure`). The body is the file as found.
#[utoipa::path(post, path = "/api/v1/audit/breach-scope/file", tag = "audit",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The leaked CSV or XLSX file as found"),
    responses((status = 200, body = BreachScopeResponse), (status = 403, description = "No `audit.view` in any district, nor party-wide (`not_permitted`)", body = ErrorBody),
              (status = 409, description = "The trace is not sure enough which extract the file comes from (`trace_unsure`)", body = ErrorBody),
              (status = 413, description = "The file is larger than the trace reads (`body_too_large`)", body = ErrorBody),
              (status = 422, description = "Not a CSV or XLSX file with a header naming register fields (`invalid_input`)", body = ErrorBody),
              (status = 429, description = "Every upload slot is taken (`too_many_uploads`); try again after `Retry-After`", body = ErrorBody)))]
pub async fn breach_scope_of_file(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Leaked(file): Leaked,
) -> Result<Json<BreachScopeResponse>, ApiError> {
    let who = principal(&state, &session).await?;
    let basis = Basis::File(file);
    let scope = breach::scope(&state, &who, basis, OffsetDateTime::now_utc()).await?;
    Ok(Json(scope_response(scope)))
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::Records;
    use crate::web::{entry, upload_entry};
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        upload_entry(
            "/api/v1/audit/trace",
            Records(&[A::AuditTrace]),
            post(trace),
        ),
        entry(
            M::GET,
            "/api/v1/audit/breach-scope",
            SignedIn,
            Records(&[A::AuditBreachScope]),
            get(breach_scope),
        ),
        upload_entry(
            "/api/v1/audit/breach-scope/file",
            Records(&[A::AuditTrace, A::AuditBreachScope]),
            post(breach_scope_of_file),
        ),
    ]
}
