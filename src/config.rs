//! Typed configuration from `registervakt.toml` plus `REGISTERVAKT_*` environment overrides.
//!
//! Guarantees: a [`Config`] value has been validated — every path, URL, address and number
//! was checked at load time, and every error names the key (`store.data_dir`) and the fix.
//! Secrets (database URLs that may carry passwords) are [`SecretString`] and never appear in
//! `Debug` output or in error messages. A store or register URL off loopback without a verified,
//! name-checked TLS connection is refused ([`backend_tls`], F-4). Environment variables use `__` between section and key:
//! `REGISTERVAKT_SERVER__LISTEN=0.0.0.0:8080` overrides `[server] listen`; variables without a
//! section (such as the test suites' `REGISTERVAKT_TEST_*`) are not configuration.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

mod backend_tls;
mod followup;
pub mod oidc;
pub mod passkeys;
mod register_limits;
// Recertification of roles (issue 22, item 2).
mod roles;
pub use roles::{DEFAULT_RECERTIFY_DAYS, DEFAULT_RECERTIFY_NOTICE_DAYS, RolesConfig};
pub mod smtp;
pub mod syslog;
pub use followup::{FollowupConfig, OfficeHours, Offset};
pub use register_limits::{
    DEFAULT_BUILD_RETRY_PAUSE_SECS, DEFAULT_BUILD_STATEMENT_TIMEOUT_SECS,
    DEFAULT_STATEMENT_TIMEOUT_SECS, MAX_BUILD_RETRY_PAUSE_SECS, MAX_BUILD_STATEMENT_TIMEOUT_SECS,
    RegisterLimits,
};

/// The environment variable prefix for overrides.
pub const ENV_PREFIX: &str = "REGISTERVAKT_";
/// The default config file name.
pub const DEFAULT_FILE: &str = "registervakt.toml";
/// The file name of the SQLite store inside the data dir.
pub const SQLITE_STORE_FILE: &str = "registervakt.db";
/// Request bodies above this size are refused with 413 before parsing (SECURITY_BAR F3).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "configuration file not found: {path} (pass --config with the path to registervakt.toml)"
    )]
    NotFound { path: PathBuf },
    #[error("cannot read configuration file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("configuration is invalid: {0}")]
    Parse(String),
    #[error("configuration key `{key}` {problem}; {fix}")]
    Invalid {
        key: &'static str,
        problem: String,
        fix: &'static str,
    },
}

impl Error {
    fn invalid(key: &'static str, problem: impl Into<String>, fix: &'static str) -> Self {
        Error::Invalid {
            key,
            problem: problem.into(),
            fix,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub keys: KeysConfig,
    pub register: RegisterConfig,
    #[serde(default)]
    pub sessions: SessionConfig,
    /// Sign-in through identity providers (`[oidc.<id>]`); none = local accounts only.
    #[serde(default)]
    pub oidc: oidc::Providers,
    /// Passkeys (WebAuthn) as a second factor; on by default when `public_url` has a domain.
    #[serde(default)]
    pub passkeys: passkeys::PasskeysConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub extracts: ExtractConfig,
    /// E-mail for notices; absent = in-app notices only.
    #[serde(default)]
    pub smtp: Option<smtp::SmtpConfig>,
    #[serde(default)]
    pub audit: AuditConfig,
    /// When follow-up flags are raised for approvers and auditors.
    #[serde(default)]
    pub followup: FollowupConfig,
    /// How often every role is confirmed again (recertification).
    #[serde(default)]
    pub roles: RolesConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The second sink for signed checkpoints of the audit log: a file outside the data dir
    /// (beside the key file, on another disk, or a log shipper's input). While it cannot be
    /// written, readiness fails and no data is released.
    #[serde(default)]
    pub checkpoint_file: Option<PathBuf>,
    /// How often a checkpoint is written (at most 900 s, SECURITY_BAR E4), and at shutdown.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_secs: u64,
    /// A copy of every committed audit entry and every checkpoint for syslog (RFC 5424):
    /// `udp://HOST:PORT` (or `HOST:PORT`), `tcp://HOST:PORT` or `tls://HOST:PORT` (RFC 5425).
    /// Sent after commit by a background task; a slow or dead syslog never stops the broker.
    #[serde(default)]
    pub syslog: Option<String>,
    /// For `tls://`: a PEM file with the CA certificates that may sign the syslog server's
    /// certificate, trusted besides Mozilla's roots.
    #[serde(default)]
    pub syslog_ca_file: Option<PathBuf>,
    /// The syslog facility: `authpriv` (default), `auth`, `daemon`, `user` or `local0`–`local7`.
    #[serde(default)]
    pub syslog_facility: syslog::Facility,
}

/// The warning a broker (and `registervakt init`) gives when the audit log has no second sink:
/// one line, naming the key to set (SECURITY_BAR E4).
pub const NO_SECOND_AUDIT_SINK: &str = "no second audit sink: set audit.checkpoint_file (a file outside store.data_dir) or audit.syslog; without one, an audit log cut short or rewritten after a deletion passes `audit verify`";

impl AuditConfig {
    /// Whether signed checkpoints go somewhere besides the store: `checkpoint_file`, `syslog`
    /// or both. Without one, the broker starts but warns ([`NO_SECOND_AUDIT_SINK`]).
    pub fn has_second_sink(&self) -> bool {
        self.checkpoint_file.is_some() || self.syslog.is_some()
    }

    /// The validated syslog destination, if one is configured.
    pub fn syslog_destination(&self) -> Result<Option<syslog::Destination>, syslog::AddressError> {
        let ca_file = self.syslog_ca_file.clone();
        self.syslog
            .as_deref()
            .map(|text| syslog::Destination::parse(text).map(|d| d.with_ca_file(ca_file)))
            .transpose()
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_file: None,
            checkpoint_interval_secs: default_checkpoint_interval(),
            syslog: None,
            syslog_ca_file: None,
            syslog_facility: syslog::Facility::default(),
        }
    }
}

/// E4: a checkpoint at least every 15 minutes.
pub const MAX_CHECKPOINT_INTERVAL_SECS: u64 = 900;

fn default_checkpoint_interval() -> u64 {
    MAX_CHECKPOINT_INTERVAL_SECS
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractConfig {
    /// Downloads allowed per extract; at the limit the extract is shredded.
    #[serde(default = "default_max_downloads")]
    pub max_downloads: u32,
    /// A request nobody decided lapses after this many hours.
    #[serde(default = "default_pending_ttl_hours")]
    pub pending_ttl_hours: u32,
    /// Downloaded extracts whose copies are not confirmed deleted this many hours after they
    /// ended are shown to the approver.
    #[serde(default = "default_attest_grace_hours")]
    pub attest_grace_hours: u32,
    /// How often the sweeper shreds what is due (at most 60 s, SECURITY_BAR D4).
    #[serde(default = "default_sweep_interval")]
    pub sweep_interval_secs: u64,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            max_downloads: default_max_downloads(),
            pending_ttl_hours: default_pending_ttl_hours(),
            attest_grace_hours: default_attest_grace_hours(),
            sweep_interval_secs: default_sweep_interval(),
        }
    }
}

