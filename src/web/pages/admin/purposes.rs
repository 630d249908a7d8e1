//! `/admin/purposes/…`: the purpose catalogue edited field by field. A party-wide
//! administrator opens one purpose (or a new one) as a form, changes what they need and
//! proposes it; a second party-wide administrator confirms it on `/admin`, where the change
//! reads as sentences (`changes.rs`).
//!
//! Guarantees: a change goes through the same domain call as the API
//! (`admin::policy_change::propose`), with the form's CSRF token and a fresh second factor, so
//! the same four-eyes rule, checks and audit events apply. Only the edited purpose's block of
//! `purposes.toml` is rewritten (`policy::with_purpose`). A refused change comes back as the
//! form (422) with everything the administrator typed and each problem in the page's language
//! beside its field — never as a parser's sentence.
//!
//! Must never: show an administrator the catalogue as TOML to edit, or propose a change the
//! catalogue check has not passed.

mod changes;
mod form;

pub(super) use changes::change_words;

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use time::OffsetDateTime;

use self::form::{Values, form_page};
use crate::admin::{self, policy_change};
use crate::auth::session::Session;
use crate::policy::source::{ChangeError, check_comment};
use crate::policy::{
    CatalogueChanges, Permit, PurposeDraft, PurposeFault, PurposeId, PurposeProblem,
};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, text, text_with};
use crate::web::labels::pick;
use crate::web::page::{PageForm, PageSession, csrf_field, refusal};

/// What the form says went wrong: a sentence beside each field at fault (by its key), and
/// one above the form.
#[derive(Debug, Default)]
struct Problems {
    fields: BTreeMap<String, String>,
    summary: Option<String>,
    /// Beside the removal form's comment.
    removal: Option<String>,
}

impl Problems {
    fn summary(sentence: String) -> Problems {
        Problems {
            summary: Some(sentence),
            ..Problems::default()
        }
    }
}

/// The sentence for a problem the catalogue check found.
pub(super) fn problem_text(lang: Lang, problem: PurposeProblem) -> String {
    text(lang, &format!("purpose_form.problem.{}", problem.as_str()))
}

/// The form's permits: `users administer` (the admin pages') and `policy administer` for the
/// whole party; without either, the refusal page.
async fn permits(state: &AppState, session: &Session) -> Result<(Permit, Permit), Response> {
    let users = super::gate(state, session, false).await?;
    match super::policy_permit(state, session).await {
        Ok(policy) => Ok((users, policy)),
        Err(_) => Err(refusal(
            state,
            ApiError::Forbidden(
                "not_permitted",
                text(frame::lang(), "admin.policy_party_wide"),
            ),
        )),
    }
}

fn is_fresh(state: &AppState, session: &Session) -> bool {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    session.has_fresh_second_factor(now, state.config.sessions.step_up_max_age_secs)
}

/// The form for a new purpose.
pub async fn new_purpose_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    if let Err(res) = permits(&state, &session).await {
        return res;
    }
    let values = Values::fresh();
    form_page(
        &state,
        &session,
        StatusCode::OK,
        &values,
        Problems::default(),
    )
}

/// The form for the purpose `id`, filled in with what is in force.
pub async fn edit_purpose_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
) -> Response {
    if let Err(res) = permits(&state, &session).await {
        return res;
    }
    let current = match state.policy.current(&state.store).await {
        Ok(c) => c,
        Err(e) => return refusal(&state, ApiError::Unavailable(e.to_string())),
    };
    let Some(purpose) = PurposeId::parse(&id)
        .ok()
        .and_then(|id| current.policy.purpose(&id).cloned())
    else {
        return refusal(&state, ApiError::NotFound);
    };
    let values = Values::of(&purpose);
    form_page(
        &state,
        &session,
        StatusCode::OK,
        &values,
        Problems::default(),
    )
}

