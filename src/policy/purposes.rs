//! The purpose catalogue (`purposes.toml`): why staff may take member data out, which fields
//! each purpose allows, its limits and its approval rule.
//!
//! Guarantees: a catalogue is accepted only whole and valid — every rule of "Checks on the
//! purpose catalogue" in `docs/policy.md` holds for every purpose, and an error names the
//! purpose, the problem and the line of `purposes.toml`. Notably a rule that needs zero
//! approvers for sensitive fields is rejected (SECURITY_BAR C5), and so is a lifetime of 0 or
//! above [`MAX_LIFETIME_MINUTES`].
//!
//! Must never: guess a field name, accept an unknown key (a typo like `max_row` would
//! otherwise silently drop a limit), or read the clock.

use std::collections::BTreeSet;
use std::fmt;

use figment::providers::{Format as _, Toml};
use serde::Deserialize;
use time::{Date, OffsetDateTime, UtcOffset, macros::format_description};

use super::{Error, PURPOSES_FILE};
use crate::nouns::{ConsentFlag, Field, Sensitivity};

mod lines;
pub(super) mod raw;

/// The longest lifetime any purpose may allow: 30 days.
pub const MAX_LIFETIME_MINUTES: u32 = 30 * 24 * 60;

/// A purpose's id: 1–64 lowercase letters, digits and single `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PurposeId(String);

