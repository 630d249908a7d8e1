//! The log lines the in-process brokers write, kept in memory for the leak scan.
//!
//! A test binary's brokers share one process, so the first broker installs one `tracing`
//! subscriber for all of them: the product's text format, at `info` and at `debug` for
//! Registervakt's own events and the HTTP trace layer (so what an operator sees with more
//! logging switched on is scanned too). Each registry scans the lines written since its
//! first broker started; lines of brokers that ran beside it are in that stretch as well,
//! which can only make the scan stricter.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Mutex, MutexGuard, Once};

const FILTER: &str = "info,registervakt=debug,tower_http=debug";

static LINES: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

fn lines() -> MutexGuard<'static, Vec<u8>> {
    LINES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lines().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber, once per test binary. If a test installed its own
/// first, nothing is captured (and [`len`] stays 0).
pub fn capture() {
    INSTALL.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(FILTER))
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init();
    });
}

/// Bytes captured so far.
pub fn len() -> usize {
    lines().len()
}

/// A copy of what was captured from byte `from` on.
pub fn since(from: usize) -> Vec<u8> {
    let all = lines();
    all.get(from..).unwrap_or_default().to_vec()
}
