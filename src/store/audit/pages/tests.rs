//! The paged reader against one plain `SELECT … ORDER BY seq` with sqlx's typed decoding, on
//! a log longer than two pages, and on logs tampered with values sqlx refuses or decodes
//! specially: the same entries, and the first error in the same place with the same text.

use std::time::Duration;

use futures::StreamExt;
use sqlx::{Executor, SqlitePool};

use super::{AuditRow, PAGE, stream};
use crate::store::Store;

const ALL: &str = "SELECT seq, occurred_at, actor, action, target, outcome, details, \
                   prev_hash, entry_hash FROM audit_events ORDER BY seq";

/// A migrated store holding `entries` made-up entries (the guards dropped, so that tests can
/// change them), and a raw pool on it.
async fn log_of(entries: i64) -> (tempfile::TempDir, SqlitePool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    Store::scratch(path.clone()).await.close().await;
    let raw = SqlitePool::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    raw.execute(
        "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; \
         DROP TRIGGER audit_events_chain;",
    )
    .await
    .unwrap();
    let insert = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {entries}) \
         INSERT INTO audit_events SELECT i, 1700000000000 + i * 7, 'user:' || i, 'extract.shown', \
         'extract:' || (i % 13), CASE WHEN i % 3 = 0 THEN 'denied' ELSE 'success' END, \
         '{{\"why\":\"Åsa \\\"quoted\\\" 😀\",\"n\":' || i || '}}' || char(10) || '', \
         printf('%064x', i - 1), printf('%064x', i) FROM n"
    );
    raw.execute(insert.as_str()).await.unwrap();
    (dir, raw)
}

/// What the paged reader yields, and what one statement yields up to its first error.
async fn both(raw: &SqlitePool) -> (Vec<Result<AuditRow, String>>, Vec<Result<AuditRow, String>>) {
    let mut paged = Vec::new();
    let mut pages = stream(raw.clone());
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                assert!(!page.is_empty(), "an empty page");
                paged.extend(page.entries().map(|e| Ok(e.to_row())));
            }
            Err(e) => paged.push(Err(e.to_string())),
        }
    }
    let mut plain = Vec::new();
    let mut rows = sqlx::query_as::<_, AuditRow>(ALL).fetch(raw);
    while let Some(row) = rows.next().await {
        let failed = row.is_err();
        plain.push(row.map_err(|e| crate::store::Error::from(e).to_string()));
        if failed {
            break;
        }
    }
    (paged, plain)
}

#[tokio::test]
async fn a_log_of_several_pages_reads_exactly_as_one_statement() {
    let entries = PAGE * 2 + 17;
    let (_dir, raw) = log_of(entries).await;
    let (paged, plain) = both(&raw).await;
    assert_eq!(paged.len(), usize::try_from(entries).unwrap());
    assert!(paged == plain, "the pages differ from the statement");
}

#[tokio::test]
async fn an_empty_log_reads_as_nothing() {
    let (_dir, raw) = log_of(0).await;
    raw.execute("DELETE FROM audit_events").await.unwrap();
    let (paged, plain) = both(&raw).await;
    assert!(paged.is_empty() && plain.is_empty());
}

/// Values sqlx refuses (REAL, text or a BLOB where an integer belongs, a BLOB or text that is
/// not UTF-8 where text belongs) end the read with sqlx's own error at that entry, after the
/// entries before it; the entries before it on its page are handed out first.
#[tokio::test]
async fn values_sqlx_refuses_end_the_read_at_the_same_entry_with_the_same_error() {
    // In the middle of the third page.
    let bad = PAGE * 2 + PAGE / 2 + 3;
    let tamperings = [
        "occurred_at = 1.5",
        "occurred_at = 'yesterday'",
        "occurred_at = X'01'",
        "actor = X'41'",
        "outcome = X''",
        "entry_hash = X'4142'",
        "details = CAST(X'FF' AS TEXT)",
    ];
    for change in tamperings {
        let (_dir, raw) = log_of(PAGE * 4).await;
        let tamper = format!("UPDATE audit_events SET {change} WHERE seq = {bad}");
        raw.execute(tamper.as_str()).await.unwrap();
        let (paged, plain) = both(&raw).await;
        assert_eq!(paged.len(), usize::try_from(bad).unwrap(), "{tamper}");
        assert!(paged.last().is_some_and(Result::is_err), "{tamper}");
        assert!(
            paged == plain,
            "{tamper}: {:?} vs {:?}",
            paged.last(),
            plain.last()
        );
    }
}

