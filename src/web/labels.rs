//! The pages' words for the broker's stable codes: an extract's state and why it ended, the
//! register's field names, roles, follow-up flag kinds, categories of personal data, account
//! statuses and notice kinds — each from the catalogue, in the page's language.
//!
//! Guarantees: every code the broker can produce has a label in both languages (unit tests
//! below); a code the catalogue does not know shows as the code itself, never as nothing.
//! The JSON API and the audit log keep the stable codes: pages are translated, and so is the
//! header row of a file downloaded from a page (`web::api::extracts::field_names`).

use super::i18n::{Lang, lookup};
use crate::policy::{Policy, PurposeId};

/// `section.code` from the catalogue, or `None`.
fn label(lang: Lang, section: &str, code: &str) -> Option<String> {
    lookup(lang, &format!("{section}.{code}"))
}

/// An extract's state (`pending`, `live`, …) as words.
pub fn state(lang: Lang, code: &str) -> String {
    label(lang, "states", code).unwrap_or_else(|| code.to_owned())
}

/// Why an extract ended (`expired`, `done`, …) as words; empty for an unknown reason.
pub fn end_reason(lang: Lang, code: &str) -> String {
    label(lang, "end_reasons", code).unwrap_or_default()
}

/// A register field's name as the pages show it, and as a file's header row gives it when
/// the file is downloaded from a page (the API's files keep the stable names by default).
pub fn field(lang: Lang, name: &str) -> String {
    label(lang, "fields", name).unwrap_or_else(|| name.to_owned())
}

/// A membership status value as the register holds it, named by `register.statuses.names`
/// (a value without a name shows as it is: it is the register's own word).
pub fn status(lang: Lang, value: &str, names: &crate::config::StatusesConfig) -> String {
    names
        .names
        .get(value)
        .map_or_else(|| value.to_owned(), |n| pick(lang, &n.sv, &n.en))
}

/// A short reference for an extract people can read out on the phone (`4F2A-91C3`): the
/// first 8 of its 32 hex digits. Pages never show the whole id; links carry it.
pub fn reference(id: &str) -> String {
    let head: String = id.chars().take(8).collect::<String>().to_uppercase();
    match head.split_at_checked(4) {
        Some((a, b)) if !b.is_empty() => format!("{a}-{b}"),
        _ => head,
    }
}

/// Why a request needs an approver, as a sentence for the approver.
pub fn approval_reason(lang: Lang, reason: &crate::policy::ApprovalReason) -> String {
    use super::i18n::{number, text_with};
    use crate::policy::ApprovalReason as R;
    let n = |v: u64| number(lang, i64::try_from(v).unwrap_or(i64::MAX));
    match reason {
        R::SensitiveField(f) => text_with(
            lang,
            "approval.sensitive_field",
            &[("field", field(lang, f.as_str()))],
        ),
        R::ManyMembers {
            rows,
            two_approvers_from,
        } => text_with(
            lang,
            "approval.many_members",
            &[("rows", n(*rows)), ("from", n(*two_approvers_from))],
        ),
        R::MoreThanAutomatic {
            rows,
            automatic_max,
        } => text_with(
            lang,
            "approval.more_than_automatic",
            &[("rows", n(*rows)), ("max", n(*automatic_max))],
        ),
        R::AlwaysApproved => super::i18n::text(lang, "approval.always"),
    }
}

/// A role's name (`staff`, `approver`, …).
pub fn role(lang: Lang, code: &str) -> String {
    label(lang, "roles", code).unwrap_or_else(|| code.to_owned())
}

/// A district as the pages show it: `*` is the whole party.
pub fn district(lang: Lang, code: &str) -> String {
    if code == "*" {
        label(lang, "roles", "everywhere").unwrap_or_else(|| code.to_owned())
    } else {
        code.to_owned()
    }
}

/// A follow-up flag's kind as a heading.
pub fn flag_kind(lang: Lang, code: &str) -> String {
    label(lang, "flag_kinds", code)
        .or_else(|| label(lang, "flag_kinds", "other"))
        .unwrap_or_else(|| code.to_owned())
}

