//! Sign-in through the broker's own endpoints against a real `oidc-provider`:
//! `/auth/oidc/{provider}/start` → provider → `/auth/oidc/{provider}/callback` (SECURITY_BAR
//! A6, A7; issue 17): accounts linked by an administrator, accounts made for the provider
//! that accept their invitation there, a method-URN broker with a level claim, step-up at the
//! provider (F-6), and every refusal a page in the user's language, audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::oidc_support;

use common::leaks::Kind;
use common::pages::{csrf, page};
use common::{TestApp, session_cookie};
use oidc_support::{CLIENT_ID, CLIENT_SECRET, Provider, walk};
use serde_json::Value;

/// The callback the provider redirects to; never served there: the test delivers it to the
/// broker's real address.
const CALLBACK: &str = "http://127.0.0.1:9/auth/oidc/eid/callback";
const PNR: &str = "195307279878";

/// A provider whose only redirect URI is the broker's callback for provider `eid`.
fn provider(method_broker: bool) -> Provider {
    let mut env = vec![("REDIRECT_URI", CALLBACK)];
    if method_broker {
        env.push(("BROKER", "method"));
    }
    Provider::start_with(&env)
}

/// A broker whose `[oidc.eid]` points at `provider` with the trust rule `rule` (TOML keys).
/// Its public URL is the one the provider knows, so the provider's redirect carries exactly
/// what the broker expects; the test then delivers that callback to the broker's address.
async fn broker(provider: &Provider, rule: &str) -> TestApp {
    let dir = common::prepare(50).await;
    dir.leaks.text(Kind::IdentityNumber, PNR);
    let text = dir.config_text().replace(
        "secure_cookies = false",
        "secure_cookies = false\npublic_url = \"http://127.0.0.1:9\"",
    );
    let text = text
        + format!(
            "\n[oidc.eid]\nlabel_sv = \"Logga in med e-legitimation\"\nlabel_en = \"Sign in with e-ID\"\n\
             issuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             timeout_secs = 5\n[[oidc.eid.two_factors]]\n{rule}\n",
            provider.issuer
        )
        .as_str();
    std::fs::write(&dir.config_path, text).unwrap();
    common::spawn_app_in(dir).await
}

const METHOD_RULE: &str =
    "acr = [\"urn:grn:authn:se:frejaid\"]\nclaim = \"registrationLevel\"\nvalues = [\"PLUS\"]";

