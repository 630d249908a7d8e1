//! `registervakt bench extract`: the whole extract path on a synthetic register — request to
//! live (count, policy, streamed read, keyed order, sealing, ledger, commit) and the CSV
//! download — against `sqlite3 -csv` of the same rows in the same run, plus the broker's peak
//! memory while building and downloading a large extract.
//!
//! Guarantees: the broker is a real one (`Application::build_with_listener` on a fresh data dir
//! inside `--dir`), the rows are the same for both sides (counts asserted), and the figures
//! come with the machine and the command. Synthetic registers only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt as _;
use time::OffsetDateTime;

use super::connector::{
    best_and_median, choose_filter, cpu_model, cpus, ensure_register, ms, register_config_at,
    run_sqlite3,
};
use crate::app::Application;
use crate::auth::accounts::{self, NewUser};
use crate::config::Config;
use crate::crypto::Keyring;
use crate::extract::deliver::{self, Body};
use crate::extract::request::{self, Filters, Request};
use crate::extract::{ExtractId, expire};
use crate::nouns::ExtractState;
use crate::nouns::Field;
use crate::nouns::Username;
use crate::policy::{Format, Principal, PurposeId};
use crate::register::{Filter, ProtectedIdentity, Register};
use crate::synthetic::DEMO_TABLE;
use crate::web::AppState;

/// The fields of the benchmark extract: eight, none sensitive, so no approver is needed.
const FIELDS: [Field; 8] = [
    Field::MemberId,
    Field::FirstName,
    Field::LastName,
    Field::Email,
    Field::Phone,
    Field::StreetAddress,
    Field::PostalCode,
    Field::City,
];

const PURPOSE: &str = "bench-extract";

/// A purpose catalogue with one purpose that allows a million rows without approval.
fn bench_purposes() -> String {
    purposes_for(PURPOSE, &FIELDS)
}

/// A catalogue with one purpose `id` allowing `fields`, up to two million rows without approval.
pub(super) fn purposes_for(id: &str, fields: &[Field]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| format!("\"{}\"", f.as_str()))
        .collect();
    format!(
        "[[purpose]]\nid = \"{id}\"\nname_sv = \"Mätning\"\nname_en = \"Benchmark\"\n\
         description_sv = \"Prestandamätning på syntetiska data.\"\n\
         description_en = \"Performance measurement on synthetic data.\"\n\
         allowed_fields = [{}]\nrequired_consents = []\nmax_rows = 2000000\n\
         max_lifetime_minutes = 60\nformats = [\"csv\"]\n\
         acknowledgement_sv = \"Syntetiska data.\"\nacknowledgement_en = \"Synthetic data.\"\n\n\
         [purpose.approval]\nauto_max_rows = 2000000\ntwo_approvers_min_rows = 2000001\n\
         sensitive_approvers = 2\n",
        fields.join(", ")
    )
}

/// A broker on `register_db`, with its own data dir, key file, policy and one staff user.
async fn broker(
    dir: &Path,
    source: &Source,
    district: &str,
    store_url: Option<&url::Url>,
) -> anyhow::Result<(AppState, Principal)> {
    let (app, _) = broker_app(dir, source, "", store_url).await?;
    let state = app.state().clone();
    let role: crate::nouns::RoleGrant = format!("staff:{district}").parse()?;
    let new = NewUser {
        username: Username::parse("bench")?,
        display_name: "Bench".into(),
        roles: vec![role],
        email: None,
        oidc_provider: None,
    };
    let invitation = accounts::create_user(
        &state.store,
        crate::audit::Actor::cli(),
        new,
        3600,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let principal = Principal::load(&state.store, &invitation.user_id).await?;
    Ok((state, principal))
}

/// A broker on `source` with its own data dir, key file and the benchmark's policy, on a
/// loopback listener it does not serve yet; its store is SQLite in the data dir, or the
/// PostgreSQL database `store_url`; `extra` is appended to its config file.
pub(super) async fn broker_app(
    dir: &Path,
    source: &Source,
    extra: &str,
    store_url: Option<&url::Url>,
) -> anyhow::Result<(Application, Config)> {
    let root = dir.join("brokers").join(crate::crypto::random_id128());
    let data = root.join("data");
    let policy = root.join("policy");
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&policy)?;
    let kek = root.join("kek.key");
    Keyring::generate_file(&kek)?;
    let texts = crate::policy::Texts::shipped();
    std::fs::write(policy.join(crate::policy::MODEL_FILE), texts.model)?;
    std::fs::write(
        policy.join(crate::policy::PERMISSIONS_FILE),
        texts.permissions,
    )?;
    std::fs::write(policy.join(crate::policy::PURPOSES_FILE), bench_purposes())?;
    let mut text = crate::cli::demo::config_text(&data, &kek, &source.url()).replacen(
        &format!("table = \"{DEMO_TABLE}\"\n"),
        &format!("table = {:?}\n", source.table()),
        1,
    );
    if let Some(url) = store_url {
        text = text.replacen(
            "[store]\n",
            &format!("[store]\nurl = {:?}\n", url.as_str()),
            1,
        );
    }
    text.push_str(&format!(
        "\n[policy]\ndir = {:?}\n{extra}",
        policy.display().to_string()
    ));
    let config = Config::from_toml(&text)?;
    crate::app::init_store(&config).await?.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = Application::build_with_listener(config.clone(), listener).await?;
    Ok((app, config))
}

