//! `registervakt report activity|article30`: the DPO's reports at the command line, for the
//! whole party (whoever can read the config and the store is the operator), as readable text or
//! as CSV for Swedish Excel (`--csv`). Each report made is an audit event by `cli:<user>`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::Actor;
use crate::config::Config;
use crate::oversight::report::{self, activity, article30};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Extracts requested in a period (at most 400 days) by purpose, district and approver.
    Activity {
        /// Start, inclusive, RFC 3339 (2026-01-01T00:00:00Z).
        #[arg(long)]
        from: String,
        /// End, exclusive, RFC 3339.
        #[arg(long)]
        to: String,
        /// Print `;`-separated CSV with a BOM (opens in Swedish Excel) instead of text.
        #[arg(long)]
        csv: bool,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// The record-of-processing summary (GDPR Art. 30) of every purpose in the policy in force.
    Article30 {
        #[arg(long)]
        csv: bool,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

pub async fn run(cmd: ReportCommand) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    match cmd {
        ReportCommand::Activity {
            from,
            to,
            csv,
            config,
        } => {
            let period = activity::Period::parse(&from, &to)?;
            let config = Config::load(config.as_deref())?;
            let store = open(&config).await?;
            let made = activity::build(&store, &crate::policy::Reach::PartyWide, period).await;
            let result = match made {
                Ok(r) => activity::record(&store, Actor::cli(), &r, now)
                    .await
                    .map(|()| r),
                Err(e) => Err(e),
            };
            store.close().await;
            let report = result?;
            if csv {
                write_out(&report::to_csv(
                    &activity::CSV_HEADER,
                    &activity::rows(&report),
                ))
            } else {
                write_out(activity_text(&report).as_bytes())
            }
        }
        ReportCommand::Article30 { csv, config } => {
            let config = Config::load(config.as_deref())?;
            let store = open(&config).await?;
            let source =
                crate::policy::source::Source::new(crate::app::base_policy_texts(&config).await)
                    .await;
            let current = source.current(&store).await;
            let result = match current {
                Ok(c) => {
                    let summary = article30::summarise(&c.policy, c.version);
                    article30::record(
                        &store,
                        Actor::cli(),
                        &summary,
                        &crate::policy::Reach::PartyWide,
                        now,
                    )
                    .await
                    .map(|()| summary)
                    .map_err(anyhow::Error::from)
                }
                Err(e) => Err(e.into()),
            };
            store.close().await;
            let summary = result?;
            if csv {
                write_out(&report::to_csv(
                    &article30::CSV_HEADER,
                    &article30::rows(&summary),
                ))
            } else {
                write_out(article30_text(&summary).as_bytes())
            }
        }
    }
}

async fn open(config: &Config) -> anyhow::Result<crate::store::Store> {
    let store = crate::app::open_store(config, false).await?;
    store.ensure_migrated().await?;
    Ok(store)
}

fn write_out(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).context("cannot write the report")?;
    out.flush().context("cannot write the report")
}

fn activity_text(r: &activity::Activity) -> String {
    let when = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let mut out = format!(
        "Extract activity {} – {} (whole party)\n\n",
        when(r.period.from),
        when(r.period.to)
    );
    let rows = activity::rows(r);
    let header = activity::CSV_HEADER;
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    out.push_str(&line(header.to_vec()));
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn article30_text(s: &article30::Article30) -> String {
    let version = s.policy_version.map_or("the base policy".to_owned(), |v| {
        format!("policy version {v}")
    });
    let mut out = format!(
        "Record of processing (GDPR Art. 30), generated from {version}\n\nData subjects: {}\n",
        s.data_subjects
    );
    for e in &s.purposes {
        out.push_str(&format!(
            "\n{} — {} / {}\n  {}\n  Categories of data: {}\n  Requested by: {}; approved by: {}\n  \
             Retention: at most {} minutes, then crypto-shredded\n  Required consents: {}\n  \
             At most {} members; formats: {}\n  Approval: {}\n",
            e.id,
            e.name_sv,
            e.name_en,
            e.description_en,
            article30::categories_text(&e.categories),
            e.requested_by.join(", "),
            e.approved_by.join(", "),
            e.retention_minutes,
            if e.required_consents.is_empty() {
                "none".to_owned()
            } else {
                e.required_consents.join(", ")
            },
            e.max_rows,
            e.formats.join(", "),
            e.approval_rule,
        ));
        if !e.recipients.is_empty() {
            out.push_str(&format!(
                "  Recipients outside the party: {}\n",
                article30::recipients_text(&e.recipients)
            ));
        }
        if e.valid_from.is_some() || e.valid_to.is_some() {
            out.push_str(&format!(
                "  Valid: {} to {}\n",
                e.valid_from.as_deref().unwrap_or("(open)"),
                e.valid_to.as_deref().unwrap_or("(open)")
            ));
        }
    }
    out
}