async fn link_alice(app: &TestApp, provider: &Provider) -> common::EnrolledUser {
    let user = app.user("alice", &["staff:Uppsala"]).await;
    let store = app.store().await;
    registervakt::auth::oidc_login::link(
        &store,
        registervakt::audit::Actor::cli(),
        "alice",
        &provider.issuer,
        "alice",
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    user
}

/// The binding cookie a start answer sets.
fn binding_of(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("registervakt-oidc="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}

/// `POST /auth/oidc/eid/start` with `form`: the provider URL and the browser-binding cookie.
async fn start(app: &TestApp, form: &[(&str, &str)]) -> (String, String) {
    let res = app
        .client
        .post(app.url("/auth/oidc/eid/start"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("code_challenge_method=S256"));
    (location, binding_of(&res))
}

/// Delivers the provider's answer (its query pairs) to the broker, as the browser would.
async fn callback(
    app: &TestApp,
    pairs: &[(String, String)],
    binding: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url("/auth/oidc/eid/callback"))
        .query(pairs);
    if let Some(b) = binding {
        req = req.header("cookie", b);
    }
    req.send().await.unwrap()
}

/// Start, sign in at the provider with `hint`, and deliver the answer.
async fn round_trip(app: &TestApp, form: &[(&str, &str)], hint: &str) -> reqwest::Response {
    let (url, binding) = start(app, form).await;
    let pairs = walk(&url, hint, CALLBACK).await;
    callback(app, &pairs, Some(&binding)).await
}

async fn events(app: &TestApp, action: &str) -> Vec<Value> {
    let store = app.store().await;
    store
        .list_recent_audit_events(200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| serde_json::from_str::<Value>(&e.details).unwrap())
        .collect()
}

async fn rejection_reasons(app: &TestApp) -> Vec<String> {
    events(app, "auth.oidc_reject")
        .await
        .into_iter()
        .map(|d| d["reason"].as_str().unwrap().to_owned())
        .collect()
}

/// The session cookie from a successful callback: a page that goes on to `next` by itself.
async fn signed_in(res: reqwest::Response, next: &str) -> String {
    assert_eq!(res.status(), 200);
    let cookie = session_cookie(&res).expect("a session cookie");
    let body = res.text().await.unwrap().replace("&#x2f;", "/");
    assert!(
        body.contains(&format!("http-equiv=\"refresh\" content=\"0; url={next}\"")),
        "continues to {next}: {body}"
    );
    cookie
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn the_login_page_shows_each_configured_provider() {
    let provider = provider(false);
    let app = broker(&provider, "amr = [\"otp\"]").await;
    let sv = app
        .client
        .get(app.url("/login"))
        .header("cookie", "rv_lang=sv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sv.contains("action=\"/auth/oidc/eid/start\""));
    assert!(sv.contains("Logga in med e-legitimation"));
    let en = app
        .client
        .get(app.url("/login"))
        .header("cookie", "rv_lang=en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("Sign in with e-ID"));
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_oidc_sign_in_without_trusted_mfa_still_needs_the_brokers_totp() {
    let provider = provider(false);
    let app = broker(&provider, "amr = [\"hwk\"]").await;
    link_alice(&app, &provider).await;
    let cookie = signed_in(round_trip(&app, &[], "mfa").await, "/login/code").await;
    let me = app.get_with("/api/v1/me", Some(&cookie)).await;
    assert_eq!(
        me.status(),
        401,
        "an untrusted acr/amr leaves the session half-signed-in"
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_oidc_sign_in_with_trusted_mfa_is_a_full_session() {
    let provider = provider(false);
    let app = broker(&provider, "amr = [\"otp\"]").await;
    link_alice(&app, &provider).await;
    let cookie = signed_in(round_trip(&app, &[], "mfa").await, "/start").await;
    assert_eq!(
        app.get_with("/api/v1/me", Some(&cookie)).await.status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_replayed_state_is_rejected_and_audited() {
    let provider = provider(false);
    let app = broker(&provider, "amr = [\"otp\"]").await;
    link_alice(&app, &provider).await;
    let (url, binding) = start(&app, &[]).await;
    let pairs = walk(&url, "mfa", CALLBACK).await;
    assert_eq!(callback(&app, &pairs, Some(&binding)).await.status(), 200);
    let replay = callback(&app, &pairs, Some(&binding)).await;
    assert_eq!(replay.status(), 401);
    assert!(session_cookie(&replay).is_none());
    assert!(
        rejection_reasons(&app)
            .await
            .contains(&"unknown_or_replayed_state".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_callback_in_another_browser_than_the_one_that_started_is_rejected() {
    let provider = provider(false);
    let app = broker(&provider, "amr = [\"otp\"]").await;
    link_alice(&app, &provider).await;
    let (url, _binding) = start(&app, &[]).await;
    let pairs = walk(&url, "mfa", CALLBACK).await;
    let res = callback(&app, &pairs, None).await;
    assert_eq!(res.status(), 401);
    assert!(session_cookie(&res).is_none());
    assert!(
        rejection_reasons(&app)
            .await
            .contains(&"browser_binding".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_identity_not_linked_to_an_account_is_rejected_never_matched_by_email() {
    let provider = provider(false);
    let app = broker(&provider, "amr = [\"otp\"]").await;
    // A user exists, but nobody linked alice's (issuer, subject) to it.
    app.user("alice", &["staff:Uppsala"]).await;
    let res = round_trip(&app, &[], "mfa").await;
    assert_eq!(res.status(), 401);
    let body = res.text().await.unwrap();
    assert!(body.contains("inte kopplat"), "{body}");
    assert!(
        rejection_reasons(&app)
            .await
            .contains(&"no_linked_account".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_cancel_at_the_provider_is_a_page_in_the_users_language_and_audited() {
    let provider = provider(false);
    let app = broker(&provider, "amr = [\"otp\"]").await;
    link_alice(&app, &provider).await;
    let res = round_trip(&app, &[], "cancel").await;
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(session_cookie(&res).is_none());
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Du avbröt inloggningen hos Logga in med e-legitimation"),
        "{body}"
    );
    let cancels = events(&app, "auth.oidc_reject").await;
    assert!(
        cancels
            .iter()
            .any(|d| d["reason"] == "cancelled" && d["error"] == "access_denied"),
        "{cancels:?}"
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_oidc_only_user_accepts_the_invitation_at_the_provider_and_signs_in_there_only_at_a_trusted_level()
 {
    let provider = provider(true);
    let app = broker(&provider, METHOD_RULE).await;
    let store = app.store().await;
    let new = registervakt::auth::accounts::NewUser {
        username: registervakt::nouns::Username::parse("eva").unwrap(),
        display_name: "Eva Ek".into(),
        roles: vec!["staff:Uppsala".parse().unwrap()],
        email: None,
        oidc_provider: Some("eid".into()),
    };
    let invitation = registervakt::auth::accounts::create_user(
        &store,
        registervakt::audit::Actor::cli(),
        new,
        3600,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let token = secrecy::ExposeSecret::expose_secret(&invitation.token).to_owned();
    app.dir.leaks.token(Kind::InvitationToken, &token);

    // The invitation page offers the provider, never a password.
    let invite = app
        .client
        .get(app.url(&format!("/invite/{token}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        invite.contains("action=\"/auth/oidc/eid/start\""),
        "{invite}"
    );
    assert!(!invite.contains("type=\"password\""));
    // … and setting one through the form is refused: no second way in.
    let password = app
        .client
        .post(app.url("/invite"))
        .form(&[
            ("token", token.as_str()),
            ("password", "a long enough passphrase here"),
            ("password_again", "a long enough passphrase here"),
        ])
        .send()
        .await
        .unwrap();
    assert_ne!(password.status(), 200);

    // A level the rules do not trust neither accepts the invitation nor uses it up.
    let weak = round_trip(&app, &[("invitation", &token)], "level=BASIC").await;
    assert_eq!(weak.status(), 401);
    assert!(
        weak.text()
            .await
            .unwrap()
            .contains("inte tillräckligt stark")
    );

    // At a trusted level the identity is bound to the account once and it is signed in.
    let cookie = signed_in(
        round_trip(&app, &[("invitation", &token)], "level=PLUS").await,
        "/start",
    )
    .await;
    let me = app.get_json_with("/api/v1/me", &cookie).await;
    assert_eq!(me["username"], "eva", "{me}");
    let links = events(&app, "user.oidc_link").await;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["by"], "invitation");
    // The invitation is used up: the start already says so.
    let again = app
        .client
        .post(app.url("/auth/oidc/eid/start"))
        .form(&[("invitation", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("Inbjudan gäller inte längre")
    );

    // Step-up is offered at the provider, never as a code from an app the user does not have.
    let (status, confirm) = page(&app, "/confirm?next=/start", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains("action=\"/auth/oidc/eid/step-up\""),
        "{confirm}"
    );
    assert!(!confirm.contains("name=\"code\""), "{confirm}");

    // Later sign-ins: trusted level in, untrusted level out (no app code to fall back on).
    signed_in(round_trip(&app, &[], "level=PLUS").await, "/start").await;
    let basic = round_trip(&app, &[], "level=BASIC").await;
    assert_eq!(basic.status(), 401);
    assert!(
        rejection_reasons(&app)
            .await
            .contains(&"level_not_trusted".to_owned())
    );
    // The broker's personal identity number claim is in no file, log line or audit entry.
    let hits = app.dir.leak_scan().await;
    assert!(hits.is_empty(), "{hits:?}");
    store.close().await;
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_subject_that_is_an_identity_number_is_refused_and_never_stored() {
    let provider = provider(true);
    let app = broker(&provider, METHOD_RULE).await;
    let res = round_trip(&app, &[], &format!("level=PLUS,sub={PNR}")).await;
    assert_eq!(res.status(), 401);
    assert!(
        rejection_reasons(&app)
            .await
            .contains(&"subject_is_identity_number".to_owned())
    );
    let hits = app.dir.leak_scan().await;
    assert!(hits.is_empty(), "{hits:?}");
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_session_signed_in_at_the_provider_steps_up_there_and_an_old_authentication_is_refused() {
    let provider = provider(false);
    let app = broker(&provider, "amr = [\"otp\"]").await;
    link_alice(&app, &provider).await;
    // A provider that answers a sign-in with an hour-old authentication: refused (max_age).
    let old = round_trip(&app, &[], "mfa,old").await;
    assert_eq!(old.status(), 401);
    assert!(old.text().await.unwrap().contains("för gammal"));
    assert!(
        rejection_reasons(&app)
            .await
            .contains(&"auth_time".to_owned())
    );

    let cookie = signed_in(round_trip(&app, &[], "mfa").await, "/start").await;
    let (_, start_page) = page(&app, "/start", &cookie).await;
    let token = csrf(&start_page);
    let step_up = |cookie: String, token: String| {
        let app = &app;
        async move {
            let res = app
                .client
                .post(app.url("/auth/oidc/eid/step-up"))
                .header("cookie", cookie)
                .form(&[("csrf", token.as_str()), ("next", "/extracts")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 303);
            let url = res.headers()["location"].to_str().unwrap().to_owned();
            (url, binding_of(&res))
        }
    };
    // The step-up asks the provider for a new authentication.
    let (url, binding) = step_up(cookie.clone(), token.clone()).await;
    let query: Vec<(String, String)> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert!(query.contains(&("prompt".into(), "login".into())));
    assert!(query.iter().any(|(k, _)| k == "max_age"));
    // A silent single sign-on (an authentication from before the step-up) is no proof.
    let pairs = walk(&url, "mfa,old", CALLBACK).await;
    let refused = callback(&app, &pairs, Some(&binding)).await;
    assert_eq!(refused.status(), 401);
    assert!(session_cookie(&refused).is_none());

    let (url, binding) = step_up(cookie.clone(), token).await;
    let pairs = walk(&url, "mfa", CALLBACK).await;
    let fresh = signed_in(callback(&app, &pairs, Some(&binding)).await, "/extracts").await;
    assert_ne!(fresh, cookie, "the session token is new after the step-up");
    let me = app.get_json_with("/api/v1/me", &fresh).await;
    assert!(me["second_factor_age_secs"].as_i64().unwrap() <= 5, "{me}");
    let steps = events(&app, "auth.second_factor_ok").await;
    assert!(
        steps
            .iter()
            .any(|d| d["method"] == "oidc" && d["purpose"] == "step_up"),
        "{steps:?}"
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_login_begun_at_one_provider_is_never_finished_at_anothers_callback() {
    let provider = provider(false);
    // A second provider section with the same issuer: only the callback path tells them apart.
    let second = format!(
        "amr = [\"otp\"]\n[oidc.other]\nlabel_sv = \"Annan\"\nlabel_en = \"Other\"\n\
         issuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
         [[oidc.other.two_factors]]\namr = [\"otp\"]",
        provider.issuer
    );
    let app = broker(&provider, &second).await;
    link_alice(&app, &provider).await;
    let (url, binding) = start(&app, &[]).await;
    let pairs = walk(&url, "mfa", CALLBACK).await;
    let res = app
        .client
        .get(app.url("/auth/oidc/other/callback"))
        .query(&pairs)
        .header("cookie", binding.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(session_cookie(&res).is_none());
    assert!(
        rejection_reasons(&app)
            .await
            .contains(&"other_provider".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_identity_provider_answers_a_503_page_and_releases_nothing() {
    let dir = common::prepare(50).await;
    let text = dir.config_text()
        + "\n[oidc.eid]\nlabel_sv = \"Logga in med e-legitimation\"\nlabel_en = \"Sign in with e-ID\"\n\
           issuer = \"http://127.0.0.1:1\"\nclient_id = \"x\"\nclient_secret = \"y\"\ntimeout_secs = 2\n\
           [[oidc.eid.two_factors]]\namr = [\"otp\"]\n";
    std::fs::write(&dir.config_path, text).unwrap();
    let app = common::spawn_app_in(dir).await;
    let res = app
        .client
        .post(app.url("/auth/oidc/eid/start"))
        .header("cookie", "rv_lang=sv")
        .form::<[(&str, &str)]>(&[])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(session_cookie(&res).is_none());
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Logga in med e-legitimation svarar inte just nu"),
        "{body}"
    );
    assert!(
        rejection_reasons(&app)
            .await
            .contains(&"unreachable".to_owned())
    );
    app.stop().await;
}
