//! Two brokers on one PostgreSQL store, as behind a load balancer (issue 8): nothing that must
//! hold across requests may live in one process's memory. Each test starts broker A and
//! broker B (`common::postgres::spawn_pair_on_postgres`: own listener, data dir, config and
//! checkpoint file each; one store database, one register, copies of one key file) and talks
//! to both over real HTTP on loopback.
//!
//! Each test is written so that it fails if the property it names is kept in one process or
//! checked non-atomically: the races fire their requests at both brokers at once on a
//! multi-threaded runtime, so two transactions really are open together.
//!
//! Data dirs: the sealed chunks of an extract live in the store database (`extract_chunks`),
//! not on the building broker's disk, so the brokers need no shared data dir; the test
//! `an_extract_built_on_one_broker_downloads_through_the_other_with_its_own_data_dir` shows it.
//!
//! Runs when `REGISTERVAKT_TEST_POSTGRES_URL` is set (each test gets a fresh database).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::collections::{HashMap, HashSet};

use common::extracts::{body, download, live_extract};
use common::postgres::spawn_pair_on_postgres;
use common::{TestApp, code_now, session_cookie};
use serde_json::{Value, json};

/// Every audit entry, oldest first.
async fn audit_rows(app: &TestApp) -> Vec<registervakt::store::audit::AuditRow> {
    let store = app.store().await;
    let mut rows = store.list_recent_audit_events(100_000).await.unwrap();
    store.close().await;
    rows.reverse();
    rows
}

/// Submits a TOTP code on a half-signed-in session; returns the status and the new cookie.
async fn submit_code(app: &TestApp, pending: &str, code: &str) -> (u16, Option<String>) {
    let res = app
        .post_json("/api/v1/auth/totp", Some(pending), json!({ "code": code }))
        .await;
    (res.status().as_u16(), session_cookie(&res))
}

