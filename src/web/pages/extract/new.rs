//! `/extracts` (my extracts and notices) and `/extracts/new` (the request form and its POST).
//! The form is read into the API's wire type and parsed by the same function, so a page
//! request and an API request are checked alike; the estimate is the API's (see `extracts.js`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Fresh, is_fresh, render, see_other, step_up, store_error, summary, when};
use crate::auth::session::Session;
use crate::extract::request;
use crate::policy::Format;
use crate::web::AppState;
use crate::web::api::extracts::{self, ListQuery};
use crate::web::api::extracts_wire::{CreateExtractRequest, FiltersBody, parse_request, rfc3339};
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, text};
use crate::web::labels::{self, pick};
use crate::web::page::refusal;
use crate::web::page::{PageForm, PageSession, WithCsrf};
use crate::web::session::ClientAddr;
use crate::web::session::principal;

/// How long a list lives unless the requester asks otherwise (never more than the purpose allows).
const DEFAULT_LIFETIME_MINUTES: u32 = 1440;

/// The lifetimes the form offers (minutes): an hour, a working day, a day, three days, a
/// week, thirty days — those within the purpose's maximum, and the maximum itself.
const LIFETIME_PRESETS: [u32; 6] = [60, 480, 1440, 4320, 10080, 43200];

/// My extracts, newest first, and my latest notices. Needs a full session.
pub async fn list_extracts_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    let lang = frame::lang();
    let result = async {
        let list = extracts::list(
            &state,
            &session,
            ListQuery {
                pending: false,
                overdue: false,
            },
        )
        .await?;
        let policy = crate::extract::lifecycle::policy_now(&state).await?;
        let notices = state
            .store
            .list_notices(&session.user_id, 10)
            .await
            .map_err(store_error)?;
        let extracts: Vec<_> = list
            .extracts
            .iter()
            .map(|e| summary(lang, e, &policy))
            .collect();
        let notices: Vec<_> = notices
            .into_iter()
            .map(|n| {
                let at = rfc3339(n.created_at);
                context! {
                    message => labels::notice(lang, &n.kind, &n.message),
                    extract_id => n.extract_id, read => n.read_at.is_some(),
                    at => when(lang, &at), at_rfc3339 => at,
                }
            })
            .collect();
        Ok::<_, ApiError>(context! { extracts, notices })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "extracts.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// What the form holds, kept to fill it in again after an error.
#[derive(Debug, Default, Serialize)]
struct Values {
    purpose: String,
    district: String,
    fields: Vec<String>,
    local_branches: Vec<String>,
    statuses: Vec<String>,
    joined_from: String,
    joined_to: String,
    age_min: String,
    age_max: String,
    lifetime_minutes: String,
    justification: String,
    acknowledged: bool,
    /// `call_list` to work the list in Registervakt; anything else is a file or a view.
    delivery: String,
    /// The processor to hand the list over to; empty: the requester receives it.
    processor: String,
}

impl Values {
    /// The posted pairs; repeated `fields` keep their order. Returns the code separately.
    fn from_pairs(pairs: Vec<(String, String)>) -> (Values, Option<SecretString>) {
        let mut v = Values::default();
        let mut code = None;
        for (key, value) in pairs {
            match key.as_str() {
                "purpose" => v.purpose = value,
                "district" => v.district = value,
                "fields" => v.fields.push(value),
                "local_branches" if !value.trim().is_empty() => v.local_branches.push(value),
                "statuses" if !value.trim().is_empty() => v.statuses.push(value),
                "joined_from" => v.joined_from = value,
                "joined_to" => v.joined_to = value,
                "age_min" => v.age_min = value,
                "age_max" => v.age_max = value,
                "lifetime_minutes" => v.lifetime_minutes = value,
                "justification" => v.justification = value,
                "acknowledged" => v.acknowledged = !value.is_empty(),
                "delivery" => v.delivery = value,
                "processor" => v.processor = value,
                "code" => code = Some(SecretString::from(value)),
                _ => {}
            }
        }
        (v, code)
    }

    /// The API's request body: the form's text split into lists and numbers; what cannot be
    /// read is told in `lang`.
    fn to_wire(&self, lang: Lang) -> Result<CreateExtractRequest, ApiError> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let bad =
            |key: &str| ApiError::BadRequest("invalid_input", crate::web::i18n::text(lang, key));
        let age = |s: &str| -> Result<Option<u64>, ApiError> {
            text(s)
                .map(|s| s.parse::<u64>())
                .transpose()
                .map_err(|_| bad("extract_new.bad_age"))
        };
        let lifetime = self
            .lifetime_minutes
            .trim()
            .parse::<u32>()
            .map_err(|_| bad("extract_new.bad_lifetime"))?;
        Ok(CreateExtractRequest {
            purpose: self.purpose.trim().to_owned(),
            district: self.district.trim().to_owned(),
            filters: FiltersBody {
                local_branches: self.local_branches.clone(),
                statuses: self.statuses.clone(),
                joined_from: text(&self.joined_from),
                joined_to: text(&self.joined_to),
                age_min: age(&self.age_min)?,
                age_max: age(&self.age_max)?,
            },
            fields: self.fields.clone(),
            lifetime_minutes: lifetime,
            justification: self.justification.clone(),
            acknowledged: self.acknowledged,
            call_list: self.delivery == "call_list",
            processor: text(&self.processor),
        })
    }
}

