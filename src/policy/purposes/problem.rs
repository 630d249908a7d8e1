//! What is wrong with a purpose catalogue, as data: the problem's kind, the key at fault and
//! the purpose it is in. The catalogue check (`parse_catalogue`) attaches one to every error
//! it finds, beside its English sentence, so that a form can say the problem in the page's
//! language next to the field that holds it.
//!
//! Guarantees: every problem the check can find has a kind in [`PurposeProblem::ALL`] with a
//! stable code (`as_str`); the codes are never renamed, since the pages' sentences are keyed
//! by them. Never holds member data — only what an administrator wrote.

use std::fmt;

/// A key of a `[[purpose]]` block (the approval rule's keys live in `[purpose.approval]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PurposeKey {
    Id,
    NameSv,
    NameEn,
    DescriptionSv,
    DescriptionEn,
    AcknowledgementSv,
    AcknowledgementEn,
    AllowedFields,
    RequiredConsents,
    MaxRows,
    MaxLifetimeMinutes,
    AutoMaxRows,
    TwoApproversMinRows,
    SensitiveApprovers,
    Formats,
    ValidFrom,
    ValidTo,
    PhishingResistant,
    ApproverJustification,
    Processors,
    DoNotCallTo,
}

impl PurposeKey {
    pub const ALL: [PurposeKey; 21] = [
        PurposeKey::Id,
        PurposeKey::NameSv,
        PurposeKey::NameEn,
        PurposeKey::DescriptionSv,
        PurposeKey::DescriptionEn,
        PurposeKey::AcknowledgementSv,
        PurposeKey::AcknowledgementEn,
        PurposeKey::AllowedFields,
        PurposeKey::RequiredConsents,
        PurposeKey::MaxRows,
        PurposeKey::MaxLifetimeMinutes,
        PurposeKey::AutoMaxRows,
        PurposeKey::TwoApproversMinRows,
        PurposeKey::SensitiveApprovers,
        PurposeKey::Formats,
        PurposeKey::ValidFrom,
        PurposeKey::ValidTo,
        PurposeKey::PhishingResistant,
        PurposeKey::ApproverJustification,
        PurposeKey::Processors,
        PurposeKey::DoNotCallTo,
    ];

    /// The key as `purposes.toml` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            PurposeKey::Id => "id",
            PurposeKey::NameSv => "name_sv",
            PurposeKey::NameEn => "name_en",
            PurposeKey::DescriptionSv => "description_sv",
            PurposeKey::DescriptionEn => "description_en",
            PurposeKey::AcknowledgementSv => "acknowledgement_sv",
            PurposeKey::AcknowledgementEn => "acknowledgement_en",
            PurposeKey::AllowedFields => "allowed_fields",
            PurposeKey::RequiredConsents => "required_consents",
            PurposeKey::MaxRows => "max_rows",
            PurposeKey::MaxLifetimeMinutes => "max_lifetime_minutes",
            PurposeKey::AutoMaxRows => "auto_max_rows",
            PurposeKey::TwoApproversMinRows => "two_approvers_min_rows",
            PurposeKey::SensitiveApprovers => "sensitive_approvers",
            PurposeKey::Formats => "formats",
            PurposeKey::ValidFrom => "valid_from",
            PurposeKey::ValidTo => "valid_to",
            PurposeKey::PhishingResistant => "phishing_resistant",
            PurposeKey::ApproverJustification => "approver_justification",
            PurposeKey::Processors => "processors",
            PurposeKey::DoNotCallTo => "do_not_call_to",
        }
    }
}

