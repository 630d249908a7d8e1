//! The broker's own database, and the only module that speaks SQL (`sqlx`).
//!
//! Backends: SQLite (default; one file in the data dir) and PostgreSQL (several brokers on
//! one database). The same migration versions exist in `migrations/sqlite` and
//! `migrations/postgres`.
//!
//! Guarantees:
//! - SQLite runs with `journal_mode=WAL`, `synchronous=FULL` (a committed audit event survives
//!   power loss, SECURITY_BAR E2), `foreign_keys=ON`, `secure_delete=ON` (deleted pages are
//!   overwritten, SP 800-88) and a busy timeout; [`Store::check_settings`] asserts this at start.
//! - Write transactions on SQLite start with `BEGIN IMMEDIATE`, so a read-then-write
//!   transaction never fails with a snapshot conflict under WAL's single writer.
//! - Every query is parameterised; nothing here formats user input into SQL text.
//!
//! `register` and `register_writer` hold the SQL for the party's membership register, which is
//! a different database: read-only for the broker, written only by the demo and tests.

pub mod accounts;
pub mod audit;
pub mod calls;
pub mod extracts;
pub mod followup;
pub mod handovers;
pub mod notices;
pub mod passkeys;
pub mod policy;
pub mod proposals;
mod readers;
pub mod register;
pub mod register_writer;
pub mod roles;
pub mod samples;
#[cfg(feature = "bench")]
pub mod scratch;
pub mod sessions;
pub mod shown;
pub(crate) mod sqlite_heap;
pub mod trace;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::config::StoreLocation;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the store's data directory {path} {problem}")]
    DataDir { path: PathBuf, problem: String },
    #[error("cannot open the store ({backend}): {cause}")]
    Connect {
        backend: &'static str,
        cause: String,
    },
    #[error("the store is not initialised; run `registervakt init --config FILE` first")]
    NotInitialised,
    #[error("the store's setting {name} is {actual}, expected {expected}")]
    Setting {
        name: &'static str,
        expected: String,
        actual: String,
    },
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the store holds inconsistent data: {0}")]
    Corrupt(String),
    /// A group commit of audit entries failed (every entry in it); the cause, as text.
    #[error("cannot append to the audit log: {0}")]
    Append(String),
}

impl Error {
    /// The store was busy, not broken: another writer held the lock past
    /// `store.busy_timeout_ms` (SQLite `SQLITE_BUSY`, "database is locked", and
    /// `SQLITE_LOCKED`, with their extended codes), or PostgreSQL gave up on a lock, a
    /// deadlock or a serialisation conflict (SQLSTATE 55P03, 40P01, 40001). In each case the
    /// transaction was rolled back whole, so running it again from its start is safe.
    pub fn is_busy(&self) -> bool {
        let Error::Database(sqlx::Error::Database(e)) = self else {
            return false;
        };
        let Some(code) = e.code() else {
            return false;
        };
        if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
            // Extended result codes keep the primary code in the low byte (sqlite.org/rescode.html).
            const SQLITE_BUSY: i32 = 5;
            const SQLITE_LOCKED: i32 = 6;
            return code
                .parse::<i32>()
                .is_ok_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED));
        }
        matches!(&*code, "55P03" | "40P01" | "40001")
    }
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct Options {
    pub location: StoreLocation,
    pub busy_timeout: Duration,
    pub max_connections: u32,
    /// `init` and `demo` create the SQLite file; `serve` refuses a missing store.
    pub create: bool,
}

