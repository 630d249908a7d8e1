//! SQL for who was shown which members of an extract on a screen (`shown_members`): one row
//! per page shown, by positions in the ledger, so "who received member X" can tell a member
//! shown to someone in the browser from one only in a downloaded file.
//!
//! Guarantees: rows are only appended, in the caller's transaction (the one that records the
//! `extract.view` event); they hold positions and a user id, never member data, and outlive
//! the extract's payload like the ledger does.

use super::{Error, Store, Tx, on_pool, on_tx};

/// One person who was shown a member of an extract: when first, and on how many pages.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShownRow {
    pub shown_to: String,
    pub first_shown_at: i64,
    pub times: i64,
}

/// Records that `shown_to` was shown positions `first..=last` of extract `id` at `at`.
pub async fn insert_shown(
    tx: &mut Tx,
    id: &str,
    first: i64,
    last: i64,
    shown_to: &str,
    at: i64,
) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO shown_members \
        (extract_id, first_position, last_position, shown_to, shown_at) VALUES ($1, $2, $3, $4, $5)";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(first).bind(last).bind(shown_to).bind(at)
            .execute(conn).await?;
    });
    Ok(())
}

impl Store {
    /// Everyone who was shown the member `member_ref` of extract `id`, first shown first.
    pub async fn list_shown_member(
        &self,
        id: &str,
        member_ref: &[u8],
    ) -> Result<Vec<ShownRow>, Error> {
        const SQL: &str = "SELECT s.shown_to, MIN(s.shown_at) AS first_shown_at, \
            COUNT(*) AS times FROM disclosed_members d JOIN shown_members s \
            ON s.extract_id = d.extract_id \
            AND d.position BETWEEN s.first_position AND s.last_position \
            WHERE d.extract_id = $1 AND d.member_ref = $2 \
            GROUP BY s.shown_to ORDER BY first_shown_at, s.shown_to";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(id).bind(member_ref).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Whether `user_id` was ever shown a member of extract `id` (a caller of an ended list).
    pub async fn was_shown_to(&self, id: &str, user_id: &str) -> Result<bool, Error> {
        const SQL: &str = "SELECT COUNT(*) FROM shown_members WHERE extract_id = $1 \
            AND shown_to = $2";
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(id).bind(user_id).fetch_one(pool).await?
        });
        Ok(n > 0)
    }

    /// How many distinct positions of extract `id` were shown to anyone (0 for a file-only one).
    pub async fn count_shown_positions(&self, id: &str) -> Result<i64, Error> {
        const SQL: &str = "SELECT COUNT(*) FROM disclosures d WHERE d.extract_id = $1 \
            AND EXISTS (SELECT 1 FROM shown_members s WHERE s.extract_id = d.extract_id \
            AND d.position BETWEEN s.first_position AND s.last_position)";
        let n = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(id).fetch_one(pool).await?
        });
        Ok(n)
    }
}
