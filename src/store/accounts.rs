//! SQL for users, roles, invitations, TOTP state and recovery codes.
//!
//! Guarantees: the TOTP replay guard is a compare-and-set in the database
//! ([`claim_totp_step`]), so a code works once across restarts and across brokers; single-use
//! tokens (invitations, recovery codes) are taken with one conditional UPDATE, so two
//! parallel uses cannot both succeed.

use super::{Error, Store, Tx, on_pool, on_reader, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub status: String,
    pub totp_seed: Option<Vec<u8>>,
    pub totp_pending_seed: Option<Vec<u8>>,
    /// The session (token hash) the pending seed was shown in.
    pub totp_pending_session: Option<String>,
    pub totp_last_step: Option<i64>,
    pub totp_failures: i32,
    pub totp_locks: i32,
    pub totp_locked_until: Option<i64>,
    pub totp_disabled: bool,
    pub auth_epoch: i64,
    pub created_at: i64,
    /// Set for an account that signs in only through this identity provider (its id).
    pub oidc_provider: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoleRow {
    pub role: String,
    pub district: String,
}

const USER_COLUMNS: &str = "id, username, display_name, password_hash, status, totp_seed, \
    totp_pending_seed, totp_pending_session, totp_last_step, totp_failures, totp_locks, totp_locked_until, \
    totp_disabled, auth_epoch, created_at, oidc_provider";

pub async fn insert_user(
    tx: &mut Tx,
    id: &str,
    username: &str,
    display_name: &str,
    now: i64,
) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO users (id, username, display_name, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, 'invited', $4, $4)")
            .bind(id).bind(username).bind(display_name).bind(now)
            .execute(conn).await?;
    });
    Ok(())
}

pub async fn insert_invitation(
    tx: &mut Tx,
    token_hash: &str,
    user_id: &str,
    expires_at: i64,
) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO invitations (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash).bind(user_id).bind(expires_at)
            .execute(conn).await?;
    });
    Ok(())
}

/// Ends every unused invitation of the user (a new one replaces them); how many there were.
pub async fn end_invitations(tx: &mut Tx, user_id: &str, now: i64) -> Result<u64, Error> {
    let done = on_tx!(tx, conn => {
        sqlx::query("UPDATE invitations SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id).bind(now).execute(conn).await?.rows_affected()
    });
    Ok(done)
}

/// The address a user's notices are e-mailed to, if one is set.
pub async fn email_of(tx: &mut Tx, user_id: &str) -> Result<Option<String>, Error> {
    let email = on_tx!(tx, conn => {
        sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
            .bind(user_id).fetch_optional(conn).await?
    });
    Ok(email.flatten())
}

/// Marks an unexpired, unused invitation used and returns its user; `None` otherwise.
pub async fn take_invitation(
    tx: &mut Tx,
    token_hash: &str,
    now: i64,
) -> Result<Option<String>, Error> {
    const SQL: &str = "UPDATE invitations SET used_at = $2 \
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id";
    let user = on_tx!(tx, conn => {
        sqlx::query_scalar(SQL).bind(token_hash).bind(now).fetch_optional(conn).await?
    });
    Ok(user)
}

/// Sets the password and activates an invited user.
pub async fn set_password(tx: &mut Tx, user_id: &str, phc: &str, now: i64) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE users SET password_hash = $2, status = 'active', updated_at = $3 WHERE id = $1")
            .bind(user_id).bind(phc).bind(now)
            .execute(conn).await?;
    });
    Ok(())
}

/// Sets `status` and bumps the auth epoch, ending every session of the user.
pub async fn set_email(
    tx: &mut Tx,
    user_id: &str,
    email: Option<&str>,
    now: i64,
) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE users SET email = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id).bind(email).bind(now).execute(conn).await?;
    });
    Ok(())
}

pub async fn set_status(tx: &mut Tx, user_id: &str, status: &str, now: i64) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE users SET status = $2, auth_epoch = auth_epoch + 1, updated_at = $3 WHERE id = $1")
            .bind(user_id).bind(status).bind(now)
            .execute(conn).await?;
    });
    delete_user_sessions(tx, user_id).await
}

pub async fn delete_user_sessions(tx: &mut Tx, user_id: &str) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(conn).await?;
    });
    Ok(())
}

