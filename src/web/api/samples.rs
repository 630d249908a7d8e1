//! `/api/v1/audit/samples`: the sampled follow-up — the periods' random samples of releases per
//! district, the review of each drawn release and the period's sign-off
//! (`oversight::followup::sample` decides who sees and reviews what; periods due are drawn
//! before any answer).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::session::Session;
use crate::extract::review;
use crate::oversight::followup::sample::{
    self, Sample, SampleKey, Summary, Verdict, period_day, release_kind,
};
use crate::store::samples::DrawRow;
use crate::web::AppState;
use crate::web::api::extracts_wire::rfc3339;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::params::ApiPath;
use crate::web::session::principal;
use crate::web::session::{SignedIn, StepUp};

/// One district's sample for one period, without its items.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleSummary {
    pub district: String,
    /// The period's first day (`YYYY-MM-DD` at `followup.utc_offset`): with the district, the
    /// sample's name in the paths.
    pub period: String,
    pub from: String,
    /// Exclusive; for an early draw the moment it was drawn.
    pub to: String,
    /// Drawn before the period ended (`followup.sample_draw_early`, demos and trials only).
    pub early: bool,
    /// By when it must be reviewed and signed off.
    pub review_by: String,
    /// Releases in the district in the period.
    pub population: i64,
    pub items: i64,
    pub reviewed: i64,
    pub cases: i64,
    pub signed_off: bool,
    pub signed_off_by: Option<String>,
    pub signed_off_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SampleList {
    pub samples: Vec<SampleSummary>,
}

/// One drawn release and its review.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleItem {
    /// 1, 2, … in the order drawn.
    pub position: i64,
    /// `download`, `view`, `call_list`, `call_outcome` or `handover`.
    pub kind: &'static str,
    /// Username of the person who released the data (for a hand-over: who requested it).
    pub user: String,
    pub extract_id: String,
    /// The extract's purpose id.
    pub purpose: Option<String>,
    pub occurred_at: String,
    /// `fine` or `case`, once reviewed.
    pub verdict: Option<String>,
    pub comment: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<String>,
}

/// A district's sample for a period, with how it was drawn and its items.
#[derive(Debug, Serialize, ToSchema)]
pub struct SampleResponse {
    #[serde(flatten)]
    pub summary: SampleSummary,
    /// The seed (hex), revealed with the draw, and the SHA-256 of the population's audit
    /// sequence numbers: with the `followup.sample_draw` audit entry, enough to re-derive it.
    pub seed: String,
    pub population_sha256: String,
    pub items: Vec<SampleItem>,
}

/// A reviewer's verdict on one item.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    /// Reviewed, fine.
    Fine,
    /// Open a case (needs a comment).
    Case,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub verdict: ReviewVerdict,
    /// What the reviewer found: required for a case (409 `case_comment_required` without).
    #[serde(default)]
    #[schema(value_type = Option<crate::web::api::wire_schema::SampleComment>)]
    pub comment: Option<String>,
}

async fn name_of(state: &AppState, id: Option<&String>) -> Result<Option<String>, ApiError> {
    match id {
        Some(id) => Ok(Some(review::username(&state.store, id).await?)),
        None => Ok(None),
    }
}

async fn summary(
    state: &AppState,
    d: &DrawRow,
    counts: (i64, i64, i64),
) -> Result<SampleSummary, ApiError> {
    Ok(SampleSummary {
        district: d.district.clone(),
        period: period_day(state, d.period_start),
        from: rfc3339(d.period_start),
        to: rfc3339(d.period_end),
        early: d.early,
        review_by: rfc3339(d.review_by),
        population: d.population,
        items: counts.0,
        reviewed: counts.1,
        cases: counts.2,
        signed_off: d.signed_off_at.is_some(),
        signed_off_by: name_of(state, d.signed_off_by.as_ref()).await?,
        signed_off_at: d.signed_off_at.map(rfc3339),
    })
}

/// A sample as the API and the pages show it.
pub async fn sample_response(state: &AppState, s: Sample) -> Result<SampleResponse, ApiError> {
    let n = |f: fn(&sample::Item) -> bool| {
        i64::try_from(s.items.iter().filter(|i| f(i)).count()).unwrap_or(0)
    };
    let counts = (
        n(|_| true),
        n(|i| i.row.verdict.is_some()),
        n(|i| i.row.verdict.as_deref() == Some("case")),
    );
    let mut items = Vec::with_capacity(s.items.len());
    for i in &s.items {
        items.push(SampleItem {
            position: i.row.position,
            kind: release_kind(&i.row.action),
            user: review::username(&state.store, &i.releaser_id).await?,
            extract_id: i.row.extract_id.clone(),
            purpose: i.purpose.clone(),
            occurred_at: rfc3339(i.row.occurred_at.div_euclid(1000)),
            verdict: i.row.verdict.clone(),
            comment: i.row.comment.clone().filter(|c| !c.is_empty()),
            reviewed_by: name_of(state, i.row.reviewed_by.as_ref()).await?,
            reviewed_at: i.row.reviewed_at.map(rfc3339),
        });
    }
    Ok(SampleResponse {
        summary: summary(state, &s.draw, counts).await?,
        seed: s.draw.seed,
        population_sha256: s.draw.population_sha256,
        items,
    })
}

