//! The sealed-value format and per-object data keys.
//!
//! Guarantees: [`seal_with`] writes `version || key id || nonce || ciphertext || tag`
//! with a fresh random 96-bit nonce and AAD `version || key id || domain || aad`;
//! [`open_with`] returns plaintext only after the tag has verified.
//! Must never: return or keep a partially decrypted buffer, print a key, or let a key
//! be copied around the heap (each key lives in one `Box` and is wiped on drop).

use std::fmt;

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use rand::RngCore as _;
use rand::rngs::OsRng;
use zeroize::{Zeroize as _, Zeroizing};

use super::{Error, FORMAT_VERSION, KeyId, random_bytes};

pub(super) const KEY_LEN: usize = 32;
const ID_LEN: usize = 8;
/// 96 bits: the IV length SP 800-38D §5.2.1.1 recommends; it is used directly as J0.
const NONCE_LEN: usize = 12;
/// Full 128-bit tag; SP 800-38D §5.2.1.2 and Appendix C discourage shorter ones.
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + ID_LEN + NONCE_LEN;
const MIN_SEALED_LEN: usize = HEADER_LEN + TAG_LEN;
/// Largest plaintext GCM allows under one invocation: 2^39 - 256 bits (SP 800-38D §5.2.1.1).
const MAX_PLAINTEXT: u64 = (1 << 36) - 32;

/// A 256-bit AES key. Boxed so that moving the owner never leaves a copy behind, wiped on
/// drop, and deliberately without `Debug` or `Clone`.
pub(super) struct SecretKey(Box<Zeroizing<[u8; KEY_LEN]>>);

impl SecretKey {
    pub(super) fn random() -> SecretKey {
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        OsRng.fill_bytes(&mut key[..]);
        SecretKey(key)
    }

    /// Copies exactly 32 bytes into a fresh key; `None` for any other length.
    pub(super) fn from_slice(bytes: &[u8]) -> Option<SecretKey> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        key.copy_from_slice(bytes);
        Some(SecretKey(key))
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The cipher is built per operation from the boxed key (by reference, no copy) so
    /// the only long-lived copy of the key is the zeroizing box.
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0[..]))
    }
}

/// The parts of a sealed value, borrowed from it.
pub(super) struct Sealed<'a> {
    pub(super) key_id: KeyId,
    nonce: &'a [u8; NONCE_LEN],
    ciphertext: &'a [u8],
    tag: &'a [u8; TAG_LEN],
}

impl<'a> Sealed<'a> {
    /// Splits a sealed value; checks length and version before anything else so that
    /// truncated or foreign input never reaches the cipher.
    pub(super) fn parse(sealed: &'a [u8]) -> Result<Sealed<'a>, Error> {
        const SHORT: Error = Error::Format("sealed value is too short");
        if sealed.len() < MIN_SEALED_LEN {
            return Err(SHORT);
        }
        let (header, rest) = sealed.split_first_chunk::<HEADER_LEN>().ok_or(SHORT)?;
        let (ciphertext, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or(SHORT)?;
        let (version, header) = header.split_first_chunk::<1>().ok_or(SHORT)?;
        if version[0] != FORMAT_VERSION {
            return Err(Error::Format("unsupported format version"));
        }
        let (id, nonce) = header.split_first_chunk::<ID_LEN>().ok_or(SHORT)?;
        let nonce = nonce.first_chunk::<NONCE_LEN>().ok_or(SHORT)?;
        Ok(Sealed {
            key_id: KeyId::from_bytes(*id),
            nonce,
            ciphertext,
            tag,
        })
    }
}

/// `version || key id || domain || aad`: binds the header to the tag, then the domain
/// separator, then the caller's owner label.
fn full_aad(key_id: KeyId, domain: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + ID_LEN + domain.len() + aad.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(domain);
    out.extend_from_slice(aad);
    out
}

/// Seals `plaintext` under `key` (whose id is `key_id`). The output buffer is allocated
/// once at its final size and encrypted in place, so no stray plaintext copy is left in
/// freed memory.
pub(super) fn seal_with(
    key: &SecretKey,
    key_id: KeyId,
    domain: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    if plaintext.len() as u64 > MAX_PLAINTEXT {
        return Err(Error::Format("plaintext exceeds the AES-GCM limit"));
    }
    // SP 800-38D §8.2.2: a random 96-bit IV from an approved RBG.
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let aad = full_aad(key_id, domain, aad);
    // Cannot go out of bounds: the header was just pushed.
    let body = &mut out[HEADER_LEN..];
    match key
        .cipher()
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, body)
    {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(out)
        }
        Err(_) => {
            out.zeroize();
            Err(Error::Format("value exceeds the AES-GCM limits"))
        }
    }
}

/// Opens a parsed sealed value with `key`. The ciphertext is copied into a zeroizing
/// buffer that is returned only if the tag verifies; on failure it is wiped and dropped,
/// so no unauthenticated plaintext ever escapes (RUSTSEC-2023-0096).
pub(super) fn open_with(
    key: &SecretKey,
    sealed: &Sealed<'_>,
    domain: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut buffer = Zeroizing::new(sealed.ciphertext.to_vec());
    let aad = full_aad(sealed.key_id, domain, aad);
    key.cipher()
        .decrypt_in_place_detached(
            Nonce::from_slice(sealed.nonce),
            &aad,
            &mut buffer,
            Tag::from_slice(sealed.tag),
        )
        .map_err(|_| Error::Decrypt)?;
    Ok(buffer)
}

