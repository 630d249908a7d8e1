//! The `registervakt` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps the memory it was given for the next allocation of the same size instead of
/// returning it to the kernel between pages of rows (see `Cargo.toml`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
