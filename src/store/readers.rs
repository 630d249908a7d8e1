//! A few SQLite connections kept outside sqlx's pool, for the reads nearly every request makes
//! (its session, the user's roles, the policy version, an extract and the people around it).
//!
//! sqlx pings every pooled connection as it goes back to the pool: one more round trip to the
//! connection's worker thread per hand-out, as costly as the read itself. A reader here goes
//! back without one. That is safe for these connections because they never hold anything
//! open between reads:
//! - each is opened with `query_only`, so SQLite refuses any write through it, and no
//!   transaction is ever begun on it: every statement is its own read, of the latest commit;
//! - sqlx's worker runs a connection's statements in the order they were sent, and resets a
//!   statement whose caller went away, so a read abandoned half way ends its snapshot before
//!   the next one starts;
//! - a reader whose read failed is closed, not handed out again; the next read opens a fresh
//!   one, as the pool would.
//!
//! At most [`READERS`] are open, each opened when first needed; a read waits for a free one.

use std::sync::Mutex;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{Error, sqlite_heap};

/// How many readers may be open at once: two per CPU of the machines the broker is sized
/// for, enough that a read rarely waits, few enough that their page caches stay small.
pub(crate) const READERS: usize = 4;

pub(crate) struct Readers {
    connect: SqliteConnectOptions,
    free: Mutex<Vec<SqliteConnection>>,
    permits: Semaphore,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Readers")
    }
}

impl Readers {
    /// Readers of the store that `connect` opens (its pragmas and all), refusing writes.
    pub(crate) fn new(connect: &SqliteConnectOptions) -> Readers {
        Readers {
            connect: connect
                .clone()
                .create_if_missing(false)
                .pragma("query_only", "ON"),
            free: Mutex::new(Vec::with_capacity(READERS)),
            permits: Semaphore::new(READERS),
        }
    }

    /// A reader of its own for the caller until the returned value is dropped.
    pub(crate) async fn take(&self) -> Result<Reader<'_>, Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Database(sqlx::Error::PoolClosed))?;
        let idle = self.free.lock().map(|mut free| free.pop()).unwrap_or(None);
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let mut conn = self.connect.connect().await?;
                sqlite_heap::keep_freed_memory(&mut conn).await?;
                conn
            }
        };
        Ok(Reader {
            readers: self,
            conn: Some(conn),
            _permit: permit,
        })
    }

    /// Closes every idle reader and lets no more be taken (graceful shutdown).
    pub(crate) async fn close(&self) {
        self.permits.close();
        let idle = self
            .free
            .lock()
            .map(|mut free| std::mem::take(&mut *free))
            .unwrap_or_default();
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

/// One reader, given back (or, after a failed read, closed) when dropped.
pub(crate) struct Reader<'a> {
    readers: &'a Readers,
    conn: Option<SqliteConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Reader<'_> {
    /// The reader's connection; it has one from [`Readers::take`] until it is dropped.
    pub(crate) fn connection(&mut self) -> Result<&mut SqliteConnection, Error> {
        self.conn
            .as_mut()
            .ok_or(Error::Database(sqlx::Error::PoolClosed))
    }

    /// Closes this reader instead of giving it back: its read failed, and a fresh one costs
    /// about a millisecond.
    pub(crate) fn discard(mut self) {
        self.conn = None;
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.readers.permits.is_closed()
            && let Ok(mut free) = self.readers.free.lock()
        {
            free.push(conn);
        }
    }
}

