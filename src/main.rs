//! The `registervakt` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = registervakt::cli::Cli::parse();
    match registervakt::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One sentence (with its causes), no backtrace: this is what an operator reads.
            eprintln!("registervakt: {e:#}");
            ExitCode::FAILURE
        }
    }
}
