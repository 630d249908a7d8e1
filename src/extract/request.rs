//! Asking for an extract: the request as a validated value, the count before asking, and
//! storing the request with the policy's answer.
//!
//! Guarantees: a request is parsed completely before anything is read (unknown field names,
//! bad dates, a missing acknowledgement, a short justification: one clear error each); the
//! estimate and the policy see the count the register gives *now*, never a number from the
//! client; a denial is an audit event with the requested scope (C2, C3); a lifetime over the
//! purpose's maximum is refused, never shortened (C4). The request hash covers every part of
//! the request — filters and justification included — and the requester.

use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use super::{Error, ExtractId, ExtractState, lifecycle};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::nouns::{DistrictCode, Field};
use crate::policy::{
    Decision, DenyCode, ExtractRequest, Principal, ProcessorId, Purpose, PurposeId,
};
use crate::register::{AgeBand, Counts, Filter, ProtectedIdentity};
use crate::store::extracts::{self as rows, NewExtract};

/// Which members, beyond the district: every list ANDed, values within a list ORed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub local_branches: Vec<String>,
    pub statuses: Vec<String>,
    pub joined_from: Option<Date>,
    pub joined_to: Option<Date>,
    pub age: Option<AgeBand>,
}

impl Filters {
    /// Every member of the district: no branch, joining date or age, and no status filter
    /// narrower than the statuses that count as members (`member_statuses`; what a request
    /// that names none gets).
    pub fn is_whole_district(&self, member_statuses: &[String]) -> bool {
        self.local_branches.is_empty()
            && self.joined_from.is_none()
            && self.joined_to.is_none()
            && self.age.is_none()
            && (self.statuses.is_empty()
                || member_statuses.iter().all(|m| self.statuses.contains(m)))
    }
}

/// What staff ask for, parsed (the wire form is in `web::api::extracts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub purpose: PurposeId,
    pub district: DistrictCode,
    pub filters: Filters,
    pub fields: Vec<Field>,
    pub lifetime_minutes: u32,
    pub justification: String,
    /// Worked in Registervakt as a call list instead of delivered as a file or a view
    /// (`call_list` in the purpose's formats); a call list is never a file.
    pub call_list: bool,
    /// The registered processor the extract is handed over to instead of to the requester
    /// (`extract::handover`); `None` for an extract the requester receives.
    pub processor: Option<ProcessorId>,
    /// The call list whose "do not call again" members this extract holds, handed over to the
    /// purpose's `do_not_call_to` (`extract::calls::do_not_call`); `None` for every request a
    /// person makes.
    pub from_call_list: Option<super::ExtractId>,
}

impl Request {
    /// The register filter for this request under `purpose` (its consents are required).
    pub fn filter(&self, purpose_consents: &[crate::nouns::ConsentFlag]) -> Filter {
        Filter {
            district: self.district.clone(),
            local_branches: self.filters.local_branches.clone(),
            statuses: self.filters.statuses.clone(),
            joined_from: self.filters.joined_from,
            joined_to: self.filters.joined_to,
            age: self.filters.age,
            require_consent: purpose_consents.to_vec(),
        }
    }

    /// What the policy decides on.
    pub fn policy_request(&self, estimated_rows: u64) -> ExtractRequest {
        ExtractRequest {
            purpose: self.purpose.clone(),
            district: self.district.clone(),
            fields: self.fields.clone(),
            lifetime_minutes: self.lifetime_minutes,
            estimated_rows,
        }
    }