/// D4: an expired extract is shredded within 60 s of its deadline.
pub const MAX_SWEEP_INTERVAL_SECS: u64 = 60;

fn default_max_downloads() -> u32 {
    3
}
fn default_pending_ttl_hours() -> u32 {
    72
}
fn default_attest_grace_hours() -> u32 {
    24
}
fn default_sweep_interval() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// A directory with `model.conf`, `policy.csv` and `purposes.toml`; absent = the policy
    /// shipped with this release. A broken policy denies every request and fails readiness.
    pub dir: Option<PathBuf>,
    /// A proposed policy change is tried against the extract requests of this many days
    /// (`admin::policy_history`), 1 to 366.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// At most this many past requests are decided again (newest first), 1 to 100 000.
    #[serde(default = "default_history_max_requests")]
    pub history_max_requests: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            dir: None,
            history_days: default_history_days(),
            history_max_requests: default_history_max_requests(),
        }
    }
}

fn default_history_days() -> u32 {
    30
}
fn default_history_max_requests() -> u32 {
    2000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused this long ends (SECURITY_BAR B1: 15 minutes).
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: i64,
    /// A session ends this long after sign-in whatever happens (B1: 12 hours).
    #[serde(default = "default_absolute")]
    pub absolute_timeout_secs: i64,
    /// Creating, approving and downloading need a second factor this recent (B2: 5 minutes).
    #[serde(default = "default_step_up")]
    pub step_up_max_age_secs: i64,
    /// Invitation links expire after this long.
    #[serde(default = "default_invitation")]
    pub invitation_ttl_secs: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout_secs: default_idle(),
            absolute_timeout_secs: default_absolute(),
            step_up_max_age_secs: default_step_up(),
            invitation_ttl_secs: default_invitation(),
        }
    }
}

/// B1: idle 15 min.
pub const DEFAULT_IDLE_TIMEOUT_SECS: i64 = 15 * 60;
/// B1: absolute 12 h.
pub const DEFAULT_ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;
/// B2: step-up proof no older than 5 min.
pub const DEFAULT_STEP_UP_MAX_AGE_SECS: i64 = 5 * 60;

fn default_idle() -> i64 {
    DEFAULT_IDLE_TIMEOUT_SECS
}
fn default_absolute() -> i64 {
    DEFAULT_ABSOLUTE_TIMEOUT_SECS
}
fn default_step_up() -> i64 {
    DEFAULT_STEP_UP_MAX_AGE_SECS
}
fn default_invitation() -> i64 {
    72 * 60 * 60
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `text` or `json` log lines on stderr.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Seconds to let in-flight requests finish after SIGTERM.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// The longest a request may take before its response starts; past it the broker answers
    /// 503 `unavailable` and drops the work (a hung or slow store or register must not hold a
    /// request forever). A streamed download body is not cut by it.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// The address users reach the broker at (invitation links, OIDC redirect).
    #[serde(default = "default_public_url")]
    pub public_url: String,
    /// Session cookies are `__Host-` and `Secure`. Only a broker listening on loopback
    /// (the demo) may turn this off to work over plain HTTP.
    #[serde(default = "default_true")]
    pub secure_cookies: bool,
    /// Set only by `registervakt demo`: the file with the demo users' credentials. The
    /// landing page then tells a newcomer who the demo users are and where that file is (it
    /// never shows what is in it). Leave unset on a real deployment.
    #[serde(default)]
    pub demo_users_file: Option<String>,
    /// Load balancers or reverse proxies (addresses or ranges such as `10.0.0.0/24`) whose
    /// `X-Forwarded-For` names the client. Without them the client is the TCP peer, and
    /// behind a proxy every user would share the proxy's address in the sign-in limit and
    /// the audit log. List only proxies that append the address they saw.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// How many large uploads (a leaked file for the auditor's trace, up to 512 MiB each, read as
    /// it streams in) may
    /// be read at once; one more is answered 429 with `Retry-After` before a byte of it is
    /// read (SECURITY_BAR F5, ASVS V15.2). Only auditors reach the upload at all.
    #[serde(default = "default_max_concurrent_uploads")]
    pub max_concurrent_uploads: usize,
    /// A client that has not sent a request's whole header block this long after it began is
    /// disconnected (slowloris), so idle half-requests cannot hold connections open.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// The time zone pages and mails show times in (an IANA name), with the zone named.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
}

