//! What an administrator does to an existing account from `/admin`: disable or enable it,
//! reset its second factor, send a new invitation by e-mail. Each needs the `users
//! administer` permit reaching every role of the account, a fresh second factor and the
//! form's CSRF token, and goes through the same domain call as the API (`admin::users`), so
//! the same audit events are recorded.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{gate, page, refused};
use crate::admin::users;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::text_with;
use crate::web::page::{PageForm, csrf_field};

#[derive(Deserialize)]
pub struct AccountForm {
    csrf: String,
    username: String,
    /// `disable`, `enable`, `reset_second_factor` or `resend_invitation`.
    action: String,
}

/// One action on one account; the page again saying what was done, or why not.
pub async fn act_on_account(
    State(state): State<AppState>,
    PageForm(session, form): PageForm<AccountForm>,
) -> Response {
    let permit = match gate(&state, &session, true).await {
        Ok(permit) => permit,
        Err(res) => return res,
    };
    let lang = frame::lang();
    let now = OffsetDateTime::now_utc();
    let username = form.username.trim();
    let done: Result<&'static str, ApiError> = match form.action.as_str() {
        "disable" | "enable" => {
            let enable = form.action == "enable";
            users::set_enabled(&state.store, &permit, username, enable, now)
                .await
                .map(|()| {
                    if enable {
                        "admin.account_enabled"
                    } else {
                        "admin.account_disabled"
                    }
                })
                .map_err(ApiError::from)
        }
        "reset_second_factor" => users::reset_second_factor(&state.store, &permit, username, now)
            .await
            .map(|()| "admin.account_reset")
            .map_err(ApiError::from),
        "resend_invitation" => users::resend_invitation(
            &state.store,
            &permit,
            state.mailer.as_ref(),
            username,
            state.config.sessions.invitation_ttl_secs,
            &state.config.server.public_url,
            now,
        )
        .await
        .map(|()| "admin.account_invitation_sent")
        .map_err(ApiError::from),
        _ => Err(ApiError::BadRequest(
            "invalid_form",
            crate::web::i18n::text(lang, "error.invalid_form"),
        )),
    };
    match done {
        Ok(key) => {
            let message = Some(text_with(lang, key, &[("user", username.to_owned())]));
            page(&state, &session, &permit, StatusCode::OK, message, None).await
        }
        Err(e) => refused(&state, &session, &permit, e, lang).await,
    }
}

/// This area's routes (merged into `/admin`'s).
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::web::Access::SignedIn;
    use crate::web::entry;
    use crate::web::route_audit as ra;
    use axum::http::Method as M;
    use axum::routing::post;
    vec![entry(
        M::POST,
        "/admin/accounts",
        SignedIn,
        ra::ADMIN_ACCOUNT,
        post(act_on_account),
    )]
}

csrf_field!(AccountForm);
