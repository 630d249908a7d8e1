//! Deciding a stored request: approvers approve or deny, the policy decides again, and the
//! snapshot starts; plus who may see which extract.
//!
//! Guarantees (C5): an approval names the request hash the approver saw, and a different hash
//! is refused; nobody approves their own request, an approver must hold the approver role in the
//! extract's district, and one approver never counts twice (one verdict per approver, a primary
//! key). When enough approvals are in, [`Policy::grant_approved`] decides again with everyone's
//! roles as of now; only its `Grant` starts a snapshot. While the incident switch is on nothing
//! is approved. Another user's extract is reported exactly like a missing one (C2).

use time::OffsetDateTime;

use super::request::Request;
use super::{Error, ExtractId, ExtractState};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::context::Context;
use crate::policy::{Decision, Grant, Policy, Principal};
use crate::store::Tx;
use crate::store::extracts::{self as rows, DecisionRow, ExtractRow};

/// The policy in force; a store failure denies (the caller answers 503).
pub async fn policy_now(state: &Context) -> Result<Policy, Error> {
    Ok(state.policy.current(&state.store).await?.policy)
}

/// A user as the policy sees them, with their roles read from the store now (C7).
pub async fn principal_of(state: &Context, user_id: &str) -> Result<Principal, Error> {
    Ok(Principal::load(&state.store, user_id).await?)
}

/// Refuses, audited, a principal whose session did not prove its second factor with a
/// passkey when the policy asks for one for their roles or for `purpose` (SECURITY_BAR A9).
pub async fn refuse_without_passkey(
    state: &Context,
    policy: &crate::policy::Policy,
    who: &Principal,
    purpose: &crate::policy::PurposeId,
    action: &str,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let Err(code) = policy.check_factor(who, Some(purpose)) else {
        return Ok(());
    };
    let event = crate::audit::Event::new(
        crate::audit::EventKind::PhishingResistantRequired,
        crate::audit::Actor::user(who.user_id()),
        &format!("user:{}", who.user_id()),
        crate::audit::Outcome::Denied,
        serde_json::json!({ "action": action, "purpose": purpose.as_str() }),
    );
    crate::audit::record_now(&state.store, &event, now).await?;
    Err(Error::Denied {
        code,
        reason: "this needs a passkey: confirm with your passkey, or add one on My account".into(),
    })
}

/// [`Error::Frozen`] while the incident switch is on.
pub async fn refuse_if_frozen(state: &Context) -> Result<(), Error> {
    match state.store.find_freeze().await? {
        Some(f) if f.frozen => Err(Error::Frozen(f.reason)),
        _ => Ok(()),
    }
}

/// The same check inside a write transaction, so a freeze and a request cannot cross.
pub async fn refuse_if_frozen_in(tx: &mut Tx) -> Result<(), Error> {
    match rows::find_freeze_in(tx).await? {
        Some(f) if f.frozen => Err(Error::Frozen(f.reason)),
        _ => Ok(()),
    }
}

/// The extract if `who` may see it: its requester, or whoever the policy lets approve
/// (`extract.approve`) or administer (`users.administer`) in its district. Anyone else gets
/// [`Error::NotFound`], exactly as for an id that does not exist (C2); so does a policy that
/// cannot be evaluated.
pub async fn find_visible(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
) -> Result<ExtractRow, Error> {
    let row = find_if(state, id, |_| true).await?;
    if row.requester_id == who.user_id() {
        return Ok(row);
    }
    let district = crate::nouns::DistrictCode::parse(&row.district)?;
    let policy = policy_now(state).await?;
    for action in [
        crate::policy::Action::ExtractApprove,
        crate::policy::Action::UsersAdminister,
    ] {
        if policy.permits(who, action, &district).await.is_ok() {
            return Ok(row);
        }
    }
    Err(Error::NotFound)
}

