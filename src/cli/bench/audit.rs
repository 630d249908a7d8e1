//! `registervakt bench audit`: `registervakt audit verify` over a log of a million entries
//! against `sha256sum` and `openssl dgst -sha256` over the same bytes — the canonical encodings
//! the chain hashes — in the same run, the three interleaved.
//!
//! Guarantees: the log is written through `audit::record` (the code the broker appends with),
//! in a SQLite store of its own inside `--dir`; the baseline file holds exactly the bytes the
//! verifier hashes (`chain::encode_into`, whose SHA-256 is tested to be the entry hash); the
//! verify command is this binary's own `audit verify`, run as an operator runs it, and its
//! entry count is checked. Synthetic events only.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt as _;
use serde_json::json;
use time::OffsetDateTime;

use super::connector::{best_and_median, cpu_model, cpus, ms};
use crate::audit::{self, Actor, Event, EventKind, Outcome, chain};
use crate::config::{SQLITE_STORE_FILE, StoreLocation};
use crate::store::{self, Store};

/// Events per transaction while the log is written.
const EVENTS_PER_TRANSACTION: u64 = 10_000;

/// The `n`th synthetic event: the mix of a working day — a request, its snapshot, views and
/// downloads with the client's address, sign-ins, the end of an extract.
fn event(n: u64) -> Event {
    let user = format!("u-{:032x}", n % 977);
    let extract = format!("extract:{:032x}", n / 8);
    let ip = format!("10.{}.{}.{}", n % 251, (n / 251) % 251, n % 7 + 1);
    let (action, target, details) = match n % 8 {
        0 => (
            EventKind::ExtractRequested,
            extract,
            json!({ "purpose": "district-assembly-invitation", "district": "Uppsala",
                    "fields": ["member_id", "first_name", "last_name", "phone"],
                    "rows": 1200 + n % 800, "lifetime_minutes": 1440 }),
        ),
        1 => (
            EventKind::ExtractBuilt,
            extract,
            json!({ "rows": 1200 + n % 800, "chunks": 3, "kek_id": "k-2026-11" }),
        ),
        2 | 3 => (EventKind::ExtractShown, extract, json!({ "ip": ip })),
        4 | 5 => (
            EventKind::ExtractReleased,
            extract,
            json!({ "format": "csv", "download": n % 8 - 3, "of": 3, "rows": 1200 + n % 800,
                    "ip": ip }),
        ),
        6 => (
            EventKind::SecondFactorAccepted,
            format!("user:{user}"),
            json!({ "method": "totp", "purpose": "sign_in", "ip": ip }),
        ),
        _ => (
            EventKind::ExtractShredded,
            extract,
            json!({ "reason": "expired", "chunks": 3 }),
        ),
    };
    Event::new(
        action,
        Actor::user(&user),
        &target,
        Outcome::Success,
        details,
    )
}

/// The store of `entries` events inside `dir`, written on the first run and reused.
async fn ensure_log(dir: &Path, entries: u64) -> anyhow::Result<(PathBuf, Option<Duration>)> {
    let data = dir.join(format!("audit-{entries}"));
    let done = data.join("complete");
    if done.is_file() {
        return Ok((data, None));
    }
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let started = Instant::now();
    let store = open(&data, true).await?;
    store.migrate().await?;
    let start = OffsetDateTime::now_utc() - time::Duration::days(365);
    let mut n = 0;
    while n < entries {
        let mut tx = store.begin().await?;
        let end = (n + EVENTS_PER_TRANSACTION).min(entries);
        for i in n..end {
            let at = start + time::Duration::milliseconds(i64::try_from(i)? * 30);
            audit::record(&mut tx, &event(i), at).await?;
        }
        tx.commit().await?;
        n = end;
    }
    store.close().await;
    std::fs::write(&done, b"")?;
    Ok((data, Some(started.elapsed())))
}

async fn open(data: &Path, create: bool) -> anyhow::Result<Store> {
    Ok(Store::open(&store::Options {
        location: StoreLocation::Sqlite(data.join(SQLITE_STORE_FILE)),
        busy_timeout: Duration::from_secs(5),
        max_connections: 2,
        create,
    })
    .await?)
}

