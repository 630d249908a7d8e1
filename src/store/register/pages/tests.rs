//! The paged SQLite reader against one plain `rows_sql` statement over awkward registers:
//! member ids missing, shared by more rows than a page holds, shared across a page's edge,
//! of every storage class, compared case-insensitively; values NULL, empty, non-ASCII,
//! quoted, with control characters, stored as numbers.

use std::time::Duration;

use futures::TryStreamExt;
use secrecy::SecretString;
use sqlx::{Executor, SqlitePool};

use super::super::sql::{ColumnKind, Condition, RowQuery, Value, rows_sql};
use super::super::{Backend, Limits, RegisterDb, TextRow, builder, decode_row};
use super::PAGE_ROWS;

const VALUES: [&str; 8] = [
    "NULL",
    "''",
    "'Åsa Öberg-Ångström'",
    "'emoji 😀 and ∑'",
    "'quote \" and \\ backslash'",
    "'tab' || char(9) || 'newline' || char(10) || 'ctrl' || char(1) || char(0) || 'nul'",
    "'''; DROP TABLE t; --'",
    "'[\"not\", \"json\"]'",
];
const OTHERS: [&str; 5] = ["42", "1.5", "NULL", "'007'", "-0.0"];

/// A register file holding `create` and one row per `(id, ord)` (ids as SQL literals), with
/// varied values, and a read-only handle on it.
async fn register(create: &str, rows: &[(String, f64)]) -> (tempfile::TempDir, RegisterDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let url = format!("sqlite:{}", path.display());
    let raw = SqlitePool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    raw.execute(create).await.unwrap();
    let mut tx = raw.begin().await.unwrap();
    for (i, (id, ord)) in rows.iter().enumerate() {
        let a = VALUES[i % VALUES.len()];
        let b = OTHERS[i % OTHERS.len()];
        let d = if i % 11 == 5 { "'y'" } else { "'x'" };
        let insert =
            format!("INSERT INTO t (id, ord, a, b, d) VALUES ({id}, {ord:?}, {a}, {b}, {d})");
        tx.execute(insert.as_str()).await.unwrap();
    }
    tx.commit().await.unwrap();
    raw.close().await;
    let limits = Limits::default();
    let db = RegisterDb::connect(&SecretString::from(url), Duration::from_secs(5), 2, limits)
        .await
        .unwrap();
    (dir, db)
}

fn query(conditions: Vec<Condition>) -> RowQuery {
    RowQuery {
        table: "t".into(),
        columns: ["id", "ord", "a", "b"]
            .into_iter()
            .map(|c| (c.to_owned(), ColumnKind::Text))
            .collect(),
        conditions,
        order_by: "id".into(),
    }
}

/// The paged rows equal one plain statement's: the same multiset of rows, and both in
/// member-id order (`ord` never falls; rows sharing an id may come in any order).
async fn paged_rows_equal_one_statement(db: &RegisterDb, q: RowQuery, expect_rows: usize) {
    let paged: Vec<TextRow> = db.rows(q.clone()).unwrap().try_collect().await.unwrap();
    let super::super::Pools::Sqlite(pool) = &db.pools else {
        unreachable!("a SQLite register")
    };
    let mut plain = Vec::new();
    for row in builder(rows_sql(Backend::Sqlite, &q))
        .build()
        .fetch_all(pool)
        .await
        .unwrap()
    {
        plain.push(decode_row(&row, &q.columns).unwrap());
    }
    assert_eq!(paged.len(), expect_rows);
    for rows in [&paged, &plain] {
        let ords: Vec<f64> = rows
            .iter()
            .map(|r| r[1].as_deref().unwrap().parse().unwrap())
            .collect();
        assert!(ords.windows(2).all(|w| w[0] <= w[1]), "out of order");
    }
    let (mut paged, mut plain) = (paged, plain);
    paged.sort();
    plain.sort();
    assert!(paged == plain, "the paged rows differ from the statement's");
}

