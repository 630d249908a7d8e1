//! Signed checkpoints of the audit log, kept in a second sink outside the database.
//!
//! A checkpoint says "at time T the log had N entries and entry N's hash was H", signed with
//! the checkpoint key derived from the KEK (`crypto::CheckpointKey`). Someone who can rewrite
//! the database — delete the newest entries, or delete one and recompute the chain after it —
//! cannot make the log agree with a checkpoint written before, nor sign a new one without the
//! key file (SECURITY_BAR E3, E4; the idea of Certificate Transparency's signed tree heads,
//! RFC 9162 §4.10).
//!
//! Guarantees: a line is appended with one `write` and `fsync`ed before [`write`] returns; the
//! file is created with mode 0600; [`verify_with`] checks every signature first, then walks the
//! chain once and names the first checkpoint the log disagrees with, or the log's shortfall.
//! Must never: write member data (a checkpoint holds counts, hashes and a time).

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::{chain, verify};
use crate::crypto::{KeyId, Keyring};
use crate::store::{self, Store};

const TAG: &str = "rv-checkpoint";
const VERSION: &str = "v1";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the checkpoint file {path} cannot be written: {cause}")]
    Sink { path: PathBuf, cause: String },
    #[error("the checkpoint file {path} cannot be read: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("checkpoint line {line} is malformed: {why}")]
    Malformed { line: usize, why: &'static str },
    #[error(
        "checkpoint line {line} has a bad signature (forged, or signed with a key not in the key file)"
    )]
    BadSignature { line: usize },
    #[error(
        "the audit log is shorter than checkpoint line {line}: it had {entries} entries, now {actual} (truncated)"
    )]
    Truncated {
        line: usize,
        entries: i64,
        actual: i64,
    },
    #[error(
        "audit entry {entries} does not match checkpoint line {line}: the log was rewritten after that checkpoint"
    )]
    Mismatch { line: usize, entries: i64 },
    #[error(transparent)]
    Chain(#[from] verify::Error),
    #[error("cannot read the audit log: {0}")]
    Store(#[from] store::Error),
}

/// One signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unix milliseconds.
    pub at_ms: i64,
    pub entries: i64,
    pub head_hash: String,
    pub key_id: KeyId,
    pub signature: [u8; 64],
}

fn message(at_ms: i64, entries: i64, head_hash: &str) -> Vec<u8> {
    format!("registervakt.checkpoint.v1\n{entries}\n{head_hash}\n{at_ms}").into_bytes()
}

impl Checkpoint {
    /// The file line: `rv-checkpoint v1 at=… entries=… head=… key=… sig=…`.
    pub fn line(&self) -> String {
        format!(
            "{TAG} {VERSION} at={} entries={} head={} key={} sig={}\n",
            self.at_ms,
            self.entries,
            self.head_hash,
            self.key_id,
            STANDARD.encode(self.signature)
        )
    }

    /// Parses one line; `line` (1-based) is for the error.
    pub fn parse(text: &str, line: usize) -> Result<Checkpoint, Error> {
        let bad = |why| Error::Malformed { line, why };
        let mut words = text.split_whitespace();
        if words.next() != Some(TAG) || words.next() != Some(VERSION) {
            return Err(bad("it does not start with `rv-checkpoint v1`"));
        }
        let mut field = |name: &str| {
            words
                .next()
                .and_then(|w| w.strip_prefix(name))
                .and_then(|w| w.strip_prefix('='))
                .ok_or_else(|| bad("a field is missing or out of order"))
        };
        let at_ms = field("at")?
            .parse()
            .map_err(|_| bad("at is not a number"))?;
        let entries = field("entries")?
            .parse()
            .map_err(|_| bad("entries is not a number"))?;
        let head_hash = field("head")?.to_owned();
        let key_id = field("key")?
            .parse()
            .map_err(|_| bad("key is not a key id"))?;
        let signature: [u8; 64] = STANDARD
            .decode(field("sig")?)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("sig is not a 64-byte signature"))?;
        if head_hash.len() != 64 || !head_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("head is not a SHA-256 hash"));
        }
        Ok(Checkpoint {
            at_ms,
            entries,
            head_hash,
            key_id,
            signature,
        })
    }

    pub fn verifies(&self, keyring: &Keyring) -> bool {
        let message = message(self.at_ms, self.entries, &self.head_hash);
        keyring.verify_checkpoint(self.key_id, &message, &self.signature)
    }
}

/// The configured second sink: a file outside the data dir.
#[derive(Debug, Clone)]
pub struct Sink {
    path: PathBuf,
}

