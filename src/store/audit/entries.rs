//! One audit entry as the chain hashes it, borrowed from where it lies ([`AuditEntry`]), and the
//! pages the whole log is read in ([`AuditPage`]): whole rows, or a SQLite page kept as the
//! database packed it (`pages`), so that reading an entry copies nothing.
//!
//! Guarantees: a page yields its entries in sequence order, each exactly once; nothing here
//! reads or writes the store.

use super::pages;
use super::{AuditRow, Error};

/// One stored audit entry, borrowed: what the chain hashes and `audit verify` checks, read
/// where its texts already lie (a page of the log, or an [`AuditRow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    pub seq: i64,
    pub occurred_at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub details: &'a str,
    pub prev_hash: &'a str,
    pub entry_hash: &'a str,
}

impl AuditRow {
    pub fn as_entry(&self) -> AuditEntry<'_> {
        AuditEntry {
            seq: self.seq,
            occurred_at: self.occurred_at,
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            outcome: &self.outcome,
            details: &self.details,
            prev_hash: &self.prev_hash,
            entry_hash: &self.entry_hash,
        }
    }
}

impl AuditEntry<'_> {
    pub fn to_row(self) -> AuditRow {
        AuditRow {
            seq: self.seq,
            occurred_at: self.occurred_at,
            actor: self.actor.to_owned(),
            action: self.action.to_owned(),
            target: self.target.to_owned(),
            outcome: self.outcome.to_owned(),
            details: self.details.to_owned(),
            prev_hash: self.prev_hash.to_owned(),
            entry_hash: self.entry_hash.to_owned(),
        }
    }
}

/// Consecutive entries of the log in sequence order, as one read hands them over
/// ([`Store::stream_audit_pages`]): whole rows, or (SQLite) the page's columns with each
/// entry's place in them, so that reading an entry copies nothing.
pub struct AuditPage(pub(super) PageBody);

pub(super) enum PageBody {
    Rows(Vec<AuditRow>),
    Packed(pages::Unpacked),
}

impl AuditPage {
    /// The rows up to the first error as a page, then that error (nothing after it).
    pub(super) fn rows_then_error(
        read: Vec<Result<AuditRow, sqlx::Error>>,
    ) -> Vec<Result<AuditPage, Error>> {
        let mut rows = Vec::with_capacity(read.len());
        let mut failed = None;
        for row in read {
            match row {
                Ok(row) => rows.push(row),
                Err(e) => {
                    failed = Some(Error::from(e));
                    break;
                }
            }
        }
        let mut out = Vec::with_capacity(2);
        if !rows.is_empty() {
            out.push(Ok(AuditPage(PageBody::Rows(rows))));
        }
        out.extend(failed.map(Err));
        out
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            PageBody::Rows(rows) => rows.len(),
            PageBody::Packed(packed) => packed.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The page's entries, in sequence order.
    pub fn entries(&self) -> impl Iterator<Item = AuditEntry<'_>> {
        (0..self.len()).filter_map(|i| match &self.0 {
            PageBody::Rows(rows) => rows.get(i).map(AuditRow::as_entry),
            PageBody::Packed(packed) => packed.entry(i),
        })
    }
}
