//! The whole audit log of a SQLite store, in sequence order, a page at a time: SQLite packs the
//! times of a page of entries into one text value and their texts into another (no escaping), so
//! sqlx's worker thread hands over [`PAGE`] entries at once instead of one message per entry (which
//! cost more than hashing them; see BENCHMARKS.md). Two tasks read every other page side by side,
//! each on a connection of its own, so that both cores read while the caller checks; from the first
//! page that is not plain and whole on, one task reads page after page. An unpacked page keeps its
//! packed texts and each entry's place in them: reading an entry copies nothing.
//!
//! Guarantees:
//! - Exactly what one `SELECT … ORDER BY seq` with sqlx's typed decoding yields: every page
//!   is read in one snapshot of the log, as one statement reads it (the two read transactions
//!   begin while a third connection holds the store's write lock, so no commit comes between
//!   them; without that lock one transaction reads it all), and a page that is not plain
//!   integers and text — any value sqlx would refuse or decode specially (a NULL, a REAL, a
//!   BLOB, text in an integer column, text that is not UTF-8, a value holding the packing's
//!   separator) or whose `seq` has a gap — is read again row by row with that decoding, so
//!   each entry and each error comes out as it did, in its place.
//! - Stops after the first error; never holds more than [`PAGES_AHEAD`] pages the caller has
//!   not taken, plus, for each of the two tasks, [`PAGES_AHEAD`], the one waiting to be taken
//!   and the one being read.
//!
//! Must never: write to the log (every transaction is rolled back at the end; the write lock
//! is taken with nothing written and given up as soon as both reads have begun).

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Row, Transaction};

use super::{AuditEntry, AuditPage, AuditRow, PageBody};
use crate::store::Error;

mod side_by_side;

/// A read transaction on the store, as every reader here holds one.
type Tx = Transaction<'static, Sqlite>;

/// Entries per page (a page is about 150 KiB of text).
const PAGE: i64 = 512;
/// The same, as a count of entries (PostgreSQL's pages have it too).
pub(super) const PAGE_ENTRIES: usize = PAGE as usize;
/// Pages read ahead of the caller, so that reading and checking overlap.
const PAGES_AHEAD: usize = 2;

/// One page of entries after `$1`, as one row: how many there are, how many are plain integers
/// and text, the first and last `seq`, then the page packed by `group_concat` into two texts —
/// `occurred_at` as numbers between spaces, and the seven text columns' bytes as they are
/// between [`SEPARATOR`]s, entry after entry (one `concat` joins an entry's seven and the
/// separators between them, which costs SQLite less than an aggregate step per column; it
/// copies every byte, a NUL too, where `printf` would stop at a NUL and `concat_ws` would leave
/// empty texts out). Unpacking is a split. A value holding the separator splits into one piece
/// too many, so the pieces no longer add up and the page is read row by row (the log's own
/// texts never hold it: `details` is JSON, which escapes control characters); a NULL, which
/// `concat` would leave out, is not plain. The page is the range of `seq` after `$1`, the
/// table's integer primary key, read straight from the table in `seq` order (no inner query,
/// so no value is copied on the way); every aggregate sees the rows in that one order. `seq`
/// itself is not packed: a page whose `seq` run from first to last without a gap holds exactly
/// those numbers, in that order (a page with a gap is read row by row).
///
/// "Plain" is what sqlx decodes without complaint: `occurred_at` an INTEGER (`typeof`), and each
/// text column TEXT — `x >= '' AND x < x''` holds for TEXT only (SQLite orders values NULL, then
/// numbers, then TEXT, then BLOB; `''` is the least text, `x''` the least blob; a NULL makes the
/// count skip the row). Two comparisons cost SQLite less than `typeof(x) = 'text'` (a function call
/// and a string compare per value: a third of reading the page), and in the `FILTER` of a count
/// they are jumps, with no truth value made and combined per value. Text that is not UTF-8 is
/// refused when the page's texts are decoded, and the page read row by row.
const PAGE_PACKED: &str = "SELECT COUNT(*), \
     COUNT(*) FILTER (WHERE typeof(occurred_at) = 'integer' \
     AND actor >= '' AND actor < x'' AND action >= '' AND action < x'' \
     AND target >= '' AND target < x'' AND outcome >= '' AND outcome < x'' \
     AND details >= '' AND details < x'' AND prev_hash >= '' AND prev_hash < x'' \
     AND entry_hash >= '' AND entry_hash < x''), MIN(seq), MAX(seq), \
     group_concat(occurred_at, ' '), \
     group_concat(concat(actor, char(30), action, char(30), target, char(30), outcome, \
     char(30), details, char(30), prev_hash, char(30), entry_hash), char(30)) \
     FROM audit_events WHERE seq > $1 AND seq <= $1 + $2";

