//! The broker's store and the audit chain, on SQLite always and on PostgreSQL when
//! `REGISTERVAKT_TEST_POSTGRES_URL` is set (each test gets a fresh database).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use registervakt::audit::{self, Event};
use registervakt::config::StoreLocation;
use registervakt::store::{Options, Store};
use secrecy::SecretString;
use sqlx::Executor;

#[path = "store/pki.rs"]
pub(crate) mod pki;
#[path = "store/tls.rs"]
mod tls;
#[path = "store/tls_mariadb.rs"]
mod tls_mariadb;

/// Raw access behind the broker's back, as an attacker with database access would have.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool, String, String),
}

impl Raw {
    async fn exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Raw::Sqlite(p) => p.execute(sql).await.map(|_| ()),
            Raw::Postgres(p, _, _) => p.execute(sql).await.map(|_| ()),
        }
    }

    async fn drop_guards(&self) {
        let sql = match self {
            Raw::Sqlite(_) => {
                "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; DROP TRIGGER audit_events_chain;"
            }
            Raw::Postgres(..) => {
                "DROP TRIGGER audit_events_no_update_delete ON audit_events; DROP TRIGGER audit_events_chain ON audit_events;"
            }
        };
        self.exec(sql).await.unwrap();
    }

    async fn finish(self) {
        if let Raw::Postgres(pool, admin_url, db) = self {
            pool.close().await;
            let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
            admin
                .execute(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)").as_str())
                .await
                .unwrap();
        }
    }
}

struct Fixture {
    store: Store,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registervakt.db");
    let store = open(StoreLocation::Sqlite(path.clone())).await;
    let raw = sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    Fixture {
        store,
        raw: Raw::Sqlite(raw),
        _dir: Some(dir),
    }
}

async fn postgres() -> Fixture {
    let admin_url = std::env::var("REGISTERVAKT_TEST_POSTGRES_URL")
        .expect("REGISTERVAKT_TEST_POSTGRES_URL must be set for the PostgreSQL suite");
    let db = format!("rv_store_{}", registervakt::crypto::random_id128());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    admin
        .execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .unwrap();
    admin.close().await;
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&db);
    let store = open(StoreLocation::Postgres(SecretString::from(url.to_string()))).await;
    let raw = sqlx::PgPool::connect(url.as_str()).await.unwrap();
    Fixture {
        store,
        raw: Raw::Postgres(raw, admin_url, db),
        _dir: None,
    }
}

