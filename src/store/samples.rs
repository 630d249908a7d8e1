//! SQL for sampled follow-up: one draw per district and period with its items, the review of
//! each item and the period's sign-off.
//!
//! Guarantees: a draw is inserted at most once per (district, period start) — the primary key
//! and `ON CONFLICT DO NOTHING`, so concurrent draws leave exactly one; an item is reviewed at
//! most once and a draw signed off at most once, and never while an item is unreviewed (each a
//! conditional UPDATE). District names are bound values. Nothing here holds member data: an
//! item names an audit entry, its actor and its extract.

use super::{Error, Store, Tx, on_pool, on_tx};

/// One district's draw for one period (times in Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DrawRow {
    pub district: String,
    pub period_start: i64,
    /// Exclusive; the moment of an early draw (`early`).
    pub period_end: i64,
    pub review_by: i64,
    pub population: i64,
    pub population_sha256: String,
    /// The seed, hex: revealed with the draw.
    pub seed: String,
    pub drawn_at: i64,
    /// Drawn before the period ended, on request (`followup.sample_draw_early`).
    pub early: bool,
    pub signed_off_by: Option<String>,
    pub signed_off_at: Option<i64>,
}

/// One drawn release and its review.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ItemRow {
    pub district: String,
    pub period_start: i64,
    /// 1-based, in the order drawn.
    pub position: i64,
    pub audit_seq: i64,
    pub action: String,
    /// The audit entry's actor (`user:<id>`, `processor:<id>`).
    pub actor: String,
    pub extract_id: String,
    /// Unix milliseconds, as in the audit log.
    pub occurred_at: i64,
    /// `fine` or `case`.
    pub verdict: Option<String>,
    pub comment: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
}

/// How many items a draw has, how many are reviewed, how many opened a case.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CountRow {
    pub district: String,
    pub period_start: i64,
    pub items: i64,
    pub reviewed: i64,
    pub cases: i64,
}

const DRAW_COLUMNS: &str = "district, period_start, period_end, review_by, population, \
    population_sha256, seed, drawn_at, early, signed_off_by, signed_off_at";
const ITEM_COLUMNS: &str = "district, period_start, position, audit_seq, action, actor, \
    extract_id, occurred_at, verdict, comment, reviewed_by, reviewed_at";

/// Most draws listed at once.
const LIST_LIMIT: i64 = 1000;

