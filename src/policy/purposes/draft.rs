//! A purpose as an administrator's form holds it ([`PurposeDraft`]), and the catalogue text
//! with that purpose written in, replaced or taken out.
//!
//! Guarantees: only the edited purpose's `[[purpose]]` block changes; every other line of the
//! catalogue — other purposes, `[second_factor]`, comments — stays exactly as it was, and the
//! result is read back to prove it (else an error, never a damaged catalogue). The edited
//! block is written by the `toml` crate, so any text is quoted correctly; comments inside that
//! one block are not kept. A draft is not checked here: the result goes through
//! `parse_catalogue` like any other catalogue, which refuses it with a [`super::PurposeFault`].

use serde::Serialize;
use time::macros::format_description;

use super::{Purpose, PurposeId, lines, raw};
use crate::policy::Error;

/// Every key of one purpose, unchecked: what the form was given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurposeDraft {
    pub id: String,
    pub name_sv: String,
    pub name_en: String,
    pub description_sv: String,
    pub description_en: String,
    pub allowed_fields: Vec<String>,
    pub required_consents: Vec<String>,
    pub max_rows: u64,
    pub max_lifetime_minutes: u32,
    pub formats: Vec<String>,
    /// Empty: every outcome (or none without `call_list`); written only when narrowed.
    pub call_outcomes: Vec<String>,
    pub acknowledgement_sv: String,
    pub acknowledgement_en: String,
    /// `YYYY-MM-DD`; empty is no limit.
    pub valid_from: String,
    pub valid_to: String,
    pub phishing_resistant: bool,
    pub approver_justification: bool,
    pub auto_max_rows: u64,
    pub two_approvers_min_rows: u64,
    pub sensitive_approvers: u8,
    /// Processor ids; kept as they were by the form (registering processors is done in the
    /// catalogue's `[[processor]]` entries).
    pub processors: Vec<String>,
    /// Who receives a call list's "do not call again" members; kept as it was by the form.
    pub do_not_call_to: Option<String>,
}

impl From<&Purpose> for PurposeDraft {
    fn from(p: &Purpose) -> PurposeDraft {
        let day = format_description!("[year]-[month]-[day]");
        let date = |d: Option<time::Date>| d.and_then(|d| d.format(&day).ok()).unwrap_or_default();
        PurposeDraft {
            id: p.id.as_str().to_owned(),
            name_sv: p.name_sv.clone(),
            name_en: p.name_en.clone(),
            description_sv: p.description_sv.clone(),
            description_en: p.description_en.clone(),
            allowed_fields: p.allowed_fields.iter().map(|f| f.as_str().into()).collect(),
            required_consents: p
                .required_consents
                .iter()
                .map(|c| c.field().as_str().into())
                .collect(),
            max_rows: p.max_rows,
            max_lifetime_minutes: p.max_lifetime_minutes,
            formats: p.formats.iter().map(|f| f.as_str().into()).collect(),
            call_outcomes: if p.call_outcomes.len() == crate::nouns::CallOutcome::ALL.len() {
                Vec::new()
            } else {
                p.call_outcomes.iter().map(|o| o.as_str().into()).collect()
            },
            acknowledgement_sv: p.acknowledgement_sv.clone(),
            acknowledgement_en: p.acknowledgement_en.clone(),
            valid_from: date(p.valid_from),
            valid_to: date(p.valid_to),
            phishing_resistant: p.phishing_resistant,
            approver_justification: p.approver_justification,
            auto_max_rows: p.approval.auto_max_rows,
            two_approvers_min_rows: p.approval.two_approvers_min_rows,
            sensitive_approvers: p.approval.sensitive_approvers,
            processors: p
                .processors
                .iter()
                .map(|id| id.as_str().to_owned())
                .collect(),
            do_not_call_to: p.do_not_call_to.as_ref().map(|id| id.as_str().to_owned()),
        }
    }
}

