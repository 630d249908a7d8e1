//! Tests of the password policy, argon2id hashing and the dummy hash (ASVS V6.2, V6.3.8).

use super::*;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// m, t, p and the algorithm of a PHC string, as argon2 reads them back.
fn phc_params(phc: &str) -> (u32, u32, u32, Algorithm) {
    let parsed = PasswordHash::new(phc).unwrap();
    let params = Params::try_from(&parsed).unwrap();
    let algorithm = Algorithm::try_from(parsed.algorithm).unwrap();
    (params.m_cost(), params.t_cost(), params.p_cost(), algorithm)
}

const PRODUCTION: (u32, u32, u32, Algorithm) = (
    ARGON2_MEMORY_KIB,
    ARGON2_ITERATIONS,
    ARGON2_PARALLELISM,
    Algorithm::Argon2id,
);

#[tokio::test]
async fn a_unicode_password_and_a_long_passphrase_verify_after_hashing() {
    let long_passphrase = "lingonsylt och knäckebröd på söndag morgon ".repeat(5);
    assert!(long_passphrase.chars().count() >= 200);
    for password in ["Grönsaksodling på ☃ och 日本語", long_passphrase.as_str()] {
        let phc = hash(&secret(password)).await.unwrap();
        assert!(verify(Some(&phc), &secret(password)).await, "{password}");
    }
}

#[tokio::test]
async fn a_wrong_password_does_not_verify() {
    let phc = hash(&secret("korrekt häst batteri häftklammer"))
        .await
        .unwrap();
    assert!(!verify(Some(&phc), &secret("korrekt häst batteri häftklamrar")).await);
    assert!(!verify(Some(&phc), &secret("")).await);
}

#[tokio::test]
async fn an_unknown_user_or_a_missing_password_never_verifies() {
    assert!(!verify(None, &secret("korrekt häst batteri häftklammer")).await);
    assert!(!verify(None, &secret("")).await);
}

#[tokio::test]
async fn a_malformed_stored_hash_does_not_verify() {
    for stored in ["", "not a hash", "$argon2id$v=19$m=19456", "$2b$12$abc"] {
        assert!(
            !verify(Some(stored), &secret("not a hash")).await,
            "{stored}"
        );
    }
}

#[tokio::test]
async fn an_over_long_password_does_not_verify_even_against_its_own_hash() {
    let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
    assert!(matches!(hash(&secret(&long)).await, Err(Error::TooLong)));
    let phc = hash_blocking(long.as_bytes()).unwrap();
    assert!(!verify(Some(&phc), &secret(&long)).await);
}

#[test]
fn dummy_hash_uses_the_production_parameters() {
    // The timing equivalence of ASVS V6.3.8 rests on this: argon2 takes its work factors
    // from the hash it verifies against.
    assert_eq!(phc_params(DUMMY_PHC), PRODUCTION);
    assert_eq!(
        PasswordHash::new(DUMMY_PHC).unwrap().version,
        Some(Version::V0x13 as u32)
    );
}

#[tokio::test]
async fn produced_hashes_name_argon2id_v19_with_m19456_t2_p1_and_a_fresh_salt() {
    let a = hash(&secret("korrekt häst batteri häftklammer"))
        .await
        .unwrap();
    let b = hash(&secret("korrekt häst batteri häftklammer"))
        .await
        .unwrap();
    assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
    assert_eq!(phc_params(&a), PRODUCTION);
    assert_ne!(a, b, "two hashes of one password must differ by salt");
}

#[test]
fn policy_rejects_eleven_characters_and_accepts_twelve_strong_ones() {
    assert_eq!(check_policy("Tq7#vR2!mZp", &[]), Err(Rejection::TooShort));
    assert_eq!(check_policy("Tq7#vR2!mZp9", &[]), Ok(()));
}

#[test]
fn policy_counts_characters_not_bytes() {
    // 11 characters but 22 bytes: still too short.
    assert_eq!(check_policy("ääääääääääå", &[]), Err(Rejection::TooShort));
}

#[test]
fn policy_rejects_common_passwords_and_keyboard_walks_as_guessable() {
    for password in ["password1234", "qwertyuiop123"] {
        assert!(
            matches!(
                check_policy(password, &[]),
                Err(Rejection::TooGuessable { .. })
            ),
            "{password}"
        );
    }
}

#[test]
fn policy_rejects_the_username_with_a_year_and_an_exclamation_mark() {
    let username = "annalindqvist";
    let password = format!("{username}2024!");
    assert!(matches!(
        check_policy(&password, &[username, "Anna Lindqvist"]),
        Err(Rejection::TooGuessable { .. })
    ));
}

#[test]
fn policy_accepts_a_swedish_passphrase_with_spaces() {
    assert_eq!(
        check_policy("korrekt häst batteri häftklammer", &["anna", ""]),
        Ok(())
    );
}

#[test]
fn policy_rejects_two_thousand_bytes_as_too_long() {
    let password = "x7Q!".repeat(500);
    assert_eq!(password.len(), 2000);
    assert_eq!(check_policy(&password, &[]), Err(Rejection::TooLong));
}

#[test]
fn rejection_messages_never_contain_the_password() {
    let cases = [
        "short".to_owned(),
        "password1234".to_owned(),
        "qwertyuiop123".to_owned(),
        "annalindqvist2024!".to_owned(),
        "aaaaaaaaaaaaaaaa".to_owned(),
        "abcdefghijklmnop".to_owned(),
        "x".repeat(2000),
    ];
    for password in &cases {
        let rejection = check_policy(password, &["annalindqvist"]).unwrap_err();
        let shown = rejection.to_string();
        assert!(!shown.contains(password.as_str()), "{shown}");
        assert!(!format!("{rejection:?}").contains(password.as_str()));
        assert!(shown.ends_with('.'), "a sentence: {shown}");
    }
}

#[test]
#[ignore = "prints a fresh DUMMY_PHC; run when the argon2 parameters change"]
fn prints_a_fresh_dummy_hash_for_regenerating_the_constant() {
    let phc = hash_blocking(&crypto::random_bytes::<32>()).unwrap();
    println!("{phc}");
}

#[tokio::test]
async fn a_password_typed_in_composed_or_decomposed_unicode_is_the_same_password() {
    let composed = SecretString::from("vår häst heter Åsa i skogen".to_owned());
    let decomposed =
        SecretString::from("va\u{30a}r ha\u{308}st heter A\u{30a}sa i skogen".to_owned());
    assert_ne!(composed.expose_secret(), decomposed.expose_secret());
    let phc = hash(&composed).await.unwrap();
    assert!(verify(Some(&phc), &decomposed).await);
}