/// The zone staff read times in unless configured.
pub const DEFAULT_TIME_ZONE: &str = "Europe/Stockholm";

fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_owned()
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            log_format: LogFormat::Text,
            shutdown_grace_secs: default_shutdown_grace(),
            request_timeout_secs: default_request_timeout(),
            public_url: default_public_url(),
            secure_cookies: true,
            demo_users_file: None,
            trusted_proxies: Vec::new(),
            max_concurrent_uploads: default_max_concurrent_uploads(),
            header_read_timeout_secs: default_header_read_timeout(),
            time_zone: default_time_zone(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_shutdown_grace() -> u64 {
    20
}
/// Time enough for most legitimate requests — an auditor uploading a leaked file of some tens
/// of MiB for the trace over a modest link — and as long as common reverse proxies wait. An
/// auditor who traces files of hundreds of MiB needs it raised (up to
/// [`MAX_REQUEST_TIMEOUT_SECS`]).
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
/// The longest `server.request_timeout_secs` accepted.
pub const MAX_REQUEST_TIMEOUT_SECS: u64 = 600;

fn default_request_timeout() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_SECS
}
/// Two uploads at once: each holds its file's keys (at most 28 bytes a row), never the body
/// (finding 3 of issue 15 saw sixteen buffered bodies at once grow the broker by 346 MiB),
/// and an auditor's desk rarely traces more than one file at a time.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 2;
/// The most `server.max_concurrent_uploads` accepted.
pub const MAX_CONCURRENT_UPLOADS: usize = 64;
/// A browser sends a request's headers in one go; ten seconds is ample over a slow mobile
/// link and short enough that a slowloris client cannot hold many connections for long.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// The longest `server.header_read_timeout_secs` accepted.
pub const MAX_HEADER_READ_TIMEOUT_SECS: u64 = 120;

fn default_max_concurrent_uploads() -> usize {
    DEFAULT_MAX_CONCURRENT_UPLOADS
}
fn default_header_read_timeout() -> u64 {
    DEFAULT_HEADER_READ_TIMEOUT_SECS
}
fn default_public_url() -> String {
    "http://127.0.0.1:8080".to_owned()
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory for the SQLite store and extract blobs. Must exist and be writable.
    pub data_dir: PathBuf,
    /// Optional `postgres://` URL; when absent the store is `<data_dir>/registervakt.db`.
    #[serde(default)]
    pub url: Option<SecretString>,
    /// How long a writer waits for a lock before giving up (SQLite `busy_timeout`).
    #[serde(default = "default_busy_timeout")]
    pub busy_timeout_ms: u64,
    #[serde(default = "default_store_connections")]
    pub max_connections: u32,
}

fn default_busy_timeout() -> u64 {
    5_000
}
fn default_store_connections() -> u32 {
    8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Key-encryption key file (mode 0600), made by `registervakt keys generate`.
    pub kek_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterConfig {
    /// `sqlite:PATH`, `postgres://…` or `mysql://…` (MariaDB). Opened read-only.
    pub url: SecretString,
    /// Table or view holding one row per member (`schema.table` allowed).
    pub table: String,
    /// Registervakt field name → column name in `table`.
    pub columns: BTreeMap<String, String>,
    #[serde(default = "default_register_timeout")]
    pub connect_timeout_secs: u64,
    #[serde(default = "default_register_connections")]
    pub max_connections: u32,
    /// Which membership statuses count as members, and their names on the pages.
    #[serde(default)]
    pub statuses: StatusesConfig,
    /// How long the register may take: per statement, per build, and between a build's tries.
    #[serde(default)]
    pub limits: RegisterLimits,
}

/// `[register.statuses]`: a request that names no status gets exactly `members`, so a
/// resigned or paused member is never in a list by default; `names` are what the request
/// form shows for the register's values (a value without a name is shown as it is).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusesConfig {
    #[serde(default = "default_member_statuses")]
    pub members: Vec<String>,
    #[serde(default)]
    pub names: BTreeMap<String, StatusName>,
}

impl Default for StatusesConfig {
    fn default() -> StatusesConfig {
        StatusesConfig {
            members: default_member_statuses(),
            names: BTreeMap::new(),
        }
    }
}

/// A status value's name in Swedish and English.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusName {
    pub sv: String,
    pub en: String,
}

fn default_member_statuses() -> Vec<String> {
    vec!["active".to_owned()]
}

fn default_register_timeout() -> u64 {
    5
}
fn default_register_connections() -> u32 {
    4
}

/// Which database backs the broker's store.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(SecretString),
}

