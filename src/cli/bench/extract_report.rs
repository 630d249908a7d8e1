//! The report of `bench extract`: the interleaved runs against their baseline, the bytes a
//! snapshot wrote, peak memory, and the statement both sides ran — whatever was measured,
//! with any step that failed or stopped the runs early named in place of its figures.

use std::time::Duration;

use super::connector::{best_and_median, cpu_model, cpus, ms};
use super::extract::{FIELDS, Runs, Settings};
use super::machine::written_summary;

/// What a run measured, for the report's header.
pub(super) struct Measured<'a> {
    pub settings: &'a Settings,
    pub matched: u64,
    pub backend: &'static str,
    pub baseline: &'static str,
}

pub(super) fn report(
    m: &Measured<'_>,
    runs: &Runs,
    memory: &anyhow::Result<(u64, u64, u64)>,
    sql: &str,
) -> String {
    let Settings {
        members,
        rows,
        runs: asked,
        memory_rows,
        ref postgres,
        aged_ledger_rows,
    } = *m.settings;
    let (sb, sm) = best_and_median(&runs.snap);
    let (db, dm) = best_and_median(&runs.down);
    let (qb, qm) = best_and_median(&runs.shell);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON);
    let mut out = String::from("## Extract benchmark\n\n");
    out.push_str(&format!(
        "- machine: {} logical CPUs, {}\n",
        cpus(),
        cpu_model()
    ));
    let mut flags = String::new();
    if postgres.is_some() {
        flags.push_str(" --postgres URL");
    }
    if let Some(n) = aged_ledger_rows {
        flags.push_str(&format!(" --aged-ledger-rows {n}"));
    }
    out.push_str(&format!(
        "- command: `registervakt bench extract --members {members} --rows {rows} --runs {asked} --memory-rows {memory_rows}{flags}`\n"
    ));
    out.push_str(&format!(
        "- {}; {} rows × {} fields, CSV {} bytes\n\n",
        m.backend,
        m.matched,
        FIELDS.len(),
        runs.bytes
    ));
    if let Some(stopped) = &runs.stopped {
        out.push_str(&format!(
            "**Stopped early:** {stopped}. The figures are of the {} run(s) before it.\n\n",
            runs.snap.len().min(runs.shell.len())
        ));
    }
    out.push_str("| step | best | median |\n|---|---:|---:|\n");
    let row = |name: &str, times: &[Duration], best: Duration, median: Duration| {
        if times.is_empty() {
            format!("| {name} | — | — |\n")
        } else {
            format!("| {name} | {} | {} |\n", ms(best), ms(median))
        }
    };
    out.push_str(&row("snapshot: request → live", &runs.snap, sb, sm));
    out.push_str(&row("download: CSV stream", &runs.down, db, dm));
    out.push_str(&row(
        &format!("{} (baseline)", m.baseline),
        &runs.shell,
        qb,
        qm,
    ));
    out.push('\n');
    if !runs.snap.is_empty() && !runs.down.is_empty() && !runs.shell.is_empty() {
        out.push_str(&format!(
            "Ratio snapshot / baseline: {:.2} (best), {:.2} (median). Download / baseline: {:.2} (best).\n\n",
            ratio(sb, qb),
            ratio(sm, qm),
            ratio(db, qb)
        ));
    }
    let (wchar, storage) = written_summary(&runs.written);
    out.push_str(&format!(
        "Written by the process during one snapshot (from the request until its writes \
         settled), median (min–max) of {}: {wchar} (`wchar`), {storage} to storage \
         (`write_bytes`).\n\n",
        runs.written.len()
    ));
    match memory {
        Ok((mem_rows, idle, peak)) => out.push_str(&format!(
            "Memory (SQLite), building and downloading a {mem_rows}-row extract: idle {} MiB, \
             peak {} MiB, peak above idle {} MiB.\n\n",
            idle / 1024,
            peak / 1024,
            peak.saturating_sub(*idle) / 1024
        )),
        Err(e) => out.push_str(&format!(
            "Memory (SQLite), building and downloading a {memory_rows}-row extract: \
             failed: {e:#}\n\n"
        )),
    }
    out.push_str(&format!("Statement:\n\n```sql\n{sql}\n```\n"));
    out
}
