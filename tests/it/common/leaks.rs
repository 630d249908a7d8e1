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
//! - the CSRF token is the one exception: pages (error pages too) carry it by design, so error
//!   bodies are not scanned for it; it is derived, never stored, so the files, logs and audit
//!   entries are ([`Kind::allowed_in`]);
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

mod forms;
pub mod harvest;
pub mod log;

pub use forms::Form;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use aho_corasick::AhoCorasick;
use futures::TryStreamExt as _;

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
    IdentityNumber,
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
            Kind::IdentityNumber => "a personal identity number",
        }
    }

    /// The CSRF token is the one value allowed in error bodies, by design: every page of a
    /// signed-in user, error pages included, carries it in the frame's sign-out form. It is
    /// derived from the session token, never stored (F-20), so the broker's files, logs and
    /// audit entries must never hold it.
    fn allowed_in(self, place: Place) -> bool {
        self == Kind::CsrfToken && place == Place::ErrorBody
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
    /// The broker's files: no registered value at all.
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
mod tests;
