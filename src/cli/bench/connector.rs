//! `registervakt bench connector`: how fast the register connector streams members compared
//! with the `sqlite3` shell reading the same rows from the same file.
//!
//! Guarantees: both sides read the same rows (the counts are asserted equal, and equal to
//! `Register::count`), the figures are best-of and median over interleaved runs, and the
//! report names the machine and the command so anyone can rerun it. Works only on a
//! synthetic register it creates itself (`<dir>/register-<members>.sqlite`); it must never be
//! pointed at a real register.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use secrecy::SecretString;
use time::Date;

use crate::audit::Actor;
use crate::config::RegisterConfig;
use crate::nouns::{DistrictCode, Field};
use crate::policy::{Decision, ExtractRequest, Grant, Policy, Principal, PurposeId};
use crate::register::{Filter, ProtectedIdentity, Register};
use crate::store::register_writer;
use crate::synthetic::{self, DEMO_TABLE, DISTRICTS};

/// The fields streamed: a mix of text, a date and a flag, like a typical call list.
const FIELDS: [Field; 8] = [
    Field::MemberId,
    Field::FirstName,
    Field::LastName,
    Field::Email,
    Field::Phone,
    Field::City,
    Field::BirthDate,
    Field::ConsentSms,
];
/// The synthetic register's seed; fixed so every run of the benchmark reads the same data.
const SEED: u64 = 20_260_101;
/// The filters use no age band, so the day only has to be fixed, not current.
pub(super) const TODAY: Date = time::macros::date!(2026 - 01 - 01);

/// Runs the benchmark and returns a markdown report.
pub async fn connector_benchmark(
    dir: &Path,
    members: u64,
    rows: u64,
    runs: u32,
) -> anyhow::Result<String> {
    let sqlite_version = sqlite3_version()?;
    let (db, created) = ensure_register(dir, members).await?;
    let register = Register::open(&register_config(&db)).await?;
    let (filter, expected) = choose_filter(&register, rows).await?;
    let sql = register.cli_statement(&filter, &FIELDS, ProtectedIdentity::Exclude, TODAY)?;
    let grant = grant_for(dir, &filter.district, expected).await?;

    let mut connector = Vec::new();
    let mut shell = Vec::new();
    for _ in 0..runs.max(1) {
        let (n, took) = stream_connector(&register, &grant, &filter).await?;
        check_count("the connector", n, expected)?;
        connector.push(took);
        let (n, took) = run_sqlite3(&db, &sql).await?;
        check_count("sqlite3", n, expected)?;
        shell.push(took);
    }
    Ok(report(&Report {
        members,
        rows,
        runs,
        db: &db,
        created,
        filter: &filter,
        matched: expected,
        sql: &sql,
        sqlite_version: &sqlite_version,
        connector: &connector,
        shell: &shell,
    }))
}

pub(super) fn register_config(db: &Path) -> RegisterConfig {
    register_config_at(&format!("sqlite:{}", db.display()), DEMO_TABLE)
}

/// The synthetic register's mapping on the database at `url`, in `table`.
pub(super) fn register_config_at(url: &str, table: &str) -> RegisterConfig {
    RegisterConfig {
        url: SecretString::from(url.to_owned()),
        table: table.to_owned(),
        columns: synthetic::demo_columns(),
        connect_timeout_secs: 10,
        max_connections: 2,
        statuses: Default::default(),
        limits: Default::default(),
    }
}

