//! `bench extract --aged-ledger-rows N`: does building an extract get slower as the store ages?
//! A small extract (about [`SMALL_ROWS`] rows) is built on a fresh store and on an *aged* one —
//! a store whose disclosure ledger already holds at least N rows — in the same run, the two
//! interleaved, several times each after one untimed build on each; the report gives best and
//! median of each, the ratio aged / fresh, and the bytes the process wrote during each build
//! (`/proc/self/io`).
//!
//! Guarantees: the store is aged honestly, by real extracts built through the path every
//! extract takes (request, policy decision, snapshot, ledger, commit; then shredded as a
//! finished extract is, which keeps its ledger rows), about [`AGEING_ROWS`] rows each, from the
//! benchmark's synthetic register. The aged broker (store, key file, policy, audit checkpoints)
//! is kept in `<dir>/aged-store-<members>` and reused by later runs, so it is aged once; a newer
//! build migrates its schema as it would a party's store. How many ledger rows it holds is
//! counted as its extracts are built and kept beside it (`ledger-rows`), updated after each
//! extract, so an interrupted ageing resumes. SQLite store and register only.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use time::{Date, OffsetDateTime};

use super::connector::{best_and_median, check_count, choose_filter, ms, register_config};
use super::extract::{Source, broker_app_at, snapshot, staff_user};
use super::machine::{Written, measure_written, settle, written_summary};
use crate::config::SQLITE_STORE_FILE;
use crate::extract::{ExtractId, ShredReason, expire};
use crate::policy::Principal;
use crate::register::{Filter, ProtectedIdentity, Register};
use crate::web::AppState;

/// The size of the extract compared on the fresh and the aged store.
const SMALL_ROWS: u64 = 5_000;
/// The size of each extract that ages the store.
const AGEING_ROWS: u64 = 100_000;
/// The file beside the aged broker that counts its ledger rows.
const LEDGER_ROWS_FILE: &str = "ledger-rows";

/// What the aged store holds, as counted while it was aged.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Age {
    ledger_rows: u64,
    extracts: u64,
    ageing: Duration,
}

impl Age {
    fn parse(text: &str) -> Age {
        let field = |name: &str| -> u64 {
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0)
        };
        Age {
            ledger_rows: field("ledger_rows"),
            extracts: field("extracts"),
            ageing: Duration::from_millis(field("ageing_ms")),
        }
    }

    fn render(&self) -> String {
        format!(
            "ledger_rows {}\nextracts {}\nageing_ms {}\n",
            self.ledger_rows,
            self.extracts,
            self.ageing.as_millis()
        )
    }
}

/// One side of the comparison: a broker, its staff user, and what each build took and wrote.
struct Side {
    state: AppState,
    who: Principal,
    times: Vec<Duration>,
    written: Vec<Option<Written>>,
}

impl Side {
    /// A broker on `source` in `root` (an existing broker is reopened), with a new staff user
    /// of `district`.
    async fn open(root: &Path, source: &Source, district: &str) -> anyhow::Result<Side> {
        let (app, _) = broker_app_at(root, source, "", None).await?;
        let state = app.state().clone();
        let username = format!("bench-{}", crate::crypto::random_id128());
        let who = staff_user(&state, &username, district).await?;
        Ok(Side {
            state,
            who,
            times: Vec::new(),
            written: Vec::new(),
        })
    }

    /// One build, not recorded: the store's first after opening (or after ageing) pays for
    /// what came before it — a cold cache, a checkpoint of the ageing's log.
    async fn warm_up(&self, filter: &Filter, expected: u64) -> anyhow::Result<()> {
        let (id, n, _) = snapshot(&self.state, &self.who, filter).await?;
        check_count("the small extract", n, expected)?;
        shred(&self.state, &id).await?;
        settle().await;
        Ok(())
    }

    /// Builds one extract of `filter` (checked to hold `expected` rows), records its time and
    /// bytes written, and shreds it.
    async fn build(&mut self, filter: &Filter, expected: u64) -> anyhow::Result<()> {
        let (built, written) = measure_written(snapshot(&self.state, &self.who, filter)).await;
        let (id, n, took) = built?;
        check_count("the small extract", n, expected)?;
        self.times.push(took);
        self.written.push(written);
        shred(&self.state, &id).await?;
        settle().await;
        Ok(())
    }
}

/// The small extract from one register, built on a fresh store and on the aged one.
struct Pair {
    /// Where its rows come from, for the report.
    register: String,
    filter: Filter,
    rows: u64,
    fresh: Side,
    aged: Side,
}

impl Pair {
    async fn open(
        dir: &Path,
        aged_root: &Path,
        source: &Source,
        (filter, rows): (Filter, u64),
        register: String,
    ) -> anyhow::Result<Pair> {
        let district = filter.district.as_str().to_owned();
        let fresh_root = dir.join("brokers").join(crate::crypto::random_id128());
        let fresh = Side::open(&fresh_root, source, &district).await?;
        let aged = Side::open(aged_root, source, &district).await?;
        fresh.warm_up(&filter, rows).await?;
        aged.warm_up(&filter, rows).await?;
        Ok(Pair {
            register,
            filter,
            rows,
            fresh,
            aged,
        })
    }

