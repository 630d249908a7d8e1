//! Recertification of roles (issue 22, item 2): a role left unconfirmed is suspended at its
//! deadline — kept, but its holder can no longer request — and confirming lifts it; the holder
//! and the approvers are told in advance, once; nobody confirms their own role, a district
//! approver only their district's non-admin roles; a fresh second factor is needed; all of it
//! is audited and counted in the activity report.
//!
//! Time is moved the way the other suites move it: by editing the stored times (here the
//! role's `confirmed_at`), as if the clock had run on; the housekeeping pass is called with the
//! clock's `now`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{audit_actions, body, raw, request};
use common::{TestApp, spawn_app};
use registervakt::admin::recertify;
use serde_json::{Value, json};
use sqlx::Executor as _;
use time::OffsetDateTime;

const INVITE: &str = "district-assembly-invitation";

async fn posted(app: &TestApp, path: &str, cookie: &str, body: Value) -> (u16, Value) {
    let res = app.post_json(path, Some(cookie), body).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn confirm(app: &TestApp, cookie: &str, username: &str, role: &str) -> (u16, Value) {
    let b = json!({ "username": username, "role": role });
    posted(app, "/api/v1/role-holdings/confirm", cookie, b).await
}

async fn remove(app: &TestApp, cookie: &str, username: &str, role: &str) -> (u16, Value) {
    let b = json!({ "username": username, "role": role });
    posted(app, "/api/v1/role-holdings/remove", cookie, b).await
}

/// Moves `username`'s roles' confirmation back by `secs`, as if that much time had passed.
async fn age_roles(app: &TestApp, username: &str, secs: i64) {
    let pool = raw(app).await;
    pool.execute(
        format!(
            "UPDATE user_roles SET confirmed_at = confirmed_at - {secs} \
             WHERE user_id = (SELECT id FROM users WHERE username = '{username}')"
        )
        .as_str(),
    )
    .await
    .unwrap();
}

async fn stored_roles(app: &TestApp, username: &str) -> i64 {
    let pool = raw(app).await;
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_roles WHERE user_id = (SELECT id FROM users WHERE username = $1)",
    )
    .bind(username)
    .fetch_one(&pool)
    .await
    .unwrap()
}

async fn sweep(app: &TestApp) -> recertify::Swept {
    let now = OffsetDateTime::now_utc();
    recertify::sweep(&app.state.store, &app.state.config.roles, now)
        .await
        .unwrap()
}

fn count(actions: &[(String, String, String)], action: &str, detail: &str) -> usize {
    actions
        .iter()
        .filter(|(a, _, d)| a == action && d.contains(detail))
        .count()
}

