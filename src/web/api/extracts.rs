//! `/api/v1/extracts`: estimate, request, approve or deny, download, view, "I'm done",
//! attest, revoke — and the incident switch and the user's notices.
//!
//! Each handler names the permission it needs; the decisions themselves are in `extract`. Data
//! leaves only through `download` and `view`, both POST with a fresh second factor (F2, B2); a
//! GET never returns member data, so a link scanner reveals nothing.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::session::Session;
use crate::extract::deliver::{self, Body as FileBody};
use crate::extract::format::FieldNames;
use crate::extract::lifecycle::{self, Verdict};
use crate::extract::looks;
use crate::extract::request::{self, Request};
use crate::extract::{ExtractId, expire, review};
use crate::policy::Format;
use crate::web::AppState;
use crate::web::api::extracts_wire::*;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::i18n::Lang;
use crate::web::json::ApiJson;
use crate::web::labels;
use crate::web::params::{ApiPath, ApiQuery};
use crate::web::session::principal;
use crate::web::session::{ClientAddr, SignedIn, StepUp};

/// How many members a request would hold: a count, never rows (audited). Needs
/// `extract.request` in the district.
#[utoipa::path(post, path = "/api/v1/extracts/estimate", tag = "extracts", request_body = EstimateRequest,
    responses((status = 200, body = EstimateResponse),
              (status = 403, description = "The policy refuses the request (its deny code, e.g. `not_permitted`, `field_not_allowed`)", body = ErrorBody),
              (status = 409, description = "The district, a local branch or a status is not the register's (`unknown_district`, `unknown_local_branch`, `unknown_status`)", body = ErrorBody),
              (status = 422, description = "A field is refused (`invalid_input`, `unknown_purpose`)", body = ErrorBody)))]
pub async fn estimate_extract(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiJson(body): ApiJson<EstimateRequest>,
) -> Result<Json<EstimateResponse>, ApiError> {
    let req = Request {
        purpose: parse_purpose(&body.purpose)?,
        district: parse_district(&body.district)?,
        filters: parse_filters(&body.filters)?,
        fields: parse_fields(&body.fields)?,
        lifetime_minutes: 0,
        justification: String::new(),
        call_list: false,
        processor: None,
        from_call_list: None,
    };
    let who = principal(&state, &session).await?;
    let est = request::estimate(&state, &who, &req, OffsetDateTime::now_utc()).await?;
    Ok(Json(EstimateResponse {
        included: est.counts.included,
        excluded_protected: est.counts.excluded_protected,
        excluded_no_consent: est.counts.excluded_no_consent,
    }))
}

/// Requests an extract. Needs `extract.request` in the district and a fresh second factor.
#[utoipa::path(post, path = "/api/v1/extracts", tag = "extracts", request_body = CreateExtractRequest,
    responses((status = 201, body = CreatedResponse,
               links(("show" = (operation_id = "show_extract", parameters(("id" = "$response.body#/id")))))),
              (status = 403, description = "The policy refuses the request (its deny code)", body = ErrorBody),
              (status = 422, description = "A field is refused (`invalid_input`, `unknown_purpose`, `acknowledgement_required`, `justification_length`, `text_refused`). A request naming no status gets the statuses that count as members (`register.statuses.members`)", body = ErrorBody),
              (status = 409, description = "The district, a local branch or a status is not the register's (`unknown_district`, `unknown_local_branch`, `unknown_status`), or no member matches (`no_matching_members`): nothing is requested", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody)))]
pub async fn create_extract(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(body): ApiJson<CreateExtractRequest>,
) -> Result<(StatusCode, Json<CreatedResponse>), ApiError> {
    let req = parse_request(&body)?;
    let who = principal(&state, &session).await?;
    let created = request::create(
        &state,
        &who,
        req,
        body.acknowledged,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedResponse {
            id: created.id.to_string(),
            state: created.state.as_str(),
            reason: created.reason,
            request_hash: created.request_hash,
            approvers_needed: created.approvers_needed,
            estimated_rows: created.estimated_rows,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `true`: the requests waiting for you as an approver.
    #[serde(default)]
    pub pending: bool,
    /// `true`: downloaded extracts whose copies are not confirmed deleted (approvers).
    #[serde(default)]
    pub overdue: bool,
}

/// Your extracts, newest first; with `pending=true` the requests you may decide (approvers),
/// each with the requester's recent history; with `overdue=true` unconfirmed deletions. The
/// two approver lists are audited as `extract.queue`.
#[utoipa::path(get, path = "/api/v1/extracts", tag = "extracts",
    params(("pending" = Option<bool>, Query), ("overdue" = Option<bool>, Query)),
    responses((status = 200, body = ExtractList)))]
