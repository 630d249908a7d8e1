//! `[roles]`: how often every role is confirmed again (see `admin::recertify`).
//!
//! Guarantees: a loaded value is valid — the interval is 7 to 400 days and the advance notice
//! is 1 day to less than the interval, so a notice always comes before the due date; an error
//! names the key and the fix.

use serde::Deserialize;

/// The default interval between confirmations of a role: a quarter (13 weeks).
pub const DEFAULT_RECERTIFY_DAYS: u32 = 91;
/// The default advance notice before a role's due date.
pub const DEFAULT_RECERTIFY_NOTICE_DAYS: u32 = 14;
const DAY_SECS: i64 = 86_400;

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// A role is due this many days after it was granted or last confirmed; not confirmed by
    /// then, it is suspended until someone confirms it.
    #[serde(default = "default_days")]
    pub recertify_days: u32,
    /// The holder and those who may confirm are told this many days before the due date.
    #[serde(default = "default_notice_days")]
    pub recertify_notice_days: u32,
}

impl Default for RolesConfig {
    fn default() -> Self {
        RolesConfig {
            recertify_days: DEFAULT_RECERTIFY_DAYS,
            recertify_notice_days: DEFAULT_RECERTIFY_NOTICE_DAYS,
        }
    }
}

impl RolesConfig {
    /// The interval in seconds.
    pub fn term_secs(&self) -> i64 {
        i64::from(self.recertify_days) * DAY_SECS
    }

    /// The advance notice in seconds.
    pub fn notice_secs(&self) -> i64 {
        i64::from(self.recertify_notice_days) * DAY_SECS
    }

    pub(super) fn validate(&self) -> Result<(), super::Error> {
        if !(7..=400).contains(&self.recertify_days) {
            return Err(super::Error::invalid(
                "roles.recertify_days",
                format!("is {}", self.recertify_days),
                "use a whole number of days between 7 and 400 (91 is a quarter)",
            ));
        }
        if self.recertify_notice_days == 0 || self.recertify_notice_days >= self.recertify_days {
            return Err(super::Error::invalid(
                "roles.recertify_notice_days",
                format!("is {}", self.recertify_notice_days),
                "use at least 1 day and fewer days than roles.recertify_days",
            ));
        }
        Ok(())
    }
}

fn default_days() -> u32 {
    DEFAULT_RECERTIFY_DAYS
}
fn default_notice_days() -> u32 {
    DEFAULT_RECERTIFY_NOTICE_DAYS
}
