//! A real `registervakt serve` child on a prepared data dir (as in `tests/it/crash.rs`), with
//! its wall clock under libfaketime: the test moves it while the broker runs. Only the
//! child is faked; the monotonic clock is left alone, so its timers keep their pace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{self, EnrolledUser, TestDir, session_cookie};

/// Where Debian's `libfaketime` package puts the library.
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The broker's clock: an offset from the real time, read by libfaketime at every call.
pub struct FakeClock {
    file: PathBuf,
    offset_secs: i64,
}

impl FakeClock {
    pub fn new(dir: &Path) -> FakeClock {
        let mut clock = FakeClock {
            file: dir.join("faketime"),
            offset_secs: 0,
        };
        clock.set(0);
        clock
    }

    /// Moves the broker's clock to `offset_secs` from the real time. Written to a temp file
    /// and renamed, so libfaketime never reads half a line.
    pub fn set(&mut self, offset_secs: i64) {
        let temp = self.file.with_extension("tmp");
        std::fs::write(&temp, format!("{offset_secs:+}\n")).unwrap();
        std::fs::rename(&temp, &self.file).unwrap();
        self.offset_secs = offset_secs;
    }

    pub fn offset_secs(&self) -> i64 {
        self.offset_secs
    }
}

/// A data dir with a fixed port and a sweep every second, its store initialised, and `anna`
/// (staff in Uppsala) enrolled.
pub async fn prepare() -> (TestDir, EnrolledUser) {
    let t = common::prepare(200).await;
    let text = t.config_text_on_free_port() + "\n[extracts]\nsweep_interval_secs = 1\n";
    std::fs::write(&t.config_path, text).unwrap();
    registervakt::app::init_store(&t.config())
        .await
        .unwrap()
        .close()
        .await;
    let store = registervakt::app::open_store(&t.config(), false)
        .await
        .unwrap();
    let keyring = registervakt::crypto::Keyring::load(&t.kek).unwrap();
    let anna = registervakt::cli::demo::create_enrolled_user(
        &store,
        &keyring,
        &t.config(),
        "anna",
        "anna",
        &["staff:Uppsala"],
    )
    .await
    .unwrap();
    store.close().await;
    (t, anna)
}

/// Runs `registervakt <args> --config <config>` to the end, on the real clock.
pub fn registervakt(t: &TestDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(args)
        .arg("--config")
        .arg(&t.config_path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// `registervakt audit verify` passes on `t`.
pub fn assert_audit_verifies(t: &TestDir, when: &str) {
    let out = registervakt(t, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit verify {when}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `registervakt serve`; killed when dropped.
pub struct Broker {
    child: Child,
    log: PathBuf,
    base: String,
    pub client: reqwest::Client,
}

impl Broker {
    /// Starts the binary on `t` under `clock` and waits for `/healthz`.
    pub async fn start(t: &TestDir, clock: &FakeClock) -> Broker {
        let log_path = t.path().join("broker.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_registervakt"))
            .args(["serve", "--config"])
            .arg(&t.config_path)
            .env("RUST_LOG", "info")
            .env("LD_PRELOAD", LIBFAKETIME)
            .env("FAKETIME_TIMESTAMP_FILE", &clock.file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut broker = Broker {
            child,
            log: log_path,
            base: format!("http://{}", t.config().server.listen),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let started = Instant::now();
        loop {
            if let Ok(res) = broker.client.get(broker.url("/healthz")).send().await
                && res.status() == 200
            {
                return broker;
            }
            if let Some(status) = broker.child.try_wait().unwrap() {
                panic!("the broker exited ({status}):\n{}", broker.log_text());
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no /healthz");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn post(&self, path: &str, cookie: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    /// GETs `path`; returns the status and the body as JSON.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Password and the TOTP code of the broker's time (`clock`); returns the session cookie.
    pub async fn sign_in(&self, user: &EnrolledUser, username: &str, clock: &FakeClock) -> String {
        let body = json!({ "username": username, "password": user.password });
        let res = self.post("/api/v1/auth/login", None, body).await;
        assert_eq!(res.status(), 200, "password step");
        let pending = session_cookie(&res).unwrap();
        let steps = clock.offset_secs() / 30;
        let code = json!({ "code": common::code_at_offset(&user.secret_base32, steps) });
        let res = self.post("/api/v1/auth/totp", Some(&pending), code).await;
        assert_eq!(res.status(), 200, "code step at the broker's time");
        session_cookie(&res).unwrap()
    }

    /// Asks for an extract (auto-approved at this size); returns its id.
    pub async fn request(&self, cookie: &str, purpose: &str, fields: &[&str]) -> String {
        let body = common::extracts::body(purpose, "Uppsala", fields, 60);
        let res = self.post("/api/v1/extracts", Some(cookie), body).await;
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    /// Polls the extract until it leaves `building`; returns its metadata.
    pub async fn settled(&self, cookie: &str, id: &str) -> Value {
        let started = Instant::now();
        loop {
            let (_, v) = self
                .get(&format!("/api/v1/extracts/{id}"), Some(cookie))
                .await;
            if v["state"] != "building" && v["state"] != "pending" {
                return v;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{id}: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A live extract of `purpose`; returns its id.
    pub async fn live(&self, cookie: &str, purpose: &str, fields: &[&str]) -> String {
        let id = self.request(cookie, purpose, fields).await;
        let v = self.settled(cookie, &id).await;
        assert_eq!(v["state"], "live", "{v}");
        id
    }

    /// POSTs a download; returns the status and the body's bytes.
    pub async fn download(&self, cookie: &str, id: &str) -> (u16, Vec<u8>) {
        let path = format!("/api/v1/extracts/{id}/download");
        let res = self
            .post(&path, Some(cookie), json!({ "format": "csv" }))
            .await;
        let status = res.status().as_u16();
        (status, res.bytes().await.unwrap().to_vec())
    }

    /// POSTs a view of page 0; returns the status and the body as JSON.
    pub async fn view(&self, cookie: &str, id: &str) -> (u16, Value) {
        let path = format!("/api/v1/extracts/{id}/view");
        let res = self.post(&path, Some(cookie), json!({ "page": 0 })).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A second connection on `t`'s SQLite store, to look behind the API.
pub async fn raw(t: &TestDir) -> sqlx::SqlitePool {
    let db = t.data.join(registervakt::config::SQLITE_STORE_FILE);
    sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap()
}

/// One extract as the store holds it.
#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub state: String,
    pub end_reason: Option<String>,
    pub has_key: bool,
    pub downloads: i64,
    pub chunks: i64,
    /// `extract.download` events for it.
    pub released: i64,
    pub expires_at: Option<i64>,
}

pub async fn stored(pool: &sqlx::SqlitePool, id: &str) -> Stored {
    sqlx::query_as(
        "SELECT e.state, e.end_reason, e.wrapped_key IS NOT NULL AS has_key, e.downloads, \
         (SELECT COUNT(*) FROM extract_chunks c WHERE c.extract_id = e.id) AS chunks, \
         (SELECT COUNT(*) FROM audit_events a WHERE a.target = 'extract:' || e.id \
            AND a.action = 'extract.download') AS released, e.expires_at \
         FROM extracts e WHERE e.id = ?",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}
