//! The call-list pages, made for a phone: "Ringlistor" (the lists a caller has members on),
//! the caller's page (the next few members, each with its outcome buttons and a note), and the
//! requester's page (give members to callers, move those not called, follow the counts).
//!
//! Every step is `extract::calls`, as for the API. Showing members changes the ledger, so it
//! answers a POST (a button), never a GET a browser might prefetch; an outcome's form answers
//! with the next members at once.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use time::OffsetDateTime;

use super::extract::{render, see_other, when};
use crate::auth::session::Session;
use crate::extract::calls::{self, CallPage};
use crate::extract::{ExtractId, lifecycle};
use crate::nouns::{CallOutcome, Username};
use crate::web::AppState;
use crate::web::api::extracts_wire::rfc3339;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, text};
use crate::web::labels;
use crate::web::page::{PageForm, PageSession, csrf_field, refusal};
use crate::web::render::not_found_page;
use crate::web::session::{ClientAddr, principal};

fn outcome_label(lang: Lang, outcome: Option<CallOutcome>) -> String {
    let code = outcome.map_or("not_called", CallOutcome::as_str);
    text(lang, &format!("call_outcome.{code}"))
}

fn purpose_name(lang: Lang, policy: &crate::policy::Policy, purpose: &str) -> String {
    labels::purpose_name(lang, policy, purpose)
}

/// "Ringlistor": the lists with members given to the signed-in caller.
pub async fn my_lists_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    let lang = frame::lang();
    let result = async {
        let who = principal(&state, &session).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let lists: Vec<_> = calls::my_lists(&state, &who)
            .await?
            .into_iter()
            .map(|l| {
                let expires = l.row.expires_at.map(rfc3339).unwrap_or_default();
                context! {
                    id => l.row.id, purpose => purpose_name(lang, &policy, &l.row.purpose),
                    district => labels::district(lang, &l.row.district),
                    expires => when(lang, &expires), expires_at => expires,
                    assigned => l.assigned, left => l.left,
                }
            })
            .collect();
        Ok::<_, ApiError>(context! { lists, csrf => session.csrf_token.clone() })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "calls.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}
csrf_field!(CsrfOnly);

/// The caller's page: the next members to call (a button on "Ringlistor" posts here).
pub async fn call_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientAddr(client): ClientAddr,
    PageForm(session, _form): PageForm<CsrfOnly>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    batch_page(&state, &session, &id, &client.ip, None).await
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}
csrf_field!(OutcomeForm);

/// An outcome from the caller's page; answers with the next members.
pub async fn record_outcome_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientAddr(client): ClientAddr,
    PageForm(session, form): PageForm<OutcomeForm>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let lang = frame::lang();
    let result = async {
        let who = principal(&state, &session).await?;
        let position = form.position.trim().parse::<i64>().map_err(|_| {
            ApiError::from(crate::extract::Error::CallList(
                "member_not_in_list",
                "that member is not on the list".into(),
            ))
        })?;
        let now = OffsetDateTime::now_utc();
        calls::record(&state, &who, &id, position, &form.outcome, &form.note, now).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    let told = match result {
        Ok(()) => Ok(text(lang, "calls.saved")),
        Err(e) => Err(e),
    };
    batch_page(&state, &session, &id, &client.ip, Some(told)).await
}

/// The next members for the caller, with a notice or the error of the step before.
async fn batch_page(
    state: &AppState,
    session: &Session,
    id: &ExtractId,
    ip: &str,
    before: Option<Result<String, ApiError>>,
) -> Response {
    let lang = frame::lang();
    // A refused outcome is told on the page with the same members; a list that is gone or
    // hidden is the refusal page itself.
    let (message, error, status) = match before {
        Some(Ok(m)) => (Some(m), None, StatusCode::OK),
        Some(Err(e))
            if matches!(
                e.parts().0,
                StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
            ) =>
        {
            let (status, _, sentence) = e.page_parts(lang);
            (None, Some(sentence), status)
        }
        Some(Err(e)) => return refusal(state, e),
        None => (None, None, StatusCode::OK),
    };
    let result = async {
        let who = principal(state, session).await?;
        let page = calls::next(state, &who, id, ip, OffsetDateTime::now_utc()).await?;
        let policy = lifecycle::policy_now(state).await?;
        Ok::<_, ApiError>(batch_context(lang, &policy, page))
    }
    .await;
    match result {
        Ok(ctx) => render(
            state,
            status,
            "call_list.html",
            // The frame shows its member-data warning on this page.
            context! { member_data => true, message, error, csrf => session.csrf_token.clone(), ..ctx },
        ),
        Err(ApiError::NotFound) => not_found_page(),
        Err(e) => refusal(state, e),
    }
}

