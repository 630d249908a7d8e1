//! The purpose form's values — kept as typed, so a refused form comes back as it was sent —
//! and the page that shows them.
//!
//! Guarantees: a number that is not a whole number is told beside its field, never guessed;
//! everything else is handed to the catalogue check unchanged (a lifetime too long is the
//! check's to refuse, not clamped here).

use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Serialize;
use time::OffsetDateTime;

use super::Problems;
use crate::auth::session::Session;
use crate::nouns::{CallOutcome, Field, Sensitivity};
use crate::policy::{Format, Purpose, PurposeDraft, PurposeId, PurposeKey};
use crate::web::AppState;
use crate::web::frame;
use crate::web::i18n::Lang;
use crate::web::labels::{self, pick};
use crate::web::page::render;

/// The units a lifetime is given in, with their minutes, largest first.
const UNITS: [(&str, u32); 3] = [("days", 24 * 60), ("hours", 60), ("minutes", 1)];

/// The consent flags a purpose may require (`docs/policy.md`).
const CONSENTS: [Field; 4] = [
    Field::ConsentEmail,
    Field::ConsentPhone,
    Field::ConsentSms,
    Field::ConsentPost,
];

/// What the form holds, as typed.
#[derive(Debug, Default, Clone, Serialize)]
pub(super) struct Values {
    /// The id of the purpose being edited; empty for a new one.
    pub original: String,
    pub id: String,
    pub name_sv: String,
    pub name_en: String,
    pub description_sv: String,
    pub description_en: String,
    pub acknowledgement_sv: String,
    pub acknowledgement_en: String,
    pub allowed_fields: Vec<String>,
    pub required_consents: Vec<String>,
    pub formats: Vec<String>,
    /// Empty: every outcome, when the purpose allows a call list.
    pub call_outcomes: Vec<String>,
    pub max_rows: String,
    pub lifetime_amount: String,
    pub lifetime_unit: String,
    pub auto_max_rows: String,
    pub two_approvers_min_rows: String,
    pub sensitive_approvers: String,
    pub valid_from: String,
    pub valid_to: String,
    pub phishing_resistant: bool,
    pub approver_justification: bool,
    /// Processor ids the purpose may hand over to, kept through the form as they were
    /// (processors themselves are `[[processor]]` entries of the catalogue).
    pub processors: Vec<String>,
    /// Who receives a call list's "do not call again" members; kept through the form too.
    pub do_not_call_to: String,
    pub comment: String,
    /// The removal form's comment.
    pub remove_comment: String,
}

impl Values {
    /// A new purpose's starting point: safe limits an administrator adjusts — every request
    /// needs an approver, two above 500 members or for a sensitive field, a day's lifetime.
    pub fn fresh() -> Values {
        Values {
            max_rows: "1000".into(),
            lifetime_amount: "1".into(),
            lifetime_unit: "days".into(),
            auto_max_rows: "0".into(),
            two_approvers_min_rows: "500".into(),
            sensitive_approvers: "2".into(),
            formats: vec!["csv".into()],
            ..Values::default()
        }
    }

    /// The purpose `p` as it is in force.
    pub fn of(p: &Purpose) -> Values {
        let draft = PurposeDraft::from(p);
        let minutes = draft.max_lifetime_minutes;
        let (unit, per) = UNITS
            .into_iter()
            .find(|(_, per)| minutes % per == 0)
            .unwrap_or(("minutes", 1));
        Values {
            original: draft.id.clone(),
            id: draft.id,
            name_sv: draft.name_sv,
            name_en: draft.name_en,
            description_sv: draft.description_sv,
            description_en: draft.description_en,
            acknowledgement_sv: draft.acknowledgement_sv,
            acknowledgement_en: draft.acknowledgement_en,
            allowed_fields: draft.allowed_fields,
            required_consents: draft.required_consents,
            formats: draft.formats,
            call_outcomes: draft.call_outcomes,
            max_rows: draft.max_rows.to_string(),
            lifetime_amount: (minutes / per).to_string(),
            lifetime_unit: unit.into(),
            auto_max_rows: draft.auto_max_rows.to_string(),
            two_approvers_min_rows: draft.two_approvers_min_rows.to_string(),
            sensitive_approvers: draft.sensitive_approvers.to_string(),
            valid_from: draft.valid_from,
            valid_to: draft.valid_to,
            phishing_resistant: draft.phishing_resistant,
            approver_justification: draft.approver_justification,
            processors: draft.processors,
            do_not_call_to: draft.do_not_call_to.unwrap_or_default(),
            comment: String::new(),
            remove_comment: String::new(),
        }
    }