impl Sink {
    pub fn new(path: PathBuf) -> Sink {
        Sink { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a line could be appended now (opens for append, writes nothing). Readiness and
    /// every data release ask this: an unwritable sink stops release (fail closed).
    pub async fn probe(&self) -> Result<(), Error> {
        let path = self.path.clone();
        let opened = tokio::task::spawn_blocking(move || open_append(&path)).await;
        match opened {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.error(&e)),
            Err(e) => Err(Error::Sink {
                path: self.path.clone(),
                cause: e.to_string(),
            }),
        }
    }

    fn error(&self, e: &std::io::Error) -> Error {
        Error::Sink {
            path: self.path.clone(),
            cause: e.to_string(),
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Signs the log's current head and appends it to the sink, durably.
pub async fn write(
    store: &Store,
    keyring: &Keyring,
    sink: &Sink,
    now: OffsetDateTime,
) -> Result<Checkpoint, Error> {
    let checkpoint = sign(store, keyring, now).await?;
    append(sink, &checkpoint).await?;
    Ok(checkpoint)
}

/// Signs the log's current head (writes nothing).
pub async fn sign(
    store: &Store,
    keyring: &Keyring,
    now: OffsetDateTime,
) -> Result<Checkpoint, Error> {
    let (entries, head_hash) = store
        .find_audit_head()
        .await?
        .unwrap_or((0, chain::GENESIS.to_owned()));
    let at_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let key = keyring.checkpoint_key();
    let signature = key.sign(&message(at_ms, entries, &head_hash));
    Ok(Checkpoint {
        at_ms,
        entries,
        head_hash,
        key_id: key.key_id(),
        signature,
    })
}

/// Appends `checkpoint`'s line to the sink with one write, `fsync`ed before it returns.
pub async fn append(sink: &Sink, checkpoint: &Checkpoint) -> Result<(), Error> {
    let line = checkpoint.line();
    let path = sink.path.clone();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut file = open_append(&path)?;
        file.write_all(line.as_bytes())?;
        file.sync_all()
    })
    .await;
    match written {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(sink.error(&e)),
        Err(e) => Err(Error::Sink {
            path: sink.path.clone(),
            cause: e.to_string(),
        }),
    }
}

/// Every checkpoint in `path`, in file order.
pub fn read(path: &Path) -> Result<Vec<Checkpoint>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        cause: e.to_string(),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Checkpoint::parse(l, i + 1))
        .collect()
}

/// What [`verify_with`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub chain: verify::VerifyReport,
    pub checkpoints: usize,
}

/// Verifies the chain and that it agrees with every checkpoint: each signature holds, the log
/// is at least as long as each checkpoint, and entry N has the hash checkpoint N recorded.
pub async fn verify_with(
    store: &Store,
    keyring: &Keyring,
    checkpoints: &[Checkpoint],
) -> Result<Report, Error> {
    for (i, c) in checkpoints.iter().enumerate() {
        if !c.verifies(keyring) {
            return Err(Error::BadSignature { line: i + 1 });
        }
    }
    let mut wanted: HashMap<i64, Vec<(usize, &str)>> = HashMap::new();
    for (i, c) in checkpoints.iter().enumerate() {
        wanted
            .entry(c.entries)
            .or_default()
            .push((i + 1, &c.head_hash));
    }
    let mut mismatch: Option<(usize, i64)> = None;
    let chain = verify::verify_observing(store, |seq, hash| {
        for (line, expected) in wanted.get(&seq).into_iter().flatten() {
            if *expected != hash && mismatch.is_none_or(|(l, _)| *line < l) {
                mismatch = Some((*line, seq));
            }
        }
    })
    .await?;
    if let Some((line, entries)) = mismatch {
        return Err(Error::Mismatch { line, entries });
    }
    let actual = i64::try_from(chain.entries).unwrap_or(i64::MAX);
    if let Some((i, c)) = checkpoints
        .iter()
        .enumerate()
        .find(|(_, c)| c.entries > actual)
    {
        return Err(Error::Truncated {
            line: i + 1,
            entries: c.entries,
            actual,
        });
    }
    Ok(Report {
        chain,
        checkpoints: checkpoints.len(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_checkpoint_line_round_trips_and_a_changed_count_no_longer_verifies() {
        let ring = Keyring::from_keys_for_tests(vec![(KeyId::from_bytes([3; 8]), [9u8; 32])]);
        let key = ring.checkpoint_key();
        let head = "ab".repeat(32);
        let c = Checkpoint {
            at_ms: 1,
            entries: 42,
            head_hash: head.clone(),
            key_id: key.key_id(),
            signature: key.sign(&message(1, 42, &head)),
        };
        let parsed = Checkpoint::parse(&c.line(), 1).unwrap();
        assert_eq!(parsed, c);
        assert!(parsed.verifies(&ring));
        let forged = c.line().replace("entries=42", "entries=41");
        assert!(!Checkpoint::parse(&forged, 1).unwrap().verifies(&ring));
        for bad in [
            "",
            "rv-checkpoint v2 at=1",
            "rv-checkpoint v1 entries=1 at=1",
        ] {
            assert!(Checkpoint::parse(bad, 3).is_err(), "{bad:?}");
        }
    }
}
