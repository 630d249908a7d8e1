//! JSON API for signing in: `/api/v1/auth/*` and `/api/v1/me`.
//!
//! Each handler's doc names what it needs. Unknown JSON fields are refused.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::session::{NewSession, Stage};
use crate::auth::signin::{self, Purpose};
use crate::auth::{accounts, totp};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::json::ApiJson;
use crate::web::session::{AnyStage, ClientAddr, SignedIn, clear_cookie, session_cookie};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Always true: a password alone never signs anyone in.
    pub second_factor_required: bool,
    /// True when the account has no authenticator yet and must enrol first.
    pub enrolment_required: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Six digits from the authenticator app, or a recovery code for `/auth/recovery`.
    #[schema(value_type = String)]
    pub code: SecretString,
}

#[derive(Serialize, ToSchema)]
pub struct SignedInResponse {
    pub signed_in: bool,
}

#[derive(Serialize, ToSchema)]
pub struct EnrolmentResponse {
    /// Scan this (or the QR code) with an authenticator app. Shown once.
    pub otpauth_uri: String,
    pub secret_base32: String,
    pub qr_svg: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Ten single-use codes, shown once. Store them somewhere safe.
    pub recovery_codes: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    #[schema(value_type = String)]
    pub token: SecretString,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

#[derive(Serialize, ToSchema)]
pub struct RoleResponse {
    pub role: String,
    /// A district name, or `*` for the whole party.
    pub district: String,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub username: String,
    pub display_name: String,
    pub roles: Vec<RoleResponse>,
    /// Seconds since the last second-factor proof (step-up is needed after 300).
    pub second_factor_age_secs: Option<i64>,
}

fn with_cookie<T: Serialize>(
    state: &AppState,
    new: &NewSession,
    status: StatusCode,
    body: T,
) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(state, new));
    res
}

fn code_of(req: &CodeRequest) -> Result<totp::Code, ApiError> {
    totp::Code::parse(req.code.expose_secret()).map_err(|_| {
        ApiError::Unauthorized("invalid_code", crate::auth::Error::InvalidCode.to_string())
    })
}

/// Step 1 of sign-in. Public. Sets a session cookie that only reaches the second-factor step.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse,
               headers(("set-cookie" = String, description = "The session cookie, at the second-factor step"))),
              (status = 401, description = "Unknown user or wrong password: the same answer (`invalid_credentials`, A8)", body = ErrorBody),
              (status = 429, description = "Too many failed sign-in steps from this address (`too_many_attempts`)", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let new = signin::with_password(
        &state.store,
        &state.pseudonyms,
        &req.username,
        &req.password,
        &client,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let body = LoginResponse {
        second_factor_required: true,
        enrolment_required: new.stage == Stage::Enrol,
    };
    Ok(with_cookie(&state, &new, StatusCode::OK, body))
}

/// Step 2 of sign-in, and step-up. Needs a session at any stage (password done).
#[utoipa::path(post, path = "/api/v1/auth/totp", tag = "auth", request_body = CodeRequest,
    responses((status = 200, body = SignedInResponse,
               headers(("set-cookie" = String, description = "The renewed session cookie"))),
              (status = 401, description = "A wrong or used code (`invalid_code`), or a session that must enrol first (`enrolment_required`)", body = ErrorBody),
              (status = 403, description = "The second factor is disabled after too many failures (`second_factor_disabled`)", body = ErrorBody),
              (status = 429, description = "Too many failed sign-in steps from this address (`too_many_attempts`), or the second factor is locked for a while (`second_factor_locked`)", body = ErrorBody)))]
pub async fn submit_totp(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AnyStage(session): AnyStage,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let purpose = if session.stage == Stage::Full {
        Purpose::StepUp
    } else {
        Purpose::SignIn
    };
    let code = code_of(&req)?;
    let new = signin::with_totp(
        &state.store,
        &state.keyring,
        &session,
        &code,
        purpose,
        &client,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(with_cookie(
        &state,
        &new,
        StatusCode::OK,
        SignedInResponse { signed_in: true },
    ))
}

/// Step 2 with a recovery code. Needs a session waiting for its second factor.
#[utoipa::path(post, path = "/api/v1/auth/recovery", tag = "auth", request_body = CodeRequest,
    responses((status = 200, body = SignedInResponse,
               headers(("set-cookie" = String, description = "The renewed session cookie"))),
              (status = 401, description = "A wrong or used recovery code (`invalid_code`), or a session that must enrol first (`enrolment_required`)", body = ErrorBody),
              (status = 403, description = "The second factor is disabled after too many failures (`second_factor_disabled`)", body = ErrorBody),
              (status = 429, description = "Too many failed sign-in steps from this address (`too_many_attempts`), or the second factor is locked for a while (`second_factor_locked`)", body = ErrorBody)))]
pub async fn submit_recovery_code(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AnyStage(session): AnyStage,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let new = signin::with_recovery_code(
        &state.store,
        &session,
        req.code.expose_secret(),
        &client,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(with_cookie(
        &state,
        &new,
        StatusCode::OK,
        SignedInResponse { signed_in: true },
    ))
}

/// Starts TOTP enrolment. Needs a session at the `enrol` stage.
#[utoipa::path(post, path = "/api/v1/auth/enrol", tag = "auth",
    responses((status = 200, body = EnrolmentResponse),
              (status = 409, description = "The account already has an authenticator (`already_enrolled`)", body = ErrorBody)))]
