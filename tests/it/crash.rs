//! Crash consistency with a real `kill -9` (G3): the `registervakt` binary is started on a
//! data dir, driven over HTTP and killed with SIGKILL while it builds, releases and shreds
//! extracts, then started again on the same dir. After every restart: no canary member in
//! plaintext in any file of the data dir (the SQLite WAL included), the broker's temp dir or
//! its log; no `live` extract with missing chunks and no key left on a building, failed or
//! shredded one; as many `extract.download` events as counted downloads; `audit verify`
//! exits 0; and what fell due while the broker was dead is done within a sweep.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestDir, code_now, files_containing, session_cookie};
use registervakt::synthetic;
use serde_json::{Value, json};

const INVITE: &str = "district-assembly-invitation";
/// The district asked for: the biggest one, so a build takes long enough to be killed in.
const DISTRICT: &str = "Stockholm";
const FIELDS: &[&str] = &[
    "member_id",
    "first_name",
    "last_name",
    "email",
    "street_address",
];
/// Members in the register: Stockholm gets ~22 % of them, about 35 000 rows — more than one
/// store transaction of chunks (64 × 512 rows), so a killed build can leave chunks behind.
const MEMBERS: u64 = 160_000;
const CANARY_SEEDS: [u64; 3] = [11, 12, 13];
/// Seconds between sweeps in the test config (the production default is 30).
const SWEEP_SECS: u64 = 1;

fn stockholm_canary(seed: u64) -> synthetic::SyntheticMember {
    let mut m = synthetic::canary(seed);
    m.district = DISTRICT.into();
    m
}

/// The staff member who asks and the two approvers a whole-district pull needs.
const USERS: [(&str, &str); 3] = [
    ("anna", "staff:Stockholm"),
    ("bertil", "approver:Stockholm"),
    ("berit", "approver:Stockholm"),
];