/// Between the packed texts (ASCII record separator, `char(30)`).
/// One byte in UTF-8, never part of another character's bytes.
const SEPARATOR: u8 = 0x1e;

/// The same page, one row at a time (the fallback).
const PAGE_AS_ROWS: &str = "SELECT seq, occurred_at, actor, action, target, outcome, details, \
     prev_hash, entry_hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2";

/// What the reading task hands the caller: a page, or the error that ends the log.
type Item = Result<AuditPage, Error>;

/// A page as [`PAGE_PACKED`] reads it, not yet unpacked.
struct Packed {
    /// Entries on the page (0: the end of the log, or a gap of a page or more).
    count: i64,
    /// The page's first and last `seq`.
    first: i64,
    last: i64,
    /// `occurred_at`, and the seven text columns entry after entry; `None` when a value is not
    /// plain, the text is not UTF-8, or `seq` has a gap (the page is read row by row).
    columns: Option<[String; 2]>,
}

/// A page unpacked: its texts as SQLite packed them, and where each entry's values lie there.
pub(super) struct Unpacked {
    texts: String,
    /// The first entry's `seq`; the others follow it without a gap.
    first: i64,
    entries: Vec<Places>,
}

/// One entry of an [`Unpacked`] page: its time, and the byte range of each of its texts.
struct Places {
    occurred_at: i64,
    texts: [(usize, usize); 7],
}

impl Unpacked {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The `i`th entry of the page (the ranges were cut from these texts at separators, so
    /// they always lie on character boundaries).
    pub(super) fn entry(&self, i: usize) -> Option<AuditEntry<'_>> {
        let places = self.entries.get(i)?;
        let text = |k: usize| {
            let (start, end) = *places.texts.get(k)?;
            self.texts.get(start..end)
        };
        Some(AuditEntry {
            seq: self.first.checked_add(i64::try_from(i).ok()?)?,
            occurred_at: places.occurred_at,
            actor: text(0)?,
            action: text(1)?,
            target: text(2)?,
            outcome: text(3)?,
            details: text(4)?,
            prev_hash: text(5)?,
            entry_hash: text(6)?,
        })
    }
}

/// Every entry of the log in sequence order, in pages; see the module header. The pages are
/// read by a task of their own, [`PAGES_AHEAD`] ahead; dropping the stream stops it.
pub(super) fn stream(pool: SqlitePool) -> BoxStream<'static, Item> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        let no_runtime = Error::Connect {
            backend: "sqlite",
            cause: "no Tokio runtime to read the audit log on".to_owned(),
        };
        return stream::once(async { Err(no_runtime) }).boxed();
    };
    let (out, pages) = tokio::sync::mpsc::channel::<Item>(PAGES_AHEAD);
    runtime.spawn(read_all(pool, out));
    stream::unfold(pages, |mut pages| async move {
        pages.recv().await.map(|page| (page, pages))
    })
    .boxed()
}

/// Sends the log page by page until its end, the first error, or the caller leaving: side by
/// side ([`side_by_side::read`]) while every page is plain and whole, then one page after
/// another ([`one_after_another`]) from the first page that is not, in the same snapshot.
async fn read_all(pool: SqlitePool, out: tokio::sync::mpsc::Sender<Item>) {
    let (tx, second) = match side_by_side::open_snapshot(&pool).await {
        Ok(opened) => opened,
        Err(e) => {
            let _ = out.send(Err(e)).await;
            return;
        }
    };
    let (tx, after) = match second {
        Some((other, last)) => match side_by_side::read(tx, other, last, &out).await {
            Ok(Some(went_on)) => went_on,
            Ok(None) => return,
            Err(e) => {
                let _ = out.send(Err(e)).await;
                return;
            }
        },
        None => (tx, 0),
    };
    one_after_another(tx, after, out).await;
}

