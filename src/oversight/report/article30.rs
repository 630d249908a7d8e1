//! The record of processing (GDPR Art. 30(1)): a summary of every purpose in the policy in
//! force — its names and description, the categories of personal data it may take (the fields
//! grouped by sensitivity), who may request and who approves, how long a list may live
//! (retention), which consents it requires and when it needs approvers — and the recipients
//! outside the party (Art. 30(1)(d)): the processors a purpose may hand a list over to, with
//! their data-processing agreement and its last day.
//!
//! Generated from `crate::policy` only, so the record says what the broker enforces: a purpose
//! added or changed in the catalogue appears here with the next report.

use std::collections::BTreeMap;

use serde_json::json;
use time::OffsetDateTime;

use super::Error;
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::nouns::Sensitivity;
use crate::policy::Reach;
use crate::policy::{Policy, Principal, Purpose};
use crate::store::Store;

/// The data subjects and the special category, the same for every purpose.
pub const DATA_SUBJECTS: &str = "Members of the party in its membership register. Membership \
    reveals a political opinion: special category data, GDPR Art. 9(2)(d).";

/// One category of data a purpose may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// `identity`, `contact`, `address`, `sensitive` or `flag`.
    pub sensitivity: Sensitivity,
    pub fields: Vec<String>,
}

/// One purpose as the record of processing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub name_sv: String,
    pub name_en: String,
    pub description_sv: String,
    pub description_en: String,
    pub categories: Vec<Category>,
    /// Roles that may request (the permission table's `extract.request`).
    pub requested_by: Vec<String>,
    /// Roles that approve (`extract.approve`), in the request's district or party-wide.
    pub approved_by: Vec<String>,
    /// The longest an extract may live before it is crypto-shredded, in minutes.
    pub retention_minutes: u32,
    /// Consent flags a member must have given to be included.
    pub required_consents: Vec<String>,
    pub max_rows: u64,
    pub formats: Vec<String>,
    /// The approval rule in one sentence.
    pub approval_rule: String,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    /// Processors the purpose may hand an extract over to, and the recipient of a call list's
    /// "do not call again" members (recipients, Art. 30(1)(d)).
    pub recipients: Vec<Recipient>,
}

/// A processor a purpose may hand an extract over to, as the record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub id: String,
    pub name: String,
    /// The data-processing agreement's reference.
    pub agreement_ref: String,
    /// The agreement's last day, `YYYY-MM-DD`.
    pub agreement_ends: String,
}

/// The whole summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article30 {
    /// The stored policy version, `None` for the base policy.
    pub policy_version: Option<i64>,
    pub data_subjects: &'static str,
    pub purposes: Vec<Entry>,
}

/// The summary of every purpose in `policy`.
pub fn summarise(policy: &Policy, policy_version: Option<i64>) -> Article30 {
    let roles_with = |action: crate::policy::Action| -> Vec<String> {
        let mut roles: Vec<String> = policy
            .permissions()
            .iter()
            .filter(|p| p.action == action)
            .map(|p| p.role.as_str().to_owned())
            .collect();
        roles.sort();
        roles.dedup();
        roles
    };
    let requested_by = roles_with(crate::policy::Action::ExtractRequest);
    let approved_by = roles_with(crate::policy::Action::ExtractApprove);
    let purposes = policy
        .purposes()
        .iter()
        .map(|p| entry(policy, p, &requested_by, &approved_by))
        .collect();
    Article30 {
        policy_version,
        data_subjects: DATA_SUBJECTS,
        purposes,
    }
}

fn entry(policy: &Policy, p: &Purpose, requested_by: &[String], approved_by: &[String]) -> Entry {
    let mut grouped: BTreeMap<Sensitivity, Vec<String>> = BTreeMap::new();
    for field in &p.allowed_fields {
        grouped
            .entry(field.sensitivity())
            .or_default()
            .push(field.as_str().to_owned());
    }
    Entry {
        id: p.id.as_str().to_owned(),
        name_sv: p.name_sv.clone(),
        name_en: p.name_en.clone(),
        description_sv: p.description_sv.clone(),
        description_en: p.description_en.clone(),
        categories: grouped
            .into_iter()
            .map(|(sensitivity, fields)| Category {
                sensitivity,
                fields,
            })
            .collect(),
        requested_by: requested_by.to_vec(),
        approved_by: approved_by.to_vec(),
        retention_minutes: p.max_lifetime_minutes,
        required_consents: p
            .required_consents
            .iter()
            .map(|c| c.field().as_str().to_owned())
            .collect(),
        max_rows: p.max_rows,
        formats: p.formats.iter().map(|f| f.as_str().to_owned()).collect(),
        approval_rule: approval_rule(p),
        valid_from: p.valid_from.map(|d| d.to_string()),
        valid_to: p.valid_to.map(|d| d.to_string()),
        recipients: p
            .processors
            .iter()
            .chain(
                p.do_not_call_to
                    .iter()
                    .filter(|to| !p.processors.contains(to)),
            )
            .filter_map(|id| policy.processor(id))
            .map(|r| Recipient {
                id: r.id.as_str().to_owned(),
                name: r.name.clone(),
                agreement_ref: r.agreement_ref.clone(),
                agreement_ends: r.agreement_ends.to_string(),
            })
            .collect(),
    }
}

