//! Checking one `[[purpose]]` as written against "Checks on the purpose catalogue" in
//! `docs/policy.md`.
//!
//! Guarantees: the first broken rule refuses the purpose with an English sentence naming the
//! purpose and the line of the key at fault, and with the [`PurposeFault`] a form shows in
//! the page's language. Never guesses a field or a format, never clamps a limit.

use std::collections::BTreeSet;

use time::{Date, macros::format_description};

use super::{
    Approval, Format, MAX_LIFETIME_MINUTES, Purpose, PurposeFault, PurposeId, PurposeKey,
    PurposeProblem, lines, raw,
};
use crate::nouns::{CallOutcome, ConsentFlag, Field};
use crate::policy::{Error, PURPOSES_FILE};

/// A purpose's names, descriptions and acknowledgements: not empty, line breaks allowed, no
/// length of their own (the file is the administrator's), and the characters every free text
/// may hold ([`crate::text`]).
const PURPOSE_TEXT: crate::text::Rule = crate::text::Rule::lines(1, usize::MAX);

/// Points an error at the purpose's block and the line of the offending key.
pub(super) struct Locator<'a> {
    pub text: &'a str,
    pub block: (usize, usize),
    pub id: String,
}

impl Locator<'_> {
    /// The error for `problem` at `key`, told in English by `message`.
    pub fn error(&self, key: PurposeKey, problem: PurposeProblem, message: String) -> Error {
        Error::Invalid {
            file: PURPOSES_FILE.to_owned(),
            line: Some(lines::key_line(self.text, self.block, key.as_str())),
            message: format!("purpose {:?}: {message}", self.id),
            problem: Some(PurposeFault {
                problem,
                key: Some(key),
                purpose: Some(self.id.clone()),
            }),
        }
    }
}

