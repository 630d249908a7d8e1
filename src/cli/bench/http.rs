//! `registervakt bench http`: the broker over HTTP, each figure against a baseline served by
//! the same process in the same run —
//!
//! - the CSV download of a 100 000-row extract (session, grant, download counter, release
//!   event, decryption) vs the same bytes served as a plain file by a bare axum route;
//! - authenticated, policy-checked, audited API requests per second (an approver's `GET
//!   /api/v1/extracts/{id}` of a staff member's extract, which records `extract.shown`) vs
//!   `GET /healthz`, both driven by `wrk` over the same number of connections.
//!
//! Guarantees: the broker is a real one on loopback (`Application::build_with_listener`, a
//! SQLite store in a fresh data dir inside `--dir`); the user is enrolled and signed in with a
//! password and a TOTP code through `auth::signin`; both downloads are checked to carry the
//! same number of bytes; every API response under load must be a 2xx, and the audit log must
//! have grown by at least as many entries as `wrk` counted requests. The session cookie goes to
//! `wrk` in a script file (mode 0600), never on a command line. Synthetic registers only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;

use super::connector::{
    best_and_median, check_count, choose_filter, cpu_model, cpus, ensure_register,
};
use super::extract::{Source, broker_app, snapshot};
use crate::auth::{session, signin, totp};
use crate::config::Config;
use crate::policy::Principal;
use crate::register::Register;
use crate::web::AppState;

/// What to load the broker with.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub members: u64,
    pub rows: u64,
    pub runs: u32,
    pub connections: u32,
    pub seconds: u32,
}

/// `wrk` runs per endpoint, alternating between the two.
const WRK_RUNS: usize = 2;

pub async fn http_benchmark(dir: &Path, load: Load) -> anyhow::Result<String> {
    if load.runs == 0 || load.runs > 50 {
        bail!("--runs must be between 1 and 50 (the extract allows 100 downloads)");
    }
    if load.connections == 0 || load.seconds == 0 {
        bail!("--connections and --seconds must be at least 1");
    }
    for tool in ["curl", "wrk"] {
        which(tool)?;
    }
    let _ = std::fs::remove_dir_all(dir.join("brokers"));
    let (db, _) = ensure_register(dir, load.members).await?;
    let register = Register::open(&super::connector::register_config(&db)).await?;
    let (filter, expected) = choose_filter(&register, load.rows).await?;
    drop(register);
    let source = Source::Sqlite(db);
    let (app, config) =
        broker_app(dir, &source, "\n[extracts]\nmax_downloads = 100\n", None).await?;
    let state = app.state().clone();
    let addr = app.local_addr()?;
    let district = filter.district.as_str();
    let (who, cookie) =
        enrolled_and_signed_in(&state, &config, "bench", &format!("staff:{district}")).await?;
    // The API load is an approver looking at the staff member's extract: a view of someone
    // else's extract is audited (`extract.shown`), one's own is not.
    let (_, approver_cookie) = enrolled_and_signed_in(
        &state,
        &config,
        "benchapprover",
        &format!("approver:{district}"),
    )
    .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let (id, n, _) = snapshot(&state, &who, &filter).await?;
    check_count("the snapshot", n, expected)?;
    let work = dir.join("brokers");
    let csv = work.join("download.csv");
    let (file_addr, file_server) = plain_file_server(csv.clone()).await?;
    let download_url = format!("http://{addr}/api/v1/extracts/{id}/download");
    let (mut down, mut plain, mut size) = (Vec::new(), Vec::new(), 0);
    for run in 0..load.runs {
        let out = if run == 0 {
            csv.as_path()
        } else {
            Path::new("/dev/null")
        };
        let (status, bytes, took) = curl(&[
            "-X",
            "POST",
            "-H",
            &format!("Cookie: {cookie}"),
            "-H",
            "Content-Type: application/json",
            "--data",
            "{\"format\":\"csv\"}",
            "-o",
            &out.display().to_string(),
            &download_url,
        ])
        .await?;
        if status != 200 {
            bail!("the download answered {status}");
        }
        if run == 0 {
            size = bytes;
        }
        down.push(took);
        let (status, bytes, took) = curl(&[
            "-o",
            "/dev/null",
            &format!("http://{file_addr}/download.csv"),
        ])
        .await?;
        if status != 200 || bytes != size {
            bail!("the plain file answered {status} with {bytes} bytes, not {size}");
        }
        plain.push(took);
    }

    let script = work.join("wrk-cookie.lua");
    crate::cli::demo::write_private(
        &script,
        &format!("wrk.headers[\"Cookie\"] = \"{approver_cookie}\"\n"),
    )?;
    let api_url = format!("http://{addr}/api/v1/extracts/{id}");
    let health_url = format!("http://{addr}/healthz");
    let (mut api, mut health) = (Vec::new(), Vec::new());
    for _ in 0..WRK_RUNS {
        health.push(wrk(&load, None, &health_url).await?);
        let before = head(&state).await?;
        let run = wrk(&load, Some(&script), &api_url).await?;
        let appended = head(&state).await? - before;
        if appended < run.requests {
            bail!(
                "wrk counted {} API requests but only {appended} audit entries were written",
                run.requests
            );
        }
        api.push(run);
    }
    let _ = stop.send(());
    server.await??;
    file_server.abort();
    Ok(report(&load, n, size, &down, &plain, &api, &health))
}