/// Text that looks like something else (a number stored in a text column, empty text, text
/// holding a NUL) comes out as the text it is.
#[tokio::test]
async fn values_sqlx_decodes_specially_come_out_as_sqlx_decodes_them() {
    let (_dir, raw) = log_of(PAGE + 3).await;
    raw.execute("UPDATE audit_events SET actor = 42 WHERE seq = 7")
        .await
        .unwrap();
    raw.execute("UPDATE audit_events SET target = '' WHERE seq = 8")
        .await
        .unwrap();
    // Text ends at a NUL for C's string functions, never for SQLite's values or for sqlx.
    raw.execute("UPDATE audit_events SET action = CAST(X'610062' AS TEXT) WHERE seq = 514")
        .await
        .unwrap();
    // A value holding the packing's separator: its page is read row by row, the same.
    raw.execute("UPDATE audit_events SET details = 'x' || char(30) || 'y' WHERE seq = 9")
        .await
        .unwrap();
    let (paged, plain) = both(&raw).await;
    let differ = paged.iter().zip(&plain).position(|(a, b)| a != b);
    assert!(
        paged == plain,
        "{differ:?} {:?} vs {:?}",
        differ.map(|i| &paged[i]),
        differ.map(|i| &plain[i])
    );
}

/// A plain log is read through the packed pages, not the row-by-row fallback (which gives the
/// same entries, only slower): the speed `audit verify` is measured at depends on it.
#[tokio::test]
async fn a_plain_log_is_read_packed_and_a_tampered_page_is_not() {
    let (_dir, raw) = log_of(PAGE + 3).await;
    let mut tx = raw.begin().await.unwrap();
    let unpacked = |p: super::Packed, after| {
        let columns = p.columns.expect("a packed page");
        super::unpack(columns, p.count, p.first, after).expect("it unpacks")
    };
    let first = super::fetch(&mut tx, 0).await.unwrap();
    assert_eq!((first.count, first.first, first.last), (PAGE, 1, PAGE));
    let page = unpacked(first, 0);
    assert_eq!(page.len(), usize::try_from(PAGE).unwrap());
    let second = page.entry(1).unwrap();
    assert_eq!((second.seq, second.actor), (2, "user:2"));
    let rest = super::fetch(&mut tx, PAGE).await.unwrap();
    assert_eq!(unpacked(rest, PAGE).len(), 3);
    assert!(
        super::fetch(&mut tx, PAGE + 3).await.is_none(),
        "past the end: read row by row, which finds nothing"
    );
    tx.rollback().await.unwrap();
    for change in [
        "occurred_at = 1.5",
        "actor = X'41'",
        "prev_hash = X''",
        "seq = seq + 1000",
    ] {
        let (_dir, raw) = log_of(PAGE + 3).await;
        let tamper = format!("UPDATE audit_events SET {change} WHERE seq = 2");
        raw.execute(tamper.as_str()).await.unwrap();
        let mut tx = raw.begin().await.unwrap();
        let tampered = super::fetch(&mut tx, 0).await.unwrap();
        assert!(
            tampered.columns.is_none(),
            "{tamper}: the page goes to the fallback"
        );
        tx.rollback().await.unwrap();
    }
}

/// Unpacking refuses anything but exactly the entries announced, in order.
#[test]
fn a_packed_page_that_does_not_add_up_is_refused() {
    let page = |times: &str, details: &str| -> [String; 2] {
        let (first, second) = details.split_once('|').unwrap();
        let texts = format!(
            "a\u{1e}c\u{1e}e\u{1e}g\u{1e}{first}\u{1e}i\u{1e}k\u{1e}\
             b\u{1e}d\u{1e}f\u{1e}h\u{1e}{second}\u{1e}j\u{1e}l"
        );
        [times.to_owned(), texts]
    };
    let good = || page("100 200", "{}|");
    let rows = super::unpack(good(), 2, 7, 6).unwrap();
    let (first, second) = (rows.entry(0).unwrap(), rows.entry(1).unwrap());
    assert_eq!((first.details, second.details), ("{}", ""));
    assert_eq!((first.seq, first.actor, first.occurred_at), (7, "a", 100));
    assert_eq!((second.seq, second.entry_hash), (8, "l"));
    assert!(rows.entry(2).is_none());
    assert!(
        super::unpack(good(), 1, 7, 6).is_none(),
        "more than counted"
    );
    assert!(
        super::unpack(good(), 3, 7, 6).is_none(),
        "fewer than counted"
    );
    assert!(
        super::unpack(good(), 2, 7, 7).is_none(),
        "not after the previous page"
    );
    let not_a_time = page("100 2.5", "{}|");
    assert!(super::unpack(not_a_time, 2, 7, 6).is_none(), "a REAL time");
    let holding = page("100 200", "{}\u{1e}|");
    assert!(
        super::unpack(holding, 2, 7, 6).is_none(),
        "a value holding the separator"
    );
    let [times, texts] = good();
    let missing = [times, texts[..texts.rfind('\u{1e}').unwrap()].to_owned()];
    assert!(super::unpack(missing, 2, 7, 6).is_none(), "a value missing");
}

