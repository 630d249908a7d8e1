//! The processor's pages: the link from the hand-over mail, the one-time code, the one
//! download and the deletion confirmation (`extract::handover`). Public: the link's token is
//! the first credential, the code mailed to the processor's address the second.
//!
//! Guarantees: the token travels in the path only on the first GET (cut from log lines by
//! `web::loggable_path`) and then in the forms' bodies; a GET changes nothing and releases
//! nothing; every refusal is a page with its sentence in the page's language and the status
//! of its stable code, and is audited by the domain. Never shows member data or a token
//! anywhere but the form field that carries it.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::extract::handover::{self, Token};
use crate::web::AppState;
use crate::web::api::extracts::file_response;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, datetime, text};
use crate::web::page::{refusal, render};
use crate::web::session::ClientAddr;

/// The longest token a path or form may carry (a real one has 43 characters).
const TOKEN_MAX: usize = 64;

fn token(text: &str) -> Token {
    Token::new(&text.chars().take(TOKEN_MAX).collect::<String>())
}

fn pick<'a>(lang: Lang, sv: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Sv => sv,
        Lang::En => en,
    }
}

fn when(lang: Lang, t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .map(|t| datetime(lang, t))
        .unwrap_or_default()
}

/// The hand-over page: who hands what over, and the button that mails a one-time code.
async fn offer_page(state: &AppState, raw: &str, code_sent_now: bool) -> Response {
    let lang = frame::lang();
    let now = OffsetDateTime::now_utc();
    let result = async {
        let offer = handover::look(state, &token(raw), now).await?;
        let policy = crate::extract::lifecycle::policy_now(state).await?;
        let purpose = policy.purpose(&offer.purpose).map_or_else(
            || offer.purpose.as_str().to_owned(),
            |p| pick(lang, &p.name_sv, &p.name_en).to_owned(),
        );
        Ok::<_, ApiError>(context! {
            token => raw, processor => offer.processor_name, agreement => offer.agreement_ref,
            purpose, rows => offer.rows, until => when(lang, offer.link_expires_at),
            code_sent => offer.code_sent || code_sent_now, code_sent_now,
            code_minutes => handover::CODE_MINUTES,
        })
    }
    .await;
    match result {
        Ok(ctx) => render(state, StatusCode::OK, "handover.html", ctx),
        Err(e) => refusal(state, e),
    }
}

/// The page behind the hand-over mail's link. Changes nothing (a link scanner's GET reveals
/// only the processor's and the purpose's names).
pub async fn handover_page(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    offer_page(&state, &raw, false).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// Mails a one-time code to the processor's contact, then shows the code form.
pub async fn send_handover_code(
    State(state): State<AppState>,
    Form(form): Form<TokenForm>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    match handover::send_code(&state, &token(&form.token), now).await {
        Ok(()) => offer_page(&state, &form.token, true).await,
        Err(e) => refusal(&state, e.into()),
    }
}

#[derive(Deserialize)]
pub struct DownloadForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    code: Option<SecretString>,
}

/// The one download, with the link's token and the mailed code.
pub async fn download_handover(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<DownloadForm>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let code = form.code.as_ref().map_or("", |c| c.expose_secret());
    match handover::download(&state, &token(&form.token), code, &client.ip, now).await {
        Ok(file) => file_response(file),
        Err(e) => refusal(&state, e.into()),
    }
}

/// The page behind the deletion mail's link: the button that confirms deletion.
pub async fn deletion_page(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let lang = frame::lang();
    let now = OffsetDateTime::now_utc();
    match handover::look_deletion(&state, &token(&raw), now).await {
        Ok(h) => {
            let ctx = context! {
                token => raw, processor => h.processor_name, agreement => h.agreement_ref,
                until => h.delete_by.map(|t| when(lang, t)),
            };
            render(&state, StatusCode::OK, "handover_deleted.html", ctx)
        }
        Err(e) => refusal(&state, e.into()),
    }
}

/// The processor confirms that every copy is deleted.
pub async fn confirm_handover_deleted(
    State(state): State<AppState>,
    Form(form): Form<TokenForm>,
) -> Response {
    let lang = frame::lang();
    let now = OffsetDateTime::now_utc();
    match handover::confirm_deletion(&state, &token(&form.token), now).await {
        Ok(_) => {
            let ctx = context! {
                title => text(lang, "handover.confirmed_title"),
                text => text(lang, "handover.confirmed_text"),
            };
            render(&state, StatusCode::OK, "message.html", ctx)
        }
        Err(e) => refusal(&state, e.into()),
    }
}

/// This area's routes: public, each declaring the events the domain records.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::Public;
    use crate::web::Audited::Records;
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::GET,
            "/handover/{token}",
            Public,
            Records(&[A::HandoverRefused]),
            get(handover_page),
        ),
        entry(
            M::POST,
            "/handover/code",
            Public,
            Records(&[A::HandoverCodeSent, A::HandoverRefused]),
            post(send_handover_code),
        ),
        entry(
            M::POST,
            "/handover/download",
            Public,
            Records(&[A::HandoverReleased, A::HandoverRefused, A::HandoverLocked]),
            post(download_handover),
        ),
        entry(
            M::GET,
            "/handover/deleted/{token}",
            Public,
            Records(&[A::HandoverRefused]),
            get(deletion_page),
        ),
        entry(
            M::POST,
            "/handover/deleted",
            Public,
            Records(&[A::HandoverDeletionConfirmed, A::HandoverRefused]),
            post(confirm_handover_deleted),
        ),
    ]
}