pub async fn list_extracts_route(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ExtractList>, ApiError> {
    Ok(Json(list(&state, &session, q).await?))
}

/// The extracts a list shows: the session's own, or (`pending`, `overdue`) the approver's
/// queues, audited as `extract.queue`. The API and the pages both answer with it.
pub async fn list(
    state: &AppState,
    session: &Session,
    q: ListQuery,
) -> Result<ExtractList, ApiError> {
    let who = principal(state, session).await?;
    let now = OffsetDateTime::now_utc();
    let rows = if q.pending {
        looks::queue(state, &who, now).await?
    } else if q.overdue {
        looks::overdue(state, &who, now).await?
    } else {
        review::own(state, &who).await?
    };
    let mut extracts = Vec::with_capacity(rows.len());
    for row in rows {
        let history = if q.pending {
            review::history(state, &row).await?
        } else {
            Vec::new()
        };
        let mut item = extract_response(&review::describe(state, row).await?);
        item.requester_history = history.iter().map(history_item).collect();
        extracts.push(item);
    }
    Ok(ExtractList { extracts })
}

/// One extract's metadata (never its data). Its requester, or an approver or admin for its
/// district; anyone else is told it does not exist. A look by anyone but the requester is
/// audited as `extract.show`.
#[utoipa::path(get, path = "/api/v1/extracts/{id}", tag = "extracts",
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = ExtractResponse), (status = 404, description = "No such extract, or not one you may see: the same answer (`not_found`, C2)", body = ErrorBody)))]
pub async fn show_extract(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ExtractResponse>, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    let row = looks::show(&state, &who, &id, OffsetDateTime::now_utc()).await?;
    Ok(Json(extract_response(
        &review::describe(&state, row).await?,
    )))
}

async fn decide(
    state: &AppState,
    session: &crate::auth::session::Session,
    id: &str,
    verdict: Verdict,
    request_hash: Option<&str>,
    comment: &str,
) -> Result<Json<DecidedResponse>, ApiError> {
    let id = ExtractId::parse(id)?;
    let who = principal(state, session).await?;
    let decided = lifecycle::decide(
        state,
        &who,
        &id,
        verdict,
        request_hash,
        comment,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(DecidedResponse {
        state: decided.state.as_str(),
        approvals: decided.approvals,
        approvers_needed: decided.approvers_needed,
    }))
}

/// Approves the request whose hash you reviewed. Needs `extract.approve` in the district (not
/// your own request) and a fresh second factor.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/approve", tag = "extracts", request_body = ApproveBody,
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = DecidedResponse),
              (status = 403, description = "Not yours to decide: your own request (`self_approval`), or no approver role in its district; or the policy no longer allows it", body = ErrorBody),
              (status = 404, description = "No such extract, or not one you may see: the same answer (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Not the request you reviewed (`request_changed`), already decided by you (`already_decided`), approved and still building (`building`), or no `comment` where the purpose asks the approver to say why (`justification_required`)", body = ErrorBody),
              (status = 410, description = "No longer waiting for a decision: denied, lapsed, live, shredded or failed (`extract_gone`)", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody)))]
pub async fn approve_extract(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ApproveBody>,
) -> Result<Json<DecidedResponse>, ApiError> {
    let hash = Some(body.request_hash.as_str());
    decide(&state, &session, &id, Verdict::Approve, hash, &body.comment).await
}

/// Denies the request, with a comment. Needs `extract.approve` in the district and a fresh
/// second factor.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/deny", tag = "extracts", request_body = DenyBody,
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = DecidedResponse),
              (status = 403, description = "Not yours to decide: your own request (`self_approval`), or no approver role in its district", body = ErrorBody),
              (status = 404, description = "No such extract, or not one you may see: the same answer (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Already decided by you (`already_decided`), or approved and still building (`building`)", body = ErrorBody),
              (status = 410, description = "No longer waiting for a decision (`extract_gone`)", body = ErrorBody)))]
pub async fn deny_extract(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DenyBody>,
) -> Result<Json<DecidedResponse>, ApiError> {
    decide(&state, &session, &id, Verdict::Deny, None, &body.comment).await
}

