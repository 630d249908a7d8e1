//! An audit entry told as a sentence for people — "Anna Berg (anna) hämtade listan som CSV från
//! 10.0.0.7 (hämtning 1 av 3)." — for the auditor's timeline and an extract's story, instead of
//! an event code, a target and the raw details.
//!
//! Guarantees: every [`EventKind`] has a sentence (`[events]`) and a name (`[event_names]`) in
//! both catalogues, and every placeholder a sentence names is filled from the details that kind
//! records (unit tests with a sample of each kind as its recorders write it). People are named
//! by display name and username, purposes, fields, states and roles by their labels, times in
//! the shown zone, numbers as the language writes them; an extract by purpose, district, date
//! and short reference, with its id only in a link ([`About`]).
//!
//! Never shows key ids, hashes, pseudonyms, Unix times or JSON: a placeholder is filled only
//! from the detail it names, formatted for people, and no other detail is shown. The raw entry
//! stays in the JSON API and the export.

mod known;
mod values;

#[cfg(test)]
mod tests;

pub use known::Known;

use serde_json::Value;

use crate::audit::EventKind;
use crate::web::i18n::{Lang, lookup, text};

/// One audit entry as the sentence reads it (the store's row or the API's answer).
#[derive(Debug, Clone)]
pub struct Entry {
    pub action: String,
    pub actor: String,
    pub target: String,
    pub outcome: String,
    pub details: Value,
}

impl Entry {
    /// An entry from the store's row; details that do not parse count as none.
    pub fn from_row(row: &crate::store::audit::AuditRow) -> Entry {
        Entry {
            action: row.action.clone(),
            actor: row.actor.clone(),
            target: row.target.clone(),
            outcome: row.outcome.clone(),
            details: serde_json::from_str(&row.details).unwrap_or(Value::Null),
        }
    }
}

/// An entry told: the sentence, the outcome as a word, and the extract it is about.
#[derive(Debug, Clone)]
pub struct Told {
    pub sentence: String,
    pub outcome: String,
    /// Refused or failed (the page marks it).
    pub refused: bool,
    pub about: Option<About>,
}

/// The extract an entry is about: its words for the link text, its id for the link only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    pub id: String,
    pub text: String,
}

/// `entry` told in `lang`, with the names `known` looked up.
pub fn tell(lang: Lang, known: &Known, entry: &Entry) -> Told {
    Told {
        sentence: sentence(lang, known, entry).0,
        outcome: outcome_word(lang, &entry.outcome),
        refused: entry.outcome != "success",
        about: about(lang, known, entry),
    }
}

/// The sentence, and the placeholders it names that the entry could not fill (shown as "–";
/// the unit tests keep this empty for what each kind records).
fn sentence(lang: Lang, known: &Known, entry: &Entry) -> (String, Vec<String>) {
    let Some(kind) = EventKind::from_code(&entry.action) else {
        return (text(lang, "events.unknown"), Vec::new());
    };
    let key = key_for(kind, entry);
    let mut missing = Vec::new();
    let told = fill(&text(lang, &key), |name| {
        values::value(lang, known, kind, entry, name).unwrap_or_else(|| {
            missing.push(name.to_owned());
            "–".to_owned()
        })
    });
    (told, missing)
}

/// The catalogue key of a kind's sentence, without variant: `extract_download`.
fn base(kind: EventKind) -> String {
    kind.code().replace('.', "_")
}

/// The sentence's key: the kind's variant for these details if the catalogue has one, else
/// its refused or failed form if it has one, else the kind's own sentence.
fn key_for(kind: EventKind, entry: &Entry) -> String {
    let base = base(kind);
    let variant = values::variant(kind, entry);
    let outcome = ["denied", "failure"]
        .into_iter()
        .find(|o| *o == entry.outcome);
    variant
        .into_iter()
        .chain(outcome)
        .map(|suffix| format!("events.{base}_{suffix}"))
        .find(|key| lookup(Lang::Sv, key).is_some())
        .unwrap_or_else(|| format!("events.{base}"))
}

/// Fills `{name}` and `{name|one|other}` in one pass (a value is never read again, so text a
/// user wrote cannot name a placeholder); `one` when the value is shown as "1".
fn fill(template: &str, mut value: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut values: Vec<(String, String)> = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 1..start + len];
        let mut parts = inner.split('|');
        let name = parts.next().unwrap_or_default();
        let shown = match values.iter().find(|(n, _)| n == name) {
            Some((_, v)) => v.clone(),
            None => {
                let v = value(name);
                values.push((name.to_owned(), v.clone()));
                v
            }
        };
        match (parts.next(), parts.next()) {
            (Some(one), Some(other)) => out.push_str(if shown == "1" { one } else { other }),
            _ => out.push_str(&shown),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// A file format (`csv`, `xlsx`, `view`, `jsonl`) as people say it; the code when unknown.
pub fn format_name(lang: Lang, code: &str) -> String {
    lookup(lang, &format!("events.format_{code}")).unwrap_or_else(|| code.to_owned())
}

/// Why an extract ended, as an auditor is told it (`end_reasons` speak to the requester: "you
/// said you are done").
pub fn end_reason(lang: Lang, code: &str) -> String {
    lookup(lang, &format!("events.shred_{code}"))
        .unwrap_or_else(|| crate::web::labels::end_reason(lang, code))
}

/// `success`, `failure` or `denied` as a word.
pub fn outcome_word(lang: Lang, outcome: &str) -> String {
    lookup(lang, &format!("events.outcome_{outcome}")).unwrap_or_else(|| outcome.to_owned())
}

/// The extract an entry is about: its target, or the extract a flag was raised for.
fn about(lang: Lang, known: &Known, entry: &Entry) -> Option<About> {
    let id = known::extract_named(entry)?;
    Some(About {
        id: id.to_owned(),
        text: known.extract_words(lang, id),
    })
}

/// A kind's name, for the timeline's filter: "Lista hämtad".
pub fn kind_name(lang: Lang, kind: EventKind) -> String {
    text(lang, &format!("event_names.{}", base(kind)))
}

/// The kinds by area (operation, accounts, policy, extracts, oversight), each area's kinds
/// by name: `(area name, [(code, name)])`.
pub fn kinds_by_area(lang: Lang) -> Vec<(String, Vec<(&'static str, String)>)> {
    const AREAS: [&str; 5] = ["system", "accounts", "policy", "extracts", "oversight"];
    AREAS
        .iter()
        .map(|area| {
            let mut kinds: Vec<(&'static str, String)> = EventKind::ALL
                .iter()
                .filter(|k| area_of(**k) == *area)
                .map(|k| (k.code(), kind_name(lang, *k)))
                .collect();
            kinds.sort_by(|a, b| a.1.cmp(&b.1));
            (text(lang, &format!("event_names.area_{area}")), kinds)
        })
        .collect()
}

/// The area a kind belongs to, by its code's first word.
fn area_of(kind: EventKind) -> &'static str {
    match kind.code().split('.').next().unwrap_or_default() {
        "user" | "auth" => "accounts",
        "policy" | "authz" => "policy",
        "extract" | "calls" => "extracts",
        "audit" | "pseudonym" | "followup" | "report" => "oversight",
        _ => "system",
    }
}