    /// The canonical JSON stored with the extract (keys sorted; see `to_json`/`from_json`).
    /// `call_list` is written only when true, so a file request reads and hashes as before.
    pub fn to_json(&self) -> Value {
        let date = |d: Option<Date>| d.map(|d| d.to_string());
        let mut v = json!({
            "purpose": self.purpose.as_str(),
            "district": self.district.as_str(),
            "fields": self.fields.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            "lifetime_minutes": self.lifetime_minutes,
            "justification": self.justification,
            "filters": {
                "local_branches": self.filters.local_branches,
                "statuses": self.filters.statuses,
                "joined_from": date(self.filters.joined_from),
                "joined_to": date(self.filters.joined_to),
                "age_min": self.filters.age.map(|a| a.min),
                "age_max": self.filters.age.map(|a| a.max),
            },
        });
        if self.call_list {
            v["call_list"] = json!(true);
        }
        // Only a hand-over names a processor, so every other request keeps the JSON (and
        // the hash an approver approved) it had before processors existed.
        if let Some(p) = &self.processor {
            v["processor"] = json!(p.as_str());
        }
        if let Some(list) = &self.from_call_list {
            v["from_call_list"] = json!(list.as_str());
        }
        v
    }

    /// Refuses a request the purpose does not allow delivered so: a call list where the purpose
    /// allows none, a file or view where it allows only a call list, or a call list handed
    /// over to a processor (a call list never leaves Registervakt).
    pub fn check_delivery(&self, purpose: &Purpose) -> Result<(), Error> {
        let call_list = purpose.formats.contains(&crate::policy::Format::CallList);
        let other = purpose
            .formats
            .iter()
            .any(|f| *f != crate::policy::Format::CallList);
        if self.call_list && self.processor.is_some() {
            return Err(Error::BadInput(
                "a call list is worked in Registervakt and never handed over to a processor".into(),
            ));
        }
        match (self.call_list, call_list, other) {
            (true, false, _) => Err(Error::FormatNotAllowed("call_list".into())),
            (false, true, false) => Err(Error::CallListOnly),
            _ => Ok(()),
        }
    }

    /// Reads back what [`Request::to_json`] stored.
    pub fn from_json(text: &str) -> Result<Request, Error> {
        let damaged = || Error::Damaged("a stored request cannot be read");
        let v: Value = serde_json::from_str(text).map_err(|_| damaged())?;
        let s = |v: &Value| v.as_str().map(str::to_owned).ok_or_else(damaged);
        let list = |v: &Value| -> Result<Vec<String>, Error> {
            v.as_array().ok_or_else(damaged)?.iter().map(s).collect()
        };
        let f = &v["filters"];
        let date = |v: &Value| -> Result<Option<Date>, Error> {
            match v.as_str() {
                None => Ok(None),
                Some(d) => parse_date(d).map(Some).map_err(|_| damaged()),
            }
        };
        let age = match (f["age_min"].as_u64(), f["age_max"].as_u64()) {
            (Some(min), Some(max)) => Some(age_band(min, max).map_err(|_| damaged())?),
            _ => None,
        };
        let fields = list(&v["fields"])?
            .iter()
            .map(|n| n.parse::<Field>().map_err(|_| damaged()))
            .collect::<Result<_, _>>()?;
        Ok(Request {
            purpose: PurposeId::parse(&s(&v["purpose"])?).map_err(|_| damaged())?,
            district: DistrictCode::parse(&s(&v["district"])?).map_err(|_| damaged())?,
            filters: Filters {
                local_branches: list(&f["local_branches"])?,
                statuses: list(&f["statuses"])?,
                joined_from: date(&f["joined_from"])?,
                joined_to: date(&f["joined_to"])?,
                age,
            },
            fields,
            lifetime_minutes: v["lifetime_minutes"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(damaged)?,
            justification: s(&v["justification"])?,
            call_list: v["call_list"].as_bool().unwrap_or(false),
            processor: match v.get("processor") {
                None | Some(Value::Null) => None,
                Some(p) => Some(ProcessorId::parse(&s(p)?).map_err(|_| damaged())?),
            },
            from_call_list: match v.get("from_call_list") {
                None | Some(Value::Null) => None,
                Some(l) => Some(super::ExtractId::parse(&s(l)?).map_err(|_| damaged())?),
            },
        })
    }

    /// SHA-256 over a version tag, the requester and the canonical request: what an approver
    /// approves. Any change to any part, or another requester, is another hash.
    pub fn hash(&self, requester_id: &str) -> String {
        let mut bytes = b"registervakt.extract.v1\0".to_vec();
        bytes.extend_from_slice(requester_id.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(self.to_json().to_string().as_bytes());
        crate::crypto::sha256_hex(&bytes)
    }
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, Error> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, format)
        .map_err(|_| Error::BadInput(format!("{s:?} is not a date; write it as YYYY-MM-DD")))
}

pub fn age_band(min: u64, max: u64) -> Result<AgeBand, Error> {
    let byte = |n: u64| u8::try_from(n).map_err(|_| Error::BadInput("ages are 0 to 130".into()));
    AgeBand::new(byte(min)?, byte(max)?).map_err(|e| Error::BadInput(e.to_string()))
}

/// A justification, trimmed, if [`super::JUSTIFICATION`] takes it.
pub fn check_justification(text: &str) -> Result<String, Error> {
    let rule = super::JUSTIFICATION;
    match rule.check(text) {
        Ok(text) => Ok(text.to_owned()),
        Err(crate::text::Refused::Length { min, max }) => {
            Err(Error::JustificationLength { min, max })
        }
        Err(why) => Err(Error::TextRefused {
            what: "justification",
            why,
        }),
    }
}

/// How the estimate splits up, and the purpose it was made for.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub counts: Counts,
}

