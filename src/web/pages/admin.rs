//! `/admin`: accounts and roles, what waits for a second administrator (new accounts, role
//! changes, policy changes), and the purpose catalogue.
//!
//! The page needs a full session and the policy's `users administer` permit; every change
//! needs a fresh second factor (step-up) and the form's CSRF token, and goes through the same
//! domain functions as the API (`admin::*`), so the same four-eyes rules and audit events
//! apply. A proposal shows a confirm button only to administrators other than its proposer;
//! a confirmed account's invitation link is shown once, to the confirming administrator, when
//! it was not e-mailed.

mod accounts;
mod purposes;
// Recertification of roles (issue 22, item 2).
pub(in crate::web) mod recertify;

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::admin::roles::{self, Change, RoleChangeOutcome};
use crate::admin::{self, policy_change, users};
use crate::audit::Actor;
use crate::auth::session::Session;
use crate::nouns::RoleGrant;
use crate::policy::{Permit, Principal};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, text, text_with};
use crate::web::labels::{self, pick};
use crate::web::page::{PageForm, PageSession, csrf_field, refusal};

/// "Display name (username)" by audit actor (`user:<id>`), for people named on the page.
async fn people(state: &AppState) -> HashMap<String, String> {
    let users = crate::auth::accounts::list(&state.store)
        .await
        .unwrap_or_default();
    users
        .into_iter()
        .map(|(u, _)| {
            let name = format!("{} ({})", u.display_name, u.username);
            (Actor::user(&u.id).as_str().to_owned(), name)
        })
        .collect()
}

/// A role as words: "Säkerhetsansvarig, Uppsala".
pub(in crate::web) fn role_words(lang: Lang, grant: &RoleGrant) -> String {
    format!(
        "{}, {}",
        labels::role(lang, grant.role.as_str()),
        labels::district(lang, grant.scope.as_str())
    )
}

fn role_words_of(lang: Lang, role: &str, district: &str) -> String {
    format!(
        "{}, {}",
        labels::role(lang, role),
        labels::district(lang, district)
    )
}