pub(super) fn request_for(filter: &Filter) -> anyhow::Result<Request> {
    Ok(Request {
        purpose: PurposeId::parse(PURPOSE)?,
        district: filter.district.clone(),
        filters: Filters {
            local_branches: filter.local_branches.clone(),
            ..Filters::default()
        },
        fields: FIELDS.to_vec(),
        lifetime_minutes: 60,
        justification: "Prestandamätning på syntetiska data".into(),
    })
}

/// Request → live, timed by polling the store every 2 ms.
pub(super) async fn snapshot(
    state: &AppState,
    who: &Principal,
    filter: &Filter,
) -> anyhow::Result<(ExtractId, u64, Duration)> {
    let started = Instant::now();
    let created = request::create(
        state,
        who,
        request_for(filter)?,
        true,
        OffsetDateTime::now_utc(),
    )
    .await?;
    loop {
        let row = state
            .store
            .find_extract(created.id.as_str())
            .await?
            .context("the extract vanished")?;
        match row.state {
            ExtractState::Building => tokio::time::sleep(Duration::from_millis(2)).await,
            ExtractState::Live => {
                let rows = u64::try_from(row.row_count.unwrap_or(0)).unwrap_or(0);
                return Ok((created.id, rows, started.elapsed()));
            }
            other => bail!("the benchmark extract ended as {other}"),
        }
    }
}

/// The CSV download through the same code the HTTP handler streams; bytes counted.
async fn download(
    state: &AppState,
    who: &Principal,
    id: &ExtractId,
    keep: Option<&mut Vec<u8>>,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let file = deliver::download(
        state,
        who,
        id,
        Format::Csv,
        "bench",
        OffsetDateTime::now_utc(),
    )
    .await?;
    let mut bytes = 0u64;
    let mut keep = keep;
    match file.body {
        Body::Stream(mut s) => {
            while let Some(piece) = s.next().await {
                let piece = piece?;
                bytes += piece.len() as u64;
                if let Some(k) = keep.as_deref_mut() {
                    k.extend_from_slice(&piece);
                }
            }
        }
        Body::Whole(b) => {
            bytes = b.len() as u64;
            if let Some(k) = keep {
                k.extend_from_slice(&b);
            }
        }
    }
    Ok((bytes, started.elapsed()))
}

/// The auditor's side on the same store (E7): tracing a leaked copy of one of the runs'
/// extracts — two thirds of its rows, re-written as a spreadsheet would — by member number and
/// by names alone, and the breach scope of that extract and of the account's whole window.
/// Each must name the right extract; one timing each.
async fn oversight(
    state: &AppState,
    leaked: &ExtractId,
    csv: &[u8],
    window_start: OffsetDateTime,
) -> anyhow::Result<String> {
    use crate::oversight::breach::{self, Basis};
    use crate::oversight::trace::{self, Confidence};
    let table = crate::extract::format::read_csv(csv)?;
    let copy = |skip_columns: usize| -> Vec<u8> {
        let mut out = String::new();
        for (i, row) in table.iter().enumerate() {
            if i > 0 && i % 3 == 2 {
                continue;
            }
            let cells: Vec<&str> = row.iter().skip(skip_columns).map(String::as_str).collect();
            out.push_str(&cells.join(";"));
            out.push_str("\r\n");
        }
        out.into_bytes()
    };
    let actor = crate::audit::Actor::cli();
    let mut lines = String::from("\n| auditor's step (E7) | rows | time |\n|---|---:|---:|\n");
    for (label, file) in [
        ("trace: leaked copy, by member number", copy(0)),
        (
            "trace: leaked copy without the member-number column, by names",
            copy(1),
        ),
    ] {
        let started = Instant::now();
        let now = OffsetDateTime::now_utc();
        let read = trace::read_bytes(&state.pseudonyms, &file)?;
        let t = trace::trace_as(
            &state.store,
            &actor,
            &crate::policy::Reach::PartyWide,
            read,
            now,
        )
        .await?;
        let took = started.elapsed();
        let best = t.candidates.first().map(|c| c.described.row.id.clone());
        if best.as_deref() != Some(leaked.as_str()) || t.confidence != Confidence::High {
            bail!("the trace did not name the leaked extract with high confidence ({label})");
        }
        lines.push_str(&format!("| {label} | {} | {} |\n", t.rows, ms(took)));
    }
    let now = OffsetDateTime::now_utc();
    let bases = [
        ("breach scope: the extract", Basis::Extract(leaked.clone())),
        (
            "breach scope: the account's window (every run)",
            Basis::Account {
                username: "bench".into(),
                from: window_start,
                to: now,
            },
        ),
    ];
    for (label, basis) in bases {
        let started = Instant::now();
        let s = breach::scope_as(
            &state.store,
            &actor,
            &crate::policy::Reach::PartyWide,
            basis,
            now,
        )
        .await?;
        let took = started.elapsed();
        lines.push_str(&format!(
            "| {label} | {} members | {} |\n",
            s.members,
            ms(took)
        ));
    }
    Ok(lines)
}

