//! `/api/v1/calls` and `/api/v1/extracts/{id}/calls/*`: call lists worked in Registervakt.
//! The requester gives members to callers and follows the progress (counts only); a caller
//! gets the next few members assigned to them and records an outcome per member.
//!
//! Every step is in `extract::calls`, which checks and audits it; these handlers parse and
//! shape. A member is named by its place in the list (`position`, from 0), never by number.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::extract::{ExtractId, calls};
use crate::nouns::Username;
use crate::web::AppState;
use crate::web::api::extracts_wire::rfc3339;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::params::ApiPath;
use crate::web::session::{ClientAddr, SignedIn, principal};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The caller's username: staff who may request member lists in the list's district.
    #[schema(value_type = crate::web::api::wire_schema::Username)]
    pub caller: String,
    /// Places in the list (from 0); those already called stay with whoever called them.
    #[serde(deserialize_with = "crate::web::json::whole_numbers")]
    pub positions: Vec<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    /// Usernames of the callers to share every member not yet given out among, in turn.
    #[schema(value_type = Vec<crate::web::api::wire_schema::Username>)]
    pub callers: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignBody {
    /// The caller whose members not yet called move.
    #[schema(value_type = crate::web::api::wire_schema::Username)]
    pub from: String,
    /// The caller they move to.
    #[schema(value_type = crate::web::api::wire_schema::Username)]
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignedResponse {
    /// How many members were given out or moved.
    pub members: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallerProgressResponse {
    /// The caller's name.
    pub name: String,
    pub assigned: i64,
    /// Not called yet, or to call back.
    pub left: i64,
    /// Members per outcome code; `not_called` for those not called yet.
    pub outcomes: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressResponse {
    /// `live`, or `shredded` once the list has ended (the counts remain).
    pub state: String,
    /// The outcomes the purpose offers, in order.
    pub outcomes: Vec<String>,
    pub callers: Vec<CallerProgressResponse>,
    /// Members not given to anyone yet.
    pub unassigned: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyListResponse {
    pub extract_id: String,
    pub purpose: String,
    pub district: String,
    pub expires_at: Option<String>,
    pub assigned: i64,
    pub left: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyListsResponse {
    pub lists: Vec<MyListResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToCallResponse {
    /// The member's place in the list: send it back with the outcome.
    pub position: i64,
    /// The approved fields' values, in `columns` order.
    pub values: Vec<Option<String>>,
    /// The outcome recorded before (`call_back`), if any, and the note with it.
    pub outcome: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallBatchResponse {
    pub columns: Vec<String>,
    pub outcomes: Vec<String>,
    /// At most five members: those not called yet first, then those to call back.
    pub members: Vec<ToCallResponse>,
    pub assigned: i64,
    pub left: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    /// The member's place in the list, as `next` gave it.
    #[serde(deserialize_with = "crate::web::json::whole_number")]
    pub position: u64,
    /// One of the purpose's outcomes.
    #[schema(value_type = crate::web::api::wire_schema::CallOutcome)]
    pub outcome: String,
    /// A short note (one line, at most 200 characters), destroyed with the list.
    #[serde(default)]
    #[schema(value_type = crate::web::api::wire_schema::CallNote)]
    pub note: String,
}

fn username(s: &str) -> Result<Username, ApiError> {
    Username::parse(s).map_err(|e| ApiError::BadRequest("invalid_input", e.to_string()))
}

/// Give members of a call list to a caller. Only the requester.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/calls/assignments", tag = "calls", request_body = AssignBody,
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = AssignedResponse),
              (status = 404, description = "No such extract of yours (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Not approved yet (`not_approved`), still being built (`building`), a place outside the list (`member_not_in_list`), a caller outside the district (`caller_not_in_district`) or not a call list (`not_a_call_list`)", body = ErrorBody),
              (status = 410, description = "The list has ended (`extract_gone`)", body = ErrorBody),
              (status = 422, description = "A bad username or place (`invalid_input`)", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody),
              (status = 503, description = "The store or the audit log cannot answer (`unavailable`, `clock_behind`)", body = ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<AssignedResponse>, ApiError> {
    let id = ExtractId::parse(&id)?;
    let caller = username(&body.caller)?;
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    // A place past i64 is past any list: it is refused as outside the list.
    let positions: Vec<i64> = body
        .positions
        .iter()
        .map(|p| i64::try_from(*p).unwrap_or(i64::MAX))
        .collect();
    let members = calls::assign(&state, &who, &id, &caller, &positions, now).await?;
    Ok(Json(AssignedResponse { members }))
}

/// Share every member not yet given out among callers, in turn. Only the requester.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/calls/share", tag = "calls", request_body = ShareBody,
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = AssignedResponse),
              (status = 404, description = "No such extract of yours (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Not approved yet (`not_approved`), still being built (`building`), a caller outside the district or none (`caller_not_in_district`) or not a call list (`not_a_call_list`)", body = ErrorBody),
              (status = 410, description = "The list has ended (`extract_gone`)", body = ErrorBody),
              (status = 422, description = "A bad username (`invalid_input`)", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody),
              (status = 503, description = "The store or the audit log cannot answer (`unavailable`, `clock_behind`)", body = ErrorBody)))]
pub async fn share(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ShareBody>,
) -> Result<Json<AssignedResponse>, ApiError> {
    let id = ExtractId::parse(&id)?;
    let callers = body
        .callers
        .iter()
        .map(|c| username(c))
        .collect::<Result<Vec<_>, _>>()?;
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let members = calls::share(&state, &who, &id, &callers, now).await?;
    Ok(Json(AssignedResponse { members }))
}

/// Move a caller's members not yet called to another caller. Only the requester.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/calls/reassign", tag = "calls", request_body = ReassignBody,
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = AssignedResponse),
              (status = 404, description = "No such extract of yours (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Not approved yet (`not_approved`), still being built (`building`), the new caller outside the district or no such person (`caller_not_in_district`) or not a call list (`not_a_call_list`)", body = ErrorBody),
              (status = 410, description = "The list has ended (`extract_gone`)", body = ErrorBody),
              (status = 422, description = "A bad username (`invalid_input`)", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody),
              (status = 503, description = "The store or the audit log cannot answer (`unavailable`, `clock_behind`)", body = ErrorBody)))]
