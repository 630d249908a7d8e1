//! SQL for extracts: requests, approvers' verdicts, sealed chunks, the disclosure ledger, the
//! freeze switch and the broker's sealed keys.
//!
//! Guarantees: every state change is a conditional UPDATE on the state it leaves (`WHERE id =
//! $1 AND state = 'live'` …), so two brokers or two requests can never both shred, both build
//! or both take the last download; the download counter moves in one statement with its limit
//! and deadline in the WHERE clause (SECURITY_BAR D4, G-parallel downloads). Shredding sets the
//! wrapped data key to NULL and deletes the chunks in the same transaction. Nothing here sees
//! plaintext member data: chunks are sealed, members are pseudonyms.

use crate::nouns::ExtractState;
use sqlx::QueryBuilder;

use super::{Backend, Error, Store, Tx, on_pool, on_reader, on_tx};

/// One extract as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExtractRow {
    pub id: String,
    pub requester_id: String,
    pub purpose: String,
    pub district: String,
    pub request: String,
    pub request_hash: String,
    pub policy_hash: String,
    #[sqlx(try_from = "String")]
    pub state: ExtractState,
    pub approvers_needed: i64,
    pub estimated_rows: i64,
    pub lifetime_minutes: i64,
    pub max_downloads: i64,
    pub downloads: i64,
    pub created_at: i64,
    pub pending_until: i64,
    pub decided_at: Option<i64>,
    pub lease_until: Option<i64>,
    pub build_attempts: i64,
    pub live_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub row_count: Option<i64>,
    pub chunk_count: Option<i64>,
    pub key_id: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub last_download_at: Option<i64>,
    pub expiry_warned: bool,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub attested_at: Option<i64>,
}

pub(super) const COLUMNS: &str = "id, requester_id, purpose, district, request, request_hash, policy_hash, \
    state, approvers_needed, estimated_rows, lifetime_minutes, max_downloads, downloads, \
    created_at, pending_until, decided_at, lease_until, build_attempts, live_at, expires_at, \
    row_count, chunk_count, key_id, wrapped_key, last_download_at, expiry_warned, ended_at, \
    end_reason, attested_at";

/// [`COLUMNS`] qualified by a table alias (`e.id, e.requester_id, …`), for joins.
pub(super) fn extract_columns_as(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a new request stores.
#[derive(Debug, Clone)]
pub struct NewExtract<'a> {
    pub id: &'a str,
    pub requester_id: &'a str,
    pub purpose: &'a str,
    pub district: &'a str,
    pub request: &'a str,
    pub request_hash: &'a str,
    pub policy_hash: &'a str,
    pub approvers_needed: i64,
    pub estimated_rows: i64,
    pub lifetime_minutes: i64,
    pub max_downloads: i64,
    pub created_at: i64,
    pub pending_until: i64,
}

/// One approver's verdict.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecisionRow {
    pub extract_id: String,
    pub approver_id: String,
    pub verdict: String,
    pub request_hash: String,
    pub comment: String,
    pub decided_at: i64,
}

/// What [`Store::find_extract_people`] reads: each verdict with its approver's username, the
/// requester's username, the hand-over.
#[derive(Debug, Clone)]
pub struct ExtractPeople {
    pub decisions: Vec<(DecisionRow, Option<String>)>,
    pub requester: Option<String>,
    pub handover: Option<super::handovers::HandoverRow>,
}

#[derive(sqlx::FromRow)]
struct NamedDecisionRow {
    #[sqlx(flatten)]
    decision: DecisionRow,
    approver_name: Option<String>,
}

/// What a shred removed, for the deletion receipt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShredRow {
    pub requester_id: String,
    pub district: String,
    pub row_count: Option<i64>,
    pub chunk_count: Option<i64>,
    pub key_id: Option<String>,
}

/// The incident switch's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FreezeRow {
    pub frozen: bool,
    pub reason: String,
    pub changed_by: String,
    pub changed_at: i64,
}

