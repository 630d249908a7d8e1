//! Recertification of roles: every role is confirmed again at an interval, or it stops working.
//!
//! Guarantees (issue 22, item 2):
//! - every stored role — staff, approver, auditor, admin — is due `[roles] recertify_days`
//!   after it was granted or last confirmed; past its due date and not confirmed it is
//!   SUSPENDED: the row stays, but the store's reads of the roles in force leave it out, so
//!   `Principal::load`, approver notices, the "who may approve" names, callers and the page
//!   frame all run without it from the first request after the deadline (no sweep needed);
//! - the housekeeping pass ([`sweep`]) records each suspension once (`role.suspend`, and it
//!   ends the holder's sessions), and tells the holder and those who may confirm
//!   `recertify_notice_days` ahead, once per due date (a notice each, `role.due_notice`);
//! - who confirms is the policy's: an `extract approve` permit that reaches the role's district
//!   confirms the district's staff, approver and auditor roles; party-wide roles and admin roles
//!   need a party-wide `users administer` permit (which also confirms any role);
//! - nobody confirms or removes their own role ([`Error::OwnRole`]); confirming a suspended role
//!   lifts the suspension; removing goes through `admin::roles`' revoke rules (an admin,
//!   party-wide or own role waits for a second administrator);
//! - every confirmation and removal is a `role.recertify` event in its change's transaction.
//!
//! Never: deletes a role because it was not confirmed; lets anyone see or act on a role their
//! permits do not reach.

mod sweep;

use serde_json::json;
use time::OffsetDateTime;

use super::{Error, audited_permit, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::config::RolesConfig;
use crate::nouns::{Role, RoleGrant, Scope};
use crate::policy::{self, Permit, Policy, Principal};
use crate::store::roles::{self as rows, HoldingRow};
use crate::store::{self, Store, Tx};

pub use super::roles::RoleChangeOutcome;
pub use sweep::{ROLE_DUE, ROLE_DUE_CONFIRM, Swept, sweep};

/// Where a role stands in its term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Confirmed, and the due date is further away than the advance notice.
    InForce,
    /// In force, but due within `recertify_notice_days`.
    DueSoon,
    /// Past its due date and not confirmed: kept, but it gives nothing.
    Suspended,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::InForce => "in_force",
            Standing::DueSoon => "due_soon",
            Standing::Suspended => "suspended",
        }
    }

    /// A role's standing at `now`, from when it was granted or last confirmed.
    pub fn at(confirmed_at: i64, terms: &RolesConfig, now: OffsetDateTime) -> Standing {
        let due = confirmed_at.saturating_add(terms.term_secs());
        let now = unix(now);
        if now >= due {
            Standing::Suspended
        } else if now >= due.saturating_sub(terms.notice_secs()) {
            Standing::DueSoon
        } else {
            Standing::InForce
        }
    }
}

/// One role of one person, as the confirm page and the API show it.
#[derive(Debug, Clone)]
pub struct Holding {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub grant: RoleGrant,
    pub confirmed_at: OffsetDateTime,
    pub due_at: OffsetDateTime,
    pub standing: Standing,
}

impl Holding {
    fn of(row: &HoldingRow, terms: &RolesConfig, now: OffsetDateTime) -> Option<Holding> {
        let grant: RoleGrant = format!("{}:{}", row.role, row.district).parse().ok()?;
        let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).ok();
        Some(Holding {
            user_id: row.user_id.clone(),
            username: row.username.clone(),
            display_name: row.display_name.clone(),
            grant,
            confirmed_at: at(row.confirmed_at)?,
            due_at: at(row.confirmed_at.saturating_add(terms.term_secs()))?,
            standing: Standing::at(row.confirmed_at, terms, now),
        })
    }
}

/// Whether a role is confirmed by a party-wide administrator only: an admin role (it hands
/// out the others) and a party-wide role (it reaches every district).
pub fn needs_party_wide_admin(grant: &RoleGrant) -> bool {
    grant.role == Role::Admin || grant.scope == Scope::Party
}

/// The proof of what a person may confirm: their `extract approve` permit (the district's
/// approver) and their party-wide `users administer` permit, whichever they hold.
#[derive(Debug)]
pub struct Confirmer {
    user_id: String,
    approve: Option<Permit>,
    party_admin: Option<Permit>,
}

impl Confirmer {
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// May this person confirm or remove `grant` (anyone's; [`Error::OwnRole`] is separate)?
    pub fn reaches(&self, grant: &RoleGrant) -> bool {
        if self.party_admin.is_some() {
            return true;
        }
        !needs_party_wide_admin(grant)
            && self.approve.as_ref().is_some_and(|p| {
                p.check(policy::Action::ExtractApprove, &grant.scope)
                    .is_ok()
            })
    }
}

