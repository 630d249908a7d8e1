//! Random values, hashing and comparison for tokens and ids.
//!
//! Guarantees: every random value comes from the operating system's CSPRNG (`OsRng`);
//! comparisons of secrets take time independent of where they differ.
//! Must never: use a seeded or user-space PRNG for anything an attacker could guess,
//! or compare secrets with `==`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// `N` bytes from the OS CSPRNG. If the OS cannot supply randomness `OsRng` aborts the
/// operation by panicking inside `rand`: continuing with weak randomness would be worse.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// 256 random bits as base64url without padding (43 characters), for session tokens and
/// invitation links. 256 bits exceed the 128-bit minimum of OWASP ASVS V3.2.2 / V7.2.3
/// with room to spare. Callers store only [`sha256_hex`] of it.
pub fn random_token() -> String {
    let bytes = Zeroizing::new(random_bytes::<32>());
    URL_SAFE_NO_PAD.encode(&bytes[..])
}

/// 128 random bits as 32 lowercase hex characters, for unguessable ids such as extract ids.
pub fn random_id128() -> String {
    hex::encode(random_bytes::<16>())
}

/// SHA-256 of `data` as 64 lowercase hex characters (FIPS 180-4).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Compares two byte strings in time that does not depend on their contents (`subtle`).
/// Only the lengths leak: slices of different length compare unequal at once, which is
/// fine for hashes and tokens of fixed length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_id128_is_32_lowercase_hex_chars_and_two_calls_differ() {
        let a = random_id128();
        let b = random_id128();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn random_token_is_43_base64url_chars_and_decodes_to_32_bytes() {
        let token = random_token();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert_ne!(token, random_token());
    }

    #[test]
    fn random_bytes_of_two_calls_differ() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }

    #[test]
    fn sha256_hex_matches_the_fips_180_2_abc_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_is_true_only_for_equal_bytes() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokeN"));
        assert!(!constant_time_eq(b"token", b"token!"));
        assert!(constant_time_eq(b"", b""));
    }
}