/// Reuses `<dir>/register-<members>.sqlite` or writes it (via a temporary name, so an
/// interrupted run never leaves a half-written file that a later run would trust).
pub(super) async fn ensure_register(
    dir: &Path,
    members: u64,
) -> anyhow::Result<(PathBuf, Option<Duration>)> {
    let db = dir.join(format!("register-{members}.sqlite"));
    if db.is_file() {
        return Ok((db, None));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let partial = dir.join(format!("register-{members}.sqlite.partial"));
    let _ = std::fs::remove_file(&partial);
    let started = Instant::now();
    let url = format!("sqlite:{}", partial.display());
    register_writer::write_register(&url, DEMO_TABLE, synthetic::generate(members, SEED)).await?;
    let took = started.elapsed();
    std::fs::rename(&partial, &db)
        .with_context(|| format!("cannot move the register to {}", db.display()))?;
    Ok((db, Some(took)))
}

/// Reuses the table `medlemmar_bench_<members>` of the PostgreSQL database at `url`, or
/// writes it with the same members as [`ensure_register`]'s file; returns the table's name.
pub(super) async fn ensure_postgres_register(url: &str, members: u64) -> anyhow::Result<String> {
    let table = format!("{DEMO_TABLE}_bench_{members}");
    match register_writer::postgres_row_count(url, &table).await? {
        Some(n) if n == members => return Ok(table),
        Some(_) => register_writer::drop_table(url, &table).await?,
        None => {}
    }
    register_writer::write_register(url, &table, synthetic::generate(members, SEED)).await?;
    Ok(table)
}

/// The district of [`ensure_one_district_register`]'s members.
pub(super) const ONE_DISTRICT: &str = "Uppsala";

/// A register of `members` members all in [`ONE_DISTRICT`], all active and none with a
/// protected identity (for the memory benchmark: one extract of exactly `members` rows), reused
/// between runs like [`ensure_register`].
pub(super) async fn ensure_one_district_register(
    dir: &Path,
    members: u64,
) -> anyhow::Result<PathBuf> {
    let db = dir.join(format!("register-{members}-one-district-active.sqlite"));
    if db.is_file() {
        return Ok(db);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let partial = dir.join(format!(
        "register-{members}-one-district-active.sqlite.partial"
    ));
    let _ = std::fs::remove_file(&partial);
    let url = format!("sqlite:{}", partial.display());
    let members = synthetic::generate(members, SEED).map(|mut m| {
        m.district = ONE_DISTRICT.to_owned();
        m.protected_identity = Some(false);
        "active".clone_into(&mut m.membership_status);
        m
    });
    register_writer::write_register(&url, DEMO_TABLE, members).await?;
    std::fs::rename(&partial, &db)
        .with_context(|| format!("cannot move the register to {}", db.display()))?;
    Ok(db)
}

/// Everyone in `district` whose status counts as a member: what a request for the district
/// that names no status gets (`extract::request`).
pub(super) fn members_of(register: &Register, district: DistrictCode) -> Filter {
    let mut f = Filter::district(district);
    if register.mapping().column(Field::MembershipStatus).is_some() {
        f.statuses = register.member_statuses().to_vec();
    }
    f
}

/// Picks one district and a set of its branches whose included count is closest to `target`.
/// The filter names the statuses that count as members ([`members_of`]), so its count is the
/// row count of the extract a request with that filter gets.
pub(super) async fn choose_filter(
    register: &Register,
    target: u64,
) -> anyhow::Result<(Filter, u64)> {
    let mut best: Option<(Filter, u64)> = None;
    for district in DISTRICTS {
        let code = DistrictCode::parse(district.name)?;
        let mut per_branch = Vec::new();
        for (branch, _, _) in district.branches {
            let mut f = members_of(register, code.clone());
            f.local_branches = vec![(*branch).to_owned()];
            let n = register
                .count(&f, ProtectedIdentity::Exclude, TODAY)
                .await?
                .included;
            per_branch.push(((*branch).to_owned(), n));
        }
        per_branch.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let mut filter = members_of(register, code);
        let mut total = 0;
        for (i, (branch, n)) in per_branch.iter().enumerate() {
            filter.local_branches.push(branch.clone());
            total += n;
            let mut candidate = filter.clone();
            if i + 1 == per_branch.len() {
                candidate.local_branches.clear(); // all branches: the plainest filter
            }
            if best
                .as_ref()
                .is_none_or(|(_, b)| total.abs_diff(target) < b.abs_diff(target))
            {
                best = Some((candidate, total));
            }
        }
    }
    best.ok_or_else(|| anyhow!("the synthetic register has no districts"))
}

/// A `Grant` for [`FIELDS`] in `district`, made as the policy makes one for a snapshot: member
/// data leaves the register only through a grant, so the benchmark measures that same path.
/// The policy is the shipped model and table with one purpose allowing `FIELDS`; a staff user
/// of `district` asks and, as the birth date is sensitive, two approvers approve — all in a
/// throwaway store under `dir`.
async fn grant_for(dir: &Path, district: &DistrictCode, rows: u64) -> anyhow::Result<Grant> {
    let root = dir.join("grant-store").join(crate::crypto::random_id128());
    std::fs::create_dir_all(&root)?;
    let store = crate::store::Store::open(&crate::store::Options {
        location: crate::config::StoreLocation::Sqlite(root.join("store.sqlite")),
        busy_timeout: Duration::from_secs(5),
        max_connections: 2,
        create: true,
    })
    .await?;
    store.migrate().await?;
    let now = time::OffsetDateTime::now_utc();
    let mut people = Vec::new();
    for (name, role) in [
        ("bench", "staff"),
        ("bench-a", "approver"),
        ("bench-b", "approver"),
    ] {
        let new = crate::auth::accounts::NewUser {
            username: crate::nouns::Username::parse(name)?,
            display_name: name.into(),
            roles: vec![format!("{role}:{district}").parse()?],
            email: None,
            oidc_provider: None,
        };
        let user = crate::auth::accounts::create_user(&store, Actor::cli(), new, 3600, now).await?;
        people.push(Principal::load(&store, &user.user_id).await?);
    }
    store.close().await;
    std::fs::remove_dir_all(&root)?;
    let texts = crate::policy::Texts::shipped();
    let purposes = super::extract::purposes_for("bench-connector", &FIELDS);
    let policy = Policy::from_parts(&texts.model, &texts.permissions, &purposes).await?;
    let request = ExtractRequest {
        purpose: PurposeId::parse("bench-connector")?,
        district: district.clone(),
        fields: FIELDS.to_vec(),
        lifetime_minutes: 60,
        estimated_rows: rows,
    };
    let (requester, approvers) = people.split_first().context("no benchmark users")?;
    let decided = match policy.decide(requester, &request, now).await {
        Decision::NeedsApproval { request_hash, .. } => {
            policy
                .grant_approved(requester, &request, &request_hash, approvers, now)
                .await
        }
        other => other,
    };
    match decided {
        Decision::Allow(grant) => Ok(grant),
        other => bail!("the benchmark's policy did not allow its own request: {other:?}"),
    }
}

/// Streams the rows through `Register::rows_for_grant` into CSV lines written to a counting
/// sink.
async fn stream_connector(
    register: &Register,
    grant: &Grant,
    filter: &Filter,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut stream = register.rows_for_grant(grant, filter, TODAY)?;
    let mut sink = CountingSink::default();
    let mut line = String::new();
    let mut n = 0u64;
    while let Some(row) = stream.next().await {
        line.clear();
        for (i, value) in row?.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_csv(&mut line, value.as_deref().unwrap_or(""));
        }
        line.push('\n');
        sink.write_all(line.as_bytes())?;
        n += 1;
    }
    Ok((n, started.elapsed()))
}

fn push_csv(line: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&value.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(value);
    }
}

