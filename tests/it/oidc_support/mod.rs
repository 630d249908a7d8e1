//! Helpers for `tests/it/oidc.rs`: a real OpenID provider (`tests/oidc/provider.mjs`, npm
//! `oidc-provider`) started on loopback port 0 per test and killed when the guard drops, and a
//! minimal "browser" (reqwest with cookies, redirects followed by hand) that walks from the
//! authorization URL to the redirect URI and reads `code` and `state` from its query.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use registervakt::auth::oidc::Settings;
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
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("PORT", "0")
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URI", REDIRECT_URI)
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
        trusted_acr: vec![],
        trusted_amr: vec![],
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
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut url = url::Url::parse(authorization_url).unwrap();
    if mfa {
        url.query_pairs_mut().append_pair("login_hint", "mfa");
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
        if url.as_str().starts_with(REDIRECT_URI) {
            let query = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| panic!("no {name} in {url}"))
            };
            return Callback {
                code: query("code"),
                state: query("state"),
            };
        }
    }
    panic!("no redirect to {REDIRECT_URI} after 10 hops");
}
