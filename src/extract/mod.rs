//! Extracts: request → decision → approval → encrypted snapshot → delivery → crypto-shredding.
//!
//! Guarantees:
//! - Nothing is read from the register without a [`Grant`](crate::policy::Grant) from the policy
//!   in force; an approval binds to the SHA-256 of the exact stored request (C5), and the policy
//!   decides again, with the requester's and approvers' roles as of that moment, before a
//!   snapshot starts.
//! - A snapshot is streamed from the register, delivered in a per-extract keyed order (the file's
//!   fingerprint), sealed in chunks under a fresh data key (AES-256-GCM, `extract:<id>:chunk:<n>`
//!   as AAD), and recorded member by member as keyed pseudonyms in the disclosure ledger. The
//!   data key is stored, wrapped by the KEK, only in the transaction that makes the extract live,
//!   together with its audit event: a crash leaves a whole extract or sealed chunks nobody can
//!   open, which the sweeper removes (no plaintext ever touches disk).
//! - Delivery goes only to the requester with a fresh second factor, by POST; every chunk is
//!   authenticated before the first byte leaves, and the release's audit event commits with the
//!   download counter before the response starts (E2, D2).
//! - At the deadline, the download limit, "I'm done", revocation or a freeze, the wrapped key is
//!   destroyed and the chunks deleted in one transaction with a deletion receipt (D4); every
//!   path then answers 410.
//! - Time is an argument wherever a rule depends on it.
//!
//! Must never: clamp a limit instead of refusing it, log or audit member data, hold more than a
//! window of rows in memory while building or streaming, or tell another user's extract apart
//! from a missing one (C2).

pub mod calls;
pub mod container;
pub mod deliver;
pub mod expire;
pub mod fingerprint;
pub mod format;
pub mod handover;
pub mod lifecycle;
pub mod looks;
pub mod request;
pub mod review;
pub mod snapshot;

use std::fmt;

use crate::nouns::{DistrictCode, Field};
use crate::policy::DenyCode;
use crate::{audit, crypto, register, store};

/// Rows per sealed chunk, and the window within which the keyed order shuffles rows.
pub const CHUNK_ROWS: usize = 512;
/// Chunks written per store transaction while building (other writers interleave between).
pub const CHUNKS_PER_TRANSACTION: usize = 64;
/// How long a broker's lease on a build lasts without renewal.
pub const BUILD_LEASE_SECS: i64 = 120;
/// A build is retried this many times after its broker died, then it fails.
pub const MAX_BUILD_ATTEMPTS: i64 = 3;
/// A build's register read is tried this many times, the first included, while the register
/// does not answer; the pauses between (`register.limits.build_retry_pause_secs`, doubled each
/// time: 5, 10, 20 s by default) each start with a renewed lease, so a waiting build is never
/// taken over.
pub const REGISTER_TRIES: u32 = 4;
/// After the last allowed download began, the extract is shredded this long after (so that
/// download can finish); the deadline shreds regardless.
pub const DOWNLOAD_SETTLE_SECS: i64 = 600;
/// A justification: 10–1000 characters, line breaks allowed ([`crate::text`]).
pub const JUSTIFICATION: crate::text::Rule = crate::text::Rule::lines(10, 1000);
/// Rows per page of the in-browser view.
pub const VIEW_PAGE_ROWS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    UnknownPurpose(String),
    #[error("you must accept the purpose's acknowledgement to request this list")]
    NotAcknowledged,
    /// The register holds no member in the district: a misspelling, not a missing permission.
    #[error("there is no district {0} in the member register")]
    UnknownDistrict(DistrictCode),
    /// A chosen local branch or status the register does not hold in the district.
    #[error(
        "the member register has no {field} {value:?} in {district}; choose one of the listed values"
    )]
    UnknownChoice {
        field: Field,
        value: String,
        district: DistrictCode,
    },
    /// A denial without a comment: the requester must be told why.
    #[error("say why you deny the request")]
    CommentRequired,
    /// A justification too short or too long (`JUSTIFICATION`).
    #[error("say in {min} to {max} characters why you need the list")]
    JustificationLength { min: usize, max: usize },
    /// A free text (justification, comment) that holds a control or direction character.
    #[error("the {what} {why}")]
    TextRefused {
        what: &'static str,
        why: crate::text::Refused,
    },
    /// No member matches: nothing is requested (an empty list helps no one).
    #[error("no member matches the request; choose other branches, statuses, dates or ages")]
    NoMembers,
    /// The policy said no; the reason is a sentence for the requester.
    #[error("{reason}")]
    Denied { code: DenyCode, reason: String },
    /// No such extract, or one this user may not see (the same answer, C2).
    #[error("there is no such extract")]
    NotFound,
    #[error("extracts are frozen by the security officer: {0}")]
    Frozen(String),
    /// The extract is shredded, expired, denied or lapsed.
    #[error("this extract is no longer available ({0})")]
    Gone(String),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("the purpose does not allow the format {0}")]
    FormatNotAllowed(String),
    /// A file or view asked of a purpose that allows only a call list.
    #[error("this purpose allows no file: work the list in Registervakt as a call list")]
    CallListOnly,
    /// A call-list step refused: the code says which (`calls::Refusal`), the text says why.
    #[error("{1}")]
    CallList(&'static str, String),
    /// A chunk failed authentication or decoding: nothing is sent (D2).
    #[error("the extract's stored data is damaged: {0}")]
    Damaged(&'static str),
    /// A file could not be held until it was sent: its sealed spool in the data directory
    /// failed, or the worker that opens the chunks stopped. Nothing was sent or counted.
    #[error("the file could not be prepared for sending: {0}")]
    Spool(String),
    #[error(transparent)]
    Register(#[from] register::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Audit(#[from] audit::Error),
    #[error(transparent)]
    Crypto(#[from] crypto::Error),
    #[error(transparent)]
    Format(#[from] format::Error),
    #[error(transparent)]
    Checkpoint(#[from] audit::checkpoint::Error),
    /// A processor's hand-over step was refused ([`handover::Refusal`]); audited.
    #[error("{}", .0.message())]
    Handover(handover::Refusal),
    /// The clock reads earlier than the audit log: nothing is released (`audit::clock`).
    #[error(transparent)]
    Clock(#[from] audit::clock::Error),
}

/// An extract's id: 128 random bits as 32 lowercase hex characters (C2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtractId(String);

impl ExtractId {
    pub fn generate() -> ExtractId {
        ExtractId(crypto::random_id128())
    }

    /// Anything but 32 lowercase hex characters is no extract: [`Error::NotFound`].
    pub fn parse(s: &str) -> Result<ExtractId, Error> {
        if s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(ExtractId(s.to_owned()))
        } else {
            Err(Error::NotFound)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner label the data key is wrapped under.
    pub(crate) fn key_owner(&self) -> Vec<u8> {
        format!("extract:{}", self.0).into_bytes()
    }

    /// The AAD of chunk `seq`: a chunk moved to another extract or position fails to open.
    pub(crate) fn chunk_aad(&self, seq: i64, last: bool) -> Vec<u8> {
        let end = if last { ":last" } else { "" };
        format!("extract:{}:chunk:{seq}{end}", self.0).into_bytes()
    }
}

impl fmt::Display for ExtractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub use crate::nouns::{ExtractState, ShredReason};

impl From<crate::nouns::Error> for Error {
    /// A stored district or field that no longer parses is the register's or the store's
    /// fault, as before the nouns had a module of their own (503, never the user's input).
    fn from(e: crate::nouns::Error) -> Error {
        Error::Register(register::Error::Noun(e))
    }
}