pub async fn reassign(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReassignBody>,
) -> Result<Json<AssignedResponse>, ApiError> {
    let id = ExtractId::parse(&id)?;
    let (from, to) = (username(&body.from)?, username(&body.to)?);
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let members = calls::reassign(&state, &who, &id, &from, &to, now).await?;
    Ok(Json(AssignedResponse { members }))
}

/// A call list's progress: members per caller and outcome, never member data; the counts stay
/// after the list has ended. Only the requester.
#[utoipa::path(get, path = "/api/v1/extracts/{id}/calls/progress", tag = "calls",
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = ProgressResponse),
              (status = 404, description = "No such extract of yours (`not_found`, C2)", body = ErrorBody),
              (status = 409, description = "Not a call list (`not_a_call_list`)", body = ErrorBody),
              (status = 503, description = "The store cannot answer (`unavailable`)", body = ErrorBody)))]
pub async fn progress(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProgressResponse>, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    let p = calls::progress(&state, &who, &id).await?;
    let callers = p
        .callers
        .iter()
        .map(|c| CallerProgressResponse {
            name: c.name.clone(),
            assigned: c.assigned(),
            left: c.left(),
            outcomes: c
                .counts
                .iter()
                .map(|(o, n)| (o.map_or("not_called", |o| o.as_str()).to_owned(), *n))
                .collect(),
        })
        .collect();
    Ok(Json(ProgressResponse {
        state: p.row.state.as_str().to_owned(),
        outcomes: p.outcomes.iter().map(|o| o.as_str().to_owned()).collect(),
        callers,
        unassigned: p.unassigned,
    }))
}

/// The call lists you have members on, with how many are left to call.
#[utoipa::path(get, path = "/api/v1/calls", tag = "calls",
    responses((status = 200, body = MyListsResponse),
              (status = 503, description = "The store cannot answer (`unavailable`)", body = ErrorBody)))]
