//! `/api/v1/audit/reports/*`: the data protection officer's reports — extract activity over a
//! period, and the record-of-processing summary of the purposes (GDPR Art. 30). Built in
//! `crate::oversight::report`; each one made is an audit event.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::auth::session::Session;
use crate::oversight::report::activity::{self, Counts, Period};
use crate::oversight::report::article30;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::session::SignedIn;
use crate::web::session::principal;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    pub from: String,
    pub to: String,
}

/// The counts of one row.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsBody {
    pub requested: u64,
    /// Let through by the policy at once or by enough approvers.
    pub approved: u64,
    /// Denied by the policy or an approver.
    pub denied: u64,
    /// A snapshot was made available.
    pub released: u64,
    /// Downloaded at least once.
    pub downloaded: u64,
    pub downloads: u64,
    pub members_disclosed: u64,
}

impl From<&Counts> for CountsBody {
    fn from(c: &Counts) -> CountsBody {
        CountsBody {
            requested: c.requested,
            approved: c.approved,
            denied: c.denied,
            released: c.released,
            downloaded: c.downloaded,
            downloads: c.downloads,
            members_disclosed: c.members_disclosed,
        }
    }
}

/// A named row: a purpose id, a district or an approver's username.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupCounts {
    pub name: String,
    pub counts: CountsBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityResponse {
    pub from: String,
    pub to: String,
    /// The districts covered, `["*"]` for the whole party.
    pub scope: Vec<String>,
    pub totals: CountsBody,
    pub by_purpose: Vec<GroupCounts>,
    pub by_district: Vec<GroupCounts>,
    /// An approver's own verdicts: approvals, denials, and what was released under them.
    pub by_approver: Vec<GroupCounts>,
    /// Recertification of roles in the period (roles within the report's scope).
    pub roles: RoleCountsBody,
}

/// Roles confirmed, removed and suspended at recertification in the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleCountsBody {
    pub confirmed: u64,
    /// Removed, including removals that wait for a second administrator.
    pub removed: u64,
    /// Passed their due date unconfirmed.
    pub suspended: u64,
}

fn groups(map: &std::collections::BTreeMap<String, Counts>) -> Vec<GroupCounts> {
    map.iter()
        .map(|(name, c)| GroupCounts {
            name: name.clone(),
            counts: c.into(),
        })
        .collect()
}

/// Extracts requested in `[from, to)` (RFC 3339, at most 400 days) with what became of them,
/// by purpose, district and approver. Needs `audit.view` (the report covers those districts,
/// or the whole party); audited.
#[utoipa::path(get, path = "/api/v1/audit/reports/activity", tag = "audit",
    params(("from" = crate::web::api::wire_schema::Instant, Query, description = "RFC 3339, inclusive; before `to`"),
           ("to" = crate::web::api::wire_schema::Instant, Query, description = "RFC 3339, exclusive; at most 400 days after `from`")),
    responses((status = 200, body = ActivityResponse), (status = 403, description = "No `audit.view` in any district, nor party-wide (`not_permitted`)", body = ErrorBody),
              (status = 422, description = "Not a period: missing, not RFC 3339, `from` not before `to`, or over 400 days (`invalid_range`)", body = ErrorBody)))]
pub async fn activity_report(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    query: Result<Query<ActivityQuery>, QueryRejection>,
) -> Result<Json<ActivityResponse>, ApiError> {
    let Query(q) = query.map_err(|_| {
        ApiError::BadRequest(
            "invalid_range",
            "Give the period as from=…&to=… in RFC 3339.".into(),
        )
    })?;
    Ok(Json(activity_for(&state, &session, &q).await?))
}

