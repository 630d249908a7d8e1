//! `/audit/reports`: the DPO's activity report as tables (totals, by purpose, district and
//! approver) with a date-range form, and `/audit/reports/article30`: the record-of-processing
//! summary, made to be printed. Both are the answers of `GET /api/v1/audit/reports/*` (the
//! handlers are called), so they count, scope and are audited exactly as the API.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{End, form_time, given, time_zone};
use crate::extract::lifecycle;
use crate::policy::{Approval, Policy, PurposeId};
use crate::web::AppState;
use crate::web::api::extracts_wire::rfc3339;
use crate::web::api::reports::{
    self as reports_api, ActivityQuery, ActivityResponse, CountsBody, GroupCounts, ProcessingEntry,
};
use crate::web::frame;
use crate::web::i18n::{Lang, number, text, text_with};
use crate::web::labels::{self, pick};
use crate::web::page::PageSession;
use crate::web::page::refusal;
use crate::web::pages::extract::{render, when};

/// Days the report covers when the form is empty: the last 30, today included.
const DEFAULT_DAYS: i64 = 30;

/// The date-range form: `YYYY-MM-DD` (both days included, the shown zone's days) or RFC 3339.
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

fn report_context(lang: Lang, r: &ActivityResponse, policy: &Policy) -> minijinja::Value {
    let everywhere = r.scope.iter().any(|s| s == "*");
    context! {
        period_from => when(lang, &r.from), period_to => when(lang, &r.to),
        scope => if everywhere { text(lang, "roles.everywhere") } else { r.scope.join(", ") },
        totals => cells(&r.totals),
        by_purpose => rows(&r.by_purpose, |id| labels::purpose_name(lang, policy, id)),
        by_district => rows(&r.by_district, str::to_owned),
        by_approver => rows(&r.by_approver, str::to_owned),
        roles => [r.roles.confirmed, r.roles.removed, r.roles.suspended],
    }
}

