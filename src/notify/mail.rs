//! E-mail notifications over SMTP (`[smtp]` in registervakt.toml): checking the settings
//! offline, and sending one plain-text UTF-8 message per call through a submission server.
//! Without an `[smtp]` section the broker sends no e-mail and shows in-app notices only.
//!
//! Guarantees:
//! - Mail and the SMTP password leave this machine only inside TLS: `tls = "starttls"`
//!   (the default, port 587) refuses to go on if the server does not offer STARTTLS, and
//!   `tls = "tls"` speaks TLS from the first byte (port 465). Certificates are checked
//!   against the Mozilla roots (webpki-roots) with rustls on `ring`. `tls = "none"` is
//!   accepted only for a loopback host, i.e. a relay on this machine.
//! - A subject or recipient can never add a header: control characters in the subject are
//!   replaced by spaces (and lettre encodes the rest), and a recipient must parse as one
//!   mailbox, so a CR or LF in it is refused before any connection is made.
//! - [`Mailer::send`] gives up after `timeout_secs`, whatever the server does.
//! - Every message carries `Auto-Submitted: auto-generated` (RFC 3834 §5), so vacation
//!   responders and mailing lists do not answer or loop it back.
//! - An address the server cannot take is reported as [`Error::AddressRefused`]: one with
//!   non-ASCII characters when the server does not offer SMTPUTF8 (RFC 6531), which lettre
//!   refuses before sending.
//! - `Debug` of [`SmtpConfig`] and [`Mailer`] never shows the password.
//!
//! Must never: log or put into an [`Error`] the SMTP password or a message body (nor the
//! server's reply text, which may quote what was sent); log recipients or subjects; send
//! member data (the caller guarantees subject and body hold none). Keep lettre's own
//! `tracing` feature off: with it, lettre logs the whole SMTP conversation at debug level,
//! including the AUTH line and the message.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

pub use crate::config::smtp::{SmtpConfig, SmtpTls};

/// Errors of this module; none carries the password, a message body or the server's text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the SMTP setting {key} {problem}; {fix}")]
    Config {
        key: &'static str,
        problem: String,
        fix: &'static str,
    },
    #[error("the recipient is not a valid e-mail address")]
    InvalidRecipient,
    #[error("the e-mail message could not be built")]
    Message,
    #[error("TLS for the SMTP server could not be set up")]
    TlsSetup,
    #[error("the connection to the SMTP server {host}:{port} failed")]
    Connect { host: String, port: u16 },
    #[error("the SMTP server did not finish within {secs} seconds")]
    Timeout { secs: u64 },
    #[error("the TLS session with the SMTP server failed")]
    Tls,
    #[error("the SMTP server lacks what is required (STARTTLS or a supported AUTH mechanism)")]
    Unsupported,
    #[error(
        "the SMTP server refused the address: it does not accept non-ASCII characters in an address (no SMTPUTF8)"
    )]
    AddressRefused,
    #[error("the SMTP server refused for now with reply code {code}, so a later try may work")]
    Transient { code: String },
    #[error("the SMTP server refused with reply code {code}")]
    Permanent { code: String },
    #[error("the SMTP server gave an answer that could not be understood")]
    Protocol,
}

impl Error {
    /// Whether the same message may go through later unchanged. That is so when the server
    /// could not be reached, did not answer in time, broke off TLS, refused for now (4xx), or
    /// cut its answer short (a server that closes the connection, as one restarting does,
    /// leaves lettre an incomplete answer). Everything else fails again the same way: a 5xx, a
    /// bad recipient, a server lacking STARTTLS.
    pub fn may_work_later(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::Timeout { .. }
                | Error::Tls
                | Error::Transient { .. }
                | Error::Protocol
        )
    }
}

