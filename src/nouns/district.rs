//! A district's code, as the register stores it and roles and requests name it.
//!
//! Guarantees: a `DistrictCode` holds 1–64 letters (ASCII and åäöÅÄÖ), digits, spaces, `-` or
//! `_`, with no space at either end; nothing else can be made into one.

use std::fmt;
use std::str::FromStr;

use super::Error;

/// A district's code as the register stores it, e.g. `Västra Götaland`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DistrictCode(String);

impl DistrictCode {
    /// 1–64 characters: letters (ASCII and åäöÅÄÖ), digits, space, `-`, `_`; no space at
    /// either end (it would make two codes that look equal differ).
    pub fn parse(s: &str) -> Result<DistrictCode, Error> {
        let allowed = |c: char| {
            c.is_ascii_alphanumeric() || "åäöÅÄÖ".contains(c) || matches!(c, ' ' | '-' | '_')
        };
        let count = s.chars().count();
        if count == 0 || count > 64 {
            return Err(Error::InvalidDistrict("it must be 1 to 64 characters long"));
        }
        if !s.chars().all(allowed) {
            return Err(Error::InvalidDistrict(
                "it may only hold letters, digits, spaces, '-' and '_'",
            ));
        }
        if s.starts_with(' ') || s.ends_with(' ') {
            return Err(Error::InvalidDistrict(
                "it must not start or end with a space",
            ));
        }
        Ok(DistrictCode(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DistrictCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DistrictCode::parse(s)
    }
}

impl TryFrom<String> for DistrictCode {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DistrictCode::parse(&s)
    }
}

impl fmt::Display for DistrictCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
