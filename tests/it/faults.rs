//! Network faults between the broker and what it depends on (issue 9, SECURITY_BAR G4). The
//! real broker runs with one dependency behind a loopback fault proxy (`common::fault_proxy`):
//! the store on PostgreSQL down, hung or slow; the member register on MariaDB down or hung;
//! the SMTP server hung or down. One more fault needs no proxy: the PostgreSQL store refusing
//! audit entries, as on a full disk.
//!
//! Each test shows three things. During the fault, every answer that needs the dependency is a
//! 503 `unavailable` with the one generic sentence, within a bounded time. It names no host,
//! port, SQL or member data. No member byte leaves, no download is counted, and the operator
//! gets a log line with the cause. Nothing stored is lost: the extracts are as they were and
//! the audit chain verifies, read past the proxy. When the fault clears, the same broker serves
//! again without a restart.
//!
//! The unreachable OIDC provider, the unwritable audit log on SQLite and a dead syslog are
//! covered in `oidc_signin`, `extract_safety` and `audit_syslog`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::smtp_support;
#[path = "faults/support.rs"]
mod support;

use std::time::{Duration, Instant};

use common::extracts::{body, download, live_extract};
use common::fault_proxy::{FaultProxy, Mode};
use common::{EnrolledUser, TestApp};
use registervakt::extract::format::CSV_BOM;
use registervakt::store::Store;
use serde_json::json;
use support::{Logs, expect_generic_503, expect_not_ready, leaks, service_addr, wait_ready};