/// A 256-bit key for one object (one extract), with its own random id. Wrapped under the
/// keyring's KEK for storage; destroying the wrapped copy crypto-shreds the object
/// (SP 800-88 Rev. 1 §2.6, cryptographic erase).
pub struct DataKey {
    id: KeyId,
    key: SecretKey,
}

impl DataKey {
    pub fn generate() -> DataKey {
        DataKey {
            id: KeyId::random(),
            key: SecretKey::random(),
        }
    }

    pub(super) fn from_parts(id: KeyId, key: SecretKey) -> DataKey {
        DataKey { id, key }
    }

    pub(super) fn secret(&self) -> &SecretKey {
        &self.key
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Seals with this data key; `aad` names the owner, e.g. `b"extract:<id>:chunk:7"`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        seal_with(&self.key, self.id, b"", aad, plaintext)
    }

    /// Opens a value sealed by this data key under the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let parsed = Sealed::parse(sealed)?;
        if parsed.key_id != self.id {
            return Err(Error::UnknownKeyId(parsed.key_id));
        }
        open_with(&self.key, &parsed, b"", aad)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn data_key_opens_what_it_sealed_for_any_plaintext_and_aad(
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let key = DataKey::generate();
            let sealed = key.seal(&plaintext, &aad).unwrap();
            prop_assert_eq!(sealed.len(), MIN_SEALED_LEN + plaintext.len());
            prop_assert_eq!(&key.open(&sealed, &aad).unwrap()[..], &plaintext[..]);
        }

        #[test]
        fn flipping_any_bit_of_a_data_key_sealed_value_makes_open_fail(
            plaintext in proptest::collection::vec(any::<u8>(), 0..128),
            bit in any::<proptest::sample::Index>(),
        ) {
            let key = DataKey::generate();
            let mut sealed = key.seal(&plaintext, b"extract:1:chunk:0").unwrap();
            let bit = bit.index(sealed.len() * 8);
            sealed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(key.open(&sealed, b"extract:1:chunk:0").is_err());
        }
    }

    #[test]
    fn sealed_value_starts_with_version_and_key_id() {
        let key = DataKey::generate();
        let sealed = key.seal(b"x", b"").unwrap();
        assert_eq!(sealed[0], FORMAT_VERSION);
        assert_eq!(&sealed[1..9], key.id().as_bytes());
    }

    #[test]
    fn two_seals_of_the_same_plaintext_use_different_nonces() {
        let key = DataKey::generate();
        let a = key.seal(b"same", b"aad").unwrap();
        let b = key.seal(b"same", b"aad").unwrap();
        assert_ne!(a[9..HEADER_LEN], b[9..HEADER_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn chunks_reordered_between_positions_fail_to_open() {
        let key = DataKey::generate();
        let c0 = key.seal(b"chunk zero", b"extract:e:chunk:0").unwrap();
        let c1 = key.seal(b"chunk one", b"extract:e:chunk:1").unwrap();
        assert!(matches!(
            key.open(&c1, b"extract:e:chunk:0"),
            Err(Error::Decrypt)
        ));
        assert!(matches!(
            key.open(&c0, b"extract:e:chunk:1"),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn a_value_from_another_data_key_is_reported_as_unknown_key_id() {
        let (a, b) = (DataKey::generate(), DataKey::generate());
        let sealed = a.seal(b"member", b"extract:a").unwrap();
        assert!(
            matches!(b.open(&sealed, b"extract:a"), Err(Error::UnknownKeyId(id)) if id == a.id())
        );
    }

    #[test]
    fn truncating_a_data_key_sealed_value_at_any_length_fails_without_panicking() {
        let key = DataKey::generate();
        let sealed = key.seal(b"some member data", b"owner").unwrap();
        for len in 0..sealed.len() {
            assert!(key.open(&sealed[..len], b"owner").is_err(), "length {len}");
        }
    }

    #[test]
    fn data_key_debug_shows_the_id_but_not_the_key() {
        let key = DataKey::generate();
        let shown = format!("{key:?}");
        let bytes = key.secret().bytes();
        assert!(shown.contains(&key.id().to_string()));
        assert!(!shown.contains(&hex::encode(bytes)));
        assert!(!shown.contains(&base64::engine::general_purpose::STANDARD.encode(bytes)));
        assert!(
            !shown.contains(&format!("{}, {}", bytes[0], bytes[1])),
            "{shown}"
        );
    }

    #[test]
    fn secret_key_from_slice_accepts_only_32_bytes() {
        assert!(SecretKey::from_slice(&[1u8; 31]).is_none());
        assert!(SecretKey::from_slice(&[1u8; 33]).is_none());
        assert_eq!(
            SecretKey::from_slice(&[1u8; 32]).unwrap().bytes(),
            &[1u8; 32]
        );
    }
}