    /// One timed build on each store; `aged_first` says which goes first, so that neither
    /// always follows the other's writes.
    async fn run(&mut self, aged_first: bool) -> anyhow::Result<()> {
        if aged_first {
            self.aged.build(&self.filter, self.rows).await?;
            self.fresh.build(&self.filter, self.rows).await
        } else {
            self.fresh.build(&self.filter, self.rows).await?;
            self.aged.build(&self.filter, self.rows).await
        }
    }
}

/// Ages the store under `dir` if it is not yet aged, then builds the small extract on a fresh
/// and on the aged store — read from the `members`-member register `register_db` and from a
/// register of [`SMALL_ROWS`] members — `runs` times each, interleaved; returns the report's
/// section.
pub(super) async fn compare(
    dir: &Path,
    register_db: &Path,
    members: u64,
    target_ledger_rows: u64,
    runs: u32,
) -> anyhow::Result<String> {
    let register = Register::open(&register_config(register_db)).await?;
    let (ageing, ageing_rows) = choose_filter(&register, AGEING_ROWS).await?;
    let small = choose_small_filter(&register, &ageing, SMALL_ROWS).await?;
    drop(register);
    let big = Source::Sqlite(register_db.to_path_buf());
    let root = dir.join(format!("aged-store-{members}"));
    let mut age = std::fs::read_to_string(root.join(LEDGER_ROWS_FILE))
        .map(|t| Age::parse(&t))
        .unwrap_or_default();
    let aged_now = age.ledger_rows < target_ledger_rows;
    if aged_now {
        let ager = Side::open(&root, &big, ageing.district.as_str()).await?;
        age_store(
            &root,
            &ager,
            &mut age,
            (&ageing, ageing_rows),
            target_ledger_rows,
        )
        .await?;
    }

    // The same size of extract from a register that small: reading it costs little, so what
    // remains is the store's work.
    let small_db = super::connector::ensure_one_district_register(dir, SMALL_ROWS).await?;
    let small_register = Register::open(&register_config(&small_db)).await?;
    let whole = super::connector::members_of(
        &small_register,
        crate::nouns::DistrictCode::parse(super::connector::ONE_DISTRICT)?,
    );
    let whole_rows = small_register
        .count(&whole, ProtectedIdentity::Exclude, super::connector::TODAY)
        .await?
        .included;
    drop(small_register);

    let ledger_rows = age.ledger_rows;
    let mut pairs = [
        Pair::open(
            dir,
            &root,
            &big,
            small,
            format!("the {members}-member register"),
        )
        .await?,
        Pair::open(
            dir,
            &root,
            &Source::Sqlite(small_db),
            (whole, whole_rows),
            format!("a {SMALL_ROWS}-member register (one district)"),
        )
        .await?,
    ];
    for run in 0..runs.max(1) {
        for pair in &mut pairs {
            pair.run(run % 2 == 1).await?;
        }
    }
    for pair in &pairs {
        let built = u64::try_from(pair.aged.times.len())? + 1;
        age.ledger_rows += pair.rows * built;
        age.extracts += built;
    }
    write_age(&root, &age)?;
    let store_bytes = std::fs::metadata(root.join("data").join(SQLITE_STORE_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(report(&Report {
        root: &root,
        ledger_rows,
        age,
        aged_now,
        store_bytes,
        ageing_rows,
        pairs: &pairs,
    }))
}

/// Builds extracts of `ageing` on the aged store until its ledger holds `target` rows, counting
/// them in `age` (and its file, after each extract).
async fn age_store(
    root: &Path,
    ager: &Side,
    age: &mut Age,
    (ageing, expected): (&Filter, u64),
    target: u64,
) -> anyhow::Result<()> {
    while age.ledger_rows < target {
        let started = Instant::now();
        let (id, n, _) = snapshot(&ager.state, &ager.who, ageing).await?;
        check_count("an ageing extract", n, expected)?;
        shred(&ager.state, &id).await?;
        age.ledger_rows += n;
        age.extracts += 1;
        age.ageing += started.elapsed();
        write_age(root, age)?;
        eprintln!(
            "ageing the store: extract {} of {n} rows in {}; the ledger holds {} of {target} rows",
            age.extracts,
            ms(started.elapsed()),
            age.ledger_rows
        );
    }
    Ok(())
}

fn write_age(root: &Path, age: &Age) -> anyhow::Result<()> {
    let file = root.join(LEDGER_ROWS_FILE);
    std::fs::write(&file, age.render()).with_context(|| format!("cannot write {}", file.display()))
}

/// Ends an extract as a requester who is done with it does; its ledger rows stay.
async fn shred(state: &AppState, id: &ExtractId) -> anyhow::Result<()> {
    expire::shred(
        state,
        id,
        ShredReason::Done,
        &crate::audit::Actor::cli(),
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(())
}

/// One branch of `within`'s district — the smallest with at least `target` members — narrowed
/// by joining date (members who joined on or before a day) to about `target` members.
async fn choose_small_filter(
    register: &Register,
    within: &Filter,
    target: u64,
) -> anyhow::Result<(Filter, u64)> {
    let today = super::connector::TODAY;
    let count = |f: Filter| async move {
        anyhow::Ok(
            register
                .count(&f, ProtectedIdentity::Exclude, today)
                .await?
                .included,
        )
    };
    let district = crate::synthetic::DISTRICTS
        .iter()
        .find(|d| d.name == within.district.as_str())
        .context("the ageing filter's district is not a synthetic district")?;
    let mut best: Option<(Filter, u64)> = None;
    for (branch, _, _) in district.branches {
        let mut f = within.clone();
        f.local_branches = vec![(*branch).to_owned()];
        let n = count(f.clone()).await?;
        let better = match &best {
            None => true,
            Some((_, b)) if *b < target => n > *b,
            Some((_, b)) => n >= target && n < *b,
        };
        if better {
            best = Some((f, n));
        }
    }
    let (mut filter, n) = best.context("the district has no branches")?;
    if n <= target + target / 10 {
        return Ok((filter, n));
    }
    // The earliest day by which `target` members of the branch had joined.
    let (mut lo, mut hi) = (
        time::macros::date!(1900 - 01 - 01).to_julian_day(),
        today.to_julian_day(),
    );
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        filter.joined_to = Some(Date::from_julian_day(mid)?);
        if count(filter.clone()).await? >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    filter.joined_to = Some(Date::from_julian_day(hi)?);
    let n = count(filter.clone()).await?;
    if n == 0 {
        bail!("no member of the branch joined by {today}");
    }
    Ok((filter, n))
}

struct Report<'a> {
    root: &'a Path,
    /// Ledger rows when the comparison began.
    ledger_rows: u64,
    age: Age,
    aged_now: bool,
    store_bytes: u64,
    ageing_rows: u64,
    pairs: &'a [Pair],
}

fn report(r: &Report<'_>) -> String {
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON);
    let when = if r.aged_now { "aged now" } else { "reused" };
    let mut out = format!(
        "\n### A small extract on a fresh store and on an aged store\n\n\
         - aged store: `{}` ({when}; before this comparison its ledger held {} rows, from \
         extracts of {} rows and the comparisons of earlier runs, {} extracts in all; store \
         file {:.0} MiB; building the ageing extracts took {:.1} s in all)\n\
         - each store builds each extract once untimed, then {} times timed, interleaved; the \
         fresh stores' ledgers start empty\n",
        r.root.display(),
        r.ledger_rows,
        r.ageing_rows,
        r.age.extracts,
        r.store_bytes as f64 / 1_048_576.0,
        r.age.ageing.as_secs_f64(),
        r.pairs.first().map_or(0, |p| p.fresh.times.len()),
    );
    for p in r.pairs {
        let f = &p.filter;
        let branches = if f.local_branches.is_empty() {
            "all branches".to_owned()
        } else {
            format!("branch {}", f.local_branches.join(", "))
        };
        let joined = f
            .joined_to
            .map_or_else(String::new, |d| format!(", joined on or before {d}"));
        out.push_str(&format!(
            "- from {}: district {}, {branches}{joined}, members only, protected identity \
             excluded: {} rows\n",
            p.register, f.district, p.rows
        ));
    }
    out.push_str(
        "\n| read from | store | best | median | written (`wchar`), median (min–max) | \
         written to storage (`write_bytes`), median (min–max) |\n|---|---|---:|---:|---:|---:|\n",
    );
    let mut ratios = Vec::new();
    for p in r.pairs {
        for (name, side) in [
            ("fresh".to_owned(), &p.fresh),
            (format!("aged ({} ledger rows)", r.ledger_rows), &p.aged),
        ] {
            let (best, median) = best_and_median(&side.times);
            let (wchar, storage) = written_summary(&side.written);
            out.push_str(&format!(
                "| {} | {name} | {} | {} | {wchar} | {storage} |\n",
                p.register,
                ms(best),
                ms(median)
            ));
        }
        let (fb, fm) = best_and_median(&p.fresh.times);
        let (ab, am) = best_and_median(&p.aged.times);
        ratios.push(format!(
            "from {}: {:.2} (best), {:.2} (median)",
            p.register,
            ratio(ab, fb),
            ratio(am, fm)
        ));
    }
    out.push_str(&format!(
        "\nRatio aged / fresh, {}.\n\nThe bytes are everything the process wrote (`/proc/self/io`) \
         from the request until its writes settled (200 ms without writing to a file), the store's \
         checkpoint after the commit included: the store's log and file, and SQLite's temporary \
         files for the register's queries and the store's statement journals.\n",
        ratios.join("; ")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_file_round_trips_and_a_missing_field_reads_as_zero() {
        let age = Age {
            ledger_rows: 3_083_485,
            extracts: 31,
            ageing: Duration::from_millis(123_456),
        };
        assert_eq!(Age::parse(&age.render()), age);
        assert_eq!(Age::parse("extracts 2\n").ledger_rows, 0);
    }
}
