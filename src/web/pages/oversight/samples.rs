//! `/audit/samples`: the sampled follow-up for people — the periods' samples in the districts
//! the asker reaches, and one district-period with its drawn releases in words (who, which
//! list, when, in local time), a review form per item (fine, or open a case with a comment)
//! and the sign-off. The lists are the API's answers (`web::api::samples`, audited
//! `followup.sample_list`); a review or sign-off goes through `oversight::followup::sample`
//! like the API's, after the form's CSRF token and a fresh second factor (or the form's code),
//! and redirects (303) back with a fixed message.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::session::Session;
use crate::oversight::followup::draw;
use crate::oversight::followup::sample::{self, SampleKey, Verdict};
use crate::web::AppState;
use crate::web::api::samples::{self as api, SampleItem, SampleSummary};
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, number, text, text_with};
use crate::web::labels;
use crate::web::page::refusal;
use crate::web::page::{PageForm, PageSession, csrf_field};
use crate::web::pages::extract::{is_fresh, render, see_other, step_up, when};
use crate::web::session::ClientAddr;
use crate::web::session::principal;

#[derive(Debug, Default, Deserialize)]
pub struct SamplesPageQuery {
    #[serde(default)]
    msg: Option<String>,
}

/// What a redirect's `?msg=` says: fixed sentences only, never text from the URL.
fn message(lang: Lang, key: &str) -> Option<String> {
    match key {
        "reviewed" | "signed_off" | "drawn" => {
            Some(text(lang, &format!("audit_samples.msg_{key}")))
        }
        _ => None,
    }
}

fn notice_of(query: Result<Query<SamplesPageQuery>, QueryRejection>) -> Option<String> {
    query
        .ok()
        .and_then(|Query(q)| q.msg)
        .and_then(|k| message(frame::lang(), &k))
}

fn summary(lang: Lang, s: &SampleSummary) -> minijinja::Value {
    let status = if s.signed_off {
        text_with(
            lang,
            "audit_samples.status_signed",
            &[
                ("who", s.signed_off_by.clone().unwrap_or_default()),
                (
                    "when",
                    s.signed_off_at
                        .as_deref()
                        .map(|t| when(lang, t))
                        .unwrap_or_default(),
                ),
            ],
        )
    } else {
        text_with(
            lang,
            "audit_samples.status_open",
            &[
                ("reviewed", number(lang, s.reviewed)),
                ("items", number(lang, s.items)),
                ("by", when(lang, &s.review_by)),
            ],
        )
    };
    context! {
        district => labels::district(lang, &s.district),
        href => format!("/audit/samples/{}/{}", s.district, s.period),
        from => when(lang, &s.from), to => when(lang, &s.to),
        from_rfc3339 => s.from, to_rfc3339 => s.to, early => s.early,
        drawn => text_with(lang, "audit_samples.drawn_of", &[
            ("items", number(lang, s.items)), ("population", number(lang, s.population)),
        ]),
        cases => (s.cases > 0).then(|| text_with(lang, "audit_samples.cases", &[("cases", number(lang, s.cases))])),
        status, signed_off => s.signed_off,
    }
}

/// The samples page for `session`, with a notice or an error sentence and its status.
async fn list_view(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let lang = frame::lang();
    let list = match api::samples(state, session).await {
        Ok(list) => list,
        Err(e) => return refusal(state, e),
    };
    let open: Vec<_> = list
        .samples
        .iter()
        .filter(|s| !s.signed_off)
        .map(|s| summary(lang, s))
        .collect();
    let done: Vec<_> = list
        .samples
        .iter()
        .filter(|s| s.signed_off)
        .map(|s| summary(lang, s))
        .collect();
    let cfg = &state.config.followup;
    let ctx = context! {
        open, done, notice, error, csrf => session.csrf_token.clone(),
        early => cfg.sample_draw_early,
        lead => text_with(lang, "audit_samples.lead", &[
            ("size", number(lang, i64::from(cfg.sample_size))),
            ("days", number(lang, i64::from(cfg.sample_review_days))),
        ]),
    };
    render(state, status, "audit_samples.html", ctx)
}

/// The samples in the asker's districts. Needs `audit.view` or `extract.approve` somewhere;
/// anyone else gets the refusal page. Audited as `followup.sample_list`.
pub async fn samples_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<Query<SamplesPageQuery>, QueryRejection>,
) -> Response {
    let notice = notice_of(query);
    list_view(&state, &session, StatusCode::OK, notice, None).await
}

/// What the drawn person did, after their name: "hämtade listan som fil".
fn item(lang: Lang, policy: &crate::policy::Policy, i: &SampleItem) -> minijinja::Value {
    let purpose = i
        .purpose
        .as_deref()
        .map(|p| labels::purpose_name(lang, policy, p))
        .unwrap_or_default();
    context! {
        position => i.position, user => i.user,
        did => text_with(lang, &format!("audit_samples.did_{}", i.kind), &[("purpose", purpose)]),
        at => when(lang, &i.occurred_at), at_rfc3339 => i.occurred_at,
        reviewed => i.verdict.is_some(),
        verdict => i.verdict.as_deref().map(|v| text(lang, &format!("audit_samples.verdict_{v}"))),
        case => i.verdict.as_deref() == Some("case"),
        comment => i.comment, reviewed_by => i.reviewed_by,
        reviewed_at => i.reviewed_at.as_deref().map(|t| when(lang, t)),
        reviewed_at_rfc3339 => i.reviewed_at,
    }
}

