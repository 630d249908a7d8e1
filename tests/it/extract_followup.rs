//! After the data: confirming deleted copies, the approver's list of unconfirmed ones, requests
//! that lapse, and builds abandoned by a broker that died — finished by the sweeper.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::time::{Duration, Instant};

use common::extracts::{audit_actions, body, download, live_extract, raw, request};
use common::spawn_app;
use serde_json::json;

const INVITE: &str = "district-assembly-invitation";

/// Polls until the extract is in `state` (the sweeper runs every 30 s).
async fn wait_for_state(
    app: &common::TestApp,
    cookie: &str,
    id: &str,
    state: &str,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let meta = app
            .get_json_with(&format!("/api/v1/extracts/{id}"), cookie)
            .await;
        if meta["state"] == state {
            return meta;
        }
        assert!(
            started.elapsed() < Duration::from_secs(70),
            "never {state}: {meta}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn copies_are_confirmed_deleted_only_after_the_extract_ended_and_unconfirmed_ones_reach_the_approver()
 {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let david = app.user("david", &["approver:Skåne"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let attest = |id: String| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            app.post_json(
                &format!("/api/v1/extracts/{id}/attest-deleted"),
                Some(&cookie),
                json!({}),
            )
            .await
            .status()
        }
    };
    assert_eq!(download(&app, &cookie, &id, "csv").await.0, 200);
    assert_eq!(attest(id.clone()).await, 409, "still live: say done first");
    let done = app
        .post_json(
            &format!("/api/v1/extracts/{id}/done"),
            Some(&cookie),
            json!({}),
        )
        .await;
    assert_eq!(done.status(), 204);
    // Ended three hours ago, past the 24 h grace? Not yet: move it back 25 hours.
    let pool = raw(&app).await;
    sqlx::query("UPDATE extracts SET ended_at = ended_at - 90000 WHERE id = ?")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let overdue = app
        .get_json_with("/api/v1/extracts?overdue=true", &bertil_c)
        .await;
    assert!(
        overdue["extracts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.as_str()),
        "{overdue}"
    );
    let david_c = app.sign_in(&david, "david").await;
    let other = app
        .get_json_with("/api/v1/extracts?overdue=true", &david_c)
        .await;
    assert!(
        other["extracts"].as_array().unwrap().is_empty(),
        "not another district's approver"
    );
    assert_eq!(attest(id.clone()).await, 204);
    assert_eq!(attest(id.clone()).await, 409, "once");
    let overdue = app
        .get_json_with("/api/v1/extracts?overdue=true", &bertil_c)
        .await;
    assert!(overdue["extracts"].as_array().unwrap().is_empty());
    let never = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    app.post_json(
        &format!("/api/v1/extracts/{never}/done"),
        Some(&cookie),
        json!({}),
    )
    .await;
    assert_eq!(attest(never).await, 409, "nothing was downloaded");
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .any(|a| a.0 == "extract.attest_deleted")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_request_nobody_decides_lapses_and_can_no_longer_be_approved() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let asked = body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name"],
        60,
    );
    let (status, created) = request(&app, &cookie, asked).await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    let pool = raw(&app).await;
    sqlx::query("UPDATE extracts SET pending_until = 0 WHERE id = ?")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    wait_for_state(&app, &cookie, &id, "lapsed").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(&bertil_c),
            json!({ "request_hash": created["request_hash"] }),
        )
        .await;
    assert_eq!(res.status(), 410);
    assert!(
        audit_actions(&app)
            .await
            .iter()
            .any(|a| a.0 == "extract.lapse")
    );
    app.stop().await;
}

#[tokio::test]
async fn a_build_abandoned_by_a_dead_broker_is_done_again_from_nothing_with_a_new_key() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(
        &app,
        &cookie,
        body(INVITE, "Uppsala", &["first_name", "email"], 60),
    )
    .await;
    let pool = raw(&app).await;
    let old_key: Vec<u8> = sqlx::query_scalar("SELECT wrapped_key FROM extracts WHERE id = ?")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    // As if the broker had died mid-build: building, no key, an expired lease, chunks left over.
    sqlx::query(
        "UPDATE extracts SET state = 'building', wrapped_key = NULL, lease_until = 0 WHERE id = ?",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    let meta = wait_for_state(&app, &cookie, &id, "live").await;
    let new_key: Vec<u8> = sqlx::query_scalar("SELECT wrapped_key FROM extracts WHERE id = ?")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(old_key, new_key, "a fresh data key");
    let chunks: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM extract_chunks WHERE extract_id = ?")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        Some(chunks),
        meta["row_count"].as_i64().map(|r| r / 512 + 1),
        "no chunk left over"
    );
    let (status, _, csv) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 200);
    let table = registervakt::extract::format::read_csv(&csv).unwrap();
    assert_eq!(table.len() as i64 - 1, meta["row_count"].as_i64().unwrap());
    app.stop().await;
}

