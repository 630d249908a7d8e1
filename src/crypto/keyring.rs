//! The keyring: key-encryption keys (KEKs) loaded from the key file, the first one active.
//!
//! Guarantees: new values and wrapped data keys are always made with the active KEK;
//! older KEKs only open what they made before a rotation (SP 800-57 Part 1 §5.3.4: a
//! retired key may still process, never originate); the active KEK's invocations are
//! counted and capped at 2^32 per process (SP 800-38D §8.3).
//! Must never: expose KEK bytes (no accessor, `Debug` shows ids only), or let a wrapped
//! data key be opened as an ordinary value or the other way round.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::{Zeroize as _, Zeroizing};

use super::envelope::{self, DataKey, KEY_LEN, Sealed, SecretKey};
use super::{Error, KeyId};

/// Domain separator in front of the owner label of every wrapped data key.
pub(super) const DEK_DOMAIN: &[u8] = b"registervakt/dek\0";
/// SP 800-38D §8.3: with random IVs the total number of invocations of the
/// authenticated encryption function with one key shall not exceed 2^32.
const MAX_INVOCATIONS: u64 = 1 << 32;
const WRAPPED_PLAINTEXT_LEN: usize = 8 + KEY_LEN;

/// One key-encryption key and its id.
pub(super) struct Kek {
    pub(super) id: KeyId,
    pub(super) key: SecretKey,
}

impl Kek {
    pub(super) fn random() -> Kek {
        Kek {
            id: KeyId::random(),
            key: SecretKey::random(),
        }
    }
}

/// Key-encryption keys: one active, any number of older ones kept for decryption.
/// Share it behind an `Arc`; it is `Send + Sync` and deliberately not `Clone`, so the
/// use counter is one per process.
pub struct Keyring {
    active: Kek,
    older: Vec<Kek>,
    active_uses: AtomicU64,
}

impl Keyring {
    pub(super) fn from_keks(active: Kek, older: Vec<Kek>) -> Keyring {
        Keyring {
            active,
            older,
            active_uses: AtomicU64::new(0),
        }
    }

    /// Builds a keyring from raw keys, the first one active. For tests of other modules
    /// only; an empty list yields a keyring with one fresh random key.
    #[doc(hidden)]
    pub fn from_keys_for_tests(keys: Vec<(KeyId, [u8; 32])>) -> Keyring {
        let mut keks = Vec::with_capacity(keys.len());
        for (id, mut bytes) in keys {
            if let Some(key) = SecretKey::from_slice(&bytes) {
                keks.push(Kek { id, key });
            }
            bytes.zeroize();
        }
        let mut keks = keks.into_iter();
        let active = keks.next().unwrap_or_else(Kek::random);
        Keyring::from_keks(active, keks.collect())
    }

    pub fn active_key_id(&self) -> KeyId {
        self.active.id
    }

