//! Sessions against a real broker on port 0: SECURITY_BAR B1 (token, cookie, rotation,
//! sign-out, idle and absolute limits, disabling ends sessions), B2 (step-up), and that no
//! seed, token or password reaches the store in the clear (A5, B1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::{TestApp, code_now, session_cookie, spawn_app};
use serde_json::{Value, json};
use sqlx::Executor;

async fn raw(app: &TestApp) -> sqlx::SqlitePool {
    let db = app.dir.data.join("registervakt.db");
    sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap()
}

async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn session_tokens_rotate_at_each_step_and_die_at_logout() {
    let app = spawn_app().await;
    let user = app.user("ylva", &["staff:Uppsala"]).await;
    let pending = app.password_step("ylva", &user.password).await;
    let res = app
        .post_json(
            "/api/v1/auth/totp",
            Some(&pending),
            json!({ "code": code_now(&user.secret_base32) }),
        )
        .await;
    let full = session_cookie(&res).unwrap();
    assert_ne!(pending, full);
    assert_eq!(full.split('=').nth(1).unwrap().len(), 43, "256-bit token");
    assert_eq!(
        app.get_with("/api/v1/me", Some(&pending)).await.status(),
        401,
        "the old token is gone"
    );
    assert_eq!(app.get_with("/api/v1/me", Some(&full)).await.status(), 200);
    assert_eq!(
        app.post_json("/api/v1/auth/logout", Some(&full), json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(app.get_with("/api/v1/me", Some(&full)).await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn idle_and_absolute_limits_end_a_session() {
    let app = spawn_app().await;
    let pool = raw(&app).await;
    let a = app.user("zara", &["staff:Uppsala"]).await;
    let b = app.user("ake", &["staff:Uppsala"]).await;
    let idle = app.sign_in(&a, "zara").await;
    let absolute = app.sign_in(&b, "ake").await;
    let idle_secs = registervakt::config::DEFAULT_IDLE_TIMEOUT_SECS + 1;
    let abs_secs = registervakt::config::DEFAULT_ABSOLUTE_TIMEOUT_SECS + 1;
    // Time is moved by editing the stored times, as if the clock had run on.
    pool.execute(format!("UPDATE sessions SET last_seen_at = last_seen_at - {idle_secs} WHERE user_id = (SELECT id FROM users WHERE username = 'zara')").as_str()).await.unwrap();
    pool.execute(format!("UPDATE sessions SET created_at = created_at - {abs_secs} WHERE user_id = (SELECT id FROM users WHERE username = 'ake')").as_str()).await.unwrap();
    assert_eq!(
        error_code(app.get_with("/api/v1/me", Some(&idle)).await).await,
        "session_expired"
    );
    assert_eq!(
        error_code(app.get_with("/api/v1/me", Some(&absolute)).await).await,
        "session_expired"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_secure_httponly_and_strict() {
    let dir = common::prepare(50).await;
    std::fs::write(
        &dir.config_path,
        dir.config_text()
            .replace("secure_cookies = false", "secure_cookies = true"),
    )
    .unwrap();
    let app = common::spawn_app_in(dir).await;
    let user = app.user("bosse", &["staff:Uppsala"]).await;
    let res = app
        .post_json(
            "/api/v1/auth/login",
            None,
            json!({ "username": "bosse", "password": user.password }),
        )
        .await;
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-registervakt="), "{set}");
    for attr in ["; Path=/", "; Secure", "; HttpOnly", "; SameSite=Strict"] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    assert!(!set.contains("Domain="));
    app.stop().await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_session_at_the_next_request() {
    let app = spawn_app().await;
    let user = app.user("cilla", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "cilla").await;
    assert_eq!(
        app.get_with("/api/v1/me", Some(&cookie)).await.status(),
        200
    );
    let store = app.store().await;
    registervakt::auth::accounts::set_enabled(
        &store,
        registervakt::audit::Actor::cli(),
        "cilla",
        false,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(
        app.get_with("/api/v1/me", Some(&cookie)).await.status(),
        401
    );
    let res = app
        .post_json(
            "/api/v1/auth/login",
            None,
            json!({ "username": "cilla", "password": user.password }),
        )
        .await;
    assert_eq!(res.status(), 401, "a disabled user cannot sign in");
    app.stop().await;
}

#[tokio::test]
async fn changing_something_sensitive_needs_a_second_factor_from_the_last_five_minutes() {
    let app = spawn_app().await;
    let admin = app.user("dagny", &["admin:*"]).await;
    let cookie = app.sign_in(&admin, "dagny").await;
    let new_user =
        json!({ "username": "nils", "display_name": "Nils", "roles": ["staff:Uppsala"] });
    let pool = raw(&app).await;
    let age = registervakt::config::DEFAULT_STEP_UP_MAX_AGE_SECS + 1;
    pool.execute(
        format!("UPDATE sessions SET second_factor_at = second_factor_at - {age}").as_str(),
    )
    .await
    .unwrap();
    let res = app
        .post_json("/api/v1/users", Some(&cookie), new_user.clone())
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(error_code(res).await, "step_up_required");
    // As if the code used at sign-in had been the previous period's, so this period's is fresh.
    pool.execute("UPDATE users SET totp_last_step = totp_last_step - 1 WHERE username = 'dagny'")
        .await
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/auth/totp",
            Some(&cookie),
            json!({ "code": code_now(&admin.secret_base32) }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let stepped = session_cookie(&res).unwrap();
    assert_ne!(stepped, cookie, "step-up rotates the token");
    let res = app
        .post_json("/api/v1/users", Some(&stepped), new_user)
        .await;
    assert_eq!(res.status(), 202, "proposed, for a second administrator");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["state"], "awaiting_second_admin");
    app.stop().await;
}

#[tokio::test]
async fn seeds_tokens_and_passwords_never_reach_the_store_in_the_clear() {
    let app = spawn_app().await;
    let user = app.user("gustav", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "gustav").await;
    let token = cookie.split('=').nth(1).unwrap().to_owned();
    let seed = registervakt::auth::totp::Seed::from_base32(&user.secret_base32).unwrap();
    let dir = app.stop().await;
    let mut haystack = Vec::new();
    for entry in std::fs::read_dir(&dir.data).unwrap() {
        haystack.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(token.as_bytes()), "session token in the store");
    assert!(
        !contains(user.secret_base32.as_bytes()),
        "base32 seed in the store"
    );
    assert!(!contains(seed.as_bytes()), "raw seed in the store");
    assert!(!contains(user.password.as_bytes()), "password in the store");
}

#[tokio::test]
async fn housekeeping_removes_expired_sessions_and_keeps_live_ones() {
    let app = spawn_app().await;
    let pool = raw(&app).await;
    let a = app.user("ivar", &["staff:Uppsala"]).await;
    let b = app.user("jenny", &["staff:Uppsala"]).await;
    let stale = app.sign_in(&a, "ivar").await;
    let live = app.sign_in(&b, "jenny").await;
    let idle = registervakt::config::DEFAULT_IDLE_TIMEOUT_SECS + 1;
    pool.execute(format!("UPDATE sessions SET last_seen_at = last_seen_at - {idle} WHERE user_id = (SELECT id FROM users WHERE username = 'ivar')").as_str()).await.unwrap();
    let store = app.store().await;
    let removed = registervakt::auth::session::sweep(
        &store,
        &app.dir.config().sessions,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(removed, 1);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
    assert_eq!(app.get_with("/api/v1/me", Some(&stale)).await.status(), 401);
    assert_eq!(app.get_with("/api/v1/me", Some(&live)).await.status(), 200);
    app.stop().await;
}

/// The extract page's script asks `/extracts/{id}/live` whether anything changed; that asking
/// is not the user's activity, so a page left open still ends its session at the idle limit.
/// Only the requester's page watches: anyone else (an approver, whose look is audited) gets
/// the 404 page there.
#[tokio::test]
async fn a_watching_page_does_not_keep_its_session_alive() {
    use common::extracts::{body, live_extract};
    let app = spawn_app().await;
    let pool = raw(&app).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let invite = body(
        "district-assembly-invitation",
        "Uppsala",
        &["first_name"],
        60,
    );
    let id = live_extract(&app, &cookie, invite).await;
    let last_seen = |pool: sqlx::SqlitePool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT last_seen_at FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = 'anna')",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    pool.execute("UPDATE sessions SET last_seen_at = last_seen_at - 600")
        .await
        .unwrap();
    let before = last_seen(pool.clone()).await;
    let watched = app
        .get_with(&format!("/extracts/{id}/live"), Some(&cookie))
        .await;
    assert_eq!(watched.status(), 200);
    assert!(
        watched
            .text()
            .await
            .unwrap()
            .contains("id=\"extract-live\"")
    );
    assert_eq!(
        last_seen(pool.clone()).await,
        before,
        "watching is not activity"
    );
    let shown = app
        .get_with(&format!("/extracts/{id}"), Some(&cookie))
        .await;
    assert_eq!(shown.status(), 200);
    assert!(
        last_seen(pool.clone()).await > before,
        "opening the page is"
    );

    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let bertil = app.sign_in(&bertil, "bertil").await;
    let theirs = app
        .get_with(&format!("/extracts/{id}/live"), Some(&bertil))
        .await;
    assert_eq!(theirs.status(), 404, "only the requester's page watches");
    app.stop().await;
}
