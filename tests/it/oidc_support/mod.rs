//! Helpers for `tests/it/oidc.rs`: a real OpenID provider (`tests/oidc/provider.mjs`, npm
//! `oidc-provider`) started on loopback port 0 per test and killed when the guard drops, and a
//! minimal "browser" (reqwest with cookies, redirects followed by hand) that walks from the
//! authorization URL to the redirect URI and reads `code` and `state` from its query.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use registervakt::auth::oidc::{RequestAcr, Settings, TrustRule};
use secrecy::SecretString;

pub const CLIENT_ID: &str = "registervakt-test";
pub const CLIENT_SECRET: &str = "registervakt-test-secret-0123456789";
/// Never served: the browser stops at the first redirect to it.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/oidc/callback";
pub const LOA2: &str = "http://id.elegnamnden.se/loa/1.0/loa2";
pub const LOA3: &str = "http://id.elegnamnden.se/loa/1.0/loa3";

/// A running provider; killed (and reaped) on drop, so no test leaves it behind.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Provider {
    pub fn start() -> Provider {
        Provider::start_with(&[])
    }

    /// A provider with extra environment, e.g. `("BROKER", "method")` for a broker that puts
    /// the method in `acr` and the level in `registrationLevel` (see provider.mjs).
    pub fn start_with(env: &[(&str, &str)]) -> Provider {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("PORT", "0")
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URI", REDIRECT_URI)
            .envs(env.iter().copied())
            // Kept open: the provider exits when its stdin closes (i.e. when we go away).
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs (npm install --prefix tests/oidc first)");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining: a closed pipe would kill the provider with EPIPE on its next write.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut provider = Provider {
            child,
            issuer: String::new(),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("provider says READY within 30 s");
        provider.issuer = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("unexpected first line from provider: {line:?}"))
            .to_owned();
        provider
    }

    pub fn port(&self) -> u16 {
        url::Url::parse(&self.issuer).unwrap().port().unwrap()
    }

    pub fn settings(&self) -> Settings {
        settings_for(&self.issuer, CLIENT_ID, CLIENT_SECRET)
    }

    /// Makes the provider sign with a new key under a new key id from now on.
    pub async fn rotate_keys(&self) {
        let res = reqwest::Client::new()
            .post(format!("{}/test/rotate", self.issuer))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }
}

/// A trust rule on `acr` values only.
pub fn acr_rule(values: &[&str]) -> TrustRule {
    TrustRule {
        acr: values.iter().map(|v| (*v).to_owned()).collect(),
        ..TrustRule::default()
    }
}

/// A trust rule on `amr` values only.
pub fn amr_rule(values: &[&str]) -> TrustRule {
    TrustRule {
        amr: values.iter().map(|v| (*v).to_owned()).collect(),
        ..TrustRule::default()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn settings_for(issuer: &str, client_id: &str, secret: &str) -> Settings {
    Settings {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: SecretString::from(secret.to_owned()),
        redirect_url: REDIRECT_URI.to_owned(),
        scopes: vec!["openid".to_owned(), "email".to_owned()],
        trust: vec![],
        request_acr: RequestAcr::None,
        acr_values: vec![],
        timeout: Duration::from_secs(10),
    }
}

/// What the provider sent back to the redirect URI.
#[derive(Debug)]
pub struct Callback {
    pub code: String,
    pub state: String,
}

/// Plays the user's browser: a fresh cookie jar, redirects followed by hand up to the
/// redirect URI. `login_hint=mfa` makes the test provider log in with amr ["pwd","otp"].
pub async fn sign_in_as_alice(authorization_url: &str, mfa: bool) -> Callback {
    sign_in_with_hint(authorization_url, if mfa { "mfa" } else { "" }).await
}

/// What the provider sent back to the redirect URI, as query pairs (`code` and `state`, or
/// `error` and `state`).
pub async fn sign_in_with_hint(authorization_url: &str, hint: &str) -> Callback {
    let pairs = walk(authorization_url, hint, REDIRECT_URI).await;
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in the callback: {pairs:?}"))
    };
    Callback {
        code: get("code"),
        state: get("state"),
    }
}

/// Follows the provider's redirects from `authorization_url` (with `login_hint=hint` when
/// not empty) up to the first one starting with `redirect_prefix`; returns its query pairs.
pub async fn walk(
    authorization_url: &str,
    hint: &str,
    redirect_prefix: &str,
) -> Vec<(String, String)> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut url = url::Url::parse(authorization_url).unwrap();
    if !hint.is_empty() {
        url.query_pairs_mut().append_pair("login_hint", hint);
    }
    for _ in 0..10 {
        let response = browser.get(url.clone()).send().await.unwrap();
        let status = response.status();
        assert!(
            status.is_redirection(),
            "{url}: HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        );
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        url = url.join(&location).unwrap();
        if url.as_str().starts_with(redirect_prefix) {
            return url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        }
    }
    panic!("no redirect to {redirect_prefix} after 10 hops");
}