    /// All key ids, the active one first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        std::iter::once(self.active.id)
            .chain(self.older.iter().map(|kek| kek.id))
            .collect()
    }

    /// How many seal and wrap operations the active KEK has done in this process.
    pub fn uses(&self) -> u64 {
        self.active_uses.load(Ordering::Relaxed)
    }

    /// Seals `plaintext` with the active KEK; `aad` names the owner row.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        refuse_reserved(aad)?;
        self.count_use()?;
        envelope::seal_with(&self.active.key, self.active.id, b"", aad, plaintext)
    }

    /// Opens a value sealed by any key of this keyring, chosen by the id in its header.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        refuse_reserved(aad)?;
        let parsed = Sealed::parse(sealed)?;
        let kek = self.find(parsed.key_id)?;
        envelope::open_with(&kek.key, &parsed, b"", aad)
    }

    /// Wraps `key` under the active KEK, bound to `owner` (e.g. `b"extract:<id>"`).
    /// Deleting the wrapped bytes destroys the only stored copy of the data key.
    pub fn wrap(&self, key: &DataKey, owner: &[u8]) -> Result<Vec<u8>, Error> {
        let mut plaintext = Zeroizing::new([0u8; WRAPPED_PLAINTEXT_LEN]);
        let (id, bytes) = plaintext.split_at_mut(8);
        id.copy_from_slice(key.id().as_bytes());
        bytes.copy_from_slice(key.secret().bytes());
        self.count_use()?;
        envelope::seal_with(
            &self.active.key,
            self.active.id,
            DEK_DOMAIN,
            owner,
            &plaintext[..],
        )
    }

    /// Unwraps a data key made by [`Keyring::wrap`] for the same `owner`; any other owner
    /// fails with [`Error::Decrypt`].
    pub fn unwrap(&self, wrapped: &[u8], owner: &[u8]) -> Result<DataKey, Error> {
        let parsed = Sealed::parse(wrapped)?;
        let kek = self.find(parsed.key_id)?;
        let plaintext = envelope::open_with(&kek.key, &parsed, DEK_DOMAIN, owner)?;
        // Authenticated, so a wrong length can only come from a foreign writer.
        let (id, bytes) = plaintext
            .split_first_chunk::<8>()
            .filter(|(_, rest)| rest.len() == KEY_LEN)
            .ok_or(Error::Format("wrapped data key has the wrong length"))?;
        let key = SecretKey::from_slice(bytes)
            .ok_or(Error::Format("wrapped data key has the wrong length"))?;
        Ok(DataKey::from_parts(KeyId::from_bytes(*id), key))
    }

    /// Runs `f` on the raw bytes of KEK `id`, for keys derived from a KEK inside this module
    /// (`signing.rs`); `None` when there is no such KEK.
    pub(super) fn with_kek_bytes<T>(
        &self,
        id: KeyId,
        f: impl FnOnce(KeyId, &[u8; 32]) -> T,
    ) -> Option<T> {
        let kek = self.find(id).ok()?;
        Some(f(kek.id, kek.key.bytes()))
    }

    /// [`Keyring::with_kek_bytes`] for the active KEK.
    pub(super) fn with_active_kek_bytes<T>(&self, f: impl FnOnce(KeyId, &[u8; 32]) -> T) -> T {
        f(self.active.id, self.active.key.bytes())
    }

    fn find(&self, id: KeyId) -> Result<&Kek, Error> {
        std::iter::once(&self.active)
            .chain(&self.older)
            .find(|kek| kek.id == id)
            .ok_or(Error::UnknownKeyId(id))
    }

    /// Counts one invocation of the active KEK, refusing once the SP 800-38D §8.3 bound is
    /// reached. Counted before encrypting, so a failed attempt still counts (conservative).
    fn count_use(&self) -> Result<(), Error> {
        let before = self.active_uses.fetch_add(1, Ordering::Relaxed);
        if before >= MAX_INVOCATIONS {
            return Err(Error::KeyUseLimit(self.active.id));
        }
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn set_uses_for_tests(&self, uses: u64) {
        self.active_uses.store(uses, Ordering::Relaxed);
    }
}

