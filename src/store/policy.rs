//! SQL for versions of the access policy. Versions are only ever added.

use super::{Error, Store, Tx, on_pool, on_reader, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyVersionRow {
    pub version: i64,
    pub model: String,
    pub permissions: String,
    pub purposes: String,
    pub changed_by: String,
    pub changed_at: i64,
    pub comment: String,
}

/// Stores `row` as the next version (its `version` field is ignored) and returns the number.
/// Runs inside the caller's write transaction, which serialises concurrent changes.
pub async fn insert_policy_version(tx: &mut Tx, row: &PolicyVersionRow) -> Result<i64, Error> {
    const NEXT: &str = "SELECT COALESCE(MAX(version), 0) + 1 FROM policy_versions";
    const INSERT: &str = "INSERT INTO policy_versions \
        (version, model, permissions, purposes, changed_by, changed_at, comment) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let version: i64 = on_tx!(tx, conn => {
        let next: i64 = sqlx::query_scalar(NEXT).fetch_one(&mut *conn).await?;
        sqlx::query(INSERT)
            .bind(next).bind(&row.model).bind(&row.permissions).bind(&row.purposes)
            .bind(&row.changed_by).bind(row.changed_at).bind(&row.comment)
            .execute(conn).await?;
        next
    });
    Ok(version)
}

/// The version in force, read inside a write transaction (so a confirmation and the version
/// it checks cannot cross).
pub async fn latest_version_in(tx: &mut Tx) -> Result<Option<i64>, Error> {
    let v: Option<i64> = on_tx!(tx, conn => {
        sqlx::query_scalar("SELECT MAX(version) FROM policy_versions").fetch_one(conn).await?
    });
    Ok(v)
}

impl Store {
    /// The version in force, if the policy was ever changed through the broker.
    pub async fn latest_policy_version(&self) -> Result<Option<i64>, Error> {
        let v: Option<i64> = on_reader!(self, conn => {
            sqlx::query_scalar("SELECT MAX(version) FROM policy_versions").fetch_one(conn).await?
        });
        Ok(v)
    }

    pub async fn find_policy_version(
        &self,
        version: i64,
    ) -> Result<Option<PolicyVersionRow>, Error> {
        const SQL: &str = "SELECT version, model, permissions, purposes, changed_by, changed_at, comment \
            FROM policy_versions WHERE version = $1";
        let row = on_pool!(self, pool => { sqlx::query_as(SQL).bind(version).fetch_optional(pool).await? });
        Ok(row)
    }
}
