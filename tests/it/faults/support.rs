//! What the fault suite checks in every test: the generic 503, readiness, recovery without a
//! restart, the broker's log lines, and where the services are.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestApp;

/// What every 503 says, whatever failed.
pub const GENERIC: &str =
    "Registervakt cannot serve this request right now. Nothing was released; try again shortly.";
/// A fault must be answered within this: the pools give up on a connection after 5 s.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(12);
/// `/readyz` gives up on each check after 3 s.
pub const READY_WITHIN: Duration = Duration::from_secs(5);

/// The `host:port` of the service a test URL names.
pub async fn service_addr(var: &str) -> SocketAddr {
    let raw = std::env::var(var).unwrap_or_else(|_| panic!("set {var} to run this test"));
    let url = url::Url::parse(&raw).unwrap();
    let host = url.host_str().unwrap().to_owned();
    let port = url.port().unwrap_or(match url.scheme() {
        "mysql" | "mariadb" => 3306,
        _ => 5432,
    });
    tokio::net::lookup_host((host, port))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// `url` with the proxy's `port` in place of the service's.
pub fn via_port(url: &str, port: u16) -> String {
    let mut via = url::Url::parse(url).unwrap();
    via.set_port(Some(port)).unwrap();
    via.to_string()
}

/// `/readyz` during a fault: 503 in time, with `failing` where the fault is and `ok` for
/// `healthy`.
pub async fn expect_not_ready(app: &TestApp, failing: &str, healthy: &str) {
    let started = Instant::now();
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    let took = started.elapsed();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"][failing], "failing", "{body}");
    assert_eq!(body["checks"][healthy], "ok", "{body}");
    assert!(took < READY_WITHIN, "/readyz answered after {took:?}");
}

/// A 503 with the stable code and the generic sentence only, within [`ANSWER_WITHIN`], that
/// names none of `leaks`; returns the body's bytes.
pub async fn expect_generic_503(
    send: impl Future<Output = reqwest::Result<reqwest::Response>>,
    leaks: &[String],
) -> Vec<u8> {
    let started = Instant::now();
    let res = send.await.unwrap();
    let took = started.elapsed();
    let status = res.status().as_u16();
    let bytes = res.bytes().await.unwrap().to_vec();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert_eq!(status, 503, "{text}");
    assert!(took < ANSWER_WITHIN, "answered after {took:?}");
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body, json!({ "error": "unavailable", "message": GENERIC }));
    for leak in leaks {
        assert!(
            !text.contains(leak.as_str()),
            "the answer names {leak:?}: {text}"
        );
    }
    bytes
}

/// What no answer may show: where a service is (`port`, the loopback address), what it is,
/// its SQL, member data (every synthetic e-mail address has an `@`).
pub fn leaks(port: u16, names: &[&str]) -> Vec<String> {
    ["127.0.0.1", "SELECT", "sqlx", "pool", "@"]
        .iter()
        .chain(names)
        .map(|s| s.to_string())
        .chain([port.to_string()])
        .collect()
}

/// Polls `/readyz` until it says ready: the broker recovers without a restart.
pub async fn wait_ready(app: &TestApp) {
    let started = Instant::now();
    loop {
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == 200 {
            return;
        }
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never ready again: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The broker's log lines while a test runs. The test's runtime is single-threaded, so every
/// task the broker spawns logs to this thread's subscriber.
pub struct Logs {
    buf: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    pub fn capture() -> Logs {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buf = buf.clone();
            move || LogWriter(buf.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        Logs {
            buf,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn expect(&self, needle: &str) {
        let text = String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned();
        assert!(
            text.contains(needle),
            "no log line with {needle:?} in:\n{text}"
        );
    }
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
