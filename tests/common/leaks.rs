//! The leak scan every in-process suite gets without asking (SECURITY_BAR D1, D6).
//!
//! Each [`TestDir`](super::TestDir) carries a [`Leaks`] registry of the secrets the helpers
//! handed out or saw: the key file's key, each enrolled user's password, TOTP seed and
//! recovery codes, every password, invitation token and recovery code a helper sent, every
//! session cookie, CSRF token, TOTP seed, recovery code and invitation link a helper received,
//! and the distinctive values of the canary members in the register (their marker, phone,
//! personal number and street address; ordinary synthetic members share common names).
//!
//! Guarantees, with the helpers in `common`:
//! - every response a helper hands back with a status of 400 or more has had its body checked
//!   for all of them ([`Leaks::check_error_body`]);
//! - at `TestApp::stop` the broker's own files (everything under the data dir, SQLite WAL and
//!   SHM included, and the checkpoint file), the log lines it wrote while it ran (captured by
//!   [`log`]) and every audit entry read back through `registervakt::store` hold none of them;
//!   the files are scanned again when the `TestDir` is dropped, so a test that never stops
//!   its broker (or only ran the CLI on the dir) is scanned too, unless it is already failing;
//! - the CSRF token is the one exception: the store and the pages (error pages too) hold it by
//!   design, so only logs and audit entries are scanned for it ([`Kind::allowed_in`]);
//! - a secret is looked for as it is and in the text forms it could take (hex, base64 and
//!   base64url of its bytes; a TOTP seed also raw and in lower case; a recovery code without
//!   dashes). The register itself holds member data by design and is never scanned.
//! - a hit fails the test naming the kind of secret, its form and the place, never the secret.
//!
//! Not covered: responses a test gets from `app.client` directly (a handful in `server`,
//! `auth`, `roles`, `policy_http`, `audit_syslog`); the output of the `registervakt` binary
//! that the CLI suites start; values shorter than [`MIN_LEN`] bytes (a six-digit TOTP code
//! would match by chance); base64 of a secret that sits inside a longer encoded blob.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod harvest;
pub mod log;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use futures::TryStreamExt as _;
use registervakt::register::synthetic;

/// Shorter values are not looked for, in any form: they would turn up by chance.
pub const MIN_LEN: usize = 8;

/// What a registered value is (named in a failure; the value never is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Password,
    TotpSeed,
    RecoveryCode,
    InvitationToken,
    SessionToken,
    CsrfToken,
    KeyEncryptionKey,
    CanaryMember,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Password => "a password",
            Kind::TotpSeed => "a TOTP seed",
            Kind::RecoveryCode => "a recovery code",
            Kind::InvitationToken => "an invitation token",
            Kind::SessionToken => "a session token",
            Kind::CsrfToken => "a CSRF token",
            Kind::KeyEncryptionKey => "the key-encryption key",
            Kind::CanaryMember => "a canary member's data",
        }
    }

    /// The CSRF token is the one value allowed outside logs and audit entries, by design:
    /// the store keeps it in the session row (`sessions.csrf_token`, the synchronizer token a
    /// form's field is compared with), and every page of a signed-in user, error pages
    /// included, carries it in the frame's sign-out form. Logs and audit entries must never.
    fn allowed_in(self, place: Place) -> bool {
        self == Kind::CsrfToken && place != Place::Text
    }
}

/// The text form a value was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Form {
    AsIs,
    LowerCase,
    WithoutDashes,
    UrlEncoded,
    Raw,
    Hex,
    HexUpper,
    Base64,
    Base64Url,
}

impl Form {
    fn label(self) -> &'static str {
        match self {
            Form::AsIs => "as is",
            Form::LowerCase => "in lower case",
            Form::WithoutDashes => "without dashes",
            Form::UrlEncoded => "URL-encoded",
            Form::Raw => "raw bytes",
            Form::Hex => "hex",
            Form::HexUpper => "upper-case hex",
            Form::Base64 => "base64",
            Form::Base64Url => "base64url",
        }
    }
}

/// Where a scan looks: what may be in the store or on a page differs from what may be in a
/// log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Logs and audit entries: no registered value at all.
    Text,
    /// Error bodies: no registered value but the CSRF token (see [`Kind::allowed_in`]).
    ErrorBody,
    /// The broker's files: no registered value but the CSRF token.
    AtRest,
}

/// One registered value found somewhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hit {
    pub kind: Kind,
    pub form: Form,
    pub place: String,
}

impl fmt::Display for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) in {}",
            self.kind.label(),
            self.form.label(),
            self.place
        )
    }
}

