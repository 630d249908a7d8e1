//! Sign-in pages: `/login`, `/login/code`, `/login/recovery`, `/enrol`, `/logout`,
//! `/account`, `/invite`. Forms post back to the same page; an error re-renders the form
//! with a sentence in the page's language and the matching status. Forms behind a session
//! carry its CSRF token.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::auth::session::{NewSession, Session, Stage};
use crate::auth::signin::{self, Purpose};
use crate::auth::{accounts, totp};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::frame;
use crate::web::i18n::{Lang, text};
use crate::web::page::PageSession;
use crate::web::session::{ClientAddr, clear_cookie, session_cookie};

use crate::web::page::{PageStep, PageStepForm, csrf_field, refusal, render};

/// An error's status and the sentence a form shows for it, in `lang`.
fn form_error(error: impl Into<ApiError>, lang: Lang) -> (StatusCode, String) {
    let (status, _, message) = error.into().page_parts(lang);
    (status, message)
}

fn redirect_with_session(state: &AppState, to: &str, new: &NewSession) -> Response {
    let mut res = Redirect::to(to).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(state, new));
    res
}

fn after_password(stage: Stage) -> &'static str {
    if stage == Stage::Enrol {
        "/enrol"
    } else {
        "/login/code"
    }
}

/// The sign-in form. Public.
#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    idle: Option<String>,
}

/// The sign-in form; after an idle sign-out (`?idle=1`) it says why the user is here.
pub async fn login_page(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let idle_signed_out = query.is_ok_and(|q| q.idle.is_some());
    render(
        &state,
        StatusCode::OK,
        "login.html",
        context! { username => "", idle_signed_out, providers => providers(&state) },
    )
}

/// The identity providers' buttons: id and label in the page's language.
fn providers(state: &AppState) -> Vec<minijinja::Value> {
    let lang = frame::lang();
    state
        .oidc
        .all()
        .map(|p| context! { id => p.id, label => p.config.label(lang.code()) })
        .collect()
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: SecretString,
}

/// Checks the password. Public.
pub async fn login_submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Response {
    match signin::with_password(
        &state.store,
        &state.pseudonyms,
        &form.username,
        &form.password,
        &client,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(new) => redirect_with_session(&state, after_password(new.stage), &new),
        Err(e) => {
            let (status, message) = form_error(e, frame::lang());
            let ctx = context! { error => message, username => form.username.chars().take(64).collect::<String>() };
            render(&state, status, "login.html", ctx)
        }
    }
}

/// What the code page offers: a passkey (passkeys on and one registered), and the code field
/// unless the user has only passkeys. A store error offers the code field alone.
async fn offers(state: &AppState, session: &Session) -> Offer {
    match crate::auth::passkey::methods(&state.store, &session.user_id).await {
        Ok(m) => Offer {
            passkey: m.passkeys && state.passkeys.is_some(),
            code: m.totp || !m.passkeys || state.passkeys.is_none(),
        },
        Err(_) => Offer {
            passkey: false,
            code: true,
        },
    }
}

#[derive(Clone, Copy)]
struct Offer {
    passkey: bool,
    code: bool,
}

impl Offer {
    const CODE: Offer = Offer {
        passkey: false,
        code: true,
    };
}

fn code_page(
    state: &AppState,
    csrf: &str,
    recovery: bool,
    offer: Offer,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (passkey, code) = (offer.passkey, offer.code);
    let action = if recovery {
        "/login/recovery"
    } else {
        "/login/code"
    };
    let (status, error) = error.map_or((StatusCode::OK, None), |(s, e)| (s, Some(e)));
    render(
        state,
        status,
        "code.html",
        context! { csrf, recovery, action, error, passkey, code },
    )
}

/// The one-time-code form. Needs a session waiting for its second factor (or a full one, for step-up).
pub async fn code_page_get(State(state): State<AppState>, PageStep(session): PageStep) -> Response {
    if session.stage == Stage::Enrol {
        return Redirect::to("/enrol").into_response();
    }
    let offer = offers(&state, &session).await;
    code_page(&state, &session.csrf_token, false, offer, None)
}

/// The recovery-code form. Needs a session waiting for its second factor.
pub async fn recovery_page_get(
    State(state): State<AppState>,
    PageStep(session): PageStep,
) -> Response {
    code_page(&state, &session.csrf_token, true, Offer::CODE, None)
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: SecretString,
    csrf: String,
}

