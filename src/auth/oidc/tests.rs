//! Unit tests for the OIDC module: hand-crafted ID tokens (RFC 7515 compact JWS) run through
//! the same [`verify::verify_id_token`] that `Client::complete` uses, plus the small helpers.
//! RSA keys come from `openssl genrsa -traditional 2048` at test time.

use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreHmacKey, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{ClientId, IssuerUrl, JsonWebKeyId, PrivateSigningKey};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::verify::{self, Expected, IAT_SKEW, VerifiedClaims};
use super::*;

const ISSUER: &str = "https://idp.example";
const CLIENT: &str = "registervakt";
const NONCE: &str = "n0nce-from-the-pending-login";
const KID: &str = "provider-key";
const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

fn rsa_pem() -> String {
    let out = Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "openssl genrsa failed");
    String::from_utf8(out.stdout).expect("PEM is ASCII")
}

/// (provider key, foreign key with the same kid): generated once per test binary.
fn keys() -> &'static (CoreRsaPrivateSigningKey, CoreRsaPrivateSigningKey) {
    static KEYS: OnceLock<(CoreRsaPrivateSigningKey, CoreRsaPrivateSigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let kid = || Some(JsonWebKeyId::new(KID.to_owned()));
        (
            CoreRsaPrivateSigningKey::from_pem(&rsa_pem(), kid()).expect("provider key"),
            CoreRsaPrivateSigningKey::from_pem(&rsa_pem(), kid()).expect("foreign key"),
        )
    })
}

fn provider_jwks() -> CoreJsonWebKeySet {
    CoreJsonWebKeySet::new(vec![keys().0.as_verification_key()])
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "alice",
        "exp": (NOW + time::Duration::hours(1)).unix_timestamp(),
        "iat": NOW.unix_timestamp(),
        "nonce": NONCE,
        "acr": "http://id.elegnamnden.se/loa/1.0/loa3",
        "amr": ["pwd", "otp"],
        "email": "alice@example.org",
    })
}

fn sign_with<K: PrivateSigningKey<VerificationKey = CoreJsonWebKey>>(
    key: &K,
    alg: CoreJwsSigningAlgorithm,
    header: Value,
    payload: &Value,
) -> String {
    let input = format!("{}.{}", b64(&header), b64(payload));
    let signature = key.sign(&alg, input.as_bytes()).expect("signing works");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn rs256(key: &CoreRsaPrivateSigningKey, payload: &Value) -> String {
    let header = json!({ "alg": "RS256", "kid": KID });
    sign_with(
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        header,
        payload,
    )
}

fn signed(payload: &Value) -> String {
    rs256(&keys().0, payload)
}

fn with(changes: Value) -> Value {
    let mut payload = claims();
    for (name, value) in changes.as_object().expect("object") {
        if value.is_null() {
            payload.as_object_mut().expect("object").remove(name);
        } else {
            payload[name] = value.clone();
        }
    }
    payload
}

fn check_at(token: &str, now: OffsetDateTime) -> Result<VerifiedClaims, IdTokenProblem> {
    let issuer = IssuerUrl::new(ISSUER.to_owned()).expect("URL");
    let client_id = ClientId::new(CLIENT.to_owned());
    let jwks = provider_jwks();
    let expected = Expected {
        issuer: &issuer,
        client_id: &client_id,
        jwks: &jwks,
        nonce: NONCE,
        now,
        named_claims: &[],
    };
    verify::verify_id_token(token, &expected)
}

fn check(token: &str) -> Result<VerifiedClaims, IdTokenProblem> {
    check_at(token, NOW)
}

#[test]
fn a_token_signed_by_the_provider_with_matching_claims_is_accepted() {
    let verified = check(&signed(&claims())).expect("valid token");
    assert_eq!(verified.subject, "alice");
    assert_eq!(
        verified.acr.as_deref(),
        Some("http://id.elegnamnden.se/loa/1.0/loa3")
    );
    assert_eq!(verified.amr, ["pwd", "otp"]);
    assert_eq!(verified.email.as_deref(), Some("alice@example.org"));
}

#[test]
fn alg_none_is_rejected_as_a_bad_algorithm() {
    let token = format!("{}.{}.", b64(&json!({ "alg": "none" })), b64(&claims()));
    assert_eq!(check(&token), Err(IdTokenProblem::Algorithm));
}

#[test]
fn hs256_keyed_with_the_providers_public_key_is_rejected_as_a_bad_algorithm() {
    // The classic key-confusion attack (RFC 8725 §2.1): HMAC with public key bytes.
    let public = serde_json::to_vec(&keys().0.as_verification_key()).expect("JWK");
    let hmac = CoreHmacKey::new(public);
    let header = json!({ "alg": "HS256", "kid": KID });
    let token = sign_with(
        &hmac,
        CoreJwsSigningAlgorithm::HmacSha256,
        header,
        &claims(),
    );
    assert_eq!(check(&token), Err(IdTokenProblem::Algorithm));
}

#[test]
fn a_token_signed_by_a_key_outside_the_jwks_is_rejected_as_a_bad_signature() {
    assert_eq!(
        check(&rs256(&keys().1, &claims())),
        Err(IdTokenProblem::Signature)
    );
}

#[test]
fn a_token_whose_kid_is_not_in_the_jwks_is_rejected_as_a_bad_signature() {
    let header = json!({ "alg": "RS256", "kid": "someone-else" });
    let token = sign_with(
        &keys().0,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        header,
        &claims(),
    );
    assert_eq!(check(&token), Err(IdTokenProblem::Signature));
}

#[test]
fn a_payload_changed_after_signing_is_rejected_as_a_bad_signature() {
    let token = signed(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(json!({ "sub": "mallory" }))),
        parts[2]
    );
    assert_eq!(check(&forged), Err(IdTokenProblem::Signature));
}

