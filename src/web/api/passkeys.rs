//! JSON API for passkeys: `/api/v1/passkeys/*`. The page script (`static/passkey.js`) and any
//! other client run the WebAuthn ceremonies through these; the domain is `auth::passkey`.
//!
//! A ceremony is begun and finished by the same session: begin answers the options for
//! `navigator.credentials.create` / `get`, finish takes the authenticator's answer. Finishing
//! a sign-in or step-up renews the session cookie. Unknown JSON fields at the top level are
//! refused; the authenticator's answer is WebAuthn's own JSON (base64url binary fields).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::passkey::{self, Ceremonies, PasskeyName};
use crate::auth::session::{Session, Stage};
use crate::auth::signin::Purpose;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::session::{AnyStage, ClientAddr, SignedIn, session_cookie};

/// The relying party, or the refusal when passkeys are off on this broker.
pub(in crate::web) fn ceremonies(state: &AppState) -> Result<Ceremonies<'_>, ApiError> {
    let rp = state
        .passkeys
        .as_deref()
        .ok_or(crate::auth::Error::PasskeysOff)?;
    Ok(Ceremonies {
        store: &state.store,
        keyring: &state.keyring,
        rp,
        step_up_max_age: state.config.sessions.step_up_max_age_secs,
    })
}

/// WebAuthn's options for the browser, as `webauthn-rs` writes them (`{ "publicKey": … }`).
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct PasskeyOptions(serde_json::Value);

fn options<T: Serialize>(value: &T) -> Result<Json<PasskeyOptions>, ApiError> {
    serde_json::to_value(value)
        .map(|v| Json(PasskeyOptions(v)))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistrationRequest {
    /// What the user calls this passkey ("Telefonen"): 1–60 characters on one line.
    #[schema(value_type = crate::web::api::wire_schema::PasskeyName)]
    pub name: String,
    /// The answer of `navigator.credentials.create` (WebAuthn's JSON, binary fields in
    /// base64url). One that does not parse or verify is refused (`passkey_refused`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAssertionRequest {
    /// The answer of `navigator.credentials.get` (WebAuthn's JSON, binary fields in
    /// base64url). One that does not parse or verify is refused (`passkey_refused`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyRegisteredResponse {
    pub id: String,
    /// True when this passkey was the account's first second factor and the session is now
    /// signed in (a new cookie came with the answer).
    pub signed_in: bool,
    /// With the account's first second factor: ten single-use recovery codes, shown once.
    /// Empty otherwise.
    pub recovery_codes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyResponse {
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRenameRequest {
    #[schema(value_type = crate::web::api::wire_schema::PasskeyName)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeySignedInResponse {
    pub signed_in: bool,
}

fn purpose_of(session: &Session) -> Purpose {
    if session.stage == Stage::Full {
        Purpose::StepUp
    } else {
        Purpose::SignIn
    }
}

/// Begins registering a passkey. Needs a session at the enrol stage, or a full one whose
/// second factor is fresh (step-up).
#[utoipa::path(post, path = "/api/v1/passkeys/register/begin", tag = "passkeys",
    responses((status = 200, body = PasskeyOptions),
              (status = 401, description = "Confirm your second factor first (`step_up_required`, `second_factor_required`)", body = ErrorBody),
              (status = 404, description = "Passkeys are off on this broker (`passkeys_off`)", body = ErrorBody)))]
pub async fn begin_registration(
    State(state): State<AppState>,
    AnyStage(session): AnyStage,
) -> Result<Json<PasskeyOptions>, ApiError> {
    let c = ceremonies(&state)?;
    let opts = passkey::begin_registration(&c, &session, OffsetDateTime::now_utc()).await?;
    options(&opts)
}

/// Finishes registering a passkey begun by this session. At the enrol stage it signs the
/// session in (new cookie).
#[utoipa::path(post, path = "/api/v1/passkeys/register/finish", tag = "passkeys",
    request_body = PasskeyRegistrationRequest,
    responses((status = 201, body = PasskeyRegisteredResponse),
              (status = 401, description = "The answer did not verify, or no registration was begun (`passkey_refused`), or the second factor is not fresh (`step_up_required`)", body = ErrorBody),
              (status = 404, description = "Passkeys are off on this broker (`passkeys_off`)", body = ErrorBody)))]
pub async fn finish_registration(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AnyStage(session): AnyStage,
    ApiJson(req): ApiJson<PasskeyRegistrationRequest>,
) -> Result<Response, ApiError> {
    let c = ceremonies(&state)?;
    let name = PasskeyName::parse(&req.name)?;
    let now = OffsetDateTime::now_utc();
    let done =
        passkey::finish_registration(&c, &session, &name, &req.credential, &client, now).await?;
    let body = PasskeyRegisteredResponse {
        id: done.id,
        signed_in: done.session.is_some(),
        recovery_codes: done
            .recovery_codes
            .iter()
            .map(|c| c.display().to_owned())
            .collect(),
    };
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    if let Some(new) = &done.session {
        res.headers_mut()
            .append(header::SET_COOKIE, session_cookie(&state, new));
    }
    Ok(res)
}

/// Begins signing in with a passkey (session at the second-factor step) or stepping up
/// (full session).
#[utoipa::path(post, path = "/api/v1/passkeys/authenticate/begin", tag = "passkeys",
    responses((status = 200, body = PasskeyOptions),
              (status = 401, description = "The session must enrol first (`enrolment_required`)", body = ErrorBody),
              (status = 404, description = "Passkeys are off on this broker (`passkeys_off`)", body = ErrorBody),
              (status = 409, description = "The account has no passkey (`no_passkey`)", body = ErrorBody)))]
