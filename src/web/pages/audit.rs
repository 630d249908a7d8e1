//! The auditor's desk: `/audit` with its three questions — who received a member (and the
//! printable access-request report, GDPR Art. 15), which extract a leaked file comes from, and
//! a breach's scope (Art. 33) — plus `/audit/extracts/{id}`, an extract's whole story.
//!
//! Guarantees: every page needs a full session and answers only within the asker's audit scope
//! (the same `extract` functions as `/api/v1/audit/*`, so page and API cannot disagree); the
//! member number and the leaked file travel only in POST bodies, never in a URL; every form
//! carries the session's CSRF token, checked before the rest of the body is used; staff names
//! appear in the member report only when the DPO ticks the box, and that choice is audited.
//! People read words: an extract is named by purpose, district, date and short reference (its
//! id only in links), the story is sentences (`web::event_text`), times typed in the scope form
//! are the shown zone's, and no id, hash or pseudonym is in the pages' text.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::extract::ExtractId;
use crate::extract::review;
use crate::extract::{expire, lifecycle};
use crate::nouns::ExtractState;
use crate::nouns::Field;
use crate::oversight::breach::{self, Basis};
use crate::oversight::disclosures::{self, Disclosure};
use crate::oversight::export::rfc3339_ms;
use crate::oversight::trace;
use crate::policy::Policy;
use crate::web::AppState;
use crate::web::api::audit_trace::{ScopeQuery, basis};
use crate::web::api::extracts_wire::{extract_response, rfc3339};
use crate::web::error::ApiError;
use crate::web::event_text::{self, Entry, Known, tell};
use crate::web::frame;
use crate::web::i18n::{Lang, number, text, text_with};
use crate::web::labels;
use crate::web::page::{PageForm, PageSession, csrf_field, refusal};
use crate::web::pages::extract::{render, summary, when};
use crate::web::pages::oversight::{End, form_time, time_zone, when_exact};
use crate::web::session::check_csrf;
use crate::web::session::principal;
use crate::web::upload::read_leaked;

#[derive(Debug, Deserialize)]
pub struct DeskQuery {
    #[serde(default)]
    msg: Option<String>,
}

/// The incident switch as the desk shows it: whether it is on, why and since when, and
/// whether this user may turn it.
async fn freeze_context(
    state: &AppState,
    who: &crate::policy::Principal,
    session: &crate::auth::session::Session,
) -> Result<minijinja::Value, ApiError> {
    let lang = frame::lang();
    let may = expire::may_freeze(state, who).await?;
    let row = state
        .store
        .find_freeze()
        .await
        .map_err(|e| ApiError::from(crate::extract::Error::from(e)))?;
    let frozen = row.as_ref().is_some_and(|r| r.frozen);
    let since = row.as_ref().map(|r| when(lang, &rfc3339(r.changed_at)));
    let fresh = crate::web::pages::extract::is_fresh(state, session);
    Ok(context! {
        may_freeze => may, frozen, since, reason => row.map(|r| r.reason), fresh,
    })
}