/// Entries deleted over more than a page: the read goes on after the gap, as one statement
/// does (and `verify` then names the first missing entry).
#[tokio::test]
async fn a_gap_of_more_than_a_page_reads_as_one_statement() {
    let (_dir, raw) = log_of(PAGE * 3).await;
    let gap = format!(
        "DELETE FROM audit_events WHERE seq > 10 AND seq <= {}",
        10 + PAGE + 5
    );
    raw.execute(gap.as_str()).await.unwrap();
    let (paged, plain) = both(&raw).await;
    assert_eq!(paged.len(), usize::try_from(PAGE * 2 - 5).unwrap());
    assert!(paged == plain, "the pages differ from the statement");
}

/// The log is read by two tasks side by side: every page of a plain log comes packed, in
/// order, and a page that is not plain half-way through hands over to the reading page after
/// page there, with the same entries and error as one statement.
#[tokio::test]
async fn two_tasks_read_a_plain_log_packed_and_hand_over_where_it_is_not() {
    let entries = PAGE * 5 + 7;
    let (_dir, raw) = log_of(entries).await;
    let mut pages = stream(raw.clone());
    let mut seqs = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        assert!(
            matches!(page.0, crate::store::audit::PageBody::Packed(_)),
            "a page read row by row"
        );
        seqs.extend(page.entries().map(|e| e.seq));
    }
    assert_eq!(seqs, (1..=entries).collect::<Vec<_>>());
    for change in [
        format!("DELETE FROM audit_events WHERE seq = {}", PAGE * 3 + 2),
        format!(
            "UPDATE audit_events SET actor = X'41' WHERE seq = {}",
            PAGE * 3 + 2
        ),
        format!(
            "UPDATE audit_events SET seq = seq + 100000 WHERE seq > {}",
            PAGE * 4
        ),
    ] {
        let (_dir, raw) = log_of(entries).await;
        raw.execute(change.as_str()).await.unwrap();
        let (paged, plain) = both(&raw).await;
        assert!(
            paged == plain,
            "{change}: the pages differ from the statement"
        );
    }
}

/// Both read transactions begin on one snapshot while a third connection holds the write
/// lock; where that lock cannot be had (a pool of two, a writer holding it) one transaction
/// reads the log alone, and reads all of it.
#[tokio::test]
async fn two_readers_begin_on_one_snapshot_or_one_reads_alone() {
    let entries = PAGE * 2 + 1;
    let (dir, raw) = log_of(entries).await;
    let (tx, second) = super::side_by_side::open_snapshot(&raw).await.unwrap();
    let (other, last) = second.expect("a second reader");
    assert_eq!(last, entries);
    drop((tx, other));
    let path = dir.path().join("store.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .busy_timeout(Duration::from_millis(50));
    let two = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .unwrap();
    let (tx, second) = super::side_by_side::open_snapshot(&two).await.unwrap();
    assert!(second.is_none(), "a pool of two read side by side");
    drop(tx);
    let mut writer = raw.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("UPDATE audit_events SET actor = actor WHERE seq = 1")
        .execute(&mut *writer)
        .await
        .unwrap();
    let held = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    let (tx, second) = super::side_by_side::open_snapshot(&held).await.unwrap();
    assert!(second.is_none(), "read side by side without the write lock");
    drop(tx);
    let (paged, plain) = both(&held).await;
    assert_eq!(paged.len(), usize::try_from(entries).unwrap());
    assert!(paged == plain, "the pages differ from the statement");
    writer.rollback().await.unwrap();
}

/// Entries committed after the read began are not read, neither by the two tasks nor by the
/// reading page after page that ends the log.
#[tokio::test]
async fn entries_committed_while_the_log_is_read_are_not_in_it() {
    let entries = PAGE * 6;
    let (_dir, raw) = log_of(entries).await;
    let mut pages = stream(raw.clone());
    let mut read = pages.next().await.unwrap().unwrap().entries().count();
    raw.execute(
        format!(
            "INSERT INTO audit_events SELECT seq + {entries}, occurred_at, actor, action, \
             target, outcome, details, prev_hash, entry_hash FROM audit_events"
        )
        .as_str(),
    )
    .await
    .unwrap();
    while let Some(page) = pages.next().await {
        read += page.unwrap().entries().count();
    }
    assert_eq!(read, usize::try_from(entries).unwrap());
}