/// `sqlite3 -readonly -csv <db> <sql>`, stdout read through a counting pipe; returns lines.
pub(super) async fn run_sqlite3(db: &Path, sql: &str) -> anyhow::Result<(u64, Duration)> {
    let mut cmd = Command::new("sqlite3");
    cmd.args(["-readonly", "-csv"]).arg(db).arg(sql);
    count_output_lines(cmd, "sqlite3").await
}

/// `psql <url> -c "COPY (<sql>) TO STDOUT WITH (FORMAT csv)"` — what `\copy … TO` does —
/// stdout read through a counting pipe; returns lines.
pub(super) async fn run_psql(url: &str, sql: &str) -> anyhow::Result<(u64, Duration)> {
    let mut cmd = Command::new("psql");
    let copy = format!(
        "COPY ({}) TO STDOUT WITH (FORMAT csv)",
        sql.replace('\n', " ")
    );
    cmd.arg(url)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(copy);
    count_output_lines(cmd, "psql").await
}

/// Runs `cmd`, counting the lines it writes to stdout; returns them and the time taken.
async fn count_output_lines(
    mut cmd: Command,
    name: &'static str,
) -> anyhow::Result<(u64, Duration)> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, Duration)> {
        let started = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("{name} gave no stdout"))?;
        let mut buf = vec![0u8; 1 << 16];
        let mut lines = 0u64;
        loop {
            let read = stdout.read(&mut buf)?;
            if read == 0 {
                break;
            }
            lines += buf[..read].iter().filter(|b| **b == b'\n').count() as u64;
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("{name} failed ({status})");
        }
        Ok((lines, started.elapsed()))
    })
    .await?
}

fn sqlite3_version() -> anyhow::Result<String> {
    match Command::new("sqlite3").arg("-version").output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            Ok(text
                .split_whitespace()
                .next()
                .unwrap_or("unknown")
                .to_owned())
        }
        _ => bail!(
            "the sqlite3 command-line shell is not installed (or not on PATH); install it \
             (e.g. `apt-get install sqlite3`) to compare the connector against it"
        ),
    }
}

