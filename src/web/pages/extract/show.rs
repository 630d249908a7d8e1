//! `/extracts/{id}`: the metadata page, and the two ways data leaves — the file download and
//! the in-browser view — both POST forms with a fresh second factor (F2, B2). A GET shows
//! metadata only, so a link scanner reveals nothing.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use minijinja::context;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{is_fresh, render, step_up, summary, when};
use crate::auth::session::Session;
use crate::extract::{ExtractId, deliver, lifecycle, looks, review};
use crate::nouns::ExtractState;
use crate::nouns::Field;
use crate::policy::{Format, PurposeId, approval_reasons};
use crate::web::AppState;
use crate::web::api::extracts::{field_names, file_response};
use crate::web::api::extracts_wire::{extract_response, rfc3339};
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, text, text_with};
use crate::web::labels;
use crate::web::page::refusal;
use crate::web::page::{PageForm, PageSession, PageWatch, csrf_field};
use crate::web::render::not_found_page;
use crate::web::session::ClientAddr;
use crate::web::session::principal;

/// What a redirect's `?msg=` says: fixed sentences only, never text from the URL.
fn message(lang: Lang, key: &str) -> Option<String> {
    let key = match key {
        "pending" | "building" | "done" | "attested" | "approved" | "approval_recorded"
        | "denied" | "withdrawn" | "link_sent" => key,
        _ => return None,
    };
    Some(text(lang, &format!("extract.msg_{key}")))
}

/// The request's filters as sentences ("Hela distriktet" when there are none).
fn filter_lines(lang: Lang, filters: &Value) -> Vec<String> {
    let list = |key: &str| -> Option<String> {
        let items: Vec<&str> = filters[key]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        (!items.is_empty()).then(|| items.join(", "))
    };
    let line = |key: &str, args: &[(&str, String)]| text_with(lang, key, args);
    let mut out = Vec::new();
    if let Some(b) = list("local_branches") {
        out.push(line("extract.filter_branches", &[("list", b)]));
    }
    if let Some(s) = list("statuses") {
        out.push(line("extract.filter_statuses", &[("list", s)]));
    }
    let day = |key: &str| filters[key].as_str().map(str::to_owned);
    match (day("joined_from"), day("joined_to")) {
        (Some(from), Some(to)) => out.push(line(
            "extract.filter_joined_between",
            &[("from", from), ("to", to)],
        )),
        (Some(from), None) => out.push(line("extract.filter_joined_from", &[("from", from)])),
        (None, Some(to)) => out.push(line("extract.filter_joined_to", &[("to", to)])),
        (None, None) => {}
    }
    if let (Some(min), Some(max)) = (filters["age_min"].as_u64(), filters["age_max"].as_u64()) {
        out.push(line(
            "extract.filter_age",
            &[("min", min.to_string()), ("max", max.to_string())],
        ));
    }
    if out.is_empty() {
        out.push(text(lang, "extract.filter_none"));
    }
    out
}