/// Renders the page with an optional message or error.
pub(super) async fn page(
    state: &AppState,
    session: &Session,
    permit: &Permit,
    status: StatusCode,
    message: Option<String>,
    error: Option<String>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let lang = frame::lang();
    let me = Actor::user(&session.user_id).as_str().to_owned();
    let users = users::list_users(&state.store, permit, now).await;
    let pending_users = users::pending_users(&state.store, permit, now).await;
    let pending_roles = roles::pending_role_changes(&state.store, permit, now).await;
    let current = state.policy.current(&state.store).await;
    let (Ok(users), Ok(pending_users), Ok(pending_roles), Ok(current)) =
        (users, pending_users, pending_roles, current)
    else {
        return refusal(state, ApiError::Unavailable("admin page data".into()));
    };
    // Only a party-wide administrator sees the policy's proposals and changes purposes.
    let (pending_policy, policy_admin) = match policy_permit(state, session).await {
        Ok(p) => {
            let window = crate::admin::policy_history::Window::of(&state.config.policy);
            let pending =
                policy_change::pending(&state.policy, &state.store, &p, window, now).await;
            (pending.unwrap_or_default(), true)
        }
        Err(_) => (Vec::new(), false),
    };
    let names = people(state).await;
    let name_of = |actor: &str| {
        names
            .get(actor)
            .cloned()
            .unwrap_or_else(|| actor.to_owned())
    };
    let by_id: HashMap<String, String> = users
        .iter()
        .map(|(u, _)| (u.id.clone(), format!("{} ({})", u.display_name, u.username)))
        .collect();
    // A role past its due date is stored but grants nothing: the list says so, in words.
    let mut standing: HashMap<(String, String, String), String> = HashMap::new();
    let held = crate::admin::recertify::everyone(&state.store, &state.config.roles, now).await;
    let Ok(held) = held else {
        return refusal(state, ApiError::Unavailable("admin page data".into()));
    };
    for h in held {
        let word = match h.standing {
            crate::admin::recertify::Standing::InForce => continue,
            crate::admin::recertify::Standing::DueSoon => "admin.role_due",
            crate::admin::recertify::Standing::Suspended => "admin.role_suspended",
        };
        let due = crate::web::i18n::date(lang, h.due_at);
        let key = (
            h.user_id.clone(),
            h.grant.role.as_str().to_owned(),
            h.grant.scope.as_str().to_owned(),
        );
        standing.insert(key, text_with(lang, word, &[("due", due)]));
    }
    let role_words_with_standing =
        |u: &crate::store::accounts::UserRow, role: &str, district: &str| {
            let words = role_words_of(lang, role, district);
            match standing.get(&(u.id.clone(), role.to_owned(), district.to_owned())) {
                Some(mark) => format!("{words} ({mark})"),
                None => words,
            }
        };
    let user_rows: Vec<minijinja::Value> = users
        .iter()
        .map(|(u, roles)| {
            // Roles stay as ROLE:DISTRICT too, the form the role fields below take.
            let codes: Vec<String> = roles
                .iter()
                .map(|r| format!("{}:{}", r.role, r.district))
                .collect();
            let words: Vec<String> = roles
                .iter()
                .map(|r| role_words_with_standing(u, &r.role, &r.district))
                .collect();
            let status = labels::user_status(lang, &u.status);
            let held: Vec<minijinja::Value> = roles
                .iter()
                .map(|r| {
                    context! {
                        role => r.role, district => r.district,
                        words => role_words_of(lang, &r.role, &r.district),
                    }
                })
                .collect();
            context! {
                username => u.username, display_name => u.display_name, status,
                state => u.status, roles => words, codes, held,
            }
        })
        .collect();
    let new_users: Vec<minijinja::Value> = pending_users
        .into_iter()
        .map(|p| {
            let roles: Vec<String> = p.roles.iter().map(|g| role_words(lang, g)).collect();
            let mine = p.requested_by == me;
            context! {
                id => p.id, username => p.username, display_name => p.display_name, roles,
                by => name_of(&p.requested_by), mine,
            }
        })
        .collect();
    let role_changes: Vec<minijinja::Value> = pending_roles
        .into_iter()
        .map(|c| {
            let change = change_label(lang, &c.change);
            let role = role_words_of(lang, &c.role, &c.district);
            let user = by_id.get(&c.user_id).cloned().unwrap_or(c.user_id);
            let mine = c.requested_by == me;
            context! { id => c.id, change, role, user, by => name_of(&c.requested_by), mine }
        })
        .collect();
    let policy_changes: Vec<minijinja::Value> = pending_policy
        .into_iter()
        .map(|p| {
            let diffs: Vec<minijinja::Value> = p
                .diffs
                .iter()
                .map(|d| context! { file => d.file, diff => d.diff })
                .collect();
            let mine = p.proposed_by == me;
            let words = purposes::change_words(lang, &p.changes, p.permissions_changed);
            let lines = purposes::needs_lines(&p.changes, p.permissions_changed);
            let history = crate::web::history_words::words(lang, &current.policy, &p.history);
            context! {
                id => p.id, by => name_of(&p.proposed_by), comment => p.comment, diffs, words,
                lines, stale => p.stale, mine, history,
            }
        })
        .collect();
    let purposes: Vec<minijinja::Value> = current
        .policy
        .purposes()
        .iter()
        .map(|p| {
            let fields: Vec<String> = p
                .allowed_fields
                .iter()
                .map(|f| labels::field(lang, f.as_str()))
                .collect();
            let name = pick(lang, &p.name_sv, &p.name_en);
            let lifetime = crate::web::i18n::duration(lang, p.max_lifetime_minutes);
            context! { id => p.id.as_str(), name, fields, max_rows => p.max_rows, lifetime }
        })
        .collect();
    let fresh = session.has_fresh_second_factor(
        now.unix_timestamp(),
        state.config.sessions.step_up_max_age_secs,
    );
    let providers: Vec<_> = state
        .oidc
        .all()
        .map(|p| context! { id => p.id, label => p.config.label(lang.code()) })
        .collect();
    let role_choices: Vec<minijinja::Value> = crate::nouns::Role::ALL
        .iter()
        .map(|r| context! { code => r.as_str(), label => labels::role(lang, r.as_str()) })
        .collect();
    // The whole party, then the districts the register holds (none when it cannot be read:
    // the forms then offer the whole party only, and a grant is refused with a sentence).
    let mut district_choices = vec![context! { code => "*", label => labels::district(lang, "*") }];
    if let Ok(known) = state.register.districts().await {
        district_choices.extend(
            known
                .iter()
                .map(|d| context! { code => d.as_str(), label => d.as_str() }),
        );
    }
    let ctx = context! {
        role_choices, district_choices,
        csrf => session.csrf_token, users => user_rows, new_users, role_changes, policy_changes,
        purposes, version => current.version, policy_admin, fresh,
        message, error, providers,
    };
    let mut res = crate::web::render::page(state.pages.render("admin.html", ctx));
    if res.status().is_success() {
        *res.status_mut() = status;
    }
    res
}

