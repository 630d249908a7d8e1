//! `/audit/flags`: the follow-up flags the asker may see (the district's approvers and the
//! auditors), open ones first, each with an acknowledge form; acknowledged ones with who, when
//! and the comment. The list is `GET /api/v1/audit/flags`'s answer (audited `followup.list`);
//! an acknowledgement goes through `oversight::followup::acknowledge` like the API's, after the
//! form's CSRF token and a fresh second factor (or the form's TOTP code, the approve form's
//! step-up), and redirects (303) back with a fixed message.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::session::Session;
use crate::extract::review;
use crate::oversight::followup::{self, FlagId};
use crate::web::AppState;
use crate::web::api::followup::{self as followup_api, FlagResponse};
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
pub struct FlagsPageQuery {
    #[serde(default)]
    msg: Option<String>,
}

/// What a redirect's `?msg=` says: fixed sentences only, never text from the URL.
fn message(lang: Lang, key: &str) -> Option<String> {
    match key {
        "acknowledged" => Some(text(lang, "audit_flags.msg_acknowledged")),
        _ => None,
    }
}

/// What the flagged person did, after their name: "tog ut hela distriktet utan urval".
fn what(lang: Lang, f: &FlagResponse) -> String {
    let count = [("count", number(lang, f.count))];
    match f.kind {
        "outside_hours" if f.count > 1 => {
            text_with(lang, "audit_flags.did_outside_hours_times", &count)
        }
        "whole_district"
        | "outside_hours"
        | "many_pulls"
        | "repeated_denials"
        | "attestation_overdue"
        | "processor_deletion_overdue"
        | "sample_overdue"
        | "sample_case" => text_with(lang, &format!("audit_flags.did_{}", f.kind), &count),
        _ => text(lang, "audit_flags.did_other"),
    }
}

/// One flag as the template shows it.
fn item(lang: Lang, f: &FlagResponse) -> minijinja::Value {
    context! {
        id => f.id, kind => f.kind, label => labels::flag_kind(lang, f.kind),
        district => f.district, user => f.user, what => what(lang, f),
        extract_id => f.extract_id, week => f.week, count => f.count,
        raised => when(lang, &f.raised_at), raised_at => f.raised_at,
        acknowledged_by => f.acknowledged_by,
        acknowledged_at => f.acknowledged_at.as_deref().map(|t| when(lang, t)),
        acknowledged_at_rfc3339 => f.acknowledged_at, comment => f.comment,
    }
}

/// The flags page for `session`, with a notice or an error sentence and its status.
async fn flags_view(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let lang = frame::lang();
    let result = async {
        let list = followup_api::flags(state, session, None).await?;
        let who = principal(state, session).await?;
        let auditor = review::audit_permit(state, &who).await.is_ok();
        Ok::<_, ApiError>((list, auditor))
    }
    .await;
    let (list, auditor) = match result {
        Ok(found) => found,
        Err(e) => return refusal(state, e),
    };
    let (open, done): (Vec<_>, Vec<_>) = list.flags.iter().partition(|f| !f.acknowledged);
    let ctx = context! {
        open => open.iter().map(|f| item(lang, f)).collect::<Vec<_>>(),
        acknowledged => done.iter().map(|f| item(lang, f)).collect::<Vec<_>>(),
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
    PageSession(session): PageSession,
    query: Result<Query<FlagsPageQuery>, QueryRejection>,
) -> Response {
    let notice = query
        .ok()
        .and_then(|Query(q)| q.msg)
        .and_then(|k| message(frame::lang(), &k));
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
    let lang = frame::lang();
    let (status, code, shown) = error.page_parts(lang);
    if status.is_server_error() {
        return refusal(state, error);
    }
    let shown = match code {
        // The form has a code field for this: say to fill it in.
        "step_up_required" => text(lang, "error.step_up_form"),
        // Missing or outside the asker's districts: the library tells them apart from nobody.
        "not_found" => text(lang, "audit_flags.no_such_flag"),
        _ => shown,
    };
    flags_view(state, session, status, None, Some(shown)).await
}

/// Acknowledges a flag with a comment. Needs `audit.view` or `extract.approve` in its district
/// (or party-wide), the form's CSRF token and a fresh second factor (or the form's code); a
/// flag is acknowledged once (409 after). Audited as `followup.acknowledge`.
pub async fn acknowledge_flag(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<AckForm>,
) -> Response {
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

csrf_field!(AckForm);
