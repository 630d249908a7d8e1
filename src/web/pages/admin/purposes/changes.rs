//! A pending policy change in words, for the administrator who confirms it: "Telefonkampanj:
//! högst 5 000 medlemmar blir 4 999", "Nytt ändamål: …", "Ändamålet … tas bort".
//!
//! Guarantees: every [`CatalogueChanges`] entry becomes a sentence from the catalogue
//! (`[purpose_change]`, the form's labels) in the page's language; a change the sentences
//! cannot say (comments, the permission table, an unreadable text) is still named, pointing
//! to the line-by-line view.

use minijinja::{Value, context};

use crate::nouns::{ConsentFlag, Field};
use crate::policy::{CatalogueChanges, Difference, Format, Purpose, PurposeChange, PurposeKey};
use crate::web::i18n::{Lang, duration, number, text, text_with};
use crate::web::labels::{self, pick};

/// The change as a list of `{ text, details }`: one entry per sentence, a new purpose with
/// what it allows as details.
pub(in crate::web::pages::admin) fn change_words(
    lang: Lang,
    changes: &CatalogueChanges,
    permissions_changed: bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    let say = |key: &str, args: &[(&str, String)]| {
        text_with(lang, &format!("purpose_change.{key}"), args)
    };
    for change in &changes.purposes {
        match change {
            PurposeChange::Added(p) => out.push(context! {
                text => say("added", &[("name", name(lang, p))]),
                details => summary(lang, p),
            }),
            PurposeChange::Removed(p) => out.push(context! {
                text => say("removed", &[("name", name(lang, p))]),
            }),
            PurposeChange::Changed {
                purpose,
                differences,
            } => {
                for d in differences {
                    let change = difference(lang, d);
                    let line = say("line", &[("name", name(lang, purpose)), ("change", change)]);
                    out.push(context! { text => line });
                }
            }
        }
    }
    if let Some((before, after)) = &changes.passkey_roles {
        let roles = |set: &std::collections::BTreeSet<crate::nouns::Role>| {
            list(lang, set.iter().map(|r| labels::role(lang, r.as_str())))
        };
        let args = [("before", roles(before)), ("after", roles(after))];
        out.push(context! { text => say("passkey_roles", &args) });
    }
    for change in &changes.processors {
        use crate::policy::ProcessorChange as C;
        let (key, p) = match change {
            C::Added(p) => ("processor_added", p),
            C::Changed(p) => ("processor_changed", p),
            C::Removed(p) => ("processor_removed", p),
        };
        let args = [
            ("name", p.name.clone()),
            ("contact", p.contact.clone()),
            ("agreement", p.agreement_ref.clone()),
            ("ends", p.agreement_ends.to_string()),
        ];
        out.push(context! { text => say(key, &args) });
    }
    if let Some(on) = changes.passkey_party_wide {
        let key = if on {
            "passkey_party_wide_on"
        } else {
            "passkey_party_wide_off"
        };
        out.push(context! { text => say(key, &[]) });
    }
    for (shown, key) in [
        (permissions_changed, "permissions"),
        (changes.unsaid, "unsaid"),
        (changes.unreadable, "unreadable"),
    ] {
        if shown {
            out.push(context! { text => say(key, &[]) });
        }
    }
    out
}

fn name(lang: Lang, p: &Purpose) -> String {
    pick(lang, &p.name_sv, &p.name_en)
}

/// `a, b och c` / `a, b and c`; "none" for an empty list.
fn list(lang: Lang, items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        None => text(lang, "purpose_change.none"),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => text_with(
            lang,
            "purpose_change.and",
            &[("first", rest.join(", ")), ("last", last.clone())],
        ),
    }
}

fn fields(lang: Lang, fields: &[Field]) -> String {
    list(lang, fields.iter().map(|f| labels::field(lang, f.as_str())))
}

fn consents(lang: Lang, flags: &[ConsentFlag]) -> String {
    list(
        lang,
        flags
            .iter()
            .map(|c| labels::field(lang, c.field().as_str())),
    )
}

