//! A copy of the audit log and its checkpoints for syslog (RFC 5424 messages over UDP,
//! RFC 5426, TCP with octet counting, RFC 6587 §3.4.1, or the same inside TLS, RFC 5425),
//! written by hand from the RFCs.
//!
//! Each committed audit entry becomes one message: MSGID the event code, structured data
//! `[registervakt@32473 seq="…" hash="…" actor="…" action="…" target="…" outcome="…"]`
//! (32473 is the enterprise number RFC 5612 reserves for documentation), MSG the entry's
//! details. Each checkpoint becomes one message with MSGID `checkpoint`, SD `entries`, `head`
//! and `key`, and the checkpoint file's line as MSG. Severity: notice for checkpoints, info
//! for successes, warning for failures and denials; the facility is configurable
//! (`[audit] syslog_facility`, default `authpriv`, RFC 5424 §6.2.1 facility 10: the facility
//! syslog daemons keep private for security and authorization messages).
//!
//! Guarantees: a message is one line — CR, LF and every other control character in any value
//! is encoded first ([`super::encode_controls`]), and `"`, `\` and `]` in SD values are
//! escaped (§6.3.3); a message longer than the transport's limit (2048 octets over UDP,
//! RFC 5426 §3.2; 8192 over TCP and TLS) is cut in MSG only, never in SD, and marked with
//! `truncated="<original MSG octets>"` in SD and `…[truncated]` at the end of MSG.
//! The hash chain in the store is the record; syslog is a copy sent after commit from a
//! background task ([`forward`]), so a slow or dead syslog never holds up a request.
//! Must never: carry member data (entries hold none; members appear as pseudonyms only).
//!
//! Why by hand (looked at for issue 20, item 7): of the crates on crates.io, `fasyslog` (1.0)
//! is the one that formats RFC 5424 with structured data and sends over RFC 5425 TLS (rustls
//! or native-tls); `syslog-tls` (7.1, a fork of `syslog`) has TLS through native-tls (OpenSSL)
//! only; `syslog` (7) and `syslog-too` have no TLS; `syslog-fmt`, `syslog5424` and the
//! `tracing`/`slog` formatters format and do not send. None was taken: their senders are
//! blocking `std` sockets, where the forwarder here is an async task with its own queue,
//! reconnect and counters ([`forward`]); none cuts an over-long message in MSG only with a
//! `truncated` mark or encodes control characters in every value, so the guarantees above
//! would still be code of ours around theirs; and `fasyslog` would bring a second `nix` (0.30
//! beside the 0.32 in the tree). What is left by hand is a few format strings and escapes,
//! each pinned by a test in `syslog/tests.rs` (escapes, one line, the cut, printable headers).

mod forward;
mod transport;

pub use crate::config::syslog::Facility;
pub use forward::{Outbox, Running, Sink, Stats, channel};
pub use transport::{Destination, Error, Transport, tls_config};

use time::OffsetDateTime;

use super::checkpoint::Checkpoint;
use crate::store::audit::AuditRow;

/// APP-NAME in every message.
pub const APP_NAME: &str = "registervakt";
/// The SD-ID of our one structured-data element (RFC 5612's documentation number).
pub const SD_ID: &str = "registervakt@32473";
/// MSGID of a checkpoint.
pub const CHECKPOINT_MSGID: &str = "checkpoint";
/// The end of a cut MSG.
pub const TRUNCATION_MARK: &str = "…[truncated]";
const BOM: &str = "\u{feff}";
const NILVALUE: &str = "-";

/// RFC 5424 §6.2.1 severities used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning = 4,
    Notice = 5,
    Informational = 6,
}

/// What is the same in every message this process sends.
#[derive(Debug, Clone)]
pub struct Origin {
    pub facility: Facility,
    /// Already reduced to PRINTUSASCII by [`Origin::new`].
    hostname: String,
    procid: u32,
}

impl Origin {
    pub fn new(facility: Facility, hostname: &str, procid: u32) -> Origin {
        Origin {
            facility,
            hostname: header_field(hostname, 255),
            procid,
        }
    }