/// Resident and peak memory of this process (kB), from /proc/self/status.
fn memory_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak (VmHWM) to the current RSS (Linux `clear_refs` value 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Where the benchmark's register lives, and the command-line dump that is its baseline.
pub(super) enum Source {
    /// A SQLite file; baseline `sqlite3 -readonly -csv`.
    Sqlite(PathBuf),
    /// A table of a PostgreSQL database; baseline `psql` with `COPY … TO STDOUT (CSV)`.
    Postgres { url: String, table: String },
}

impl Source {
    pub(super) fn url(&self) -> String {
        match self {
            Source::Sqlite(db) => format!("sqlite:{}", db.display()),
            Source::Postgres { url, .. } => url.clone(),
        }
    }

    pub(super) fn table(&self) -> &str {
        match self {
            Source::Sqlite(_) => DEMO_TABLE,
            Source::Postgres { table, .. } => table,
        }
    }

    fn baseline_name(&self) -> &'static str {
        match self {
            Source::Sqlite(_) => "`sqlite3 -readonly -csv`",
            Source::Postgres { .. } => "`psql -c \"COPY (…) TO STDOUT WITH (FORMAT csv)\"`",
        }
    }

    async fn baseline(&self, sql: &str) -> anyhow::Result<(u64, Duration)> {
        match self {
            Source::Sqlite(db) => run_sqlite3(db, sql).await,
            Source::Postgres { url, .. } => super::connector::run_psql(url, sql).await,
        }
    }
}

