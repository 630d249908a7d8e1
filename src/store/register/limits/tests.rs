//! A register view made slow on purpose: the database itself cancels the statement at its
//! limit (PostgreSQL's `pg_stat_activity` and MariaDB's process list show it gone), and a
//! build's streaming read is given its longer limit on that statement only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use secrecy::SecretString;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Executor};

use super::super::sql::{ColumnKind, RowQuery};
use super::super::{Backend, Error, Limits, RegisterDb};
use crate::store::register_writer;

/// Long enough that a test which waited for it would fail on its own bound.
const SLOW_SECS: f64 = 100.0;

/// A table of `members` synthetic members and a view on it whose every row costs `per_row`
/// seconds of database time (SQLite: a recursive count of about that long, once).
struct Slow {
    url: String,
    table: String,
    view: String,
    _dir: Option<tempfile::TempDir>,
}

impl Slow {
    async fn new(backend: Backend, members: u64, per_row: f64) -> Slow {
        let tag = format!("{:012x}", rand::random::<u64>() >> 16);
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                (
                    format!("sqlite:{}", dir.path().join("r.db").display()),
                    Some(dir),
                )
            }
            Backend::Postgres => (env("REGISTERVAKT_TEST_POSTGRES_URL"), None),
            Backend::MariaDb => (env("REGISTERVAKT_TEST_MYSQL_URL"), None),
        };
        let (table, view) = (format!("rv_slow_{tag}"), format!("rv_slow_view_{tag}"));
        let people = crate::synthetic::generate(members, 11);
        register_writer::write_register(&url, &table, people)
            .await
            .unwrap();
        let create = match backend {
            Backend::Sqlite => {
                // About 30 million steps of a recursive count per evaluation: far past a
                // second, however fast the machine.
                let steps = (per_row * 3.0e6) as u64;
                format!(
                    "CREATE VIEW {view} AS SELECT t.* FROM {table} t WHERE (WITH RECURSIVE \
                     c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {steps}) \
                     SELECT max(x) FROM c) > 0"
                )
            }
            Backend::Postgres => format!(
                "CREATE VIEW {view} AS SELECT t.* FROM {table} t WHERE pg_sleep({per_row})::text = ''"
            ),
            Backend::MariaDb => format!(
                "CREATE VIEW {view} AS SELECT t.* FROM {table} t WHERE SLEEP({per_row}) = 0"
            ),
        };
        execute(&url, &create).await;
        Slow {
            url,
            table,
            view,
            _dir: dir,
        }
    }

    async fn open(&self, limits: Limits) -> RegisterDb {
        let url = SecretString::from(self.url.clone());
        RegisterDb::connect(&url, Duration::from_secs(5), 2, limits)
            .await
            .unwrap()
    }

    /// Statements on the view still running in the database (never counted on SQLite: a
    /// statement there runs in this process and ends with its call).
    async fn running(&self) -> i64 {
        let like = format!("%{}%", self.view);
        match Backend::from_url(&self.url).unwrap() {
            Backend::Sqlite => 0,
            Backend::Postgres => {
                let mut conn = PgConnectOptions::from_str(&self.url)
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
                     AND query LIKE $1 AND pid <> pg_backend_pid()",
                )
                .bind(like)
                .fetch_one(&mut conn)
                .await
                .unwrap()
            }
            Backend::MariaDb => {
                let mut conn = MySqlConnectOptions::from_str(&self.url)
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                sqlx::query_scalar(
                    "SELECT CAST(count(*) AS SIGNED) FROM information_schema.processlist \
                     WHERE command = 'Query' AND info LIKE ? AND id <> CONNECTION_ID()",
                )
                .bind(like)
                .fetch_one(&mut conn)
                .await
                .unwrap()
            }
        }
    }

    async fn drop(self) {
        execute(&self.url, &format!("DROP VIEW IF EXISTS {}", self.view)).await;
        if !self.url.starts_with("sqlite:") {
            register_writer::drop_table(&self.url, &self.table)
                .await
                .unwrap();
        }
    }
}

fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("set {var} to run this test"))
}

async fn execute(url: &str, statement: &str) {
    match Backend::from_url(url).unwrap() {
        Backend::Sqlite => {
            let mut c = SqliteConnectOptions::from_str(url)
                .unwrap()
                .connect()
                .await
                .unwrap();
            c.execute(statement).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = PgConnectOptions::from_str(url)
                .unwrap()
                .connect()
                .await
                .unwrap();
            c.execute(statement).await.unwrap();
        }
        Backend::MariaDb => {
            let mut c = MySqlConnectOptions::from_str(url)
                .unwrap()
                .connect()
                .await
                .unwrap();
            c.execute(statement).await.unwrap();
        }
    }
}

