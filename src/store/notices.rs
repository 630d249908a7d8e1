//! SQL for in-app notices and who receives them. Nothing here holds member data: a notice is a
//! kind, an extract id and a fixed sentence; a notice is claimed for e-mail with a conditional
//! UPDATE, so across brokers only one sends it; a claim is given back when the mail server
//! could not take the message, so it is sent once the server answers again.

use super::{Error, Store, Tx, on_pool, on_tx};

/// An in-app notice.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NoticeRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub extract_id: Option<String>,
    pub message: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

/// A user to notify: id and (optional) e-mail address.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recipient {
    pub id: String,
    pub email: Option<String>,
}

pub async fn insert_notice(tx: &mut Tx, n: &NoticeRow) -> Result<(), Error> {
    const SQL: &str = "INSERT INTO notices (id, user_id, kind, extract_id, message, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6)";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(&n.id).bind(&n.user_id).bind(&n.kind).bind(&n.extract_id)
            .bind(&n.message).bind(n.created_at).execute(conn).await?;
    });
    Ok(())
}

impl Store {
    /// Active users holding `role` in `district` or party-wide, in force now (a suspended
    /// role is left out).
    pub async fn list_role_holders(
        &self,
        role: &str,
        district: &str,
    ) -> Result<Vec<Recipient>, Error> {
        let after = self.roles_in_force_after(time::OffsetDateTime::now_utc().unix_timestamp());
        const SQL: &str = "SELECT DISTINCT u.id, u.email FROM users u \
            JOIN user_roles r ON r.user_id = u.id \
            WHERE r.role = $1 AND (r.district = $2 OR r.district = '*') AND u.status = 'active' \
            AND r.confirmed_at > $3 \
            ORDER BY u.id";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(role).bind(district).bind(after).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The display names of the active users holding `role` in `district` (or party-wide),
    /// with their ids, by name; a suspended role is left out.
    pub async fn list_role_holder_names(
        &self,
        role: &str,
        district: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let after = self.roles_in_force_after(time::OffsetDateTime::now_utc().unix_timestamp());
        const SQL: &str = "SELECT DISTINCT u.id, u.display_name FROM users u \
            JOIN user_roles r ON r.user_id = u.id \
            WHERE r.role = $1 AND (r.district = $2 OR r.district = '*') AND u.status = 'active' \
            AND r.confirmed_at > $3 \
            ORDER BY u.display_name, u.id";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(role).bind(district).bind(after).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// The user's newest notices first.
    pub async fn list_notices(&self, user_id: &str, limit: i64) -> Result<Vec<NoticeRow>, Error> {
        const SQL: &str = "SELECT id, user_id, kind, extract_id, message, created_at, read_at \
            FROM notices WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2";
        let rows = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(user_id).bind(limit).fetch_all(pool).await?
        });
        Ok(rows)
    }

    /// Marks one of the user's notices read; false if there is no such notice of theirs.
    pub async fn mark_notice_read(&self, user_id: &str, id: &str, now: i64) -> Result<bool, Error> {
        const SQL: &str = "UPDATE notices SET read_at = $3 WHERE id = $1 AND user_id = $2 \
            AND read_at IS NULL";
        let n = on_pool!(self, pool => {
            sqlx::query(SQL).bind(id).bind(user_id).bind(now).execute(pool).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// Notices not yet e-mailed, newer than `since`, whose user has an address.
    pub async fn list_unmailed_notices(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<(NoticeRow, String)>, Error> {
        const SQL: &str = "SELECT n.id, n.user_id, n.kind, n.extract_id, n.message, n.created_at, \
            n.read_at, u.email FROM notices n JOIN users u ON u.id = n.user_id \
            WHERE NOT n.emailed AND n.created_at >= $1 AND u.email IS NOT NULL \
            ORDER BY n.created_at LIMIT $2";
        type Joined = (
            String,
            String,
            String,
            Option<String>,
            String,
            i64,
            Option<i64>,
            String,
        );
        let rows: Vec<Joined> = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(since).bind(limit).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(id, user_id, kind, extract_id, message, created_at, read_at, email)| {
                    let notice = NoticeRow {
                        id,
                        user_id,
                        kind,
                        extract_id,
                        message,
                        created_at,
                        read_at,
                    };
                    (notice, email)
                },
            )
            .collect())
    }

    /// Claims a notice for e-mail; false when another broker already did (at most once).
    pub async fn claim_notice_for_mail(&self, id: &str) -> Result<bool, Error> {
        const SQL: &str = "UPDATE notices SET emailed = TRUE WHERE id = $1 AND NOT emailed";
        let n = on_pool!(self, pool => {
            sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// Gives a claimed notice back when its e-mail surely or probably did not go out (the
    /// mail server was down), so a later pump sends it.
    pub async fn release_notice_for_mail(&self, id: &str) -> Result<(), Error> {
        const SQL: &str = "UPDATE notices SET emailed = FALSE WHERE id = $1 AND emailed";
        on_pool!(self, pool => {
            sqlx::query(SQL).bind(id).execute(pool).await?;
        });
        Ok(())
    }
}