#[test]
fn an_issuer_other_than_the_configured_one_is_rejected() {
    let token = signed(&with(json!({ "iss": "https://idp.example/" })));
    assert_eq!(check(&token), Err(IdTokenProblem::Issuer));
}

#[test]
fn an_audience_that_does_not_name_this_client_is_rejected() {
    let token = signed(&with(json!({ "aud": "another-client" })));
    assert_eq!(check(&token), Err(IdTokenProblem::Audience));
}

#[test]
fn an_extra_untrusted_audience_is_rejected() {
    let token = signed(&with(json!({ "aud": [CLIENT, "another-client"] })));
    assert_eq!(check(&token), Err(IdTokenProblem::Audience));
}

#[test]
fn an_azp_naming_another_client_is_rejected() {
    let token = signed(&with(json!({ "azp": "another-client" })));
    assert_eq!(check(&token), Err(IdTokenProblem::Audience));
    assert!(check(&signed(&with(json!({ "azp": CLIENT })))).is_ok());
}

#[test]
fn a_token_expired_at_the_callers_now_is_rejected() {
    let token = signed(&claims());
    assert_eq!(
        check_at(&token, NOW + time::Duration::hours(1)),
        Err(IdTokenProblem::Expired)
    );
    assert_eq!(
        check_at(&token, NOW + time::Duration::hours(2)),
        Err(IdTokenProblem::Expired)
    );
}

#[test]
fn expiry_is_judged_by_the_now_argument_not_the_system_clock() {
    let then = datetime!(2001-02-03 04:05 UTC);
    let token = signed(&with(json!({
        "iat": then.unix_timestamp(),
        "exp": (then + time::Duration::minutes(5)).unix_timestamp(),
    })));
    assert!(check_at(&token, then).is_ok());
}

#[test]
fn an_iat_beyond_the_clock_skew_is_rejected_as_issued_in_the_future() {
    let future = NOW + IAT_SKEW + time::Duration::seconds(1);
    let token = signed(&with(json!({ "iat": future.unix_timestamp() })));
    assert_eq!(check(&token), Err(IdTokenProblem::IssuedInFuture));
    let within = signed(&with(json!({ "iat": (NOW + IAT_SKEW).unix_timestamp() })));
    assert!(check(&within).is_ok());
}

