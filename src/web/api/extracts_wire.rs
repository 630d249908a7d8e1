//! Wire types of `/api/v1/extracts`: what clients send and receive, kept apart from the domain
//! types in `extract`. Unknown JSON fields are refused (C3); nothing here holds member data
//! except [`ViewResponse`], which only the requester receives.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::extract::request::{self, Filters, Request};
use crate::extract::review::Described;
use crate::nouns::ExtractState;
use crate::nouns::{DistrictCode, Field};
use crate::policy::PurposeId;
use crate::store::extracts::ExtractRow;
use crate::web::error::ApiError;

/// Which members, beyond the district. Every list is ANDed; values within a list ORed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FiltersBody {
    #[serde(default)]
    #[schema(value_type = Vec<crate::web::api::wire_schema::FilterValue>, max_items = 100)]
    pub local_branches: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::web::api::wire_schema::FilterValue>, max_items = 100)]
    pub statuses: Vec<String>,
    /// `YYYY-MM-DD`, inclusive; not after `joined_to`.
    #[serde(default)]
    #[schema(format = Date)]
    pub joined_from: Option<String>,
    #[serde(default)]
    #[schema(format = Date)]
    pub joined_to: Option<String>,
    /// Years, 0–130; not over `age_max`.
    #[serde(default, deserialize_with = "crate::web::json::whole_number_or_null")]
    #[schema(maximum = 130)]
    pub age_min: Option<u64>,
    #[serde(default, deserialize_with = "crate::web::json::whole_number_or_null")]
    #[schema(maximum = 130)]
    pub age_max: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    #[schema(value_type = crate::web::api::wire_schema::PurposeId)]
    pub purpose: String,
    #[schema(value_type = crate::web::api::wire_schema::District)]
    pub district: String,
    #[serde(default)]
    pub filters: FiltersBody,
    /// The fields the request will ask for (recorded with the estimate).
    #[serde(default)]
    #[schema(value_type = Vec<crate::web::api::wire_schema::FieldName>)]
    pub fields: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EstimateResponse {
    /// Members the extract would hold.
    pub included: u64,
    /// Left out for protected identity (skyddade personuppgifter), always.
    pub excluded_protected: u64,
    /// Left out because they have not given a consent the purpose requires.
    pub excluded_no_consent: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExtractRequest {
    /// A purpose id from the catalogue.
    #[schema(value_type = crate::web::api::wire_schema::PurposeId)]
    pub purpose: String,
    #[schema(value_type = crate::web::api::wire_schema::District)]
    pub district: String,
    #[serde(default)]
    pub filters: FiltersBody,
    /// Field names, a subset of what the purpose allows; the file's columns, in this order.
    #[schema(value_type = Vec<crate::web::api::wire_schema::FieldName>)]
    pub fields: Vec<String>,
    /// At most the purpose's maximum; never shortened for you.
    #[serde(deserialize_with = "crate::web::json::whole_number")]
    pub lifetime_minutes: u32,
    /// Why you need the list (10–1000 characters).
    #[schema(value_type = crate::web::api::wire_schema::Justification)]
    pub justification: String,
    /// You accept the purpose's acknowledgement text.
    #[schema(value_type = crate::web::api::wire_schema::Acknowledged)]
    pub acknowledged: bool,
    /// Work the list in Registervakt as a call list (the purpose must allow `call_list`)
    /// instead of a file; a purpose that allows only a call list needs `true`.
    #[serde(default)]
    pub call_list: bool,
    /// Hand the list over to this registered processor (its id in the catalogue) instead of
    /// receiving it yourself; the purpose must list the processor.
    #[serde(default)]
    #[schema(value_type = Option<crate::web::api::wire_schema::PurposeId>)]
    pub processor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedResponse {
    /// 128-bit random id (32 hex characters).
    pub id: String,
    /// `pending` (waiting for approvers) or `building` (allowed; the snapshot is being made).
    pub state: &'static str,
    pub reason: String,
    /// What approvers approve: SHA-256 of the exact request.
    pub request_hash: String,
    pub approvers_needed: u8,
    pub estimated_rows: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictResponse {
    pub approver: String,
    /// `approve` or `deny`.
    pub verdict: String,
    pub comment: String,
    pub decided_at: String,
}

/// An extract's metadata: never its data.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractResponse {
    pub id: String,
    /// `pending`, `denied`, `lapsed`, `building`, `live`, `shredded` or `failed`.
    #[schema(value_type = String)]
    pub state: ExtractState,
    pub requester: String,
    pub purpose: String,
    pub district: String,
    pub fields: Vec<String>,
    #[schema(value_type = Object)]
    pub filters: serde_json::Value,
    pub justification: String,
    /// Worked in Registervakt as a call list: never a file.
    pub call_list: bool,
    /// The processor the list is handed over to (its catalogue id), if any.
    pub processor: Option<String>,
    /// For the list of a call list's members marked "do not call again", handed on to the
    /// purpose's recipient when the call list ended: that call list's id.
    pub from_call_list: Option<String>,
    pub lifetime_minutes: i64,
    pub request_hash: String,
    pub approvers_needed: i64,
    pub verdicts: Vec<VerdictResponse>,
    pub estimated_rows: i64,
    pub row_count: Option<i64>,
    pub downloads: i64,
    pub max_downloads: i64,
    pub created_at: String,
    pub pending_until: String,
    pub live_at: Option<String>,
    pub expires_at: Option<String>,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    pub attested_at: Option<String>,
    /// An earlier request of the same requester (for the approver's review).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requester_history: Vec<HistoryItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    pub id: String,
    pub purpose: String,
    pub district: String,
    #[schema(value_type = String)]
    pub state: ExtractState,
    pub created_at: String,
    pub row_count: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractList {
    pub extracts: Vec<ExtractResponse>,
}

/// An approval: of exactly the request you reviewed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The `request_hash` of the request you reviewed; another one is 409 `request_changed`.
    #[schema(value_type = crate::web::api::wire_schema::RequestHash)]
    pub request_hash: String,
    /// Why you approve. Required (409 `justification_required` without it) when the purpose
    /// sets `approver_justification`; optional otherwise. Kept with the decision and shown in
    /// the extract's story; the audit log holds only its length and SHA-256.
    #[serde(default)]
    #[schema(value_type = crate::web::api::wire_schema::ApprovalComment)]
    pub comment: String,
}

/// A denial: with the reason the requester is told.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// Accepted, whatever it holds, and not used: a denial binds to no version of the request
    /// (clients may send the approval's body).
    #[serde(default)]
    pub request_hash: Option<String>,
    #[schema(value_type = crate::web::api::wire_schema::DenialComment)]
    pub comment: String,
}

/// What an approval or a denial led to. (Not `DecisionResponse`: that is the policy's
/// answer, `web::api::policy`, and one schema name must name one thing.)
#[derive(Debug, Serialize, ToSchema)]
pub struct DecidedResponse {
    /// `pending` (more approvers needed), `building` (approved), or `denied`.
    pub state: &'static str,
    pub approvals: usize,
    pub approvers_needed: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadBody {
    /// `csv` or `xlsx`, as the purpose allows.
    #[schema(value_type = crate::web::api::wire_schema::FileFormat)]
    pub format: String,
    /// The file's header row: `ids` (the default) gives the stable field ids (`member_id`,
    /// `first_name`, …) for programs; `sv` or `en` gives each field's name in that language
    /// (`Medlemsnummer`, `Förnamn`, …), as the download on the extract's page does.
    #[serde(default)]
    #[schema(value_type = Option<crate::web::api::wire_schema::FileHeader>)]
    pub header: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewBody {
    /// 0-based page of 50 rows.
    #[serde(default, deserialize_with = "crate::web::json::whole_number")]
    pub page: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ViewResponse {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    pub page: u64,
    pub pages: u64,
    pub total_rows: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    /// Why (1–500 characters), kept in the audit log.
    #[schema(value_type = crate::web::api::wire_schema::FreezeReason)]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FreezeResponse {
    pub frozen: bool,
    pub reason: String,
    pub changed_at: Option<String>,
    /// Live extracts shredded by this action.
    pub shredded: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeResponse {
    pub id: String,
    pub kind: String,
    pub extract_id: Option<String>,
    pub message: String,
    pub created_at: String,
    pub read: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeList {
    pub notices: Vec<NoticeResponse>,
}

/// An earlier request, for the approver's review.
pub fn history_item(r: &ExtractRow) -> HistoryItem {
    HistoryItem {
        id: r.id.clone(),
        purpose: r.purpose.clone(),
        district: r.district.clone(),
        state: r.state,
        created_at: rfc3339(r.created_at),
        row_count: r.row_count,
    }
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn bad(message: String) -> ApiError {
    ApiError::BadRequest("invalid_input", message)
}

/// The filters, validated (dates, age band).
pub fn parse_filters(body: &FiltersBody) -> Result<Filters, ApiError> {
    let date = |d: &Option<String>| -> Result<_, ApiError> {
        d.as_deref()
            .map(request::parse_date)
            .transpose()
            .map_err(|e| bad(e.to_string()))
    };
    let age = match (body.age_min, body.age_max) {
        (None, None) => None,
        (min, max) => Some(
            request::age_band(min.unwrap_or(0), max.unwrap_or(130))
                .map_err(|e| bad(e.to_string()))?,
        ),
    };
    Ok(Filters {
        local_branches: body.local_branches.clone(),
        statuses: body.statuses.clone(),
        joined_from: date(&body.joined_from)?,
        joined_to: date(&body.joined_to)?,
        age,
    })
}

pub fn parse_purpose(s: &str) -> Result<PurposeId, ApiError> {
    PurposeId::parse(s).map_err(|_| {
        ApiError::BadRequest(
            "unknown_purpose",
            "Choose a purpose from the catalogue.".into(),
        )
    })
}

pub fn parse_district(s: &str) -> Result<DistrictCode, ApiError> {
    DistrictCode::parse(s).map_err(|e| bad(e.to_string()))
}

pub fn parse_fields(names: &[String]) -> Result<Vec<Field>, ApiError> {
    names
        .iter()
        .map(|f| f.parse::<Field>().map_err(|e| bad(e.to_string())))
        .collect()
}

/// The whole request, parsed.
pub fn parse_request(body: &CreateExtractRequest) -> Result<Request, ApiError> {
    Ok(Request {
        purpose: parse_purpose(&body.purpose)?,
        district: parse_district(&body.district)?,
        filters: parse_filters(&body.filters)?,
        fields: parse_fields(&body.fields)?,
        lifetime_minutes: body.lifetime_minutes,
        justification: request::check_justification(&body.justification)
            .map_err(|e| bad(e.to_string()))?,
        call_list: body.call_list,
        processor: body
            .processor
            .as_deref()
            .map(crate::policy::ProcessorId::parse)
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        // Only Registervakt makes a list from a call list, never a request.
        from_call_list: None,
    })
}

/// Metadata of a stored extract, with its verdicts; people by username.
pub fn extract_response(described: &Described) -> ExtractResponse {
    let row = &described.row;
    let stored: serde_json::Value = serde_json::from_str(&row.request).unwrap_or_default();
    let fields = stored["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ExtractResponse {
        id: row.id.clone(),
        state: row.state,
        requester: described.requester.clone(),
        purpose: row.purpose.clone(),
        district: row.district.clone(),
        fields,
        filters: stored["filters"].clone(),
        justification: stored["justification"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        call_list: stored["call_list"].as_bool().unwrap_or(false),
        processor: stored["processor"].as_str().map(str::to_owned),
        from_call_list: stored["from_call_list"].as_str().map(str::to_owned),
        lifetime_minutes: row.lifetime_minutes,
        request_hash: row.request_hash.clone(),
        approvers_needed: row.approvers_needed,
        verdicts: described
            .verdicts
            .iter()
            .map(|v| VerdictResponse {
                approver: v.approver.clone(),
                verdict: v.decision.verdict.clone(),
                comment: v.decision.comment.clone(),
                decided_at: rfc3339(v.decision.decided_at),
            })
            .collect(),
        estimated_rows: row.estimated_rows,
        row_count: row.row_count,
        downloads: row.downloads,
        max_downloads: row.max_downloads,
        created_at: rfc3339(row.created_at),
        pending_until: rfc3339(row.pending_until),
        live_at: row.live_at.map(rfc3339),
        expires_at: row.expires_at.map(rfc3339),
        ended_at: row.ended_at.map(rfc3339),
        end_reason: row.end_reason.clone(),
        attested_at: row.attested_at.map(rfc3339),
        requester_history: Vec::new(),
    }
}
