//! `registervakt bench extract`: the whole extract path on a synthetic register — request to
//! live (count, policy, streamed read, keyed order, sealing, ledger, commit) and the CSV
//! download — against `sqlite3 -csv` of the same rows in the same run, plus the broker's peak
//! memory while building and downloading a large extract, the bytes the process wrote during
//! each snapshot, the auditor's trace and breach scope (`oversight`) and, with
//! `--aged-ledger-rows`, a small extract on a fresh and on an aged store (`aged`).
//!
//! Guarantees: the broker is a real one (`Application::build_with_listener` on a fresh data dir
//! inside `--dir`), the rows are the same for both sides (counts asserted), and the figures
//! come with the machine and the command. The report is printed whole even when a step fails
//! or is refused: that step is named with its reason in place of its figures; a failed step
//! or a wrong answer then fails the benchmark, a trace the broker refuses (a file over its
//! size limit) does not. Synthetic registers only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt as _;
use time::OffsetDateTime;

use super::connector::{choose_filter, ensure_register, register_config_at, run_sqlite3};
use super::extract_report::{Measured, report};
use super::machine::{Written, measure_written};
use super::{aged, oversight};
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
pub(super) const FIELDS: [Field; 8] = [
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
    let principal = staff_user(&state, "bench", district).await?;
    Ok((state, principal))
}

/// A new staff user `username` of `district`, as `registervakt user add` makes one.
pub(super) async fn staff_user(
    state: &AppState,
    username: &str,
    district: &str,
) -> anyhow::Result<Principal> {
    let role: crate::nouns::RoleGrant = format!("staff:{district}").parse()?;
    let new = NewUser {
        username: Username::parse(username)?,
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
    Ok(Principal::load(&state.store, &invitation.user_id).await?)
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
    broker_app_at(&root, source, extra, store_url).await
}

/// [`broker_app`] in `root`; a broker that was there before (its key file, store and audit
/// checkpoints) is reopened, its store brought to this build's schema.
pub(super) async fn broker_app_at(
    root: &Path,
    source: &Source,
    extra: &str,
    store_url: Option<&url::Url>,
) -> anyhow::Result<(Application, Config)> {
    let data = root.join("data");
    let policy = root.join("policy");
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&policy)?;
    let kek = root.join("kek.key");
    if !kek.is_file() {
        Keyring::generate_file(&kek)?;
    }
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
            statuses: filter.statuses.clone(),
            joined_from: filter.joined_from,
            joined_to: filter.joined_to,
            ..Filters::default()
        },
        fields: FIELDS.to_vec(),
        lifetime_minutes: 60,
        justification: "Prestandamätning på syntetiska data".into(),
        call_list: false,
        processor: None,
        from_call_list: None,
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

/// What `bench extract` is asked to measure.
#[derive(Debug, Clone)]
pub struct Settings {
    pub members: u64,
    pub rows: u64,
    pub runs: u32,
    /// Rows of the extract whose peak memory is measured.
    pub memory_rows: u64,
    /// The PostgreSQL server for the register and a scratch store, if not SQLite.
    pub postgres: Option<String>,
    /// Also compare a small extract on a fresh store and on one whose ledger holds this many
    /// rows (SQLite only; see `aged`).
    pub aged_ledger_rows: Option<u64>,
}

/// The report, and the steps that failed or answered wrongly: the benchmark prints the report
/// whole, then fails if there are any.
pub struct Finished {
    pub report: String,
    pub failed: Vec<String>,
}

pub async fn extract_benchmark(dir: &Path, settings: &Settings) -> anyhow::Result<Finished> {
    if settings.aged_ledger_rows.is_some() && settings.postgres.is_some() {
        bail!("--aged-ledger-rows ages a SQLite store only; leave out --postgres");
    }
    let postgres = settings.postgres.as_deref();
    let _ = std::fs::remove_dir_all(dir.join("brokers"));
    let source = match postgres {
        None => Source::Sqlite(ensure_register(dir, settings.members).await?.0),
        Some(url) => Source::Postgres {
            url: url.to_owned(),
            table: super::connector::ensure_postgres_register(url, settings.members).await?,
        },
    };
    let store_url = match postgres {
        None => None,
        Some(url) => Some(crate::store::scratch::create(url).await?),
    };
    let result = measure(dir, &source, store_url.as_ref(), settings).await;
    if let (Some(admin), Some(store)) = (postgres, &store_url) {
        crate::store::scratch::drop(admin, store.path().trim_start_matches('/')).await?;
    }
    result
}

/// One benchmark extract: where it is built, by whom, and what it must hold.
struct Case<'a> {
    state: &'a AppState,
    who: &'a Principal,
    filter: &'a Filter,
    expected: u64,
    source: &'a Source,
    sql: &'a str,
}

/// The interleaved runs' figures, and the failure that stopped them early, if one did.
#[derive(Default)]
pub(super) struct Runs {
    pub snap: Vec<Duration>,
    pub down: Vec<Duration>,
    pub shell: Vec<Duration>,
    /// Bytes the process wrote during each snapshot.
    pub written: Vec<Option<Written>>,
    pub bytes: u64,
    /// The extract whose download the auditor's steps treat as leaked, and that download.
    pub leaked: Option<(ExtractId, Vec<u8>)>,
    pub stopped: Option<String>,
}

async fn extract_runs(case: &Case<'_>, runs: u32) -> Runs {
    let mut r = Runs::default();
    for run in 0..runs {
        if let Err(e) = one_run(case, &mut r, run == runs / 2).await {
            r.stopped = Some(format!("run {} of {runs} failed: {e:#}", run + 1));
            break;
        }
    }
    r
}

