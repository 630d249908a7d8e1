//! `/audit/flags`: the follow-up flags the asker may see (the district's approvers and the
//! auditors), open ones first, each with an acknowledge form; acknowledged ones with who, when
//! and the comment. The list is `GET /api/v1/audit/flags`'s answer (audited `followup.list`);
//! an acknowledgement goes through `extract::followup::acknowledge` like the API's, after the
//! form's CSRF token and a fresh second factor (or the form's TOTP code, the approve form's
//! step-up), and redirects (303) back with a fixed message.

use axum::Form;
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::auth::session::Session;
use crate::extract::followup::{self, FlagId};
use crate::extract::review;
use crate::web::auth_pages::refusal;
use crate::web::error::ApiError;
use crate::web::extract_pages::{
    STEP_UP_SENTENCE, is_fresh, render, see_other, signed_form, step_up, when,
};
use crate::web::followup_api::{FlagResponse, FlagsQuery, list_flags};
use crate::web::policy_api::principal;
use crate::web::session::{ClientAddr, SignedIn};

/// What the page says about a flag that is missing or outside the asker's districts (the
/// library tells them apart from nobody).
const NO_SUCH_FLAG: &str = "Det finns ingen sådan flagga att kvittera. There is no such flag.";

#[derive(Debug, Default, Deserialize)]
pub struct FlagsPageQuery {
    #[serde(default)]
    msg: Option<String>,
}

/// What a redirect's `?msg=` says: fixed sentences only, never text from the URL.
fn message(key: &str) -> Option<&'static str> {
    match key {
        "acknowledged" => Some("Flaggan är kvitterad. The flag is acknowledged."),
        _ => None,
    }
}

/// Swedish words for a flag's kind.
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "whole_district" => "Utdrag av hela distriktet",
        "outside_hours" => "Utanför kontorstid",
        "many_pulls" => "Många utdrag samma vecka",
        "repeated_denials" => "Upprepade avslag",
        "attestation_overdue" => "Radering inte intygad i tid",
        _ => "Flagga",
    }
}

/// One flag as the template shows it.
fn item(f: &FlagResponse) -> minijinja::Value {
    context! {
        id => f.id, kind => f.kind, label => kind_label(f.kind), district => f.district,
        user => f.user, extract_id => f.extract_id, week => f.week, count => f.count,
        raised => when(&f.raised_at), acknowledged_by => f.acknowledged_by,
        acknowledged_at => f.acknowledged_at.as_deref().map(when), comment => f.comment,
    }
}

/// The flags page for `session`, with a notice or an error sentence and its status.
async fn flags_view(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Response {
    let result = async {
        let query = Ok(Query(FlagsQuery { open: None }));
        let Json(list) = list_flags(State(state.clone()), SignedIn(session.clone()), query).await?;
        let who = principal(state, session).await?;
        let auditor = review::audit_scope(state, &who).await.is_ok();
        Ok::<_, ApiError>((list, auditor))
    }
    .await;
    let (list, auditor) = match result {
        Ok(found) => found,
        Err(e) => return refusal(state, e),
    };
    let (open, done): (Vec<_>, Vec<_>) = list.flags.iter().partition(|f| !f.acknowledged);
    let ctx = context! {
        open => open.iter().map(|f| item(f)).collect::<Vec<_>>(),
        acknowledged => done.iter().map(|f| item(f)).collect::<Vec<_>>(),
        csrf => session.csrf_token.clone(), fresh => is_fresh(state, session), notice, error,
        // An auditor's extract link goes to the extract's story, an approver's to its page.
        auditor,
    };
    render(state, status, "audit_flags.html", ctx)
}

/// The follow-up flags. Needs `audit.view` or `extract.approve` in the flags' districts (or
/// party-wide); anyone else gets the refusal page. Audited as `followup.list`.
pub async fn flags_page(
    State(state): State<AppState>,
    session: Result<SignedIn, ApiError>,
    query: Result<Query<FlagsPageQuery>, QueryRejection>,
) -> Response {
    let session = match session {
        Ok(SignedIn(s)) => s,
        Err(e) => return refusal(&state, e),
    };
    let notice = query
        .ok()
        .and_then(|Query(q)| q.msg)
        .and_then(|k| message(&k));
    flags_view(&state, &session, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct AckForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    code: Option<SecretString>,
}

/// A refused acknowledgement: the flags page again with the sentence and the status.
async fn failed(state: &AppState, session: &Session, error: ApiError) -> Response {
    let (status, code, text) = error.parts();
    if status.is_server_error() {
        return refusal(state, error);
    }
    let text = match code {
        "step_up_required" => STEP_UP_SENTENCE.to_owned(),
        "not_found" => NO_SUCH_FLAG.to_owned(),
        _ => text,
    };
    flags_view(state, session, status, None, Some(text)).await
}

/// Acknowledges a flag with a comment. Needs `audit.view` or `extract.approve` in its district
/// (or party-wide), the form's CSRF token and a fresh second factor (or the form's code); a
/// flag is acknowledged once (409 after). Audited as `followup.acknowledge`.
pub async fn acknowledge_flag(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    session: Result<SignedIn, ApiError>,
    Path(id): Path<String>,
    form: Result<Form<AckForm>, FormRejection>,
) -> Response {
    let (session, form) = match signed_form(session, form, |f| f.csrf.as_str()) {
        Ok(pair) => pair,
        Err(e) => return refusal(&state, e),
    };
    // A malformed id is no flag: refused before a one-time code is spent on it.
    let id = match FlagId::parse(&id) {
        Ok(id) => id,
        Err(e) => return failed(&state, &session, e.into()).await,
    };
    let fresh = match step_up(&state, session.clone(), form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return failed(&state, &session, e).await,
    };
    let result = async {
        let who = principal(&state, &fresh.session).await?;
        let now = OffsetDateTime::now_utc();
        followup::acknowledge(&state, &who, &id, &form.comment, now).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    let res = match result {
        Ok(()) => see_other("/audit/flags?msg=acknowledged"),
        Err(e) => failed(&state, &fresh.session, e).await,
    };
    fresh.send(res)
}