/// Writes the canonical encoding of every entry, in order, to `<data>/encodings.bin`;
/// returns its size in bytes.
async fn write_encodings(data: &Path) -> anyhow::Result<(PathBuf, u64, u64)> {
    let file = data.join("encodings.bin");
    let store = open(data, false).await?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    let mut rows = store.stream_audit_events();
    let (mut entries, mut bytes, mut buf) = (0u64, 0u64, Vec::new());
    while let Some(row) = rows.next().await {
        buf.clear();
        chain::encode_into(&row?, &mut buf);
        out.write_all(&buf)?;
        entries += 1;
        bytes += buf.len() as u64;
    }
    drop(rows);
    out.flush()?;
    store.close().await;
    Ok((file, entries, bytes))
}

/// `registervakt audit verify --data-dir <data>`, timed; checks it names `entries`.
fn run_verify(data: &Path, entries: u64) -> anyhow::Result<Duration> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let started = Instant::now();
    let out = Command::new(exe)
        .args(["audit", "verify", "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .context("cannot run `registervakt audit verify`")?;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains(&format!("{entries} entries")) {
        bail!(
            "`audit verify` did not report an intact log of {entries} entries: {}{}",
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

/// `sha256sum <file>`, timed.
fn run_sha256sum(file: &Path) -> anyhow::Result<Duration> {
    run_hash(
        Command::new("sha256sum").arg(file),
        "sha256sum (GNU coreutils)",
    )
}

/// `openssl dgst -sha256 <file>`, timed.
fn run_openssl(file: &Path) -> anyhow::Result<Duration> {
    run_hash(
        Command::new("openssl").args(["dgst", "-sha256"]).arg(file),
        "openssl dgst -sha256",
    )
}

/// Runs a hashing command, timed; its digest is discarded.
fn run_hash(cmd: &mut Command, name: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {name}"))?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!("{name} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(took)
}

pub async fn audit_benchmark(dir: &Path, entries: u64, runs: u32) -> anyhow::Result<String> {
    if entries == 0 || runs == 0 {
        bail!("--entries and --runs must be at least 1");
    }
    let (data, created) = ensure_log(dir, entries).await?;
    // A log written by an older build: bring its store to this build's schema first.
    let store = open(&data, false).await?;
    store.migrate().await?;
    store.close().await;
    let (file, encoded, bytes) = write_encodings(&data).await?;
    if encoded != entries {
        bail!(
            "the log holds {encoded} entries, not {entries}; delete {} and rerun",
            data.display()
        );
    }
    let db_bytes = std::fs::metadata(data.join(SQLITE_STORE_FILE))?.len();
    let (mut verify, mut sha, mut ossl) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        verify.push(run_verify(&data, entries)?);
        sha.push(run_sha256sum(&file)?);
        ossl.push(run_openssl(&file)?);
    }
    let (vb, vm) = best_and_median(&verify);
    let (sb, sm) = best_and_median(&sha);
    let (ob, om) = best_and_median(&ossl);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON);
    let mut out = String::from("## Audit verify benchmark\n\n");
    out.push_str(&format!(
        "- machine: {} logical CPUs, {}\n",
        cpus(),
        cpu_model()
    ));
    out.push_str(&format!(
        "- command: `registervakt bench audit --entries {entries} --runs {runs}`\n"
    ));
    out.push_str(&format!(
        "- {entries} entries; store file {:.0} MiB; canonical encodings {:.0} MiB{}\n\n",
        db_bytes as f64 / 1_048_576.0,
        bytes as f64 / 1_048_576.0,
        created.map_or_else(String::new, |t| format!("; log written in {}", ms(t)))
    ));
    out.push_str("| step | best | median |\n|---|---:|---:|\n");
    out.push_str(&format!(
        "| `registervakt audit verify` | {} | {} |\n",
        ms(vb),
        ms(vm)
    ));
    out.push_str(&format!(
        "| `sha256sum` of the same bytes (baseline) | {} | {} |\n",
        ms(sb),
        ms(sm)
    ));
    out.push_str(&format!(
        "| `openssl dgst -sha256` of the same bytes (baseline) | {} | {} |\n\n",
        ms(ob),
        ms(om)
    ));
    out.push_str(&format!(
        "Ratio verify / sha256sum: {:.2} (best), {:.2} (median). \
         Ratio verify / openssl: {:.2} (best), {:.2} (median).\n",
        ratio(vb, sb),
        ratio(vm, sm),
        ratio(vb, ob),
        ratio(vm, om)
    ));
    Ok(out)
}
