//! SQL for the auditor's leak trace and breach scope: ledger rows by member pseudonym or row
//! tag, member counts over several extracts, the extracts an account held in a time window.
//!
//! Guarantees: reads only; only released extracts (live, or shredded after being live) and only
//! in the districts the caller passes (all when `None`); keys are bound, never spliced, and the
//! column a lookup uses is a fixed name from [`LedgerKey`].

use sqlx::QueryBuilder;

use super::extracts::{ExtractRow, extract_columns_as, push_districts_as};
use super::{Backend, Error, Store};

/// Which ledger column a trace looks its keys up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKey {
    /// `member_ref`: the member number's pseudonym (16 bytes).
    Member,
    /// `row_ref`: the row's keyed tag (8 bytes).
    Row,
}

impl LedgerKey {
    fn column(self) -> &'static str {
        match self {
            LedgerKey::Member => "d.member_ref",
            LedgerKey::Row => "d.row_ref",
        }
    }
}

/// One ledger row that matched a key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerHit {
    pub extract_id: String,
    pub position: i64,
    pub ref_value: Vec<u8>,
}

/// Keys bound per lookup statement.
const KEYS_PER_STATEMENT: usize = 500;

const RELEASED: &str = "e.live_at IS NOT NULL AND e.state IN ('live', 'shredded')";

fn hits_query<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    key: LedgerKey,
    keys: &'a [Vec<u8>],
    districts: Option<&'a [String]>,
) where
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let column = key.column();
    qb.push(format!(
        "SELECT d.extract_id, d.position, {column} AS ref_value FROM disclosures d \
         JOIN extracts e ON e.id = d.extract_id WHERE {RELEASED} AND {column} IN ("
    ));
    let mut sep = qb.separated(", ");
    for k in keys {
        sep.push_bind(k.as_slice());
    }
    qb.push(")");
    push_districts_as(qb, "e.district", districts);
}

impl Store {
    /// Every ledger row whose `key` column holds one of `keys`, in released extracts in
    /// `districts` (all when `None`).
    pub async fn find_ledger_hits(
        &self,
        key: LedgerKey,
        keys: &[Vec<u8>],
        districts: Option<&[String]>,
    ) -> Result<Vec<LedgerHit>, Error> {
        let mut hits = Vec::new();
        for part in keys.chunks(KEYS_PER_STATEMENT) {
            let mut found: Vec<LedgerHit> = match &self.backend {
                Backend::Sqlite(pool) => {
                    let mut qb = QueryBuilder::<sqlx::Sqlite>::new("");
                    hits_query(&mut qb, key, part, districts);
                    qb.build_query_as().fetch_all(pool).await?
                }
                Backend::Postgres(pool) => {
                    let mut qb = QueryBuilder::<sqlx::Postgres>::new("");
                    hits_query(&mut qb, key, part, districts);
                    qb.build_query_as().fetch_all(pool).await?
                }
            };
            hits.append(&mut found);
        }
        Ok(hits)
    }

    /// How many different members the ledger records over all of `extract_ids`.
    pub async fn count_distinct_members(&self, extract_ids: &[String]) -> Result<i64, Error> {
        if extract_ids.is_empty() {
            return Ok(0);
        }
        let head = "SELECT COUNT(DISTINCT member_ref) FROM disclosures WHERE extract_id IN (";
        let n = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb = QueryBuilder::<sqlx::Sqlite>::new(head);
                let mut sep = qb.separated(", ");
                for id in extract_ids {
                    sep.push_bind(id);
                }
                qb.push(")");
                qb.build_query_scalar().fetch_one(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb = QueryBuilder::<sqlx::Postgres>::new(head);
                let mut sep = qb.separated(", ");
                for id in extract_ids {
                    sep.push_bind(id);
                }
                qb.push(")");
                qb.build_query_scalar().fetch_one(pool).await?
            }
        };
        Ok(n)
    }

    /// The released extracts `requester_id` held at some moment in `[from, to]` (unix
    /// seconds): live by `to` and not ended before `from`; in `districts` (all when `None`),
    /// oldest first.
    pub async fn list_extracts_held_between(
        &self,
        requester_id: &str,
        from: i64,
        to: i64,
        districts: Option<&[String]>,
    ) -> Result<Vec<ExtractRow>, Error> {
        let columns = extract_columns_as("e");
        let head =
            format!("SELECT {columns} FROM extracts e WHERE {RELEASED} AND e.requester_id = ");
        let tail = " AND (e.ended_at IS NULL OR e.ended_at >= ";
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb = QueryBuilder::<sqlx::Sqlite>::new(head);
                qb.push_bind(requester_id)
                    .push(" AND e.live_at <= ")
                    .push_bind(to);
                qb.push(tail).push_bind(from).push(")");
                push_districts_as(&mut qb, "e.district", districts);
                qb.push(" ORDER BY e.live_at, e.id");
                qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb = QueryBuilder::<sqlx::Postgres>::new(head);
                qb.push_bind(requester_id)
                    .push(" AND e.live_at <= ")
                    .push_bind(to);
                qb.push(tail).push_bind(from).push(")");
                push_districts_as(&mut qb, "e.district", districts);
                qb.push(" ORDER BY e.live_at, e.id");
                qb.build_query_as().fetch_all(pool).await?
            }
        };
        Ok(rows)
    }
}
