//! SIGHUP: write an audit checkpoint now, log one line, keep serving.
//!
//! SIGHUP's default action ends the process with no `system.stop` and no final checkpoint, and
//! it is what a closing terminal sends a broker run in the foreground. So the broker catches it
//! from the start of `serve` (one during the start-up checks is ignored), and once serving
//! answers each one by signing a checkpoint of the audit log and appending it to the second
//! sinks (`audit.checkpoint_file`, `audit.syslog`) — what an operator wants before a backup or
//! a handover. It does not re-read the configuration or the key file: those are read at start
//! only (`app` header), so a changed config needs a restart, never a signal.
//!
//! Guarantees: a SIGHUP never stops the broker; each one gives exactly one log line (the
//! checkpoint's entry count, the failure, or that no second sink is configured).

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::web::AppState;

/// Replaces SIGHUP's default action (end the process) for the rest of the process's life.
/// Called first thing by `registervakt serve`, before the start-up checks.
pub fn catch() {
    if let Err(e) = listen() {
        tracing::warn!(error = %e, "cannot catch SIGHUP; it would stop the broker");
    }
}

fn listen() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

/// Answers every SIGHUP with a checkpoint, until aborted.
pub async fn answer(state: AppState) {
    let mut hangups = match listen() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot catch SIGHUP; it would stop the broker");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        if state.checkpoints.is_none() && state.syslog.is_none() {
            tracing::warn!(
                "SIGHUP: no checkpoint written, there is no second audit sink (set audit.checkpoint_file); still serving"
            );
            continue;
        }
        match super::checkpoint_now(&state, time::OffsetDateTime::now_utc()).await {
            Ok(c) => tracing::info!(
                entries = c.entries,
                "SIGHUP: audit checkpoint written; still serving"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "SIGHUP: the audit checkpoint failed; still serving"
            ),
        }
    }
}
