//! Passkeys (SECURITY_BAR A9, issue 17 item 5) against a real broker, with webauthn-rs' own
//! software authenticator (`webauthn-authenticator-rs`, `SoftPasskey`) in the place of the
//! browser: enrol, sign in as the second factor, step up, a replayed or foreign-origin
//! assertion refused, removal, an administrator's reset, and the policy that asks approvers
//! for a passkey. The same path runs on PostgreSQL when `REGISTERVAKT_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{audit_actions, body, download, live_extract, request};
use common::{TestApp, session_cookie, spawn_app_in};
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

/// The broker's public URL in these tests: passkeys are bound to its host.
const ORIGIN: &str = "https://registervakt.example";
const INVITE: &str = "district-assembly-invitation";

type Key = WebauthnAuthenticator<SoftPasskey>;

/// A software passkey that verifies its user (as a phone's fingerprint check would).
fn new_key() -> Key {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// The config text with passkeys on (a public URL with a domain) and, when given, a policy
/// whose `purposes.toml` is the shipped one passed through `purposes`.
fn edit(
    text: String,
    dir: &std::path::Path,
    purposes: Option<&dyn Fn(String) -> String>,
) -> String {
    let mut config = text.replacen(
        "[server]\n",
        &format!("[server]\npublic_url = {ORIGIN:?}\n"),
        1,
    );
    if let Some(purposes) = purposes {
        let policy = common::shipped_policy_edited(dir, purposes);
        config.push_str(&format!(
            "\n[policy]\ndir = {:?}\n",
            policy.display().to_string()
        ));
    }
    config
}

/// The shipped catalogue with these roles asked for a passkey.
fn roles_need_passkeys(roles: &'static str) -> impl Fn(String) -> String {
    move |text| {
        text.replacen(
            "phishing_resistant_roles = []",
            &format!("phishing_resistant_roles = {roles}"),
            1,
        )
    }
}

/// The shipped catalogue with `purpose` asking for a passkey.
fn purpose_needs_passkeys(purpose: &'static str) -> impl Fn(String) -> String {
    move |text| {
        text.replacen(
            &format!("id = \"{purpose}\"\n"),
            &format!("id = \"{purpose}\"\nphishing_resistant = true\n"),
            1,
        )
    }
}

async fn passkey_app(purposes: Option<&dyn Fn(String) -> String>) -> TestApp {
    let dir = common::prepare(200).await;
    let text = std::fs::read_to_string(&dir.config_path).unwrap();
    std::fs::write(&dir.config_path, edit(text, dir.path(), purposes)).unwrap();
    spawn_app_in(dir).await
}

/// Registers a passkey named `name` from `origin`; returns (status, body, new cookie).
async fn register_from(
    app: &TestApp,
    cookie: &str,
    key: &mut Key,
    name: &str,
    origin: &str,
) -> (u16, Value, Option<String>) {
    let res = app
        .post_json("/api/v1/passkeys/register/begin", Some(cookie), json!({}))
        .await;
    let status = res.status().as_u16();
    let options: Value = res.json().await.unwrap();
    if status != 200 {
        return (status, options, None);
    }
    let options = serde_json::from_value(options).unwrap();
    let credential = key
        .do_registration(Url::parse(origin).unwrap(), options)
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/passkeys/register/finish",
            Some(cookie),
            json!({ "name": name, "credential": credential }),
        )
        .await;
    let (status, renewed) = (res.status().as_u16(), session_cookie(&res));
    (status, res.json().await.unwrap_or(Value::Null), renewed)
}

async fn register(app: &TestApp, cookie: &str, key: &mut Key, name: &str) -> (u16, Value) {
    let (status, body, _) = register_from(app, cookie, key, name, ORIGIN).await;
    (status, body)
}