/// The registry: cheap to clone, every clone is the same registry.
#[derive(Clone, Default)]
pub struct Leaks(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    needles: Vec<(Kind, Form, Vec<u8>)>,
    seen: HashSet<Vec<u8>>,
    /// One automaton per [`Place`], with the number of needles it was built from.
    matchers: Vec<(Place, usize, Arc<Matcher>)>,
    /// Where in the captured log this registry's brokers began writing.
    log_from: Option<usize>,
}

struct Matcher {
    automaton: AhoCorasick,
    labels: Vec<(Kind, Form)>,
}

impl Leaks {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn add(&self, kind: Kind, form: Form, bytes: Vec<u8>) {
        let mut inner = self.inner();
        if bytes.len() >= MIN_LEN && inner.seen.insert(bytes.clone()) {
            inner.needles.push((kind, form, bytes));
        }
    }

    /// A text secret (a password, a token, a code) as is, URL-encoded, and its bytes in hex
    /// and base64.
    pub fn text(&self, kind: Kind, value: &str) {
        if value.len() < MIN_LEN {
            return;
        }
        self.add(kind, Form::AsIs, value.as_bytes().to_vec());
        let encoded = url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
        self.add(kind, Form::UrlEncoded, encoded.into_bytes());
        self.encodings(kind, value.as_bytes());
    }

    /// A binary secret (a key, a seed): raw, and in hex and base64.
    pub fn bytes(&self, kind: Kind, value: &[u8]) {
        if value.len() < MIN_LEN {
            return;
        }
        self.add(kind, Form::Raw, value.to_vec());
        self.encodings(kind, value);
    }

    /// Hex and base64 forms. Base64 without padding: the padded form contains it.
    fn encodings(&self, kind: Kind, value: &[u8]) {
        self.add(kind, Form::Hex, hex::encode(value).into_bytes());
        self.add(kind, Form::HexUpper, hex::encode_upper(value).into_bytes());
        self.add(
            kind,
            Form::Base64,
            STANDARD_NO_PAD.encode(value).into_bytes(),
        );
        self.add(
            kind,
            Form::Base64Url,
            URL_SAFE_NO_PAD.encode(value).into_bytes(),
        );
    }

