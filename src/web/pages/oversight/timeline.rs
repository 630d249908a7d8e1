//! `/audit/events`: the auditor's timeline as a page — the filter form, one page of entries
//! newest first, a link to the next (older) page and one to the CSV export of the period. The
//! entries are `GET /api/v1/audit/events`'s own answer (the handler is called), so the page is
//! audited as `audit.timeline` with its filters, exactly like the API. Each entry is told as a
//! sentence ([`event_text`]), with a link to the extract it is about; the raw entry is the
//! API's and the export's.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use url::form_urlencoded::Serializer;

use jiff::tz::TimeZone;

use super::{End, form_time, given, time_zone, when_exact};
use crate::extract::lifecycle;
use crate::web::AppState;
use crate::web::api::audit_timeline::{self, Timeline, TimelineQuery};
use crate::web::error::ApiError;
use crate::web::event_text::{self, Entry, Known, tell};
use crate::web::frame;
use crate::web::i18n::{Lang, text};
use crate::web::labels::pick;
use crate::web::page::PageSession;
use crate::web::page::refusal;
use crate::web::pages::extract::render;

/// The filter form as the browser sends it: every field as text, empty when not used.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    actor: Option<String>,
    district: Option<String>,
    action: Option<String>,
    purpose: Option<String>,
    /// `YYYY-MM-DDTHH:MM` (the shown zone) or RFC 3339.
    from: Option<String>,
    /// `YYYY-MM-DDTHH:MM` (the shown zone, the whole minute included) or RFC 3339.
    to: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

impl EventsQuery {
    /// The filters the user gave (not `before`), as form pairs for links.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("actor", &self.actor),
            ("district", &self.district),
            ("action", &self.action),
            ("purpose", &self.purpose),
            ("from", &self.from),
            ("to", &self.to),
            ("limit", &self.limit),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v.as_deref()).map(|v| (k, v)))
        .collect()
    }

    /// The CSV export's query string: the export takes the period only (the page says so
    /// beside the link).
    fn export_query(&self, zone: &TimeZone) -> String {
        let period = self.to_api(zone);
        let mut pairs = vec![("format", "csv")];
        if let Some(from) = &period.from {
            pairs.push(("from", from));
        }
        if let Some(to) = &period.to {
            pairs.push(("to", to));
        }
        link(&pairs)
    }

    /// The API's query: empty fields dropped, browser times (in `zone`) made RFC 3339.
    fn to_api(&self, zone: &TimeZone) -> TimelineQuery {
        let text = |v: &Option<String>| given(v.as_deref()).map(str::to_owned);
        TimelineQuery {
            actor: text(&self.actor),
            district: text(&self.district),
            action: text(&self.action),
            purpose: text(&self.purpose),
            from: given(self.from.as_deref()).map(|t| form_time(t, End::Start, zone)),
            to: given(self.to.as_deref()).map(|t| form_time(t, End::Inclusive, zone)),
            before: text(&self.before),
            limit: text(&self.limit),
        }
    }
}

/// A query string for a link; the template writes the path (escaping would turn its `/`
/// into a character reference), and form encoding leaves no `/` in the query.
fn link(pairs: &[(&str, &str)]) -> String {
    let mut query = Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    query.finish()
}

/// The page's entries told as sentences, each with a link to the story of the extract it is
/// about.
async fn entries(
    state: &AppState,
    lang: Lang,
    timeline: &Timeline,
) -> Result<Vec<minijinja::Value>, ApiError> {
    let list: Vec<Entry> = timeline
        .events
        .iter()
        .map(|e| Entry {
            action: e.action.clone(),
            actor: e.actor.clone(),
            target: e.target.clone(),
            outcome: e.outcome.clone(),
            details: e.details.clone(),
        })
        .collect();
    let known = Known::gather(state, &list).await?;
    Ok(timeline
        .events
        .iter()
        .zip(&list)
        .map(|(e, entry)| {
            let told = tell(lang, &known, entry);
            context! {
                seq => e.seq, at => when_exact(lang, &e.at), at_rfc3339 => e.at,
                sentence => told.sentence, outcome => told.outcome, refused => told.refused,
                about => told.about.map(|a| context! { id => a.id, text => a.text }),
            }
        })
        .collect())
}

/// The filter's kinds of events by area, each by name (the value is the code).
fn action_choices(lang: Lang) -> Vec<minijinja::Value> {
    event_text::kinds_by_area(lang)
        .into_iter()
        .map(|(area, kinds)| {
            let kinds: Vec<_> = kinds
                .into_iter()
                .map(|(code, name)| context! { code, name })
                .collect();
            context! { area, kinds }
        })
        .collect()
}

/// The timeline page. Needs `audit.view` (a district auditor sees entries about their
/// districts' extracts only); audited as `audit.timeline`. A bad filter is shown on the page
/// with 422.
pub async fn events_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let lang = frame::lang();
    let zone = time_zone(&state);
    let (form, answer) = match query {
        Ok(Query(form)) => {
            let api = form.to_api(&zone);
            let answer = audit_timeline::timeline_for(&state, &session, api).await;
            (form, answer)
        }
        Err(_) => (
            EventsQuery::default(),
            Err(ApiError::BadRequest(
                "invalid_input",
                text(lang, "audit_events.bad_query"),
            )),
        ),
    };
    let (status, timeline, error) = match answer {
        Ok(t) => (StatusCode::OK, Some(t), None),
        Err(e) => match e.page_parts(lang) {
            (StatusCode::UNPROCESSABLE_ENTITY, _, shown) => {
                (StatusCode::UNPROCESSABLE_ENTITY, None, Some(shown))
            }
            _ => return refusal(&state, e),
        },
    };
    let purposes: Vec<_> = match lifecycle::policy_now(&state).await {
        Ok(policy) => policy
            .purposes()
            .iter()
            .map(|p| context! { id => p.id.as_str(), name => pick(lang, &p.name_sv, &p.name_en) })
            .collect(),
        Err(e) => return refusal(&state, e.into()),
    };
    let pairs = form.pairs();
    let next = timeline.as_ref().and_then(|t| t.next_before).map(|seq| {
        let seq = seq.to_string();
        let mut with = pairs.clone();
        with.push(("before", &seq));
        link(&with)
    });
    let events = match &timeline {
        Some(t) => match entries(&state, lang, t).await {
            Ok(events) => events,
            Err(e) => return refusal(&state, e),
        },
        None => Vec::new(),
    };
    let ctx = context! {
        error, purposes, events,
        areas => action_choices(lang),
        actor => form.actor, district => form.district, action => form.action,
        purpose => form.purpose, from => form.from, to => form.to, limit => form.limit,
        paged => given(form.before.as_deref()).is_some(),
        first_page => link(&pairs),
        shown => timeline.is_some(), next,
        export => form.export_query(&zone),
    };
    render(&state, status, "audit_events.html", ctx)
}