#[test]
fn a_different_nonce_is_rejected() {
    let token = signed(&with(json!({ "nonce": "replayed-from-another-login" })));
    assert_eq!(check(&token), Err(IdTokenProblem::Nonce));
}

#[test]
fn a_missing_nonce_is_rejected() {
    let token = signed(&with(json!({ "nonce": null })));
    assert_eq!(check(&token), Err(IdTokenProblem::Nonce));
}

#[test]
fn garbage_instead_of_a_token_is_rejected() {
    assert_eq!(check("not-a-jwt"), Err(IdTokenProblem::Other));
}

fn claims_with(acr: Option<&str>, amr: &[&str], named: &[(&str, &[&str])]) -> VerifiedClaims {
    VerifiedClaims {
        subject: "alice".to_owned(),
        acr: acr.map(str::to_owned),
        amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        email: None,
        auth_time: None,
        named: named
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.iter().map(|x| (*x).to_owned()).collect()))
            .collect(),
    }
}

fn rule(acr: &[&str], amr: &[&str], claim: Option<(&str, &[&str])>) -> TrustRule {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    TrustRule {
        acr: s(acr),
        amr: s(amr),
        claim: claim.map(|(n, _)| n.to_owned()),
        values: claim.map(|(_, v)| s(v)).unwrap_or_default(),
    }
}

#[test]
fn two_factors_need_an_exactly_trusted_acr_or_amr() {
    let loa3 = "http://id.elegnamnden.se/loa/1.0/loa3";
    assert!(is_mfa(
        &claims_with(Some(loa3), &[], &[]),
        &[rule(&[loa3], &[], None)]
    ));
    assert!(is_mfa(
        &claims_with(None, &["pwd", "otp"], &[]),
        &[rule(&[], &["otp"], None)]
    ));
    assert!(!is_mfa(&claims_with(Some(loa3), &["pwd", "otp"], &[]), &[]));
    let rules = [rule(&[loa3], &[], None), rule(&[], &["otp"], None)];
    assert!(!is_mfa(
        &claims_with(Some("http://id.elegnamnden.se/loa/1.0/loa2"), &["pwd"], &[]),
        &rules
    ));
    assert!(!is_mfa(
        &claims_with(Some("LOA3"), &["OTP"], &[]),
        &[rule(&["loa3"], &["otp"], None)]
    ));
}

#[test]
fn a_method_urn_counts_only_with_its_trusted_level_claim() {
    let freja = "urn:grn:authn:se:frejaid";
    let bankid = "urn:grn:authn:se:bankid:same-device";
    let rules = [
        rule(&[bankid], &[], None),
        rule(&[freja], &[], Some(("registrationLevel", &["PLUS"]))),
    ];
    assert!(is_mfa(&claims_with(Some(bankid), &[], &[]), &rules));
    assert!(is_mfa(
        &claims_with(Some(freja), &[], &[("registrationLevel", &["PLUS"])]),
        &rules
    ));
    assert!(!is_mfa(
        &claims_with(Some(freja), &[], &[("registrationLevel", &["BASIC"])]),
        &rules
    ));
    assert!(!is_mfa(&claims_with(Some(freja), &[], &[]), &rules));
    // An empty rule trusts nothing (the configuration refuses it, and so does the check).
    assert!(!is_mfa(
        &claims_with(Some(freja), &[], &[]),
        &[rule(&[], &[], None)]
    ));
}

