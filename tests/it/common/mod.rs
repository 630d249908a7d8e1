//! Shared set-up for the black-box suites: a real broker on port 0 with a fresh data dir,
//! key file and synthetic register each. Every dir and broker made here is leak-scanned
//! ([`leaks`]): error bodies as the helpers return them, the broker's files, log and audit
//! entries at `TestApp::stop`, and the files again when the `TestDir` is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use registervakt::app::{self, Application};
use registervakt::auth::totp;
pub use registervakt::cli::demo::EnrolledUser;
use registervakt::web;

pub mod extracts;
pub mod fault_proxy;
pub mod leaks;
pub mod libreoffice;
pub mod openapi;
pub mod pages;
pub mod postgres;
pub mod raw_http;
use registervakt::config::Config;
use registervakt::crypto::Keyring;
use registervakt::store::register_writer;
use registervakt::synthetic;
use tempfile::TempDir;

/// `name=value` of the session cookie a response sets, if any.
/// The address a `registervakt demo` child prints ("serving on http://…/"), read from its
/// piped stdout; the rest of its output is drained in the background.
pub fn demo_url(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("serving on ")
                .nth(1)
                .map(|u| u.trim().trim_end_matches('/').to_owned())
        })
        .expect("demo did not print its address");
    std::thread::spawn(move || lines.for_each(drop));
    url
}

/// Every file below `dir` that holds `needle` (every byte read, WAL and SHM included).
pub fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("registervakt=") && !v.contains("Max-Age=0"))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// The TOTP code `steps` periods from now.
pub fn code_at_offset(secret_base32: &str, steps: i64) -> String {
    let seed = totp::Seed::from_base32(secret_base32).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    totp::code_at(&seed, totp::step_at(now) + steps)
}

pub fn code_now(secret_base32: &str) -> String {
    code_at_offset(secret_base32, 0)
}

pub struct TestDir {
    /// First, so it scans the files before `dir` removes them.
    final_scan: leaks::FinalScan,
    /// The secrets and canary values handed out or seen for this dir (shared by every clone).
    pub leaks: leaks::Leaks,
    pub dir: TempDir,
    pub data: PathBuf,
    pub kek: PathBuf,
    pub register_url: String,
    pub config_path: PathBuf,
}

impl TestDir {
    /// The dir's paths in the layout [`prepare`] makes (`data/`, `keys/kek.key`, the config
    /// file), its key file's keys registered with `leaks`.
    pub fn assemble(dir: TempDir, register_url: String, leaks: leaks::Leaks) -> TestDir {
        let data = dir.path().join("data");
        let kek = dir.path().join("keys").join("kek.key");
        leaks.key_file(&kek);
        let checkpoints = kek.with_file_name(registervakt::cli::demo::CHECKPOINTS_FILE);
        TestDir {
            final_scan: leaks::FinalScan {
                leaks: leaks.clone(),
                roots: vec![data.clone(), checkpoints],
            },
            leaks,
            config_path: dir.path().join("registervakt.toml"),
            dir,
            data,
            kek,
            register_url,
        }
    }