/// One district-period's sample, with a notice or an error sentence and its status.
async fn one_view(
    state: &AppState,
    session: &Session,
    key: &SampleKey,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let lang = frame::lang();
    let found = async {
        let who = principal(state, session).await?;
        let s = sample::show(state, &who, key, OffsetDateTime::now_utc()).await?;
        let policy = crate::extract::lifecycle::policy_now(state).await?;
        Ok::<_, ApiError>((api::sample_response(state, s).await?, policy))
    }
    .await;
    let (s, policy) = match found {
        Ok(found) => found,
        Err(e) => return refusal(state, e),
    };
    let items: Vec<_> = s.items.iter().map(|i| item(lang, &policy, i)).collect();
    let left = s.items.iter().filter(|i| i.verdict.is_none()).count();
    let href = format!("/audit/samples/{}/{}", s.summary.district, s.summary.period);
    let ctx = context! {
        sample => summary(lang, &s.summary), items, left, href,
        csrf => session.csrf_token.clone(), fresh => is_fresh(state, session), notice, error,
        empty => s.items.is_empty(),
    };
    render(state, status, "audit_sample.html", ctx)
}

/// One district's sample for a period. Audited as `followup.sample_list`.
pub async fn sample_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path((district, period)): Path<(String, String)>,
    query: Result<Query<SamplesPageQuery>, QueryRejection>,
) -> Response {
    let key = match SampleKey::parse(&state, &district, &period) {
        Ok(key) => key,
        Err(e) => return refusal(&state, e.into()),
    };
    let notice = notice_of(query);
    one_view(&state, &session, &key, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct ReviewForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    code: Option<SecretString>,
}

#[derive(Deserialize)]
pub struct SignOffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: Option<SecretString>,
}

#[derive(Deserialize)]
pub struct DrawForm {
    #[serde(default)]
    csrf: String,
}

/// A refused review or sign-off: the sample again with the sentence and the status.
async fn failed(state: &AppState, session: &Session, key: &SampleKey, error: ApiError) -> Response {
    let lang = frame::lang();
    let (status, code, shown) = error.page_parts(lang);
    if status.is_server_error() || code == "not_found" {
        return refusal(state, error);
    }
    let shown = match code {
        // The form has a code field for this: say to fill it in.
        "step_up_required" => text(lang, "error.step_up_form"),
        _ => shown,
    };
    one_view(state, session, key, status, None, Some(shown)).await
}

/// Reviews one drawn release from the page. Needs `audit.view` or `extract.approve` in the
/// district (or party-wide), the form's CSRF token and a fresh second factor (or the form's
/// code). Audited as `followup.sample_review`.
pub async fn review_item(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path((district, period, position)): Path<(String, String, String)>,
    PageForm(session, form): PageForm<ReviewForm>,
) -> Response {
    let key = match SampleKey::parse(&state, &district, &period) {
        Ok(key) => key,
        Err(e) => return refusal(&state, e.into()),
    };
    // A verdict the form does not offer is refused before a one-time code is spent on it.
    let Some(verdict) = Verdict::parse(&form.verdict) else {
        let e = ApiError::BadRequest("invalid_input", "choose fine or open a case".into());
        return failed(&state, &session, &key, e).await;
    };
    let fresh = match step_up(&state, session.clone(), form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return failed(&state, &session, &key, e).await,
    };
    let result = async {
        let who = principal(&state, &fresh.session).await?;
        let now = OffsetDateTime::now_utc();
        sample::review(&state, &who, &key, &position, verdict, &form.comment, now).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    let res = match result {
        Ok(()) => see_other(&format!("/audit/samples/{district}/{period}?msg=reviewed")),
        Err(e) => failed(&state, &fresh.session, &key, e).await,
    };
    fresh.send(res)
}

/// Signs a district's period off from the page, once every item is reviewed. Audited as
/// `followup.sample_signoff`.
pub async fn sign_off(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path((district, period)): Path<(String, String)>,
    PageForm(session, form): PageForm<SignOffForm>,
) -> Response {
    let key = match SampleKey::parse(&state, &district, &period) {
        Ok(key) => key,
        Err(e) => return refusal(&state, e.into()),
    };
    let fresh = match step_up(&state, session.clone(), form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return failed(&state, &session, &key, e).await,
    };
    let result = async {
        let who = principal(&state, &fresh.session).await?;
        sample::sign_off(&state, &who, &key, OffsetDateTime::now_utc()).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    let res = match result {
        Ok(()) => see_other(&format!(
            "/audit/samples/{district}/{period}?msg=signed_off"
        )),
        Err(e) => failed(&state, &fresh.session, &key, e).await,
    };
    fresh.send(res)
}

/// Draws the running period now (`followup.sample_draw_early`, demos and trials only), for the
/// districts the asker reaches. Audited as `followup.sample_draw`.
pub async fn draw_early(
    State(state): State<AppState>,
    PageForm(session, _form): PageForm<DrawForm>,
) -> Response {
    let result = async {
        let who = principal(&state, &session).await?;
        let scope = crate::oversight::followup::scope(&state, &who).await?;
        let actor = crate::audit::Actor::user(who.user_id());
        let now = OffsetDateTime::now_utc();
        draw::draw_early(&state, &actor, scope.as_deref(), now).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => see_other("/audit/samples?msg=drawn"),
        Err(e) => {
            let lang = frame::lang();
            let (status, _, shown) = e.page_parts(lang);
            if status.is_server_error() {
                return refusal(&state, e);
            }
            list_view(&state, &session, status, None, Some(shown)).await
        }
    }
}

csrf_field!(ReviewForm, SignOffForm, DrawForm);
