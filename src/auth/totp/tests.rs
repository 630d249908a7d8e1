//! Tests of the TOTP code path: RFC vectors (A1), window (A3), replay (A2), parsing,
//! enrolment URI and QR code, and agreement with oathtool, an independent implementation.

use super::*;

/// RFC 6238 Appendix B seeds: the ASCII digits "1234567890" repeated to the hash's size.
const SEED_SHA1: &[u8] = b"12345678901234567890";
const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

/// A fixed test seed, so every case below is reproducible.
fn seed() -> Seed {
    Seed::from_bytes(b"registervakt-test-1!").unwrap()
}

fn code(s: &str) -> Code {
    Code::parse(s).unwrap()
}

/// 2026-01-01 00:00:15 UTC: 15 s into its step.
const NOW: i64 = 1_767_225_615;

#[test]
fn rfc_6238_appendix_b_vectors_are_reproduced_for_sha1_sha256_and_sha512() {
    // (time, SHA-1, SHA-256, SHA-512), RFC 6238 Appendix B, 8 digits, 30 s steps.
    let vectors: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];
    for (time, sha1, sha256, sha512) in vectors {
        assert_eq!(
            generate(Algorithm::SHA1, 8, 30, SEED_SHA1, time),
            sha1,
            "SHA1 at {time}"
        );
        assert_eq!(
            generate(Algorithm::SHA256, 8, 30, SEED_SHA256, time),
            sha256,
            "SHA256 at {time}"
        );
        assert_eq!(
            generate(Algorithm::SHA512, 8, 30, SEED_SHA512, time),
            sha512,
            "SHA512 at {time}"
        );
    }
}

#[test]
fn rfc_4226_appendix_d_hotp_values_are_reproduced_for_counters_0_to_9() {
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    for (counter, want) in (0u64..).zip(expected) {
        // HOTP is TOTP with a one-second step at time = counter.
        assert_eq!(
            generate(Algorithm::SHA1, 6, 1, SEED_SHA1, counter),
            want,
            "counter {counter}"
        );
    }
}

#[test]
fn code_at_is_the_six_digit_sha1_code_of_the_step() {
    let seed = Seed::from_bytes(SEED_SHA1).unwrap();
    // RFC 6238 Appendix B's 8-digit SHA-1 code at 59 s (step 1) is 94287082; the 6-digit
    // code is its last six digits (RFC 4226 §5.3: the value modulo 10^digits).
    assert_eq!(code_at(&seed, 1), "287082");
    assert_eq!(code_at(&seed, step_at(1_111_111_109)), "081804");
}

#[test]
fn steps_are_floored_thirty_second_intervals() {
    assert_eq!(step_at(0), 0);
    assert_eq!(step_at(29), 0);
    assert_eq!(step_at(30), 1);
    assert_eq!(step_at(59), 1);
    assert_eq!(step_at(-1), -1);
}

#[test]
fn codes_for_the_current_and_the_previous_step_are_accepted() {
    let t = step_at(NOW);
    assert_eq!(
        verify(&seed(), &code(&code_at(&seed(), t)), NOW, None),
        Ok(t)
    );
    assert_eq!(
        verify(&seed(), &code(&code_at(&seed(), t - 1)), NOW, None),
        Ok(t - 1)
    );
}

#[test]
fn codes_for_the_next_step_and_two_steps_away_are_rejected() {
    let t = step_at(NOW);
    for step in [t + 1, t - 2, t + 2] {
        let c = code_at(&seed(), step);
        assert_ne!(c, code_at(&seed(), t), "test seed collides; pick another");
        assert_ne!(
            c,
            code_at(&seed(), t - 1),
            "test seed collides; pick another"
        );
        assert_eq!(
            verify(&seed(), &code(&c), NOW, None),
            Err(Rejection::Invalid),
            "step {step}"
        );
    }
}

#[test]
fn a_wrong_code_is_invalid() {
    let t = step_at(NOW);
    let wrong = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| *c != code_at(&seed(), t) && *c != code_at(&seed(), t - 1))
        .unwrap();
    assert_eq!(
        verify(&seed(), &code(&wrong), NOW, None),
        Err(Rejection::Invalid)
    );
}

#[test]
fn totp_code_cannot_be_replayed_within_its_window() {
    let s = step_at(NOW);
    let c = code(&code_at(&seed(), s));
    assert_eq!(verify(&seed(), &c, NOW, None), Ok(s));
    assert_eq!(verify(&seed(), &c, NOW, Some(s)), Err(Rejection::Replayed));
    // Still replayed 30 s later, when s has become the previous step.
    assert_eq!(
        verify(&seed(), &c, NOW + PERIOD_SECS, Some(s)),
        Err(Rejection::Replayed)
    );
}

#[test]
fn after_a_step_is_used_a_valid_code_for_the_step_before_is_rejected() {
    let s = step_at(NOW);
    let older = code(&code_at(&seed(), s - 1));
    assert_eq!(
        verify(&seed(), &older, NOW, Some(s)),
        Err(Rejection::Replayed)
    );
}

#[test]
fn after_a_step_is_used_the_code_of_the_next_step_is_accepted_in_that_step() {
    let s = step_at(NOW);
    let next = code(&code_at(&seed(), s + 1));
    assert_eq!(
        verify(&seed(), &next, NOW + PERIOD_SECS, Some(s)),
        Ok(s + 1)
    );
}

#[test]
fn after_the_previous_step_is_used_the_current_step_is_still_accepted() {
    let s = step_at(NOW);
    let current = code(&code_at(&seed(), s));
    assert_eq!(verify(&seed(), &current, NOW, Some(s - 1)), Ok(s));
}