fn formats(lang: Lang, formats: &[Format]) -> String {
    list(
        lang,
        formats
            .iter()
            .map(|f| text(lang, &format!("purpose_form.format_{}", f.as_str()))),
    )
}

fn members(lang: Lang, n: u64) -> String {
    let shown = number(lang, i64::try_from(n).unwrap_or(i64::MAX));
    text_with(lang, "purpose_change.members", &[("n", shown)])
}

/// A number of `key` as its sentence shows it: a lifetime in words, "up to 200 members" or
/// "never" for the automatic limit, else the number (the sentence names the unit).
fn amount(lang: Lang, key: PurposeKey, n: u64) -> String {
    match key {
        PurposeKey::MaxLifetimeMinutes => duration(lang, u32::try_from(n).unwrap_or(u32::MAX)),
        PurposeKey::AutoMaxRows if n == 0 => text(lang, "purpose_change.auto_never"),
        PurposeKey::AutoMaxRows => text_with(
            lang,
            "purpose_change.auto_up_to",
            &[("members", members(lang, n))],
        ),
        _ => number(lang, i64::try_from(n).unwrap_or(i64::MAX)),
    }
}

fn date(lang: Lang, d: Option<time::Date>) -> String {
    d.map_or_else(|| text(lang, "purpose_change.no_date"), |d| d.to_string())
}

/// One difference as a sentence (without the purpose's name).
fn difference(lang: Lang, d: &Difference) -> String {
    let say = |key: &str, args: &[(&str, String)]| {
        text_with(lang, &format!("purpose_change.{key}"), args)
    };
    let quoted = |s: &str| text_with(lang, "common.quoted", &[("text", s.to_owned())]);
    match d {
        Difference::Text { key, before, after } => say(
            "text",
            &[
                (
                    "what",
                    text(lang, &format!("purpose_form.{}", key.as_str())),
                ),
                ("before", quoted(before)),
                ("after", quoted(after)),
            ],
        ),
        Difference::Number { key, before, after } => say(
            key.as_str(),
            &[
                ("before", amount(lang, *key, *before)),
                ("after", amount(lang, *key, *after)),
            ],
        ),
        Difference::FieldsAdded(f) => say("fields_added", &[("list", fields(lang, f))]),
        Difference::FieldsRemoved(f) => say("fields_removed", &[("list", fields(lang, f))]),
        Difference::ConsentsAdded(c) => say("consents_added", &[("list", consents(lang, c))]),
        Difference::ConsentsRemoved(c) => say("consents_removed", &[("list", consents(lang, c))]),
        Difference::FormatsAdded(f) => say("formats_added", &[("list", formats(lang, f))]),
        Difference::FormatsRemoved(f) => say("formats_removed", &[("list", formats(lang, f))]),
        Difference::Date { key, before, after } => say(
            key.as_str(),
            &[
                ("before", date(lang, *before)),
                ("after", date(lang, *after)),
            ],
        ),
        Difference::ProcessorsAdded(names) => say(
            "processors_added",
            &[("list", list(lang, names.iter().cloned()))],
        ),
        Difference::ProcessorsRemoved(names) => say(
            "processors_removed",
            &[("list", list(lang, names.iter().cloned()))],
        ),
        Difference::DoNotCallTo { before, after } => {
            let nobody = || text(lang, "purpose_change.do_not_call_to_none");
            say(
                "do_not_call_to",
                &[
                    ("before", before.clone().unwrap_or_else(nobody)),
                    ("after", after.clone().unwrap_or_else(nobody)),
                ],
            )
        }
        Difference::PhishingResistant(true) => say("passkey_on", &[]),
        Difference::PhishingResistant(false) => say("passkey_off", &[]),
        Difference::ApproverJustification(true) => say("justification_on", &[]),
        Difference::ApproverJustification(false) => say("justification_off", &[]),
    }
}