/// The auditor's desk: the three forms, whose audit the asker may see, and the incident
/// switch for a party-wide security role.
pub async fn audit_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<Query<DeskQuery>, QueryRejection>,
) -> Response {
    let lang = frame::lang();
    let message = match query.ok().and_then(|Query(q)| q.msg).as_deref() {
        Some("frozen") => Some(text(lang, "freeze.msg_frozen")),
        Some("unfrozen") => Some(text(lang, "freeze.msg_unfrozen")),
        _ => None,
    };
    let result = async {
        let who = principal(&state, &session).await?;
        let scope = match review::audit_permit(&state, &who).await {
            Ok(permit) => match permit.reach().district_names() {
                None => Some(text(lang, "roles.everywhere")),
                Some(d) => Some(d.join(", ")),
            },
            Err(crate::extract::Error::Denied { .. }) => None,
            Err(e) => return Err(ApiError::from(e)),
        };
        let freeze = freeze_context(&state, &who, &session).await?;
        Ok(context! {
            auditor => scope.is_some(), scope, csrf => session.csrf_token.clone(), freeze, message,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    csrf: String,
    member_id: String,
    /// Present when the DPO chose to show staff names.
    #[serde(default)]
    staff_names: Option<String>,
}

fn disclosure_item(
    lang: Lang,
    policy: &Policy,
    disclosure: &Disclosure,
    with_names: bool,
) -> minijinja::Value {
    let d = &disclosure.described;
    let row = &d.row;
    let fields: Vec<String> = crate::extract::request::Request::from_json(&row.request)
        .map(|r| field_labels(lang, &r.fields))
        .unwrap_or_default();
    let approvers: Vec<&str> = d
        .verdicts
        .iter()
        .filter(|v| v.decision.verdict == "approve")
        .map(|v| v.approver.as_str())
        .collect();
    let shredded = row.state == ExtractState::Shredded;
    let at = |t: Option<i64>| t.map(rfc3339);
    let shown = |t: &Option<String>| t.as_deref().map(|t| when(lang, t));
    let (released_at, ended_at) = (at(row.live_at), at(row.ended_at.filter(|_| shredded)));
    context! {
        id => row.id, reference => labels::reference(&row.id),
        purpose => labels::purpose_name(lang, policy, &row.purpose),
        district => row.district, released => shown(&released_at), released_at, fields,
        downloads => row.downloads, state_label => labels::state(lang, row.state.as_str()),
        shredded => shown(&ended_at), shredded_at => ended_at,
        end_reason => row.end_reason.as_deref().filter(|_| shredded)
            .map(|r| event_text::end_reason(lang, r)),
        attested => shown(&at(row.attested_at)),
        shown_to => disclosure.shown.iter().map(|s| {
            let first = rfc3339(s.first_at);
            context! {
                name => with_names.then(|| s.to.clone()), times => s.times,
                first => when(lang, &first), first_at => first,
            }
        }).collect::<Vec<_>>(),
        reached => disclosure.reached_anyone(),
        requester => with_names.then(|| d.requester.clone()),
        approvers => with_names.then(|| approvers.join(", ")),
        // The internal view (staff named) says why each approver approved; the member's
        // version names no staff and quotes none of their words.
        justifications => if with_names { justifications(lang, d) } else { Vec::new() },
        handed_to => d.handover.as_ref().map(|h| crate::web::i18n::text_with(
            lang,
            "audit_member.handed_to_text",
            &[("processor", h.processor_name.clone()), ("agreement", h.agreement_ref.clone())],
        )),
    }
}

/// The printable report of every extract that held a member (GDPR Art. 15). Audited with
/// whether staff names are shown.
pub async fn member_report_page(
    State(state): State<AppState>,
    PageForm(session, form): PageForm<MemberForm>,
) -> Response {
    let lang = frame::lang();
    let result = async {
        let who = principal(&state, &session).await?;
        let with_names = form.staff_names.is_some();
        let now = OffsetDateTime::now_utc();
        let (_, found) =
            disclosures::member_report(&state, &who, &form.member_id, with_names, now).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let items: Vec<_> = found
            .iter()
            .map(|d| disclosure_item(lang, &policy, d, with_names))
            .collect();
        let made_at = rfc3339(now.unix_timestamp());
        Ok::<_, ApiError>(context! {
            // The frame shows its member-data warning on this page.
            member_data => true,
            member_id => form.member_id.trim(), items,
            with_names, made => when(lang, &made_at), made_at,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit_member.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// The trace form's upload that cannot be read (a page-only code: the API takes a raw body).
fn unreadable_upload() -> ApiError {
    ApiError::BadRequest(
        "invalid_upload",
        "The upload could not be read; choose the file again.".into(),
    )
}

/// The leaked file (read as it streams in; `None` when none was chosen) and the form's CSRF
/// token, from a multipart upload. A body over the cap sent without a length is the 413 page,
/// like one that declared its length.
async fn read_upload(
    state: &AppState,
    mut multipart: Multipart,
) -> Result<(String, Option<trace::ReadFile>), ApiError> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::BodyTooLarge(trace::MAX_TRACE_BYTES)
        } else {
            unreadable_upload()
        }
    };
    let mut csrf = String::new();
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(unreadable)?,
            Some("file") => {
                file = read_leaked(state.pseudonyms.clone(), field, unreadable).await?;
            }
            _ => {}
        }
    }
    Ok((csrf, file))
}

/// Upload a leaked file: the extracts it may come from, best first, with the evidence.
pub async fn trace_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let lang = frame::lang();
    let result = async {
        let multipart = multipart.map_err(|_| unreadable_upload())?;
        let (csrf, file) = read_upload(&state, multipart).await?;
        check_csrf(&session, &csrf)?;
        let Some(file) = file else {
            return Err(ApiError::BadRequest(
                "invalid_input",
                text(lang, "audit_trace.no_file"),
            ));
        };
        let who = principal(&state, &session).await?;
        let traced = trace::trace(&state, &who, file, OffsetDateTime::now_utc()).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let candidates: Vec<_> = traced
            .candidates
            .iter()
            .map(|c| {
                context! {
                    extract => summary(lang, &extract_response(&c.described), &policy),
                    coverage => percent(lang, c.coverage),
                    order => percent(lang, c.order),
                    evidence => evidence(lang, c, traced.rows, &traced.columns),
                }
            })
            .collect();
        Ok::<_, ApiError>(context! {
            member_data => true,
            // The file's checksum is for the log and the API; the page names it only in a
            // tooltip.
            sha256 => traced.file_sha256, rows => traced.rows,
            columns => field_labels(lang, &traced.columns),
            by_member => traced.key == trace::KeyKind::MemberId,
            confidence => traced.confidence.as_str(),
            sharing => traced.extracts_sharing_rows, candidates,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit_trace.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// A breach's scope from an extract id, or an account and a time window (the query names no
/// member: extract ids and usernames only).
pub async fn scope_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<Query<ScopeQuery>, QueryRejection>,
) -> Response {
    let lang = frame::lang();
    let result = async {
        // The form's own sentence: the API's names query parameters the page does not show.
        let unclear = || ApiError::BadRequest("invalid_input", text(lang, "audit_scope.bad_basis"));
        let Query(query) = query.map_err(|_| unclear())?;
        // The form's times are the shown zone's wall clock; the API's stay RFC 3339 or UTC.
        let zone = time_zone(&state);
        let local = |t: &Option<String>, end| t.as_deref().map(|t| form_time(t, end, &zone));
        let query = ScopeQuery {
            from: local(&query.from, End::Start),
            to: local(&query.to, End::Inclusive),
            ..query
        };
        let basis: Basis = basis(&query).map_err(|_| unclear())?;
        let heading = basis_words(lang, &basis);
        let who = principal(&state, &session).await?;
        let scope = breach::scope(&state, &who, basis, OffsetDateTime::now_utc()).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let categories: Vec<_> = scope
            .categories
            .iter()
            .map(|(c, fields)| {
                let name = labels::category(lang, c.as_str());
                context! { name, fields => field_labels(lang, fields) }
            })
            .collect();
        let extracts: Vec<_> = scope
            .extracts
            .iter()
            .map(|h| {
                context! {
                    extract => summary(lang, &extract_response(&h.described), &policy),
                    members => h.members,
                }
            })
            .collect();
        let releases: Vec<_> = scope
            .releases
            .iter()
            .map(|r| {
                let at = rfc3339(r.at);
                context! {
                    at => when(lang, &at), at_rfc3339 => at,
                    format => event_text::format_name(lang, &r.format),
                    username => r.username, address => r.address, extract_id => r.extract_id,
                    reference => labels::reference(&r.extract_id),
                }
            })
            .collect();
        let freeze = freeze_context(&state, &who, &session).await?;
        Ok::<_, ApiError>(context! {
            basis => heading, members => scope.members, categories, extracts, releases,
            still_live => scope.still_live, freeze, csrf => session.csrf_token.clone(),
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit_scope.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// An extract's whole story: request, verdicts, snapshot, every download with time and
/// address, the deletion receipt and the attestation — each a sentence with its time to the
/// second.
pub async fn story_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
) -> Response {
    let lang = frame::lang();
    let result = async {
        let id = ExtractId::parse(&id)?;
        let who = principal(&state, &session).await?;
        let story = disclosures::story(&state, &who, &id, OffsetDateTime::now_utc()).await?;
        let policy = lifecycle::policy_now(&state).await?;
        let list: Vec<Entry> = story.events.iter().map(Entry::from_row).collect();
        let known = Known::gather(&state, &list).await?;
        let events: Vec<_> = story
            .events
            .iter()
            .zip(&list)
            .map(|(row, entry)| {
                // Every entry is about this extract: no link to it.
                let told = tell(lang, &known, entry);
                let at = rfc3339_ms(row.occurred_at);
                context! {
                    seq => row.seq, at => when_exact(lang, &at), at_rfc3339 => at,
                    sentence => told.sentence, outcome => told.outcome, refused => told.refused,
                }
            })
            .collect();
        let ended_because = story.described.row.end_reason.as_deref();
        let decisions = decision_lines(lang, &story.described);
        Ok::<_, ApiError>(context! {
            decisions,
            extract => summary(lang, &extract_response(&story.described), &policy),
            ended_because => ended_because.map(|r| event_text::end_reason(lang, r)),
            members => story.members, members_shown => story.members_shown, events,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "audit_story.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// "Name: “why”" for each approval with a justification.
fn justifications(lang: Lang, d: &crate::extract::review::Described) -> Vec<String> {
    d.verdicts
        .iter()
        .filter(|v| v.decision.verdict == "approve" && !v.decision.comment.is_empty())
        .map(|v| {
            text_with(
                lang,
                "audit_member.justification",
                &[
                    ("who", v.approver.clone()),
                    ("text", v.decision.comment.clone()),
                ],
            )
        })
        .collect()
}

/// Each approver's verdict as a sentence, with their words (an approval's justification, a
/// denial's reason) for the auditor.
fn decision_lines(lang: Lang, d: &crate::extract::review::Described) -> Vec<minijinja::Value> {
    d.verdicts
        .iter()
        .map(|v| {
            let key = if v.decision.verdict == "approve" {
                "audit_story.approved"
            } else {
                "audit_story.denied"
            };
            let at = rfc3339(v.decision.decided_at);
            let sentence = text_with(
                lang,
                key,
                &[("who", v.approver.clone()), ("when", when(lang, &at))],
            );
            context! { sentence, comment => v.decision.comment }
        })
        .collect()
}

/// Field names as the page shows them.
fn field_labels(lang: Lang, fields: &[Field]) -> Vec<String> {
    fields
        .iter()
        .map(|f| labels::field(lang, f.as_str()))
        .collect()
}

/// A share (0–1) as a whole percentage, written as the language writes it.
fn percent(lang: Lang, share: f64) -> String {
    // A share is within 0–1 (and `as` saturates), so the cast loses nothing.
    let n = (share * 100.0).round() as i64;
    text_with(lang, "audit_trace.percent", &[("n", number(lang, n))])
}

/// What the breach scope starts from, in words for the report's heading.
fn basis_words(lang: Lang, basis: &Basis) -> String {
    match basis {
        Basis::Extract(id) => text_with(
            lang,
            "audit_scope.basis_extract",
            &[("id", labels::reference(&id.to_string()))],
        ),
        Basis::Account { username, from, to } => text_with(
            lang,
            "audit_scope.basis_account",
            &[
                ("user", username.clone()),
                ("from", crate::web::i18n::datetime(lang, *from)),
                ("to", crate::web::i18n::datetime(lang, *to)),
            ],
        ),
        Basis::File(_) => text(lang, "audit_scope.basis_file"),
    }
}

/// Why a candidate extract fits the leaked file, in sentences an auditor can put in a report
/// (the trace's own evidence, told in the page's language).
fn evidence(lang: Lang, c: &trace::Candidate, rows: usize, columns: &[Field]) -> Vec<String> {
    let n = |v: usize| number(lang, i64::try_from(v).unwrap_or(i64::MAX));
    let fields = crate::extract::request::Request::from_json(&c.described.row.request)
        .map(|r| field_labels(lang, &r.fields).join(", "))
        .unwrap_or_default();
    let mut out = vec![
        text_with(
            lang,
            "audit_trace.evidence_matched",
            &[
                ("matched", n(c.matched)),
                ("rows", n(rows)),
                ("percent", percent(lang, c.coverage)),
            ],
        ),
        text_with(
            lang,
            "audit_trace.evidence_order",
            &[
                ("in_order", n(c.in_order)),
                ("matched", n(c.matched)),
                ("chance", n(trace::chance_in_order(c.matched))),
            ],
        ),
    ];
    let missing = c.extract_rows - i64::try_from(c.matched).unwrap_or(i64::MAX);
    if missing > 0 {
        out.push(text_with(
            lang,
            "audit_trace.evidence_missing",
            &[
                ("held", number(lang, c.extract_rows)),
                ("missing", number(lang, missing)),
            ],
        ));
    }
    if c.same_columns {
        out.push(text_with(
            lang,
            "audit_trace.evidence_same_columns",
            &[("fields", fields)],
        ));
    } else {
        let columns = field_labels(lang, columns).join(", ");
        out.push(text_with(
            lang,
            "audit_trace.evidence_other_columns",
            &[("columns", columns), ("fields", fields)],
        ));
    }
    out
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::{entry, upload_entry};
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/audit",
            SignedIn,
            NotAudited("the asker's own audit scope and three empty forms"),
            get(audit_page),
        ),
        entry(
            M::POST,
            "/audit/members",
            SignedIn,
            Records(&[A::AuditMemberReport]),
            post(member_report_page),
        ),
        upload_entry("/audit/trace", Records(&[A::AuditTrace]), post(trace_page)),
        entry(
            M::GET,
            "/audit/scope",
            SignedIn,
            Records(&[A::AuditBreachScope]),
            get(scope_page),
        ),
        entry(
            M::GET,
            "/audit/extracts/{id}",
            SignedIn,
            Records(&[A::AuditExtractStory]),
            get(story_page),
        ),
    ]
}

csrf_field!(MemberForm);