pub async fn insert_extract(tx: &mut Tx, e: &NewExtract<'_>) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO extracts (id, requester_id, purpose, district, request, \
        request_hash, policy_hash, state, approvers_needed, estimated_rows, lifetime_minutes, \
        max_downloads, created_at, pending_until) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, $12, $13)";
    on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(e.id).bind(e.requester_id).bind(e.purpose).bind(e.district).bind(e.request)
            .bind(e.request_hash).bind(e.policy_hash).bind(e.approvers_needed)
            .bind(e.estimated_rows).bind(e.lifetime_minutes).bind(e.max_downloads)
            .bind(e.created_at).bind(e.pending_until)
            .execute(conn).await?;
    });
    Ok(())
}

/// Records a verdict; false when this approver already gave one.
pub async fn insert_decision(tx: &mut Tx, d: &DecisionRow) -> Result<bool, Error> {
    const SQL: &str = "INSERT INTO extract_decisions (extract_id, approver_id, verdict, \
        request_hash, comment, decided_at) VALUES ($1, $2, $3, $4, $5, $6) \
        ON CONFLICT (extract_id, approver_id) DO NOTHING";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(&d.extract_id).bind(&d.approver_id).bind(&d.verdict).bind(&d.request_hash)
            .bind(&d.comment).bind(d.decided_at)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// The extract, read inside a write transaction (so a decision sees the latest verdicts).
pub async fn find_extract_in(tx: &mut Tx, id: &str) -> Result<Option<ExtractRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM extracts WHERE id = $1");
    let row = on_tx!(tx, conn => {
        sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?
    });
    Ok(row)
}

/// [`find_extract_in`], taking the row's write lock first on PostgreSQL (`FOR UPDATE`; a
/// SQLite transaction already holds the database's write lock). Whoever changes an extract's
/// state locks its row before the audit chain's append lock, so a decision and the sweeper's
/// lapse never wait for each other in opposite orders.
pub async fn lock_extract_in(tx: &mut Tx, id: &str) -> Result<Option<ExtractRow>, Error> {
    let row = match tx {
        Tx::Sqlite(t) => {
            let sql = format!("SELECT {COLUMNS} FROM extracts WHERE id = $1");
            sqlx::query_as(&sql)
                .bind(id)
                .fetch_optional(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            let sql = format!("SELECT {COLUMNS} FROM extracts WHERE id = $1 FOR UPDATE");
            sqlx::query_as(&sql)
                .bind(id)
                .fetch_optional(&mut **t)
                .await?
        }
    };
    Ok(row)
}

pub async fn list_decisions_in(tx: &mut Tx, id: &str) -> Result<Vec<DecisionRow>, Error> {
    const SQL: &str = "SELECT extract_id, approver_id, verdict, request_hash, comment, decided_at \
        FROM extract_decisions WHERE extract_id = $1 ORDER BY decided_at, approver_id";
    let rows = on_tx!(tx, conn => sqlx::query_as(SQL).bind(id).fetch_all(conn).await?);
    Ok(rows)
}

/// `pending` → `denied` or `lapsed`; false when the extract was no longer pending.
pub async fn end_pending(
    tx: &mut Tx,
    id: &str,
    state: ExtractState,
    reason: &str,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE extracts SET state = $2, decided_at = $3, ended_at = $3, \
        end_reason = $4 WHERE id = $1 AND state = 'pending'";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(state.as_str()).bind(now).bind(reason)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// `pending` → `building`, leased to the caller until `lease_until`. Returns the build's
/// attempt number, which every later write of this build names (`None`: not pending).
pub async fn start_build(
    tx: &mut Tx,
    id: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<i64>, Error> {
    const SQL: &str = "UPDATE extracts SET state = 'building', decided_at = $2, lease_until = $3, \
        build_attempts = build_attempts + 1 WHERE id = $1 AND state = 'pending' \
        RETURNING build_attempts";
    let attempt = on_tx!(tx, conn => {
        sqlx::query_scalar(SQL).bind(id).bind(now).bind(lease_until).fetch_optional(conn).await?
    });
    Ok(attempt)
}

/// Renews the lease of build `attempt`; false when the build was taken over (a later attempt
/// holds it) or ended. Called first in the transaction that writes the build's next chunks, so
/// on PostgreSQL the row stays locked until they are committed and a sweeper cannot take the
/// build over in between.
pub async fn renew_build_lease(
    tx: &mut Tx,
    id: &str,
    attempt: i64,
    lease_until: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE extracts SET lease_until = $3 \
        WHERE id = $1 AND state = 'building' AND build_attempts = $2";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(attempt).bind(lease_until)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Marks build `attempt` as failed and removes whatever part of it was written; false (and
/// nothing changed) when the build was taken over or ended.
pub async fn fail_build(
    tx: &mut Tx,
    id: &str,
    attempt: i64,
    reason: &str,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE extracts SET state = 'failed', lease_until = NULL, ended_at = $3, \
        end_reason = $4 WHERE id = $1 AND state = 'building' AND build_attempts = $2";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(attempt).bind(now).bind(reason)
            .execute(conn).await?.rows_affected()
    });
    if n == 1 {
        clear_partial_build(tx, id).await?;
    }
    Ok(n == 1)
}

/// Deletes the chunks and ledger rows of an unfinished build.
pub async fn clear_partial_build(tx: &mut Tx, id: &str) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM extract_chunks WHERE extract_id = $1")
            .bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM disclosures WHERE extract_id = $1")
            .bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM disclosed_members WHERE extract_id = $1")
            .bind(id).execute(conn).await?;
    });
    Ok(())
}