#[test]
fn only_the_named_claims_are_read_from_a_verified_token() {
    let token = signed(&with(json!({
        "registrationLevel": "PLUS",
        "https://id.oidc.se/claim/personalIdentityNumber": "195307279878",
    })));
    let issuer = IssuerUrl::new(ISSUER.to_owned()).expect("URL");
    let client_id = ClientId::new(CLIENT.to_owned());
    let jwks = provider_jwks();
    let named = ["registrationLevel".to_owned()];
    let verified = verify::verify_id_token(
        &token,
        &Expected {
            issuer: &issuer,
            client_id: &client_id,
            jwks: &jwks,
            nonce: NONCE,
            now: NOW,
            named_claims: &named,
        },
    )
    .expect("valid token");
    assert_eq!(
        verified.named,
        [("registrationLevel".to_owned(), vec!["PLUS".to_owned()])]
    );
    assert!(!format!("{verified:?}").contains("195307279878"));
}

fn pending(max_age: Option<i64>, fresh: bool, begun_at: i64) -> PendingLogin {
    PendingLogin {
        state: "s".to_owned(),
        nonce: "n".to_owned(),
        pkce_verifier: "v".to_owned(),
        max_age,
        fresh,
        begun_at,
    }
}

#[test]
fn auth_time_must_be_within_max_age_and_after_a_step_up_began() {
    let now = NOW.unix_timestamp();
    assert_eq!(
        check_auth_time(None, &pending(None, false, now), NOW),
        Ok(())
    );
    assert_eq!(
        check_auth_time(None, &pending(Some(300), false, now), NOW),
        Err(IdTokenProblem::AuthTime)
    );
    assert_eq!(
        check_auth_time(Some(now - 200), &pending(Some(300), false, now), NOW),
        Ok(())
    );
    assert_eq!(
        check_auth_time(Some(now - 3600), &pending(Some(300), false, now), NOW),
        Err(IdTokenProblem::AuthTime)
    );
    // A step-up began 30 s ago: an authentication from before it is a silent SSO, not a proof.
    assert_eq!(
        check_auth_time(Some(now - 200), &pending(Some(300), true, now - 30), NOW),
        Err(IdTokenProblem::AuthTime)
    );
    assert_eq!(
        check_auth_time(Some(now - 10), &pending(Some(300), true, now - 30), NOW),
        Ok(())
    );
}

#[test]
fn acr_values_are_narrowed_to_what_the_provider_supports() {
    let trusted = vec!["loa3".to_owned(), "loa4".to_owned()];
    let supported = [AuthenticationContextClass::new("loa3".to_owned())];
    assert_eq!(acr_values_to_request(&trusted, Some(&supported)), ["loa3"]);
    assert_eq!(acr_values_to_request(&trusted, None), ["loa3", "loa4"]);
}

#[test]
fn plain_http_is_allowed_only_on_loopback() {
    let url = |s: &str| url::Url::parse(s).expect("URL");
    assert!(require_secure(&url("https://idp.example"), "issuer").is_ok());
    assert!(require_secure(&url("http://127.0.0.1:8080"), "issuer").is_ok());
    assert!(require_secure(&url("http://[::1]:8080"), "issuer").is_ok());
    assert!(require_secure(&url("http://idp.example"), "issuer").is_err());
}

#[test]
fn provider_text_is_cut_to_200_characters_without_control_characters() {
    let text = provider_text(&format!("bad\r\ninjected{}", "x".repeat(500)));
    assert_eq!(text.chars().count(), 200);
    assert!(text.starts_with("badinjected"));
}

#[test]
fn pending_login_and_settings_never_show_secrets_in_debug_output() {
    let pending = PendingLogin {
        state: "state-secret".to_owned(),
        nonce: "nonce-secret".to_owned(),
        pkce_verifier: "verifier-secret".to_owned(),
        max_age: None,
        fresh: false,
        begun_at: 0,
    };
    assert!(!format!("{pending:?}").contains("secret"));
    let settings = Settings {
        issuer: ISSUER.to_owned(),
        client_id: CLIENT.to_owned(),
        client_secret: SecretString::from("client-secret-value"),
        redirect_url: "https://broker.example/auth/oidc/callback".to_owned(),
        scopes: vec![],
        trust: vec![],
        request_acr: RequestAcr::Essential,
        acr_values: vec![],
        timeout: Duration::from_secs(5),
    };
    assert!(!format!("{settings:?}").contains("client-secret-value"));
}
