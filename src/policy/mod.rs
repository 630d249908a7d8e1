//! The policy: who may do what, where, for which purpose — and the [`Grant`] that proves it.
//!
//! Three files in `policies/` make up the policy (see `docs/policy.md`, the document an auditor
//! reads and the independent oracle in `oracle.rs` is written from):
//! - `model.conf`, a casbin RBAC-with-domains model: a domain is a district, and a role held
//!   party-wide (`*`) applies in every district because the matcher says so explicitly;
//! - `policy.csv`, the role → permission table (`p, ROLE, OBJECT, VERB` lines only);
//! - `purposes.toml`, the purpose catalogue with field allow-lists, limits and approval rules.
//!
//! Guarantees:
//! - Deny by default: a request is allowed only when every rule of the document passes.
//! - Fail closed (SECURITY_BAR C6): a missing or malformed file, a model that does not mean what
//!   the permission table says, or any casbin error denies every request with
//!   [`DenyCode::PolicyError`]; the cause is logged (never member data).
//! - A [`Grant`] exists only when [`Policy::decide`] (or [`Policy::grant_approved`]) made it;
//!   it has no public constructor and cannot be deserialised (STYLE #5).
//! - Roles are taken from the [`Principal`] given with each call, never cached, so a removed
//!   role is gone on the very next request (C7).
//! - Time is an argument; nothing here reads the clock.
//!
//! Must never: clamp a limit instead of refusing, accept a rule that needs zero approvers for
//! sensitive fields (C5), or let any module but this one talk to casbin.

mod check;
mod decide;
#[cfg(test)]
mod document_tests;
mod factors;
mod grant;
mod model;
#[cfg(test)]
mod oracle;
pub(crate) mod processors;
mod purposes;
pub mod source;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use crate::nouns::RoleGrant;
use crate::nouns::{DistrictCode, Field};

pub use check::{CheckReport, check_dir};
pub use decide::{ApprovalReason, Explanation, Step, approval_reasons, request_hash};
pub use factors::FactorRule;
pub use grant::{Districts, Grant, Permit, Reach, may_approve};
pub use model::{Permission, PermissionTable};
pub use processors::{Processor, ProcessorId};
pub use purposes::{
    Approval, CatalogueChanges, Difference, Format, MAX_LIFETIME_MINUTES, ProcessorChange, Purpose,
    PurposeChange, PurposeDraft, PurposeFault, PurposeId, PurposeKey, PurposeProblem,
    catalogue_changes, changes, parse_catalogue, with_purpose, without_purpose,
};

/// File names inside the policy directory.
pub const MODEL_FILE: &str = "model.conf";
pub const PERMISSIONS_FILE: &str = "policy.csv";
pub const PURPOSES_FILE: &str = "purposes.toml";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A policy file is broken; `line` is 1-based when the problem has one line. A problem
    /// of the purpose catalogue also says what it is as data (`problem`), so that a form can
    /// say it in the page's language beside the field; `message` stays the English sentence
    /// for the command line and the logs.
    #[error("{file}{}: {message}", at_line(.line))]
    Invalid {
        file: String,
        line: Option<usize>,
        message: String,
        problem: Option<PurposeFault>,
    },
    #[error("cannot read {file}: {cause}")]
    Read { file: String, cause: String },
    /// casbin failed while deciding; the caller must deny.
    #[error("the policy engine failed: {0}")]
    Engine(String),
    /// The principal's roles do not give this permission in this scope.
    #[error("your roles do not allow {action} in {scope}")]
    NotPermitted { action: Action, scope: String },
    #[error("{0}")]
    BadInput(String),
}

fn at_line(line: &Option<usize>) -> String {
    line.map(|n| format!(", line {n}")).unwrap_or_default()
}

impl Error {
    /// What is wrong with the purpose catalogue, as data, when this error is about it.
    pub fn purpose_fault(&self) -> Option<&PurposeFault> {
        match self {
            Error::Invalid { problem, .. } => problem.as_ref(),
            _ => None,
        }
    }

    /// The deny code a caller reports for this error: only a plain "no permission" is
    /// `not_permitted`; everything else is a policy failure (C6).
    pub fn deny_code(&self) -> DenyCode {
        match self {
            Error::NotPermitted { .. } => DenyCode::NotPermitted,
            _ => DenyCode::PolicyError,
        }
    }
}