/// Counts the members a request would hold: a number, never rows. Needs the policy to let the
/// user request in the district; audited with the scope.
pub async fn estimate(
    state: &Context,
    who: &Principal,
    request: &Request,
    now: OffsetDateTime,
) -> Result<Estimate, Error> {
    let policy = lifecycle::policy_now(state).await?;
    let purpose = known_purpose(&policy, &request.purpose)?;
    let (request, counts) = prepare(state, request.clone(), purpose, now).await?;
    let request = &request;
    let permitted = policy
        .permits(
            who,
            crate::policy::Action::ExtractRequest,
            &request.district,
        )
        .await;
    let actor = Actor::user(who.user_id());
    if let Err(e) = permitted {
        let reason = format!(
            "your roles do not allow requesting member lists in {}",
            request.district
        );
        let event = scope_event(
            EventKind::ExtractEstimated,
            &actor,
            request,
            Outcome::Denied,
        )
        .with_detail("code", e.deny_code().as_str());
        audit::record_now(&state.store, &event, now).await?;
        return Err(Error::Denied {
            code: e.deny_code(),
            reason,
        });
    }
    let event = scope_event(
        EventKind::ExtractEstimated,
        &actor,
        request,
        Outcome::Success,
    )
    .with_detail("included", counts.included);
    audit::record_now(&state.store, &event, now).await?;
    Ok(Estimate { counts })
}

/// The request as it is counted, decided and stored, with its counts for `purpose`: its
/// district and every chosen local branch and status are the register's (a misspelling is
/// named, not turned into an empty list or a "not permitted"), and a request that names no
/// status gets the statuses that count as members (`register.statuses.members`), so a
/// resigned member is never in a list unless asked for. The register is asked once
/// ([`crate::register::Register::survey`]): one statement counts the filter's rows and checks
/// the district and its chosen values.
async fn prepare(
    state: &Context,
    mut request: Request,
    purpose: &Purpose,
    now: OffsetDateTime,
) -> Result<(Request, Counts), Error> {
    let register = &state.register;
    let chosen = request.clone();
    let status_mapped = register.mapping().column(Field::MembershipStatus).is_some();
    if request.filters.statuses.is_empty() && status_mapped {
        request.filters.statuses = register.member_statuses().to_vec();
    }
    let filter = request.filter(&purpose.required_consents);
    if let Err(e) = filter.validate(register.mapping()) {
        // What the register holds is named first, as for a filter that can be counted.
        if !register.has_district(&chosen.district).await? {
            return Err(Error::UnknownDistrict(chosen.district));
        }
        let held = register.choices(&chosen.district).await?;
        check_chosen(state, &chosen, |field, value| held.contains(field, value))?;
        return Err(Error::BadInput(e.to_string()));
    }
    let survey = register
        .survey(&filter, ProtectedIdentity::Exclude, now.date())
        .await?;
    if !survey.holds_members {
        return Err(Error::UnknownDistrict(chosen.district));
    }
    check_chosen(state, &chosen, |field, value| survey.holds(field, value))?;
    Ok((request, survey.counts))
}

