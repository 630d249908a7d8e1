//! The leak scan that every in-process suite gets (`tests/it/common/leaks.rs`, SECURITY_BAR D1,
//! D6) can fail: secrets planted where the broker must never put them — an audit entry's
//! details, a file in the data dir — are reported by kind and place, never shown; and the
//! helpers register the secrets a real sign-in hands out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::panic::AssertUnwindSafe;

use common::leaks::{Kind, Place};
use common::{prepare_with, spawn_app, spawn_app_in};
use futures::FutureExt as _;
use registervakt::audit::{self, Event};
use registervakt::synthetic;

/// The panic message of a failed scan.
fn message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().unwrap_or(&"?").to_string(),
    }
}

#[tokio::test]
async fn a_password_in_an_audit_entry_is_reported_with_its_entry_and_never_shown() {
    let app = spawn_app().await;
    let user = app.user("gustav", &["staff:Uppsala"]).await;
    app.sign_in(&user, "gustav").await;
    assert!(app.dir.leak_scan().await.is_empty(), "clean before");
    let store = app.store().await;
    let planted = Event::store_initialised("sqlite").with_detail("note", user.password.as_str());
    audit::record_now(&store, &planted, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    store.close().await;
    let hits = app.dir.leak_scan().await;
    let audit: Vec<_> = hits
        .iter()
        .filter(|h| h.place.starts_with("audit entry #"))
        .collect();
    assert_eq!(audit.len(), 1, "{hits:?}");
    assert_eq!(audit[0].kind, Kind::Password);
    let shown = format!("{hits:?} {}", audit[0]);
    assert!(
        !shown.contains(&user.password),
        "the report shows the password"
    );
    // The SQLite file holds the entry too: the data dir scan finds it as well.
    assert!(
        hits.iter().any(|h| h.place.contains("the file")),
        "{hits:?}"
    );
    app.dir.leaks.clear();
    app.stop().await;
}

#[tokio::test]
async fn a_canary_left_in_the_data_dir_fails_the_stop_naming_the_file_not_the_member() {
    let canary = synthetic::canary(31);
    let marker = synthetic::canary_marker(31);
    let app = spawn_app_in(prepare_with(50, vec![canary.clone()]).await).await;
    std::fs::write(
        app.dir.data.join("build-0001.tmp"),
        format!(
            "{};{}\n",
            canary.first_name,
            canary.phone.clone().unwrap_or_default()
        ),
    )
    .unwrap();
    let failed = AssertUnwindSafe(app.stop()).catch_unwind().await;
    let text = message(failed.err().expect("the stop fails on the planted canary"));
    assert!(text.contains("a canary member's data (as is)"), "{text}");
    assert!(text.contains("build-0001.tmp"), "{text}");
    assert!(!text.contains(&marker), "{text}");
}

#[tokio::test]
async fn a_test_dir_dropped_without_a_stop_is_scanned_as_it_is_dropped() {
    let app = spawn_app().await;
    let user = app.user("hedda", &["staff:Uppsala"]).await;
    let seed = registervakt::auth::totp::Seed::from_base32(&user.secret_base32).unwrap();
    std::fs::write(app.dir.data.join("copy.bin"), seed.as_bytes()).unwrap();
    let failed = std::panic::catch_unwind(AssertUnwindSafe(move || drop(app)));
    let text = message(failed.expect_err("dropping the dir fails on the raw seed"));
    assert!(
        text.contains("a TOTP seed (raw bytes) in the file"),
        "{text}"
    );
    assert!(text.contains("copy.bin"), "{text}");
}

#[tokio::test]
async fn the_helpers_register_what_a_real_enrolment_and_sign_in_hand_out() {
    let app = spawn_app().await;
    let user = app.user("ivar", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&user, "ivar").await;
    let token = cookie.split_once('=').unwrap().1;
    let key_line = std::fs::read_to_string(&app.dir.kek).unwrap();
    let key = key_line.lines().find(|l| l.starts_with("kek ")).unwrap();
    let planted = [
        ("password", user.password.clone(), Kind::Password),
        (
            "seed",
            user.secret_base32.to_ascii_lowercase(),
            Kind::TotpSeed,
        ),
        (
            "code",
            user.recovery_codes[3].replace('-', ""),
            Kind::RecoveryCode,
        ),
        ("cookie", token.to_owned(), Kind::SessionToken),
        (
            "key",
            key.rsplit(' ').next().unwrap().to_owned(),
            Kind::KeyEncryptionKey,
        ),
    ];
    for (what, value, kind) in planted {
        let hits = app
            .dir
            .leaks
            .scan_bytes(Place::Text, value.as_bytes(), what);
        assert!(hits.iter().any(|h| h.kind == kind), "{what}: {hits:?}");
    }
    // The broker's log is captured, request lines included, for the scan at stop.
    let log = String::from_utf8_lossy(&common::leaks::log::since(0)).into_owned();
    assert!(
        log.contains("path=\"/api/v1/auth/totp\""),
        "nothing captured"
    );
    app.stop().await;
}
