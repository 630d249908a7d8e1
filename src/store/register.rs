//! The read-only connection to a party's member register (SQLite, PostgreSQL or MariaDB).
//!
//! Guarantees: every connection is read-only at the session level (SQLite opened with
//! `SQLITE_OPEN_READONLY`, PostgreSQL `SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`,
//! MariaDB `SET SESSION TRANSACTION READ ONLY`) and this module only issues SELECTs (and the
//! catalogue look-ups and privilege checks that are reads too, the session's read-only and
//! time-limit settings, and the read transactions a paged SQLite read and a PostgreSQL build
//! run in). Filter values are always bound parameters (see
//! [`sql`]). Errors never contain the URL's password or member data: a location is shown as
//! `host:port` or the SQLite path.
//!
//! Every statement runs under a time limit the database enforces ([`limits`]): the
//! statement limit for everything, a longer one for a build's one streaming read on PostgreSQL
//! and MariaDB (SQLite reads a build in pages, each a statement under the statement limit). A
//! statement past its limit is cancelled in the database and reported as [`Error::Cancelled`].
//!
//! Must never: write to the register, log a row, or put a value read from the register in
//! an error message.

mod connect;
mod limits;
mod pages;
mod sql;

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use futures::future::Either;
use futures::stream::{self, BoxStream};
use secrecy::SecretString;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{Database, Encode, QueryBuilder, Row, Type};

pub(crate) use connect::{describe_location, redact, short_cause};
pub use limits::Limits;
#[cfg(any(test, feature = "bench"))]
pub use sql::render_for_cli;
pub use sql::{ColumnKind, Condition, CountQuery, RowQuery, Value};
use sql::{Key, Piece, Sql};

/// The longest identifier PostgreSQL keeps without truncating (NAMEDATALEN − 1); MariaDB allows 64.
const MAX_IDENTIFIER_LEN: usize = 63;

/// `true` when `s` is `[A-Za-z_][A-Za-z0-9_]{0,62}`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well
        && s.len() <= MAX_IDENTIFIER_LEN
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One row's values as normalised text, in the order of `RowQuery::columns`.
pub type TextRow = Vec<Option<String>>;
/// The stream [`RegisterDb::rows`] returns.
pub type TextRows = BoxStream<'static, Result<TextRow, Error>>;
/// What the database task sends: a batch of rows, or the error that ended the stream.
type Batch = Result<Vec<TextRow>, Error>;

/// Rows travel from the database task to the caller in batches of this many (a SQLite page
/// travels whole, [`sql::PAGE_ROWS`]).
const ROW_BATCH: usize = 256;
/// Batches buffered between the database task and the caller (back-pressure beyond this).
const BATCHES_IN_FLIGHT: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("register.url has an unsupported scheme; use sqlite:PATH, postgres://… or mysql://…")]
    UnsupportedScheme,
    #[error("cannot reach the member register ({backend} at {location}): {cause}")]
    Connect {
        backend: &'static str,
        location: String,
        cause: String,
    },
    #[error("the member register query failed: {0}")]
    Query(String),
    /// The database cancelled a statement that ran past its limit (`register.limits`).
    #[error(
        "the member register ran a statement past its time limit and cancelled it; raise \
         register.limits or give the register's view the indexes docs/operations.md names"
    )]
    Cancelled,
    #[error("column `{column}` holds a value that is not a {expected}")]
    BadValue {
        column: String,
        expected: &'static str,
    },
}

/// The kind of database behind the register; decides quoting and casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MariaDb => "mariadb",
        }
    }

    /// The backend named by a URL's scheme.
    pub fn from_url(url: &str) -> Result<Backend, Error> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") => Ok(Backend::Postgres),
            Some("mysql" | "mariadb") => Ok(Backend::MariaDb),
            _ => Err(Error::UnsupportedScheme),
        }
    }
}

#[derive(Debug, Clone)]
enum Pools {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// Runs the same code against whichever pool is open; each arm is type-checked on its own.
/// On SQLite `$pool` is a connection armed with the statement limit ([`limits::armed`]); the
/// other pools carry the limit on every connection.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pools {
            Pools::Sqlite(pool) => {
                let mut conn = limits::armed(pool, $db.limits.statement).await?;
                let $pool = &mut *conn;
                $body
            }
            Pools::Postgres($pool) => $body,
            Pools::MySql($pool) => $body,
        }
    };
}

