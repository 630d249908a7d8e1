//! A register that cannot be read, seen from the broker (issue 20, item 3): a user is told
//! the register is the cause (503 `register_unavailable`, in the page's language), a slow
//! register answers within `register.limits.statement_timeout_secs`, and a build approved while
//! the register cannot be read waits, says so to the requester and the approver, and goes live
//! once it can — or fails as `register_error` after its tries, with the requester told.
//!
//! The register is a SQLite file whose mapped table is a view; the outage drops the view and
//! the recovery makes it again. (Moving or locking the file would not do: the broker's open
//! read-only connections keep reading a moved file, and the store of a live test is SQLite
//! too.) Every connection sees a dropped view at once, and reading it fails as a register down
//! or refusing a grant does: before the first row.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Executor};

use crate::common::extracts::{body, request};
use crate::common::pages::page;
use crate::common::{self, TestApp};

const INVITE: &str = "district-assembly-invitation";
/// Needs an approver in the district.
const RECRUIT: &str = "election-worker-recruitment";
const VIEW: &str = "medlemmar_v";
const EN_MESSAGE: &str =
    "The member register is not answering right now. Nothing was released; try again shortly.";
const SV_MESSAGE: &str = "Medlemsregistret svarar inte just nu.";

/// A broker whose register is the view [`VIEW`] on the synthetic members, with a 2 s
/// statement limit and `pause` seconds before a waiting build's second try; anna is staff in
/// Uppsala, bertil approves there.
struct Outage {
    app: TestApp,
    register: String,
    anna: String,
    bertil: String,
}

impl Outage {
    async fn start(pause: u64) -> Outage {
        let dir = common::prepare(200).await;
        let register = dir.register_url.clone();
        execute(
            &register,
            &format!("CREATE VIEW {VIEW} AS SELECT * FROM medlemmar"),
        )
        .await;
        let text =
            dir.config_text()
                .replacen("table = \"medlemmar\"", &format!("table = \"{VIEW}\""), 1);
        assert!(
            text.contains(VIEW),
            "the demo config maps table \"medlemmar\""
        );
        let text = format!(
            "{text}\n[register.limits]\nstatement_timeout_secs = 2\nbuild_retry_pause_secs = {pause}\n"
        );
        std::fs::write(&dir.config_path, text).unwrap();
        let app = common::spawn_app_in(dir).await;
        let anna = app.user("anna", &["staff:Uppsala"]).await;
        let anna = app.sign_in(&anna, "anna").await;
        let bertil = app.user("bertil", &["approver:Uppsala"]).await;
        let bertil = app.sign_in(&bertil, "bertil").await;
        Outage {
            app,
            register,
            anna,
            bertil,
        }
    }

    async fn cut(&self) {
        execute(&self.register, &format!("DROP VIEW {VIEW}")).await;
    }

    async fn restore(&self) {
        execute(
            &self.register,
            &format!("CREATE VIEW {VIEW} AS SELECT * FROM medlemmar"),
        )
        .await;
    }

    /// The view again, but every read of it counts to a few hundred million first.
    async fn slow_down(&self) {
        execute(&self.register, &format!("DROP VIEW IF EXISTS {VIEW}")).await;
        let slow = format!(
            "CREATE VIEW {VIEW} AS SELECT m.* FROM medlemmar m WHERE (WITH RECURSIVE \
             c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) \
             SELECT max(x) FROM c) > 0"
        );
        execute(&self.register, &slow).await;
    }

    /// Anna asks for the recruitment list (it needs bertil) and bertil approves it; its id.
    async fn approved(&self) -> String {
        let asked = body(RECRUIT, "Uppsala", &["first_name", "phone"], 60);
        let (status, waiting) = request(&self.app, &self.anna, asked).await;
        assert_eq!(status, 201, "{waiting}");
        let id = waiting["id"].as_str().unwrap().to_owned();
        self.cut().await;
        let approve = json!({ "request_hash": waiting["request_hash"], "comment": "ok" });
        let path = format!("/api/v1/extracts/{id}/approve");
        let res = self.app.post_json(&path, Some(&self.bertil), approve).await;
        assert_eq!(res.status(), 200);
        id
    }

