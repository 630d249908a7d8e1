//! The pages in a real browser (issue 7): `registervakt demo` on a fresh directory, and every
//! role's main path walked in headless Chromium by `tests/browser/e2e.mjs` (playwright-core),
//! in Swedish and in English, with axe-core on every page: staff signs in with TOTP,
//! requests, waits, downloads and says done; the approver approves; the admin adds a user
//! and changes a purpose; the auditor finds who received a member and traces a file.
//! Screenshots of every step are left in `target/browser-screenshots/` (CI artefacts; not
//! committed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
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
fn demo(dir: &Path, env: &[(&str, &str)]) -> (Demo, String) {
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
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let demo = Demo(child);
    let url = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|l| {
            l.split("serving on ")
                .nth(1)
                .map(|u| u.trim().trim_end_matches('/').to_owned())
        })
        .expect("demo did not print its address");
    std::thread::spawn(move || lines.for_each(drop));
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

    let (running, url) = demo(&demo_dir, &[]);
    let walked = browse(&root, &url, &demo_dir, &shots, "walk");
    drop(running);

    // The same demo again with the shortest idle timeout the config allows (one minute).
    let (running, url) = demo(
        &demo_dir,
        &[("REGISTERVAKT_SESSIONS__IDLE_TIMEOUT_SECS", "60")],
    );
    let idled = browse(&root, &url, &demo_dir, &shots, "idle");
    drop(running);

    assert!(
        walked && idled,
        "the browser suite failed (main paths: {walked}, idle sign-out: {idled}): see the \
         lines above and {}",
        shots.display()
    );
}