/// A handle to the broker's store. Cheap to clone (pools are reference-counted).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// SQLite only: connections for the reads every request makes ([`readers`]).
    readers: Option<std::sync::Arc<readers::Readers>>,
    /// Appends waiting to share one commit ([`Store::append_audit_grouped`]).
    audit_queue: std::sync::Arc<audit::AppendQueue>,
    /// How long a role stays in force after it was granted or last confirmed, in seconds
    /// (`[roles] recertify_days`): every read of the roles in force leaves out the older ones.
    role_term_secs: i64,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A write transaction. Domain code passes `&mut Tx` to the store functions (and to
/// `audit::record`) so that a change and its audit event commit together or not at all.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> Result<(), Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), Error> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// Runs the same SQL text against whichever backend the store has. SQLite accepts the
/// `$1` placeholders PostgreSQL uses, so most statements are written once.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

/// Same as `on_pool!`, for a transaction.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_pool;
pub(crate) use on_tx;
pub(crate) use readers::on_reader;

impl Store {
    pub async fn open(opts: &Options) -> Result<Store, Error> {
        let mut readers = None;
        let backend = match &opts.location {
            StoreLocation::Sqlite(path) => {
                let (pool, connect) = open_sqlite(path, opts).await?;
                readers = Some(std::sync::Arc::new(readers::Readers::new(&connect)));
                Backend::Sqlite(pool)
            }
            StoreLocation::Postgres(url) => {
                let connect = PgConnectOptions::from_str(url.expose_secret()).map_err(|e| {
                    Error::Connect {
                        backend: "postgres",
                        cause: short_cause(&e),
                    }
                })?;
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(connect)
                    .await
                    .map_err(|e| Error::Connect {
                        backend: "postgres",
                        cause: short_cause(&e),
                    })?;
                Backend::Postgres(pool)
            }
        };
        Ok(Store {
            backend,
            readers,
            audit_queue: std::sync::Arc::default(),
            role_term_secs: crate::config::RolesConfig::default().term_secs(),
        })
    }

    /// The same store, whose reads of the roles in force count a role as suspended once
    /// `secs` have passed since it was granted or last confirmed (`[roles] recertify_days`).
    pub fn with_role_term(mut self, secs: i64) -> Store {
        self.role_term_secs = secs;
        self
    }

    /// How long a role stays in force after it was granted or last confirmed, in seconds.
    pub fn role_term_secs(&self) -> i64 {
        self.role_term_secs
    }

    /// The oldest confirmation time still in force at `now` (Unix seconds): a role whose
    /// `confirmed_at` is at or before it is suspended.
    pub(crate) fn roles_in_force_after(&self, now: i64) -> i64 {
        now.saturating_sub(self.role_term_secs)
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Applies pending migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), Error> {
        match &self.backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Fails unless every migration this binary knows has been applied.
    pub async fn ensure_migrated(&self) -> Result<(), Error> {
        let migrator = match &self.backend {
            Backend::Sqlite(_) => &SQLITE_MIGRATIONS,
            Backend::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        let latest = migrator.iter().map(|m| m.version).max();
        let applied: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await
                .ok()
                .flatten()
        });
        match (applied, latest) {
            (Some(a), Some(l)) if a >= l => Ok(()),
            _ => Err(Error::NotInitialised),
        }
    }

    /// Asserts the durability and privacy settings the store promises (see the module header).
    pub async fn check_settings(&self) -> Result<(), Error> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Ok(());
        };
        let mut conn = pool.acquire().await?;
        let expect = [
            ("journal_mode", "PRAGMA journal_mode", "wal"),
            ("synchronous", "PRAGMA synchronous", "2"),
            ("foreign_keys", "PRAGMA foreign_keys", "1"),
            ("secure_delete", "PRAGMA secure_delete", "1"),
        ];
        for (name, sql, want) in expect {
            let actual = pragma_text(&mut conn, sql).await?;
            if !actual.eq_ignore_ascii_case(want) {
                return Err(Error::Setting {
                    name,
                    expected: want.to_owned(),
                    actual,
                });
            }
        }
        let busy = pragma_text(&mut conn, "PRAGMA busy_timeout").await?;
        if busy.parse::<i64>().unwrap_or(0) <= 0 {
            return Err(Error::Setting {
                name: "busy_timeout",
                expected: "> 0".into(),
                actual: busy,
            });
        }
        Ok(())
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx, Error> {
        Ok(match &self.backend {
            Backend::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), Error> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes the pools, letting in-flight work finish (graceful shutdown).
    pub async fn close(&self) {
        if let Some(readers) = &self.readers {
            readers.close().await;
        }
        on_pool!(self, pool => pool.close().await);
    }
}

#[cfg(test)]
impl Store {
    /// A new, migrated SQLite store at `path` with a pool of two connections (unit tests).
    pub(crate) async fn scratch(path: PathBuf) -> Store {
        let store = Store::open(&Options {
            location: StoreLocation::Sqlite(path),
            busy_timeout: Duration::from_secs(5),
            max_connections: 2,
            create: true,
        })
        .await
        .unwrap();
        store.migrate().await.unwrap();
        store
    }
}

/// SQLite page cache per connection, in KiB when negative: SQLite's own default of 2 MiB.
/// Every write is appended in key order now (the ledger has no index across extracts), so a
/// larger cache bought nothing and cost memory per connection (see BENCHMARKS.md).
const STORE_CACHE_PAGES: &str = "-2048";

/// The store's pool, and how its connections are opened (for the [`readers`]).
async fn open_sqlite(
    path: &std::path::Path,
    opts: &Options,
) -> Result<(SqlitePool, SqliteConnectOptions), Error> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        return Err(Error::DataDir {
            path: dir.to_path_buf(),
            problem: "does not exist; create it (mode 0700) or fix store.data_dir".into(),
        });
    }
    if !opts.create && !path.is_file() {
        return Err(Error::NotInitialised);
    }
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(opts.create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(opts.busy_timeout)
        .pragma("secure_delete", "ON")
        .pragma("cache_size", STORE_CACHE_PAGES);
    // No ping before handing out a connection: a SQLite connection is a file in this process
    // with nothing between that could drop it, and every connection is checked as it comes
    // back to the pool (`close_if_stuck_in_transaction`, then sqlx's own ping, either of which
    // closes it). The ping cost a hand-off to the connection's worker thread per acquire, about
    // ten per API request.
    let pool = SqlitePoolOptions::new()
        .max_connections(opts.max_connections)
        .acquire_timeout(opts.busy_timeout + Duration::from_secs(1))
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(sqlite_heap::keep_freed_memory(conn)))
        .after_release(|conn, _| Box::pin(close_if_stuck_in_transaction(conn)))
        .connect_with(connect.clone())
        .await
        .map_err(|e| Error::Connect {
            backend: "sqlite",
            cause: short_cause(&e),
        })?;
    Ok((pool, connect))
}

