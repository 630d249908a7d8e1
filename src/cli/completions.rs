//! `registervakt completions SHELL`: the completion script for bash, zsh, fish, elvish or
//! PowerShell on standard output, made by `clap_complete` from the very definitions the
//! binary parses, so it offers exactly the commands and options there are.
//!
//! The Debian package ships the bash, zsh and fish scripts (`packaging/completions/`, kept
//! equal to this command's output by `tests/it/packaging.rs`).

use std::io::Write as _;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    std::io::stdout()
        .write_all(&script(args.shell))
        .context("cannot write the completion script to standard output")
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut command = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, super::BIN_NAME, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_zsh_and_fish_scripts_name_every_command() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = String::from_utf8(script(shell)).unwrap();
            for command in super::super::Cli::command().get_subcommands() {
                assert!(
                    text.contains(command.get_name()),
                    "{shell}: {} missing",
                    command.get_name()
                );
            }
        }
    }
}