/// The extract as a file. Only the requester, with a fresh second factor, within the download
/// limit; the release is audited before the first byte. The header row gives the field ids
/// unless `header` names a language (`sv`, `en`): then each field's name in it, as staff get
/// the file from the extract's page.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/download", tag = "extracts", request_body = DownloadBody,
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, description = "The file, as an attachment",
               content(("text/csv"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
              (status = 403, description = "Your roles no longer allow member lists in its district (the policy's deny code)", body = ErrorBody),
              (status = 404, description = "No such extract, or not one you may see: the same answer (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Not approved yet (`not_approved`) or still being built (`building`)", body = ErrorBody),
              (status = 410, description = "Ended: expired, shredded, denied, lapsed, failed, or the download limit reached (`extract_gone`)", body = ErrorBody),
              (status = 422, description = "The purpose does not allow this format (`format_not_allowed`), too many rows for XLSX (`too_many_rows_for_xlsx`), or a format or header that is not one of those named (`invalid_input`)", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody),
              (status = 500, description = "The stored extract failed its integrity check; not one byte was sent (`internal`)", body = ErrorBody),
              (status = 503, description = "The store, the audit log or the checkpoint sink cannot answer, or the clock reads earlier than the audit log (`unavailable`, `clock_behind`); nothing was released", body = ErrorBody)))]
pub async fn download_extract(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ClientAddr(client): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DownloadBody>,
) -> Result<Response, ApiError> {
    let id = ExtractId::parse(&id)?;
    let format = Format::parse(&body.format).ok_or_else(|| {
        ApiError::BadRequest("invalid_input", "The format is csv or xlsx.".into())
    })?;
    let names = file_header(body.header.as_deref())?;
    let who = principal(&state, &session).await?;
    let file = deliver::download_named(
        &state,
        &who,
        &id,
        format,
        &names,
        &client.ip,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(file_response(file))
}

/// The header row a download asks for: the field ids unless a language is named.
fn file_header(header: Option<&str>) -> Result<FieldNames, ApiError> {
    match header {
        None | Some("ids") => Ok(FieldNames::ids()),
        Some(code) => Lang::parse(code).map(field_names).ok_or_else(|| {
            ApiError::BadRequest("invalid_input", "The header is ids, sv or en.".into())
        }),
    }
}

/// Each field's name in `lang`, from the catalogue, for a file's header row.
pub fn field_names(lang: Lang) -> FieldNames {
    FieldNames::named(|field| labels::field(lang, field.as_str()))
}

/// The attachment response: a server-made name, never cached, never sniffed.
pub fn file_response(file: deliver::Download) -> Response {
    let body = match file.body {
        FileBody::Whole(mut bytes) => Body::from(std::mem::take(&mut *bytes)),
        FileBody::Stream(stream) => Body::from_stream(stream.map(|piece| {
            piece.map_err(|e| {
                tracing::error!(error = %e, "an extract stream broke off");
                std::io::Error::other("the extract could not be read")
            })
        })),
    };
    let disposition = format!("attachment; filename=\"{}\"", file.filename);
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// One page of the extract, for the browser view. Only the requester, with a fresh second
/// factor, when the purpose allows viewing; every page is audited.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/view", tag = "extracts", request_body = ViewBody,
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = ViewResponse),
              (status = 403, description = "Your roles no longer allow member lists in its district (the policy's deny code)", body = ErrorBody),
              (status = 404, description = "No such extract, or not one you may see: the same answer (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Not approved yet (`not_approved`) or still being built (`building`)", body = ErrorBody),
              (status = 410, description = "Ended: expired, shredded, denied, lapsed, failed, or the download limit reached (`extract_gone`)", body = ErrorBody),
              (status = 422, description = "The purpose does not allow viewing (`format_not_allowed`), or no such page (`invalid_input`)", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody),
              (status = 500, description = "The stored extract failed its integrity check; nothing was shown (`internal`)", body = ErrorBody),
              (status = 503, description = "The store, the audit log or the checkpoint sink cannot answer, or the clock reads earlier than the audit log (`unavailable`, `clock_behind`); nothing was released", body = ErrorBody)))]
pub async fn view_extract(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ClientAddr(client): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ViewBody>,
) -> Result<Json<ViewResponse>, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    let page = deliver::view(
        &state,
        &who,
        &id,
        body.page,
        &client.ip,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(ViewResponse {
        columns: page.columns,
        rows: page.rows,
        page: page.page,
        pages: page.pages,
        total_rows: page.total_rows,
    }))
}

/// "I'm done": the requester shreds their live extract now.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/done", tag = "extracts",
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 204, description = "Shredded"), (status = 404, description = "No such extract, or not one you may see: the same answer (`not_found`, C2)", body = ErrorBody), (status = 409, description = "Not approved yet (`not_approved`) or still being built (`building`)", body = ErrorBody),
              (status = 410, description = "Ended: expired, shredded, denied, lapsed, failed, or the download limit reached (`extract_gone`)", body = ErrorBody)))]
