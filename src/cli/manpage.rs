//! `registervakt manpage [--out-dir DIR]`: the manual, made by `clap_mangen` from the very
//! definitions the binary parses — registervakt(1), listing every command, and one page per
//! command (registervakt-serve(1), registervakt-keys-generate(1), …).
//!
//! registervakt(1) also has what clap does not know: SIGNALS (SIGTERM stops gracefully,
//! SIGHUP writes an audit checkpoint), FILES (the Debian package's paths), ENVIRONMENT and
//! EXIT STATUS. The Debian package ships the pages (`packaging/man/`, kept equal to this
//! command's output by `tests/it/packaging.rs`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _};
use clap_mangen::Man;

#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Write every page (registervakt.1 and one per command) into DIR instead of printing
    /// registervakt(1) on standard output.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// The sections of registervakt(1) after its commands (roff; written here, not generated).
const MAIN_PAGE_EXTRA: &str = r#".SH SIGNALS
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop: requests in flight get \fBserver.shutdown_grace_secs\fR to finish, then \fBsystem.stop\fR is recorded in the audit log and a final audit checkpoint is written.
.TP
\fBSIGHUP\fR
Write an audit checkpoint now (to \fBaudit.checkpoint_file\fR and \fBaudit.syslog\fR, whichever are set) and log one line. The broker keeps serving; the configuration and the key file are not read again (they are read at start only: restart to change them). A SIGHUP during the start\-up checks is ignored.
.SH FILES
.TP
\fI/etc/registervakt/registervakt.toml\fR
The configuration (the Debian package's; every key is described in it). Without \fB\-\-config\fR, \fI./registervakt.toml\fR is read.
.TP
\fI/etc/registervakt/keys/kek.key\fR
The key\-encryption key file (mode 0600, outside the data dir), made by \fBregistervakt keys generate\fR. Back it up separately: without it no extract, TOTP seed or checkpoint can be read.
.TP
\fI/var/lib/registervakt/\fR
The data dir: the SQLite store and the encrypted extracts.
.TP
\fI/var/log/registervakt/checkpoints.log\fR
Signed checkpoints of the audit log (\fBaudit.checkpoint_file\fR), the audit log's second sink.
.SH ENVIRONMENT
.TP
\fBREGISTERVAKT_\fR\fISECTION\fR\fB__\fR\fIKEY\fR
Overrides a configuration key, e.g. \fBREGISTERVAKT_SERVER__LISTEN=127.0.0.1:8080\fR or \fBREGISTERVAKT_REGISTER__URL\fR for a URL with a password.
.TP
\fBRUST_LOG\fR
Filters the log lines on standard error (default \fBinfo\fR).
.TP
\fBNOTIFY_SOCKET\fR, \fBWATCHDOG_USEC\fR
Set by systemd for a \fBType=notify\fR unit: \fBserve\fR sends READY=1 once its start\-up checks passed and it listens, and pings the watchdog while its runtime is healthy.
.SH "EXIT STATUS"
0 on success. On failure, one sentence on standard error starting with \fBregistervakt:\fR, and exit status 1.
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fBjournalctl\fR(1), and \fI/usr/share/doc/registervakt/\fR (operations.md).
"#;

pub fn run(args: &ManpageArgs) -> anyhow::Result<()> {
    match &args.out_dir {
        None => std::io::stdout()
            .write_all(&main_page()?)
            .context("cannot write the manual page to standard output"),
        Some(dir) => {
            for (name, page) in pages()? {
                let path = dir.join(&name);
                std::fs::write(&path, page)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(())
        }
    }
}

/// registervakt(1): clap's sections, then [`MAIN_PAGE_EXTRA`], then the version.
pub fn main_page() -> std::io::Result<Vec<u8>> {
    let man = Man::new(built());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.extend_from_slice(MAIN_PAGE_EXTRA.as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// Every page as (file name, roff): registervakt.1 first, then one per command, depth first.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut pages = vec![(format!("{}.1", super::BIN_NAME), main_page()?)];
    let root = built();
    for command in root.get_subcommands() {
        command_pages(command, &mut pages)?;
    }
    Ok(pages)
}

fn command_pages(
    command: &clap::Command,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    if command.is_hide_set() {
        return Ok(());
    }
    let man = Man::new(command.clone());
    let mut page = Vec::new();
    man.render(&mut page)?;
    pages.push((man.get_filename(), page));
    for sub in command.get_subcommands() {
        command_pages(sub, pages)?;
    }
    Ok(())
}

/// The command tree, built (so each command knows its full name, `registervakt-keys-generate`),
/// without clap's `help` command.
fn built() -> clap::Command {
    let mut command = super::Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_page_names_every_command_and_both_signals() {
        let page = String::from_utf8(main_page().unwrap()).unwrap();
        for command in super::super::Cli::command().get_subcommands() {
            assert!(
                page.contains(&format!("registervakt\\-{}", command.get_name())),
                "{} missing",
                command.get_name()
            );
        }
        assert!(
            page.contains(".SH SIGNALS") && page.contains("SIGHUP") && page.contains("SIGTERM")
        );
        assert!(page.contains(".SH VERSION"));
    }

    #[test]
    fn every_command_has_its_own_page() {
        let names: Vec<String> = pages().unwrap().into_iter().map(|(n, _)| n).collect();
        for name in [
            "registervakt.1",
            "registervakt-serve.1",
            "registervakt-keys-generate.1",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
        }
    }
}