/// Whether a connection coming back to the pool may be used again.
///
/// A COMMIT that fails for want of disk space (`SQLITE_FULL`, also `SQLITE_IOERR`) is rolled
/// back by SQLite itself. sqlx 0.8 still counts that transaction as open: the ROLLBACK it
/// sends when the transaction is dropped fails ("no transaction is active"), and from then on
/// the connection refuses every `BEGIN IMMEDIATE` ("non-zero transaction depth"), so the
/// broker would answer 503 for ever after the disk has room again. A connection left like
/// that is closed instead (the pool opens a fresh one), and the store recovers by itself.
async fn close_if_stuck_in_transaction(
    conn: &mut sqlx::SqliteConnection,
) -> Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    if conn.is_in_transaction() {
        // The rollback queued when the transaction was dropped runs before the ping.
        conn.ping().await?;
    }
    let stuck = conn.is_in_transaction();
    if stuck {
        tracing::warn!("closing a store connection left inside a failed transaction");
    }
    Ok(!stuck)
}

async fn pragma_text(
    conn: &mut sqlx::pool::PoolConnection<Sqlite>,
    sql: &'static str,
) -> Result<String, Error> {
    use sqlx::Row;
    let row = sqlx::query(sql).fetch_one(&mut **conn).await?;
    let text = row
        .try_get::<String, _>(0)
        .or_else(|_| row.try_get::<i64, _>(0).map(|v| v.to_string()))?;
    Ok(text)
}

/// The first line of a driver error, without the connection string (which may hold a password).
fn short_cause(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("unknown error");
    line.chars().take(200).collect()
}