/// Everything a role can be permitted to do. The string is `object.verb`; the permission table
/// names the object and the verb in separate columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    ExtractRequest,
    ExtractApprove,
    /// Stop a live extract (shred it now) — the approver's brake.
    ExtractRevoke,
    /// Stop downloads of an extract while a possible breach is scoped — the auditor's brake.
    ExtractFreeze,
    AuditView,
    PseudonymResolve,
    UsersAdminister,
    PolicyAdminister,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::ExtractRequest,
        Action::ExtractApprove,
        Action::ExtractRevoke,
        Action::ExtractFreeze,
        Action::AuditView,
        Action::PseudonymResolve,
        Action::UsersAdminister,
        Action::PolicyAdminister,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::ExtractRequest => "extract.request",
            Action::ExtractApprove => "extract.approve",
            Action::ExtractRevoke => "extract.revoke",
            Action::ExtractFreeze => "extract.freeze",
            Action::AuditView => "audit.view",
            Action::PseudonymResolve => "pseudonym.resolve",
            Action::UsersAdminister => "users.administer",
            Action::PolicyAdminister => "policy.administer",
        }
    }

    /// The object column of the permission table (`extract` in `extract.request`).
    pub fn object(self) -> &'static str {
        self.as_str().split_once('.').map_or("", |(o, _)| o)
    }

    /// The verb column of the permission table (`request` in `extract.request`).
    pub fn verb(self) -> &'static str {
        self.as_str().split_once('.').map_or("", |(_, v)| v)
    }

    /// The action whose object and verb are these, if any.
    pub fn from_parts(object: &str, verb: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|a| a.object() == object && a.verb() == verb)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = Error;
    fn from_str(s: &str) -> Result<Action, Error> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::BadInput(format!("unknown action {s:?}")))
    }
}

/// Why a request was denied; `as_str` is the stable code used in audit events and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyCode {
    UnknownPurpose,
    PurposeNotValid,
    NotPermitted,
    BadFields,
    FieldNotAllowed,
    /// Lifetime 0 or above the purpose's maximum (never clamped, C4).
    LifetimeTooLong,
    TooManyRows,
    /// The policy could not be loaded or evaluated; everything is denied (C6).
    PolicyError,
    /// Approving one's own request (C5).
    SelfApproval,
    /// The approver does not hold the approver role in the request's district (C5).
    NotApprover,
    /// The approval was given for a different request than the one presented (C5).
    RequestChanged,
    NotEnoughApprovers,
    /// The policy asks for a passkey for this user or purpose (A9), and the session's second
    /// factor was not one.
    PhishingResistantRequired,
    /// A hand-over to a processor the purpose does not list, or one the catalogue lacks.
    ProcessorNotAllowed,
    /// The processor's data-processing agreement has ended: nothing is handed over.
    AgreementEnded,
}

impl DenyCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DenyCode::UnknownPurpose => "unknown_purpose",
            DenyCode::PurposeNotValid => "purpose_not_valid",
            DenyCode::NotPermitted => "not_permitted",
            DenyCode::BadFields => "bad_fields",
            DenyCode::FieldNotAllowed => "field_not_allowed",
            DenyCode::LifetimeTooLong => "lifetime_too_long",
            DenyCode::TooManyRows => "too_many_rows",
            DenyCode::PolicyError => "policy_error",
            DenyCode::SelfApproval => "self_approval",
            DenyCode::NotApprover => "not_approver",
            DenyCode::RequestChanged => "request_changed",
            DenyCode::NotEnoughApprovers => "not_enough_approvers",
            DenyCode::PhishingResistantRequired => "phishing_resistant_required",
            DenyCode::ProcessorNotAllowed => "processor_not_allowed",
            DenyCode::AgreementEnded => "agreement_ended",
        }
    }
}

impl fmt::Display for DenyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking, with the roles read from the store for *this* request (C7). Built only by
/// [`Principal::load`] from the store's roles (STYLE #5): no caller can hand the policy roles
/// the user does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    user_id: String,
    roles: Vec<RoleGrant>,
    /// This request's session proved its second factor with a phishing-resistant method (a
    /// passkey): see [`Policy::check_factor`].
    phishing_resistant: bool,
}

