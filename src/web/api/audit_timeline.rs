//! `GET /api/v1/audit/events` (the auditor's timeline) and `GET /api/v1/audit/export` (the log
//! as JSON lines or CSV), both in the asker's audit scope and both audited
//! ([`crate::oversight::timeline`]).
//!
//! Guarantees: every filter arrives as text and is parsed by the library, so a bad value is a
//! 422 with a stable code, never a 400 from the extractor or a clamp; the export is recorded
//! before the response starts and is streamed, never built whole in memory.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::session::Session;
use crate::oversight::export::{self, Format};
use crate::oversight::timeline::{self, Filter, Params, Window};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::session::SignedIn;
use crate::web::session::principal;

/// The timeline's query string; every value is checked by the library.
#[derive(Debug, Default, Deserialize)]
pub struct TimelineQuery {
    pub actor: Option<String>,
    pub district: Option<String>,
    pub action: Option<String>,
    pub purpose: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

/// One audit entry on the timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEvent {
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// As stored: `user:<id>`, `system`, `cli:<os user>` or `anonymous`.
    pub actor: String,
    /// The username behind a `user:<id>` actor, if the user still exists.
    pub actor_username: Option<String>,
    /// The stable event code, e.g. `extract.download`.
    pub action: String,
    /// What it is about, e.g. `extract:<id>`, `user:<username>`, `member:<pseudonym>`.
    pub target: String,
    pub outcome: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    /// Newest first.
    pub events: Vec<TimelineEvent>,
    /// Pass as `before` for the next, older page; absent on the last page.
    pub next_before: Option<i64>,
}

fn bad_query(_: QueryRejection) -> ApiError {
    ApiError::BadRequest(
        "invalid_input",
        "The query string could not be read.".into(),
    )
}

/// Who did what, newest first, filtered and paged. Needs `audit.view` (entries about extracts
/// in the auditor's districts, or every entry party-wide). Audited as `audit.timeline`.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit",
    params(
        ("actor" = Option<crate::web::api::wire_schema::Username>, Query, description = "Username of whoever acted"),
        ("district" = Option<crate::web::api::wire_schema::District>, Query, description = "Only entries about extracts of this district"),
        ("action" = Option<crate::web::api::wire_schema::EventCode>, Query, description = "Event code, e.g. `extract.download`"),
        ("purpose" = Option<crate::web::api::wire_schema::PurposeFilter>, Query, description = "Only entries about extracts of this purpose"),
        ("from" = Option<crate::web::api::wire_schema::Instant>, Query, description = "RFC 3339, inclusive; not after `to`"),
        ("to" = Option<crate::web::api::wire_schema::Instant>, Query, description = "RFC 3339, inclusive"),
        ("before" = Option<i64>, Query, minimum = 1, description = "Only entries with a smaller seq (paging)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "1 to 500 (default 100); outside that 422"),
    ),
    responses((status = 200, body = Timeline), (status = 403, description = "No `audit.view` in any district, nor party-wide (`not_permitted`)", body = ErrorBody),
              (status = 422, description = "A filter is refused (`invalid_input`)", body = ErrorBody)))]
pub async fn list_audit_events(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    query: Result<Query<TimelineQuery>, QueryRejection>,
) -> Result<Json<Timeline>, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    Ok(Json(timeline_for(&state, &session, q).await?))
}

/// One page of the audit timeline in the session's audit scope, filtered by `q`, audited as
/// `audit.timeline`. The API and the pages both answer with it.
pub async fn timeline_for(
    state: &AppState,
    session: &Session,
    q: TimelineQuery,
) -> Result<Timeline, ApiError> {
    let filter = Filter::parse(&Params {
        actor: q.actor,
        district: q.district,
        action: q.action,
        purpose: q.purpose,
        from: q.from,
        to: q.to,
        before: q.before,
        limit: q.limit,
    })?;
    let who = principal(state, session).await?;
    let page = timeline::read(state, &who, &filter, OffsetDateTime::now_utc()).await?;
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut events = Vec::with_capacity(page.events.len());
    for e in page.events {
        let actor_username = match e.actor.strip_prefix("user:") {
            Some(id) => match names.get(id) {
                Some(name) => name.clone(),
                None => {
                    let name = state
                        .store
                        .find_user_by_id(id)
                        .await
                        .map_err(timeline::Error::from)?
                        .map(|u| u.username);
                    names.insert(id.to_owned(), name.clone());
                    name
                }
            },
            None => None,
        };
        events.push(TimelineEvent {
            seq: e.seq,
            at: export::rfc3339_ms(e.occurred_at),
            actor_username,
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            details: serde_json::from_str(&e.details).unwrap_or_default(),
        });
    }
    Ok(Timeline {
        events,
        next_before: page.next_before,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The audit log in the asker's scope as a file: `jsonl` (one object per entry with `seq`,
/// `prev_hash` and `entry_hash`, for a SIEM to re-verify) or `csv` (for people). Needs
/// `audit.view`; audited as `audit.export` before the first byte; streamed.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit",
    params(
        ("format" = crate::web::api::wire_schema::ExportFormat, Query, description = "`jsonl` or `csv`"),
        ("from" = Option<crate::web::api::wire_schema::Instant>, Query, description = "RFC 3339, inclusive; not after `to`"),
        ("to" = Option<crate::web::api::wire_schema::Instant>, Query, description = "RFC 3339, inclusive"),
    ),
    responses((status = 200, description = "The entries, oldest first",
               content(("application/x-ndjson"), ("text/csv"))),
              (status = 403, description = "No `audit.view` in any district, nor party-wide (`not_permitted`)", body = ErrorBody),
              (status = 422, description = "No `format`, or a refused window (`invalid_input`)", body = ErrorBody)))]
pub async fn export_audit_events(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    let format = q.format.as_deref().and_then(Format::parse).ok_or_else(|| {
        ApiError::BadRequest("invalid_input", "`format` is `jsonl` or `csv`.".into())
    })?;
    let window = Window::parse(q.from.as_deref(), q.to.as_deref())?;
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let started = timeline::export(&state, &who, format, window, now).await?;
    let body = Body::from_stream(started.body.map(|piece| {
        piece.map_err(|e| {
            tracing::error!(error = %e, "an audit export broke off");
            std::io::Error::other("the audit log could not be read")
        })
    }));
    let stamp = now.unix_timestamp();
    let disposition = format!("attachment; filename=\"audit-{stamp}.{}\"", format.as_str());
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::Records;
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::get;
    vec![
        entry(
            M::GET,
            "/api/v1/audit/events",
            SignedIn,
            Records(&[A::AuditTimeline]),
            get(list_audit_events),
        ),
        entry(
            M::GET,
            "/api/v1/audit/export",
            SignedIn,
            Records(&[A::AuditExport]),
            get(export_audit_events),
        ),
    ]
}