/// Sends the log page by page from `after` on, until its end, the first error, or the caller
/// leaving. While a page is unpacked, SQLite already reads the next one (on sqlx's worker
/// thread).
async fn one_after_another(mut tx: Tx, mut after: i64, out: tokio::sync::mpsc::Sender<Item>) {
    let mut fetched = fetch(&mut tx, after).await;
    loop {
        let (rows, failed) = match fetched {
            Some(Packed {
                count,
                first,
                last,
                columns: Some(columns),
            }) => {
                // The next page is asked for first, then this one unpacked meanwhile.
                let (next, page) = tokio::join!(fetch(&mut tx, last), async {
                    unpack(columns, count, first, after)
                });
                match page {
                    Some(page) => {
                        fetched = next;
                        after = last;
                        if out
                            .send(Ok(AuditPage(PageBody::Packed(page))))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    None => row_by_row(&mut tx, after).await,
                }
            }
            _ => row_by_row(&mut tx, after).await,
        };
        if rows.is_empty() && failed.is_none() {
            let _ = tx.rollback().await;
            return;
        }
        if let Some(last) = rows.last() {
            after = last.seq;
        }
        if !rows.is_empty() && out.send(Ok(AuditPage(PageBody::Rows(rows)))).await.is_err() {
            return;
        }
        // Nothing is read past an error (the transaction is rolled back as it is dropped).
        if let Some(e) = failed {
            let _ = out.send(Err(e)).await;
            return;
        }
        fetched = fetch(&mut tx, after).await;
    }
}

/// The page after `after` as [`PAGE_PACKED`] packs it; `None` when the statement fails (the
/// row-by-row read then tells what is wrong, as it always did).
async fn fetch(tx: &mut Tx, after: i64) -> Option<Packed> {
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
    let first: i64 = row.try_get(2).ok()?;
    let last: i64 = row.try_get(3).ok()?;
    let columns = (plain == count && last.checked_sub(first) == Some(count - 1))
        .then(|| {
            let mut columns: [String; 2] = Default::default();
            for (i, column) in columns.iter_mut().enumerate() {
                *column = row.try_get(i + 4).ok()?;
            }
            Some(columns)
        })
        .flatten();
    Some(Packed {
        count,
        first,
        last,
        columns,
    })
}

/// The entries of a packed page: exactly `count` of them, from `first` on, after `after`;
/// `None` when the columns do not add up.
fn unpack(columns: [String; 2], count: i64, first: i64, after: i64) -> Option<Unpacked> {
    let [times, texts] = columns;
    let count = usize::try_from(count).ok()?;
    if first <= after {
        return None;
    }
    let mut times = times.split(' ').map(|n| n.parse::<i64>().ok());
    let mut places = places_in(&texts);
    let mut entries: Vec<Places> = Vec::with_capacity(count);
    for _ in 0..count {
        let occurred_at = times.next()??;
        let mut texts = [(0, 0); 7];
        for text in &mut texts {
            *text = places.next()?;
        }
        entries.push(Places { occurred_at, texts });
    }
    let all_used = times.next().is_none() && places.next().is_none();
    drop(places);
    all_used.then_some(Unpacked {
        texts,
        first,
        entries,
    })
}

/// The byte range of each value of a packed text: the pieces between its
/// [`SEPARATOR`]s, found by one SIMD scan of the text.
fn places_in(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let ends = memchr::memchr_iter(SEPARATOR, text.as_bytes()).chain([text.len()]);
    ends.scan(0, |at: &mut usize, end| {
        let start = *at;
        *at = end + 1;
        Some((start, end))
    })
}

/// The page with sqlx's typed decoding: its entries up to the first error, and that error.
async fn row_by_row(tx: &mut Tx, after: i64) -> (Vec<AuditRow>, Option<Error>) {
    let mut rows = sqlx::query_as::<_, AuditRow>(PAGE_AS_ROWS)
        .bind(after)
        .bind(PAGE)
        .fetch(&mut **tx);
    let mut page = Vec::new();
    while let Some(row) = rows.next().await {
        match row {
            Ok(row) => page.push(row),
            Err(e) => return (page, Some(e.into())),
        }
    }
    (page, None)
}

#[cfg(test)]
mod tests;