impl Config {
    /// Loads `path` (if given; else `./registervakt.toml`), applies `REGISTERVAKT_*`
    /// overrides and validates the result. A file that is not there is [`Error::NotFound`],
    /// naming the path, before anything else is looked at: without it every required key
    /// would be reported missing instead.
    pub fn load(path: Option<&Path>) -> Result<Config, Error> {
        let path = path.unwrap_or(Path::new(DEFAULT_FILE));
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                path: path.to_path_buf(),
            },
            _ if path.is_dir() => Error::Read {
                path: path.to_path_buf(),
                reason: "it is a directory; pass --config with the path to registervakt.toml"
                    .into(),
            },
            _ => Error::Read {
                path: path.to_path_buf(),
                reason: e.to_string(),
            },
        })?;
        Self::from_figment(
            Figment::new()
                .merge(Toml::string(&text))
                .merge(env_overrides()),
        )
    }

    /// Parses TOML text (used by `demo` and tests), still honouring env overrides.
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        Self::from_figment(
            Figment::new()
                .merge(Toml::string(text))
                .merge(env_overrides()),
        )
    }

    fn from_figment(figment: Figment) -> Result<Config, Error> {
        let mut cfg: Config = figment.extract().map_err(|e| Error::Parse(describe(&e)))?;
        let deadline = cfg.server.request_timeout_secs;
        let limits = &mut cfg.register.limits;
        limits.statement_timeout_secs = Some(limits.statement_secs(deadline));
        cfg.validate()?;
        Ok(cfg)
    }

    /// `server.trusted_proxies` as ranges (a single address is a range of one).
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, Error> {
        self.server
            .trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        Error::invalid(
                            "server.trusted_proxies",
                            format!("has {entry:?}, which is neither an address nor a range"),
                            "write addresses or ranges, e.g. [\"10.0.0.5\", \"10.1.0.0/16\"]",
                        )
                    })
            })
            .collect()
    }

    /// Checks everything that can be checked without touching the network.
    pub fn validate(&self) -> Result<(), Error> {
        let addr = self.listen_addr()?;
        if !self.server.secure_cookies && !addr.ip().is_loopback() {
            return Err(Error::invalid(
                "server.secure_cookies",
                "is false on a non-loopback address",
                "serve over HTTPS with secure cookies; plain HTTP is only for the loopback demo",
            ));
        }
        let deadline = self.server.request_timeout_secs;
        if deadline == 0 || deadline > MAX_REQUEST_TIMEOUT_SECS {
            return Err(Error::invalid(
                "server.request_timeout_secs",
                format!("is {deadline}"),
                "use 1 to 600 seconds (default 60)",
            ));
        }
        let uploads = self.server.max_concurrent_uploads;
        if uploads == 0 || uploads > MAX_CONCURRENT_UPLOADS {
            return Err(Error::invalid(
                "server.max_concurrent_uploads",
                format!("is {uploads}"),
                "use 1 to 64 (default 2)",
            ));
        }
        let header = self.server.header_read_timeout_secs;
        if header == 0 || header > MAX_HEADER_READ_TIMEOUT_SECS {
            return Err(Error::invalid(
                "server.header_read_timeout_secs",
                format!("is {header}"),
                "use 1 to 120 seconds (default 10)",
            ));
        }
        self.trusted_proxies()?;
        if url::Url::parse(&self.server.public_url).is_err() {
            return Err(Error::invalid(
                "server.public_url",
                "is not a URL",
                "write it as https://registervakt.example.org",
            ));
        }
        self.passkeys.relying_party(&self.server.public_url)?;
        let s = &self.sessions;
        if s.idle_timeout_secs < 60 || s.idle_timeout_secs > s.absolute_timeout_secs {
            return Err(Error::invalid(
                "sessions.idle_timeout_secs",
                format!("is {}", s.idle_timeout_secs),
                "use at least 60 and at most sessions.absolute_timeout_secs",
            ));
        }
        if s.absolute_timeout_secs > 24 * 3600 {
            return Err(Error::invalid(
                "sessions.absolute_timeout_secs",
                format!("is {}", s.absolute_timeout_secs),
                "use at most 86400 (24 hours)",
            ));
        }
        if s.step_up_max_age_secs < 30 || s.step_up_max_age_secs > 3600 {
            return Err(Error::invalid(
                "sessions.step_up_max_age_secs",
                format!("is {}", s.step_up_max_age_secs),
                "use a value between 30 and 3600",
            ));
        }
        if s.invitation_ttl_secs < 300 || s.invitation_ttl_secs > 30 * 24 * 3600 {
            return Err(Error::invalid(
                "sessions.invitation_ttl_secs",
                format!("is {}", s.invitation_ttl_secs),
                "use a value between 300 and 2592000",
            ));
        }
        oidc::validate(&self.oidc).map_err(Error::Parse)?;
        if jiff::tz::TimeZone::get(&self.server.time_zone).is_err() {
            return Err(Error::invalid(
                "server.time_zone",
                format!(
                    "is `{}`, which is not a known time zone",
                    self.server.time_zone
                ),
                "give an IANA zone name such as \"Europe/Stockholm\"",
            ));
        }
        if self.store.busy_timeout_ms == 0 || self.store.busy_timeout_ms > 600_000 {
            return Err(Error::invalid(
                "store.busy_timeout_ms",
                format!("is {}", self.store.busy_timeout_ms),
                "use a value between 1 and 600000 milliseconds",
            ));
        }
        if self.store.max_connections == 0 || self.store.max_connections > 1_000 {
            return Err(Error::invalid(
                "store.max_connections",
                format!("is {}", self.store.max_connections),
                "use a value between 1 and 1000",
            ));
        }
        if let Some(url) = &self.store.url {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(Error::invalid(
                    "store.url",
                    "is not a postgres:// URL",
                    "leave it out to use SQLite in store.data_dir, or give postgres://user@host/db",
                ));
            }
            backend_tls::check("store.url", url)?;
        }
        if self.store.data_dir.as_os_str().is_empty() {
            return Err(Error::invalid(
                "store.data_dir",
                "is empty",
                "set it to the directory for the store and extract files",
            ));
        }
        if self.keys.kek_file.as_os_str().is_empty() {
            return Err(Error::invalid(
                "keys.kek_file",
                "is empty",
                "run `registervakt keys generate --out PATH` and set the path here",
            ));
        }
        let reg = self.register.url.expose_secret();
        if !(reg.starts_with("sqlite:")
            || reg.starts_with("postgres://")
            || reg.starts_with("postgresql://")
            || reg.starts_with("mysql://")
            || reg.starts_with("mariadb://"))
        {
            return Err(Error::invalid(
                "register.url",
                "has an unsupported scheme",
                "use sqlite:PATH, postgres://… or mysql://…",
            ));
        }
        backend_tls::check("register.url", reg)?;
        if self.register.connect_timeout_secs == 0 || self.register.connect_timeout_secs > 120 {
            return Err(Error::invalid(
                "register.connect_timeout_secs",
                format!("is {}", self.register.connect_timeout_secs),
                "use a value between 1 and 120 seconds",
            ));
        }
        self.register
            .limits
            .validate(self.server.request_timeout_secs)?;
        let statuses = &self.register.statuses;
        if statuses.members.is_empty()
            || statuses
                .members
                .iter()
                .any(|v| v.trim().is_empty() || v.chars().count() > 200)
        {
            return Err(Error::invalid(
                "register.statuses.members",
                "is empty or holds an empty value",
                "list the membership_status values that count as members, e.g. [\"active\"]",
            ));
        }
        if statuses
            .names
            .values()
            .any(|n| n.sv.trim().is_empty() || n.en.trim().is_empty())
        {
            return Err(Error::invalid(
                "register.statuses.names",
                "has an empty name",
                "give each status both an sv and an en name",
            ));
        }
        if self.register.max_connections == 0 || self.register.max_connections > 100 {
            return Err(Error::invalid(
                "register.max_connections",
                format!("is {}", self.register.max_connections),
                "use a value between 1 and 100",
            ));
        }
        let x = &self.extracts;
        if x.max_downloads == 0 || x.max_downloads > 100 {
            return Err(Error::invalid(
                "extracts.max_downloads",
                format!("is {}", x.max_downloads),
                "use a value between 1 and 100",
            ));
        }
        if x.pending_ttl_hours == 0 || x.pending_ttl_hours > 720 {
            return Err(Error::invalid(
                "extracts.pending_ttl_hours",
                format!("is {}", x.pending_ttl_hours),
                "use a value between 1 and 720 hours",
            ));
        }
        if x.attest_grace_hours == 0 || x.attest_grace_hours > 720 {
            return Err(Error::invalid(
                "extracts.attest_grace_hours",
                format!("is {}", x.attest_grace_hours),
                "use a value between 1 and 720 hours",
            ));
        }
        if x.sweep_interval_secs == 0 || x.sweep_interval_secs > MAX_SWEEP_INTERVAL_SECS {
            return Err(Error::invalid(
                "extracts.sweep_interval_secs",
                format!("is {}", x.sweep_interval_secs),
                "use a value between 1 and 60 seconds: expired extracts must go within a minute",
            ));
        }
        let p = &self.policy;
        for (key, value, low, high) in [
            ("policy.history_days", p.history_days, 1, 366),
            (
                "policy.history_max_requests",
                p.history_max_requests,
                1,
                100_000,
            ),
        ] {
            if !(low..=high).contains(&value) {
                return Err(Error::invalid(
                    key,
                    format!("is {value}"),
                    "use a whole number within the range registervakt.example.toml gives",
                ));
            }
        }
        self.roles.validate()?;
        for (key, value, low, high) in self.followup.limits() {
            if !(low..=high).contains(&value) {
                return Err(Error::invalid(
                    key,
                    format!("is {value}"),
                    "use a whole number within the range registervakt.example.toml gives",
                ));
            }
        }
        let a = &self.audit;
        if a.checkpoint_interval_secs == 0
            || a.checkpoint_interval_secs > MAX_CHECKPOINT_INTERVAL_SECS
        {
            return Err(Error::invalid(
                "audit.checkpoint_interval_secs",
                format!("is {}", a.checkpoint_interval_secs),
                "use a value between 1 and 900 seconds",
            ));
        }
        if let Some(file) = &a.checkpoint_file
            && (file.starts_with(&self.store.data_dir) || file.as_os_str().is_empty())
        {
            return Err(Error::invalid(
                "audit.checkpoint_file",
                "is inside store.data_dir (or empty)",
                "put it outside the data dir, e.g. beside the key file: whoever can rewrite the store must not reach it",
            ));
        }
        if !self.store.data_dir.as_os_str().is_empty()
            && self.keys.kek_file.starts_with(&self.store.data_dir)
        {
            return Err(Error::invalid(
                "keys.kek_file",
                "is inside store.data_dir",
                "keep the key file outside the data dir: a copy or backup of the data dir must not carry the key that opens it",
            ));
        }
        match a.syslog_destination() {
            Err(e) => {
                return Err(Error::invalid(
                    "audit.syslog",
                    e.to_string(),
                    "write it as udp://127.0.0.1:514, tcp://logs.example.org:514 or tls://logs.example.org:6514, or leave it out",
                ));
            }
            Ok(destination)
                if a.syslog_ca_file.is_some()
                    && destination
                        .as_ref()
                        .is_none_or(|d| d.transport != syslog::Transport::Tls) =>
            {
                return Err(Error::invalid(
                    "audit.syslog_ca_file",
                    "is set, but audit.syslog is not a tls:// address",
                    "use tls://HOST:PORT for audit.syslog, or remove audit.syslog_ca_file",
                ));
            }
            Ok(_) => {}
        }
        if let Some(smtp) = &self.smtp
            && let Err((key, problem, fix)) = smtp.validate()
        {
            return Err(Error::invalid(key, problem, fix));
        }
        if self.register.columns.is_empty() {
            return Err(Error::invalid(
                "register.columns",
                "is empty",
                "map at least member_id, district and protected_identity to register columns",
            ));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, Error> {
        self.server.listen.parse().map_err(|_| {
            Error::invalid(
                "server.listen",
                format!("`{}` is not an address", self.server.listen),
                "write it as IP:PORT, e.g. 127.0.0.1:8080",
            )
        })
    }

    pub fn store_location(&self) -> StoreLocation {
        match &self.store.url {
            Some(url) => StoreLocation::Postgres(url.clone()),
            None => StoreLocation::Sqlite(self.store.data_dir.join(SQLITE_STORE_FILE)),
        }
    }
}