/// The purpose `raw`, validated.
pub(super) fn purpose(raw: raw::Purpose, at: &Locator<'_>) -> Result<Purpose, Error> {
    let id = PurposeId::parse(&raw.id)
        .map_err(|e| at.error(PurposeKey::Id, PurposeProblem::IdNotSlug, e.to_string()))?;
    for (key, value) in [
        (PurposeKey::NameSv, &raw.name_sv),
        (PurposeKey::NameEn, &raw.name_en),
        (PurposeKey::DescriptionSv, &raw.description_sv),
        (PurposeKey::DescriptionEn, &raw.description_en),
        (PurposeKey::AcknowledgementSv, &raw.acknowledgement_sv),
        (PurposeKey::AcknowledgementEn, &raw.acknowledgement_en),
    ] {
        // Staff read these and accept the acknowledgement: a bidi control could make it read
        // otherwise than it is stored (`crate::text`).
        match PURPOSE_TEXT.check(value) {
            Ok(_) => {}
            Err(crate::text::Refused::Length { .. }) => {
                let message = format!("{key} is empty; staff must be told this text");
                return Err(at.error(key, PurposeProblem::TextEmpty, message));
            }
            Err(e) => {
                return Err(at.error(key, PurposeProblem::TextRefused, format!("{key} {e}")));
            }
        }
    }
    let allowed_fields = fields(&raw.allowed_fields, PurposeKey::AllowedFields, at)?;
    if allowed_fields.is_empty() {
        let message = "allowed_fields is empty".to_owned();
        return Err(at.error(
            PurposeKey::AllowedFields,
            PurposeProblem::FieldsEmpty,
            message,
        ));
    }
    let required_consents = consents(&raw.required_consents, at)?;
    check_limits(&raw, at)?;
    let processors = processors(&raw.processors, at)?;
    // A purpose with processors and no format is hand-over only: nothing goes to staff.
    let formats = if raw.formats.is_empty() && !processors.is_empty() {
        Vec::new()
    } else {
        formats(&raw.formats, at)?
    };
    let call_outcomes = call_outcomes(raw.call_outcomes.as_deref(), &formats, at)?;
    let do_not_call_to = do_not_call_to(raw.do_not_call_to.as_deref(), &call_outcomes, at)?;
    let valid_from = date(raw.valid_from.as_deref(), PurposeKey::ValidFrom, at)?;
    let valid_to = date(raw.valid_to.as_deref(), PurposeKey::ValidTo, at)?;
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && from > to
    {
        return Err(at.error(
            PurposeKey::ValidFrom,
            PurposeProblem::FromAfterTo,
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
        call_outcomes,
        acknowledgement_sv: raw.acknowledgement_sv,
        acknowledgement_en: raw.acknowledgement_en,
        valid_from,
        valid_to,
        phishing_resistant: raw.phishing_resistant,
        approver_justification: raw.approver_justification,
        processors,
        do_not_call_to,
        line: at.block.0,
    })
}

/// The limits and the approval rule, in the document's order.
fn check_limits(raw: &raw::Purpose, at: &Locator<'_>) -> Result<(), Error> {
    use PurposeKey as K;
    use PurposeProblem as P;
    let a = &raw.approval;
    let (key, problem, message) = if raw.max_rows == 0 {
        (
            K::MaxRows,
            P::MaxRowsZero,
            "max_rows is 0; a purpose must allow at least one row".to_owned(),
        )
    } else if raw.max_lifetime_minutes == 0 || raw.max_lifetime_minutes > MAX_LIFETIME_MINUTES {
        (
            K::MaxLifetimeMinutes,
            P::LifetimeOutOfRange,
            format!(
                "max_lifetime_minutes is {}; it must be 1 to {MAX_LIFETIME_MINUTES} (30 days)",
                raw.max_lifetime_minutes
            ),
        )
    } else if a.auto_max_rows > raw.max_rows {
        (
            K::AutoMaxRows,
            P::AutoAboveMax,
            format!(
                "auto_max_rows ({}) is above max_rows ({})",
                a.auto_max_rows, raw.max_rows
            ),
        )
    } else if a.two_approvers_min_rows <= a.auto_max_rows {
        (
            K::TwoApproversMinRows,
            P::TwoNotAboveAuto,
            format!(
                "two_approvers_min_rows ({}) must be above auto_max_rows ({})",
                a.two_approvers_min_rows, a.auto_max_rows
            ),
        )
    } else if a.sensitive_approvers == 0 {
        (
            K::SensitiveApprovers,
            P::SensitiveApproversZero,
            "sensitive_approvers is 0: a rule that needs zero approvers for sensitive fields \
             is rejected"
                .to_owned(),
        )
    } else if a.sensitive_approvers > 2 {
        (
            K::SensitiveApprovers,
            P::SensitiveApproversAboveTwo,
            format!(
                "sensitive_approvers is {}; it must be 1 or 2",
                a.sensitive_approvers
            ),
        )
    } else {
        return Ok(());
    };
    Err(at.error(key, problem, message))
}

fn fields(names: &[String], key: PurposeKey, at: &Locator<'_>) -> Result<Vec<Field>, Error> {
    let mut out: Vec<Field> = Vec::with_capacity(names.len());
    for name in names {
        let field: Field = name
            .parse()
            .map_err(|e| at.error(key, PurposeProblem::FieldUnknown, format!("{key}: {e}")))?;
        if out.contains(&field) {
            let message = format!("{key} lists {field} twice");
            return Err(at.error(key, PurposeProblem::FieldTwice, message));
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
    for field in fields(names, PurposeKey::RequiredConsents, at)? {
        let flag = flags
            .into_iter()
            .find(|c| c.field() == field)
            .ok_or_else(|| {
                at.error(
                    PurposeKey::RequiredConsents,
                    PurposeProblem::ConsentUnknown,
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
    let key = PurposeKey::Formats;
    if names.is_empty() {
        let message = "formats is empty; allow csv, xlsx, view or call_list".to_owned();
        return Err(at.error(key, PurposeProblem::FormatsEmpty, message));
    }
    let mut seen = BTreeSet::new();
    for name in names {
        let format = Format::parse(name).ok_or_else(|| {
            let message = format!("unknown format {name:?}; use csv, xlsx, view or call_list");
            at.error(key, PurposeProblem::FormatUnknown, message)
        })?;
        if !seen.insert(format) {
            let message = format!("formats lists {format} twice");
            return Err(at.error(key, PurposeProblem::FormatTwice, message));
        }
    }
    Ok(seen.into_iter().collect())
}

/// A call list's outcomes: every known one when not given; only with `call_list` in `formats`.
fn call_outcomes(
    names: Option<&[String]>,
    formats: &[Format],
    at: &Locator<'_>,
) -> Result<Vec<CallOutcome>, Error> {
    let key = PurposeKey::Formats;
    let call_list = formats.contains(&Format::CallList);
    let Some(names) = names else {
        return Ok(if call_list {
            CallOutcome::ALL.to_vec()
        } else {
            Vec::new()
        });
    };
    if !call_list {
        let message = "call_outcomes is given, but formats has no call_list".to_owned();
        return Err(at.error(key, PurposeProblem::OutcomesWithoutCallList, message));
    }
    let mut seen = BTreeSet::new();
    for name in names {
        let outcome = CallOutcome::parse(name).map_err(|e| {
            at.error(
                key,
                PurposeProblem::OutcomeUnknown,
                format!("call_outcomes: {e}"),
            )
        })?;
        seen.insert(outcome);
    }
    if seen.is_empty() {
        let message = "call_outcomes is empty; callers must be able to record something".into();
        return Err(at.error(key, PurposeProblem::OutcomeUnknown, message));
    }
    Ok(seen.into_iter().collect())
}

/// The processor ids a purpose names: slugs, each once (that each is registered is checked
/// against the whole catalogue in `parse_catalogue`).
fn processors(
    names: &[String],
    at: &Locator<'_>,
) -> Result<Vec<crate::policy::ProcessorId>, Error> {
    let key = PurposeKey::Processors;
    let mut out: Vec<crate::policy::ProcessorId> = Vec::with_capacity(names.len());
    for name in names {
        let id = crate::policy::ProcessorId::parse(name)
            .map_err(|e| at.error(key, PurposeProblem::ProcessorUnknown, e.to_string()))?;
        if out.contains(&id) {
            let message = format!("processors lists {id} twice");
            return Err(at.error(key, PurposeProblem::ProcessorUnknown, message));
        }
        out.push(id);
    }
    Ok(out)
}

/// The recipient of a call list's "do not call again" members: a processor id, only for a
/// purpose whose call list offers that outcome (that it is registered is checked against the
/// whole catalogue in `parse_catalogue`).
fn do_not_call_to(
    name: Option<&str>,
    outcomes: &[CallOutcome],
    at: &Locator<'_>,
) -> Result<Option<crate::policy::ProcessorId>, Error> {
    let key = PurposeKey::DoNotCallTo;
    let Some(name) = name else { return Ok(None) };
    let id = crate::policy::ProcessorId::parse(name)
        .map_err(|e| at.error(key, PurposeProblem::ProcessorUnknown, e.to_string()))?;
    if !outcomes.contains(&CallOutcome::DoNotCall) {
        let message = "do_not_call_to is given, but the purpose has no call list with the \
            outcome do_not_call"
            .to_owned();
        return Err(at.error(key, PurposeProblem::DoNotCallWithoutOutcome, message));
    }
    Ok(Some(id))
}

fn date(text: Option<&str>, key: PurposeKey, at: &Locator<'_>) -> Result<Option<Date>, Error> {
    let Some(text) = text else { return Ok(None) };
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| {
            let message = format!("{key} {text:?} is not a date like 2026-09-13");
            at.error(key, PurposeProblem::DateInvalid, message)
        })
}
