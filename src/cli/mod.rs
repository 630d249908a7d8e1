//! The command line: `serve`, `demo`, `init`, `keys`, `audit`, `register`, `report`,
//! `completions` and `manpage`, and `bench` in a build with the `bench` feature.
//!
//! Each command fails with one sentence and a non-zero exit; none prints a secret.

mod audit_export;
mod audit_trace;
#[cfg(feature = "bench")]
pub mod bench;
pub mod completions;
pub mod demo;
pub mod manpage;
mod ops;
mod policy;
mod report;
mod users;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

/// The binary's name, as the man pages and completion scripts call it.
pub const BIN_NAME: &str = "registervakt";

#[derive(Debug, Parser)]
#[command(
    name = "registervakt",
    version,
    about = "Access broker for a membership register"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the broker (production start). SIGTERM stops it gracefully; SIGHUP writes an
    /// audit checkpoint and changes nothing else.
    Serve {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Create a synthetic register, a store, keys and users, and serve them.
    Demo(demo::DemoArgs),
    /// Create and migrate the store named in the config (idempotent), and create the audit
    /// checkpoint file it names.
    Init {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Manage the key-encryption key file.
    #[command(subcommand)]
    Keys(ops::KeysCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(ops::AuditCommand),
    /// Check, show and explain the access policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Manage user accounts.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Inspect the membership register connection.
    #[command(subcommand)]
    Register(ops::RegisterCommand),
    /// The data protection officer's reports: activity, and the Art. 30 record of processing.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completions(completions::CompletionsArgs),
    /// Print the manual page registervakt(1), or write every page into a directory.
    Manpage(manpage::ManpageArgs),
    /// Measure performance against a baseline in the same run (see BENCHMARKS.md). Only in a
    /// build with `--features bench`.
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.command))
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config } => {
            // Before anything else: SIGHUP would otherwise end the process (app::hangup).
            crate::app::hangup::catch();
            let config = Config::load(config.as_deref())?;
            init_logging(config.server.log_format);
            serve(config).await
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Init { config } => ops::init(config.as_deref()).await,
        Command::Keys(cmd) => ops::keys(cmd),
        Command::Audit(cmd) => ops::audit(cmd).await,
        Command::Register(cmd) => ops::register(cmd).await,
        Command::User(cmd) => users::run(cmd).await,
        Command::Policy(cmd) => policy::run(cmd).await,
        Command::Report(cmd) => report::run(cmd).await,
        Command::Completions(args) => completions::run(&args),
        Command::Manpage(args) => manpage::run(&args),
        #[cfg(feature = "bench")]
        Command::Bench(cmd) => bench::run(cmd).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = crate::app::Application::build(config).await?;
    app.run_until_stopped(crate::app::shutdown_signal()).await?;
    Ok(())
}

/// Logs go to stderr; `RUST_LOG` filters (default `info`). Never called twice.
fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