/// Snapshot (bytes written counted), download (kept if `keep`), shred, then the baseline.
async fn one_run(case: &Case<'_>, r: &mut Runs, keep: bool) -> anyhow::Result<()> {
    let (built, written) = measure_written(snapshot(case.state, case.who, case.filter)).await;
    let (id, n, took) = built?;
    super::connector::check_count("the snapshot", n, case.expected)?;
    r.snap.push(took);
    r.written.push(written);
    let mut kept = Vec::new();
    let (bytes, took) = download(case.state, case.who, &id, keep.then_some(&mut kept)).await?;
    if keep {
        r.leaked = Some((id.clone(), kept));
    }
    r.bytes = bytes;
    r.down.push(took);
    expire::shred(
        case.state,
        &id,
        crate::extract::ShredReason::Done,
        &crate::audit::Actor::cli(),
        OffsetDateTime::now_utc(),
    )
    .await?;
    super::machine::settle().await;
    let (n, took) = case.source.baseline(case.sql).await?;
    super::connector::check_count("the baseline", n, case.expected)?;
    r.shell.push(took);
    Ok(())
}

async fn measure(
    dir: &Path,
    source: &Source,
    store_url: Option<&url::Url>,
    settings: &Settings,
) -> anyhow::Result<Finished> {
    let register = Register::open(&register_config_at(&source.url(), source.table())).await?;
    let (filter, expected) = choose_filter(&register, settings.rows).await?;
    let sql = register.cli_statement(
        &filter,
        &FIELDS,
        ProtectedIdentity::Exclude,
        super::connector::TODAY,
    )?;
    drop(register);
    let (state, who) = broker(dir, source, filter.district.as_str(), store_url).await?;
    let window_start = OffsetDateTime::now_utc();
    let case = Case {
        state: &state,
        who: &who,
        filter: &filter,
        expected,
        source,
        sql: &sql,
    };
    let mut runs = extract_runs(&case, settings.runs.max(1)).await;
    let mut failed: Vec<String> = runs.stopped.iter().cloned().collect();
    let checked = match runs.leaked.take() {
        Some((id, csv)) => oversight::oversight(&state, &id, &csv, window_start).await,
        None => oversight::Checked::skipped("no run got as far as its download"),
    };
    failed.extend(checked.failed.iter().cloned());
    // Before the aged comparison, which leaves this process's heap larger (idle is measured
    // first, but a larger heap hides the peak).
    let memory = memory_run(dir, settings.memory_rows).await;
    if let Err(e) = &memory {
        failed.push(format!("the memory run failed: {e:#}"));
    }
    let aged = match (settings.aged_ledger_rows, source) {
        (Some(target), Source::Sqlite(db)) => Some(
            aged::compare(dir, db, settings.members, target, settings.runs)
                .await
                .unwrap_or_else(|e| {
                    failed.push(format!("the aged-store comparison failed: {e:#}"));
                    format!("\n### Aged store\n\nThe comparison failed: {e:#}\n")
                }),
        ),
        _ => None,
    };
    let backend = match source {
        Source::Sqlite(_) => "SQLite register, SQLite store",
        Source::Postgres { .. } => "PostgreSQL register, PostgreSQL store",
    };
    let mut out = report(
        &Measured {
            settings,
            matched: expected,
            backend,
            baseline: source.baseline_name(),
        },
        &runs,
        &memory,
        &sql,
    );
    out.push_str(&checked.lines);
    out.push_str(aged.as_deref().unwrap_or(""));
    Ok(Finished {
        report: out,
        failed,
    })
}

/// Builds and downloads a `rows`-row extract from a register where every member is in one
/// district; returns (idle RSS, peak RSS) in kB.
async fn memory_run(dir: &Path, rows: u64) -> anyhow::Result<(u64, u64, u64)> {
    let db = super::connector::ensure_one_district_register(dir, rows).await?;
    let register = Register::open(&super::connector::register_config(&db)).await?;
    let filter = super::connector::members_of(
        &register,
        crate::nouns::DistrictCode::parse(super::connector::ONE_DISTRICT)?,
    );
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
    let (idle, _) = super::memory::memory_kb();
    super::memory::reset_peak();
    let (id, _, _) = snapshot(&state, &who, &filter).await?;
    download(&state, &who, &id, None).await?;
    let (_, peak) = super::memory::memory_kb();
    Ok((n, idle, peak))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_report_has_every_step_and_a_later_run_reuses_the_aged_store() {
        if std::process::Command::new("sqlite3")
            .arg("-version")
            .output()
            .is_err()
        {
            return; // nothing to compare against on this machine
        }
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            members: 3_000,
            rows: 300,
            runs: 1,
            memory_rows: 200,
            postgres: None,
            aged_ledger_rows: Some(1_000),
        };
        let done = extract_benchmark(dir.path(), &settings).await.unwrap();
        assert!(done.failed.is_empty(), "{:?}\n{}", done.failed, done.report);
        for part in [
            "| snapshot: request → live |",
            "Written by the process during one snapshot",
            "| trace: leaked copy, by member number |",
            "(aged now;",
            "Ratio aged / fresh",
        ] {
            assert!(done.report.contains(part), "{part}\n{}", done.report);
        }
        let again = extract_benchmark(dir.path(), &settings).await.unwrap();
        assert!(again.report.contains("(reused;"), "{}", again.report);
    }
}