pub async fn begin_enrolment(
    State(state): State<AppState>,
    AnyStage(session): AnyStage,
) -> Result<Json<EnrolmentResponse>, ApiError> {
    let e = signin::begin_enrolment(
        &state.store,
        &state.keyring,
        &session,
        "Registervakt",
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(EnrolmentResponse {
        otpauth_uri: e.otpauth_uri.expose_secret().to_owned(),
        secret_base32: e.secret_base32.expose_secret().to_owned(),
        qr_svg: e.qr_svg,
    }))
}

/// Confirms enrolment with a first code; returns the recovery codes once. Needs an `enrol` session.
#[utoipa::path(post, path = "/api/v1/auth/enrol/confirm", tag = "auth", request_body = CodeRequest,
    responses((status = 200, body = RecoveryCodesResponse,
               headers(("set-cookie" = String, description = "The renewed, fully signed-in session cookie"))),
              (status = 401, description = "A wrong code (`invalid_code`)", body = ErrorBody),
              (status = 409, description = "The account already has an authenticator (`already_enrolled`)", body = ErrorBody),
              (status = 422, description = "Enrolment was not started (`invalid_input`), or the body is refused", body = ErrorBody)))]
pub async fn confirm_enrolment(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AnyStage(session): AnyStage,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    let code = code_of(&req)?;
    let (new, codes) = signin::confirm_enrolment(
        &state.store,
        &state.keyring,
        &session,
        &code,
        &client,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let body = RecoveryCodesResponse {
        recovery_codes: codes.iter().map(|c| c.display().to_owned()).collect(),
    };
    Ok(with_cookie(&state, &new, StatusCode::OK, body))
}

/// Signs out. Needs a session at any stage.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out; the cookie is cleared",
               headers(("set-cookie" = String, description = "The session cookie, expired")))))]
pub async fn logout(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AnyStage(session): AnyStage,
) -> Result<Response, ApiError> {
    signin::sign_out(&state.store, &session, &client, OffsetDateTime::now_utc()).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(&state));
    Ok(res)
}

/// Sets the password of an invited user. Public (the token is the credential).
#[utoipa::path(post, path = "/api/v1/auth/invitation", tag = "auth", request_body = AcceptInvitationRequest,
    responses((status = 204, description = "The password is set; sign in next"),
              (status = 422, description = "An unknown, used or expired invitation (`invalid_invitation`), a weak password (`weak_password`), or a refused body", body = ErrorBody)))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AcceptInvitationRequest>,
) -> Result<StatusCode, ApiError> {
    accounts::accept_invitation(
        &state.store,
        req.token.expose_secret(),
        &req.password,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who am I. Needs a full session.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = MeResponse)))]
pub async fn me(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
) -> Result<Json<MeResponse>, ApiError> {
    let roles = state
        .store
        .list_roles(&session.user_id)
        .await
        .map_err(crate::auth::Error::from)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    Ok(Json(MeResponse {
        username: session.username,
        display_name: session.display_name,
        roles: roles
            .into_iter()
            .map(|r| RoleResponse {
                role: r.role,
                district: r.district,
            })
            .collect(),
        second_factor_age_secs: session.second_factor_at.map(|t| now - t),
    }))
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::audit::EventKind as A;
    use crate::web::Access::{Public, SecondFactorStep, SignedIn};
    use crate::web::Audited::{NotAudited, Records};
    use crate::web::entry;
    use crate::web::route_audit as ra;
    use axum::http::Method as M;
    use axum::routing::{get, post};
    vec![
        entry(
            M::POST,
            "/api/v1/auth/login",
            Public,
            ra::PASSWORD,
            post(login),
        ),
        entry(
            M::POST,
            "/api/v1/auth/invitation",
            Public,
            Records(&[A::InvitationAccepted]),
            post(accept_invitation),
        ),
        entry(
            M::POST,
            "/api/v1/auth/totp",
            SecondFactorStep,
            ra::SECOND_FACTOR,
            post(submit_totp),
        ),
        entry(
            M::POST,
            "/api/v1/auth/recovery",
            SecondFactorStep,
            ra::SECOND_FACTOR,
            post(submit_recovery_code),
        ),
        entry(
            M::POST,
            "/api/v1/auth/enrol",
            SecondFactorStep,
            NotAudited("the caller's own authenticator set-up; binding it is audited"),
            post(begin_enrolment),
        ),
        entry(
            M::POST,
            "/api/v1/auth/enrol/confirm",
            SecondFactorStep,
            Records(&[A::TotpEnrolled]),
            post(confirm_enrolment),
        ),
        entry(
            M::POST,
            "/api/v1/auth/logout",
            SecondFactorStep,
            Records(&[A::SignedOut]),
            post(logout),
        ),
        entry(
            M::GET,
            "/api/v1/me",
            SignedIn,
            NotAudited("the caller's own account"),
            get(me),
        ),
    ]
}
