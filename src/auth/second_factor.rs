//! The second step of sign-in and every step-up: a TOTP code or a single-use recovery code,
//! checked in one locked step.
//!
//! Guarantees (SECURITY_BAR A2, A4, A10):
//! - every code is checked inside one write transaction that first locks the user's row:
//!   the gate (locked, disabled), the check, the replay claim, the failure count, the session
//!   upgrade and their audit events commit together, so parallel codes for one user are
//!   checked one after the other and each sees the count of the one before. Of any burst of
//!   wrong codes at most [`lockout::FAILURES_PER_LOCK`] are checked before the lock shuts the
//!   gate, and every one that was checked counts towards the disable;
//! - a TOTP step is claimed with a compare-and-set that also refuses a locked factor, so a
//!   code works once, also across restarts and brokers;
//! - a code refused at the gate is never checked and never counted (see [`lockout`]).
//!
//! Never: check a code outside the locked transaction, or count a failure without its audit
//! event.

use serde_json::json;
use time::OffsetDateTime;

use super::session::{self, NewSession, Session, Stage};
use super::signin::{Client, Purpose, check_address, seed_aad};
use super::{Error, lockout, recovery, totp, unix};
use crate::audit::{self, Actor, Event, EventKind, Outcome};
use crate::crypto::Keyring;
use crate::store::accounts::{SecondFactorRow, TotpFailures};
use crate::store::{self, Store, Tx};

/// A code as the user typed it.
enum Presented<'a> {
    Totp {
        keyring: &'a Keyring,
        code: &'a totp::Code,
    },
    Recovery(&'a str),
}

impl Presented<'_> {
    fn factor(&self) -> session::Factor {
        match self {
            Presented::Totp { .. } => session::Factor::Totp,
            Presented::Recovery(_) => session::Factor::RecoveryCode,
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Presented::Totp { .. } => "totp",
            Presented::Recovery(_) => "recovery_code",
        }
    }
}

