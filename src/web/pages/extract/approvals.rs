//! `/approvals`: the approver's queue — pending requests in their districts (not their own),
//! each with the requester's recent history, and downloaded extracts whose copies are not
//! confirmed deleted. The lists are the API's (`GET /api/v1/extracts?pending` / `?overdue`),
//! so the page and the API cannot disagree about who sees what. It also counts the open
//! follow-up flags the approver sees (`oversight::followup::list`, audited `followup.list`) and
//! links to them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::{render, summary};
use crate::extract::lifecycle;
use crate::oversight::followup;
use crate::web::AppState;
use crate::web::api::extracts::{self, ListQuery};
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::text;
use crate::web::page::PageSession;
use crate::web::page::refusal;
use crate::web::session::principal;

/// The approver's queue. Needs a full session; shows only what the approver role allows
/// (nothing for a user without it).
pub async fn approvals_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
) -> Response {
    let list = |pending: bool, overdue: bool| {
        extracts::list(&state, &session, ListQuery { pending, overdue })
    };
    let lang = frame::lang();
    let result = async {
        let who = principal(&state, &session).await?;
        let reach = crate::extract::review::approver_reach(&state, &who).await?;
        let approver = reach.is_some();
        let districts = reach.and_then(|r| r.district_names());
        let pending = list(true, false).await?;
        let overdue = list(false, true).await?;
        let now = time::OffsetDateTime::now_utc();
        let open_flags = match followup::list(&state, &who, Some(true), now).await {
            Ok(flags) => flags.len(),
            Err(crate::extract::Error::Denied { .. }) => 0,
            Err(e) => return Err(e.into()),
        };
        let policy = lifecycle::policy_now(&state).await?;
        let brief = |e| summary(lang, e, &policy);
        let pending: Vec<_> = pending.extracts.iter().map(brief).collect();
        let overdue: Vec<_> = overdue.extracts.iter().map(brief).collect();
        let districts =
            districts.map_or_else(|| text(lang, "approvals.all_districts"), |d| d.join(", "));
        Ok::<_, ApiError>(context! {
            approver, districts,
            pending, overdue, open_flags,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(&state, StatusCode::OK, "approvals.html", ctx),
        Err(e) => refusal(&state, e),
    }
}