/// Ordinary values may not use the wrapped-key domain, which keeps the two kinds of
/// sealed value apart even though they share one format and one KEK.
fn refuse_reserved(aad: &[u8]) -> Result<(), Error> {
    if aad.starts_with(DEK_DOMAIN) {
        return Err(Error::ReservedAad);
    }
    Ok(())
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active.id)
            .field(
                "older",
                &self.older.iter().map(|k| k.id).collect::<Vec<_>>(),
            )
            .field("uses", &self.uses())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::FORMAT_VERSION;
    use base64::Engine as _;
    use proptest::prelude::*;

    const ID_A: KeyId = KeyId::from_bytes([0xa1; 8]);
    const ID_B: KeyId = KeyId::from_bytes([0xb2; 8]);
    const KEY_A: [u8; 32] = [0x5a; 32];
    const KEY_B: [u8; 32] = [0x6b; 32];

    fn two_key_ring() -> Keyring {
        Keyring::from_keys_for_tests(vec![(ID_A, KEY_A), (ID_B, KEY_B)])
    }

    proptest! {
        #[test]
        fn keyring_opens_what_it_sealed_for_any_plaintext_and_aad(
            plaintext in proptest::collection::vec(any::<u8>(), 0..512),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let ring = two_key_ring();
            let sealed = ring.seal(&plaintext, &aad).unwrap();
            prop_assert_eq!(&ring.open(&sealed, &aad).unwrap()[..], &plaintext[..]);
        }

        #[test]
        fn wrapped_data_key_unwraps_to_the_same_key_for_any_owner(
            owner in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let ring = two_key_ring();
            let key = DataKey::generate();
            let wrapped = ring.wrap(&key, &owner).unwrap();
            let back = ring.unwrap(&wrapped, &owner).unwrap();
            prop_assert_eq!(back.id(), key.id());
            prop_assert_eq!(back.secret().bytes(), key.secret().bytes());
        }

        #[test]
        fn flipping_any_bit_of_a_keyring_sealed_value_makes_open_fail(
            plaintext in proptest::collection::vec(any::<u8>(), 0..128),
            bit in any::<proptest::sample::Index>(),
        ) {
            let ring = two_key_ring();
            let mut sealed = ring.seal(&plaintext, b"member:42").unwrap();
            let bit = bit.index(sealed.len() * 8);
            sealed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(ring.open(&sealed, b"member:42").is_err());
        }

        #[test]
        fn flipping_any_bit_of_a_wrapped_key_makes_unwrap_fail(
            bit in any::<proptest::sample::Index>(),
        ) {
            let ring = two_key_ring();
            let mut wrapped = ring.wrap(&DataKey::generate(), b"extract:e1").unwrap();
            let bit = bit.index(wrapped.len() * 8);
            wrapped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(ring.unwrap(&wrapped, b"extract:e1").is_err());
        }
    }

    #[test]
    fn a_ciphertext_moved_to_another_owner_fails_to_open() {
        let ring = two_key_ring();
        let sealed = ring.seal(b"Anna Andersson", b"extract:a").unwrap();
        assert!(matches!(
            ring.open(&sealed, b"extract:b"),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn swapping_two_sealed_values_between_owners_fails_both_ways() {
        let ring = two_key_ring();
        let a = ring.seal(b"Anna", b"extract:a:chunk:0").unwrap();
        let b = ring.seal(b"Bertil", b"extract:b:chunk:0").unwrap();
        assert!(matches!(
            ring.open(&a, b"extract:b:chunk:0"),
            Err(Error::Decrypt)
        ));
        assert!(matches!(
            ring.open(&b, b"extract:a:chunk:0"),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn unwrapping_under_the_wrong_owner_fails_with_decrypt() {
        let ring = two_key_ring();
        let wrapped = ring.wrap(&DataKey::generate(), b"extract:a").unwrap();
        assert!(matches!(
            ring.unwrap(&wrapped, b"extract:b"),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn a_wrapped_key_cannot_be_opened_as_an_ordinary_value_nor_the_reverse() {
        let ring = two_key_ring();
        let wrapped = ring.wrap(&DataKey::generate(), b"extract:a").unwrap();
        assert!(matches!(
            ring.open(&wrapped, b"extract:a"),
            Err(Error::Decrypt)
        ));
        let mut reserved = DEK_DOMAIN.to_vec();
        reserved.extend_from_slice(b"extract:a");
        assert!(matches!(
            ring.open(&wrapped, &reserved),
            Err(Error::ReservedAad)
        ));
        assert!(matches!(
            ring.seal(&[0; 40], &reserved),
            Err(Error::ReservedAad)
        ));
        let value = ring.seal(&[0; 40], b"extract:a").unwrap();
        assert!(matches!(
            ring.unwrap(&value, b"extract:a"),
            Err(Error::Decrypt)
        ));
    }

    #[test]
    fn truncating_a_sealed_value_at_any_length_fails_without_panicking() {
        let ring = two_key_ring();
        let sealed = ring.seal(b"member data", b"owner").unwrap();
        let wrapped = ring.wrap(&DataKey::generate(), b"owner").unwrap();
        for len in 0..sealed.len() {
            assert!(ring.open(&sealed[..len], b"owner").is_err(), "length {len}");
        }
        for len in 0..wrapped.len() {
            assert!(
                ring.unwrap(&wrapped[..len], b"owner").is_err(),
                "length {len}"
            );
        }
    }

    #[test]
    fn a_wrong_version_byte_fails_with_a_format_error() {
        let ring = two_key_ring();
        let mut sealed = ring.seal(b"member data", b"owner").unwrap();
        for version in [0, FORMAT_VERSION + 1, 0xff] {
            sealed[0] = version;
            assert!(matches!(
                ring.open(&sealed, b"owner"),
                Err(Error::Format(_))
            ));
        }
    }

    #[test]
    fn a_value_from_a_key_not_in_the_keyring_reports_unknown_key_id() {
        let other = Keyring::from_keys_for_tests(vec![(ID_B, KEY_B)]);
        let sealed = two_key_ring().seal(b"x", b"o").unwrap();
        assert!(matches!(other.open(&sealed, b"o"), Err(Error::UnknownKeyId(id)) if id == ID_A));
    }

    #[test]
    fn relabelling_the_key_id_to_another_keyring_key_fails_to_decrypt() {
        let ring = two_key_ring();
        let mut sealed = ring.seal(b"x", b"o").unwrap();
        sealed[1..9].copy_from_slice(ID_B.as_bytes());
        assert!(matches!(ring.open(&sealed, b"o"), Err(Error::Decrypt)));
    }

    #[test]
    fn older_keys_still_open_but_new_values_use_the_active_key() {
        let old = Keyring::from_keys_for_tests(vec![(ID_B, KEY_B)]);
        let sealed = old.seal(b"before rotation", b"o").unwrap();
        let wrapped = old.wrap(&DataKey::generate(), b"extract:x").unwrap();
        let rotated = two_key_ring();
        assert_eq!(
            &rotated.open(&sealed, b"o").unwrap()[..],
            b"before rotation"
        );
        assert!(rotated.unwrap(&wrapped, b"extract:x").is_ok());
        assert_eq!(
            &rotated.seal(b"after", b"o").unwrap()[1..9],
            ID_A.as_bytes()
        );
        assert_eq!(rotated.key_ids(), vec![ID_A, ID_B]);
    }

    #[test]
    fn uses_counts_seal_and_wrap_but_not_open_or_unwrap() {
        let ring = two_key_ring();
        assert_eq!(ring.uses(), 0);
        let sealed = ring.seal(b"x", b"o").unwrap();
        let wrapped = ring.wrap(&DataKey::generate(), b"o").unwrap();
        ring.open(&sealed, b"o").unwrap();
        ring.unwrap(&wrapped, b"o").unwrap();
        assert_eq!(ring.uses(), 2);
    }

    #[test]
    fn the_active_key_refuses_work_after_two_to_the_32_uses() {
        let ring = two_key_ring();
        ring.set_uses_for_tests(MAX_INVOCATIONS);
        assert!(matches!(ring.seal(b"x", b"o"), Err(Error::KeyUseLimit(id)) if id == ID_A));
        assert!(matches!(
            ring.wrap(&DataKey::generate(), b"o"),
            Err(Error::KeyUseLimit(_))
        ));
    }

    #[test]
    fn keyring_debug_shows_key_ids_but_no_key_bytes() {
        let shown = format!("{:?}", two_key_ring());
        assert!(shown.contains(&ID_A.to_string()) && shown.contains(&ID_B.to_string()));
        for key in [KEY_A, KEY_B] {
            assert!(!shown.contains(&hex::encode(key)), "{shown}");
            assert!(!shown.contains(&base64::engine::general_purpose::STANDARD.encode(key)));
            assert!(
                !shown.contains(&format!("{}, {}", key[0], key[1])),
                "{shown}"
            );
        }
    }

    #[test]
    fn from_keys_for_tests_with_no_keys_still_has_an_active_key() {
        let ring = Keyring::from_keys_for_tests(Vec::new());
        assert_eq!(ring.key_ids().len(), 1);
        let sealed = ring.seal(b"x", b"o").unwrap();
        assert_eq!(&ring.open(&sealed, b"o").unwrap()[..], b"x");
    }
}