/// Records a draw; false when the district's period already has one (nothing is changed).
pub async fn insert_sample_draw(tx: &mut Tx, d: &DrawRow) -> Result<bool, Error> {
    let sql = format!(
        "INSERT INTO sample_draws ({DRAW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         NULL, NULL) ON CONFLICT (district, period_start) DO NOTHING"
    );
    let n = on_tx!(tx, conn => {
        sqlx::query(&sql)
            .bind(&d.district).bind(d.period_start).bind(d.period_end).bind(d.review_by)
            .bind(d.population).bind(&d.population_sha256).bind(&d.seed).bind(d.drawn_at)
            .bind(d.early)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Records one drawn item (unreviewed), in the draw's transaction.
pub async fn insert_sample_item(tx: &mut Tx, i: &ItemRow) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO sample_items (district, period_start, position, audit_seq, \
        action, actor, extract_id, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(&i.district).bind(i.period_start).bind(i.position).bind(i.audit_seq)
            .bind(&i.action).bind(&i.actor).bind(&i.extract_id).bind(i.occurred_at)
            .execute(conn).await?;
    });
    Ok(())
}

/// Records the review of an item; false when it was already reviewed.
pub async fn review_sample_item(
    tx: &mut Tx,
    item: (&str, i64, i64),
    verdict: &str,
    comment: &str,
    by: &str,
    at: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE sample_items SET verdict = $1, comment = $2, reviewed_by = $3, \
        reviewed_at = $4 WHERE district = $5 AND period_start = $6 AND position = $7 \
        AND verdict IS NULL";
    let (district, period_start, position) = item;
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(verdict).bind(comment).bind(by).bind(at)
            .bind(district).bind(period_start).bind(position)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Signs a draw off; false when it is signed off already or an item is still unreviewed.
pub async fn sign_off_sample(
    tx: &mut Tx,
    district: &str,
    period_start: i64,
    by: &str,
    at: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE sample_draws SET signed_off_by = $1, signed_off_at = $2 \
        WHERE district = $3 AND period_start = $4 AND signed_off_at IS NULL \
        AND NOT EXISTS (SELECT 1 FROM sample_items i WHERE i.district = $3 \
        AND i.period_start = $4 AND i.verdict IS NULL)";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(by).bind(at).bind(district).bind(period_start)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

impl Store {
    /// The newest draws first (at most 1000), of every district; the caller keeps its scope.
    pub async fn list_sample_draws(&self) -> Result<Vec<DrawRow>, Error> {
        let sql = format!(
            "SELECT {DRAW_COLUMNS} FROM sample_draws ORDER BY period_start DESC, district \
             LIMIT {LIST_LIMIT}"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
        Ok(rows)
    }

    /// Every draw's item counts (draws without items are absent).
    pub async fn list_sample_counts(&self) -> Result<Vec<CountRow>, Error> {
        const SQL: &str = "SELECT district, period_start, COUNT(*) AS items, \
            COUNT(verdict) AS reviewed, \
            COALESCE(SUM(CASE WHEN verdict = 'case' THEN 1 ELSE 0 END), 0) AS cases \
            FROM sample_items GROUP BY district, period_start";
        let rows = on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(rows)
    }

    /// Unsigned draws whose review deadline is before `now` (Unix seconds), oldest first.
    pub async fn list_sample_draws_overdue(&self, now: i64) -> Result<Vec<DrawRow>, Error> {
        let sql = format!(
            "SELECT {DRAW_COLUMNS} FROM sample_draws WHERE signed_off_at IS NULL \
             AND review_by < $1 ORDER BY period_start, district LIMIT {LIST_LIMIT}"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(&sql).bind(now).fetch_all(pool).await?);
        Ok(rows)
    }

    /// One district's draw for the period starting at `period_start`.
    pub async fn find_sample_draw(
        &self,
        district: &str,
        period_start: i64,
    ) -> Result<Option<DrawRow>, Error> {
        let sql = format!(
            "SELECT {DRAW_COLUMNS} FROM sample_draws WHERE district = $1 AND period_start = $2"
        );
        let row = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(district).bind(period_start).fetch_optional(pool).await?
        });
        Ok(row)
    }

    /// The start of the newest period drawn for `district`, if any.
    pub async fn latest_sample_period(&self, district: &str) -> Result<Option<i64>, Error> {
        const SQL: &str = "SELECT MAX(period_start) FROM sample_draws WHERE district = $1";
        let n: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(district).fetch_one(pool).await?
        });
        Ok(n)
    }

    /// A draw's items, in the order drawn.
    pub async fn list_sample_items(
        &self,
        district: &str,
        period_start: i64,
    ) -> Result<Vec<ItemRow>, Error> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM sample_items WHERE district = $1 AND period_start = $2 \
             ORDER BY position"
        );
        let rows = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(district).bind(period_start).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Items reviewed as "open a case", newest review first (at most 1000).
    pub async fn list_sample_cases(&self) -> Result<Vec<ItemRow>, Error> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM sample_items WHERE verdict = 'case' \
             ORDER BY reviewed_at DESC LIMIT {LIST_LIMIT}"
        );
        let rows = on_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
        Ok(rows)
    }

    /// The start of the first period ever drawn (any district): when sampling began.
    pub async fn first_sample_period(&self) -> Result<Option<i64>, Error> {
        const SQL: &str = "SELECT MIN(period_start) FROM sample_draws";
        let n: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(SQL).fetch_one(pool).await?);
        Ok(n)
    }

    /// When the first audit entry was written (Unix milliseconds): the store's beginning.
    pub async fn first_audit_time(&self) -> Result<Option<i64>, Error> {
        const SQL: &str = "SELECT occurred_at FROM audit_events ORDER BY seq LIMIT 1";
        let n: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).fetch_optional(pool).await?
        });
        Ok(n)
    }
}