#[tokio::test]
async fn a_requester_who_posts_an_approval_of_their_own_request_is_refused_as_self_approval() {
    let app = spawn_app().await;
    let sara = app
        .user("sara", &["staff:Uppsala", "approver:Uppsala"])
        .await;
    let cookie = app.sign_in(&sara, "sara").await;
    let (_, created) = request(
        &app,
        &cookie,
        body(
            "election-worker-recruitment",
            "Uppsala",
            &["first_name"],
            60,
        ),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    for hash in [created["request_hash"].clone(), json!("0".repeat(64))] {
        let res = app
            .post_json(
                &format!("/api/v1/extracts/{id}/approve"),
                Some(&cookie),
                json!({ "request_hash": hash }),
            )
            .await;
        assert_eq!(res.status(), 403);
    }
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
        .await;
    assert_eq!(meta["state"], "pending");
    app.stop().await;
}

#[tokio::test]
async fn an_approver_of_the_district_revokes_a_live_extract_and_nobody_else_may() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let elin = app.user("elin", &["admin:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let revoke = |cookie: String| {
        let path = format!("/api/v1/extracts/{id}/revoke");
        let app = &app;
        async move {
            app.post_json(&path, Some(&cookie), json!({}))
                .await
                .status()
        }
    };
    assert_eq!(revoke(cookie.clone()).await, 403, "not the requester");
    let elin_c = app.sign_in(&elin, "elin").await;
    assert_eq!(revoke(elin_c).await, 403, "not an admin");
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    assert_eq!(revoke(bertil_c.clone()).await, 204);
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &cookie)
        .await;
    assert_eq!(
        (meta["state"].as_str(), meta["end_reason"].as_str()),
        (Some("shredded"), Some("revoked"))
    );
    assert_eq!(download(&app, &cookie, &id, "csv").await.0, 410);
    assert_eq!(revoke(bertil_c).await, 410);
    app.stop().await;
}

#[tokio::test]
async fn the_requester_is_told_within_the_hour_before_their_extract_is_destroyed() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let soon = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 30)).await;
    let later = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 180)).await;
    let started = Instant::now();
    loop {
        let notices = app.get_json_with("/api/v1/notices", &cookie).await;
        let expiring: Vec<&str> = notices["notices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "extract_expiring")
            .filter_map(|n| n["extract_id"].as_str())
            .collect();
        if !expiring.is_empty() {
            assert_eq!(expiring, [soon.as_str()], "only the one within the hour");
            assert!(!expiring.contains(&later.as_str()));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(70),
            "no warning: {notices}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn after_a_key_rotation_and_a_restart_a_live_extract_still_opens_new_ones_use_the_new_key_and_the_rotation_is_audited()
 {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let dir = app.stop().await;
    // The operator's command, as operations.md gives it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(["keys", "rotate", "--file"])
        .arg(&dir.kek)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    let new_kek = said
        .strip_prefix("key ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key id in {said:?}"))
        .to_owned();
    let app = common::spawn_app_in(dir).await;
    // The session lives in the store, so it survives the restart (and the code was used once).
    let (status, _, csv) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(
        status, 200,
        "sealed under the old key, opened after the rotation (D5)"
    );
    assert!(csv.starts_with(registervakt::extract::format::CSV_BOM));
    live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let built: Vec<String> = audit_actions(&app)
        .await
        .into_iter()
        .filter(|a| a.0 == "extract.snapshot")
        .map(|a| a.2)
        .collect();
    assert_eq!(built.len(), 2);
    assert!(!built[0].contains(&new_kek));
    assert!(
        built[1].contains(&new_kek),
        "the new extract is wrapped under the new key"
    );
    let old_kek = serde_json::from_str::<serde_json::Value>(&built[0]).unwrap()["kek_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The rotation is in the log once, recorded by the start that found the new key (D5).
    let rotations: Vec<serde_json::Value> = audit_actions(&app)
        .await
        .into_iter()
        .filter(|a| a.0 == "keys.rotate")
        .map(|a| serde_json::from_str(&a.2).unwrap())
        .collect();
    assert_eq!(rotations.len(), 1, "{rotations:?}");
    assert_eq!(rotations[0]["from"], old_kek.as_str());
    assert_eq!(rotations[0]["to"], new_kek.as_str());
    // A start with the same key records none.
    let app = common::spawn_app_in(app.stop().await).await;
    let rotations = audit_actions(&app)
        .await
        .into_iter()
        .filter(|a| a.0 == "keys.rotate")
        .count();
    assert_eq!(rotations, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_build_that_finishes_while_extracts_are_frozen_never_goes_live() {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let pool = raw(&app).await;
    // Abandoned mid-build, as in the test above; the sweeper will build it again.
    sqlx::query(
        "UPDATE extracts SET state = 'building', wrapped_key = NULL, lease_until = 0 WHERE id = ?",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    let farid_c = app.sign_in(&farid, "farid").await;
    let res = app
        .post_json(
            "/api/v1/freeze",
            Some(&farid_c),
            json!({ "reason": "incident" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let meta = wait_for_state(&app, &cookie, &id, "failed").await;
    assert_eq!(meta["end_reason"], "frozen");
    let chunks: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM extract_chunks WHERE extract_id = ?")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(chunks, 0, "what the build wrote is gone");
    app.stop().await;
}