/// The samples the session may see, newest first, after drawing what is due; audited as
/// `followup.sample_list`. The API and the pages both answer with it.
pub async fn samples(state: &AppState, session: &Session) -> Result<SampleList, ApiError> {
    let who = principal(state, session).await?;
    let found: Vec<Summary> = sample::list(state, &who, OffsetDateTime::now_utc()).await?;
    let mut out = Vec::with_capacity(found.len());
    for s in found {
        out.push(summary(state, &s.draw, (s.items, s.reviewed, s.cases)).await?);
    }
    Ok(SampleList { samples: out })
}

/// The random samples of releases in your districts, one per district and period, newest
/// first. Ended periods not drawn yet are drawn first. Needs `audit.view` or `extract.approve`
/// (in the samples' districts, or party-wide for all); audited.
#[utoipa::path(get, path = "/api/v1/audit/samples", tag = "audit",
    responses((status = 200, body = SampleList),
              (status = 403, description = "Neither `audit.view` nor `extract.approve` anywhere (`not_permitted`)", body = ErrorBody)))]
pub async fn list_samples(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<SampleList>, ApiError> {
    Ok(Json(samples(&state, &session).await?))
}

/// One district's sample for a period, with its items. Audited.
#[utoipa::path(get, path = "/api/v1/audit/samples/{district}/{period}", tag = "audit",
    params(("district" = String, Path), ("period" = String, Path, description = "The period's first day, YYYY-MM-DD")),
    responses((status = 200, body = SampleResponse),
              (status = 404, description = "No such sample in your districts, or none you may see: the same answer (`not_found`)", body = ErrorBody)))]
pub async fn show_sample(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath((district, period)): ApiPath<(String, String)>,
) -> Result<Json<SampleResponse>, ApiError> {
    let key = SampleKey::parse(&state, &district, &period)?;
    let who = principal(&state, &session).await?;
    let s = sample::show(&state, &who, &key, OffsetDateTime::now_utc()).await?;
    Ok(Json(sample_response(&state, s).await?))
}

/// Reviews one drawn release: fine, or open a case with a comment. Needs `audit.view` or
/// `extract.approve` in the district (or party-wide) and a fresh second factor; nobody reviews
/// their own release.
#[utoipa::path(post, path = "/api/v1/audit/samples/{district}/{period}/items/{position}/review",
    tag = "audit", request_body = ReviewRequest,
    params(("district" = String, Path), ("period" = String, Path), ("position" = i64, Path, description = "1, 2, … in the order drawn")),
    responses((status = 200, body = SampleResponse),
              (status = 401, description = "No fresh second factor (`step_up_required`)", body = ErrorBody),
              (status = 404, description = "No such sample or item in your districts (`not_found`)", body = ErrorBody),
              (status = 409, description = "A case without a comment (`case_comment_required`), your own release (`own_release`), reviewed already (`already_reviewed`) or signed off (`already_signed_off`)", body = ErrorBody)))]
pub async fn review_item(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath((district, period, position)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> Result<Json<SampleResponse>, ApiError> {
    let key = SampleKey::parse(&state, &district, &period)?;
    let who = principal(&state, &session).await?;
    let verdict = match body.verdict {
        ReviewVerdict::Fine => Verdict::Fine,
        ReviewVerdict::Case => Verdict::Case,
    };
    let comment = body.comment.unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let s = sample::review(&state, &who, &key, &position, verdict, &comment, now).await?;
    Ok(Json(sample_response(&state, s).await?))
}

/// Signs off a district's sample for a period once every item is reviewed. Needs `audit.view`
/// or `extract.approve` in the district (or party-wide) and a fresh second factor.
#[utoipa::path(post, path = "/api/v1/audit/samples/{district}/{period}/sign-off", tag = "audit",
    params(("district" = String, Path), ("period" = String, Path)),
    responses((status = 200, body = SampleResponse),
              (status = 401, description = "No fresh second factor (`step_up_required`)", body = ErrorBody),
              (status = 404, description = "No such sample in your districts (`not_found`)", body = ErrorBody),
              (status = 409, description = "Items not reviewed yet (`sample_unreviewed`) or signed off already (`already_signed_off`)", body = ErrorBody)))]
pub async fn sign_off_sample(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath((district, period)): ApiPath<(String, String)>,
) -> Result<Json<SampleResponse>, ApiError> {
    let key = SampleKey::parse(&state, &district, &period)?;
    let who = principal(&state, &session).await?;
    let s = sample::sign_off(&state, &who, &key, OffsetDateTime::now_utc()).await?;
    Ok(Json(sample_response(&state, s).await?))
}

/// This area's routes: who may call each one and what it records in the audit log.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::Records;
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/api/v1/audit/samples",
            SignedIn,
            Records(&[A::SampleListed, A::SampleDrawn]),
            get(list_samples),
        ),
        entry(
            M::GET,
            "/api/v1/audit/samples/{district}/{period}",
            SignedIn,
            Records(&[A::SampleListed, A::SampleDrawn]),
            get(show_sample),
        ),
        entry(
            M::POST,
            "/api/v1/audit/samples/{district}/{period}/items/{position}/review",
            SignedIn,
            Records(&[A::SampleReviewed, A::SampleDrawn]),
            post(review_item),
        ),
        entry(
            M::POST,
            "/api/v1/audit/samples/{district}/{period}/sign-off",
            SignedIn,
            Records(&[A::SampleSignedOff, A::SampleDrawn]),
            post(sign_off_sample),
        ),
    ]
}