/// Proposes the form's purpose: in place of the one it edits, or added.
pub async fn propose_purpose(
    State(state): State<AppState>,
    PageForm(session, pairs): PageForm<Vec<(String, String)>>,
) -> Response {
    let values = Values::from_pairs(pairs);
    let (users, policy) = match permits(&state, &session).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let lang = frame::lang();
    let again = |status, problems| form_page(&state, &session, status, &values, problems);
    if !is_fresh(&state, &session) {
        let problems = Problems::summary(text(lang, "error.step_up_required"));
        return again(StatusCode::UNAUTHORIZED, problems);
    }
    let mut draft = match values.draft() {
        Ok(d) => d,
        Err(fields) => {
            let fields = fields
                .into_iter()
                .map(|(key, sentence)| (key.as_str().to_owned(), text(lang, sentence)))
                .collect();
            let problems = Problems {
                fields,
                summary: Some(text(lang, "purpose_form.fix_below")),
                removal: None,
            };
            return again(StatusCode::UNPROCESSABLE_ENTITY, problems);
        }
    };
    let current = match state.policy.current(&state.store).await {
        Ok(c) => c,
        Err(e) => return refusal(&state, ApiError::Unavailable(e.to_string())),
    };
    let edited = values.edited();
    if edited
        .as_ref()
        .is_some_and(|id| current.policy.purpose(id).is_none())
    {
        let problems = Problems::summary(text(lang, "purpose_form.gone"));
        return again(StatusCode::CONFLICT, problems);
    }
    if let Some(before) = edited.as_ref().and_then(|id| current.policy.purpose(id)) {
        // The form lists fields in the register's order; the purpose keeps its own.
        let before = PurposeDraft::from(before);
        keep_order(&mut draft.allowed_fields, &before.allowed_fields);
        keep_order(&mut draft.required_consents, &before.required_consents);
    }
    let catalogue =
        match crate::policy::with_purpose(&current.texts.purposes, edited.as_ref(), &draft) {
            Ok(t) => t,
            Err(_) => {
                let problems = Problems::summary(text(lang, "purpose_form.layout"));
                return again(StatusCode::UNPROCESSABLE_ENTITY, problems);
            }
        };
    let changed = crate::policy::catalogue_changes(&current.texts.purposes, &catalogue);
    if !changed.unreadable && changed.purposes.is_empty() {
        let problems = Problems::summary(text(lang, "purpose_form.unchanged"));
        return again(StatusCode::UNPROCESSABLE_ENTITY, problems);
    }
    if check_comment(&values.comment).is_err() {
        // Both at once: what the check finds in the purpose, and the missing comment.
        let mut problems = comment_problem(lang, false);
        if let Err(e) = crate::policy::parse_catalogue(&catalogue) {
            let found = place(lang, e.purpose_fault(), &draft.id, &current.policy, false);
            problems.fields.extend(found.fields);
        }
        return again(StatusCode::UNPROCESSABLE_ENTITY, problems);
    }
    let asked = Proposal {
        catalogue,
        comment: &values.comment,
        id: &draft.id,
        in_force: &current.policy,
        removal: false,
    };
    match propose(&state, &session, &users, &policy, asked, lang).await {
        Ok(page) => page,
        Err(problems) => again(StatusCode::UNPROCESSABLE_ENTITY, problems),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
    id: String,
    #[serde(default)]
    comment: String,
}

/// Proposes the catalogue without the purpose `id` — refused when it is the last one.
pub async fn propose_removal(
    State(state): State<AppState>,
    PageForm(session, form): PageForm<RemoveForm>,
) -> Response {
    let (users, policy) = match permits(&state, &session).await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let lang = frame::lang();
    let current = match state.policy.current(&state.store).await {
        Ok(c) => c,
        Err(e) => return refusal(&state, ApiError::Unavailable(e.to_string())),
    };
    let Some(purpose) = PurposeId::parse(form.id.trim())
        .ok()
        .and_then(|id| current.policy.purpose(&id).cloned())
    else {
        return refusal(&state, ApiError::NotFound);
    };
    let mut values = Values::of(&purpose);
    values.remove_comment = form.comment.clone();
    let again = |status, problems| form_page(&state, &session, status, &values, problems);
    if !is_fresh(&state, &session) {
        let problems = Problems {
            removal: Some(text(lang, "error.step_up_required")),
            ..Problems::default()
        };
        return again(StatusCode::UNAUTHORIZED, problems);
    }
    let catalogue = match crate::policy::without_purpose(&current.texts.purposes, &purpose.id) {
        Ok(t) => t,
        Err(_) => {
            let problems = Problems {
                removal: Some(text(lang, "purpose_form.layout")),
                ..Problems::default()
            };
            return again(StatusCode::UNPROCESSABLE_ENTITY, problems);
        }
    };
    let asked = Proposal {
        catalogue,
        comment: &form.comment,
        id: purpose.id.as_str(),
        in_force: &current.policy,
        removal: true,
    };
    match propose(&state, &session, &users, &policy, asked, lang).await {
        Ok(page) => page,
        Err(problems) => again(StatusCode::UNPROCESSABLE_ENTITY, problems),
    }
}

/// `chosen` in the order of `before`, new ones after them in the order given.
fn keep_order(chosen: &mut [String], before: &[String]) {
    chosen.sort_by_key(|name| before.iter().position(|b| b == name).unwrap_or(usize::MAX));
}

/// Whether the confirming administrator needs the lines of the files to see the change: the
/// sentences say every change of a purpose and of the passkey rule, not the permission table,
/// a change of comments only, or a text that cannot be compared.
pub(super) fn needs_lines(changes: &CatalogueChanges, permissions_changed: bool) -> bool {
    permissions_changed || changes.unsaid || changes.unreadable
}

/// `/admin`, saying that the change waits for a second administrator (202).
/// A new catalogue to propose, and what the form is about (to place a refusal beside a field).
struct Proposal<'a> {
    catalogue: String,
    comment: &'a str,
    id: &'a str,
    in_force: &'a crate::policy::Policy,
    removal: bool,
}

