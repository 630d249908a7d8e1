//! The audit log of a SQLite store read by two tasks side by side, each on a connection of
//! its own, every other page each, while every page is plain and whole.
//!
//! Guarantees: both read transactions see one snapshot (they begin while a third connection
//! holds the write lock, so no commit comes between them); the pages come out in order; the
//! reading stops at the first page that is not plain and whole and hands a transaction of the
//! same snapshot back, with the `seq` the caller goes on after; a task that does not come back
//! is an error, never a log that ends early.
//!
//! Must never: write (the lock is taken with nothing written and given up as soon as both
//! reads have begun; every transaction is rolled back).

use sqlx::SqlitePool;

use super::{
    AuditPage, Error, Item, PAGE, PAGES_AHEAD, Packed, PageBody, Tx, Unpacked, fetch, unpack,
};

/// The read transaction the log is read in and, where the store allows, a second one on
/// another connection that sees exactly the same log, with that log's last `seq`. Both begin
/// while a third connection holds the store's write lock (`BEGIN IMMEDIATE`, nothing written,
/// given up at once), so no commit can come between them; each starts its snapshot by reading
/// the last `seq`. Without that lock (a pool of fewer than three connections, a store opened
/// read-only, a writer that keeps it past the busy timeout) or when anything about the
/// second one fails, the first transaction reads the log alone.
pub(super) async fn open_snapshot(pool: &SqlitePool) -> Result<(Tx, Option<(Tx, i64)>), Error> {
    if pool.options().get_max_connections() < 3 {
        return Ok((pool.begin().await?, None));
    }
    let lock = pool.begin_with("BEGIN IMMEDIATE").await;
    let mut tx = pool.begin().await?;
    let Ok(lock) = lock else {
        return Ok((tx, None));
    };
    let second = async {
        let mut other = pool.begin().await.ok()?;
        let mine = last_seq(&mut tx).await?;
        let theirs = last_seq(&mut other).await?;
        (mine == theirs).then_some((other, mine))
    }
    .await;
    // Dropping it rolls it back too; nothing was written either way.
    let _ = lock.rollback().await;
    Ok((tx, second))
}

/// The log's last `seq` (0 when empty), reading which starts the transaction's snapshot;
/// `None` when it is not a plain integer (the reading one page after another then tells).
async fn last_seq(tx: &mut Tx) -> Option<i64> {
    sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(seq), 0) FROM audit_events")
        .fetch_one(&mut **tx)
        .await
        .ok()
}

/// Reads the pages of a log whose last `seq` is `last` in two tasks, each in its own
/// transaction of one snapshot (`tx` and `other`), page `k` (the entries `k * PAGE + 1` to
/// `(k + 1) * PAGE`) by the task `k % 2`, and sends them in order. It stops at the first page
/// that is not plain and whole (a gap, a value that is not plain, a statement that failed),
/// and hands back a transaction of the snapshot with the `seq` after which reading goes on;
/// `None` when the caller left. A task that did not come back is an error, never a log that
/// ends early.
pub(super) async fn read(
    tx: Tx,
    other: Tx,
    last: i64,
    out: &tokio::sync::mpsc::Sender<Item>,
) -> Result<Option<(Tx, i64)>, Error> {
    let pages = last.div_euclid(PAGE) + i64::from(last.rem_euclid(PAGE) > 0);
    let (to_first, mut from_first) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    let (to_second, mut from_second) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    let first = tokio::spawn(read_every_other(tx, 0, pages, last, to_first));
    let second = tokio::spawn(read_every_other(other, 1, pages, last, to_second));
    let mut after = 0;
    let mut left = false;
    for k in 0..pages {
        let from = if k % 2 == 0 {
            &mut from_first
        } else {
            &mut from_second
        };
        let Some(Some(page)) = from.recv().await else {
            break;
        };
        if out
            .send(Ok(AuditPage(PageBody::Packed(page))))
            .await
            .is_err()
        {
            left = true;
            break;
        }
        after = (k + 1).saturating_mul(PAGE).min(last);
    }
    // The tasks stop at their next page once nobody takes them.
    drop((from_first, from_second));
    let tx = match (first.await, second.await) {
        (Ok(tx), Ok(other)) => {
            let _ = other.rollback().await;
            tx
        }
        (Ok(tx), Err(_)) | (Err(_), Ok(tx)) => tx,
        (Err(e), Err(_)) => {
            tracing::error!(error = %e, "both readers of the audit log stopped");
            return Err(Error::Database(sqlx::Error::WorkerCrashed));
        }
    };
    Ok((!left).then_some((tx, after)))
}

/// Reads pages `parity`, `parity + 2`, … below `pages` of a log ending at `last`, sending each
/// as it is unpacked, or `None` for the first that is not plain and whole (then stops); gives
/// its transaction back when done or when nobody takes the pages any more. SQLite reads the
/// task's next page while this one is unpacked and waits to be taken, so that its worker thread
/// does not stand idle meanwhile.
async fn read_every_other(
    mut tx: Tx,
    parity: i64,
    pages: i64,
    last: i64,
    to: tokio::sync::mpsc::Sender<Option<Unpacked>>,
) -> Tx {
    let mut k = parity;
    let mut fetched = if k < pages {
        fetch(&mut tx, k * PAGE).await
    } else {
        None
    };
    while k < pages {
        let after = k * PAGE;
        let whole = (last - after).min(PAGE);
        let page = match fetched.take() {
            Some(Packed {
                count,
                first,
                last: page_last,
                columns: Some(columns),
            }) if count == whole && first == after + 1 && page_last == after + whole => {
                Some((columns, count, first))
            }
            _ => None,
        };
        let Some((columns, count, first)) = page else {
            let _ = to.send(None).await;
            break;
        };
        let next = k + 2;
        let (read, sent) = tokio::join!(
            async {
                if next < pages {
                    fetch(&mut tx, next * PAGE).await
                } else {
                    None
                }
            },
            async {
                let page = unpack(columns, count, first, after);
                let plain = page.is_some();
                to.send(page).await.is_ok() && plain
            }
        );
        if !sent {
            break;
        }
        fetched = read;
        k = next;
    }
    tx
}