impl PurposeId {
    pub fn parse(s: &str) -> Result<PurposeId, Error> {
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let ok_shape = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && !s.contains("--");
        if ok_chars && ok_shape && s.len() <= 64 {
            Ok(PurposeId(s.to_owned()))
        } else {
            Err(Error::BadInput(format!(
                "{s:?} is not a purpose id: use 1–64 lowercase letters, digits and single '-', \
                 starting with a letter"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PurposeId {
    type Error = Error;
    fn try_from(s: String) -> Result<PurposeId, Error> {
        PurposeId::parse(&s)
    }
}

impl From<PurposeId> for String {
    fn from(id: PurposeId) -> String {
        id.0
    }
}

impl fmt::Display for PurposeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an extract may be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Csv,
    Xlsx,
    /// Shown in the browser, no file.
    View,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Csv, Format::Xlsx, Format::View];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::View => "view",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a request for a purpose needs approvers (see `docs/policy.md`, "Approval").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approval {
    /// Allowed without approval at or below this many rows if no sensitive field is asked
    /// for; 0 means never.
    pub auto_max_rows: u64,
    /// Two approvers at or above this many rows.
    pub two_approvers_min_rows: u64,
    /// Approvers needed whenever a sensitive field is asked for: 1 or 2, never 0 (C5).
    pub sensitive_approvers: u8,
}

/// One entry of the catalogue, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purpose {
    pub id: PurposeId,
    pub name_sv: String,
    pub name_en: String,
    pub description_sv: String,
    pub description_en: String,
    pub allowed_fields: Vec<Field>,
    /// Members without each of these consents are left out of the extract.
    pub required_consents: Vec<ConsentFlag>,
    pub max_rows: u64,
    pub max_lifetime_minutes: u32,
    pub approval: Approval,
    pub formats: Vec<Format>,
    pub acknowledgement_sv: String,
    pub acknowledgement_en: String,
    /// First day (inclusive, UTC) the purpose may be used.
    pub valid_from: Option<Date>,
    /// Last day (inclusive, UTC) the purpose may be used.
    pub valid_to: Option<Date>,
    /// The line of its `[[purpose]]` header in `purposes.toml`.
    pub line: usize,
}

impl Purpose {
    pub fn allows_field(&self, field: Field) -> bool {
        self.allowed_fields.contains(&field)
    }

    /// Whether `now`'s UTC date lies within `valid_from..=valid_to` (an open end is no limit).
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        let today = now.to_offset(UtcOffset::UTC).date();
        self.valid_from.is_none_or(|from| from <= today)
            && self.valid_to.is_none_or(|to| today <= to)
    }

    /// Whether any allowed field is of the sensitive class.
    pub fn has_sensitive_fields(&self) -> bool {
        self.allowed_fields
            .iter()
            .any(|f| f.sensitivity() == Sensitivity::Sensitive)
    }
}

/// Parses and validates a whole catalogue.
/// A purpose's names, descriptions and acknowledgements: not empty, line breaks allowed, no
/// length of their own (the file is the administrator's), and the characters every free text
/// may hold ([`crate::text`]).
const PURPOSE_TEXT: crate::text::Rule = crate::text::Rule::lines(1, usize::MAX);

pub fn parse_catalogue(text: &str) -> Result<Vec<Purpose>, Error> {
    let catalogue: raw::Catalogue = Toml::from_str(text).map_err(|e| Error::Invalid {
        file: PURPOSES_FILE.to_owned(),
        line: e.span().map(|s| lines::line_of_offset(text, s.start)),
        message: e.message().trim().to_owned(),
    })?;
    let blocks = lines::purpose_blocks(text);
    let mut purposes: Vec<Purpose> = Vec::with_capacity(catalogue.purpose.len());
    for (index, raw) in catalogue.purpose.into_iter().enumerate() {
        let block = blocks.get(index).copied().unwrap_or((1, 1));
        let here = Locator {
            text,
            block,
            id: raw.id.clone(),
        };
        let purpose = validate(raw, &here)?;
        if let Some(first) = purposes.iter().find(|p| p.id == purpose.id) {
            return Err(here.error(
                "id",
                format!(
                    "the id is already used by the purpose on line {}",
                    first.line
                ),
            ));
        }
        purposes.push(purpose);
    }
    if purposes.is_empty() {
        return Err(Error::Invalid {
            file: PURPOSES_FILE.to_owned(),
            line: None,
            message: "the catalogue has no [[purpose]]; staff could not request anything".into(),
        });
    }
    Ok(purposes)
}

/// Points an error at the purpose's block and the line of the offending key.
struct Locator<'a> {
    text: &'a str,
    block: (usize, usize),
    id: String,
}

impl Locator<'_> {
    fn error(&self, key: &str, problem: String) -> Error {
        Error::Invalid {
            file: PURPOSES_FILE.to_owned(),
            line: Some(lines::key_line(self.text, self.block, key)),
            message: format!("purpose {:?}: {problem}", self.id),
        }
    }
}

fn validate(raw: raw::Purpose, at: &Locator<'_>) -> Result<Purpose, Error> {
    let id = PurposeId::parse(&raw.id).map_err(|e| at.error("id", e.to_string()))?;
    for (key, value) in [
        ("name_sv", &raw.name_sv),
        ("name_en", &raw.name_en),
        ("description_sv", &raw.description_sv),
        ("description_en", &raw.description_en),
        ("acknowledgement_sv", &raw.acknowledgement_sv),
        ("acknowledgement_en", &raw.acknowledgement_en),
    ] {
        // Staff read these and accept the acknowledgement: a bidi control could make it read
        // otherwise than it is stored (`crate::text`).
        match PURPOSE_TEXT.check(value) {
            Ok(_) => {}
            Err(crate::text::Refused::Length { .. }) => {
                return Err(at.error(key, format!("{key} is empty; staff must be told this text")));
            }
            Err(e) => return Err(at.error(key, format!("{key} {e}"))),
        }
    }
    let allowed_fields = fields(&raw.allowed_fields, "allowed_fields", at)?;
    if allowed_fields.is_empty() {
        return Err(at.error("allowed_fields", "allowed_fields is empty".into()));
    }
    let required_consents = consents(&raw.required_consents, at)?;
    check_limits(&raw, at)?;
    let formats = formats(&raw.formats, at)?;
    let valid_from = date(raw.valid_from.as_deref(), "valid_from", at)?;
    let valid_to = date(raw.valid_to.as_deref(), "valid_to", at)?;
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && from > to
    {
        return Err(at.error(
            "valid_from",
            format!("valid_from ({from}) is after valid_to ({to})"),
        ));
    }
    Ok(Purpose {
        id,
        name_sv: raw.name_sv,
        name_en: raw.name_en,
        description_sv: raw.description_sv,
        description_en: raw.description_en,
        allowed_fields,
        required_consents,
        max_rows: raw.max_rows,
        max_lifetime_minutes: raw.max_lifetime_minutes,
        approval: Approval {
            auto_max_rows: raw.approval.auto_max_rows,
            two_approvers_min_rows: raw.approval.two_approvers_min_rows,
            sensitive_approvers: raw.approval.sensitive_approvers,
        },
        formats,
        acknowledgement_sv: raw.acknowledgement_sv,
        acknowledgement_en: raw.acknowledgement_en,
        valid_from,
        valid_to,
        line: at.block.0,
    })
}

fn check_limits(raw: &raw::Purpose, at: &Locator<'_>) -> Result<(), Error> {
    let a = &raw.approval;
    let problem = if raw.max_rows == 0 {
        Some((
            "max_rows",
            "max_rows is 0; a purpose must allow at least one row".to_owned(),
        ))
    } else if raw.max_lifetime_minutes == 0 || raw.max_lifetime_minutes > MAX_LIFETIME_MINUTES {
        Some((
            "max_lifetime_minutes",
            format!(
                "max_lifetime_minutes is {}; it must be 1 to {MAX_LIFETIME_MINUTES} (30 days)",
                raw.max_lifetime_minutes
            ),
        ))
    } else if a.auto_max_rows > raw.max_rows {
        Some((
            "auto_max_rows",
            format!(
                "auto_max_rows ({}) is above max_rows ({})",
                a.auto_max_rows, raw.max_rows
            ),
        ))
    } else if a.two_approvers_min_rows <= a.auto_max_rows {
        Some((
            "two_approvers_min_rows",
            format!(
                "two_approvers_min_rows ({}) must be above auto_max_rows ({})",
                a.two_approvers_min_rows, a.auto_max_rows
            ),
        ))
    } else if a.sensitive_approvers == 0 {
        Some((
            "sensitive_approvers",
            "sensitive_approvers is 0: a rule that needs zero approvers for sensitive fields \
             is rejected"
                .to_owned(),
        ))
    } else if a.sensitive_approvers > 2 {
        Some((
            "sensitive_approvers",
            format!(
                "sensitive_approvers is {}; it must be 1 or 2",
                a.sensitive_approvers
            ),
        ))
    } else {
        None
    };
    match problem {
        Some((key, message)) => Err(at.error(key, message)),
        None => Ok(()),
    }
}

fn fields(names: &[String], key: &str, at: &Locator<'_>) -> Result<Vec<Field>, Error> {
    let mut out: Vec<Field> = Vec::with_capacity(names.len());
    for name in names {
        let field: Field = name
            .parse()
            .map_err(|e| at.error(key, format!("{key}: {e}")))?;
        if out.contains(&field) {
            return Err(at.error(key, format!("{key} lists {field} twice")));
        }
        out.push(field);
    }
    Ok(out)
}

fn consents(names: &[String], at: &Locator<'_>) -> Result<Vec<ConsentFlag>, Error> {
    let flags = [
        ConsentFlag::Email,
        ConsentFlag::Phone,
        ConsentFlag::Sms,
        ConsentFlag::Post,
    ];
    let mut out = Vec::new();
    for field in fields(names, "required_consents", at)? {
        let flag = flags
            .into_iter()
            .find(|c| c.field() == field)
            .ok_or_else(|| {
                at.error(
                    "required_consents",
                    format!(
                        "required_consents: {field} is not a consent flag \
                     (use consent_email, consent_phone, consent_sms or consent_post)"
                    ),
                )
            })?;
        out.push(flag);
    }
    Ok(out)
}

fn formats(names: &[String], at: &Locator<'_>) -> Result<Vec<Format>, Error> {
    if names.is_empty() {
        return Err(at.error(
            "formats",
            "formats is empty; allow csv, xlsx or view".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    for name in names {
        let format = Format::parse(name).ok_or_else(|| {
            at.error(
                "formats",
                format!("unknown format {name:?}; use csv, xlsx or view"),
            )
        })?;
        if !seen.insert(format) {
            return Err(at.error("formats", format!("formats lists {format} twice")));
        }
    }
    Ok(seen.into_iter().collect())
}

fn date(text: Option<&str>, key: &str, at: &Locator<'_>) -> Result<Option<Date>, Error> {
    let Some(text) = text else { return Ok(None) };
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| at.error(key, format!("{key} {text:?} is not a date like 2026-09-13")))
}
