//! The values that prove a check was made — [`Grant`] for extracts, [`Permit`] for every other
//! action — and the separation-of-duties rules (four eyes, second admin).
//!
//! Guarantees (STYLE #5): a `Grant` or `Permit` has private fields, no public constructor, no
//! `Default`, no `Deserialize`; only [`Policy::decide`], [`Policy::grant_approved`] and
//! [`Policy::permits`] make them. So code that takes `&Grant` cannot be reached without the
//! policy's yes. Neither can be built outside this module — these do not compile, for their
//! private fields alone (every field is named with a value of its type). Stable rustdoc does
//! not check a `compile_fail` doctest's error code, so `tests/it/forgery.rs` compiles the same
//! code and pins E0451 and, for reading each field, E0616:
//!
//! ```compile_fail
//! use registervakt::nouns::{ConsentFlag, DistrictCode, Field};
//! use registervakt::policy::{Format, Grant, PurposeId};
//! fn forge(purpose: PurposeId, district: DistrictCode, fields: Vec<Field>) -> Grant {
//!     Grant {
//!         user_id: String::new(),
//!         purpose,
//!         district,
//!         fields,
//!         lifetime_minutes: 60,
//!         max_rows: 10,
//!         required_consents: Vec::<ConsentFlag>::new(),
//!         formats: Vec::<Format>::new(),
//!         request_hash: String::new(),
//!         approved_by: Vec::new(),
//!     }
//! }
//! ```
//!
//! ```compile_fail
//! use registervakt::policy::{Action, Permit, Reach};
//! fn forge(reach: Reach) -> Permit {
//!     Permit { user_id: String::new(), action: Action::AuditView, reach }
//! }
//! ```
//!
//! Must never: let anyone approve their own request, count one approver twice, or accept an
//! approval given for a different request hash (SECURITY_BAR C5).

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::{
    Action, Decision, DenyCode, Error, ExtractRequest, Inner, Policy, Principal, Purpose,
    PurposeId, model::PARTY_WIDE, purposes::Format, request_hash,
};
use crate::nouns::{ConsentFlag, DistrictCode, Field};
use crate::nouns::{Role, Scope};

/// Permission to take one extract, exactly as decided. Required by register and extract code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    user_id: String,
    purpose: PurposeId,
    district: DistrictCode,
    fields: Vec<Field>,
    lifetime_minutes: u32,
    max_rows: u64,
    required_consents: Vec<ConsentFlag>,
    formats: Vec<Format>,
    request_hash: String,
    approved_by: Vec<String>,
}

impl Grant {
    pub(super) fn new(
        requester: &Principal,
        purpose: &Purpose,
        request: &ExtractRequest,
        max_rows: u64,
        approved_by: Vec<String>,
    ) -> Grant {
        Grant {
            user_id: requester.user_id.clone(),
            purpose: purpose.id.clone(),
            district: request.district.clone(),
            fields: request.fields.clone(),
            lifetime_minutes: request.lifetime_minutes,
            max_rows,
            required_consents: purpose.required_consents.clone(),
            formats: purpose.formats.clone(),
            request_hash: request_hash(&requester.user_id, request),
            approved_by,
        }
    }

    /// The requester; only they may receive the extract.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    pub fn purpose(&self) -> &PurposeId {
        &self.purpose
    }
    pub fn district(&self) -> &DistrictCode {
        &self.district
    }
    /// The approved fields, in the order asked for; the file's columns are exactly these (C3).
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }
    pub fn lifetime_minutes(&self) -> u32 {
        self.lifetime_minutes
    }
    /// The most rows the snapshot may hold: the bound the approval covered (see
    /// `docs/policy.md`, "What a grant carries").
    pub fn max_rows(&self) -> u64 {
        self.max_rows
    }
    /// Members lacking any of these consents are left out.
    pub fn required_consents(&self) -> &[ConsentFlag] {
        &self.required_consents
    }
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }
    pub fn request_hash(&self) -> &str {
        &self.request_hash
    }
    /// Who approved (empty when no approval was needed).
    pub fn approved_by(&self) -> &[String] {
        &self.approved_by
    }
}

/// Where a [`Permit`] reaches: the whole party, or one or more districts — never none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    PartyWide,
    Districts(Districts),
}

/// A non-empty set of districts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Districts(BTreeSet<DistrictCode>);

impl Districts {
    /// `None` for an empty set: a reach of no district is no permit at all.
    pub fn new(districts: impl IntoIterator<Item = DistrictCode>) -> Option<Districts> {
        let set: BTreeSet<DistrictCode> = districts.into_iter().collect();
        (!set.is_empty()).then_some(Districts(set))
    }

