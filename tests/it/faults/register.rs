//! The member register (MariaDB) down or hung: asking answers 503 `register_unavailable` and
//! stores nothing, a built extract still downloads (its chunks are in the store), a build
//! approved meanwhile waits for the register and goes live once it is back, and new requests
//! work then too. (A build whose register stays away fails as `register_error` after its
//! tries: `register_outage`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use super::common::extracts::{body, download, live_extract, request};
use super::common::fault_proxy::{FaultProxy, Mode};
use super::common::{self, TestApp};
use super::support::{ANSWER_WITHIN, Logs, expect_not_ready, leaks, service_addr, wait_ready};
use super::{INVITE, RECRUIT};
use registervakt::store::register_writer;
use registervakt::synthetic;

#[tokio::test]
#[ignore = "needs MariaDB (REGISTERVAKT_TEST_MYSQL_URL)"]
async fn with_the_register_down_or_hung_asking_answers_503_built_extracts_still_download_and_it_recovers()
 {
    let logs = Logs::capture();
    let f = RegisterFault::start().await;
    let (app, anna) = (&f.app, f.anna.as_str());
    let built = live_extract(
        app,
        anna,
        body(INVITE, "Uppsala", &["first_name", "email"], 60),
    )
    .await;
    let extracts_before = count_extracts(app, anna).await;
    let leaks = leaks(f.proxy.port(), &["mariadb", "mysql", &f.table]);
    for mode in [Mode::Down, Mode::Blackhole] {
        f.proxy.set(mode);
        expect_not_ready(app, "register", "store").await;
        let counted = json!({ "purpose": INVITE, "district": "Uppsala", "fields": ["first_name"] });
        let estimate = app.client.post(app.url("/api/v1/extracts/estimate"));
        expect_register_503(
            estimate.header("cookie", anna).json(&counted).send(),
            &leaks,
        )
        .await;
        let asked = body(INVITE, "Uppsala", &["first_name"], 60);
        let create = app.client.post(app.url("/api/v1/extracts"));
        expect_register_503(create.header("cookie", anna).json(&asked).send(), &leaks).await;
        let stored = count_extracts(app, anna).await;
        assert_eq!(stored, extracts_before, "{mode:?}: nothing half stored");
        // Built extracts are in the store: they need no register.
        let (status, _, csv) = download(app, anna, &built, "csv").await;
        assert_eq!(status, 200, "{mode:?}");
        let rows = registervakt::extract::format::read_csv(&csv).unwrap().len() - 1;
        let meta = app
            .get_json_with(&format!("/api/v1/extracts/{built}"), anna)
            .await;
        assert_eq!(
            Some(rows as u64),
            meta["row_count"].as_u64(),
            "{mode:?}: whole"
        );
    }
    logs.expect("the member register query failed");
    f.proxy.set(Mode::Pass);
    wait_ready(app).await;
    let again = live_extract(app, anna, body(INVITE, "Uppsala", &["first_name"], 60)).await;
    let (status, _, _) = download(app, anna, &again, "csv").await;
    assert_eq!(status, 200, "no restart needed");
    f.finish().await;
}