/// Proposes the catalogue for a second party-wide administrator: the page saying so, or the
/// problems to show on the form again (anything else is the admin page's refusal).
async fn propose(
    state: &AppState,
    session: &Session,
    users: &Permit,
    policy: &Permit,
    asked: Proposal<'_>,
    lang: Lang,
) -> Result<Response, Problems> {
    let proposed = policy_change::propose(
        &state.policy,
        &state.store,
        policy,
        Some(asked.catalogue),
        None,
        asked.comment,
        OffsetDateTime::now_utc(),
    )
    .await;
    match proposed {
        Ok(_) => Ok(proposed_page(state, session, users, lang).await),
        Err(e) => match refused_problems(lang, &e, asked.id, asked.in_force, asked.removal) {
            Some(problems) => Err(problems),
            None => Ok(super::refused(state, session, users, e.into(), lang).await),
        },
    }
}

async fn proposed_page(
    state: &AppState,
    session: &Session,
    users: &Permit,
    lang: Lang,
) -> Response {
    let message = Some(text(lang, "admin.policy_proposed"));
    super::page(state, session, users, StatusCode::ACCEPTED, message, None).await
}

/// A refused proposal as the form's problems: the catalogue check's problem beside the field
/// at fault in purpose `id` (or above the form when it is elsewhere), or the comment's.
/// `None` for a refusal that is not about what was typed (the caller shows `/admin`).
fn refused_problems(
    lang: Lang,
    error: &admin::Error,
    id: &str,
    policy: &crate::policy::Policy,
    removal: bool,
) -> Option<Problems> {
    match error {
        admin::Error::Policy(ChangeError::Comment) => Some(comment_problem(lang, removal)),
        admin::Error::Policy(ChangeError::Invalid(e)) => {
            Some(place(lang, e.purpose_fault(), id, policy, removal))
        }
        _ => None,
    }
}

/// The comment is missing or refused.
fn comment_problem(lang: Lang, removal: bool) -> Problems {
    let sentence = text(lang, "admin.policy_comment");
    if removal {
        Problems {
            removal: Some(sentence),
            ..Problems::default()
        }
    } else {
        Problems {
            fields: BTreeMap::from([("comment".to_owned(), sentence)]),
            summary: Some(text(lang, "purpose_form.fix_below")),
            removal: None,
        }
    }
}

/// Where a problem of the catalogue check is told.
fn place(
    lang: Lang,
    fault: Option<&PurposeFault>,
    id: &str,
    policy: &crate::policy::Policy,
    removal: bool,
) -> Problems {
    let Some(fault) = fault else {
        return Problems::summary(problem_text(lang, PurposeProblem::Unreadable));
    };
    let sentence = problem_text(lang, fault.problem);
    match (&fault.purpose, fault.key) {
        (Some(p), Some(key)) if p == id && !removal => Problems {
            fields: BTreeMap::from([(key.as_str().to_owned(), sentence)]),
            summary: Some(text(lang, "purpose_form.fix_below")),
            removal: None,
        },
        (Some(p), _) => {
            let name = PurposeId::parse(p)
                .ok()
                .and_then(|id| {
                    policy
                        .purpose(&id)
                        .map(|x| pick(lang, &x.name_sv, &x.name_en))
                })
                .unwrap_or_else(|| p.clone());
            let other = text_with(lang, "purpose_form.other_purpose", &[("name", name)]);
            Problems::summary(format!("{other} {sentence}"))
        }
        (None, _) if removal => Problems {
            removal: Some(sentence),
            ..Problems::default()
        },
        (None, _) => Problems::summary(sentence),
    }
}

/// This area's routes (merged into `/admin`'s): who may call each and what it records.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::web::Access::SignedIn;
    use crate::web::entry;
    use crate::web::route_audit as ra;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/admin/purposes/new",
            SignedIn,
            ra::ADMIN_PAGE,
            get(new_purpose_page),
        ),
        entry(
            M::GET,
            "/admin/purposes/{id}",
            SignedIn,
            ra::ADMIN_PAGE,
            get(edit_purpose_page),
        ),
        entry(
            M::POST,
            "/admin/purposes",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(propose_purpose),
        ),
        entry(
            M::POST,
            "/admin/purposes/remove",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(propose_removal),
        ),
    ]
}

csrf_field!(RemoveForm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_of_the_catalogue_check_has_a_sentence_in_both_languages() {
        for lang in [Lang::Sv, Lang::En] {
            for problem in PurposeProblem::ALL {
                let key = format!("purpose_form.problem.{}", problem.as_str());
                assert!(
                    crate::web::i18n::lookup(lang, &key).is_some(),
                    "{key} is missing in {}",
                    lang.code()
                );
            }
        }
    }
}
