//! Opening the register's read-only pools, and describing failures without secrets.
//!
//! Guarantees: every pooled connection runs the backend's read-only session statement, and on
//! PostgreSQL and MariaDB its statement time limit ([`super::limits`]), before it is handed
//! out (a connection whose statement fails is discarded by the pool); a
//! PostgreSQL or MariaDB connection is pinged before each use (the server may have dropped
//! it), a SQLite one is not (nothing can); and a failure is described by `backend at
//! host:port` (or the SQLite path) plus a short cause with the URL's password removed.

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

use super::{Backend, Error, Limits, Pools, RegisterDb};

/// Longest database message kept in an error.
const MAX_CAUSE_LEN: usize = 200;

pub(super) async fn open(
    url: &SecretString,
    timeout: Duration,
    max_connections: u32,
    limits: Limits,
) -> Result<RegisterDb, Error> {
    let raw = url.expose_secret();
    let backend = Backend::from_url(raw)?;
    let location = describe_location(backend, raw);
    let opened = match backend {
        Backend::Sqlite => sqlite(raw, timeout, max_connections).await,
        Backend::Postgres => postgres(raw, timeout, max_connections, limits).await,
        Backend::MariaDb => mariadb(raw, timeout, max_connections, limits).await,
    };
    let (pools, sqlite_file) = opened.map_err(|cause| Error::Connect {
        backend: backend.as_str(),
        location: location.clone(),
        cause: redact(&cause, raw),
    })?;
    tracing::info!(backend = backend.as_str(), %location, "member register pool opened read-only");
    Ok(RegisterDb {
        pools,
        backend,
        location,
        sqlite_file,
        limits,
    })
}

type Opened = Result<(Pools, Option<std::path::PathBuf>), String>;

/// `SQLITE_OPEN_READONLY`: the library itself refuses every write on these connections.
async fn sqlite(raw: &str, timeout: Duration, max_connections: u32) -> Opened {
    let opts = SqliteConnectOptions::from_str(raw)
        .map_err(|e| short_cause(&e))?
        .read_only(true);
    probe(opts.clone(), timeout).await?;
    let file = opts.get_filename().to_path_buf();
    // No ping before handing out a connection: a SQLite connection is a file in this
    // process, with nothing between that could drop it, and sqlx already pings each one as it
    // comes back to the pool (closing it if that fails). The ping was a hand-off to the
    // connection's worker thread on every read.
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout)
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(crate::store::sqlite_heap::keep_freed_memory(conn)))
        .connect_lazy_with(opts);
    Ok((Pools::Sqlite(pool), Some(file)))
}

async fn postgres(raw: &str, timeout: Duration, max_connections: u32, limits: Limits) -> Opened {
    let opts = PgConnectOptions::from_str(raw)
        .map_err(|e| short_cause(&e))?
        .application_name("registervakt")
        // ISO dates whatever the server's default, so `date::text` is YYYY-MM-DD.
        .options([("DateStyle", "ISO")]);
    probe(opts.clone(), timeout).await?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout)
        .after_connect(move |conn, _| {
            let settings = [
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY".to_owned(),
                limits.postgres_statement(),
            ];
            session(conn, settings)
        })
        .connect_lazy_with(opts);
    Ok((Pools::Postgres(pool), None))
}

async fn mariadb(raw: &str, timeout: Duration, max_connections: u32, limits: Limits) -> Opened {
    // sqlx only knows the `mysql` scheme; MariaDB speaks the same protocol.
    let normalised = raw.replacen("mariadb://", "mysql://", 1);
    let opts = MySqlConnectOptions::from_str(&normalised).map_err(|e| short_cause(&e))?;
    probe(opts.clone(), timeout).await?;
    let pool = MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout)
        .after_connect(move |conn, _| {
            let settings = [
                "SET SESSION TRANSACTION READ ONLY".to_owned(),
                limits.mariadb_statement(),
            ];
            session(conn, settings)
        })
        .connect_lazy_with(opts);
    Ok((Pools::MySql(pool), None))
}

/// Runs the session `settings` in order on a new connection; the first that fails fails it.
fn session<'c, C>(conn: &'c mut C, settings: [String; 2]) -> BoxFuture<'c, Result<(), sqlx::Error>>
where
    C: Send,
    for<'e> &'e mut C: Executor<'e>,
{
    Box::pin(async move {
        for setting in settings {
            conn.execute(setting.as_str()).await?;
        }
        Ok(())
    })
}

/// One connection attempt with a deadline. The pool would retry a refused connection until
/// its timeout and then report only "timed out"; this keeps the real cause.
async fn probe<O>(opts: O, timeout: Duration) -> Result<(), String>
where
    O: ConnectOptions,
    O::Connection: Sized,
{
    match tokio::time::timeout(timeout, opts.connect()).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(short_cause(&e)),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

/// The part of a driver error worth showing: no URL, no SQL, no values.
pub(crate) fn short_cause(e: &sqlx::Error) -> String {
    let text = match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        sqlx::Error::Configuration(c) => format!("register.url is malformed: {c}"),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_owned(),
        other => other.to_string(),
    };
    text.chars().take(MAX_CAUSE_LEN).collect()
}

/// Removes the URL's password from `text` in case a driver echoed it.
pub(crate) fn redact(text: &str, url: &str) -> String {
    let password = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => text.replace(&p, "***"),
        None => text.to_owned(),
    }
}

/// `host:port` for network databases, the file path for SQLite; never credentials.
pub(crate) fn describe_location(backend: Backend, url: &str) -> String {
    if backend == Backend::Sqlite {
        let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
        return path.split('?').next().unwrap_or_default().to_owned();
    }
    let default_port = if backend == Backend::Postgres {
        5432
    } else {
        3306
    };
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(default_port)
        ),
        Err(_) => "an unparsable URL".to_owned(),
    }
}
