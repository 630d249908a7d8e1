//! SQL for sessions, the per-address failure counter and OIDC logins in flight.
//!
//! Guarantees: session tokens are stored only as hashes; a session row is joined with its
//! user on every lookup, so disabling a user or bumping their auth epoch ends the session at
//! the very next request on every broker (no cache). OIDC state is taken with one DELETE …
//! RETURNING, so a replayed state finds nothing.

use super::{Error, Store, Tx, on_pool, on_reader, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub token_hash: String,
    pub user_id: String,
    pub stage: String,
    pub auth_epoch: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub second_factor_at: Option<i64>,
    /// How the last second-factor proof was made (`auth::session::Factor`'s text).
    pub factor: Option<String>,
}

/// A session with what the request check needs to know about its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionLookup {
    pub user_id: String,
    pub stage: String,
    pub session_epoch: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub second_factor_at: Option<i64>,
    pub factor: Option<String>,
    pub username: String,
    pub display_name: String,
    pub status: String,
    pub user_epoch: i64,
}

pub async fn insert_session(tx: &mut Tx, s: &SessionRow) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO sessions (token_hash, user_id, stage, auth_epoch, csrf_token, \
        created_at, last_seen_at, second_factor_at, factor) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(&s.token_hash).bind(&s.user_id).bind(&s.stage).bind(s.auth_epoch)
            .bind(&s.csrf_token).bind(s.created_at).bind(s.last_seen_at).bind(s.second_factor_at)
            .bind(&s.factor).execute(conn).await?;
    });
    Ok(())
}

/// Removes a session; true if it existed (so a rotation can tell it won the race).
pub async fn delete_session(tx: &mut Tx, token_hash: &str) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

pub async fn insert_oidc_pending(
    tx: &mut Tx,
    state_hash: &str,
    sealed: &[u8],
    now: i64,
) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO oidc_pending (state_hash, sealed, created_at) VALUES ($1, $2, $3)")
            .bind(state_hash).bind(sealed).bind(now).execute(conn).await?;
    });
    Ok(())
}

/// Takes (deletes and returns) a pending OIDC login created after `not_before`.
pub async fn take_oidc_pending(
    tx: &mut Tx,
    state_hash: &str,
    not_before: i64,
) -> Result<Option<Vec<u8>>, Error> {
    const SQL: &str = "DELETE FROM oidc_pending WHERE state_hash = $1 RETURNING sealed, created_at";
    let row: Option<(Vec<u8>, i64)> = on_tx!(tx, conn => {
        sqlx::query_as(SQL).bind(state_hash).fetch_optional(conn).await?
    });
    Ok(row
        .filter(|(_, created)| *created >= not_before)
        .map(|(sealed, _)| sealed))
}

impl Store {
    pub async fn find_session(&self, token_hash: &str) -> Result<Option<SessionLookup>, Error> {
        const SQL: &str = "SELECT s.user_id, s.stage, s.auth_epoch AS session_epoch, s.csrf_token, \
            s.created_at, s.last_seen_at, s.second_factor_at, s.factor, u.username, u.display_name, \
            u.status, u.auth_epoch AS user_epoch \
            FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1";
        let row = on_reader!(self, conn => {
            sqlx::query_as(SQL).bind(token_hash).fetch_optional(conn).await?
        });
        Ok(row)
    }

    /// Records activity, for the idle timeout.
    pub async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), Error> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2")
                .bind(token_hash).bind(now).execute(pool).await?;
        });
        Ok(())
    }

    /// Deletes sessions past their idle or absolute limit (housekeeping; the request check
    /// refuses them on its own).
    pub async fn delete_expired_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64, Error> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(idle_before).bind(created_before).execute(pool).await?.rows_affected()
        });
        Ok(n)
    }

    /// Deletes OIDC logins started before `created_before` (never finished).
    pub async fn delete_stale_oidc_pending(&self, created_before: i64) -> Result<u64, Error> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM oidc_pending WHERE created_at < $1")
                .bind(created_before).execute(pool).await?.rows_affected()
        });
        Ok(n)
    }

    /// Counts one failed sign-in from `ip` and returns the failures in the current window.
    pub async fn record_ip_failure(
        &self,
        ip: &str,
        now: i64,
        window_secs: i64,
    ) -> Result<i64, Error> {
        const SQL: &str = "INSERT INTO ip_failures (ip, window_start, failures) VALUES ($1, $2, 1) \
            ON CONFLICT (ip) DO UPDATE SET \
              failures = CASE WHEN ip_failures.window_start <= $3 THEN 1 ELSE ip_failures.failures + 1 END, \
              window_start = CASE WHEN ip_failures.window_start <= $3 THEN $2 ELSE ip_failures.window_start END \
            RETURNING failures";
        let n: i32 = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(ip).bind(now).bind(now - window_secs).fetch_one(pool).await?
        });
        Ok(i64::from(n))
    }

    pub async fn ip_failures(&self, ip: &str, now: i64, window_secs: i64) -> Result<i64, Error> {
        const SQL: &str = "SELECT failures FROM ip_failures WHERE ip = $1 AND window_start > $2";
        let n: Option<i32> = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(ip).bind(now - window_secs).fetch_optional(pool).await?
        });
        Ok(n.map(i64::from).unwrap_or(0))
    }
}
