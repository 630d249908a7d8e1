//! `registervakt bench memory`: peak memory above idle, building and downloading a large
//! extract, and tracing a leaked copy of it made at least `--trace-mib` MiB large — each
//! measured in a fresh child process of its own, run after run, so that a heap grown by an
//! earlier step cannot hide a later step's peak. The build child also times the snapshot
//! against `sqlite3 -readonly -csv` of the same rows (the large-extract speed goal).
//!
//! Guarantees: each run reports its own figures (the goal is met only if every run meets it);
//! the trace reads the file as `registervakt audit trace` does, in pieces from disk, and must
//! name the extract the copy came from with high confidence, or the run is a failure; the
//! scratch brokers are removed after each run, the register is kept under `--dir`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use time::OffsetDateTime;

use super::connector::{self, ONE_DISTRICT, TODAY};
use super::extract::{FIELDS, Source, broker_app_at, snapshot, staff_user};
use crate::extract::ExtractId;
use crate::extract::deliver::{self, Body};
use crate::extract::format::CsvStream;
use crate::nouns::DistrictCode;
use crate::oversight::trace::{self, Confidence};
use crate::policy::{Format, Reach};
use crate::register::{ProtectedIdentity, Register};

/// A child's step.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Step {
    /// Build and download the extract, then write the leaked copy.
    Build,
    /// Trace the leaked copy.
    Trace,
}

/// What `bench memory` is asked to measure.
pub struct Settings {
    pub rows: u64,
    pub runs: u32,
    pub trace_mib: u64,
}

/// One run's figures, in kB of resident memory.
#[derive(Debug, Default)]
struct RunFigures {
    rows: u64,
    build_idle: u64,
    build_peak: u64,
    /// The snapshot (request → live), and `sqlite3 -readonly -csv` of the same rows.
    snapshot: Duration,
    baseline: Duration,
    trace: Option<TraceFigures>,
}

#[derive(Debug)]
struct TraceFigures {
    bytes: u64,
    rows: u64,
    idle: u64,
    peak: u64,
    took: Duration,
    named: bool,
}

/// The runs, each step in a child process; returns the report and what failed.
pub async fn memory_benchmark(
    dir: &Path,
    settings: &Settings,
) -> anyhow::Result<(String, Vec<String>)> {
    if settings.runs == 0 || settings.runs > 20 || settings.rows == 0 {
        bail!("--runs must be between 1 and 20, and --rows at least 1");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Made once here, so that no measured child spends its time generating the register.
    connector::ensure_one_district_register(dir, settings.rows).await?;
    let mut runs = Vec::new();
    let mut failed = Vec::new();
    for run in 1..=settings.runs {
        let root = dir.join("brokers").join(format!("memory-{run}"));
        let _ = std::fs::remove_dir_all(&root);
        let figures = one_run(dir, &root, settings).await;
        let _ = std::fs::remove_dir_all(&root);
        match figures {
            Ok(f) => {
                if f.trace.as_ref().is_some_and(|t| !t.named) {
                    failed.push(format!(
                        "run {run}: the trace did not name the extract with high confidence"
                    ));
                }
                runs.push(f);
            }
            Err(e) => {
                failed.push(format!("run {run} failed: {e:#}"));
                break;
            }
        }
    }
    Ok((report(settings, &runs), failed))
}

async fn one_run(dir: &Path, root: &Path, settings: &Settings) -> anyhow::Result<RunFigures> {
    let mut figures = RunFigures::default();
    let built = child(dir, root, settings, Step::Build).await?;
    let [rows, idle, peak, snapshot, baseline] = numbers(&built, "build")?;
    figures.rows = rows;
    figures.build_idle = idle;
    figures.build_peak = peak;
    figures.snapshot = Duration::from_micros(snapshot);
    figures.baseline = Duration::from_micros(baseline);
    if settings.trace_mib > 0 {
        let traced = child(dir, root, settings, Step::Trace).await?;
        let [bytes, rows, idle, peak, micros, named] = numbers(&traced, "trace")?;
        figures.trace = Some(TraceFigures {
            bytes,
            rows,
            idle,
            peak,
            took: Duration::from_micros(micros),
            named: named == 1,
        });
    }
    Ok(figures)
}

/// Runs this program as a child for `step`; returns its standard output.
async fn child(dir: &Path, root: &Path, settings: &Settings, step: Step) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find this program to run it again")?;
    let step_name = match step {
        Step::Build => "build",
        Step::Trace => "trace",
    };
    let out = tokio::process::Command::new(exe)
        .args(["bench", "memory", "--dir"])
        .arg(dir)
        .args(["--rows", &settings.rows.to_string()])
        .args(["--trace-mib", &settings.trace_mib.to_string()])
        .args(["--child", step_name, "--root"])
        .arg(root)
        .output()
        .await
        .context("cannot start the benchmark's child process")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "the {step_name} step failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(stdout)
}

