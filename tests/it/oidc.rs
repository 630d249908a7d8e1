#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Black-box tests of `registervakt::auth::oidc` against a real OpenID provider (npm
//! `oidc-provider`, `tests/oidc/provider.mjs`) on loopback — SECURITY_BAR A7, ASVS V10.
//!
//! Each test starts its own provider on port 0 and drives the browser part with reqwest.
//! They need node and `npm install --prefix tests/oidc`, hence `#[ignore]`; run them with
//! `cargo test --test oidc -- --include-ignored`. The unreachable-issuer test needs no provider
//! and always runs. Hostile hand-made ID tokens (`alg: none`, foreign keys, …) are unit tests
//! in `src/auth/oidc/tests.rs`.

use crate::oidc_support as support;

use std::time::{Duration, Instant};

use registervakt::auth::oidc::{Ask, Client, Error, IdTokenProblem, RequestAcr};
use support::{
    CLIENT_ID, CLIENT_SECRET, LOA2, LOA3, Provider, acr_rule, amr_rule, settings_for,
    sign_in_as_alice,
};
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_full_sign_in_yields_alices_issuer_and_subject_without_mfa_when_nothing_is_trusted() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, true).await;
    let identity = client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap();
    assert_eq!(identity.issuer, provider.issuer);
    assert_eq!(identity.subject, "alice");
    assert_eq!(identity.acr.as_deref(), Some(LOA3));
    assert_eq!(identity.amr, ["pwd", "otp"]);
    assert!(
        !identity.mfa,
        "nothing is trusted, so nothing counts as MFA"
    );
    assert_eq!(identity.email.as_deref(), Some("alice@example.org"));
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_otp_login_counts_as_mfa_when_the_config_trusts_otp() {
    let provider = Provider::start();
    let mut settings = provider.settings();
    settings.trust = vec![amr_rule(&["otp"])];
    let client = Client::discover(settings).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, true).await;
    let identity = client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap();
    assert!(identity.mfa);
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_loa3_login_counts_as_mfa_when_the_config_trusts_loa3_and_loa3_is_requested() {
    let provider = Provider::start();
    let mut settings = provider.settings();
    settings.trust = vec![acr_rule(&[LOA3])];
    settings.acr_values = vec![LOA3.to_owned()];
    settings.request_acr = RequestAcr::AcrValues;
    let client = Client::discover(settings).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    assert_eq!(query(&url, "acr_values").as_deref(), Some(LOA3));
    let callback = sign_in_as_alice(&url, true).await;
    let identity = client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap();
    assert_eq!(identity.acr.as_deref(), Some(LOA3));
    assert!(identity.mfa);
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_untrusted_acr_or_amr_does_not_count_as_mfa() {
    let provider = Provider::start();
    let mut settings = provider.settings();
    let loa4 = "http://id.elegnamnden.se/loa/1.0/loa4";
    settings.trust = vec![acr_rule(&[loa4]), amr_rule(&["hwk"])];
    settings.acr_values = vec![loa4.to_owned()];
    settings.request_acr = RequestAcr::AcrValues;
    let client = Client::discover(settings).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    assert_eq!(
        query(&url, "acr_values"),
        None,
        "loa4 is not offered by this provider"
    );
    let callback = sign_in_as_alice(&url, true).await;
    let identity = client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap();
    assert!(!identity.mfa);

    let (url, pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    let identity = client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap();
    assert_eq!(identity.acr.as_deref(), Some(LOA2));
    assert_eq!(identity.amr, ["pwd"]);
    assert!(!identity.mfa);
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn the_authorization_url_carries_an_s256_challenge_and_fresh_state_and_nonce_but_no_verifier()
{
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    let (_, other) = client.begin(Ask::default(), now());
    assert!(url.starts_with(&format!("{}/", provider.issuer)));
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query(&url, "code_challenge").is_some());
    assert_eq!(
        query(&url, "state").as_deref(),
        Some(pending.state.as_str())
    );
    assert_eq!(
        query(&url, "nonce").as_deref(),
        Some(pending.nonce.as_str())
    );
    assert!(
        query(&url, "scope")
            .unwrap()
            .split(' ')
            .any(|s| s == "openid")
    );
    assert!(!url.contains(&pending.pkce_verifier));
    assert!(
        pending.state.len() >= 22 && pending.nonce.len() >= 22,
        "at least 128 bits each"
    );
    assert_ne!(pending.state, other.state);
    assert_ne!(pending.nonce, other.nonce);
    assert_ne!(pending.pkce_verifier, other.pkce_verifier);
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_callback_with_another_state_is_rejected_as_a_state_mismatch() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    let (_, other) = client.begin(Ask::default(), now());
    let err = client
        .complete(&pending, &other.state, &callback.code, now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StateMismatch), "{err:?}");
    let err = client
        .complete(&pending, "", &callback.code, now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StateMismatch), "{err:?}");
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_wrong_pkce_verifier_is_refused_by_the_token_endpoint() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let (url, mut pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    pending.pkce_verifier = client.begin(Ask::default(), now()).1.pkce_verifier;
    let err = client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TokenExchange(_)), "{err:?}");
    assert!(
        !err.to_string().contains(&callback.code),
        "no code in the message: {err}"
    );
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_id_token_carrying_another_logins_nonce_is_rejected() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let (url, mut pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    pending.nonce = client.begin(Ask::default(), now()).1.nonce;
    let err = client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::Nonce)),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_id_token_checked_two_hours_later_is_rejected_as_expired() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    let later = now() + time::Duration::hours(2);
    let err = client
        .complete(&pending, &callback.state, &callback.code, later)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::Expired)),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_id_token_checked_two_hours_earlier_is_rejected_as_issued_in_the_future() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    let earlier = now() - time::Duration::hours(2);
    let err = client
        .complete(&pending, &callback.state, &callback.code, earlier)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::IssuedInFuture)),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_code_issued_to_one_client_cannot_be_redeemed_by_another() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let other_id = format!("{CLIENT_ID}-other");
    let other_secret = format!("{CLIENT_SECRET}-other");
    let other = Client::discover(settings_for(&provider.issuer, &other_id, &other_secret))
        .await
        .unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    let err = other
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TokenExchange(_) | Error::IdToken(IdTokenProblem::Audience)
        ),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_authorization_code_cannot_be_redeemed_twice() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap();
    let err = client
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TokenExchange(_)), "{err:?}");
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_wrong_client_secret_is_refused_by_the_token_endpoint() {
    let provider = Provider::start();
    let good = Client::discover(provider.settings()).await.unwrap();
    let bad = Client::discover(settings_for(&provider.issuer, CLIENT_ID, "not-the-secret"))
        .await
        .unwrap();
    let (url, pending) = good.begin(Ask::default(), now());
    let callback = sign_in_as_alice(&url, false).await;
    let err = bad
        .complete(&pending, &callback.state, &callback.code, now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TokenExchange(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(CLIENT_SECRET));
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn discovery_refuses_an_issuer_string_other_than_the_one_the_provider_states() {
    let provider = Provider::start();
    let localhost = format!("http://localhost:{}", provider.port());
    let err = Client::discover(settings_for(&localhost, CLIENT_ID, CLIENT_SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Discovery(_)), "{err:?}");
    let slash = format!("{}/", provider.issuer);
    let err = Client::discover(settings_for(&slash, CLIENT_ID, CLIENT_SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Discovery(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_issuer_fails_discovery_as_unreachable_within_the_timeout() {
    let mut settings = settings_for("http://127.0.0.1:1", CLIENT_ID, CLIENT_SECRET);
    settings.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let err = Client::discover(settings).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_plain_http_issuer_off_loopback_is_refused_before_any_request() {
    let settings = settings_for("http://idp.example", CLIENT_ID, CLIENT_SECRET);
    let err = Client::discover(settings).await.unwrap_err();
    assert!(matches!(err, Error::Settings(_)), "{err:?}");
}

/// A broker that puts the method in `acr` and the level in `registrationLevel`, signing ES256.
fn method_broker_settings(provider: &Provider) -> registervakt::auth::oidc::Settings {
    let mut settings = provider.settings();
    settings.trust = vec![registervakt::auth::oidc::TrustRule {
        acr: vec!["urn:grn:authn:se:frejaid".to_owned()],
        claim: Some("registrationLevel".to_owned()),
        values: vec!["PLUS".to_owned()],
        ..Default::default()
    }];
    settings.acr_values = vec!["urn:grn:authn:se:frejaid".to_owned()];
    settings.request_acr = RequestAcr::Essential;
    settings
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_method_urn_broker_counts_as_two_factors_only_at_a_trusted_level() {
    let provider = Provider::start_with(&[("BROKER", "method")]);
    let client = Client::discover(method_broker_settings(&provider))
        .await
        .unwrap();
    let (url, pending) = client.begin(Ask::default(), now());
    // The Swedish OIDC profile's way: acr as an essential claim, not acr_values.
    let claims: serde_json::Value = serde_json::from_str(&query(&url, "claims").unwrap()).unwrap();
    assert_eq!(claims["id_token"]["acr"]["essential"], true);
    assert_eq!(
        claims["id_token"]["acr"]["values"][0],
        "urn:grn:authn:se:frejaid"
    );
    assert_eq!(query(&url, "acr_values"), None);
    let cb = support::sign_in_with_hint(&url, "level=PLUS").await;
    let identity = client
        .complete(&pending, &cb.state, &cb.code, now())
        .await
        .unwrap();
    assert_eq!(identity.acr.as_deref(), Some("urn:grn:authn:se:frejaid"));
    assert!(identity.mfa, "frejaid at PLUS is trusted");
    assert!(
        !format!("{identity:?}").contains("195307279878"),
        "the broker's identity number claim is never read"
    );

    let (url, pending) = client.begin(Ask::default(), now());
    let cb = support::sign_in_with_hint(&url, "level=BASIC").await;
    let identity = client
        .complete(&pending, &cb.state, &cb.code, now())
        .await
        .unwrap();
    assert!(!identity.mfa, "frejaid at BASIC is not two factors");
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn a_rotated_signing_key_works_at_the_first_sign_in_after_the_rotation() {
    let provider = Provider::start_with(&[("BROKER", "method")]);
    let client = Client::discover(method_broker_settings(&provider))
        .await
        .unwrap();
    provider.rotate_keys().await;
    let (url, pending) = client.begin(Ask::default(), now());
    let cb = support::sign_in_with_hint(&url, "level=PLUS").await;
    let identity = client
        .complete(&pending, &cb.state, &cb.code, now())
        .await
        .expect("the unknown kid makes the client fetch the keys again");
    assert!(identity.mfa);
}

#[tokio::test]
#[ignore = "needs node and oidc-provider (npm install --prefix tests/oidc)"]
async fn an_authentication_older_than_max_age_is_refused_and_a_step_up_asks_for_a_new_one() {
    let provider = Provider::start();
    let client = Client::discover(provider.settings()).await.unwrap();
    let ask = Ask {
        max_age: Some(300),
        fresh: false,
    };
    let (url, pending) = client.begin(ask, now());
    assert_eq!(query(&url, "max_age").as_deref(), Some("300"));
    assert_eq!(query(&url, "prompt"), None);
    let cb = support::sign_in_with_hint(&url, "mfa,old").await;
    let err = client
        .complete(&pending, &cb.state, &cb.code, now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::IdToken(IdTokenProblem::AuthTime)),
        "{err:?}"
    );

    let step_up = Ask {
        max_age: Some(300),
        fresh: true,
    };
    let (url, pending) = client.begin(step_up, now());
    assert_eq!(query(&url, "prompt").as_deref(), Some("login"));
    let cb = support::sign_in_with_hint(&url, "mfa").await;
    let identity = client
        .complete(&pending, &cb.state, &cb.code, now())
        .await
        .unwrap();
    assert!(identity.auth_time.is_some());
}
