//! `/api/v1/audit/*`: the auditor's questions: who received member M (E6), what was in extract
//! E and what happened to it, and pseudonyms resolved or revealed on request.
//!
//! Each answer is itself an audit event; members are named there by pseudonym only.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::nouns::ExtractState;
use crate::oversight::{disclosures, pseudonyms};
use crate::web::AppState;
use crate::web::api::extracts_wire::rfc3339;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::params::ApiPath;
use crate::web::session::principal;
use crate::web::session::{SignedIn, StepUp};

/// One extract that held the member.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureResponse {
    pub extract_id: String,
    pub purpose: String,
    pub district: String,
    /// Username of the staff member who received it.
    pub requester: String,
    pub approved_by: Vec<String>,
    /// When the extract became available.
    pub released_at: Option<String>,
    /// Whether it was ever downloaded, and how often (a file holds every member of it).
    pub downloaded: bool,
    pub downloads: i64,
    /// Everyone who was shown this member in the browser (view, call list), first shown first.
    pub shown_to: Vec<ShownResponse>,
    /// `live` or `shredded`.
    #[schema(value_type = String)]
    pub state: ExtractState,
    pub shredded_at: Option<String>,
    /// `expired`, `download_limit`, `done`, `revoked` or `frozen`.
    pub shred_reason: Option<String>,
    /// When the requester confirmed downloaded copies deleted.
    pub attested_at: Option<String>,
    /// The processor the extract was handed over to, and under which agreement.
    pub handed_over_to: Option<HandedOver>,
}

/// A hand-over to a processor, as the disclosure register keeps it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandedOver {
    /// The processor's id in the catalogue.
    pub processor: String,
    /// Its name when the list was handed over.
    pub name: String,
    /// The data-processing agreement's reference.
    pub agreement_ref: String,
    /// The agreement's last day (YYYY-MM-DD).
    pub agreement_ends: String,
    pub downloaded_at: Option<String>,
    /// The processor's deadline for confirming deletion.
    pub delete_by: Option<String>,
    pub deletion_confirmed_at: Option<String>,
}

impl HandedOver {
    pub fn of(h: &crate::store::handovers::HandoverRow) -> HandedOver {
        HandedOver {
            processor: h.processor_id.clone(),
            name: h.processor_name.clone(),
            agreement_ref: h.agreement_ref.clone(),
            agreement_ends: h.agreement_ends.clone(),
            downloaded_at: h.downloaded_at.map(rfc3339),
            delete_by: h.delete_by.map(rfc3339),
            deletion_confirmed_at: h.deletion_confirmed_at.map(rfc3339),
        }
    }
}

/// A person who was shown the member on a screen.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShownResponse {
    /// Their username.
    pub username: String,
    /// When first.
    pub first_shown_at: String,
    /// On how many pages.
    pub times: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDisclosures {
    /// The member's pseudonym, as the audit log and the ledger name them.
    pub member_ref: String,
    pub disclosures: Vec<DisclosureResponse>,
}

/// Every released extract that held the member, with date, purpose, district, downloads and
/// shredding — exact after every payload is shredded. Needs `audit.view` (in the extracts'
/// districts, or party-wide for all).
#[utoipa::path(get, path = "/api/v1/audit/members/{member_id}/disclosures", tag = "audit",
    params(("member_id" = crate::web::api::wire_schema::MemberNumber, Path, description = "The member number in the register")),
    responses((status = 200, body = MemberDisclosures), (status = 403, description = "No `audit.view` in any district, nor party-wide (`not_permitted`)", body = ErrorBody),
              (status = 422, description = "Not a member number (`invalid_input`)", body = ErrorBody)))]
pub async fn member_disclosures(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(member_id): ApiPath<String>,
) -> Result<Json<MemberDisclosures>, ApiError> {
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let (member, found) = disclosures::who_received(&state, &who, &member_id, now).await?;
    let disclosures = found
        .into_iter()
        .map(|disclosure| {
            let d = &disclosure.described;
            let row = &d.row;
            let shredded = row.state == ExtractState::Shredded;
            DisclosureResponse {
                extract_id: row.id.clone(),
                purpose: row.purpose.clone(),
                district: row.district.clone(),
                requester: d.requester.clone(),
                approved_by: d
                    .verdicts
                    .iter()
                    .filter(|v| v.decision.verdict == "approve")
                    .map(|v| v.approver.clone())
                    .collect(),
                released_at: row.live_at.map(rfc3339),
                downloaded: row.downloads > 0,
                downloads: row.downloads,
                shown_to: disclosure
                    .shown
                    .iter()
                    .map(|s| ShownResponse {
                        username: s.to.clone(),
                        first_shown_at: rfc3339(s.first_at),
                        times: s.times,
                    })
                    .collect(),
                state: row.state,
                shredded_at: row.ended_at.filter(|_| shredded).map(rfc3339),
                shred_reason: row.end_reason.clone().filter(|_| shredded),
                attested_at: row.attested_at.map(rfc3339),
                handed_over_to: d.handover.as_ref().map(HandedOver::of),
            }
        })
        .collect();
    Ok(Json(MemberDisclosures {
        member_ref: member.to_string(),
        disclosures,
    }))
}

