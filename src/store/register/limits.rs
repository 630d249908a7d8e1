//! Time limits the register's database enforces itself, so a statement the broker gave up on
//! does not go on running there.
//!
//! Guarantees:
//! - Every PostgreSQL and MariaDB connection the pool hands out carries the statement limit as
//!   a session setting (`statement_timeout`, `max_statement_time`), set before its first use;
//!   a connection that refuses the setting is never handed out.
//! - A build's one streaming read carries the longer build limit on that statement only
//!   (`SET LOCAL` inside its own read transaction on PostgreSQL, `SET STATEMENT … FOR` on
//!   MariaDB): it never stays on a pooled connection.
//! - A SQLite connection is armed with a progress handler before each statement (each page of
//!   a paged read): SQLite interrupts the statement once its deadline passes.
//! - A statement cancelled for its limit becomes [`Error::Cancelled`], whatever the backend.
//!
//! Must never: format anything but a number from the config into a setting.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool};

use super::Error;

/// How long the register may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Any one statement (a count, a survey, a page of a SQLite build).
    pub statement: Duration,
    /// A build's one streaming read on PostgreSQL and MariaDB.
    pub build: Duration,
}

/// The defaults of `register.limits` (a config test holds them equal).
impl Default for Limits {
    fn default() -> Limits {
        Limits {
            statement: Duration::from_secs(20),
            build: Duration::from_secs(600),
        }
    }
}

impl Limits {
    /// The PostgreSQL setting, in milliseconds (`0` would mean no limit: never sent).
    pub(super) fn postgres_statement(self) -> String {
        format!("SET statement_timeout = {}", millis(self.statement))
    }

    pub(super) fn postgres_build(self) -> String {
        format!("SET LOCAL statement_timeout = {}", millis(self.build))
    }

    /// The MariaDB setting, in seconds (fractions allowed; `0` would mean no limit).
    pub(super) fn mariadb_statement(self) -> String {
        format!(
            "SET SESSION max_statement_time = {}",
            seconds(self.statement)
        )
    }

    /// The prefix that gives one MariaDB statement the build limit.
    pub(super) fn mariadb_build_prefix(self) -> String {
        format!(
            "SET STATEMENT max_statement_time = {} FOR ",
            seconds(self.build)
        )
    }
}

fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64().max(0.001))
}

/// SQLite calls the progress handler about every this many virtual-machine steps: well under
/// a millisecond of work, so a deadline is kept to within a few milliseconds.
const PROGRESS_STEPS: i32 = 10_000;

/// Gives `conn`'s next statements until `limit` from now; SQLite then interrupts them.
pub(super) async fn arm(conn: &mut SqliteConnection, limit: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + limit;
    let mut handle = conn.lock_handle().await.map_err(super::query_error)?;
    handle.set_progress_handler(PROGRESS_STEPS, move || Instant::now() < deadline);
    Ok(())
}

/// A pooled SQLite connection armed for one statement.
pub(super) async fn armed(
    pool: &SqlitePool,
    limit: Duration,
) -> Result<PoolConnection<Sqlite>, Error> {
    let mut conn = pool.acquire().await.map_err(super::query_error)?;
    arm(&mut conn, limit).await?;
    Ok(conn)
}

/// Whether the database cancelled the statement for its time limit: PostgreSQL's
/// `query_canceled` (57014), MariaDB's `ER_STATEMENT_TIMEOUT` (1969), SQLite's
/// `SQLITE_INTERRUPT` (9), which only the progress handler causes here.
pub(super) fn was_cancelled(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return my.number() == 1969;
    }
    matches!(db.code().as_deref(), Some("57014" | "9"))
}

#[cfg(test)]
mod tests;