    /// The posted pairs (checkbox groups repeat their name).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Values {
        let mut v = Values::default();
        for (key, value) in pairs {
            match key.as_str() {
                "original" => v.original = value,
                "id" => v.id = value,
                "name_sv" => v.name_sv = value,
                "name_en" => v.name_en = value,
                "description_sv" => v.description_sv = value,
                "description_en" => v.description_en = value,
                "acknowledgement_sv" => v.acknowledgement_sv = value,
                "acknowledgement_en" => v.acknowledgement_en = value,
                "allowed_fields" => v.allowed_fields.push(value),
                "required_consents" => v.required_consents.push(value),
                "formats" => v.formats.push(value),
                "call_outcomes" => v.call_outcomes.push(value),
                "max_rows" => v.max_rows = value,
                "lifetime_amount" => v.lifetime_amount = value,
                "lifetime_unit" => v.lifetime_unit = value,
                "auto_max_rows" => v.auto_max_rows = value,
                "two_approvers_min_rows" => v.two_approvers_min_rows = value,
                "sensitive_approvers" => v.sensitive_approvers = value,
                "valid_from" => v.valid_from = value,
                "valid_to" => v.valid_to = value,
                "phishing_resistant" => v.phishing_resistant = !value.is_empty(),
                "approver_justification" => v.approver_justification = !value.is_empty(),
                "processors" => v.processors.push(value),
                "do_not_call_to" => v.do_not_call_to = value,
                "comment" => v.comment = value,
                _ => {}
            }
        }
        // Browsers send CR LF in a textarea; the catalogue keeps LF.
        for text in [
            &mut v.description_sv,
            &mut v.description_en,
            &mut v.acknowledgement_sv,
            &mut v.acknowledgement_en,
            &mut v.comment,
        ] {
            *text = text.replace("\r\n", "\n");
        }
        v
    }

    /// The purpose being edited (`None` for a new one).
    pub fn edited(&self) -> Option<PurposeId> {
        PurposeId::parse(self.original.trim()).ok()
    }

    /// The draft the catalogue check reads, or the numbers that are not whole numbers (each
    /// with the catalogue key of its sentence).
    pub fn draft(&self) -> Result<PurposeDraft, Vec<(PurposeKey, &'static str)>> {
        let mut wrong = Vec::new();
        let mut number = |key: PurposeKey, typed: &str| -> u64 {
            let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
            if digits.is_empty() {
                wrong.push((key, "purpose_form.required_number"));
                return 0;
            }
            match digits.parse::<u64>() {
                Ok(n) => n,
                Err(_) if digits.chars().all(|c| c.is_ascii_digit()) => u64::MAX,
                Err(_) => {
                    wrong.push((key, "purpose_form.not_a_number"));
                    0
                }
            }
        };
        let max_rows = number(PurposeKey::MaxRows, &self.max_rows);
        let amount = number(PurposeKey::MaxLifetimeMinutes, &self.lifetime_amount);
        let auto_max_rows = number(PurposeKey::AutoMaxRows, &self.auto_max_rows);
        let two = number(
            PurposeKey::TwoApproversMinRows,
            &self.two_approvers_min_rows,
        );
        let sensitive = number(PurposeKey::SensitiveApprovers, &self.sensitive_approvers);
        if !wrong.is_empty() {
            return Err(wrong);
        }
        let per = UNITS
            .into_iter()
            .find(|(unit, _)| *unit == self.lifetime_unit)
            .map_or(1, |(_, per)| per);
        // Too long is the catalogue check's to refuse, with its sentence: never clamped.
        let minutes = amount.saturating_mul(u64::from(per));
        let id = if self.original.is_empty() {
            self.id.trim()
        } else {
            self.original.trim()
        };
        Ok(PurposeDraft {
            id: id.to_owned(),
            name_sv: self.name_sv.trim().to_owned(),
            name_en: self.name_en.trim().to_owned(),
            description_sv: self.description_sv.trim().to_owned(),
            description_en: self.description_en.trim().to_owned(),
            allowed_fields: self.allowed_fields.clone(),
            required_consents: self.required_consents.clone(),
            max_rows,
            max_lifetime_minutes: u32::try_from(minutes).unwrap_or(u32::MAX),
            formats: self.formats.clone(),
            // Every outcome ticked is the same as none: the default, not written out.
            call_outcomes: if self.call_outcomes.len() == CallOutcome::ALL.len() {
                Vec::new()
            } else {
                self.call_outcomes.clone()
            },
            acknowledgement_sv: self.acknowledgement_sv.trim().to_owned(),
            acknowledgement_en: self.acknowledgement_en.trim().to_owned(),
            valid_from: self.valid_from.trim().to_owned(),
            valid_to: self.valid_to.trim().to_owned(),
            phishing_resistant: self.phishing_resistant,
            approver_justification: self.approver_justification,
            processors: self.processors.clone(),
            do_not_call_to: Some(self.do_not_call_to.trim().to_owned()).filter(|s| !s.is_empty()),
            auto_max_rows,
            two_approvers_min_rows: two,
            sensitive_approvers: u8::try_from(sensitive).unwrap_or(u8::MAX),
        })
    }
}