impl Principal {
    /// `user_id` with the roles the store holds for them now. A stored role that no longer
    /// parses (a district renamed by hand, say) is left out: it grants nothing. So is a role
    /// past its recertification due date and not confirmed (suspended): the store's read of
    /// the roles in force compares its confirmation time with the clock on every call, so a
    /// role is gone at the very request after its deadline, before any sweep has run.
    pub async fn load(
        store: &crate::store::Store,
        user_id: &str,
    ) -> Result<Principal, crate::store::Error> {
        let rows = store.list_roles(user_id).await?;
        let roles = rows
            .iter()
            .filter_map(|r| {
                format!("{}:{}", r.role, r.district)
                    .parse::<RoleGrant>()
                    .ok()
            })
            .collect();
        Ok(Principal {
            user_id: user_id.to_owned(),
            roles,
            phishing_resistant: false,
        })
    }

    /// The same principal, saying whether this request's session proved its second factor
    /// with a phishing-resistant method (a passkey). Only the web layer calls it, from the
    /// session it checked; a principal without it has no such proof.
    pub fn with_phishing_resistant_proof(mut self, proved: bool) -> Principal {
        self.phishing_resistant = proved;
        self
    }

    /// For the policy's own unit tests and its oracle.
    #[cfg(test)]
    pub(crate) fn for_tests(user_id: &str, roles: Vec<RoleGrant>) -> Principal {
        Principal {
            user_id: user_id.to_owned(),
            roles,
            phishing_resistant: false,
        }
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The roles held now, as read from the store.
    pub fn roles(&self) -> &[RoleGrant] {
        &self.roles
    }
}

/// What is being asked for. Filters and the justification are not policy inputs; the extract
/// code binds them to the approval itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractRequest {
    pub purpose: PurposeId,
    pub district: DistrictCode,
    pub fields: Vec<Field>,
    pub lifetime_minutes: u32,
    pub estimated_rows: u64,
}

/// The policy's answer to an extract request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Grant),
    /// `approvers` distinct approvers (1 or 2) must approve `request_hash`.
    NeedsApproval {
        approvers: u8,
        reason: String,
        request_hash: String,
    },
    Deny {
        code: DenyCode,
        reason: String,
    },
}

impl Decision {
    /// `allow`, `needs_approval` or `deny`, for logs and audit events.
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Allow(_) => "allow",
            Decision::NeedsApproval { .. } => "needs_approval",
            Decision::Deny { .. } => "deny",
        }
    }
}

/// The loaded policy. Cheap to clone; the state is shared and immutable.
#[derive(Debug, Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per loaded policy, behind an Arc: boxing the ready policy saves nothing"
)]
enum Inner {
    Ready {
        engine: model::Engine,
        permissions: PermissionTable,
        purposes: Vec<Purpose>,
        factors: FactorRule,
        processors: Vec<Processor>,
    },
    /// Loading failed: every request is denied with `policy_error` (C6).
    Broken { cause: String },
}

impl Policy {
    /// Loads `model.conf`, `policy.csv` and `purposes.toml` from `dir`. Any problem is an error:
    /// a server must not start without a policy it understands.
    pub async fn load(dir: &Path) -> Result<Policy, Error> {
        let (model, permissions, purposes) = read_files(dir).await?;
        Policy::from_parts(&model, &permissions, &purposes).await
    }

    /// Builds from the three texts; a broken policy denies everything (C6).
    pub async fn from_texts_or_deny_all(texts: &Texts) -> Policy {
        match Policy::from_parts(&texts.model, &texts.permissions, &texts.purposes).await {
            Ok(policy) => policy,
            Err(e) => Policy::deny_all(e.to_string()),
        }
    }

    /// Like [`Policy::load`], but a broken policy yields a policy that denies everything with
    /// `policy_error` (the cause is logged), for callers that must keep running.
    pub async fn load_or_deny_all(dir: &Path) -> Policy {
        match Policy::load(dir).await {
            Ok(policy) => policy,
            Err(e) => Policy::deny_all(e.to_string()),
        }
    }

    /// Builds the policy from the three files' texts, validating all of them and checking
    /// that the casbin model answers exactly as the permission table says.
    pub async fn from_parts(
        model: &str,
        permissions: &str,
        purposes: &str,
    ) -> Result<Policy, Error> {
        // The catalogue first: its errors name the purpose, the key and the line.
        let catalogue = parse_catalogue(purposes)?;
        let factors = factors::parse(purposes)?;
        let processors = processors::parse(purposes)?;
        let purposes = catalogue;
        let permissions = PermissionTable::parse(permissions)?;
        let engine = model::Engine::build(model, &permissions).await?;
        Ok(Policy::ready(
            engine,
            permissions,
            purposes,
            factors,
            processors,
        ))
    }