/// Enrols `username` with `role` and signs it in with its password and the current TOTP code,
/// as the login pages do; returns the principal and the `Cookie` header value.
async fn enrolled_and_signed_in(
    state: &AppState,
    config: &Config,
    username: &str,
    role: &str,
) -> anyhow::Result<(Principal, String)> {
    let user = crate::cli::demo::create_enrolled_user(
        &state.store,
        &state.keyring,
        config,
        username,
        username,
        &[role],
    )
    .await?;
    let row = state
        .store
        .find_user_by_username(username)
        .await?
        .context("the benchmark's user vanished")?;
    let client = signin::Client {
        ip: "127.0.0.1".into(),
    };
    let now = OffsetDateTime::now_utc();
    let password = SecretString::from(user.password.clone());
    let started = signin::with_password(
        &state.store,
        &state.pseudonyms,
        username,
        &password,
        &client,
        now,
    )
    .await?;
    let pending =
        session::authenticate(&state.store, &started.token, &config.sessions, now).await?;
    let seed = totp::Seed::from_base32(&user.secret_base32)?;
    let code = totp::Code::parse(&totp::code_at(&seed, totp::step_at(now.unix_timestamp())))?;
    let full = signin::with_totp(
        &state.store,
        &state.keyring,
        &pending,
        &code,
        signin::Purpose::SignIn,
        &client,
        now,
    )
    .await?;
    let cookie = format!(
        "{}={}",
        crate::web::session::cookie_name(state),
        full.token.expose_secret()
    );
    Ok((Principal::load(&state.store, &row.id).await?, cookie))
}

/// A bare axum route serving `path` as it is on disk (read per request): the baseline.
async fn plain_file_server(
    path: PathBuf,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse as _;
    let route = axum::routing::get(move || {
        let path = path.clone();
        async move {
            match tokio::fs::read(&path).await {
                Ok(bytes) => {
                    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response()
                }
                Err(_) => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let router = axum::Router::new().route("/download.csv", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((addr, handle))
}

/// Runs `curl -s` with `args`; returns the status, the bytes received and curl's own
/// `time_total` (start of the connection to the last byte).
async fn curl(args: &[&str]) -> anyhow::Result<(u16, u64, Duration)> {
    let out = tokio::process::Command::new("curl")
        .arg("-s")
        .args(["-w", "%{http_code} %{size_download} %{time_total}"])
        .args(args)
        .output()
        .await
        .context("cannot run curl")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let parse = || anyhow::anyhow!("curl printed something unexpected: {text}");
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(parse)?;
    let bytes = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(parse)?;
    let secs: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(parse)?;
    Ok((status, bytes, Duration::from_secs_f64(secs)))
}

/// What one `wrk` run counted.
#[derive(Debug, Clone, Copy)]
struct WrkRun {
    requests: i64,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn wrk(load: &Load, script: Option<&Path>, url: &str) -> anyhow::Result<WrkRun> {
    let mut cmd = tokio::process::Command::new("wrk");
    cmd.args([
        "-t2".to_owned(),
        format!("-c{}", load.connections),
        format!("-d{}s", load.seconds),
        "--latency".to_owned(),
        "--timeout".to_owned(),
        "10s".to_owned(),
    ]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().await.context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx")) {
        bail!(
            "under load the broker did not answer every request with a 2xx: {}",
            line.trim()
        );
    }
    if let Some(line) = text.lines().find(|l| l.contains("Socket errors")) {
        bail!(
            "under load some requests got no answer within 10 s: {}",
            line.trim()
        );
    }
    let field = |prefix: &str| {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .map(str::trim)
                .map(str::to_owned)
        })
    };
    let per_sec: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("wrk printed no requests per second: {text}"))?;
    let requests: i64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("wrk printed no request count: {text}"))?;
    let latency = |p: &str| field(p).map_or(f64::NAN, |v| wrk_ms(&v));
    Ok(WrkRun {
        requests,
        per_sec,
        p50_ms: latency("50%"),
        p99_ms: latency("99%"),
    })
}

/// `wrk`'s latency text (`812.00us`, `3.41ms`, `1.20s`) in milliseconds.
fn wrk_ms(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => f64::NAN,
    }
}

async fn head(state: &AppState) -> anyhow::Result<i64> {
    Ok(state
        .store
        .find_audit_head()
        .await?
        .map_or(0, |(seq, _)| seq))
}

fn which(tool: &str) -> anyhow::Result<()> {
    match std::process::Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(_) => bail!("`{tool}` is needed for this benchmark (Debian: apt-get install {tool})"),
    }
}

