//! `[followup]`: when the follow-up flags are raised (see `oversight::followup`).
//!
//! Guarantees: a loaded value is valid — office hours are `HH:MM-HH:MM` with two different
//! times (a span past midnight, `22:00-06:00`, is allowed), the offset is `±HH:MM` within a day,
//! and every threshold is within its range; an error names the key and the fix. There is no
//! time-zone database on purpose: the office hours are read at a fixed offset from UTC, so a
//! flag never changes because a zone's rules did.

use std::fmt;

use serde::Deserialize;
use time::UtcOffset;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowupConfig {
    /// Requests and downloads outside these hours (local time at `utc_offset`) are flagged.
    #[serde(default = "default_office_hours")]
    pub office_hours: OfficeHours,
    /// The offset from UTC the office hours are read at, e.g. `+01:00`.
    #[serde(default)]
    pub utc_offset: Offset,
    /// More extracts than this by one person in one district in one ISO week is flagged.
    #[serde(default = "default_many_pulls")]
    pub many_pulls_per_week: u32,
    /// This many denied requests (or more) by one person in one district in one ISO week is
    /// flagged.
    #[serde(default = "default_denials")]
    pub denials_per_week: u32,
    /// How far back extracts, downloads and denials are looked at, in days.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    // Sampled follow-up (`oversight::followup::sample`).
    /// How long one sampling period is, in days (7: a week, Monday to Monday at `utc_offset`).
    #[serde(default = "default_sample_period")]
    pub sample_period_days: u32,
    /// How many releases are drawn per district and period (fewer when fewer happened).
    #[serde(default = "default_sample_size")]
    pub sample_size: u32,
    /// Days after a period's end by which its sample must be reviewed and signed off; after
    /// that it is a `sample_overdue` flag for the party-wide auditors.
    #[serde(default = "default_sample_review")]
    pub sample_review_days: u32,
    /// For demos and trials only: lets a reviewer draw the running period's sample before it
    /// ends. Such a draw covers the period up to that moment and says so ("early").
    #[serde(default)]
    pub sample_draw_early: bool,
}

impl Default for FollowupConfig {
    fn default() -> Self {
        FollowupConfig {
            office_hours: default_office_hours(),
            utc_offset: Offset::default(),
            many_pulls_per_week: default_many_pulls(),
            denials_per_week: default_denials(),
            lookback_days: default_lookback(),
            sample_period_days: default_sample_period(),
            sample_size: default_sample_size(),
            sample_review_days: default_sample_review(),
            sample_draw_early: false,
        }
    }
}

/// The ranges `Config::validate` enforces: (key, value, lowest, highest).
impl FollowupConfig {
    pub(super) fn limits(&self) -> [(&'static str, u32, u32, u32); 6] {
        [
            (
                "followup.many_pulls_per_week",
                self.many_pulls_per_week,
                1,
                10_000,
            ),
            (
                "followup.denials_per_week",
                self.denials_per_week,
                1,
                10_000,
            ),
            ("followup.lookback_days", self.lookback_days, 1, 400),
            (
                "followup.sample_period_days",
                self.sample_period_days,
                1,
                MAX_SAMPLE_PERIOD_DAYS,
            ),
            ("followup.sample_size", self.sample_size, 1, MAX_SAMPLE_SIZE),
            (
                "followup.sample_review_days",
                self.sample_review_days,
                1,
                90,
            ),
        ]
    }
}

fn default_office_hours() -> OfficeHours {
    OfficeHours {
        start: 7 * 60,
        end: 21 * 60,
    }
}
fn default_many_pulls() -> u32 {
    10
}
fn default_denials() -> u32 {
    3
}
fn default_lookback() -> u32 {
    30
}
/// The longest sampling period: a quarter.
pub const MAX_SAMPLE_PERIOD_DAYS: u32 = 92;
/// The most releases drawn per district and period.
pub const MAX_SAMPLE_SIZE: u32 = 100;
fn default_sample_period() -> u32 {
    7
}
fn default_sample_size() -> u32 {
    3
}
fn default_sample_review() -> u32 {
    14
}

/// Office hours as minutes after local midnight: `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OfficeHours {
    start: u16,
    end: u16,
}