/// The activity report over the form's days (the last 30 when it is empty). Needs
/// `audit.view` (the report covers those districts, or the whole party); audited as
/// `report.activity`. A bad range is shown on the page with 422.
pub async fn activity_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Response {
    let lang = frame::lang();
    let form = query.map(|Query(q)| q).unwrap_or_default();
    // Days are the shown zone's days, as the form's dates are.
    let zone = time_zone(&state);
    let today = today_in(&zone);
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
        from: form_time(&from, End::Start, &zone),
        to: form_time(&to, End::Exclusive, &zone),
    };
    let answer = reports_api::activity_for(&state, &session, &api).await;
    let (status, report, error) = match answer {
        Ok(r) => (StatusCode::OK, Some(r), None),
        Err(e) => match e.page_parts(lang) {
            (StatusCode::UNPROCESSABLE_ENTITY, _, shown) => {
                (StatusCode::UNPROCESSABLE_ENTITY, None, Some(shown))
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
        report => report.as_ref().map(|r| report_context(lang, r, &policy)),
    };
    render(&state, status, "audit_reports.html", ctx)
}

/// Today's date in `zone`.
fn today_in(zone: &jiff::tz::TimeZone) -> time::Date {
    let now = OffsetDateTime::now_utc();
    let local = jiff::Timestamp::from_second(now.unix_timestamp())
        .map(|t| t.to_zoned_datetime(zone.clone()).date());
    local
        .ok()
        .and_then(|d| {
            let month = time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?;
            time::Date::from_calendar_date(d.year().into(), month, u8::try_from(d.day()).ok()?).ok()
        })
        .unwrap_or_else(|| now.date())
}

/// A role in the permission table: its name and its code, `Säkerhetsansvarig (approver)`.
fn role_label(lang: Lang, role: &str) -> String {
    format!("{} ({role})", labels::role(lang, role))
}

/// A purpose's approval rule in one sentence (the API's `approval_rule`, in `lang`).
fn approval_rule(lang: Lang, a: &Approval) -> String {
    let rows = |n: u64| number(lang, i64::try_from(n).unwrap_or(i64::MAX));
    let auto = if a.auto_max_rows == 0 {
        text(lang, "article30.rule_every")
    } else {
        text_with(
            lang,
            "article30.rule_auto",
            &[("rows", rows(a.auto_max_rows))],
        )
    };
    let two = text_with(
        lang,
        "article30.rule_two",
        &[("rows", rows(a.two_approvers_min_rows))],
    );
    let sensitive = match a.sensitive_approvers {
        1 => text(lang, "article30.rule_sensitive_one"),
        n => text_with(
            lang,
            "article30.rule_sensitive_many",
            &[("count", n.to_string())],
        ),
    };
    format!("{auto}; {two}; {sensitive}.")
}

fn entry(lang: Lang, policy: &Policy, e: &ProcessingEntry) -> minijinja::Value {
    let categories: Vec<_> = e
        .categories
        .iter()
        .map(|c| {
            let fields: Vec<String> = c.fields.iter().map(|f| labels::field(lang, f)).collect();
            context! { name => labels::category(lang, c.category), code => c.category, fields }
        })
        .collect();
    let roles = |r: &[String]| r.iter().map(|r| role_label(lang, r)).collect::<Vec<_>>();
    let consents: Vec<String> = e
        .required_consents
        .iter()
        .map(|f| labels::field(lang, f))
        .collect();
    let recipients: Vec<String> = e
        .recipients
        .iter()
        .map(|r| {
            let ends = time::Date::parse(
                &r.agreement_ends,
                &time::format_description::well_known::Iso8601::DATE,
            )
            .map_or_else(
                |_| r.agreement_ends.clone(),
                |d| {
                    crate::web::i18n::date(
                        lang,
                        d.midnight().assume_utc() + time::Duration::hours(12),
                    )
                },
            );
            text_with(
                lang,
                "article30.recipient",
                &[
                    ("name", r.name.clone()),
                    ("agreement", r.agreement.clone()),
                    ("ends", ends),
                ],
            )
        })
        .collect();
    // The rule from the policy in force, in the page's language; the API's English sentence
    // if the purpose has left the catalogue since the summary was made.
    let rule = PurposeId::parse(&e.purpose)
        .ok()
        .and_then(|id| {
            policy
                .purpose(&id)
                .map(|p| approval_rule(lang, &p.approval))
        })
        .unwrap_or_else(|| e.approval_rule.clone());
    context! {
        id => e.purpose, name => pick(lang, &e.name_sv, &e.name_en),
        description => pick(lang, &e.description_sv, &e.description_en), categories,
        requested_by => roles(&e.requested_by), approved_by => roles(&e.approved_by),
        retention_minutes => e.retention_minutes, consents, max_rows => e.max_rows,
        formats => e.formats, approval_rule => rule,
        valid_from => e.valid_from, valid_to => e.valid_to, recipients,
    }
}

/// The printable record of processing (GDPR Art. 30) of every purpose in the policy in
/// force. Needs `audit.view` somewhere; audited as `report.article30`.
pub async fn article30_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    let lang = frame::lang();
    let answer = reports_api::article30_for(&state, &session).await;
    let (summary, policy) = match answer {
        Ok(summary) => match lifecycle::policy_now(&state).await {
            Ok(policy) => (summary, policy),
            Err(e) => return refusal(&state, e.into()),
        },
        Err(e) => return refusal(&state, e),
    };
    let made_at = rfc3339(OffsetDateTime::now_utc().unix_timestamp());
    let purposes: Vec<_> = summary
        .purposes
        .iter()
        .map(|e| entry(lang, &policy, e))
        .collect();
    // The data subjects are told by the catalogue (the API's sentence is English).
    let ctx = context! {
        policy_version => summary.policy_version, purposes,
        made => when(lang, &made_at), made_at,
    };
    render(&state, StatusCode::OK, "audit_article30.html", ctx)
}
