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

use crate::app::AppState;
use crate::auth::Role;
use crate::policy::Principal;
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

/// The districts in which the policy lets `who` view the audit, or `None` for the whole party;
/// [`Error::Denied`] when there are none.
pub async fn audit_scope(state: &AppState, who: &Principal) -> Result<Option<Vec<String>>, Error> {
    let policy = state.policy.current(&state.store).await?.policy;
    let view = crate::policy::Action::AuditView;
    if policy.permits_party_wide(who, view).await.is_ok() {
        return Ok(None);
    }
    let mut districts = Vec::new();
    for d in crate::extract::lifecycle::districts_with(who, Role::Auditor).unwrap_or_default() {
        let Ok(code) = crate::register::DistrictCode::parse(&d) else {
            continue;
        };
        if policy.permits(who, view, &code).await.is_ok() {
            districts.push(d);
        }
    }
    if districts.is_empty() {
        return Err(Error::Denied);
    }
    Ok(Some(districts))
}

/// The scope as the audit log records it: the districts, or `["*"]` for the whole party.
pub(crate) fn scope_names(scope: Option<&[String]>) -> Vec<String> {
    scope.map_or_else(|| vec!["*".to_owned()], <[String]>::to_vec)
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
