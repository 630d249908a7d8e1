//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): seeds, code parsing,
//! verification with replay protection, and the enrolment URI and QR code
//! (SECURITY_BAR A1–A3, A5).
//!
//! Guarantees:
//! - Seeds are 160 bits from the OS CSPRNG (RFC 4226 R6), wiped from memory on drop and
//!   never printed (`Debug` is redacted); codes likewise.
//! - [`verify`] accepts only the current step t and the step before it (RFC 6238 §5.2 allows
//!   at most one step of skew; we allow it backwards only, for network delay), compares in
//!   constant time, and accepts a step only if it is strictly later than the last used one,
//!   so a code works once and an older code never works after a newer one (SP 800-63B-4
//!   §3.1.4, ASVS V6.5.1). The caller stores the returned step with a compare-and-set.
//! - Every code is computed by one function, `generate`, which the RFC test vectors
//!   exercise, so the vectors test the production path.
//!
//! Must never: read the clock (`now` is an argument), take a time from the client, log or
//! return a seed except through [`Seed::base32`], [`otpauth_uri`] and [`qr_svg`] for the
//! one-time enrolment page.

use std::fmt;

use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::crypto;

/// Length of a time step in seconds (RFC 6238 §5.2 recommends 30).
pub const PERIOD_SECS: i64 = 30;
/// Digits per code, what every authenticator app shows.
pub const DIGITS: usize = 6;
/// Seed length: 160 bits. RFC 4226 R6 requires at least 128 bits and recommends 160.
pub const SEED_BYTES: usize = 20;

/// Errors of this module; none carries a seed or a code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("a TOTP seed must be {SEED_BYTES} bytes, not {len}")]
    SeedLength { len: usize },
    #[error("a TOTP seed in base32 must be RFC 4648 base32 letters and digits")]
    SeedEncoding,
    #[error("enter the {DIGITS} digits your authenticator app shows")]
    MalformedCode,
    #[error("the QR code could not be made: {0}")]
    Qr(String),
}

/// A TOTP shared secret. Wiped on drop; `Debug` never shows it.
pub struct Seed(Zeroizing<Vec<u8>>);

impl Seed {
    /// A fresh seed from the OS CSPRNG.
    pub fn generate() -> Seed {
        let bytes = Zeroizing::new(crypto::random_bytes::<SEED_BYTES>());
        Seed(Zeroizing::new(bytes.to_vec()))
    }

    /// A seed from its raw bytes (after the stored ciphertext has been opened).
    pub fn from_bytes(bytes: &[u8]) -> Result<Seed, Error> {
        if bytes.len() != SEED_BYTES {
            return Err(Error::SeedLength { len: bytes.len() });
        }
        Ok(Seed(Zeroizing::new(bytes.to_vec())))
    }

