//! SQL for call lists (`call_assignments`, `call_tallies`): which member of an extract, by its
//! ledger position, is assigned to which caller, the outcome recorded and the caller's note.
//!
//! Guarantees: an outcome is written only by the caller the member is assigned to (a
//! conditional UPDATE); reassigning moves only members without an outcome; closing counts the
//! rows into `call_tallies` and deletes them in the caller's transaction (the shredding one), so
//! after it no assignment, outcome or note is left — only counts per caller and outcome. Notes
//! arrive sealed under the extract's data key; nothing here sees member data.

use sqlx::QueryBuilder;

use super::{Backend, Error, Store, Tx, on_pool, on_tx};

/// Most assignments per INSERT statement (3 bound values each).
const ROWS_PER_STATEMENT: usize = 500;

/// One assigned member of a call list, as its caller works it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignedRow {
    pub position: i64,
    pub outcome: Option<String>,
    pub note_sealed: Option<Vec<u8>>,
}

/// How many members a caller has with one outcome (`None`: not called yet).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TallyRow {
    pub caller_id: String,
    pub outcome: Option<String>,
    pub members: i64,
}

/// A call list with members assigned to a caller, and how many are still to call.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallerListRow {
    pub extract_id: String,
    pub assigned: i64,
    pub left: i64,
}

/// Assigns `positions` of extract `id` to `caller_id`: new ones are added, ones already
/// assigned without an outcome move to this caller, ones with an outcome stay. Returns how
/// many were assigned or moved.
pub async fn assign(
    tx: &mut Tx,
    id: &str,
    caller_id: &str,
    positions: &[i64],
    at: i64,
) -> Result<u64, Error> {
    const TAIL: &str = " ON CONFLICT (extract_id, position) DO UPDATE SET \
        caller_id = excluded.caller_id, updated_at = excluded.updated_at \
        WHERE call_assignments.outcome IS NULL";
    let mut n = 0;
    for part in positions.chunks(ROWS_PER_STATEMENT) {
        let head = "INSERT INTO call_assignments (extract_id, position, caller_id, updated_at) ";
        n += match tx {
            Tx::Sqlite(t) => {
                let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new(head);
                qb.push_values(part, |mut b, p| {
                    b.push_bind(id)
                        .push_bind(*p)
                        .push_bind(caller_id)
                        .push_bind(at);
                });
                qb.push(TAIL);
                qb.build().execute(&mut **t).await?.rows_affected()
            }
            Tx::Postgres(t) => {
                let mut qb: QueryBuilder<'_, sqlx::Postgres> = QueryBuilder::new(head);
                qb.push_values(part, |mut b, p| {
                    b.push_bind(id)
                        .push_bind(*p)
                        .push_bind(caller_id)
                        .push_bind(at);
                });
                qb.push(TAIL);
                qb.build().execute(&mut **t).await?.rows_affected()
            }
        };
    }
    Ok(n)
}

/// Moves every member of `from` without an outcome to `to`; returns how many moved.
pub async fn move_unfinished(
    tx: &mut Tx,
    id: &str,
    from: &str,
    to: &str,
    at: i64,
) -> Result<u64, Error> {
    const SQL: &str = "UPDATE call_assignments SET caller_id = $3, updated_at = $4 \
        WHERE extract_id = $1 AND caller_id = $2 AND outcome IS NULL";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(from).bind(to).bind(at).execute(conn).await?
            .rows_affected()
    });
    Ok(n)
}