fn report(
    load: &Load,
    rows: u64,
    size: u64,
    down: &[Duration],
    plain: &[Duration],
    api: &[WrkRun],
    health: &[WrkRun],
) -> String {
    let ms = super::connector::ms;
    let (db, dm) = best_and_median(down);
    let (pb, pm) = best_and_median(plain);
    let best = |runs: &[WrkRun]| {
        runs.iter()
            .copied()
            .max_by(|a, b| a.per_sec.total_cmp(&b.per_sec))
            .unwrap_or(WrkRun {
                requests: 0,
                per_sec: 0.0,
                p50_ms: f64::NAN,
                p99_ms: f64::NAN,
            })
    };
    let (a, h) = (best(api), best(health));
    let ratio = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64().max(f64::EPSILON);
    let Load {
        members,
        rows: asked,
        runs,
        connections,
        seconds,
    } = *load;
    let mut out = String::from("## HTTP benchmark\n\n");
    out.push_str(&format!(
        "- machine: {} logical CPUs, {}\n",
        cpus(),
        cpu_model()
    ));
    out.push_str(&format!(
        "- command: `registervakt bench http --members {members} --rows {asked} --runs {runs} \
         --connections {connections} --seconds {seconds}`\n"
    ));
    out.push_str(&format!(
        "- extract: {rows} rows, CSV {size} bytes; clients: curl and wrk\n\n"
    ));
    out.push_str("| download | best | median |\n|---|---:|---:|\n");
    out.push_str(&format!(
        "| `POST /api/v1/extracts/{{id}}/download` (CSV) | {} | {} |\n",
        ms(db),
        ms(dm)
    ));
    out.push_str(&format!(
        "| the same bytes as a plain file (baseline) | {} | {} |\n\n",
        ms(pb),
        ms(pm)
    ));
    out.push_str(&format!(
        "Ratio download / plain file: {:.2} (best), {:.2} (median).\n\n",
        ratio(db, pb),
        ratio(dm, pm)
    ));
    out.push_str(&format!(
        "| requests at {connections} connections, {seconds} s, best of {WRK_RUNS} | req/s | p50 | p99 |\n|---|---:|---:|---:|\n"
    ));
    out.push_str(&format!(
        "| approver's `GET /api/v1/extracts/{{id}}` (session, grant, `extract.shown` event) | {:.0} | {:.2} ms | {:.2} ms |\n",
        a.per_sec, a.p50_ms, a.p99_ms
    ));
    out.push_str(&format!(
        "| `GET /healthz` (baseline) | {:.0} | {:.2} ms | {:.2} ms |\n\n",
        h.per_sec, h.p50_ms, h.p99_ms
    ));
    out.push_str(&format!(
        "Ratio API / healthz: {:.3}.\n",
        a.per_sec / h.per_sec.max(f64::EPSILON)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::wrk_ms;

    #[test]
    fn wrk_latencies_are_read_in_milliseconds() {
        assert!((wrk_ms("812.00us") - 0.812).abs() < 1e-9);
        assert!((wrk_ms("3.41ms") - 3.41).abs() < 1e-9);
        assert!((wrk_ms("1.20s") - 1200.0).abs() < 1e-9);
        assert!(wrk_ms("fast").is_nan());
    }
}