/// The authenticator's answer to a fresh challenge for this session, made at `origin`.
async fn assertion(app: &TestApp, cookie: &str, key: &mut Key, origin: &str) -> Value {
    let res = app
        .post_json(
            "/api/v1/passkeys/authenticate/begin",
            Some(cookie),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let options = serde_json::from_value(res.json().await.unwrap()).unwrap();
    let credential = key
        .do_authentication(Url::parse(origin).unwrap(), options)
        .unwrap();
    serde_json::to_value(credential).unwrap()
}

/// Sends an assertion; returns (status, body, renewed cookie).
async fn finish(app: &TestApp, cookie: &str, credential: &Value) -> (u16, Value, Option<String>) {
    let res = app
        .post_json(
            "/api/v1/passkeys/authenticate/finish",
            Some(cookie),
            json!({ "credential": credential }),
        )
        .await;
    let (status, renewed) = (res.status().as_u16(), session_cookie(&res));
    (status, res.json().await.unwrap_or(Value::Null), renewed)
}

/// Signs in or steps up with the passkey; returns the renewed cookie.
async fn use_passkey(app: &TestApp, cookie: &str, key: &mut Key) -> String {
    let answer = assertion(app, cookie, key, ORIGIN).await;
    let (status, body, renewed) = finish(app, cookie, &answer).await;
    assert_eq!(status, 200, "{body}");
    renewed.expect("a passkey proof renews the session")
}

/// Ages every session's second-factor proof past the step-up age (B2), in the SQLite file.
async fn age_sessions(app: &TestApp) {
    let pool = common::extracts::raw(app).await;
    let age = registervakt::config::DEFAULT_STEP_UP_MAX_AGE_SECS + 1;
    sqlx::query(&format!(
        "UPDATE sessions SET second_factor_at = second_factor_at - {age}"
    ))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

fn error_code(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

/// An invited user who has set a password but has no second factor yet.
async fn invited_user(app: &TestApp, username: &str) -> String {
    use registervakt::auth::accounts;
    let store = app.store().await;
    let now = time::OffsetDateTime::now_utc();
    let new = accounts::NewUser {
        username: registervakt::nouns::Username::parse(username).unwrap(),
        display_name: username.to_owned(),
        roles: vec!["staff:Uppsala".parse().unwrap()],
        email: None,
        oidc_provider: None,
    };
    let invitation =
        accounts::create_user(&store, registervakt::audit::Actor::system(), new, 3600, now)
            .await
            .unwrap();
    let password = format!("{username}-Lösenord-för-passkeys-2026");
    let secret = secrecy::SecretString::from(password.clone());
    use secrecy::ExposeSecret;
    accounts::accept_invitation(&store, invitation.token.expose_secret(), &secret, now)
        .await
        .unwrap();
    store.close().await;
    app.dir.leaks.text(common::leaks::Kind::Password, &password);
    password
}

#[tokio::test]
async fn a_user_enrols_a_passkey_signs_in_with_it_and_steps_up_with_it_to_download() {
    let app = passkey_app(None).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let mut key = new_key();
    let (status, added) = register(&app, &cookie, &mut key, "Telefonen").await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["signed_in"], false, "a full session stays as it is");
    let list = app.get_json_with("/api/v1/passkeys", &cookie).await;
    assert_eq!(list[0]["name"], "Telefonen", "{list}");
    assert!(list[0]["last_used_at"].is_null());

    // Sign in again: password, then the passkey instead of a code.
    let pending = app.password_step("anna", &anna.password).await;
    let res = app.get_with("/api/v1/me", Some(&pending)).await;
    assert_eq!(res.status(), 401, "the password alone signs nobody in");
    let cookie = use_passkey(&app, &pending, &mut key).await;
    let res = app.get_with("/api/v1/me", Some(&cookie)).await;
    assert_eq!(res.status(), 200);
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;

    // Five minutes on, the download needs a fresh proof; the passkey gives it.
    age_sessions(&app).await;
    let (status, _, _) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 401, "step-up required");
    let cookie = use_passkey(&app, &cookie, &mut key).await;
    let (status, _, bytes) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 200);
    assert!(!bytes.is_empty());

    let list = app.get_json_with("/api/v1/passkeys", &cookie).await;
    assert!(list[0]["last_used_at"].is_i64(), "{list}");
    let ok: Vec<_> = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, _, d)| a == "auth.second_factor_ok" && d.contains("\"passkey\""))
        .collect();
    assert_eq!(ok.len(), 2, "sign-in and step-up, each audited: {ok:?}");
    assert!(ok.iter().any(|(_, _, d)| d.contains("step_up")));
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .any(|(a, o, _)| a == "auth.passkey_register" && o == "success")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_or_foreign_origin_assertion_is_refused_and_audited() {
    let app = passkey_app(None).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let mut key = new_key();
    assert_eq!(register(&app, &cookie, &mut key, "Nyckel").await.0, 201);

    let pending = app.password_step("anna", &anna.password).await;
    let answer = assertion(&app, &pending, &mut key, ORIGIN).await;
    let (status, _, renewed) = finish(&app, &pending, &answer).await;
    assert_eq!(status, 200);
    let full = renewed.unwrap();
    // The same answer again: its challenge was taken once and is gone.
    let (status, body, _) = finish(&app, &full, &answer).await;
    assert_eq!((status, error_code(&body)), (401, "passkey_refused"));
    // Nor does it answer a newer challenge.
    let res = app
        .post_json(
            "/api/v1/passkeys/authenticate/begin",
            Some(&full),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (status, _, _) = finish(&app, &full, &answer).await;
    assert_eq!(status, 401);

    // An answer that is not WebAuthn's JSON is refused like a wrong one, and uses up the
    // challenge it was sent for.
    let res = app
        .post_json(
            "/api/v1/passkeys/authenticate/begin",
            Some(&full),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (status, body, _) = finish(&app, &full, &json!({ "id": 5 })).await;
    assert_eq!((status, error_code(&body)), (401, "passkey_refused"));

    // A look-alike site relaying our challenge: the browser reports its own origin.
    let pending = app.password_step("anna", &anna.password).await;
    let relayed = assertion(
        &app,
        &pending,
        &mut key,
        "https://login.registervakt.example",
    )
    .await;
    let (status, body, renewed) = finish(&app, &pending, &relayed).await;
    assert_eq!((status, error_code(&body)), (401, "passkey_refused"));
    assert!(renewed.is_none());
    let res = app.get_with("/api/v1/me", Some(&pending)).await;
    assert_eq!(res.status(), 401, "still half signed in");
    // A registration made for another origin is refused too.
    let (status, body, _) = register_from(
        &app,
        &full,
        &mut new_key(),
        "Falsk",
        "https://login.registervakt.example",
    )
    .await;
    assert_eq!((status, error_code(&body)), (401, "passkey_refused"));

    let actions = audit_actions(&app).await;
    let reasons: Vec<&str> = actions
        .iter()
        .filter(|(a, _, d)| a == "auth.second_factor_fail" && d.contains("passkey"))
        .map(|(_, _, d)| d.as_str())
        .collect();
    assert!(
        reasons.iter().any(|d| d.contains("no_ceremony")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|d| d.contains("wrong_challenge")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|d| d.contains("wrong_origin")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|d| d.contains("malformed")),
        "{reasons:?}"
    );
    assert!(
        actions
            .iter()
            .any(|(a, _, d)| a == "auth.passkey_reject" && d.contains("wrong_origin"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_passkey_enrols_instead_of_the_app_and_the_last_one_cannot_be_removed() {
    let app = passkey_app(None).await;
    passkey_only_user_path(&app).await;
    app.stop().await;
}

/// Enrolment with a passkey instead of the app, sign-in with it, rename, the last factor
/// kept, a second passkey removed with a fresh proof, and the administrator's reset.
async fn passkey_only_user_path(app: &TestApp) {
    let password = invited_user(app, "petra").await;
    let res = app
        .post_json(
            "/api/v1/auth/login",
            None,
            json!({ "username": "petra", "password": password }),
        )
        .await;
    let enrol = session_cookie(&res).unwrap();
    let login: Value = res.json().await.unwrap();
    assert_eq!(login["enrolment_required"], true);
    let mut key = new_key();
    let (status, added, renewed) = register_from(app, &enrol, &mut key, "Telefonen", ORIGIN).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["signed_in"], true);
    let cookie = renewed.expect("enrolment signs the session in");
    assert_eq!(
        app.get_with("/api/v1/me", Some(&cookie)).await.status(),
        200
    );
    // Recovery codes come with the first second factor, as with the app; one signs in.
    let codes = added["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10, "{added}");
    let res = app
        .post_json(
            "/api/v1/auth/login",
            None,
            json!({ "username": "petra", "password": password }),
        )
        .await;
    let pending = session_cookie(&res).unwrap();
    let res = app
        .post_json(
            "/api/v1/auth/recovery",
            Some(&pending),
            json!({ "code": codes[0] }),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Next time the password leads to the second-factor step, and the passkey finishes it.
    let pending = app.password_step("petra", &password).await;
    // The second-factor page offers the passkey and no code field she has no app for.
    let page = app.get_with("/login/code", Some(&pending)).await;
    let page = page.text().await.unwrap();
    assert!(page.contains("data-passkey=\"authenticate\""), "{page}");
    assert!(!page.contains("name=\"code\""), "{page}");
    let cookie = use_passkey(app, &pending, &mut key).await;
    let list = app.get_json_with("/api/v1/passkeys", &cookie).await;
    let first = list[0]["id"].as_str().unwrap().to_owned();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/passkeys/{first}/name")))
        .header("cookie", &cookie)
        .json(&json!({ "name": "Jobbtelefonen" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let remove = |id: String, cookie: String| async move {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/passkeys/{id}/remove")))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, body) = remove(first.clone(), cookie.clone()).await;
    assert_eq!((status, error_code(&body)), (409, "last_second_factor"));
    let mut spare = new_key();
    assert_eq!(register(app, &cookie, &mut spare, "Reserv").await.0, 201);
    let (status, _) = remove(first.clone(), cookie.clone()).await;
    assert_eq!(status, 204);
    let list = app.get_json_with("/api/v1/passkeys", &cookie).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "Reserv");
    // Another user's passkey id is not found, like a missing one.
    let (status, _) = remove("0".repeat(32), cookie.clone()).await;
    assert_eq!(status, 404);

    // The administrator's reset: passkeys gone, every session ended, audited.
    let store = app.store().await;
    registervakt::auth::accounts::reset_second_factor(
        &store,
        registervakt::audit::Actor::system(),
        "petra",
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    store.close().await;
    assert_eq!(
        app.get_with("/api/v1/me", Some(&cookie)).await.status(),
        401
    );
    let res = app
        .post_json(
            "/api/v1/auth/login",
            None,
            json!({ "username": "petra", "password": password }),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["enrolment_required"], true, "no second factor is left");
    let actions = audit_actions(app).await;
    assert!(
        actions.iter().any(
            |(a, _, d)| a == "auth.second_factor_reset" && d.contains("\"passkeys_removed\":1")
        ),
        "{actions:?}"
    );
    assert!(actions.iter().any(|(a, _, _)| a == "auth.passkey_rename"));
    assert!(actions.iter().any(|(a, _, _)| a == "auth.passkey_remove"));
}

#[tokio::test]
async fn removing_a_passkey_needs_a_fresh_second_factor() {
    let app = passkey_app(None).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let mut key = new_key();
    assert_eq!(register(&app, &cookie, &mut key, "Nyckel").await.0, 201);
    let list = app.get_json_with("/api/v1/passkeys", &cookie).await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    age_sessions(&app).await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/passkeys/{id}/remove")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "step-up required");
    // Registering needs a fresh proof too.
    let res = app
        .post_json("/api/v1/passkeys/register/begin", Some(&cookie), json!({}))
        .await;
    assert_eq!(res.status(), 401);
    let cookie = use_passkey(&app, &cookie, &mut key).await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/passkeys/{id}/remove")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "the app remains as the second factor");
    app.stop().await;
}

#[tokio::test]
async fn an_approver_whose_policy_requires_a_passkey_is_refused_with_totp_and_allowed_with_one() {
    let app = passkey_app(Some(&roles_need_passkeys("[\"approver\"]"))).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let asked = body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name"],
        60,
    );
    let (status, created) = request(&app, &anna_c, asked).await;
    assert_eq!(status, 201, "staff is not asked for a passkey: {created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let approve = json!({ "request_hash": created["request_hash"], "comment": "ok" });
    let path = format!("/api/v1/extracts/{id}/approve");

    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let res = app.post_json(&path, Some(&bertil_c), approve.clone()).await;
    assert_eq!(res.status(), 403);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(error_code(&refused), "phishing_resistant_required");
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .any(|(a, o, d)| a == "auth.phishing_resistant_required"
                && o == "denied"
                && d.contains("totp"))
    );

    let mut key = new_key();
    assert_eq!(
        register(&app, &bertil_c, &mut key, "Telefonen").await.0,
        201
    );
    let bertil_c = use_passkey(&app, &bertil_c, &mut key).await;
    let res = app.post_json(&path, Some(&bertil_c), approve).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    app.stop().await;
}

#[tokio::test]
async fn with_an_ip_address_as_public_url_passkeys_are_off_and_say_so() {
    let app = common::spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let res = app
        .post_json("/api/v1/passkeys/register/begin", Some(&cookie), json!({}))
        .await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "passkeys_off");
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn on_postgres_a_passkey_enrols_signs_in_is_renamed_removed_and_reset() {
    let (app, _) = common::postgres::spawn_on_postgres_edited("passkeys", |text, _| {
        text.replacen(
            "[server]\n",
            &format!("[server]\npublic_url = {ORIGIN:?}\n"),
            1,
        )
    })
    .await;
    passkey_only_user_path(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_purpose_that_asks_for_a_passkey_is_refused_with_totp_from_request_to_download() {
    let app = passkey_app(Some(&purpose_needs_passkeys(INVITE))).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    // Signed in with a recovery code (not phishing-resistant either), so that the app's code
    // is still unused for the step-up below.
    let pending = app.password_step("anna", &anna.password).await;
    let res = app
        .post_json(
            "/api/v1/auth/recovery",
            Some(&pending),
            json!({ "code": anna.recovery_codes[0] }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cookie = session_cookie(&res).unwrap();
    let asked = body(INVITE, "Uppsala", &["first_name"], 60);
    let (status, refused) = request(&app, &cookie, asked.clone()).await;
    assert_eq!(
        (status, error_code(&refused)),
        (403, "phishing_resistant_required")
    );
    // Another purpose is not affected.
    let other = body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name"],
        60,
    );
    assert_eq!(request(&app, &cookie, other).await.0, 201);

    let mut key = new_key();
    assert_eq!(register(&app, &cookie, &mut key, "Nyckel").await.0, 201);
    let cookie = use_passkey(&app, &cookie, &mut key).await;
    let id = live_extract(&app, &cookie, asked).await;
    // A step-up with the app's code does not reach this purpose's data.
    age_sessions(&app).await;
    let code_cookie = {
        let res = app
            .post_json(
                "/api/v1/auth/totp",
                Some(&cookie),
                json!({ "code": common::code_now(&anna.secret_base32) }),
            )
            .await;
        assert_eq!(res.status(), 200);
        session_cookie(&res).unwrap()
    };
    let (status, _, bytes) = download(&app, &code_cookie, &id, "csv").await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&bytes).contains("phishing_resistant_required"));
    let cookie = use_passkey(&app, &code_cookie, &mut key).await;
    assert_eq!(download(&app, &cookie, &id, "csv").await.0, 200);
    let refusals = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, _, d)| a == "auth.phishing_resistant_required" && d.contains(INVITE))
        .count();
    assert_eq!(refusals, 2, "the request and the download, each audited");
    app.stop().await;
}
