//! Passkeys in a real browser (issue 17, item 5): `registervakt demo` with a policy that asks
//! approvers for a passkey and a step-up age of 30 seconds, walked in headless Chromium by
//! `tests/browser/passkeys.mjs` with a virtual authenticator (the DevTools `WebAuthn` domain):
//! a newcomer enrols with a passkey instead of the app, staff signs in and steps up with one,
//! an approver is refused with a code and approves with one.
//! Screenshots go to `target/browser-screenshots/passkeys-*.png`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shipped policy with `[second_factor] phishing_resistant_roles = ["approver"]`.
fn approvers_need_passkeys(dir: &Path) -> PathBuf {
    common::shipped_policy_edited(dir, |purposes| {
        purposes.replacen(
            "phishing_resistant_roles = []",
            "phishing_resistant_roles = [\"approver\"]",
            1,
        )
    })
}

#[test]
#[ignore = "needs Chromium and the npm packages in tests/browser (.ci/run installs them)"]
fn in_chromium_a_passkey_is_enrolled_signs_in_steps_up_to_download_and_lets_an_approver_approve() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let policy = approvers_need_passkeys(dir.path());
    let log = std::fs::File::create(dir.path().join("broker.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args([
            "demo",
            "--members",
            "500",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&demo_dir)
        .env("REGISTERVAKT_POLICY__DIR", &policy)
        .env("REGISTERVAKT_SESSIONS__STEP_UP_MAX_AGE_SECS", "30")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = common::demo_url(&mut child);
    let _demo = Demo(child);
    assert!(
        url.starts_with("http://localhost:"),
        "the demo serves at a name passkeys can be bound to, not {url}"
    );
    // A newcomer to enrol with a passkey instead of the app: the operator's invitation.
    let added = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(["user", "add", "--username", "petra", "--name", "Petra Lund"])
        .args(["--role", "staff:Uppsala", "--config"])
        .arg(demo_dir.join("registervakt.toml"))
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let out = String::from_utf8_lossy(&added.stdout);
    let invite = out
        .split_whitespace()
        .find_map(|w| w.find("/invite/").map(|i| w[i..].to_owned()))
        .expect("user add prints an invitation link");
    let passed = Command::new("node")
        .arg(root.join("tests/browser/passkeys.mjs"))
        .env("BASE_URL", &url)
        .env("USERS_FILE", demo_dir.join("demo-users.txt"))
        .env(
            "SCREENSHOTS",
            root.join("target").join("browser-screenshots"),
        )
        .env("STEP_UP_SECS", "30")
        .env("INVITE_PATH", &invite)
        .status()
        .expect("node is not installed")
        .success();
    if !passed {
        let log = std::fs::read_to_string(dir.path().join("broker.log")).unwrap_or_default();
        for line in log
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
        {
            eprintln!("broker: {line}");
        }
    }
    assert!(passed, "the passkey walk failed: see the lines above");
}
