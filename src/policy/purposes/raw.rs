//! The catalogue as written in `purposes.toml`, before validation.
//!
//! Guarantees: unknown keys are errors (`deny_unknown_fields`), so a misspelt limit can never
//! be silently ignored. Names stay strings here so that validation can report a bad name with
//! the purpose and the line it is on.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// Which roles need a phishing-resistant second factor (`policy::factors`).
    #[serde(default)]
    pub second_factor: Option<SecondFactor>,
    #[serde(default)]
    pub purpose: Vec<Purpose>,
    /// Registered processors a purpose may hand an extract over to (`policy::processors`).
    #[serde(default)]
    pub processor: Vec<Processor>,
}

/// A `[[processor]]` entry as written.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Processor {
    pub id: String,
    pub name: String,
    pub contact: String,
    pub agreement_ref: String,
    pub agreement_ends: DateText,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondFactor {
    #[serde(default)]
    pub phishing_resistant_roles: Vec<String>,
    #[serde(default)]
    pub phishing_resistant_party_wide: bool,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    pub id: String,
    pub name_sv: String,
    pub name_en: String,
    pub description_sv: String,
    pub description_en: String,
    pub allowed_fields: Vec<String>,
    #[serde(default)]
    pub required_consents: Vec<String>,
    pub max_rows: u64,
    pub max_lifetime_minutes: u32,
    pub approval: Approval,
    pub formats: Vec<String>,
    /// The outcomes a call list of this purpose offers; all of them when left out.
    #[serde(default)]
    pub call_outcomes: Option<Vec<String>>,
    pub acknowledgement_sv: String,
    pub acknowledgement_en: String,
    #[serde(default)]
    pub valid_from: Option<DateText>,
    #[serde(default)]
    pub valid_to: Option<DateText>,
    /// Acting on an extract of this purpose needs a passkey (`policy::factors`).
    #[serde(default)]
    pub phishing_resistant: bool,
    /// An approver must say why they approve (`extract::review`).
    #[serde(default)]
    pub approver_justification: bool,
    /// Processors (`[[processor]]` ids) an extract of this purpose may be handed over to.
    #[serde(default)]
    pub processors: Vec<String>,
    /// The `[[processor]]` that receives the members a call list marked "do not call again".
    #[serde(default)]
    pub do_not_call_to: Option<String>,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub auto_max_rows: u64,
    pub two_approvers_min_rows: u64,
    pub sensitive_approvers: u8,
}

/// A date written either as a TOML local date (`2026-09-13`) or as a string
/// (`"2026-09-13"`); validation parses the text.
#[derive(Debug, PartialEq, Eq)]
pub struct DateText(pub String);

impl std::ops::Deref for DateText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DateText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<DateText, D::Error> {
        d.deserialize_any(DateVisitor)
    }
}

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = DateText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date like 2026-09-13")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DateText, E> {
        Ok(DateText(v.to_owned()))
    }

    /// The toml crate hands a native date over as a one-entry map holding its text.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DateText, A::Error> {
        match map.next_entry::<String, String>()? {
            Some((_, text)) => Ok(DateText(text)),
            None => Err(de::Error::custom("expected a date like 2026-09-13")),
        }
    }
}
