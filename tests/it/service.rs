//! The broker as a service, as systemd runs it (issue 20, items 1 and 5): the `registervakt`
//! binary is started with `NOTIFY_SOCKET` pointing at a datagram socket the test holds, and
//! signalled with `kill`.
//!
//! Shown here: `READY=1` arrives only once the port answers, and never from a broker whose
//! start-up checks failed; `WATCHDOG=1` arrives every half `WATCHDOG_USEC`, and not without
//! it; SIGHUP writes a checkpoint and leaves the broker serving; SIGTERM still stops it with
//! `STOPPING=1`, `system.stop` and a final checkpoint; a broker with no second audit sink
//! says so in exactly one warning line naming `audit.checkpoint_file`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::TestDir;
use registervakt::cli::demo::CHECKPOINTS_FILE;
use tokio::net::UnixDatagram;

/// A data dir, register and key file (`common::prepare`) on a free port, initialised by the
/// binary; `edit` changes the config text first.
fn prepared(t: &TestDir, edit: impl Fn(String) -> String) {
    let text = t.config_text_on_free_port();
    std::fs::write(&t.config_path, edit(text)).unwrap();
    let init = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(["init", "--config"])
        .arg(&t.config_path)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
}

/// The config without its `[audit]` section: no checkpoint file, no syslog.
fn without_second_sink(text: String) -> String {
    let at = text.find("\n[audit]").unwrap();
    text[..at].to_owned() + "\n"
}

/// A `registervakt serve` started like systemd starts it; SIGKILLed if still running when
/// dropped.
struct Service {
    child: Child,
    log: PathBuf,
    base: String,
    notify: UnixDatagram,
    client: reqwest::Client,
}

impl Service {
    /// Starts `serve` with `NOTIFY_SOCKET` (and `WATCHDOG_USEC`, if given); does not wait.
    fn start(t: &TestDir, watchdog_usec: Option<u64>) -> Service {
        let socket = t.path().join("notify.sock");
        let _ = std::fs::remove_file(&socket);
        let notify = UnixDatagram::bind(&socket).unwrap();
        let log = t.path().join("service.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_registervakt"));
        command
            .args(["serve", "--config"])
            .arg(&t.config_path)
            .env("RUST_LOG", "info")
            .env("NOTIFY_SOCKET", &socket)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        if let Some(usec) = watchdog_usec {
            command.env("WATCHDOG_USEC", usec.to_string());
        }
        Service {
            child: command.spawn().unwrap(),
            log,
            base: format!("http://{}", t.config().server.listen),
            notify,
            client: reqwest::Client::new(),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The next notification, or None after `within`.
    async fn next_message(&self, within: Duration) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        match tokio::time::timeout(within, self.notify.recv(&mut buf)).await {
            Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Ok(Err(e)) => panic!("reading the notify socket: {e}"),
            Err(_) => None,
        }
    }

