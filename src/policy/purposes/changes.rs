//! What a new purpose catalogue changes, purpose by purpose and key by key, as data: the
//! administrator who confirms a change reads it in words (the pages say them), not as lines of
//! TOML.
//!
//! Guarantees: every key of a purpose that differs is named ([`Difference`]); lists are
//! compared as sets (their order means nothing to a request); a change that no purpose's keys
//! show — comments, layout, order — is still reported ([`CatalogueChanges::unsaid`]), so the
//! sentences never hide that something changed. Reads no clock, touches no store.

use std::collections::BTreeSet;

use time::Date;

use super::{Format, Purpose, PurposeId, PurposeKey, parse_catalogue};
use crate::nouns::{ConsentFlag, Field, Role};
use crate::policy::factors;

/// One purpose added, removed or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurposeChange {
    Added(Box<Purpose>),
    Removed(Box<Purpose>),
    /// `purpose` as it will be, and what differs from how it is.
    Changed {
        purpose: Box<Purpose>,
        differences: Vec<Difference>,
    },
}

/// One key of a purpose that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A name, description or acknowledgement.
    Text {
        key: PurposeKey,
        before: String,
        after: String,
    },
    /// `max_rows`, `max_lifetime_minutes`, `auto_max_rows`, `two_approvers_min_rows` or
    /// `sensitive_approvers`.
    Number {
        key: PurposeKey,
        before: u64,
        after: u64,
    },
    FieldsAdded(Vec<Field>),
    FieldsRemoved(Vec<Field>),
    ConsentsAdded(Vec<ConsentFlag>),
    ConsentsRemoved(Vec<ConsentFlag>),
    FormatsAdded(Vec<Format>),
    FormatsRemoved(Vec<Format>),
    /// `valid_from` or `valid_to`; `None` is no limit.
    Date {
        key: PurposeKey,
        before: Option<Date>,
        after: Option<Date>,
    },
    /// Whether acting on an extract of the purpose needs a passkey (now `after`).
    PhishingResistant(bool),
    /// Whether an approver must say why they approve (now `after`).
    ApproverJustification(bool),
    /// Processors the purpose may now hand over to, by name (by id in [`changes`], named by
    /// [`catalogue_changes`]).
    ProcessorsAdded(Vec<String>),
    /// Processors the purpose may no longer hand over to, by name.
    ProcessorsRemoved(Vec<String>),
    /// Who receives a call list's "do not call again" members (`None`: nobody), by name.
    DoNotCallTo {
        before: Option<String>,
        after: Option<String>,
    },
}

/// One `[[processor]]` entry added, removed or changed (the entry as it will be, or was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessorChange {
    Added(crate::policy::Processor),
    Removed(crate::policy::Processor),
    Changed(crate::policy::Processor),
}

/// Everything a new catalogue text changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogueChanges {
    pub purposes: Vec<PurposeChange>,
    /// `[second_factor] phishing_resistant_roles`: (before, after), when it changes.
    pub passkey_roles: Option<(BTreeSet<Role>, BTreeSet<Role>)>,
    /// `[second_factor] phishing_resistant_party_wide` as it will be, when it changes.
    pub passkey_party_wide: Option<bool>,
    /// Registered processors added, removed or changed (`[[processor]]`).
    pub processors: Vec<ProcessorChange>,
    /// The texts differ in something the changes above do not say (comments, layout, order).
    pub unsaid: bool,
    /// One of the texts is not a valid catalogue: nothing above could be worked out.
    pub unreadable: bool,
}

/// What `after` changes against `before`: purposes in `after`'s order, removed ones last.
pub fn changes(before: &[Purpose], after: &[Purpose]) -> Vec<PurposeChange> {
    let mut out = Vec::new();
    for new in after {
        match before.iter().find(|p| p.id == new.id) {
            None => out.push(PurposeChange::Added(Box::new(new.clone()))),
            Some(old) => {
                let differences = differences(old, new);
                if !differences.is_empty() {
                    out.push(PurposeChange::Changed {
                        purpose: Box::new(new.clone()),
                        differences,
                    });
                }
            }
        }
    }
    let kept: BTreeSet<&PurposeId> = after.iter().map(|p| &p.id).collect();
    out.extend(
        before
            .iter()
            .filter(|p| !kept.contains(&p.id))
            .map(|p| PurposeChange::Removed(Box::new(p.clone()))),
    );
    out
}

