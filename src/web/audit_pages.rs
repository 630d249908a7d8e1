//! The auditor's desk: `/audit` with its three questions — who received a member (and the
//! printable access-request report, GDPR Art. 15), which extract a leaked file comes from, and
//! a breach's scope (Art. 33) — plus `/audit/extracts/{id}`, an extract's whole story.
//!
//! Guarantees: every page needs a full session and answers only within the asker's audit scope
//! (the same `extract` functions as `/api/v1/audit/*`, so page and API cannot disagree); the
//! member number and the leaked file travel only in POST bodies, never in a URL; every form
//! carries the session's CSRF token, checked before the rest of the body is used; staff names
//! appear in the member report only when the DPO ticks the box, and that choice is audited.

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use time::OffsetDateTime;

use super::audit_trace_api::{ScopeQuery, basis};
use super::error::ApiError;
use super::extract_pages::{
    end_reason_label, field_label, purpose_name, render, signed_form, state_label, summary, when,
};
use super::extracts_wire::{extract_response, rfc3339};
use super::policy_api::principal;
use super::session::{SignedIn, check_csrf};
use crate::app::AppState;
use crate::extract::ExtractId;
use crate::extract::breach::{self, Basis};
use crate::extract::lifecycle;
use crate::extract::review::{self, Described};
use crate::extract::trace;
use crate::policy::Policy;
use crate::web::auth_pages::refusal;

fn session_of(
    session: Result<SignedIn, ApiError>,
) -> Result<crate::auth::session::Session, ApiError> {
    session.map(|SignedIn(s)| s)
}