pub async fn finish_extract(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    expire::done(&state, &who, &id, OffsetDateTime::now_utc()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The requester sends the processor of a live hand-over a new link, because the first mail
/// was lost or its link ran out; the old link and any code already sent stop working. At most
/// `MAX_LINKS` link mails in all; audited.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/handover/resend", tag = "extracts",
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 204, description = "A new link was sent to the processor's contact"),
              (status = 403, description = "The processor's agreement has ended or the purpose no longer lists it (`agreement_ended`, `processor_not_allowed`)", body = ErrorBody),
              (status = 404, description = "No such extract, or not one you requested: the same answer (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Not a hand-over (`not_handed_over`), not approved yet (`not_approved`), still being built (`building`), e-mail not set up or failing (`mail_not_configured`, `mail_failed`), or frozen (`frozen`)", body = ErrorBody),
              (status = 410, description = "Ended, or already downloaded by the processor (`extract_gone`, `handover_already_downloaded`)", body = ErrorBody),
              (status = 423, description = "Locked after too many wrong codes (`handover_locked`)", body = ErrorBody),
              (status = 429, description = "The link has been sent as often as it may be (`handover_too_many_links`)", body = ErrorBody)))]
pub async fn resend_handover_link(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    crate::extract::handover::resend(&state, &who, &id, OffsetDateTime::now_utc()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The requester confirms that every downloaded copy is deleted.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/attest-deleted", tag = "extracts",
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 204, description = "Recorded"), (status = 404, description = "No such extract, or not one you may see: the same answer (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Still live (`still_live`), nothing was downloaded (`nothing_downloaded`), or already confirmed (`already_attested`)", body = ErrorBody)))]
pub async fn attest_extract_deleted(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    expire::attest_deleted(&state, &who, &id, OffsetDateTime::now_utc()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops a live extract now. Needs `extract.revoke` in the district and a fresh second factor.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/revoke", tag = "extracts",
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 204, description = "Shredded"),
              (status = 403, description = "No right to revoke in its district (the policy's deny code)", body = ErrorBody),
              (status = 404, description = "No such extract, or not one you may see: the same answer (`not_found`, C2)", body = ErrorBody), (status = 409, description = "Not approved yet (`not_approved`) or still being built (`building`)", body = ErrorBody),
              (status = 410, description = "Ended: expired, shredded, denied, lapsed, failed, or the download limit reached (`extract_gone`)", body = ErrorBody)))]
pub async fn revoke_extract(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    expire::revoke(&state, &who, &id, OffsetDateTime::now_utc()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether extracts are frozen.
#[utoipa::path(get, path = "/api/v1/freeze", tag = "extracts",
    responses((status = 200, body = FreezeResponse)))]
pub async fn show_freeze(
    State(state): State<AppState>,
    SignedIn(_session): SignedIn,
) -> Result<Json<FreezeResponse>, ApiError> {
    let row = state
        .store
        .find_freeze()
        .await
        .map_err(|e| ApiError::from(crate::extract::Error::from(e)))?;
    Ok(Json(FreezeResponse {
        frozen: row.as_ref().is_some_and(|r| r.frozen),
        reason: row.as_ref().map(|r| r.reason.clone()).unwrap_or_default(),
        changed_at: row.map(|r| rfc3339(r.changed_at)),
        shredded: 0,
    }))
}

async fn switch(
    state: &AppState,
    session: &crate::auth::session::Session,
    frozen: bool,
    reason: &str,
) -> Result<Json<FreezeResponse>, ApiError> {
    let who = principal(state, session).await?;
    let now = OffsetDateTime::now_utc();
    let shredded = expire::set_freeze(state, &who, frozen, reason, now).await?;
    Ok(Json(FreezeResponse {
        frozen,
        reason: reason.trim().to_owned(),
        changed_at: Some(rfc3339(now.unix_timestamp())),
        shredded,
    }))
}

/// The incident switch: no new extracts, and every live one shredded now. Needs
/// `extract.freeze` party-wide and a fresh second factor.
#[utoipa::path(post, path = "/api/v1/freeze", tag = "extracts", request_body = FreezeBody,
    responses((status = 200, body = FreezeResponse),
              (status = 403, description = "Only a party-wide holder of `extract.freeze` may (`not_permitted`)", body = ErrorBody)))]
