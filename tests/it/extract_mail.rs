//! Notices by e-mail over a real SMTP server on loopback (aiosmtpd, tests/smtp/sink.py): the
//! approver hears of a new request, the requester of the decision — and no mail holds member
//! data. Needs `pip install -r tests/smtp/requirements.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::smtp_support;

use std::time::Duration;

use common::extracts::{body, request, wait_settled};
use common::{prepare_with, spawn_app_in};
use registervakt::synthetic;
use serde_json::json;
use smtp_support::{SmtpSink, body_text, header_values};

#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn approvers_and_requesters_are_told_by_email_without_any_member_data() {
    let sink = SmtpSink::start().await;
    let mut canary = synthetic::canary(9);
    canary.district = "Uppsala".into();
    let marker = synthetic::canary_marker(9);
    let dir = prepare_with(100, vec![canary]).await;
    let text = format!(
        "{}\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"Registervakt <noreply@example.org>\"\ntls = \"none\"\n",
        dir.config_text(),
        sink.port
    );
    std::fs::write(&dir.config_path, text).unwrap();
    let app = spawn_app_in(dir).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let store = app.store().await;
    for (user, email) in [
        ("anna", "anna@example.org"),
        ("bertil", "bertil@example.org"),
    ] {
        let (actor, now) = (
            registervakt::audit::Actor::cli(),
            time::OffsetDateTime::now_utc(),
        );
        registervakt::auth::accounts::set_email(&store, actor, user, Some(email), now)
            .await
            .unwrap();
    }
    store.close().await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let asked = body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name", "phone"],
        60,
    );
    let (status, created) = request(&app, &anna_c, asked).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let first = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(header_values(&first[0], "To"), ["bertil@example.org"]);
    assert!(body_text(&first[0]).contains(&format!("/extracts/{id}")));
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(&bertil_c),
            json!({ "request_hash": created["request_hash"], "comment": "ok" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(wait_settled(&app, &anna_c, &id).await["state"], "live");
    let all = sink.wait_for(3, Duration::from_secs(10)).await;
    let to_anna = all
        .iter()
        .filter(|m| header_values(m, "To") == ["anna@example.org"])
        .count();
    assert_eq!(to_anna, 2, "approved, then ready");
    assert!(
        all.iter().all(|m| !m.contains(&marker)),
        "no member data in any mail"
    );
    app.stop().await;
}

/// SECURITY_BAR C8 with mail configured: a confirmed account's invitation goes to the new
/// user's own address — never to the proposer, and not shown to the confirmer either — and
/// the link in it works once.
#[tokio::test]
#[ignore = "needs Python aiosmtpd (pip install -r tests/smtp/requirements.txt)"]
async fn a_confirmed_accounts_invitation_is_mailed_to_the_new_user_and_to_nobody_else() {
    let sink = SmtpSink::start().await;
    // Enough members that the register holds Uppsala, where the new account gets its role.
    let dir = prepare_with(200, Vec::new()).await;
    let text = format!(
        "{}\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"Registervakt <noreply@example.org>\"\ntls = \"none\"\n",
        dir.config_text(),
        sink.port
    );
    std::fs::write(&dir.config_path, text).unwrap();
    let app = spawn_app_in(dir).await;
    let first = app.user("admin-ett", &["admin:*"]).await;
    let second = app.user("admin-tva", &["admin:*"]).await;
    let store = app.store().await;
    let (actor, now) = (
        registervakt::audit::Actor::cli(),
        time::OffsetDateTime::now_utc(),
    );
    registervakt::auth::accounts::set_email(
        &store,
        actor,
        "admin-ett",
        Some("ett@example.org"),
        now,
    )
    .await
    .unwrap();
    store.close().await;
    let a = app.sign_in(&first, "admin-ett").await;
    let b = app.sign_in(&second, "admin-tva").await;
    let res = app
        .post_json(
            "/api/v1/users",
            Some(&a),
            json!({ "username": "nykomling", "display_name": "Ny Kollega",
                    "roles": ["staff:Uppsala"], "email": "ny@example.org" }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let proposal: serde_json::Value = res.json().await.unwrap();
    let id = proposal["proposal_id"].as_str().unwrap().to_owned();
    let res = app
        .post_json(
            &format!("/api/v1/user-proposals/{id}/confirm"),
            Some(&b),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let confirmed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(confirmed["invitation"], "emailed");
    assert!(confirmed["invitation_link"].is_null(), "{confirmed}");
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "one mail, to the new user only");
    assert_eq!(header_values(&mails[0], "To"), ["ny@example.org"]);
    let body = body_text(&mails[0]);
    let token = body
        .split("/invite/")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let accept = |token: String| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/auth/invitation",
                None,
                json!({ "token": token, "password": "en-lång-och-ovanlig-fras-9341" }),
            )
            .await
            .status()
        }
    };
    // A new invitation from the admin page goes by mail to the user only: the page shows no
    // link (one admin must not be able to become the new user), and the old link ends.
    let admin = app.get_with("/admin", Some(&a)).await.text().await.unwrap();
    let csrf = admin
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let res = app
        .client
        .post(app.url("/admin/accounts"))
        .header("cookie", a.clone())
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "nykomling"),
            ("action", "resend_invitation"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        !page.contains("/invite/"),
        "the resending admin sees no link"
    );
    let mails = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(header_values(&mails[1], "To"), ["ny@example.org"]);
    let again = body_text(&mails[1])
        .split("/invite/")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert_ne!(again, token);
    assert_eq!(
        accept(token).await,
        422,
        "the old link ended with the new one"
    );
    assert_eq!(accept(again.clone()).await, 204);
    assert_eq!(accept(again).await, 422, "the link works once");
    app.stop().await;
}