/// Refuses the first chosen local branch or status the district does not hold (`held` says),
/// naming it.
fn check_chosen(
    state: &Context,
    chosen: &Request,
    held: impl Fn(Field, &str) -> bool,
) -> Result<(), Error> {
    let mapped = |field: Field| state.register.mapping().column(field).is_some();
    let checks = [
        (Field::LocalBranch, &chosen.filters.local_branches),
        (Field::MembershipStatus, &chosen.filters.statuses),
    ];
    for (field, chosen_values) in checks {
        // An unmapped field is refused by the filter's own check, with its own sentence.
        if !mapped(field) {
            continue;
        }
        if let Some(value) = chosen_values.iter().find(|v| !held(field, v)) {
            return Err(Error::UnknownChoice {
                field,
                value: value.clone(),
                district: chosen.district.clone(),
            });
        }
    }
    Ok(())
}

fn known_purpose<'p>(
    policy: &'p crate::policy::Policy,
    id: &PurposeId,
) -> Result<&'p Purpose, Error> {
    policy.purpose(id).ok_or_else(|| {
        Error::UnknownPurpose(format!(
            "there is no purpose {:?} in the catalogue; pick one of the listed purposes",
            id.as_str()
        ))
    })
}

/// The stored request and what happens next.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: ExtractId,
    pub state: ExtractState,
    pub reason: String,
    pub request_hash: String,
    pub approvers_needed: u8,
    pub estimated_rows: u64,
}

