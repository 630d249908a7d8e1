//! Scratch PostgreSQL databases for `registervakt bench extract --postgres`: a fresh store
//! database with a random name, dropped when the benchmark ends.
//!
//! Guarantees: the name is `rv_bench_<128 random bits in hex>`, so it never names an existing
//! database, and only a database of that form is ever dropped. Errors carry no password.

use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Executor as _};

use super::register::{Backend, describe_location, redact, short_cause};

const PREFIX: &str = "rv_bench_";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{0}` is not a scratch database of the benchmark; refusing to drop it")]
    NotScratch(String),
    #[error("cannot manage a scratch database (PostgreSQL at {location}): {cause}")]
    Database { location: String, cause: String },
}

fn fail(url: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::Database {
        location: describe_location(Backend::Postgres, url),
        cause: redact(&short_cause(&e), url),
    }
}

/// Creates a new database through `admin_url` and returns its URL (the same server, user and
/// options, another path).
pub async fn create(admin_url: &str) -> Result<url::Url, Error> {
    let name = format!("{PREFIX}{}", crate::crypto::random_id128());
    let mut conn = PgConnectOptions::from_str(admin_url)
        .map_err(fail(admin_url))?
        .connect()
        .await
        .map_err(fail(admin_url))?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .map_err(fail(admin_url))?;
    let mut url = url::Url::parse(admin_url).map_err(|e| Error::Database {
        location: describe_location(Backend::Postgres, admin_url),
        cause: e.to_string(),
    })?;
    url.set_path(&name);
    Ok(url)
}

/// Drops the scratch database `name` (one [`create`] made) through `admin_url`.
pub async fn drop(admin_url: &str, name: &str) -> Result<(), Error> {
    let is_scratch = name
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if !is_scratch {
        return Err(Error::NotScratch(name.to_owned()));
    }
    let mut conn = PgConnectOptions::from_str(admin_url)
        .map_err(fail(admin_url))?
        .connect()
        .await
        .map_err(fail(admin_url))?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .map_err(fail(admin_url))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn only_scratch_names_are_ever_dropped() {
        for name in [
            "test",
            "postgres",
            "rv_bench_",
            "rv_bench_xyz",
            "rv_bench_00; DROP",
        ] {
            let err = super::drop("postgres://nobody@127.0.0.1:1/none", name).await;
            assert!(matches!(err, Err(super::Error::NotScratch(_))), "{name}");
        }
    }
}
