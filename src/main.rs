//! The `registervakt` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc for the binary's Rust allocations: a request allocates and frees many small values,
/// and glibc's malloc spent more of the API path's time on them (see `Cargo.toml`).
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