/// Everything the extract page shows, for a user who may see the extract (C2).
async fn page_context(
    state: &AppState,
    session: &Session,
    id: &ExtractId,
) -> Result<minijinja::Value, ApiError> {
    let lang = frame::lang();
    let who = principal(state, session).await?;
    let row = looks::show(state, &who, id, OffsetDateTime::now_utc()).await?;
    let described = review::describe(state, row.clone()).await?;
    let verdicts: Vec<minijinja::Value> = described
        .verdicts
        .iter()
        .map(|v| {
            let d = &v.decision;
            let at = rfc3339(d.decided_at);
            context! {
                approver => v.approver, approve => d.verdict == "approve",
                comment => d.comment, at => when(lang, &at), at_rfc3339 => at,
            }
        })
        .collect();
    let decided_by_me = described
        .verdicts
        .iter()
        .any(|v| v.decision.approver_id == who.user_id());
    let meta = extract_response(&described);
    let policy = lifecycle::policy_now(state).await?;
    let formats = PurposeId::parse(&row.purpose)
        .ok()
        .and_then(|p| policy.purpose(&p).map(|p| p.formats.clone()))
        .unwrap_or_default();
    let mine = row.requester_id == who.user_id();
    let approver_here = !mine
        && crate::extract::review::approver_reach(state, &who)
            .await?
            .is_some_and(|r| r.covers(&row.district));
    let live = row.state == ExtractState::Live;
    let may_decide = approver_here && row.state == ExtractState::Pending && !decided_by_me;
    // The approver is told why the request needs them, and who else could decide it.
    let (why_approval, other_approvers) = if may_decide {
        let fields: Vec<Field> = meta.fields.iter().filter_map(|f| f.parse().ok()).collect();
        let rows = u64::try_from(row.estimated_rows).unwrap_or(0);
        let why = PurposeId::parse(&row.purpose)
            .ok()
            .and_then(|p| policy.purpose(&p).cloned())
            .map(|p| approval_reasons(&p, &fields, rows))
            .unwrap_or_default();
        let why: Vec<String> = why
            .iter()
            .map(|r| labels::approval_reason(lang, r))
            .collect();
        let others = review::other_approvers(state, &who, &row).await?;
        (why, others)
    } else {
        (Vec::new(), Vec::new())
    };
    let justification_required = may_decide
        && PurposeId::parse(&row.purpose)
            .is_ok_and(|p| lifecycle::justification_required(&policy, &p));
    // A call list is worked in Registervakt: never a file or a view.
    let call_list = meta.call_list;
    let downloads: Vec<&str> = formats
        .iter()
        .filter(|f| f.is_file() && !call_list)
        .map(|f| f.as_str())
        .collect();
    // A build waiting for the register says so to those it told (requester, approvers).
    let register_waiting = match row.state {
        ExtractState::Building => {
            crate::extract::snapshot::waiting_for_register(state, who.user_id(), id)
                .await?
                .map(|at| when(lang, &rfc3339(at)))
        }
        _ => None,
    };
    // What the page's script compares to see that something changed.
    let version = format!(
        "{}:{}:{}:{}:{}",
        row.state.as_str(),
        row.downloads,
        row.attested_at.is_some(),
        described.verdicts.len(),
        register_waiting.is_some()
    );
    let watch = mine && row.state.is_open();
    // A hand-over says where it stands; its requester may send the link again.
    let handover = match crate::extract::handover::status(state, &row).await? {
        Some(h) => {
            let at = |t: i64| when(lang, &rfc3339(t));
            let stand = if h.locked {
                text(lang, "extract.handover_locked")
            } else if let Some(collected) = h.collected_at {
                match (h.deletion_confirmed_at, h.delete_by) {
                    (Some(confirmed), _) => text_with(
                        lang,
                        "extract.handover_deleted",
                        &[("collected", at(collected)), ("confirmed", at(confirmed))],
                    ),
                    (None, by) => text_with(
                        lang,
                        "extract.handover_collected",
                        &[
                            ("collected", at(collected)),
                            ("by", by.map(at).unwrap_or_default()),
                        ],
                    ),
                }
            } else {
                text_with(
                    lang,
                    "extract.handover_offered",
                    &[("until", at(h.link_until))],
                )
            };
            let may_resend =
                mine && live && !h.locked && h.collected_at.is_none() && h.links_left > 0;
            Some(context! { stand, may_resend, links_left => h.links_left })
        }
        None => None,
    };
    Ok(context! {
        handover,
        e => summary(lang, &meta, &policy), csrf => session.csrf_token, fresh => is_fresh(state, session),
        mine, live, version, watch,
        // A hand-over goes to the processor only: the requester gets no buttons for it.
        downloads => if mine && live && meta.processor.is_none() { downloads } else { Vec::new() },
        can_view => mine && live && meta.processor.is_none() && formats.contains(&Format::View)
            && !call_list,
        call_list, calls_open => mine && call_list && row.live_at.is_some(),
        // Asked once the extract has ended: confirming while it is live would invite a
        // later download after the confirmation.
        may_attest => mine && !live && row.downloads > 0 && row.attested_at.is_none(),
        may_decide, why_approval, other_approvers, justification_required,
        may_withdraw => approver_here && live,
        decided_by_me, request_hash => row.request_hash, lifetime_minutes => row.lifetime_minutes,
        filters => filter_lines(lang, &meta.filters), verdicts, register_waiting,
    })
}

/// The extract page with a status, a message or an error; a hidden or unknown extract is
/// the 404 page.
pub(super) async fn extract_page(
    state: &AppState,
    session: &Session,
    id: &ExtractId,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> Response {
    match page_context(state, session, id).await {
        Ok(ctx) => render(
            state,
            status,
            "extract.html",
            context! { message, error, ..ctx },
        ),
        Err(ApiError::NotFound) => not_found_page(),
        Err(e) => refusal(state, e),
    }
}

/// The extract page asking the requester to confirm "I'm done": nothing is destroyed yet.
pub(super) async fn confirm_done_page(
    state: &AppState,
    session: &Session,
    id: &ExtractId,
) -> Response {
    match page_context(state, session, id).await {
        Ok(ctx) => render(
            state,
            StatusCode::OK,
            "extract.html",
            context! { confirm_done => true, ..ctx },
        ),
        Err(ApiError::NotFound) => not_found_page(),
        Err(e) => refusal(state, e),
    }
}

/// An action's error shown on the extract page, with its status; a hidden extract is the 404
/// page and a server error stays generic.
pub(super) async fn fail(
    state: &AppState,
    session: &Session,
    id: &ExtractId,
    error: ApiError,
) -> Response {
    let lang = frame::lang();
    let (status, code, shown) = error.page_parts(lang);
    if matches!(error, ApiError::NotFound) {
        return not_found_page();
    }
    if status.is_server_error() {
        return refusal(state, error);
    }
    if code == "phishing_resistant_required" {
        return crate::web::pages::passkeys::passkey_required(state, &format!("/extracts/{id}"));
    }
    // The page has a code field for this: say to fill it in.
    let shown = if code == "step_up_required" {
        text(lang, "error.step_up_form")
    } else {
        shown
    };
    extract_page(state, session, id, status, None, Some(shown)).await
}

#[derive(Debug, Deserialize)]
pub struct MessageQuery {
    #[serde(default)]
    msg: Option<String>,
}

/// One extract's metadata, countdown and the actions that apply. Needs a full session; only
/// its requester and the district's approvers (or admins) see it, anyone else gets the 404 page.
pub async fn show_extract_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
    query: Result<Query<MessageQuery>, QueryRejection>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let note = query
        .ok()
        .and_then(|Query(q)| q.msg)
        .and_then(|m| message(frame::lang(), &m));
    extract_page(&state, &session, &id, StatusCode::OK, note, None).await
}