    /// A random token as the broker makes them (base64url of 32 bytes): the text and the
    /// decoded bytes.
    pub fn token(&self, kind: Kind, value: &str) {
        self.text(kind, value);
        if let Ok(raw) = URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')) {
            self.bytes(kind, &raw);
        }
    }

    /// A TOTP seed in base32, as shown at enrolment: the text, in lower case, without its
    /// padding, and the seed's raw bytes. Text that is not a seed is left out (pages show
    /// other values in the same markup, a request's hash say).
    pub fn totp_seed(&self, base32: &str) {
        let Ok(seed) = registervakt::auth::totp::Seed::from_base32(base32) else {
            return;
        };
        let trimmed = base32.trim_end_matches('=');
        self.text(Kind::TotpSeed, trimmed);
        self.add(
            Kind::TotpSeed,
            Form::LowerCase,
            trimmed.to_ascii_lowercase().into_bytes(),
        );
        self.bytes(Kind::TotpSeed, seed.as_bytes());
    }

    /// A recovery code as shown (`XXXXX-XXXXX-…`), without dashes, and in lower case.
    pub fn recovery_code(&self, shown: &str) {
        self.text(Kind::RecoveryCode, shown);
        let bare: String = shown
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        self.add(
            Kind::RecoveryCode,
            Form::WithoutDashes,
            bare.clone().into_bytes(),
        );
        self.add(
            Kind::RecoveryCode,
            Form::LowerCase,
            shown.to_ascii_lowercase().into_bytes(),
        );
        self.add(
            Kind::RecoveryCode,
            Form::LowerCase,
            bare.to_ascii_lowercase().into_bytes(),
        );
    }

    /// Every key of a key file, raw and in the text forms (the file holds standard base64).
    pub fn key_file(&self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines().filter(|l| l.starts_with("kek ")) {
            let key = line.rsplit(' ').next().unwrap_or_default();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(key)
                .expect("a key file line ends in standard base64");
            self.bytes(Kind::KeyEncryptionKey, &raw);
        }
    }

    /// A canary member's distinctive values: its marker (inside its names, e-mail and street
    /// address), phone and personal number. Other members are left out: their names are
    /// common ones. A member is a canary when its id is at or above `CANARY_ID_BASE`.
    pub fn member(&self, m: &synthetic::SyntheticMember) {
        let Some(seed) = m.member_id.checked_sub(synthetic::CANARY_ID_BASE) else {
            return;
        };
        let marker = synthetic::canary_marker(seed);
        for value in [
            marker.clone(),
            marker.to_ascii_lowercase(),
            m.street_address.clone(),
            m.personal_number.clone(),
        ]
        .into_iter()
        .chain(m.phone.clone())
        {
            self.add(Kind::CanaryMember, Form::AsIs, value.into_bytes());
        }
    }

    /// How many values are registered (a test can show its secret was seen).
    pub fn count(&self) -> usize {
        self.inner().needles.len()
    }

    /// Forgets everything (a test that planted a leak on purpose, before its broker stops).
    pub fn clear(&self) {
        let mut inner = self.inner();
        let log_from = inner.log_from;
        *inner = Inner {
            log_from,
            ..Inner::default()
        };
    }

    fn matcher(&self, place: Place) -> Option<Arc<Matcher>> {
        let mut inner = self.inner();
        let generation = inner.needles.len();
        if let Some((_, _, m)) = inner
            .matchers
            .iter()
            .find(|(p, built, _)| *p == place && *built == generation)
        {
            return Some(m.clone());
        }
        let chosen: Vec<_> = inner
            .needles
            .iter()
            .filter(|(kind, _, _)| !kind.allowed_in(place))
            .collect();
        if chosen.is_empty() {
            return None;
        }
        let automaton = AhoCorasick::new(chosen.iter().map(|(_, _, b)| b)).unwrap();
        let labels = chosen.iter().map(|(k, f, _)| (*k, *f)).collect();
        let m = Arc::new(Matcher { automaton, labels });
        inner.matchers.retain(|(p, _, _)| *p != place);
        inner.matchers.push((place, generation, m.clone()));
        Some(m)
    }

    /// Every registered value in `haystack`, once per kind and form.
    pub fn scan_bytes(&self, place: Place, haystack: &[u8], name: &str) -> Vec<Hit> {
        let Some(m) = self.matcher(place) else {
            return Vec::new();
        };
        let mut hits: Vec<Hit> = Vec::new();
        for found in m.automaton.find_iter(haystack) {
            let (kind, form) = m.labels[found.pattern().as_usize()];
            let hit = Hit {
                kind,
                form,
                place: name.to_owned(),
            };
            if !hits.contains(&hit) {
                hits.push(hit);
            }
        }
        hits
    }

    /// `text` with every registered value in it replaced by its kind, for naming a place
    /// (a request path may hold a token) without showing a secret.
    pub fn redact(&self, text: &str) -> String {
        let Some(m) = self.matcher(Place::Text) else {
            return text.to_owned();
        };
        let names: Vec<String> = m
            .labels
            .iter()
            .map(|(kind, _)| format!("<{}>", kind.label()))
            .collect();
        m.automaton.replace_all(text, &names)
    }

    /// Every file below each root (missing roots are skipped), and each single file given.
    pub fn scan_files(&self, roots: &[PathBuf]) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut stack: Vec<PathBuf> = roots.to_vec();
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                let Ok(entries) = std::fs::read_dir(&path) else {
                    continue;
                };
                stack.extend(entries.flatten().map(|e| e.path()));
            } else if let Ok(bytes) = std::fs::read(&path) {
                let name = format!("the file {}", path.display());
                hits.extend(self.scan_bytes(Place::AtRest, &bytes, &name));
            }
        }
        hits
    }

    /// Every audit entry (actor, action, target, outcome and details), read through the store.
    pub async fn scan_audit(&self, store: &registervakt::store::Store) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut rows = store.stream_audit_events();
        while let Some(row) = rows.try_next().await.unwrap() {
            let text = [row.actor, row.action, row.target, row.outcome, row.details].join("\n");
            let name = format!("audit entry #{}", row.seq);
            hits.extend(self.scan_bytes(Place::Text, text.as_bytes(), &name));
        }
        hits
    }

    /// The log lines captured since this registry's first broker started.
    pub fn scan_log(&self) -> Vec<Hit> {
        let Some(from) = self.inner().log_from else {
            return Vec::new();
        };
        let segment = log::since(from);
        self.scan_bytes(Place::Text, &segment, "the broker's log")
    }

    /// Called when a broker starts on this registry's dir: its log lines are scanned from here.
    pub fn broker_started(&self) {
        log::capture();
        let mut inner = self.inner();
        if inner.log_from.is_none() {
            inner.log_from = Some(log::len());
        }
    }

    /// Fails the test if an error response's body holds a registered value. `request` names
    /// the request (it is redacted before it is shown).
    pub fn check_error_body(&self, status: u16, body: &[u8], request: &str) {
        if status < 400 {
            return;
        }
        let name = format!("the {status} body of {}", self.redact(request));
        fail_on(
            &self.scan_bytes(Place::ErrorBody, body, &name),
            "an error body",
        );
    }
}

/// Panics with one line per hit (kind, form, place; never the value) if there are any.
pub fn fail_on(hits: &[Hit], when: &str) {
    if hits.is_empty() {
        return;
    }
    let lines: Vec<String> = hits.iter().map(|h| format!("  {h}")).collect();
    panic!(
        "leak scan ({when}): {} hit(s)\n{}",
        hits.len(),
        lines.join("\n")
    );
}