fn limits(statement_secs: u64, build_secs: u64) -> Limits {
    Limits {
        statement: Duration::from_secs(statement_secs),
        build: Duration::from_secs(build_secs),
    }
}

fn district_ids(view: &str) -> RowQuery {
    RowQuery {
        table: view.to_owned(),
        columns: vec![("medlemsnr".to_owned(), ColumnKind::Text)],
        conditions: Vec::new(),
        order_by: "medlemsnr".to_owned(),
    }
}

/// A count on a view that would take 100 s is cancelled by the database at the 1 s limit,
/// and is gone from the database's list of running statements right after.
async fn a_slow_statement_is_cancelled_in_the_database_at_its_limit(backend: Backend) {
    let members = if backend == Backend::Sqlite { 1 } else { 200 };
    let per_row = SLOW_SECS / members as f64;
    let slow = Slow::new(backend, members, per_row).await;
    let db = slow.open(limits(1, 600)).await;
    let started = Instant::now();
    let counted = tokio::time::timeout(
        Duration::from_secs(10),
        db.count_by(&slow.view, "distrikt", &[]),
    )
    .await
    .expect("the register gave up by itself, long before the test's own bound");
    let took = started.elapsed();
    assert!(matches!(counted, Err(Error::Cancelled)), "{counted:?}");
    assert!(
        took >= Duration::from_millis(900),
        "not before the limit: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "at the limit: {took:?}");
    let gone_by = Instant::now() + Duration::from_secs(2);
    while slow.running().await > 0 {
        assert!(
            Instant::now() < gone_by,
            "the statement is still running in the database"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let msg = Error::Cancelled.to_string();
    assert!(
        msg.contains("register.limits") && !msg.contains(&slow.view),
        "{msg}"
    );
    slow.drop().await;
}

/// A build's read gets the build limit on its own statement: a 2 s view the statement limit
/// (1 s) cancels for a count streams whole under a 10 s build limit, and is cancelled under
/// a 1 s one; the count after the build still has the short limit (it never stays on the
/// pooled connection).
async fn a_builds_read_has_its_own_longer_limit(backend: Backend) {
    let slow = Slow::new(backend, 4, 0.5).await;
    let view = slow.view.clone();
    let db = slow.open(limits(1, 10)).await;
    let rows: Vec<_> = db
        .rows(district_ids(&view))
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    let counted = db.count_by(&view, "distrikt", &[]).await;
    assert!(matches!(counted, Err(Error::Cancelled)), "{counted:?}");
    let short = slow.open(limits(1, 1)).await;
    let read: Result<Vec<_>, _> = short.rows(district_ids(&view)).unwrap().try_collect().await;
    assert!(matches!(read, Err(Error::Cancelled)), "{read:?}");
    slow.drop().await;
}

#[tokio::test]
async fn sqlite_a_slow_statement_is_cancelled_by_the_progress_handler_at_its_limit() {
    a_slow_statement_is_cancelled_in_the_database_at_its_limit(Backend::Sqlite).await;
}

/// SQLite reads a build in pages, each a statement under the statement limit.
#[tokio::test]
async fn sqlite_each_page_of_a_build_is_cancelled_at_the_statement_limit() {
    let slow = Slow::new(Backend::Sqlite, 1, SLOW_SECS).await;
    let db = slow.open(limits(1, 600)).await;
    let started = Instant::now();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        db.rows(district_ids(&slow.view))
            .unwrap()
            .try_collect::<Vec<_>>(),
    )
    .await
    .expect("the page was interrupted by itself");
    assert!(matches!(read, Err(Error::Cancelled)), "{read:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    slow.drop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn postgres_a_slow_statement_is_cancelled_in_the_database_at_its_limit() {
    a_slow_statement_is_cancelled_in_the_database_at_its_limit(Backend::Postgres).await;
}

#[tokio::test]
#[ignore = "needs MariaDB (REGISTERVAKT_TEST_MYSQL_URL)"]
async fn mariadb_a_slow_statement_is_cancelled_in_the_database_at_its_limit() {
    a_slow_statement_is_cancelled_in_the_database_at_its_limit(Backend::MariaDb).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (REGISTERVAKT_TEST_POSTGRES_URL)"]
async fn postgres_a_builds_read_has_its_own_longer_limit() {
    a_builds_read_has_its_own_longer_limit(Backend::Postgres).await;
}

#[tokio::test]
#[ignore = "needs MariaDB (REGISTERVAKT_TEST_MYSQL_URL)"]
async fn mariadb_a_builds_read_has_its_own_longer_limit() {
    a_builds_read_has_its_own_longer_limit(Backend::MariaDb).await;
}