/// A read-only pool on the member register. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RegisterDb {
    pools: Pools,
    backend: Backend,
    location: String,
    sqlite_file: Option<PathBuf>,
    limits: Limits,
}

/// How the members matching a query split up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountResult {
    pub included: u64,
    pub excluded_protected: u64,
    pub excluded_no_consent: u64,
}

/// A district as [`RegisterDb::survey`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    /// Whether the district holds any row, whatever the rest of the conditions say.
    pub district_held: bool,
    pub counts: CountResult,
    /// Whether the district holds each value asked about, in the order asked.
    pub held: Vec<bool>,
}

/// How a flag column is filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlagCensus {
    pub explicitly_true: u64,
    /// NULL or a value that reads as neither true nor false.
    pub unknown: u64,
}

impl RegisterDb {
    /// Opens a read-only pool whose statements run under `limits`, and proves it works with
    /// one real connection, so an unreachable register is reported with its cause rather than
    /// a bare pool timeout.
    pub async fn connect(
        url: &SecretString,
        timeout: Duration,
        max_connections: u32,
        limits: Limits,
    ) -> Result<RegisterDb, Error> {
        connect::open(url, timeout, max_connections, limits).await
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `host:port`, or the SQLite path; never the credentials.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// `SELECT 1`, for readiness checks.
    pub async fn ping(&self) -> Result<(), Error> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ()).map_err(query_error)
        })
    }

    /// Reads at most one row of `columns` from `table` and drops it unread, for readiness: a
    /// `SELECT 1` answers while a revoked grant or a broken view fails every extract, and this
    /// does not. `LIMIT 1` without `ORDER BY`, so the database may stop at the first row it
    /// finds. Nothing read leaves this function (an error carries the database's cause only).
    pub async fn read_one_row(&self, table: &str, columns: &[&str]) -> Result<(), Error> {
        let backend = self.backend;
        let selected: Vec<String> = columns.iter().map(|c| backend.quote(c)).collect();
        let mut statement = Sql::default();
        statement.push(&format!(
            "SELECT {} FROM {} LIMIT 1",
            selected.join(", "),
            backend.quote_table(table)
        ));
        on_pool!(self, pool => {
            builder(statement).build().fetch_optional(pool).await.map(|_| ()).map_err(query_error)
        })
    }

    /// The columns of `table` in order, or `None` when there is no such table or view.
    pub async fn table_columns(&self, table: &str) -> Result<Option<Vec<String>>, Error> {
        let (schema, name) = match table.split_once('.') {
            Some((s, n)) => (Some(s.to_owned()), n.to_owned()),
            None => (None, table.to_owned()),
        };
        let columns: Vec<String> = match &self.pools {
            Pools::Sqlite(pool) => {
                let sql =
                    "SELECT name FROM pragma_table_info(?1, COALESCE(?2, 'main')) ORDER BY cid";
                let mut conn = limits::armed(pool, self.limits.statement).await?;
                sqlx::query_scalar(sql)
                    .bind(name)
                    .bind(schema)
                    .fetch_all(&mut *conn)
                    .await
            }
            Pools::Postgres(pool) => {
                let sql = "SELECT column_name::text FROM information_schema.columns \
                           WHERE table_schema::text = COALESCE($1::text, current_schema()::text) \
                           AND table_name::text = $2 ORDER BY ordinal_position";
                sqlx::query_scalar(sql)
                    .bind(schema)
                    .bind(name)
                    .fetch_all(pool)
                    .await
            }
            Pools::MySql(pool) => {
                let sql = "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                           WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                           ORDER BY ordinal_position";
                sqlx::query_scalar(sql)
                    .bind(schema)
                    .bind(name)
                    .fetch_all(pool)
                    .await
            }
        }
        .map_err(query_error)?;
        Ok((!columns.is_empty()).then_some(columns))
    }

    /// Counts included / excluded members in one statement.
    pub async fn count(&self, q: &CountQuery) -> Result<CountResult, Error> {
        let statement = sql::count_sql(self.backend, q);
        let (a, b, c): (i64, i64, i64) = on_pool!(self, pool => {
            builder(statement).build_query_as().fetch_one(pool).await.map_err(query_error)?
        });
        Ok(CountResult {
            included: to_u64(a),
            excluded_protected: to_u64(b),
            excluded_no_consent: to_u64(c),
        })
    }

    /// A request's survey of its district in one statement ([`sql::survey_sql`]): the counts
    /// among the rows `q` selects, whether the district holds any row, and for each
    /// `(column, value)` of `held` whether the district holds it.
    pub async fn survey(&self, q: &CountQuery, held: &[(&str, &str)]) -> Result<Survey, Error> {
        let statement = sql::survey_sql(self.backend, q, held);
        let counts: Vec<i64> = on_pool!(self, pool => {
            let row = builder(statement).build().fetch_one(pool).await.map_err(query_error)?;
            (0..4 + held.len())
                .map(|i| row.try_get::<i64, _>(i))
                .collect::<Result<_, _>>()
                .map_err(query_error)?
        });
        let (head, held) = counts.split_at(counts.len().min(4));
        let [a, b, c, rows] = <[i64; 4]>::try_from(head).unwrap_or_default();
        Ok(Survey {
            district_held: rows > 0,
            counts: CountResult {
                included: to_u64(a),
                excluded_protected: to_u64(b),
                excluded_no_consent: to_u64(c),
            },
            held: held.iter().map(|n| *n > 0).collect(),
        })
    }

    /// Members per value of `column` (e.g. per district) among the rows `conditions` select,
    /// NULL as `None`.
    pub async fn count_by(
        &self,
        table: &str,
        column: &str,
        conditions: &[Condition],
    ) -> Result<Vec<(Option<String>, u64)>, Error> {
        let statement = sql::count_by_sql(self.backend, table, column, conditions);
        let rows: Vec<(Option<String>, i64)> = on_pool!(self, pool => {
            builder(statement).build_query_as().fetch_all(pool).await.map_err(query_error)?
        });
        Ok(rows.into_iter().map(|(v, n)| (v, to_u64(n))).collect())
    }

    /// How many rows hold an explicit true in `column`, and how many hold neither true nor false.
    pub async fn flag_census(&self, table: &str, column: &str) -> Result<FlagCensus, Error> {
        let statement = sql::flag_census_sql(self.backend, table, column);
        let (t, u): (i64, i64) = on_pool!(self, pool => {
            builder(statement).build_query_as().fetch_one(pool).await.map_err(query_error)?
        });
        Ok(FlagCensus {
            explicitly_true: to_u64(t),
            unknown: to_u64(u),
        })
    }

    /// Whether the register's credentials could write to `table` (the session itself cannot).
    /// `None` when it cannot be told (an in-memory SQLite database).
    pub async fn can_write(&self, table: &str) -> Result<Option<bool>, Error> {
        match &self.pools {
            Pools::Sqlite(_) => Ok(self.sqlite_file.as_ref().map(|path| {
                // Opening for writing without truncating changes nothing; it asks the OS.
                std::fs::OpenOptions::new().write(true).open(path).is_ok()
            })),
            Pools::Postgres(pool) => {
                let sql =
                    "SELECT has_table_privilege(current_user, $1, 'INSERT,UPDATE,DELETE,TRUNCATE')";
                let quoted = self.backend.quote_table(table);
                let allowed: bool = sqlx::query_scalar(sql)
                    .bind(quoted)
                    .fetch_one(pool)
                    .await
                    .map_err(query_error)?;
                Ok(Some(allowed))
            }
            Pools::MySql(pool) => {
                let (db, name) = match table.split_once('.') {
                    Some((d, n)) => (Some(d.to_owned()), n),
                    None => (None, table),
                };
                let db: String = match db {
                    Some(d) => d,
                    None => sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)")
                        .fetch_one(pool)
                        .await
                        .map_err(query_error)?,
                };
                let grants: Vec<String> = sqlx::query_scalar("SHOW GRANTS")
                    .fetch_all(pool)
                    .await
                    .map_err(query_error)?;
                Ok(Some(
                    grants
                        .iter()
                        .any(|g| sql::grant_allows_writing(g, &db, name)),
                ))
            }
        }
    }

    /// Streams the rows of `q` as normalised text, in `order_by` order. The reads run in
    /// their own task, which owns the SQL; dropping the stream stops it. Must be called
    /// inside a Tokio runtime.
    ///
    /// PostgreSQL and MariaDB stream one statement's rows off the socket. SQLite reads pages
    /// of rows in one read transaction (`pages`): sqlx steps SQLite statements on a worker
    /// thread and hands each row over on its own, which cost more than reading the rows.
    pub fn rows(&self, q: RowQuery) -> Result<TextRows, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Query("no Tokio runtime to stream rows on".to_owned()))?;
        let (tx, rx) = tokio::sync::mpsc::channel(BATCHES_IN_FLIGHT);
        let pools = self.pools.clone();
        let backend = self.backend;
        let limits = self.limits;
        runtime.spawn(async move {
            match pools {
                Pools::Sqlite(pool) => pages::read(&pool, &q, limits.statement, &tx).await,
                Pools::Postgres(pool) => {
                    // The build limit on this statement only: `SET LOCAL` ends with the
                    // read transaction, which is rolled back when the stream ends or is dropped.
                    let mut read = match pool.begin().await {
                        Ok(read) => read,
                        Err(e) => return send_error(&tx, e).await,
                    };
                    if let Err(e) =
                        sqlx::Executor::execute(&mut *read, limits.postgres_build().as_str()).await
                    {
                        return send_error(&tx, e).await;
                    }
                    let mut qb = builder(sql::rows_sql(backend, &q));
                    pump(qb.build().fetch(&mut *read), &q.columns, tx).await;
                }
                Pools::MySql(pool) => {
                    let mut statement = Sql::default();
                    statement.push(&limits.mariadb_build_prefix());
                    statement.pieces.extend(sql::rows_sql(backend, &q).pieces);
                    let mut qb = builder(statement);
                    pump(qb.build().fetch(&pool), &q.columns, tx).await;
                }
            }
        });
        let rows = stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|batch| (batch, rx))
        })
        .flat_map(|batch: Batch| match batch {
            Ok(rows) => Either::Left(stream::iter(rows.into_iter().map(Ok))),
            Err(e) => Either::Right(stream::once(async { Err(e) })),
        });
        Ok(rows.boxed())
    }
}

