//! Deciding an extract request: the rules of `docs/policy.md` ("Deciding a request"), checked
//! in the document's order; the first rule that fails decides, with a reason a staff member
//! understands.
//!
//! Guarantees: deny by default — `Allow` is returned only after every rule passed; a casbin
//! error or a broken policy is `Deny(policy_error)` (C6); limits are refused, never clamped
//! (C4); the approval hash covers every part of the request and the requester (C5).
//!
//! Must never: log member data (only ids, codes and counts), or read the clock.

use std::fmt;

use time::OffsetDateTime;

use super::grant::Grant;
use super::model::Engine;
use super::{Action, Decision, DenyCode, ExtractRequest, Inner, Policy, Principal, Purpose};
use crate::nouns::Sensitivity;

/// One rule consulted while deciding, as a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Stable name of the rule, e.g. `purpose_known`, as in `docs/policy.md`.
    pub rule: &'static str,
    pub passed: bool,
    pub sentence: String,
}

/// A decision with every rule consulted, in order (`registervakt policy explain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub decision: Decision,
    pub steps: Vec<Step>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, step) in self.steps.iter().enumerate() {
            let mark = if step.passed { "ok  " } else { "FAIL" };
            writeln!(f, "{:>2}. {mark} {}: {}", n + 1, step.rule, step.sentence)?;
        }
        match &self.decision {
            Decision::Allow(grant) => write!(f, "=> allow (request {})", grant.request_hash()),
            Decision::NeedsApproval {
                reason,
                request_hash,
                ..
            } => write!(f, "=> {reason} (request {request_hash})"),
            Decision::Deny { code, reason } => write!(f, "=> deny ({code}): {reason}"),
        }
    }
}

type Trace = Vec<Step>;

fn pass(trace: &mut Trace, rule: &'static str, sentence: String) {
    trace.push(Step {
        rule,
        passed: true,
        sentence,
    });
}

/// A failed rule, on its way to becoming `Decision::Deny` (small, unlike a `Decision`).
struct Denied {
    code: DenyCode,
    reason: String,
}

impl From<Denied> for Decision {
    fn from(d: Denied) -> Decision {
        Decision::Deny {
            code: d.code,
            reason: d.reason,
        }
    }
}

fn fail(trace: &mut Trace, rule: &'static str, code: DenyCode, reason: String) -> Denied {
    trace.push(Step {
        rule,
        passed: false,
        sentence: reason.clone(),
    });
    Denied { code, reason }
}

impl Policy {
    /// Decides an extract request (the principal's roles are those read for this request).
    pub async fn decide(
        &self,
        principal: &Principal,
        request: &ExtractRequest,
        now: OffsetDateTime,
    ) -> Decision {
        self.explain(principal, request, now).await.decision
    }

    /// The decision plus each rule consulted, in order, as sentences.
    pub async fn explain(
        &self,
        principal: &Principal,
        request: &ExtractRequest,
        now: OffsetDateTime,
    ) -> Explanation {
        let mut steps = Trace::new();
        let decision = self.evaluate(principal, request, now, &mut steps).await;
        if let Decision::Deny { code, .. } = &decision {
            tracing::info!(
                user = %principal.user_id,
                purpose = %request.purpose,
                district = %request.district,
                code = code.as_str(),
                "extract request denied by policy"
            );
        }
        Explanation { decision, steps }
    }

    async fn evaluate(
        &self,
        principal: &Principal,
        request: &ExtractRequest,
        now: OffsetDateTime,
        trace: &mut Trace,
    ) -> Decision {
        let (engine, purposes) = match &*self.inner {
            Inner::Ready {
                engine, purposes, ..
            } => (engine, purposes),
            Inner::Broken { cause } => {
                tracing::error!(%cause, "request denied: the policy is not loaded");
                let reason = "the access policy could not be loaded, so every request is denied; \
                              tell an administrator"
                    .to_owned();
                return fail(trace, "policy_loaded", DenyCode::PolicyError, reason).into();
            }
        };
        let purpose = match check_purpose(purposes, request, now, trace) {
            Ok(purpose) => purpose,
            Err(denied) => return denied.into(),
        };
        if let Err(denied) = check_permission(engine, principal, request, trace).await {
            return denied.into();
        }
        let shape = check_fields(purpose, request, trace)
            .and_then(|()| check_size(purpose, request, trace));
        if let Err(denied) = shape {
            return denied.into();
        }
        approval(purpose, principal, request, trace)
    }
}

