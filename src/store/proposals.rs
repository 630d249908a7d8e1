//! SQL for what one administrator proposes and a second one confirms: new accounts
//! (`user_proposals`) and policy versions (`policy_proposals`). Role changes of existing
//! accounts are in [`super::roles`].
//!
//! Guarantees: a proposal is decided once (a conditional UPDATE that returns it); one pending
//! proposal per username (a partial unique index).

use super::{Error, Store, Tx, on_pool, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserProposalRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// `ROLE:DISTRICT`, one per line.
    pub roles: String,
    pub requested_by: String,
    pub requested_at: i64,
    /// The identity provider the account is to sign in through, if any.
    pub oidc_provider: Option<String>,
}

const USER_COLUMNS: &str =
    "id, username, display_name, email, roles, requested_by, requested_at, oidc_provider";

pub async fn insert_user_proposal(tx: &mut Tx, row: &UserProposalRow) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO user_proposals \
        (id, username, display_name, email, roles, requested_by, requested_at, oidc_provider) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(&row.id).bind(&row.username).bind(&row.display_name)
            .bind(&row.email).bind(&row.roles).bind(&row.requested_by).bind(row.requested_at)
            .bind(&row.oidc_provider).execute(conn).await?;
    });
    Ok(())
}

/// Whether a proposal for `username` is waiting (the name is taken until it is decided).
pub async fn user_proposal_pending(tx: &mut Tx, username: &str) -> Result<bool, Error> {
    const SQL: &str = "SELECT COUNT(*) FROM user_proposals WHERE username = $1 AND outcome IS NULL";
    let n: i64 = on_tx!(tx, conn => {
        sqlx::query_scalar(SQL).bind(username).fetch_one(conn).await?
    });
    Ok(n > 0)
}

/// Marks a pending proposal decided and returns it; `None` if it was decided already or does
/// not exist.
pub async fn decide_user_proposal(
    tx: &mut Tx,
    id: &str,
    decided_by: &str,
    outcome: &str,
    now: i64,
) -> Result<Option<UserProposalRow>, Error> {
    let sql = format!(
        "UPDATE user_proposals SET decided_by = $2, decided_at = $3, outcome = $4 \
         WHERE id = $1 AND outcome IS NULL RETURNING {USER_COLUMNS}"
    );
    let row = on_tx!(tx, conn => {
        sqlx::query_as(&sql).bind(id).bind(decided_by).bind(now).bind(outcome)
            .fetch_optional(conn).await?
    });
    Ok(row)
}

/// Records which account an applied proposal became.
pub async fn link_user_proposal(tx: &mut Tx, id: &str, user_id: &str) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE user_proposals SET user_id = $2 WHERE id = $1")
            .bind(id).bind(user_id).execute(conn).await?;
    });
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyProposalRow {
    pub id: String,
    pub base_version: Option<i64>,
    pub permissions: String,
    pub purposes: String,
    pub comment: String,
    pub proposed_by: String,
    pub proposed_at: i64,
}

const POLICY_COLUMNS: &str =
    "id, base_version, permissions, purposes, comment, proposed_by, proposed_at";

pub async fn insert_policy_proposal(tx: &mut Tx, row: &PolicyProposalRow) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO policy_proposals \
        (id, base_version, permissions, purposes, comment, proposed_by, proposed_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(&row.id).bind(row.base_version).bind(&row.permissions)
            .bind(&row.purposes).bind(&row.comment).bind(&row.proposed_by).bind(row.proposed_at)
            .execute(conn).await?;
    });
    Ok(())
}

/// Marks a pending policy proposal decided and returns it; `None` if it was decided already
/// or does not exist.
pub async fn decide_policy_proposal(
    tx: &mut Tx,
    id: &str,
    decided_by: &str,
    outcome: &str,
    now: i64,
) -> Result<Option<PolicyProposalRow>, Error> {
    let sql = format!(
        "UPDATE policy_proposals SET decided_by = $2, decided_at = $3, outcome = $4 \
         WHERE id = $1 AND outcome IS NULL RETURNING {POLICY_COLUMNS}"
    );
    let row = on_tx!(tx, conn => {
        sqlx::query_as(&sql).bind(id).bind(decided_by).bind(now).bind(outcome)
            .fetch_optional(conn).await?
    });
    Ok(row)
}

/// Records which policy version an applied proposal became.
pub async fn set_policy_proposal_version(tx: &mut Tx, id: &str, version: i64) -> Result<(), Error> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE policy_proposals SET version = $2 WHERE id = $1")
            .bind(id).bind(version).execute(conn).await?;
    });
    Ok(())
}

impl Store {
    pub async fn find_pending_user_proposal(
        &self,
        id: &str,
    ) -> Result<Option<UserProposalRow>, Error> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM user_proposals WHERE id = $1 AND outcome IS NULL");
        let row =
            on_pool!(self, pool => { sqlx::query_as(&sql).bind(id).fetch_optional(pool).await? });
        Ok(row)
    }

    pub async fn list_pending_user_proposals(&self) -> Result<Vec<UserProposalRow>, Error> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM user_proposals WHERE outcome IS NULL ORDER BY requested_at"
        );
        let rows = on_pool!(self, pool => { sqlx::query_as(&sql).fetch_all(pool).await? });
        Ok(rows)
    }

    pub async fn find_pending_policy_proposal(
        &self,
        id: &str,
    ) -> Result<Option<PolicyProposalRow>, Error> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policy_proposals WHERE id = $1 AND outcome IS NULL"
        );
        let row =
            on_pool!(self, pool => { sqlx::query_as(&sql).bind(id).fetch_optional(pool).await? });
        Ok(row)
    }

    pub async fn list_pending_policy_proposals(&self) -> Result<Vec<PolicyProposalRow>, Error> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policy_proposals WHERE outcome IS NULL ORDER BY proposed_at"
        );
        let rows = on_pool!(self, pool => { sqlx::query_as(&sql).fetch_all(pool).await? });
        Ok(rows)
    }
}