#[tokio::test]
#[ignore = "needs MariaDB (REGISTERVAKT_TEST_MYSQL_URL)"]
async fn an_extract_approved_while_the_register_is_down_waits_and_goes_live_once_it_is_back() {
    let f = RegisterFault::start().await;
    let (app, anna) = (&f.app, f.anna.as_str());
    let bertil = app.user("bertil", &["approver:Uppsala"]).await;
    let bertil = app.sign_in(&bertil, "bertil").await;
    let asked = body(RECRUIT, "Uppsala", &["first_name", "phone"], 60);
    let (status, waiting) = request(app, anna, asked).await;
    assert_eq!(status, 201, "{waiting}");
    let id = waiting["id"].as_str().unwrap();
    f.proxy.set(Mode::Down);
    // Approving needs no register; building does, and waits for it.
    let approve = json!({ "request_hash": waiting["request_hash"], "comment": "ok" });
    let path = format!("/api/v1/extracts/{id}/approve");
    let res = app.post_json(&path, Some(&bertil), approve).await;
    assert_eq!(res.status(), 200);
    let started = std::time::Instant::now();
    for cookie in [anna, bertil.as_str()] {
        loop {
            let notices = app.get_json_with("/api/v1/notices", cookie).await;
            let mut told = notices["notices"].as_array().unwrap().iter();
            if told.any(|n| n["kind"] == "extract_waiting_register" && n["extract_id"] == id) {
                break;
            }
            assert!(started.elapsed() < ANSWER_WITHIN, "not told: {notices}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    let meta = app
        .get_json_with(&format!("/api/v1/extracts/{id}"), anna)
        .await;
    assert_eq!(meta["state"], "building", "{meta}");
    f.proxy.set(Mode::Pass);
    let live = wait_until_settled(app, anna, id).await;
    assert_eq!(live["state"], "live", "{live}");
    let (status, _, csv) = download(app, anna, id, "csv").await;
    assert_eq!(status, 200);
    assert!(csv.len() > 100);
    f.finish().await;
}

/// Polls the extract until it is neither pending nor building (a waiting build pauses 2, 4
/// and 8 s between its tries here).
async fn wait_until_settled(app: &TestApp, cookie: &str, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let meta = app
            .get_json_with(&format!("/api/v1/extracts/{id}"), cookie)
            .await;
        if !matches!(meta["state"].as_str(), Some("building" | "pending")) {
            return meta;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(40),
            "{meta}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A 503 `register_unavailable` with its one sentence, within [`ANSWER_WITHIN`], that names
/// none of `leaks`.
async fn expect_register_503(
    send: impl Future<Output = reqwest::Result<reqwest::Response>>,
    leaks: &[String],
) {
    let started = std::time::Instant::now();
    let res = send.await.unwrap();
    let took = started.elapsed();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(took < ANSWER_WITHIN, "answered after {took:?}");
    let body: Value = serde_json::from_str(&text).unwrap();
    let message =
        "The member register is not answering right now. Nothing was released; try again shortly.";
    assert_eq!(
        body,
        json!({ "error": "register_unavailable", "message": message })
    );
    for leak in leaks {
        assert!(
            !text.contains(leak.as_str()),
            "the answer names {leak:?}: {text}"
        );
    }
}

/// A broker (SQLite store) whose register is a fresh MariaDB table of 200 members behind the
/// proxy; anna (staff in Uppsala) is signed in.
struct RegisterFault {
    app: TestApp,
    proxy: FaultProxy,
    mysql: String,
    table: String,
    anna: String,
}

impl RegisterFault {
    async fn start() -> RegisterFault {
        let mysql = std::env::var("REGISTERVAKT_TEST_MYSQL_URL")
            .expect("set REGISTERVAKT_TEST_MYSQL_URL to run this test");
        let proxy = FaultProxy::start(service_addr("REGISTERVAKT_TEST_MYSQL_URL").await).await;
        let table = format!("rv_fault_{:016x}", rand::random::<u64>());
        let members = synthetic::generate(200, 7);
        register_writer::write_register(&mysql, &table, members)
            .await
            .unwrap();
        let dir = common::prepare(0).await;
        let q = |s: &str| Value::String(s.to_owned()).to_string();
        let via = super::support::via_port(&mysql, proxy.port());
        let text = dir
            .config_text()
            .replacen(&q(&dir.register_url), &q(&via), 1)
            .replacen(
                &format!("table = {}", q(synthetic::DEMO_TABLE)),
                &format!("table = {}", q(&table)),
                1,
            )
            + "\n[register.limits]\nbuild_retry_pause_secs = 2\n";
        std::fs::write(&dir.config_path, text).unwrap();
        let app = common::spawn_app_in(dir).await;
        let user = app.user("anna", &["staff:Uppsala"]).await;
        let anna = app.sign_in(&user, "anna").await;
        RegisterFault {
            app,
            proxy,
            mysql,
            table,
            anna,
        }
    }

    /// The audit chain verifies; the broker stops; the table goes.
    async fn finish(self) {
        let store = self.app.store().await;
        registervakt::audit::verify(&store).await.unwrap();
        store.close().await;
        self.app.stop().await;
        register_writer::drop_table(&self.mysql, &self.table)
            .await
            .unwrap();
    }
}

async fn count_extracts(app: &TestApp, cookie: &str) -> usize {
    let list = app.get_json_with("/api/v1/extracts", cookie).await;
    list["extracts"].as_array().unwrap().len()
}
