//! Keyed pseudonyms for members, and the keyed row order that fingerprints an extract.
//!
//! Guarantees: a member reference is HMAC-SHA256 (RFC 2104, FIPS 198-1) of the member id under
//! the broker's pseudonym key, so the audit log and the disclosure ledger can say "the same
//! member" without saying who; only someone holding the key (kept sealed under the KEK) can
//! test a member id against a reference. The key is 256 random bits, wiped on drop, never
//! printed.
//!
//! Must never: use a plain hash of a member id (member numbers are few and guessable), or
//! expose the key.

use std::fmt;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::random_bytes;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation: a member reference and an order key can never be confused.
const MEMBER_DOMAIN: &[u8] = b"registervakt/member\0";
const ORDER_DOMAIN: &[u8] = b"registervakt/order\0";
const ROW_DOMAIN: &[u8] = b"registervakt/row\0";
const TYPED_NAME_DOMAIN: &[u8] = b"registervakt/typed-username\0";
/// Separates the normalised cells a row tag is made of (a unit separator never in a cell).
const ROW_CELL_SEPARATOR: u8 = 0x1f;

/// The name under which the store keeps the sealed pseudonym key, and its sealing AAD.
pub const PSEUDONYM_KEY_NAME: &str = "pseudonym-v1";

/// The broker's pseudonym key.
pub struct PseudonymKey(Box<Zeroizing<[u8; 32]>>);

impl PseudonymKey {
    /// Fresh key bytes, for sealing and storing the first time.
    pub fn generate_bytes() -> Zeroizing<[u8; 32]> {
        Zeroizing::new(random_bytes::<32>())
    }

    /// The key from its 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<PseudonymKey> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(PseudonymKey(Box::new(Zeroizing::new(array))))
    }

    /// The member's reference: the first 128 bits of the HMAC (ample against collisions
    /// among any register's members, and half the ledger's index).
    pub fn member_ref(&self, member_id: &str) -> MemberRef {
        let mac = hmac_sha256(&self.0[..], MEMBER_DOMAIN, member_id.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&mac[..16]);
        MemberRef(first)
    }

    /// A row's tag: the first 64 bits of the HMAC of its normalised cells (the caller
    /// normalises: see `extract::fingerprint`). Different members may share a tag (two people
    /// of the same name); the tag only narrows a leaked row down to the ledger rows it may be.
    pub fn row_ref<'a>(&self, cells: impl IntoIterator<Item = &'a str>) -> RowRef {
        let mut message = Vec::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i > 0 {
                message.push(ROW_CELL_SEPARATOR);
            }
            message.extend_from_slice(cell.as_bytes());
        }
        let mac = hmac_sha256(&self.0[..], ROW_DOMAIN, &message);
        let mut first = [0u8; 8];
        first.copy_from_slice(&mac[..8]);
        RowRef(first)
    }
}

impl PseudonymKey {
    /// A keyed reference (the first 64 bits of the HMAC, as 16 hex characters) to what was
    /// typed as the username of a failed sign-in that names no account. The audit log can
    /// then say "the same unknown name, 40 times" without holding the text, which may be a
    /// password typed into the wrong field (ASVS V16.2.5: no credentials in logs). Only a
    /// holder of the key could test a guess against it.
    pub fn typed_name_ref(&self, typed: &str) -> String {
        let mac = hmac_sha256(&self.0[..], TYPED_NAME_DOMAIN, typed.as_bytes());
        hex::encode(&mac[..8])
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey([redacted])")
    }
}

/// A member's pseudonym. Shown as 32 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberRef([u8; 16]);

impl MemberRef {
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for MemberRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A keyed tag of a delivered row's content, kept in the ledger for the leak trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowRef([u8; 8]);

impl RowRef {
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// From the 8 bytes the ledger stores; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<RowRef> {
        Some(RowRef(bytes.try_into().ok()?))
    }
}

/// A per-extract key that decides the order rows are delivered in: the file's fingerprint.
pub struct OrderKey(Box<Zeroizing<[u8; 32]>>);