/// A category of personal data (`identity`, `contact`, …).
pub fn category(lang: Lang, code: &str) -> String {
    label(lang, "categories", code)
        .or_else(|| label(lang, "categories", "other"))
        .unwrap_or_else(|| code.to_owned())
}

/// An account's status (`active`, `invited`, `disabled`).
pub fn user_status(lang: Lang, code: &str) -> String {
    label(lang, "user_status", code).unwrap_or_else(|| code.to_owned())
}

/// An in-app notice of `kind`; the stored sentence when the catalogue has no such kind.
pub fn notice(lang: Lang, kind: &str, stored: &str) -> String {
    label(lang, "notices", kind).unwrap_or_else(|| stored.to_owned())
}

/// A purpose's name in `lang` (the policy holds a Swedish and an English one), or its id
/// when the catalogue no longer has it.
pub fn purpose_name(lang: Lang, policy: &Policy, id: &str) -> String {
    PurposeId::parse(id)
        .ok()
        .and_then(|id| {
            policy
                .purpose(&id)
                .map(|p| pick(lang, &p.name_sv, &p.name_en))
        })
        .unwrap_or_else(|| id.to_owned())
}

/// The text for `lang` of a Swedish/English pair, falling back to the Swedish one when the
/// English is empty.
pub fn pick(lang: Lang, sv: &str, en: &str) -> String {
    match lang {
        Lang::En if !en.trim().is_empty() => en.to_owned(),
        _ => sv.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everywhere(section: &str, codes: &[&str]) {
        for code in codes {
            for lang in Lang::ALL {
                assert!(
                    label(lang, section, code).is_some_and(|l| !l.is_empty()),
                    "{section}.{code} missing from {}.toml",
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn every_field_has_a_label_in_both_languages() {
        let fields: Vec<&str> = crate::nouns::Field::ALL
            .iter()
            .map(|f| f.as_str())
            .collect();
        everywhere("fields", &fields);
        assert_eq!(field(Lang::Sv, "phone"), "Telefon");
        assert_eq!(field(Lang::En, "phone"), "Phone");
    }

    #[test]
    fn every_state_and_end_reason_has_a_label_in_both_languages() {
        everywhere(
            "states",
            &[
                "pending", "denied", "lapsed", "building", "live", "shredded", "failed",
            ],
        );
        everywhere(
            "end_reasons",
            &[
                "expired",
                "download_limit",
                "done",
                "revoked",
                "frozen",
                "denied_by_approver",
                "not_decided_in_time",
            ],
        );
        assert_eq!(state(Lang::Sv, "shredded"), "Raderad");
        assert_eq!(end_reason(Lang::En, "nonsense"), "");
    }

    #[test]
    fn every_role_flag_kind_and_category_has_a_label_in_both_languages() {
        let roles: Vec<&str> = crate::nouns::Role::ALL.iter().map(|r| r.as_str()).collect();
        everywhere("roles", &roles);
        let kinds: Vec<&str> = crate::oversight::followup::Kind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect();
        everywhere("flag_kinds", &kinds);
        everywhere(
            "categories",
            &["identity", "contact", "address", "sensitive", "flag"],
        );
        everywhere("user_status", &["active", "invited", "disabled"]);
        everywhere(
            "notices",
            &[
                "extract_requested",
                "extract_approved",
                "extract_denied",
                "extract_ready",
                "extract_failed",
                "extract_expiring",
                "extract_shredded",
                "extract_lapsed",
                "extract_waiting_register",
                "role_due",
                "role_due_confirm",
            ],
        );
        assert_eq!(district(Lang::Sv, "*"), "hela partiet");
        assert_eq!(district(Lang::En, "Uppsala"), "Uppsala");
    }

    #[test]
    fn the_english_name_is_used_when_there_is_one() {
        assert_eq!(
            pick(Lang::En, "Telefonkampanj", "Phone canvassing"),
            "Phone canvassing"
        );
        assert_eq!(pick(Lang::En, "Telefonkampanj", " "), "Telefonkampanj");
        assert_eq!(
            pick(Lang::Sv, "Telefonkampanj", "Phone canvassing"),
            "Telefonkampanj"
        );
    }
}
