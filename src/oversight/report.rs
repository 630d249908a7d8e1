//! The DPO's reports: extract activity over a period by purpose, district and approver
//! ([`activity`]), and the record-of-processing summary of the purposes, GDPR Art. 30
//! ([`article30`]).
//!
//! Guarantees: a report is built from the store and the policy in force only — counts and
//! catalogue text, never member data; an auditor gets it only for the districts where the
//! policy lets them view the audit (party-wide: the whole party), and each report made is an
//! audit event with its period and scope. Builders take the store and the scope as arguments,
//! so the command line makes the same report as the API.

pub mod activity;
pub mod article30;

use crate::context::Context;
use crate::policy::{Principal, Reach};
use crate::{audit, store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A period that is not RFC 3339, ends before it starts, or is too long.
    #[error("{0}")]
    BadRange(String),
    /// The policy does not let the asker view the audit anywhere.
    #[error("only an auditor may read the data protection reports")]
    Denied,
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Audit(#[from] audit::Error),
}

/// How far the policy lets `who` view the audit: the audit permit's reach
/// (`extract::review::audit_permit`, the one place it is computed); [`Error::Denied`] when
/// that is nowhere.
pub async fn audit_scope(state: &Context, who: &Principal) -> Result<Reach, Error> {
    match crate::extract::review::audit_permit(state, who).await {
        Ok(permit) => Ok(permit.reach().clone()),
        Err(crate::extract::Error::Store(e)) => Err(Error::Store(e)),
        Err(_) => Err(Error::Denied),
    }
}

/// A table as the CSV Swedish Excel opens (BOM, `;`, CRLF, every cell neutralised against
/// formula injection): the extract files' own writer.
pub fn to_csv(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::extract::format::csv_header(header, &mut out);
    for row in rows {
        let cells: Vec<Option<String>> = row.iter().cloned().map(Some).collect();
        crate::extract::format::csv_row(&cells, &mut out);
    }
    out
}