fn check_purpose<'p>(
    purposes: &'p [Purpose],
    request: &ExtractRequest,
    now: OffsetDateTime,
    trace: &mut Trace,
) -> Result<&'p Purpose, Denied> {
    let Some(purpose) = purposes.iter().find(|p| p.id == request.purpose) else {
        let reason = format!(
            "there is no purpose {:?} in the catalogue; pick one of the listed purposes",
            request.purpose.as_str()
        );
        return Err(fail(
            trace,
            "purpose_known",
            DenyCode::UnknownPurpose,
            reason,
        ));
    };
    pass(
        trace,
        "purpose_known",
        format!("the purpose {} is in the catalogue", purpose.name_en),
    );
    if !purpose.is_valid_at(now) {
        let window = |d: Option<time::Date>| d.map_or("open".to_owned(), |d| d.to_string());
        let reason = format!(
            "the purpose {} may only be used from {} to {}",
            purpose.name_en,
            window(purpose.valid_from),
            window(purpose.valid_to)
        );
        return Err(fail(
            trace,
            "purpose_valid",
            DenyCode::PurposeNotValid,
            reason,
        ));
    }
    pass(
        trace,
        "purpose_valid",
        "the purpose may be used today".to_owned(),
    );
    Ok(purpose)
}

async fn check_permission(
    engine: &Engine,
    principal: &Principal,
    request: &ExtractRequest,
    trace: &mut Trace,
) -> Result<(), Denied> {
    let district = request.district.as_str();
    let refused = format!("your roles do not allow requesting member lists in {district}");
    if principal.user_id.is_empty() {
        return Err(fail(trace, "may_request", DenyCode::NotPermitted, refused));
    }
    let allowed = engine
        .allows(
            &principal.user_id,
            &principal.roles,
            district,
            Action::ExtractRequest,
        )
        .await;
    match allowed {
        Ok(true) => {
            let sentence = format!("your roles allow requesting member lists in {district}");
            pass(trace, "may_request", sentence);
            Ok(())
        }
        Ok(false) => Err(fail(trace, "may_request", DenyCode::NotPermitted, refused)),
        Err(e) => {
            tracing::error!(error = %e, "request denied: the policy engine failed");
            let reason = "the access policy could not be evaluated, so the request is denied; \
                          tell an administrator"
                .to_owned();
            Err(fail(trace, "may_request", DenyCode::PolicyError, reason))
        }
    }
}

/// Rules 4 and 5: the fields.
fn check_fields(
    purpose: &Purpose,
    request: &ExtractRequest,
    trace: &mut Trace,
) -> Result<(), Denied> {
    let fields = &request.fields;
    if fields.is_empty() {
        let reason = "pick at least one field".to_owned();
        return Err(fail(trace, "fields_listed", DenyCode::BadFields, reason));
    }
    if let Some(twice) = fields
        .iter()
        .enumerate()
        .find(|(i, f)| fields[..*i].contains(f))
    {
        let reason = format!("the field {} is asked for twice", twice.1);
        return Err(fail(trace, "fields_listed", DenyCode::BadFields, reason));
    }
    pass(
        trace,
        "fields_listed",
        format!("{} distinct field(s) asked for", fields.len()),
    );
    if let Some(field) = fields.iter().find(|f| !purpose.allows_field(**f)) {
        let reason = format!(
            "the purpose {} does not allow the field {field}",
            purpose.name_en
        );
        return Err(fail(
            trace,
            "fields_allowed",
            DenyCode::FieldNotAllowed,
            reason,
        ));
    }
    pass(
        trace,
        "fields_allowed",
        "the purpose allows every field asked for".to_owned(),
    );
    Ok(())
}

/// Rules 6 and 7: lifetime and size, refused rather than clamped (C4).
fn check_size(
    purpose: &Purpose,
    request: &ExtractRequest,
    trace: &mut Trace,
) -> Result<(), Denied> {
    let (lifetime, max) = (request.lifetime_minutes, purpose.max_lifetime_minutes);
    if lifetime == 0 || lifetime > max {
        let reason = format!(
            "the list may live 1 to {max} minutes for this purpose, not {lifetime}; it is not \
             shortened for you, ask again with a shorter lifetime"
        );
        return Err(fail(trace, "lifetime", DenyCode::LifetimeTooLong, reason));
    }
    pass(
        trace,
        "lifetime",
        format!("{lifetime} minutes is within the purpose's {max}"),
    );
    let (rows, max_rows) = (request.estimated_rows, purpose.max_rows);
    if rows > max_rows {
        let reason = format!(
            "about {rows} members match, but the purpose allows at most {max_rows}; narrow the \
             filters"
        );
        return Err(fail(trace, "rows", DenyCode::TooManyRows, reason));
    }
    pass(
        trace,
        "rows",
        format!("{rows} rows is within the purpose's {max_rows}"),
    );
    Ok(())
}

