//! Administration with four eyes: accounts, roles and the policy (SECURITY_BAR C5, C8).
//!
//! Guarantees:
//! - Who may administer is decided by the policy in force: the `users administer` and
//!   `policy administer` lines, through a [`Permit`] that every function here takes; a refusal
//!   is audited (`authz.refuse`), a policy that cannot be evaluated refuses (`authz.error`).
//! - Nobody gives anyone access to member data alone: a new account ([`users`]), any role
//!   grant ([`roles`]) and any policy change ([`policy_change`]) proposed by one administrator
//!   takes effect only when a different administrator, whose permit reaches as far, confirms
//!   it. The proposer never receives the invitation of an account they proposed.
//! - Every proposal, confirmation and rejection is an audit event in its own transaction.
//!
//! The operator at the command line acts on the host, which could change the store anyway:
//! the `*_as_operator` functions apply at once and are audited as `cli:…`.
//!
//! Never: apply a proposal confirmed by its proposer, or confirm a policy diff other than the
//! one proposed (a proposal is tied to the version it was made against).

pub mod policy_change;
pub mod policy_history;
pub mod recertify;
pub mod roles;
pub mod users;

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::policy::{self, Permit, Policy, Principal};
use crate::store::{self, Store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy gives the asker no such right (or not as far as this change reaches).
    #[error("your roles do not allow this administration")]
    NotPermitted,
    /// The policy could not be evaluated: refused (C6).
    #[error(
        "the access policy could not be evaluated, so nothing was changed; tell an administrator"
    )]
    PolicyBroken,
    #[error("a second administrator must confirm this change")]
    SecondAdminRequired,
    /// A new invitation goes only by e-mail to the account's own address: shown to the
    /// administrator, it would let one person sign in as someone else.
    #[error(
        "a new invitation can only be e-mailed to the user's own address; set one and make sure e-mail is configured"
    )]
    CannotResendInvitation,
    /// Only an account that has not accepted its invitation gets a new one.
    #[error("this account has already accepted its invitation")]
    NotInvited,
    /// A role in a district the member register does not hold: a misspelling.
    #[error("there is no district {0} in the member register; check the spelling")]
    UnknownDistrict(crate::nouns::DistrictCode),
    /// Recertification: nobody confirms or removes their own role (four eyes).
    #[error("you cannot confirm or remove your own role; someone else who may confirm it does")]
    OwnRole,
    /// Recertification: the user holds no such role (it was removed meanwhile, or never was).
    #[error("this person does not hold that role (it may have been removed already)")]
    NoSuchHolding,
    /// No pending proposal has this id: it never existed, or it was decided already.
    #[error("there is no such pending change (it may have been decided already)")]
    NoSuchProposal,
    /// The policy changed after the proposal was made: confirming it would apply a diff
    /// nobody saw.
    #[error("the policy changed after this proposal was made; propose it again")]
    Stale,
    #[error(transparent)]
    Auth(#[from] crate::auth::Error),
    /// A username, role or district that is not one.
    #[error(transparent)]
    Noun(#[from] crate::nouns::Error),
    #[error(transparent)]
    Policy(#[from] crate::policy::source::ChangeError),
    #[error("the audit log cannot be written: {0}")]
    Audit(#[from] audit::Error),
    #[error("store: {0}")]
    Store(#[from] store::Error),
}

/// Refuses a role in a district the register holds no member in (`staff:Upsala`): a role
/// there would reach nobody and hide the misspelling. A party-wide role is always known.
pub fn check_districts<'g>(
    known: &crate::register::Districts,
    grants: impl IntoIterator<Item = &'g crate::nouns::RoleGrant>,
) -> Result<(), Error> {
    for grant in grants {
        if let crate::nouns::Scope::District(d) = &grant.scope
            && !known.contains(d)
        {
            return Err(Error::UnknownDistrict(d.clone()));
        }
    }
    Ok(())
}

/// The proof that `who` may administer accounts and roles, as far as the policy's
/// `users administer` line reaches for them. A refusal is audited.
pub async fn users_permit(
    store: &Store,
    policy: &Policy,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Permit, Error> {
    let asked = policy.permit(who, policy::Action::UsersAdminister).await;
    audited_permit(store, who, policy::Action::UsersAdminister, asked, now).await
}

/// The proof that `who` may change the policy: only a party-wide `policy administer`.
pub async fn policy_permit(
    store: &Store,
    policy: &Policy,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Permit, Error> {
    let asked = policy
        .permits_party_wide(who, policy::Action::PolicyAdminister)
        .await;
    audited_permit(store, who, policy::Action::PolicyAdminister, asked, now).await
}

async fn audited_permit(
    store: &Store,
    who: &Principal,
    action: policy::Action,
    asked: Result<Permit, policy::Error>,
    now: OffsetDateTime,
) -> Result<Permit, Error> {
    let error = match asked {
        Ok(permit) => return Ok(permit),
        Err(e) => e,
    };
    let (audited, refusal) = match &error {
        policy::Error::NotPermitted { .. } => (EventKind::PermitRefused, Error::NotPermitted),
        _ => {
            tracing::error!(error = %error, "administration refused: the policy engine failed");
            (EventKind::AuthzError, Error::PolicyBroken)
        }
    };
    let event = Event::new(
        audited,
        Actor::user(who.user_id()),
        action.as_str(),
        Outcome::Denied,
        json!({ "action": action.as_str() }),
    );
    audit::record_now(store, &event, now).await?;
    Err(refusal)
}

/// Refuses a confirmation by the one who proposed the change.
fn second_person(permit: &Permit, proposed_by: &str) -> Result<(), Error> {
    if Actor::user(permit.user_id()).as_str() == proposed_by {
        Err(Error::SecondAdminRequired)
    } else {
        Ok(())
    }
}

/// Unix seconds.
fn unix(now: OffsetDateTime) -> i64 {
    now.unix_timestamp()
}