/// Stores a seed that was shown to the user, in the session with token hash `session`, but
/// not yet confirmed with a code.
pub async fn set_pending_seed(
    tx: &mut Tx,
    user_id: &str,
    sealed: &[u8],
    session: &str,
    now: i64,
) -> Result<(), Error> {
    const SQL: &str = "UPDATE users SET totp_pending_seed = $2, totp_pending_session = $3, \
        updated_at = $4 WHERE id = $1";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(user_id).bind(sealed).bind(session).bind(now)
            .execute(conn).await?;
    });
    Ok(())
}

/// Binds the pending seed (only if it is still the one the code was checked against) and
/// records `step` as used. Returns false when the pending seed changed meanwhile.
pub async fn confirm_pending_seed(
    tx: &mut Tx,
    user_id: &str,
    checked: &[u8],
    step: i64,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE users SET totp_seed = totp_pending_seed, totp_pending_seed = NULL, \
        totp_last_step = $3, totp_failures = 0, totp_locks = 0, totp_locked_until = NULL, \
        totp_disabled = FALSE, updated_at = $4 WHERE id = $1 AND totp_pending_seed = $2";
    let done = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(user_id).bind(checked).bind(step).bind(now)
            .execute(conn).await?.rows_affected()
    });
    Ok(done == 1)
}

/// The replay guard (SECURITY_BAR A2): records `step` as the last used one only if it is
/// newer than the stored one and the factor is neither locked nor disabled at `now` (A10: a
/// code admitted before a lock cannot be claimed past it). Exactly one of any number of
/// parallel claims succeeds. Runs in the caller's locked transaction ([`lock_second_factor`]).
pub async fn claim_totp_step(
    tx: &mut Tx,
    user_id: &str,
    step: i64,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE users SET totp_last_step = $2, totp_failures = 0, totp_locks = 0, \
        totp_locked_until = NULL, updated_at = $3 \
        WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2) \
        AND NOT totp_disabled AND (totp_locked_until IS NULL OR totp_locked_until <= $3)";
    let done = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(user_id).bind(step).bind(now).execute(conn).await?.rows_affected()
    });
    Ok(done == 1)
}

/// A second factor's failure counters, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct TotpFailures {
    pub totp_failures: i32,
    pub totp_locks: i32,
    pub totp_locked_until: Option<i64>,
    pub totp_disabled: bool,
}

/// What checking a second-factor code needs, read under the user row's write lock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecondFactorRow {
    pub totp_seed: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    #[sqlx(flatten)]
    pub failures: TotpFailures,
}

/// Reads `user_id`'s second factor under the row's write lock (`FOR UPDATE` on PostgreSQL;
/// a SQLite write transaction holds the database's write lock already), so that codes for
/// one user are checked one after the other: the gate, the check and the count of each see
/// the count of the one before (SECURITY_BAR A10). `None` for an unknown user.
pub async fn lock_second_factor(
    tx: &mut Tx,
    user_id: &str,
) -> Result<Option<SecondFactorRow>, Error> {
    const COLUMNS: &str = "SELECT totp_seed, totp_last_step, totp_failures, totp_locks, \
        totp_locked_until, totp_disabled FROM users WHERE id = $1";
    let row = match tx {
        Tx::Sqlite(t) => {
            sqlx::query_as(COLUMNS)
                .bind(user_id)
                .fetch_optional(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as(&format!("{COLUMNS} FOR UPDATE"))
                .bind(user_id)
                .fetch_optional(&mut **t)
                .await?
        }
    };
    Ok(row)
}

/// Stores the counters [`lock_second_factor`] read and the lockout schedule advanced.
pub async fn save_totp_failures(
    tx: &mut Tx,
    user_id: &str,
    next: TotpFailures,
) -> Result<(), Error> {
    const SQL: &str = "UPDATE users SET totp_failures = $2, totp_locks = $3, \
        totp_locked_until = $4, totp_disabled = $5 WHERE id = $1";
    on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(user_id)
            .bind(next.totp_failures)
            .bind(next.totp_locks)
            .bind(next.totp_locked_until)
            .bind(next.totp_disabled)
            .execute(conn)
            .await?;
    });
    Ok(())
}

/// Removes the second factor and recovery codes and ends all sessions (admin reset).
pub async fn reset_totp(tx: &mut Tx, user_id: &str, now: i64) -> Result<(), Error> {
    const SQL: &str = "UPDATE users SET totp_seed = NULL, totp_pending_seed = NULL, \
        totp_last_step = NULL, totp_failures = 0, totp_locks = 0, totp_locked_until = NULL, \
        totp_disabled = FALSE, auth_epoch = auth_epoch + 1, updated_at = $2 WHERE id = $1";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(user_id).bind(now).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(conn).await?;
    });
    delete_user_sessions(tx, user_id).await
}

