//! Recovery codes: single-use look-up secrets that stand in for the authenticator app when
//! it is lost (NIST SP 800-63B rev. 3 §5.1.2, §3.1.2 in rev. 4).
//!
//! Guarantees:
//! - Each code is [`SYMBOLS`] (23) symbols drawn uniformly from Crockford's base32 alphabet
//!   with the OS CSPRNG: exactly 115 bits, shown once in groups of five (`XXXXX-XXXXX-…`),
//!   wiped from memory on drop and redacted in `Debug`.
//! - What the user types is normalised before it is compared: case, dashes and spaces do
//!   not matter, and the letters that look like digits (O, I, L) are read as 0, 1, 1, the
//!   way Crockford's decoding does, so misreading a code never locks anyone out.
//! - Only [`hash`] of a code is ever stored.
//!
//! Must never: store, log or return a code after [`generate`] has handed it over, or mark
//! a code used anywhere but in the store (the caller deletes or flags the row it matched).

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::crypto;

/// Codes issued at a time.
pub const COUNT: usize = 10;
/// Symbols per code; 23 × 5 bits = 115 bits of entropy, above the 112 bits for which ASVS
/// 5.0 V6.5.2 and SP 800-63B §5.1.2.2 accept an unsalted approved hash.
pub const SYMBOLS: usize = 23;
/// A dash after every this many symbols, for reading aloud and typing.
const GROUP: usize = 5;
/// Douglas Crockford's base32 alphabet: digits and upper-case letters without I, L, O and
/// U. With O, I and L left out no two symbols look alike, and 32 symbols give exactly
/// 5 bits each. (An alphabet without 0 and 1 as well has only 31 symbols.)
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Domain tag, so a recovery-code hash can never equal the hash of a session token or of
/// any other value hashed with SHA-256 in this program.
const HASH_DOMAIN: &[u8] = b"registervakt/recovery-code/v1\0";

/// One recovery code in its display form, e.g. `7KQ4M-XW9PD-3T0AB-QZ8RN-V2K`.
pub struct RecoveryCode(SecretString);