/// The districts the user may ask in: those where they hold the staff role, or every district
/// the register holds for a party-wide staff role (the first is the default).
async fn staff_districts(state: &AppState, session: &Session) -> Result<Vec<String>, ApiError> {
    let roles = state
        .store
        .list_roles(&session.user_id)
        .await
        .map_err(store_error)?;
    let staff: Vec<String> = roles
        .into_iter()
        .filter(|r| r.role == "staff")
        .map(|r| r.district)
        .collect();
    if staff.iter().any(|d| d == "*") {
        let all = state
            .register
            .districts()
            .await
            .map_err(|e| ApiError::from(crate::extract::Error::from(e)))?;
        return Ok(all.iter().map(|d| d.as_str().to_owned()).collect());
    }
    Ok(staff)
}

/// The register's local branches and statuses in `district` as the form's checkboxes: each
/// with its name and whether it is chosen. Before the form is first sent, the statuses that
/// count as members are chosen.
async fn choices(
    state: &AppState,
    lang: Lang,
    values: &Values,
    posted: bool,
) -> Result<(Vec<minijinja::Value>, Vec<minijinja::Value>), ApiError> {
    let Ok(district) = crate::nouns::DistrictCode::parse(values.district.trim()) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let held = state
        .register
        .choices(&district)
        .await
        .map_err(|e| ApiError::from(crate::extract::Error::from(e)))?;
    let names = &state.config.register.statuses;
    let members = state.register.member_statuses();
    let branches = held
        .local_branches
        .iter()
        .map(|b| context! { value => b, checked => values.local_branches.contains(b) })
        .collect();
    let statuses = held
        .statuses
        .iter()
        .map(|v| {
            let checked = if posted {
                values.statuses.contains(v)
            } else {
                members.contains(v)
            };
            context! {
                value => v, label => labels::status(lang, v, names), checked,
                member => members.contains(v),
            }
        })
        .collect();
    Ok((branches, statuses))
}

/// The lifetimes offered for a purpose whose longest is `max` minutes, as (minutes, words).
fn lifetimes(lang: Lang, max: u32) -> Vec<minijinja::Value> {
    let mut minutes: Vec<u32> = LIFETIME_PRESETS.into_iter().filter(|m| *m < max).collect();
    minutes.push(max);
    minutes
        .into_iter()
        .map(|m| context! { minutes => m, label => crate::web::i18n::duration(lang, m) })
        .collect()
}