/// What the catalogue text `after` changes against `before`, the `[second_factor]` rule too.
pub fn catalogue_changes(before: &str, after: &str) -> CatalogueChanges {
    if before == after {
        return CatalogueChanges::default();
    }
    let parsed = (
        parse_catalogue(before),
        parse_catalogue(after),
        factors::parse(before),
        factors::parse(after),
        crate::policy::processors::parse(before),
        crate::policy::processors::parse(after),
    );
    let (Ok(old), Ok(new), Ok(old_rule), Ok(new_rule), Ok(old_pr), Ok(new_pr)) = parsed else {
        return CatalogueChanges {
            unreadable: true,
            ..CatalogueChanges::default()
        };
    };
    let mut purposes = changes(&old, &new);
    name_processors(&mut purposes, &old_pr, &new_pr);
    let processors = processor_changes(&old_pr, &new_pr);
    let roles_changed = old_rule.roles != new_rule.roles;
    let passkey_roles = roles_changed.then_some((old_rule.roles, new_rule.roles));
    let passkey_party_wide =
        (old_rule.party_wide != new_rule.party_wide).then_some(new_rule.party_wide);
    let unsaid = purposes.is_empty()
        && passkey_roles.is_none()
        && passkey_party_wide.is_none()
        && processors.is_empty();
    CatalogueChanges {
        purposes,
        passkey_roles,
        passkey_party_wide,
        processors,
        unsaid,
        unreadable: false,
    }
}

/// The keys of `new` that differ from `old`, in the form's order.
fn differences(old: &Purpose, new: &Purpose) -> Vec<Difference> {
    let mut out = Vec::new();
    let texts = [
        (PurposeKey::NameSv, &old.name_sv, &new.name_sv),
        (PurposeKey::NameEn, &old.name_en, &new.name_en),
        (
            PurposeKey::DescriptionSv,
            &old.description_sv,
            &new.description_sv,
        ),
        (
            PurposeKey::DescriptionEn,
            &old.description_en,
            &new.description_en,
        ),
        (
            PurposeKey::AcknowledgementSv,
            &old.acknowledgement_sv,
            &new.acknowledgement_sv,
        ),
        (
            PurposeKey::AcknowledgementEn,
            &old.acknowledgement_en,
            &new.acknowledgement_en,
        ),
    ];
    for (key, before, after) in texts {
        if before != after {
            out.push(Difference::Text {
                key,
                before: before.clone(),
                after: after.clone(),
            });
        }
    }
    let (added, removed) = sets(&old.allowed_fields, &new.allowed_fields);
    push_list(&mut out, added, Difference::FieldsAdded);
    push_list(&mut out, removed, Difference::FieldsRemoved);
    let (added, removed) = sets(&old.required_consents, &new.required_consents);
    push_list(&mut out, added, Difference::ConsentsAdded);
    push_list(&mut out, removed, Difference::ConsentsRemoved);
    let numbers = [
        (PurposeKey::MaxRows, old.max_rows, new.max_rows),
        (
            PurposeKey::MaxLifetimeMinutes,
            u64::from(old.max_lifetime_minutes),
            u64::from(new.max_lifetime_minutes),
        ),
        (
            PurposeKey::AutoMaxRows,
            old.approval.auto_max_rows,
            new.approval.auto_max_rows,
        ),
        (
            PurposeKey::TwoApproversMinRows,
            old.approval.two_approvers_min_rows,
            new.approval.two_approvers_min_rows,
        ),
        (
            PurposeKey::SensitiveApprovers,
            u64::from(old.approval.sensitive_approvers),
            u64::from(new.approval.sensitive_approvers),
        ),
    ];
    for (key, before, after) in numbers {
        if before != after {
            out.push(Difference::Number { key, before, after });
        }
    }
    let (added, removed) = sets(&old.formats, &new.formats);
    push_list(&mut out, added, Difference::FormatsAdded);
    push_list(&mut out, removed, Difference::FormatsRemoved);
    let dates = [
        (PurposeKey::ValidFrom, old.valid_from, new.valid_from),
        (PurposeKey::ValidTo, old.valid_to, new.valid_to),
    ];
    for (key, before, after) in dates {
        if before != after {
            out.push(Difference::Date { key, before, after });
        }
    }
    if old.phishing_resistant != new.phishing_resistant {
        out.push(Difference::PhishingResistant(new.phishing_resistant));
    }
    if old.approver_justification != new.approver_justification {
        out.push(Difference::ApproverJustification(
            new.approver_justification,
        ));
    }
    let ids = |list: &[crate::policy::ProcessorId], other: &[crate::policy::ProcessorId]| {
        list.iter()
            .filter(|id| !other.contains(id))
            .map(|id| id.as_str().to_owned())
            .collect::<Vec<String>>()
    };
    let added = ids(&new.processors, &old.processors);
    let removed = ids(&old.processors, &new.processors);
    if !added.is_empty() {
        out.push(Difference::ProcessorsAdded(added));
    }
    if !removed.is_empty() {
        out.push(Difference::ProcessorsRemoved(removed));
    }
    if old.do_not_call_to != new.do_not_call_to {
        let id = |p: &Option<crate::policy::ProcessorId>| p.as_ref().map(|p| p.as_str().to_owned());
        out.push(Difference::DoNotCallTo {
            before: id(&old.do_not_call_to),
            after: id(&new.do_not_call_to),
        });
    }
    out
}

