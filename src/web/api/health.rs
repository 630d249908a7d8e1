//! Liveness and readiness.
//!
//! `/healthz` answers 200 while the process runs. `/readyz` answers 200 only when the store
//! answers, the audit log accepts a write, the data dir is writable, one row of the register
//! can be read through the mapping (every mapped column: a revoked grant or a broken view
//! fails here as it would fail an extract), the policy can decide, the checkpoint sink can be
//! written and the clock reads no earlier than the newest audit entry; otherwise 503 with
//! which check failed (never why: causes are logged, not sent). It also says where checkpoints
//! go besides the store (`second_audit_sink`; `none` is reported, not failed). Every check gives up after
//! 3 s, so a hung dependency fails readiness instead of holding it. A load balancer takes a
//! broker that cannot audit out of rotation — fail closed.
//!
//! The same checks run in the background every [`REFRESH_EVERY`] from start
//! ([`refresh_in_background`]), so the `registervakt_ready` gauge and the per-check
//! `registervakt_readiness_check` gauges tell the truth without anyone calling `/readyz`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::web::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// Always `alive`.
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    pub checks: ReadinessChecks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// `ok` or `failing`.
    pub store: &'static str,
    pub audit: &'static str,
    pub data_dir: &'static str,
    pub register: &'static str,
    /// The access policy loaded; when failing, every request is denied.
    pub policy: &'static str,
    /// The checkpoint sink can be written (`off` when none is configured); when failing,
    /// nothing is released.
    pub checkpoints: &'static str,
    /// The clock reads no earlier than the newest audit entry (`audit::clock`); when
    /// failing, nothing is released until it catches up.
    pub clock: &'static str,
    /// Where signed checkpoints go besides the store: `checkpoint_file`, `syslog`, `both` or
    /// `none`. Information, not a check: `none` is allowed (the broker warned at start), but
    /// without a second sink a recomputed log cannot be told from the real one.
    pub second_audit_sink: &'static str,
}

