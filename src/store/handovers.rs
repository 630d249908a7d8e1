//! SQL for hand-overs to processors (`extract::handover`): the row that holds a hand-over's
//! hashed link, one-time code and deletion link, and the conditional UPDATEs that use them.
//!
//! Guarantees: every credential column holds a SHA-256 hash, never the secret; each step is
//! one conditional UPDATE that says whether it happened (the download is taken once even
//! under parallel requests, a code is checked against a lock and a failure count in the same
//! statement that counts it). Never holds member data.

use super::{Error, Store, Tx, on_pool, on_tx};

/// One hand-over, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HandoverRow {
    pub extract_id: String,
    pub processor_id: String,
    pub processor_name: String,
    pub contact: String,
    pub agreement_ref: String,
    pub agreement_ends: String,
    pub offered_at: i64,
    pub link_expires_at: i64,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<i64>,
    pub codes_sent: i64,
    /// Link mails sent: the first offer and every renewal.
    pub links_sent: i64,
    pub code_failures: i64,
    pub locked_at: Option<i64>,
    pub downloaded_at: Option<i64>,
    pub delete_by: Option<i64>,
    pub deletion_confirmed_at: Option<i64>,
}

pub(super) const COLUMNS: &str = "extract_id, processor_id, processor_name, contact, agreement_ref, \
    agreement_ends, offered_at, link_expires_at, code_hash, code_expires_at, codes_sent, \
    links_sent, code_failures, locked_at, downloaded_at, delete_by, deletion_confirmed_at";

/// What a new hand-over stores.
#[derive(Debug, Clone)]
pub struct NewHandover<'a> {
    pub extract_id: &'a str,
    pub processor_id: &'a str,
    pub processor_name: &'a str,
    pub contact: &'a str,
    pub agreement_ref: &'a str,
    pub agreement_ends: &'a str,
    pub link_hash: &'a str,
    pub offered_at: i64,
    pub link_expires_at: i64,
}

/// Stores a hand-over; false when the extract already has one.
pub async fn insert_handover(tx: &mut Tx, h: &NewHandover<'_>) -> Result<bool, Error> {
    const SQL: &str = "INSERT INTO handovers (extract_id, processor_id, processor_name, contact, \
        agreement_ref, agreement_ends, link_hash, offered_at, link_expires_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (extract_id) DO NOTHING";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(h.extract_id).bind(h.processor_id).bind(h.processor_name).bind(h.contact)
            .bind(h.agreement_ref).bind(h.agreement_ends).bind(h.link_hash)
            .bind(h.offered_at).bind(h.link_expires_at)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// A new one-time code (its hash) for a hand-over whose link still works and which is neither
/// locked nor downloaded; false otherwise. At most `max_codes` are ever sent.
pub async fn set_code(
    tx: &mut Tx,
    extract_id: &str,
    code_hash: &str,
    expires_at: i64,
    max_codes: i64,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE handovers SET code_hash = $2, code_expires_at = $3, \
        codes_sent = codes_sent + 1 WHERE extract_id = $1 AND locked_at IS NULL \
        AND downloaded_at IS NULL AND link_expires_at > $4 AND codes_sent < $5";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(extract_id).bind(code_hash).bind(expires_at).bind(now)
            .bind(max_codes).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// A new link (its hash) for a hand-over that is neither downloaded nor locked, replacing the
/// old one, whose hash is overwritten; a code already sent stops working with it. False when
/// the hand-over is downloaded or locked, or `max_links` link mails have been sent.
pub async fn renew_link(
    tx: &mut Tx,
    extract_id: &str,
    link_hash: &str,
    link_expires_at: i64,
    max_links: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE handovers SET link_hash = $2, link_expires_at = $3, \
        links_sent = links_sent + 1, code_hash = NULL, code_expires_at = NULL \
        WHERE extract_id = $1 AND locked_at IS NULL AND downloaded_at IS NULL \
        AND links_sent < $4";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(extract_id).bind(link_hash).bind(link_expires_at)
            .bind(max_links).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Counts a wrong code; returns the failures so far, and locks the hand-over at `max`.
pub async fn count_code_failure(
    tx: &mut Tx,
    extract_id: &str,
    max: i64,
    now: i64,
) -> Result<i64, Error> {
    const SQL: &str = "UPDATE handovers SET code_failures = code_failures + 1, \
        locked_at = CASE WHEN code_failures + 1 >= $2 THEN $3 ELSE locked_at END \
        WHERE extract_id = $1 RETURNING code_failures";
    let n: Option<i64> = on_tx!(tx, conn => {
        sqlx::query_scalar(SQL).bind(extract_id).bind(max).bind(now)
            .fetch_optional(conn).await?
    });
    Ok(n.unwrap_or(max))
}

/// Takes the one download: only with the right code (its hash), unexpired, unlocked, not yet
/// downloaded, the link still valid. Sets the deletion link's hash and deadline. False when
/// any of it does not hold — a second download among them, however parallel.
pub async fn take_download(
    tx: &mut Tx,
    extract_id: &str,
    code_hash: &str,
    deletion_hash: &str,
    delete_by: i64,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE handovers SET downloaded_at = $5, code_hash = NULL, \
        deletion_hash = $3, delete_by = $4 \
        WHERE extract_id = $1 AND code_hash = $2 AND code_expires_at > $5 \
        AND locked_at IS NULL AND downloaded_at IS NULL AND link_expires_at > $5";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(extract_id).bind(code_hash).bind(deletion_hash).bind(delete_by)
            .bind(now).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// The processor confirms deletion; false when already confirmed (or never downloaded).
pub async fn confirm_deletion(tx: &mut Tx, extract_id: &str, now: i64) -> Result<bool, Error> {
    const SQL: &str = "UPDATE handovers SET deletion_confirmed_at = $2 WHERE extract_id = $1 \
        AND downloaded_at IS NOT NULL AND deletion_confirmed_at IS NULL";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(extract_id).bind(now).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

impl Store {
    /// The hand-over whose link hashes to `link_hash`.
    pub async fn find_handover_by_link(
        &self,
        link_hash: &str,
    ) -> Result<Option<HandoverRow>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM handovers WHERE link_hash = $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(link_hash).fetch_optional(pool).await?
        }))
    }

    /// The hand-over whose deletion link hashes to `deletion_hash`.
    pub async fn find_handover_by_deletion(
        &self,
        deletion_hash: &str,
    ) -> Result<Option<HandoverRow>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM handovers WHERE deletion_hash = $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(deletion_hash).fetch_optional(pool).await?
        }))
    }

    /// An extract's hand-over, if it has one.
    pub async fn find_handover(&self, extract_id: &str) -> Result<Option<HandoverRow>, Error> {
        let sql = format!("SELECT {COLUMNS} FROM handovers WHERE extract_id = $1");
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(extract_id).fetch_optional(pool).await?
        }))
    }

    /// Downloaded hand-overs whose deletion is not confirmed and whose deadline is before
    /// `due_before`, oldest deadline first.
    pub async fn list_deletions_overdue(
        &self,
        due_before: i64,
        limit: i64,
    ) -> Result<Vec<HandoverRow>, Error> {
        let sql = format!(
            "SELECT {COLUMNS} FROM handovers WHERE downloaded_at IS NOT NULL \
             AND deletion_confirmed_at IS NULL AND delete_by < $1 ORDER BY delete_by LIMIT $2"
        );
        Ok(on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(due_before).bind(limit).fetch_all(pool).await?
        }))
    }
}
