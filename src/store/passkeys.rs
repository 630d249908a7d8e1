//! SQL for passkeys (WebAuthn credentials) and the ceremonies in flight.
//!
//! Guarantees: a credential is stored only sealed (the caller seals it, `auth::passkey`);
//! a ceremony's state is taken with one DELETE … RETURNING, so it works once; every query
//! that names a passkey also names its user, so one user's id never reaches another's key.

use super::{Error, Store, Tx, on_pool, on_tx};

/// One stored passkey.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub credential_id: String,
    pub sealed: Vec<u8>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, name, credential_id, sealed, created_at, last_used_at";

pub async fn insert_passkey(tx: &mut Tx, row: &PasskeyRow) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO passkeys (id, user_id, name, credential_id, sealed, \
        created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(&row.id).bind(&row.user_id).bind(&row.name).bind(&row.credential_id)
            .bind(&row.sealed).bind(row.created_at).bind(row.last_used_at)
            .execute(conn).await?;
    });
    Ok(())
}

/// The user's passkeys, oldest first, read in the caller's transaction.
pub async fn list_passkeys_in(tx: &mut Tx, user_id: &str) -> Result<Vec<PasskeyRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
    let rows = on_tx!(tx, conn => {
        sqlx::query_as(&sql).bind(user_id).fetch_all(conn).await?
    });
    Ok(rows)
}

/// Stores the credential after a use (its counter and backup state move on).
pub async fn update_passkey_use(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
    sealed: &[u8],
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str =
        "UPDATE passkeys SET sealed = $3, last_used_at = $4 WHERE id = $1 AND user_id = $2";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(id).bind(user_id).bind(sealed).bind(now)
            .execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Renames one of the user's passkeys; false when the user has no passkey with that id.
pub async fn rename_passkey(
    tx: &mut Tx,
    user_id: &str,
    id: &str,
    name: &str,
) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => {
        sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
            .bind(id).bind(user_id).bind(name).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Removes one of the user's passkeys; false when the user has no passkey with that id.
pub async fn delete_passkey(tx: &mut Tx, user_id: &str, id: &str) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => {
        sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id).bind(user_id).execute(conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// Removes every passkey of the user (an administrator's reset); how many there were.
pub async fn delete_user_passkeys(tx: &mut Tx, user_id: &str) -> Result<u64, Error> {
    let n = on_tx!(tx, conn => {
        sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
            .bind(user_id).execute(conn).await?.rows_affected()
    });
    Ok(n)
}

/// Keeps a ceremony's sealed state for the session; a ceremony the session began before is
/// replaced (only the newest challenge can be answered).
pub async fn put_ceremony(
    tx: &mut Tx,
    session_hash: &str,
    kind: &str,
    sealed: &[u8],
    now: i64,
) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO passkey_ceremonies (session_hash, kind, sealed, created_at) \
        VALUES ($1, $2, $3, $4) ON CONFLICT (session_hash) DO UPDATE SET \
        kind = excluded.kind, sealed = excluded.sealed, created_at = excluded.created_at";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(session_hash).bind(kind).bind(sealed).bind(now)
            .execute(conn).await?;
    });
    Ok(())
}

/// Takes (deletes and returns) the session's ceremony of `kind` begun at or after
/// `not_before`. A second call finds nothing.
pub async fn take_ceremony(
    tx: &mut Tx,
    session_hash: &str,
    kind: &str,
    not_before: i64,
) -> Result<Option<Vec<u8>>, Error> {
    const SQL: &str = "DELETE FROM passkey_ceremonies WHERE session_hash = $1 AND kind = $2 \
        RETURNING sealed, created_at";
    let row: Option<(Vec<u8>, i64)> = on_tx!(tx, conn => {
        sqlx::query_as(SQL).bind(session_hash).bind(kind).fetch_optional(conn).await?
    });
    Ok(row
        .filter(|(_, created)| *created >= not_before)
        .map(|(sealed, _)| sealed))
}

impl Store {
    /// The user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user_id: &str) -> Result<Vec<PasskeyRow>, Error> {
        let sql =
            format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
        let rows = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// How many passkeys the user has.
    pub async fn count_passkeys(&self, user_id: &str) -> Result<i64, Error> {
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                .bind(user_id).fetch_one(pool).await?
        });
        Ok(n)
    }

    /// Deletes ceremonies begun before `created_before` (never finished).
    pub async fn delete_stale_passkey_ceremonies(&self, created_before: i64) -> Result<u64, Error> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM passkey_ceremonies WHERE created_at < $1")
                .bind(created_before).execute(pool).await?.rows_affected()
        });
        Ok(n)
    }
}