pub async fn begin_authentication(
    State(state): State<AppState>,
    AnyStage(session): AnyStage,
) -> Result<Json<PasskeyOptions>, ApiError> {
    let c = ceremonies(&state)?;
    let purpose = purpose_of(&session);
    let opts =
        passkey::begin_authentication(&c, &session, purpose, OffsetDateTime::now_utc()).await?;
    options(&opts)
}

/// Finishes signing in or stepping up with a passkey; renews the session cookie.
#[utoipa::path(post, path = "/api/v1/passkeys/authenticate/finish", tag = "passkeys",
    request_body = PasskeyAssertionRequest,
    responses((status = 200, body = PasskeySignedInResponse,
               headers(("set-cookie" = String, description = "The renewed session cookie"))),
              (status = 401, description = "The answer did not verify, was replayed, or no ceremony was begun (`passkey_refused`)", body = ErrorBody),
              (status = 404, description = "Passkeys are off on this broker (`passkeys_off`)", body = ErrorBody),
              (status = 429, description = "Too many failed sign-in steps from this address (`too_many_attempts`)", body = ErrorBody)))]
pub async fn finish_authentication(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AnyStage(session): AnyStage,
    ApiJson(req): ApiJson<PasskeyAssertionRequest>,
) -> Result<Response, ApiError> {
    let c = ceremonies(&state)?;
    let purpose = purpose_of(&session);
    let now = OffsetDateTime::now_utc();
    let new = passkey::finish_authentication(&c, &session, purpose, &req.credential, &client, now)
        .await?;
    let mut res = Json(PasskeySignedInResponse { signed_in: true }).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&state, &new));
    Ok(res)
}

/// The caller's passkeys, oldest first. Needs a full session.
#[utoipa::path(get, path = "/api/v1/passkeys", tag = "passkeys",
    responses((status = 200, body = Vec<PasskeyResponse>)))]
pub async fn list_passkeys(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<Vec<PasskeyResponse>>, ApiError> {
    let list = passkey::list(&state.store, &session.user_id).await?;
    Ok(Json(
        list.into_iter()
            .map(|p| PasskeyResponse {
                id: p.id,
                name: p.name,
                created_at: p.created_at,
                last_used_at: p.last_used_at,
            })
            .collect(),
    ))
}

/// Renames one of the caller's passkeys. Needs a full session.
#[utoipa::path(post, path = "/api/v1/passkeys/{id}/name", tag = "passkeys",
    params(("id" = String, Path, description = "The passkey's id")),
    request_body = PasskeyRenameRequest,
    responses((status = 204, description = "Renamed"),
              (status = 404, description = "The caller has no passkey with this id", body = ErrorBody)))]
pub async fn rename_passkey(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PasskeyRenameRequest>,
) -> Result<StatusCode, ApiError> {
    let name = PasskeyName::parse(&req.name)?;
    passkey::rename(
        &state.store,
        &session,
        &id,
        &name,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes one of the caller's passkeys. Needs a fresh second factor; the last second factor
/// of the account cannot be removed.
#[utoipa::path(post, path = "/api/v1/passkeys/{id}/remove", tag = "passkeys",
    params(("id" = String, Path, description = "The passkey's id")),
    responses((status = 204, description = "Removed"),
              (status = 401, description = "Confirm your second factor first (`step_up_required`)", body = ErrorBody),
              (status = 404, description = "The caller has no passkey with this id", body = ErrorBody),
              (status = 409, description = "It is the account's only second factor (`last_second_factor`)", body = ErrorBody)))]
pub async fn remove_passkey(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    passkey::remove(
        &state.store,
        &session,
        &id,
        state.config.sessions.step_up_max_age_secs,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This area's routes: who may call each one and what it records in the audit log.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::{SecondFactorStep, SignedIn};
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::POST,
            "/api/v1/passkeys/register/begin",
            SecondFactorStep,
            NotAudited("the start of the caller's own passkey set-up; its finish is audited"),
            post(begin_registration),
        ),
        entry(
            M::POST,
            "/api/v1/passkeys/register/finish",
            SecondFactorStep,
            Records(&[A::PasskeyRegistered, A::PasskeyRejected]),
            post(finish_registration),
        ),
        entry(
            M::POST,
            "/api/v1/passkeys/authenticate/begin",
            SecondFactorStep,
            NotAudited("a challenge for the caller's own passkeys; the answer is audited"),
            post(begin_authentication),
        ),
        entry(
            M::POST,
            "/api/v1/passkeys/authenticate/finish",
            SecondFactorStep,
            Records(&[
                A::SecondFactorAccepted,
                A::SecondFactorRejected,
                A::AddressLimited,
            ]),
            post(finish_authentication),
        ),
        entry(
            M::GET,
            "/api/v1/passkeys",
            SignedIn,
            NotAudited("the caller's own passkeys' names and dates"),
            get(list_passkeys),
        ),
        entry(
            M::POST,
            "/api/v1/passkeys/{id}/name",
            SignedIn,
            Records(&[A::PasskeyRenamed]),
            post(rename_passkey),
        ),
        entry(
            M::POST,
            "/api/v1/passkeys/{id}/remove",
            SignedIn,
            Records(&[A::PasskeyRemoved]),
            post(remove_passkey),
        ),
    ]
}