/// The auditor's desk: the three forms, and whose audit the asker may see.
pub async fn audit_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
) -> Response {
    let result = async {
        let session = session_of(session)?;
        let who = principal(&state, &session).await?;
        let scope = match review::audit_scope(&state, &who).await {
            Ok(None) => Some("hela partiet".to_owned()),
            Ok(Some(d)) => Some(d.join(", ")),
            Err(crate::extract::Error::Denied { .. }) => None,
            Err(e) => return Err(ApiError::from(e)),
        };
        Ok(context! { auditor => scope.is_some(), scope, csrf => session.csrf_token.clone() })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    csrf: String,
    member_id: String,
    /// Present when the DPO chose to show staff names.
    #[serde(default)]
    staff_names: Option<String>,
}

fn disclosure_item(policy: &Policy, d: &Described, with_names: bool) -> minijinja::Value {
    let row = &d.row;
    let fields: Vec<&str> = crate::extract::request::Request::from_json(&row.request)
        .map(|r| r.fields.iter().map(|f| field_label(f.as_str())).collect())
        .unwrap_or_default();
    let approvers: Vec<&str> = d
        .verdicts
        .iter()
        .filter(|v| v.decision.verdict == "approve")
        .map(|v| v.approver.as_str())
        .collect();
    let shredded = row.state == "shredded";
    context! {
        id => row.id, purpose => purpose_name(policy, &row.purpose), district => row.district,
        released => row.live_at.map(|t| when(&rfc3339(t))), fields,
        downloads => row.downloads, state_label => state_label(&row.state),
        shredded => shredded.then(|| row.ended_at.map(|t| when(&rfc3339(t)))).flatten(),
        end_reason => row.end_reason.as_deref().filter(|_| shredded).map(end_reason_label),
        attested => row.attested_at.map(|t| when(&rfc3339(t))),
        requester => with_names.then(|| d.requester.clone()),
        approvers => with_names.then(|| approvers.join(", ")),
    }
}

/// The printable report of every extract that held a member (GDPR Art. 15). Audited with
/// whether staff names are shown.
pub async fn member_report_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    form: Result<Form<MemberForm>, FormRejection>,
) -> Response {
    let result = async {
        let (session, form) = signed_form(session, form, |f| &f.csrf)?;
        let who = principal(&state, &session).await?;
        let with_names = form.staff_names.is_some();
        let now = OffsetDateTime::now_utc();
        let (member, found) =
            review::member_report(&state, &who, &form.member_id, with_names, now).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let items: Vec<_> = found
            .iter()
            .map(|d| disclosure_item(&policy, d, with_names))
            .collect();
        Ok::<_, ApiError>(context! {
            member_id => form.member_id.trim(), member_ref => member.to_string(), items,
            with_names, made => when(&rfc3339(now.unix_timestamp())),
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit_member.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// The leaked file and the form's CSRF token, from a multipart upload.
async fn read_upload(mut multipart: Multipart) -> Result<(String, Vec<u8>), ApiError> {
    let unreadable = || {
        ApiError::BadRequest(
            "invalid_form",
            "The upload could not be read; choose the file again.".into(),
        )
    };
    let mut csrf = String::new();
    let mut file = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|_| unreadable())? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(|_| unreadable())?,
            Some("file") => file = field.bytes().await.map_err(|_| unreadable())?.to_vec(),
            _ => {}
        }
    }
    Ok((csrf, file))
}

/// Upload a leaked file: the extracts it may come from, best first, with the evidence.
pub async fn trace_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let result = async {
        let session = session_of(session)?;
        let multipart = multipart
            .map_err(|_| ApiError::BadRequest("invalid_form", "Choose a file to trace.".into()))?;
        let (csrf, file) = read_upload(multipart).await?;
        check_csrf(&session, &csrf)?;
        if file.is_empty() {
            return Err(ApiError::BadRequest(
                "invalid_input",
                "Choose the leaked CSV or XLSX file to trace.".into(),
            ));
        }
        let who = principal(&state, &session).await?;
        let traced = trace::trace(&state, &who, &file, OffsetDateTime::now_utc()).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let candidates: Vec<_> = traced
            .candidates
            .iter()
            .map(|c| {
                context! {
                    extract => summary(&extract_response(&c.described), &policy),
                    coverage => format!("{:.0}", c.coverage * 100.0),
                    order => format!("{:.0}", c.order * 100.0),
                    evidence => c.evidence,
                }
            })
            .collect();
        let columns: Vec<&str> = traced
            .columns
            .iter()
            .map(|f| field_label(f.as_str()))
            .collect();
        Ok::<_, ApiError>(context! {
            sha256 => traced.file_sha256, rows => traced.rows, columns,
            by_member => traced.key == trace::KeyKind::MemberId,
            confidence => traced.confidence.as_str(),
            sharing => traced.extracts_sharing_rows, candidates,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit_trace.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// A breach's scope from an extract id, or an account and a time window (the query names no
/// member: extract ids and usernames only).
pub async fn scope_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    query: Result<Query<ScopeQuery>, QueryRejection>,
) -> Response {
    let result = async {
        let session = session_of(session)?;
        let Query(query) = query.map_err(|_| {
            ApiError::BadRequest("invalid_input", "The form could not be read.".into())
        })?;
        let basis: Basis = basis(&query)?;
        let who = principal(&state, &session).await?;
        let scope = breach::scope(&state, &who, basis, OffsetDateTime::now_utc()).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let categories: Vec<_> = scope
            .categories
            .iter()
            .map(|(c, fields)| {
                let fields: Vec<&str> = fields.iter().map(|f| field_label(f.as_str())).collect();
                context! { name => breach::category_name(*c), fields }
            })
            .collect();
        let extracts: Vec<_> = scope
            .extracts
            .iter()
            .map(|h| {
                context! {
                    extract => summary(&extract_response(&h.described), &policy),
                    members => h.members,
                }
            })
            .collect();
        let releases: Vec<_> = scope
            .releases
            .iter()
            .map(|r| {
                context! {
                    at => when(&rfc3339(r.at)), format => r.format, username => r.username,
                    address => r.address, extract_id => r.extract_id,
                }
            })
            .collect();
        Ok::<_, ApiError>(context! {
            basis => scope.basis, members => scope.members, categories, extracts, releases,
            still_live => scope.still_live,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit_scope.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// An extract's whole story: request, verdicts, snapshot, every download with time and
/// address, the deletion receipt and the attestation.
pub async fn story_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let session = session_of(session)?;
        let id = ExtractId::parse(&id)?;
        let who = principal(&state, &session).await?;
        let story = review::story(&state, &who, &id, OffsetDateTime::now_utc()).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let mut events = Vec::with_capacity(story.events.len());
        for e in &story.events {
            // People by username; `system` and `cli:…` as they are.
            let actor = match e.actor.strip_prefix("user:") {
                Some(id) => review::username(&state.store, id).await?,
                None => e.actor.clone(),
            };
            events.push(context! {
                seq => e.seq, at => when(&rfc3339(e.occurred_at / 1000)), actor,
                action => e.action, outcome => e.outcome, details => e.details,
            });
        }
        Ok::<_, ApiError>(context! {
            extract => summary(&extract_response(&story.described), &policy),
            members => story.members, events,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit_story.html", ctx),
        Err(e) => refusal(&state, e),
    }
}