/// What `who` may confirm, by the policy in force. Neither permit: refused and audited as any
/// administration refusal (`authz.refuse`; `authz.error` when the policy cannot be evaluated).
pub async fn confirmer(
    store: &Store,
    policy: &Policy,
    who: &Principal,
    now: OffsetDateTime,
) -> Result<Confirmer, Error> {
    let approve = policy.permit(who, policy::Action::ExtractApprove).await;
    let admin = policy
        .permits_party_wide(who, policy::Action::UsersAdminister)
        .await;
    let broken = |r: &Result<Permit, policy::Error>| matches!(r, Err(e) if !matches!(e, policy::Error::NotPermitted { .. }));
    if broken(&approve) || broken(&admin) || (approve.is_err() && admin.is_err()) {
        let asked = approve.and(admin);
        audited_permit(store, who, policy::Action::ExtractApprove, asked, now).await?;
        return Err(Error::NotPermitted);
    }
    Ok(Confirmer {
        user_id: who.user_id().to_owned(),
        approve: approve.ok(),
        party_admin: admin.ok(),
    })
}

/// The roles `confirmer` may confirm (their own left out), the soonest due first. Audited as
/// `user.list` (`role_holdings`): who read whose roles is evidence too.
pub async fn to_confirm(
    store: &Store,
    confirmer: &Confirmer,
    terms: &RolesConfig,
    now: OffsetDateTime,
) -> Result<Vec<Holding>, Error> {
    let shown: Vec<Holding> = store
        .list_holdings()
        .await?
        .iter()
        .filter(|r| r.user_id != confirmer.user_id)
        .filter_map(|r| Holding::of(r, terms, now))
        .filter(|h| confirmer.reaches(&h.grant))
        .collect();
    let event = Event::new(
        EventKind::UsersListed,
        Actor::user(&confirmer.user_id),
        "role_holdings",
        Outcome::Success,
        json!({ "count": shown.len() }),
    );
    audit::record_now(store, &event, now).await?;
    Ok(shown)
}

/// The user's own roles with their standing (suspended ones included), for their start and
/// account pages. Not audited: one's own roles.
pub async fn own(
    store: &Store,
    user_id: &str,
    terms: &RolesConfig,
    now: OffsetDateTime,
) -> Result<Vec<Holding>, Error> {
    Ok(store
        .list_holdings_of(user_id)
        .await?
        .iter()
        .filter_map(|r| Holding::of(r, terms, now))
        .collect())
}

/// Every active account's roles with their standing, in one read, for the administrator's
/// user list (which is itself audited as `user.list`).
pub async fn everyone(
    store: &Store,
    terms: &RolesConfig,
    now: OffsetDateTime,
) -> Result<Vec<Holding>, Error> {
    Ok(store
        .list_holdings()
        .await?
        .iter()
        .filter_map(|r| Holding::of(r, terms, now))
        .collect())
}

/// Who may confirm `grant`, by name, in force now: the district's approvers, or the party-wide
/// administrators for an admin or party-wide role ("who to ask").
pub async fn who_confirms(store: &Store, grant: &RoleGrant) -> Result<Vec<String>, Error> {
    let (role, scope) = confirmers_of(grant);
    Ok(store
        .list_role_holder_names(role.as_str(), scope)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect())
}

fn confirmers_of(grant: &RoleGrant) -> (Role, &str) {
    if needs_party_wide_admin(grant) {
        (Role::Admin, "*")
    } else {
        (Role::Approver, grant.scope.as_str())
    }
}

/// The holding `confirmer` acts on, after the checks every act shares.
async fn reachable(
    store: &Store,
    confirmer: &Confirmer,
    username: &str,
    grant: &RoleGrant,
) -> Result<(store::accounts::UserRow, HoldingRow), Error> {
    let name = crate::nouns::Username::parse(username)?;
    let user = store
        .find_user_by_username(name.as_str())
        .await?
        .ok_or(Error::NoSuchHolding)?;
    if !confirmer.reaches(grant) {
        return Err(Error::NotPermitted);
    }
    if user.id == confirmer.user_id {
        return Err(Error::OwnRole);
    }
    let row = store
        .find_holding(&user.id, grant.role.as_str(), grant.scope.as_str())
        .await?
        .ok_or(Error::NoSuchHolding)?;
    Ok((user, row))
}

