//! All cryptography of Registervakt: envelope encryption with key ids, the key file,
//! rotation, random tokens and constant-time comparison. No other module imports
//! `aes-gcm`; they call [`Keyring`], [`DataKey`] and the helpers re-exported here.
//!
//! # Guarantees
//!
//! - Every ciphertext carries a format version and the id of the key that made it
//!   (SP 800-57 Part 1 §8.2.3: keys must be identifiable for rotation), and its AAD binds
//!   it to the owner row the caller names, so a ciphertext moved to another row, another
//!   extract or another chunk position fails to open.
//! - `open`/`unwrap` return plaintext only after the GCM tag has verified; on any failure
//!   they return an error and not one byte (SECURITY_BAR D2; RUSTSEC-2023-0096).
//! - Key material lives in one heap allocation per key, is wiped on drop (`zeroize`) and
//!   is never printed: `Debug` shows key ids only, error messages never contain key
//!   material or plaintext.
//! - The key file is created with mode 0600 from the first byte (never chmod-ed after
//!   the fact) and refused when group or others have any access.
//!
//! # Must never
//!
//! - reuse a nonce on purpose: nonces are 96 random bits from the OS (SP 800-38D
//!   §8.2.2), and the active key-encryption key (KEK) counts its invocations and
//!   refuses more than 2^32 in one process (SP 800-38D §8.3);
//! - write a key to the database or a log, or overwrite an existing key file.
//!
//! # Formats
//!
//! **Sealed value** (from [`Keyring::seal`], [`DataKey::seal`]):
//!
//! ```text
//! [version: 1 byte = FORMAT_VERSION][key id: 8][nonce: 12 random][AES-256-GCM ciphertext][tag: 16]
//! ```
//!
//! The AAD handed to AES-GCM is `version || key id || caller aad`, so the header cannot
//! be altered and the caller's AAD (e.g. `b"extract:<id>:chunk:7"`) ties the value to
//! its owner. Both header fields are fixed-length, so the concatenation is unambiguous.
//! One [`DataKey`] per object keeps invocations per key far below the 2^32 bound.
//!
//! **Wrapped data key** (from [`Keyring::wrap`]): a sealed value under a KEK whose
//! plaintext is `data key id (8) || data key (32)` and whose caller AAD is
//! `b"registervakt/dek\0" || owner`. [`Keyring::seal`] and [`Keyring::open`] refuse a
//! caller AAD that starts with that separator, so a wrapped key and an ordinary sealed
//! value can never be mistaken for each other.
//!
//! **Key file** (UTF-8 text, mode 0600; parsed in `keyfile.rs`):
//!
//! ```text
//! # registervakt key-encryption keys v1 (mode 0600; first key is active)
//! kek <16 lowercase hex key id> <standard base64 of 32 key bytes>
//! kek <older key id> <older key>
//! ```
//!
//! The first `kek` line is the active key; later ones are kept only to open values made
//! before a rotation. Blank lines and further `#` lines are ignored.

mod envelope;
mod keyfile;
mod keyring;
mod pseudonym;
mod signing;
mod token;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use envelope::DataKey;
pub use keyring::Keyring;
pub use pseudonym::{MemberRef, OrderKey, PSEUDONYM_KEY_NAME, PseudonymKey, RowRef};
pub use signing::CheckpointKey;
pub use token::{constant_time_eq, random_bytes, random_id128, random_token, sha256_hex};

/// Version byte at the start of every sealed value; bump it when the layout changes.
pub const FORMAT_VERSION: u8 = 1;

/// Everything that can go wrong in this module. Messages name paths and key ids,
/// which are not secret, and never key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "key file {} does not exist; create it with `registervakt keys generate --out {}`",
        .path.display(),
        .path.display()
    )]
    KeyFileMissing { path: PathBuf },

    #[error(
        "key file {} has mode {mode:04o}, so group or others can read or change it; run `chmod 600 {}`",
        .path.display(),
        .path.display()
    )]
    KeyFileTooOpen { path: PathBuf, mode: u32 },

    #[error("key file {} already exists; refusing to overwrite it", .path.display())]
    KeyFileExists { path: PathBuf },

    #[error("key file {} is malformed: {reason}", .path.display())]
    KeyFileMalformed { path: PathBuf, reason: String },

    // The cause is kept as `source` (not repeated in the message) so error reporters
    // that print the chain do not show it twice.
    #[error("I/O error on key file {}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("value was sealed with key {0}, which is not in the keyring")]
    UnknownKeyId(KeyId),

    #[error("malformed sealed value: {0}")]
    Format(&'static str),

    /// Authentication failed. Deliberately says nothing about why.
    #[error("decryption failed")]
    Decrypt,

    #[error("associated data must not start with the reserved data-key separator")]
    ReservedAad,

    #[error("key {0} has reached 2^32 uses in this process (SP 800-38D §8.3); rotate the key file")]
    KeyUseLimit(KeyId),
}

/// Public, non-secret identifier of a key, written into every sealed value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub const fn from_bytes(bytes: [u8; 8]) -> KeyId {
        KeyId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// A fresh random id. 64 random bits make a collision between the few keys of one
    /// keyring, or the data keys of one deployment, negligible.
    pub(crate) fn random() -> KeyId {
        KeyId(random_bytes())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = Error;

    /// Parses exactly 16 hex characters (either case).
    fn from_str(s: &str) -> Result<KeyId, Error> {
        let mut bytes = [0u8; 8];
        hex::decode_to_slice(s, &mut bytes)
            .map_err(|_| Error::Format("key id must be 16 hex characters"))?;
        Ok(KeyId(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_displays_as_sixteen_lowercase_hex_chars_and_parses_back() {
        let id = KeyId::from_bytes([0xAB, 0, 1, 2, 3, 4, 5, 0xFF]);
        let text = id.to_string();
        assert_eq!(text, "ab000102030405ff");
        assert_eq!(text.parse::<KeyId>().unwrap(), id);
        assert_eq!("AB000102030405FF".parse::<KeyId>().unwrap(), id);
        assert_eq!(format!("{id:?}"), "KeyId(ab000102030405ff)");
    }

    #[test]
    fn key_id_rejects_wrong_length_or_non_hex() {
        for bad in [
            "",
            "ab",
            "ab000102030405f",
            "ab000102030405fff",
            "zz000102030405ff",
        ] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn key_file_errors_tell_the_operator_what_to_run() {
        let path = PathBuf::from("/etc/registervakt/keys");
        let missing = Error::KeyFileMissing { path: path.clone() }.to_string();
        assert!(missing.contains("registervakt keys generate --out /etc/registervakt/keys"));
        let open = Error::KeyFileTooOpen { path, mode: 0o644 }.to_string();
        assert!(open.contains("0644"), "{open}");
        assert!(open.contains("chmod 600 /etc/registervakt/keys"), "{open}");
    }
}