/// The activity report for the session's audit scope over `q`'s period, audited as
/// `report.activity`. The API and the pages both answer with it.
pub async fn activity_for(
    state: &AppState,
    session: &Session,
    q: &ActivityQuery,
) -> Result<ActivityResponse, ApiError> {
    let period = Period::parse(&q.from, &q.to)?;
    let who = principal(state, session).await?;
    let report = activity::for_auditor(state, &who, period, OffsetDateTime::now_utc()).await?;
    let when = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    Ok(ActivityResponse {
        from: when(report.period.from),
        to: when(report.period.to),
        scope: report.scope.names(),
        totals: (&report.totals).into(),
        by_purpose: groups(&report.by_purpose),
        by_district: groups(&report.by_district),
        by_approver: groups(&report.by_approver),
        roles: RoleCountsBody {
            confirmed: report.roles.confirmed,
            removed: report.roles.removed,
            suspended: report.roles.suspended,
        },
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryBody {
    /// `identity`, `contact`, `address`, `sensitive` or `flag`.
    pub category: &'static str,
    pub fields: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessingEntry {
    pub purpose: String,
    pub name_sv: String,
    pub name_en: String,
    pub description_sv: String,
    pub description_en: String,
    /// The categories of personal data: the allowed fields grouped by sensitivity.
    pub categories: Vec<CategoryBody>,
    pub requested_by: Vec<String>,
    pub approved_by: Vec<String>,
    /// The longest a list lives before it is crypto-shredded, in minutes.
    pub retention_minutes: u32,
    pub required_consents: Vec<String>,
    pub max_rows: u64,
    pub formats: Vec<String>,
    pub approval_rule: String,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    /// Processors an extract of this purpose may be handed over to (recipients outside the
    /// party, Art. 30(1)(d)), with their data-processing agreement.
    pub recipients: Vec<RecipientBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientBody {
    pub processor: String,
    pub name: String,
    /// The data-processing agreement's reference.
    pub agreement: String,
    /// The agreement's last day, `YYYY-MM-DD`.
    pub agreement_ends: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Article30Response {
    /// The stored policy version the summary describes; absent for the base policy.
    pub policy_version: Option<i64>,
    pub data_subjects: &'static str,
    pub purposes: Vec<ProcessingEntry>,
}

/// A summary of every purpose in the policy in force for the record of processing (GDPR
/// Art. 30). Needs `audit.view` somewhere; audited.
#[utoipa::path(get, path = "/api/v1/audit/reports/article30", tag = "audit",
    responses((status = 200, body = Article30Response), (status = 403, description = "No `audit.view` in any district, nor party-wide (`not_permitted`)", body = ErrorBody)))]
pub async fn article30_report(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<Article30Response>, ApiError> {
    Ok(Json(article30_for(&state, &session).await?))
}

/// The Art. 30 summary of the purposes in force, for an auditor, audited as
/// `report.article30`. The API and the pages both answer with it.
pub async fn article30_for(
    state: &AppState,
    session: &Session,
) -> Result<Article30Response, ApiError> {
    let who = principal(state, session).await?;
    let summary = article30::for_auditor(state, &who, OffsetDateTime::now_utc()).await?;
    let purposes = summary
        .purposes
        .into_iter()
        .map(|e| ProcessingEntry {
            purpose: e.id,
            name_sv: e.name_sv,
            name_en: e.name_en,
            description_sv: e.description_sv,
            description_en: e.description_en,
            categories: e
                .categories
                .into_iter()
                .map(|c| CategoryBody {
                    category: c.sensitivity.as_str(),
                    fields: c.fields,
                })
                .collect(),
            requested_by: e.requested_by,
            approved_by: e.approved_by,
            retention_minutes: e.retention_minutes,
            required_consents: e.required_consents,
            max_rows: e.max_rows,
            formats: e.formats,
            approval_rule: e.approval_rule,
            valid_from: e.valid_from,
            valid_to: e.valid_to,
            recipients: e
                .recipients
                .into_iter()
                .map(|r| RecipientBody {
                    processor: r.id,
                    name: r.name,
                    agreement: r.agreement_ref,
                    agreement_ends: r.agreement_ends,
                })
                .collect(),
        })
        .collect();
    Ok(Article30Response {
        policy_version: summary.policy_version,
        data_subjects: summary.data_subjects,
        purposes,
    })
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
            "/api/v1/audit/reports/activity",
            SignedIn,
            Records(&[A::ReportActivity]),
            get(activity_report),
        ),
        entry(
            M::GET,
            "/api/v1/audit/reports/article30",
            SignedIn,
            Records(&[A::ReportArticle30]),
            get(article30_report),
        ),
    ]
}