async fn open(location: StoreLocation) -> Store {
    let store = Store::open(&Options {
        location,
        busy_timeout: Duration::from_secs(5),
        max_connections: 8,
        create: true,
    })
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn append(store: &Store, n: usize) {
    for i in 0..n {
        audit::record_now(
            store,
            &Event::system_started("t", &format!("127.0.0.1:{i}"), "i", "k"),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    }
}

async fn verify_err(store: &Store) -> String {
    audit::verify(store).await.unwrap_err().to_string()
}

/// A pending extract of `requester_id`'s in Uppsala, requested at `now`.
async fn insert_extract(
    tx: &mut registervakt::store::Tx,
    id: &str,
    requester_id: &str,
    approvers_needed: i64,
    now: i64,
) {
    use registervakt::store::extracts::{NewExtract, insert_extract};
    insert_extract(
        tx,
        &NewExtract {
            id,
            requester_id,
            purpose: "district-assembly-invitation",
            district: "Uppsala",
            request: "{}",
            request_hash: "r",
            policy_hash: "p",
            approvers_needed,
            estimated_rows: 1,
            lifetime_minutes: 60,
            max_downloads: 1,
            created_at: now,
            pending_until: now + 3600,
        },
    )
    .await
    .unwrap();
}

// ---- shared test bodies ----------------------------------------------------------

/// Every index of the disclosure ledger begins with the extract, so a build writes only its own
/// extract's part of the ledger however many rows the ledger holds (issue 19).
async fn the_ledger_has_no_index_across_extracts(f: Fixture) {
    let definitions: Vec<String> = match &f.raw {
        Raw::Sqlite(p) => sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE tbl_name IN ('disclosures', 'disclosed_members') \
             AND sql IS NOT NULL",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        Raw::Postgres(p, ..) => sqlx::query_scalar(
            "SELECT indexdef FROM pg_indexes WHERE tablename IN ('disclosures', 'disclosed_members')",
        )
        .fetch_all(p)
        .await
        .unwrap(),
    };
    assert!(definitions.len() >= 2, "{definitions:?}");
    for definition in &definitions {
        let keyed_by_extract = if definition.starts_with("CREATE TABLE") {
            definition.contains("PRIMARY KEY (extract_id,")
        } else {
            definition.contains("(extract_id,")
        };
        assert!(keyed_by_extract, "{definition}");
    }
    f.raw.finish().await;
}

/// A store from before the ledger's new layout keeps every answer: migration 12 files its
/// ledger rows by member, extract by extract.
async fn the_ledger_migration_files_existing_rows_by_member(f: Fixture) {
    let hex: fn(&str) -> String = match &f.raw {
        Raw::Sqlite(_) => |h: &str| format!("X'{h}'"),
        Raw::Postgres(..) => |h: &str| format!("'\\x{h}'::bytea"),
    };
    let extract = |id: &str| {
        format!("('{id}', 'u1', 'p', 'Uppsala', '{{}}', 'h', 'h', 'shredded', 1, 2, 60, 1, 0, 0)")
    };
    let (a, b) = ("aa".repeat(16), "0b".repeat(16));
    let tag = "cc".repeat(8);
    let rows = [("e1", 0, &a), ("e1", 1, &b), ("e2", 0, &b), ("e2", 1, &a)]
        .iter()
        .map(|(id, pos, m)| format!("('{id}', {pos}, {}, {})", hex(m), hex(&tag)))
        .collect::<Vec<_>>()
        .join(", ");
    f.raw
        .exec(&format!(
            "INSERT INTO users (id, username, display_name, status, created_at, updated_at) \
             VALUES ('u1', 'u1', 'U', 'active', 0, 0); \
             INSERT INTO extracts (id, requester_id, purpose, district, request, request_hash, \
             policy_hash, state, approvers_needed, estimated_rows, lifetime_minutes, \
             max_downloads, created_at, pending_until) VALUES {}, {}; \
             DROP TABLE disclosed_members; \
             CREATE INDEX disclosures_by_member ON disclosures (member_ref); \
             CREATE INDEX disclosures_by_row ON disclosures (row_ref); \
             DELETE FROM _sqlx_migrations WHERE version = 12; \
             INSERT INTO disclosures (extract_id, position, member_ref, row_ref) VALUES {rows};",
            extract("e1"),
            extract("e2")
        ))
        .await
        .unwrap();
    f.store.migrate().await.unwrap();
    f.store.ensure_migrated().await.unwrap();
    let filed: Vec<(String, Vec<u8>, i64)> = match &f.raw {
        Raw::Sqlite(p) => sqlx::query_as(
            "SELECT extract_id, member_ref, position FROM disclosed_members \
             ORDER BY extract_id, member_ref",
        )
        .fetch_all(p)
        .await
        .unwrap(),
        Raw::Postgres(p, ..) => sqlx::query_as(
            "SELECT extract_id, member_ref, position FROM disclosed_members \
             ORDER BY extract_id, member_ref",
        )
        .fetch_all(p)
        .await
        .unwrap(),
    };
    let (a, b) = (vec![0xaa; 16], vec![0x0b; 16]);
    assert_eq!(
        filed,
        [
            ("e1".to_owned(), b.clone(), 1),
            ("e1".to_owned(), a.clone(), 0),
            ("e2".to_owned(), b, 0),
            ("e2".to_owned(), a, 1),
        ]
    );
    f.raw.finish().await;
}

async fn migrations_are_idempotent_and_settings_hold(f: Fixture) {
    f.store.migrate().await.unwrap();
    f.store.ensure_migrated().await.unwrap();
    f.store.check_settings().await.unwrap();
    f.raw.finish().await;
}

async fn an_event_rolls_back_with_its_transaction(f: Fixture) {
    let mut tx = f.store.begin().await.unwrap();
    audit::record(
        &mut tx,
        &Event::system_stopped("x"),
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(audit::verify(&f.store).await.unwrap().entries, 0);
    append(&f.store, 1).await;
    assert_eq!(audit::verify(&f.store).await.unwrap().entries, 1);
    f.raw.finish().await;
}

async fn audit_rows_cannot_be_changed_or_removed(f: Fixture) {
    append(&f.store, 3).await;
    assert!(
        f.raw
            .exec("UPDATE audit_events SET actor = 'eve' WHERE seq = 2")
            .await
            .is_err()
    );
    assert!(
        f.raw
            .exec("DELETE FROM audit_events WHERE seq = 3")
            .await
            .is_err()
    );
    if let Raw::Postgres(..) = f.raw {
        assert!(f.raw.exec("TRUNCATE audit_events").await.is_err());
    }
    assert_eq!(audit::verify(&f.store).await.unwrap().entries, 3);
    f.raw.finish().await;
}

async fn the_database_refuses_an_entry_that_does_not_continue_the_chain(f: Fixture) {
    append(&f.store, 2).await;
    let forged = "INSERT INTO audit_events VALUES (3, 0, 'eve', 'system.start', 'x', 'success', '{}', 'abc', 'def')";
    assert!(f.raw.exec(forged).await.is_err());
    let gap = "INSERT INTO audit_events SELECT 5, 0, 'eve', 'system.start', 'x', 'success', '{}', entry_hash, 'def' FROM audit_events WHERE seq = 2";
    assert!(f.raw.exec(gap).await.is_err());
    f.raw.finish().await;
}

async fn twenty_parallel_appends_form_one_chain(f: Fixture) {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            audit::record_now(
                &store,
                &Event::system_stopped(&i.to_string()),
                time::OffsetDateTime::now_utc(),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let report = audit::verify(&f.store).await.unwrap();
    assert_eq!(report.entries, 20);
    f.raw.finish().await;
}

/// Group commit: appends made at the same moment share commits, and each caller still learns
/// its own entry's place and hash, exactly as stored.
async fn appends_at_once_share_commits_and_each_learns_its_own_place(f: Fixture) {
    let tasks: Vec<_> = (0..600)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                audit::record_now(
                    &store,
                    &Event::system_stopped(&format!("instance-{i}")),
                    time::OffsetDateTime::now_utc(),
                )
                .await
            })
        })
        .collect();
    let mut places = Vec::new();
    for t in tasks {
        places.push(t.await.unwrap().unwrap());
    }
    let mut seqs: Vec<i64> = places.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=600).collect::<Vec<_>>(),
        "one place each, no gap"
    );
    let stored = f.store.list_recent_audit_events(1000).await.unwrap();
    for place in &places {
        let row = stored.iter().find(|r| r.seq == place.seq).unwrap();
        assert_eq!(row.entry_hash, place.entry_hash, "entry {}", place.seq);
    }
    assert_eq!(audit::verify(&f.store).await.unwrap().entries, 600);
    f.raw.finish().await;
}

