//! Extract pages for people: `/extracts` (mine), `/extracts/new`, `/extracts/{id}` with its
//! actions, and `/approvals` (the approver's queue).
//!
//! Guarantees: every page needs a full session; every form carries the session's CSRF token,
//! checked before anything else in the body is used; creating, downloading, viewing and
//! deciding need a fresh second factor, which a form may supply as a TOTP code (step-up through
//! `auth::signin::with_totp`, the same call as `/login/code`, so replay guard, lockout and audit
//! apply), and the rotated session cookie goes out with whatever the answer is. The work is
//! done by the same `extract` domain functions as the JSON API; this module parses forms,
//! renders templates (auto-escaped) and maps errors through [`ApiError`].
//!
//! Must never: show member data anywhere but the POST-only view page, answer a GET with data,
//! or tell another user's extract apart from a missing one (both are the 404 page).

mod act;
mod approvals;
mod new;
mod show;

pub use act::{
    approve_extract, attest_extract_deleted, deny_extract, finish_extract, resend_handover_link,
    withdraw_extract,
};
pub use approvals::approvals_page;
pub use new::{create_extract, list_extracts_page, new_extract_page};
pub use show::{download_extract, show_extract_page, view_extract, watch_extract_page};

use axum::http::{HeaderValue, header};
use axum::response::Response;
use minijinja::context;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::auth::session::{self, Session};
use crate::auth::signin::{self, Client};
use crate::auth::totp;
use crate::policy::Policy;
use crate::web::AppState;
use crate::web::api::extracts_wire::ExtractResponse;
use crate::web::error::ApiError;
use crate::web::i18n::{self, Lang};
use crate::web::labels;
use crate::web::session::{require_phishing_resistant, session_cookie};

pub(crate) use crate::web::page::render;

/// A store failure as the error the API answers with (503, nothing released).
fn store_error(e: crate::store::Error) -> ApiError {
    ApiError::from(crate::extract::Error::from(e))
}

pub(in crate::web) fn is_fresh(state: &AppState, session: &Session) -> bool {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    session.has_fresh_second_factor(now, state.config.sessions.step_up_max_age_secs)
}

/// A session with a fresh second factor, and the cookie to send when it had to be renewed.
pub(in crate::web) struct Fresh {
    pub(in crate::web) session: Session,
    cookie: Option<HeaderValue>,
}

impl Fresh {
    /// Adds the renewed session cookie, if any, to `res`: the old token no longer works.
    pub(in crate::web) fn send(&self, mut res: Response) -> Response {
        if let Some(cookie) = &self.cookie {
            res.headers_mut().append(header::SET_COOKIE, cookie.clone());
        }
        res
    }
}

/// Step-up for a form: a session whose second factor is fresh passes as it is; otherwise the
/// form's code is checked exactly as `/login/code` checks it (B2), and the session continues
/// under its new token. No code, or a wrong one, is the auth error (401 / 429). Where the
/// policy asks for a passkey, a session whose proof was not one is refused (403
/// `phishing_resistant_required`); a passkey proof comes from `/confirm`.
pub(in crate::web) async fn step_up(
    state: &AppState,
    session: Session,
    code: Option<&SecretString>,
    client: &Client,
) -> Result<Fresh, ApiError> {
    if is_fresh(state, &session) {
        require_phishing_resistant(state, &session, None, "page_form").await?;
        return Ok(Fresh {
            session,
            cookie: None,
        });
    }
    // A code from the app is never enough where the policy asks for a passkey (A9): refused
    // before the code is used, so the session keeps its token.
    let with_code = Session {
        factor: Some(session::Factor::Totp),
        ..session.clone()
    };
    require_phishing_resistant(state, &with_code, None, "page_form").await?;
    let code = code
        .map(|c| c.expose_secret().trim())
        .filter(|c| !c.is_empty())
        .ok_or(crate::auth::Error::StepUpRequired)?;
    let code = totp::Code::parse(code).map_err(|_| crate::auth::Error::InvalidCode)?;
    let now = OffsetDateTime::now_utc();
    let new = signin::with_totp(
        &state.store,
        &state.keyring,
        &session,
        &code,
        signin::Purpose::StepUp,
        client,
        now,
    )
    .await?;
    let renewed =
        session::authenticate(&state.store, &new.token, &state.config.sessions, now).await?;
    Ok(Fresh {
        session: renewed,
        cookie: Some(session_cookie(state, &new)),
    })
}

/// A 303 to `to` (after a POST, so reloading does not post again).
pub(in crate::web) fn see_other(to: &str) -> Response {
    axum::response::IntoResponse::into_response(axum::response::Redirect::to(to))
}

