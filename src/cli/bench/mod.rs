//! `registervakt bench …`: performance against a baseline measured in the same run (see
//! BENCHMARKS.md). Built only with the `bench` feature
//! (`cargo build --release --features bench`), so the server binary carries none of it — the
//! scratch-database dropper (`store::scratch`) and the register's command-line statement
//! included.
//!
//! Guarantees: each figure is a ratio against a baseline taken in the same run (the
//! register's own command-line client, `sha256sum` and `openssl dgst`, a plain file served by
//! the same process, an extract on a fresh store); every run prints the machine's load average
//! at its start and end; the data is synthetic and kept under `--dir`; a scratch PostgreSQL
//! database is dropped at the end.

mod aged;
mod audit;
pub mod connector;
pub mod extract;
mod extract_report;
mod http;
mod machine;
pub mod memory;
mod oversight;

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Stream rows through the register connector vs `sqlite3 -csv` of the same rows.
    Connector {
        /// Where the generated register is kept between runs.
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        members: u64,
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
    /// Request → live and the CSV download of an extract vs `sqlite3 -csv` of the same rows,
    /// and peak memory while building and downloading a large extract.
    Extract {
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        members: u64,
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Rows of the extract whose peak memory is measured.
        #[arg(long, default_value_t = 1_000_000)]
        memory_rows: u64,
        /// Put the register and the store on the PostgreSQL server at URL (a user who may
        /// create databases) and compare with `psql`: the register goes in a table of URL's
        /// database and is kept; the store is a scratch database, dropped at the end.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// Also build a 5 000-row extract on a fresh store and on an aged one whose disclosure
        /// ledger holds at least N rows, interleaved, and compare (SQLite only). The aged store
        /// is kept in `<dir>/aged-store-<members>` and aged once, by real 100 000-row extracts.
        #[arg(long, value_name = "N")]
        aged_ledger_rows: Option<u64>,
    },
    /// `audit verify` of a log of `--entries` entries vs `sha256sum` and `openssl dgst
    /// -sha256` of the same bytes.
    Audit {
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// Peak memory above idle, each step in a fresh process: building and downloading a
    /// `--rows`-row extract, and tracing a leaked copy of it of at least `--trace-mib` MiB
    /// (0: no trace), `--runs` times.
    Memory {
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 5)]
        runs: u32,
        #[arg(long, default_value_t = 256)]
        trace_mib: u64,
        /// The step a child process runs (the benchmark starts its own children).
        #[arg(long, hide = true, requires = "root")]
        child: Option<memory::Step>,
        #[arg(long, hide = true)]
        root: Option<PathBuf>,
    },
    /// Over HTTP: the CSV download of an extract vs the same bytes served as a plain file by
    /// the same process, and audited API requests per second vs `/healthz` (with `wrk`).
    Http {
        #[arg(long, default_value = "bench-data")]
        dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        members: u64,
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// Open connections for `wrk`.
        #[arg(long, default_value_t = 64)]
        connections: u32,
        /// Seconds each `wrk` run lasts.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
}

/// Runs one benchmark, printing the machine's load average before and after it.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    println!("Load average at start: {}\n", machine::load_average());
    let result = run_one(cmd).await;
    println!("\nLoad average at end: {}", machine::load_average());
    result
}

async fn run_one(cmd: BenchCommand) -> anyhow::Result<()> {
    let (dir, members, rows, runs) = match cmd {
        BenchCommand::Audit { dir, entries, runs } => {
            let report = audit::audit_benchmark(&dir, entries, runs).await?;
            println!("{report}");
            return Ok(());
        }
        BenchCommand::Memory {
            dir,
            rows,
            runs,
            trace_mib,
            child,
            root,
        } => {
            let settings = memory::Settings {
                rows,
                runs,
                trace_mib,
            };
            if let (Some(step), Some(root)) = (child, root) {
                return memory::run_child(&dir, &root, &settings, step).await;
            }
            let (report, failed) = memory::memory_benchmark(&dir, &settings).await?;
            println!("{report}");
            if !failed.is_empty() {
                bail!("{}", failed.join("; "));
            }
            return Ok(());
        }
        BenchCommand::Http {
            dir,
            members,
            rows,
            runs,
            connections,
            seconds,
        } => {
            let report = http::http_benchmark(
                &dir,
                http::Load {
                    members,
                    rows,
                    runs,
                    connections,
                    seconds,
                },
            )
            .await?;
            println!("{report}");
            return Ok(());
        }
        BenchCommand::Connector {
            dir,
            members,
            rows,
            runs,
        } => (dir, members, rows, runs),
        BenchCommand::Extract {
            dir,
            members,
            rows,
            runs,
            memory_rows,
            postgres,
            aged_ledger_rows,
        } => {
            if runs == 0 || memory_rows == 0 {
                bail!("--runs and --memory-rows must be at least 1");
            }
            let settings = extract::Settings {
                members,
                rows,
                runs,
                memory_rows,
                postgres,
                aged_ledger_rows,
            };
            let done = extract::extract_benchmark(&dir, &settings).await?;
            println!("{}", done.report);
            if !done.failed.is_empty() {
                bail!("{}", done.failed.join("; "));
            }
            return Ok(());
        }
    };
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let report = connector::connector_benchmark(&dir, members, rows, runs).await?;
    println!("{report}");
    Ok(())
}