/// The numbers of the child's `RESULT <what> …` line.
fn numbers<const N: usize>(stdout: &str, what: &str) -> anyhow::Result<[u64; N]> {
    let prefix = format!("RESULT {what} ");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .with_context(|| format!("the {what} step printed no result"))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("the {what} step printed an unreadable result"))?;
    values
        .try_into()
        .map_err(|_| anyhow::anyhow!("the {what} step printed the wrong number of figures"))
}

/// A child's step: prints its `RESULT` line.
pub async fn run_child(
    dir: &Path,
    root: &Path,
    settings: &Settings,
    step: Step,
) -> anyhow::Result<()> {
    let db = connector::ensure_one_district_register(dir, settings.rows).await?;
    let source = Source::Sqlite(db.clone());
    let (app, _) = broker_app_at(root, &source, "\n[extracts]\nmax_downloads = 10\n", None).await?;
    let state = app.state().clone();
    match step {
        Step::Build => {
            let register = Register::open(&connector::register_config(&db)).await?;
            let filter = connector::members_of(&register, DistrictCode::parse(ONE_DISTRICT)?);
            let n = register
                .count(&filter, ProtectedIdentity::Exclude, TODAY)
                .await?
                .included;
            let sql =
                register.cli_statement(&filter, &FIELDS, ProtectedIdentity::Exclude, TODAY)?;
            drop(register);
            let who = staff_user(&state, "bench", ONE_DISTRICT).await?;
            let (idle, _) = memory_kb();
            reset_peak();
            let (id, built, took) = snapshot(&state, &who, &filter).await?;
            download_to(&state, &who, &id, None).await?;
            let (_, peak) = memory_kb();
            connector::check_count("the snapshot", built, n)?;
            let (listed, baseline) = connector::run_sqlite3(&db, &sql).await?;
            connector::check_count("the baseline", listed, n)?;
            println!(
                "RESULT build {n} {idle} {peak} {} {}",
                took.as_micros(),
                baseline.as_micros()
            );
            if settings.trace_mib > 0 {
                let csv = root.join("download.csv");
                download_to(&state, &who, &id, Some(&csv)).await?;
                leaked_copy(&csv, &root.join("leaked.csv"), settings.trace_mib << 20)?;
                std::fs::remove_file(&csv)?;
                std::fs::write(root.join("extract-id"), id.as_str())?;
            }
        }
        Step::Trace => {
            let id = std::fs::read_to_string(root.join("extract-id"))?;
            let path = root.join("leaked.csv");
            let bytes = std::fs::metadata(&path)?.len();
            let (idle, _) = memory_kb();
            reset_peak();
            let started = Instant::now();
            let read = trace::read_path(&state.pseudonyms, &path)?;
            let rows = read.keyed.rows as u64;
            let actor = crate::audit::Actor::cli();
            let now = OffsetDateTime::now_utc();
            let traced =
                trace::trace_as(&state.store, &actor, &Reach::PartyWide, read, now).await?;
            let took = started.elapsed().as_micros();
            let (_, peak) = memory_kb();
            let named = traced
                .candidates
                .first()
                .is_some_and(|c| c.described.row.id == id)
                && traced.confidence == Confidence::High;
            println!(
                "RESULT trace {bytes} {rows} {idle} {peak} {took} {}",
                u8::from(named)
            );
        }
    }
    Ok(())
}