async fn holdings(app: &TestApp, cookie: &str) -> Vec<Value> {
    let v = app.get_json_with("/api/v1/role-holdings", cookie).await;
    v["holdings"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_role_left_unconfirmed_is_suspended_at_its_deadline_and_confirming_lifts_it() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let erik = app.user("erik", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let invite = || body(INVITE, "Uppsala", &["first_name", "email"], 60);
    let anna_c = app.sign_in(&anna, "anna").await;
    let (status, v) = request(&app, &anna_c, invite()).await;
    assert_eq!(status, 201, "in force, anna may request: {v}");

    // The deadline passes: one second past the term, no sweep has run yet.
    let term = app.state.config.roles.term_secs();
    age_roles(&app, "anna", term + 1).await;
    let (status, v) = request(&app, &anna_c, invite()).await;
    assert_eq!(status, 403, "a suspended role grants nothing, at once: {v}");
    assert_eq!(stored_roles(&app, "anna").await, 1, "the role is kept");

    // The housekeeping pass records the suspension exactly once and ends anna's sessions.
    // (The broker's own pass may have run meanwhile: the log, not the return, is counted.)
    let first = sweep(&app).await.suspended;
    assert!(first <= 1);
    assert_eq!(sweep(&app).await, recertify::Swept::default());
    let actions = audit_actions(&app).await;
    assert_eq!(count(&actions, "role.suspend", "staff:Uppsala"), 1);
    assert_eq!(
        app.get_with("/api/v1/me", Some(&anna_c)).await.status(),
        401
    );

    // An administrator's user list keeps the role, marked as resting since its due date.
    let zoe = app.user("zoe", &["admin:*"]).await;
    let zoe_c = app.sign_in(&zoe, "zoe").await;
    let (status, html) = common::pages::page(&app, "/admin", &zoe_c).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("vilar sedan "), "{html}");
    assert_eq!(
        html.matches("vilar sedan ").count(),
        1,
        "only anna's role rests"
    );

    // The approver sees it suspended, and confirms it; anna may request again.
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let shown = holdings(&app, &bertil_c).await;
    let of_anna: Vec<_> = shown.iter().filter(|h| h["username"] == "anna").collect();
    assert_eq!(of_anna.len(), 1, "{shown:?}");
    assert_eq!(of_anna[0]["state"], "suspended");
    assert_eq!(of_anna[0]["role"], "staff:Uppsala");
    let (status, v) = confirm(&app, &bertil_c, "anna", "staff:Uppsala").await;
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("in_force")),
        "{v}"
    );
    raw(&app)
        .await
        .execute("UPDATE users SET totp_last_step = totp_last_step - 1 WHERE username = 'anna'")
        .await
        .unwrap();
    let anna_c = app.sign_in(&anna, "anna").await;
    let (status, v) = request(&app, &anna_c, invite()).await;
    assert_eq!(status, 201, "confirmed, anna may request again: {v}");

    // A removal at recertification, then the activity report counts all three.
    let (status, v) = remove(&app, &bertil_c, "erik", "staff:Uppsala").await;
    assert_eq!((status, v["state"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(stored_roles(&app, "erik").await, 0);
    let actions = audit_actions(&app).await;
    assert_eq!(count(&actions, "role.recertify", "\"confirmed\""), 1);
    assert_eq!(count(&actions, "role.recertify", "\"removed\""), 1);
    assert_eq!(count(&actions, "user.role_revoke", "staff:Uppsala"), 1);
    let _ = erik;
    let farid_c = app.sign_in(&farid, "farid").await;
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let now = OffsetDateTime::now_utc();
    let path = format!(
        "/api/v1/audit/reports/activity?from={}&to={}",
        fmt(now - time::Duration::hours(1)),
        fmt(now + time::Duration::hours(1))
    );
    let report = app.get_json_with(&path, &farid_c).await;
    assert_eq!(
        report["roles"],
        json!({ "confirmed": 1, "removed": 1, "suspended": 1 }),
        "{report}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_holder_and_the_approvers_are_told_in_advance_once_per_due_date() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    app.user("bertil", &["approver:Uppsala"]).await;
    app.user("david", &["approver:Skåne"]).await;
    let roles = app.state.config.roles;
    // Not yet within the notice: nothing.
    age_roles(&app, "anna", roles.term_secs() - roles.notice_secs() - 3600).await;
    assert_eq!(sweep(&app).await.noticed, 0);
    // Within it: one notice to anna and one to Uppsala's approver, not Skåne's; once.
    // (The broker's own pass may have sent it meanwhile: the notices are counted.)
    age_roles(&app, "anna", 7200).await;
    assert!(sweep(&app).await.noticed <= 1);
    assert_eq!(sweep(&app).await.noticed, 0);
    let store = &app.state.store;
    let id = |name: &'static str| async move {
        store.find_user_by_username(name).await.unwrap().unwrap().id
    };
    let kinds = |rows: Vec<registervakt::store::notices::NoticeRow>| {
        rows.into_iter().map(|n| n.kind).collect::<Vec<_>>()
    };
    let of = |uid: String| async move { kinds(store.list_notices(&uid, 10).await.unwrap()) };
    assert_eq!(of(id("anna").await).await, ["role_due"]);
    assert_eq!(of(id("bertil").await).await, ["role_due_confirm"]);
    assert!(of(id("david").await).await.is_empty());
    let actions = audit_actions(&app).await;
    assert_eq!(count(&actions, "role.due_notice", "staff:Uppsala"), 1);
    // The role is still in force while due soon.
    let anna_c = app.sign_in(&anna, "anna").await;
    let (status, v) = request(
        &app,
        &anna_c,
        body(INVITE, "Uppsala", &["first_name", "email"], 60),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    app.stop().await;
}

#[tokio::test]
async fn only_someone_else_whose_permit_reaches_the_role_confirms_it_with_a_fresh_second_factor() {
    let app = spawn_app().await;
    app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    app.user("cecilia", &["staff:Skåne"]).await;
    app.user("farid", &["auditor:*"]).await;
    app.user("ulla", &["admin:Uppsala"]).await;
    let zoe = app.user("zoe", &["admin:*"]).await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;

    // The district approver sees their district's other non-admin roles only.
    let shown: Vec<String> = holdings(&app, &bertil_c)
        .await
        .iter()
        .map(|h| format!("{}/{}", h["username"], h["role"]))
        .collect();
    assert_eq!(shown, ["\"anna\"/\"staff:Uppsala\""], "{shown:?}");
    // Own role: 409 with a sentence.
    let (status, v) = confirm(&app, &bertil_c, "bertil", "approver:Uppsala").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("own_role")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("own role"), "{v}");
    // Another district, a party-wide role, an admin role: not theirs.
    for (user, role) in [
        ("cecilia", "staff:Skåne"),
        ("farid", "auditor:*"),
        ("ulla", "admin:Uppsala"),
    ] {
        let (status, v) = confirm(&app, &bertil_c, user, role).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (403, Some("not_permitted")),
            "{role}: {v}"
        );
        let (status, _) = remove(&app, &bertil_c, user, role).await;
        assert_eq!(status, 403, "{role}");
    }
    // A party-wide admin confirms the party-wide and admin roles; removing an admin role
    // waits for a second administrator, as any such revoke does.
    let zoe_c = app.sign_in(&zoe, "zoe").await;
    let (status, v) = confirm(&app, &zoe_c, "farid", "auditor:*").await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = remove(&app, &zoe_c, "ulla", "admin:Uppsala").await;
    assert_eq!(
        (status, v["state"].as_str()),
        (202, Some("awaiting_second_admin")),
        "{v}"
    );
    assert_eq!(stored_roles(&app, "ulla").await, 1);
    let (status, v) = confirm(&app, &zoe_c, "zoe", "admin:*").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("own_role")),
        "{v}"
    );

    // Without a fresh second factor: refused, nothing recorded.
    let age = app.state.config.sessions.step_up_max_age_secs + 1;
    raw(&app)
        .await
        .execute(
            format!("UPDATE sessions SET second_factor_at = second_factor_at - {age}").as_str(),
        )
        .await
        .unwrap();
    let (status, v) = confirm(&app, &bertil_c, "anna", "staff:Uppsala").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (401, Some("step_up_required")),
        "{v}"
    );
    let actions = audit_actions(&app).await;
    assert_eq!(count(&actions, "role.recertify", "staff:Uppsala"), 0);
    assert_eq!(count(&actions, "role.recertify", "auditor:*"), 1);
    assert_eq!(count(&actions, "role.recertify", "admin:Uppsala"), 1);
    assert_eq!(
        count(&actions, "user.role_change_request", "admin:Uppsala"),
        1
    );
    app.stop().await;
}