/// Scans a `TestDir`'s files once more when it is dropped (the first field of `TestDir`, so
/// it runs before the temporary directory is removed). Skipped while the thread is already
/// panicking: the test has failed anyway, and a second panic in a drop would abort.
pub struct FinalScan {
    pub leaks: Leaks,
    pub roots: Vec<PathBuf>,
}

impl Drop for FinalScan {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let mut hits = self.leaks.scan_files(&self.roots);
        hits.extend(self.leaks.scan_log());
        fail_on(&hits, "when the test dir was dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planted() -> (Leaks, String) {
        let leaks = Leaks::default();
        let secret = format!("demo-{}", registervakt::crypto::random_token());
        leaks.text(Kind::Password, &secret);
        (leaks, secret)
    }

    #[test]
    fn a_password_planted_in_hex_in_a_wal_file_is_reported_by_kind_and_file_not_by_value() {
        let (leaks, secret) = planted();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let wal = dir.path().join("data").join("registervakt.sqlite-wal");
        let mut bytes = vec![0u8; 4096];
        bytes.extend(hex::encode(secret.as_bytes()).into_bytes());
        std::fs::write(&wal, bytes).unwrap();
        std::fs::write(dir.path().join("data").join("clean"), b"nothing here").unwrap();
        let hits = leaks.scan_files(&[dir.path().join("data")]);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!((hits[0].kind, hits[0].form), (Kind::Password, Form::Hex));
        let shown = hits[0].to_string();
        assert!(shown.contains("registervakt.sqlite-wal"), "{shown}");
        assert!(!shown.contains(&secret) && !shown.contains(&hex::encode(&secret)));
    }

    #[test]
    fn an_error_body_with_a_session_token_fails_and_a_success_body_with_it_does_not() {
        let leaks = Leaks::default();
        let token = registervakt::crypto::random_token();
        leaks.token(Kind::SessionToken, &token);
        let body = format!("{{\"error\":\"x\",\"message\":\"bad {token}\"}}");
        leaks.check_error_body(200, body.as_bytes(), "GET /api/v1/me");
        let path = format!("GET /invite/{token}");
        let failed = std::panic::catch_unwind(|| {
            leaks.check_error_body(400, body.as_bytes(), &path);
        });
        let message = *failed.unwrap_err().downcast::<String>().unwrap();
        assert!(message.contains("a session token (as is)"), "{message}");
        assert!(message.contains("/invite/<a session token>"), "{message}");
        assert!(!message.contains(&token), "{message}");
    }

    #[test]
    fn a_seed_is_found_raw_and_lower_case_and_only_logs_and_audit_must_never_hold_csrf_tokens() {
        let leaks = Leaks::default();
        let seed = registervakt::auth::totp::Seed::generate();
        let base32 = seed.base32();
        leaks.totp_seed(&base32);
        leaks.text(Kind::CsrfToken, "csrf-token-0123456789");
        let raw = leaks.scan_bytes(Place::AtRest, seed.as_bytes(), "x");
        assert_eq!(raw[0].form, Form::Raw);
        let lower = leaks.scan_bytes(Place::Text, base32.to_ascii_lowercase().as_bytes(), "x");
        assert_eq!(lower[0].form, Form::LowerCase);
        let csrf = b"csrf-token-0123456789";
        assert!(leaks.scan_bytes(Place::AtRest, csrf, "x").is_empty());
        assert!(leaks.scan_bytes(Place::ErrorBody, csrf, "x").is_empty());
        assert_eq!(
            leaks.scan_bytes(Place::Text, csrf, "x")[0].kind,
            Kind::CsrfToken
        );
    }

    #[test]
    fn a_canary_is_found_by_its_marker_and_an_ordinary_member_is_not_registered() {
        let leaks = Leaks::default();
        leaks.member(&synthetic::generate(1, 7).next().unwrap());
        assert_eq!(leaks.count(), 0);
        let canary = synthetic::canary(77);
        leaks.member(&canary);
        let line = format!("row: {}", canary.email.clone().unwrap());
        let hits = leaks.scan_bytes(Place::Text, line.as_bytes(), "x");
        assert_eq!(hits[0].kind, Kind::CanaryMember);
    }

    #[test]
    fn a_secret_in_a_captured_log_line_is_reported() {
        let (leaks, secret) = planted();
        leaks.broker_started();
        tracing::info!(target: "registervakt::leak_scan_test", value = %secret, "planted");
        let hits = leaks.scan_log();
        assert!(hits.iter().any(|h| h.kind == Kind::Password), "{hits:?}");
    }

    #[test]
    fn values_shorter_than_the_minimum_are_not_registered() {
        let leaks = Leaks::default();
        leaks.text(Kind::Password, "short");
        assert_eq!(leaks.count(), 0);
    }
}