async fn principal(state: &AppState, session: &Session) -> Result<Principal, ApiError> {
    Ok(Principal::load(&state.store, &session.user_id)
        .await
        .map_err(crate::auth::Error::from)?)
}

async fn users_permit(state: &AppState, session: &Session) -> Result<Permit, ApiError> {
    crate::web::api::users::users_permit(state, session).await
}

async fn policy_permit(state: &AppState, session: &Session) -> Result<Permit, ApiError> {
    let who = principal(state, session).await?;
    let current = state
        .policy
        .current(&state.store)
        .await
        .map_err(crate::auth::Error::from)?;
    let now = OffsetDateTime::now_utc();
    Ok(admin::policy_permit(&state.store, &current.policy, &who, now).await?)
}

/// The `users administer` permit, and for a change a fresh second factor (else the page
/// again, 401, saying so). The session, the form and its CSRF token were checked by
/// [`PageSession`] or [`PageForm`].
pub(super) async fn gate(
    state: &AppState,
    session: &Session,
    change: bool,
) -> Result<Permit, Response> {
    let permit = users_permit(state, session)
        .await
        .map_err(|e| refusal(state, e))?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if change && !session.has_fresh_second_factor(now, state.config.sessions.step_up_max_age_secs) {
        let error = Some(text(frame::lang(), "error.step_up_required"));
        let status = StatusCode::UNAUTHORIZED;
        return Err(page(state, session, &permit, status, None, error).await);
    }
    Ok(permit)
}

/// The admin page.
pub async fn admin_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    match gate(&state, &session, false).await {
        Ok(permit) => page(&state, &session, &permit, StatusCode::OK, None, None).await,
        Err(res) => res,
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf: String,
    username: String,
    role: String,
    /// The district chosen beside the role (`*`: the whole party); without it, `role` is
    /// `ROLE:DISTRICT` as the API takes it.
    #[serde(default)]
    district: Option<String>,
    change: String,
}

/// The role the form names: a role and a district chosen from lists, or `ROLE:DISTRICT`.
fn chosen_role(role: &str, district: Option<&str>) -> Result<RoleGrant, crate::nouns::Error> {
    match district.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => format!("{}:{d}", role.trim()).parse(),
        None => role.trim().parse(),
    }
}