/// The requester's own extract page again, asked by its script to see whether anything
/// changed (prepared, a download used, expired, destroyed). Not the user's activity: it does
/// not keep the session alive. Only the requester's page watches (an approver's look is
/// audited each time); anyone else gets the 404 page.
pub async fn watch_extract_page(
    State(state): State<AppState>,
    PageWatch(session): PageWatch,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let own = async {
        let who = principal(&state, &session).await?;
        Ok::<_, ApiError>(lifecycle::find_own(&state, &who, &id).await?)
    }
    .await;
    match own {
        Ok(_) => extract_page(&state, &session, &id, StatusCode::OK, None, None).await,
        Err(ApiError::NotFound) => not_found_page(),
        Err(e) => refusal(&state, e),
    }
}

#[derive(Deserialize)]
pub struct DownloadForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    code: Option<SecretString>,
}

/// The extract as a file, through the same delivery as the API, headed by the fields' names in
/// the page's language. Needs the requester, the form's CSRF token and a fresh second factor
/// (or the form's code); audited before the first byte, within the download limit.
pub async fn download_extract(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<DownloadForm>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let fresh = match step_up(&state, session.clone(), form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return fail(&state, &session, &id, e).await,
    };
    let result = async {
        let format = Format::parse(&form.format).ok_or_else(|| {
            let lang = frame::lang();
            ApiError::BadRequest("invalid_input", text(lang, "extract.bad_format"))
        })?;
        let who = principal(&state, &fresh.session).await?;
        let now = OffsetDateTime::now_utc();
        let names = field_names(frame::lang());
        let file = deliver::download_named(&state, &who, &id, format, &names, &client.ip, now);
        Ok::<_, ApiError>(file.await?)
    }
    .await;
    let res = match result {
        Ok(file) => file_response(file),
        Err(e) => fail(&state, &fresh.session, &id, e).await,
    };
    fresh.send(res)
}

#[derive(Deserialize)]
pub struct ViewForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    page: String,
    #[serde(default)]
    code: Option<SecretString>,
}

/// One page of rows in the browser, under a member-data warning; never cached. Needs the
/// requester, the form's CSRF token, a fresh second factor (or the form's code) and a purpose
/// that allows viewing; every page is audited.
pub async fn view_extract(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    PageForm(session, form): PageForm<ViewForm>,
) -> Response {
    let Ok(id) = ExtractId::parse(&id) else {
        return not_found_page();
    };
    let fresh = match step_up(&state, session.clone(), form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return fail(&state, &session, &id, e).await,
    };
    let result = async {
        let page = match form.page.trim() {
            "" => 0,
            p => p.parse::<u64>().map_err(|_| {
                let lang = frame::lang();
                ApiError::BadRequest("invalid_input", text(lang, "extract_view.bad_page"))
            })?,
        };
        let who = principal(&state, &fresh.session).await?;
        let now = OffsetDateTime::now_utc();
        let shown = deliver::view(&state, &who, &id, page, &client.ip, now).await?;
        let row = lifecycle::find_own(&state, &who, &id).await?;
        let policy = lifecycle::policy_now(&state).await?;
        Ok::<_, ApiError>((shown, row, policy))
    }
    .await;
    let res = match result {
        Ok((shown, row, policy)) => {
            let lang = frame::lang();
            let columns: Vec<_> = shown
                .columns
                .iter()
                .map(|c| context! { name => c, label => labels::field(lang, c) })
                .collect();
            let ctx = context! {
                // The frame shows its member-data warning on this page.
                member_data => true,
                id => id.as_str(), purpose => labels::purpose_name(lang, &policy, &row.purpose),
                state_label => labels::state(lang, row.state.as_str()), district => row.district,
                expires_at => row.expires_at.map(rfc3339), columns, rows => shown.rows,
                page => shown.page, pages => shown.pages, total_rows => shown.total_rows,
                first_row => shown.page * crate::extract::VIEW_PAGE_ROWS as u64 + 1,
                csrf => fresh.session.csrf_token,
            };
            let mut res = render(&state, StatusCode::OK, "extract_view.html", ctx);
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => fail(&state, &fresh.session, &id, e).await,
    };
    fresh.send(res)
}

csrf_field!(DownloadForm, ViewForm);
