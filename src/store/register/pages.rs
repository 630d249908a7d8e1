//! Reading a SQLite register a page at a time, so that sqlx's SQLite worker thread hands
//! over [`PAGE_ROWS`] members in one value instead of one message per row (the hand-offs
//! cost more than reading the rows; see BENCHMARKS.md).
//!
//! Guarantees:
//! - The same rows, values and order as one `rows_sql` statement: every page runs in one read
//!   transaction (one snapshot of the register), values are the same `CAST(… AS TEXT)` text
//!   (SQLite's JSON keeps NULL apart from empty text and passes any Unicode through), and
//!   pages follow each other by member id as SQLite compares it (the id is read back with
//!   its storage class and bound unchanged), never splitting the rows that share one id.
//! - Member ids need not be unique or present: rows without one (they sort first) and ids
//!   shared by more rows than a page holds are read row by row, as before.
//! - Errors name no value: a page that cannot be parsed is reported by position only.
//! - Each page, and each read of the rows sharing one id, is one statement under the statement
//!   limit: the connection is armed afresh before each ([`super::limits::arm`]). A build
//!   reads for as long as its pages keep coming; no one page may run past the limit.
//!
//! Must never: write (the pool is read-only), or hold more than a page and the channel's
//! batches in memory.

use futures::StreamExt;
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::{Row, TypeInfo, ValueRef};

use std::time::Duration;

use super::limits;
use super::sql::{self, Key, KeyRange, PAGE_ROWS, RowQuery};
use super::{Batch, Error, ROW_BATCH, TextRow, builder, decode_row, query_error};

type Sender = tokio::sync::mpsc::Sender<Batch>;
type Conn = sqlx::Transaction<'static, Sqlite>;

/// Why reading stopped early.
enum Stop {
    /// The caller dropped the stream; nobody is listening.
    Closed,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

/// Reads every row of `q` into `tx`, page by page; an error is sent as the stream's last item.
pub(super) async fn read(pool: &SqlitePool, q: &RowQuery, limit: Duration, tx: &Sender) {
    if let Err(Stop::Failed(e)) = read_pages(pool, q, limit, tx).await {
        let _ = tx.send(Err(e)).await;
    }
}

async fn read_pages(
    pool: &SqlitePool,
    q: &RowQuery,
    limit: Duration,
    tx: &Sender,
) -> Result<(), Stop> {
    // One read transaction: every page sees the same register, as one statement would.
    let mut conn = pool.begin().await.map_err(query_error)?;
    let mut range = KeyRange::All;
    loop {
        limits::arm(&mut conn, limit).await?;
        let page = fetch_page(&mut conn, q, &range).await?;
        let full = page.rows.len() as i64 == PAGE_ROWS;
        range = match (full, page.last) {
            (false, _) => {
                send(tx, q, page.rows).await?;
                break;
            }
            // A whole page without member ids: read those rows one by one, then the rest.
            (true, None) => {
                limits::arm(&mut conn, limit).await?;
                read_rows_with(&mut conn, q, &KeyRange::Null, tx).await?;
                KeyRange::NotNull
            }
            // A whole page of one member id: read all its rows one by one, then go past it.
            (true, Some(last)) if page.ties == PAGE_ROWS => {
                limits::arm(&mut conn, limit).await?;
                read_rows_with(&mut conn, q, &KeyRange::Equal(last.clone()), tx).await?;
                KeyRange::Above(last)
            }
            // The rows of the last id may go on past the page: they start the next one.
            (true, Some(last)) => {
                let keep = usize::try_from(PAGE_ROWS - page.ties).unwrap_or(0);
                let mut rows = page.rows;
                rows.truncate(keep);
                send(tx, q, rows).await?;
                KeyRange::AtLeast(last)
            }
        };
    }
    conn.rollback().await.map_err(query_error)?;
    Ok(())
}

/// One page as SQLite packed it ([`sql::sqlite_page_sql`]), not yet normalised.
struct Page {
    rows: Vec<Vec<Option<String>>>,
    /// The page's largest member id, `None` when no row on it has one.
    last: Option<Key>,
    /// How many rows on the page have `last` as their member id.
    ties: i64,
}

async fn fetch_page(conn: &mut Conn, q: &RowQuery, range: &KeyRange) -> Result<Page, Error> {
    let mut qb = builder::<Sqlite>(sql::sqlite_page_sql(q, range));
    let row = qb
        .build()
        .fetch_one(&mut **conn)
        .await
        .map_err(query_error)?;
    let json: String = row.try_get(0).map_err(query_error)?;
    let count: i64 = row.try_get(1).map_err(query_error)?;
    let ties: i64 = row.try_get(4).map_err(query_error)?;
    let rows: Vec<Vec<Option<String>>> = serde_json::from_str(&json).map_err(|e| {
        // serde's message may quote a value; the position is enough.
        Error::Query(format!(
            "a page of the register's rows could not be read back (column {} of its text)",
            e.column()
        ))
    })?;
    let width_ok = rows.iter().all(|r| r.len() == q.columns.len());
    if rows.len() as i64 != count || !width_ok {
        return Err(Error::Query(
            "a page of the register's rows came back with the wrong shape".to_owned(),
        ));
    }
    Ok(Page {
        rows,
        last: key_at(&row, 3)?,
        ties,
    })
}

/// The value in column `i` with its storage class, for binding back unchanged.
fn key_at(row: &SqliteRow, i: usize) -> Result<Option<Key>, Error> {
    let raw = row.try_get_raw(i).map_err(query_error)?;
    if raw.is_null() {
        return Ok(None);
    }
    let class = raw.type_info().name().to_owned();
    let key = match class.as_str() {
        "INTEGER" => Key::Integer(row.try_get(i).map_err(query_error)?),
        "REAL" => Key::Real(row.try_get::<f64, _>(i).map_err(query_error)?.to_bits()),
        "TEXT" => Key::Text(row.try_get(i).map_err(query_error)?),
        _ => Key::Blob(row.try_get(i).map_err(query_error)?),
    };
    Ok(Some(key))
}

/// The rows of `range` one by one (the pages cannot be cut inside them), in batches.
async fn read_rows_with(
    conn: &mut Conn,
    q: &RowQuery,
    range: &KeyRange,
    tx: &Sender,
) -> Result<(), Stop> {
    let mut qb = builder::<Sqlite>(sql::sqlite_key_rows_sql(q, range));
    let mut rows = qb.build().fetch(&mut **conn);
    let mut batch = Vec::with_capacity(ROW_BATCH);
    while let Some(next) = rows.next().await {
        let row = next.map_err(query_error)?;
        batch.push(decode_row(&row, &q.columns)?);
        if batch.len() == ROW_BATCH {
            forward(tx, std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        forward(tx, batch).await?;
    }
    Ok(())
}

/// Normalises a page's values (dates, flags) and hands the page to the caller.
async fn send(tx: &Sender, q: &RowQuery, rows: Vec<Vec<Option<String>>>) -> Result<(), Stop> {
    if rows.is_empty() {
        return Ok(());
    }
    let normalised = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .zip(&q.columns)
                .map(|(value, (column, kind))| sql::normalise(column, *kind, value))
                .collect::<Result<TextRow, Error>>()
        })
        .collect::<Result<Vec<TextRow>, Error>>()?;
    forward(tx, normalised).await
}

async fn forward(tx: &Sender, rows: Vec<TextRow>) -> Result<(), Stop> {
    tx.send(Ok(rows)).await.map_err(|_| Stop::Closed)
}

#[cfg(test)]
mod tests;