    pub fn iter(&self) -> impl Iterator<Item = &DistrictCode> {
        self.0.iter()
    }

    pub fn contains(&self, district: &str) -> bool {
        self.0.iter().any(|d| d.as_str() == district)
    }
}

impl Reach {
    /// Whether `district` is within reach.
    pub fn covers(&self, district: &str) -> bool {
        match self {
            Reach::PartyWide => true,
            Reach::Districts(d) => d.contains(district),
        }
    }

    /// Whether a role held in `scope` lies within reach: a party-wide role only for a
    /// party-wide reach.
    pub fn covers_scope(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Party => matches!(self, Reach::PartyWide),
            Scope::District(d) => self.covers(d.as_str()),
        }
    }

    /// As the audit log records it: the districts, or `["*"]` for the whole party.
    pub fn names(&self) -> Vec<String> {
        match self {
            Reach::PartyWide => vec![PARTY_WIDE.to_owned()],
            Reach::Districts(d) => d.iter().map(|c| c.as_str().to_owned()).collect(),
        }
    }

    /// The districts, or `None` for the whole party (for SQL filters).
    pub fn district_names(&self) -> Option<Vec<String>> {
        match self {
            Reach::PartyWide => None,
            Reach::Districts(d) => Some(d.iter().map(|c| c.as_str().to_owned()).collect()),
        }
    }
}

/// Proof that `user_id` may do `action` within `reach`. Made only by the policy
/// ([`Policy::permit`], [`Policy::permits`], [`Policy::permits_party_wide`]); the function
/// that does the privileged act takes it and checks it with [`Permit::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    user_id: String,
    action: Action,
    reach: Reach,
}

impl Permit {
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    pub fn action(&self) -> Action {
        self.action
    }
    pub fn reach(&self) -> &Reach {
        &self.reach
    }
    /// The district code, or `*` for the whole party, when the permit reaches one place.
    pub fn scope(&self) -> String {
        self.reach.names().join(",")
    }

    /// Refuses unless this permit is for `action` and reaches `scope`: the privileged act
    /// calls it with what it is about to touch, so a permit for something else opens nothing.
    pub fn check(&self, action: Action, scope: &Scope) -> Result<(), Error> {
        if self.action == action && self.reach.covers_scope(scope) {
            Ok(())
        } else {
            Err(Error::NotPermitted {
                action,
                scope: scope.as_str().to_owned(),
            })
        }
    }

    /// [`Permit::check`] for one district.
    pub fn check_district(&self, action: Action, district: &str) -> Result<(), Error> {
        if self.action == action && self.reach.covers(district) {
            Ok(())
        } else {
            Err(Error::NotPermitted {
                action,
                scope: district.to_owned(),
            })
        }
    }
}

/// Four eyes (C5): the approver is not the requester and holds the approver role in the
/// request's district or party-wide. [`Policy::grant_approved`] also asks the permission
/// table for `extract.approve`.
pub fn may_approve(
    approver: &Principal,
    requester_id: &str,
    district: &DistrictCode,
) -> Result<(), DenyCode> {
    if approver.user_id.is_empty() {
        return Err(DenyCode::NotApprover);
    }
    if approver.user_id == requester_id {
        return Err(DenyCode::SelfApproval);
    }
    let in_district = Scope::District(district.clone());
    let holds = approver
        .roles
        .iter()
        .any(|g| g.role == Role::Approver && (g.scope == Scope::Party || g.scope == in_district));
    if holds {
        Ok(())
    } else {
        Err(DenyCode::NotApprover)
    }
}

impl Policy {
    /// May `principal` do `action` in `district` (by a role there or party-wide)? An `Err` of
    /// any kind means no; [`Error::deny_code`] tells a plain refusal from a policy failure.
    pub async fn permits(
        &self,
        principal: &Principal,
        action: Action,
        district: &DistrictCode,
    ) -> Result<Permit, Error> {
        self.check_allows(principal, action, district.as_str())
            .await?;
        let reach = Reach::Districts(Districts(BTreeSet::from([district.clone()])));
        Ok(self.permit_of(principal, action, reach))
    }

    /// May `principal` do `action` for the whole party? Only a party-wide (`*`) role counts.
    pub async fn permits_party_wide(
        &self,
        principal: &Principal,
        action: Action,
    ) -> Result<Permit, Error> {
        self.check_allows(principal, action, PARTY_WIDE).await?;
        Ok(self.permit_of(principal, action, Reach::PartyWide))
    }