impl fmt::Display for PurposeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Each way the catalogue check can refuse a catalogue (`docs/policy.md`, "Checks on the
/// purpose catalogue").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PurposeProblem {
    /// Not TOML, or a key unknown, misspelt, missing or of the wrong type.
    Unreadable,
    /// The catalogue has no purpose at all.
    NoPurpose,
    IdNotSlug,
    /// Another purpose already has this id.
    IdTaken,
    /// A name, description or acknowledgement is empty.
    TextEmpty,
    /// A name, description or acknowledgement holds a control or bidi character.
    TextRefused,
    FieldUnknown,
    FieldTwice,
    FieldsEmpty,
    /// A required consent is a field but not one of the four consent flags.
    ConsentUnknown,
    MaxRowsZero,
    /// 0, or more than `MAX_LIFETIME_MINUTES`.
    LifetimeOutOfRange,
    /// `auto_max_rows` is above `max_rows`.
    AutoAboveMax,
    /// `two_approvers_min_rows` is not above `auto_max_rows`.
    TwoNotAboveAuto,
    /// A rule needing zero approvers for sensitive fields (SECURITY_BAR C5).
    SensitiveApproversZero,
    SensitiveApproversAboveTwo,
    FormatsEmpty,
    FormatUnknown,
    FormatTwice,
    /// `call_outcomes` names an unknown outcome, or none.
    OutcomeUnknown,
    /// `call_outcomes` is given without `call_list` in `formats`.
    OutcomesWithoutCallList,
    DateInvalid,
    /// `valid_from` is after `valid_to`.
    FromAfterTo,
    /// A purpose names a processor the catalogue has no `[[processor]]` for, or one twice.
    ProcessorUnknown,
    /// `do_not_call_to` is given, but the purpose has no call list with "do not call again"
    /// among its outcomes: there would never be anyone to hand on.
    DoNotCallWithoutOutcome,
}

impl PurposeProblem {
    pub const ALL: [PurposeProblem; 25] = [
        PurposeProblem::Unreadable,
        PurposeProblem::NoPurpose,
        PurposeProblem::IdNotSlug,
        PurposeProblem::IdTaken,
        PurposeProblem::TextEmpty,
        PurposeProblem::TextRefused,
        PurposeProblem::FieldUnknown,
        PurposeProblem::FieldTwice,
        PurposeProblem::FieldsEmpty,
        PurposeProblem::ConsentUnknown,
        PurposeProblem::MaxRowsZero,
        PurposeProblem::LifetimeOutOfRange,
        PurposeProblem::AutoAboveMax,
        PurposeProblem::TwoNotAboveAuto,
        PurposeProblem::SensitiveApproversZero,
        PurposeProblem::SensitiveApproversAboveTwo,
        PurposeProblem::FormatsEmpty,
        PurposeProblem::FormatUnknown,
        PurposeProblem::FormatTwice,
        PurposeProblem::OutcomeUnknown,
        PurposeProblem::OutcomesWithoutCallList,
        PurposeProblem::DateInvalid,
        PurposeProblem::FromAfterTo,
        PurposeProblem::ProcessorUnknown,
        PurposeProblem::DoNotCallWithoutOutcome,
    ];

    /// The stable code, e.g. `auto_above_max`.
    pub fn as_str(self) -> &'static str {
        match self {
            PurposeProblem::Unreadable => "unreadable",
            PurposeProblem::NoPurpose => "no_purpose",
            PurposeProblem::IdNotSlug => "id_not_slug",
            PurposeProblem::IdTaken => "id_taken",
            PurposeProblem::TextEmpty => "text_empty",
            PurposeProblem::TextRefused => "text_refused",
            PurposeProblem::FieldUnknown => "field_unknown",
            PurposeProblem::FieldTwice => "field_twice",
            PurposeProblem::FieldsEmpty => "fields_empty",
            PurposeProblem::ConsentUnknown => "consent_unknown",
            PurposeProblem::MaxRowsZero => "max_rows_zero",
            PurposeProblem::LifetimeOutOfRange => "lifetime_out_of_range",
            PurposeProblem::AutoAboveMax => "auto_above_max",
            PurposeProblem::TwoNotAboveAuto => "two_not_above_auto",
            PurposeProblem::SensitiveApproversZero => "sensitive_approvers_zero",
            PurposeProblem::SensitiveApproversAboveTwo => "sensitive_approvers_above_two",
            PurposeProblem::FormatsEmpty => "formats_empty",
            PurposeProblem::FormatUnknown => "format_unknown",
            PurposeProblem::FormatTwice => "format_twice",
            PurposeProblem::OutcomeUnknown => "outcome_unknown",
            PurposeProblem::OutcomesWithoutCallList => "outcomes_without_call_list",
            PurposeProblem::DateInvalid => "date_invalid",
            PurposeProblem::FromAfterTo => "from_after_to",
            PurposeProblem::ProcessorUnknown => "processor_unknown",
            PurposeProblem::DoNotCallWithoutOutcome => "do_not_call_without_outcome",
        }
    }
}

impl fmt::Display for PurposeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem found in a catalogue: its kind, the key at fault and the purpose's id as written
/// (`None` for a problem of the whole file, such as a syntax error or no purpose at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeFault {
    pub problem: PurposeProblem,
    pub key: Option<PurposeKey>,
    pub purpose: Option<String>,
}
