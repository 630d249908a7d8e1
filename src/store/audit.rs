//! SQL for the audit log. Appends happen inside a caller's write transaction, or in a group
//! commit of events that stand alone ([`Store::append_audit_grouped`]); there is no function
//! here that updates or deletes an audit row, and the database triggers refuse it.

use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::QueryBuilder;

use super::extracts::push_districts_as;
use super::{Backend, Error, Store, Tx, on_pool, on_tx};

mod entries;
mod pages;

use entries::PageBody;
pub use entries::{AuditEntry, AuditPage};

/// The `prev_hash` of the first entry of the chain (`audit::chain`).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Serialises appends across several brokers on one PostgreSQL database: held until the
/// transaction ends. (SQLite needs none: its write transactions start with `BEGIN IMMEDIATE`.)
const PG_AUDIT_LOCK: i64 = 0x5256_4155_4449_5431; // "RVAUDIT1"

/// One stored audit entry, exactly as it is hashed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub occurred_at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub details: String,
    pub prev_hash: String,
    pub entry_hash: String,
}

/// Takes the append lock and returns the last entry's (seq, entry_hash), if any.
pub async fn lock_and_find_head(tx: &mut Tx) -> Result<Option<(i64, String)>, Error> {
    const HEAD: &str = "SELECT seq, entry_hash FROM audit_events ORDER BY seq DESC LIMIT 1";
    let head = match tx {
        Tx::Sqlite(t) => sqlx::query_as(HEAD).fetch_optional(&mut **t).await?,
        Tx::Postgres(t) => {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_AUDIT_LOCK)
                .execute(&mut **t)
                .await?;
            sqlx::query_as(HEAD).fetch_optional(&mut **t).await?
        }
    };
    Ok(head)
}

/// What a waiting append learns: its place in the chain, or why the commit failed.
type Appended = Result<(i64, String), String>;

/// Appends that stand alone, waiting to share one commit. Whoever holds `turn` writes every
/// entry waiting at that moment in one transaction — one fsync for all of them — and tells
/// each waiter its result; the others find theirs done when their turn comes.
#[derive(Default)]
pub struct AppendQueue {
    waiting: std::sync::Mutex<Vec<(AuditRow, tokio::sync::oneshot::Sender<Appended>)>>,
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AppendQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppendQueue")
    }
}

impl Store {
    /// Appends `draft` (its `seq`, `prev_hash` and `entry_hash` are filled in here, the hash by
    /// `seal`) in a commit of its own, shared with the other appends waiting at the same moment
    /// (group commit). Returns the entry's `seq` and hash once that commit is durable; if it
    /// fails, every entry in it fails and none is stored. The write runs in a task of its own,
    /// so a caller that goes away (a closed connection) never leaves a batch half done.
    pub async fn append_audit_grouped(
        &self,
        draft: AuditRow,
        seal: fn(&AuditRow) -> String,
    ) -> Result<(i64, String), Error> {
        let (done, mut result) = tokio::sync::oneshot::channel();
        self.audit_queue
            .waiting
            .lock()
            .map_err(|_| Error::Append("the queue was poisoned".into()))?
            .push((draft, done));
        {
            let _turn = self.audit_queue.turn.lock().await;
            if let Ok(appended) = result.try_recv() {
                return appended.map_err(Error::Append);
            }
            let batch = std::mem::take(
                &mut *self
                    .audit_queue
                    .waiting
                    .lock()
                    .map_err(|_| Error::Append("the queue was poisoned".into()))?,
            );
            if !batch.is_empty() {
                let store = self.clone();
                let _ = tokio::spawn(async move { store.write_batch(batch, seal).await }).await;
            }
        }
        match result.await {
            Ok(appended) => appended.map_err(Error::Append),
            Err(_) => Err(Error::Append("the write was abandoned".into())),
        }
    }