fn batch_context(lang: Lang, policy: &crate::policy::Policy, page: CallPage) -> minijinja::Value {
    let outcomes: Vec<_> = page
        .outcomes
        .iter()
        .map(|o| context! { code => o.as_str(), label => outcome_label(lang, Some(*o)) })
        .collect();
    let members: Vec<_> = page
        .members
        .iter()
        .map(|m| {
            let fields: Vec<_> = page
                .columns
                .iter()
                .zip(&m.values)
                .map(|(name, value)| {
                    let value = value.clone().unwrap_or_default();
                    // A phone number is a link the phone can call.
                    let tel = (name == "phone" && !value.is_empty()).then(|| {
                        value
                            .chars()
                            .filter(|c| c.is_ascii_digit() || *c == '+')
                            .collect::<String>()
                    });
                    context! { label => labels::field(lang, name), value, tel }
                })
                .collect();
            let value_of = |field: &str| {
                page.columns
                    .iter()
                    .position(|c| c == field)
                    .and_then(|i| m.values.get(i).cloned().flatten())
            };
            let name = [value_of("first_name"), value_of("last_name")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            context! {
                position => m.position, fields, name,
                before => m.outcome.map(|o| outcome_label(lang, Some(o))), note => m.note,
            }
        })
        .collect();
    let expires = page.row.expires_at.map(rfc3339).unwrap_or_default();
    context! {
        id => page.row.id, purpose => labels::purpose_name(lang, policy, &page.row.purpose),
        district => labels::district(lang, &page.row.district),
        expires => when(lang, &expires), expires_at => expires,
        outcomes, to_call => members, left => page.left, assigned => page.assigned,
        note_max => 200,
    }
}

#[derive(Deserialize, Default)]
pub struct ManageQuery {
    #[serde(default)]
    msg: Option<String>,
}

/// The requester's page for a call list: counts per caller and outcome, and the forms that
/// give members to callers and move those not called.
pub async fn manage_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    query: Result<Query<ManageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let message = query
        .ok()
        .and_then(|Query(q)| q.msg)
        .filter(|m| matches!(m.as_str(), "shared" | "moved"))
        .map(|m| text(frame::lang(), &format!("calls.msg_{m}")));
    manage(&state, &session, &id, StatusCode::OK, message, None).await
}

async fn manage(
    state: &AppState,
    session: &Session,
    id: &ExtractId,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> Response {
    let lang = frame::lang();
    let result = async {
        let who = principal(state, session).await?;
        let p = calls::progress(state, &who, id).await?;
        let policy = lifecycle::policy_now(state).await?;
        let header: Vec<String> = p
            .outcomes
            .iter()
            .map(|o| outcome_label(lang, Some(*o)))
            .collect();
        let callers: Vec<_> = p
            .callers
            .iter()
            .map(|c| {
                let count = |o: Option<CallOutcome>| {
                    c.counts.iter().filter(|(x, _)| *x == o).map(|(_, n)| n).sum::<i64>()
                };
                let per: Vec<i64> = p.outcomes.iter().map(|o| count(Some(*o))).collect();
                context! {
                    name => c.name, username => c.username, assigned => c.assigned(), left => c.left(),
                    not_called => count(None), per,
                }
            })
            .collect();
        let totals: Vec<i64> = p
            .outcomes
            .iter()
            .map(|o| {
                p.callers
                    .iter()
                    .flat_map(|c| c.counts.iter())
                    .filter(|(x, _)| *x == Some(*o))
                    .map(|(_, n)| n)
                    .sum()
            })
            .collect();
        let live = p.row.state == crate::nouns::ExtractState::Live;
        let candidates: Vec<_> = p
            .candidates
            .iter()
            .map(|(username, name)| context! { username, name })
            .collect();
        Ok::<_, ApiError>(context! {
            id => p.row.id.clone(), live,
            purpose => labels::purpose_name(lang, &policy, &p.row.purpose),
            district => labels::district(lang, &p.row.district),
            members => p.row.row_count.unwrap_or(0), unassigned => p.unassigned,
            header, callers, totals, candidates,
            csrf => session.csrf_token.clone(), message, error,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(state, status, "calls_manage.html", ctx),
        Err(ApiError::NotFound) => not_found_page(),
        Err(e) => refusal(state, e),
    }
}

/// The share form's fields: the callers ticked (repeated `callers`).
pub struct ShareForm {
    csrf: String,
    callers: Vec<String>,
}

impl<'de> Deserialize<'de> for ShareForm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ShareForm, D::Error> {
        let pairs: Vec<(String, String)> = Vec::deserialize(d)?;
        let mut form = ShareForm {
            csrf: String::new(),
            callers: Vec::new(),
        };
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => form.csrf = value,
                "callers" => form.callers.push(value),
                _ => {}
            }
        }
        Ok(form)
    }
}
csrf_field!(ShareForm);

