//! The extract path on a PostgreSQL store: request, approval, download within the limit under
//! parallel downloads, "I'm done", and the disclosure ledger kept after shredding.
//! Runs when `REGISTERVAKT_TEST_POSTGRES_URL` is set (each test gets a fresh database).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use common::extracts::{body, download, live_extract, request, wait_settled};
use serde_json::json;

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn postgres_store_runs_the_whole_extract_path_and_keeps_the_ledger_after_shredding() {
    let app = common::postgres::spawn_on_postgres("extracts").await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
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
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let queue = app
        .get_json_with("/api/v1/extracts?pending=true", &bertil_c)
        .await;
    assert!(
        queue["extracts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id.as_str())
    );
    let overdue = app
        .get_json_with("/api/v1/extracts?overdue=true", &bertil_c)
        .await;
    assert!(overdue["extracts"].as_array().unwrap().is_empty());
    let res = app
        .post_json(
            &format!("/api/v1/extracts/{id}/approve"),
            Some(&bertil_c),
            json!({ "request_hash": created["request_hash"], "comment": "ok" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(wait_settled(&app, &anna_c, &id).await["state"], "live");
    let attempts = (0..8).map(|_| download(&app, &anna_c, &id, "csv"));
    let ok = futures::future::join_all(attempts)
        .await
        .iter()
        .filter(|r| r.0 == 200)
        .count();
    assert_eq!(ok, 3, "the download limit holds on PostgreSQL");
    let other = live_extract(
        &app,
        &anna_c,
        body(
            "district-assembly-invitation",
            "Uppsala",
            &["first_name"],
            60,
        ),
    )
    .await;
    let done = app
        .post_json(
            &format!("/api/v1/extracts/{other}/done"),
            Some(&anna_c),
            json!({}),
        )
        .await;
    assert_eq!(done.status(), 204);
    let (status, _, _) = download(&app, &anna_c, &other, "csv").await;
    assert_eq!(status, 410);
    // Who received a member, answered from the ledger on PostgreSQL (E6).
    let farid = app.user("farid", &["auditor:*"]).await;
    let farid_c = app.sign_in(&farid, "farid").await;
    let mut seen = 0;
    for member in 1..=40 {
        let path = format!("/api/v1/audit/members/{member}/disclosures");
        let answer = app.get_json_with(&path, &farid_c).await;
        seen += answer["disclosures"].as_array().unwrap().len();
    }
    assert!(
        seen > 0,
        "some of the first members are in Uppsala's extracts"
    );
    let store = app.store().await;
    let row = store.find_extract(&other).await.unwrap().unwrap();
    assert!(row.wrapped_key.is_none());
    assert!(store.find_chunks(&other, 0, 1).await.unwrap().is_empty());
    assert_eq!(
        store.count_disclosures(&other).await.unwrap(),
        row.row_count.unwrap()
    );
    registervakt::audit::verify(&store).await.unwrap();
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn postgres_store_traces_a_leaked_file_and_scopes_an_accounts_window() {
    let app = common::postgres::spawn_on_postgres("extracts").await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let farid = app.user("farid", &["auditor:*"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let fields = ["first_name", "last_name", "email"];
    let mut ids = Vec::new();
    for _ in 0..3 {
        let asked = body("district-assembly-invitation", "Uppsala", &fields, 60);
        ids.push(live_extract(&app, &anna_c, asked).await);
    }
    let (status, _, csv) = download(&app, &anna_c, &ids[1], "csv").await;
    assert_eq!(status, 200);
    let table = registervakt::extract::format::read_csv(&csv).unwrap();
    let kept: String = table
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 2)
        .map(|(_, r)| r.join(";") + "\n")
        .collect();
    let farid_c = app.sign_in(&farid, "farid").await;
    let res = app.post_bytes("/api/v1/audit/trace", &farid_c, kept).await;
    assert_eq!(res.status(), 200);
    let traced: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        traced["candidates"][0]["extract"]["id"],
        ids[1].as_str(),
        "{traced:#}"
    );
    assert_eq!(traced["extracts_sharing_rows"], 3);

    let now = time::OffsetDateTime::now_utc();
    let path = format!(
        "/api/v1/audit/breach-scope?user=anna&from={}&to={}",
        common::pages::rfc3339(now - time::Duration::hours(1)),
        common::pages::rfc3339(now + time::Duration::hours(1))
    );
    let scope = app.get_json_with(&path, &farid_c).await;
    assert_eq!(scope["extracts"].as_array().unwrap().len(), 3);
    let one = scope["extracts"][0]["members"].as_i64().unwrap();
    assert_eq!(scope["members"].as_i64(), Some(one), "members counted once");
    assert_eq!(scope["releases"].as_array().unwrap().len(), 1);
    app.stop().await;
}

/// The sweeper's lapse locks the extract's row, then appends to the audit chain. An approval
/// that came at the same moment used to take the chain's lock first and the row's second, and
/// PostgreSQL aborted one of the two as a deadlock. Here the lapse holds the row while the
/// approval arrives: the approval must wait for the row — not for the chain — and then answer
/// that the request is no longer waiting, with the lapse committed.
#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn an_approval_racing_the_lapse_waits_for_it_and_never_deadlocks() {
    use registervakt::audit::{self, Actor, Event, EventKind, Outcome};
    let app = common::postgres::spawn_on_postgres("lapse_race").await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let anna_c = app.sign_in(&anna, "anna").await;
    let bertil_c = app.sign_in(&bertil, "bertil").await;
    let asked = body(
        "election-worker-recruitment",
        "Uppsala",
        &["first_name", "phone"],
        60,
    );
    let (status, created) = request(&app, &anna_c, asked).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let now = time::OffsetDateTime::now_utc();

    // The lapse, as `extract::expire` does it, holding its transaction open.
    let store = app.state.store.clone();
    let mut lapse = store.begin().await.unwrap();
    let ended = registervakt::store::extracts::end_pending(
        &mut lapse,
        &id,
        registervakt::nouns::ExtractState::Lapsed,
        "not_decided_in_time",
        now.unix_timestamp(),
    )
    .await
    .unwrap();
    assert!(ended);

    let approval = {
        let (client, url, hash) = (
            reqwest::Client::new(),
            app.url(&format!("/api/v1/extracts/{id}/approve")),
            created["request_hash"].clone(),
        );
        let cookie = bertil_c.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .header("cookie", cookie)
                .json(&json!({ "request_hash": hash, "comment": "ok" }))
                .send()
                .await
                .unwrap()
        })
    };
    // Give the approval time to reach the store and wait there.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let event = Event::new(
        EventKind::ExtractLapsed,
        Actor::system(),
        &format!("extract:{id}"),
        Outcome::Success,
        json!({}),
    );
    audit::record(&mut lapse, &event, now)
        .await
        .expect("the lapse appends to the chain: the approval must not be holding it");
    lapse.commit().await.expect("the lapse commits");

    let res = approval.await.unwrap();
    let status = res.status().as_u16();
    let answer: serde_json::Value = res.json().await.unwrap();
    assert!(
        status == 409 || status == 410,
        "the approval sees the lapse, not a store error: {status} {answer}"
    );
    let shown = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), &anna_c)
        .await;
    assert_eq!(shown["state"], "lapsed", "{shown}");
    let verified = registervakt::audit::verify(&store).await.unwrap();
    assert!(verified.entries > 0);
    app.stop().await;
}
