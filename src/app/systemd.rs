//! Telling systemd how the broker is doing (`Type=notify`, sd_notify(3)) through the
//! `sd-notify` crate: no socket code of our own.
//!
//! Guarantees: `READY=1` is sent once per start, only after every start-up check passed, the
//! listener is bound and `system.start` is recorded, so `systemctl start` returns when the port
//! answers, and a broker whose checks failed never claims to be ready. `STOPPING=1` is sent when
//! a stop begins. With `WatchdogSec=` set (systemd passes `WATCHDOG_USEC`), `WATCHDOG=1` is sent
//! every half period, but only while the runtime is healthy: the pinging task is being
//! scheduled and the blocking pool (argon2, file writes, the checkpoint sink) runs a task within
//! a quarter period. A wedged runtime stops the pings and systemd restarts the broker.
//! A dependency that is down (store, register) does not stop the pings: the broker recovers
//! from that by itself, and `/readyz` reports it.
//!
//! Without `NOTIFY_SOCKET` (not started by systemd; the tests' in-process brokers) nothing is
//! sent. Must never: fail start-up or a request because systemd could not be told.

use std::time::Duration;

use sd_notify::NotifyState;

/// The shortest ping period honoured, whatever `WATCHDOG_USEC` says.
const MIN_PING_PERIOD: Duration = Duration::from_millis(10);

/// `READY=1`, with a status line naming the address.
pub fn ready(listen: &str) {
    let status = format!("serving on {listen}");
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// `STOPPING=1`: the broker is draining its requests and will stop.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "could not notify the service manager");
    }
}

/// Pings the watchdog every half period while the runtime is healthy, until aborted; returns
/// at once when the service manager asked for no watchdog.
pub async fn watchdog() {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (period / 2).max(MIN_PING_PERIOD);
    tracing::info!(period_ms = period.as_millis(), "systemd watchdog on");
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if blocking_pool_answers(every / 2).await {
            send(&[NotifyState::Watchdog]);
        } else {
            tracing::error!(
                within_ms = (every / 2).as_millis(),
                "the runtime's blocking pool did not run a task in time; the watchdog is not pinged"
            );
        }
    }
}

/// Whether a trivial task on the blocking pool finishes within `within`.
async fn blocking_pool_answers(within: Duration) -> bool {
    matches!(
        tokio::time::timeout(within, tokio::task::spawn_blocking(|| ())).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocking_pool_that_cannot_run_a_task_is_not_healthy() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        runtime.block_on(async {
            assert!(blocking_pool_answers(Duration::from_secs(5)).await);
            let (release, held) = std::sync::mpsc::channel::<()>();
            let busy = tokio::task::spawn_blocking(move || {
                let _ = held.recv();
            });
            assert!(!blocking_pool_answers(Duration::from_millis(200)).await);
            drop(release);
            busy.await.unwrap();
            assert!(blocking_pool_answers(Duration::from_secs(5)).await);
        });
    }
}