/// `REGISTERVAKT_SECTION__KEY` variables. Only names with a section count: other variables
/// that share the prefix (such as the test suites' `REGISTERVAKT_TEST_POSTGRES_URL`) are not
/// configuration and must not make start-up fail.
fn env_overrides() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter(|key| key.as_str().contains("__"))
        .split("__")
}

/// Turns a figment error into one sentence that names the key, without echoing values
/// (a value may be a secret).
fn describe(e: &figment::Error) -> String {
    let mut out = Vec::new();
    for err in e.clone() {
        let key = if err.path.is_empty() {
            "(top level)".to_owned()
        } else {
            err.path.join(".")
        };
        let kind = match &err.kind {
            figment::error::Kind::MissingField(f) => {
                let full = if err.path.is_empty() {
                    f.to_string()
                } else {
                    format!("{key}.{f}")
                };
                format!(
                    "`{full}` is missing; add it to registervakt.toml or set the REGISTERVAKT_ variable"
                )
            }
            figment::error::Kind::UnknownField(f, _) => {
                format!(
                    "`{key}.{f}` is not a known key; check its spelling against registervakt.example.toml"
                )
            }
            figment::error::Kind::InvalidType(actual, expected) => {
                format!("`{key}` has the wrong type ({actual}); expected {expected}")
            }
            figment::error::Kind::Message(m) if m.contains("parse") || m.contains("TOML") => {
                format!("the file is not valid TOML: {m}")
            }
            other => format!("`{key}`: {other}"),
        };
        out.push(kind);
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> &'static str {
        r#"
[store]
data_dir = "/tmp/rv"
[keys]
kek_file = "/tmp/kek"
[register]
url = "sqlite:/tmp/reg.db"
table = "members"
[register.columns]
member_id = "id"
"#
    }

    #[test]
    fn a_minimal_file_loads_with_defaults() {
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(minimal()))).unwrap();
        assert_eq!(cfg.server.listen, "127.0.0.1:8080");
        assert_eq!(cfg.store.busy_timeout_ms, 5_000);
        assert!(
            matches!(cfg.store_location(), StoreLocation::Sqlite(p) if p.ends_with(SQLITE_STORE_FILE))
        );
    }

    /// Issue 20, item 8: a file that is not there is named as not found, not reported as a
    /// configuration without its `store` section.
    #[test]
    fn a_config_file_that_is_not_there_is_not_found_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere.toml");
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("file not found"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(!err.contains("is missing"), "{err}");
        let err = Config::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        std::fs::write(&path, minimal()).unwrap();
        assert!(Config::load(Some(&path)).is_ok());
    }

    #[test]
    fn a_missing_key_is_named() {
        let text = minimal().replace("kek_file = \"/tmp/kek\"", "");
        let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
        assert!(err.to_string().contains("keys.kek_file"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let text = format!(
            "{}\nsurprise = 1\n",
            minimal().replace("[keys]", "[keys]\nkek = 1")
        );
        let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
        assert!(err.to_string().contains("keys.kek"), "{err}");
    }

    #[test]
    fn a_bad_listen_address_names_the_key_and_the_fix() {
        let text = format!("[server]\nlisten = \"localhost\"\n{}", minimal());
        let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("server.listen") && msg.contains("IP:PORT"),
            "{msg}"
        );
    }

    #[test]
    fn the_register_url_never_appears_in_debug_output() {
        let text = minimal().replace(
            "sqlite:/tmp/reg.db",
            "postgres://u:hunter2hunter2@h/db?sslmode=verify-full",
        );
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn a_key_file_inside_the_data_dir_is_refused() {
        let inside = minimal().replace(
            "kek_file = \"/tmp/kek\"",
            "kek_file = \"/tmp/rv/keys/kek.key\"",
        );
        let err = Config::from_figment(Figment::new().merge(Toml::string(&inside))).unwrap_err();
        assert!(err.to_string().contains("keys.kek_file"), "{err}");
        let beside = minimal().replace(
            "kek_file = \"/tmp/kek\"",
            "kek_file = \"/tmp/rv-keys/kek.key\"",
        );
        assert!(Config::from_figment(Figment::new().merge(Toml::string(&beside))).is_ok());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges_and_anything_else_is_named() {
        let with = |list: &str| {
            let text = format!("[server]\ntrusted_proxies = {list}\n{}", minimal());
            Config::from_figment(Figment::new().merge(Toml::string(&text)))
        };
        let cfg = with(r#"["10.0.0.5", "10.1.0.0/16", "fd00::/8"]"#).unwrap();
        let nets = cfg.trusted_proxies().unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[0].contains(&"10.0.0.5".parse::<std::net::IpAddr>().unwrap()));
        assert!(!nets[0].contains(&"10.0.0.6".parse::<std::net::IpAddr>().unwrap()));
        for bad in [
            r#"["10.0.0.0/33"]"#,
            r#"["proxy.example.org"]"#,
            r#"["10.0.0.5:80"]"#,
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("server.trusted_proxies"), "{bad}: {err}");
        }
    }

    #[test]
    fn extract_and_audit_limits_are_refused_with_the_key_named() {
        let cases = [
            (
                "[extracts]\nsweep_interval_secs = 61\n",
                "extracts.sweep_interval_secs",
            ),
            ("[extracts]\nmax_downloads = 0\n", "extracts.max_downloads"),
            (
                "[server]\nrequest_timeout_secs = 0\n",
                "server.request_timeout_secs",
            ),
            (
                "[server]\nrequest_timeout_secs = 601\n",
                "server.request_timeout_secs",
            ),
            (
                "[server]\nmax_concurrent_uploads = 0\n",
                "server.max_concurrent_uploads",
            ),
            (
                "[server]\nheader_read_timeout_secs = 0\n",
                "server.header_read_timeout_secs",
            ),
            (
                "[server]\nheader_read_timeout_secs = 121\n",
                "server.header_read_timeout_secs",
            ),
            (
                "[extracts]\npending_ttl_hours = 0\n",
                "extracts.pending_ttl_hours",
            ),
            (
                "[audit]\ncheckpoint_interval_secs = 901\n",
                "audit.checkpoint_interval_secs",
            ),
            (
                "[audit]\ncheckpoint_file = \"/tmp/rv/checkpoints.log\"\n",
                "audit.checkpoint_file",
            ),
            ("[audit]\nsyslog = \"localhost\"\n", "audit.syslog"),
            ("[audit]\nsyslog = \"http://h:514\"\n", "audit.syslog"),
            (
                "[audit]\nsyslog = \"tcp://h:514\"\nsyslog_ca_file = \"/etc/ca.pem\"\n",
                "audit.syslog_ca_file",
            ),
            (
                "[audit]\nsyslog_ca_file = \"/etc/ca.pem\"\n",
                "audit.syslog_ca_file",
            ),
            (
                "[audit]\nsyslog_facility = \"kern\"\n",
                "audit.syslog_facility",
            ),
        ];
        for (extra, key) in cases {
            let text = format!("{}{extra}", minimal());
            let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
            assert!(err.to_string().contains(key), "{extra}: {err}");
        }
        let outside = format!(
            "{}[audit]\ncheckpoint_file = \"/tmp/elsewhere.log\"\n",
            minimal()
        );
        assert!(Config::from_figment(Figment::new().merge(Toml::string(&outside))).is_ok());
        let syslog = format!(
            "{}[audit]\nsyslog = \"tcp://127.0.0.1:6514\"\nsyslog_facility = \"local3\"\n",
            minimal()
        );
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(&syslog))).unwrap();
        assert_eq!(
            cfg.audit.syslog_destination().unwrap().unwrap().to_string(),
            "tcp://127.0.0.1:6514"
        );
        assert_eq!(cfg.audit.syslog_facility.code(), 19);
    }

    #[test]
    fn the_example_file_loads_with_its_followup_section() {
        let text = include_str!("../registervakt.example.toml");
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(text))).unwrap();
        assert_eq!(cfg.followup.office_hours.to_string(), "07:00-21:00");
        assert_eq!(cfg.followup.denials_per_week, 3);
    }

    #[test]
    fn a_second_audit_sink_is_a_checkpoint_file_or_syslog() {
        let without = Config::from_figment(Figment::new().merge(Toml::string(minimal()))).unwrap();
        assert!(!without.audit.has_second_sink());
        for audit in [
            "[audit]\ncheckpoint_file = \"/tmp/elsewhere.log\"\n",
            "[audit]\nsyslog = \"udp://127.0.0.1:514\"\n",
        ] {
            let text = format!("{}{audit}", minimal());
            let cfg = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap();
            assert!(cfg.audit.has_second_sink(), "{audit}");
        }
        assert!(NO_SECOND_AUDIT_SINK.contains("audit.checkpoint_file"));
        assert!(!NO_SECOND_AUDIT_SINK.contains('\n'), "one line");
    }

    /// Issue 20, item 5: the example (which the Debian package installs as its config) has a
    /// checkpoint file, outside the data dir, and the key file outside it too.
    #[test]
    fn the_example_sets_up_a_checkpoint_file_outside_the_data_dir() {
        let text = include_str!("../registervakt.example.toml");
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(text))).unwrap();
        let file = cfg.audit.checkpoint_file.as_ref().unwrap();
        assert!(!file.starts_with(&cfg.store.data_dir), "{}", file.display());
        assert!(!cfg.keys.kek_file.starts_with(&cfg.store.data_dir));
        assert!(cfg.audit.has_second_sink());
    }

    /// The example's commented `[oidc.*]` sections, uncommented.
    fn example_providers() -> String {
        let text = include_str!("../registervakt.example.toml");
        let from = text.find("# [oidc.eid]").unwrap();
        let to = text.find("[extracts]").unwrap();
        text[from..to]
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(|line| {
                line.starts_with('[')
                    || line
                        .split_once(" = ")
                        .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_examples_identity_providers_load_with_their_trust_rules() {
        let text = format!("{}{}\n", minimal(), example_providers());
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap();
        assert_eq!(
            cfg.oidc.keys().collect::<Vec<_>>(),
            ["broker", "eid", "keycloak"]
        );
        let broker = &cfg.oidc["broker"];
        assert_eq!(broker.two_factors.len(), 2);
        assert_eq!(
            broker.two_factors[1].claim.as_deref(),
            Some("registrationLevel")
        );
        assert_eq!(broker.request_acr(), oidc::RequestAcr::AcrValues);
        assert_eq!(cfg.oidc["eid"].request_acr(), oidc::RequestAcr::Essential);
        assert_eq!(cfg.oidc["keycloak"].request_acr(), oidc::RequestAcr::None);
        assert_eq!(cfg.oidc["eid"].label("en"), "Sign in with e-ID");
    }

    #[test]
    fn a_provider_without_trust_rules_or_with_an_empty_rule_is_refused() {
        let base = "[oidc.eid]\nlabel_sv = \"E\"\nlabel_en = \"E\"\nissuer = \"https://idp.example\"\n\
                    client_id = \"c\"\nclient_secret = \"s\"\n";
        for (extra, needle) in [
            ("", "two_factors` is missing"),
            ("[[oidc.eid.two_factors]]\n", "empty rule"),
            (
                "[[oidc.eid.two_factors]]\nclaim = \"registrationLevel\"\n",
                "come together",
            ),
            (
                "request_acr = \"essential\"\n[[oidc.eid.two_factors]]\namr = [\"otp\"]\n",
                "no `acr` value",
            ),
        ] {
            let text = format!("{}{base}{extra}", minimal());
            let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
            assert!(err.to_string().contains(needle), "{extra}: {err}");
        }
        let text = format!(
            "{}{}",
            minimal(),
            base.replace("[oidc.eid]", "[oidc.\"E ID\"]")
                .replace("oidc.eid", "oidc.\"E ID\"")
                + "[[oidc.\"E ID\".two_factors]]\namr = [\"otp\"]\n"
        );
        let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
        assert!(err.to_string().contains("id is 1–32"), "{err}");
    }

    #[test]
    fn recertification_settings_are_parsed_and_bad_ones_named() {
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(minimal()))).unwrap();
        assert_eq!(cfg.roles.recertify_days, DEFAULT_RECERTIFY_DAYS);
        let good = format!(
            "{}[roles]\nrecertify_days = 30\nrecertify_notice_days = 7\n",
            minimal()
        );
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(&good))).unwrap();
        assert_eq!(cfg.roles.term_secs(), 30 * 86_400);
        for (extra, key) in [
            ("recertify_days = 0", "roles.recertify_days"),
            ("recertify_days = 401", "roles.recertify_days"),
            ("recertify_notice_days = 0", "roles.recertify_notice_days"),
            (
                "recertify_days = 10\nrecertify_notice_days = 10",
                "roles.recertify_notice_days",
            ),
        ] {
            let text = format!("{}[roles]\n{extra}\n", minimal());
            let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
            assert!(err.to_string().contains(key), "{extra}: {err}");
        }
    }

    #[test]
    fn followup_settings_are_parsed_and_bad_ones_named() {
        let good = format!(
            "{}[followup]\noffice_hours = \"08:00-18:00\"\nutc_offset = \"+01:00\"\n",
            minimal()
        );
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(&good))).unwrap();
        assert_eq!(cfg.followup.office_hours.to_string(), "08:00-18:00");
        assert_eq!(cfg.followup.utc_offset.0.whole_hours(), 1);
        for (extra, key) in [
            ("office_hours = \"8-18\"", "followup.office_hours"),
            ("utc_offset = \"CET\"", "followup.utc_offset"),
            ("lookback_days = 401", "followup.lookback_days"),
            ("many_pulls_per_week = 0", "followup.many_pulls_per_week"),
            ("denials_per_week = 0", "followup.denials_per_week"),
        ] {
            let text = format!("{}[followup]\n{extra}\n", minimal());
            let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
            assert!(err.to_string().contains(key), "{extra}: {err}");
        }
    }

    #[test]
    fn a_store_or_register_url_off_loopback_without_verify_full_is_refused_at_load() {
        let store = |url: &str| {
            minimal().replace(
                "data_dir = \"/tmp/rv\"",
                &format!("data_dir = \"/tmp/rv\"\nurl = \"{url}\""),
            )
        };
        let load = |text: &str| Config::from_figment(Figment::new().merge(Toml::string(text)));
        let err = load(&store(
            "postgres://rv:hunter2hunter2@db.example.org/rv?sslmode=require",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("store.url") && err.contains("sslmode=verify-full"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        assert!(
            load(&store(
                "postgres://rv@db.example.org/rv?sslmode=verify-full"
            ))
            .is_ok()
        );
        assert!(load(&store("postgres://postgres@127.0.0.1:5432/test")).is_ok());

        let register = |url: &str| minimal().replace("sqlite:/tmp/reg.db", url);
        let err = load(&register(
            "mysql://ro:hunter2hunter2@register.example.org/party",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("register.url") && err.contains("VERIFY_IDENTITY"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        assert!(load(&register("mysql://root@127.0.0.1:3306/test")).is_ok());
    }

    #[test]
    fn a_non_postgres_store_url_is_refused() {
        let text = minimal().replace(
            "data_dir = \"/tmp/rv\"",
            "data_dir = \"/tmp/rv\"\nurl = \"mysql://x\"",
        );
        let err = Config::from_figment(Figment::new().merge(Toml::string(&text))).unwrap_err();
        assert!(err.to_string().contains("store.url"), "{err}");
    }
    #[test]
    fn a_register_statement_limit_not_under_the_request_deadline_is_refused_with_the_key_named() {
        let load = |extra: &str| {
            let text = format!("{}{extra}", minimal());
            Config::from_figment(Figment::new().merge(Toml::string(&text)))
        };
        let cfg = load("").unwrap();
        assert_eq!(cfg.register.limits.statement_timeout_secs, Some(20));
        for (extra, key) in [
            (
                "[register.limits]\nstatement_timeout_secs = 60\n",
                "register.limits.statement_timeout_secs",
            ),
            (
                "[register.limits]\nstatement_timeout_secs = 0\n",
                "register.limits.statement_timeout_secs",
            ),
            (
                "[register.limits]\nstatement_timeout_secs = 30\nbuild_statement_timeout_secs = 10\n",
                "register.limits.build_statement_timeout_secs",
            ),
            (
                "[register.limits]\nbuild_retry_pause_secs = 11\n",
                "register.limits.build_retry_pause_secs",
            ),
        ] {
            let err = load(extra).unwrap_err().to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
        let shorter = format!("[server]\nrequest_timeout_secs = 10\n{}", minimal());
        let cfg = Config::from_figment(Figment::new().merge(Toml::string(&shorter))).unwrap();
        assert_eq!(cfg.register.limits.statement_timeout_secs, Some(3));
        let set = format!("{shorter}[register.limits]\nstatement_timeout_secs = 10\n");
        let err = Config::from_figment(Figment::new().merge(Toml::string(&set))).unwrap_err();
        assert!(
            err.to_string()
                .contains("register.limits.statement_timeout_secs")
                && err
                    .to_string()
                    .contains("server.request_timeout_secs is 10"),
            "a limit set to the 10 s deadline is refused: {err}"
        );
    }
}