#[test]
fn codes_parse_with_spaces_and_only_as_six_ascii_digits() {
    for ok in ["123456", "123 456", " 123456 ", "12 34 56"] {
        assert!(Code::parse(ok).is_ok(), "{ok:?}");
    }
    for bad in [
        "12345",
        "1234567",
        "12a456",
        "",
        "      ",
        "１２３４５６",
        "123-456",
        "+12345",
    ] {
        assert_eq!(
            Code::parse(bad).err(),
            Some(Error::MalformedCode),
            "{bad:?}"
        );
    }
}

#[test]
fn seeds_are_twenty_random_bytes_and_other_lengths_are_refused() {
    let a = Seed::generate();
    assert_eq!(a.as_bytes().len(), SEED_BYTES);
    assert_ne!(a.as_bytes(), Seed::generate().as_bytes());
    assert_eq!(
        Seed::from_bytes(&[0; 19]).err(),
        Some(Error::SeedLength { len: 19 })
    );
    assert_eq!(
        Seed::from_bytes(&[0; 32]).err(),
        Some(Error::SeedLength { len: 32 })
    );
}

#[test]
fn debug_output_never_shows_a_seed_or_a_code() {
    let seed = Seed::from_bytes(SEED_SHA1).unwrap();
    let shown = format!("{seed:?} {:?}", code("287082"));
    assert!(!shown.contains("1234567890"), "{shown}");
    assert!(!shown.contains(&seed.base32()), "{shown}");
    assert!(!shown.contains("287082"), "{shown}");
}

#[test]
fn base32_is_rfc_4648_without_padding() {
    // RFC 4648 §10: BASE32("foobar") = "MZXW6YTBOI======".
    let seed = Seed::from_bytes(SEED_SHA1).unwrap();
    assert_eq!(seed.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_eq!(
        totp(Algorithm::SHA1, 6, 30, b"foobar").get_secret_base32(),
        "MZXW6YTBOI"
    );
}

#[test]
fn a_seed_read_back_from_its_base32_form_is_the_same_seed() {
    let seed = Seed::generate();
    let b32 = seed.base32();
    assert_eq!(Seed::from_base32(&b32).unwrap().as_bytes(), seed.as_bytes());
    let spaced: String = b32
        .to_ascii_lowercase()
        .chars()
        .flat_map(|c| [c, ' '])
        .collect();
    assert_eq!(
        Seed::from_base32(&spaced).unwrap().as_bytes(),
        seed.as_bytes()
    );
    assert_eq!(
        Seed::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
            .unwrap()
            .as_bytes(),
        SEED_SHA1
    );
    assert_eq!(
        Seed::from_base32("GEZDGNBV!").err(),
        Some(Error::SeedEncoding)
    );
    assert_eq!(
        Seed::from_base32("MZXW6YTBOI").err(),
        Some(Error::SeedLength { len: 6 })
    );
}

#[test]
fn otpauth_uri_carries_secret_issuer_period_and_digits() {
    let seed = seed();
    let uri = otpauth_uri(&seed, "Registervakt Test", "anna.berg@example.org");
    let parsed = url::Url::parse(&uri).unwrap();
    assert_eq!(parsed.scheme(), "otpauth");
    assert_eq!(parsed.host_str(), Some("totp"));
    assert_eq!(
        parsed.path(),
        "/Registervakt%20Test:anna.berg%40example.org"
    );
    let query: std::collections::HashMap<String, String> =
        parsed.query_pairs().into_owned().collect();
    assert_eq!(query["secret"], seed.base32());
    assert_eq!(query["issuer"], "Registervakt Test");
    assert_eq!(query["algorithm"], "SHA1");
    assert_eq!(query["digits"], "6");
    assert_eq!(query["period"], "30");
}

#[test]
fn otpauth_uri_is_read_back_by_totp_rs_to_the_same_codes() {
    let seed = seed();
    let uri = otpauth_uri(&seed, "Registervakt", "anna.berg");
    let read = TOTP::from_url(&uri).unwrap();
    let t = step_at(NOW);
    assert_eq!(
        read.generate(u64::try_from(NOW).unwrap()),
        code_at(&seed, t)
    );
    assert_eq!(read.issuer.as_deref(), Some("Registervakt"));
    assert_eq!(read.account_name, "anna.berg");
}

#[test]
fn qr_svg_is_plain_svg_without_script() {
    let svg = qr_svg(&otpauth_uri(&seed(), "Registervakt", "anna.berg")).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..40]
    );
    let lower = svg.to_ascii_lowercase();
    for forbidden in ["<script", "javascript:", "onload", "href", "<foreignobject"] {
        assert!(!lower.contains(forbidden), "{forbidden}");
    }
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
#[ignore = "needs oathtool (apt-get install oathtool)"]
fn codes_match_oathtool() {
    let seed = Seed::generate();
    let times = [
        0_i64,
        59,
        1_111_111_109,
        1_767_225_615,
        2_000_000_000,
        20_000_000_000,
    ];
    for unix in times {
        let output = std::process::Command::new("oathtool")
            .args(["--totp", "--base32", "--digits=6", "--time-step-size=30s"])
            .arg(format!("--now=@{unix}"))
            .arg(seed.base32())
            .output()
            .expect("oathtool runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs = String::from_utf8(output.stdout).unwrap();
        assert_eq!(theirs.trim(), code_at(&seed, step_at(unix)), "at {unix}");
    }
}