pub(super) fn check_count(who: &str, got: u64, expected: u64) -> anyhow::Result<()> {
    if got != expected {
        bail!("{who} returned {got} rows but Register::count says {expected}");
    }
    Ok(())
}

/// Discards bytes, counting them, so the benchmark measures reading and formatting only.
#[derive(Default)]
struct CountingSink {
    bytes: u64,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Report<'a> {
    members: u64,
    rows: u64,
    runs: u32,
    db: &'a Path,
    created: Option<Duration>,
    filter: &'a Filter,
    matched: u64,
    sql: &'a str,
    sqlite_version: &'a str,
    connector: &'a [Duration],
    shell: &'a [Duration],
}

fn report(r: &Report<'_>) -> String {
    let (cb, cm) = best_and_median(r.connector);
    let (sb, sm) = best_and_median(r.shell);
    let per_sec = |d: Duration| r.matched as f64 / d.as_secs_f64().max(f64::EPSILON);
    let branches = if r.filter.local_branches.is_empty() {
        "all branches".to_owned()
    } else {
        r.filter.local_branches.join(", ")
    };
    let created = match r.created {
        Some(d) => format!("written now in {:.1} s", d.as_secs_f64()),
        None => "reused".to_owned(),
    };
    let mut out = String::new();
    out.push_str("## Register connector benchmark\n\n");
    out.push_str(&format!(
        "- machine: {} logical CPUs, {}\n",
        cpus(),
        cpu_model()
    ));
    out.push_str(&format!(
        "- command: `registervakt bench connector --dir {} --members {} --rows {} --runs {}`\n",
        r.db.parent()
            .map_or(".".into(), |p| p.display().to_string()),
        r.members,
        r.rows,
        r.runs
    ));
    out.push_str(&format!(
        "- register: `{}` ({} members, {created}), sqlite3 {}\n",
        r.db.display(),
        r.members,
        r.sqlite_version
    ));
    out.push_str(&format!(
        "- filter: district {} ({branches}), protected identity excluded; {} rows × {} fields\n\n",
        r.filter.district,
        r.matched,
        FIELDS.len()
    ));
    out.push_str("| reader | rows | best | median | rows/s (best) |\n|---|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| connector (`Register::rows` → CSV) | {} | {} | {} | {:.0} |\n",
        r.matched,
        ms(cb),
        ms(cm),
        per_sec(cb)
    ));
    out.push_str(&format!(
        "| `sqlite3 -readonly -csv` | {} | {} | {} | {:.0} |\n\n",
        r.matched,
        ms(sb),
        ms(sm),
        per_sec(sb)
    ));
    out.push_str(&format!(
        "Ratio connector / sqlite3: {:.2} (best), {:.2} (median).\n\nStatement (same for both):\n\n```sql\n{}\n```\n",
        cb.as_secs_f64() / sb.as_secs_f64().max(f64::EPSILON),
        cm.as_secs_f64() / sm.as_secs_f64().max(f64::EPSILON),
        r.sql
    ));
    out
}

pub(super) fn best_and_median(times: &[Duration]) -> (Duration, Duration) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let best = sorted.first().copied().unwrap_or_default();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    (best, median)
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

pub(super) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub(super) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_values_with_separators_are_quoted() {
        let mut line = String::new();
        push_csv(&mut line, "Storgatan 1, lgh 2");
        line.push(',');
        push_csv(&mut line, "plain");
        assert_eq!(line, "\"Storgatan 1, lgh 2\",plain");
    }

    #[test]
    fn the_median_of_an_even_count_takes_the_upper_middle() {
        let t = [3, 1, 4, 2].map(Duration::from_millis);
        assert_eq!(
            best_and_median(&t),
            (Duration::from_millis(1), Duration::from_millis(3))
        );
    }

    #[tokio::test]
    async fn the_benchmark_runs_end_to_end_on_a_small_register() {
        if sqlite3_version().is_err() {
            return; // nothing to compare against on this machine
        }
        let dir = tempfile::tempdir().unwrap();
        let report = connector_benchmark(dir.path(), 3_000, 300, 1)
            .await
            .unwrap();
        assert!(report.contains("| connector"), "{report}");
        assert!(report.contains("Ratio connector / sqlite3"), "{report}");
    }
}
