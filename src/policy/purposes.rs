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

use std::fmt;

use figment::providers::{Format as _, Toml};
use serde::Deserialize;
use time::{Date, OffsetDateTime, UtcOffset};

use super::{Error, PURPOSES_FILE};
use crate::nouns::{CallOutcome, ConsentFlag, Field, Sensitivity};

mod changes;
mod draft;
mod lines;
mod problem;
pub(super) mod raw;
mod validate;

pub use changes::{
    CatalogueChanges, Difference, ProcessorChange, PurposeChange, catalogue_changes, changes,
};
pub use draft::{PurposeDraft, with_purpose, without_purpose};
pub use problem::{PurposeFault, PurposeKey, PurposeProblem};

/// The longest lifetime any purpose may allow: 30 days.
pub const MAX_LIFETIME_MINUTES: u32 = 30 * 24 * 60;

/// A purpose's id: 1–64 lowercase letters, digits and single `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PurposeId(String);

/// Whether `s` is a catalogue slug: 1–64 lowercase letters, digits and single `-`, starting
/// with a letter (purpose and processor ids).
pub(crate) fn is_slug(s: &str) -> bool {
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ok_shape = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && !s.contains("--");
    ok_chars && ok_shape && s.len() <= 64
}

impl PurposeId {
    pub fn parse(s: &str) -> Result<PurposeId, Error> {
        if is_slug(s) {
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
    /// Worked in the browser as a call list: callers see only the members assigned to them and
    /// record an outcome per member; no file.
    CallList,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Csv, Format::Xlsx, Format::View, Format::CallList];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::View => "view",
            Format::CallList => "call_list",
        }
    }

    /// Whether the extract leaves Registervakt as a file.
    pub fn is_file(self) -> bool {
        matches!(self, Format::Csv | Format::Xlsx)
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
    /// What callers may record per member when the purpose allows a call list (`call_list` in
    /// `formats`); empty otherwise.
    pub call_outcomes: Vec<CallOutcome>,
    pub acknowledgement_sv: String,
    pub acknowledgement_en: String,
    /// First day (inclusive, UTC) the purpose may be used.
    pub valid_from: Option<Date>,
    /// Last day (inclusive, UTC) the purpose may be used.
    pub valid_to: Option<Date>,
    /// Acting on an extract of this purpose needs a passkey (`policy::factors` reads it).
    pub phishing_resistant: bool,
    /// An approver of an extract of this purpose must write why they approve
    /// (`extract::review`); without it a justification is optional.
    pub approver_justification: bool,
    /// Registered processors an extract of this purpose may be handed over to; with no
    /// `formats`, hand-over is the only way out (`policy::processors`).
    pub processors: Vec<crate::policy::ProcessorId>,
    /// The registered recipient (a `[[processor]]`, typically the register's administrators)
    /// who gets the members a call list marked "do not call again" when the list ends, as
    /// their own small hand-over (`extract::calls::do_not_call`); `None`: nobody does.
    pub do_not_call_to: Option<crate::policy::ProcessorId>,
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

    /// Whether an extract of this purpose may be handed over to `processor`.
    pub fn allows_processor(&self, processor: &crate::policy::ProcessorId) -> bool {
        self.processors.contains(processor)
    }

    /// Whether any allowed field is of the sensitive class.
    pub fn has_sensitive_fields(&self) -> bool {
        self.allowed_fields
            .iter()
            .any(|f| f.sensitivity() == Sensitivity::Sensitive)
    }
}

/// Parses and validates a whole catalogue. Every error carries a [`PurposeFault`]: the
/// problem, the key at fault and the purpose, for a form to show beside the field.
pub fn parse_catalogue(text: &str) -> Result<Vec<Purpose>, Error> {
    let catalogue: raw::Catalogue = Toml::from_str(text).map_err(|e| Error::Invalid {
        file: PURPOSES_FILE.to_owned(),
        line: e.span().map(|s| lines::line_of_offset(text, s.start)),
        message: e.message().trim().to_owned(),
        problem: Some(PurposeFault {
            problem: PurposeProblem::Unreadable,
            key: None,
            purpose: None,
        }),
    })?;
    let blocks = lines::purpose_blocks(text);
    let processors = super::processors::validate(catalogue.processor)?;
    let mut purposes: Vec<Purpose> = Vec::with_capacity(catalogue.purpose.len());
    for (index, raw) in catalogue.purpose.into_iter().enumerate() {
        let block = blocks.get(index).copied().unwrap_or((1, 1));
        let here = validate::Locator {
            text,
            block,
            id: raw.id.clone(),
        };
        let purpose = validate::purpose(raw, &here)?;
        if let Some(unknown) = purpose
            .do_not_call_to
            .iter()
            .find(|id| !processors.iter().any(|p| &p.id == *id))
        {
            return Err(here.error(
                PurposeKey::DoNotCallTo,
                PurposeProblem::ProcessorUnknown,
                format!(
                    "do_not_call_to names {unknown:?}, which is no [[processor]] of the catalogue"
                ),
            ));
        }
        if let Some(unknown) = purpose
            .processors
            .iter()
            .find(|id| !processors.iter().any(|p| &p.id == *id))
        {
            return Err(here.error(
                PurposeKey::Processors,
                PurposeProblem::ProcessorUnknown,
                format!("processors names {unknown:?}, which is no [[processor]] of the catalogue"),
            ));
        }
        if let Some(first) = purposes.iter().find(|p| p.id == purpose.id) {
            return Err(here.error(
                PurposeKey::Id,
                PurposeProblem::IdTaken,
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
            problem: Some(PurposeFault {
                problem: PurposeProblem::NoPurpose,
                key: None,
                purpose: None,
            }),
        });
    }
    Ok(purposes)
}
