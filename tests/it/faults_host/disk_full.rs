//! The disk under the data dir fills up while the broker runs.
//!
//! The data dir (SQLite store, WAL and shared memory; chunks live in the store and files are
//! built in memory, so there are no temp files) is put on a small tmpfs and filled with a
//! filler file. Shown: release, sign-in and new requests answer 503 and nothing is counted;
//! a build that runs out of room ends `failed` with its reason; `/readyz` reports the data
//! dir; what was stored stays (live extracts keep key and chunks, the audit chain verifies);
//! and once the filler is gone the same broker serves again, and shreds what fell due.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::broker::{raw, stored};
use crate::common::extracts::{body, download, live_extract, request};
use crate::common::{self, TestApp, TestDir};

const INVITE: &str = "district-assembly-invitation";
const ROOT_ONLY: &str = "needs root to mount a small tmpfs (CI runs it)";

/// A tmpfs mounted over a directory; unmounted when dropped, lazily if still busy (a
/// panicking test drops it while the broker's files are still open).
struct Tmpfs {
    at: PathBuf,
}

impl Tmpfs {
    fn mount(at: &Path, mib: u32) -> Tmpfs {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{ROOT_ONLY}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { at: at.to_owned() }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.at).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        }
    }
}

/// Writes a filler file under `dir` until the file system is full, then gives back `room`
/// bytes; returns its path.
fn fill(dir: &Path, room: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = File::create(&path).unwrap();
    let block = vec![0xa5u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    assert!(
        File::create(dir.join("probe"))
            .and_then(|mut f| f.write_all(&block))
            .is_err()
    );
    let _ = std::fs::remove_file(dir.join("probe"));
    file.set_len(written.saturating_sub(room)).unwrap();
    file.sync_all().unwrap();
    path
}

/// A prepared dir whose data dir is a `mib` MiB tmpfs, sweeping every second.
async fn on_tmpfs(members: u64, mib: u32) -> (TestDir, Tmpfs) {
    let t = common::prepare(members).await;
    let text = t.config_text() + "\n[extracts]\nsweep_interval_secs = 1\n";
    std::fs::write(&t.config_path, text).unwrap();
    let mount = Tmpfs::mount(&t.data, mib);
    (t, mount)
}

/// Stops the broker, then unmounts, then removes the dir (in that order, so nothing is busy).
async fn finish(app: TestApp, pool: sqlx::SqlitePool, mount: Tmpfs) {
    pool.close().await;
    let dir = app.stop().await;
    drop(mount);
    drop(dir);
}

async fn ready(app: &TestApp) -> (u16, Value) {
    let res = app.get_with("/readyz", None).await;
    (res.status().as_u16(), res.json().await.unwrap())
}

/// The audit chain verifies and still holds entry `seq` with `hash`.
async fn assert_chain_kept(app: &TestApp, pool: &sqlx::SqlitePool, (seq, hash): &(i64, String)) {
    let store = app.store().await;
    let report = registervakt::audit::verify(&store).await.unwrap();
    store.close().await;
    assert!(report.entries >= *seq as u64, "{report:?}");
    let kept: String = sqlx::query_scalar("SELECT entry_hash FROM audit_events WHERE seq = ?")
        .bind(seq)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(&kept, hash, "entry {seq} unchanged");
}

#[tokio::test]
#[ignore = "needs root to mount a small tmpfs (CI runs it)"]
async fn on_a_full_disk_nothing_is_released_nothing_stored_is_lost_and_it_recovers_by_itself() {
    let (t, mount) = on_tmpfs(200, 16).await;
    let app = common::spawn_app_in(t).await;
    let anna = app.user("anna", &["staff:Uppsala"]).await;
    let cookie = app.sign_in(&anna, "anna").await;
    let fields = ["first_name", "email"];
    let kept = live_extract(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
    let falls_due = live_extract(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
    let pool = raw(&app.dir).await;
    let due_at = time::OffsetDateTime::now_utc().unix_timestamp() + 2;
    sqlx::query("UPDATE extracts SET expires_at = ? WHERE id = ?")
        .bind(due_at)
        .bind(&falls_due)
        .execute(&pool)
        .await
        .unwrap();
    let head = app.state.store.find_audit_head().await.unwrap().unwrap();
    // An empty WAL (as after every shred), so each write needs room the disk no longer has.
    app.state.store.checkpoint_wal().await.unwrap();
    let filler = fill(&app.dir.data, 0);

    let (status, _, bytes) = download(&app, &cookie, &kept, "csv").await;
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("\"unavailable\"") && !text.contains('@'),
        "{text}"
    );
    let (status, res) = request(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
    assert_eq!(status, 503, "{res}");
    let login = json!({ "username": "anna", "password": anna.password });
    let res = app.post_json("/api/v1/auth/login", None, login).await;
    assert_eq!(res.status(), 503, "no session can be stored");
    let (status, body_) = ready(&app).await;
    assert_eq!(
        (status, &body_["checks"]["data_dir"]),
        (503, &Value::from("failing"))
    );
    // The deadline passes while nothing can be written: the extract is not shredded half,
    // and not released.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in [&kept, &falls_due] {
        let e = stored(&pool, id).await;
        assert!(
            e.state == "live" && e.has_key && e.chunks > 0,
            "kept whole: {e:?}"
        );
        assert_eq!((e.downloads, e.released), (0, 0), "nothing counted: {e:?}");
    }
    assert_eq!(download(&app, &cookie, &falls_due, "csv").await.0, 503);

    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    while ready(&app).await.0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            ready(&app).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, bytes) = download(&app, &cookie, &kept, "csv").await;
    assert_eq!(status, 200, "the same broker, no restart");
    assert!(String::from_utf8_lossy(&bytes).contains('@'));
    let started = Instant::now();
    while stored(&pool, &falls_due).await.state != "shredded" {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not shredded after the fault"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e = stored(&pool, &falls_due).await;
    assert_eq!(
        (e.end_reason.as_deref(), e.has_key, e.chunks, e.released),
        (Some("expired"), false, 0, 0)
    );
    let fresh = live_extract(&app, &cookie, body(INVITE, "Uppsala", &fields, 60)).await;
    assert_eq!(download(&app, &cookie, &fresh, "csv").await.0, 200);
    let e = stored(&pool, &kept).await;
    assert_eq!((e.downloads, e.released), (1, 1), "{e:?}");
    assert_chain_kept(&app, &pool, &head).await;
    finish(app, pool, mount).await;
}

#[tokio::test]
#[ignore = "needs root to mount a small tmpfs (CI runs it)"]
async fn a_build_that_runs_out_of_disk_ends_failed_with_its_reason_and_leaves_nothing_behind() {
    // About 4 400 Stockholm members: more than one approver-free request, and far more
    // sealed chunks and ledger rows than the room left.
    let (t, mount) = on_tmpfs(20_000, 32).await;
    let app = common::spawn_app_in(t).await;
    let anna = app.user("anna", &["staff:Stockholm"]).await;
    let bertil = app.user("bertil", &["approver:Stockholm"]).await;
    let staff = app.sign_in(&anna, "anna").await;
    let approver = app.sign_in(&bertil, "bertil").await;
    let fields = ["first_name", "last_name", "email", "street_address"];
    let ask = || body(INVITE, "Stockholm", &fields, 60);
    let (status, created) = request(&app, &staff, ask()).await;
    assert_eq!(
        (status, &created["state"]),
        (201, &Value::from("pending")),
        "{created}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let verdict = json!({ "request_hash": created["request_hash"], "comment": "ok" });
    let pool = raw(&app.dir).await;
    let head = app.state.store.find_audit_head().await.unwrap().unwrap();
    app.state.store.checkpoint_wal().await.unwrap();
    // Room for the approval, not for the extract.
    let filler = fill(&app.dir.data, 256 * 1024);

    let path = format!("/api/v1/extracts/{id}/approve");
    let res = app.post_json(&path, Some(&approver), verdict).await;
    assert_eq!(res.status(), 200, "the approval fits");
    let started = Instant::now();
    let e = loop {
        let e = stored(&pool, &id).await;
        if e.state != "building" {
            break e;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{e:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (e.state.as_str(), e.end_reason.as_deref()),
        ("failed", Some("store_error")),
        "{e:?}"
    );
    assert!(!e.has_key && e.chunks == 0 && e.downloads == 0, "{e:?}");
    let ledger: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM disclosures WHERE extract_id = ?")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(ledger, 0, "no ledger rows of a list that was never made");

    std::fs::remove_file(&filler).unwrap();
    let (status, again) = request(&app, &staff, ask()).await;
    assert_eq!(status, 201, "{again}");
    let again_id = again["id"].as_str().unwrap();
    let verdict = json!({ "request_hash": again["request_hash"], "comment": "ok" });
    let path = format!("/api/v1/extracts/{again_id}/approve");
    assert_eq!(
        app.post_json(&path, Some(&approver), verdict)
            .await
            .status(),
        200
    );
    let v = common::extracts::wait_settled(&app, &staff, again_id).await;
    assert_eq!(v["state"], "live", "built once there is room: {v}");
    assert_eq!(download(&app, &staff, again_id, "csv").await.0, 200);
    assert_chain_kept(&app, &pool, &head).await;
    finish(app, pool, mount).await;
}