/// What checking a code under the lock found.
enum Verdict {
    Accepted,
    Wrong(&'static str),
}

/// Step 2 (or step-up): a TOTP code.
pub async fn with_totp(
    store: &Store,
    keyring: &Keyring,
    session: &Session,
    code: &totp::Code,
    purpose: Purpose,
    client: &Client,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    let presented = Presented::Totp { keyring, code };
    check_code(store, session, presented, purpose, client, now).await
}

/// Step 2 with a single-use recovery code instead of TOTP.
pub async fn with_recovery_code(
    store: &Store,
    session: &Session,
    input: &str,
    client: &Client,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    let presented = Presented::Recovery(input);
    check_code(store, session, presented, Purpose::SignIn, client, now).await
}

/// The one locked step: lock the row, pass the gate, check, then upgrade the session or
/// count the failure — all in one transaction.
async fn check_code(
    store: &Store,
    session: &Session,
    presented: Presented<'_>,
    purpose: Purpose,
    client: &Client,
    now: OffsetDateTime,
) -> Result<NewSession, Error> {
    check_stage(session, purpose)?;
    check_address(store, client, now).await?;
    let target = format!("user:{}", session.username);
    let actor = Actor::user(&session.user_id);
    let mut tx = store.begin().await?;
    let row = store::accounts::lock_second_factor(&mut tx, &session.user_id)
        .await?
        .ok_or(Error::SessionExpired)?;
    let state = factor_state(&row.failures);
    if let Some(refusal) = gate_refusal(&state, now) {
        let event = Event::new(
            EventKind::SecondFactorRejected,
            actor,
            &target,
            Outcome::Denied,
            json!({ "ip": client.ip, "reason": "locked" }),
        );
        audit::record(&mut tx, &event, now).await?;
        tx.commit().await?;
        return Err(refusal);
    }
    let verdict = verify(&mut tx, &session.user_id, &row, &presented, now).await?;
    match verdict {
        Verdict::Accepted => {
            let proof = session::Proof {
                factor: presented.factor(),
                at: unix(now),
            };
            let new = session::rotate(&mut tx, session, Stage::Full, Some(proof), now).await?;
            let event = Event::new(
                EventKind::SecondFactorAccepted,
                actor,
                &target,
                Outcome::Success,
                json!({ "ip": client.ip, "method": presented.method(), "purpose": purpose.as_str() }),
            );
            audit::record(&mut tx, &event, now).await?;
            tx.commit().await?;
            Ok(new)
        }
        Verdict::Wrong(reason) => {
            count_failure(
                &mut tx,
                &session.user_id,
                &target,
                state,
                reason,
                client,
                now,
            )
            .await?;
            tx.commit().await?;
            store
                .record_ip_failure(&client.ip, unix(now), lockout::IP_WINDOW_SECS)
                .await?;
            Err(Error::InvalidCode)
        }
    }
}

fn check_stage(session: &Session, purpose: Purpose) -> Result<(), Error> {
    match (session.stage, purpose) {
        (Stage::Enrol, _) => Err(Error::EnrolmentRequired),
        (Stage::Password, Purpose::SignIn) | (Stage::Full, _) => Ok(()),
        (Stage::Password, Purpose::StepUp) => Err(Error::SecondFactorRequired),
    }
}

fn factor_state(f: &TotpFailures) -> lockout::FactorState {
    lockout::FactorState {
        consecutive_failures: u32::try_from(f.totp_failures).unwrap_or(0),
        locks: u32::try_from(f.totp_locks).unwrap_or(0),
        locked_until: f.totp_locked_until,
        disabled: f.totp_disabled,
    }
}

/// The refusal for a shut gate, or `None` when the code may be checked.
fn gate_refusal(state: &lockout::FactorState, now: OffsetDateTime) -> Option<Error> {
    match lockout::gate(state, unix(now)) {
        lockout::Gate::Open => None,
        lockout::Gate::LockedUntil(until) => Some(Error::Locked {
            until: OffsetDateTime::from_unix_timestamp(until)
                .map(|t| format!("{} UTC", t.time()))
                .unwrap_or_default(),
        }),
        lockout::Gate::Disabled => Some(Error::FactorDisabled),
    }
}

/// Checks the code against the locked row; a right TOTP code also claims its step here.
async fn verify(
    tx: &mut Tx,
    user_id: &str,
    row: &SecondFactorRow,
    presented: &Presented<'_>,
    now: OffsetDateTime,
) -> Result<Verdict, Error> {
    match presented {
        Presented::Totp { keyring, code } => {
            let sealed = row.totp_seed.as_deref().ok_or(Error::EnrolmentRequired)?;
            let seed = totp::Seed::from_bytes(&keyring.open(sealed, &seed_aad(user_id))?)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let step = match totp::verify(&seed, code, unix(now), row.totp_last_step) {
                Ok(step) => step,
                Err(totp::Rejection::Replayed) => return Ok(Verdict::Wrong("replayed")),
                Err(totp::Rejection::Invalid) => return Ok(Verdict::Wrong("invalid")),
            };
            if store::accounts::claim_totp_step(tx, user_id, step, unix(now)).await? {
                Ok(Verdict::Accepted)
            } else {
                Ok(Verdict::Wrong("replayed"))
            }
        }
        Presented::Recovery(input) => {
            let used = match recovery::normalise(input) {
                Some(code) => {
                    let hash = recovery::hash(&code);
                    store::accounts::use_recovery_code(tx, user_id, &hash, unix(now)).await?
                }
                None => false,
            };
            Ok(if used {
                Verdict::Accepted
            } else {
                Verdict::Wrong("bad_recovery_code")
            })
        }
    }
}

/// Counts a wrong code on the locked row, locking or disabling the factor as the schedule
/// says, with its events, in the caller's transaction.
async fn count_failure(
    tx: &mut Tx,
    user_id: &str,
    target: &str,
    state: lockout::FactorState,
    reason: &str,
    client: &Client,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let (next, lock_event) = lockout::after_failure(state, unix(now));
    let stored = TotpFailures {
        totp_failures: i32::try_from(next.consecutive_failures).unwrap_or(i32::MAX),
        totp_locks: i32::try_from(next.locks).unwrap_or(i32::MAX),
        totp_locked_until: next.locked_until,
        totp_disabled: next.disabled,
    };
    store::accounts::save_totp_failures(tx, user_id, stored).await?;
    let mut events = vec![Event::new(
        EventKind::SecondFactorRejected,
        Actor::user(user_id),
        target,
        Outcome::Failure,
        json!({ "ip": client.ip, "reason": reason, "consecutive_failures": next.consecutive_failures }),
    )];
    match lock_event {
        Some(lockout::Event::Locked {
            until,
            duration_secs,
        }) => events.push(Event::new(
            EventKind::SecondFactorLocked,
            Actor::system(),
            target,
            Outcome::Denied,
            json!({ "until": until, "duration_secs": duration_secs }),
        )),
        Some(lockout::Event::Disabled) => events.push(Event::new(
            EventKind::SecondFactorDisabled,
            Actor::system(),
            target,
            Outcome::Denied,
            json!({}),
        )),
        None => {}
    }
    for event in &events {
        audit::record(tx, event, now).await?;
    }
    Ok(())
}