/// What a new purpose allows, one line per setting.
fn summary(lang: Lang, p: &Purpose) -> Vec<String> {
    let label = |key: &str, value: String| {
        text_with(
            lang,
            "purpose_change.setting",
            &[
                ("what", text(lang, &format!("purpose_form.{key}"))),
                ("value", value),
            ],
        )
    };
    let a = &p.approval;
    let description = match lang {
        Lang::Sv => label("description_sv", p.description_sv.clone()),
        Lang::En => label("description_en", p.description_en.clone()),
    };
    let mut out = vec![
        description,
        label("fields", fields(lang, &p.allowed_fields)),
        label("consents", consents(lang, &p.required_consents)),
        label("max_rows", members(lang, p.max_rows)),
        label("lifetime", duration(lang, p.max_lifetime_minutes)),
        label(
            "auto_max_rows",
            amount(lang, PurposeKey::AutoMaxRows, a.auto_max_rows),
        ),
        label(
            "two_approvers_min_rows",
            members(lang, a.two_approvers_min_rows),
        ),
        label("sensitive_approvers", a.sensitive_approvers.to_string()),
        label("formats", formats(lang, &p.formats)),
    ];
    if p.valid_from.is_some() || p.valid_to.is_some() {
        out.push(label("valid_from", date(lang, p.valid_from)));
        out.push(label("valid_to", date(lang, p.valid_to)));
    }
    if p.phishing_resistant {
        out.push(text(lang, "purpose_change.passkey_on"));
    }
    if p.approver_justification {
        out.push(text(lang, "purpose_change.justification_on"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::catalogue_changes;

    const SHIPPED: &str = include_str!("../../../../../policies/purposes.toml");

    fn words(lang: Lang, after: &str) -> Vec<String> {
        change_words(lang, &catalogue_changes(SHIPPED, after), false)
            .iter()
            .map(|v| {
                v.get_attr("text")
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn a_lower_limit_reads_as_a_sentence_in_either_language() {
        let after = SHIPPED.replacen("max_rows = 5000\n", "max_rows = 4999\n", 1);
        assert_eq!(
            words(Lang::Sv, &after),
            ["Telefonkampanj: högst 5\u{a0}000 medlemmar blir 4\u{a0}999"]
        );
        assert_eq!(
            words(Lang::En, &after),
            ["Phone canvassing: at most 5,000 members becomes 4,999"]
        );
    }

    #[test]
    fn every_kind_of_difference_has_its_sentence_in_both_languages() {
        let after = SHIPPED
            .replacen(
                "name_sv = \"Telefonkampanj\"",
                "name_sv = \"Ring medlemmar\"",
                1,
            )
            .replacen("\"phone\", \"local_branch\"]", "\"phone\", \"city\"]", 1)
            .replacen(
                "required_consents = [\"consent_phone\"]\nmax_rows = 5000",
                "required_consents = [\"consent_sms\"]\nmax_rows = 4000",
                1,
            )
            .replacen(
                "max_lifetime_minutes = 4320",
                "max_lifetime_minutes = 60",
                1,
            )
            .replacen(
                "formats = [\"view\", \"csv\", \"xlsx\"]",
                "formats = [\"view\", \"csv\"]\nvalid_to = 2027-01-01\nphishing_resistant = true",
                1,
            )
            .replacen(
                "auto_max_rows = 200\ntwo_approvers_min_rows = 2000\nsensitive_approvers = 2",
                "auto_max_rows = 0\ntwo_approvers_min_rows = 1000\nsensitive_approvers = 1",
                1,
            )
            .replacen(
                "phishing_resistant_roles = []",
                "phishing_resistant_roles = [\"approver\"]",
                1,
            )
            .replacen(
                "phishing_resistant_party_wide = false",
                "phishing_resistant_party_wide = true",
                1,
            );
        for lang in [Lang::Sv, Lang::En] {
            let said = words(lang, &after);
            assert_eq!(said.len(), 15, "{said:#?}");
            for s in &said {
                assert!(
                    !s.contains("purpose_change.") && !s.contains("purpose_form."),
                    "{s}"
                );
            }
        }
    }
}
