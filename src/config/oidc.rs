//! `[oidc.<id>]` in registervakt.toml: the identity providers staff sign in through (an eID
//! broker, the party's Keycloak…), each shown on `/login` under its own label.
//!
//! Guarantees: every provider has an id usable in a URL path, labels in Swedish and English,
//! an issuer URL and at least one rule saying which returned claims count as two factors; a
//! rule is never empty (an empty rule would trust everything) and a named claim always comes
//! with its allowed values. `Debug` never shows the client secret.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

/// Seconds a call to a provider may take, unless configured.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// `[oidc]`: identity providers by id (`[oidc.eid]`, `[oidc.keycloak]` …).
pub type Providers = BTreeMap<String, ProviderConfig>;

/// How the wanted authentication level is asked for at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestAcr {
    /// As an essential `acr` claim in the `claims` parameter (OIDC Core §5.5.1.1; the Swedish
    /// OIDC profile asks relying parties to do this).
    Essential,
    /// As `acr_values` (Core §3.1.2.1): a voluntary request.
    AcrValues,
    /// Not at all; the trust rules still decide.
    None,
}

/// One way a sign-in counts as two factors: every condition the rule names must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRule {
    /// The `acr` must be one of these.
    #[serde(default)]
    pub acr: Vec<String>,
    /// Some `amr` value must be one of these (RFC 8176: `mfa`, `hwk`, `otp` …).
    #[serde(default)]
    pub amr: Vec<String>,
    /// A further claim (for example `registrationLevel`) …
    #[serde(default)]
    pub claim: Option<String>,
    /// … whose value (or one of whose values) must be one of these.
    #[serde(default)]
    pub values: Vec<String>,
}

/// One identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The button on the login page, in Swedish ("Logga in med e-legitimation").
    pub label_sv: String,
    /// … and in English ("Sign in with e-ID").
    pub label_en: String,
    /// The issuer URL exactly as the provider states it.
    pub issuer: String,
    pub client_id: String,
    /// Prefer REGISTERVAKT_OIDC__<ID>__CLIENT_SECRET.
    pub client_secret: SecretString,
    /// Extra scopes besides `openid`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// What counts as two factors: a sign-in matching any rule does.
    #[serde(default)]
    pub two_factors: Vec<TrustRule>,
    /// How to ask for the level (default: as an essential claim when the rules name an
    /// `acr`, else not at all).
    #[serde(default)]
    pub request_acr: Option<RequestAcr>,
    /// The `acr` values asked for; default: every `acr` the rules name.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// Whether this provider's sign-in resists real-time phishing (it authenticates with a
    /// passkey or a smart card bound to the site); policies may require that.
    #[serde(default)]
    pub phishing_resistant: bool,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

impl ProviderConfig {
    /// The label in `lang` ("sv" or "en").
    pub fn label(&self, lang: &str) -> &str {
        if lang == "en" {
            &self.label_en
        } else {
            &self.label_sv
        }
    }

    /// How the level is asked for.
    pub fn request_acr(&self) -> RequestAcr {
        match self.request_acr {
            Some(how) => how,
            None if self.requested_acr().is_empty() => RequestAcr::None,
            None => RequestAcr::Essential,
        }
    }

    /// The `acr` values to ask for.
    pub fn requested_acr(&self) -> Vec<String> {
        if !self.acr_values.is_empty() {
            return self.acr_values.clone();
        }
        let mut out: Vec<String> = Vec::new();
        for rule in &self.two_factors {
            for acr in &rule.acr {
                if !out.contains(acr) {
                    out.push(acr.clone());
                }
            }
        }
        out
    }
}

/// Checks every provider; the error names the key and says what to do.
pub fn validate(providers: &Providers) -> Result<(), String> {
    for (id, p) in providers {
        let key = |k: &str| format!("oidc.{id}.{k}");
        let id_ok = !id.is_empty()
            && id.len() <= 32
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(format!(
                "`oidc.{id}`: a provider's id is 1–32 lowercase letters, digits or '-' (it is part of its sign-in address)"
            ));
        }
        if url::Url::parse(&p.issuer).is_err() {
            return Err(format!(
                "`{}` is not a URL; give it exactly as the provider's discovery document states it",
                key("issuer")
            ));
        }
        for (k, label) in [("label_sv", &p.label_sv), ("label_en", &p.label_en)] {
            let chars = label.trim().chars().count();
            if chars == 0 || chars > 60 || label.chars().any(char::is_control) {
                return Err(format!(
                    "`{}` must be a button text of 1–60 characters",
                    key(k)
                ));
            }
        }
        if p.timeout_secs == 0 || p.timeout_secs > 60 {
            return Err(format!(
                "`{}` is {}; use a value between 1 and 60",
                key("timeout_secs"),
                p.timeout_secs
            ));
        }
        if p.two_factors.is_empty() {
            return Err(format!(
                "`{}` is missing: say which sign-ins at this provider count as two factors, for example `[[oidc.{id}.two_factors]] acr = [\"http://id.elegnamnden.se/loa/1.0/loa3\"]`",
                key("two_factors")
            ));
        }
        for rule in &p.two_factors {
            if rule.acr.is_empty() && rule.amr.is_empty() && rule.claim.is_none() {
                return Err(format!(
                    "`{}` has an empty rule, which would trust every sign-in; name `acr`, `amr` or a `claim` with its `values`",
                    key("two_factors")
                ));
            }
            if rule.claim.is_some() == rule.values.is_empty() {
                return Err(format!(
                    "`{}`: a rule's `claim` and `values` come together",
                    key("two_factors")
                ));
            }
            let blank = |v: &Vec<String>| v.iter().any(|s| s.trim().is_empty());
            if blank(&rule.acr) || blank(&rule.amr) || blank(&rule.values) {
                return Err(format!("`{}` holds an empty value", key("two_factors")));
            }
        }
        if p.request_acr.is_some_and(|how| how != RequestAcr::None) && p.requested_acr().is_empty()
        {
            return Err(format!(
                "`{}`: no `acr` value to ask for; list them in `acr_values` or set `request_acr = \"none\"`",
                key("request_acr")
            ));
        }
    }
    Ok(())
}