    async fn write_batch(
        &self,
        batch: Vec<(AuditRow, tokio::sync::oneshot::Sender<Appended>)>,
        seal: fn(&AuditRow) -> String,
    ) {
        let (mut rows, waiters): (Vec<AuditRow>, Vec<_>) = batch.into_iter().unzip();
        let written = async {
            let mut tx = self.begin().await?;
            let (mut seq, mut prev) = lock_and_find_head(&mut tx)
                .await?
                .unwrap_or((0, GENESIS.to_owned()));
            for row in &mut rows {
                seq += 1;
                row.seq = seq;
                row.prev_hash = std::mem::take(&mut prev);
                row.entry_hash = seal(row);
                prev = row.entry_hash.clone();
            }
            insert_events(&mut tx, &rows).await?;
            tx.commit().await?;
            Ok::<(), Error>(())
        }
        .await;
        for (row, waiter) in rows.into_iter().zip(waiters) {
            let _ = waiter.send(match &written {
                Ok(()) => Ok((row.seq, row.entry_hash)),
                Err(e) => Err(e.to_string()),
            });
        }
    }
}

/// The newest `occurred_at` in the log (Unix ms), inside a write transaction, so a release
/// committed in it is checked against every entry before it. `None` for an empty log.
pub async fn find_newest_time_in(tx: &mut Tx) -> Result<Option<i64>, Error> {
    let newest: Option<i64> = on_tx!(tx, conn => {
        sqlx::query_scalar(NEWEST_TIME).fetch_one(conn).await?
    });
    Ok(newest)
}

/// Served by `audit_events_by_time` (migration 0007): one index lookup.
const NEWEST_TIME: &str = "SELECT MAX(occurred_at) FROM audit_events";

pub async fn insert_event(tx: &mut Tx, row: &AuditRow) -> Result<(), Error> {
    const INSERT: &str = "INSERT INTO audit_events \
        (seq, occurred_at, actor, action, target, outcome, details, prev_hash, entry_hash) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on_tx!(tx, conn => {
        sqlx::query(INSERT)
            .bind(row.seq)
            .bind(row.occurred_at)
            .bind(&row.actor)
            .bind(&row.action)
            .bind(&row.target)
            .bind(&row.outcome)
            .bind(&row.details)
            .bind(&row.prev_hash)
            .bind(&row.entry_hash)
            .execute(conn)
            .await?;
    });
    Ok(())
}

/// Most audit entries per INSERT statement (9 bound values each, well under SQLite's limit).
const EVENTS_PER_STATEMENT: usize = 256;

/// Inserts `rows`, already chained in order, with one statement per [`EVENTS_PER_STATEMENT`]:
/// one round trip to the store for a group commit's entries, not one per entry. The database
/// triggers check each row against the one before it as they do for [`insert_event`].
async fn insert_events(tx: &mut Tx, rows: &[AuditRow]) -> Result<(), Error> {
    fn values<'a, DB: sqlx::Database>(qb: &mut QueryBuilder<'a, DB>, part: &'a [AuditRow])
    where
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        qb.push_values(part, |mut b, row| {
            b.push_bind(row.seq)
                .push_bind(row.occurred_at)
                .push_bind(row.actor.as_str())
                .push_bind(row.action.as_str())
                .push_bind(row.target.as_str())
                .push_bind(row.outcome.as_str())
                .push_bind(row.details.as_str())
                .push_bind(row.prev_hash.as_str())
                .push_bind(row.entry_hash.as_str());
        });
    }
    const INSERT: &str = "INSERT INTO audit_events \
        (seq, occurred_at, actor, action, target, outcome, details, prev_hash, entry_hash) ";
    for part in rows.chunks(EVENTS_PER_STATEMENT) {
        match tx {
            Tx::Sqlite(t) => {
                let mut qb = QueryBuilder::<sqlx::Sqlite>::new(INSERT);
                values(&mut qb, part);
                qb.build().execute(&mut **t).await?;
            }
            Tx::Postgres(t) => {
                let mut qb = QueryBuilder::<sqlx::Postgres>::new(INSERT);
                values(&mut qb, part);
                qb.build().execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// Which entries an auditor's read selects. `None` everywhere selects every entry; all values
/// are bound, never formatted into the SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSelection {
    /// The asker's scope: only entries about extracts in these districts (joined through
    /// `target = 'extract:' || extracts.id`); `None` for the whole party.
    pub scope: Option<Vec<String>>,
    /// Only entries about extracts of this district.
    pub district: Option<String>,
    /// Only entries about extracts of this purpose.
    pub purpose: Option<String>,
    /// The stored actor, e.g. `user:<id>`.
    pub actor: Option<String>,
    /// The stable event code.
    pub action: Option<String>,
    /// Milliseconds since 1970, inclusive.
    pub from_ms: Option<i64>,
    /// Milliseconds since 1970, inclusive.
    pub to_ms: Option<i64>,
}

/// `SELECT … FROM audit_events a [JOIN extracts e] WHERE …` for `sel`, ready for more conditions.
fn select_matching<'a, DB: sqlx::Database>(qb: &mut QueryBuilder<'a, DB>, sel: &'a AuditSelection)
where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(
        "SELECT a.seq, a.occurred_at, a.actor, a.action, a.target, a.outcome, a.details, \
         a.prev_hash, a.entry_hash FROM audit_events a",
    );
    if sel.scope.is_some() || sel.district.is_some() || sel.purpose.is_some() {
        qb.push(" JOIN extracts e ON a.target = 'extract:' || e.id");
    }
    qb.push(" WHERE 1 = 1");
    push_districts_as(qb, "e.district", sel.scope.as_deref());
    let texts = [
        (" AND e.district = ", &sel.district),
        (" AND e.purpose = ", &sel.purpose),
        (" AND a.actor = ", &sel.actor),
        (" AND a.action = ", &sel.action),
    ];
    for (condition, value) in texts {
        if let Some(value) = value {
            qb.push(condition);
            qb.push_bind(value);
        }
    }
    let times = [
        (" AND a.occurred_at >= ", sel.from_ms),
        (" AND a.occurred_at <= ", sel.to_ms),
    ];
    for (condition, value) in times {
        if let Some(value) = value {
            qb.push(condition);
            qb.push_bind(value);
        }
    }
}

fn newest_first<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    sel: &'a AuditSelection,
    before_seq: Option<i64>,
    limit: i64,
) where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    select_matching(qb, sel);
    if let Some(before) = before_seq {
        qb.push(" AND a.seq < ");
        qb.push_bind(before);
    }
    qb.push(" ORDER BY a.seq DESC LIMIT ");
    qb.push_bind(limit);
}

