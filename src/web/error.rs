//! The one mapping from errors to HTTP. Wire body: `{ "error": "<stable_code>", "message":
//! "<safe text>" }`. 5xx bodies are generic; the cause is logged once, here, with the request
//! span (which carries the request id), never sent to the client.

use axum::Json;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code, e.g. `not_found`, `body_too_large`, `unavailable`.
    pub error: &'static str,
    /// A sentence safe to show to the user. Never contains secrets or member data.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    /// 401 with a stable code: `not_signed_in`, `session_expired`, `second_factor_required`,
    /// `enrolment_required`, `step_up_required`, `invalid_credentials`, `invalid_code`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str, String),
    #[error("forbidden: {0}")]
    Forbidden(&'static str, String),
    #[error("bad request: {0}")]
    BadRequest(&'static str, String),
    #[error("conflict: {0}")]
    Conflict(&'static str, String),
    #[error("too many requests: {0}")]
    TooManyRequests(&'static str, String),
    #[error("rejected: {1}")]
    Rejected(StatusCode, &'static str, String),
    /// 413 `body_too_large`: the body is over the cap of its route (in bytes), which the
    /// message names, so a client told "too large" knows by how much.
    #[error("request body too large (cap {0} bytes)")]
    BodyTooLarge(usize),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 503 `register_unavailable`: the member register did not answer (down, unreachable, or
    /// a statement past `register.limits`); the cause is logged, the client is told only that
    /// the register is the cause.
    #[error("member register unavailable: {0}")]
    RegisterUnavailable(String),
    /// 503 `clock_behind`: the clock reads earlier than the audit log (`audit::clock`); the
    /// cause is logged, the client gets a generic sentence.
    #[error("service unavailable: {0}")]
    ClockBehind(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized(code, msg) => (StatusCode::UNAUTHORIZED, code, msg.clone()),
            ApiError::Forbidden(code, msg) => (StatusCode::FORBIDDEN, code, msg.clone()),
            ApiError::BadRequest(code, msg) => (StatusCode::UNPROCESSABLE_ENTITY, code, msg.clone()),
            ApiError::Conflict(code, msg) => (StatusCode::CONFLICT, code, msg.clone()),
            ApiError::TooManyRequests(code, msg) => (StatusCode::TOO_MANY_REQUESTS, code, msg.clone()),
            ApiError::Rejected(status, code, msg) => (*status, code, msg.clone()),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such page or endpoint.".into(),
            ),
            ApiError::BodyTooLarge(cap) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("The request body is larger than {cap} bytes."),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Registervakt cannot serve this request right now. Nothing was released; try again shortly.".into(),
            ),
            ApiError::RegisterUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "register_unavailable",
                "The member register is not answering right now. Nothing was released; try again shortly.".into(),
            ),
            ApiError::ClockBehind(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "clock_behind",
                "Registervakt cannot release member data right now. Nothing was released; try again shortly.".into(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side. Nothing was released.".into(),
            ),
        }
    }
}

impl ApiError {
    /// [`parts`](Self::parts) for a page in `lang`: the message becomes the catalogue's
    /// sentence when the code has a fixed meaning (see [`super::i18n::error_text`]).
    pub(crate) fn page_parts(&self, lang: super::i18n::Lang) -> (StatusCode, &'static str, String) {
        let (status, code, message) = self.parts();
        (status, code, super::i18n::error_text(lang, code, &message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, message) = self.parts();
        if status.is_server_error() {
            tracing::error!(cause = %self, "request failed");
        }
        (status, Json(ErrorBody { error, message })).into_response()
    }
}

impl From<crate::auth::Error> for ApiError {
    fn from(e: crate::auth::Error) -> ApiError {
        use crate::auth::Error as A;
        let msg = e.to_string();
        match e {
            A::InvalidCredentials => ApiError::Unauthorized("invalid_credentials", msg),
            A::InvalidCode => ApiError::Unauthorized("invalid_code", msg),
            A::NotSignedIn => ApiError::Unauthorized("not_signed_in", msg),
            A::SessionExpired => ApiError::Unauthorized("session_expired", msg),
            A::SecondFactorRequired => ApiError::Unauthorized("second_factor_required", msg),
            A::EnrolmentRequired => ApiError::Unauthorized("enrolment_required", msg),
            A::StepUpRequired => ApiError::Unauthorized("step_up_required", msg),
            A::Locked { .. } => ApiError::TooManyRequests("second_factor_locked", msg),
            A::FactorDisabled => ApiError::Forbidden("second_factor_disabled", msg),
            A::TooManyAttempts => ApiError::TooManyRequests("too_many_attempts", msg),
            A::InvalidInvitation => ApiError::BadRequest("invalid_invitation", msg),
            A::Password(_) => ApiError::BadRequest("weak_password", msg),
            A::BadInput(_) | A::Noun(_) => ApiError::BadRequest("invalid_input", msg),
            A::UserExists(_) => ApiError::Conflict("user_exists", msg),
            A::NoSuchUser(_) => ApiError::NotFound,
            A::AlreadyEnrolled => ApiError::Conflict("already_enrolled", msg),
            A::OidcRefused(r) => ApiError::Unauthorized(r.code(), msg),
            A::UnknownIdentityProvider => ApiError::Conflict("unknown_identity_provider", msg),
            A::PasskeyRefused => ApiError::Unauthorized("passkey_refused", msg),
            A::NoPasskey => ApiError::Conflict("no_passkey", msg),
            A::NoSuchPasskey => ApiError::NotFound,
            A::PasskeysOff => ApiError::Rejected(StatusCode::NOT_FOUND, "passkeys_off", msg),
            A::LastSecondFactor => ApiError::Conflict("last_second_factor", msg),
            A::PhishingResistantRequired => ApiError::Forbidden("phishing_resistant_required", msg),
            A::OidcUnavailable(_) => ApiError::Unavailable(msg),
            A::Audit(_) | A::Store(_) => ApiError::Unavailable(msg),
            A::Crypto(_) | A::Internal(_) => ApiError::Internal(msg),
        }
    }
}

impl From<crate::nouns::Error> for ApiError {
    fn from(e: crate::nouns::Error) -> ApiError {
        ApiError::BadRequest("invalid_input", e.to_string())
    }
}

/// The register could not be read (it is down, or a query failed or ran past its limit):
/// nothing is decided on a guess, the request is refused as `register_unavailable`. Any other
/// register error is the broker's (a stored district that no longer parses): `unavailable`.
impl From<crate::register::Error> for ApiError {
    fn from(e: crate::register::Error) -> ApiError {
        use crate::register::Error as R;
        match e {
            R::Unreachable { .. } | R::Store(_) => ApiError::RegisterUnavailable(e.to_string()),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl From<crate::admin::Error> for ApiError {
    fn from(e: crate::admin::Error) -> ApiError {
        use crate::admin::Error as E;
        use crate::policy::source::ChangeError as C;
        let msg = e.to_string();
        match e {
            E::NotPermitted => ApiError::Forbidden("not_permitted", msg),
            E::PolicyBroken => ApiError::Forbidden("policy_error", msg),
            E::SecondAdminRequired => ApiError::Forbidden("second_admin_required", msg),
            E::UnknownDistrict(_) => ApiError::Conflict("unknown_district", msg),
            E::CannotResendInvitation => ApiError::Conflict("cannot_resend_invitation", msg),
            E::NotInvited => ApiError::Conflict("not_invited", msg),
            E::NoSuchProposal => ApiError::NotFound,
            E::OwnRole => ApiError::Conflict("own_role", msg),
            E::NoSuchHolding => ApiError::Conflict("no_such_holding", msg),
            E::Stale => ApiError::Conflict("proposal_stale", msg),
            E::Auth(e) => e.into(),
            E::Noun(_) => ApiError::BadRequest("invalid_input", msg),
            E::Policy(C::Invalid(e)) => ApiError::BadRequest("invalid_policy", e.to_string()),
            E::Policy(C::Comment) => ApiError::BadRequest("invalid_input", msg),
            E::Policy(C::Audit(_) | C::Store(_)) | E::Audit(_) | E::Store(_) => {
                ApiError::Unavailable(msg)
            }
        }
    }
}

impl From<crate::extract::Error> for ApiError {
    fn from(e: crate::extract::Error) -> ApiError {
        use crate::extract::Error as X;
        use crate::policy::DenyCode;
        let msg = e.to_string();
        match e {
            X::BadInput(_) => ApiError::BadRequest("invalid_input", msg),
            X::UnknownPurpose(_) => ApiError::BadRequest("unknown_purpose", msg),
            X::NotAcknowledged => ApiError::BadRequest("acknowledgement_required", msg),
            X::UnknownDistrict(_) => ApiError::Conflict("unknown_district", msg),
            X::UnknownChoice {
                field: crate::nouns::Field::LocalBranch,
                ..
            } => ApiError::Conflict("unknown_local_branch", msg),
            X::UnknownChoice { .. } => ApiError::Conflict("unknown_status", msg),
            X::NoMembers => ApiError::Conflict("no_matching_members", msg),
            X::CommentRequired => ApiError::BadRequest("comment_required", msg),
            X::JustificationLength { .. } => ApiError::BadRequest("justification_length", msg),
            // The sentence names the text and the reason; the catalogue's says the reason.
            X::TextRefused {
                why: crate::text::Refused::Length { .. },
                ..
            } => ApiError::BadRequest("invalid_input", msg),
            X::TextRefused { .. } => ApiError::BadRequest("text_refused", msg),
            X::Denied {
                code: DenyCode::UnknownPurpose,
                ..
            } => ApiError::BadRequest("unknown_purpose", msg),
            X::Denied { code, .. } => ApiError::Forbidden(code.as_str(), msg),
            X::NotFound => ApiError::NotFound,
            X::Frozen(_) => ApiError::Rejected(StatusCode::LOCKED, "extracts_frozen", msg),
            X::Gone(_) => ApiError::Rejected(StatusCode::GONE, "extract_gone", msg),
            X::Conflict(code, _) => ApiError::Conflict(code, msg),
            X::FormatNotAllowed(_) => ApiError::BadRequest("format_not_allowed", msg),
            // A request the schema takes, refused for what the list or purpose is: 409, as for
            // an unknown district; only a note the text rules refuse is invalid input.
            X::CallListOnly => ApiError::Conflict("call_list_only", msg),
            X::CallList("note_refused", _) => ApiError::BadRequest("note_refused", msg),
            X::CallList(code, _) => ApiError::Conflict(code, msg),
            X::Handover(why) => {
                use crate::extract::handover::Refusal as R;
                let status = match why {
                    R::UnknownLink => StatusCode::NOT_FOUND,
                    R::LinkExpired | R::AlreadyDownloaded => StatusCode::GONE,
                    R::CodeRequired | R::WrongCode => StatusCode::UNAUTHORIZED,
                    R::Locked => StatusCode::LOCKED,
                    R::TooManyCodes | R::TooManyLinks => StatusCode::TOO_MANY_REQUESTS,
                    R::AlreadyConfirmed => StatusCode::CONFLICT,
                };
                ApiError::Rejected(status, why.as_str(), msg)
            }
            X::Format(crate::extract::format::Error::TooManyRows { .. }) => {
                ApiError::BadRequest("too_many_rows_for_xlsx", msg)
            }
            X::Clock(crate::audit::clock::Error::Behind { .. }) => ApiError::ClockBehind(msg),
            X::Register(e) => ApiError::from(e),
            X::Store(_) | X::Audit(_) | X::Checkpoint(_) | X::Clock(_) | X::Spool(_) => {
                ApiError::Unavailable(msg)
            }
            X::Damaged(_) | X::Crypto(_) | X::Format(_) => ApiError::Internal(msg),
        }
    }
}

impl From<crate::oversight::timeline::Error> for ApiError {
    fn from(e: crate::oversight::timeline::Error) -> ApiError {
        use crate::oversight::timeline::Error as T;
        match e {
            T::BadInput(msg) => ApiError::BadRequest("invalid_input", msg),
            T::Scope(e) => ApiError::from(e),
            T::Store(_) | T::Audit(_) => ApiError::Unavailable(e.to_string()),
        }
    }
}

impl From<crate::oversight::report::Error> for ApiError {
    fn from(e: crate::oversight::report::Error) -> ApiError {
        use crate::oversight::report::Error as R;
        let msg = e.to_string();
        match e {
            R::BadRange(_) => ApiError::BadRequest("invalid_range", msg),
            R::Denied => ApiError::Forbidden("not_permitted", msg),
            R::Store(_) | R::Audit(_) => ApiError::Unavailable(msg),
        }
    }
}

/// Unknown paths: JSON for the API, a page for people.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::NotFound.into_response()
    } else {
        super::render::not_found_page()
    }
}
