//! SQL for the auditor's leak trace and breach scope: the released extracts in scope, one
//! extract's ledger read in order or looked up by member pseudonym, member counts over several
//! extracts, the extracts an account held in a time window.
//!
//! Guarantees: reads only; only released extracts (live, or shredded after being live) and only
//! in the districts the caller passes (all when `None`); keys are bound, never spliced, and the
//! column a read uses is a fixed name from [`LedgerKey`]. Every lookup stays inside one
//! extract's part of the ledger: nothing here needs an index across extracts (issue 19).

use sqlx::QueryBuilder;

use super::extracts::{ExtractRow, extract_columns_as, push_districts_as};
use super::{Backend, Error, Store, on_pool};

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
            LedgerKey::Member => "member_ref",
            LedgerKey::Row => "row_ref",
        }
    }
}

/// A released extract whose ledger a trace reads, with how many members it held.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerExtract {
    pub id: String,
    pub members: i64,
}

/// Keys bound per lookup statement.
pub const KEYS_PER_STATEMENT: usize = 500;

const RELEASED: &str = "e.live_at IS NOT NULL AND e.state IN ('live', 'shredded')";

fn members_query<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    extract_id: &'a str,
    keys: &'a [[u8; 16]],
) where
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push("SELECT position, member_ref FROM disclosed_members WHERE extract_id = ");
    qb.push_bind(extract_id);
    qb.push(" AND member_ref IN (");
    let mut sep = qb.separated(", ");
    for k in keys {
        sep.push_bind(k.as_slice());
    }
    qb.push(")");
}

impl Store {
    /// The released extracts in `districts` (all when `None`) with their member counts, oldest
    /// first: the extracts whose ledgers a trace reads.
    pub async fn list_released_extracts(
        &self,
        districts: Option<&[String]>,
    ) -> Result<Vec<LedgerExtract>, Error> {
        let head = format!(
            "SELECT e.id, COALESCE(e.row_count, 0) AS members FROM extracts e WHERE {RELEASED}"
        );
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb = QueryBuilder::<sqlx::Sqlite>::new(head);
                push_districts_as(&mut qb, "e.district", districts);
                qb.push(" ORDER BY e.live_at, e.id");
                qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb = QueryBuilder::<sqlx::Postgres>::new(head);
                push_districts_as(&mut qb, "e.district", districts);
                qb.push(" ORDER BY e.live_at, e.id");
                qb.build_query_as().fetch_all(pool).await?
            }
        };
        Ok(rows)
    }

    /// Up to `limit` ledger rows `(position, key)` of one extract from `from_position` on, in
    /// position order: the extract's ledger read as it was written.
    pub async fn ledger_page(
        &self,
        extract_id: &str,
        key: LedgerKey,
        from_position: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, Error> {
        let sql = format!(
            "SELECT position, {} FROM disclosures WHERE extract_id = $1 AND position >= $2 \
             ORDER BY position LIMIT $3",
            key.column()
        );
        let rows = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(extract_id).bind(from_position).bind(limit)
                .fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The ledger rows `(position, member_ref)` of one extract whose member pseudonym is one
    /// of `keys` (at most [`KEYS_PER_STATEMENT`]): a keyed lookup per key.
    pub async fn find_members_in(
        &self,
        extract_id: &str,
        keys: &[[u8; 16]],
    ) -> Result<Vec<(i64, Vec<u8>)>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb = QueryBuilder::<sqlx::Sqlite>::new("");
                members_query(&mut qb, extract_id, keys);
                qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb = QueryBuilder::<sqlx::Postgres>::new("");
                members_query(&mut qb, extract_id, keys);
                qb.build_query_as().fetch_all(pool).await?
            }
        };
        Ok(rows)
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
