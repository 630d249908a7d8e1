//! The auditor's side of `bench extract` (SECURITY_BAR E7), on the store the extract runs
//! built: tracing a leaked copy of one run's extract — two thirds of its rows, re-written as a
//! spreadsheet would — by member number and by names alone, and the breach scope of that
//! extract and of the account's whole window, one timing each.
//!
//! Guarantees: every step is reported in its row — its figures, or why it has none — and the
//! other steps and the rest of the report still run. A trace that names the wrong extract (or
//! not with high confidence) and a breach scope that fails are recorded as failed, so the
//! benchmark fails after printing its report; a trace the broker refuses (a leaked file over
//! its size limit) is reported as refused, with the broker's reason, and is not a failure. The trace and the breach
//! scope are each called from one small function ([`trace_file`], [`scope`]), so a change of
//! their signatures touches one call site.

use std::time::Instant;

use time::OffsetDateTime;

use super::connector::ms;
use super::machine::mb;
use crate::extract::ExtractId;
use crate::oversight::breach::{self, Basis, Scope};
use crate::oversight::trace::{self, Confidence, Traced};
use crate::policy::Reach;
use crate::web::AppState;

/// The auditor's steps as report rows, and the steps that failed or gave a wrong answer.
pub(super) struct Checked {
    pub lines: String,
    pub failed: Vec<String>,
}

const HEADER: &str = "\n| auditor's step (E7) | rows | time |\n|---|---:|---:|\n";

impl Checked {
    /// No step ran, for `reason`.
    pub(super) fn skipped(reason: &str) -> Checked {
        Checked {
            lines: format!("{HEADER}| trace and breach scope | — | not run: {reason} |\n"),
            failed: Vec::new(),
        }
    }
}

/// Runs the auditor's steps for the extract `leaked`, whose CSV download is `csv`; the account's
/// window starts at `window_start`.
pub(super) async fn oversight(
    state: &AppState,
    leaked: &ExtractId,
    csv: &[u8],
    window_start: OffsetDateTime,
) -> Checked {
    let mut out = Checked {
        lines: HEADER.to_owned(),
        failed: Vec::new(),
    };
    match crate::extract::format::read_csv(csv) {
        Ok(table) => {
            for (label, skip_columns) in [
                ("trace: leaked copy, by member number", 0),
                (
                    "trace: leaked copy without the member-number column, by names",
                    1,
                ),
            ] {
                let (file, rows) = leaked_copy(&table, skip_columns);
                trace_step(state, leaked, label, &file, rows, &mut out).await;
            }
        }
        Err(e) => out.lines.push_str(&format!(
            "| trace: leaked copy | — | failed: the download cannot be read back ({e}) |\n"
        )),
    }
    let now = OffsetDateTime::now_utc();
    let bases = [
        ("breach scope: the extract", Basis::Extract(leaked.clone())),
        (
            "breach scope: the account's window (every run)",
            Basis::Account {
                username: "bench".into(),
                from: window_start,
                to: now,
            },
        ),
    ];
    for (label, basis) in bases {
        let started = Instant::now();
        let row = match scope(state, basis, now).await {
            Ok(s) => format!(
                "| {label} | {} members | {} |\n",
                s.members,
                ms(started.elapsed())
            ),
            Err(e) => {
                out.failed.push(format!("{label} failed: {e:#}"));
                format!("| {label} | — | failed: {e:#} |\n")
            }
        };
        out.lines.push_str(&row);
    }
    out
}

/// Two thirds of the table's rows (the header kept), `skip_columns` leading columns dropped,
/// joined with ';' and CRLF as a spreadsheet saves them; returns the file and its data rows.
fn leaked_copy(table: &[Vec<String>], skip_columns: usize) -> (Vec<u8>, usize) {
    let mut out = String::new();
    let mut rows = 0;
    for (i, row) in table.iter().enumerate() {
        if i > 0 && i % 3 == 2 {
            continue;
        }
        rows += usize::from(i > 0);
        let cells: Vec<&str> = row.iter().skip(skip_columns).map(String::as_str).collect();
        out.push_str(&cells.join(";"));
        out.push_str("\r\n");
    }
    (out.into_bytes(), rows)
}

/// One trace, timed, as a report row; a wrong answer is also recorded in `out.failed`.
async fn trace_step(
    state: &AppState,
    leaked: &ExtractId,
    label: &str,
    file: &[u8],
    rows: usize,
    out: &mut Checked,
) {
    let started = Instant::now();
    let row = match trace_file(state, file, OffsetDateTime::now_utc()).await {
        Ok(t) => {
            let took = started.elapsed();
            let best = t.candidates.first().map(|c| c.described.row.id.clone());
            if best.as_deref() == Some(leaked.as_str()) && t.confidence == Confidence::High {
                format!("| {label} | {} | {} |\n", t.rows, ms(took))
            } else {
                let wrong = format!(
                    "the trace named {} with {} confidence, not the leaked extract ({label})",
                    best.as_deref().unwrap_or("no extract"),
                    t.confidence.as_str()
                );
                let row = format!("| {label} | {} | {}, WRONG: {wrong} |\n", t.rows, ms(took));
                out.failed.push(wrong);
                row
            }
        }
        Err(e) => format!(
            "| {label} | {rows} ({}) | refused: {e:#} |\n",
            mb(file.len() as u64)
        ),
    };
    out.lines.push_str(&row);
}

/// The trace of `file` as an auditor with party-wide reach runs it, reading the file included;
/// the one call site of the trace here.
async fn trace_file(state: &AppState, file: &[u8], now: OffsetDateTime) -> anyhow::Result<Traced> {
    let read = trace::read_bytes(&state.pseudonyms, file)?;
    let actor = crate::audit::Actor::cli();
    Ok(trace::trace_as(&state.store, &actor, &Reach::PartyWide, read, now).await?)
}

/// The breach scope of `basis` as an auditor with party-wide reach asks for it.
async fn scope(state: &AppState, basis: Basis, now: OffsetDateTime) -> anyhow::Result<Scope> {
    Ok(breach::scope_as(
        &state.store,
        &crate::audit::Actor::cli(),
        &Reach::PartyWide,
        basis,
        now,
    )
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaked_copy_keeps_the_header_and_two_thirds_of_the_rows() {
        let table: Vec<Vec<String>> = (0..7)
            .map(|i| vec![format!("id{i}"), format!("name{i}")])
            .collect();
        let (file, rows) = leaked_copy(&table, 1);
        let text = String::from_utf8(file).unwrap();
        assert_eq!(text, "name0\r\nname1\r\nname3\r\nname4\r\nname6\r\n");
        assert_eq!(rows, 4);
    }
}
