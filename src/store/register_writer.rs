//! Writes a *synthetic* member register: `CREATE TABLE` plus batched multi-row INSERTs into
//! SQLite, PostgreSQL or MariaDB, with the demo's Swedish column names.
//!
//! Guarantees: it only ever creates a new table (it refuses when the table exists, so it
//! cannot overwrite a real register), every value is a bound parameter, and errors carry
//! no password. Used by `registervakt demo`, the tests and the benchmark.
//!
//! Must never: be reachable from the broker's serving path. The broker reads the register
//! through `store::register`, which is read-only; this module is the only writer.

use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Database, Encode, Executor, QueryBuilder, Type};

use super::register::is_identifier;
use super::register::{Backend, describe_location, redact, short_cause};
use crate::nouns::{Field, FieldKind};
use crate::synthetic::{SyntheticMember, demo_column};

/// Rows per multi-row INSERT: 500 × 19 parameters stays far below every backend's limit.
const BATCH_ROWS: usize = 500;
/// INSERTs per transaction (50 000 rows).
const BATCHES_PER_TRANSACTION: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{0}` is not a plain table name for a synthetic register (letters, digits, '_')")]
    BadTable(String),
    #[error("the URL has an unsupported scheme; use sqlite:PATH, postgres://… or mysql://…")]
    UnsupportedScheme,
    #[error("table `{0}` already exists; the synthetic-register writer only creates new tables")]
    TableExists(String),
    #[error("member id {0} does not fit in a BIGINT")]
    MemberIdTooLarge(u64),
    #[error("cannot write the synthetic register ({backend} at {location}): {cause}")]
    Database {
        backend: &'static str,
        location: String,
        cause: String,
    },
}

/// Refuses an existing table, creates it and its index, then inserts every chunk in
/// transactions of [`BATCHES_PER_TRANSACTION`] INSERTs. Expands per backend because each
/// connection type is distinct; the statements themselves are built once, generically.
macro_rules! write_all {
    ($conn:ident, $backend:expr, $table:expr, $exists:expr, $chunks:expr, $fail:expr) => {{
        let existing: i64 = sqlx::query_scalar($exists)
            .bind($table)
            .fetch_one(&mut $conn)
            .await
            .map_err($fail)?;
        if existing > 0 {
            return Err(Error::TableExists($table.to_owned()));
        }
        for statement in create_statements($backend, $table) {
            $conn.execute(statement.as_str()).await.map_err($fail)?;
        }
        let mut written = 0u64;
        let mut done = false;
        while !done {
            let mut tx = $conn.begin().await.map_err($fail)?;
            for _ in 0..BATCHES_PER_TRANSACTION {
                let Some(batch) = $chunks.next() else {
                    done = true;
                    break;
                };
                let mut insert = insert_statement($backend, $table, &batch)?;
                insert.build().execute(&mut *tx).await.map_err($fail)?;
                written += batch.len() as u64;
            }
            tx.commit().await.map_err($fail)?;
        }
        written
    }};
}

/// Creates `table` and inserts `members`; returns how many were written.
pub async fn write_register(
    url: &str,
    table: &str,
    members: impl Iterator<Item = SyntheticMember>,
) -> Result<u64, Error> {
    if !is_identifier(table) {
        return Err(Error::BadTable(table.to_owned()));
    }
    let backend = Backend::from_url(url).map_err(|_| Error::UnsupportedScheme)?;
    let fail = |e: sqlx::Error| database_error(backend, url, &e);
    let mut chunks = chunked(members);
    match backend {
        Backend::Sqlite => {
            // A generated fixture can be rebuilt, so durability is traded for load speed.
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(fail)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Off);
            let mut conn = SqliteConnection::connect_with(&opts).await.map_err(fail)?;
            let exists = "SELECT COUNT(*) FROM sqlite_master WHERE name = ?";
            let written = write_all!(conn, backend, table, exists, &mut chunks, fail);
            // Back to a rollback journal, so the file stands alone and read-only openers
            // need no -wal/-shm files next to it.
            conn.execute("PRAGMA journal_mode = DELETE")
                .await
                .map_err(fail)?;
            conn.close().await.map_err(fail)?;
            Ok(written)
        }
        Backend::Postgres => {
            let opts = PgConnectOptions::from_str(url).map_err(fail)?;
            let mut conn = PgConnection::connect_with(&opts).await.map_err(fail)?;
            let exists = "SELECT COUNT(*) FROM information_schema.tables \
                          WHERE table_schema = current_schema() AND table_name = $1";
            let written = write_all!(conn, backend, table, exists, &mut chunks, fail);
            conn.close().await.map_err(fail)?;
            Ok(written)
        }
        Backend::MariaDb => {
            let opts = mysql_options(url).map_err(fail)?;
            let mut conn = MySqlConnection::connect_with(&opts).await.map_err(fail)?;
            let exists = "SELECT COUNT(*) FROM information_schema.tables \
                          WHERE table_schema = DATABASE() AND table_name = ?";
            let written = write_all!(conn, backend, table, exists, &mut chunks, fail);
            conn.close().await.map_err(fail)?;
            Ok(written)
        }
    }
}

/// How many rows `table` of the PostgreSQL database at `url` holds, or `None` when there is no
/// such table: the benchmark reuses a synthetic register it wrote before.
pub async fn postgres_row_count(url: &str, table: &str) -> Result<Option<u64>, Error> {
    if !is_identifier(table) {
        return Err(Error::BadTable(table.to_owned()));
    }
    let backend = Backend::Postgres;
    let fail = |e: sqlx::Error| database_error(backend, url, &e);
    let mut conn = PgConnectOptions::from_str(url)
        .map_err(fail)?
        .connect()
        .await
        .map_err(fail)?;
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_one(&mut conn)
    .await
    .map_err(fail)?;
    if exists == 0 {
        return Ok(None);
    }
    let statement = format!("SELECT COUNT(*) FROM {}", backend.quote(table));
    let n: i64 = sqlx::query_scalar(&statement)
        .fetch_one(&mut conn)
        .await
        .map_err(fail)?;
    Ok(Some(u64::try_from(n).unwrap_or(0)))
}

/// Drops `table` if it exists (test clean-up on shared PostgreSQL/MariaDB databases).
pub async fn drop_table(url: &str, table: &str) -> Result<(), Error> {
    if !is_identifier(table) {
        return Err(Error::BadTable(table.to_owned()));
    }
    let backend = Backend::from_url(url).map_err(|_| Error::UnsupportedScheme)?;
    let fail = |e: sqlx::Error| database_error(backend, url, &e);
    let statement = format!("DROP TABLE IF EXISTS {}", backend.quote(table));
    match backend {
        Backend::Sqlite => {
            let opts = SqliteConnectOptions::from_str(url).map_err(fail)?;
            let mut conn = opts.connect().await.map_err(fail)?;
            conn.execute(statement.as_str()).await.map_err(fail)?;
        }
        Backend::Postgres => {
            let mut conn = PgConnectOptions::from_str(url)
                .map_err(fail)?
                .connect()
                .await
                .map_err(fail)?;
            conn.execute(statement.as_str()).await.map_err(fail)?;
        }
        Backend::MariaDb => {
            let mut conn = mysql_options(url)
                .map_err(fail)?
                .connect()
                .await
                .map_err(fail)?;
            conn.execute(statement.as_str()).await.map_err(fail)?;
        }
    }
    Ok(())
}

/// `CREATE TABLE` with per-backend types, and an index for district-scoped reads.
fn create_statements(backend: Backend, table: &str) -> [String; 2] {
    let (id, text, boolean, options) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY", "TEXT", "BOOLEAN", ""),
        Backend::Postgres => ("BIGINT PRIMARY KEY", "TEXT", "BOOLEAN", ""),
        // utf8mb4_bin: exact (case-sensitive) equality, as on SQLite and PostgreSQL.
        Backend::MariaDb => (
            "BIGINT PRIMARY KEY",
            "VARCHAR(200)",
            "TINYINT(1)",
            " DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin",
        ),
    };
    let columns: Vec<String> = Field::ALL
        .into_iter()
        .map(|field| {
            let ty = match (field, field.kind()) {
                (Field::MemberId, _) => id,
                (_, FieldKind::Date) => "DATE",
                (_, FieldKind::Bool) => boolean,
                (_, FieldKind::Text) => text,
            };
            let not_null = matches!(field, Field::District | Field::FirstName | Field::LastName);
            let constraint = if not_null { " NOT NULL" } else { "" };
            format!("{} {ty}{constraint}", backend.quote(demo_column(field)))
        })
        .collect();
    let quoted = backend.quote(table);
    [
        format!("CREATE TABLE {quoted} ({}){options}", columns.join(", ")),
        format!(
            "CREATE INDEX {} ON {quoted} ({}, {})",
            backend.quote(&format!("{table}_distrikt_idx")),
            backend.quote(demo_column(Field::District)),
            backend.quote(demo_column(Field::MemberId)),
        ),
    ]
}

/// One multi-row INSERT for `batch`, columns in catalogue order, every value bound.
fn insert_statement<'a, DB: Database>(
    backend: Backend,
    table: &str,
    batch: &'a [SyntheticMember],
) -> Result<QueryBuilder<'a, DB>, Error>
where
    i64: Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    time::Date: Encode<'a, DB> + Type<DB>,
    Option<bool>: Encode<'a, DB> + Type<DB>,
{
    let ids = batch
        .iter()
        .map(|m| i64::try_from(m.member_id).map_err(|_| Error::MemberIdTooLarge(m.member_id)))
        .collect::<Result<Vec<i64>, Error>>()?;
    let columns: Vec<String> = Field::ALL
        .iter()
        .map(|f| backend.quote(demo_column(*f)))
        .collect();
    let mut qb = QueryBuilder::new(format!(
        "INSERT INTO {} ({}) ",
        backend.quote(table),
        columns.join(", ")
    ));
    qb.push_values(batch.iter().zip(ids), |mut row, (m, id)| {
        // Same order as Field::ALL.
        row.push_bind(id)
            .push_bind(m.first_name.as_str())
            .push_bind(m.last_name.as_str())
            .push_bind(m.email.as_deref())
            .push_bind(m.phone.as_deref())
            .push_bind(m.street_address.as_str())
            .push_bind(m.postal_code.as_str())
            .push_bind(m.city.as_str())
            .push_bind(m.birth_date)
            .push_bind(m.personal_number.as_str())
            .push_bind(m.district.as_str())
            .push_bind(m.local_branch.as_str())
            .push_bind(m.membership_status.as_str())
            .push_bind(m.joined_on)
            .push_bind(m.consent_email)
            .push_bind(m.consent_phone)
            .push_bind(m.consent_sms)
            .push_bind(m.consent_post)
            .push_bind(m.protected_identity);
    });
    Ok(qb)
}

/// Groups members into INSERT-sized batches.
fn chunked(
    mut members: impl Iterator<Item = SyntheticMember>,
) -> impl Iterator<Item = Vec<SyntheticMember>> {
    std::iter::from_fn(move || {
        let batch: Vec<_> = members.by_ref().take(BATCH_ROWS).collect();
        (!batch.is_empty()).then_some(batch)
    })
}

/// sqlx only knows the `mysql` scheme; MariaDB speaks the same protocol.
fn mysql_options(url: &str) -> Result<MySqlConnectOptions, sqlx::Error> {
    MySqlConnectOptions::from_str(&url.replacen("mariadb://", "mysql://", 1))
}

fn database_error(backend: Backend, url: &str, e: &sqlx::Error) -> Error {
    Error::Database {
        backend: backend.as_str(),
        location: describe_location(backend, url),
        cause: redact(&short_cause(e), url),
    }
}
