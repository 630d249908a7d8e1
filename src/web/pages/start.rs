//! `/start`: the page a user lands on after signing in — one section per role they hold.
//! Staff see their live extracts with countdowns; approvers how many requests wait for them
//! and their open follow-up flags; admins the way to users, roles and purposes; auditors the
//! way to the timeline, the member search and the file trace.
//!
//! Guarantees: a section is shown only for a role the user holds, and holds only what that
//! role's own page would show (the same domain calls, with the same audit events: the
//! approver's queue count is `extract.queue`, the flag count `followup.list`). No member data.
//! A role of the user's that is due for confirmation soon or suspended is named with its due
//! date and who to ask (recertification), suspended ones included.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use crate::extract::lifecycle;
use crate::oversight::followup;
use crate::web::AppState;
use crate::web::api::extracts::{self, ListQuery};
use crate::web::error::ApiError;
use crate::web::page::PageSession;
use crate::web::page::refusal;
use crate::web::pages::extract::{render, summary};
use crate::web::session::principal;

pub async fn start_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    let lang = crate::web::frame::lang();
    let result = async {
        let roles = state
            .store
            .list_roles(&session.user_id)
            .await
            .map_err(|e| ApiError::from(crate::extract::Error::from(e)))?;
        let has = |name: &str| roles.iter().any(|r| r.role == name);
        let (staff, approver, admin, auditor) =
            (has("staff"), has("approver"), has("admin"), has("auditor"));
        let list = |pending: bool| {
            extracts::list(
                &state,
                &session,
                ListQuery {
                    pending,
                    overdue: false,
                },
            )
        };
        let policy = lifecycle::policy_now(&state).await?;
        let live: Vec<_> = if staff {
            let mine = list(false).await?;
            mine.extracts
                .iter()
                .filter(|e| e.state.is_open())
                .map(|e| summary(lang, e, &policy))
                .collect()
        } else {
            Vec::new()
        };
        let waiting = if approver {
            let pending = list(true).await?;
            pending.extracts.len()
        } else {
            0
        };
        let open_flags = if approver || auditor {
            let who = principal(&state, &session).await?;
            let now = time::OffsetDateTime::now_utc();
            match followup::list(&state, &who, Some(true), now).await {
                Ok(flags) => flags.len(),
                Err(crate::extract::Error::Denied { .. }) => 0,
                Err(e) => return Err(e.into()),
            }
        } else {
            0
        };
        let roles_due = roles_due(&state, &session.user_id, lang).await?;
        Ok::<_, ApiError>(context! {
            roles_due,
            name => session.display_name,
            staff, approver, admin, auditor,
            live, waiting, open_flags,
            purposes => policy.purposes().len(),
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "start.html", ctx),
        Err(e) => refusal(&state, e),
    }
}

/// The user's roles due soon or suspended, each as a sentence with its due date and who may
/// confirm it (by name).
async fn roles_due(
    state: &AppState,
    user_id: &str,
    lang: crate::web::i18n::Lang,
) -> Result<Vec<String>, ApiError> {
    use crate::admin::recertify::{self, Standing};
    use crate::web::i18n::{datetime, text, text_with};
    let now = time::OffsetDateTime::now_utc();
    let own = recertify::own(&state.store, user_id, &state.config.roles, now).await?;
    let mut out = Vec::new();
    for h in own.iter().filter(|h| h.standing != Standing::InForce) {
        let names = recertify::who_confirms(&state.store, &h.grant).await?;
        let names: Vec<String> = names.into_iter().filter(|n| *n != h.display_name).collect();
        let who = if names.is_empty() {
            text(lang, "recertify.nobody")
        } else {
            names.join(", ")
        };
        let key = match h.standing {
            Standing::Suspended => "recertify.own_suspended",
            _ => "recertify.own_due_soon",
        };
        let role = crate::web::pages::admin::role_words(lang, &h.grant);
        out.push(text_with(
            lang,
            key,
            &[
                ("role", role),
                ("due", datetime(lang, h.due_at)),
                ("who", who),
            ],
        ));
    }
    Ok(out)
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::Records;
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::get;
    vec![entry(
        M::GET,
        "/start",
        SignedIn,
        Records(&[A::ExtractQueueShown, A::FollowupListed]),
        get(start_page),
    )]
}