/// Checks a TOTP code. Needs a session waiting for its second factor (or full, for step-up).
pub async fn code_submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageStepForm(session, form): PageStepForm<CodeForm>,
) -> Response {
    let purpose = if session.stage == Stage::Full {
        Purpose::StepUp
    } else {
        Purpose::SignIn
    };
    let result = match totp::Code::parse(form.code.expose_secret()) {
        Ok(code) => {
            signin::with_totp(
                &state.store,
                &state.keyring,
                &session,
                &code,
                purpose,
                &client,
                OffsetDateTime::now_utc(),
            )
            .await
        }
        Err(_) => Err(crate::auth::Error::InvalidCode),
    };
    match result {
        Ok(new) => redirect_with_session(&state, "/start", &new),
        Err(e) => {
            let error = form_error(e, frame::lang());
            let offer = offers(&state, &session).await;
            code_page(&state, &session.csrf_token, false, offer, Some(error))
        }
    }
}

/// Checks a recovery code. Needs a session waiting for its second factor.
pub async fn recovery_submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageStepForm(session, form): PageStepForm<CodeForm>,
) -> Response {
    match signin::with_recovery_code(
        &state.store,
        &session,
        form.code.expose_secret(),
        &client,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(new) => redirect_with_session(&state, "/start", &new),
        Err(e) => {
            let error = form_error(e, frame::lang());
            code_page(&state, &session.csrf_token, true, Offer::CODE, Some(error))
        }
    }
}

/// Shows the TOTP seed to enrol as a QR code: the same one on every reload within the
/// session, so a code scanned a moment ago keeps working. Needs a session at the enrol stage.
pub async fn enrol_page(State(state): State<AppState>, PageStep(session): PageStep) -> Response {
    enrol_form(&state, &session, None).await
}

/// The enrolment page, with the sentence of a refused code. Always 200: the page shows the
/// key, and no error body may hold a secret (SECURITY_BAR D6), so a refusal is said on the
/// page, not in its status.
async fn enrol_form(state: &AppState, session: &Session, error: Option<String>) -> Response {
    let begun = signin::begin_enrolment(
        &state.store,
        &state.keyring,
        session,
        "Registervakt",
        OffsetDateTime::now_utc(),
    )
    .await;
    match begun {
        Ok(e) => {
            let ctx = context! {
                csrf => session.csrf_token, qr_svg => e.qr_svg,
                secret => e.secret_base32.expose_secret(), error,
                passkeys_on => state.passkeys.is_some(),
            };
            render(state, StatusCode::OK, "enrol.html", ctx)
        }
        Err(e) => refusal(state, e.into()),
    }
}

/// Confirms enrolment and shows the recovery codes once. Needs a session at the enrol stage.
pub async fn enrol_submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageStepForm(session, form): PageStepForm<CodeForm>,
) -> Response {
    let lang = frame::lang();
    let Ok(code) = totp::Code::parse(form.code.expose_secret()) else {
        let (_, error) = form_error(crate::auth::Error::InvalidCode, lang);
        return enrol_form(&state, &session, Some(error)).await;
    };
    match signin::confirm_enrolment(
        &state.store,
        &state.keyring,
        &session,
        &code,
        &client,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok((new, codes)) => {
            let codes: Vec<String> = codes.iter().map(|c| c.display().to_owned()).collect();
            let mut res = render(
                &state,
                StatusCode::OK,
                "recovery_codes.html",
                context! { codes },
            );
            res.headers_mut()
                .append(header::SET_COOKIE, session_cookie(&state, &new));
            res
        }
        // A wrong code keeps the user on the page, with the same seed (the session is fine).
        Err(e @ (crate::auth::Error::InvalidCode | crate::auth::Error::BadInput(_))) => {
            enrol_form(&state, &session, Some(form_error(e, lang).1)).await
        }
        Err(e) => refusal(&state, e.into()),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
    /// Set by the idle warning's script when it signs the user out.
    #[serde(default)]
    idle: Option<String>,
}

/// Signs out. Needs a session at any stage.
pub async fn logout_submit(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    PageStepForm(session, form): PageStepForm<LogoutForm>,
) -> Response {
    if let Err(e) =
        signin::sign_out(&state.store, &session, &client, OffsetDateTime::now_utc()).await
    {
        return refusal(&state, e.into());
    }
    let to = if form.idle.is_some() {
        "/login?idle=1"
    } else {
        "/login"
    };
    let mut res = Redirect::to(to).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(&state));
    res
}

/// My account. Needs a full session.
#[derive(Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    msg: Option<String>,
}