/// Processor ids in the purposes' differences replaced by the processors' names (an added
/// one as the new catalogue names it, a removed one as the old did).
fn name_processors(
    purposes: &mut [PurposeChange],
    old: &[crate::policy::Processor],
    new: &[crate::policy::Processor],
) {
    let named = |id: &mut String, from: &[crate::policy::Processor]| {
        if let Some(p) = from.iter().find(|p| p.id.as_str() == id.as_str()) {
            *id = p.name.clone();
        }
    };
    for change in purposes {
        if let PurposeChange::Changed { differences, .. } = change {
            for d in differences {
                match d {
                    Difference::ProcessorsAdded(list) => {
                        list.iter_mut().for_each(|id| named(id, new))
                    }
                    Difference::ProcessorsRemoved(list) => {
                        list.iter_mut().for_each(|id| named(id, old))
                    }
                    Difference::DoNotCallTo { before, after } => {
                        before.iter_mut().for_each(|id| named(id, old));
                        after.iter_mut().for_each(|id| named(id, new));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The `[[processor]]` entries added, changed (any key) and removed, in that order.
fn processor_changes(
    old: &[crate::policy::Processor],
    new: &[crate::policy::Processor],
) -> Vec<ProcessorChange> {
    let mut out = Vec::new();
    for p in new {
        match old.iter().find(|o| o.id == p.id) {
            None => out.push(ProcessorChange::Added(p.clone())),
            Some(o) if o != p => out.push(ProcessorChange::Changed(p.clone())),
            Some(_) => {}
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|p| p.id == o.id)) {
        out.push(ProcessorChange::Removed(o.clone()));
    }
    out
}

/// What `new` has that `old` lacks, and the other way round, each in its list's order.
fn sets<T: PartialEq + Copy>(old: &[T], new: &[T]) -> (Vec<T>, Vec<T>) {
    let added = new.iter().filter(|x| !old.contains(x)).copied().collect();
    let removed = old.iter().filter(|x| !new.contains(x)).copied().collect();
    (added, removed)
}

fn push_list<T>(out: &mut Vec<Difference>, list: Vec<T>, make: fn(Vec<T>) -> Difference) {
    if !list.is_empty() {
        out.push(make(list));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../policies/purposes.toml");

    #[test]
    fn a_processor_change_is_said_and_never_passes_as_unsaid() {
        let after = SHIPPED.replacen(
            "agreement_ends = 2027-12-31",
            "agreement_ends = 2028-06-30",
            1,
        );
        let found = catalogue_changes(SHIPPED, &after);
        assert!(!found.unsaid && found.purposes.is_empty(), "{found:?}");
        let [ProcessorChange::Changed(p)] = found.processors.as_slice() else {
            panic!("{found:?}")
        };
        assert_eq!(p.agreement_ends.to_string(), "2028-06-30");
        let dropped = SHIPPED.replacen(
            "formats = [] # hand-over only: no file to staff\nprocessors = [\"tryckeriet-norr\"]",
            "formats = [\"csv\"]",
            1,
        );
        let found = catalogue_changes(SHIPPED, &dropped);
        let [PurposeChange::Changed { differences, .. }] = found.purposes.as_slice() else {
            panic!("{found:?}")
        };
        assert!(
            differences.contains(&Difference::ProcessorsRemoved(vec![
                "Tryckeriet i Norr AB".into()
            ])),
            "{differences:?}"
        );
    }

    #[test]
    fn a_lower_limit_is_one_number_of_one_purpose() {
        let after = SHIPPED.replacen("max_rows = 5000\n", "max_rows = 4999\n", 1);
        let found = catalogue_changes(SHIPPED, &after);
        assert!(!found.unsaid && !found.unreadable);
        let [
            PurposeChange::Changed {
                purpose,
                differences,
            },
        ] = found.purposes.as_slice()
        else {
            panic!("{found:?}")
        };
        assert_eq!(purpose.id.as_str(), "phone-canvassing");
        assert_eq!(
            differences,
            &[Difference::Number {
                key: PurposeKey::MaxRows,
                before: 5000,
                after: 4999
            }]
        );
    }

    #[test]
    fn added_and_removed_purposes_fields_and_the_passkey_rule_are_each_named() {
        let after = SHIPPED
            .replacen("id = \"phone-canvassing\"", "id = \"phone-calls\"", 1)
            .replacen("\"birth_date\", ", "", 1)
            .replacen(
                "formats = [\"view\", \"csv\"]",
                "formats = [\"csv\", \"view\", \"xlsx\"]",
                1,
            )
            .replacen(
                "phishing_resistant_roles = []",
                "phishing_resistant_roles = [\"approver\"]",
                1,
            );
        let found = catalogue_changes(SHIPPED, &after);
        let kinds: Vec<String> = found
            .purposes
            .iter()
            .map(|c| match c {
                PurposeChange::Added(p) => format!("+{}", p.id),
                PurposeChange::Removed(p) => format!("-{}", p.id),
                PurposeChange::Changed {
                    purpose,
                    differences,
                } => format!("~{} {differences:?}", purpose.id),
            })
            .collect();
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert_eq!(kinds[0], "+phone-calls");
        assert!(kinds[1].starts_with("~election-worker-recruitment"));
        assert!(kinds[1].contains("FieldsRemoved([BirthDate])"), "{kinds:?}");
        assert!(kinds[1].contains("FormatsAdded([Xlsx])"), "{kinds:?}");
        assert_eq!(kinds[2], "-phone-canvassing");
        let roles = found.passkey_roles.unwrap_or_default();
        assert!(roles.0.is_empty() && roles.1.contains(&Role::Approver));
        assert_eq!(found.passkey_party_wide, None);
    }

    #[test]
    fn a_change_of_comments_only_is_reported_as_unsaid() {
        let after = SHIPPED.replacen("# 7 days", "# a week", 1);
        let found = catalogue_changes(SHIPPED, &after);
        assert!(found.purposes.is_empty() && found.unsaid);
        assert_eq!(
            catalogue_changes(SHIPPED, SHIPPED),
            CatalogueChanges::default()
        );
    }

    #[test]
    fn a_reordered_list_is_no_change() {
        let after = SHIPPED.replacen(
            "formats = [\"view\", \"csv\", \"xlsx\"]",
            "formats = [\"xlsx\", \"csv\", \"view\"]",
            1,
        );
        assert_ne!(after, SHIPPED);
        let found = catalogue_changes(SHIPPED, &after);
        assert!(found.purposes.is_empty() && found.unsaid, "{found:?}");
    }
}