/// Stores a request after the policy's answer: allowed (the snapshot starts at once), waiting
/// for approvers (they are told), or denied (audited, nothing stored but the event).
pub async fn create(
    state: &Context,
    who: &Principal,
    request: Request,
    acknowledged: bool,
    now: OffsetDateTime,
) -> Result<Created, Error> {
    if !acknowledged {
        return Err(Error::NotAcknowledged);
    }
    lifecycle::refuse_if_frozen(state).await?;
    let policy = lifecycle::policy_now(state).await?;
    let actor = Actor::user(who.user_id());
    let purpose = match known_purpose(&policy, &request.purpose) {
        Ok(p) => p,
        Err(e) => {
            let event = scope_event(EventKind::PolicyDecision, &actor, &request, Outcome::Denied)
                .with_detail("code", DenyCode::UnknownPurpose.as_str());
            audit::record_now(&state.store, &event, now).await?;
            return Err(e);
        }
    };
    request.check_delivery(purpose)?;
    lifecycle::refuse_without_passkey(
        state,
        &policy,
        who,
        &request.purpose,
        "extract.request",
        now,
    )
    .await?;
    if let Err((code, reason)) =
        super::handover::check(&policy, purpose, request.processor.as_ref(), now)
    {
        let event = scope_event(EventKind::PolicyDecision, &actor, &request, Outcome::Denied)
            .with_detail("code", code.as_str());
        audit::record_now(&state.store, &event, now).await?;
        return Err(Error::Denied { code, reason });
    }
    if request.processor.is_some() && state.mailer.is_none() {
        return Err(Error::Conflict(
            "mail_not_configured",
            "e-mail is not set up, so nothing can be handed over to a processor".into(),
        ));
    }
    let (request, counts) = prepare(state, request, purpose, now).await?;
    if counts.included == 0 {
        let event = scope_event(EventKind::PolicyDecision, &actor, &request, Outcome::Denied)
            .with_detail("code", "no_members");
        audit::record_now(&state.store, &event, now).await?;
        return Err(Error::NoMembers);
    }
    let decision = policy
        .decide(who, &request.policy_request(counts.included), now)
        .await;
    let (approvers, reason, grant) = match decision {
        // Data leaving the party for a processor is always seen by an approver first, whatever
        // the purpose's automatic limit says.
        Decision::Allow(_) if request.processor.is_some() => (
            1u8,
            "a hand-over to a processor is always approved by a person".to_owned(),
            None,
        ),
        Decision::Allow(grant) => (0u8, "allowed without approval".to_owned(), Some(grant)),
        Decision::NeedsApproval {
            approvers, reason, ..
        } => (approvers, reason, None),
        Decision::Deny { code, reason } => {
            let action = if code == DenyCode::PolicyError {
                EventKind::AuthzError
            } else {
                EventKind::PolicyDecision
            };
            let event = scope_event(action, &actor, &request, Outcome::Denied)
                .with_detail("code", code.as_str())
                .with_detail("estimated_rows", counts.included);
            audit::record_now(&state.store, &event, now).await?;
            return Err(Error::Denied { code, reason });
        }
    };
    let id = ExtractId::generate();
    let request_hash = request.hash(who.user_id());
    let policy_hash =
        crate::policy::request_hash(who.user_id(), &request.policy_request(counts.included));
    let stored = request.to_json().to_string();
    let cfg = &state.config.extracts;
    let now_s = now.unix_timestamp();
    let mut tx = state.store.begin().await?;
    lifecycle::refuse_if_frozen_in(&mut tx).await?;
    rows::insert_extract(
        &mut tx,
        &NewExtract {
            id: id.as_str(),
            requester_id: who.user_id(),
            purpose: request.purpose.as_str(),
            district: request.district.as_str(),
            request: &stored,
            request_hash: &request_hash,
            policy_hash: &policy_hash,
            approvers_needed: i64::from(approvers),
            estimated_rows: i64::try_from(counts.included).unwrap_or(i64::MAX),
            lifetime_minutes: i64::from(request.lifetime_minutes),
            max_downloads: i64::from(cfg.max_downloads),
            created_at: now_s,
            pending_until: now_s + i64::from(cfg.pending_ttl_hours) * 3600,
        },
    )
    .await?;
    let event = scope_event(
        EventKind::ExtractRequested,
        &actor,
        &request,
        Outcome::Success,
    )
    .with_target(&format!("extract:{id}"))
    .with_detail("estimated_rows", counts.included)
    .with_detail("approvers_needed", approvers)
    .with_detail("request_hash", request_hash.as_str());
    audit::record(&mut tx, &event, now).await?;
    let build = match grant {
        Some(grant) => {
            let lease_until = now_s + super::BUILD_LEASE_SECS;
            // Just inserted as pending in this transaction, so it starts.
            let attempt = rows::start_build(&mut tx, id.as_str(), now_s, lease_until)
                .await?
                .ok_or_else(|| Error::Conflict("not_pending", "the request was ended".into()))?;
            Some((attempt, grant))
        }
        None => {
            lifecycle::notify_approvers(state, &mut tx, &id, &request, now).await?;
            None
        }
    };
    let next = if build.is_some() {
        ExtractState::Building
    } else {
        ExtractState::Pending
    };
    tx.commit().await?;
    lifecycle::after_commit(state).await;
    if let Some((attempt, grant)) = build {
        super::snapshot::spawn(state.clone(), id.clone(), attempt, grant, request.clone());
    }
    Ok(Created {
        id,
        state: next,
        reason,
        request_hash,
        approvers_needed: approvers,
        estimated_rows: counts.included,
    })
}

/// An event carrying the requested scope (purpose, district, fields, lifetime) — never data.
pub(crate) fn scope_event(
    action: EventKind,
    actor: &Actor,
    request: &Request,
    outcome: Outcome,
) -> Event {
    let mut details = json!({
        "purpose": request.purpose.as_str(),
        "district": request.district.as_str(),
        "fields": request.fields.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "lifetime_minutes": request.lifetime_minutes,
        "filters": request.to_json()["filters"].clone(),
    });
    if let Some(p) = &request.processor {
        details["processor"] = json!(p.as_str());
    }
    let target = format!("purpose:{}", request.purpose.as_str());
    Event::new(action, actor.clone(), &target, outcome, details)
}
