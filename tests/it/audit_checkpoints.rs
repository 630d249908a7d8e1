//! Signed checkpoints in a second sink (SECURITY_BAR E3, E4): a truncated log, or a chain
//! recomputed after a deletion, passes the chain check but not the checkpoints; a forged
//! checkpoint is refused; an unwritable sink stops every release until it is writable again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::extracts::{body, download, live_extract, raw};
use common::{TestDir, prepare, spawn_app, spawn_app_in};
use registervakt::cli::demo::CHECKPOINTS_FILE;

fn checkpoints_of(dir: &TestDir) -> PathBuf {
    dir.kek.with_file_name(CHECKPOINTS_FILE)
}

/// `registervakt audit verify --config FILE [--checkpoints FILE]`: (success, output).
fn verify(config: &Path, checkpoints: Option<&Path>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_registervakt"));
    cmd.args(["audit", "verify", "--config"]).arg(config);
    if let Some(file) = checkpoints {
        cmd.arg("--checkpoints").arg(file);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A broker that signed a user in and stopped (a checkpoint at start and one at shutdown).
async fn a_stopped_broker() -> TestDir {
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    app.sign_in(&anna, "anna").await;
    app.stop().await
}

async fn sqlite(dir: &TestDir) -> sqlx::SqlitePool {
    let db = dir.data.join(registervakt::config::SQLITE_STORE_FILE);
    sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_truncated_log_passes_the_chain_check_and_is_caught_by_a_checkpoint() {
    let dir = a_stopped_broker().await;
    let file = checkpoints_of(&dir);
    let lines = std::fs::read_to_string(&file).unwrap();
    assert!(
        lines.lines().count() >= 2,
        "at start and at shutdown: {lines}"
    );
    assert!(verify(&dir.config_path, Some(&file)).0, "intact before");
    let pool = sqlite(&dir).await;
    sqlx::query("DROP TRIGGER audit_events_no_delete")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq > (SELECT MAX(seq) - 3 FROM audit_events)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (ok, text) = verify(&dir.config_path, None);
    assert!(ok, "the chain alone cannot see a cut-off tail: {text}");
    let (ok, text) = verify(&dir.config_path, Some(&file));
    assert!(!ok);
    assert!(text.contains("shorter than checkpoint"), "{text}");
}

#[tokio::test]
async fn a_chain_recomputed_after_a_deletion_is_caught_only_by_a_checkpoint() {
    let dir = a_stopped_broker().await;
    let file = checkpoints_of(&dir);
    let pool = sqlite(&dir).await;
    for trigger in [
        "audit_events_no_delete",
        "audit_events_no_update",
        "audit_events_chain",
    ] {
        sqlx::query(&format!("DROP TRIGGER {trigger}"))
            .execute(&pool)
            .await
            .unwrap();
    }
    // Delete entry 2, renumber and re-hash everything after it, and add a forged last entry so
    // the log is as long as before: a chain consistent in itself.
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    let mut rows: Vec<registervakt::store::audit::AuditRow> =
        sqlx::query_as("SELECT * FROM audit_events ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut forged = rows.last().unwrap().clone();
    forged.seq += 1;
    forged.details = "{}".into();
    rows.push(forged);
    sqlx::query("DELETE FROM audit_events")
        .execute(&pool)
        .await
        .unwrap();
    let mut prev = registervakt::audit::chain::GENESIS.to_owned();
    for (i, mut row) in rows.into_iter().enumerate() {
        row.seq = i as i64 + 1;
        row.prev_hash = prev.clone();
        row.entry_hash = registervakt::audit::chain::entry_hash(&row);
        prev = row.entry_hash.clone();
        sqlx::query("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(row.seq)
            .bind(row.occurred_at)
            .bind(&row.actor)
            .bind(&row.action)
            .bind(&row.target)
            .bind(&row.outcome)
            .bind(&row.details)
            .bind(&row.prev_hash)
            .bind(&row.entry_hash)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let (ok, text) = verify(&dir.config_path, None);
    assert!(ok, "recomputed: the chain alone is fooled: {text}");
    let (ok, text) = verify(&dir.config_path, Some(&file));
    assert!(!ok);
    assert!(text.contains("does not match checkpoint"), "{text}");
}

#[tokio::test]
async fn a_checkpoint_edited_by_hand_is_refused_as_forged() {
    let dir = a_stopped_broker().await;
    let file = checkpoints_of(&dir);
    let text = std::fs::read_to_string(&file).unwrap();
    let first = text.lines().next().unwrap();
    let entries = first
        .split_whitespace()
        .find(|w| w.starts_with("entries="))
        .unwrap();
    let edited = text.replacen(entries, "entries=1", 1);
    std::fs::write(&file, edited).unwrap();
    let (ok, out) = verify(&dir.config_path, Some(&file));
    assert!(!ok);
    assert!(out.contains("bad signature"), "{out}");
}

#[tokio::test]
async fn while_the_checkpoint_sink_cannot_be_written_nothing_is_released_and_it_recovers_by_itself()
{
    let app = spawn_app().await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let id = live_extract(
        &app,
        &cookie,
        body(
            "district-assembly-invitation",
            "Uppsala",
            &["first_name"],
            60,
        ),
    )
    .await;
    let file = checkpoints_of(&app.dir);
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap(); // a directory where the file should be: unwritable
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["checks"]["checkpoints"], "failing", "{ready}");
    let (status, _, bytes) = download(&app, &cookie, &id, "csv").await;
    assert_eq!(status, 503);
    assert!(!bytes.starts_with(registervakt::extract::format::CSV_BOM));
    let pool = raw(&app).await;
    let downloads: i64 = sqlx::query_scalar("SELECT downloads FROM extracts WHERE id = ?")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(downloads, 0);
    std::fs::remove_dir(&file).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.get_json("/readyz").await["checks"]["checkpoints"], "ok");
    assert_eq!(
        download(&app, &cookie, &id, "csv").await.0,
        200,
        "no restart needed"
    );
    app.stop().await;
}

/// `/readyz` says where checkpoints go besides the store, and a broker with none is still
/// ready (it warned at start) but says `none`.
#[tokio::test]
async fn readiness_names_the_second_audit_sink_or_its_absence() {
    let app = spawn_app().await;
    let ready = app.get_json("/readyz").await;
    assert_eq!(
        ready["checks"]["second_audit_sink"], "checkpoint_file",
        "{ready}"
    );
    app.stop().await;

    let dir = prepare(50).await;
    let text = std::fs::read_to_string(&dir.config_path).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("checkpoint_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(text, without, "the test config names a checkpoint file");
    std::fs::write(&dir.config_path, without).unwrap();
    let app = spawn_app_in(dir).await;
    let (status, ready) = {
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        (
            res.status().as_u16(),
            res.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["second_audit_sink"], "none", "{ready}");
    assert_eq!(ready["checks"]["checkpoints"], "off", "{ready}");
    app.stop().await;
}