/// A group commit that fails fails every entry in it: none is stored, each caller hears of it,
/// and appends work again once the cause is gone.
async fn a_failed_group_commit_fails_every_entry_and_stores_none(f: Fixture) {
    append(&f.store, 1).await;
    let (break_it, mend_it) = match f.raw {
        Raw::Sqlite(_) => (
            "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
            "DROP TRIGGER audit_broken",
        ),
        Raw::Postgres(..) => (
            "CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'disk full'; END $$; \
             CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION audit_broken()",
            "DROP TRIGGER audit_broken ON audit_events; DROP FUNCTION audit_broken()",
        ),
    };
    f.raw.exec(break_it).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                audit::record_now(
                    &store,
                    &Event::system_stopped(&i.to_string()),
                    time::OffsetDateTime::now_utc(),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        assert!(
            t.await.unwrap().is_err(),
            "every caller hears of the failure"
        );
    }
    assert_eq!(audit::verify(&f.store).await.unwrap().entries, 1);
    f.raw.exec(mend_it).await.unwrap();
    append(&f.store, 1).await;
    assert_eq!(audit::verify(&f.store).await.unwrap().entries, 2);
    f.raw.finish().await;
}

async fn verify_names_a_changed_entry(f: Fixture) {
    append(&f.store, 5).await;
    f.raw.drop_guards().await;
    f.raw
        .exec("UPDATE audit_events SET target = 'elsewhere' WHERE seq = 3")
        .await
        .unwrap();
    let err = verify_err(&f.store).await;
    assert!(err.contains("entry 3") && err.contains("changed"), "{err}");
    f.raw.finish().await;
}

