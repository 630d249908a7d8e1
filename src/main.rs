//! The `registervakt` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc for the binary's allocations, Rust's and (its `override` feature) the C libraries'
/// such as SQLite: a request allocates and frees many small values, and glibc's malloc spent
/// more of the API path's and `audit verify`'s time on them (see `Cargo.toml`).
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
