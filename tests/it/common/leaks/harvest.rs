//! What the helpers register from the requests they send and the responses they get: the
//! secrets a test handles without going through `TestApp::user`.
//!
//! Sent: the value of any JSON or form field whose name holds `password`, an invitation
//! `token`, a `code` long enough to be a recovery code. Received: session cookies
//! (`Set-Cookie`), and in bodies TOTP seeds (`secret_base32`, an `otpauth://` URI's `secret`,
//! the enrolment page's key), recovery codes (`recovery_codes`, the page's list), invitation
//! links (`/invite/<token>`) and the CSRF tokens of forms.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

use super::{Kind, Leaks};

/// The session cookie's name, bare (the demo and the tests) or with `__Host-` in front.
const SESSION_COOKIE: &str = "registervakt";

impl Leaks {
    /// A field a request sends, by name.
    pub fn sent_field(&self, name: &str, value: &str) {
        if name.contains("password") {
            self.text(Kind::Password, value);
        } else if name == "csrf" {
            self.text(Kind::CsrfToken, value);
        } else if name == "token" {
            self.token(Kind::InvitationToken, value);
        } else if name == "code" && value.len() > 8 {
            self.recovery_code(value);
        }
    }

    /// Every field of a JSON request body, at any depth.
    pub fn sent_json(&self, body: &Value) {
        match body {
            Value::Object(map) => {
                for (name, value) in map {
                    match value {
                        Value::String(s) => self.sent_field(name, s),
                        other => self.sent_json(other),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.sent_json(v)),
            _ => {}
        }
    }

    /// The session cookies a response sets.
    pub fn received_headers(&self, headers: &reqwest::header::HeaderMap) {
        for value in headers.get_all("set-cookie") {
            let Some(pair) = value.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            if let Some((name, token)) = pair.split_once('=')
                && name.trim_start_matches("__Host-") == SESSION_COOKIE
                && !token.is_empty()
            {
                self.token(Kind::SessionToken, token);
            }
        }
    }

    /// The secrets a response body shows (JSON or HTML).
    pub fn received_body(&self, body: &[u8]) {
        let Ok(text) = std::str::from_utf8(body) else {
            return;
        };
        if let Ok(json) = serde_json::from_str::<Value>(text) {
            self.received_json(&json);
        }
        for token in after_each(text, "/invite/", |c| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_'
        }) {
            self.token(Kind::InvitationToken, token);
        }
        for csrf in quoted_after_each(text, "name=\"csrf\" value=\"") {
            self.text(Kind::CsrfToken, csrf);
        }
        for seed in between_each(text, "<code class=\"secret\">", "</code>") {
            self.totp_seed(seed);
        }
        for list in between_each(text, "<ul class=\"codes\">", "</ul>") {
            for code in between_each(list, "<code>", "</code>") {
                self.recovery_code(code);
            }
        }
        for uri in after_each(text, "otpauth://", |c| !c.is_whitespace() && c != '"') {
            self.otpauth_uri(uri);
        }
    }

    fn received_json(&self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (name, v) in map {
                    match (name.as_str(), v) {
                        ("secret_base32", Value::String(s)) => self.totp_seed(s),
                        ("recovery_codes", Value::Array(codes)) => codes
                            .iter()
                            .filter_map(Value::as_str)
                            .for_each(|c| self.recovery_code(c)),
                        ("csrf" | "csrf_token", Value::String(s)) => self.text(Kind::CsrfToken, s),
                        (_, other) => self.received_json(other),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.received_json(v)),
            _ => {}
        }
    }

    fn otpauth_uri(&self, rest: &str) {
        let query = rest.split_once('?').map(|(_, q)| q).unwrap_or_default();
        for pair in query.split(['&', ';']) {
            if let Some(("secret", seed)) = pair.split_once('=') {
                self.totp_seed(seed);
            }
        }
    }
}

/// The run of characters matching `keep` after each occurrence of `marker`.
fn after_each<'a>(
    text: &'a str,
    marker: &str,
    keep: impl Fn(char) -> bool + Copy,
) -> impl Iterator<Item = &'a str> {
    text.split(marker).skip(1).map(move |rest| {
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        &rest[..end]
    })
}

/// The text up to the next `"` after each occurrence of `marker`.
fn quoted_after_each<'a>(text: &'a str, marker: &str) -> impl Iterator<Item = &'a str> {
    after_each(text, marker, |c| c != '"')
}

/// The text between each `open` and the next `close`.
fn between_each<'a>(text: &'a str, open: &str, close: &'a str) -> impl Iterator<Item = &'a str> {
    text.split(open)
        .skip(1)
        .filter_map(move |rest| rest.split_once(close).map(|(inside, _)| inside))
}

#[cfg(test)]
mod tests {
    use super::super::Place;
    use super::*;

    #[test]
    fn an_enrolment_page_a_recovery_page_and_a_cookie_register_their_secrets() {
        let leaks = Leaks::default();
        let seed = registervakt::auth::totp::Seed::generate().base32();
        let page = format!(
            "<form><input type=\"hidden\" name=\"csrf\" value=\"csrf-abcdefghijkl\"></form>\
             <p>Key: <code class=\"secret\">{seed}</code></p>\
             <p>Hash: <code class=\"secret\">caf1c2d2df4570c4585ed8290b6c2874</code></p>\
             <ul class=\"codes\"><li><code>7KQ4M-XW9PD-3T0AB-QZ8RN-V2K</code></li></ul>\
             <a href=\"https://x.example/invite/AbCdEfGhIjKlMnOpQrStUv_-0123456789abcdefghi\">"
        );
        leaks.received_body(page.as_bytes());
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "set-cookie",
            "registervakt=tokentokentokentoken; Path=/".parse().unwrap(),
        );
        leaks.received_headers(&headers);
        let planted = format!(
            "{} csrf-abcdefghijkl 7KQ4MXW9PD3T0ABQZ8RNV2K AbCdEfGhIjKlMnOpQrStUv_-0123456789abcdefghi tokentokentokentoken",
            seed.to_ascii_lowercase()
        );
        let hits = leaks.scan_bytes(Place::Text, planted.as_bytes(), "x");
        let kinds: Vec<Kind> = hits.iter().map(|h| h.kind).collect();
        let hash = leaks.scan_bytes(Place::Text, b"caf1c2d2df4570c4585ed8290b6c2874", "x");
        assert!(hash.is_empty(), "a request hash is not a seed: {hash:?}");
        for kind in [
            Kind::TotpSeed,
            Kind::CsrfToken,
            Kind::RecoveryCode,
            Kind::InvitationToken,
            Kind::SessionToken,
        ] {
            assert!(kinds.contains(&kind), "{kind:?} missing from {hits:?}");
        }
    }

    #[test]
    fn passwords_tokens_and_long_codes_sent_in_a_body_are_registered_and_totp_codes_not() {
        let leaks = Leaks::default();
        leaks.sent_json(&serde_json::json!({
            "username": "anna", "password": "correct horse battery",
            "nested": { "new_password": "another long one" }, "code": "123456",
        }));
        assert!(leaks.count() > 0);
        let hits = leaks.scan_bytes(
            Place::Text,
            b"correct%20horse or correct+horse+battery, another long one, anna 123456",
            "x",
        );
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert!(hits.iter().all(|h| h.kind == Kind::Password));
    }
}
