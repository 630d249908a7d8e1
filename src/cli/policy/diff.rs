//! `registervakt policy diff --against-history DAYS`: a candidate policy tried against the
//! extract requests of the last days, printed in the sentences the confirming administrator
//! reads on the admin page (`web::history_words`).
//!
//! The candidate: the `--purposes`/`--permissions` files given (each replacing the one in
//! force), else the one pending proposal, else the files in `[policy] dir`. A file that cannot
//! be read or does not check is one sentence and a non-zero exit. Changes nothing.

use std::path::PathBuf;

use anyhow::{Context, bail};
use time::OffsetDateTime;

use crate::admin::policy_history::{self, Window};
use crate::config::Config;
use crate::policy::{Policy, Texts};
use crate::web::i18n::Lang;

/// The files named on the command line.
pub struct Candidate {
    pub purposes: Option<PathBuf>,
    pub permissions: Option<PathBuf>,
}

fn read(path: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    path.as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()
}

pub async fn run(config: &Config, days: u32, files: Candidate) -> anyhow::Result<()> {
    if !(1..=366).contains(&days) {
        bail!("--against-history takes 1 to 366 days, not {days}");
    }
    let purposes = read(&files.purposes)?;
    let permissions = read(&files.permissions)?;
    if let Err(e) = crate::web::i18n::set_time_zone(&config.server.time_zone) {
        tracing::warn!(error = %e, "time zone not found; times are shown in Europe/Stockholm");
    }
    let (source, store) = super::source_and_store(config).await?;
    let result = async {
        let current = source.current(&store).await?;
        let (what, after) = if purposes.is_some() || permissions.is_some() {
            let after = current.texts.with(purposes, permissions);
            ("the given files".to_owned(), after)
        } else {
            let pending = store.list_pending_policy_proposals().await?;
            match (pending.as_slice(), &config.policy.dir) {
                ([row], _) => {
                    let after = current
                        .texts
                        .with(Some(row.purposes.clone()), Some(row.permissions.clone()));
                    ("the pending proposal".to_owned(), after)
                }
                (_, Some(dir)) => {
                    let texts = Texts::read(dir).await?;
                    let after = current
                        .texts
                        .with(Some(texts.purposes), Some(texts.permissions));
                    (format!("the files in {}", dir.display()), after)
                }
                (rows, None) => bail!(
                    "there are {} pending proposals and no [policy] dir; name the candidate \
                     with --purposes and/or --permissions",
                    rows.len()
                ),
            }
        };
        let candidate = Policy::from_parts(&after.model, &after.permissions, &after.purposes)
            .await
            .with_context(|| format!("{what}: not a usable policy"))?;
        let window = Window {
            days,
            max_requests: config.policy.history_max_requests,
        };
        let now = OffsetDateTime::now_utc();
        let diff =
            policy_history::against_history(&store, &current.policy, &candidate, window, now)
                .await?;
        Ok((what, current, diff))
    }
    .await;
    store.close().await;
    let (what, current, diff) = result?;
    let words = crate::web::history_words::words(Lang::En, &current.policy, &diff);
    println!("Tried {what} against the policy in force.");
    println!("{}", words.intro);
    for line in words.capped.iter().chain(words.unchanged.iter()) {
        println!("{line}");
    }
    for line in &words.summary {
        println!("- {line}");
    }
    for r in &words.requests {
        println!("  {}", r.sentence);
    }
    Ok(())
}
