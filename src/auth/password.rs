//! Passwords: the choosing policy, argon2id hashing and verification (OWASP ASVS 5.0 V6.2,
//! NIST SP 800-63B-4 §3.1.1).
//!
//! Guarantees:
//! - Hashes are PHC strings made by argon2id v0x13 with m = 19 MiB, t = 2, p = 1 (OWASP's
//!   minimum for argon2id) and a fresh 128-bit salt from the OS, computed on a blocking
//!   thread so the async runtime keeps serving.
//! - [`verify`] does the same argon2 work whether the user exists or not: an unknown user,
//!   an account without a password and a malformed stored hash are checked against
//!   [`DUMMY_PHC`], whose parameters a test pins to the production ones (ASVS V6.3.8).
//! - The policy follows SP 800-63B-4 §3.1.1.2: length (≥ 12 characters, ≤ 1024 bytes) and a
//!   guessability check (zxcvbn, with the user's own names as hints) instead of composition
//!   rules; any Unicode, spaces included, is accepted.
//!
//! Must never: log, display or return a password or a stored hash (messages are fixed
//! sentences; `Rejection` hints come from zxcvbn's canned feedback), or keep a plaintext
//! copy alive longer than the hashing call (copies are `Zeroizing`).

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::crypto;

/// argon2id memory in KiB: 19 MiB, OWASP Password Storage Cheat Sheet's argon2id minimum
/// (m = 19 MiB, t = 2, p = 1); SECURITY_BAR A8.
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// argon2id passes over memory.
pub const ARGON2_ITERATIONS: u32 = 2;
/// argon2id lanes.
pub const ARGON2_PARALLELISM: u32 = 1;
/// Shortest accepted password, counted in Unicode scalar values. SP 800-63B-4 §3.1.1.2
/// asks for at least 8 when the password is one of several factors (15 when it is the
/// only one); ASVS 5.0 V6.2.1 for at least 8 and strongly recommends 15. 12 is the
/// project's figure.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password in bytes. It bounds the hashing work an attacker can ask for,
/// while allowing long passphrases (ASVS V6.2.9 asks that at least 64 characters work).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Lowest acceptable zxcvbn score: 3 means "more than 10^8 guesses", i.e. off the common
/// password lists and not a dictionary word with decorations (SP 800-63B-4 §3.1.1.2 blocklist).
const MIN_ZXCVBN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// A hash with exactly the production parameters and a random salt, of a random password
/// nobody knows. [`verify`] checks against it when there is no real hash, so the argon2
/// work, and with it the response time, is the same for unknown users (ASVS V6.3.8).
/// `dummy_hash_uses_the_production_parameters` fails if the constants above change
/// without this string being regenerated.
pub const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    pfUWsV7sv2Ha/sf5IfodHg$nz/mPda93x4X/zvT4m+1qdWxJGkuzz+Mt0HXBCvBsC4";

/// Errors of hashing. None of them carries the password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("argon2 rejected its parameters: {0}")]
    Params(String),
    #[error("argon2 hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing task did not finish: {0}")]
    Task(String),
}

/// Why a new password is refused. The `Display` text is shown to the user; it never
/// contains the password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(
        "Use at least {MIN_PASSWORD_CHARS} characters. A few unrelated words make a good \
         passphrase; spaces are fine."
    )]
    TooShort,
    #[error("Use at most {MAX_PASSWORD_BYTES} bytes (about 1000 letters).")]
    TooLong,
    #[error("This password is too easy to guess.{}", hint_sentence(.hint))]
    TooGuessable { hint: Option<String> },
}

fn hint_sentence(hint: &Option<String>) -> String {
    match hint {
        Some(hint) => format!(" {hint}"),
        None => " Add another word or two that are not related to you.".to_owned(),
    }
}