fn oldest_first_page<'a, DB: sqlx::Database>(
    qb: &mut QueryBuilder<'a, DB>,
    sel: &'a AuditSelection,
    after_seq: i64,
    through_seq: i64,
    limit: i64,
) where
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    select_matching(qb, sel);
    qb.push(" AND a.seq > ");
    qb.push_bind(after_seq);
    qb.push(" AND a.seq <= ");
    qb.push_bind(through_seq);
    qb.push(" ORDER BY a.seq LIMIT ");
    qb.push_bind(limit);
}

impl Store {
    /// The newest entries `sel` selects, below `before_seq` if given, at most `limit`.
    pub async fn list_audit_events_matching(
        &self,
        sel: &AuditSelection,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, Error> {
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new("");
                newest_first(&mut qb, sel, before_seq, limit);
                qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Postgres> = QueryBuilder::new("");
                newest_first(&mut qb, sel, before_seq, limit);
                qb.build_query_as().fetch_all(pool).await?
            }
        };
        Ok(rows)
    }

    /// One page of the entries `sel` selects with `after_seq < seq <= through_seq`, oldest
    /// first, at most `limit` (exports walk the log page by page, never holding all of it).
    pub async fn list_audit_events_page(
        &self,
        sel: &AuditSelection,
        after_seq: i64,
        through_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>, Error> {
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Sqlite> = QueryBuilder::new("");
                oldest_first_page(&mut qb, sel, after_seq, through_seq, limit);
                qb.build_query_as().fetch_all(pool).await?
            }
            Backend::Postgres(pool) => {
                let mut qb: QueryBuilder<'_, sqlx::Postgres> = QueryBuilder::new("");
                oldest_first_page(&mut qb, sel, after_seq, through_seq, limit);
                qb.build_query_as().fetch_all(pool).await?
            }
        };
        Ok(rows)
    }

    /// Every audit entry in sequence order, streamed (the log may hold millions of rows), as
    /// one snapshot of the log: [`Store::stream_audit_pages`], an owned row per entry.
    pub fn stream_audit_events(&self) -> BoxStream<'_, Result<AuditRow, Error>> {
        self.stream_audit_pages()
            .flat_map(|page| {
                let rows: Vec<Result<AuditRow, Error>> = match page {
                    Ok(page) => page.entries().map(|e| Ok(e.to_row())).collect(),
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(rows)
            })
            .boxed()
    }

    /// Every audit entry in sequence order, a page at a time, as one snapshot of the log; an
    /// error ends the stream, after the entries before it. On SQLite a page is packed by the
    /// database (`pages`): the same entries and the same errors, in the same places, as one
    /// statement, without a hand-off to sqlx's worker thread or a copy of the texts per entry.
    pub fn stream_audit_pages(&self) -> BoxStream<'_, Result<AuditPage, Error>> {
        const ALL: &str = "SELECT seq, occurred_at, actor, action, target, outcome, details, \
                           prev_hash, entry_hash FROM audit_events ORDER BY seq";
        match &self.backend {
            Backend::Sqlite(pool) => pages::stream(pool.clone()),
            Backend::Postgres(pool) => sqlx::query_as::<_, AuditRow>(ALL)
                .fetch(pool)
                .ready_chunks(pages::PAGE_ENTRIES)
                .flat_map(|chunk| futures::stream::iter(AuditPage::rows_then_error(chunk)))
                .scan(false, |failed, page| {
                    // Nothing after the first error.
                    let next = (!*failed).then(|| {
                        *failed = page.is_err();
                        page
                    });
                    futures::future::ready(next)
                })
                .boxed(),
        }
    }

    /// The newest entries first, at most `limit`.
    pub async fn list_recent_audit_events(&self, limit: i64) -> Result<Vec<AuditRow>, Error> {
        const RECENT: &str = "SELECT seq, occurred_at, actor, action, target, outcome, details, \
                              prev_hash, entry_hash FROM audit_events ORDER BY seq DESC LIMIT $1";
        let rows = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(RECENT).bind(limit).fetch_all(pool).await?,
            Backend::Postgres(pool) => sqlx::query_as(RECENT).bind(limit).fetch_all(pool).await?,
        };
        Ok(rows)
    }

    /// The newest entry with this action code, if any.
    pub async fn find_newest_audit_event(&self, action: &str) -> Result<Option<AuditRow>, Error> {
        const SQL: &str = "SELECT seq, occurred_at, actor, action, target, outcome, details, \
            prev_hash, entry_hash FROM audit_events WHERE action = $1 ORDER BY seq DESC LIMIT 1";
        let row = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(action).fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// The last entry's (seq, hash), read without taking the append lock.
    pub async fn find_audit_head(&self) -> Result<Option<(i64, String)>, Error> {
        const HEAD: &str = "SELECT seq, entry_hash FROM audit_events ORDER BY seq DESC LIMIT 1";
        let head = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(HEAD).fetch_optional(pool).await?,
            Backend::Postgres(pool) => sqlx::query_as(HEAD).fetch_optional(pool).await?,
        };
        Ok(head)
    }

    /// The newest `occurred_at` in the log (Unix ms), which is not always the last entry's:
    /// entries recorded while the clock read early carry earlier times. `None` when empty.
    pub async fn find_newest_audit_time(&self) -> Result<Option<i64>, Error> {
        let newest: Option<i64> = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_scalar(NEWEST_TIME).fetch_one(pool).await?,
            Backend::Postgres(pool) => sqlx::query_scalar(NEWEST_TIME).fetch_one(pool).await?,
        };
        Ok(newest)
    }

    /// Every entry about `target` (e.g. `extract:<id>`), in sequence order.
    pub async fn list_audit_events_for(&self, target: &str) -> Result<Vec<AuditRow>, Error> {
        const SQL: &str = "SELECT seq, occurred_at, actor, action, target, outcome, details, \
                           prev_hash, entry_hash FROM audit_events WHERE target = $1 ORDER BY seq";
        let rows = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(SQL).bind(target).fetch_all(pool).await?,
            Backend::Postgres(pool) => sqlx::query_as(SQL).bind(target).fetch_all(pool).await?,
        };
        Ok(rows)
    }

    /// Proves the audit log can take a write right now: takes the append lock in a write
    /// transaction and rolls it back. Readiness uses it; data release must not start when it fails.
    pub async fn check_audit_writable(&self) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        lock_and_find_head(&mut tx).await?;
        tx.rollback().await
    }
}
