//! Liveness and readiness.
//!
//! `/healthz` answers 200 while the process runs. `/readyz` answers 200 only when the store
//! answers, the audit log accepts a write, the data dir is writable, the register answers and
//! the clock reads no earlier than the newest audit entry; otherwise 503 with which check
//! failed (never why: causes are logged, not sent). Every check gives up after 3 s, so a hung
//! dependency fails readiness instead of holding it. A load balancer takes a broker that
//! cannot audit out of rotation — fail closed.

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
    let now = time::OffsetDateTime::now_utc();
    let (store, audit, data_dir, register, clock, policy) = tokio::join!(
        check("store", state.store.ping()),
        check("audit", state.store.check_audit_writable()),
        check("data_dir", probe_data_dir(&state)),
        check("register", state.register.ping()),
        check("clock", crate::audit::clock::check(&state.store, now)),
        check("policy", usable_policy(&state)),
    );
    let checkpoints = match &state.checkpoints {
        Some(sink) => Some(check("checkpoints", sink.probe()).await),
        None => None,
    };
    let ready =
        store && audit && data_dir && register && policy && clock && checkpoints != Some(false);
    state.metrics.set_ready(ready);
    let word = |ok: bool| if ok { "ok" } else { "failing" };
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        checks: ReadinessChecks {
            store: word(store),
            audit: word(audit),
            data_dir: word(data_dir),
            register: word(register),
            policy: word(policy),
            checkpoints: checkpoints.map_or("off", word),
            clock: word(clock),
        },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn check<E: std::fmt::Display>(
    name: &'static str,
    fut: impl std::future::Future<Output = Result<(), E>>,
) -> bool {
    match tokio::time::timeout(CHECK_TIMEOUT, fut).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(check = name, error = %e, "readiness check failed");
            false
        }
        Err(_) => {
            tracing::warn!(check = name, "readiness check timed out");
            false
        }
    }
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

async fn probe_data_dir(state: &AppState) -> Result<(), std::io::Error> {
    let probe = state
        .config
        .store
        .data_dir
        .join(format!(".ready-probe-{}", state.instance));
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