/// Checks a new password against the policy. `user_inputs` are the user's own names
/// (username, display name, e-mail): a password built from them is rejected as guessable.
pub fn check_policy(password: &str, user_inputs: &[&str]) -> Result<(), Rejection> {
    // Length first, so zxcvbn (which looks at 100 characters at most) never sees more
    // than the cap, and "too short" is judged on characters, not bytes, so that a
    // passphrase in any script counts the same (SP 800-63B §3.1.1.2).
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Rejection::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Rejection::TooShort);
    }
    let inputs: Vec<&str> = user_inputs
        .iter()
        .copied()
        .filter(|s| !s.trim().is_empty())
        .collect();
    let entropy = zxcvbn::zxcvbn(password, &inputs);
    if entropy.score() >= MIN_ZXCVBN_SCORE {
        return Ok(());
    }
    // zxcvbn's feedback is a fixed sentence about the pattern found; it never quotes the
    // password, so it is safe to show.
    let hint = entropy.feedback().and_then(|feedback| {
        feedback
            .warning()
            .map(|w| w.to_string())
            .or_else(|| feedback.suggestions().first().map(|s| s.to_string()))
    });
    Err(Rejection::TooGuessable { hint })
}

/// The form a password is hashed and checked in: Unicode NFKC, so "häst" typed as one
/// code point (Windows) or as "a" + combining diaeresis (macOS) is the same password
/// (SP 800-63B §5.1.1.2: verifiers SHOULD normalise before hashing).
fn normalised(password: &str) -> Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization;
    Zeroizing::new(password.nfkc().collect())
}

/// Hashes a password into a PHC string (argon2id, production parameters, random salt).
#[tracing::instrument(skip_all)]
pub async fn hash(password: &SecretString) -> Result<String, Error> {
    if password.expose_secret().len() > MAX_PASSWORD_BYTES {
        return Err(Error::TooLong);
    }
    let plaintext = normalised(password.expose_secret());
    tokio::task::spawn_blocking(move || hash_blocking(plaintext.as_bytes()))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

/// Whether `password` matches `stored_phc`. `None` (unknown user, or no password set) and
/// a malformed stored hash both answer `false` after the same argon2 work as a real check.
#[tracing::instrument(skip_all)]
pub async fn verify(stored_phc: Option<&str>, password: &SecretString) -> bool {
    let stored = stored_phc.map(str::to_owned);
    let plaintext = normalised(password.expose_secret());
    match tokio::task::spawn_blocking(move || verify_blocking(stored.as_deref(), &plaintext)).await
    {
        Ok(matched) => matched,
        Err(e) => {
            tracing::error!(error = %e, "password verification task did not finish");
            false
        }
    }
}

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .map_err(|e| Error::Params(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &[u8]) -> Result<String, Error> {
    // 128-bit salt from the OS CSPRNG (SP 800-63B rev. 3 §5.1.1.2 asks for at least 32 bits).
    let salt = SaltString::encode_b64(&crypto::random_bytes::<16>())
        .map_err(|e| Error::Hash(e.to_string()))?;
    let phc = argon2()?
        .hash_password(password, &salt)
        .map_err(|e| Error::Hash(e.to_string()))?;
    Ok(phc.to_string())
}

fn verify_blocking(stored_phc: Option<&str>, password: &str) -> bool {
    let Ok(argon2) = argon2() else {
        tracing::error!("argon2 parameters rejected; refusing every password");
        return false;
    };
    // An over-long password can never have been set; it still costs one dummy check so
    // that the answer time says nothing about the account.
    let stored = stored_phc.filter(|_| password.len() <= MAX_PASSWORD_BYTES);
    match stored.map(PasswordHash::new) {
        // `verify_password` takes m, t, p from the stored hash and compares the result
        // in constant time (password-hash `Output`'s `PartialEq` uses `subtle`).
        Some(Ok(hash)) => argon2.verify_password(password.as_bytes(), &hash).is_ok(),
        Some(Err(e)) => {
            // The hash itself is not logged: it is an offline-crackable verifier.
            tracing::warn!(error = %e, "stored password hash is malformed; refusing");
            spend_dummy_work(&argon2, password);
            false
        }
        None => {
            spend_dummy_work(&argon2, password);
            false
        }
    }
}

/// The same argon2 work as a real verification, with the result thrown away.
fn spend_dummy_work(argon2: &Argon2<'_>, password: &str) {
    match PasswordHash::new(DUMMY_PHC) {
        Ok(dummy) => {
            let _ = argon2.verify_password(password.as_bytes(), &dummy);
        }
        // Unreachable while `dummy_hash_uses_the_production_parameters` passes; hashing
        // with a fresh salt costs the same, so the timing still matches.
        Err(_) => {
            tracing::error!("DUMMY_PHC does not parse; hashing with a fresh salt instead");
            let _ = hash_blocking(password.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
