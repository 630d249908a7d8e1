//! `[smtp]` in registervakt.toml: where notices are e-mailed from, checked offline when the
//! configuration loads. Sending lives in `notify::mail`.
//!
//! Guarantees: `tls = "none"` is accepted only for a loopback host; a username needs a
//! non-empty password and the other way round; `Debug` never shows the password.

use std::net::IpAddr;

use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};

/// The submission port (RFC 6409), used with STARTTLS.
pub const DEFAULT_PORT: u16 = 587;
/// How long one [`Mailer::send`] may take, in seconds, unless configured.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// The longest `timeout_secs` that [`SmtpConfig::validate`] accepts.
pub const MAX_TIMEOUT_SECS: u64 = 300;

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

/// `[smtp]` in registervakt.toml. Absent section = no e-mail (in-app notices only).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name or IP address of the submission server, without a port.
    pub host: String,
    /// 587 unless set.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The sender, e.g. "Registervakt <noreply@party.se>".
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// Prefer the environment variable REGISTERVAKT_SMTP__PASSWORD to the file.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// STARTTLS unless set.
    #[serde(default)]
    pub tls: SmtpTls,
    /// 10 unless set.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

/// How the connection to the SMTP server is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text; allowed only for a loopback host.
    None,
    /// Plain connect, then STARTTLS, which is required (usually port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

impl SmtpConfig {
    /// Checks what can be checked offline; Err is (key, problem, fix) for the config error,
    /// e.g. ("smtp.from", "is not an e-mail address", "write it as Name <addr@example.org>").
    /// `tls = "none"` is allowed only when host is a loopback address or "localhost".
    pub fn validate(&self) -> Result<(), (&'static str, String, &'static str)> {
        if let Some(problem) = host_problem(&self.host) {
            return Err((
                "smtp.host",
                problem.to_owned(),
                "write only the server's name or IP address, e.g. smtp.example.org, and put the port in smtp.port",
            ));
        }
        if self.port == 0 {
            return Err((
                "smtp.port",
                "is 0".to_owned(),
                "use 587 for STARTTLS or 465 for TLS",
            ));
        }
        if self.from.parse::<Mailbox>().is_err() {
            return Err((
                "smtp.from",
                "is not an e-mail address".to_owned(),
                "write it as Name <addr@example.org>",
            ));
        }
        match (&self.username, &self.password) {
            (Some(user), _) if user.is_empty() => {
                return Err((
                    "smtp.username",
                    "is empty".to_owned(),
                    "set the user name or remove the key",
                ));
            }
            (Some(_), None) => {
                return Err((
                    "smtp.password",
                    "is missing although smtp.username is set".to_owned(),
                    "set REGISTERVAKT_SMTP__PASSWORD, or remove smtp.username",
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "smtp.password",
                    "is set but smtp.username is not".to_owned(),
                    "set smtp.username, or remove the password",
                ));
            }
            (Some(_), Some(password)) if password.expose_secret().is_empty() => {
                return Err((
                    "smtp.password",
                    "is empty".to_owned(),
                    "set REGISTERVAKT_SMTP__PASSWORD to the password",
                ));
            }
            _ => {}
        }
        if self.tls == SmtpTls::None && !is_loopback_host(&self.host) {
            return Err((
                "smtp.tls",
                "is \"none\" for a server that is not on this machine, so mail and password would cross the network unencrypted".to_owned(),
                "use tls = \"starttls\" (port 587) or tls = \"tls\" (port 465)",
            ));
        }
        if self.timeout_secs == 0 || self.timeout_secs > MAX_TIMEOUT_SECS {
            return Err((
                "smtp.timeout_secs",
                format!("must be from 1 to {MAX_TIMEOUT_SECS}"),
                "leave it out for 10 seconds",
            ));
        }
        Ok(())
    }
}

/// Why `host` is no host name or IP address, if it is not.
fn host_problem(host: &str) -> Option<&'static str> {
    if host.is_empty() {
        return Some("is empty");
    }
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let name_like = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if name_like {
        None
    } else {
        Some("is not a host name or IP address")
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