    /// Waits for `READY=1` (failing on an exit, or on any message but a watchdog ping first).
    async fn ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(message) = self.next_message(Duration::from_millis(100)).await {
                if message.trim_end() == "WATCHDOG=1" {
                    continue;
                }
                assert!(
                    message.lines().any(|l| l == "READY=1"),
                    "first message: {message}"
                );
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the broker exited ({status}):\n{}", self.log_text());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no READY=1:\n{}",
                self.log_text()
            );
        }
    }

    async fn healthz(&self) -> Option<u16> {
        let res = self
            .client
            .get(format!("{}/healthz", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        Some(res.status().as_u16())
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {name}");
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits up to 60 s for the process to end.
    async fn exited(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "still running");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn checkpoint_lines(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Waits up to 10 s for `file` to hold `n` lines.
async fn wait_for_lines(file: &Path, n: usize) {
    let started = Instant::now();
    while checkpoint_lines(file) < n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} has {} lines, waiting for {n}",
            file.display(),
            checkpoint_lines(file)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn newest_audit_action(t: &TestDir) -> String {
    let db = t.data.join(registervakt::config::SQLITE_STORE_FILE);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let (action,): (String,) =
        sqlx::query_as("SELECT action FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    action
}

fn lines_containing(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test]
async fn ready_is_sent_once_the_port_answers_and_stopping_when_sigterm_stops_it() {
    let t = common::prepare(20).await;
    prepared(&t, |text| text);
    let mut service = Service::start(&t, None);
    service.ready().await;
    assert_eq!(
        service.healthz().await,
        Some(200),
        "the port answers by the time READY=1 arrives"
    );
    // No watchdog was asked for: nothing more until the stop.
    assert_eq!(service.next_message(Duration::from_millis(700)).await, None);
    service.signal("TERM");
    let stopping = service.next_message(Duration::from_secs(30)).await.unwrap();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping}");
    let status = service.exited().await;
    assert!(status.success(), "{status}:\n{}", service.log_text());
    assert_eq!(newest_audit_action(&t).await, "system.stop");
}

#[tokio::test]
async fn a_broker_whose_start_up_checks_fail_never_says_ready() {
    let t = common::prepare(20).await;
    prepared(&t, |text| text);
    std::fs::remove_file(&t.kek).unwrap();
    let mut service = Service::start(&t, None);
    let status = service.exited().await;
    assert!(!status.success());
    assert_eq!(
        service.next_message(Duration::from_millis(200)).await,
        None,
        "{}",
        service.log_text()
    );
}

#[tokio::test]
async fn the_watchdog_is_pinged_every_half_period_while_serving() {
    let t = common::prepare(20).await;
    prepared(&t, |text| text);
    // 1 s: a ping every 0.5 s, so about 6 in 3 s (fewer allowed on a loaded machine).
    let mut service = Service::start(&t, Some(1_000_000));
    service.ready().await;
    let mut pings = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Some(m) = service.next_message(Duration::from_millis(600)).await {
            assert_eq!(m.trim_end(), "WATCHDOG=1");
            pings += 1;
        }
    }
    assert!((3..=8).contains(&pings), "{pings} pings in 3 s");
    assert!(service.running());
}

#[tokio::test]
async fn sighup_writes_a_checkpoint_and_the_broker_keeps_serving_until_sigterm() {
    let t = common::prepare(20).await;
    prepared(&t, |text| text);
    let checkpoints = t.kek.with_file_name(CHECKPOINTS_FILE);
    let mut service = Service::start(&t, None);
    service.ready().await;
    wait_for_lines(&checkpoints, 1).await; // the one at start
    let at_start = checkpoint_lines(&checkpoints);

    service.signal("HUP");
    wait_for_lines(&checkpoints, at_start + 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        service.running(),
        "SIGHUP stopped it:\n{}",
        service.log_text()
    );
    assert_eq!(service.healthz().await, Some(200));
    assert_eq!(
        lines_containing(&service.log_text(), "SIGHUP: audit checkpoint written"),
        1
    );
    assert_eq!(checkpoint_lines(&checkpoints), at_start + 1);

    service.signal("TERM");
    let status = service.exited().await;
    assert!(status.success(), "{status}:\n{}", service.log_text());
    assert_eq!(newest_audit_action(&t).await, "system.stop");
    assert_eq!(
        checkpoint_lines(&checkpoints),
        at_start + 2,
        "and a final checkpoint"
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(["audit", "verify", "--config"])
        .arg(&t.config_path)
        .arg("--checkpoints")
        .arg(&checkpoints)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test]
async fn without_a_second_audit_sink_the_broker_warns_once_and_sighup_still_does_not_stop_it() {
    let t = common::prepare(20).await;
    prepared(&t, without_second_sink);
    let mut service = Service::start(&t, None);
    service.ready().await;
    let log = service.log_text();
    assert_eq!(
        lines_containing(&log, "no second audit sink"),
        1,
        "one warning:\n{log}"
    );
    assert_eq!(lines_containing(&log, "audit.checkpoint_file"), 1, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("audit.checkpoint_file")),
        "{log}"
    );

    service.signal("HUP");
    let started = Instant::now();
    while lines_containing(&service.log_text(), "SIGHUP") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no SIGHUP line"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(service.running());
    assert_eq!(service.healthz().await, Some(200));
    service.signal("TERM");
    assert!(service.exited().await.success());
}

#[tokio::test]
async fn init_creates_the_checkpoint_file_and_warns_when_there_is_no_second_sink() {
    let t = common::prepare(20).await;
    let checkpoints = t.kek.with_file_name(CHECKPOINTS_FILE);
    prepared(&t, |text| text);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&checkpoints).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let bare = common::prepare(20).await;
    std::fs::write(&bare.config_path, without_second_sink(bare.config_text())).unwrap();
    let init = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(["init", "--config"])
        .arg(&bare.config_path)
        .output()
        .unwrap();
    assert!(init.status.success());
    let err = String::from_utf8_lossy(&init.stderr);
    assert_eq!(lines_containing(&err, "audit.checkpoint_file"), 1, "{err}");
}
