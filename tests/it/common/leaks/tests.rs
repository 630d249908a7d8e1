//! The leak scan's own tests: a value planted in a file, an error body, a log line is
//! reported by kind, form and place, and never shown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use registervakt::synthetic;

use super::*;

fn planted() -> (Leaks, String) {
    let leaks = Leaks::default();
    let secret = format!("demo-{}", registervakt::crypto::random_token());
    leaks.text(Kind::Password, &secret);
    (leaks, secret)
}

#[test]
fn a_password_planted_in_hex_in_a_wal_file_is_reported_by_kind_and_file_not_by_value() {
    let (leaks, secret) = planted();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let wal = dir.path().join("data").join("registervakt.sqlite-wal");
    let mut bytes = vec![0u8; 4096];
    bytes.extend(hex::encode(secret.as_bytes()).into_bytes());
    std::fs::write(&wal, bytes).unwrap();
    std::fs::write(dir.path().join("data").join("clean"), b"nothing here").unwrap();
    let hits = leaks.scan_files(&[dir.path().join("data")]);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!((hits[0].kind, hits[0].form), (Kind::Password, Form::Hex));
    let shown = hits[0].to_string();
    assert!(shown.contains("registervakt.sqlite-wal"), "{shown}");
    assert!(!shown.contains(&secret) && !shown.contains(&hex::encode(&secret)));
}

#[test]
fn an_error_body_with_a_session_token_fails_and_a_success_body_with_it_does_not() {
    let leaks = Leaks::default();
    let token = registervakt::crypto::random_token();
    leaks.token(Kind::SessionToken, &token);
    let body = format!("{{\"error\":\"x\",\"message\":\"bad {token}\"}}");
    leaks.check_error_body(200, body.as_bytes(), "GET /api/v1/me");
    let path = format!("GET /invite/{token}");
    let failed = std::panic::catch_unwind(|| {
        leaks.check_error_body(400, body.as_bytes(), &path);
    });
    let message = *failed.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("a session token (as is)"), "{message}");
    assert!(message.contains("/invite/<a session token>"), "{message}");
    assert!(!message.contains(&token), "{message}");
}

#[test]
fn a_seed_is_found_raw_and_lower_case_and_only_error_pages_may_hold_csrf_tokens() {
    let leaks = Leaks::default();
    let seed = registervakt::auth::totp::Seed::generate();
    let base32 = seed.base32();
    leaks.totp_seed(&base32);
    leaks.text(Kind::CsrfToken, "csrf-token-0123456789");
    let raw = leaks.scan_bytes(Place::AtRest, seed.as_bytes(), "x");
    assert_eq!(raw[0].form, Form::Raw);
    let lower = leaks.scan_bytes(Place::Text, base32.to_ascii_lowercase().as_bytes(), "x");
    assert_eq!(lower[0].form, Form::LowerCase);
    let csrf = b"csrf-token-0123456789";
    assert_eq!(
        leaks.scan_bytes(Place::AtRest, csrf, "x")[0].kind,
        Kind::CsrfToken
    );
    assert!(leaks.scan_bytes(Place::ErrorBody, csrf, "x").is_empty());
    assert_eq!(
        leaks.scan_bytes(Place::Text, csrf, "x")[0].kind,
        Kind::CsrfToken
    );
}

#[test]
fn a_canary_is_found_by_its_marker_and_an_ordinary_member_is_not_registered() {
    let leaks = Leaks::default();
    leaks.member(&synthetic::generate(1, 7).next().unwrap());
    assert_eq!(leaks.count(), 0);
    let canary = synthetic::canary(77);
    leaks.member(&canary);
    let line = format!("row: {}", canary.email.clone().unwrap());
    let hits = leaks.scan_bytes(Place::Text, line.as_bytes(), "x");
    assert_eq!(hits[0].kind, Kind::CanaryMember);
}

#[test]
fn a_secret_in_a_captured_log_line_is_reported() {
    let (leaks, secret) = planted();
    leaks.broker_started();
    tracing::info!(target: "registervakt::leak_scan_test", value = %secret, "planted");
    let hits = leaks.scan_log();
    assert!(hits.iter().any(|h| h.kind == Kind::Password), "{hits:?}");
}

#[test]
fn values_shorter_than_the_minimum_are_not_registered() {
    let leaks = Leaks::default();
    leaks.text(Kind::Password, "short");
    assert_eq!(leaks.count(), 0);
}