#[tokio::test]
async fn ids_missing_shared_past_a_page_and_of_every_storage_class_read_as_one_statement() {
    let page = PAGE_ROWS as usize;
    let mut rows: Vec<(String, f64)> = Vec::new();
    // More rows without an id than a page holds: they sort first.
    rows.extend((0..page + 40).map(|_| ("NULL".to_owned(), -1.0)));
    // Integers, some shared by two or three rows, one by more rows than a page holds.
    for i in 1..=1500i64 {
        let copies = match i {
            700 => page * 2 + 3,
            _ if i % 7 == 0 => 3,
            _ if i % 5 == 0 => 2,
            _ => 1,
        };
        rows.extend((0..copies).map(|_| (i.to_string(), i as f64)));
    }
    // Reals between the integers, text after every number, blobs after all text.
    rows.push(("1000.5".into(), 1000.5));
    rows.push(("1500.25".into(), 1500.25));
    for (i, text) in ["'10'", "'A'", "'a'", "'b'", "'Ö'", "''"]
        .iter()
        .enumerate()
    {
        let rank = match i {
            5 => 0.0, // '' sorts first among text
            _ => 1.0 + i as f64,
        };
        rows.push(((*text).to_owned(), 1e9 + rank));
    }
    rows.push(("X'00'".into(), 2e9));
    rows.push(("X'0001'".into(), 2e9 + 1.0));
    rows.push(("X'0001'".into(), 2e9 + 1.0));
    // Written out of order, so the table's own order is not the answer.
    rows.reverse();
    let n = rows.len();
    let create = "CREATE TABLE t (id, ord REAL, a TEXT, b, d TEXT)";
    let (_dir, db) = register(create, &rows).await;
    paged_rows_equal_one_statement(&db, query(vec![]), n).await;

    let in_x = Condition::Equals {
        column: "d".into(),
        value: Value::Text("x".into()),
    };
    let expected = (0..n).filter(|i| i % 11 != 5).count();
    paged_rows_equal_one_statement(&db, query(vec![in_x]), expected).await;
}

#[tokio::test]
async fn ids_equal_under_the_columns_collation_are_never_split_across_pages() {
    // `k0511` and `K0511` are one id under NOCASE; five rows of it straddle the first page's edge.
    let page = PAGE_ROWS as usize;
    let mut rows = Vec::new();
    for i in 0..page * 3 {
        let copies = if i == page - 1 { 5 } else { 1 };
        for c in 0..copies {
            let id = if c % 2 == 0 {
                format!("'k{i:04}'")
            } else {
                format!("'K{i:04}'")
            };
            rows.push((id, i as f64));
        }
    }
    let n = rows.len();
    let create = "CREATE TABLE t (id TEXT COLLATE NOCASE, ord REAL, a TEXT, b, d TEXT)";
    let (_dir, db) = register(create, &rows).await;
    paged_rows_equal_one_statement(&db, query(vec![]), n).await;
}

#[tokio::test]
async fn an_empty_selection_and_a_selection_of_exactly_one_page_read_as_one_statement() {
    let page = PAGE_ROWS as usize;
    let rows: Vec<(String, f64)> = (0..page).map(|i| (i.to_string(), i as f64)).collect();
    let create = "CREATE TABLE t (id INTEGER PRIMARY KEY, ord REAL, a TEXT, b, d TEXT)";
    let (_dir, db) = register(create, &rows).await;
    paged_rows_equal_one_statement(&db, query(vec![]), page).await;
    let nobody = Condition::Equals {
        column: "d".into(),
        value: Value::Text("nobody".into()),
    };
    paged_rows_equal_one_statement(&db, query(vec![nobody]), 0).await;
}

#[tokio::test]
async fn a_stream_dropped_half_way_leaves_the_pool_usable() {
    let rows: Vec<(String, f64)> = (0..3000).map(|i| (i.to_string(), i as f64)).collect();
    let create = "CREATE TABLE t (id INTEGER PRIMARY KEY, ord REAL, a TEXT, b, d TEXT)";
    let (_dir, db) = register(create, &rows).await;
    for _ in 0..4 {
        let mut stream = db.rows(query(vec![])).unwrap();
        let first = stream.try_next().await.unwrap();
        assert!(first.is_some());
        drop(stream);
    }
    paged_rows_equal_one_statement(&db, query(vec![]), 3000).await;
}