const INVITE: &str = "district-assembly-invitation";
/// Needs an approver in the district (the first name and the phone number of recruits).
const RECRUIT: &str = "election-worker-recruitment";
/// The deadline the slow-store test configures (`server.request_timeout_secs`).
const DEADLINE_SECS: u64 = 4;
/// Each chunk waits this long: a connection is still handed out (its ping takes 3 s of the
/// pool's 5), but every statement after it is slow, and a request runs dozens.
const SLOW: Mode = Mode::Slow(Duration::from_millis(1500));

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn with_the_store_down_everything_answers_503_releases_nothing_and_recovers_by_itself() {
    let f = StoreFault::start("").await;
    f.break_with(Mode::Down).await;
    f.proxy.set(Mode::Pass);
    f.recovers().await;
    f.app.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn with_the_store_hung_everything_answers_503_within_seconds_and_recovers_by_itself() {
    let f = StoreFault::start("").await;
    f.break_with(Mode::Blackhole).await;
    f.proxy.set(Mode::Pass);
    f.recovers().await;
    f.app.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn with_the_store_slow_or_hanging_mid_request_answers_come_by_the_request_deadline() {
    let f = StoreFault::start(&format!("request_timeout_secs = {DEADLINE_SECS}\n")).await;
    f.break_with(SLOW).await;
    // People get the error page, in their language (Swedish unless chosen otherwise).
    let page = f.app.get_with("/start", Some(&f.cookie)).await;
    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Registervakt kan inte svara just nu"),
        "{html}"
    );
    // A download that holds its connection when the store stops answering altogether.
    let started = Instant::now();
    let pending = tokio::spawn({
        let path = format!("/api/v1/extracts/{}/download", f.id);
        let req = f
            .app
            .client
            .post(f.app.url(&path))
            .header("cookie", &f.cookie);
        let req = req.json(&json!({ "format": "csv" }));
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.bytes().await.unwrap_or_default().to_vec())
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    f.proxy.set(Mode::Blackhole);
    let (status, bytes) = pending.await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&bytes));
    assert!(
        took < Duration::from_secs(DEADLINE_SECS + 3),
        "a request on a hung connection answered after {took:?}"
    );
    assert!(!String::from_utf8_lossy(&bytes).contains('@'));
    assert_eq!(f.stored().await, f.before, "nothing stored changed");
    f.logs.expect("server.request_timeout_secs");
    f.proxy.set(Mode::Pass);
    f.recovers().await;
    f.app.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn with_the_audit_log_refusing_entries_on_postgres_nothing_is_released_and_it_recovers() {
    let f = StoreFault::start("").await;
    let pg = sqlx::PgPool::connect(f.url.as_str()).await.unwrap();
    for sql in [
        "CREATE FUNCTION audit_full() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$",
        "CREATE TRIGGER audit_full BEFORE INSERT ON audit_events \
         FOR EACH ROW EXECUTE FUNCTION audit_full()",
    ] {
        sqlx::query(sql).execute(&pg).await.unwrap();
    }
    let leaks = leaks(f.proxy.port(), &["postgres", "No space", "audit_events"]);
    let path = format!("/api/v1/extracts/{}/download", f.id);
    let csv = f
        .app
        .client
        .post(f.app.url(&path))
        .header("cookie", &f.cookie);
    let bytes = expect_generic_503(csv.json(&json!({ "format": "csv" })).send(), &leaks).await;
    assert!(!bytes.starts_with(CSV_BOM));
    let asked = body(INVITE, "Uppsala", &["first_name"], 60);
    let create = f.app.client.post(f.app.url("/api/v1/extracts"));
    let create = create.header("cookie", &f.cookie).json(&asked);
    expect_generic_503(create.send(), &leaks).await;
    assert_eq!(
        f.stored().await,
        f.before,
        "nothing counted, nothing stored"
    );
    f.logs.expect("No space left on device");
    sqlx::query("DROP TRIGGER audit_full ON audit_events")
        .execute(&pg)
        .await
        .unwrap();
    pg.close().await;
    f.recovers().await;
    f.app.stop().await;
}

/// One broker on PostgreSQL through the proxy, a live extract, and what was stored.
struct StoreFault {
    logs: Logs,
    app: TestApp,
    proxy: FaultProxy,
    /// The database past the proxy, for looking at what is stored during the fault.
    direct: Store,
    url: url::Url,
    anna: EnrolledUser,
    /// Signs in after the fault (anna's code of this period is spent: A2 refuses a replay).
    britt: EnrolledUser,
    cookie: String,
    id: String,
    before: Stored,
}

/// What must survive a fault: the extract as it was, and the audit chain.
#[derive(Debug, PartialEq)]
struct Stored {
    state: String,
    downloads: i64,
    chunks: Option<i64>,
    key_kept: bool,
    audit_entries: u64,
    releases: usize,
}

impl StoreFault {
    /// A broker whose `[server]` table gets `server_extra`, with anna's live extract.
    async fn start(server_extra: &str) -> StoreFault {
        let logs = Logs::capture();
        let upstream = service_addr("REGISTERVAKT_TEST_POSTGRES_URL").await;
        let proxy = FaultProxy::start(upstream).await;
        let port = proxy.port();
        let (app, url) = common::postgres::spawn_on_postgres_edited("faults", |text, url| {
            let via = support::via_port(url.as_str(), port);
            let server = format!("[server]\n{server_extra}");
            text.replacen(&format!("{:?}", url.as_str()), &format!("{via:?}"), 1)
                .replacen("[server]\n", &server, 1)
        })
        .await;
        let direct = open_direct(&url).await;
        let anna = app.user("anna", &["staff:Uppsala"]).await;
        let britt = app.user("britt", &["staff:Uppsala"]).await;
        let cookie = app.sign_in(&anna, "anna").await;
        let fields = ["first_name", "email"];
        let id = live_extract(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
        StoreFault {
            before: stored(&direct, &id).await,
            logs,
            app,
            proxy,
            direct,
            url,
            anna,
            britt,
            cookie,
            id,
        }
    }

    /// Breaks the store with `mode`. Readiness, sign-in, download and a new request each get
    /// the generic 503 in time, releasing nothing; nothing stored changes; the log says why.
    async fn break_with(&self, mode: Mode) {
        self.proxy.set(mode);
        let app = &self.app;
        expect_not_ready(app, "store", "register").await;
        let leaks = leaks(self.proxy.port(), &["postgres", "rv_faults"]);
        let login = app.client.post(app.url("/api/v1/auth/login"));
        let login = login.json(&json!({ "username": "anna", "password": self.anna.password }));
        expect_generic_503(login.send(), &leaks).await;
        let path = format!("/api/v1/extracts/{}/download", self.id);
        let csv = app
            .client
            .post(app.url(&path))
            .header("cookie", &self.cookie);
        let csv = csv.json(&json!({ "format": "csv" }));
        let bytes = expect_generic_503(csv.send(), &leaks).await;
        assert!(!bytes.starts_with(CSV_BOM));
        let asked = body(INVITE, "Uppsala", &["first_name"], 60);
        let create = app.client.post(app.url("/api/v1/extracts"));
        let create = create.header("cookie", &self.cookie).json(&asked);
        expect_generic_503(create.send(), &leaks).await;
        assert_eq!(self.stored().await, self.before, "nothing stored changed");
        self.logs.expect("request failed");
        self.logs.expect("readiness check");
    }

    async fn stored(&self) -> Stored {
        stored(&self.direct, &self.id).await
    }

    /// The same broker, without a restart: ready, signs in, releases the extract once more.
    async fn recovers(&self) {
        let app = &self.app;
        wait_ready(app).await;
        app.sign_in(&self.britt, "britt").await;
        let (status, _, bytes) = download(app, &self.cookie, &self.id, "csv").await;
        assert_eq!(status, 200);
        assert!(bytes.starts_with(CSV_BOM) && String::from_utf8_lossy(&bytes).contains('@'));
        let after = self.stored().await;
        assert_eq!(
            after.downloads,
            self.before.downloads + 1,
            "this one counted"
        );
        assert_eq!(after.releases, self.before.releases + 1);
        assert!(after.audit_entries > self.before.audit_entries);
    }
}

async fn stored(store: &Store, id: &str) -> Stored {
    let row = store.find_extract(id).await.unwrap().unwrap();
    let chain = registervakt::audit::verify(store).await;
    let events = store.list_recent_audit_events(100_000).await.unwrap();
    Stored {
        state: row.state.to_string(),
        downloads: row.downloads,
        chunks: row.chunk_count,
        key_kept: row.wrapped_key.is_some(),
        audit_entries: chain.expect("the audit chain verifies").entries,
        releases: events
            .iter()
            .filter(|e| e.action == "extract.download")
            .count(),
    }
}

async fn open_direct(url: &url::Url) -> Store {
    let location = registervakt::config::StoreLocation::Postgres(url.as_str().to_owned().into());
    Store::open(&registervakt::store::Options {
        location,
        busy_timeout: Duration::from_secs(5),
        max_connections: 2,
        create: false,
    })
    .await
    .unwrap()
}

#[path = "faults/register.rs"]
mod register;

#[path = "faults/mail.rs"]
mod mail;
