//! The key that signs audit checkpoints: Ed25519 (RFC 8032), derived from a key-encryption key
//! so that it lives beside the KEK — in the key file outside the database — and rotates with it.
//!
//! Guarantees: the signing seed is HMAC-SHA256(KEK, "registervakt/checkpoint-signing-v1"), so
//! whoever can change the database but not read the key file cannot make a checkpoint verify;
//! checkpoints name the KEK id they were signed under, and every KEK still in the key file can
//! verify its old checkpoints. The seed is wiped on drop and never printed.
//!
//! Must never: sign with a key that can be computed from anything stored in the database.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use zeroize::Zeroizing;

use super::{KeyId, Keyring};

const DOMAIN: &[u8] = b"registervakt/checkpoint-signing-v1";

/// A checkpoint signing key and the id of the KEK it came from.
pub struct CheckpointKey {
    key_id: KeyId,
    signing: SigningKey,
}

impl CheckpointKey {
    pub(super) fn derive(key_id: KeyId, kek: &[u8; 32]) -> CheckpointKey {
        let seed = Zeroizing::new(super::pseudonym::hmac_sha256(kek, DOMAIN, b""));
        CheckpointKey {
            key_id,
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    fn verifying(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointKey({})", self.key_id)
    }
}

impl Keyring {
    /// The signing key of the active KEK.
    pub fn checkpoint_key(&self) -> CheckpointKey {
        self.with_active_kek_bytes(CheckpointKey::derive)
    }

    /// Whether `signature` over `message` was made by the checkpoint key of KEK `key_id`.
    /// An unknown key id never verifies.
    pub fn verify_checkpoint(&self, key_id: KeyId, message: &[u8], signature: &[u8; 64]) -> bool {
        let Some(key) = self.with_kek_bytes(key_id, CheckpointKey::derive) else {
            return false;
        };
        key.verifying()
            .verify(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_checkpoint_signature_verifies_only_with_its_message_and_its_kek() {
        let ring = Keyring::from_keys_for_tests(vec![(KeyId::from_bytes([1; 8]), [7u8; 32])]);
        let other = Keyring::from_keys_for_tests(vec![(KeyId::from_bytes([1; 8]), [8u8; 32])]);
        let key = ring.checkpoint_key();
        let sig = key.sign(b"entries=10 head=ab");
        assert!(ring.verify_checkpoint(key.key_id(), b"entries=10 head=ab", &sig));
        assert!(!ring.verify_checkpoint(key.key_id(), b"entries=9 head=ab", &sig));
        assert!(
            !other.verify_checkpoint(key.key_id(), b"entries=10 head=ab", &sig),
            "another KEK"
        );
        assert!(!ring.verify_checkpoint(KeyId::from_bytes([2; 8]), b"entries=10 head=ab", &sig));
        assert_eq!(format!("{key:?}"), "CheckpointKey(0101010101010101)");
    }
}
