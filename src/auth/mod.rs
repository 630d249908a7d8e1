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
pub mod passkey;
pub mod password;
pub mod recovery;
pub mod second_factor;
pub mod session;
pub mod signin;
pub mod totp;

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
    /// A username, role or district that is not one.
    #[error(transparent)]
    Noun(#[from] crate::nouns::Error),
    #[error("a user named {0} already exists")]
    UserExists(String),
    #[error("no user named {0}")]
    NoSuchUser(String),
    /// Enrolment asked of an account that already has an authenticator: the account's
    /// state, not the request, is in the way (409, not 422).
    #[error("this account already has an authenticator")]
    AlreadyEnrolled,
    /// A passkey's answer did not verify (wrong site, no user verification, a replayed or
    /// expired challenge, an unknown passkey); the reason is in the audit log.
    #[error("the passkey could not be verified; try again")]
    PasskeyRefused,
    #[error("this account has no passkey yet")]
    NoPasskey,
    #[error("no such passkey")]
    NoSuchPasskey,
    #[error("passkeys are not enabled on this broker")]
    PasskeysOff,
    /// Removing this passkey would leave the account without a second factor.
    #[error("this is your only second factor; add another passkey or the authenticator app first")]
    LastSecondFactor,
    /// The policy asks for a passkey for this action and the session proved its second factor
    /// another way (SECURITY_BAR A9).
    #[error("this action needs a passkey: confirm with your passkey, or add one on My account")]
    PhishingResistantRequired,
    #[error("{0}")]
    OidcRefused(oidc_login::Refusal),
    /// An account is to sign in through a provider the configuration does not name: the
    /// server's state, not the request's form, is in the way (409).
    #[error("no identity provider by that id is configured")]
    UnknownIdentityProvider,
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

/// Seconds since 1970 for the store's time columns.
pub fn unix(now: time::OffsetDateTime) -> i64 {
    now.unix_timestamp()
}
