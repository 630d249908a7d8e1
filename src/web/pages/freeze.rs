//! The incident switch from the auditor's pages: `POST /audit/freeze` stops every new extract
//! and destroys every live one now; `POST /audit/freeze/lift` ends it. Both need a party-wide
//! `extract.freeze`, the form's CSRF token, a reason and a fresh second factor (or the form's
//! code) — the same domain call and audit events as `POST /api/v1/freeze` and `/lift`.

use axum::extract::State;
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::extract::expire;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::page::{PageForm, csrf_field, refusal};
use crate::web::pages::extract::{see_other, step_up};
use crate::web::session::{ClientAddr, principal};

#[derive(Deserialize)]
pub struct FreezeForm {
    /// Missing is the same as wrong: 403, like a forged token.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    code: Option<SecretString>,
}

csrf_field!(FreezeForm);

async fn switch(
    state: AppState,
    client: crate::auth::signin::Client,
    session: crate::auth::session::Session,
    form: FreezeForm,
    frozen: bool,
) -> Response {
    let fresh = match step_up(&state, session, form.code.as_ref(), &client).await {
        Ok(f) => f,
        Err(e) => return refusal(&state, e),
    };
    let result = async {
        let who = principal(&state, &fresh.session).await?;
        let now = OffsetDateTime::now_utc();
        expire::set_freeze(&state, &who, frozen, &form.reason, now).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    let res = match result {
        Ok(()) if frozen => see_other("/audit?msg=frozen"),
        Ok(()) => see_other("/audit?msg=unfrozen"),
        Err(e) => refusal(&state, e),
    };
    fresh.send(res)
}

/// Freezes: no new extracts, every live one destroyed now.
pub async fn freeze(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageForm(session, form): PageForm<FreezeForm>,
) -> Response {
    switch(state, client, session, form, true).await
}

/// Lifts the freeze.
pub async fn lift(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageForm(session, form): PageForm<FreezeForm>,
) -> Response {
    switch(state, client, session, form, false).await
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::SignedIn;
    use crate::web::Audited::Records;
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::post;
    vec![
        entry(
            M::POST,
            "/audit/freeze",
            SignedIn,
            Records(&[A::ExtractsFrozen, A::ExtractShredded]),
            post(freeze),
        ),
        entry(
            M::POST,
            "/audit/freeze/lift",
            SignedIn,
            Records(&[A::ExtractsUnfrozen]),
            post(lift),
        ),
    ]
}
