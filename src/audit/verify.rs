//! Walks the whole chain and names the first entry that does not hold.
//!
//! Detects: a changed field (hash mismatch), a deleted row (gap in `seq`), an inserted or
//! reordered row (gap, or `prev_hash` that does not match the entry before). A chain that was
//! recomputed after a deletion is consistent in itself; only signed checkpoints kept outside
//! the database catch that (SECURITY_BAR E3/E4).

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
    let mut rows = store.stream_audit_events();
    let mut expected_seq: i64 = 1;
    let mut prev_hash = chain::GENESIS.to_owned();
    while let Some(row) = rows.next().await {
        let row = row?;
        if row.seq > expected_seq {
            return Err(Error::BadEntry {
                seq: expected_seq,
                problem: "it is missing (deleted), or the entries after it were renumbered",
            });
        }
        if row.seq < expected_seq {
            return Err(Error::BadEntry {
                seq: row.seq,
                problem: "its sequence number is out of order (inserted or reordered)",
            });
        }
        if row.prev_hash != prev_hash {
            return Err(Error::BadEntry {
                seq: row.seq,
                problem: "it does not link to the entry before it (inserted, removed or swapped)",
            });
        }
        if chain::entry_hash(&row) != row.entry_hash {
            return Err(Error::BadEntry {
                seq: row.seq,
                problem: "its contents were changed after it was written (hash mismatch)",
            });
        }
        observe(row.seq, &row.entry_hash);
        prev_hash = row.entry_hash;
        expected_seq += 1;
    }
    Ok(VerifyReport {
        entries: (expected_seq - 1) as u64,
        head_hash: prev_hash,
    })
}