/// The `error` code of a JSON error body.
fn error_code(bytes: &[u8]) -> String {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    v["error"].as_str().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn a_session_made_on_one_broker_works_on_the_other_and_ends_on_both() {
    let (a, b) = spawn_pair_on_postgres("two_sessions", "").await;
    let sven = a.user("sven", &["staff:Uppsala"]).await;
    let tove = a.user("tove", &["staff:Uppsala"]).await;
    let elsa = a.user("elsa", &["admin:*"]).await;

    // A cookie from A is a session on B: the session row is in the store, not in A.
    let sven_c = a.sign_in(&sven, "sven").await;
    let me = b.get_with("/api/v1/me", Some(&sven_c)).await;
    assert_eq!(me.status(), 200, "B accepts the session A made");
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "sven");
    // Signing out through B ends it on A.
    let out = b
        .post_json("/api/v1/auth/logout", Some(&sven_c), json!({}))
        .await;
    assert_eq!(out.status(), 204);
    assert_eq!(
        a.get_with("/api/v1/me", Some(&sven_c)).await.status(),
        401,
        "a session signed out on B is gone on A"
    );

    // A disable made on A ends a session made on B at B's next request.
    let tove_c = b.sign_in(&tove, "tove").await;
    assert_eq!(a.get_with("/api/v1/me", Some(&tove_c)).await.status(), 200);
    let elsa_c = a.sign_in(&elsa, "elsa").await;
    let res = a
        .post_json("/api/v1/users/tove/disable", Some(&elsa_c), json!({}))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        b.get_with("/api/v1/me", Some(&tove_c)).await.status(),
        401,
        "B refuses the session of a user disabled on A"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn a_totp_code_used_on_one_broker_is_refused_on_the_other() {
    let (a, b) = spawn_pair_on_postgres("two_totp", "").await;
    let user = a.user("ulla", &["staff:Uppsala"]).await;
    let on_a = a.password_step("ulla", &user.password).await;
    let on_b = b.password_step("ulla", &user.password).await;
    let code = code_now(&user.secret_base32);
    let (status, full) = submit_code(&a, &on_a, &code).await;
    assert_eq!(status, 200, "the code signs in on A");
    assert!(full.is_some());
    let res = b
        .post_json("/api/v1/auth/totp", Some(&on_b), json!({ "code": code }))
        .await;
    assert_eq!(res.status(), 401, "the same code is refused on B");
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_code");
    let rejected = audit_rows(&a)
        .await
        .into_iter()
        .rfind(|r| r.action == "auth.second_factor_fail")
        .expect("the refusal is audited");
    let details: Value = serde_json::from_str(&rejected.details).unwrap();
    assert_eq!(details["reason"], "replayed", "B knows the step was used");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn the_same_totp_code_sent_to_both_brokers_at_once_signs_in_exactly_once() {
    let (a, b) = spawn_pair_on_postgres("two_totp_race", "").await;
    // Several users race at once, so a check-then-set guard would let at least one through
    // twice: both requests read the user's last step before either stores the new one.
    let names = ["vera", "wilma", "xenia", "yrsa", "zara", "alma"];
    let mut racers = Vec::new();
    for name in names {
        let user = a.user(name, &["staff:Uppsala"]).await;
        let on_a = a.password_step(name, &user.password).await;
        let on_b = b.password_step(name, &user.password).await;
        racers.push((name, user, on_a, on_b));
    }
    let attempts = racers.iter().flat_map(|(name, user, on_a, on_b)| {
        let code = code_now(&user.secret_base32);
        [
            (name, &a, on_a.clone(), code.clone()),
            (name, &b, on_b.clone(), code),
        ]
    });
    let results =
        futures::future::join_all(attempts.map(|(name, app, pending, code)| async move {
            (*name, submit_code(app, &pending, &code).await.0)
        }))
        .await;
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for (name, status) in &results {
        assert!(
            *status == 200 || *status == 401,
            "{name}: {status} is neither a sign-in nor a refusal"
        );
        *accepted.entry(name).or_default() += usize::from(*status == 200);
    }
    for name in names {
        assert_eq!(
            accepted.get(name).copied().unwrap_or(0),
            1,
            "{name}'s code sent to A and B at once signs in exactly once: {results:?}"
        );
    }
    b.stop().await;
    a.stop().await;
}

/// SECURITY_BAR A10 across brokers: 30 pending sessions of one user, half on each broker,
/// send different wrong codes at once. The row lock (`FOR UPDATE`) orders them, so exactly
/// five are checked and counted, and the rest meet the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn thirty_wrong_codes_sent_at_once_to_both_brokers_get_five_checked_and_all_counted() {
    let (a, b) = spawn_pair_on_postgres("two_totp_lock", "").await;
    let user = a.user("vera", &["staff:Uppsala"]).await;
    let mut pending = Vec::new();
    for i in 0..30 {
        let app = if i % 2 == 0 { &a } else { &b };
        pending.push((app, app.password_step("vera", &user.password).await));
    }
    let guesses = pending.iter().enumerate().map(|(i, (app, cookie))| {
        let wrong = common::code_at_offset(&user.secret_base32, 10 + i as i64);
        async move { submit_code(app, cookie, &wrong).await.0 }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let locked = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((checked, locked), (5, 25), "{statuses:?}");
    let store = a.store().await;
    let row = store.find_user_by_username("vera").await.unwrap().unwrap();
    store.close().await;
    assert_eq!(row.totp_failures, 5, "every checked code counts");
    b.stop().await;
    a.stop().await;
}

/// Downloads allowed per extract in the download-limit race.
const MAX_DOWNLOADS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn the_download_limit_is_exact_across_both_brokers_under_parallel_downloads() {
    let extra = format!("\n[extracts]\nmax_downloads = {MAX_DOWNLOADS}\n");
    let (a, b) = spawn_pair_on_postgres("two_downloads", &extra).await;
    let anna = a.user("anna", &["staff:Uppsala"]).await;
    let cookie = a.sign_in(&anna, "anna").await;
    let asked = body(
        "district-assembly-invitation",
        "Uppsala",
        &["first_name", "email"],
        60,
    );
    let id = live_extract(&a, &cookie, asked).await;
    // 3N downloads at once, every other one through B.
    let attempts = (0..3 * MAX_DOWNLOADS).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        download(app, &cookie, &id, "csv")
    });
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    assert_eq!(ok, MAX_DOWNLOADS, "exactly the limit succeeds over A and B");
    for (status, _, bytes) in results.iter().filter(|r| r.0 != 200) {
        assert_eq!(*status, 410, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(error_code(bytes), "extract_gone");
    }
    let store = a.store().await;
    let row = store.find_extract(&id).await.unwrap().unwrap();
    store.close().await;
    assert_eq!(row.downloads, MAX_DOWNLOADS as i64, "the stored counter");
    let released = audit_rows(&b)
        .await
        .iter()
        .filter(|r| r.action == "extract.download" && r.target == format!("extract:{id}"))
        .count();
    assert_eq!(released, MAX_DOWNLOADS, "one release event per download");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn two_sweepers_racing_over_due_extracts_shred_each_exactly_once() {
    let (a, b) = spawn_pair_on_postgres("two_sweepers", "").await;
    let anna = a.user("anna", &["staff:Uppsala"]).await;
    let cookie = a.sign_in(&anna, "anna").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        // Requested through both brokers; all live for 60 minutes.
        let app = if i % 2 == 0 { &a } else { &b };
        let asked = body(
            "district-assembly-invitation",
            "Uppsala",
            &["first_name"],
            60,
        );
        ids.push(live_extract(app, &cookie, asked).await);
    }
    // Each broker's own sweep (what its sweeper task runs every interval), both at once, at
    // a moment when every one of them is past its deadline. Time is an argument (STYLE 10),
    // so nobody waits an hour.
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(61);
    let (on_a, on_b) = tokio::join!(
        registervakt::extract::expire::sweep(&a.state, later),
        registervakt::extract::expire::sweep(&b.state, later),
    );
    let (on_a, on_b) = (on_a.unwrap(), on_b.unwrap());
    assert_eq!(
        on_a.shredded + on_b.shredded,
        ids.len(),
        "A shredded {}, B shredded {}",
        on_a.shredded,
        on_b.shredded
    );
    let rows = audit_rows(&a).await;
    let store = a.store().await;
    for id in &ids {
        let target = format!("extract:{id}");
        let shreds = rows
            .iter()
            .filter(|r| r.action == "extract.shred" && r.target == target)
            .count();
        assert_eq!(shreds, 1, "extract {id} has exactly one deletion receipt");
        let row = store.find_extract(id).await.unwrap().unwrap();
        assert_eq!(row.state.as_str(), "shredded");
        assert!(row.wrapped_key.is_none());
        assert!(store.find_chunks(id, 0, 1).await.unwrap().is_empty());
    }
    registervakt::audit::verify(&store).await.unwrap();
    store.close().await;
    b.stop().await;
    a.stop().await;
}

fn shipped_purposes() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/purposes.toml"
    ))
    .unwrap()
}

