//! The key file (`keys.kek_file`) unreadable, damaged or not this store's.
//!
//! At start `registervakt serve` refuses every bad key file with one sentence that names the
//! file, and a non-zero exit; it never serves. (`tests/it/cli.rs` covers a missing file and one
//! readable by others; mode 000 cannot be shown as root, who reads it anyway.) The broker
//! reads the file only at start: while it runs, the file may vanish or be damaged and
//! nothing changes until the next start, which refuses.

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, TestDir};

/// Runs `serve` on `t` (bounded: a broker that starts anyway is killed and fails the test);
/// returns its one error line.
fn serve_refusal(t: &TestDir, case: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_registervakt"))
        .args(["serve", "--config"])
        .arg(&t.config_path)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("serve started with {case}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "serve exited 0 with {case}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("is serving"), "served with {case}: {all}");
    let errors: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("registervakt:"))
        .collect();
    assert_eq!(errors.len(), 1, "one sentence for {case}: {all}");
    assert_eq!(all.trim_end().lines().last(), Some(errors[0]), "{all}");
    errors[0].to_owned()
}

/// What a case puts at the key file's path.
type MakeKeyPath<'a> = Box<dyn Fn() + 'a>;

/// Puts `bytes` at the key file's path with mode 0600.
fn write_key_file(t: &TestDir, bytes: &[u8]) {
    std::fs::write(&t.kek, bytes).unwrap();
    std::fs::set_permissions(&t.kek, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn remove_key_path(t: &TestDir) {
    match std::fs::symlink_metadata(&t.kek) {
        Ok(m) if m.is_dir() => std::fs::remove_dir(&t.kek).unwrap(),
        Ok(_) => std::fs::remove_file(&t.kek).unwrap(),
        Err(_) => {}
    }
}

#[tokio::test]
async fn serve_refuses_a_damaged_or_foreign_key_file_with_one_sentence_naming_it() {
    let t = common::prepare(20).await;
    // Served once, so the store holds its pseudonym key sealed under this key file.
    let app = common::spawn_app_in(t).await;
    let t = app.stop().await;
    let good = std::fs::read(&t.kek).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let key_line = text
        .lines()
        .find(|l| l.starts_with("kek "))
        .unwrap()
        .to_owned();
    let key_b64 = key_line.rsplit(' ').next().unwrap().to_owned();
    let header_only = text.lines().next().unwrap().to_owned() + "\n";
    let cut = text.len() - 20;
    let mut flipped = key_b64.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let same_id_other_key = text.replace(&key_b64, std::str::from_utf8(&flipped).unwrap());
    let other_store = t.path().join("other.key");
    registervakt::crypto::Keyring::generate_file(&other_store).unwrap();

    let path = t.kek.display().to_string();
    let cases: Vec<(&str, MakeKeyPath, &str)> = vec![
        (
            "a directory",
            Box::new(|| std::fs::create_dir(&t.kek).unwrap()),
            "not a regular file",
        ),
        (
            "an empty file",
            Box::new(|| write_key_file(&t, b"")),
            "line 1",
        ),
        (
            "only the header",
            Box::new(|| write_key_file(&t, header_only.as_bytes())),
            "holds no key",
        ),
        (
            "a file cut in its key",
            Box::new(|| write_key_file(&t, &good[..cut])),
            "line 2",
        ),
        (
            "a symlink to nothing",
            Box::new(|| std::os::unix::fs::symlink(t.path().join("gone"), &t.kek).unwrap()),
            "keys generate",
        ),
        (
            "another store's key file",
            Box::new(|| std::fs::copy(&other_store, &t.kek).map(drop).unwrap()),
            "does not open this store's keys",
        ),
        (
            "the same key id with other key bytes",
            Box::new(|| write_key_file(&t, same_id_other_key.as_bytes())),
            "does not open this store's keys",
        ),
    ];
    for (case, make, says) in cases {
        remove_key_path(&t);
        make();
        let line = serve_refusal(&t, case);
        assert!(line.contains(&path), "{case}: names the file: {line}");
        assert!(line.contains(says), "{case}: {line}");
        assert!(
            !line.contains(&key_b64[..12]),
            "{case}: key material: {line}"
        );
    }
    remove_key_path(&t);
    write_key_file(&t, &good);
    let app = common::serve_in(t).await;
    assert_eq!(
        app.get_with("/readyz", None).await.status(),
        200,
        "its own key file"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_running_broker_keeps_its_keys_when_the_file_goes_and_the_next_start_refuses() {
    let app = common::spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let berit = app.user("berit", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let fields = ["first_name", "email"];
    let body = common::extracts::body("district-assembly-invitation", "Uppsala", &fields, 60);
    let id = common::extracts::live_extract(&app, &cookie, body).await;
    std::fs::remove_file(&app.dir.kek).unwrap();
    // Nothing re-reads the file: release, sign-in (the TOTP seed is sealed under the KEK)
    // and readiness go on with the keys loaded at start.
    let (status, _, bytes) = common::extracts::download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&bytes).contains('@'));
    app.sign_in(&berit, "berit").await;
    assert_eq!(app.get_with("/readyz", None).await.status(), 200);
    let t = app.stop().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = registervakt::app::Application::build_with_listener(t.config(), listener).await;
    let err = refused
        .err()
        .expect("no start without the key file")
        .to_string();
    assert!(
        err.contains(&t.kek.display().to_string()) && err.contains("keys generate"),
        "{err}"
    );
}