    /// Everywhere `principal` may do `action`: the whole party if a party-wide role allows it,
    /// else every district where one of their roles does; refused when that is nowhere. The
    /// one place a scope is computed (audit questions, administration, queues).
    pub async fn permit(&self, principal: &Principal, action: Action) -> Result<Permit, Error> {
        match self.check_allows(principal, action, PARTY_WIDE).await {
            Ok(()) => return Ok(self.permit_of(principal, action, Reach::PartyWide)),
            Err(Error::NotPermitted { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut reached = Vec::new();
        for grant in &principal.roles {
            if let Scope::District(d) = &grant.scope
                && !reached.contains(d)
                && self
                    .check_allows(principal, action, d.as_str())
                    .await
                    .is_ok()
            {
                reached.push(d.clone());
            }
        }
        match Districts::new(reached) {
            Some(d) => Ok(self.permit_of(principal, action, Reach::Districts(d))),
            None => Err(Error::NotPermitted {
                action,
                scope: "any district".to_owned(),
            }),
        }
    }

    fn permit_of(&self, principal: &Principal, action: Action, reach: Reach) -> Permit {
        Permit {
            user_id: principal.user_id.clone(),
            action,
            reach,
        }
    }

    async fn check_allows(
        &self,
        principal: &Principal,
        action: Action,
        scope: &str,
    ) -> Result<(), Error> {
        let engine = match &*self.inner {
            Inner::Ready { engine, .. } => engine,
            Inner::Broken { cause } => return Err(Error::Engine(cause.clone())),
        };
        let refused = || Error::NotPermitted {
            action,
            scope: scope.to_owned(),
        };
        if principal.user_id.is_empty() {
            return Err(refused());
        }
        if engine
            .allows(&principal.user_id, &principal.roles, scope, action)
            .await?
        {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// The approval step: decides the request again (with the requester's roles as of now),
    /// then checks that `approved_hash` is this request's hash and that enough distinct,
    /// eligible approvers approved it. Returns `Allow` or `Deny`, never `NeedsApproval`.
    pub async fn grant_approved(
        &self,
        requester: &Principal,
        request: &ExtractRequest,
        approved_hash: &str,
        approvers: &[Principal],
        now: OffsetDateTime,
    ) -> Decision {
        let needed = match self.decide(requester, request, now).await {
            Decision::NeedsApproval {
                approvers,
                request_hash,
                ..
            } if request_hash == approved_hash => approvers,
            Decision::NeedsApproval { .. } => {
                return deny(
                    DenyCode::RequestChanged,
                    "the request changed after it was approved; it must be approved again",
                );
            }
            other => return other,
        };
        let distinct = match self
            .eligible_approvers(requester, &request.district, approvers)
            .await
        {
            Ok(distinct) => distinct,
            Err((code, reason)) => return deny(code, reason),
        };
        if distinct.len() < usize::from(needed) {
            let reason = format!("needs {needed} different approvers, has {}", distinct.len());
            return deny(DenyCode::NotEnoughApprovers, reason);
        }
        let Some(purpose) = self.purpose(&request.purpose) else {
            return deny(
                DenyCode::UnknownPurpose,
                "the purpose is gone from the catalogue",
            );
        };
        let max_rows = if needed >= 2 {
            purpose.max_rows
        } else {
            purpose
                .max_rows
                .min(purpose.approval.two_approvers_min_rows.saturating_sub(1))
        };
        let approved_by = distinct.into_iter().map(str::to_owned).collect();
        Decision::Allow(Grant::new(
            requester,
            purpose,
            request,
            max_rows,
            approved_by,
        ))
    }
}

impl Policy {
    /// The distinct approvers, each checked by [`may_approve`] and the permission table; the
    /// first ineligible one refuses the whole approval.
    async fn eligible_approvers<'a>(
        &self,
        requester: &Principal,
        district: &DistrictCode,
        approvers: &'a [Principal],
    ) -> Result<BTreeSet<&'a str>, (DenyCode, String)> {
        let mut distinct: BTreeSet<&str> = BTreeSet::new();
        for approver in approvers {
            if let Err(code) = may_approve(approver, &requester.user_id, district) {
                return Err((code, approver_refusal(code, district)));
            }
            let permit = self
                .permits(approver, Action::ExtractApprove, district)
                .await;
            if let Err(e) = permit {
                let reason = approver_refusal(DenyCode::NotApprover, district);
                return Err((e.deny_code(), reason));
            }
            distinct.insert(&approver.user_id);
        }
        Ok(distinct)
    }
}

fn approver_refusal(code: DenyCode, district: &DistrictCode) -> String {
    match code {
        DenyCode::SelfApproval => "nobody may approve their own request".to_owned(),
        _ => format!("only an approver for {district} (or the whole party) may approve this"),
    }
}

fn deny(code: DenyCode, reason: impl Into<String>) -> Decision {
    Decision::Deny {
        code,
        reason: reason.into(),
    }
}
