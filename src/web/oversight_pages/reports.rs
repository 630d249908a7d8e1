//! `/audit/reports`: the DPO's activity report as tables (totals, by purpose, district and
//! approver) with a date-range form, and `/audit/reports/article30`: the record-of-processing
//! summary, made to be printed. Both are the answers of `GET /api/v1/audit/reports/*` (the
//! handlers are called), so they count, scope and are audited exactly as the API.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{End, form_time, given};
use crate::app::AppState;
use crate::extract::lifecycle;
use crate::policy::Policy;
use crate::web::auth_pages::refusal;
use crate::web::error::ApiError;
use crate::web::extract_pages::{field_label, purpose_name, render, when};
use crate::web::reports_api::{
    ActivityQuery, ActivityResponse, CountsBody, GroupCounts, ProcessingEntry, activity_report,
    article30_report,
};
use crate::web::session::SignedIn;

/// Days the report covers when the form is empty: the last 30, today included.
const DEFAULT_DAYS: i64 = 30;

/// The date-range form: `YYYY-MM-DD` (both days included, UTC) or RFC 3339.
#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
}

/// A row's counts in the tables' column order.
fn cells(c: &CountsBody) -> [u64; 7] {
    [
        c.requested,
        c.approved,
        c.denied,
        c.released,
        c.downloaded,
        c.downloads,
        c.members_disclosed,
    ]
}

fn rows(groups: &[GroupCounts], label: impl Fn(&str) -> String) -> Vec<minijinja::Value> {
    groups
        .iter()
        .map(|g| context! { label => label(&g.name), code => g.name, counts => cells(&g.counts) })
        .collect()
}

fn report_context(r: &ActivityResponse, policy: &Policy) -> minijinja::Value {
    let everywhere = r.scope.iter().any(|s| s == "*");
    context! {
        period_from => when(&r.from), period_to => when(&r.to),
        scope => if everywhere { "hela partiet".to_owned() } else { r.scope.join(", ") },
        totals => cells(&r.totals),
        by_purpose => rows(&r.by_purpose, |id| purpose_name(policy, id)),
        by_district => rows(&r.by_district, str::to_owned),
        by_approver => rows(&r.by_approver, str::to_owned),
    }
}

/// The activity report over the form's days (the last 30 when it is empty). Needs
/// `audit.view` (the report covers those districts, or the whole party); audited as
/// `report.activity`. A bad range is shown on the page with 422.
pub async fn activity_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Response {
    let session = match session {
        Ok(SignedIn(s)) => s,
        Err(e) => return refusal(&state, e),
    };
    let form = query.map(|Query(q)| q).unwrap_or_default();
    let today = OffsetDateTime::now_utc().date();
    let (from, to) = match (given(form.from.as_deref()), given(form.to.as_deref())) {
        (None, None) => (
            (today - Duration::days(DEFAULT_DAYS - 1)).to_string(),
            today.to_string(),
        ),
        (from, to) => (
            from.unwrap_or_default().to_owned(),
            to.unwrap_or_default().to_owned(),
        ),
    };
    let api = ActivityQuery {
        from: form_time(&from, End::Start),
        to: form_time(&to, End::Exclusive),
    };
    let answer = activity_report(State(state.clone()), SignedIn(session), Ok(Query(api))).await;
    let (status, report, error) = match answer {
        Ok(Json(r)) => (StatusCode::OK, Some(r), None),
        Err(e) => match e.parts() {
            (StatusCode::UNPROCESSABLE_ENTITY, _, text) => {
                (StatusCode::UNPROCESSABLE_ENTITY, None, Some(text))
            }
            _ => return refusal(&state, e),
        },
    };
    let policy = match lifecycle::policy_now(&state).await {
        Ok(p) => p,
        Err(e) => return refusal(&state, e.into()),
    };
    let ctx = context! {
        from, to, error,
        report => report.as_ref().map(|r| report_context(r, &policy)),
    };
    render(&state, status, "audit_reports.html", ctx)
}

/// Swedish words for a role in the permission table.
fn role_label(role: &str) -> String {
    let sv = match role {
        "staff" => "medarbetare",
        "approver" => "säkerhetsansvarig",
        "admin" => "administratör",
        "auditor" => "granskare",
        other => other,
    };
    format!("{sv} ({role})")
}

/// Swedish words for a category of personal data.
fn category_label(category: &str) -> &'static str {
    match category {
        "identity" => "Identitet",
        "contact" => "Kontaktuppgifter",
        "address" => "Adress",
        "sensitive" => "Identifierar i hela samhället (personnummer, födelsedatum)",
        "flag" => "Samtycken och skydd",
        _ => "Övrigt",
    }
}

fn entry(e: &ProcessingEntry) -> minijinja::Value {
    let categories: Vec<_> = e
        .categories
        .iter()
        .map(|c| {
            let fields: Vec<&str> = c.fields.iter().map(|f| field_label(f)).collect();
            context! { name => category_label(c.category), code => c.category, fields }
        })
        .collect();
    let roles = |r: &[String]| r.iter().map(|r| role_label(r)).collect::<Vec<_>>();
    let consents: Vec<&str> = e.required_consents.iter().map(|f| field_label(f)).collect();
    context! {
        id => e.purpose, name_sv => e.name_sv, name_en => e.name_en,
        description_sv => e.description_sv, description_en => e.description_en, categories,
        requested_by => roles(&e.requested_by), approved_by => roles(&e.approved_by),
        retention_minutes => e.retention_minutes, consents, max_rows => e.max_rows,
        formats => e.formats, approval_rule => e.approval_rule,
        valid_from => e.valid_from, valid_to => e.valid_to,
    }
}

/// The printable record of processing (GDPR Art. 30) of every purpose in the policy in
/// force. Needs `audit.view` somewhere; audited as `report.article30`.
pub async fn article30_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
) -> Response {
    let session = match session {
        Ok(SignedIn(s)) => s,
        Err(e) => return refusal(&state, e),
    };
    match article30_report(State(state.clone()), SignedIn(session)).await {
        Ok(Json(summary)) => {
            let now = OffsetDateTime::now_utc();
            let made = crate::web::extracts_wire::rfc3339(now.unix_timestamp());
            let ctx = context! {
                policy_version => summary.policy_version,
                data_subjects => summary.data_subjects,
                purposes => summary.purposes.iter().map(entry).collect::<Vec<_>>(),
                made => when(&made),
            };
            render(&state, StatusCode::OK, "audit_article30.html", ctx)
        }
        Err(e) => refusal(&state, e),
    }
}