/// The extract if `who` requested it; [`Error::NotFound`] otherwise (C2).
pub async fn find_own(
    state: &Context,
    who: &Principal,
    id: &ExtractId,
) -> Result<ExtractRow, Error> {
    find_if(state, id, |row| row.requester_id == who.user_id()).await
}

async fn find_if(
    state: &Context,
    id: &ExtractId,
    may_see: impl FnOnce(&ExtractRow) -> bool,
) -> Result<ExtractRow, Error> {
    match state.store.find_extract(id.as_str()).await? {
        Some(row) if may_see(&row) => Ok(row),
        _ => Err(Error::NotFound),
    }
}

/// A state other than `live`, as the error every data path answers with (410 for an ended one).
pub fn unavailable(row: &ExtractRow) -> Error {
    match row.state {
        ExtractState::Pending => {
            Error::Conflict("not_approved", "the extract is not approved yet".into())
        }
        ExtractState::Building => Error::Conflict(
            "building",
            "the extract is still being prepared; try again in a moment".into(),
        ),
        other => Error::Gone(other.as_str().to_owned()),
    }
}

/// An approver's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Deny,
}

/// An approval's comment: optional, at most 1000 characters, line breaks allowed
/// ([`crate::text`]).
pub const APPROVAL_COMMENT: crate::text::Rule = crate::text::Rule::lines(0, 1000);
/// A denial's comment: the same, but the requester must be told why.
pub const DENIAL_COMMENT: crate::text::Rule = crate::text::Rule::lines(1, 1000);

/// The verdict's comment, trimmed, if its rule takes it.
pub fn check_comment(verdict: Verdict, comment: &str) -> Result<&str, Error> {
    let rule = match verdict {
        Verdict::Approve => APPROVAL_COMMENT,
        Verdict::Deny => DENIAL_COMMENT,
    };
    rule.check(comment).map_err(|e| match e {
        crate::text::Refused::Length { .. }
            if verdict == Verdict::Deny && comment.trim().is_empty() =>
        {
            Error::CommentRequired
        }
        why => Error::TextRefused {
            what: "comment",
            why,
        },
    })
}

/// Refuses an approval without a justification (the approval's comment) when the purpose
/// asks its approvers to say why they approve (`approver_justification`).
pub fn check_justification(
    policy: &crate::policy::Policy,
    purpose: &crate::policy::PurposeId,
    comment: &str,
) -> Result<(), Error> {
    if justification_required(policy, purpose) && comment.trim().is_empty() {
        return Err(Error::Conflict(
            "justification_required",
            "this purpose asks the approver to write why they approve; write it in the comment"
                .into(),
        ));
    }
    Ok(())
}

/// Whether approving a request for `purpose` needs a justification.
pub fn justification_required(
    policy: &crate::policy::Policy,
    purpose: &crate::policy::PurposeId,
) -> bool {
    policy
        .purpose(purpose)
        .is_some_and(|p| p.approver_justification)
}

/// What a verdict led to.
#[derive(Debug, Clone)]
pub struct Decided {
    pub state: ExtractState,
    pub approvals: usize,
    pub approvers_needed: i64,
}