/// The purpose's approval rule as a sentence.
pub fn approval_rule(p: &Purpose) -> String {
    let a = &p.approval;
    let auto = if a.auto_max_rows == 0 {
        "Every request needs an approver".to_owned()
    } else {
        format!(
            "Allowed without approval up to {} members when no sensitive field is asked for; \
             above that one approver",
            a.auto_max_rows
        )
    };
    format!(
        "{auto}; two approvers from {} members; {} whenever a sensitive field is asked for.",
        a.two_approvers_min_rows,
        match a.sensitive_approvers {
            1 => "one approver".to_owned(),
            n => format!("{n} approvers"),
        }
    )
}

/// The summary of the policy in force, for an auditor anywhere; audited as `report.article30`.
pub async fn for_auditor(
    state: &Context,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Article30, Error> {
    let scope = super::audit_scope(state, who).await?;
    let current = state.policy.current(&state.store).await?;
    let summary = summarise(&current.policy, current.version);
    record(
        &state.store,
        Actor::user(who.user_id()),
        &summary,
        &scope,
        now,
    )
    .await?;
    Ok(summary)
}

/// Records that the summary was made.
pub async fn record(
    store: &Store,
    actor: Actor,
    summary: &Article30,
    scope: &Reach,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let event = Event::new(
        EventKind::ReportArticle30,
        actor,
        "report:article30",
        Outcome::Success,
        json!({
            "policy_version": summary.policy_version,
            "purposes": summary.purposes.len(),
            "scope": scope.names(),
        }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(())
}

/// The header of [`rows`].
pub const CSV_HEADER: [&str; 13] = [
    "purpose",
    "name_sv",
    "name_en",
    "description_en",
    "categories",
    "requested_by",
    "approved_by",
    "retention_minutes",
    "required_consents",
    "max_rows",
    "formats",
    "approval_rule",
    "recipients",
];

/// One row per purpose; categories as `identity: first_name, last_name | contact: email`.
pub fn rows(summary: &Article30) -> Vec<Vec<String>> {
    summary
        .purposes
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.name_sv.clone(),
                e.name_en.clone(),
                e.description_en.clone(),
                categories_text(&e.categories),
                e.requested_by.join(", "),
                e.approved_by.join(", "),
                e.retention_minutes.to_string(),
                e.required_consents.join(", "),
                e.max_rows.to_string(),
                e.formats.join(", "),
                e.approval_rule.clone(),
                recipients_text(&e.recipients),
            ]
        })
        .collect()
}

/// `identity: first_name, last_name | contact: email`.
pub fn categories_text(categories: &[Category]) -> String {
    categories
        .iter()
        .map(|c| format!("{}: {}", c.sensitivity, c.fields.join(", ")))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `Tryckeriet AB (agreement PUB-2026-03, until 2027-12-31); …`, or empty.
pub fn recipients_text(recipients: &[Recipient]) -> String {
    recipients
        .iter()
        .map(|r| {
            format!(
                "{} (agreement {}, until {})",
                r.name, r.agreement_ref, r.agreement_ends
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Texts;

    #[tokio::test]
    async fn every_shipped_purpose_is_summarised_with_its_fields_grouped_by_sensitivity() {
        let texts = Texts::shipped();
        let policy = Policy::from_parts(&texts.model, &texts.permissions, &texts.purposes)
            .await
            .unwrap();
        let summary = summarise(&policy, None);
        assert_eq!(summary.purposes.len(), policy.purposes().len());
        for (entry, purpose) in summary.purposes.iter().zip(policy.purposes()) {
            assert_eq!(entry.id, purpose.id.as_str());
            let listed: usize = entry.categories.iter().map(|c| c.fields.len()).sum();
            assert_eq!(listed, purpose.allowed_fields.len());
            assert_eq!(entry.retention_minutes, purpose.max_lifetime_minutes);
            assert_eq!(entry.requested_by, ["staff"]);
            assert_eq!(entry.approved_by, ["approver"]);
        }
        let recruit = summary
            .purposes
            .iter()
            .find(|e| e.id == "election-worker-recruitment")
            .unwrap();
        assert!(
            recruit
                .categories
                .iter()
                .any(|c| c.sensitivity == Sensitivity::Sensitive && c.fields == ["birth_date"])
        );
        assert!(
            recruit
                .approval_rule
                .starts_with("Every request needs an approver")
        );
        assert!(recruit.recipients.is_empty());
    }

    #[tokio::test]
    async fn a_purpose_that_hands_over_names_the_processor_and_its_agreement() {
        let texts = Texts::shipped();
        let policy = Policy::from_parts(&texts.model, &texts.permissions, &texts.purposes)
            .await
            .unwrap();
        let summary = summarise(&policy, None);
        let printer = policy
            .processors()
            .first()
            .expect("the shipped catalogue has a printer");
        let handing_over: Vec<&Entry> = summary
            .purposes
            .iter()
            .filter(|e| e.recipients.iter().any(|r| r.id == printer.id.as_str()))
            .collect();
        assert!(!handing_over.is_empty());
        // The call-list purpose names the register office that gets "do not call again".
        let calls = summary
            .purposes
            .iter()
            .find(|e| e.id == "member-calls")
            .unwrap();
        let names: Vec<&str> = calls.recipients.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(names, ["medlemsregistret"]);
        for e in handing_over {
            let r = &e.recipients[0];
            assert_eq!(r.name, printer.name);
            assert_eq!(r.agreement_ref, printer.agreement_ref);
            assert_eq!(r.agreement_ends, printer.agreement_ends.to_string());
            let row = rows(&summary)
                .into_iter()
                .find(|row| row[0] == e.id)
                .unwrap();
            assert!(row[12].contains(&printer.agreement_ref), "{row:?}");
        }
    }
}
