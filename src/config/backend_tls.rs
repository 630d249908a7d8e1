//! Which store and register URLs may go without verified TLS (threat model F-4, SECURITY_BAR
//! G7, ASVS 5.0 V12.3: TLS to back ends).
//!
//! The rule: a Unix socket or a loopback host (127.0.0.0/8, `::1`, `localhost`) may go without
//! TLS, because the traffic never leaves the machine. Any other host needs the server's
//! certificate verified *and* its name checked: PostgreSQL `sslmode=verify-full`, MySQL and
//! MariaDB `ssl-mode=VERIFY_IDENTITY`. Anything else — no mode (sqlx's default is `prefer`, which
//! falls back to plain text without a word), `disable`, `require` — is refused at start-up.
//!
//! `verify-ca` / `VERIFY_CA` are refused too, even with `sslrootcert` / `ssl-ca`: sqlx 0.8's
//! rustls back end puts the URL's root *beside* Mozilla's roots (`webpki-roots`) and, in these
//! modes, means to skip the name check (sqlx-core 0.8.6 `src/net/tls/tls_rustls.rs`,
//! `handshake`: `certs_from_webpki()` then `cert_store.add(..)`, and `NoHostnameTlsVerifier`
//! when `accept_invalid_hostnames`). So a certificate any public CA issued, for any name, would
//! pass. libpq's `verify-ca` trusts only `sslrootcert`; sqlx's does not. (With rustls 0.23.46
//! the skip misses: `NoHostnameTlsVerifier` forgives only `CertificateError::NotValidForName`,
//! and rustls now reports `NotValidForNameContext`, so today the name is checked after all —
//! an accident a patch release may undo, not something to build on.)
//!
//! The URL is read by the driver's own parser (sqlx's `FromStr`), so what is judged is what
//! will connect: every spelling it accepts (`sslmode`/`ssl-mode`, `host=` and `hostaddr=` query
//! parameters, percent-encoded socket paths) and the `PG*` environment variables it falls back
//! on (`PGHOST`, `PGSSLMODE`).
//!
//! Never: puts the URL's user or password in an error. Only the host (which connection errors
//! show anyway) and the mode are named.

use std::net::IpAddr;
use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::Error;

const PG_FIX: &str = "add sslmode=verify-full to the URL (with sslrootcert=PATH to the CA that \
     signed the server's certificate, unless a public CA did), or reach the database over \
     loopback or a Unix socket";
const MYSQL_FIX: &str = "add ssl-mode=VERIFY_IDENTITY to the URL (with ssl-ca=PATH to the CA \
     that signed the server's certificate, unless a public CA did), or reach the database over \
     loopback or a Unix socket";
const PARSE_FIX: &str = "write it as in registervakt.example.toml";

/// Refuses `url` (the value of `key`) when it leaves the machine without a verified,
/// name-checked TLS connection. SQLite URLs are files and always pass.
pub(super) fn check(key: &'static str, url: &str) -> Result<(), Error> {
    match url.split_once(':').map(|(scheme, _)| scheme) {
        Some("postgres" | "postgresql") => check_postgres(key, url),
        Some("mysql" | "mariadb") => check_mysql(key, url),
        _ => Ok(()),
    }
}

fn check_postgres(key: &'static str, url: &str) -> Result<(), Error> {
    let opts = PgConnectOptions::from_str(url).map_err(|e| unreadable(key, &e, url))?;
    // sqlx connects over a Unix socket when one is set or the host is a path
    // (sqlx-postgres 0.8.6 `PgConnectOptions::fetch_socket`).
    if opts.get_socket().is_some() || opts.get_host().starts_with('/') {
        return Ok(());
    }
    let host = opts.get_host();
    let mode = opts.get_ssl_mode();
    if is_loopback(host) || matches!(mode, PgSslMode::VerifyFull) {
        return Ok(());
    }
    let problem = match mode {
        PgSslMode::VerifyCa => format!(
            "reaches {host} with sslmode=verify-ca, which in this driver also trusts public CAs and \
             does not promise to check the server's name"
        ),
        other => format!(
            "reaches {host} without checking its certificate (sslmode={})",
            pg_mode_name(other)
        ),
    };
    Err(Error::invalid(key, problem, PG_FIX))
}

fn check_mysql(key: &'static str, url: &str) -> Result<(), Error> {
    // sqlx only knows the `mysql` scheme; MariaDB speaks the same protocol.
    let normalised = url.replacen("mariadb://", "mysql://", 1);
    let opts = MySqlConnectOptions::from_str(&normalised).map_err(|e| unreadable(key, &e, url))?;
    // With `socket=` set sqlx ignores the host (sqlx-mysql 0.8.6 `establish.rs`).
    if opts.get_socket().is_some() {
        return Ok(());
    }
    let host = opts.get_host();
    let mode = opts.get_ssl_mode();
    if is_loopback(host) || matches!(mode, MySqlSslMode::VerifyIdentity) {
        return Ok(());
    }
    let problem = match mode {
        MySqlSslMode::VerifyCa => format!(
            "reaches {host} with ssl-mode=VERIFY_CA, which in this driver also trusts public CAs \
             and does not promise to check the server's name"
        ),
        other => format!(
            "reaches {host} without checking its certificate (ssl-mode={})",
            mysql_mode_name(other)
        ),
    };
    Err(Error::invalid(key, problem, MYSQL_FIX))
}

/// `localhost`, or an address in 127.0.0.0/8 or `::1` (also written IPv4-mapped,
/// `::ffff:127.0.0.1`). A URL's IPv6 host keeps its brackets. Any other name counts as
/// remote, even one that resolves to loopback: the rule is judged without DNS.
fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// A URL the driver cannot read is refused here, with the driver's reason minus any password,
/// so that the check can never be skipped by a URL it does not understand.
fn unreadable(key: &'static str, e: &sqlx::Error, url: &str) -> Error {
    let cause = without_password(&e.to_string(), url);
    Error::invalid(
        key,
        format!("is not a URL the database driver can read ({cause})"),
        PARSE_FIX,
    )
}

/// Removes the URL's password (as written and percent-decoded) from `text`.
fn without_password(text: &str, url: &str) -> String {
    let Some(written) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
        .filter(|p| !p.is_empty())
    else {
        return text.to_owned();
    };
    let decoded = url::form_urlencoded::parse(format!("p={written}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let mut out = text.replace(&written, "***");
    if !decoded.is_empty() {
        out = out.replace(&decoded, "***");
    }
    out
}

fn pg_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer, the default",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

fn mysql_mode_name(mode: MySqlSslMode) -> &'static str {
    match mode {
        MySqlSslMode::Disabled => "DISABLED",
        MySqlSslMode::Preferred => "PREFERRED, the default",
        MySqlSslMode::Required => "REQUIRED",
        MySqlSslMode::VerifyCa => "VERIFY_CA",
        MySqlSslMode::VerifyIdentity => "VERIFY_IDENTITY",
    }
}

#[cfg(test)]
mod tests;
