//! SQL for granting and revoking roles, and for role changes awaiting a second admin.
//!
//! Guarantees: every grant or revoke moves the user's auth epoch on and deletes their
//! sessions in the same transaction, so the very next request runs with the new roles
//! (SECURITY_BAR B1, C7); a pending change is decided once (conditional UPDATE).
//!
//! Recertification: a role is in force while `confirmed_at` (its grant or last confirmation)
//! is younger than the store's role term; every read of the roles in force says so in its
//! SQL. The advance notice and the recorded suspension are each marked once per due date
//! (conditional UPDATE on `notice_for` / `suspended_for`).

use super::{Error, Store, Tx, on_pool, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleChangeRow {
    pub id: String,
    pub user_id: String,
    pub change: String,
    pub role: String,
    pub district: String,
    pub requested_by: String,
    pub requested_at: i64,
}

/// Ends every session of the user at their next request.
pub async fn bump_auth_epoch(tx: &mut Tx, user_id: &str, now: i64) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE users SET auth_epoch = auth_epoch + 1, updated_at = $2 WHERE id = $1")
            .bind(user_id).bind(now).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(conn).await?;
    });
    Ok(())
}

/// Adds a role; false if the user already had it.
pub async fn grant_role(
    tx: &mut Tx,
    user_id: &str,
    role: &str,
    district: &str,
    granted_by: &str,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "INSERT INTO user_roles (user_id, role, district, granted_by, granted_at, \
        confirmed_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (user_id, role, district) DO NOTHING";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(user_id).bind(role).bind(district).bind(granted_by).bind(now)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Removes a role; false if the user did not have it.
pub async fn revoke_role(
    tx: &mut Tx,
    user_id: &str,
    role: &str,
    district: &str,
) -> Result<bool, Error> {
    const SQL: &str = "DELETE FROM user_roles WHERE user_id = $1 AND role = $2 AND district = $3";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(user_id).bind(role).bind(district).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

pub async fn insert_role_change(tx: &mut Tx, row: &RoleChangeRow) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO role_change_requests \
        (id, user_id, change, role, district, requested_by, requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(&row.id).bind(&row.user_id).bind(&row.change).bind(&row.role)
            .bind(&row.district).bind(&row.requested_by).bind(row.requested_at)
            .execute(conn).await?;
    });
    Ok(())
}

/// Marks a pending change decided and returns it; `None` if it was already decided or
/// does not exist.
pub async fn decide_role_change(
    tx: &mut Tx,
    id: &str,
    decided_by: &str,
    outcome: &str,
    now: i64,
) -> Result<Option<RoleChangeRow>, Error> {
    const SQL: &str = "UPDATE role_change_requests SET decided_by = $2, decided_at = $3, outcome = $4 \
        WHERE id = $1 AND outcome IS NULL \
        RETURNING id, user_id, change, role, district, requested_by, requested_at";
    let row = on_tx!(tx, conn => {
        sqlx::query_as(SQL).bind(id).bind(decided_by).bind(now).bind(outcome).fetch_optional(conn).await?
    });
    Ok(row)
}

impl Store {
    pub async fn find_pending_role_change(&self, id: &str) -> Result<Option<RoleChangeRow>, Error> {
        const SQL: &str = "SELECT id, user_id, change, role, district, requested_by, requested_at \
            FROM role_change_requests WHERE id = $1 AND outcome IS NULL";
        let row =
            on_pool!(self, pool => { sqlx::query_as(SQL).bind(id).fetch_optional(pool).await? });
        Ok(row)
    }

    pub async fn list_pending_role_changes(&self) -> Result<Vec<RoleChangeRow>, Error> {
        const SQL: &str = "SELECT id, user_id, change, role, district, requested_by, requested_at \
            FROM role_change_requests WHERE outcome IS NULL ORDER BY requested_at";
        let rows = on_pool!(self, pool => { sqlx::query_as(SQL).fetch_all(pool).await? });
        Ok(rows)
    }
}