/// The form for `values.purpose` (or the catalogue's first purpose), filled in with `values`.
async fn form_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    mut values: Values,
    posted: bool,
    error: Option<String>,
) -> Response {
    let (current, districts) = match (
        state.policy.current(&state.store).await,
        staff_districts(state, session).await,
    ) {
        (Ok(c), Ok(d)) => (c, d),
        (Err(e), _) => return refusal(state, crate::extract::Error::from(e).into()),
        (_, Err(e)) => return refusal(state, e),
    };
    let lang = frame::lang();
    let purposes = current.policy.purposes();
    let chosen = purposes
        .iter()
        .find(|p| p.id.as_str() == values.purpose)
        .or_else(|| purposes.first());
    let chosen_ctx = chosen.map(|p| {
        let fields: Vec<_> = p
            .allowed_fields
            .iter()
            .map(|f| {
                let name = f.as_str();
                context! { name, label => labels::field(lang, name), checked => values.fields.iter().any(|v| v == name) }
            })
            .collect();
        let consents: Vec<String> = p
            .required_consents
            .iter()
            .map(|c| labels::field(lang, c.field().as_str()))
            .collect();
        let formats: Vec<String> = p
            .formats
            .iter()
            .map(|f| text(lang, &format!("purpose_form.format_{}", f.as_str())))
            .collect();
        let call_list = p.formats.contains(&Format::CallList);
        let files = p.formats.iter().any(|f| *f != Format::CallList);
        // A call list is offered first and chosen unless the form said otherwise.
        let work_here = call_list && (values.delivery.is_empty() || values.delivery == "call_list");
        // The processors the purpose may hand over to, by name, with their agreement.
        let processors: Vec<_> = p
            .processors
            .iter()
            .filter_map(|id| current.policy.processor(id))
            .map(|pr| {
                let ends = pr.agreement_ends.to_string();
                context! {
                    id => pr.id.as_str(), name => pr.name, agreement => pr.agreement_ref,
                    ends => crate::web::i18n::date(
                        lang,
                        time::PrimitiveDateTime::new(pr.agreement_ends, time::Time::MIDNIGHT)
                            .assume_utc()
                            + time::Duration::hours(12),
                    ), ends_iso => ends,
                    checked => values.processor == pr.id.as_str()
                        || (p.formats.is_empty() && p.processors.len() == 1),
                }
            })
            .collect();
        context! {
            call_list, files, work_here, processors, handover_only => p.formats.is_empty(),
            id => p.id.as_str(), name => pick(lang, &p.name_sv, &p.name_en),
            description => pick(lang, &p.description_sv, &p.description_en), fields, consents,
            formats, max_rows => p.max_rows, max_lifetime => p.max_lifetime_minutes,
            acknowledgement => pick(lang, &p.acknowledgement_sv, &p.acknowledgement_en),
        }
    });
    if let Some(p) = chosen {
        values.purpose = p.id.as_str().to_owned();
        if values.lifetime_minutes.is_empty() {
            values.lifetime_minutes = DEFAULT_LIFETIME_MINUTES
                .min(p.max_lifetime_minutes)
                .to_string();
        }
    }
    if values.district.is_empty() {
        values.district = districts.first().cloned().unwrap_or_default();
    }
    let (branches, statuses) = match choices(state, lang, &values, posted).await {
        Ok(c) => c,
        Err(e) => return refusal(state, e),
    };
    let lifetimes = chosen.map(|p| lifetimes(lang, p.max_lifetime_minutes));
    let purposes: Vec<_> = purposes
        .iter()
        .map(|p| context! { id => p.id.as_str(), name => pick(lang, &p.name_sv, &p.name_en) })
        .collect();
    let ctx = context! {
        csrf => session.csrf_token, fresh => is_fresh(state, session), purposes,
        purpose => chosen_ctx, districts, values, error, branches, statuses, lifetimes,
    };
    render(state, status, "extract_new.html", ctx)
}

#[derive(Debug, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    district: Option<String>,
}

/// The request form. Needs a full session (the policy decides on submit).
pub async fn new_extract_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<Query<NewQuery>, QueryRejection>,
) -> Response {
    let query = query.ok().map(|Query(q)| q);
    let values = Values {
        purpose: query
            .as_ref()
            .and_then(|q| q.purpose.clone())
            .unwrap_or_default(),
        district: query.and_then(|q| q.district).unwrap_or_default(),
        ..Values::default()
    };
    form_page(&state, &session, StatusCode::OK, values, false, None).await
}

/// The form again with the error's sentence and status; a server error stays generic.
async fn form_error(
    state: &AppState,
    session: &Session,
    values: Values,
    error: ApiError,
) -> Response {
    let (status, code, message) = error.page_parts(frame::lang());
    if status.is_server_error() {
        return refusal(state, error);
    }
    // The form has a code field for this: say to fill it in.
    let message = if code == "step_up_required" {
        text(frame::lang(), "error.step_up_form")
    } else {
        message
    };
    form_page(state, session, status, values, true, Some(message)).await
}

/// Requests an extract: the same checks and domain call as `POST /api/v1/extracts`, then 303
/// to the extract's page. Needs a full session, the form's CSRF token, a fresh second factor
/// (or the form's code) and `extract.request` in the district.
pub async fn create_extract(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageForm(session, pairs): PageForm<Vec<(String, String)>>,
) -> Response {
    let (values, code) = Values::from_pairs(pairs);
    let parsed = values.to_wire(frame::lang()).and_then(|body| {
        let req = parse_request(&body)?;
        Ok((req, body.acknowledged))
    });
    let (req, acknowledged) = match parsed {
        Ok(p) => p,
        Err(e) => return form_error(&state, &session, values, e).await,
    };
    let fresh: Fresh = match step_up(&state, session.clone(), code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return form_error(&state, &session, values, e).await,
    };
    let created = async {
        let who = principal(&state, &fresh.session).await?;
        let now = OffsetDateTime::now_utc();
        Ok::<_, ApiError>(request::create(&state, &who, req, acknowledged, now).await?)
    }
    .await;
    let res = match created {
        Ok(c) => see_other(&format!("/extracts/{}?msg={}", c.id, c.state.as_str())),
        Err(e) => form_error(&state, &fresh.session, values, e).await,
    };
    fresh.send(res)
}

/// The request form posts its fields as pairs (fields repeat); its token is the `csrf` pair.
impl WithCsrf for Vec<(String, String)> {
    fn csrf(&self) -> &str {
        csrf_of(self)
    }
}

/// The CSRF field of a form read as pairs.
fn csrf_of(pairs: &[(String, String)]) -> &str {
    pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v.as_str())
}
