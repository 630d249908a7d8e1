//! ID token validation for the authorization code flow (OpenID Connect Core 1.0 §3.1.3.7).
//!
//! Guarantees: a token passes only if it is signed by a key in the provider's JWKS with an
//! asymmetric algorithm (RS*, PS*, ES*, EdDSA), its `iss` equals the configured issuer exactly,
//! its `aud` contains the client id and no other audience, its `azp` (if any) is the client id,
//! `exp` is after `now`, `iat` is at most [`IAT_SKEW`] after `now`, and `nonce` equals the
//! pending login's nonce.
//!
//! Must never: accept `alg: none` or an HMAC algorithm (the client secret is no key that only
//! the provider holds — Core 1.0 §10.1, RFC 8725 §3.1), read the system clock, or put token
//! contents other than claim names and values of `iss`/`aud`/`exp` into a log line.

use std::str::FromStr as _;
use std::time::SystemTime;

use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    ClaimsVerificationError, ClientId, IssuerUrl, Nonce, SignatureVerificationError,
};
use time::OffsetDateTime;

use super::IdTokenProblem;

/// How far in the future `iat` may lie, for clock skew between provider and broker.
pub(super) const IAT_SKEW: time::Duration = time::Duration::seconds(60);

/// Asymmetric JWS algorithms (RFC 7518 §3.1). `none` and HS* are absent on purpose.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// What the token must match.
pub(super) struct Expected<'a> {
    pub issuer: &'a IssuerUrl,
    pub client_id: &'a ClientId,
    pub jwks: &'a CoreJsonWebKeySet,
    pub nonce: &'a str,
    pub now: OffsetDateTime,
    /// Further claims to read (those the trust rules name); nothing else is read.
    pub named_claims: &'a [String],
}

/// The claims Registervakt uses, from a token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VerifiedClaims {
    pub subject: String,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub email: Option<String>,
    pub auth_time: Option<i64>,
    /// Each named claim that is present, with its string value(s).
    pub named: Vec<(String, Vec<String>)>,
}

/// Validates `id_token` (compact JWS) against `expected`. The same function serves
/// [`super::Client::complete`] and the unit tests that hand-craft hostile tokens.
pub(super) fn verify_id_token(
    id_token: &str,
    expected: &Expected<'_>,
) -> Result<VerifiedClaims, IdTokenProblem> {
    let token = CoreIdToken::from_str(id_token)
        .map_err(|_| reject(IdTokenProblem::Other, "not a well-formed JWS"))?;
    // Core 1.0 §3.1.3.7 step 11: a nonce was sent, so one must come back.
    if expected.nonce.is_empty() {
        return Err(reject(IdTokenProblem::Nonce, "no nonce was expected"));
    }
    let now = SystemTime::from(expected.now);
    // A public-client verifier holds no client secret, so HS* can never verify (step 8).
    let verifier = CoreIdTokenVerifier::new_public_client(
        expected.client_id.clone(),
        expected.issuer.clone(),
        expected.jwks.clone(),
    )
    .set_allowed_algs(ALLOWED_ALGS)
    // Step 3: extra audiences are untrusted.
    .set_other_audience_verifier_fn(|_| false)
    // Step 9 at the caller's `now`, not the system clock.
    .set_time_fn(move || now.into());
    let nonce = Nonce::new(expected.nonce.to_owned());
    let claims = token
        .claims(&verifier, &nonce)
        .map_err(|e| reject(classify(&e), &e.to_string()))?;

    // Step 5: an `azp` must name this client (openidconnect leaves this to the caller).
    if let Some(azp) = claims.authorized_party()
        && azp.as_str() != expected.client_id.as_str()
    {
        return Err(reject(IdTokenProblem::Audience, "azp is not this client"));
    }
    // Step 10: reject tokens from the future beyond a small skew.
    let iat = OffsetDateTime::from(SystemTime::from(claims.issue_time()));
    if iat > expected.now + IAT_SKEW {
        return Err(reject(
            IdTokenProblem::IssuedInFuture,
            "iat lies in the future",
        ));
    }

    Ok(VerifiedClaims {
        subject: claims.subject().as_str().to_owned(),
        acr: claims.auth_context_ref().map(|acr| acr.as_str().to_owned()),
        amr: claims
            .auth_method_refs()
            .map(|amr| amr.iter().map(|m| m.as_str().to_owned()).collect())
            .unwrap_or_default(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        auth_time: claims
            .auth_time()
            .map(|t| OffsetDateTime::from(SystemTime::from(t)).unix_timestamp()),
        named: named_values(id_token, expected.named_claims),
    })
}

/// The JWS part at `index` (0 header, 1 payload) as JSON; only called on a token whose
/// signature has been checked, or to read the header's `kid`.
fn part(id_token: &str, index: usize) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let text = id_token.split('.').nth(index)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The header's key id, for deciding whether the provider's keys should be fetched again.
pub(super) fn key_id(id_token: &str) -> Option<String> {
    part(id_token, 0)?.get("kid")?.as_str().map(str::to_owned)
}

/// The values of `names` in the (verified) payload: a string, or the strings of an array.
/// Any other claim, such as an identity number, is not read.
fn named_values(id_token: &str, names: &[String]) -> Vec<(String, Vec<String>)> {
    if names.is_empty() {
        return Vec::new();
    }
    let Some(payload) = part(id_token, 1) else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| {
            let values = match payload.get(name)? {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => return None,
            };
            Some((name.clone(), values))
        })
        .collect()
}

fn classify(err: &ClaimsVerificationError) -> IdTokenProblem {
    use SignatureVerificationError as Sig;
    match err {
        ClaimsVerificationError::Expired(_) => IdTokenProblem::Expired,
        ClaimsVerificationError::InvalidAudience(_) => IdTokenProblem::Audience,
        ClaimsVerificationError::InvalidIssuer(_) => IdTokenProblem::Issuer,
        ClaimsVerificationError::InvalidNonce(_) => IdTokenProblem::Nonce,
        ClaimsVerificationError::SignatureVerification(
            Sig::DisallowedAlg(_) | Sig::UnsupportedAlg(_) | Sig::NoSignature,
        ) => IdTokenProblem::Algorithm,
        ClaimsVerificationError::SignatureVerification(_) => IdTokenProblem::Signature,
        _ => IdTokenProblem::Other,
    }
}

/// Logs why a token was rejected. `detail` comes from openidconnect's messages, which name
/// claim values of `iss`, `aud` and `exp` at most — never the token, nonce or signature.
fn reject(problem: IdTokenProblem, detail: &str) -> IdTokenProblem {
    tracing::warn!(problem = problem.as_str(), detail, "ID token rejected");
    problem
}
