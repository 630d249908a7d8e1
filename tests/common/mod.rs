//! Shared set-up for the black-box suites: a real broker on port 0 with a fresh data dir,
//! key file and synthetic register each.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use registervakt::app::{self, Application};
use registervakt::config::Config;
use registervakt::crypto::Keyring;
use registervakt::register::synthetic;
use registervakt::store::register_writer;
use tempfile::TempDir;

pub struct TestDir {
    pub dir: TempDir,
    pub data: PathBuf,
    pub kek: PathBuf,
    pub register_url: String,
    pub config_path: PathBuf,
}

impl TestDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_text(&self) -> String {
        registervakt::cli::demo::config_text(&self.data, &self.kek, &self.register_url)
    }

    pub fn config(&self) -> Config {
        Config::from_toml(&self.config_text()).unwrap()
    }
}

/// A data dir, a key file and a synthetic register of `members`, plus the config file.
pub async fn prepare(members: u64) -> TestDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&keys).unwrap();
    let kek = keys.join("kek.key");
    Keyring::generate_file(&kek).unwrap();
    let register_url = format!("sqlite:{}", dir.path().join("register.sqlite").display());
    register_writer::write_register(
        &register_url,
        synthetic::DEMO_TABLE,
        synthetic::generate(members, 7),
    )
    .await
    .unwrap();
    let config_path = dir.path().join("registervakt.toml");
    let t = TestDir {
        dir,
        data,
        kek,
        register_url,
        config_path,
    };
    std::fs::write(&t.config_path, t.config_text()).unwrap();
    t
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub dir: TestDir,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<Result<(), app::Error>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GETs `path` and parses the body as JSON, whatever the status.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        res.json().await.unwrap()
    }

    /// Graceful stop, as on SIGTERM. Hands back the directory so a test can inspect it.
    pub async fn stop(mut self) -> TestDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
        self.dir
    }
}

pub async fn spawn_app() -> TestApp {
    let dir = prepare(200).await;
    spawn_app_in(dir).await
}

pub async fn spawn_app_in(dir: TestDir) -> TestApp {
    let config = dir.config();
    app::init_store(&config).await.unwrap().close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let application = Application::build_with_listener(config, listener)
        .await
        .unwrap();
    let addr = application.local_addr().unwrap();
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
        stop: Some(tx),
        handle: Some(handle),
    }
}