/// One audit entry of an extract's story.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoryEvent {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// The stable event code, e.g. `extract.download`.
    pub action: String,
    pub outcome: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractStory {
    pub extract: crate::web::api::extracts_wire::ExtractResponse,
    /// How many members the disclosure ledger records for it (kept after shredding).
    pub members: i64,
    /// How many of them were shown to someone in the browser.
    pub members_shown: i64,
    /// Request, verdicts, snapshot, downloads (time, address), receipt, attestation — in order.
    pub events: Vec<StoryEvent>,
}

/// What was in extract E and what happened to it: metadata, the ledger's member count and every
/// audit entry about it. Needs `audit.view` in its district or party-wide; else 404.
#[utoipa::path(get, path = "/api/v1/audit/extracts/{id}", tag = "audit",
    params(("id" = crate::web::api::wire_schema::ExtractId, Path)),
    responses((status = 200, body = ExtractStory),
              (status = 404, description = "No such extract in your audit scope, or no audit scope at all: the same answer (`not_found`, C2)", body = ErrorBody)))]
pub async fn extract_story(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ExtractStory>, ApiError> {
    let id = crate::extract::ExtractId::parse(&id)?;
    let who = principal(&state, &session).await?;
    let story = disclosures::story(&state, &who, &id, OffsetDateTime::now_utc()).await?;
    let events = story
        .events
        .into_iter()
        .map(|e| StoryEvent {
            seq: e.seq,
            at: rfc3339(e.occurred_at / 1000),
            actor: e.actor,
            action: e.action,
            outcome: e.outcome,
            details: serde_json::from_str(&e.details).unwrap_or_default(),
        })
        .collect();
    Ok(Json(ExtractStory {
        extract: crate::web::api::extracts_wire::extract_response(&story.described),
        members: story.members,
        members_shown: story.members_shown,
        events,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// The member number in the register.
    #[schema(value_type = crate::web::api::wire_schema::MemberNumber)]
    pub member_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealBody {
    /// 32 hexadecimal characters, as the audit log shows it.
    #[schema(value_type = crate::web::api::wire_schema::MemberRef)]
    pub member_ref: String,
    /// The district whose members are searched.
    #[schema(value_type = crate::web::api::wire_schema::District)]
    pub district: String,
    /// Why (10–500 characters); kept in the audit log.
    #[schema(value_type = crate::web::api::wire_schema::RevealReason)]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PseudonymResponse {
    pub member_ref: String,
    /// The member number; absent from `resolve`, and from `reveal` when no member of the
    /// district has this pseudonym.
    pub member_id: Option<String>,
}

/// The pseudonym the audit log and the ledger use for a member number, to search them.
/// Needs `pseudonym.resolve`; audited.
#[utoipa::path(post, path = "/api/v1/audit/pseudonyms/resolve", tag = "audit",
    request_body = ResolveBody,
    responses((status = 200, body = PseudonymResponse),
              (status = 403, description = "No `pseudonym.resolve` (`not_permitted`)", body = ErrorBody)))]
pub async fn resolve_pseudonym(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Json<PseudonymResponse>, ApiError> {
    let who = principal(&state, &session).await?;
    let member =
        pseudonyms::resolve(&state, &who, &body.member_id, OffsetDateTime::now_utc()).await?;
    Ok(Json(PseudonymResponse {
        member_ref: member.to_string(),
        member_id: None,
    }))
}

/// Which member of a district a pseudonym stands for (a DPO case), with a stated reason.
/// Needs `pseudonym.resolve` in the district and a fresh second factor; audited with the reason.
#[utoipa::path(post, path = "/api/v1/audit/pseudonyms/reveal", tag = "audit",
    request_body = RevealBody,
    responses((status = 200, body = PseudonymResponse),
              (status = 403, description = "No `pseudonym.resolve` in the district (`not_permitted`)", body = ErrorBody)))]
pub async fn reveal_pseudonym(
    State(state): State<AppState>,
    StepUp(session): StepUp,
    ApiJson(body): ApiJson<RevealBody>,
) -> Result<Json<PseudonymResponse>, ApiError> {
    let who = principal(&state, &session).await?;
    let now = OffsetDateTime::now_utc();
    let found = pseudonyms::reveal(
        &state,
        &who,
        &body.member_ref,
        &body.district,
        &body.reason,
        now,
    )
    .await?;
    Ok(Json(PseudonymResponse {
        member_ref: body.member_ref.trim().to_ascii_lowercase(),
        member_id: found,
    }))
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
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
            "/api/v1/audit/extracts/{id}",
            SignedIn,
            Records(&[A::AuditExtractStory]),
            get(extract_story),
        ),
        entry(
            M::GET,
            "/api/v1/audit/members/{member_id}/disclosures",
            SignedIn,
            Records(&[A::AuditMemberLookup]),
            get(member_disclosures),
        ),
        entry(
            M::POST,
            "/api/v1/audit/pseudonyms/resolve",
            SignedIn,
            Records(&[A::PseudonymResolved]),
            post(resolve_pseudonym),
        ),
        entry(
            M::POST,
            "/api/v1/audit/pseudonyms/reveal",
            SignedIn,
            Records(&[A::PseudonymRevealed]),
            post(reveal_pseudonym),
        ),
    ]
}