async fn verify_names_a_deleted_entry(f: Fixture) {
    append(&f.store, 5).await;
    f.raw.drop_guards().await;
    f.raw
        .exec("DELETE FROM audit_events WHERE seq = 2")
        .await
        .unwrap();
    let err = verify_err(&f.store).await;
    assert!(err.contains("entry 2") && err.contains("missing"), "{err}");
    f.raw.finish().await;
}

async fn verify_names_an_inserted_entry(f: Fixture) {
    append(&f.store, 5).await;
    f.raw.drop_guards().await;
    // Renumber to make room, then slip a row in at 3 that links to entry 2.
    f.raw
        .exec("UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3")
        .await
        .unwrap();
    f.raw
        .exec("UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103")
        .await
        .unwrap();
    f.raw
        .exec("INSERT INTO audit_events SELECT 3, occurred_at, 'eve', action, target, outcome, details, entry_hash, entry_hash FROM audit_events WHERE seq = 2")
        .await
        .unwrap();
    let err = verify_err(&f.store).await;
    assert!(err.contains("entry 3"), "{err}");
    f.raw.finish().await;
}

async fn verify_names_swapped_entries(f: Fixture) {
    append(&f.store, 5).await;
    f.raw.drop_guards().await;
    f.raw
        .exec("UPDATE audit_events SET seq = 100 WHERE seq = 2")
        .await
        .unwrap();
    f.raw
        .exec("UPDATE audit_events SET seq = 2 WHERE seq = 4")
        .await
        .unwrap();
    f.raw
        .exec("UPDATE audit_events SET seq = 4 WHERE seq = 100")
        .await
        .unwrap();
    let err = verify_err(&f.store).await;
    assert!(err.contains("entry 2"), "{err}");
    f.raw.finish().await;
}

async fn a_pending_oidc_login_is_taken_once_and_not_after_it_expires(f: Fixture) {
    use registervakt::store::sessions::{insert_oidc_pending, take_oidc_pending};
    let now = 1_800_000_000_i64;
    let ttl = registervakt::auth::oidc_login::PENDING_TTL_SECS;
    let mut tx = f.store.begin().await.unwrap();
    insert_oidc_pending(&mut tx, "fresh", b"sealed-a", now)
        .await
        .unwrap();
    insert_oidc_pending(&mut tx, "stale", b"sealed-b", now - ttl - 1)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = f.store.begin().await.unwrap();
    assert_eq!(
        take_oidc_pending(&mut tx, "fresh", now - ttl)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"sealed-a"[..])
    );
    assert_eq!(
        take_oidc_pending(&mut tx, "fresh", now - ttl)
            .await
            .unwrap(),
        None,
        "taken once"
    );
    assert_eq!(
        take_oidc_pending(&mut tx, "stale", now - ttl)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        take_oidc_pending(&mut tx, "stale", 0).await.unwrap(),
        None,
        "and gone for good"
    );
    tx.commit().await.unwrap();
    f.raw.finish().await;
}