pub async fn my_lists(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<MyListsResponse>, ApiError> {
    let who = principal(&state, &session).await?;
    let lists = calls::my_lists(&state, &who)
        .await?
        .into_iter()
        .map(|l| MyListResponse {
            extract_id: l.row.id.clone(),
            purpose: l.row.purpose.clone(),
            district: l.row.district.clone(),
            expires_at: l.row.expires_at.map(rfc3339),
            assigned: l.assigned,
            left: l.left,
        })
        .collect();
    Ok(Json(MyListsResponse { lists }))
}

/// The next members for you to call on a list: at most five, only the approved fields. Each
/// one shown is recorded in the ledger as shown to you.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/calls/next", tag = "calls",
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = CallBatchResponse),
              (status = 403, description = "Your roles no longer allow member lists in its district (the policy's deny code)", body = ErrorBody),
              (status = 404, description = "No such list with members given to you (`not_found`, C2)", body = ErrorBody),
              (status = 410, description = "The list has ended (`extract_gone`)", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody),
              (status = 500, description = "The stored extract failed its integrity check; nothing was shown (`internal`)", body = ErrorBody),
              (status = 503, description = "The store, the audit log or the checkpoint sink cannot answer (`unavailable`, `clock_behind`)", body = ErrorBody)))]
pub async fn next(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ClientAddr(client): ClientAddr,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CallBatchResponse>, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    let page = calls::next(&state, &who, &id, &client.ip, OffsetDateTime::now_utc()).await?;
    Ok(Json(CallBatchResponse {
        columns: page.columns,
        outcomes: page
            .outcomes
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect(),
        members: page
            .members
            .into_iter()
            .map(|m| ToCallResponse {
                position: m.position,
                values: m.values,
                outcome: m.outcome.map(|o| o.as_str().to_owned()),
                note: m.note,
            })
            .collect(),
        assigned: page.assigned,
        left: page.left,
    }))
}

/// Record the outcome of a call to a member given to you, with an optional short note.
#[utoipa::path(post, path = "/api/v1/extracts/{id}/calls/outcomes", tag = "calls", request_body = OutcomeBody,
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 204, description = "Recorded"),
              (status = 403, description = "Your roles no longer allow member lists in its district (the policy's deny code)", body = ErrorBody),
              (status = 404, description = "No such list with members given to you (`not_found`, C2)", body = ErrorBody),
              (status = 410, description = "The list has ended (`extract_gone`)", body = ErrorBody),
              (status = 409, description = "An outcome the purpose does not offer (`outcome_not_allowed`) or a member not given to you (`member_not_in_list`)", body = ErrorBody),
              (status = 422, description = "A refused note (`note_refused`) or a bad place (`invalid_input`)", body = ErrorBody),
              (status = 423, description = "Extracts are frozen (`extracts_frozen`)", body = ErrorBody),
              (status = 503, description = "The store, the audit log or the checkpoint sink cannot answer (`unavailable`, `clock_behind`)", body = ErrorBody)))]
pub async fn record_outcome(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<OutcomeBody>,
) -> Result<axum::http::StatusCode, ApiError> {
    let id = ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let position = i64::try_from(body.position).unwrap_or(i64::MAX);
    calls::record(&state, &who, &id, position, &body.outcome, &body.note, now).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// This area's routes: who may call each one and what it records in the audit log.
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
            "/api/v1/calls",
            SignedIn,
            NotAudited("the caller's own lists: names of purposes and counts, no member data"),
            get(my_lists),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/calls/assignments",
            SignedIn,
            Records(&[A::CallsAssigned]),
            post(assign),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/calls/share",
            SignedIn,
            Records(&[A::CallsAssigned]),
            post(share),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/calls/reassign",
            SignedIn,
            Records(&[A::CallsAssigned]),
            post(reassign),
        ),
        entry(
            M::GET,
            "/api/v1/extracts/{id}/calls/progress",
            SignedIn,
            NotAudited("counts per caller and outcome for the requester: no member data"),
            get(progress),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/calls/next",
            SignedIn,
            Records(&[A::CallsShown, A::ExtractDamaged]),
            post(next),
        ),
        entry(
            M::POST,
            "/api/v1/extracts/{id}/calls/outcomes",
            SignedIn,
            Records(&[A::CallOutcomeRecorded]),
            post(record_outcome),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_whole_numbers_however_json_writes_them() {
        let body: AssignBody = serde_json::from_str(
            r#"{"caller": "anna", "positions": [2251799813685247.0, 890679937774, 3]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            body.positions,
            vec![2_251_799_813_685_247, 890_679_937_774, 3]
        );
        let body: OutcomeBody =
            serde_json::from_str(r#"{"outcome": "", "position": 629.0, "note": "y"}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body.position, 629);
        assert!(
            serde_json::from_str::<AssignBody>(r#"{"caller": "a", "positions": [-1]}"#).is_err()
        );
    }
}
