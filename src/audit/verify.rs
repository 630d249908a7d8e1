//! Walks the whole chain and names the first entry that does not hold.
//!
//! Detects: a changed field (hash mismatch), a deleted row (gap in `seq`), an inserted or
//! reordered row (gap, or `prev_hash` that does not match the entry before). A chain that was
//! recomputed after a deletion is consistent in itself; only signed checkpoints kept outside
//! the database catch that (SECURITY_BAR E3/E4).
//!
//! The log is read as one snapshot through `Store::stream_audit_pages` (on SQLite a page of
//! entries per hand-off to sqlx's worker thread, read ahead while the previous page is
//! checked); each entry is checked exactly as it comes, in sequence order, where it lies in its
//! page (no copy). Each page's entries are hashed by a task of their own, [`HASHED_AHEAD`]
//! pages ahead of the check, so that hashing runs beside reading and checking; the check takes
//! the hashes in order, as if it had made them itself.

use futures::StreamExt;

use super::chain;
use crate::store::{self, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: u64,
    /// The last entry's hash, or [`chain::GENESIS`] for an empty log.
    pub head_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("audit entry {seq} is bad: {problem}")]
    BadEntry { seq: i64, problem: &'static str },
    #[error("cannot read the audit log: {0}")]
    Store(#[from] store::Error),
    #[error("the audit log check stopped: the task hashing its entries did not come back")]
    Hashing,
}

pub async fn verify(store: &Store) -> Result<VerifyReport, Error> {
    verify_observing(store, |_, _| {}).await
}

/// [`verify`], telling `observe` each verified entry's sequence number and hash (checkpoints
/// compare against them).
pub async fn verify_observing(
    store: &Store,
    mut observe: impl FnMut(i64, &str),
) -> Result<VerifyReport, Error> {
    let mut pages = store
        .stream_audit_pages()
        .map(|page| async move { hashed(page?).await })
        .buffered(HASHED_AHEAD);
    let mut chain = Verifier::new();
    while let Some(page) = pages.next().await {
        let (page, digests) = page?;
        // `digests` was made from this page's `entries()`, one for each, in the same order.
        for (entry, digest) in page.entries().zip(&digests) {
            chain.push_digested(entry, digest)?;
            observe(entry.seq, entry.entry_hash);
        }
    }
    Ok(chain.finish())
}

/// Pages whose entries are hashed ahead of the check.
const HASHED_AHEAD: usize = 2;

/// The page with the digest of each of its entries, in order, made on a task of its own (on
/// the caller's task when there is no Tokio runtime).
async fn hashed(
    page: store::audit::AuditPage,
) -> Result<(store::audit::AuditPage, Vec<[u8; 32]>), Error> {
    let digest_all = |page: store::audit::AuditPage| {
        let digests = page.entries().map(|e| chain::digest(&e)).collect();
        (page, digests)
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn(async move { digest_all(page) })
            .await
            .map_err(|_| Error::Hashing),
        Err(_) => Ok(digest_all(page)),
    }
}

/// The chain check over entries in sequence order, one at a time (no store, no I/O): what
/// [`verify`] runs over the log, and what the `audit_chain` fuzz target feeds arbitrary rows.
/// Must never panic, whatever the rows hold.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected_seq: i64,
    prev_hash: String,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            expected_seq: 1,
            prev_hash: chain::GENESIS.to_owned(),
        }
    }

    /// Checks the next entry; the first bad one is named and ends the walk.
    pub fn push(&mut self, row: store::audit::AuditEntry<'_>) -> Result<(), Error> {
        self.push_digested(row, &chain::digest(&row))
    }

    /// [`Verifier::push`] with the entry's digest made already ([`chain::digest`] of `row`).
    fn push_digested(
        &mut self,
        row: store::audit::AuditEntry<'_>,
        digest: &[u8; 32],
    ) -> Result<(), Error> {
        if row.seq > self.expected_seq {
            return Err(Error::BadEntry {
                seq: self.expected_seq,
                problem: "it is missing (deleted), or the entries after it were renumbered",
            });
        }
        if row.seq < self.expected_seq {
            return Err(Error::BadEntry {
                seq: row.seq,
                problem: "its sequence number is out of order (inserted or reordered)",
            });
        }
        if row.prev_hash != self.prev_hash {
            return Err(Error::BadEntry {
                seq: row.seq,
                problem: "it does not link to the entry before it (inserted, removed or swapped)",
            });
        }
        if !chain::digest_is(digest, row.entry_hash) {
            return Err(Error::BadEntry {
                seq: row.seq,
                problem: "its contents were changed after it was written (hash mismatch)",
            });
        }
        self.prev_hash.clear();
        self.prev_hash.push_str(row.entry_hash);
        self.expected_seq = self.expected_seq.saturating_add(1);
        Ok(())
    }

    pub fn finish(self) -> VerifyReport {
        VerifyReport {
            entries: u64::try_from(self.expected_seq - 1).unwrap_or(0),
            head_hash: self.prev_hash,
        }
    }
}
