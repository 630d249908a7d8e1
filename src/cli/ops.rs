//! Operator commands: `init`, `keys`, `audit verify`, `register check`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::config::{Config, DEFAULT_FILE, SQLITE_STORE_FILE, StoreLocation};
use crate::crypto::Keyring;
use crate::register::Register;
use crate::store::{self, Store};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new key-encryption key file with mode 0600 (refuses to overwrite).
    Generate {
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Add a new active key to an existing key file; older keys stay for decryption.
    Rotate {
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 0 with the entry count, or non-zero naming the first bad entry.
    Verify(VerifyArgs),
    /// Which extract a leaked CSV or XLSX file most likely comes from, with the evidence.
    Trace(super::audit_trace::TraceArgs),
    /// Breach scope (GDPR Art. 33): members, field categories, downloads and shred times, from
    /// an extract, an account and a time window, or a leaked file.
    Scope(super::audit_trace::ScopeArgs),
    /// Write the audit log (optionally a time window) as JSON lines or CSV; the export is itself
    /// an audit event, recorded before the first line is written.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub(super) store: StoreArgs,
    /// `jsonl` (one object per entry, re-verifiable) or `csv`.
    #[arg(long, value_name = "FORMAT")]
    pub(super) format: String,
    /// RFC 3339, inclusive.
    #[arg(long, value_name = "TIME")]
    pub(super) from: Option<String>,
    /// RFC 3339, inclusive.
    #[arg(long, value_name = "TIME")]
    pub(super) to: Option<String>,
    /// Write to FILE (a new file, mode 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Also check the log against the signed checkpoints in FILE (catches a truncated log or a
    /// chain recomputed after a deletion). Needs the config, for the key file.
    #[arg(long, value_name = "FILE")]
    checkpoints: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct StoreArgs {
    /// A data dir holding registervakt.db (or a demo dir holding registervakt.toml).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The broker's config file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RegisterCommand {
    /// Print the column mapping and members per district; warn if the register user can write.
    Check {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Creates and migrates the store, then sets up the audit log's second sink: creates the
/// checkpoint file (mode 0600) when one is configured, or warns, naming the key, when neither
/// it nor syslog is.
pub async fn init(config: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let store = crate::app::init_store(&config).await?;
    println!("store ready ({}), migrations applied", store.backend_name());
    store.close().await;
    if let Some(file) = &config.audit.checkpoint_file {
        crate::audit::checkpoint::Sink::new(file.clone())
            .probe()
            .await?;
        println!("audit checkpoints go to {}", file.display());
    } else if !config.audit.has_second_sink() {
        eprintln!("warning: {}", crate::config::NO_SECOND_AUDIT_SINK);
    }
    Ok(())
}

pub fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Generate { out } => {
            let id = Keyring::generate_file(&out)?;
            println!(
                "wrote key-encryption key {id} to {} (mode 0600)",
                out.display()
            );
            println!(
                "keep it outside the data dir and back it up separately: without it no extract can be read"
            );
        }
        KeysCommand::Rotate { file } => {
            let id = Keyring::rotate_file(&file)?;
            println!(
                "key {id} is now active in {}; older keys remain for decryption",
                file.display()
            );
        }
    }
    Ok(())
}

pub async fn audit(cmd: AuditCommand) -> anyhow::Result<()> {
    let args = match cmd {
        AuditCommand::Verify(args) => args,
        AuditCommand::Trace(args) => return super::audit_trace::trace(args).await,
        AuditCommand::Scope(args) => return super::audit_trace::scope(args).await,
        AuditCommand::Export(args) => return super::audit_export::export(args).await,
    };
    let store = open_existing_store(&args.store).await?;
    let result = match &args.checkpoints {
        None => crate::audit::verify(&store)
            .await
            .map(|r| (r, None))
            .map_err(anyhow::Error::from),
        Some(file) => verify_with_checkpoints(&store, &args.store, file).await,
    };
    store.close().await;
    let (report, checkpoints) = result?;
    let against =
        checkpoints.map_or_else(String::new, |n| format!(", agrees with {n} checkpoint(s)"));
    println!(
        "audit log intact: {} entries, head {}{against}",
        report.entries, report.head_hash
    );
    Ok(())
}

async fn verify_with_checkpoints(
    store: &Store,
    args: &StoreArgs,
    file: &Path,
) -> anyhow::Result<(crate::audit::VerifyReport, Option<usize>)> {
    let keyring = Keyring::load(&key_config(args, "checking checkpoints")?.keys.kek_file)?;
    let checkpoints = crate::audit::checkpoint::read(file)?;
    let report = crate::audit::checkpoint::verify_with(store, &keyring, &checkpoints).await?;
    Ok((report.chain, Some(report.checkpoints)))
}

/// The config whose key file a command needs: `--config`, the demo dir's, or `./registervakt.toml`.
pub(super) fn key_config(args: &StoreArgs, what: &str) -> anyhow::Result<Config> {
    let config_file = match (&args.config, &args.data_dir) {
        (Some(c), _) => c.clone(),
        (None, Some(dir)) if dir.join(DEFAULT_FILE).is_file() => dir.join(DEFAULT_FILE),
        (None, Some(_)) => bail!("{what} needs the key file: pass --config FILE"),
        (None, None) => PathBuf::from(DEFAULT_FILE),
    };
    Ok(Config::load(Some(&config_file))?)
}

/// Opens the store named by `--config`, `--data-dir` or `./registervakt.toml`, without creating it.
pub(super) async fn open_existing_store(args: &StoreArgs) -> anyhow::Result<Store> {
    let location = match (&args.data_dir, &args.config) {
        (Some(dir), _) if dir.join(DEFAULT_FILE).is_file() => {
            Config::load(Some(&dir.join(DEFAULT_FILE)))?.store_location()
        }
        (Some(dir), _) => {
            let file = dir.join(SQLITE_STORE_FILE);
            if !file.is_file() {
                bail!(
                    "{} has no {SQLITE_STORE_FILE}; pass the store's data dir",
                    dir.display()
                );
            }
            StoreLocation::Sqlite(file)
        }
        (None, config) => Config::load(config.as_deref())?.store_location(),
    };
    let store = Store::open(&store::Options {
        location,
        busy_timeout: std::time::Duration::from_secs(5),
        // Three: `audit verify` reads the log on two while a third holds the write lock for
        // the moment they begin (`store::audit::pages`).
        max_connections: 3,
        create: false,
    })
    .await?;
    store.ensure_migrated().await?;
    Ok(store)
}

/// `register check`: each step on standard error as it starts, with its time when it ends
/// (a slow register shows where it is slow), then the report on standard output.
pub async fn register(cmd: RegisterCommand) -> anyhow::Result<()> {
    let RegisterCommand::Check { config } = cmd;
    let config = Config::load(config.as_deref())?;
    let limit = config
        .register
        .limits
        .statement_secs(config.server.request_timeout_secs);
    eprintln!(
        "checking the member register; each statement may run {limit} s \
         (register.limits.statement_timeout_secs)"
    );
    let opening = "connecting and checking the mapped columns and statuses";
    let mut show = |step: crate::register::Progress| match step {
        crate::register::Progress::Started(name) => eprintln!("  {name} …"),
        crate::register::Progress::Finished(name, took) => {
            eprintln!("  {name}: {:.1} s", took.as_secs_f64());
        }
    };
    show(crate::register::Progress::Started(opening));
    let started = std::time::Instant::now();
    let register = Register::open(&config.register).await?;
    show(crate::register::Progress::Finished(
        opening,
        started.elapsed(),
    ));
    let report = register
        .check_report_with(&mut show)
        .await
        .context("cannot read the register")?;
    println!("{report}");
    Ok(())
}
