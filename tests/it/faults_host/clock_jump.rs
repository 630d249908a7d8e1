//! The broker's wall clock jumps while it runs (libfaketime on the real binary).
//!
//! Forward: what fell due is shredded at the next sweep and never released after its
//! deadline; sessions idle past their limit end. Back: while the clock reads earlier than the
//! newest audit entry, no member data leaves (download, view, a new snapshot: 503
//! `clock_behind` or a build `failed` as `clock_behind`), `/readyz` says so, the operator
//! reads why in the log, deadlines keep the log's time, and release resumes by itself once
//! the clock has caught up.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::broker::{self, Broker, FakeClock, LIBFAKETIME, assert_audit_verifies, raw, stored};

const INVITE: &str = "district-assembly-invitation";
const PHONE: &str = "phone-canvassing";
const HOUR: i64 = 3600;

/// Polls the store until `id` is shredded; returns its end reason.
async fn wait_shredded(pool: &sqlx::SqlitePool, id: &str, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let e = stored(pool, id).await;
        if e.state == "shredded" {
            assert!(!e.has_key && e.chunks == 0, "{e:?}");
            return e.end_reason.unwrap_or_default();
        }
        assert!(started.elapsed() < limit, "{id} not shredded: {e:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn needs_libfaketime() {
    assert!(
        std::path::Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} is missing: apt-get install -y libfaketime"
    );
}

#[tokio::test]
#[ignore = "needs libfaketime (Debian package libfaketime)"]
async fn a_clock_jumping_forward_shreds_what_fell_due_at_the_next_sweep_and_ends_idle_sessions() {
    needs_libfaketime();
    let (t, anna) = broker::prepare().await;
    let mut clock = FakeClock::new(t.path());
    let b = Broker::start(&t, &clock).await;
    let cookie = b.sign_in(&anna, "anna", &clock).await;
    let id = b.live(&cookie, INVITE, &["first_name", "email"]).await;
    let pool = raw(&t).await;
    let deadline = stored(&pool, &id).await.expires_at.unwrap();

    // Two hours on: past the 60-minute deadline and the 15-minute idle limit.
    clock.set(2 * HOUR);
    let reason = wait_shredded(&pool, &id, Duration::from_secs(5)).await;
    assert_eq!(reason, "expired");
    let shred_at: i64 = sqlx::query_scalar(
        "SELECT occurred_at FROM audit_events WHERE action = 'extract.shred' AND target = ?",
    )
    .bind(format!("extract:{id}"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        shred_at >= deadline * 1000,
        "shredded by the broker's clock after the deadline"
    );
    // The session idled past its 15 minutes (expired, or already swept away).
    let (status, body) = b
        .get(&format!("/api/v1/extracts/{id}"), Some(&cookie))
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        ["session_expired", "not_signed_in"].contains(&body["error"].as_str().unwrap_or("")),
        "{body}"
    );
    // Signed in again at the broker's time, the extract is gone: never released late.
    let cookie = b.sign_in(&anna, "anna", &clock).await;
    let (status, bytes) = b.download(&cookie, &id).await;
    assert_eq!(status, 410);
    assert!(!String::from_utf8_lossy(&bytes).contains('@'));
    let e = stored(&pool, &id).await;
    assert_eq!((e.downloads, e.released), (0, 0), "{e:?}");
    assert_eq!(
        b.get("/readyz", None).await.0,
        200,
        "a clock ahead of the log is fine"
    );

    // The jump undone: the log now holds times two hours ahead, so nothing is released
    // until the real time reaches them (fail closed; docs/operations.md).
    clock.set(0);
    let (status, ready) = b.get("/readyz", None).await;
    assert_eq!(
        (status, &ready["checks"]["clock"]),
        (503, &Value::from("failing"))
    );
    drop(b);
    pool.close().await;
    assert_audit_verifies(&t, "after the forward jump");
}

#[tokio::test]
#[ignore = "needs libfaketime (Debian package libfaketime)"]
async fn while_the_clock_reads_earlier_than_the_audit_log_nothing_is_released_until_it_catches_up()
{
    needs_libfaketime();
    let (t, anna) = broker::prepare().await;
    let mut clock = FakeClock::new(t.path());
    let b = Broker::start(&t, &clock).await;
    let cookie = b.sign_in(&anna, "anna", &clock).await;
    let id = b.live(&cookie, INVITE, &["first_name", "email"]).await;
    let viewable = b.live(&cookie, PHONE, &["first_name", "phone"]).await;
    let falls_due = b.live(&cookie, INVITE, &["first_name"]).await;
    let pool = raw(&t).await;

    clock.set(-HOUR);
    let (status, bytes) = b.download(&cookie, &id).await;
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("clock_behind")),
        "{body}"
    );
    assert!(
        !String::from_utf8_lossy(&bytes).contains('@'),
        "no member data"
    );
    let (status, body) = b.view(&cookie, &viewable).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("clock_behind")),
        "{body}"
    );
    assert!(body.get("rows").is_none());
    // A new request is taken, but its snapshot never reads the register.
    let refused = b.request(&cookie, INVITE, &["first_name"]).await;
    let v = b.settled(&cookie, &refused).await;
    assert_eq!(
        (&v["state"], &v["end_reason"]),
        (&"failed".into(), &"clock_behind".into()),
        "{v}"
    );
    let (status, ready) = b.get("/readyz", None).await;
    assert_eq!(
        (status, &ready["checks"]["clock"]),
        (503, &Value::from("failing")),
        "{ready}"
    );
    assert!(
        b.log_text()
            .contains("s earlier than the newest audit entry"),
        "the operator is told why:\n{}",
        b.log_text()
    );
    for extract in [&id, &viewable] {
        let e = stored(&pool, extract).await;
        assert_eq!((e.state.as_str(), e.has_key), ("live", true), "kept: {e:?}");
        assert_eq!((e.downloads, e.released), (0, 0), "nothing counted: {e:?}");
    }
    let viewed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'extract.view'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(viewed, 0, "no page was shown");

    // A deadline that passed by the log's time is kept though the clock reads an hour early.
    let real_now = time::OffsetDateTime::now_utc().unix_timestamp();
    sqlx::query("UPDATE extracts SET expires_at = ? WHERE id = ?")
        .bind(real_now - 1)
        .bind(&falls_due)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        wait_shredded(&pool, &falls_due, Duration::from_secs(5)).await,
        "expired"
    );

    // Within the tolerance for skew between brokers: released again, no restart.
    clock.set(-2);
    let (status, ready) = b.get("/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    let (status, bytes) = b.download(&cookie, &id).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&bytes).contains('@'), "the file");
    assert_eq!(b.view(&cookie, &viewable).await.0, 200);
    let again = b.live(&cookie, INVITE, &["first_name"]).await;
    assert_eq!(b.download(&cookie, &again).await.0, 200);
    let e = stored(&pool, &id).await;
    assert_eq!((e.downloads, e.released), (1, 1), "{e:?}");
    drop(b);
    pool.close().await;
    assert_audit_verifies(&t, "after the clock caught up");
}