/// An approver approves (binding to `request_hash`) or denies a pending request.
pub async fn decide(
    state: &Context,
    approver: &Principal,
    id: &ExtractId,
    verdict: Verdict,
    request_hash: Option<&str>,
    comment: &str,
    now: OffsetDateTime,
) -> Result<Decided, Error> {
    let row = find_visible(state, approver, id).await?;
    let comment = check_comment(verdict, comment)?;
    let policy = policy_now(state).await?;
    if let Err(code) = crate::policy::may_approve(
        approver,
        &row.requester_id,
        &crate::nouns::DistrictCode::parse(&row.district)?,
    ) {
        let reason = match code {
            crate::policy::DenyCode::SelfApproval => "nobody may decide their own request".into(),
            _ => format!(
                "only an approver for {} may decide this request",
                row.district
            ),
        };
        return Err(Error::Denied { code, reason });
    }
    if verdict == Verdict::Approve && request_hash != Some(row.request_hash.as_str()) {
        return Err(Error::Conflict(
            "request_changed",
            "the request is not the one you reviewed; reload it and decide again".into(),
        ));
    }
    let request = Request::from_json(&row.request)?;
    let permit = policy
        .permits(
            approver,
            crate::policy::Action::ExtractApprove,
            &request.district,
        )
        .await;
    if let Err(e) = permit {
        return Err(Error::Denied {
            code: e.deny_code(),
            reason: format!("your roles do not allow approving in {}", request.district),
        });
    }
    refuse_without_passkey(
        state,
        &policy,
        approver,
        &request.purpose,
        "extract.decide",
        now,
    )
    .await?;
    if verdict == Verdict::Approve {
        check_justification(&policy, &request.purpose, comment)?;
        super::handover::check_at_approval(state, &policy, approver, id, &request, now).await?;
    }
    let mut tx = state.store.begin().await?;
    // The row first, then (in `audit::record`) the chain: the order the sweeper's lapse takes.
    let current = rows::lock_extract_in(&mut tx, id.as_str())
        .await?
        .ok_or(Error::NotFound)?;
    if verdict == Verdict::Approve {
        refuse_if_frozen_in(&mut tx).await?;
    }
    if current.state != ExtractState::Pending {
        return Err(unavailable(&current));
    }
    let word = match verdict {
        Verdict::Approve => "approve",
        Verdict::Deny => "deny",
    };
    let fresh = rows::insert_decision(
        &mut tx,
        &DecisionRow {
            extract_id: id.as_str().to_owned(),
            approver_id: approver.user_id().to_owned(),
            verdict: word.to_owned(),
            request_hash: current.request_hash.clone(),
            comment: comment.to_owned(),
            decided_at: now.unix_timestamp(),
        },
    )
    .await?;
    if !fresh {
        return Err(Error::Conflict(
            "already_decided",
            "you have already decided this request".into(),
        ));
    }
    let actor = Actor::user(approver.user_id());
    let target = format!("extract:{id}");
    let action = match verdict {
        Verdict::Approve => EventKind::ExtractApproved,
        Verdict::Deny => EventKind::ExtractDenied,
    };
    let mut details =
        serde_json::json!({ "request_hash": current.request_hash, "district": current.district });
    // The approver's words stay with the decision; the log binds them by length and hash
    // only, as for a follow-up acknowledgement (they may name people).
    if verdict == Verdict::Approve && !comment.is_empty() {
        details["justification_chars"] = serde_json::json!(comment.chars().count());
        details["justification_sha256"] =
            serde_json::json!(crate::crypto::sha256_hex(comment.as_bytes()));
    }
    let event = Event::new(action, actor, &target, Outcome::Success, details);
    audit::record(&mut tx, &event, now).await?;
    let decisions = rows::list_decisions_in(&mut tx, id.as_str()).await?;
    let approvals = decisions.iter().filter(|d| d.verdict == "approve").count();
    let outcome = if verdict == Verdict::Deny {
        rows::end_pending(
            &mut tx,
            id.as_str(),
            ExtractState::Denied,
            "denied_by_approver",
            now.unix_timestamp(),
        )
        .await?;
        notify(&mut tx, &current.requester_id, "extract_denied", id, now).await?;
        (ExtractState::Denied, None)
    } else if i64::try_from(approvals).unwrap_or(i64::MAX) >= current.approvers_needed {
        match regrant(state, &policy, &current, &request, &decisions, now).await? {
            Ok(grant) => {
                let now_s = now.unix_timestamp();
                let lease_until = now_s + super::BUILD_LEASE_SECS;
                let Some(attempt) =
                    rows::start_build(&mut tx, id.as_str(), now_s, lease_until).await?
                else {
                    // Cannot happen while the row is locked; refuse rather than record an
                    // approval that started nothing.
                    tx.rollback().await?;
                    return Err(Error::Conflict(
                        "not_pending",
                        "the request is no longer waiting for a decision".into(),
                    ));
                };
                notify(&mut tx, &current.requester_id, "extract_approved", id, now).await?;
                (ExtractState::Building, Some((attempt, grant)))
            }
            Err((code, reason)) => {
                let event = Event::new(
                    EventKind::ExtractDenied,
                    Actor::system(),
                    &target,
                    Outcome::Denied,
                    serde_json::json!({ "code": code.as_str(), "by": "policy" }),
                );
                audit::record(&mut tx, &event, now).await?;
                rows::end_pending(
                    &mut tx,
                    id.as_str(),
                    ExtractState::Denied,
                    code.as_str(),
                    now.unix_timestamp(),
                )
                .await?;
                tx.commit().await?;
                return Err(Error::Denied { code, reason });
            }
        }
    } else {
        (ExtractState::Pending, None)
    };
    tx.commit().await?;
    after_commit(state).await;
    if let (ExtractState::Building, Some((attempt, grant))) = (&outcome.0, outcome.1) {
        super::snapshot::spawn(state.clone(), id.clone(), attempt, grant, request);
    }
    Ok(Decided {
        state: outcome.0,
        approvals,
        approvers_needed: current.approvers_needed,
    })
}