/// The block as `purposes.toml` holds it, keys in the shipped file's order.
#[derive(Serialize)]
struct Block<'a> {
    id: &'a str,
    name_sv: &'a str,
    name_en: &'a str,
    description_sv: &'a str,
    description_en: &'a str,
    allowed_fields: &'a [String],
    required_consents: &'a [String],
    max_rows: u64,
    max_lifetime_minutes: u32,
    formats: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    call_outcomes: &'a [String],
    acknowledgement_sv: &'a str,
    acknowledgement_en: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<DateValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<DateValue>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    phishing_resistant: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    approver_justification: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    processors: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    do_not_call_to: Option<&'a str>,
    approval: ApprovalBlock,
}

#[derive(Serialize)]
struct ApprovalBlock {
    auto_max_rows: u64,
    two_approvers_min_rows: u64,
    sensitive_approvers: u8,
}

/// A date as a bare TOML date when it is one, else as the text given (which the check then
/// refuses as "not a date").
#[derive(Serialize)]
#[serde(untagged)]
enum DateValue {
    Date(toml::value::Datetime),
    Text(String),
}

fn date_value(text: &str) -> Option<DateValue> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let day = format_description!("[year]-[month]-[day]");
    let native = time::Date::parse(text, &day)
        .ok()
        .and_then(|_| text.parse::<toml::value::Datetime>().ok());
    Some(native.map_or_else(|| DateValue::Text(text.to_owned()), DateValue::Date))
}

#[derive(Serialize)]
struct OneBlock<'a> {
    purpose: [Block<'a>; 1],
}

impl PurposeDraft {
    /// The `[[purpose]]` block, with its `[purpose.approval]` table, ending in a newline.
    pub fn to_toml(&self) -> Result<String, Error> {
        let block = Block {
            id: &self.id,
            name_sv: &self.name_sv,
            name_en: &self.name_en,
            description_sv: &self.description_sv,
            description_en: &self.description_en,
            allowed_fields: &self.allowed_fields,
            required_consents: &self.required_consents,
            max_rows: self.max_rows,
            max_lifetime_minutes: self.max_lifetime_minutes,
            formats: &self.formats,
            call_outcomes: &self.call_outcomes,
            acknowledgement_sv: &self.acknowledgement_sv,
            acknowledgement_en: &self.acknowledgement_en,
            valid_from: date_value(&self.valid_from),
            valid_to: date_value(&self.valid_to),
            phishing_resistant: self.phishing_resistant,
            approver_justification: self.approver_justification,
            processors: &self.processors,
            do_not_call_to: self.do_not_call_to.as_deref(),
            approval: ApprovalBlock {
                auto_max_rows: self.auto_max_rows,
                two_approvers_min_rows: self.two_approvers_min_rows,
                sensitive_approvers: self.sensitive_approvers,
            },
        };
        toml::to_string(&OneBlock { purpose: [block] })
            .map_err(|e| Error::BadInput(format!("the purpose cannot be written as TOML: {e}")))
    }
}

/// `text` with `draft` in place of the purpose `replace` (its block, where it was), or added
/// at the end when `replace` is `None`.
pub fn with_purpose(
    text: &str,
    replace: Option<&PurposeId>,
    draft: &PurposeDraft,
) -> Result<String, Error> {
    let block = draft.to_toml()?;
    let (out, index) = match replace {
        Some(id) => {
            let (index, span) = block_of(text, id)?;
            (splice(text, span, &block), index)
        }
        None => {
            let mut out = text.to_owned();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
            out.push_str(&block);
            (out, count(text)?)
        }
    };
    kept_apart_from(text, &out, Some(index), replace.is_none())?;
    Ok(out)
}