    /// This host and process: the kernel's host name (NILVALUE when it cannot be read).
    pub fn this_process(facility: Facility) -> Origin {
        let name = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        Origin::new(facility, name.trim(), std::process::id())
    }
}

/// One message before it is laid out.
#[derive(Debug, Clone)]
pub struct Message {
    pub severity: Severity,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub msgid: String,
    pub params: Vec<(&'static str, String)>,
    pub text: String,
}

impl Message {
    /// An audit entry as stored (and hashed).
    pub fn entry(row: &AuditRow) -> Message {
        let severity = if row.outcome == "success" {
            Severity::Informational
        } else {
            Severity::Warning
        };
        Message {
            severity,
            at_ms: row.occurred_at,
            msgid: row.action.clone(),
            params: vec![
                ("seq", row.seq.to_string()),
                ("hash", row.entry_hash.clone()),
                ("actor", row.actor.clone()),
                ("action", row.action.clone()),
                ("target", row.target.clone()),
                ("outcome", row.outcome.clone()),
            ],
            text: row.details.clone(),
        }
    }

    /// A signed checkpoint: its file line as MSG.
    pub fn checkpoint(c: &Checkpoint) -> Message {
        Message {
            severity: Severity::Notice,
            at_ms: c.at_ms,
            msgid: CHECKPOINT_MSGID.to_owned(),
            params: vec![
                ("entries", c.entries.to_string()),
                ("head", c.head_hash.clone()),
                ("key", c.key_id.to_string()),
            ],
            text: c.line().trim_end().to_owned(),
        }
    }

    /// The RFC 5424 octets, at most `max_len` unless the header and SD alone are longer (SD is
    /// never cut; then MSG is left out and the message is still marked as truncated).
    pub fn format(&self, origin: &Origin, max_len: usize) -> Vec<u8> {
        let text = super::encode_controls(&self.text);
        let whole = self.head(origin, None);
        if whole.len() + 1 + BOM.len() + text.len() <= max_len {
            return format!("{whole} {BOM}{text}").into_bytes();
        }
        let head = self.head(origin, Some(text.len()));
        let room = max_len.saturating_sub(head.len() + 1 + BOM.len() + TRUNCATION_MARK.len());
        if room == 0 {
            return head.into_bytes();
        }
        let mut cut = room.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{head} {BOM}{}{TRUNCATION_MARK}", &text[..cut]).into_bytes()
    }

    /// HEADER SP STRUCTURED-DATA, with `truncated` when MSG will be cut.
    fn head(&self, origin: &Origin, truncated: Option<usize>) -> String {
        let pri = u16::from(origin.facility.code()) * 8 + self.severity as u16;
        let mut sd = format!("[{SD_ID}");
        let extra = truncated.map(|n| ("truncated", n.to_string()));
        for (name, value) in self.params.iter().cloned().chain(extra) {
            sd.push_str(&format!(" {name}=\"{}\"", param_value(&value)));
        }
        sd.push(']');
        format!(
            "<{pri}>1 {} {} {APP_NAME} {} {} {sd}",
            timestamp(self.at_ms),
            origin.hostname,
            origin.procid,
            header_field(&self.msgid, 32),
        )
    }
}

/// RFC 5424 §6.2.3: RFC 3339 in UTC with milliseconds; NILVALUE for a time out of range.
fn timestamp(at_ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .filter(|t| (0..=9999).contains(&t.year()))
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| NILVALUE.to_owned())
}

/// A header field: PRINTUSASCII only (others become `_`), at most `max` octets, NILVALUE
/// when empty (RFC 5424 §6.2).
fn header_field(text: &str, max: usize) -> String {
    let field: String = text
        .chars()
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .take(max)
        .collect();
    if field.is_empty() {
        NILVALUE.to_owned()
    } else {
        field
    }
}

/// PARAM-VALUE (RFC 5424 §6.3.3): controls encoded, then `"`, `\` and `]` escaped.
fn param_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in super::encode_controls(value).chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