/// Runs `$body` with `$conn` a connection for reads only: on SQLite one of the store's
/// [`Readers`] (no round trip as it goes back), on PostgreSQL one from the pool (whose ping
/// on the way back also finds a connection the network broke). Several statements in the
/// body share the one connection. A read that fails on SQLite closes its reader.
macro_rules! on_reader {
    ($store:expr, $conn:ident => $body:expr) => {
        match (&$store.readers, &$store.backend) {
            (Some(readers), _) => {
                let mut reader = readers.take().await?;
                let read: Result<_, $crate::store::Error> = async {
                    let $conn = reader.connection()?;
                    Ok($body)
                }
                .await;
                match read {
                    Ok(value) => value,
                    Err(e) => {
                        reader.discard();
                        return Err(e);
                    }
                }
            }
            (None, $crate::store::Backend::Sqlite(pool)) => {
                let mut pooled = pool.acquire().await?;
                let $conn = &mut *pooled;
                $body
            }
            (None, $crate::store::Backend::Postgres(pool)) => {
                let mut pooled = pool.acquire().await?;
                let $conn = &mut *pooled;
                $body
            }
        }
    };
}
pub(crate) use on_reader;

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use crate::store::{Backend, Error, Store};

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::scratch(dir.path().join("store.db")).await;
        let Backend::Sqlite(pool) = &store.backend else {
            unreachable!()
        };
        sqlx::query("CREATE TABLE numbers (n INTEGER PRIMARY KEY)")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000) \
             INSERT INTO numbers SELECT i FROM s",
        )
        .execute(pool)
        .await
        .unwrap();
        (dir, store)
    }

    async fn count(store: &Store) -> Result<i64, Error> {
        Ok(on_reader!(store, conn => {
            sqlx::query_scalar("SELECT COUNT(*) FROM numbers").fetch_one(conn).await?
        }))
    }

    async fn add_one(store: &Store) {
        let Backend::Sqlite(pool) = &store.backend else {
            unreachable!()
        };
        sqlx::query("INSERT INTO numbers (n) SELECT MAX(n) + 1 FROM numbers")
            .execute(pool)
            .await
            .unwrap();
    }

    fn idle(store: &Store) -> usize {
        store.readers.as_ref().unwrap().free.lock().unwrap().len()
    }

    #[tokio::test]
    async fn a_reader_refuses_to_write() {
        let (_dir, store) = store().await;
        let wrote: Result<(), Error> = async {
            on_reader!(store, conn => {
                sqlx::query("DELETE FROM numbers").execute(conn).await?;
            });
            Ok(())
        }
        .await;
        let err = wrote.unwrap_err().to_string();
        assert!(err.contains("readonly"), "{err}");
        assert_eq!(count(&store).await.unwrap(), 1000);
    }

    #[tokio::test]
    async fn a_reader_sees_every_commit_made_since_its_last_read() {
        let (_dir, store) = store().await;
        assert_eq!(count(&store).await.unwrap(), 1000);
        assert_eq!(idle(&store), 1, "the reader went back");
        add_one(&store).await;
        assert_eq!(count(&store).await.unwrap(), 1001);
        // A read abandoned after its first row (a request whose client went away) leaves no
        // snapshot open on the reader: the next read on it sees the next commit.
        {
            let readers = store.readers.as_ref().unwrap();
            let mut reader = readers.take().await.unwrap();
            let mut rows = sqlx::query_scalar::<_, i64>("SELECT n FROM numbers ORDER BY n")
                .fetch(reader.connection().unwrap());
            assert_eq!(rows.next().await.unwrap().unwrap(), 1);
        }
        assert_eq!(idle(&store), 1, "the same reader went back");
        add_one(&store).await;
        assert_eq!(count(&store).await.unwrap(), 1002);
    }

    #[tokio::test]
    async fn a_reader_whose_read_failed_is_closed_and_replaced() {
        let (_dir, store) = store().await;
        count(&store).await.unwrap();
        let failed: Result<i64, Error> = async {
            Ok(on_reader!(store, conn => {
                sqlx::query_scalar("SELECT COUNT(*) FROM no_such_table").fetch_one(conn).await?
            }))
        }
        .await;
        assert!(failed.is_err());
        assert_eq!(idle(&store), 0, "the failed reader was not given back");
        assert_eq!(count(&store).await.unwrap(), 1000, "a fresh one reads");
        assert_eq!(idle(&store), 1);
    }

    #[tokio::test]
    async fn no_reader_is_handed_out_after_the_store_closed() {
        let (_dir, store) = store().await;
        count(&store).await.unwrap();
        store.close().await;
        assert_eq!(idle(&store), 0);
        assert!(count(&store).await.is_err());
    }
}