/// Records `outcome` (and the sealed note, or none) for the member at `position`, only if it
/// is assigned to `caller_id`; false otherwise.
pub async fn record_outcome(
    tx: &mut Tx,
    id: &str,
    position: i64,
    caller_id: &str,
    outcome: &str,
    note_sealed: Option<&[u8]>,
    at: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE call_assignments SET outcome = $4, note_sealed = $5, \
        updated_at = $6 WHERE extract_id = $1 AND position = $2 AND caller_id = $3";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(position).bind(caller_id).bind(outcome)
            .bind(note_sealed).bind(at).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Counts the list into `call_tallies` and deletes its assignments, outcomes and notes: called
/// by the transaction that shreds the extract. Idempotent (a second call finds nothing).
pub async fn close(tx: &mut Tx, id: &str) -> Result<(), Error> {
    const TALLY: &str = "INSERT INTO call_tallies (extract_id, caller_id, outcome, members) \
        SELECT extract_id, caller_id, COALESCE(outcome, ''), COUNT(*) FROM call_assignments \
        WHERE extract_id = $1 GROUP BY extract_id, caller_id, COALESCE(outcome, '') \
        ON CONFLICT (extract_id, caller_id, outcome) DO NOTHING";
    const DELETE: &str = "DELETE FROM call_assignments WHERE extract_id = $1";
    on_tx!(tx, conn => {
        sqlx::query(TALLY).bind(id).execute(&mut *conn).await?;
        sqlx::query(DELETE).bind(id).execute(&mut *conn).await?;
    });
    Ok(())
}

/// The positions of extract `id` whose recorded outcome is `outcome`, ascending: read in the
/// transaction that closes the list, so none is recorded in between.
pub async fn list_positions_with_outcome_in(
    tx: &mut Tx,
    id: &str,
    outcome: &str,
) -> Result<Vec<i64>, Error> {
    const SQL: &str = "SELECT position FROM call_assignments \
        WHERE extract_id = $1 AND outcome = $2 ORDER BY position";
    let positions = on_tx!(tx, conn => {
        sqlx::query_scalar(SQL).bind(id).bind(outcome).fetch_all(conn).await?
    });
    Ok(positions)
}

impl Store {
    /// Every assignment of extract `id` as (position, caller, outcome), by position.
    pub async fn list_assignments(
        &self,
        id: &str,
    ) -> Result<Vec<(i64, String, Option<String>)>, Error> {
        const SQL: &str = "SELECT position, caller_id, outcome FROM call_assignments \
            WHERE extract_id = $1 ORDER BY position";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(id).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Up to `limit` of the caller's members still to call: those never called first, then
    /// those to call back, longest waiting first.
    pub async fn list_to_call(
        &self,
        id: &str,
        caller_id: &str,
        call_back: &str,
        limit: i64,
    ) -> Result<Vec<AssignedRow>, Error> {
        const SQL: &str = "SELECT position, outcome, note_sealed FROM call_assignments \
            WHERE extract_id = $1 AND caller_id = $2 AND (outcome IS NULL OR outcome = $3) \
            ORDER BY CASE WHEN outcome IS NULL THEN 0 ELSE 1 END, updated_at, position \
            LIMIT $4";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(id).bind(caller_id).bind(call_back).bind(limit)
                .fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// One assigned member, if assigned to `caller_id`.
    pub async fn find_assigned(
        &self,
        id: &str,
        caller_id: &str,
        position: i64,
    ) -> Result<Option<AssignedRow>, Error> {
        const SQL: &str = "SELECT position, outcome, note_sealed FROM call_assignments \
            WHERE extract_id = $1 AND caller_id = $2 AND position = $3";
        let row = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(id).bind(caller_id).bind(position)
                .fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// Members per caller and outcome: from the live list, or from the tallies once it has
    /// ended (an empty outcome there is "not called").
    pub async fn list_call_tallies(&self, id: &str) -> Result<Vec<TallyRow>, Error> {
        const LIVE: &str = "SELECT caller_id, outcome, COUNT(*) AS members \
            FROM call_assignments WHERE extract_id = $1 GROUP BY caller_id, outcome";
        const ENDED: &str = "SELECT caller_id, NULLIF(outcome, '') AS outcome, members \
            FROM call_tallies WHERE extract_id = $1";
        let mut rows: Vec<TallyRow> = on_pool!(self, pool => {
            sqlx::query_as(LIVE).bind(id).fetch_all(pool).await?
        });
        if rows.is_empty() {
            rows = on_pool!(self, pool => {
                sqlx::query_as(ENDED).bind(id).fetch_all(pool).await?
            });
        }
        rows.sort_by(|a, b| (&a.caller_id, &a.outcome).cmp(&(&b.caller_id, &b.outcome)));
        Ok(rows)
    }

    /// The call lists with members assigned to `caller_id`, with how many are still to call
    /// (never called, or to call back with `call_back`).
    pub async fn list_call_lists_of(
        &self,
        caller_id: &str,
        call_back: &str,
    ) -> Result<Vec<CallerListRow>, Error> {
        const SQL: &str = "SELECT extract_id, COUNT(*) AS assigned, \
            SUM(CASE WHEN outcome IS NULL OR outcome = $2 THEN 1 ELSE 0 END) AS \"left\" \
            FROM call_assignments WHERE caller_id = $1 GROUP BY extract_id ORDER BY extract_id";
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as(SQL)
                    .bind(caller_id)
                    .bind(call_back)
                    .fetch_all(pool)
                    .await?
            }
            // SUM over BIGINT is NUMERIC in PostgreSQL: cast it back.
            Backend::Postgres(pool) => {
                let sql = SQL.replace("ELSE 0 END)", "ELSE 0 END)::BIGINT");
                sqlx::query_as(&sql)
                    .bind(caller_id)
                    .bind(call_back)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(rows)
    }
}