/// Sends notification e-mail. Cheap to clone; one SMTP connection per message.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    port: u16,
    tls: SmtpTls,
    authenticated: bool,
    timeout_secs: u64,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Mailer")
            .field("host", &inner.host)
            .field("port", &inner.port)
            .field("tls", &inner.tls)
            .field("from", &inner.from.to_string())
            .field("authenticated", &inner.authenticated)
            .field("timeout_secs", &inner.timeout_secs)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `cfg`, after [`SmtpConfig::validate`]. Makes no connection.
    pub fn new(cfg: &SmtpConfig) -> Result<Mailer, Error> {
        cfg.validate()
            .map_err(|(key, problem, fix)| Error::Config { key, problem, fix })?;
        let from: Mailbox = cfg.from.parse().map_err(|_| Error::Config {
            key: "smtp.from",
            problem: "is not an e-mail address".to_owned(),
            fix: "write it as Name <addr@example.org>",
        })?;
        let tls = match cfg.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters(&cfg.host)?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters(&cfg.host)?),
        };
        // builder_dangerous only means "no TLS preset": TLS is set explicitly just above.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(cfg.timeout_secs)));
        let mut authenticated = false;
        if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
            authenticated = true;
        }
        Ok(Mailer {
            inner: Arc::new(Inner {
                transport: builder.build(),
                from,
                host: cfg.host.clone(),
                port: cfg.port,
                tls: cfg.tls,
                authenticated,
                timeout_secs: cfg.timeout_secs,
            }),
        })
    }

    /// Sends one plain-text UTF-8 message. Subject and body are given by the caller; the
    /// caller guarantees they hold no member data. Times out after timeout_secs.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), Error> {
        let inner = &self.inner;
        let to: Mailbox = to.parse().map_err(|_| Error::InvalidRecipient)?;
        let ascii_only = to.email.to_string().is_ascii() && inner.from.email.to_string().is_ascii();
        let subject: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let message = Message::builder()
            .from(inner.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id(&inner.from)))
            .header(AutoSubmitted)
            .header(ContentType::TEXT_PLAIN)
            .body(without_final_newline(body).to_owned())
            .map_err(|_| Error::Message)?;
        let secs = inner.timeout_secs;
        let sent =
            tokio::time::timeout(Duration::from_secs(secs), inner.transport.send(message)).await;
        match sent {
            Ok(Ok(_)) => {
                tracing::debug!(host = %inner.host, port = inner.port, "e-mail handed to the SMTP server");
                Ok(())
            }
            Ok(Err(err)) => Err(self.classify(&err, ascii_only)),
            Err(_) => Err(Error::Timeout { secs }),
        }
    }

    /// Our error for lettre's, keeping only its kind and reply code. A client-side refusal of
    /// a message with a non-ASCII address is lettre's "no SMTPUTF8"; the other client-side
    /// refusals are a missing STARTTLS or AUTH mechanism.
    fn classify(&self, err: &lettre::transport::smtp::Error, ascii_only: bool) -> Error {
        if err.is_timeout() {
            Error::Timeout {
                secs: self.inner.timeout_secs,
            }
        } else if let Some(code) = err.status() {
            if err.is_transient() {
                Error::Transient {
                    code: code.to_string(),
                }
            } else {
                Error::Permanent {
                    code: code.to_string(),
                }
            }
        } else if err.is_tls() {
            Error::Tls
        } else if err.is_client() && !ascii_only && err.to_string().contains("SMTPUTF8") {
            Error::AddressRefused
        } else if err.is_client() {
            Error::Unsupported
        } else if err.is_response() {
            Error::Protocol
        } else {
            Error::Connect {
                host: self.inner.host.clone(),
                port: self.inner.port,
            }
        }
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834 §5): a message made by a program, not a person,
/// which automatic responders must not answer.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// `body` without one final line end: lettre ends the data with CRLF "." CRLF itself, so
/// the message arrives ending in exactly one line end, as it was given.
fn without_final_newline(body: &str) -> &str {
    body.strip_suffix("\r\n")
        .or_else(|| body.strip_suffix('\n'))
        .unwrap_or(body)
}

fn tls_parameters(host: &str) -> Result<TlsParameters, Error> {
    TlsParameters::new(host.to_owned()).map_err(|_| Error::TlsSetup)
}

/// A unique Message-ID in the sender's domain (RFC 5322 §3.6.4), so relays and spam
/// filters do not see one ending in `@localhost`. Unique, not secret.
fn message_id(from: &Mailbox) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!(
        "<{nanos:x}.{:016x}@{}>",
        hasher.finish(),
        from.email.domain()
    )
}