    /// The broker's files (data dir, checkpoint file), the log lines captured since its first
    /// broker started, and every audit entry in its store, scanned for registered values.
    /// (The audit part is left out if the store cannot be opened: a test may have broken it.)
    pub async fn leak_scan(&self) -> Vec<leaks::Hit> {
        let mut hits = self.leaks.scan_files(&self.final_scan.roots);
        hits.extend(self.leaks.scan_log());
        if let Ok(config) = Config::load(Some(&self.config_path))
            && let Ok(store) = app::open_store(&config, false).await
        {
            hits.extend(self.leaks.scan_audit(&store).await);
            store.close().await;
        }
        hits
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_text(&self) -> String {
        registervakt::cli::demo::config_text(&self.data, &self.kek, &self.register_url)
    }

    /// [`TestDir::config_text`] listening on a port that was free a moment ago, for a broker
    /// the test starts as a separate process (which cannot be handed a bound listener).
    pub fn config_text_on_free_port(&self) -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        self.config_text().replace(
            "listen = \"127.0.0.1:8080\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
    }

    /// The config as written in the config file (tests may edit the file first).
    pub fn config(&self) -> Config {
        Config::load(Some(&self.config_path)).unwrap()
    }
}

/// A copy of the shipped policy in `dir/policy` whose `purposes.toml` is passed through `edit`
/// (which must change it); returns the copy's path, for a config's `[policy] dir`.
pub fn shipped_policy_edited(dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let policy = dir.join("policy");
    std::fs::create_dir_all(&policy).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    for file in ["model.conf", "policy.csv", "purposes.toml"] {
        std::fs::copy(shipped.join(file), policy.join(file)).unwrap();
    }
    let catalogue = std::fs::read_to_string(policy.join("purposes.toml")).unwrap();
    let edited = edit(catalogue.clone());
    assert_ne!(edited, catalogue, "the policy edit changed nothing");
    std::fs::write(policy.join("purposes.toml"), edited).unwrap();
    policy
}

/// A data dir, a key file and a synthetic register of `members`, plus the config file.
pub async fn prepare(members: u64) -> TestDir {
    prepare_with(members, Vec::new()).await
}

/// [`prepare`], with `extra` members (canaries, say) added to the register.
pub async fn prepare_with(members: u64, extra: Vec<synthetic::SyntheticMember>) -> TestDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&keys).unwrap();
    let kek = keys.join("kek.key");
    Keyring::generate_file(&kek).unwrap();
    let leaks = leaks::Leaks::default();
    extra.iter().for_each(|m| leaks.member(m));
    let register_url = format!("sqlite:{}", dir.path().join("register.sqlite").display());
    register_writer::write_register(
        &register_url,
        synthetic::DEMO_TABLE,
        synthetic::generate(members, 7).chain(extra),
    )
    .await
    .unwrap();
    let t = TestDir::assemble(dir, register_url, leaks);
    std::fs::write(&t.config_path, t.config_text()).unwrap();
    t
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub dir: TestDir,
    pub client: reqwest::Client,
    /// The running broker's state (its own pools, keyring and policy source), for the few
    /// tests that call a library function the broker runs on its own, such as a sweep.
    pub state: web::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), app::Error>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A second handle on the broker's store (the SQLite file allows several).
    pub async fn store(&self) -> registervakt::store::Store {
        app::open_store(&self.dir.config(), false).await.unwrap()
    }

    /// A user created and enrolled the way a real one is; returns password and TOTP secret.
    pub async fn user(&self, username: &str, roles: &[&str]) -> EnrolledUser {
        let store = self.store().await;
        let keyring = Keyring::load(&self.dir.kek).unwrap();
        let user = registervakt::cli::demo::create_enrolled_user(
            &store,
            &keyring,
            &self.dir.config(),
            username,
            username,
            roles,
        )
        .await
        .unwrap();
        store.close().await;
        let leaks = &self.dir.leaks;
        leaks.text(leaks::Kind::Password, &user.password);
        leaks.totp_seed(&user.secret_base32);
        user.recovery_codes
            .iter()
            .for_each(|c| leaks.recovery_code(c));
        user
    }

    /// Reads the whole body, registers the secrets the response shows, fails the test if it
    /// is an error whose body holds a registered value or if its status is one the API
    /// description does not list for the operation ([`openapi::check_status`]), and hands
    /// back the same response
    /// (status, version, headers and body; a body that broke off breaks off again, after the
    /// bytes that came). `request` names it in a failure, redacted.
    pub async fn finish(&self, request: &str, mut res: reqwest::Response) -> reqwest::Response {
        let (status, version, headers) = (res.status(), res.version(), res.headers().clone());
        openapi::check_status(request, status.as_u16());
        self.dir.leaks.received_headers(&headers);
        let mut body = Vec::new();
        let broken = loop {
            match res.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break None,
                Err(e) => break Some(std::io::Error::other(e.to_string())),
            }
        };
        self.dir
            .leaks
            .check_error_body(status.as_u16(), &body, request);
        self.dir.leaks.received_body(&body);
        let body = match broken {
            None => reqwest::Body::from(body),
            Some(e) => reqwest::Body::wrap_stream(futures::stream::iter([Ok(body), Err(e)])),
        };
        let mut rebuilt = axum::http::Response::new(body);
        *rebuilt.status_mut() = status;
        *rebuilt.version_mut() = version;
        *rebuilt.headers_mut() = headers;
        reqwest::Response::from(rebuilt)
    }

    pub async fn post_json(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.dir.leaks.sent_json(&body);
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        self.finish(&format!("POST {path}"), req.send().await.unwrap())
            .await
    }

    /// POSTs `body` as it is (a leaked file for the trace, say) with the session cookie.
    pub async fn post_bytes(
        &self,
        path: &str,
        cookie: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let req = self.client.post(self.url(path)).header("cookie", cookie);
        let res = req.body(body).send().await.unwrap();
        self.finish(&format!("POST {path}"), res).await
    }

    /// POSTs a multipart form (a page's file upload) with the session cookie.
    pub async fn post_multipart(
        &self,
        path: &str,
        cookie: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        let req = self.client.post(self.url(path)).header("cookie", cookie);
        let res = req.multipart(form).send().await.unwrap();
        self.finish(&format!("POST {path}"), res).await
    }

    pub async fn get_with(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        self.finish(&format!("GET {path}"), req.send().await.unwrap())
            .await
    }

    /// Password step only: returns the half-signed-in session cookie.
    pub async fn password_step(&self, username: &str, password: &str) -> String {
        let res = self
            .post_json(
                "/api/v1/auth/login",
                None,
                serde_json::json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(res.status(), 200, "login of {username}");
        session_cookie(&res).expect("login sets a session cookie")
    }

    /// Both steps with the current code; returns the full session cookie.
    pub async fn sign_in(&self, user: &EnrolledUser, username: &str) -> String {
        let pending = self.password_step(username, &user.password).await;
        let res = self
            .post_json(
                "/api/v1/auth/totp",
                Some(&pending),
                serde_json::json!({ "code": code_now(&user.secret_base32) }),
            )
            .await;
        assert_eq!(res.status(), 200, "totp of {username}");
        session_cookie(&res).expect("totp sets a new session cookie")
    }

    /// GETs `path` and parses the body as JSON, whatever the status.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get_with(path, None).await.json().await.unwrap()
    }

    /// GETs `path` with a session cookie and parses the body as JSON.
    pub async fn get_json_with(&self, path: &str, cookie: &str) -> serde_json::Value {
        self.get_with(path, Some(cookie))
            .await
            .json()
            .await
            .unwrap()
    }

    /// Graceful stop, as on SIGTERM, then the leak scan ([`TestDir::leak_scan`]): a hit fails
    /// the test. Hands back the directory so a test can inspect it.
    pub async fn stop(mut self) -> TestDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
        leaks::fail_on(&self.dir.leak_scan().await, "after the broker stopped");
        self.dir
    }
}

pub async fn spawn_app() -> TestApp {
    let dir = prepare(200).await;
    spawn_app_in(dir).await
}

pub async fn spawn_app_in(dir: TestDir) -> TestApp {
    app::init_store(&dir.config()).await.unwrap().close().await;
    serve_in(dir).await
}

/// Starts a broker on a store that is already initialised (another broker's, say), as
/// `registervakt serve` does: no migration, no `store.init`.
pub async fn serve_in(dir: TestDir) -> TestApp {
    dir.leaks.broker_started();
    let config = dir.config();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let application = Application::build_with_listener(config, listener)
        .await
        .unwrap();
    let addr = application.local_addr().unwrap();
    let state = application.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(application.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        addr,
        dir,
        client,
        state,
        stop: Some(tx),
        handle: Some(handle),
    }
}