/// Shares every member not yet given out among the ticked callers.
pub async fn share_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<ShareForm>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let result = async {
        let who = principal(&state, &session).await?;
        let callers = form
            .callers
            .iter()
            .map(|c| {
                Username::parse(c).map_err(|e| ApiError::BadRequest("invalid_input", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        calls::share(&state, &who, &id, &callers, OffsetDateTime::now_utc()).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    after_change(&state, &session, &id, result, "shared").await
}

#[derive(Deserialize)]
pub struct ReassignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}
csrf_field!(ReassignForm);

/// Moves one caller's members not yet called to another.
pub async fn reassign_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<ReassignForm>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let result = async {
        let who = principal(&state, &session).await?;
        let parse = |s: &str| {
            Username::parse(s).map_err(|e| ApiError::BadRequest("invalid_input", e.to_string()))
        };
        let (from, to) = (parse(&form.from)?, parse(&form.to)?);
        calls::reassign(&state, &who, &id, &from, &to, OffsetDateTime::now_utc()).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    after_change(&state, &session, &id, result, "moved").await
}

/// Back to the requester's page with a message (303), or the page again with the error.
async fn after_change(
    state: &AppState,
    session: &Session,
    id: &ExtractId,
    result: Result<(), ApiError>,
    msg: &str,
) -> Response {
    match result {
        Ok(()) => see_other(&format!("/extracts/{id}/calls?msg={msg}")),
        Err(e)
            if matches!(
                e.parts().0,
                StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
            ) =>
        {
            let (status, _, sentence) = e.page_parts(frame::lang());
            manage(state, session, id, status, None, Some(sentence)).await
        }
        Err(ApiError::NotFound) => not_found_page(),
        Err(e) => refusal(state, e),
    }
}

/// This area's routes.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/calls",
            SignedIn,
            NotAudited("the caller's own lists: names of purposes and counts, no member data"),
            get(my_lists_page),
        ),
        entry(
            M::POST,
            "/calls/{id}",
            SignedIn,
            Records(&[A::CallsShown, A::ExtractDamaged]),
            post(call_page),
        ),
        entry(
            M::POST,
            "/calls/{id}/outcome",
            SignedIn,
            Records(&[A::CallOutcomeRecorded, A::CallsShown, A::ExtractDamaged]),
            post(record_outcome_page),
        ),
        entry(
            M::GET,
            "/extracts/{id}/calls",
            SignedIn,
            NotAudited("counts per caller and outcome for the requester: no member data"),
            get(manage_page),
        ),
        entry(
            M::POST,
            "/extracts/{id}/calls/share",
            SignedIn,
            Records(&[A::CallsAssigned]),
            post(share_page),
        ),
        entry(
            M::POST,
            "/extracts/{id}/calls/reassign",
            SignedIn,
            Records(&[A::CallsAssigned]),
            post(reassign_page),
        ),
    ]
}