    async fn notices(&self, cookie: &str, id: &str) -> Vec<String> {
        let all = self.app.get_json_with("/api/v1/notices", cookie).await;
        all["notices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["extract_id"] == id)
            .map(|n| n["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits (up to `within`) until the extract is neither pending nor building.
    async fn settled(&self, id: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        loop {
            let v = self
                .app
                .get_json_with(&format!("/api/v1/extracts/{id}"), &self.anna)
                .await;
            if !matches!(v["state"].as_str(), Some("building" | "pending")) {
                return v;
            }
            assert!(Instant::now() < until, "still {}", v["state"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn execute(url: &str, statement: &str) {
    let mut conn = SqliteConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    conn.execute(statement).await.unwrap();
}

#[tokio::test]
async fn a_register_that_cannot_be_read_is_named_as_the_cause_in_the_pages_language() {
    let o = Outage::start(1).await;
    o.cut().await;
    let counted = json!({ "purpose": INVITE, "district": "Uppsala", "fields": ["first_name"] });
    let res = o
        .app
        .post_json("/api/v1/extracts/estimate", Some(&o.anna), counted.clone())
        .await;
    assert_eq!(res.status(), 503);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(
        answer,
        json!({ "error": "register_unavailable", "message": EN_MESSAGE })
    );
    let (status, html) = page(&o.app, "/extracts/new?district=Uppsala", &o.anna).await;
    assert_eq!(status, 503, "{html}");
    assert!(html.contains(SV_MESSAGE), "{html}");
    assert!(
        !html.contains(VIEW) && !html.contains("register.sqlite"),
        "{html}"
    );
    // A register too slow to answer is cut off by its own limit (2 s), not by the request's
    // (60 s), and the user is told the register is the cause.
    o.slow_down().await;
    let started = Instant::now();
    let res = o
        .app
        .post_json("/api/v1/extracts/estimate", Some(&o.anna), counted)
        .await;
    let took = started.elapsed();
    assert_eq!(res.status(), 503);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["error"], "register_unavailable", "{answer}");
    assert!(took < Duration::from_secs(8), "answered after {took:?}");
    o.app.stop().await;
}

#[tokio::test]
async fn a_build_approved_while_the_register_cannot_be_read_waits_says_so_and_goes_live_once_it_can()
 {
    // Tries at 0, 3, 9 and 21 s: time enough to look before the view is back.
    let o = Outage::start(3).await;
    let id = o.approved().await;
    let told_by = Instant::now() + Duration::from_secs(5);
    while !o
        .notices(&o.anna, &id)
        .await
        .iter()
        .any(|k| k == "extract_waiting_register")
    {
        assert!(
            Instant::now() < told_by,
            "the requester is told the build waits"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let told = o.notices(&o.bertil, &id).await;
    assert!(
        told.iter().any(|k| k == "extract_waiting_register"),
        "the approver too: {told:?}"
    );
    let path = format!("/extracts/{id}");
    for cookie in [&o.anna, &o.bertil] {
        let (status, html) = page(&o.app, &path, cookie).await;
        assert_eq!(status, 200);
        assert!(html.contains("data-state=\"building\""), "{html}");
        assert!(html.contains("Medlemsregistret svarade inte ("), "{html}");
    }
    let english = format!("{}; rv_lang=en", o.anna);
    let (_, html) = page(&o.app, &path, &english).await;
    assert!(
        html.contains("The member register did not answer ("),
        "{html}"
    );
    o.restore().await;
    let live = o.settled(&id, Duration::from_secs(30)).await;
    assert_eq!(live["state"], "live", "{live}");
    assert!(live["row_count"].as_u64().unwrap() > 0, "{live}");
    let told = o.notices(&o.anna, &id).await;
    assert!(told.iter().any(|k| k == "extract_ready"), "{told:?}");
    assert!(!told.iter().any(|k| k == "extract_failed"), "{told:?}");
    o.app.stop().await;
}

#[tokio::test]
async fn a_build_whose_register_stays_unreadable_fails_as_register_error_after_its_tries() {
    // Tries at 0, 1, 3 and 7 s.
    let o = Outage::start(1).await;
    let started = Instant::now();
    let id = o.approved().await;
    let failed = o.settled(&id, Duration::from_secs(40)).await;
    let took = started.elapsed();
    let ended = (failed["state"].as_str(), failed["end_reason"].as_str());
    assert_eq!(ended, (Some("failed"), Some("register_error")), "{failed}");
    assert!(
        took >= Duration::from_secs(6),
        "failed after {took:?}: not after its tries"
    );
    let told = o.notices(&o.anna, &id).await;
    for kind in ["extract_waiting_register", "extract_failed"] {
        assert_eq!(
            told.iter().filter(|k| *k == kind).count(),
            1,
            "{kind}: {told:?}"
        );
    }
    let store = o.app.store().await;
    let row = store.find_extract(&id).await.unwrap().unwrap();
    assert!(row.wrapped_key.is_none() && row.chunk_count.is_none());
    store.close().await;
    o.restore().await;
    o.app.stop().await;
}
