//! Exports of the audit log: JSON lines for a SIEM, CSV for people.
//!
//! Guarantees: the export is itself an audit event (`audit.export`), committed before the
//! first byte is produced, and it covers exactly the entries up to and including that event
//! (a fixed upper bound, so a log that grows meanwhile does not make the export endless). The
//! log is read page by page ([`PAGE_ROWS`] entries at a time), never held whole in memory.
//! Each JSON line carries every hashed field as stored (`details` as its exact text) plus
//! `prev_hash` and `entry_hash`, so a receiver can recompute [`chain::entry_hash`] and, for a
//! whole-log export, the chain from the genesis hash. CSV cells go through the extract CSV
//! writer, which neutralises formula-like cells.
//!
//! Never: decides who may export (the caller passes a selection already scoped by the policy,
//! see [`super::timeline`]); never adds anything to an entry that is not in the log.
//!
//! [`chain::entry_hash`]: crate::audit::chain::entry_hash

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{Actor, Error, Event, EventKind, Outcome};
use crate::extract::format;
use crate::store::audit::{AuditRow, AuditSelection};
use crate::store::{self, Store};

/// Entries read per query while exporting.
pub const PAGE_ROWS: i64 = 500;

/// The columns of the CSV export, in order (the JSON lines use the same names).
pub const COLUMNS: [&str; 10] = [
    "seq",
    "occurred_at",
    "at",
    "actor",
    "action",
    "target",
    "outcome",
    "details",
    "prev_hash",
    "entry_hash",
];

/// How the export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`application/x-ndjson`).
    Jsonl,
    /// `;`-separated, BOM-prefixed CSV that Swedish Excel opens.
    Csv,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "jsonl" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jsonl => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// A started export: the event that records it, and the bytes.
pub struct Export {
    pub format: Format,
    /// The sequence number of the `audit.export` entry: the last entry the export can hold.
    pub through_seq: i64,
    pub body: BoxStream<'static, Result<Vec<u8>, store::Error>>,
}

/// A Unix-millisecond time as RFC 3339 (UTC).
pub fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Records `audit.export` by `actor` with the selection in its details, commits it, then returns
/// the stream of the selected entries up to and including that event.
pub async fn start(
    store: &Store,
    actor: Actor,
    selection: AuditSelection,
    format: Format,
    now: OffsetDateTime,
) -> Result<Export, Error> {
    let details = json!({
        "format": format.as_str(),
        "from": selection.from_ms.map(rfc3339_ms),
        "to": selection.to_ms.map(rfc3339_ms),
        "scope": selection.scope.clone().unwrap_or_else(|| vec!["*".to_owned()]),
    });
    let event = Event::new(
        EventKind::AuditExport,
        actor,
        "audit_log",
        Outcome::Success,
        details,
    );
    let recorded = crate::audit::record_now(store, &event, now).await?;
    Ok(Export {
        format,
        through_seq: recorded.seq,
        body: body(store.clone(), selection, recorded.seq, format),
    })
}

/// The selected entries with `seq <= through_seq`, formatted, one piece per page.
fn body(
    store: Store,
    selection: AuditSelection,
    through_seq: i64,
    format: Format,
) -> BoxStream<'static, Result<Vec<u8>, store::Error>> {
    let pages = stream::try_unfold(Some(0i64), move |after| {
        let store = store.clone();
        let selection = selection.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let rows = store
                .list_audit_events_page(&selection, after, through_seq, PAGE_ROWS)
                .await?;
            let next = match rows.last() {
                Some(last) if rows.len() as i64 == PAGE_ROWS => Some(last.seq),
                _ => None,
            };
            if rows.is_empty() {
                return Ok(None);
            }
            let mut out = Vec::new();
            for row in &rows {
                write_row(format, row, &mut out);
            }
            Ok(Some((out, next)))
        }
    });
    let head = match format {
        Format::Jsonl => Vec::new(),
        Format::Csv => {
            let mut out = Vec::new();
            format::csv_header(&COLUMNS, &mut out);
            out
        }
    };
    stream::once(async move { Ok(head) })
        .chain(pages.into_stream())
        .boxed()
}

/// Appends one entry in `format`.
pub fn write_row(format: Format, row: &AuditRow, out: &mut Vec<u8>) {
    match format {
        Format::Jsonl => {
            let line = json!({
                "seq": row.seq,
                "occurred_at": row.occurred_at,
                "at": rfc3339_ms(row.occurred_at),
                "actor": row.actor,
                "action": row.action,
                "target": row.target,
                "outcome": row.outcome,
                "details": row.details,
                "prev_hash": row.prev_hash,
                "entry_hash": row.entry_hash,
            });
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        }
        Format::Csv => {
            let cells = [
                row.seq.to_string(),
                row.occurred_at.to_string(),
                rfc3339_ms(row.occurred_at),
                row.actor.clone(),
                row.action.clone(),
                row.target.clone(),
                row.outcome.clone(),
                row.details.clone(),
                row.prev_hash.clone(),
                row.entry_hash.clone(),
            ];
            let cells: Vec<Option<String>> = cells.into_iter().map(Some).collect();
            format::csv_row(&cells, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            seq: 7,
            occurred_at: 1_700_000_000_123,
            actor: "user:u1".into(),
            action: "extract.download".into(),
            target: "extract:x".into(),
            outcome: "success".into(),
            details: "{\"ip\":\"10.0.0.1\",\"note\":\"=1+1\"}".into(),
            prev_hash: "a".repeat(64),
            entry_hash: "b".repeat(64),
        }
    }

    #[test]
    fn a_json_line_carries_every_hashed_field_exactly() {
        let mut out = Vec::new();
        write_row(Format::Jsonl, &row(), &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["details"], row().details);
        assert_eq!(v["seq"], 7);
        assert_eq!(v["occurred_at"], 1_700_000_000_123i64);
        assert_eq!(v["at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["entry_hash"], "b".repeat(64));
    }

    #[test]
    fn a_csv_row_reads_back_with_the_same_cells() {
        let mut out = Vec::new();
        format::csv_header(&COLUMNS, &mut out);
        write_row(Format::Csv, &row(), &mut out);
        let rows = format::read_csv(&out).unwrap();
        assert_eq!(rows[0], COLUMNS);
        assert_eq!(rows[1][7], row().details);
        assert_eq!(rows[1][0], "7");
    }

    #[test]
    fn only_the_two_formats_parse() {
        assert_eq!(Format::parse("jsonl"), Some(Format::Jsonl));
        assert_eq!(Format::parse("csv"), Some(Format::Csv));
        assert_eq!(Format::parse("xlsx"), None);
        assert_eq!(Format::parse("JSONL"), None);
    }
}