/// Confirms `username`'s `grant` for another term from `now` (allowed any time, not only when
/// due); a suspended role works again at the holder's next request. Audited `role.recertify`.
pub async fn confirm(
    store: &Store,
    confirmer: &Confirmer,
    terms: &RolesConfig,
    username: &str,
    grant: &RoleGrant,
    now: OffsetDateTime,
) -> Result<Holding, Error> {
    let (user, row) = reachable(store, confirmer, username, grant).await?;
    let was = Standing::at(row.confirmed_at, terms, now);
    let actor = Actor::user(&confirmer.user_id);
    let mut tx = store.begin().await?;
    let (role, district) = (grant.role.as_str(), grant.scope.as_str());
    if !rows::confirm_role(&mut tx, &user.id, role, district, actor.as_str(), unix(now)).await? {
        tx.rollback().await?;
        return Err(Error::NoSuchHolding);
    }
    let due = unix(now).saturating_add(terms.term_secs());
    let details = json!({ "role": grant.to_string(), "outcome": "confirmed",
        "was": was.as_str(), "due_at": due });
    record(
        &mut tx,
        EventKind::RoleRecertified,
        actor,
        &user.username,
        details,
        now,
    )
    .await?;
    tx.commit().await?;
    let mut confirmed = row;
    confirmed.confirmed_at = unix(now);
    Holding::of(&confirmed, terms, now).ok_or(Error::NoSuchHolding)
}

/// Removes `username`'s `grant` at recertification, by `admin::roles`' revoke rules: applied
/// at once, or (an admin, party-wide or own role) filed for a second administrator. Audited
/// `role.recertify` (`removed`) with the revoke or the proposal, in one transaction.
pub async fn remove(
    store: &Store,
    confirmer: &Confirmer,
    terms: &RolesConfig,
    username: &str,
    grant: &RoleGrant,
    now: OffsetDateTime,
) -> Result<RoleChangeOutcome, Error> {
    let (user, row) = reachable(store, confirmer, username, grant).await?;
    let was = Standing::at(row.confirmed_at, terms, now);
    let mut tx = store.begin().await?;
    let outcome = super::roles::revoke_in(&mut tx, &user, grant, &confirmer.user_id, now).await?;
    let waiting = matches!(outcome, RoleChangeOutcome::AwaitingSecondAdmin { .. });
    let details = json!({ "role": grant.to_string(), "outcome": "removed",
        "was": was.as_str(), "awaiting_second_admin": waiting });
    let actor = Actor::user(&confirmer.user_id);
    record(
        &mut tx,
        EventKind::RoleRecertified,
        actor,
        &user.username,
        details,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn record(
    tx: &mut Tx,
    kind: EventKind,
    actor: Actor,
    username: &str,
    details: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let event = Event::new(
        kind,
        actor,
        &format!("user:{username}"),
        Outcome::Success,
        details,
    );
    audit::record(tx, &event, now).await?;
    Ok(())
}

/// The operator at the command line (the demo at its start) confirms every role that is due
/// soon or suspended, at once, each audited `role.recertify` as `cli:…`: a demo started again
/// weeks later has fresh roles and nothing suspended. Returns how many were confirmed.
pub async fn confirm_due_as_operator(
    store: &Store,
    terms: &RolesConfig,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let mut confirmed = 0;
    for row in store.list_holdings().await? {
        let was = Standing::at(row.confirmed_at, terms, now);
        if was == Standing::InForce {
            continue;
        }
        let actor = Actor::cli();
        let mut tx = store.begin().await?;
        let (role, district) = (row.role.as_str(), row.district.as_str());
        if !rows::confirm_role(
            &mut tx,
            &row.user_id,
            role,
            district,
            actor.as_str(),
            unix(now),
        )
        .await?
        {
            tx.rollback().await?;
            continue;
        }
        let due = unix(now).saturating_add(terms.term_secs());
        let details = json!({ "role": format!("{role}:{district}"), "outcome": "confirmed",
            "was": was.as_str(), "due_at": due });
        record(
            &mut tx,
            EventKind::RoleRecertified,
            actor,
            &row.username,
            details,
            now,
        )
        .await?;
        tx.commit().await?;
        confirmed += 1;
    }
    Ok(confirmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_in_force_then_due_soon_then_suspended_at_its_due_date() {
        let terms = RolesConfig::default();
        let start = 1_800_000_000;
        let at = |secs: i64| OffsetDateTime::from_unix_timestamp(start + secs).unwrap();
        let term = terms.term_secs();
        assert_eq!(Standing::at(start, &terms, at(0)), Standing::InForce);
        let notice = term - terms.notice_secs();
        assert_eq!(
            Standing::at(start, &terms, at(notice - 1)),
            Standing::InForce
        );
        assert_eq!(Standing::at(start, &terms, at(notice)), Standing::DueSoon);
        assert_eq!(Standing::at(start, &terms, at(term - 1)), Standing::DueSoon);
        assert_eq!(Standing::at(start, &terms, at(term)), Standing::Suspended);
    }

    #[test]
    fn admin_and_party_wide_roles_are_confirmed_by_a_party_wide_admin_only() {
        let g = |s: &str| s.parse::<RoleGrant>().unwrap();
        assert!(needs_party_wide_admin(&g("admin:Uppsala")));
        assert!(needs_party_wide_admin(&g("staff:*")));
        assert!(!needs_party_wide_admin(&g("staff:Uppsala")));
        assert!(!needs_party_wide_admin(&g("auditor:Skåne")));
    }
}