/// One extract's metadata as the list templates show it (never its data), in `lang`. Times
/// come twice: as words (`created`) and as RFC 3339 (`created_at`) for `<time datetime>` and
/// the countdowns.
pub(crate) fn summary(lang: Lang, e: &ExtractResponse, policy: &Policy) -> minijinja::Value {
    let history: Vec<_> = e
        .requester_history
        .iter()
        .map(|h| {
            context! {
                id => h.id, purpose => labels::purpose_name(lang, policy, &h.purpose),
                district => h.district, state => h.state,
                state_label => labels::state(lang, h.state.as_str()),
                created => when(lang, &h.created_at), created_at => h.created_at,
                row_count => h.row_count,
            }
        })
        .collect();
    let fields: Vec<String> = e.fields.iter().map(|f| labels::field(lang, f)).collect();
    context! {
        id => e.id, reference => labels::reference(&e.id), state => e.state,
        state_label => labels::state(lang, e.state.as_str()),
        purpose => labels::purpose_name(lang, policy, &e.purpose), district => e.district,
        requester => e.requester, fields, estimated_rows => e.estimated_rows,
        row_count => e.row_count, created => when(lang, &e.created_at), created_at => e.created_at,
        pending_until => e.pending_until, pending_until_text => when(lang, &e.pending_until),
        expires_at => e.expires_at, expires => e.expires_at.as_deref().map(|t| when(lang, t)),
        expires_in => e.expires_at.as_deref().and_then(|t| from_now(lang, t)),
        pending_in => from_now(lang, &e.pending_until),
        ended_at => e.ended_at, ended => e.ended_at.as_deref().map(|t| when(lang, t)),
        end_reason => e.end_reason.as_deref().map(|r| labels::end_reason(lang, r)),
        downloads => e.downloads, max_downloads => e.max_downloads,
        downloads_left => (e.max_downloads - e.downloads).max(0),
        attested => e.attested_at.is_some(), approvers_needed => e.approvers_needed,
        approvals => e.verdicts.iter().filter(|v| v.verdict == "approve").count(),
        justification => e.justification, history,
        processor => e.processor.as_deref().map(|id| processor_label(lang, policy, id)),
        from_call_list => e.from_call_list.is_some(),
        do_not_call_to => do_not_call_to(lang, e, policy),
    }
}

/// For a call list whose purpose hands on its "do not call again" members: to whom, by name
/// (the approver reads it before approving, the requester and callers before calling).
fn do_not_call_to(lang: Lang, e: &ExtractResponse, policy: &Policy) -> Option<String> {
    if !e.call_list {
        return None;
    }
    let purpose = crate::policy::PurposeId::parse(&e.purpose).ok()?;
    let to = policy.purpose(&purpose)?.do_not_call_to.clone()?;
    Some(processor_label(lang, policy, to.as_str()))
}

/// A processor by name with its agreement ("Tryckeriet AB, avtal PUB-2026-04, till och med
/// 31 dec. 2027"), from the policy in force; its id when the catalogue no longer has it.
fn processor_label(lang: Lang, policy: &Policy, id: &str) -> String {
    let found = crate::policy::ProcessorId::parse(id)
        .ok()
        .and_then(|id| policy.processor(&id).cloned());
    match found {
        Some(p) => i18n::text_with(
            lang,
            "extract.handed_to_text",
            &[
                ("name", p.name),
                ("agreement", p.agreement_ref),
                (
                    "ends",
                    i18n::date(
                        lang,
                        p.agreement_ends.midnight().assume_utc() + time::Duration::hours(12),
                    ),
                ),
            ],
        ),
        None => id.to_owned(),
    }
}

/// An RFC 3339 time in words, to the minute in UTC (`2 mars 2026 13:34 CET`); the page's
/// script adds the reader's local time where the page writes it as `<time datetime>`.
pub(crate) fn when(lang: Lang, rfc3339: &str) -> String {
    i18n::parse_rfc3339(rfc3339).map_or_else(|| rfc3339.to_owned(), |t| i18n::datetime(lang, t))
}

/// An RFC 3339 time as "in 3 days" / "2 hours ago" from now.
pub(crate) fn from_now(lang: Lang, rfc3339: &str) -> Option<String> {
    let t = i18n::parse_rfc3339(rfc3339)?;
    Some(i18n::relative(lang, t, time::OffsetDateTime::now_utc()))
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::entry;
    use crate::web::route_audit as ra;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/extracts",
            SignedIn,
            NotAudited("the caller's own extracts and notices"),
            get(list_extracts_page),
        ),
        entry(
            M::POST,
            "/extracts",
            SignedIn,
            ra::PAGE_REQUEST,
            post(create_extract),
        ),
        entry(
            M::GET,
            "/extracts/new",
            SignedIn,
            NotAudited("the request form"),
            get(new_extract_page),
        ),
        entry(
            M::GET,
            "/extracts/{id}",
            SignedIn,
            Records(&[A::ExtractShown]),
            get(show_extract_page),
        ),
        entry(
            M::GET,
            "/extracts/{id}/live",
            SignedIn,
            NotAudited("the requester's own extract page, watched by its script for a change"),
            get(watch_extract_page),
        ),
        entry(
            M::POST,
            "/extracts/{id}/download",
            SignedIn,
            ra::PAGE_DOWNLOAD,
            post(download_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/view",
            SignedIn,
            ra::PAGE_VIEW,
            post(view_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/done",
            SignedIn,
            Records(&[A::ExtractShredded]),
            post(finish_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/withdraw",
            SignedIn,
            Records(&[A::ExtractShredded]),
            post(withdraw_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/handover/resend",
            SignedIn,
            Records(&[A::HandoverOffered, A::HandoverRefused]),
            post(resend_handover_link),
        ),
        entry(
            M::POST,
            "/extracts/{id}/attest",
            SignedIn,
            Records(&[A::ExtractAttested]),
            post(attest_extract_deleted),
        ),
        entry(
            M::POST,
            "/extracts/{id}/approve",
            SignedIn,
            ra::PAGE_DECISION,
            post(approve_extract),
        ),
        entry(
            M::POST,
            "/extracts/{id}/deny",
            SignedIn,
            ra::PAGE_DECISION,
            post(deny_extract),
        ),
        entry(
            M::GET,
            "/approvals",
            SignedIn,
            Records(&[A::ExtractQueueShown, A::FollowupListed]),
            get(approvals_page),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_to_the_minute_in_utc_in_the_page_language() {
        assert_eq!(
            when(Lang::Sv, "2026-03-01T12:34:56Z"),
            "1 mars 2026 13:34 CET"
        );
        assert_eq!(
            when(Lang::En, "2026-03-01T12:34:56Z"),
            "1 Mar 2026, 13:34 CET"
        );
        assert_eq!(when(Lang::Sv, "bad"), "bad");
    }
}