/// Liveness. Public: no session needed.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is running", body = Liveness)))]
pub async fn healthz() -> Json<Liveness> {
    Json(Liveness {
        status: "alive",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: store, audit log, data dir, register, policy, checkpoints and clock. Public: no
/// session needed.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "A dependency is failing; nothing will be released", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (body, failures) = assess(&state).await;
    for (check, cause) in &failures {
        tracing::warn!(check, error = %cause, "readiness check failed");
    }
    let status = if body.status == READY {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

const READY: &str = "ready";

/// A check's name, and its failure's cause if it failed (for the log only: never sent).
type Outcome = (&'static str, Option<String>);
/// The failed checks' names and causes.
type Failures = Vec<(&'static str, String)>;

/// Runs every check at once, each bounded by [`CHECK_TIMEOUT`], and records the outcome in the
/// `registervakt_ready` and `registervakt_readiness_check` gauges.
async fn assess(state: &AppState) -> (Readiness, Failures) {
    let now = time::OffsetDateTime::now_utc();
    let (store, audit, data_dir, register, clock, policy) = tokio::join!(
        check("store", state.store.ping()),
        check("audit", state.store.check_audit_writable()),
        check("data_dir", probe_data_dir(state)),
        check("register", state.register.probe()),
        check("clock", crate::audit::clock::check(&state.store, now)),
        check("policy", usable_policy(state)),
    );
    let checkpoints = match &state.checkpoints {
        Some(sink) => Some(check("checkpoints", sink.probe()).await),
        None => None,
    };
    let word = |(_, failed): &Outcome| if failed.is_none() { "ok" } else { "failing" };
    let checks = ReadinessChecks {
        store: word(&store),
        audit: word(&audit),
        data_dir: word(&data_dir),
        register: word(&register),
        policy: word(&policy),
        clock: word(&clock),
        checkpoints: checkpoints.as_ref().map_or("off", word),
        second_audit_sink: second_audit_sink(&state.config.audit),
    };
    let mut outcomes = vec![store, audit, data_dir, register, policy, clock];
    outcomes.extend(checkpoints);
    let ready = outcomes.iter().all(|(_, failed)| failed.is_none());
    state.metrics.set_ready(ready);
    for (name, failed) in &outcomes {
        state.metrics.set_check(name, failed.is_none());
    }
    let body = Readiness {
        status: if ready { READY } else { "not_ready" },
        checks,
    };
    let failures = outcomes
        .into_iter()
        .filter_map(|(name, failed)| Some((name, failed?)))
        .collect();
    (body, failures)
}

/// Which second sinks the config names (see [`ReadinessChecks::second_audit_sink`]).
fn second_audit_sink(audit: &crate::config::AuditConfig) -> &'static str {
    match (audit.checkpoint_file.is_some(), audit.syslog.is_some()) {
        (true, true) => "both",
        (true, false) => "checkpoint_file",
        (false, true) => "syslog",
        (false, false) => "none",
    }
}

/// How often the background refresh runs the checks. Each run costs what one `/readyz` does
/// (on PostgreSQL the audit lock, taken and rolled back), so no more often than a balancer is
/// advised to probe.
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// Keeps readiness and its gauges fresh without anyone calling `/readyz`: the checks run at
/// once and then every [`REFRESH_EVERY`]. A change of readiness is logged once, with the
/// causes of what failed, rather than at every run. The task ends when the returned guard is
/// dropped.
pub fn refresh_in_background(state: AppState) -> Refresher {
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_ready = None;
        loop {
            tick.tick().await;
            let (body, failures) = assess(&state).await;
            let ready = body.status == READY;
            if was_ready != Some(ready) {
                if ready {
                    tracing::info!("ready: every readiness check passes");
                } else {
                    for (check, cause) in &failures {
                        tracing::warn!(check, error = %cause, "not ready: a readiness check fails");
                    }
                }
            }
            was_ready = Some(ready);
        }
    });
    Refresher(task.abort_handle())
}

/// Stops the background refresh when dropped.
#[derive(Debug)]
#[must_use = "the refresh stops when this is dropped"]
pub struct Refresher(tokio::task::AbortHandle);

impl Drop for Refresher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A check's name, and its failure's cause if it failed or did not answer in time.
async fn check<E: std::fmt::Display>(
    name: &'static str,
    fut: impl std::future::Future<Output = Result<(), E>>,
) -> Outcome {
    let failed = match tokio::time::timeout(CHECK_TIMEOUT, fut).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    (name, failed)
}

/// The policy in force parses and can decide (it is read from the store, so this is bounded
/// like the other checks: a hung store must not hold `/readyz`).
async fn usable_policy(state: &AppState) -> Result<(), String> {
    match state.policy.current(&state.store).await {
        Ok(c) if c.policy.is_usable() => Ok(()),
        Ok(_) => Err("the policy in force cannot decide; every request is denied".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes and removes a probe file of its own: the background refresh and any number of
/// `/readyz` calls may probe at once, and must not remove each other's file.
async fn probe_data_dir(state: &AppState) -> Result<(), std::io::Error> {
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = state
        .config
        .store
        .data_dir
        .join(format!(".ready-probe-{}-{n}", state.instance));
    tokio::fs::write(&probe, b"ready").await?;
    tokio::fs::remove_file(&probe).await
}

/// This area's routes: who may call each one and what it records in the audit log. The
/// router and its tests read them all from `web::route_table`.
pub(in crate::web) fn routes() -> Vec<crate::web::Entry> {
    use crate::web::Access::Public;
    use crate::web::Audited::NotAudited;
    use crate::web::entry;
    use axum::http::Method as M;
    use axum::routing::get;
    vec![
        entry(
            M::GET,
            "/healthz",
            Public,
            NotAudited("liveness: no data"),
            get(healthz),
        ),
        entry(
            M::GET,
            "/readyz",
            Public,
            NotAudited("readiness: start-up checks, no data"),
            get(readyz),
        ),
    ]
}