pub async fn account_page(
    State(state): State<AppState>,
    PageSession(session): PageSession,
    query: Result<axum::extract::Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let roles = state.store.list_roles(&session.user_id).await;
    let left = state
        .store
        .count_unused_recovery_codes(&session.user_id)
        .await;
    let lang = frame::lang();
    let passkeys = crate::web::pages::passkeys::account_context(&state, &session, lang).await;
    let message = query
        .ok()
        .and_then(|q| q.0.msg)
        .filter(|m| {
            matches!(
                m.as_str(),
                "passkey_saved" | "passkey_renamed" | "passkey_removed"
            )
        })
        .map(|m| text(lang, &format!("passkeys.{m}")));
    match (roles, left, passkeys) {
        (Ok(roles), Ok(left), Ok(passkeys)) => {
            let roles: Vec<minijinja::Value> = roles
                .into_iter()
                .map(|r| {
                    let code = format!("{}:{}", r.role, r.district);
                    context! { label => crate::web::labels::role(lang, &r.role), code }
                })
                .collect();
            let ctx = context! { display_name => session.display_name, username => session.username, roles, recovery_left => left, csrf => session.csrf_token, message };
            let ctx = minijinja::value::merge_maps([ctx, passkeys]);
            render(&state, StatusCode::OK, "account.html", ctx)
        }
        (Err(e), _, _) | (_, Err(e), _) => refusal(&state, crate::auth::Error::from(e).into()),
        (_, _, Err(e)) => refusal(&state, e),
    }
}

/// The invitation form. Public (the token in the link is the credential).
pub async fn invite_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let token: String = token.chars().take(64).collect();
    let now = OffsetDateTime::now_utc();
    match accounts::invitation_provider(&state.store, &token, now).await {
        // An account made for an identity provider accepts by signing in there: no password.
        Ok(Some(id)) => {
            let lang = frame::lang();
            let provider = state
                .oidc
                .get(&id)
                .map(|p| context! { id => p.id, label => p.config.label(lang.code()) });
            let ctx = context! { token, provider, provider_missing => provider.is_none() };
            render(&state, StatusCode::OK, "invite_oidc.html", ctx)
        }
        Ok(None) => render(&state, StatusCode::OK, "invite.html", context! { token }),
        Err(e) => refusal(&state, e.into()),
    }
}

#[derive(Deserialize)]
pub struct InviteForm {
    token: SecretString,
    password: SecretString,
    password_again: SecretString,
}

/// Sets the password of an invited user. Public (the token is the credential).
pub async fn invite_submit(
    State(state): State<AppState>,
    Form(form): Form<InviteForm>,
) -> Response {
    let lang = frame::lang();
    let token = form.token.expose_secret().to_owned();
    if form.password.expose_secret() != form.password_again.expose_secret() {
        let ctx = context! { token, error => text(lang, "invite.differ") };
        return render(&state, StatusCode::UNPROCESSABLE_ENTITY, "invite.html", ctx);
    }
    match accounts::accept_invitation(
        &state.store,
        &token,
        &form.password,
        OffsetDateTime::now_utc(),
    )
    .await
    {
        Ok(_) => {
            let ctx = context! {
                title => text(lang, "invite.saved_title"), text => text(lang, "invite.saved_text"),
                link => "/login", link_text => text(lang, "error.sign_in"),
            };
            render(&state, StatusCode::OK, "message.html", ctx)
        }
        Err(e) => {
            let (status, message) = form_error(e, lang);
            render(
                &state,
                status,
                "invite.html",
                context! { token, error => message },
            )
        }
    }
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
            M::GET,
            "/login",
            Public,
            NotAudited("the sign-in form"),
            get(login_page),
        ),
        entry(M::POST, "/login", Public, ra::PASSWORD, post(login_submit)),
        entry(
            M::GET,
            "/invite/{token}",
            Public,
            NotAudited("the invitation form; the token is checked when it is submitted"),
            get(invite_page),
        ),
        entry(
            M::POST,
            "/invite",
            Public,
            Records(&[A::InvitationAccepted]),
            post(invite_submit),
        ),
        entry(
            M::GET,
            "/login/code",
            SecondFactorStep,
            NotAudited("the code form"),
            get(code_page_get),
        ),
        entry(
            M::POST,
            "/login/code",
            SecondFactorStep,
            ra::SECOND_FACTOR,
            post(code_submit),
        ),
        entry(
            M::GET,
            "/login/recovery",
            SecondFactorStep,
            NotAudited("the recovery-code form"),
            get(recovery_page_get),
        ),
        entry(
            M::POST,
            "/login/recovery",
            SecondFactorStep,
            ra::SECOND_FACTOR,
            post(recovery_submit),
        ),
        entry(
            M::GET,
            "/enrol",
            SecondFactorStep,
            NotAudited("the caller's own authenticator set-up; binding it is audited"),
            get(enrol_page),
        ),
        entry(
            M::POST,
            "/enrol",
            SecondFactorStep,
            Records(&[A::TotpEnrolled]),
            post(enrol_submit),
        ),
        entry(
            M::POST,
            "/logout",
            SecondFactorStep,
            Records(&[A::SignedOut]),
            post(logout_submit),
        ),
        entry(
            M::GET,
            "/account",
            SignedIn,
            NotAudited("the caller's own account"),
            get(account_page),
        ),
    ]
}

csrf_field!(CodeForm, LogoutForm);