impl OrderKey {
    pub fn generate() -> OrderKey {
        OrderKey(Box::new(Zeroizing::new(random_bytes::<32>())))
    }

    /// The row's sort key within its window.
    pub fn rank(&self, member_id: &str) -> u64 {
        let mac = hmac_sha256(&self.0[..], ORDER_DOMAIN, member_id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&mac[..8]);
        u64::from_be_bytes(first)
    }
}

impl fmt::Debug for OrderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OrderKey([redacted])")
    }
}

/// HMAC-SHA256 over `domain || message` (also the checkpoint key's derivation).
pub(super) fn hmac_sha256(key: &[u8], domain: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0u8; 32];
    };
    mac.update(domain);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_refs_are_stable_per_key_and_differ_between_keys() {
        let a = PseudonymKey::from_slice(&[1u8; 32]).unwrap();
        let b = PseudonymKey::from_slice(&[2u8; 32]).unwrap();
        assert_eq!(a.member_ref("1001"), a.member_ref("1001"));
        assert_ne!(a.member_ref("1001"), a.member_ref("1002"));
        assert_ne!(a.member_ref("1001"), b.member_ref("1001"));
        assert_eq!(a.member_ref("1001").to_string().len(), 32);
    }

    #[test]
    fn member_ref_is_hmac_sha256_of_the_domain_and_id() {
        // Computed independently with Python's hmac module:
        // hmac.new(bytes([1] * 32), b"registervakt/member\x001001", hashlib.sha256).hexdigest()
        let key = PseudonymKey::from_slice(&[1u8; 32]).unwrap();
        // The reference is the first 128 bits.
        assert_eq!(
            key.member_ref("1001").to_string(),
            "c779af0745859dec7997cf6515d32e87"
        );
    }

    #[test]
    fn a_typed_name_ref_is_keyed_short_and_never_the_text() {
        let a = PseudonymKey::from_slice(&[1u8; 32]).unwrap();
        let b = PseudonymKey::from_slice(&[2u8; 32]).unwrap();
        let typed = "Sommar2026!hemligt";
        let r = a.typed_name_ref(typed);
        assert_eq!(r.len(), 16);
        assert_eq!(r, a.typed_name_ref(typed));
        assert_ne!(r, a.typed_name_ref("Sommar2026!hemligT"));
        assert_ne!(r, b.typed_name_ref(typed));
        // Domain-separated from a member reference of the same text.
        assert!(!a.member_ref(typed).to_string().starts_with(&r));
    }

    #[test]
    fn a_pseudonym_key_refuses_a_wrong_length_and_never_prints() {
        assert!(PseudonymKey::from_slice(&[0u8; 31]).is_none());
        let key = PseudonymKey::from_slice(&[7u8; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "PseudonymKey([redacted])");
    }

    #[test]
    fn row_refs_depend_on_every_cell_and_where_the_cells_split() {
        let key = PseudonymKey::from_slice(&[1u8; 32]).unwrap();
        let anna = key.row_ref(["anna", "andersson"]);
        assert_eq!(anna, key.row_ref(["anna", "andersson"]));
        assert_ne!(anna, key.row_ref(["anna", "andersen"]));
        assert_ne!(anna, key.row_ref(["annaa", "ndersson"]));
        assert_ne!(
            anna,
            PseudonymKey::from_slice(&[2u8; 32])
                .unwrap()
                .row_ref(["anna", "andersson"])
        );
        assert_eq!(RowRef::from_slice(anna.as_bytes()), Some(anna));
        assert_eq!(RowRef::from_slice(&[0u8; 7]), None);
    }

    #[test]
    fn two_order_keys_order_the_same_members_differently() {
        let ids: Vec<String> = (0..64).map(|i| i.to_string()).collect();
        let order = |k: &OrderKey| {
            let mut v = ids.clone();
            v.sort_by_key(|id| k.rank(id));
            v
        };
        assert_ne!(order(&OrderKey::generate()), order(&OrderKey::generate()));
    }
}
