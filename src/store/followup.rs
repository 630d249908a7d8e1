//! SQL for follow-up flags and the DPO's reports: extracts and verdicts by when they were
//! requested, audit entries by action and time, and the acknowledgements of flags.
//!
//! Guarantees: reads only, except [`insert_followup_ack`], which never overwrites an earlier
//! acknowledgement (`ON CONFLICT DO NOTHING`); district lists and action names are bound
//! values. Nothing here sees member data: extracts are metadata, the ledger is not read.

use sqlx::QueryBuilder;

use super::audit::AuditRow;
use super::extracts::{DecisionRow, ExtractRow, extract_columns_as, push_districts_as};
use super::{Backend, Error, Store, Tx, on_tx};

/// One acknowledgement of a flag.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AckRow {
    pub flag_id: String,
    pub kind: String,
    pub district: String,
    pub acknowledged_by: String,
    pub comment: String,
    pub acknowledged_at: i64,
}

/// Most ids bound in one `IN (…)` list.
const IDS_PER_STATEMENT: usize = 500;

/// Records an acknowledgement; false when the flag was already acknowledged.
pub async fn insert_followup_ack(tx: &mut Tx, ack: &AckRow) -> Result<bool, Error> {
    const SQL: &str = "INSERT INTO followup_acks (flag_id, kind, district, acknowledged_by, \
        comment, acknowledged_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (flag_id) DO NOTHING";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(&ack.flag_id).bind(&ack.kind).bind(&ack.district).bind(&ack.acknowledged_by)
            .bind(&ack.comment).bind(ack.acknowledged_at)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// `SELECT … FROM extracts` requested in `[from, to)`, in `districts` unless `None`.
fn requested_query<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    head: &str,
    from: i64,
    to: i64,
    districts: Option<&'a [String]>,
) where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(head);
    qb.push(" WHERE e.created_at >= ");
    qb.push_bind(from);
    qb.push(" AND e.created_at < ");
    qb.push_bind(to);
    push_districts_as(qb, "e.district", districts);
}

fn actions_query<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    actions: &'a [&'a str],
    from_ms: i64,
    to_ms: i64,
) where
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(
        "SELECT seq, occurred_at, actor, action, target, outcome, details, prev_hash, \
         entry_hash FROM audit_events WHERE occurred_at >= ",
    );
    qb.push_bind(from_ms);
    qb.push(" AND occurred_at < ");
    qb.push_bind(to_ms);
    qb.push(" AND action IN (");
    let mut sep = qb.separated(", ");
    for a in actions {
        sep.push_bind(*a);
    }
    qb.push(") ORDER BY seq");
}

fn acks_query<'a, DB: sqlx::Database>(qb: &mut QueryBuilder<'a, DB>, ids: &'a [String])
where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(
        "SELECT flag_id, kind, district, acknowledged_by, comment, acknowledged_at \
         FROM followup_acks WHERE flag_id IN (",
    );
    let mut sep = qb.separated(", ");
    for id in ids {
        sep.push_bind(id);
    }
    qb.push(")");
}

/// Runs a query built by `$build` on either backend and fetches every row.
macro_rules! fetch_built {
    ($store:expr, $qb:ident => $build:expr) => {
        match &$store.backend {
            Backend::Sqlite(pool) => {
                let mut $qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new("");
                $build;
                $qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut $qb: QueryBuilder<'_, sqlx::Postgres> = QueryBuilder::new("");
                $build;
                $qb.build_query_as().fetch_all(pool).await?
            }
        }
    };
}

impl Store {
    /// Extracts requested in `[from, to)` (Unix seconds), oldest first; in `districts` only
    /// unless `None` (party-wide).
    pub async fn list_extracts_requested_between(
        &self,
        from: i64,
        to: i64,
        districts: Option<&[String]>,
    ) -> Result<Vec<ExtractRow>, Error> {
        let columns = extract_columns_as("e");
        let head = format!("SELECT {columns} FROM extracts e");
        let rows: Vec<ExtractRow> = fetch_built!(self, qb => {
            requested_query(&mut qb, &head, from, to, districts);
            qb.push(" ORDER BY e.created_at, e.id");
        });
        Ok(rows)
    }

    /// Every verdict on the extracts [`Store::list_extracts_requested_between`] returns.
    pub async fn list_verdicts_on_extracts_requested_between(
        &self,
        from: i64,
        to: i64,
        districts: Option<&[String]>,
    ) -> Result<Vec<DecisionRow>, Error> {
        let head = "SELECT d.extract_id, d.approver_id, d.verdict, d.request_hash, d.comment, \
            d.decided_at FROM extract_decisions d JOIN extracts e ON e.id = d.extract_id";
        let rows: Vec<DecisionRow> = fetch_built!(self, qb => {
            requested_query(&mut qb, head, from, to, districts);
            qb.push(" ORDER BY d.decided_at, d.extract_id, d.approver_id");
        });
        Ok(rows)
    }

    /// Audit entries with one of `actions` that occurred in `[from_ms, to_ms)` (Unix
    /// milliseconds), in sequence order.
    pub async fn list_audit_events_by_action_between(
        &self,
        actions: &[&str],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<AuditRow>, Error> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<AuditRow> = fetch_built!(self, qb => {
            actions_query(&mut qb, actions, from_ms, to_ms);
        });
        Ok(rows)
    }

    /// The acknowledgements of the flags with these ids (unknown ids are skipped).
    pub async fn list_followup_acks(&self, ids: &[String]) -> Result<Vec<AckRow>, Error> {
        let mut out = Vec::new();
        for part in ids.chunks(IDS_PER_STATEMENT) {
            let rows: Vec<AckRow> = fetch_built!(self, qb => acks_query(&mut qb, part));
            out.extend(rows);
        }
        Ok(out)
    }
}