/// Appends sealed chunks `(seq, sealed)` of a building extract.
pub async fn insert_chunks(tx: &mut Tx, id: &str, chunks: &[(i64, Vec<u8>)]) -> Result<(), Error> {
    for (seq, sealed) in chunks {
        on_tx!(tx, conn => {
            sqlx::query("INSERT INTO extract_chunks (extract_id, seq, sealed) VALUES ($1, $2, $3)")
                .bind(id).bind(*seq).bind(sealed.as_slice()).execute(conn).await?;
        });
    }
    Ok(())
}

/// Most ledger rows per INSERT statement (4 bound values each, well under SQLite's limit).
const LEDGER_ROWS_PER_STATEMENT: usize = 500;

/// Appends ledger rows `(position, member_ref, row_ref)`.
pub async fn insert_disclosures(
    tx: &mut Tx,
    id: &str,
    rows: &[(i64, crate::crypto::MemberRef, crate::crypto::RowRef)],
) -> Result<(), Error> {
    for part in rows.chunks(LEDGER_ROWS_PER_STATEMENT) {
        match tx {
            Tx::Sqlite(t) => {
                let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new(
                    "INSERT INTO disclosures (extract_id, position, member_ref, row_ref) ",
                );
                qb.push_values(part, |mut b, (position, member, tag)| {
                    b.push_bind(id)
                        .push_bind(*position)
                        .push_bind(member.as_bytes().as_slice())
                        .push_bind(tag.as_bytes().as_slice());
                });
                qb.build().execute(&mut **t).await?;
            }
            Tx::Postgres(t) => {
                let mut qb: QueryBuilder<'_, sqlx::Postgres> = QueryBuilder::new(
                    "INSERT INTO disclosures (extract_id, position, member_ref, row_ref) ",
                );
                qb.push_values(part, |mut b, (position, member, tag)| {
                    b.push_bind(id)
                        .push_bind(*position)
                        .push_bind(member.as_bytes().as_slice())
                        .push_bind(tag.as_bytes().as_slice());
                });
                qb.build().execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// Files the extract's ledger rows by member (`disclosed_members`), once, in member order:
/// called by the transaction that makes the extract live, after its last ledger rows. The
/// database sorts the extract's rows and appends them, so the cost follows the extract's size,
/// never the ledger's.
pub async fn index_disclosed_members(tx: &mut Tx, id: &str) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO disclosed_members (extract_id, member_ref, position) \
        SELECT extract_id, member_ref, position FROM disclosures WHERE extract_id = $1 \
        ORDER BY member_ref, position";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).execute(conn).await?;
    });
    Ok(())
}

/// Sealed chunk `seq` of extract `id`, read in the caller's transaction.
pub async fn find_chunk_in(tx: &mut Tx, id: &str, seq: i64) -> Result<Option<Vec<u8>>, Error> {
    const SQL: &str = "SELECT sealed FROM extract_chunks WHERE extract_id = $1 AND seq = $2";
    let sealed = on_tx!(tx, conn => {
        sqlx::query_scalar(SQL).bind(id).bind(seq).fetch_optional(conn).await?
    });
    Ok(sealed)
}