/// The form with `values` and `problems`, with `status`.
pub(super) fn form_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    values: &Values,
    problems: Problems,
) -> Response {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let fresh = session.has_fresh_second_factor(now, state.config.sessions.step_up_max_age_secs);
    let ctx = page_context(frame::lang(), &session.csrf_token, fresh, values, problems);
    render(state, status, "admin_purpose.html", ctx)
}

/// What `admin_purpose.html` shows: the values, every choice with its label, the problems.
fn page_context(
    lang: Lang,
    csrf: &str,
    fresh: bool,
    values: &Values,
    problems: Problems,
) -> minijinja::Value {
    let t = |key: &str| crate::web::i18n::text(lang, key);
    let checked = |list: &[String], name: &str| list.iter().any(|v| v == name);
    let fields: Vec<_> = Field::ALL
        .iter()
        .map(|f| {
            let name = f.as_str();
            context! {
                name, label => labels::field(lang, name), checked => checked(&values.allowed_fields, name),
                sensitive => f.sensitivity() == Sensitivity::Sensitive,
            }
        })
        .collect();
    let consents: Vec<_> = CONSENTS
        .iter()
        .map(|f| {
            let name = f.as_str();
            context! { name, label => labels::field(lang, name), checked => checked(&values.required_consents, name) }
        })
        .collect();
    let formats: Vec<_> = Format::ALL
        .iter()
        .map(|f| {
            let name = f.as_str();
            let label = t(&format!("purpose_form.format_{name}"));
            context! { name, label, checked => checked(&values.formats, name) }
        })
        .collect();
    // No box ticked means every outcome (the catalogue's default): all are shown ticked.
    let outcomes: Vec<_> = CallOutcome::ALL
        .iter()
        .map(|o| {
            let name = o.as_str();
            let label = t(&format!("call_outcome.{name}"));
            let ticked = values.call_outcomes.is_empty() || checked(&values.call_outcomes, name);
            context! { name, label, checked => ticked }
        })
        .collect();
    let units: Vec<_> = UNITS
        .iter()
        .map(|(unit, _)| context! { value => unit, label => t(&format!("purpose_form.unit_{unit}")) })
        .collect();
    let editing = !values.original.is_empty();
    let name = Some(pick(lang, &values.name_sv, &values.name_en))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| values.original.clone());
    // Where the step-up page sends the administrator back to (an id is a slug: no escaping).
    let here = values.edited().map_or_else(
        || "/admin/purposes/new".to_owned(),
        |id| format!("/admin/purposes/{id}"),
    );
    context! {
        csrf, values, editing, name, fields, consents, formats, outcomes, units, fresh, here,
        errors => problems.fields, error => problems.summary, removal_error => problems.removal,
    }
}

#[cfg(test)]
mod tests;