/// Allowed at once, or how many approvers the request needs.
fn approval(
    purpose: &Purpose,
    principal: &Principal,
    request: &ExtractRequest,
    trace: &mut Trace,
) -> Decision {
    let rule = purpose.approval;
    let rows = request.estimated_rows;
    let (mut approvers, mut reasons) = approvers_by_rule(purpose, &request.fields, rows);
    if approvers == 0 {
        if rule.auto_max_rows > 0 && rows <= rule.auto_max_rows {
            let sentence = format!(
                "{rows} rows without sensitive fields is within the {} allowed without approval",
                rule.auto_max_rows
            );
            pass(trace, "approval", sentence);
            let grant = Grant::new(principal, purpose, request, rule.auto_max_rows, Vec::new());
            return Decision::Allow(grant);
        }
        approvers = 1;
        reasons.push(if rule.auto_max_rows == 0 {
            ApprovalReason::AlwaysApproved
        } else {
            ApprovalReason::MoreThanAutomatic {
                rows,
                automatic_max: rule.auto_max_rows,
            }
        });
    }
    let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    let reason = format!("needs {approvers} approver(s): {}", reasons.join("; "));
    pass(trace, "approval", reason.clone());
    Decision::NeedsApproval {
        approvers,
        reason,
        request_hash: request_hash(&principal.user_id, request),
    }
}

/// Why a request needs an approver: the purpose's rule that asked for one. The approver is
/// told these (in words, `web::labels`); the decision trace and the audit log say them in
/// English (`Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalReason {
    /// A requested field is sensitive (the first such field).
    SensitiveField(crate::nouns::Field),
    /// At least `two_approvers_min_rows` members: two approvers.
    ManyMembers { rows: u64, two_approvers_from: u64 },
    /// More members than the purpose lets through without approval.
    MoreThanAutomatic { rows: u64, automatic_max: u64 },
    /// The purpose lets nothing through without approval.
    AlwaysApproved,
}

impl std::fmt::Display for ApprovalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApprovalReason::SensitiveField(field) => write!(f, "the field {field} is sensitive"),
            ApprovalReason::ManyMembers {
                rows,
                two_approvers_from,
            } => write!(f, "{rows} rows is at least {two_approvers_from}"),
            ApprovalReason::MoreThanAutomatic {
                rows,
                automatic_max,
            } => write!(
                f,
                "{rows} rows is more than the {automatic_max} allowed without approval"
            ),
            ApprovalReason::AlwaysApproved => f.write_str("this purpose always needs an approver"),
        }
    }
}

/// Why `purpose` asks an approver for `fields` and about `rows` members: what [`decide`]
/// weighed, for the approver's page. Empty when the purpose would let it through at once.
pub fn approval_reasons(
    purpose: &Purpose,
    fields: &[crate::nouns::Field],
    rows: u64,
) -> Vec<ApprovalReason> {
    let (approvers, mut reasons) = approvers_by_rule(purpose, fields, rows);
    let rule = purpose.approval;
    if approvers == 0 {
        if rule.auto_max_rows == 0 {
            reasons.push(ApprovalReason::AlwaysApproved);
        } else if rows > rule.auto_max_rows {
            reasons.push(ApprovalReason::MoreThanAutomatic {
                rows,
                automatic_max: rule.auto_max_rows,
            });
        }
    }
    reasons
}

/// The largest number of approvers the sensitivity and size rules ask for (0 if neither
/// applies), with the reasons.
fn approvers_by_rule(
    purpose: &Purpose,
    fields: &[crate::nouns::Field],
    rows: u64,
) -> (u8, Vec<ApprovalReason>) {
    let rule = purpose.approval;
    let mut approvers = 0u8;
    let mut reasons = Vec::new();
    let sensitive = fields
        .iter()
        .find(|f| f.sensitivity() == Sensitivity::Sensitive);
    if let Some(first) = sensitive {
        approvers = approvers.max(rule.sensitive_approvers);
        reasons.push(ApprovalReason::SensitiveField(*first));
    }
    if rows >= rule.two_approvers_min_rows {
        approvers = approvers.max(2);
        reasons.push(ApprovalReason::ManyMembers {
            rows,
            two_approvers_from: rule.two_approvers_min_rows,
        });
    }
    (approvers, reasons)
}

/// SHA-256 (hex) over an unambiguous encoding of the request and its requester: a version
/// tag, then each part length-prefixed (8 bytes, big-endian), fields sorted by name. Any
/// change to any part changes the hash, so an approval cannot be reused for another request.
pub fn request_hash(requester_id: &str, request: &ExtractRequest) -> String {
    let mut fields: Vec<&str> = request.fields.iter().map(|f| f.as_str()).collect();
    fields.sort_unstable();
    let lifetime = request.lifetime_minutes.to_string();
    let rows = request.estimated_rows.to_string();
    let field_count = fields.len().to_string();
    let mut parts: Vec<&str> = vec![
        "registervakt.extract-request.v1",
        requester_id,
        request.purpose.as_str(),
        request.district.as_str(),
        &field_count,
    ];
    parts.extend(fields);
    parts.extend([lifetime.as_str(), rows.as_str()]);
    let mut encoded: Vec<u8> = Vec::new();
    for part in parts {
        encoded.extend_from_slice(&(part.len() as u64).to_be_bytes());
        encoded.extend_from_slice(part.as_bytes());
    }
    crate::crypto::sha256_hex(&encoded)
}