    fn ready(
        engine: model::Engine,
        permissions: PermissionTable,
        purposes: Vec<Purpose>,
        factors: FactorRule,
        processors: Vec<Processor>,
    ) -> Policy {
        Policy {
            inner: Arc::new(Inner::Ready {
                engine,
                permissions,
                purposes,
                factors,
                processors,
            }),
        }
    }

    /// Refuses a principal without a phishing-resistant proof when the policy asks for one
    /// for their roles or for `purpose` (SECURITY_BAR A9).
    pub fn check_factor(
        &self,
        principal: &Principal,
        purpose: Option<&PurposeId>,
    ) -> Result<(), DenyCode> {
        if principal.phishing_resistant || !self.needs_phishing_resistant(principal, purpose) {
            Ok(())
        } else {
            Err(DenyCode::PhishingResistantRequired)
        }
    }

    /// Whether `principal`, acting on an extract of `purpose` (if any), must have proven
    /// their second factor with a phishing-resistant method (a passkey) — SECURITY_BAR A9.
    /// A broken policy says yes (it denies everything anyway).
    pub fn needs_phishing_resistant(
        &self,
        principal: &Principal,
        purpose: Option<&PurposeId>,
    ) -> bool {
        match &*self.inner {
            Inner::Ready { factors, .. } => factors.applies(&principal.roles, purpose),
            Inner::Broken { .. } => true,
        }
    }

    /// A policy that denies every request with `policy_error` (C6).
    pub fn deny_all(cause: String) -> Policy {
        tracing::error!(%cause, "the policy is unusable; every request will be denied");
        Policy {
            inner: Arc::new(Inner::Broken { cause }),
        }
    }

    /// Whether the policy loaded; `false` means everything is denied.
    pub fn is_usable(&self) -> bool {
        matches!(*self.inner, Inner::Ready { .. })
    }

    pub fn purposes(&self) -> &[Purpose] {
        match &*self.inner {
            Inner::Ready { purposes, .. } => purposes,
            Inner::Broken { .. } => &[],
        }
    }

    pub fn purpose(&self, id: &PurposeId) -> Option<&Purpose> {
        self.purposes().iter().find(|p| &p.id == id)
    }

    /// The registered processors (`[[processor]]`; none when the policy is broken).
    pub fn processors(&self) -> &[Processor] {
        match &*self.inner {
            Inner::Ready { processors, .. } => processors,
            Inner::Broken { .. } => &[],
        }
    }

    pub fn processor(&self, id: &ProcessorId) -> Option<&Processor> {
        self.processors().iter().find(|p| &p.id == id)
    }

    /// The role → permission table (empty when the policy is broken).
    pub fn permissions(&self) -> &[Permission] {
        match &*self.inner {
            Inner::Ready { permissions, .. } => permissions.entries(),
            Inner::Broken { .. } => &[],
        }
    }
}

/// The three texts a policy is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    pub model: String,
    pub permissions: String,
    pub purposes: String,
}

impl Texts {
    /// The policy shipped in `policies/`, compiled into the binary: what a fresh install and
    /// the demo run with when `[policy] dir` is not set.
    pub fn shipped() -> Texts {
        Texts {
            model: include_str!("../../policies/model.conf").to_owned(),
            permissions: include_str!("../../policies/policy.csv").to_owned(),
            purposes: include_str!("../../policies/purposes.toml").to_owned(),
        }
    }

    pub async fn read(dir: &Path) -> Result<Texts, Error> {
        let (model, permissions, purposes) = read_files(dir).await?;
        Ok(Texts {
            model,
            permissions,
            purposes,
        })
    }
}

async fn read_files(dir: &Path) -> Result<(String, String, String), Error> {
    let read = |name: &'static str| {
        let path = dir.join(name);
        async move {
            tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| Error::Read {
                    file: path.display().to_string(),
                    cause: e.to_string(),
                })
        }
    };
    Ok((
        read(MODEL_FILE).await?,
        read(PERMISSIONS_FILE).await?,
        read(PURPOSES_FILE).await?,
    ))
}