/// Grants or revokes a role (grants wait for a second administrator).
pub async fn change_role(
    State(state): State<AppState>,
    PageForm(session, form): PageForm<RoleForm>,
) -> Response {
    let permit = match gate(&state, &session, true).await {
        Ok(permit) => permit,
        Err(res) => return res,
    };
    let lang = frame::lang();
    let districts = match state.register.districts().await {
        Ok(d) => d,
        Err(e) => return refused(&state, &session, &permit, e.into(), lang).await,
    };
    let result = async {
        let grant = chosen_role(&form.role, form.district.as_deref())?;
        let change = Change::parse(&form.change)?;
        let now = OffsetDateTime::now_utc();
        roles::change_role(
            &state.store,
            &permit,
            &districts,
            &form.username,
            grant,
            change,
            now,
        )
        .await
    }
    .await;
    match result {
        Ok(RoleChangeOutcome::Applied) => {
            let message = Some(text(lang, "admin.role_changed"));
            page(&state, &session, &permit, StatusCode::OK, message, None).await
        }
        Ok(RoleChangeOutcome::AwaitingSecondAdmin { .. }) => {
            let message = Some(text(lang, "admin.role_awaiting"));
            page(
                &state,
                &session,
                &permit,
                StatusCode::ACCEPTED,
                message,
                None,
            )
            .await
        }
        Err(e) => refused(&state, &session, &permit, e.into(), lang).await,
    }
}

#[derive(Deserialize)]
pub struct NewUserForm {
    csrf: String,
    username: String,
    display_name: String,
    role: String,
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    identity_provider: String,
}

/// Proposes a user with one role; a second administrator confirms it. The same domain call
/// and audit event (`user.propose`) as `POST /api/v1/users`.
pub async fn create_user(
    State(state): State<AppState>,
    PageForm(session, form): PageForm<NewUserForm>,
) -> Response {
    let permit = match gate(&state, &session, true).await {
        Ok(permit) => permit,
        Err(res) => return res,
    };
    let lang = frame::lang();
    let districts = match state.register.districts().await {
        Ok(d) => d,
        Err(e) => return refused(&state, &session, &permit, e.into(), lang).await,
    };
    let result = async {
        let role = chosen_role(&form.role, form.district.as_deref()).map_err(admin::Error::from)?;
        let email = Some(form.email.trim().to_owned()).filter(|e| !e.is_empty());
        let new = crate::auth::accounts::NewUser {
            username: crate::nouns::Username::parse(form.username.trim())?,
            display_name: form.display_name.trim().to_owned(),
            roles: vec![role],
            email,
            oidc_provider: crate::web::api::users::known_provider(
                &state,
                Some(form.identity_provider.clone()),
            )?,
        };
        users::propose_user(
            &state.store,
            &permit,
            &districts,
            new,
            OffsetDateTime::now_utc(),
        )
        .await
    }
    .await;
    match result {
        Ok(_) => {
            let message = Some(text(lang, "admin.user_proposed"));
            page(
                &state,
                &session,
                &permit,
                StatusCode::ACCEPTED,
                message,
                None,
            )
            .await
        }
        Err(e) => refused(&state, &session, &permit, e.into(), lang).await,
    }
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    id: String,
    /// `confirm` or `reject`.
    decision: String,
    /// `user`, `role` or `policy`.
    kind: String,
}