impl RecoveryCode {
    /// The code as shown to the user, in groups of five.
    pub fn display(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// [`COUNT`] fresh codes.
pub fn generate() -> Vec<RecoveryCode> {
    (0..COUNT).map(|_| generate_one()).collect()
}

fn generate_one() -> RecoveryCode {
    let random = Zeroizing::new(crypto::random_bytes::<SYMBOLS>());
    let mut shown = Zeroizing::new(String::with_capacity(SYMBOLS + SYMBOLS / GROUP));
    for (i, byte) in random.iter().enumerate() {
        if i > 0 && i % GROUP == 0 {
            shown.push('-');
        }
        // 256 is a multiple of 32, so the low five bits of a uniform byte are uniform:
        // no modulo bias.
        shown.push(char::from(ALPHABET[usize::from(byte & 0x1f)]));
    }
    RecoveryCode(SecretString::from(shown.as_str()))
}

/// The canonical form of what a user typed: [`SYMBOLS`] alphabet symbols, upper case, no
/// separators. `None` if it is not a possible code.
pub fn normalise(input: &str) -> Option<String> {
    // A code with separators is about a dozen characters; refuse long input before work.
    if input.len() > 64 {
        return None;
    }
    let mut out = String::with_capacity(SYMBOLS);
    for c in input.chars() {
        let symbol = match c.to_ascii_uppercase() {
            '-' => continue,
            c if c.is_whitespace() => continue,
            // Crockford's decoding: letters that look like digits are read as those digits.
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(symbol);
    }
    (out.len() == SYMBOLS).then_some(out)
}

/// What the store keeps for a code: SHA-256 over a domain tag and the normalised code, as
/// 64 hex characters. Compare it with [`crypto::constant_time_eq`] or look it up by value.
///
/// Why a fast hash and not argon2: each code carries 115 random bits, so neither online
/// guessing (at most `lockout::DISABLE_AFTER_FAILURES` tries) nor offline search after a
/// database theft (2^114 SHA-256 evaluations on average) is feasible; ASVS 5.0 V6.5.2 accepts
/// an approved hash for look-up secrets of at least 112 bits. The domain tag keeps these
/// hashes apart from every other SHA-256 in the program.
pub fn hash(normalised: &str) -> String {
    let mut input = Zeroizing::new(Vec::with_capacity(HASH_DOMAIN.len() + normalised.len()));
    input.extend_from_slice(HASH_DOMAIN);
    input.extend_from_slice(normalised.as_bytes());
    crypto::sha256_hex(&input)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ten_distinct_codes_of_twenty_three_alphabet_symbols_are_generated() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let distinct: HashSet<&str> = codes.iter().map(RecoveryCode::display).collect();
        assert_eq!(distinct.len(), COUNT);
        for code in &codes {
            let shown = code.display();
            assert_eq!(shown.len(), SYMBOLS + (SYMBOLS - 1) / GROUP, "{shown}");
            assert_eq!(shown.as_bytes()[5], b'-', "{shown}");
            assert_eq!(shown.replace('-', "").len(), SYMBOLS, "{shown}");
            for b in shown.bytes().filter(|b| *b != b'-') {
                assert!(ALPHABET.contains(&b), "{shown}");
                assert!(!matches!(b, b'O' | b'I' | b'L' | b'U'), "{shown}");
            }
        }
    }

    #[test]
    fn every_alphabet_symbol_turns_up_and_the_alphabet_has_no_duplicates() {
        assert_eq!(ALPHABET.iter().collect::<HashSet<_>>().len(), 32);
        let seen: HashSet<u8> = (0..50)
            .flat_map(|_| generate())
            .flat_map(|code| code.display().bytes().collect::<Vec<_>>())
            .filter(|b| *b != b'-')
            .collect();
        // 5000 uniform draws miss one of 32 symbols with probability < 10^-60.
        assert_eq!(seen.len(), 32);
    }

    #[test]
    fn normalise_round_trips_the_displayed_form() {
        for code in generate() {
            let normal = normalise(code.display()).unwrap();
            assert_eq!(normal, code.display().replace('-', ""));
            assert_eq!(normalise(&normal).as_deref(), Some(normal.as_str()));
        }
    }

    #[test]
    fn normalise_ignores_case_spaces_and_dashes() {
        let want = Some("7KQ4MXW9PD3T0ABQZ8RNV2K".to_owned());
        for typed in [
            "7KQ4M-XW9PD-3T0AB-QZ8RN-V2K",
            "7kq4m-xw9pd-3t0ab-qz8rn-v2k",
            " 7KQ4M XW9PD 3T0AB QZ8RN V2K ",
            "7-K-Q-4-M-X-W-9-P-D-3-T-0-A-B-Q-Z-8-R-N-V-2-K",
            "7kq4mxw9pd3t0abqz8rnv2k",
        ] {
            assert_eq!(normalise(typed), want, "{typed:?}");
        }
    }

    #[test]
    fn normalise_reads_o_i_and_l_as_zero_and_one() {
        assert_eq!(
            normalise("O1IL0-oilx2-AAAAA-AAAAA-AAA").as_deref(),
            Some("01110011X2AAAAAAAAAAAAA")
        );
    }

    #[test]
    fn normalise_rejects_wrong_lengths_and_foreign_symbols() {
        for bad in [
            "",
            "7KQ4M-XW9PD-3T0AB-QZ8RN-V2",
            "7KQ4M-XW9PD-3T0AB-QZ8RN-V2KK",
            "7KQ4M-XW9PD-3T0AB-QZ8RN-V2U",
            "7KQ4M_XW9PD-3T0AB-QZ8RN-V2K",
            "7KQ4M-XW9PD-3T0AB-QZ8RN-V2Ä",
            "7KQ4M-XW9PD-3T0AB-QZ8RN-V2!",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
        assert_eq!(
            normalise(&format!("7KQ4M-XW9PD-3T0AB-QZ8RN-V2K{}", " ".repeat(100))),
            None
        );
    }

    #[test]
    fn hash_is_stable_and_differs_between_codes() {
        let a = hash("7KQ4MXW9PD");
        assert_eq!(a, hash("7KQ4MXW9PD"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, hash("7KQ4MXW9PE"));
        // The domain tag makes it differ from a plain SHA-256 of the code.
        assert_ne!(a, crypto::sha256_hex(b"7KQ4MXW9PD"));
        let hashes: HashSet<String> = generate()
            .iter()
            .map(|c| hash(&normalise(c.display()).unwrap()))
            .collect();
        assert_eq!(hashes.len(), COUNT);
    }

    #[test]
    fn debug_output_never_shows_a_code() {
        let code = generate().remove(0);
        assert!(!format!("{code:?}").contains(code.display()));
    }
}
