//! The whole audit log of a SQLite store, in sequence order, a page at a time: SQLite packs
//! each column of a page of entries into one text value (no escaping), so sqlx's worker thread
//! hands over [`PAGE`] entries at once instead of one message per entry (which cost more than
//! hashing them; see BENCHMARKS.md), and reads the next page while this one is unpacked.
//!
//! Guarantees:
//! - Exactly what one `SELECT … ORDER BY seq` with sqlx's typed decoding yields: every page
//!   is read in one read transaction (one snapshot, as one statement has), and a page that is
//!   not plain integers and text — any value sqlx would refuse or decode specially (a NULL, a
//!   REAL, a BLOB, text in an integer column, text that is not UTF-8, a value holding the
//!   packing's separator) — is read again row by row with that decoding, so each entry and
//!   each error comes out as it did, in its place.
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

/// Entries per page (a page is about 150 KiB of text).
const PAGE: i64 = 512;
/// Pages read ahead of the caller, so that reading and checking overlap.
const PAGES_AHEAD: usize = 2;

/// One page of entries after `$1`, as one row: how many there are, how many are plain integers
/// and text, the last `seq`, then each column of the page packed into one text by
/// `group_concat` — `seq` and `occurred_at` as numbers between spaces, the text columns' bytes
/// as they are between [`SEPARATOR`]s. Each value is appended once, straight from the row, and
/// unpacking is a split. A value holding the separator splits into one piece too many, so the
/// pieces no longer add up and the page is read row by row (the log's own texts never hold it:
/// `details` is JSON, which escapes control characters). The page is the range of `seq` after
/// `$1`, the table's integer primary key, read straight from the table in `seq` order (no
/// inner query, so no value is copied on the way); every aggregate sees the rows in that one
/// order, and [`unpack`] checks that the pieces add up and `seq` ascends. A range that holds no
/// entry is read row by row, which tells the end of the log from a gap in it.
const PAGE_PACKED: &str = "SELECT COUNT(*), \
     SUM(typeof(occurred_at) = 'integer' AND typeof(actor) = 'text' AND typeof(action) = 'text' \
     AND typeof(target) = 'text' AND typeof(outcome) = 'text' AND typeof(details) = 'text' \
     AND typeof(prev_hash) = 'text' AND typeof(entry_hash) = 'text'), MAX(seq), \
     group_concat(seq, ' '), group_concat(occurred_at, ' '), \
     group_concat(actor, char(30)), group_concat(action, char(30)), \
     group_concat(target, char(30)), group_concat(outcome, char(30)), \
     group_concat(details, char(30)), group_concat(prev_hash, char(30)), \
     group_concat(entry_hash, char(30)) \
     FROM audit_events WHERE seq > $1 AND seq <= $1 + $2";

/// Between the values of a packed text column (ASCII record separator, `char(30)`).
const SEPARATOR: char = '\u{1e}';

/// The same page, one row at a time (the fallback).
const PAGE_AS_ROWS: &str = "SELECT seq, occurred_at, actor, action, target, outcome, details, \
     prev_hash, entry_hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2";

/// A page of entries, ending with an error if the row-by-row read met one.
type Page = Vec<Result<AuditRow, Error>>;

/// A page as [`PAGE_PACKED`] reads it, not yet unpacked.
struct Packed {
    /// Entries on the page (0: the end of the log).
    count: i64,
    /// The page's last `seq`: where the next page starts.
    last: i64,
    /// `seq`, `occurred_at` and the seven text columns; `None` when a value is not plain
    /// integers and text, or the text is not UTF-8 (the page is read row by row).
    columns: Option<[String; 9]>,
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

/// Sends the log page by page until its end, the first error, or the caller leaving. While a
/// page is unpacked, SQLite already reads the next one (on sqlx's worker thread).
async fn read_all(pool: SqlitePool, out: tokio::sync::mpsc::Sender<Page>) {
    // One read transaction: every page sees the same log, as one statement would.
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let _ = out.send(vec![Err(e.into())]).await;
            return;
        }
    };
    let mut after = 0;
    let mut fetched = fetch(&mut tx, after).await;
    loop {
        let page = match fetched {
            Some(Packed {
                count,
                last,
                columns: Some(columns),
            }) => {
                // The next page is asked for first, then this one unpacked meanwhile.
                let (next, rows) = tokio::join!(fetch(&mut tx, last), async {
                    unpack(&columns, count, after)
                });
                match rows {
                    Some(rows) => {
                        fetched = next;
                        after = last;
                        let page: Page = rows.into_iter().map(Ok).collect();
                        if out.send(page).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    None => row_by_row(&mut tx, after).await,
                }
            }
            _ => row_by_row(&mut tx, after).await,
        };
        if page.is_empty() {
            let _ = tx.rollback().await;
            return;
        }
        // Nothing is read past an error (the transaction is rolled back as it is dropped).
        let failed = page.last().is_some_and(Result::is_err);
        if let Some(Ok(last)) = page.last() {
            after = last.seq;
        }
        if out.send(page).await.is_err() || failed {
            return;
        }
        fetched = fetch(&mut tx, after).await;
    }
}

/// The page after `after` as [`PAGE_PACKED`] packs it; `None` when the statement fails (the
/// row-by-row read then tells what is wrong, as it always did).
async fn fetch(tx: &mut Transaction<'static, Sqlite>, after: i64) -> Option<Packed> {
    let row = sqlx::query(PAGE_PACKED)
        .bind(after)
        .bind(PAGE)
        .fetch_one(&mut **tx)
        .await
        .ok()?;
    let count: i64 = row.try_get(0).ok()?;
    if count == 0 {
        // The end of the log, or a gap of a page or more: the row-by-row read tells which.
        return None;
    }
    let plain: i64 = row.try_get(1).ok()?;
    let last: i64 = row.try_get(2).ok()?;
    let columns = (plain == count)
        .then(|| {
            let mut columns: [String; 9] = Default::default();
            for (i, column) in columns.iter_mut().enumerate() {
                *column = row.try_get(i + 3).ok()?;
            }
            Some(columns)
        })
        .flatten();
    Some(Packed {
        count,
        last,
        columns,
    })
}

/// The entries of a packed page: exactly `count` of them, in ascending `seq` after `after`;
/// `None` when the columns do not add up.
fn unpack(columns: &[String; 9], count: i64, after: i64) -> Option<Vec<AuditRow>> {
    let [seqs, times, texts @ ..] = columns;
    let count = usize::try_from(count).ok()?;
    let mut seqs = seqs.split(' ').map(|n| n.parse::<i64>().ok());
    let mut times = times.split(' ').map(|n| n.parse::<i64>().ok());
    let mut pieces = texts.each_ref().map(|t| t.split(SEPARATOR));
    let mut rows: Vec<AuditRow> = Vec::with_capacity(count);
    let mut previous = after;
    for _ in 0..count {
        let seq = seqs.next()??;
        let occurred_at = times.next()??;
        if seq <= previous {
            return None;
        }
        previous = seq;
        let mut field = |i: usize| pieces.get_mut(i)?.next().map(str::to_owned);
        rows.push(AuditRow {
            seq,
            occurred_at,
            actor: field(0)?,
            action: field(1)?,
            target: field(2)?,
            outcome: field(3)?,
            details: field(4)?,
            prev_hash: field(5)?,
            entry_hash: field(6)?,
        });
    }
    let all_used = seqs.next().is_none()
        && times.next().is_none()
        && pieces.iter_mut().all(|p| p.next().is_none());
    all_used.then_some(rows)
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
