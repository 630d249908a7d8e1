//! The whole audit log of a SQLite store, in sequence order, a page at a time: SQLite packs a
//! page of entries into one JSON value, so sqlx's worker thread hands over [`PAGE`] entries
//! at once instead of one message per entry (which cost more than hashing them; see
//! BENCHMARKS.md).
//!
//! Guarantees:
//! - Exactly what one `SELECT … ORDER BY seq` with sqlx's typed decoding yields: every page
//!   is read in one read transaction (one snapshot, as one statement has), and a page that is
//!   not plain integers and text — any value sqlx would refuse or decode specially (a NULL, a
//!   REAL, a BLOB, text in an integer column, text that is not UTF-8) — is read again row by
//!   row with that decoding, so each entry and each error comes out as it did, in its place.
//! - Stops after the first error; never holds more than [`PAGES_AHEAD`] pages the caller has
//!   not taken, plus the one being read.
//!
//! Must never: write to the log (the transaction is rolled back at the end).

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Row, Transaction};

use super::AuditRow;
use crate::store::Error;

/// Entries per page (a page is about 150 KiB of JSON).
const PAGE: i64 = 512;
/// Pages read ahead of the caller, so that reading and checking overlap.
const PAGES_AHEAD: usize = 2;

/// One page of entries after `$1`, as one row: the JSON array, its length. The columns are in
/// `AuditRow`'s order; `seq` is the table's integer primary key, so the inner scan is in `seq`
/// order and [`as_json`] checks that the array kept it (else the page is read row by row).
const PAGE_AS_JSON: &str = "SELECT json_group_array(json_array(seq, occurred_at, actor, action, \
     target, outcome, details, prev_hash, entry_hash)), COUNT(*) \
     FROM (SELECT seq, occurred_at, actor, action, target, outcome, details, prev_hash, \
     entry_hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2)";

/// The same page, one row at a time (the fallback).
const PAGE_AS_ROWS: &str = "SELECT seq, occurred_at, actor, action, target, outcome, details, \
     prev_hash, entry_hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2";

/// An entry as the JSON array holds it; anything else sends the page to the fallback.
type JsonEntry = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

/// A page of entries, ending with an error if the row-by-row read met one.
type Page = Vec<Result<AuditRow, Error>>;

struct Reader {
    tx: Transaction<'static, Sqlite>,
    /// The last `seq` handed out (0 before the first).
    after: i64,
}

/// Every entry of the log in sequence order; see the module header. The pages are read by a
/// task of their own, [`PAGES_AHEAD`] ahead; dropping the stream stops it.
pub(super) fn stream(pool: SqlitePool) -> BoxStream<'static, Result<AuditRow, Error>> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        let no_runtime = Error::Connect {
            backend: "sqlite",
            cause: "no Tokio runtime to read the audit log on".to_owned(),
        };
        return stream::once(async { Err(no_runtime) }).boxed();
    };
    let (out, pages) = tokio::sync::mpsc::channel::<Page>(PAGES_AHEAD);
    runtime.spawn(read_all(pool, out));
    stream::unfold(pages, |mut pages| async move {
        pages.recv().await.map(|page| (page, pages))
    })
    .flat_map(stream::iter)
    .boxed()
}

/// Sends the log page by page until its end, the first error, or the caller leaving.
async fn read_all(pool: SqlitePool, out: tokio::sync::mpsc::Sender<Page>) {
    // One read transaction: every page sees the same log, as one statement would.
    let mut reader = match pool.begin().await {
        Ok(tx) => Reader { tx, after: 0 },
        Err(e) => {
            let _ = out.send(vec![Err(e.into())]).await;
            return;
        }
    };
    loop {
        let page = reader.next_page().await;
        if page.is_empty() {
            let _ = reader.tx.rollback().await;
            return;
        }
        // Nothing is read past an error (the transaction is rolled back as it is dropped).
        let failed = page.last().is_some_and(Result::is_err);
        if out.send(page).await.is_err() || failed {
            return;
        }
    }
}

impl Reader {
    /// The next page; empty at the end of the log.
    async fn next_page(&mut self) -> Page {
        let page = match as_json(&mut self.tx, self.after).await {
            Some(rows) => rows.into_iter().map(Ok).collect(),
            None => row_by_row(&mut self.tx, self.after).await,
        };
        if let Some(Ok(last)) = page.last() {
            self.after = last.seq;
        }
        page
    }
}

/// The page through SQLite's JSON, or `None` when it is not plain integers and text (or the
/// statement fails: the row-by-row read then tells what is wrong, as it always did).
async fn as_json(tx: &mut Transaction<'static, Sqlite>, after: i64) -> Option<Vec<AuditRow>> {
    let row = sqlx::query(PAGE_AS_JSON)
        .bind(after)
        .bind(PAGE)
        .fetch_one(&mut **tx)
        .await
        .ok()?;
    let json: String = row.try_get(0).ok()?;
    let count: i64 = row.try_get(1).ok()?;
    let entries: Vec<JsonEntry> = serde_json::from_str(&json).ok()?;
    if usize::try_from(count).ok()? != entries.len() {
        return None;
    }
    let rows: Vec<AuditRow> = entries
        .into_iter()
        .map(
            |(seq, occurred_at, actor, action, target, outcome, details, prev_hash, entry_hash)| {
                AuditRow {
                    seq,
                    occurred_at,
                    actor,
                    action,
                    target,
                    outcome,
                    details,
                    prev_hash,
                    entry_hash,
                }
            },
        )
        .collect();
    let ascending = rows.windows(2).all(|w| w[0].seq < w[1].seq);
    let after_start = rows.first().is_none_or(|r| r.seq > after);
    (ascending && after_start).then_some(rows)
}

/// The page with sqlx's typed decoding, up to and including the first error.
async fn row_by_row(tx: &mut Transaction<'static, Sqlite>, after: i64) -> Page {
    let mut rows = sqlx::query_as::<_, AuditRow>(PAGE_AS_ROWS)
        .bind(after)
        .bind(PAGE)
        .fetch(&mut **tx);
    let mut page = Vec::new();
    while let Some(row) = rows.next().await {
        let failed = row.is_err();
        page.push(row.map_err(Error::from));
        if failed {
            break;
        }
    }
    page
}

#[cfg(test)]
mod tests;