/// Downloads the extract as CSV, to `path` or nowhere.
async fn download_to(
    state: &crate::web::AppState,
    who: &crate::policy::Principal,
    id: &ExtractId,
    path: Option<&Path>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let now = OffsetDateTime::now_utc();
    let file = deliver::download(state, who, id, Format::Csv, "bench", now).await?;
    let mut out = match path {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let mut write = |piece: &[u8]| -> std::io::Result<()> {
        match out.as_mut() {
            Some(o) => o.write_all(piece),
            None => Ok(()),
        }
    };
    match file.body {
        Body::Stream(mut s) => {
            while let Some(piece) = s.next().await {
                write(&piece?)?;
            }
        }
        Body::Whole(b) => write(&b)?,
    }
    if let Some(mut o) = out {
        o.flush()?;
    }
    Ok(())
}

/// The download as a spreadsheet user would pass it on: every row with a notes column
/// ("Anteckning") wide enough to make the file at least `target` bytes; `;`-separated,
/// RFC 4180 quoting.
fn leaked_copy(csv: &Path, leaked: &Path, target: u64) -> anyhow::Result<()> {
    use std::io::Write as _;
    let size = std::fs::metadata(csv)?.len();
    let mut rows = 0u64;
    each_record(csv, |_| {
        rows += 1;
        Ok(())
    })?;
    // Every data row (all but the header) carries the filler and its separator.
    let data_rows = rows.saturating_sub(1).max(1);
    let filler = usize::try_from(target.saturating_sub(size).div_ceil(data_rows)).unwrap_or(0);
    let note = "x".repeat(filler.saturating_sub(1));
    let mut out = std::io::BufWriter::new(std::fs::File::create(leaked)?);
    let mut first = true;
    each_record(csv, |record| {
        let extra = if std::mem::take(&mut first) {
            "Anteckning"
        } else {
            &note
        };
        let mut line = Vec::new();
        for (i, cell) in record.iter().map(String::as_str).chain([extra]).enumerate() {
            if i > 0 {
                line.push(b';');
            }
            if cell.contains([';', '"', '\r', '\n']) {
                line.push(b'"');
                line.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
                line.push(b'"');
            } else {
                line.extend_from_slice(cell.as_bytes());
            }
        }
        line.extend_from_slice(b"\r\n");
        out.write_all(&line)
    })?;
    out.flush()?;
    Ok(())
}

/// Calls `each` with every record of the CSV file at `path`, reading it in pieces of whole
/// lines (the reader is fed text: a piece never ends inside a character).
fn each_record(
    path: &Path,
    mut each: impl FnMut(&[String]) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    use std::io::BufRead as _;
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut reader = CsvStream::new();
    let mut piece = Vec::with_capacity(1 << 20);
    loop {
        piece.clear();
        while piece.len() < 1 << 20 && file.read_until(b'\n', &mut piece)? > 0 {}
        if piece.is_empty() {
            break;
        }
        for record in reader.feed(&piece)? {
            each(&record)?;
        }
    }
    for record in reader.finish()? {
        each(&record)?;
    }
    Ok(())
}

/// Resident and peak memory of this process (kB), from /proc/self/status.
pub(super) fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak (VmHWM) to the current RSS (Linux `clear_refs` value 5).
pub(super) fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn report(settings: &Settings, runs: &[RunFigures]) -> String {
    let mib = |kb: u64| kb / 1024;
    let mut out = String::from("## Memory benchmark\n\n");
    out.push_str(&format!(
        "- command: `registervakt bench memory --rows {} --runs {} --trace-mib {}`\n\
         - every step in a fresh process; figures are peak resident memory above the idle \
         process (kB from `/proc/self/status`, shown in MiB)\n\n",
        settings.rows, settings.runs, settings.trace_mib
    ));
    out.push_str(
        "| run | rows | snapshot / `sqlite3 -csv` | build and download: idle, peak above idle | leaked file | trace: peak above idle | trace time | named the extract |\n\
         |---:|---:|---:|---:|---:|---:|---:|:---:|\n",
    );
    for (i, r) in runs.iter().enumerate() {
        let (file, above, took, named) = match &r.trace {
            Some(t) => (
                format!("{} MiB, {} rows", t.bytes >> 20, t.rows),
                format!("{} MiB", mib(t.peak.saturating_sub(t.idle))),
                connector::ms(t.took),
                if t.named { "yes" } else { "NO" }.to_owned(),
            ),
            None => ("—".into(), "—".into(), "—".into(), "—".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {} / {} = {:.2} | {} MiB, {} MiB | {file} | {above} | {took} | {named} |\n",
            i + 1,
            r.rows,
            connector::ms(r.snapshot),
            connector::ms(r.baseline),
            r.snapshot.as_secs_f64() / r.baseline.as_secs_f64().max(f64::EPSILON),
            mib(r.build_idle),
            mib(r.build_peak.saturating_sub(r.build_idle)),
        ));
    }
    let worst = |f: &dyn Fn(&RunFigures) -> Option<u64>| runs.iter().filter_map(f).max();
    if let Some(build) = worst(&|r| Some(r.build_peak.saturating_sub(r.build_idle))) {
        out.push_str(&format!(
            "\nHighest peak above idle over {} runs: building and downloading {} MiB",
            runs.len(),
            mib(build)
        ));
        match worst(&|r| r.trace.as_ref().map(|t| t.peak.saturating_sub(t.idle))) {
            Some(t) => out.push_str(&format!("; tracing {} MiB.\n", mib(t))),
            None => out.push_str(".\n"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_is_read_whole_or_refused() {
        let out = "Load average at start: 1\nRESULT build 3 100 200\n";
        assert_eq!(numbers::<3>(out, "build").unwrap(), [3, 100, 200]);
        assert!(numbers::<4>(out, "build").is_err());
        assert!(numbers::<3>(out, "trace").is_err());
        assert!(numbers::<1>("RESULT build x\n", "build").is_err());
    }

    #[test]
    fn the_leaked_copy_is_at_least_the_size_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("d.csv");
        std::fs::write(&csv, "Medlemsnummer;Förnamn\r\n1;Anna\r\n2;\"Bo; Jr\"\r\n").unwrap();
        let leaked = dir.path().join("l.csv");
        leaked_copy(&csv, &leaked, 1000).unwrap();
        let text = std::fs::read_to_string(&leaked).unwrap();
        assert!(text.len() >= 1000, "{} bytes", text.len());
        assert!(text.starts_with("Medlemsnummer;Förnamn;Anteckning\r\n"));
        assert_eq!(text.lines().count(), 3);
        assert!(text.contains("\"Bo; Jr\";x"));
    }
}
