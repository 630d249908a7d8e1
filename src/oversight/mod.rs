//! The auditor's desk: what happened to extracts and members, read from the audit log and the
//! ledger — an extract's story and a member's disclosures, the audit timeline and its export,
//! the leak trace and the breach scope, pseudonyms on request, follow-up flags, and the DPO's
//! reports.
//!
//! Guarantees: every look is within the asker's audit permit, computed by the policy in one
//! place (`extract::review::audit_permit`), and is itself an audit event; nothing here
//! changes an extract or returns member data beyond what the trace of a leaked file already
//! holds. The audit log itself (recording, the chain, checkpoints) is `audit`'s.

pub mod breach;
pub mod disclosures;
pub mod export;
pub mod followup;
pub mod pseudonyms;
pub mod report;
pub mod timeline;
pub mod trace;
