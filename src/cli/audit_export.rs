//! `registervakt audit export`: the whole audit log (or a time window) as JSON lines or CSV.
//!
//! Guarantees: the export is an `audit.export` event by `cli:<os user>`, committed before the
//! first byte is written; the log is streamed page by page; `--out` creates a new file with
//! mode 0600 and refuses to overwrite one. An operator holding the store needs no narrower
//! scope, so the command exports every entry in the window.

use std::io::Write;

use anyhow::{Context, bail};
use futures::StreamExt;
use time::OffsetDateTime;

use super::ops::{ExportArgs, open_existing_store};
use crate::oversight::export::Format;
use crate::oversight::timeline::{self, Window};

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let Some(format) = Format::parse(&args.format) else {
        bail!("--format is `jsonl` or `csv`");
    };
    let window = Window::parse(args.from.as_deref(), args.to.as_deref())?;
    let mut sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(new_private_file(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let store = open_existing_store(&args.store).await?;
    let result = async {
        let mut started =
            timeline::export_all(&store, format, window, OffsetDateTime::now_utc()).await?;
        while let Some(piece) = started.body.next().await {
            sink.write_all(&piece?).context("cannot write the export")?;
        }
        sink.flush().context("cannot write the export")?;
        Ok::<_, anyhow::Error>(started.through_seq)
    }
    .await;
    store.close().await;
    let through = result?;
    if let Some(path) = &args.out {
        eprintln!(
            "exported the audit log through entry {through} to {}",
            path.display()
        );
    }
    Ok(())
}

fn new_private_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))
}