    /// A seed from the base32 form an authenticator app is given ([`Seed::base32`]), as the
    /// demo and the tests read it back. Case, spaces and `=` padding do not matter.
    pub fn from_base32(encoded: &str) -> Result<Seed, Error> {
        let cleaned: Zeroizing<String> = Zeroizing::new(
            encoded
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let bytes = Zeroizing::new(
            totp_rs::Secret::Encoded(cleaned.to_string())
                .to_bytes()
                .map_err(|_| Error::SeedEncoding)?,
        );
        Seed::from_bytes(&bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 §6 base32 without padding, the form authenticator apps accept.
    pub fn base32(&self) -> String {
        totp(Algorithm::SHA1, DIGITS, 1, &self.0).get_secret_base32()
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

/// A code as typed by the user: exactly [`DIGITS`] ASCII digits. `Debug` never shows it.
pub struct Code(Zeroizing<String>);

impl Code {
    /// Accepts the code with any whitespace removed ("123 456" as some apps show it).
    pub fn parse(input: &str) -> Result<Code, Error> {
        let digits: Zeroizing<String> =
            Zeroizing::new(input.chars().filter(|c| !c.is_whitespace()).collect());
        if digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Code(digits))
        } else {
            Err(Error::MalformedCode)
        }
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

/// Why a code was refused. The user sees the same "wrong code" for both; the distinction
/// is for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the code does not match the current or the previous time step")]
    Invalid,
    #[error("the code matches a time step that was already used")]
    Replayed,
}

/// The RFC 6238 time step of a unix time: floor(t / 30), also for times before 1970.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(PERIOD_SECS)
}

/// Checks `code` at `now_unix` and returns the step it matched.
///
/// Only steps t−1 and t are candidates, and only those strictly after `last_used_step`.
/// A code that matches a candidate at or before `last_used_step` is [`Rejection::Replayed`].
/// Both candidates are always computed and compared, so the time taken does not depend on
/// which one matched.
pub fn verify(
    seed: &Seed,
    code: &Code,
    now_unix: i64,
    last_used_step: Option<i64>,
) -> Result<i64, Rejection> {
    let current = step_at(now_unix);
    let mut accepted = None;
    let mut replayed = false;
    // Ascending order: if both steps happen to have the same code, the later one wins, so
    // storing it also closes the earlier one.
    for step in [current.saturating_sub(1), current] {
        if step < 0 {
            continue; // before 1970: undefined in RFC 6238, never accepted
        }
        let expected = Zeroizing::new(code_at(seed, step));
        let matches = crypto::constant_time_eq(expected.as_bytes(), code.0.as_bytes());
        let fresh = last_used_step.is_none_or(|last| step > last);
        if matches && fresh {
            accepted = Some(step);
        } else if matches {
            replayed = true;
        }
    }
    match (accepted, replayed) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(Rejection::Replayed),
        (None, false) => Err(Rejection::Invalid),
    }
}

/// The [`DIGITS`]-digit code of `step` (steps before 1970 are not defined by RFC 6238 and
/// give the code of step 0; [`verify`] never accepts them).
pub fn code_at(seed: &Seed, step: i64) -> String {
    let unix = u64::try_from(step.saturating_mul(PERIOD_SECS)).unwrap_or(0);
    generate(
        Algorithm::SHA1,
        DIGITS,
        PERIOD_SECS.unsigned_abs(),
        seed.as_bytes(),
        unix,
    )
}

/// The key URI authenticator apps read (Google Authenticator "Key Uri Format"):
/// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
/// It contains the seed: show it once, on the enrolment page, and never log it.
pub fn otpauth_uri(seed: &Seed, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        account = percent_encode(account),
        secret = seed.base32(),
    )
}

/// An SVG QR code of `uri`, to be embedded in the enrolment page. The XML declaration is
/// dropped so it can be inlined in HTML; the output is only `<svg>`, `<rect>` and
/// `<path>` elements, no script and no external reference.
pub fn qr_svg(uri: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| Error::Qr(e.to_string()))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    Ok(match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => svg,
    })
}

/// The single code generator: HOTP (RFC 4226 §5.3) of counter floor(unix / step_secs),
/// i.e. TOTP (RFC 6238 §4). `code_at` and the RFC test vectors both call it.
fn generate(algorithm: Algorithm, digits: usize, step_secs: u64, key: &[u8], unix: u64) -> String {
    totp(algorithm, digits, step_secs, key).generate(unix)
}

/// A totp-rs generator. `new_unchecked` skips its 128-bit minimum so that the RFC vectors'
/// keys fit; our own seeds are always [`SEED_BYTES`] long. Skew is 0 because the window is
/// decided by [`verify`], not by totp-rs. The `TOTP` wipes its copy of the key on drop.
fn totp(algorithm: Algorithm, digits: usize, step_secs: u64, key: &[u8]) -> TOTP {
    TOTP::new_unchecked(
        algorithm,
        digits,
        0,
        step_secs,
        key.to_vec(),
        None,
        String::new(),
    )
}

/// Percent-encodes everything except RFC 3986 unreserved characters, so a label or issuer
/// with spaces, ':' or non-ASCII letters survives in both the path and the query.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