/// A data dir, register with canaries, config (fixed port, fast sweeper), store initialised
/// by the binary, and the enrolled [`USERS`]; returns the dir and their credentials.
async fn setup(members: u64) -> (TestDir, Vec<common::EnrolledUser>) {
    let canaries = CANARY_SEEDS.iter().map(|s| stockholm_canary(*s)).collect();
    let t = common::prepare_with(members, canaries).await;
    let text = t.config_text_on_free_port()
        + format!("\n[extracts]\nsweep_interval_secs = {SWEEP_SECS}\n").as_str();
    std::fs::write(&t.config_path, text).unwrap();
    std::fs::create_dir_all(tmp_dir(&t)).unwrap();
    let init = registervakt(&t, &["init"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let store = registervakt::app::open_store(&t.config(), false)
        .await
        .unwrap();
    let keyring = registervakt::crypto::Keyring::load(&t.kek).unwrap();
    let mut users = Vec::new();
    for (name, role) in USERS {
        let user = registervakt::cli::demo::create_enrolled_user(
            &store,
            &keyring,
            &t.config(),
            name,
            name,
            &[role],
        )
        .await
        .unwrap();
        users.push(user);
    }
    store.close().await;
    (t, users)
}

/// Session cookies of the [`USERS`], in that order; sessions live in the store, so they
/// outlive every kill.
struct Cookies {
    staff: String,
    approvers: [String; 2],
}

/// The broker's own temp dir (`TMPDIR`), scanned like the data dir.
fn tmp_dir(t: &TestDir) -> PathBuf {
    t.path().join("tmp")
}

fn log_file(t: &TestDir) -> PathBuf {
    t.path().join("broker.log")
}

/// Runs `registervakt <args> --config <config>` to the end.
fn registervakt(t: &TestDir, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(args)
        .arg("--config")
        .arg(&t.config_path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// A running `registervakt serve`, killed with SIGKILL (never stopped gracefully) when dropped.
struct Broker {
    child: Child,
    log: PathBuf,
    base: String,
    client: reqwest::Client,
}

impl Broker {
    /// Starts the binary on `t` and waits until it answers `/healthz`.
    async fn start(t: &TestDir) -> Broker {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file(t))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_registervakt"))
            .args(["serve", "--config"])
            .arg(&t.config_path)
            .env("RUST_LOG", "info")
            .env("TMPDIR", tmp_dir(t))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let listen = t.config().server.listen;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut broker = Broker {
            child,
            log: log_file(t),
            base: format!("http://{listen}"),
            client,
        };
        let started = Instant::now();
        loop {
            if let Ok(res) = broker.client.get(broker.url("/healthz")).send().await
                && res.status() == 200
            {
                return broker;
            }
            if let Some(status) = broker.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(log_file(t)).unwrap_or_default();
                panic!("the broker exited ({status}) on start:\n{log}");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no /healthz");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap the process.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn post(&self, path: &str, cookie: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    async fn get_json(&self, path: &str, cookie: &str) -> Value {
        let req = self.client.get(self.url(path)).header("cookie", cookie);
        req.send().await.unwrap().json().await.unwrap()
    }

    /// Password and TOTP for `username`; returns the session cookie.
    async fn sign_in(&self, username: &str, user: &common::EnrolledUser) -> String {
        let res = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "username": username, "password": user.password }),
            )
            .await;
        assert_eq!(res.status(), 200);
        let pending = session_cookie(&res).unwrap();
        let code = json!({ "code": code_now(&user.secret_base32) });
        let res = self.post("/api/v1/auth/totp", Some(&pending), code).await;
        assert_eq!(res.status(), 200);
        session_cookie(&res).unwrap()
    }

    async fn sign_in_all(&self, users: &[common::EnrolledUser]) -> Cookies {
        let mut cookies = Vec::new();
        for ((name, _), user) in USERS.iter().zip(users) {
            cookies.push(self.sign_in(name, user).await);
        }
        let [staff, a, b] = <[String; 3]>::try_from(cookies).unwrap();
        Cookies {
            staff,
            approvers: [a, b],
        }
    }

    /// Requests the district-wide extract and has both approvers approve it: when this
    /// returns, the build has started. Returns the extract's id.
    async fn request(&self, c: &Cookies, lifetime_minutes: u32) -> String {
        let mut body = common::extracts::body(INVITE, DISTRICT, FIELDS, lifetime_minutes);
        // Every member of the district, whatever their status: the builds' sizes (and so the
        // moments a kill lands in) are what these tests are timed for.
        body["filters"] = json!({ "statuses": ["active", "paused", "resigned"] });
        let res = self.post("/api/v1/extracts", Some(&c.staff), body).await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        let id = v["id"].as_str().unwrap().to_owned();
        let verdict = json!({ "request_hash": v["request_hash"], "comment": "ok" });
        for approver in &c.approvers {
            let path = format!("/api/v1/extracts/{id}/approve");
            let res = self.post(&path, Some(approver), verdict.clone()).await;
            assert_eq!(res.status(), 200, "approval of {id}");
        }
        id
    }

    async fn state(&self, cookie: &str, id: &str) -> Value {
        self.get_json(&format!("/api/v1/extracts/{id}"), cookie)
            .await
    }

    /// Waits until the extract is in `state` (the sweeper runs every second).
    async fn wait_for(&self, cookie: &str, id: &str, state: &str, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let v = self.state(cookie, id).await;
            if v["state"] == state {
                return v;
            }
            if started.elapsed() > limit {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
                panic!("{id} not {state}: {v}\nerrors logged: {errors:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the extract leaves `building`; returns its metadata.
    async fn wait_for_end(&self, cookie: &str, id: &str, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let v = self.state(cookie, id).await;
            if v["state"] == "live" || v["state"] == "failed" {
                return v;
            }
            assert!(started.elapsed() < limit, "{id} still {}", v["state"]);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn start_download(&self, cookie: &str, id: &str) -> reqwest::Response {
        let path = format!("/api/v1/extracts/{id}/download");
        self.post(&path, Some(cookie), json!({ "format": "csv" }))
            .await
    }
}

/// One extract as the store holds it.
#[derive(Debug, sqlx::FromRow)]
struct Stored {
    id: String,
    state: String,
    has_key: bool,
    chunk_count: Option<i64>,
    row_count: Option<i64>,
    downloads: i64,
    chunks: i64,
    first_seq: Option<i64>,
    last_seq: Option<i64>,
    released: i64,
    shreds: i64,
}

async fn raw(t: &TestDir) -> sqlx::SqlitePool {
    let db = t.data.join(registervakt::config::SQLITE_STORE_FILE);
    sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap()
}

async fn stored(t: &TestDir) -> Vec<Stored> {
    let pool = raw(t).await;
    let rows = sqlx::query_as(
        "SELECT e.id, e.state, e.wrapped_key IS NOT NULL AS has_key, e.chunk_count, e.row_count, \
         e.downloads, \
         (SELECT COUNT(*) FROM extract_chunks c WHERE c.extract_id = e.id) AS chunks, \
         (SELECT MIN(seq) FROM extract_chunks c WHERE c.extract_id = e.id) AS first_seq, \
         (SELECT MAX(seq) FROM extract_chunks c WHERE c.extract_id = e.id) AS last_seq, \
         (SELECT COUNT(*) FROM audit_events a WHERE a.target = 'extract:' || e.id \
            AND a.action = 'extract.download') AS released, \
         (SELECT COUNT(*) FROM audit_events a WHERE a.target = 'extract:' || e.id \
            AND a.action = 'extract.shred') AS shreds \
         FROM extracts e ORDER BY e.created_at, e.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

/// What must hold after any kill and restart, whatever was cut off.
async fn assert_consistent(t: &TestDir, when: &str) {
    for seed in CANARY_SEEDS {
        let marker = synthetic::canary_marker(seed);
        for dir in [t.data.clone(), tmp_dir(t)] {
            let hits = files_containing(&dir, marker.as_bytes());
            assert_eq!(hits, Vec::<String>::new(), "canary in plaintext {when}");
        }
        let log = std::fs::read(log_file(t)).unwrap_or_default();
        assert!(
            !log.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "canary in the broker's log {when}"
        );
    }
    for e in stored(t).await {
        match e.state.as_str() {
            "live" => {
                // Complete: a key, and chunks 0..chunk_count, each exactly once.
                let n = e.chunk_count.unwrap_or(-1);
                assert!(e.has_key, "live without a key {when}: {e:?}");
                assert!(n > 0 && e.row_count.unwrap_or(0) > 0, "{when}: {e:?}");
                assert_eq!(
                    (e.chunks, e.first_seq, e.last_seq),
                    (n, Some(0), Some(n - 1)),
                    "a live extract with missing chunks {when}: {e:?}"
                );
            }
            "building" | "pending" => {
                assert!(!e.has_key, "a key before live {when}: {e:?}");
                assert_eq!(e.downloads, 0, "{when}: {e:?}");
            }
            _ => {
                assert!(!e.has_key, "an ended extract kept its key {when}: {e:?}");
                assert_eq!(e.chunks, 0, "an ended extract kept chunks {when}: {e:?}");
            }
        }
        assert_eq!(
            e.downloads, e.released,
            "downloads counted and `extract.download` events differ {when}: {e:?}"
        );
        assert!(e.shreds <= 1, "shredded twice {when}: {e:?}");
        assert_eq!(e.shreds == 1, e.state == "shredded", "{when}: {e:?}");
    }
    let verify = registervakt(t, &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "audit verify {when}: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// Downloads the whole CSV; returns its data rows (header dropped), checked against the
/// row count the extract claims.
async fn download_all(b: &Broker, cookie: &str, id: &str) -> Vec<Vec<String>> {
    let res = b.start_download(cookie, id).await;
    assert_eq!(res.status(), 200, "download of {id}");
    let bytes = res.bytes().await.unwrap();
    let mut table = registervakt::extract::format::read_csv(&bytes).unwrap();
    assert_eq!(table.remove(0), FIELDS, "the header");
    let claimed = b.state(cookie, id).await["row_count"].as_i64().unwrap();
    assert_eq!(table.len() as i64, claimed, "every row of {id}");
    table
}

/// Whether the canaries (all in the district) are in a downloaded table.
fn has_canaries(table: &[Vec<String>]) -> bool {
    CANARY_SEEDS.iter().all(|s| {
        let marker = synthetic::canary_marker(*s);
        table.iter().any(|r| r[1] == marker)
    })
}

#[tokio::test]
#[ignore = "about 70 s (a 160 000-member register, 12 kills and restarts); run by .ci/run"]
async fn a_broker_killed_at_each_moment_of_a_build_leaves_no_half_extract_and_builds_it_again() {
    let (t, users) = setup(MEMBERS).await;
    let mut b = Broker::start(&t).await;
    let c = b.sign_in_all(&users).await;
    let cookie = c.staff.as_str();
    // A build nobody kills, to know how many rows and how long it takes.
    let started = Instant::now();
    let reference = b.request(&c, 60).await;
    b.wait_for(cookie, &reference, "live", Duration::from_secs(120))
        .await;
    let build_time = started.elapsed();
    let rows = download_all(&b, cookie, &reference).await;
    assert!(has_canaries(&rows));
    let mut killed_building = Vec::new();
    // Fixed delays for the start of a build, then fractions of its length for the end: the
    // first chunks reach the store after 64 of them (~90 % in), the key with the last ones.
    let fixed = [0, 20, 100, 400].map(Duration::from_millis);
    let late = [0.5, 0.9, 1.1].map(|f| build_time.mul_f64(f));
    eprintln!("an unkilled build took {build_time:?}");
    for delay in fixed.into_iter().chain(late) {
        let delay_ms = delay.as_millis();
        let id = b.request(&c, 60).await;
        tokio::time::sleep(delay).await;
        b.kill();
        assert_consistent(&t, &format!("after a kill {delay_ms} ms into a build")).await;
        let state = stored(&t).await.into_iter().find(|e| e.id == id).unwrap();
        if state.state == "building" {
            killed_building.push((id.clone(), state.chunks));
        }
        b = Broker::start(&t).await;
        assert_consistent(&t, &format!("after restarting ({delay_ms} ms)")).await;
        let (status, _) = {
            let res = b.start_download(cookie, &id).await;
            (res.status().as_u16(), res.bytes().await)
        };
        assert!(
            [200, 409].contains(&status),
            "a download answers the file or 'building', got {status}"
        );
    }
    assert!(
        killed_building.len() >= 3,
        "too few kills landed in a build ({build_time:?} per build): {killed_building:?}"
    );
    // And once the moment the first transaction of chunks is in the store, before the key.
    let mut left_chunks = false;
    for _ in 0..5 {
        let id = b.request(&c, 60).await;
        let pool = raw(&t).await;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let chunks: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM extract_chunks WHERE extract_id = ?")
                    .bind(&id)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            if chunks > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        pool.close().await;
        b.kill();
        assert_consistent(&t, "after a kill with chunks in the store").await;
        let state = stored(&t).await.into_iter().find(|e| e.id == id).unwrap();
        b = Broker::start(&t).await;
        if state.state == "building" && state.chunks > 0 {
            killed_building.push((id, state.chunks));
            left_chunks = true;
            break;
        }
    }
    assert!(
        left_chunks,
        "no kill left chunks behind: {killed_building:?}"
    );
    // The builds' leases (120 s) run out: moved back instead of waited for.
    let pool = raw(&t).await;
    sqlx::query("UPDATE extracts SET lease_until = 0 WHERE state = 'building'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // Every killed build is done again from nothing, or (when the restarted builds starve
    // each other of register connections, see the report) fails cleanly: never half.
    let mut rebuilt = 0;
    for (id, _) in &killed_building {
        let v = b.wait_for_end(cookie, id, Duration::from_secs(120)).await;
        if v["state"] == "live" {
            let again = download_all(&b, cookie, id).await;
            assert_eq!(again.len(), rows.len(), "{id} built again in full");
            assert!(has_canaries(&again));
            rebuilt += 1;
        } else {
            assert_eq!(v["state"], "failed", "{v}");
        }
    }
    assert!(rebuilt > 0, "no abandoned build was done again");
    assert_consistent(&t, "after every build was done again").await;
    b.kill();
}

/// Sets `expires_at` of `id` to `at` behind the broker's back: the deadline passing, without
/// waiting a minute (lifetimes are whole minutes).
async fn set_deadline(t: &TestDir, id: &str, at: i64) {
    let pool = raw(t).await;
    sqlx::query("UPDATE extracts SET expires_at = ? WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
#[ignore = "about 30 s (a 160 000-member register, kills mid-download); run by .ci/run"]
async fn a_broker_killed_in_the_middle_of_a_download_has_counted_and_audited_it_first() {
    let (t, users) = setup(MEMBERS).await;
    let mut b = Broker::start(&t).await;
    let c = b.sign_in_all(&users).await;
    let cookie = c.staff.as_str();
    let id = b.request(&c, 60).await;
    b.wait_for(cookie, &id, "live", Duration::from_secs(120))
        .await;
    for cut in 1..=2 {
        let mut res = b.start_download(cookie, &id).await;
        assert_eq!(res.status(), 200);
        let first = res.chunk().await.unwrap().unwrap();
        assert!(first.starts_with(registervakt::extract::format::CSV_BOM));
        b.kill();
        // The body had started: its release is counted and its event committed (E2).
        let e = stored(&t).await.into_iter().find(|e| e.id == id).unwrap();
        assert_eq!((e.downloads, e.released), (cut, cut), "{e:?}");
        // What the client got is a broken-off response, not a file that looks complete.
        let mut got = first.to_vec();
        let end = loop {
            match res.chunk().await {
                Ok(Some(more)) => got.extend_from_slice(&more),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if end.is_ok() {
            let table = registervakt::extract::format::read_csv(&got).unwrap();
            assert_eq!(
                Some(table.len() as i64 - 1),
                e.row_count,
                "a short file claimed whole"
            );
        }
        assert_consistent(&t, &format!("after a kill in download {cut}")).await;
        b = Broker::start(&t).await;
        assert_consistent(&t, &format!("after restarting (download {cut})")).await;
    }
    // The last allowed download is whole and shreds the extract.
    let rows = download_all(&b, cookie, &id).await;
    assert!(has_canaries(&rows));
    let v = b
        .wait_for(cookie, &id, "shredded", Duration::from_secs(10))
        .await;
    assert_eq!(v["end_reason"], "download_limit");
    assert_eq!(b.start_download(cookie, &id).await.status(), 410);
    b.kill();
    assert_consistent(&t, "after the last download").await;
}

#[tokio::test]
#[ignore = "about 40 s (a 160 000-member register, kills while shredding); run by .ci/run"]
async fn a_broker_killed_while_shredding_shreds_exactly_once_and_catches_up_within_a_sweep() {
    let (t, users) = setup(MEMBERS).await;
    let mut b = Broker::start(&t).await;
    let c = b.sign_in_all(&users).await;
    let cookie = c.staff.as_str();
    // "I'm done", killed 0–20 ms after it was sent.
    for delay_ms in [0u64, 2, 5, 20] {
        let id = b.request(&c, 60).await;
        b.wait_for(cookie, &id, "live", Duration::from_secs(120))
            .await;
        let done = b
            .client
            .post(b.url(&format!("/api/v1/extracts/{id}/done")))
            .header("cookie", cookie)
            .json(&json!({}))
            .send();
        let done = tokio::spawn(done);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        b.kill();
        let _ = done.await;
        assert_consistent(&t, &format!("after a kill {delay_ms} ms into 'done'")).await;
        b = Broker::start(&t).await;
        let v = b.state(cookie, &id).await;
        if v["state"] == "live" {
            let path = format!("/api/v1/extracts/{id}/done");
            assert_eq!(b.post(&path, Some(cookie), json!({})).await.status(), 204);
        }
        assert_consistent(&t, &format!("after 'done' again ({delay_ms} ms)")).await;
    }
    // Due for the sweeper, killed 0–1500 ms later (it sweeps every second).
    let mut ids = Vec::new();
    for delay_ms in [0u64, 300, 700, 1100, 1500] {
        let id = b.request(&c, 60).await;
        b.wait_for(cookie, &id, "live", Duration::from_secs(120))
            .await;
        set_deadline(&t, &id, now()).await;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        b.kill();
        assert_consistent(&t, &format!("after a kill {delay_ms} ms into a due sweep")).await;
        b = Broker::start(&t).await;
        ids.push(id);
    }
    // Due while no broker ran: shredded within one sweep of the restart.
    let id = b.request(&c, 60).await;
    b.wait_for(cookie, &id, "live", Duration::from_secs(120))
        .await;
    b.kill();
    set_deadline(&t, &id, now() - 1).await;
    let restarted = Instant::now();
    b = Broker::start(&t).await;
    ids.push(id);
    for id in &ids {
        let v = b
            .wait_for(cookie, id, "shredded", Duration::from_secs(SWEEP_SECS + 5))
            .await;
        assert_eq!(v["end_reason"], "expired", "{v}");
    }
    assert!(restarted.elapsed() < Duration::from_secs(SWEEP_SECS + 5));
    assert_consistent(&t, "after the sweeper caught up").await;
    b.kill();
}
