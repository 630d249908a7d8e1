//! `registervakt demo`: one command from a fresh clone to a running broker on synthetic data.
//!
//! First run: creates `DIR/keys/kek.key` (0600), a synthetic SQLite register
//! `DIR/register.sqlite`, `DIR/registervakt.toml`, and the store in `DIR/data`. Later runs
//! reuse all of it. The config file is written last, so a run interrupted half-way is
//! redone from the start next time. Everything is synthetic: no real person is in it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::audit::{self, Event};
use crate::config::{Config, DEFAULT_FILE, LogFormat};
use crate::crypto::Keyring;
use crate::register::synthetic;
use crate::store::register_writer;

/// Same seed, same members: a newcomer and a test see the same register.
const DEMO_SEED: u64 = 2026;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Synthetic members to create on the first run.
    #[arg(long, default_value_t = 50_000)]
    members: u64,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Directory for everything the demo creates.
    #[arg(long, default_value = "registervakt-demo")]
    data_dir: PathBuf,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.members == 0 || args.members > 5_000_000 {
        anyhow::bail!("--members must be between 1 and 5000000");
    }
    super::init_logging(LogFormat::Text);
    create_private_dir(&args.data_dir)?;
    let dir = args
        .data_dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.data_dir.display()))?;
    let config_path = dir.join(DEFAULT_FILE);
    if !config_path.is_file() {
        set_up(&dir, args.members).await?;
    }
    let mut config = Config::load(Some(&config_path))?;
    config.server.listen = args.listen;
    config.validate()?;
    let app = crate::app::Application::build(config).await?;
    let addr = app.local_addr().context("listener has no address")?;
    // A closed stdout (a pipe whose reader went away) must not stop the demo: ignore write errors.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "Registervakt demo is serving on http://{addr}/");
    let _ = writeln!(out, "  data:   {}", dir.display());
    let _ = writeln!(
        out,
        "  verify: registervakt audit verify --data-dir {}",
        dir.display()
    );
    let _ = writeln!(out, "Press Ctrl-C to stop.");
    let _ = out.flush();
    app.run_until_stopped(crate::app::shutdown_signal()).await?;
    Ok(())
}

async fn set_up(dir: &Path, members: u64) -> anyhow::Result<()> {
    println!(
        "First run: creating a synthetic register of {members} members in {}",
        dir.display()
    );
    let data = dir.join("data");
    let keys = dir.join("keys");
    create_private_dir(&data)?;
    create_private_dir(&keys)?;
    let kek = keys.join("kek.key");
    if !kek.exists() {
        Keyring::generate_file(&kek)?;
    }
    let register = dir.join("register.sqlite");
    for stale in ["", "-wal", "-shm", "-journal"] {
        let p = PathBuf::from(format!("{}{stale}", register.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    let url = format!("sqlite:{}", register.display());
    register_writer::write_register(
        &url,
        synthetic::DEMO_TABLE,
        synthetic::generate(members, DEMO_SEED),
    )
    .await
    .context("cannot create the synthetic register")?;
    let text = config_text(&data, &kek, &url);
    let config = Config::from_toml(&text)?;
    let store = crate::app::init_store(&config).await?;
    audit::record_now(&store, &Event::demo_created(members)).await?;
    store.close().await;
    let tmp = dir.join(format!("{DEFAULT_FILE}.tmp"));
    std::fs::write(&tmp, text).context("cannot write the demo config")?;
    std::fs::rename(&tmp, dir.join(DEFAULT_FILE)).context("cannot write the demo config")?;
    Ok(())
}

/// The TOML of a SQLite-backed config over the synthetic register (the demo's, and the tests').
pub fn config_text(data: &Path, kek: &Path, register_url: &str) -> String {
    let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "# Written by `registervakt demo`. Synthetic data only.\n\n\
         [server]\nlisten = \"127.0.0.1:8080\"\n\n\
         [store]\ndata_dir = {}\n\n\
         [keys]\nkek_file = {}\n\n\
         [register]\nurl = {}\ntable = {}\n\n[register.columns]\n",
        q(&data.display().to_string()),
        q(&kek.display().to_string()),
        q(register_url),
        q(synthetic::DEMO_TABLE),
    );
    for (field, column) in synthetic::demo_columns() {
        text.push_str(&format!("{field} = {}\n", q(&column)));
    }
    text
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}