/// Files the member at `from_position` of extract `from` in the ledger of extract `to` at
/// `to_position`, under the same pseudonym, with `row_ref` (the row's tag in `to`): the member
/// number never passes through here. False when `from` has no such position.
pub async fn copy_disclosure(
    tx: &mut Tx,
    from: &str,
    from_position: i64,
    to: &str,
    to_position: i64,
    row_ref: &[u8],
) -> Result<bool, Error> {
    const SQL: &str = "INSERT INTO disclosures (extract_id, position, member_ref, row_ref) \
        SELECT $3, $4, member_ref, $5 FROM disclosures WHERE extract_id = $1 AND position = $2";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(from).bind(from_position).bind(to).bind(to_position).bind(row_ref)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// `pending` → `live` for an extract made whole in one transaction from another one's sealed
/// rows (a call list's "do not call again" members): no build, no lease.
pub async fn make_live(tx: &mut Tx, id: &str, f: &FinishedBuild<'_>) -> Result<bool, Error> {
    const SQL: &str = "UPDATE extracts SET state = 'live', decided_at = $6, row_count = $2, \
        chunk_count = $3, key_id = $4, wrapped_key = $5, live_at = $6, expires_at = $7 \
        WHERE id = $1 AND state = 'pending'";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(f.row_count).bind(f.chunk_count).bind(f.key_id)
            .bind(f.wrapped_key).bind(f.live_at).bind(f.expires_at)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// What a finished build stores.
#[derive(Debug, Clone)]
pub struct FinishedBuild<'a> {
    pub row_count: i64,
    pub chunk_count: i64,
    pub key_id: &'a str,
    pub wrapped_key: &'a [u8],
    pub live_at: i64,
    pub expires_at: i64,
}

/// `building` → `live` with the wrapped data key; false when the build was taken over or ended.
pub async fn finish_build(
    tx: &mut Tx,
    id: &str,
    attempt: i64,
    f: &FinishedBuild<'_>,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE extracts SET state = 'live', lease_until = NULL, row_count = $3, \
        chunk_count = $4, key_id = $5, wrapped_key = $6, live_at = $7, expires_at = $8 \
        WHERE id = $1 AND state = 'building' AND build_attempts = $2";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(attempt).bind(f.row_count).bind(f.chunk_count)
            .bind(f.key_id).bind(f.wrapped_key).bind(f.live_at).bind(f.expires_at)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Takes one download: the counter moves only while the extract is live, before its deadline
/// and under its limit — in one statement, so parallel downloads cannot pass the limit.
/// Returns the number of downloads now used, or `None` when none was left.
pub async fn take_download(tx: &mut Tx, id: &str, now: i64) -> Result<Option<i64>, Error> {
    const SQL: &str = "UPDATE extracts SET downloads = downloads + 1, last_download_at = $2 \
        WHERE id = $1 AND state = 'live' AND downloads < max_downloads AND expires_at > $2 \
        RETURNING downloads";
    let used = on_tx!(tx, conn => {
        sqlx::query_scalar(SQL).bind(id).bind(now).fetch_optional(conn).await?
    });
    Ok(used)
}

/// `live` → `shredded`: the wrapped data key is set to NULL and every chunk deleted, in the
/// caller's transaction. `None` when the extract was not live (already shredded elsewhere).
pub async fn shred(
    tx: &mut Tx,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<Option<ShredRow>, Error> {
    const SQL: &str = "UPDATE extracts SET state = 'shredded', wrapped_key = NULL, ended_at = $2, \
        end_reason = $3 WHERE id = $1 AND state = 'live' \
        RETURNING requester_id, district, row_count, chunk_count, key_id";
    let row: Option<ShredRow> = on_tx!(tx, conn => {
        sqlx::query_as(SQL).bind(id).bind(now).bind(reason).fetch_optional(conn).await?
    });
    if row.is_some() {
        on_tx!(tx, conn => {
            sqlx::query("DELETE FROM extract_chunks WHERE extract_id = $1")
                .bind(id).execute(conn).await?;
        });
    }
    Ok(row)
}

/// The requester confirms downloaded copies are deleted; false if already confirmed.
pub async fn set_attested(tx: &mut Tx, id: &str, now: i64) -> Result<bool, Error> {
    const SQL: &str = "UPDATE extracts SET attested_at = $2 WHERE id = $1 AND attested_at IS NULL";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(now).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Marks the one-hour warning as sent; false if another broker sent it.
pub async fn set_expiry_warned(tx: &mut Tx, id: &str) -> Result<bool, Error> {
    const SQL: &str = "UPDATE extracts SET expiry_warned = TRUE WHERE id = $1 AND state = 'live' \
        AND NOT expiry_warned";
    let n = on_tx!(tx, conn => sqlx::query(SQL).bind(id).execute(conn).await?.rows_affected());
    Ok(n == 1)
}

/// Sets the freeze switch (one row, upserted).
pub async fn set_freeze(
    tx: &mut Tx,
    frozen: bool,
    reason: &str,
    by: &str,
    now: i64,
) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO extract_freeze (id, frozen, reason, changed_by, changed_at) \
        VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET frozen = $1, reason = $2, \
        changed_by = $3, changed_at = $4";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(frozen).bind(reason).bind(by).bind(now).execute(conn).await?;
    });
    Ok(())
}

/// The freeze switch, read in a write transaction (so a request and a freeze cannot cross).
pub async fn find_freeze_in(tx: &mut Tx) -> Result<Option<FreezeRow>, Error> {
    const SQL: &str =
        "SELECT frozen, reason, changed_by, changed_at FROM extract_freeze WHERE id = 1";
    let row = on_tx!(tx, conn => sqlx::query_as(SQL).fetch_optional(conn).await?);
    Ok(row)
}

impl Store {
    pub async fn find_extract(&self, id: &str) -> Result<Option<ExtractRow>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM extracts WHERE id = $1");
        let row = on_reader!(self, conn => {
            sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?
        });
        Ok(row)
    }

    /// The requester's extracts, newest first.
    pub async fn list_extracts_by_requester(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<ExtractRow>, Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM extracts WHERE requester_id = $1 \
             ORDER BY created_at DESC, id LIMIT $2"
        );
        let rows = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(user_id).bind(limit).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Extracts in `state`, oldest first; in `districts` only, unless `None` (party-wide).
    pub async fn list_extracts_in_state(
        &self,
        state: ExtractState,
        districts: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<ExtractRow>, Error> {
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new("");
                state_query(&mut qb, state.as_str(), districts, limit);
                qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Postgres> = QueryBuilder::new("");
                state_query(&mut qb, state.as_str(), districts, limit);
                qb.build_query_as().fetch_all(pool).await?
            }
        };
        Ok(rows)
    }

    pub async fn list_decisions(&self, id: &str) -> Result<Vec<DecisionRow>, Error> {
        const SQL: &str = "SELECT extract_id, approver_id, verdict, request_hash, comment, \
            decided_at FROM extract_decisions WHERE extract_id = $1 ORDER BY decided_at, approver_id";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(id).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The people around extract `id` that every view of it names: each verdict with its
    /// approver's username (in the order of [`Store::list_decisions`]), the username of
    /// `requester_id`, and the hand-over if there is one. Three statements on one connection
    /// (one reader, not one hand-out per statement and per approver); a user id with no
    /// account behind it has no name (`None`).
    pub async fn find_extract_people(
        &self,
        id: &str,
        requester_id: &str,
    ) -> Result<ExtractPeople, Error> {
        const DECISIONS: &str = "SELECT d.extract_id, d.approver_id, d.verdict, \
            d.request_hash, d.comment, d.decided_at, u.username AS approver_name \
            FROM extract_decisions d LEFT JOIN users u ON u.id = d.approver_id \
            WHERE d.extract_id = $1 ORDER BY d.decided_at, d.approver_id";
        const REQUESTER: &str = "SELECT username FROM users WHERE id = $1";
        let handover = format!(
            "SELECT {} FROM handovers WHERE extract_id = $1",
            super::handovers::COLUMNS
        );
        let people = on_reader!(self, conn => {
            let decisions: Vec<NamedDecisionRow> =
                sqlx::query_as(DECISIONS).bind(id).fetch_all(&mut *conn).await?;
            let requester: Option<String> =
                sqlx::query_scalar(REQUESTER).bind(requester_id).fetch_optional(&mut *conn).await?;
            let handover = sqlx::query_as(&handover).bind(id).fetch_optional(&mut *conn).await?;
            ExtractPeople {
                decisions: decisions.into_iter().map(|d| (d.decision, d.approver_name)).collect(),
                requester,
                handover,
            }
        });
        Ok(people)
    }

    /// Up to `count` sealed chunks from `from_seq` on, in order.
    pub async fn find_chunks(
        &self,
        id: &str,
        from_seq: i64,
        count: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, Error> {
        const SQL: &str = "SELECT seq, sealed FROM extract_chunks WHERE extract_id = $1 \
            AND seq >= $2 ORDER BY seq LIMIT $3";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(id).bind(from_seq).bind(count).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// How many members the ledger records for an extract (kept after shredding, E6).
    pub async fn count_disclosures(&self, id: &str) -> Result<i64, Error> {
        let n = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM disclosures WHERE extract_id = $1")
                .bind(id).fetch_one(pool).await?
        });
        Ok(n)
    }

    /// Every extract that held the member `member_ref` and was released (live, or shredded after
    /// being live), oldest first; in `districts` only unless `None`. The ledger outlives the
    /// data, so the answer is the same after every payload is shredded (E6).
    pub async fn list_extracts_holding(
        &self,
        member_ref: &[u8],
        districts: Option<&[String]>,
    ) -> Result<Vec<ExtractRow>, Error> {
        let columns = extract_columns_as("e");
        // One keyed lookup per released extract: the ledger has no index across extracts.
        let head = format!(
            "SELECT {columns} FROM extracts e WHERE EXISTS (SELECT 1 FROM disclosed_members d \
             WHERE d.extract_id = e.id AND d.member_ref = "
        );
        let tail = ") AND e.live_at IS NOT NULL AND e.state IN ('live', 'shredded')";
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new(head);
                qb.push_bind(member_ref).push(tail);
                push_districts_as(&mut qb, "e.district", districts);
                qb.push(" ORDER BY e.live_at, e.id");
                qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Postgres> = QueryBuilder::new(head);
                qb.push_bind(member_ref).push(tail);
                push_districts_as(&mut qb, "e.district", districts);
                qb.push(" ORDER BY e.live_at, e.id");
                qb.build_query_as().fetch_all(pool).await?
            }
        };
        Ok(rows)
    }

    /// Live extracts due for shredding now, with the reason: past the deadline, or at the
    /// download limit with the last download begun more than `settle_secs` ago.
    pub async fn list_due_for_shredding(
        &self,
        now: i64,
        settle_secs: i64,
    ) -> Result<Vec<(String, String)>, Error> {
        const SQL: &str = "SELECT id, CASE WHEN expires_at <= $1 THEN 'expired' \
            ELSE 'download_limit' END FROM extracts WHERE state = 'live' AND (expires_at <= $1 \
            OR (downloads >= max_downloads AND last_download_at <= $2)) ORDER BY expires_at";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(now).bind(now - settle_secs).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The ids a fixed statement of this module selects with one bound time.
    async fn ids_due(&self, sql: &'static str, before: i64) -> Result<Vec<String>, Error> {
        let rows = on_pool!(self, pool => {
            sqlx::query_scalar(sql).bind(before).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Pending requests nobody decided in time.
    pub async fn list_lapsed_pending(&self, now: i64) -> Result<Vec<String>, Error> {
        self.ids_due(
            "SELECT id FROM extracts WHERE state = 'pending' AND pending_until <= $1",
            now,
        )
        .await
    }

    /// Building extracts whose broker stopped renewing its lease (it crashed or hung).
    pub async fn list_stale_builds(&self, now: i64) -> Result<Vec<String>, Error> {
        self.ids_due(
            "SELECT id FROM extracts WHERE state = 'building' AND lease_until < $1",
            now,
        )
        .await
    }

    /// Live extracts expiring before `before` whose requester was not yet warned.
    pub async fn list_expiring_unwarned(&self, before: i64) -> Result<Vec<String>, Error> {
        self.ids_due(
            "SELECT id FROM extracts WHERE state = 'live' AND NOT expiry_warned \
             AND expires_at <= $1",
            before,
        )
        .await
    }

    /// Every live extract (for the incident switch).
    pub async fn list_live_extract_ids(&self) -> Result<Vec<String>, Error> {
        let ids = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM extracts WHERE state = 'live' ORDER BY id")
                .fetch_all(pool).await?
        });
        Ok(ids)
    }

    /// Extracts that were downloaded, ended before `ended_before`, and whose requester has
    /// not confirmed deleting the copies, oldest first; in `districts` only unless `None`.
    pub async fn list_attestations_overdue(
        &self,
        ended_before: i64,
        districts: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<ExtractRow>, Error> {
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new("");
                overdue_query(&mut qb, ended_before, districts, limit);
                qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Postgres> = QueryBuilder::new("");
                overdue_query(&mut qb, ended_before, districts, limit);
                qb.build_query_as().fetch_all(pool).await?
            }
        };
        Ok(rows)
    }

    /// Takes over a stale build (lease expired): compare-and-set on the lease, so exactly one
    /// sweeper wins. Returns the attempt number when this caller won.
    pub async fn claim_stale_build(
        &self,
        id: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<i64>, Error> {
        const SQL: &str = "UPDATE extracts SET lease_until = $3, build_attempts = build_attempts + 1 \
            WHERE id = $1 AND state = 'building' AND lease_until < $2 RETURNING build_attempts";
        let attempt = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(id).bind(now).bind(lease_until)
                .fetch_optional(pool).await?
        });
        Ok(attempt)
    }

    pub async fn find_freeze(&self) -> Result<Option<FreezeRow>, Error> {
        const SQL: &str =
            "SELECT frozen, reason, changed_by, changed_at FROM extract_freeze WHERE id = 1";
        let row = on_pool!(self, pool => { sqlx::query_as(SQL).fetch_optional(pool).await? });
        Ok(row)
    }

    /// A key the broker keeps sealed under the KEK, creating it from `sealed_if_new` when
    /// absent. Several brokers racing agree on the first one stored.
    pub async fn find_or_insert_broker_key(
        &self,
        name: &str,
        sealed_if_new: &[u8],
        now: i64,
    ) -> Result<Vec<u8>, Error> {
        const INSERT: &str = "INSERT INTO broker_keys (name, sealed, created_at) \
            VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
        const SELECT: &str = "SELECT sealed FROM broker_keys WHERE name = $1";
        let sealed = on_pool!(self, pool => {
            sqlx::query(INSERT).bind(name).bind(sealed_if_new).bind(now).execute(pool).await?;
            sqlx::query_scalar(SELECT).bind(name).fetch_one(pool).await?
        });
        Ok(sealed)
    }

    /// Moves SQLite's write-ahead log into the database file and truncates it, so pages freed
    /// by a shred (overwritten under `secure_delete`) do not linger in the WAL. No-op on
    /// PostgreSQL. Best effort: a busy checkpoint is retried at the next sweep.
    pub async fn checkpoint_wal(&self) -> Result<(), Error> {
        if let Backend::Sqlite(pool) = &self.backend {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}

fn overdue_query<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    ended_before: i64,
    districts: Option<&'a [String]>,
    limit: i64,
) where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(format!(
        "SELECT {COLUMNS} FROM extracts WHERE state = 'shredded' AND downloads > 0 \
         AND attested_at IS NULL AND ended_at <= "
    ));
    qb.push_bind(ended_before);
    push_districts(qb, districts);
    qb.push(" ORDER BY ended_at, id LIMIT ");
    qb.push_bind(limit);
}

/// ` AND district IN (…)`, or nothing for `None` (party-wide), or no rows for an empty list.
fn push_districts<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    districts: Option<&'a [String]>,
) where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    push_districts_as(qb, "district", districts);
}

/// [`push_districts`] on a named column (a fixed name from this module, never user input).
pub(super) fn push_districts_as<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    column: &'static str,
    districts: Option<&'a [String]>,
) where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(districts) = districts {
        if districts.is_empty() {
            qb.push(" AND 1 = 0");
        } else {
            qb.push(format!(" AND {column} IN ("));
            let mut sep = qb.separated(", ");
            for d in districts {
                sep.push_bind(d);
            }
            qb.push(")");
        }
    }
}

fn state_query<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    state: &'a str,
    districts: Option<&'a [String]>,
    limit: i64,
) where
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(format!("SELECT {COLUMNS} FROM extracts WHERE state = "));
    qb.push_bind(state);
    push_districts(qb, districts);
    qb.push(" ORDER BY created_at, id LIMIT ");
    qb.push_bind(limit);
}