pub async fn freeze_extracts(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(body): ApiJson<FreezeBody>,
) -> Result<Json<FreezeResponse>, ApiError> {
    switch(&state, &session, true, &body.reason).await
}

/// Lifts the incident switch. Needs `extract.freeze` party-wide and a fresh second factor.
#[utoipa::path(post, path = "/api/v1/freeze/lift", tag = "extracts", request_body = FreezeBody,
    responses((status = 200, body = FreezeResponse),
              (status = 403, description = "Only a party-wide holder of `extract.freeze` may (`not_permitted`)", body = ErrorBody)))]
pub async fn lift_freeze(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(body): ApiJson<FreezeBody>,
) -> Result<Json<FreezeResponse>, ApiError> {
    switch(&state, &session, false, &body.reason).await
}

/// Your notices, newest first (no member data in any of them).
#[utoipa::path(get, path = "/api/v1/notices", tag = "extracts",
    responses((status = 200, body = NoticeList)))]
pub async fn list_notices(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<NoticeList>, ApiError> {
    let rows = state
        .store
        .list_notices(&session.user_id, 100)
        .await
        .map_err(|e| ApiError::from(crate::extract::Error::from(e)))?;
    Ok(Json(NoticeList {
        notices: rows
            .into_iter()
            .map(|n| NoticeResponse {
                id: n.id,
                kind: n.kind,
                extract_id: n.extract_id,
                message: n.message,
                created_at: rfc3339(n.created_at),
                read: n.read_at.is_some(),
            })
            .collect(),
    }))
}

/// Marks one of your notices read.
#[utoipa::path(post, path = "/api/v1/notices/{id}/read", tag = "extracts",
    params(("id" = String, Path)),
    responses((status = 204, description = "Marked read"),
              (status = 404, description = "No such notice of yours (`not_found`)", body = ErrorBody)))]
pub async fn read_notice(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let marked = state
        .store
        .mark_notice_read(&session.user_id, &id, now)
        .await
        .map_err(|e| ApiError::from(crate::extract::Error::from(e)))?;
    if marked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::entry;
    use crate::web::route_audit as ra;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::POST,
            "/api/v1/extracts/estimate",
            SignedIn,
            Records(&[A::ExtractEstimated]),
            post(estimate_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts",
            SignedIn,
            ra::EXTRACT_REQUEST,
            post(create_extract),
        ),
        entry(
            M::GET,
            "/api/v1/extracts",
            SignedIn,
            Records(&[A::ExtractQueueShown]),
            get(list_extracts_route),
        ),
        entry(
            M::GET,
            "/api/v1/extracts/{id}",
            SignedIn,
            Records(&[A::ExtractShown]),
            get(show_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/approve",
            SignedIn,
            ra::EXTRACT_DECISION,
            post(approve_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/deny",
            SignedIn,
            ra::EXTRACT_DECISION,
            post(deny_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/download",
            SignedIn,
            Records(&[A::ExtractReleased, A::ExtractDamaged, A::ExtractShredded]),
            post(download_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/view",
            SignedIn,
            Records(&[A::ExtractViewed, A::ExtractDamaged]),
            post(view_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/done",
            SignedIn,
            Records(&[A::ExtractShredded]),
            post(finish_extract),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/handover/resend",
            SignedIn,
            Records(&[A::HandoverOffered, A::HandoverRefused]),
            post(resend_handover_link),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/attest-deleted",
            SignedIn,
            Records(&[A::ExtractAttested]),
            post(attest_extract_deleted),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/revoke",
            SignedIn,
            Records(&[A::ExtractShredded]),
            post(revoke_extract),
        ),
        entry(
            M::GET,
            "/api/v1/freeze",
            SignedIn,
            NotAudited("whether the incident switch is on: no people in it"),
            get(show_freeze),
        ),
        entry(
            M::POST,
            "/api/v1/freeze",
            SignedIn,
            Records(&[A::ExtractsFrozen, A::ExtractShredded]),
            post(freeze_extracts),
        ),
        entry(
            M::POST,
            "/api/v1/freeze/lift",
            SignedIn,
            Records(&[A::ExtractsUnfrozen]),
            post(lift_freeze),
        ),
        entry(
            M::GET,
            "/api/v1/notices",
            SignedIn,
            NotAudited("the caller's own notices"),
            get(list_notices),
        ),
        entry(
            M::POST,
            "/api/v1/notices/{id}/read",
            SignedIn,
            NotAudited("marks one of the caller's own notices read"),
            post(read_notice),
        ),
    ]
}