pub async fn extract_benchmark(
    dir: &Path,
    members: u64,
    rows: u64,
    runs: u32,
    memory_rows: u64,
    postgres: Option<&str>,
) -> anyhow::Result<String> {
    let _ = std::fs::remove_dir_all(dir.join("brokers"));
    let source = match postgres {
        None => Source::Sqlite(ensure_register(dir, members).await?.0),
        Some(url) => Source::Postgres {
            url: url.to_owned(),
            table: super::connector::ensure_postgres_register(url, members).await?,
        },
    };
    let store_url = match postgres {
        None => None,
        Some(url) => Some(crate::store::scratch::create(url).await?),
    };
    let result = measure(
        dir,
        &source,
        store_url.as_ref(),
        members,
        rows,
        runs,
        memory_rows,
    )
    .await;
    if let (Some(admin), Some(store)) = (postgres, &store_url) {
        crate::store::scratch::drop(admin, store.path().trim_start_matches('/')).await?;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    dir: &Path,
    source: &Source,
    store_url: Option<&url::Url>,
    members: u64,
    rows: u64,
    runs: u32,
    memory_rows: u64,
) -> anyhow::Result<String> {
    let register = Register::open(&register_config_at(&source.url(), source.table())).await?;
    let (filter, expected) = choose_filter(&register, rows).await?;
    let sql = register.cli_statement(
        &filter,
        &FIELDS,
        ProtectedIdentity::Exclude,
        super::connector::TODAY,
    )?;
    drop(register);
    let (state, who) = broker(dir, source, filter.district.as_str(), store_url).await?;
    let (mut snap, mut shell, mut down) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    let mut leaked = (None, Vec::new());
    let window_start = OffsetDateTime::now_utc();
    for run in 0..runs.max(1) {
        let (id, n, took) = snapshot(&state, &who, &filter).await?;
        super::connector::check_count("the snapshot", n, expected)?;
        snap.push(took);
        let keep = (run == runs.max(1) / 2).then_some(&mut leaked.1);
        if keep.is_some() {
            leaked.0 = Some(id.clone());
        }
        let (b, took) = download(&state, &who, &id, keep).await?;
        bytes = b;
        down.push(took);
        expire::shred(
            &state,
            &id,
            crate::extract::ShredReason::Done,
            &crate::audit::Actor::cli(),
            OffsetDateTime::now_utc(),
        )
        .await?;
        let (n, took) = source.baseline(&sql).await?;
        super::connector::check_count("the baseline", n, expected)?;
        shell.push(took);
    }
    let leaked_id = leaked.0.context("no extract was downloaded")?;
    let oversight = oversight(&state, &leaked_id, &leaked.1, window_start).await?;
    let memory = memory_run(dir, memory_rows).await?;
    let backend = match source {
        Source::Sqlite(_) => "SQLite register, SQLite store",
        Source::Postgres { .. } => "PostgreSQL register, PostgreSQL store",
    };
    let mut out = report(
        &Measured {
            members,
            rows,
            runs,
            matched: expected,
            bytes,
            backend,
            baseline: source.baseline_name(),
            postgres: store_url.is_some(),
        },
        &snap,
        &down,
        &shell,
        memory,
        &sql,
    );
    out.push_str(&oversight);
    Ok(out)
}

/// Builds and downloads a `rows`-row extract from a register where every member is in one
/// district; returns (idle RSS, peak RSS) in kB.
async fn memory_run(dir: &Path, rows: u64) -> anyhow::Result<(u64, u64, u64)> {
    let db = super::connector::ensure_one_district_register(dir, rows).await?;
    let register = Register::open(&super::connector::register_config(&db)).await?;
    let filter = Filter::district(crate::nouns::DistrictCode::parse(
        super::connector::ONE_DISTRICT,
    )?);
    let (state, who) = broker(
        dir,
        &Source::Sqlite(db),
        super::connector::ONE_DISTRICT,
        None,
    )
    .await?;
    let n = register
        .count(&filter, ProtectedIdentity::Exclude, super::connector::TODAY)
        .await?
        .included;
    drop(register);
    let (idle, _) = memory_kb();
    reset_peak();
    let (id, _, _) = snapshot(&state, &who, &filter).await?;
    download(&state, &who, &id, None).await?;
    let (_, peak) = memory_kb();
    Ok((n, idle, peak))
}

/// What a run measured, for the report's header.
struct Measured {
    members: u64,
    rows: u64,
    runs: u32,
    matched: u64,
    bytes: u64,
    backend: &'static str,
    baseline: &'static str,
    postgres: bool,
}

fn report(
    m: &Measured,
    snap: &[Duration],
    down: &[Duration],
    shell: &[Duration],
    (mem_rows, idle, peak): (u64, u64, u64),
    sql: &str,
) -> String {
    let Measured {
        members,
        rows,
        runs,
        matched,
        bytes,
        backend,
        baseline,
        postgres,
    } = *m;
    let (sb, sm) = best_and_median(snap);
    let (db, dm) = best_and_median(down);
    let (qb, qm) = best_and_median(shell);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON);
    let mut out = String::from("## Extract benchmark\n\n");
    out.push_str(&format!(
        "- machine: {} logical CPUs, {}\n",
        cpus(),
        cpu_model()
    ));
    let flag = if postgres { " --postgres URL" } else { "" };
    out.push_str(&format!(
        "- command: `registervakt bench extract --members {members} --rows {rows} --runs {runs} --memory-rows {mem_rows}{flag}`\n"
    ));
    out.push_str(&format!(
        "- {backend}; {matched} rows × {} fields, CSV {bytes} bytes\n\n",
        FIELDS.len()
    ));
    out.push_str("| step | best | median |\n|---|---:|---:|\n");
    out.push_str(&format!(
        "| snapshot: request → live | {} | {} |\n",
        ms(sb),
        ms(sm)
    ));
    out.push_str(&format!(
        "| download: CSV stream | {} | {} |\n",
        ms(db),
        ms(dm)
    ));
    out.push_str(&format!(
        "| {baseline} (baseline) | {} | {} |\n\n",
        ms(qb),
        ms(qm)
    ));
    out.push_str(&format!(
        "Ratio snapshot / baseline: {:.2} (best), {:.2} (median). Download / baseline: {:.2} (best).\n\n",
        ratio(sb, qb),
        ratio(sm, qm),
        ratio(db, qb)
    ));
    out.push_str(&format!(
        "Memory (SQLite), building and downloading a {mem_rows}-row extract: idle {} MiB, peak {} MiB, \
         peak above idle {} MiB.\n\nStatement:\n\n```sql\n{sql}\n```\n",
        idle / 1024,
        peak / 1024,
        peak.saturating_sub(idle) / 1024
    ));
    out
}
