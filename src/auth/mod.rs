//! Sign-in with a mandatory second factor: local accounts (password + TOTP), OIDC, sessions
//! and step-up.
//!
//! Guarantees:
//! - Nobody is ever half-signed-in: a session is `password` (second factor pending), `enrol`
//!   (must enrol TOTP first) or `full`; only `full` sessions reach anything but the 2FA step.
//! - A TOTP code works once (compare-and-set on the last used step in the store), within
//!   steps t−1..t, with lockout after repeated failures ([`lockout`]).
//! - Unknown user and wrong password are indistinguishable (same error, same argon2 work).
//! - Every sign-in event — success, failure, lockout, enrolment, reset, OIDC rejection — is an
//!   audit event, committed with the change it describes.
//!
//! Never: store a password, seed, code or token in the clear; log one; match an OIDC user by
//! e-mail.

pub mod accounts;
pub mod lockout;
pub mod oidc;
pub mod oidc_login;
pub mod password;
pub mod recovery;
pub mod second_factor;
pub mod session;
pub mod signin;
pub mod totp;

use std::fmt;
use std::str::FromStr;

use crate::{audit, crypto, store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong username or password — deliberately the same for both (ASVS V6.3.8).
    #[error("the username or password is wrong")]
    InvalidCredentials,
    #[error("the code is wrong or was already used")]
    InvalidCode,
    #[error("too many wrong codes; try again after {until}")]
    Locked { until: String },
    #[error(
        "the second factor is disabled after too many wrong codes; ask an administrator to reset it"
    )]
    FactorDisabled,
    #[error("too many failed sign-ins from this address; wait 15 minutes")]
    TooManyAttempts,
    #[error("sign in first")]
    NotSignedIn,
    #[error("the session has ended; sign in again")]
    SessionExpired,
    #[error("complete sign-in with your second factor first")]
    SecondFactorRequired,
    #[error("set up your authenticator app first")]
    EnrolmentRequired,
    #[error("confirm with a fresh code from your authenticator app")]
    StepUpRequired,
    #[error("the invitation link is invalid, used or expired; ask an administrator for a new one")]
    InvalidInvitation,
    #[error("{0}")]
    Password(password::Rejection),
    #[error("{0}")]
    BadInput(String),
    #[error("a user named {0} already exists")]
    UserExists(String),
    #[error("no user named {0}")]
    NoSuchUser(String),
    /// Enrolment asked of an account that already has an authenticator: the account's
    /// state, not the request, is in the way (409, not 422).
    #[error("this account already has an authenticator")]
    AlreadyEnrolled,
    #[error("{0}")]
    Oidc(String),
    /// The identity provider cannot be reached; nothing is signed in (fail closed).
    #[error("the identity provider cannot be reached: {0}")]
    OidcUnavailable(String),
    #[error("the audit log cannot be written: {0}")]
    Audit(#[from] audit::Error),
    #[error("store: {0}")]
    Store(#[from] store::Error),
    #[error("crypto: {0}")]
    Crypto(#[from] crypto::Error),
    #[error("internal: {0}")]
    Internal(String),
}

/// The four roles of the brief. The policy (issue 4) decides what each may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Staff,
    Approver,
    Admin,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Staff, Role::Approver, Role::Admin, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Approver => "approver",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::BadInput(format!(
                    "unknown role {s:?}; use staff, approver, admin or auditor"
                ))
            })
    }
}

/// Where a role applies: one district, or the whole party (`*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Party,
    District(crate::register::DistrictCode),
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, Error> {
        if s == "*" {
            return Ok(Scope::Party);
        }
        crate::register::DistrictCode::parse(s)
            .map(Scope::District)
            .map_err(|_| {
                Error::BadInput(
                    "a district is letters, digits, spaces, '-' or '_' (or * for the whole party)"
                        .into(),
                )
            })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Scope::Party => "*",
            Scope::District(d) => d.as_str(),
        }
    }
}

/// A role in a scope, e.g. `approver:Uppsala` or `auditor:*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleGrant {
    pub role: Role,
    pub scope: Scope,
}

impl FromStr for RoleGrant {
    type Err = Error;
    fn from_str(s: &str) -> Result<RoleGrant, Error> {
        let (role, scope) = s.split_once(':').ok_or_else(|| {
            Error::BadInput(format!(
                "write a role as ROLE:DISTRICT (e.g. staff:Uppsala), not {s:?}"
            ))
        })?;
        Ok(RoleGrant {
            role: role.parse()?,
            scope: Scope::parse(scope)?,
        })
    }
}

impl fmt::Display for RoleGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.role.as_str(), self.scope.as_str())
    }
}

/// A username: 3–64 characters of lowercase letters, digits, '.', '-', '_' (stored lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Username, Error> {
        let lower = s.trim().to_lowercase();
        let ok_len = (3..=64).contains(&lower.chars().count());
        let ok_chars = lower
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if ok_len && ok_chars {
            Ok(Username(lower))
        } else {
            Err(Error::BadInput(
                "a username is 3–64 letters, digits, '.', '-' or '_'".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Seconds since 1970 for the store's time columns.
pub fn unix(now: time::OffsetDateTime) -> i64 {
    now.unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_grants_parse_and_print() {
        let g: RoleGrant = "approver:Uppsala".parse().unwrap();
        assert_eq!(g.to_string(), "approver:Uppsala");
        let g: RoleGrant = "auditor:*".parse().unwrap();
        assert_eq!(g.scope, Scope::Party);
        assert!("boss:Uppsala".parse::<RoleGrant>().is_err());
        assert!("staff".parse::<RoleGrant>().is_err());
    }

    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(
            Username::parse(" Anna.Berg ").unwrap().as_str(),
            "anna.berg"
        );
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("x\ny").is_err());
    }
}
