//! `[register.limits]`: how long the register may take, per statement, per build, and between
//! a build's tries (enforced by the database itself: `store::register::limits`).
//!
//! Guarantees: a loaded value is valid — the statement limit is under the request deadline
//! (left out, a third of it, at most 20 s), a build's limit is at least the statement's and at
//! most an hour, a retry pause 1 to 10 s; an error names the key and the fix.

use serde::Deserialize;

use super::Error;

/// `[register.limits]`: the register cannot hold the broker. Every statement runs under a time
/// limit the database itself enforces (PostgreSQL `statement_timeout`, MariaDB
/// `max_statement_time`, a progress handler on SQLite), shorter than the request deadline, so
/// a statement is cancelled in the database before the user is answered.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterLimits {
    /// The longest a statement may run; less than `server.request_timeout_secs`. Not set: a
    /// third of the request deadline, at most [`DEFAULT_STATEMENT_TIMEOUT_SECS`] (filled in
    /// when the config is read, so a shorter deadline never makes the default invalid).
    #[serde(default)]
    pub statement_timeout_secs: Option<u64>,
    /// The longest a build's one streaming read may run on PostgreSQL and MariaDB (SQLite reads
    /// a build in pages, each its own statement under `statement_timeout_secs`).
    #[serde(default = "default_build_statement_timeout")]
    pub build_statement_timeout_secs: u64,
    /// A build whose register does not answer waits this long before its second try, then
    /// twice as long before each further one.
    #[serde(default = "default_build_retry_pause")]
    pub build_retry_pause_secs: u64,
}

impl RegisterLimits {
    /// `[register.limits]`: a statement limit under the request deadline, so the database
    /// cancels a slow statement before the user is answered.
    pub(super) fn validate(&self, request_timeout_secs: u64) -> Result<(), Error> {
        let statement = self.statement_secs(request_timeout_secs);
        if statement == 0 || statement >= request_timeout_secs {
            return Err(Error::invalid(
                "register.limits.statement_timeout_secs",
                format!(
                    "is {statement}, and server.request_timeout_secs is {request_timeout_secs}"
                ),
                "use at least 1 and fewer seconds than server.request_timeout_secs, so the \
                 register cancels a slow statement before the user is answered (left out: a \
                 third of server.request_timeout_secs, at most 20)",
            ));
        }
        let build = self.build_statement_timeout_secs;
        if build < statement || build > MAX_BUILD_STATEMENT_TIMEOUT_SECS {
            return Err(Error::invalid(
                "register.limits.build_statement_timeout_secs",
                format!("is {build}"),
                "use at least register.limits.statement_timeout_secs and at most 3600 seconds \
                 (default 600)",
            ));
        }
        let pause = self.build_retry_pause_secs;
        if pause == 0 || pause > MAX_BUILD_RETRY_PAUSE_SECS {
            return Err(Error::invalid(
                "register.limits.build_retry_pause_secs",
                format!("is {pause}"),
                "use 1 to 10 seconds (default 5)",
            ));
        }
        Ok(())
    }

    /// The statement limit in force: the one set, or the default for `request_timeout_secs`
    /// (a third of it, at least 1 s, at most [`DEFAULT_STATEMENT_TIMEOUT_SECS`]).
    pub fn statement_secs(&self, request_timeout_secs: u64) -> u64 {
        self.statement_timeout_secs
            .unwrap_or_else(|| (request_timeout_secs / 3).clamp(1, DEFAULT_STATEMENT_TIMEOUT_SECS))
    }
}

impl Default for RegisterLimits {
    fn default() -> RegisterLimits {
        RegisterLimits {
            statement_timeout_secs: None,
            build_statement_timeout_secs: default_build_statement_timeout(),
            build_retry_pause_secs: default_build_retry_pause(),
        }
    }
}

/// A third of the default request deadline, and the most a statement gets unless set: a count
/// or estimate that takes longer on the register will not become faster by waiting, and the
/// user is told in time.
pub const DEFAULT_STATEMENT_TIMEOUT_SECS: u64 = 20;
/// Ten minutes: a build of a large district streams for minutes, never for hours.
pub const DEFAULT_BUILD_STATEMENT_TIMEOUT_SECS: u64 = 600;
/// The longest `register.limits.build_statement_timeout_secs` accepted.
pub const MAX_BUILD_STATEMENT_TIMEOUT_SECS: u64 = 3600;
/// Pauses of 5, 10 and 20 s between four tries.
pub const DEFAULT_BUILD_RETRY_PAUSE_SECS: u64 = 5;
/// The longest `register.limits.build_retry_pause_secs` accepted: the longest pause (8 × this)
/// stays inside a build's lease (`extract::BUILD_LEASE_SECS`), renewed before each pause.
pub const MAX_BUILD_RETRY_PAUSE_SECS: u64 = 10;

fn default_build_statement_timeout() -> u64 {
    DEFAULT_BUILD_STATEMENT_TIMEOUT_SECS
}
fn default_build_retry_pause() -> u64 {
    DEFAULT_BUILD_RETRY_PAUSE_SECS
}
