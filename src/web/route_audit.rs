//! What each route records in the audit log (SECURITY_BAR E5), declared beside it in
//! [`route_table`](super::route_table).
//!
//! Guarantees: every route says either which [`EventKind`]s it may record — successes and the
//! failures and refusals the library records on its path — or why it records none. The suite
//! `tests/it/routes_audited.rs` fails when an API route declares no event, when a route without
//! events is not on its short allowlist, and when a representative route does not really
//! record one of its declared actions. Declarations are data, not behaviour: the events are
//! recorded by the library code the handler calls.

use crate::audit::EventKind;

/// What a route records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audited {
    /// The route records (one or more of) these actions.
    Records(&'static [EventKind]),
    /// The route records nothing, and why: it reveals nothing about members or other people.
    NotAudited(&'static str),
}

impl Audited {
    /// The declared actions (empty for [`Audited::NotAudited`]).
    pub fn actions(self) -> &'static [EventKind] {
        match self {
            Audited::Records(actions) => actions,
            Audited::NotAudited(_) => &[],
        }
    }
}

/// Username and password: accepted, rejected, or the address is limited.
pub const PASSWORD: Audited = Audited::Records(&[
    EventKind::PasswordAccepted,
    EventKind::PasswordRejected,
    EventKind::AddressLimited,
]);

/// A TOTP or recovery code, at sign-in or as step-up: accepted, rejected, locked, disabled.
pub const SECOND_FACTOR: Audited = Audited::Records(&[
    EventKind::SecondFactorAccepted,
    EventKind::SecondFactorRejected,
    EventKind::SecondFactorLocked,
    EventKind::SecondFactorDisabled,
]);

/// An extract request: the policy's refusal (or error), the stored request, and the snapshot
/// started at once when the policy allows it.
pub const EXTRACT_REQUEST: Audited = Audited::Records(&[
    EventKind::ExtractRequested,
    EventKind::PolicyDecision,
    EventKind::AuthzError,
    EventKind::ExtractBuilt,
    EventKind::ExtractBuildFailed,
]);

/// An approver's verdict; the last approval re-checks the policy and starts the snapshot.
pub const EXTRACT_DECISION: Audited = Audited::Records(&[
    EventKind::ExtractApproved,
    EventKind::ExtractDenied,
    EventKind::ExtractBuilt,
    EventKind::ExtractBuildFailed,
]);

/// A download with a step-up code in the form (pages): the code, the release, a damaged
/// chunk, and the shred after the last allowed download.
pub const PAGE_DOWNLOAD: Audited = Audited::Records(&[
    EventKind::ExtractReleased,
    EventKind::ExtractDamaged,
    EventKind::ExtractShredded,
    EventKind::SecondFactorAccepted,
    EventKind::SecondFactorRejected,
    EventKind::SecondFactorLocked,
    EventKind::SecondFactorDisabled,
]);

/// A page of an extract in the browser, with a step-up code in the form (pages).
pub const PAGE_VIEW: Audited = Audited::Records(&[
    EventKind::ExtractViewed,
    EventKind::ExtractDamaged,
    EventKind::SecondFactorAccepted,
    EventKind::SecondFactorRejected,
    EventKind::SecondFactorLocked,
    EventKind::SecondFactorDisabled,
]);

/// The admin page always shows the user list and what waits for a second administrator; a
/// caller without the `users administer` permit is refused and audited.
pub const ADMIN_PAGE: Audited = Audited::Records(&[
    EventKind::UsersListed,
    EventKind::PermitRefused,
    EventKind::AuthzError,
]);

/// A change from the admin page (which is shown again afterwards): a proposal, a confirmation
/// or a rejection of an account, a role change or a policy change.
pub const ADMIN_CHANGE: Audited = Audited::Records(&[
    EventKind::UserProposed,
    EventKind::UserCreated,
    EventKind::UserProposalRejected,
    EventKind::RoleGranted,
    EventKind::RoleRevoked,
    EventKind::RoleChangeRequested,
    EventKind::RoleChangeRejected,
    EventKind::PolicyProposed,
    EventKind::PolicyChanged,
    EventKind::PolicyProposalRejected,
    EventKind::UsersListed,
    EventKind::PermitRefused,
    EventKind::AuthzError,
]);

/// An administrator acts on an account from `/admin` (and the page is shown again).
pub const ADMIN_ACCOUNT: Audited = Audited::Records(&[
    EventKind::UserDisabled,
    EventKind::UserEnabled,
    EventKind::SecondFactorReset,
    EventKind::InvitationResent,
    EventKind::UsersListed,
    EventKind::PermitRefused,
    EventKind::AuthzError,
]);

/// An extract request from the form, with the step-up code in it.
pub const PAGE_REQUEST: Audited = Audited::Records(&[
    EventKind::ExtractRequested,
    EventKind::PolicyDecision,
    EventKind::AuthzError,
    EventKind::ExtractBuilt,
    EventKind::ExtractBuildFailed,
    EventKind::SecondFactorAccepted,
    EventKind::SecondFactorRejected,
    EventKind::SecondFactorLocked,
    EventKind::SecondFactorDisabled,
]);

/// An approver's verdict from the form, with the step-up code in it; a refusal shows the
/// extract page again (`extract.show`).
pub const PAGE_DECISION: Audited = Audited::Records(&[
    EventKind::ExtractApproved,
    EventKind::ExtractDenied,
    EventKind::ExtractBuilt,
    EventKind::ExtractBuildFailed,
    EventKind::ExtractShown,
    EventKind::SecondFactorAccepted,
    EventKind::SecondFactorRejected,
    EventKind::SecondFactorLocked,
    EventKind::SecondFactorDisabled,
]);

/// A drawn release reviewed from the page, with the step-up code in the form; a refusal shows
/// the sample again (`followup.sample_list`, drawing what is due).
pub const PAGE_SAMPLE_REVIEW: Audited = Audited::Records(&[
    EventKind::SampleReviewed,
    EventKind::SampleListed,
    EventKind::SampleDrawn,
    EventKind::SecondFactorAccepted,
    EventKind::SecondFactorRejected,
    EventKind::SecondFactorLocked,
    EventKind::SecondFactorDisabled,
]);

/// A sample signed off from the page, with the step-up code in the form; a refusal shows the
/// sample again.
pub const PAGE_SAMPLE_SIGN_OFF: Audited = Audited::Records(&[
    EventKind::SampleSignedOff,
    EventKind::SampleListed,
    EventKind::SampleDrawn,
    EventKind::SecondFactorAccepted,
    EventKind::SecondFactorRejected,
    EventKind::SecondFactorLocked,
    EventKind::SecondFactorDisabled,
]);

/// A flag acknowledged from the page, with the step-up code in the form; a refusal shows the
/// flags again (`followup.list`).
pub const PAGE_ACKNOWLEDGE: Audited = Audited::Records(&[
    EventKind::FollowupAcknowledged,
    EventKind::FollowupListed,
    EventKind::SecondFactorAccepted,
    EventKind::SecondFactorRejected,
    EventKind::SecondFactorLocked,
    EventKind::SecondFactorDisabled,
]);