/// Confirms or rejects something waiting for a second administrator: a new account, a role
/// change or a policy change.
pub async fn decide(
    State(state): State<AppState>,
    PageForm(session, form): PageForm<DecideForm>,
) -> Response {
    let permit = match gate(&state, &session, true).await {
        Ok(permit) => permit,
        Err(res) => return res,
    };
    let lang = frame::lang();
    let now = OffsetDateTime::now_utc();
    let confirm = form.decision == "confirm";
    let result: Result<Option<String>, ApiError> = match (form.kind.as_str(), confirm) {
        ("user", true) => users::confirm_user(
            &state.store,
            &permit,
            &form.id,
            state.config.sessions.invitation_ttl_secs,
            state.mailer.as_ref(),
            &state.config.server.public_url,
            now,
        )
        .await
        .map(|confirmed| Some(invitation_message(&state, lang, confirmed)))
        .map_err(ApiError::from),
        ("user", false) => users::reject_user(&state.store, &permit, &form.id, now)
            .await
            .map(|()| None)
            .map_err(ApiError::from),
        ("role", true) => roles::confirm_role_change(&state.store, &permit, &form.id, now)
            .await
            .map(|()| None)
            .map_err(ApiError::from),
        ("role", false) => roles::reject_role_change(&state.store, &permit, &form.id, now)
            .await
            .map(|()| None)
            .map_err(ApiError::from),
        ("policy", _) => decide_policy(&state, &session, &form.id, confirm, lang).await,
        _ => Err(ApiError::BadRequest(
            "invalid_form",
            "The form could not be read; reload the page.".into(),
        )),
    };
    match result {
        Ok(message) => {
            let key = if confirm {
                "admin.change_confirmed"
            } else {
                "admin.change_rejected"
            };
            let message = Some(message.unwrap_or_else(|| text(lang, key)));
            page(&state, &session, &permit, StatusCode::OK, message, None).await
        }
        Err(e) => refused(&state, &session, &permit, e, lang).await,
    }
}

/// What the confirming administrator is told about the new account's invitation.
fn invitation_message(state: &AppState, lang: Lang, confirmed: users::Confirmed) -> String {
    match confirmed.delivery {
        users::Delivery::Mailed => text_with(
            lang,
            "admin.user_confirmed_mailed",
            &[("user", confirmed.username)],
        ),
        users::Delivery::ToConfirmer(invitation) => {
            let hours = (state.config.sessions.invitation_ttl_secs / 3600).max(1);
            text_with(
                lang,
                "admin.user_created",
                &[
                    ("link", invitation.link(&state.config.server.public_url)),
                    ("hours", hours.to_string()),
                ],
            )
        }
    }
}

async fn decide_policy(
    state: &AppState,
    session: &Session,
    id: &str,
    confirm: bool,
    lang: Lang,
) -> Result<Option<String>, ApiError> {
    let permit = policy_permit(state, session).await?;
    let now = OffsetDateTime::now_utc();
    if confirm {
        let v = policy_change::confirm(&state.policy, &state.store, &permit, id, now).await?;
        Ok(Some(text_with(
            lang,
            "admin.policy_in_force",
            &[("version", v.to_string())],
        )))
    } else {
        policy_change::reject(&state.store, &permit, id, now).await?;
        Ok(None)
    }
}

/// A refused change: the page again with the error's sentence in `lang` and its status; a
/// server error is the error page.
pub(super) async fn refused(
    state: &AppState,
    session: &Session,
    permit: &Permit,
    error: ApiError,
    lang: Lang,
) -> Response {
    let (status, _, message) = error.page_parts(lang);
    if status.is_server_error() {
        return refusal(state, error);
    }
    page(state, session, permit, status, None, Some(message)).await
}

/// A pending role change's direction (`grant`, `revoke`) in words.
fn change_label(lang: Lang, change: &str) -> String {
    match change {
        "grant" | "revoke" => text(lang, &format!("admin.{change}")),
        other => other.to_owned(),
    }
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::web::Access::SignedIn;
    use crate::web::entry;
    use crate::web::route_audit as ra;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    let mut all = vec![
        entry(M::GET, "/admin", SignedIn, ra::ADMIN_PAGE, get(admin_page)),
        entry(
            M::POST,
            "/admin/users",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(create_user),
        ),
        entry(
            M::POST,
            "/admin/roles",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(change_role),
        ),
        entry(
            M::POST,
            "/admin/decide",
            SignedIn,
            ra::ADMIN_CHANGE,
            post(decide),
        ),
    ];
    all.extend(accounts::routes());
    all.extend(purposes::routes());
    all.extend(recertify::routes());
    all
}

csrf_field!(DecideForm, NewUserForm, RoleForm);