/// The policy's `Grant` for a stored request, decided now: for one allowed without approval,
/// decide again; otherwise check the recorded approvals with [`Policy::grant_approved`].
pub async fn regrant(
    state: &Context,
    policy: &Policy,
    row: &ExtractRow,
    request: &Request,
    decisions: &[DecisionRow],
    now: OffsetDateTime,
) -> Result<Result<Grant, (crate::policy::DenyCode, String)>, Error> {
    let requester = principal_of(state, &row.requester_id).await?;
    let estimated = u64::try_from(row.estimated_rows).unwrap_or(0);
    let asked = request.policy_request(estimated);
    let decision = if row.approvers_needed == 0 {
        policy.decide(&requester, &asked, now).await
    } else {
        let mut approvers = Vec::new();
        for d in decisions.iter().filter(|d| d.verdict == "approve") {
            if d.request_hash != row.request_hash {
                continue;
            }
            approvers.push(principal_of(state, &d.approver_id).await?);
        }
        policy
            .grant_approved(&requester, &asked, &row.policy_hash, &approvers, now)
            .await
    };
    Ok(match decision {
        Decision::Allow(grant) => Ok(grant),
        Decision::Deny { code, reason } => Err((code, reason)),
        Decision::NeedsApproval { .. } => Err((
            crate::policy::DenyCode::NotEnoughApprovers,
            "the request still needs approval".to_owned(),
        )),
    })
}

/// Tells the district's approvers about a new request (in-app, and by e-mail when set up).
pub async fn notify_approvers(
    state: &Context,
    tx: &mut Tx,
    id: &ExtractId,
    request: &Request,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let approvers = state
        .store
        .list_role_holders(
            crate::nouns::Role::Approver.as_str(),
            request.district.as_str(),
        )
        .await?;
    for approver in approvers {
        notify(tx, &approver.id, "extract_requested", id, now).await?;
    }
    Ok(())
}

/// An in-app notice (no member data: the kind, the extract id and a fixed sentence).
pub async fn notify(
    tx: &mut Tx,
    user_id: &str,
    kind: &'static str,
    id: &ExtractId,
    now: OffsetDateTime,
) -> Result<(), Error> {
    crate::notify::leave(tx, user_id, kind, Some(id.as_str()), now.unix_timestamp()).await?;
    Ok(())
}

/// After a commit that made notices: e-mail them when SMTP is set up.
pub async fn after_commit(state: &Context) {
    crate::notify::kick(
        &state.store,
        state.mailer.as_ref(),
        &state.config.server.public_url,
    );
}