pub async fn replace_recovery_codes(
    tx: &mut Tx,
    user_id: &str,
    hashes: &[String],
) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id).bind(hash).execute(&mut *conn).await?;
        }
    });
    Ok(())
}

/// Uses a recovery code once. True only for the one call that marked it used. Runs in the
/// caller's locked transaction ([`lock_second_factor`]).
pub async fn use_recovery_code(
    tx: &mut Tx,
    user_id: &str,
    hash: &str,
    now: i64,
) -> Result<bool, Error> {
    const SQL: &str = "UPDATE recovery_codes SET used_at = $3 \
        WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL";
    let done = on_tx!(tx, conn => {
        sqlx::query(SQL).bind(user_id).bind(hash).bind(now).execute(conn).await?.rows_affected()
    });
    Ok(done == 1)
}

pub async fn link_oidc_identity(
    tx: &mut Tx,
    issuer: &str,
    subject: &str,
    user_id: &str,
) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO oidc_identities (issuer, subject, user_id) VALUES ($1, $2, $3)")
            .bind(issuer).bind(subject).bind(user_id).execute(conn).await?;
    });
    Ok(())
}

/// The user `id`, read inside `tx`.
pub async fn find_user_in(tx: &mut Tx, id: &str) -> Result<Option<UserRow>, Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = on_tx!(tx, conn => {
        sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?
    });
    Ok(row)
}

/// Makes the account one that signs in only through identity provider `provider`.
pub async fn set_oidc_provider(
    tx: &mut Tx,
    user_id: &str,
    provider: &str,
    now: i64,
) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE users SET oidc_provider = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id).bind(provider).bind(now).execute(conn).await?;
    });
    Ok(())
}

impl Store {
    /// The issuers at which the user has a linked identity.
    pub async fn oidc_issuers_of(&self, user_id: &str) -> Result<Vec<String>, Error> {
        let rows = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT issuer FROM oidc_identities WHERE user_id = $1 ORDER BY issuer")
                .bind(user_id).fetch_all(pool).await?
        });
        Ok(rows)
    }

    pub async fn find_user_by_username(&self, username: &str) -> Result<Option<UserRow>, Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(username).fetch_optional(pool).await?
        });
        Ok(row)
    }

    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<UserRow>, Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        Ok(row)
    }

    pub async fn find_user_by_oidc(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRow>, Error> {
        let sql = format!(
            "SELECT {} FROM users u JOIN oidc_identities o ON o.user_id = u.id \
             WHERE o.issuer = $1 AND o.subject = $2",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(issuer).bind(subject).fetch_optional(pool).await?
        });
        Ok(row)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows = on_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The user's roles in force now: a role past its recertification due date is suspended
    /// and left out (see [`Store::list_roles_at`]).
    pub async fn list_roles(&self, user_id: &str) -> Result<Vec<RoleRow>, Error> {
        self.list_roles_at(user_id, time::OffsetDateTime::now_utc().unix_timestamp())
            .await
    }

    /// The user's roles in force at `now`: granted or confirmed less than the role term ago.
    /// A suspended role stays stored but is not returned, so it grants nothing.
    pub async fn list_roles_at(&self, user_id: &str, now: i64) -> Result<Vec<RoleRow>, Error> {
        const SQL: &str = "SELECT role, district FROM user_roles WHERE user_id = $1 \
            AND confirmed_at > $2 ORDER BY district, role";
        let after = self.roles_in_force_after(now);
        let rows = on_reader!(self, conn => {
            sqlx::query_as(SQL).bind(user_id).bind(after).fetch_all(conn).await?
        });
        Ok(rows)
    }

    /// Every stored role of the user, suspended ones included (for administrators' lists).
    pub async fn list_stored_roles(&self, user_id: &str) -> Result<Vec<RoleRow>, Error> {
        const SQL: &str =
            "SELECT role, district FROM user_roles WHERE user_id = $1 ORDER BY district, role";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The user of an unused, unexpired invitation (without using it up).
    pub async fn find_invitation(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<String>, Error> {
        const SQL: &str = "SELECT user_id FROM invitations \
            WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2";
        let user = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(token_hash).bind(now).fetch_optional(pool).await?
        });
        Ok(user)
    }

    pub async fn count_unused_recovery_codes(&self, user_id: &str) -> Result<i64, Error> {
        const SQL: &str =
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL";
        let n = on_pool!(self, pool => {
            sqlx::query_scalar(SQL).bind(user_id).fetch_one(pool).await?
        });
        Ok(n)
    }
}