/// Asks `app`'s policy about a 600-minute phone list in Uppsala; returns (status, error code).
async fn decide(app: &TestApp, cookie: &str) -> (u16, String) {
    let ask = json!({
        "purpose": "phone-canvassing", "district": "Uppsala", "fields": ["first_name", "phone"],
        "lifetime_minutes": 600, "estimated_rows": 10,
    });
    let res = app
        .post_json("/api/v1/policy/decisions", Some(cookie), ask)
        .await;
    let status = res.status().as_u16();
    let bytes = res.bytes().await.unwrap();
    (status, error_code(&bytes))
}

/// Stores a new policy version through `app`; returns its number.
/// Proposes `purposes` on `on` as the administrator of `cookie`, and confirms it on `confirm_on`
/// as the second one (F-3); returns the version it became.
async fn change_policy(
    on: &TestApp,
    cookie: &str,
    confirm_on: &TestApp,
    second: &str,
    purposes: String,
    why: &str,
) -> i64 {
    let res = on
        .post_json(
            "/api/v1/policy/proposals",
            Some(cookie),
            json!({ "purposes": purposes, "comment": why }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["proposal_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = confirm_on
        .post_json(
            &format!("/api/v1/policy/proposals/{id}/confirm"),
            Some(second),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn a_policy_change_on_one_broker_is_enforced_by_the_other_at_its_next_request() {
    let (a, b) = spawn_pair_on_postgres("two_policy", "").await;
    let maja = a.user("maja", &["admin:*"]).await;
    let mats = a.user("mats", &["admin:*"]).await;
    let nora = a.user("nora", &["staff:Uppsala"]).await;
    let maja_c = a.sign_in(&maja, "maja").await;
    let mats_c = b.sign_in(&mats, "mats").await;
    let nora_c = b.sign_in(&nora, "nora").await;
    assert_eq!(
        decide(&b, &nora_c).await.0,
        200,
        "the base policy allows it"
    );

    let shorter =
        shipped_purposes().replace("max_lifetime_minutes = 4320", "max_lifetime_minutes = 60");
    assert_eq!(
        change_policy(
            &a,
            &maja_c,
            &b,
            &mats_c,
            shorter,
            "phone lists live an hour"
        )
        .await,
        1
    );
    assert_eq!(
        decide(&b, &nora_c).await,
        (403, "lifetime_too_long".to_owned()),
        "B enforces version 1, stored through A, at its next request"
    );
    let asked = body("phone-canvassing", "Uppsala", &["first_name", "phone"], 600);
    let (status, refused) = common::extracts::request(&b, &nora_c, asked).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("lifetime_too_long"))
    );

    // B now holds version 1 in its cache; a newer version stored through A must replace it.
    assert_eq!(
        change_policy(
            &a,
            &maja_c,
            &b,
            &mats_c,
            shipped_purposes(),
            "back to 3 days"
        )
        .await,
        2
    );
    assert_eq!(
        decide(&b, &nora_c).await.0,
        200,
        "B enforces version 2 at its next request, not its cached version 1"
    );
    let shown = b.get_json_with("/api/v1/policy", &nora_c).await;
    assert_eq!(shown["version"], 2);
    b.stop().await;
    a.stop().await;
}

/// Audited requests per broker in the audit race.
const AUDITED_PER_BROKER: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn concurrent_audited_requests_on_both_brokers_keep_one_valid_chain() {
    let (a, b) = spawn_pair_on_postgres("two_audit", "").await;
    let ola = a.user("ola", &["staff:Uppsala"]).await;
    let pia = a.user("pia", &["staff:Uppsala"]).await;
    let ola_c = a.sign_in(&ola, "ola").await;
    let pia_c = b.sign_in(&pia, "pia").await;
    let before = audit_rows(&a).await.len();
    // Each request appends `policy.decide`; both brokers, both users, all at once.
    let attempts = (0..2 * AUDITED_PER_BROKER).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let cookie = if i % 4 < 2 { &ola_c } else { &pia_c };
        decide(app, cookie)
    });
    let results = futures::future::join_all(attempts).await;
    assert!(
        results.iter().all(|(status, _)| *status == 200),
        "every audited request succeeds: {results:?}"
    );
    let rows = audit_rows(&b).await;
    let decided = rows.iter().filter(|r| r.action == "policy.decide").count();
    assert_eq!(decided, 2 * AUDITED_PER_BROKER, "one entry per request");
    assert!(rows.len() >= before + 2 * AUDITED_PER_BROKER);
    let seqs: HashSet<i64> = rows.iter().map(|r| r.seq).collect();
    let links: HashSet<&str> = rows.iter().map(|r| r.prev_hash.as_str()).collect();
    assert_eq!(seqs.len(), rows.len(), "no sequence number twice");
    assert_eq!(
        links.len(),
        rows.len(),
        "no entry has two successors (no fork)"
    );
    let store = b.store().await;
    let report = registervakt::audit::verify(&store).await.unwrap();
    store.close().await;
    assert_eq!(report.entries, rows.len() as u64);
    // The operator's check, from the second host's config.
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(["audit", "verify", "--config"])
        .arg(&b.dir.config_path)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "audit verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn an_extract_built_on_one_broker_downloads_through_the_other_with_its_own_data_dir() {
    let (a, b) = spawn_pair_on_postgres("two_chunks", "").await;
    let anna = a.user("anna", &["staff:Uppsala"]).await;
    let cookie = a.sign_in(&anna, "anna").await;
    let asked = body(
        "district-assembly-invitation",
        "Uppsala",
        &["first_name", "last_name", "email"],
        60,
    );
    // Requested on A, so A's snapshot task builds and seals it.
    let id = live_extract(&a, &cookie, asked).await;
    let (status, _, through_b) = download(&b, &cookie, &id, "csv").await;
    assert_eq!(status, 200, "B opens the chunks A sealed");
    let (status, _, through_a) = download(&a, &cookie, &id, "csv").await;
    assert_eq!(status, 200);
    assert_eq!(through_a, through_b, "the same file through either broker");
    let store = a.store().await;
    let row = store.find_extract(&id).await.unwrap().unwrap();
    store.close().await;
    let table = registervakt::extract::format::read_csv(&through_b).unwrap();
    assert_eq!(
        table.len() as i64,
        row.row_count.unwrap() + 1,
        "header and rows"
    );
    // Nothing of the extract is on either broker's disk: the chunks are in the store.
    for dir in [&a.dir.data, &b.dir.data] {
        let files: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
        assert!(files.is_empty(), "{} holds {files:?}", dir.display());
    }
    b.stop().await;
    a.stop().await;
}