async fn a_build_taken_over_by_a_sweeper_can_no_longer_renew_write_fail_or_finish(f: Fixture) {
    use registervakt::store::extracts::{self as rows, FinishedBuild};
    let now = 1_800_000_000_i64;
    let id = "0123456789abcdef0123456789abcdef";
    let mut tx = f.store.begin().await.unwrap();
    registervakt::store::accounts::insert_user(&mut tx, "u1", "anna", "Anna", now)
        .await
        .unwrap();
    insert_extract(&mut tx, id, "u1", 0, now).await;
    let first = rows::start_build(&mut tx, id, now, now + 120)
        .await
        .unwrap();
    assert_eq!(first, Some(1));
    assert_eq!(
        rows::start_build(&mut tx, id, now, now + 120)
            .await
            .unwrap(),
        None,
        "a build starts once"
    );
    tx.commit().await.unwrap();
    // The first builder stalls past its lease; a sweeper takes the build over and writes.
    let later = now + 1000;
    let second = f
        .store
        .claim_stale_build(id, later, later + 120)
        .await
        .unwrap();
    assert_eq!(second, Some(2));
    let mut tx = f.store.begin().await.unwrap();
    rows::insert_chunks(&mut tx, id, &[(0, b"second".to_vec())])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // The first builder wakes up: every write it tries is refused and changes nothing.
    let finished = FinishedBuild {
        row_count: 1,
        chunk_count: 1,
        key_id: "k",
        wrapped_key: b"first",
        live_at: later,
        expires_at: later + 3600,
    };
    let mut tx = f.store.begin().await.unwrap();
    assert!(
        !rows::renew_build_lease(&mut tx, id, 1, later + 500)
            .await
            .unwrap()
    );
    assert!(!rows::finish_build(&mut tx, id, 1, &finished).await.unwrap());
    assert!(
        !rows::fail_build(&mut tx, id, 1, "store_error", later)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let row = f.store.find_extract(id).await.unwrap().unwrap();
    assert_eq!(
        (row.state.as_str(), row.build_attempts, row.lease_until),
        ("building", 2, Some(later + 120)),
        "the take-over's lease stands"
    );
    assert_eq!(
        f.store.find_chunks(id, 0, 10).await.unwrap(),
        vec![(0, b"second".to_vec())],
        "the take-over's chunks stand"
    );
    // The take-over's own writes go through, and once renewed nobody can take it over.
    let mut tx = f.store.begin().await.unwrap();
    assert!(
        rows::renew_build_lease(&mut tx, id, 2, later + 600)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(
        f.store
            .claim_stale_build(id, later + 500, later + 620)
            .await
            .unwrap(),
        None
    );
    let mut tx = f.store.begin().await.unwrap();
    assert!(rows::finish_build(&mut tx, id, 2, &finished).await.unwrap());
    tx.commit().await.unwrap();
    let row = f.store.find_extract(id).await.unwrap().unwrap();
    assert_eq!(row.state.as_str(), "live");
    f.raw.finish().await;
}

/// An extract's people come back named, verdicts in the order they were given (then by
/// approver), each with its own approver's name; a requester with no account has no name, and
/// the hand-over is the extract's own.
async fn an_extracts_people_are_read_with_their_names(f: Fixture) {
    use registervakt::store::extracts::{self as rows, DecisionRow};
    use registervakt::store::handovers::{self, NewHandover};
    let now = 1_800_000_000_i64;
    let mut tx = f.store.begin().await.unwrap();
    for (id, name) in [("u1", "anna"), ("u2", "bo"), ("u3", "cecilia")] {
        registervakt::store::accounts::insert_user(&mut tx, id, name, name, now)
            .await
            .unwrap();
    }
    for id in ["e1", "e2"] {
        insert_extract(&mut tx, id, "u1", 2, now).await;
    }
    // cecilia decides first, then bo; another extract's verdict must not show.
    for (extract, approver, verdict, at) in [
        ("e1", "u3", "approve", now + 5),
        ("e1", "u2", "deny", now + 9),
        ("e2", "u2", "approve", now + 1),
    ] {
        let decision = DecisionRow {
            extract_id: extract.into(),
            approver_id: approver.into(),
            verdict: verdict.into(),
            request_hash: "r".into(),
            comment: format!("{approver} on {extract}"),
            decided_at: at,
        };
        assert!(rows::insert_decision(&mut tx, &decision).await.unwrap());
    }
    handovers::insert_handover(
        &mut tx,
        &NewHandover {
            extract_id: "e2",
            processor_id: "printer",
            processor_name: "Tryckeriet",
            contact: "tryck@example.org",
            agreement_ref: "PUB-1",
            agreement_ends: "2030-01-01",
            link_hash: "h",
            offered_at: now,
            link_expires_at: now + 60,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let e1 = f.store.find_extract_people("e1", "u1").await.unwrap();
    let named: Vec<_> = e1
        .decisions
        .iter()
        .map(|(d, name)| {
            (
                d.approver_id.as_str(),
                d.verdict.as_str(),
                d.comment.as_str(),
                name.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        named,
        vec![
            ("u3", "approve", "u3 on e1", Some("cecilia")),
            ("u2", "deny", "u2 on e1", Some("bo")),
        ]
    );
    assert_eq!(e1.requester.as_deref(), Some("anna"));
    assert!(e1.handover.is_none());

    let e2 = f.store.find_extract_people("e2", "nobody").await.unwrap();
    assert_eq!(e2.decisions.len(), 1);
    assert_eq!(e2.decisions[0].1.as_deref(), Some("bo"));
    assert_eq!(
        e2.requester, None,
        "a user id without an account has no name"
    );
    assert_eq!(
        e2.handover.map(|h| h.processor_name),
        Some("Tryckeriet".to_owned())
    );
    f.raw.finish().await;
}

// ---- SQLite (always) ---------------------------------------------------------------

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::sqlite().await).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
                async fn $name() {
                    super::$name(super::postgres().await).await;
                }
            )*
        }
    };
}

suite!(
    migrations_are_idempotent_and_settings_hold,
    an_event_rolls_back_with_its_transaction,
    audit_rows_cannot_be_changed_or_removed,
    the_database_refuses_an_entry_that_does_not_continue_the_chain,
    twenty_parallel_appends_form_one_chain,
    appends_at_once_share_commits_and_each_learns_its_own_place,
    a_failed_group_commit_fails_every_entry_and_stores_none,
    verify_names_a_changed_entry,
    verify_names_a_deleted_entry,
    verify_names_an_inserted_entry,
    verify_names_swapped_entries,
    a_pending_oidc_login_is_taken_once_and_not_after_it_expires,
    a_build_taken_over_by_a_sweeper_can_no_longer_renew_write_fail_or_finish,
    the_ledger_has_no_index_across_extracts,
    the_ledger_migration_files_existing_rows_by_member,
    an_extracts_people_are_read_with_their_names,
);

#[tokio::test]
async fn sqlite_store_refuses_to_start_when_not_initialised() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(&Options {
        location: StoreLocation::Sqlite(dir.path().join("registervakt.db")),
        busy_timeout: Duration::from_secs(1),
        max_connections: 1,
        create: false,
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("registervakt init"), "{err}");
}

#[tokio::test]
async fn sqlite_store_files_are_in_wal_mode_with_full_sync() {
    let f = sqlite().await;
    let Raw::Sqlite(pool) = &f.raw else {
        unreachable!()
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // The broker's own connections: asserted by check_settings (synchronous=FULL, secure_delete).
    f.store.check_settings().await.unwrap();
}