/// Ends a row stream with the error that kept it from starting.
async fn send_error(tx: &tokio::sync::mpsc::Sender<Batch>, e: sqlx::Error) {
    let _ = tx.send(Err(query_error(e))).await;
}

/// Moves rows from the database stream to the channel in batches, normalising each value.
async fn pump<'a, R: Row>(
    mut rows: BoxStream<'a, Result<R, sqlx::Error>>,
    columns: &[(String, ColumnKind)],
    tx: tokio::sync::mpsc::Sender<Batch>,
) where
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let mut batch = Vec::with_capacity(ROW_BATCH);
    while let Some(next) = rows.next().await {
        let row = next
            .map_err(query_error)
            .and_then(|row| decode_row(&row, columns));
        match row {
            Ok(values) => batch.push(values),
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
        if batch.len() == ROW_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH));
            if tx.send(Ok(full)).await.is_err() {
                return; // the caller dropped the stream
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch)).await;
    }
}

fn decode_row<R: Row>(row: &R, columns: &[(String, ColumnKind)]) -> Result<TextRow, Error>
where
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    columns
        .iter()
        .enumerate()
        .map(|(i, (column, kind))| {
            let raw: Option<String> = row.try_get(i).map_err(query_error)?;
            sql::normalise(column, *kind, raw)
        })
        .collect()
}

/// Turns the dialect-neutral pieces into a builder for one backend.
fn builder<DB: Database>(statement: Sql) -> QueryBuilder<'static, DB>
where
    String: Encode<'static, DB> + Type<DB>,
    time::Date: Encode<'static, DB> + Type<DB>,
    i64: Encode<'static, DB> + Type<DB>,
    f64: Encode<'static, DB> + Type<DB>,
    Vec<u8>: Encode<'static, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new("");
    for piece in statement.pieces {
        match piece {
            Piece::Sql(text) => qb.push(text),
            Piece::Bind(Value::Text(t)) => qb.push_bind(t),
            Piece::Bind(Value::Date(d)) => qb.push_bind(d),
            Piece::Key(Key::Integer(n)) => qb.push_bind(n),
            Piece::Key(Key::Real(bits)) => qb.push_bind(f64::from_bits(bits)),
            Piece::Key(Key::Text(t)) => qb.push_bind(t),
            Piece::Key(Key::Blob(b)) => qb.push_bind(b),
        };
    }
    qb
}

fn query_error(e: sqlx::Error) -> Error {
    if limits::was_cancelled(&e) {
        return Error::Cancelled;
    }
    Error::Query(short_cause(&e))
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests;
