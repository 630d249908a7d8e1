//! The extract page's state-changing forms: "I'm done" (asked once more before anything is
//! destroyed), "copies deleted", approve, deny and an approver's withdrawal. Each posts the
//! session's CSRF token and redirects (303) back to the extract page with a fixed message; an
//! error re-renders the page with its sentence and status.

use axum::extract::{Path, State};
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use super::show::{confirm_done_page, fail};
use super::{see_other, step_up};
use crate::auth::session::Session;
use crate::extract::lifecycle::{self, Verdict};
use crate::extract::{ExtractId, expire, handover};
use crate::nouns::ExtractState;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::page::{PageForm, csrf_field};
use crate::web::render::not_found_page;
use crate::web::session::ClientAddr;
use crate::web::session::principal;

#[derive(Deserialize)]
pub struct CsrfForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
}

/// Which plain action a form asks for.
#[derive(Clone, Copy)]
enum Plain {
    Done,
    Attest,
    ResendLink,
}

async fn plain(state: AppState, session: Session, id: String, action: Plain) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let result = async {
        let who = principal(&state, &session).await?;
        let now = OffsetDateTime::now_utc();
        match action {
            Plain::Done => expire::done(&state, &who, &id, now).await?,
            Plain::Attest => expire::attest_deleted(&state, &who, &id, now).await?,
            Plain::ResendLink => handover::resend(&state, &who, &id, now).await?,
        }
        Ok::<_, ApiError>(())
    }
    .await;
    let key = match action {
        Plain::Done => "done",
        Plain::Attest => "attested",
        Plain::ResendLink => "link_sent",
    };
    match result {
        Ok(()) => see_other(&format!("/extracts/{id}?msg={key}")),
        Err(e) => fail(&state, &session, &id, e).await,
    }
}

#[derive(Deserialize)]
pub struct DoneForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    /// "yes" once the requester has seen what "I'm done" destroys.
    #[serde(default)]
    confirmed: Option<String>,
}

/// "I'm done": the requester shreds their live extract now — after saying yes to the page that
/// tells what that destroys (a first press only asks). Needs the requester and the form's
/// CSRF token.
pub async fn finish_extract(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<DoneForm>,
) -> Response {
    if form.confirmed.as_deref() != Some("yes") {
        let Ok(id) = ExtractId::parse(&id) else {
            return not_found_page();
        };
        return confirm_done_page(&state, &session, &id).await;
    }
    plain(state, session, id, Plain::Done).await
}

#[derive(Deserialize)]
pub struct WithdrawForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: Option<SecretString>,
}

/// An approver withdraws a live extract of their district: it is destroyed now. Needs
/// `extract.revoke` in the district, the form's CSRF token and a fresh second factor (or the
/// form's code) — the same domain call as `POST /api/v1/extracts/{id}/revoke`.
pub async fn withdraw_extract(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<WithdrawForm>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let fresh = match step_up(&state, session.clone(), form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return fail(&state, &session, &id, e).await,
    };
    let result = async {
        let who = principal(&state, &fresh.session).await?;
        expire::revoke(&state, &who, &id, OffsetDateTime::now_utc()).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    let res = match result {
        Ok(()) => see_other(&format!("/extracts/{id}?msg=withdrawn")),
        Err(e) => fail(&state, &fresh.session, &id, e).await,
    };
    fresh.send(res)
}

/// The requester confirms that every downloaded copy is deleted. Needs the requester and the
/// form's CSRF token.
pub async fn attest_extract_deleted(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(session, _): PageForm<CsrfForm>,
) -> Response {
    plain(state, session, id, Plain::Attest).await
}

/// The requester sends the processor of a live hand-over a new link (the old one stops
/// working). Needs the requester and the form's CSRF token; no data is shown or sent to them.
pub async fn resend_handover_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm(session, _): PageForm<CsrfForm>,
) -> Response {
    plain(state, session, id, Plain::ResendLink).await
}

#[derive(Deserialize)]
pub struct DecisionForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request_hash: Option<String>,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    code: Option<SecretString>,
}

csrf_field!(CsrfForm, DoneForm, WithdrawForm, DecisionForm);

async fn decide(
    state: AppState,
    client: crate::auth::signin::Client,
    (session, form): (Session, DecisionForm),
    id: String,
    verdict: Verdict,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let fresh = match step_up(&state, session.clone(), form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return fail(&state, &session, &id, e).await,
    };
    let result = async {
        let who = principal(&state, &fresh.session).await?;
        let hash = form.request_hash.as_deref();
        let now = OffsetDateTime::now_utc();
        let decided =
            lifecycle::decide(&state, &who, &id, verdict, hash, &form.comment, now).await?;
        Ok::<_, ApiError>(decided.state)
    }
    .await;
    let res = match result {
        Ok(ExtractState::Denied) => see_other(&format!("/extracts/{id}?msg=denied")),
        Ok(ExtractState::Pending) => see_other(&format!("/extracts/{id}?msg=approval_recorded")),
        Ok(_) => see_other(&format!("/extracts/{id}?msg=approved")),
        Err(e) => fail(&state, &fresh.session, &id, e).await,
    };
    fresh.send(res)
}

/// Approves the request whose hash the approver saw. Needs `extract.approve` in the district
/// (not one's own request), the form's CSRF token and a fresh second factor (or the form's code).
pub async fn approve_extract(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<DecisionForm>,
) -> Response {
    decide(state, client, (session, form), id, Verdict::Approve).await
}

/// Denies the request, with a comment. Needs `extract.approve` in the district, the form's
/// CSRF token and a fresh second factor (or the form's code).
pub async fn deny_extract(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<DecisionForm>,
) -> Response {
    decide(state, client, (session, form), id, Verdict::Deny).await
}