impl OfficeHours {
    /// `HH:MM-HH:MM`, e.g. `07:00-21:00`; `22:00-06:00` runs past midnight.
    pub fn parse(text: &str) -> Result<OfficeHours, String> {
        let bad = || {
            "write office hours as HH:MM-HH:MM with two different times, e.g. 07:00-21:00"
                .to_owned()
        };
        let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
        let start = minutes(a).ok_or_else(bad)?;
        let end = minutes(b).ok_or_else(bad)?;
        if start == end {
            return Err(bad());
        }
        Ok(OfficeHours { start, end })
    }

    /// Whether `minute` (0..1440 after local midnight) lies within the hours.
    pub fn contains(self, minute: u16) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Whether the Unix time `at` falls within the hours at `offset`.
    pub fn contains_time(self, at: i64, offset: Offset) -> bool {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(at) else {
            return false;
        };
        let local = t.to_offset(offset.0);
        self.contains(u16::from(local.hour()) * 60 + u16::from(local.minute()))
    }
}

impl TryFrom<String> for OfficeHours {
    type Error = String;
    fn try_from(s: String) -> Result<OfficeHours, String> {
        OfficeHours::parse(&s)
    }
}

impl fmt::Display for OfficeHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

/// `HH:MM`, 00:00 to 23:59.
fn minutes(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// A fixed offset from UTC, `±HH:MM` (default `+00:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Offset(pub UtcOffset);

impl Default for Offset {
    fn default() -> Self {
        Offset(UtcOffset::UTC)
    }
}

impl Offset {
    pub fn parse(text: &str) -> Result<Offset, String> {
        let bad = || "write the offset from UTC as +HH:MM or -HH:MM, e.g. +01:00".to_owned();
        let text = text.trim();
        let sign = match text.chars().next() {
            Some('+') => 1,
            Some('-') => -1,
            _ => return Err(bad()),
        };
        let total = minutes(text.get(1..).ok_or_else(bad)?).ok_or_else(bad)?;
        let seconds = sign * i32::from(total) * 60;
        UtcOffset::from_whole_seconds(seconds)
            .map(Offset)
            .map_err(|_| bad())
    }
}

impl TryFrom<String> for Offset {
    type Error = String;
    fn try_from(s: String) -> Result<Offset, String> {
        Offset::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_hours_parse_and_contain_their_start_but_not_their_end() {
        let h = OfficeHours::parse("07:00-21:00").unwrap();
        assert!(h.contains(7 * 60));
        assert!(h.contains(20 * 60 + 59));
        assert!(!h.contains(21 * 60));
        assert!(!h.contains(3 * 60));
        assert_eq!(h.to_string(), "07:00-21:00");
    }

    #[test]
    fn office_hours_may_run_past_midnight() {
        let h = OfficeHours::parse("22:00-06:00").unwrap();
        assert!(h.contains(23 * 60));
        assert!(h.contains(60));
        assert!(!h.contains(12 * 60));
    }

    #[test]
    fn bad_office_hours_are_refused() {
        for bad in [
            "",
            "7-21",
            "07:00",
            "07:00-07:00",
            "24:00-06:00",
            "07:60-08:00",
            "a:bc-de:f",
        ] {
            assert!(OfficeHours::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_offset_moves_the_hours() {
        let h = OfficeHours::parse("07:00-21:00").unwrap();
        // 2026-12-01 06:30 UTC: outside in UTC, inside at +01:00.
        let at = 1_796_106_600;
        assert!(!h.contains_time(at, Offset::default()));
        assert!(h.contains_time(at, Offset::parse("+01:00").unwrap()));
        assert!(Offset::parse("01:00").is_err());
        assert!(Offset::parse("+25:00").is_err());
        assert_eq!(Offset::parse("-05:30").unwrap().0.whole_minutes(), -330);
    }
}
