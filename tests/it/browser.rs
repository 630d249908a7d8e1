//! The pages in a real browser (issue 7): `registervakt demo` on a fresh directory, and every
//! role's main path walked in headless Chromium by `tests/browser/e2e.mjs` (playwright-core),
//! in Swedish and in English, with axe-core on every page: staff signs in with TOTP,
//! requests, waits, downloads and says done; the approver approves; the admin adds a user
//! and changes a purpose; the auditor finds who received a member and traces a file.
//! Screenshots of every step are left in `target/browser-screenshots/` (CI artefacts; not
//! committed).
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

/// Starts `registervakt demo` on `dir` (created on the first call) and returns it with its URL.
fn demo(dir: &Path, log: &Path, env: &[(&str, &str)]) -> (Demo, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args([
            "demo",
            "--members",
            "3000",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let url = common::demo_url(&mut child);
    let demo = Demo(child);
    (demo, url)
}

/// Runs the browser script against `url`; true when every check passed.
fn browse(root: &Path, url: &str, demo_dir: &Path, shots: &Path, phase: &str) -> bool {
    Command::new("node")
        .arg(root.join("tests/browser/e2e.mjs"))
        .env("BASE_URL", url)
        .env("USERS_FILE", demo_dir.join("demo-users.txt"))
        .env("SCREENSHOTS", shots)
        .env("PHASE", phase)
        .status()
        .expect("node is not installed")
        .success()
}

#[test]
#[ignore = "needs Chromium and the npm packages in tests/browser (.ci/run installs them)"]
fn every_role_walks_its_main_path_in_chromium_in_swedish_and_english_with_axe_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let shots = root.join("target").join("browser-screenshots");
    let _ = std::fs::remove_dir_all(&shots);

    let log = dir.path().join("broker.log");
    let (running, url) = demo(&demo_dir, &log, &[]);
    let walked = browse(&root, &url, &demo_dir, &shots, "walk");
    drop(running);

    // The same demo again with the shortest idle timeout the config allows (one minute).
    let (running, url) = demo(
        &demo_dir,
        &log,
        &[("REGISTERVAKT_SESSIONS__IDLE_TIMEOUT_SECS", "60")],
    );
    let idled = browse(&root, &url, &demo_dir, &shots, "idle");
    drop(running);

    // D1, D6: after the whole walk, no secret and no member data in the broker's log or in
    // anything it stores (the store, its WAL, extract files, the checkpoint file).
    let needles = secrets_and_member_data(&demo_dir, &shots);
    for kind in [
        "a password",
        "a TOTP secret",
        "a session cookie",
        "a member's name",
        "a caller's note",
    ] {
        let n = needles.iter().filter(|(k, _)| *k == kind).count();
        assert!(n > 0, "nothing to look for of {kind}");
        eprintln!("leak scan: {n} × {kind}");
    }
    let mut places = vec![
        log.clone(),
        demo_dir.join("keys").join("audit-checkpoints.log"),
    ];
    places.extend(files_under(&demo_dir.join("data")));
    let mut leaks = Vec::new();
    for place in &places {
        let bytes = std::fs::read(place).unwrap_or_default();
        for (kind, needle) in &needles {
            if contains(&bytes, needle.as_bytes()) {
                leaks.push(format!("{kind} in {}", place.display()));
            }
        }
    }
    assert!(leaks.is_empty(), "found in plaintext: {leaks:#?}");

    assert!(
        walked && idled,
        "the browser suite failed (main paths: {walked}, idle sign-out: {idled}): see the \
         lines above and {}",
        shots.display()
    );
}

/// Everything that must never be found: the demo users' passwords and TOTP secrets, the key
/// file's keys, the session cookies and invitation tokens the browser saw, and the member data
/// in the files it downloaded (e-mail addresses, phone numbers, full names).
fn secrets_and_member_data(demo_dir: &Path, shots: &Path) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let users = std::fs::read_to_string(demo_dir.join("demo-users.txt")).unwrap();
    for line in users.lines() {
        if let Some(v) = line.strip_prefix("password: ") {
            out.push(("a password", v.trim().to_owned()));
        }
        if let Some(v) = line.strip_prefix("secret:   ") {
            out.push(("a TOTP secret", v.trim().to_owned()));
        }
    }
    let keys = std::fs::read_to_string(demo_dir.join("keys").join("kek.key")).unwrap();
    for line in keys.lines().filter(|l| l.starts_with("kek ")) {
        if let Some(key) = line.split_whitespace().nth(2) {
            out.push(("the key-encryption key", key.to_owned()));
        }
    }
    let seen: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shots.join("seen-walk.json")).unwrap()).unwrap();
    for (kind, field) in [
        ("a session cookie", "cookies"),
        ("an invitation token", "tokens"),
    ] {
        for v in seen[field].as_array().unwrap() {
            out.push((kind, v.as_str().unwrap().to_owned()));
        }
    }
    // What callers saw and wrote on a call list (issue 21): gone from the store once it ended.
    for (kind, field) in [("a caller's note", "notes"), ("a member's name", "shown")] {
        for v in seen[field].as_array().unwrap() {
            out.push((kind, v.as_str().unwrap().to_owned()));
        }
    }
    for path in seen["downloads"].as_array().unwrap() {
        let path = path.as_str().unwrap();
        if !path.ends_with(".csv") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines().skip(1) {
            let cells: Vec<&str> = line
                .split([';', ','])
                .map(|c| c.trim_matches(['"', '\u{feff}', ' ']))
                .collect();
            for cell in &cells {
                if cell.contains('@') {
                    out.push(("a member's e-mail address", (*cell).to_owned()));
                } else if cell.chars().filter(char::is_ascii_digit).count() >= 8
                    && !cell.contains('-')
                {
                    out.push(("a member's phone number", (*cell).to_owned()));
                }
            }
            // Member number, first name, last name … : the name pair as a person writes it.
            if let [_, first, last, ..] | [first, last, ..] = cells.as_slice()
                && first.chars().all(char::is_alphabetic)
                && last.chars().all(char::is_alphabetic)
                && !first.is_empty()
                && !last.is_empty()
            {
                out.push(("a member's name", format!("{first} {last}")));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
