//! `registervakt audit trace FILE` and `registervakt audit scope …`: the leak trace and the
//! breach scope at the command line, for the operator on the broker's machine (whole party,
//! audited as `cli:<user>`).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ops::{StoreArgs, key_config, open_existing_store};
use crate::audit::Actor;
use crate::crypto::Keyring;
use crate::extract::ExtractId;
use crate::nouns::ExtractState;
use crate::oversight::breach::{self, Basis, Scope};
use crate::oversight::trace::{self, Traced};

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The leaked CSV or XLSX file, as found.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ScopeArgs {
    /// From one extract.
    #[arg(long, value_name = "ID", conflicts_with_all = ["user", "file"])]
    extract: Option<String>,
    /// From every extract this account held in --from..--to.
    #[arg(long, value_name = "USERNAME", requires_all = ["from", "to"], conflicts_with = "file")]
    user: Option<String>,
    /// RFC 3339, e.g. 2026-11-30T08:00:00Z.
    #[arg(long, value_name = "TIME", requires = "user")]
    from: Option<String>,
    #[arg(long, value_name = "TIME", requires = "user")]
    to: Option<String>,
    /// From the extract a leaked file comes from.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Refuses a path that cannot be read, naming it, before the store is opened.
fn readable(path: &std::path::Path) -> anyhow::Result<()> {
    std::fs::metadata(path)
        .map(|_| ())
        .with_context(|| format!("cannot read {}", path.display()))
}

/// What the breach scope starts from, as given on the command line.
enum Given {
    Basis(Basis),
    File(PathBuf),
}

fn time_arg(name: &str, value: Option<&String>) -> anyhow::Result<OffsetDateTime> {
    let Some(value) = value else {
        bail!("--{name} is needed with --user");
    };
    OffsetDateTime::parse(value, &Rfc3339)
        .with_context(|| format!("--{name} is not an RFC 3339 time (e.g. 2026-11-30T08:00:00Z)"))
}

pub async fn trace(args: TraceArgs) -> anyhow::Result<()> {
    readable(&args.file)?;
    let config = key_config(&args.store, "the trace")?;
    let keyring = Keyring::load(&config.keys.kek_file)?;
    let store = open_existing_store(&args.store).await?;
    let result = async {
        let pseudonyms = crate::app::load_pseudonym_key(&store, &keyring).await?;
        let file = trace::read_path(&pseudonyms, &args.file)?;
        let now = OffsetDateTime::now_utc();
        anyhow::Ok(
            trace::trace_as(
                &store,
                &Actor::cli(),
                &crate::policy::Reach::PartyWide,
                file,
                now,
            )
            .await?,
        )
    }
    .await;
    store.close().await;
    print!("{}", trace_text(&result?));
    Ok(())
}

pub async fn scope(args: ScopeArgs) -> anyhow::Result<()> {
    let given = match (&args.extract, &args.user, &args.file) {
        (Some(id), None, None) => Given::Basis(Basis::Extract(ExtractId::parse(id)?)),
        (None, Some(user), None) => Given::Basis(Basis::Account {
            username: user.clone(),
            from: time_arg("from", args.from.as_ref())?,
            to: time_arg("to", args.to.as_ref())?,
        }),
        (None, None, Some(path)) => {
            readable(path)?;
            Given::File(path.clone())
        }
        _ => bail!("give one of --extract ID, --user NAME --from TIME --to TIME, or --file FILE"),
    };
    let config = key_config(&args.store, "the breach scope")?;
    let keyring = Keyring::load(&config.keys.kek_file)?;
    let store = open_existing_store(&args.store).await?;
    let result = async {
        let pseudonyms = crate::app::load_pseudonym_key(&store, &keyring).await?;
        let basis = match given {
            Given::Basis(basis) => basis,
            Given::File(path) => Basis::File(trace::read_path(&pseudonyms, &path)?),
        };
        let now = OffsetDateTime::now_utc();
        anyhow::Ok(
            breach::scope_as(
                &store,
                &Actor::cli(),
                &crate::policy::Reach::PartyWide,
                basis,
                now,
            )
            .await?,
        )
    }
    .await;
    store.close().await;
    print!("{}", scope_text(&result?));
    Ok(())
}

fn at(t: i64) -> String {
    crate::web::api::extracts_wire::rfc3339(t)
}

/// The trace as an auditor reads it.
pub fn trace_text(t: &Traced) -> String {
    let mut out = String::new();
    let columns: Vec<&str> = t.columns.iter().map(|f| f.as_str()).collect();
    let _ = writeln!(out, "file sha256 {}", t.file_sha256);
    let _ = writeln!(
        out,
        "{} rows, columns {}, matched by {}",
        t.rows,
        columns.join(", "),
        t.key.as_str()
    );
    let _ = writeln!(
        out,
        "confidence: {} ({} extract(s) share rows with the file)",
        t.confidence.as_str(),
        t.extracts_sharing_rows
    );
    for (i, c) in t.candidates.iter().enumerate() {
        let row = &c.described.row;
        let _ = writeln!(
            out,
            "\n{}. extract {} — {} in {}, requested by {}, released {}, state {}",
            i + 1,
            row.id,
            row.purpose,
            row.district,
            c.described.requester,
            row.live_at.map_or_else(|| "never".to_owned(), at),
            row.state
        );
        for e in &c.evidence {
            let _ = writeln!(out, "   - {e}");
        }
    }
    out
}

/// The breach scope as a report.
pub fn scope_text(s: &Scope) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "breach scope: {}", s.basis);
    let _ = writeln!(
        out,
        "members affected: {} (in {} extract(s); {} still live)",
        s.members,
        s.extracts.len(),
        s.still_live
    );
    for (category, fields) in &s.categories {
        let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
        let _ = writeln!(
            out,
            "data: {}: {}",
            breach::category_name(*category),
            names.join(", ")
        );
    }
    for h in &s.extracts {
        let row = &h.described.row;
        let ended = match (row.state, row.ended_at) {
            (ExtractState::Shredded, Some(t)) => format!(
                "shredded {} ({})",
                at(t),
                row.end_reason.as_deref().unwrap_or("-")
            ),
            (state, _) => state.as_str().to_owned(),
        };
        let _ = writeln!(
            out,
            "extract {}: {} in {}, {} members, requested by {}, released {}, {ended}",
            row.id,
            row.purpose,
            row.district,
            h.members,
            h.described.requester,
            row.live_at.map_or_else(|| "never".to_owned(), at),
        );
    }
    for r in &s.releases {
        let _ = writeln!(
            out,
            "release: {} {} by {} from {} (extract {})",
            at(r.at),
            r.format,
            r.username,
            r.address.as_deref().unwrap_or("unknown address"),
            r.extract_id
        );
    }
    out
}