/// `text` without the purpose `id` (its block, comments after it kept).
pub fn without_purpose(text: &str, id: &PurposeId) -> Result<String, Error> {
    let (index, (start, end)) = block_of(text, id)?;
    let mut out = splice(text, (start, end), "");
    // The blank line that separated the block from the next one goes with it.
    let lines: Vec<&str> = out.split_inclusive('\n').collect();
    if start >= 2
        && lines.get(start - 2).is_some_and(|l| l.trim().is_empty())
        && lines.get(start - 1).is_none_or(|l| l.trim().is_empty())
    {
        let mut kept: Vec<&str> = lines.clone();
        kept.remove(start - 2);
        out = kept.concat();
    }
    kept_apart_from(text, &out, Some(index), false)?;
    Ok(out)
}

fn read(text: &str) -> Result<raw::Catalogue, Error> {
    toml::from_str(text).map_err(|e| Error::BadInput(format!("the catalogue is not TOML: {e}")))
}

fn count(text: &str) -> Result<usize, Error> {
    Ok(read(text)?.purpose.len())
}

/// The index of purpose `id` and the lines `(first, last)` of its own block: from its header
/// to its last key, leaving out trailing blank lines and comments (which may introduce what
/// follows) and any other table that follows it in the file.
fn block_of(text: &str, id: &PurposeId) -> Result<(usize, (usize, usize)), Error> {
    let index = read(text)?
        .purpose
        .iter()
        .position(|p| p.id == id.as_str())
        .ok_or_else(|| Error::BadInput(format!("the catalogue has no purpose {id}")))?;
    let (start, end) = lines::purpose_blocks(text)
        .get(index)
        .copied()
        .ok_or_else(|| Error::BadInput(format!("the purpose {id} has no [[purpose]] line")))?;
    let all: Vec<&str> = text.lines().collect();
    let line = |n: usize| all.get(n - 1).map_or("", |l| l.trim());
    let mut last = start;
    for n in start + 1..=end {
        let l = line(n);
        if l.starts_with('[') && !is_own_table(l) {
            break;
        }
        if !l.is_empty() && !l.starts_with('#') {
            last = n;
        }
    }
    Ok((index, (start, last)))
}

/// `[purpose.approval]` and the like belong to the block; any other table does not.
fn is_own_table(line: &str) -> bool {
    let name: String = line
        .trim_start_matches('[')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    name.starts_with("purpose.")
}

/// `text` with lines `first..=last` (1-based) replaced by `with` (whole lines).
fn splice(text: &str, (first, last): (usize, usize), with: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len() + with.len());
    for l in lines.iter().take(first - 1) {
        out.push_str(l);
    }
    out.push_str(with);
    if !with.is_empty() && !with.ends_with('\n') {
        out.push('\n');
    }
    for l in lines.iter().skip(last) {
        out.push_str(l);
    }
    out
}

/// Reads `after` back: the same `[second_factor]`, and the same purposes as `before` but for
/// the one at `changed` (added at the end when `added`, gone otherwise when it is missing).
fn kept_apart_from(
    before: &str,
    after: &str,
    changed: Option<usize>,
    added: bool,
) -> Result<(), Error> {
    let old = read(before)?;
    let new = read(after).map_err(|_| layout_lost())?;
    let mut old_rest: Vec<&raw::Purpose> = old.purpose.iter().collect();
    let mut new_rest: Vec<&raw::Purpose> = new.purpose.iter().collect();
    if let Some(i) = changed {
        if i < old_rest.len() {
            old_rest.remove(i);
        }
        let replaced_or_added = added || new.purpose.len() == old.purpose.len();
        if replaced_or_added && i < new_rest.len() {
            new_rest.remove(i);
        }
    }
    if old.second_factor == new.second_factor && old_rest == new_rest {
        Ok(())
    } else {
        Err(layout_lost())
    }
}

fn layout_lost() -> Error {
    Error::BadInput(
        "the purpose could not be written into the catalogue without changing other lines; \
         change purposes.toml as a file instead"
            .into(),
    )
}

#[cfg(test)]
mod tests;