/// One stored role with its holder and its recertification state, for the confirm page, the
/// API and the housekeeping pass.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HoldingRow {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub district: String,
    pub granted_at: i64,
    /// When the role was granted or last confirmed: it is due a term after this.
    pub confirmed_at: i64,
    pub confirmed_by: Option<String>,
    /// The `confirmed_at` whose due date the advance notice was sent for.
    pub notice_for: Option<i64>,
    /// The `confirmed_at` whose passed due date was recorded as a suspension.
    pub suspended_for: Option<i64>,
}

const HOLDING_COLUMNS: &str = "r.user_id, u.username, u.display_name, r.role, r.district, \
    r.granted_at, r.confirmed_at, r.confirmed_by, r.notice_for, r.suspended_for";

/// Confirms a role for another term; false if the user does not hold it (any more).
pub async fn confirm_role(
    tx: &mut Tx,
    user_id: &str,
    role: &str,
    district: &str,
    confirmed_by: &str,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE user_roles SET confirmed_at = $4, confirmed_by = $5, \
        notice_for = NULL, suspended_for = NULL WHERE user_id = $1 AND role = $2 AND district = $3";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(user_id).bind(role).bind(district).bind(now).bind(confirmed_by)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Marks the advance notice for the due date of `cycle` (a `confirmed_at`) sent; false if it
/// was already, or the role was confirmed or removed meanwhile.
pub async fn mark_notice_sent(tx: &mut Tx, h: &HoldingRow) -> Result<bool, Error> {
    const SQL: &str = "UPDATE user_roles SET notice_for = $4 WHERE user_id = $1 AND role = $2 \
        AND district = $3 AND confirmed_at = $4 AND (notice_for IS NULL OR notice_for <> $4)";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(&h.user_id).bind(&h.role).bind(&h.district).bind(h.confirmed_at)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Marks the suspension for the due date of `cycle` recorded; false if it was already, or the
/// role was confirmed or removed meanwhile.
pub async fn mark_suspended(tx: &mut Tx, h: &HoldingRow) -> Result<bool, Error> {
    const SQL: &str = "UPDATE user_roles SET suspended_for = $4 WHERE user_id = $1 AND role = $2 \
        AND district = $3 AND confirmed_at = $4 AND (suspended_for IS NULL OR suspended_for <> $4)";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(&h.user_id).bind(&h.role).bind(&h.district).bind(h.confirmed_at)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

impl Store {
    /// Every stored role of an active account with its holder, suspended ones included, the
    /// soonest due first.
    pub async fn list_holdings(&self) -> Result<Vec<HoldingRow>, Error> {
        let sql = format!(
            "SELECT {HOLDING_COLUMNS} FROM user_roles r JOIN users u ON u.id = r.user_id \
             WHERE u.status = 'active' ORDER BY r.confirmed_at, u.display_name, r.role, r.district"
        );
        let rows = on_pool!(self, pool => { sqlx::query_as(&sql).fetch_all(pool).await? });
        Ok(rows)
    }

    /// The stored roles of one user with their state, suspended ones included.
    pub async fn list_holdings_of(&self, user_id: &str) -> Result<Vec<HoldingRow>, Error> {
        let sql = format!(
            "SELECT {HOLDING_COLUMNS} FROM user_roles r JOIN users u ON u.id = r.user_id \
             WHERE r.user_id = $1 ORDER BY r.district, r.role"
        );
        let rows =
            on_pool!(self, pool => { sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await? });
        Ok(rows)
    }

    /// One stored role, whatever its state.
    pub async fn find_holding(
        &self,
        user_id: &str,
        role: &str,
        district: &str,
    ) -> Result<Option<HoldingRow>, Error> {
        let sql = format!(
            "SELECT {HOLDING_COLUMNS} FROM user_roles r JOIN users u ON u.id = r.user_id \
             WHERE r.user_id = $1 AND r.role = $2 AND r.district = $3"
        );
        let row = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(user_id).bind(role).bind(district).fetch_optional(pool).await?
        });
        Ok(row)
    }
}
